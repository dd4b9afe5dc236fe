// npm run wasm: assembles src-rpc/sys/*.wat with wat2wasm (Debian package wabt) into the .ts
// module next to each, which holds the binary as base64 so that the bundle and the tests (tsx)
// load it as plain code. `--check` changes nothing and fails when a module is not what its .wat
// makes (test/unit/sha512.test.ts runs it).
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../src-rpc/sys/', import.meta.url));
const check = process.argv.includes('--check');
let stale = 0;

for (const name of readdirSync(dir).filter((n) => n.endsWith('.wat'))) {
  const binary = execFileSync('wat2wasm', [`${dir}${name}`, '--output=-']);
  const constant = `${name.replace(/\.wat$/, '').toUpperCase()}_WASM`;
  const source = `// Made by \`npm run wasm\` from ${name}: edit that, not this.\nexport const ${constant} = '${binary.toString('base64')}';\n`;
  const target = `${dir}${name.replace(/\.wat$/, '-wasm.ts')}`;
  if (!check) writeFileSync(target, source);
  else if (readFileSync(target, 'utf8') !== source) {
    console.error(`${target} is not what ${name} makes: run npm run wasm`);
    stale++;
  }
}
process.exitCode = stale ? 1 : 0;
