// The method table: every operation, declared once. The CLI, the rpcd plugin, the ACL file
// and the UI client all follow from this list.
import { serviceMethods } from './service.ts';
import { accountMethods } from './accounts.ts';
import { domainMethods } from './domains.ts';
import { relayMethods } from './relay.ts';
import { jobMethods } from './jobs.ts';
import { meshMethods } from './mesh.ts';
import { webmailMethods } from './webmail.ts';
import { dnsMethods } from './dns.ts';
import { sslMethods } from './ssl.ts';
import { banMethods } from './ban.ts';
import { firewallMethods } from './firewall.ts';
import type { Method } from './method.ts';

export const methods: readonly Method[] = [...serviceMethods, ...accountMethods, ...domainMethods, ...relayMethods, ...meshMethods, ...dnsMethods, ...webmailMethods, ...sslMethods, ...banMethods, ...firewallMethods, ...jobMethods] as unknown as Method[];

const byName = new Map(methods.map((m) => [m.name, m]));

export function methodByName(name: string): Method | undefined {
  return byName.get(name);
}
