import { UserError } from '../core/errors.js';

/**
 * Parses the files a step appends to through $GITHUB_OUTPUT and $GITHUB_ENV:
 * `name=value` lines, or `name<<DELIMITER` followed by the value's lines and
 * the delimiter alone on a line. As on GitHub, a block without its closing
 * delimiter fails the step.
 */
export function parseFileCommands(text: string, variable: string): Record<string, string> {
  const values: Record<string, string> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    const equals = line.indexOf('=');
    if (heredoc && (equals < 0 || equals > line.indexOf('<<'))) {
      const [, name, delimiter] = heredoc;
      const end = lines.indexOf(delimiter!, i + 1);
      if (end < 0) {
        throw new UserError(
          'invalid',
          `Invalid ${variable}: the value of "${name}" has no closing delimiter "${delimiter}" on a line of its own.`,
        );
      }
      values[name!] = lines.slice(i + 1, end).join('\n');
      i = end;
      continue;
    }
    if (equals <= 0) {
      throw new UserError(
        'invalid',
        `Invalid ${variable} line "${line.slice(0, 80)}": use name=value or name<<DELIMITER.`,
      );
    }
    values[line.slice(0, equals)] = line.slice(equals + 1);
  }
  return values;
}
