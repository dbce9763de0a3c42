/**
 * Reads one line from the terminal without echoing it, for `users:passwd`
 * typed at a prompt. The password then travels like piped stdin would, so
 * the daemon never sees the difference and it never appears in argv.
 */
export function readSecret(
  prompt: string,
  input: NodeJS.ReadStream = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): Promise<string> {
  output.write(prompt);
  input.setRawMode(true);
  input.resume();
  let text = '';
  return new Promise((resolve, reject) => {
    const finish = (err?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      output.write('\n');
      if (err) reject(err);
      else resolve(text);
    };
    function onData(chunk: Buffer) {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new Error('no password given (interrupted)'));
        if (ch === '\u007f' || ch === '\b') text = text.slice(0, -1);
        else text += ch;
      }
    }
    input.on('data', onData);
  });
}

/** `users:passwd` at a terminal (not `--remove`): the one host command that prompts. */
export const promptsForPassword = (argv: string[]) =>
  argv[0] === 'users:passwd' && !argv.includes('--remove') && !argv.includes('--help') && Boolean(process.stdin.isTTY);
