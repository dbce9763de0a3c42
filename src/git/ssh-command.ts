import { SlipwayError } from '../errors.js';

/**
 * SSH hands the server one command string. An ordinary sshd gives it to a
 * shell; Slipway never does. This module splits the string the way a POSIX
 * shell splits words (quotes and backslashes) and refuses everything a shell
 * would have *interpreted* — `;`, `|`, `$(…)`, redirections, globs — so that a
 * line which would mean something else under a shell is an error here rather
 * than silently taken as literal text.
 */

/** Refused when unquoted: operators, expansions, redirections and globs. */
const UNQUOTED_META = new Set([';', '|', '&', '$', '`', '<', '>', '(', ')', '*', '?', '[', '{', '}', '\n', '\r']);
/** Special only at the start of a word (comment, tilde expansion). */
const WORD_START_META = new Set(['#', '~']);
/** Still expanded by a shell inside double quotes. */
const DOUBLE_QUOTED_META = new Set(['$', '`']);
/** The only characters a backslash escapes inside double quotes (POSIX). */
const DOUBLE_QUOTED_ESCAPABLE = new Set(['$', '`', '"', '\\', '\n']);

export class CommandSyntaxError extends SlipwayError {
  constructor(message: string, hint?: string) {
    super('command_syntax', message, { status: 400, hint });
    this.name = 'CommandSyntaxError';
  }
}

const shown = (ch: string): string => (ch === '\n' ? 'newline' : ch === '\r' ? 'carriage return' : `'${ch}'`);

const refuse = (ch: string): CommandSyntaxError =>
  new CommandSyntaxError(
    `refusing shell syntax ${shown(ch)} in command; Slipway commands take plain arguments`,
    'quote it if you meant it literally',
  );

/**
 * Splits an SSH command line into argv. Understands '…', "…" and backslash
 * escapes; throws CommandSyntaxError on any unquoted shell metacharacter, an
 * unterminated quote or a NUL byte.
 */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  let i = 0;

  while (i < line.length) {
    const ch = line[i];
    if (ch === '\0') throw new CommandSyntaxError('refusing NUL byte in command');

    if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
      i++;
      continue;
    }

    if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new CommandSyntaxError('unterminated single quote in command');
      const quoted = line.slice(i + 1, end);
      if (quoted.includes('\0')) throw new CommandSyntaxError('refusing NUL byte in command');
      word += quoted;
      inWord = true;
      i = end + 1;
      continue;
    }

    if (ch === '"') {
      i++;
      for (;;) {
        if (i >= line.length) throw new CommandSyntaxError('unterminated double quote in command');
        const c = line[i];
        if (c === '"') break;
        if (c === '\0') throw new CommandSyntaxError('refusing NUL byte in command');
        if (DOUBLE_QUOTED_META.has(c)) throw refuse(c);
        if (c === '\\' && i + 1 < line.length && DOUBLE_QUOTED_ESCAPABLE.has(line[i + 1])) {
          // Backslash-newline is a line continuation: both characters vanish.
          if (line[i + 1] !== '\n') word += line[i + 1];
          i += 2;
          continue;
        }
        word += c;
        i++;
      }
      inWord = true;
      i++;
      continue;
    }

    if (ch === '\\') {
      if (i + 1 >= line.length) throw new CommandSyntaxError('trailing backslash in command');
      const next = line[i + 1];
      if (next === '\0') throw new CommandSyntaxError('refusing NUL byte in command');
      if (next !== '\n') {
        word += next;
        inWord = true;
      }
      i += 2;
      continue;
    }

    if (UNQUOTED_META.has(ch)) throw refuse(ch);
    if (!inWord && WORD_START_META.has(ch)) throw refuse(ch);
    word += ch;
    inWord = true;
    i++;
  }
  if (inWord) words.push(word);
  return words;
}

/** What an SSH exec request asks for, once split. */
export type SshCommand =
  | { kind: 'git'; service: 'receive-pack' | 'upload-pack'; repo: string }
  | { kind: 'refused'; message: string }
  | { kind: 'slipway'; argv: string[] }
  | { kind: 'empty' };

const GIT_SERVICES: Record<string, 'receive-pack' | 'upload-pack' | 'upload-archive'> = {
  'git-receive-pack': 'receive-pack',
  'git-upload-pack': 'upload-pack',
  'git-upload-archive': 'upload-archive',
};

/**
 * Recognises the git transport commands (`git-receive-pack 'repo'`, also the
 * spaced `git receive-pack` spelling some clients use); everything else is a
 * Slipway command passed through as argv. Throws CommandSyntaxError like
 * splitCommand.
 */
export function parseSshCommand(line: string): SshCommand {
  let argv = splitCommand(line);
  if (argv.length === 0 || argv[0] === '') return { kind: 'empty' };
  if (argv[0] === 'git' && argv.length > 1 && `git-${argv[1]}` in GIT_SERVICES) {
    argv = [`git-${argv[1]}`, ...argv.slice(2)];
  }
  const service = GIT_SERVICES[argv[0]];
  if (!service) return { kind: 'slipway', argv };
  if (service === 'upload-archive') {
    return { kind: 'refused', message: 'git archive --remote is not supported; clone the app instead' };
  }
  if (argv.length !== 2 || argv[1] === '') {
    return { kind: 'refused', message: `${argv[0]} takes exactly one repository argument` };
  }
  return { kind: 'git', service, repo: argv[1] };
}
