import type { Context } from '../core/context.js';
import { SecretBox } from '../core/crypto.js';
import { UserError } from '../core/errors.js';

/** Associated data of the key check, so no other sealed value can pass for it. */
const CHECK_LABEL = 'opsbox-key-check';

const boxes = new WeakMap<Context, Promise<SecretBox>>();

/**
 * Opens the secret key of a context. With the PostgreSQL store every server
 * and worker must use the same key, so the store keeps a value sealed with
 * the first key used. A process with another key stops here with one clear
 * error, before it seals anything the others cannot open.
 */
export function secretBoxFor(context: Context): Promise<SecretBox> {
  let box = boxes.get(context);
  if (!box) {
    box = checkSharedKey(context, SecretBox.open(context.dataDir));
    box.catch(() => boxes.delete(context));
    boxes.set(context, box);
  }
  return box;
}

async function checkSharedKey(context: Context, box: SecretBox): Promise<SecretBox> {
  const postgres = context.postgres;
  if (!postgres) return box;
  await postgres.query(
    'INSERT INTO key_check (id, sealed) VALUES (1, $1) ON CONFLICT (id) DO NOTHING',
    [box.encrypt('opsbox', CHECK_LABEL)],
  );
  const { rows } = await postgres.query<{ sealed: string }>(
    'SELECT sealed FROM key_check WHERE id = 1',
  );
  try {
    box.decrypt(rows[0]!.sealed, CHECK_LABEL);
  } catch {
    throw new UserError(
      'permission',
      `The secret key of this process differs from the one the PostgreSQL state store at ${postgres.displayUrl} was set up with. Set OPSBOX_SECRET_KEY to the same value on every server and worker.`,
      { code: 'WRONG_SECRET_KEY' },
    );
  }
  return box;
}
