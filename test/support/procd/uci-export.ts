// `uci export PACKAGE` for this double's config_load: the package's file under $UCI_CONFIG_DIR
// (default /etc/config) as uci prints it, shell words that functions.sh evaluates.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseUci, exportUci } from '../../../src-rpc/config/uci.ts';

const name = process.argv[2];
if (!name) throw new Error('usage: uci-export.ts PACKAGE');
const text = readFileSync(join(process.env.UCI_CONFIG_DIR || '/etc/config', name), 'utf8');
process.stdout.write(exportUci(parseUci(text), name));
