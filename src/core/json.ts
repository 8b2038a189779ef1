/**
 * JSON text for values that may hold bigints. JSON.stringify rejects bigints,
 * so each is swapped for a marker string and the marker's quotes are removed
 * afterwards: the output has the integer's exact digits as a JSON number.
 * Parsers that read numbers as doubles (JavaScript's JSON.parse) still round
 * them; Python, Go's json.Number and jq 1.7 keep every digit.
 */
const MARKER = '\u0000bigint:';
const MARKER_PATTERN = /"\\u0000bigint:(-?\d+)"/g;

export function stringifyJson(value: unknown, indent?: number): string {
  // The plain call is several times faster than one with a replacer, and
  // it throws a TypeError on the first bigint, which sends us to the slow path.
  try {
    return JSON.stringify(value, undefined, indent) ?? 'null';
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  let sawBigint = false;
  const text = JSON.stringify(
    value,
    (_key, item) => {
      if (typeof item === 'bigint') {
        sawBigint = true;
        return MARKER + item.toString();
      }
      return item;
    },
    indent,
  );
  if (text === undefined) return 'null';
  return sawBigint ? text.replace(MARKER_PATTERN, '$1') : text;
}
