import { UserError } from '../core/errors.js';

/**
 * Reads a password or secret from the terminal without echoing it. Raw mode
 * delivers each key press, so Enter ends the value, Backspace edits it and
 * Ctrl+C cancels with `cancelledMessage`.
 */
export async function promptHidden(question: string, cancelledMessage: string): Promise<string> {
  const stdin = process.stdin;
  // Echo goes off before the question appears, so keys typed at once are not shown.
  stdin.setRawMode(true);
  process.stderr.write(question);
  stdin.resume();
  let value = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        for (const char of chunk.toString('utf8')) {
          if (char === '\r' || char === '\n') {
            stdin.off('data', onData);
            return resolve(value);
          }
          if (char === '\u0003') {
            stdin.off('data', onData);
            return reject(new UserError('cancelled', cancelledMessage));
          }
          if (char === '\u007f' || char === '\b') value = value.slice(0, -1);
          else value += char;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    process.stderr.write('\n');
  }
}
