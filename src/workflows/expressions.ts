import { Evaluator, Lexer, Parser, data, type Expr } from '@actions/expressions';
import { ContextAccess, FunctionCall, IndexAccess, Literal } from '@actions/expressions/ast';
import type { FunctionDefinition } from '@actions/expressions/funcs/info';
import { truthy } from '@actions/expressions/result';

/** Contexts an expression may name, as on GitHub Actions. */
export const CONTEXT_NAMES = [
  'github',
  'inputs',
  'secrets',
  'env',
  'vars',
  'steps',
  'needs',
  'matrix',
  'job',
  'jobs',
  'runner',
  'strategy',
];

const STATUS_FUNCTIONS = ['success', 'failure', 'always', 'cancelled'];

/** A syntax error in an expression, with the column inside the expression text (0-based). */
export class ExpressionSyntaxError extends Error {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
  }
}

/** The job's state that the status functions read. */
export interface JobStatus {
  /** True once a previous step (or a needed job) failed. */
  failed: boolean;
  cancelled: boolean;
  /** True when a needed job was skipped or cancelled: then neither success() nor failure() holds. */
  blocked?: boolean;
}

/** One piece of a `${{ }}` template: literal text or a parsed expression. */
export type TemplatePart = string | { expr: Expr; source: string };

const parsedCache = new Map<string, Expr>();

/** Parses one expression (the text between `${{` and `}}`); results are cached by text. */
export function parseExpression(text: string): Expr {
  const cached = parsedCache.get(text);
  if (cached) return cached;
  let expr: Expr;
  try {
    const lexed = new Lexer(text).lex();
    const functions = STATUS_FUNCTIONS.map((name) => ({ name, minArgs: 0, maxArgs: 0 }));
    expr = new Parser(lexed.tokens, CONTEXT_NAMES, functions).parse();
  } catch (error) {
    const pos = (error as { pos?: { line: number; column: number } }).pos ?? { line: 0, column: 0 };
    throw new ExpressionSyntaxError((error as Error).message, pos.line, pos.column);
  }
  if (parsedCache.size > 10_000) parsedCache.clear();
  parsedCache.set(text, expr);
  return expr;
}

/**
 * Splits a string into literal text and `${{ }}` expressions. The closing
 * `}}` is searched outside single-quoted string literals, so `'}}'` inside an
 * expression does not end it. Throws an ExpressionSyntaxError whose column is
 * an offset into the whole string.
 */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let position = 0;
  while (position < text.length) {
    const open = text.indexOf('${{', position);
    if (open < 0) break;
    const close = findClose(text, open + 3);
    if (close < 0)
      throw new ExpressionSyntaxError("Unclosed expression: '${{' has no matching '}}'", 0, open);
    if (open > position) parts.push(text.slice(position, open));
    const source = text.slice(open + 3, close).trim();
    if (source === '') throw new ExpressionSyntaxError('Empty expression ${{ }}', 0, open);
    try {
      parts.push({ expr: parseExpression(source), source });
    } catch (error) {
      const syntax = error as ExpressionSyntaxError;
      throw new ExpressionSyntaxError(
        syntax.message,
        0,
        open +
          3 +
          (text.slice(open + 3).length - text.slice(open + 3).trimStart().length) +
          syntax.column,
      );
    }
    position = close + 2;
  }
  if (position < text.length) parts.push(text.slice(position));
  return parts;
}

function findClose(text: string, from: number): number {
  let inString = false;
  for (let i = from; i < text.length - 1; i++) {
    const char = text[i];
    if (char === "'") inString = !inString;
    else if (!inString && char === '}' && text[i + 1] === '}') return i;
  }
  return -1;
}

/** Returns whether a string contains a `${{ }}` expression. */
export function hasExpression(text: string): boolean {
  return text.includes('${{');
}

/**
 * Parses an `if:` condition. As on GitHub, the `${{ }}` wrapper is optional,
 * and a condition without a status function gets an implicit `success() &&`.
 */
export function parseCondition(text: string): { expr: Expr; usesStatus: boolean } {
  const trimmed = text.trim();
  const inner =
    trimmed.startsWith('${{') &&
    trimmed.endsWith('}}') &&
    findClose(trimmed, 3) === trimmed.length - 2
      ? trimmed.slice(3, -2).trim()
      : trimmed;
  const expr = parseExpression(inner);
  return { expr, usesStatus: usesStatusFunction(expr) };
}

