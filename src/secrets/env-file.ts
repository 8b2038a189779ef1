import { UserError, errorMessage } from '../core/errors.js';
import { normalizeSecretName } from './store.js';

const NAME_SHAPE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const QUOTES = new Set(['"', "'", '`']);

/**
 * Parses a dotenv file into secret values, or rejects the whole file at its
 * first malformed line with `file:line` in the message. Blank lines, `#`
 * comment lines and an `export ` prefix are allowed. A value may be quoted
 * with ", ' or ` and then span lines. Inside double quotes, `\n` is a newline.
 * In an unquoted value, `#` starts a comment only after whitespace, so
 * `pa#ss` stays whole. Names come back in upper case, and a later line for the same name
 * replaces an earlier one.
 */
export function parseEnvFile(text: string, file: string): Record<string, string> {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const values = new Map<string, string>();
  for (let index = 0; index < lines.length; index++) {
    const lineNumber = index + 1;
    const line = lines[index]!.trimStart();
    if (line.trim() === '' || line.startsWith('#')) continue;

    const assignment = line.replace(/^export\s+/, '');
    const equals = assignment.indexOf('=');
    if (equals < 0) fail(file, lineNumber, 'Expected NAME=VALUE, but the line has no "="');
    const name = checkName(assignment.slice(0, equals).trim(), file, lineNumber);

    const parsed = parseValue(name, assignment.slice(equals + 1).trimStart(), lines, index);
    if ('problem' in parsed) fail(file, lineNumber, parsed.problem);
    if (parsed.value === '') {
      fail(file, lineNumber, `Empty value for ${name}; give a value or remove the line`);
    }
    values.set(name, parsed.value);
    index = parsed.lastIndex;
  }
  return Object.fromEntries(values);
}

/**
 * Checks the name before "=". A name that does not look like one is not
 * echoed, because it may be a line of an unquoted multi-line secret.
 */
function checkName(name: string, file: string, lineNumber: number): string {
  if (name === '') fail(file, lineNumber, 'Missing the secret name before "="');
  if (!NAME_SHAPE.test(name)) {
    fail(
      file,
      lineNumber,
      'Invalid secret name before "=": use letters, digits and underscores, not starting with a digit',
    );
  }
  try {
    return normalizeSecretName(name);
  } catch (error) {
    fail(file, lineNumber, errorMessage(error).replace(/\.$/, ''));
  }
}

type ParsedValue = { value: string; lastIndex: number } | { problem: string };

/** Reads the value that starts a line, following a quoted value onto later lines. */
function parseValue(name: string, start: string, lines: string[], index: number): ParsedValue {
  const quote = start[0];
  if (quote === undefined || !QUOTES.has(quote)) {
    return { value: start.replace(/(^|\s)#.*$/, '').trimEnd(), lastIndex: index };
  }

  let text = start.slice(1);
  let lastIndex = index;
  let close = text.indexOf(quote);
  while (close < 0) {
    lastIndex++;
    if (lastIndex >= lines.length)
      return { problem: `Missing the closing ${quote} quote of the value of ${name}` };
    const joined: string = `${text}\n${lines[lastIndex]}`;
    close = joined.indexOf(quote, text.length);
    text = joined;
  }

  const rest = text.slice(close + 1).trim();
  if (rest !== '' && !rest.startsWith('#')) {
    return {
      problem: `Unexpected text after the closing ${quote} quote of ${name}; put the whole value inside the quotes`,
    };
  }
  const value = text.slice(0, close);
  return { value: quote === '"' ? value.replace(/\\n/g, '\n') : value, lastIndex };
}

function fail(file: string, lineNumber: number, problem: string): never {
  throw new UserError('invalid', `${file}:${lineNumber}: ${problem}. No secret was stored.`);
}
