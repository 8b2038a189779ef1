import type { Context } from '../core/context.js';

export async function prepareDemo(_context: Context): Promise<string[]> {
  return [];
}
