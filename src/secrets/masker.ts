/** The text that replaces a secret in logs, outputs, errors and run records. */
export const MASK = '***';

/**
 * Variants shorter than this are not masked on their own: a two-character
 * base64 fragment would mask unrelated text everywhere. The plain value is
 * always masked, whatever its length.
 */
const MIN_DERIVED_LENGTH = 4;

/**
 * Replaces every registered secret, and the encoded forms in which a secret
 * commonly shows up in output, with `***`. Longer patterns are replaced first,
 * so a secret that contains another secret is masked whole.
 */
export class Masker {
  private readonly patterns = new Set<string>();
  private regex?: RegExp;

  constructor(values: Iterable<string> = []) {
    for (const value of values) this.add(value);
  }

  /** Registers a secret value; empty and whitespace-only values are ignored. */
  add(value: string): void {
    if (value.trim() === '') return;
    for (const variant of secretVariants(value)) this.patterns.add(variant);
    this.regex = undefined;
  }

  get size(): number {
    return this.patterns.size;
  }

  mask(text: string): string {
    if (this.patterns.size === 0 || text.length === 0) return text;
    this.regex ??= buildRegex(this.patterns);
    return text.replace(this.regex, MASK);
  }

  /** Returns whether the text contains a registered secret in any form. */
  contains(text: string): boolean {
    return this.mask(text) !== text;
  }

  /** Masks every string inside a JSON-like value (keys included). */
  maskDeep<T>(value: T): T {
    if (this.patterns.size === 0) return value;
    return maskValue(this, value) as T;
  }
}

function maskValue(masker: Masker, value: unknown): unknown {
  if (typeof value === 'string') return masker.mask(value);
  if (Array.isArray(value)) return value.map((item) => maskValue(masker, item));
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [masker.mask(key), maskValue(masker, item)]),
    );
  }
  return value;
}

function buildRegex(patterns: Set<string>): RegExp {
  const sorted = [...patterns].sort((a, b) => b.length - a.length);
  return new RegExp(sorted.map(escapeRegex).join('|'), 'g');
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Lists the forms of a secret to mask: the value and each trimmed line of a
 * multi-line value, then their encodings. The encodings are base64 (standard
 * and URL-safe, at each of the three byte alignments inside a longer base64
 * text), JSON, URL, XML and shell escapes, and hex in both cases.
 */
export function secretVariants(value: string): string[] {
  const variants = new Set<string>([value]);
  const derived = new Set<string>();
  for (const line of value.split(/\r?\n/)) {
    const trimmed = line.trim();
    if (trimmed !== '') variants.add(trimmed);
  }
  for (const form of [...variants]) {
    for (const encoded of encodedForms(form)) derived.add(encoded);
  }
  for (const form of derived) {
    if (form.length >= MIN_DERIVED_LENGTH) variants.add(form);
  }
  return [...variants];
}

function encodedForms(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  return [
    ...base64Forms(bytes),
    JSON.stringify(value).slice(1, -1),
    encodeURIComponent(value),
    encodeURIComponent(value).replace(/%20/g, '+'),
    escapeXml(value),
    // Inside single quotes, the shell spells a quote as '\''.
    value.replace(/'/g, `'\\''`),
    // Inside double quotes, \, ", $ and ` take a backslash.
    value.replace(/[\\"$`]/g, '\\$&'),
    // printf %q and `set -x` style: a backslash before each special character.
    value.replace(/[^A-Za-z0-9_./:=@%+,\n-]/g, '\\$&'),
    bytes.toString('hex'),
    bytes.toString('hex').toUpperCase(),
  ];
}

/**
 * Base64 of the value at byte offsets 0, 1 and 2 within a longer text. Only
 * the characters whose six bits all come from the secret are kept, because
 * the edge characters also depend on the unknown neighbouring bytes.
 */
function base64Forms(bytes: Buffer): string[] {
  const forms: string[] = [];
  for (const shift of [0, 1, 2]) {
    const encoded = Buffer.concat([Buffer.alloc(shift), bytes]).toString('base64');
    const firstBit = shift * 8;
    const endBit = (shift + bytes.length) * 8;
    const start = Math.ceil(firstBit / 6);
    const end = Math.floor(endBit / 6);
    if (end <= start) continue;
    const core = encoded.slice(start, end);
    forms.push(core, core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  // The whole padded encoding, as `base64` prints it for the value alone.
  forms.push(bytes.toString('base64'));
  return forms;
}

function escapeXml(value: string): string {
  return value
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
