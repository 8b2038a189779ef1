/** The text that replaces a secret in logs, outputs, errors and run records. */
export const MASK = '***';

/**
 * Forms shorter than this many characters are not masked, because masking the
 * value "7" would replace every 7 in every log line. The limit applies alike
 * to the value, to each line of a multi-line value and to each encoded form.
 */
export const MIN_MASK_LENGTH = 4;

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

  /**
   * Registers a secret value. Values that `isMaskable` rejects are ignored,
   * and so are the forms shorter than `MIN_MASK_LENGTH` of a longer value.
   */
  add(value: string): void {
    if (!isMaskable(value)) return;
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
 * Returns whether a value is long enough to be masked: at least
 * `MIN_MASK_LENGTH` characters, not counting leading and trailing whitespace.
 */
export function isMaskable(value: string): boolean {
  return characterCount(value.trim()) >= MIN_MASK_LENGTH;
}

/**
 * Lists the forms of a secret to mask: the value and each trimmed line of a
 * multi-line value, then their encodings. The encodings are base64 (standard
 * and URL-safe, at each of the three byte alignments inside a longer base64
 * text), JSON, URL, XML and shell escapes, and hex in both cases. Forms
 * shorter than `MIN_MASK_LENGTH` are left out, so a value that `isMaskable`
 * rejects has no forms at all.
 */
export function secretVariants(value: string): string[] {
  if (!isMaskable(value)) return [];
  const plain = new Set<string>([value]);
  for (const line of value.split(/\r?\n/)) plain.add(line.trim());

  const variants = new Set<string>();
  for (const form of plain) {
    if (characterCount(form) < MIN_MASK_LENGTH) continue;
    variants.add(form);
    for (const encoded of encodedForms(form)) variants.add(encoded);
  }
  return [...variants].filter((form) => characterCount(form) >= MIN_MASK_LENGTH);
}

/** Counts Unicode code points rather than UTF-16 code units. */
function characterCount(text: string): number {
  return [...text].length;
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