/**
 * The values an expression can read: the contexts as plain JSON values, and
 * the job's status for `success()`, `failure()`, `always()` and `cancelled()`.
 */
export class ExpressionScope {
  private dictionary?: data.Dictionary;
  private readonly functions: Map<string, FunctionDefinition>;

  constructor(
    private readonly contexts: Record<string, unknown>,
    private readonly status: JobStatus = { failed: false, cancelled: false },
  ) {
    const fixed = (name: string, value: () => boolean): [string, FunctionDefinition] => [
      name,
      { name, minArgs: 0, maxArgs: 0, call: () => new data.BooleanData(value()) },
    ];
    this.functions = new Map([
      fixed('success', () => !status.failed && !status.cancelled && !status.blocked),
      fixed('failure', () => status.failed && !status.cancelled),
      fixed('always', () => true),
      fixed('cancelled', () => status.cancelled),
    ]);
  }

  evaluate(expr: Expr): data.ExpressionData {
    this.dictionary ??= toData(this.contexts) as data.Dictionary;
    return new Evaluator(expr, this.dictionary, this.functions).evaluate();
  }

  /** Evaluates a condition with GitHub's truthiness. */
  test(condition: { expr: Expr; usesStatus: boolean }): boolean {
    if (
      !condition.usesStatus &&
      (this.status.failed || this.status.cancelled || this.status.blocked)
    )
      return false;
    return truthy(this.evaluate(condition.expr));
  }

  /**
   * Renders a template to a string. A template that is one expression and
   * nothing else keeps the expression's type (so `${{ fromJSON(x) }}` can
   * give an object), unless `asString` is set.
   */
  render(parts: TemplatePart[], asString = true): unknown {
    if (parts.length === 1 && typeof parts[0] !== 'string' && !asString) {
      return toPlain(this.evaluate(parts[0]!.expr));
    }
    let text = '';
    for (const part of parts)
      text += typeof part === 'string' ? part : this.evaluate(part.expr).coerceString();
    return text;
  }
}

/** Converts a plain JSON value to the expression library's data types. */
export function toData(value: unknown): data.ExpressionData {
  if (value === null || value === undefined) return new data.Null();
  if (typeof value === 'string') return new data.StringData(value);
  if (typeof value === 'number') return new data.NumberData(value);
  if (typeof value === 'boolean') return new data.BooleanData(value);
  if (typeof value === 'bigint') return new data.NumberData(Number(value));
  if (Array.isArray(value)) return new data.Array(...value.map(toData));
  if (typeof value === 'object') {
    return new data.Dictionary(
      ...Object.entries(value).map(([key, item]) => ({ key, value: toData(item) })),
    );
  }
  return new data.StringData(String(value));
}

export function toPlain(value: data.ExpressionData): unknown {
  return JSON.parse(JSON.stringify(value, data.replacer));
}

function usesStatusFunction(expr: Expr): boolean {
  let found = false;
  walk(expr, (node) => {
    if (
      node instanceof FunctionCall &&
      STATUS_FUNCTIONS.includes(node.functionName.lexeme.toLowerCase())
    )
      found = true;
  });
  return found;
}

/** Names of the secrets an expression reads as `secrets.NAME` or `secrets['NAME']`, in upper case. */
export function referencedSecrets(expr: Expr): string[] {
  const names: string[] = [];
  walk(expr, (node) => {
    if (
      node instanceof IndexAccess &&
      node.expr instanceof ContextAccess &&
      node.expr.name.lexeme.toLowerCase() === 'secrets'
    ) {
      if (node.index instanceof Literal)
        names.push(node.index.literal.coerceString().toUpperCase());
    }
  });
  return names;
}

function walk(expr: Expr, visit: (node: Expr) => void): void {
  visit(expr);
  const node = expr as unknown as Record<string, unknown>;
  for (const key of ['expr', 'left', 'right', 'index', 'group']) {
    const child = node[key];
    if (child && typeof child === 'object' && 'accept' in child) walk(child as Expr, visit);
  }
  for (const key of ['args']) {
    const children = node[key];
    if (Array.isArray(children)) for (const child of children) walk(child as Expr, visit);
  }
}
