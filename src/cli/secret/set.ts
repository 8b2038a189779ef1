import { readFileSync } from 'node:fs';

import { UserError, errorMessage } from '../../core/errors.js';
import { parseEnvFile } from '../../secrets/env-file.js';
import { MIN_MASK_LENGTH, isMaskable } from '../../secrets/masker.js';
import { SecretStore } from '../../secrets/store.js';
import type { CommandSpec } from '../command.js';
import { info, printJson, readStdin } from '../output.js';
import { promptHidden } from '../prompt.js';

export const setCommand: CommandSpec = {
  name: 'set [name]',
  summary: 'store an encrypted secret (value from stdin, a hidden prompt, --body or --env-file)',
  description:
    'Store an encrypted secret for workflows. The value comes from --body, from stdin when it is piped, or from a hidden prompt on a terminal. ' +
    'With --env-file, every NAME=VALUE line of the file becomes a secret, and a malformed line rejects the whole file. ' +
    'A trailing newline of piped input is dropped.',
  options: [
    {
      flags: '-b, --body <value>',
      description: 'the value itself (visible in the shell history; prefer stdin)',
    },
    {
      flags: '-f, --env-file <file>',
      description: 'read NAME=VALUE lines from a dotenv file',
      conflicts: ['body'],
    },
    { flags: '--json', description: 'print the stored names as JSON' },
  ],
  async run({ args: [name], options, context }) {
    const store = new SecretStore(context);
    if (options.envFile) {
      if (name) throw new UserError('usage', 'Pass either a secret NAME or --env-file, not both.');
      const values = readEnvFile(options.envFile);
      const names = await store.setMany(values);
      if (options.json) printJson({ stored: names });
      else
        info(`Stored ${names.length} secret${names.length === 1 ? '' : 's'}: ${names.join(', ')}.`);
      const unmasked = Object.entries(values).filter(([, value]) => !isMaskable(value));
      warnUnmasked(unmasked.map(([key]) => key.toUpperCase()));
      return;
    }
    if (!name)
      throw new UserError(
        'usage',
        'Missing secret NAME: run `opsbox secret set NAME`, or pass --env-file FILE.',
      );
    const value = await readValue(name, options.body);
    const stored = await store.set(name, value);
    if (options.json) printJson({ stored: [stored.name], replaced: stored.replaced });
    else info(`${stored.replaced ? 'Updated' : 'Stored'} secret ${stored.name}.`);
    if (!isMaskable(value)) warnUnmasked([stored.name]);
  },
};

async function readValue(name: string, body: string | undefined): Promise<string> {
  if (body !== undefined) return body;
  if (process.stdin.isTTY)
    return promptHidden(`Value for ${name.toUpperCase()}: `, 'Cancelled; no secret was stored.');
  return (await readStdin()).replace(/\r?\n$/, '');
}

/**
 * Warns that short values stay readable in run logs. They are stored anyway,
 * because a PIN or a port number may be short on purpose.
 */
function warnUnmasked(names: string[]): void {
  if (names.length === 0) return;
  const [subject, pronoun] =
    names.length === 1
      ? [`secret ${names[0]} is`, 'it']
      : [`secrets ${names.join(', ')} are`, 'them'];
  info(
    `Warning: ${subject} shorter than ${MIN_MASK_LENGTH} characters, so workflow runs do not mask ${pronoun} in logs and outputs.`,
  );
}

function readEnvFile(file: string): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UserError('not_found', `Cannot read the env file ${file}: ${errorMessage(error)}.`);
  }
  const values = parseEnvFile(text, file);
  if (Object.keys(values).length === 0) {
    throw new UserError('invalid', `The env file ${file} has no NAME=VALUE lines.`);
  }
  return values;
}
