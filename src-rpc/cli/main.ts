// mailctl: the command-line door to the method table. No command logic lives here.
import { methods } from '../api/table.ts';
import { callMethod, runJob, procdCommand } from '../api/dispatch.ts';
import { toErrorReply } from '../core/errors.ts';
import { parseCommandLine, usage, UsageError, type ParsedCommand } from './argv.ts';
import { promptHidden, readStdin, stdinIsTerminal } from '../sys/tty.ts';
import { writeStdout } from '../sys/stdout.ts';
import { watchFailures } from '../ban/watch.ts';

async function collectSecrets(cmd: ParsedCommand): Promise<void> {
  const secrets = Object.entries(cmd.method.args).filter(([, a]) => a.secret);
  if (secrets.length === 0) {
    if (cmd.passwordStdin) throw new UsageError('this command takes no password');
    return;
  }
  const list = secrets.find(([, a]) => a.lines);
  if (list) {
    if (!cmd.passwordStdin) throw new UsageError(`${list[0]} holds passwords: pipe it on stdin with --password-stdin`);
    cmd.args[list[0]] = readStdin();
    return;
  }
  if (cmd.passwordStdin) {
    const lines = readStdin().replace(/\r?\n$/, '').split(/\r?\n/);
    secrets.forEach(([name], i) => {
      if (lines[i] !== undefined && lines[i] !== '') cmd.args[name] = lines[i];
    });
    return;
  }
  for (const [name, spec] of secrets) {
    if (!spec.required) continue;
    if (!stdinIsTerminal()) throw new UsageError(`${name} required: type it at the prompt or pass --password-stdin`);
    const first = await promptHidden(`${spec.doc}: `);
    const again = await promptHidden('again: ');
    if (first !== again) throw new UsageError('the two entries differ');
    cmd.args[name] = first;
  }
}

let progressShown = false;

/** A job's progress: one rewritten line on a terminal, one line per step otherwise. */
function showProgress(percent: number, phase: string): void {
  const line = `[${String(percent).padStart(3)}%] ${phase}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${line}`);
  else process.stderr.write(`${line}\n`);
  progressShown = true;
}

function endProgress(): void {
  if (progressShown && process.stderr.isTTY) process.stderr.write('\n');
  progressShown = false;
}

async function main(argv: string[]): Promise<number> {
  // Not a command of the table: the ban watcher the daemons' start runs in the background
  // (or procd, as an instance).
  if (argv[0] === 'ban-watch' && (argv.length === 1 || (argv.length === 2 && argv[1] === '--supervised'))) {
    await watchFailures(argv[1] === '--supervised');
    return 0;
  }
  // A job tick started in the background (the rpcd plugin's runner does the same).
  if (argv[0] === 'job-run' && argv.length === 2) {
    await runJob(argv[1]!);
    return 0;
  }
  // Nor are the init script's words: /etc/init.d/mailserver asks which procd instances to declare.
  const procdWord = argv.join(' ') === 'procd-prestart rspamd' ? 'procd-prestart-rspamd' : argv.length === 1 && (argv[0] === 'procd-instances' || argv[0] === 'procd-stop') ? argv[0] : null;
  if (procdWord) {
    try {
      const text = await procdCommand(procdWord);
      if (text) writeStdout(`${text}\n`);
      return 0;
    } catch (e) {
      process.stderr.write(`mailctl: ${toErrorReply(e).error}\n`);
      return 1;
    }
  }
  if (argv.length === 0 || argv[0] === 'help' || argv[0] === '--help' || argv[0] === '-h') {
    writeStdout(usage(methods));
    return argv.length === 0 ? 2 : 0;
  }
  let cmd: ParsedCommand;
  try {
    cmd = parseCommandLine(argv, methods);
    await collectSecrets(cmd);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`mailctl: ${e.message}\n(see mailctl help)\n`);
    return 2;
  }
  try {
    const result = await callMethod(cmd.method.name, cmd.args, { kind: 'cli', onProgress: showProgress });
    endProgress();
    const text = cmd.json || !cmd.method.text ? JSON.stringify(result) : cmd.method.text(result);
    if (text) writeStdout(`${text}\n`);
    return cmd.method.failed?.(result) ? 1 : 0;
  } catch (e) {
    endProgress();
    const reply = toErrorReply(e);
    if (cmd.json) writeStdout(`${JSON.stringify(reply)}\n`);
    process.stderr.write(`mailctl: ${reply.field ? `${reply.field}: ` : ''}${reply.error}\n`);
    return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e) => {
    process.stderr.write(`mailctl: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
