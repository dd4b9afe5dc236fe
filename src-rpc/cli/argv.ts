// mailctl's words → (method, JSON arguments), following the method table: positional words in
// declaration order, --name value for the rest, secrets never from argv.
import type { Method } from '../api/method.ts';

export class UsageError extends Error {}

export interface ParsedCommand {
  method: Method;
  args: Record<string, unknown>;
  json: boolean;
  passwordStdin: boolean;
}

const flagName = (arg: string) => arg.replace(/_/g, '-');

export function parseCommandLine(argv: string[], methods: readonly Method[]): ParsedCommand {
  const json = argv.includes('--json');
  const passwordStdin = argv.includes('--password-stdin');
  const words = argv.filter((a) => a !== '--json' && a !== '--password-stdin');
  const method = [...methods]
    .filter((m) => m.cli.every((w, i) => words[i] === w))
    .sort((a, b) => b.cli.length - a.cli.length)[0];
  if (!method) throw new UsageError(words.length ? `unknown command: ${words.slice(0, 2).join(' ')}` : 'no command given');

  const specs = Object.entries(method.args);
  const positional = specs.filter(([, a]) => a.positional && !a.secret).map(([name]) => name);
  const args: Record<string, unknown> = {};
  const rest = words.slice(method.cli.length);
  for (let i = 0; i < rest.length; i++) {
    const token = rest[i]!;
    if (!token.startsWith('--')) {
      const name = positional.shift();
      if (!name) throw new UsageError(`unexpected argument: ${token.slice(0, 64)}`);
      args[name] = token;
      continue;
    }
    const [rawName, inline] = token.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    const entry = specs.find(([name]) => flagName(name) === rawName);
    if (!entry) throw new UsageError(`unknown option: --${rawName.slice(0, 64)}`);
    const [name, spec] = entry;
    if (spec.secret) throw new UsageError(`--${rawName} would put a secret on the command line; use --password-stdin or the prompt`);
    if (spec.kind === 'boolean' && inline === undefined) {
      args[name] = true;
      continue;
    }
    const value = inline ?? rest[++i];
    if (value === undefined) throw new UsageError(`--${rawName} needs a value`);
    args[name] = value;
  }
  return { method, args, json, passwordStdin };
}

export function usage(methods: readonly Method[]): string {
  const lines = methods.map((m) => {
    const words = Object.entries(m.args)
      .filter(([, a]) => !a.secret)
      .map(([name, a]) => {
        const shown = a.positional ? name.toUpperCase() : a.kind === 'boolean' ? `--${flagName(name)}` : `--${flagName(name)} ${name.toUpperCase()}`;
        return a.required ? shown : `[${shown}]`;
      });
    const secret = Object.values(m.args).some((a) => a.secret) ? ['[--password-stdin]'] : [];
    return `  ${[...m.cli, ...words, ...secret].join(' ').padEnd(52)} ${m.doc}`;
  });
  return `usage: mailctl [--json] COMMAND ...\n\n${lines.join('\n')}\n`;
}
