import { invalid } from '../errors.js';
import { readAppFile } from '../guest/app-files.js';

/** Process type names as Heroku accepts them; they become instance ids like `web.1`. */
const TYPE = /^[A-Za-z0-9_-]+$/;
const EXAMPLE = 'a valid line looks like `web: node server.js`';

/**
 * Parses a Heroku Procfile (`type: command` per line). Blank lines and `#`
 * comments are skipped. A malformed line is an error rather than being
 * ignored, because a silently dropped `web:` line means an app that deploys
 * and then never answers.
 */
export function parseProcfile(text: string): Record<string, string> {
  const types: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `Procfile line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw invalid(`${where} is not \`type: command\`: ${JSON.stringify(raw)}`, EXAMPLE);
    const type = line.slice(0, colon).trim();
    const command = line.slice(colon + 1).trim();
    if (!TYPE.test(type)) {
      throw invalid(`${where} has an invalid process type ${JSON.stringify(type)}`, `types use letters, digits, '_' and '-'; ${EXAMPLE}`);
    }
    if (command === '') throw invalid(`${where} gives process type "${type}" no command`, EXAMPLE);
    if (Object.hasOwn(types, type)) throw invalid(`${where} defines process type "${type}" twice`, 'keep one line per process type');
    types[type] = command;
  });
  return types;
}

/** Reads and parses `dir/Procfile`; an app without one has no process types of its own. */
export async function readProcfile(dir: string): Promise<Record<string, string>> {
  const text = readAppFile(dir, 'Procfile');
  return text === undefined ? {} : parseProcfile(text);
}
