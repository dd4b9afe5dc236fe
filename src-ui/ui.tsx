// Small building blocks in LuCI's own classes: sections, buttons, fields, errors in place.
import type { ComponentChildren } from 'preact';
import { useMemo } from 'preact/hooks';
import { useSignal, type Signal } from '@preact/signals';
import { CallError, fromRejection } from './client.ts';

export function Section({ title, children, descr }: { title: string; children: ComponentChildren; descr?: ComponentChildren }) {
  return (
    <div class="cbi-section">
      <h3>{title}</h3>
      {descr && <div class="cbi-section-descr">{descr}</div>}
      {children}
    </div>
  );
}

export const Loading = ({ what = 'Loading…' }: { what?: string }) => <p class="spinning ms-loading">{what}</p>;

/** A failed call, said plainly where it happened. "Not implemented" is not a fault: a notice. */
export function ErrorText({ error, block }: { error: CallError | null | undefined; block?: boolean }) {
  if (!error) return null;
  if (error.code === 'not_implemented') {
    return (
      <div class="alert-message notice ms-notimpl" role="status">
        <strong>Not available yet.</strong> {error.message}
      </div>
    );
  }
  const cls = `ms-error${block ? ' alert-message error' : ''}`;
  return (
    <span class={cls} role="alert" data-kind={error.kind}>
      {error.message}
    </span>
  );
}

export const Done = ({ text }: { text: string }) => (text ? <span class="ms-done" role="status">{text}</span> : null);

export type BtnKind = 'action' | 'positive' | 'negative' | 'neutral';

export function Btn(props: { kind?: BtnKind; busy?: boolean; label: string; onClick?: () => void; type?: 'submit' | 'button'; title?: string; important?: boolean; disabled?: boolean }) {
  const { kind = 'action', busy, label, onClick, type = 'button', title, important, disabled } = props;
  return (
    <button
      type={type}
      class={`btn cbi-button cbi-button-${kind}${important ? ' important' : ''}${busy ? ' spinning' : ''}`}
      disabled={busy || disabled}
      title={title}
      onClick={onClick}
    >
      {label}
    </button>
  );
}

/** One action's busy flag, error and success words; run() catches into error. */
export interface Action {
  busy: Signal<boolean>;
  error: Signal<CallError | null>;
  done: Signal<string>;
  run(fn: () => Promise<string | void>): Promise<boolean>;
}

export function useAction(): Action {
  const busy = useSignal(false);
  const error = useSignal<CallError | null>(null);
  const done = useSignal('');
  return {
    busy,
    error,
    done,
    async run(fn) {
      busy.value = true;
      error.value = null;
      done.value = '';
      try {
        done.value = (await fn()) || '';
        return true;
      } catch (e) {
        error.value = fromRejection(e);
        return false;
      } finally {
        busy.value = false;
      }
    },
  };
}

/** Data one call brings (null until it answers) and its error; load() (re)fetches. */
export function useLoad<T>(fn: () => Promise<T>) {
  const data = useSignal<T | null>(null);
  const error = useSignal<CallError | null>(null);
  const loading = useSignal(false);
  const load = async () => {
    loading.value = true;
    try {
      data.value = await fn();
      error.value = null;
    } catch (e) {
      error.value = fromRejection(e);
    } finally {
      loading.value = false;
    }
  };
  return { data, error, loading, load };
}

/** The error of an action when it names none of a form's fields (those sit by their input). */
export const formLevel = (e: CallError | null, fields: readonly string[]) => (e && !(e.field && fields.includes(e.field)) ? e : null);

let ids = 0;

/**
 * A labelled input in LuCI's form layout; a field error from the backend (or our own check)
 * appears right under it, naming the field, and marks the input invalid.
 */
