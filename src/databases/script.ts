/**
 * Splits a SQL script into statements the way the sqlite3 shell does: it
 * reads until `sqlite3_complete()` would report a complete statement. That
 * function's state machine is reproduced here: a `;` ends a statement unless
 * it sits in a string, a quoted or bracketed identifier or a comment, or
 * inside the body of CREATE TRIGGER, which only `; END ;` closes (so a
 * `CASE … END` in a trigger body does not end it).
 */

export interface ScriptStatement {
  /** The statement text, without surrounding whitespace or comments before it. */
  sql: string;
  /** 1-based line of the statement's first token. */
  line: number;
  /** Offset just past the statement in the script, for progress reporting. */
  end: number;
  /** Whether a `;` ended the statement (false for trailing text without one). */
  complete: boolean;
}

const enum Token {
  Semi,
  Space,
  Other,
  Explain,
  Create,
  Temp,
  Trigger,
  End,
}

const enum State {
  Invalid,
  Start,
  Normal,
  Explain,
  Create,
  Trigger,
  Semi,
  End,
}

// TRANSITIONS[state][token], the table behind sqlite3_complete() in SQLite's
// complete.c. Reaching Start on a `;` completes a statement.
const TRANSITIONS: State[][] = [
  /* Invalid */ [
    State.Start,
    State.Invalid,
    State.Normal,
    State.Explain,
    State.Create,
    State.Normal,
    State.Normal,
    State.Normal,
  ],
  /* Start   */ [
    State.Start,
    State.Start,
    State.Normal,
    State.Explain,
    State.Create,
    State.Normal,
    State.Normal,
    State.Normal,
  ],
  /* Normal  */ [
    State.Start,
    State.Normal,
    State.Normal,
    State.Normal,
    State.Normal,
    State.Normal,
    State.Normal,
    State.Normal,
  ],
  /* Explain */ [
    State.Start,
    State.Explain,
    State.Explain,
    State.Normal,
    State.Create,
    State.Normal,
    State.Normal,
    State.Normal,
  ],
  /* Create  */ [
    State.Start,
    State.Create,
    State.Normal,
    State.Normal,
    State.Normal,
    State.Create,
    State.Trigger,
    State.Normal,
  ],
  /* Trigger */ [
    State.Semi,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
  ],
  /* Semi    */ [
    State.Semi,
    State.Semi,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.End,
  ],
  /* End     */ [
    State.Start,
    State.End,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
    State.Trigger,
  ],
];

const KEYWORDS: Record<string, Token> = {
  explain: Token.Explain,
  create: Token.Create,
  temp: Token.Temp,
  temporary: Token.Temp,
  trigger: Token.Trigger,
  end: Token.End,
};

/** Splits a script into complete statements; trailing text without `;` is the last statement. */
export function* splitStatements(script: string): Generator<ScriptStatement> {
  const length = script.length;
  let state = State.Invalid;
  let start = -1;
  let startLine = 1;
  let line = 1;
  let i = 0;

  while (i < length) {
    const code = script.charCodeAt(i);
    let next = i + 1;
    let token: Token;

    if (code === 10) {
      line++;
      token = Token.Space;
    } else if (code === 32 || code === 9 || code === 13 || code === 12 || code === 11) {
      token = Token.Space;
    } else if (code === 45 && script.charCodeAt(i + 1) === 45) {
      // `--` comment to the end of the line.
      const newline = script.indexOf('\n', i);
      next = newline === -1 ? length : newline;
      token = Token.Space;
    } else if (code === 47 && script.charCodeAt(i + 1) === 42) {
      // `/* … */` comment; an unterminated one runs to the end of the script.
      const close = script.indexOf('*/', i + 2);
      next = close === -1 ? length : close + 2;
      line += countNewlines(script, i, next);
      token = Token.Space;
    } else if (code === 39 || code === 34 || code === 96) {
      // '…' string, "…" or `…` identifier; a doubled quote is an escaped one.
      next = skipQuoted(script, i, code);
      line += countNewlines(script, i, next);
      token = Token.Other;
    } else if (code === 91) {
      // […] identifier, with no escapes.
      const close = script.indexOf(']', i + 1);
      next = close === -1 ? length : close + 1;
      line += countNewlines(script, i, next);
      token = Token.Other;
    } else if (code === 59) {
      token = Token.Semi;
    } else if (isIdentifierChar(code)) {
      while (next < length && isIdentifierChar(script.charCodeAt(next))) next++;
      token = KEYWORDS[script.slice(i, next).toLowerCase()] ?? Token.Other;
    } else {
      token = Token.Other;
    }

    if (token !== Token.Space && token !== Token.Semi && start === -1) {
      start = i;
      startLine = line;
    }
    state = TRANSITIONS[state]![token]!;
    if (token === Token.Semi && state === State.Start) {
      if (start !== -1)
        yield { sql: script.slice(start, next), line: startLine, end: next, complete: true };
      start = -1;
    }
    i = next;
  }
  if (start !== -1)
    yield { sql: script.slice(start).trimEnd(), line: startLine, end: length, complete: false };
}

/** Checks whether `sql` ends with a `;` that ends a statement, as `sqlite3_complete()` does. */
export function isCompleteStatement(sql: string): boolean {
  let sawStatement = false;
  for (const statement of splitStatements(sql)) {
    if (!statement.complete) return false;
    sawStatement = true;
  }
  return sawStatement;
}

function skipQuoted(script: string, open: number, quote: number): number {
  let i = open + 1;
  for (;;) {
    const close = script.indexOf(String.fromCharCode(quote), i);
    if (close === -1) return script.length;
    if (script.charCodeAt(close + 1) !== quote) return close + 1;
    i = close + 2;
  }
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0;
  for (let i = text.indexOf('\n', from); i !== -1 && i < to; i = text.indexOf('\n', i + 1)) count++;
  return count;
}

function isIdentifierChar(code: number): boolean {
  return (
    (code >= 97 && code <= 122) ||
    (code >= 65 && code <= 90) ||
    (code >= 48 && code <= 57) ||
    code === 95 ||
    code === 36 ||
    code >= 128
  );
}
