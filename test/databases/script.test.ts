import assert from 'node:assert/strict';
import { test } from 'node:test';

import { splitStatements } from '../../src/databases/script.js';

function split(script: string) {
  return [...splitStatements(script)].map(({ sql, line }) => ({ sql, line }));
}

test('semicolons in strings and comments do not split', () => {
  assert.deepEqual(split('-- a;b\nINSERT INTO t VALUES(\'x;y\', "c;d"); /* ; */ SELECT 1;'), [
    { sql: 'INSERT INTO t VALUES(\'x;y\', "c;d");', line: 2 },
    { sql: 'SELECT 1;', line: 2 },
  ]);
});

test('quoted, bracketed and backticked identifiers', () => {
  assert.deepEqual(split('CREATE TABLE [a;b] (`c;`, "d"";");\nSELECT \'it\'\'s;\';'), [
    { sql: 'CREATE TABLE [a;b] (`c;`, "d"";");', line: 1 },
    { sql: "SELECT 'it''s;';", line: 2 },
  ]);
});

test('trigger body with CASE END stays whole', () => {
  const trigger =
    'CREATE TEMP TRIGGER tr AFTER INSERT ON t BEGIN\n  UPDATE t SET x = CASE WHEN new.y THEN 1 ELSE 2 END;\n  SELECT 1;\nEND;';
  assert.deepEqual(split(`${trigger}\nSELECT 2;`), [
    { sql: trigger, line: 1 },
    { sql: 'SELECT 2;', line: 5 },
  ]);
});

test('CRLF line endings count lines', () => {
  assert.deepEqual(split('SELECT 1;\r\n\r\nSELECT 2;\r\n'), [
    { sql: 'SELECT 1;', line: 1 },
    { sql: 'SELECT 2;', line: 3 },
  ]);
});

test('comment-only and empty statements are dropped', () => {
  assert.deepEqual(split(';;\n-- only a comment\n/* another */;'), []);
});

test('trailing statement without semicolon is kept', () => {
  assert.deepEqual(split('SELECT 1;\nSELECT 2  \n'), [
    { sql: 'SELECT 1;', line: 1 },
    { sql: 'SELECT 2', line: 2 },
  ]);
});

test('END TRANSACTION outside a trigger ends normally', () => {
  assert.deepEqual(split('BEGIN TRANSACTION;\nCREATE TABLE t(x);\nEND TRANSACTION;'), [
    { sql: 'BEGIN TRANSACTION;', line: 1 },
    { sql: 'CREATE TABLE t(x);', line: 2 },
    { sql: 'END TRANSACTION;', line: 3 },
  ]);
});