export function Field(props: {
  label: string;
  name: string;
  value: Signal<string>;
  error?: CallError | null;
  type?: 'text' | 'password';
  placeholder?: string;
  hint?: ComponentChildren;
  autocomplete?: string;
  inputMode?: 'email' | 'text';
  required?: boolean;
}) {
  const { label, name, value, error, type = 'text', placeholder, hint, autocomplete = 'off', inputMode, required } = props;
  const id = useMemo(() => `ms-f${++ids}`, []);
  const bad = error && error.field === name ? error : null;
  return (
    <div class={`cbi-value${bad ? ' cbi-value-error' : ''}`} data-field={name}>
      <label class="cbi-value-title" for={id}>
        {label}
      </label>
      <div class="cbi-value-field">
        <input
          id={id}
          name={name}
          type={type as 'text'}
          class={`cbi-input-${type === 'password' ? 'password' : 'text'}${bad ? ' cbi-input-invalid' : ''}`}
          value={value.value}
          placeholder={placeholder}
          autocomplete={autocomplete}
          inputMode={inputMode}
          spellcheck={false}
          required={required}
          aria-invalid={bad ? 'true' : undefined}
          aria-describedby={bad ? `${id}-err` : undefined}
          onInput={(e) => (value.value = e.currentTarget.value)}
        />
        {bad && (
          <div class="ms-field-error" id={`${id}-err`} role="alert">
            {label}: {bad.message}
          </div>
        )}
        {hint && <div class="cbi-value-description">{hint}</div>}
      </div>
    </div>
  );
}

/** A field error made here (before any call), in the same shape as the backend's. */
export const fieldError = (field: string, message: string) => new CallError(message, 'backend', 'invalid_argument', field);

/** An inline "are you sure" naming what goes, right where the button was. */
export function Confirm(props: { question: ComponentChildren; confirmLabel: string; busy?: boolean; onConfirm: () => void; onCancel: () => void; children?: ComponentChildren }) {
  return (
    <div class="alert-message warning ms-confirm" role="alertdialog">
      <p>{props.question}</p>
      {props.children}
      <div class="ms-buttons">
        <Btn kind="negative" important busy={props.busy} label={props.confirmLabel} onClick={props.onConfirm} />
        <Btn kind="neutral" label="Cancel" onClick={props.onCancel} />
      </div>
    </div>
  );
}

export function Pager({ total, offset, size, onPage }: { total: number; offset: number; size: number; onPage: (offset: number) => void }) {
  if (total <= size && offset === 0) return null;
  const last = Math.min(offset + size, total);
  return (
    <div class="ms-pager">
      <Btn kind="neutral" label="‹ Previous" disabled={offset === 0} onClick={() => onPage(Math.max(0, offset - size))} />
      <span>
        {total ? offset + 1 : 0}–{last} of {total.toLocaleString('en-US')}
      </span>
      <Btn kind="neutral" label="Next ›" disabled={last >= total} onClick={() => onPage(offset + size)} />
    </div>
  );
}

/** Copy text; works without the Clipboard API too (a router's page is often plain http). */
export function CopyButton({ text, what, label = 'Copy' }: { text: string; what: string; label?: string }) {
  const copied = useSignal(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const ta = document.createElement('textarea');
      ta.value = text;
      ta.setAttribute('readonly', '');
      ta.style.position = 'fixed';
      ta.style.opacity = '0';
      document.body.appendChild(ta);
      ta.select();
      document.execCommand('copy');
      ta.remove();
    }
    copied.value = true;
    setTimeout(() => (copied.value = false), 1500);
  };
  return <Btn kind="neutral" label={copied.value ? 'Copied' : label} title={`Copy ${what}`} onClick={copy} />;
}

/** A read-only session: write controls are not shown at all. */
export const ReadOnlyNote = () => (
  <div class="alert-message notice" role="note">
    Read-only access: this login can look at everything here but change nothing.
  </div>
);

export function KeyValues({ rows }: { rows: [string, ComponentChildren][] }) {
  return (
    <table class="table ms-kv">
      <tbody>
        {rows.map(([k, v]) => (
          <tr class="tr" key={k}>
            <td class="td left" width="33%">
              {k}
            </td>
            <td class="td left">{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
