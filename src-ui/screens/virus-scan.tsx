// The Overview's virus scanning box: clamd's state, signature age, its memory and the router's,
// and why mail waits when it cannot be scanned. Settings that do nothing here yet are listed too.
import { bytes, count } from '../format.ts';
import { KeyValues, Section } from '../ui.tsx';
import type { Status } from '../types.ts';

export function VirusScan({ v, notices }: { v: Status['virus']; notices: string[] }) {
  const ok = v.state === 'running' && !v.message;
  const age = v.signatures.ageDays;
  return (
    <>
      <Section title="Virus scanning">
        {v.enabled ? (
          <KeyValues
            rows={[
              ['State', <span class={`label ${ok ? 'success' : 'warning'}`} data-virus={v.state}>{v.state}</span>],
              ['Signatures', age === null ? 'none yet' : `${count(v.signatures.files, 'file')}, updated ${age === 0 ? 'today' : `${count(age, 'day')} ago`}`],
              ['Memory', `clamd ${v.clamd.memoryBytes === null ? 'not running' : bytes(v.clamd.memoryBytes)}; router ${v.memory.availableBytes === null ? 'unknown' : `${bytes(v.memory.availableBytes)} free`} (the official signatures need about ${bytes(v.memory.neededBytes)})`],
              ...(v.message ? ([['Attention', <span class="ms-virus-message">{v.message}</span>]] as [string, preact.ComponentChildren][]) : []),
            ]}
          />
        ) : (
          <p>Off (features.virus_scan=0): mail is not scanned for viruses.</p>
        )}
      </Section>
      {notices.length > 0 && (
        <Section title="Settings without effect here">
          <ul class="ms-notices">
            {notices.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </Section>
      )}
    </>
  );
}
