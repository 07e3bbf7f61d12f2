// The one password generator (src/postgres/database/scram.ts): every call returns exactly the length
// asked for and meets Azure's complexity rule (three of: upper, lower, digit, symbol), many times over
// (a generator that drops characters after drawing fails roughly once in a few hundred calls).
import { DEFAULT_PASSWORD_LENGTH, PASSWORD_PATTERN, generatePassword } from '../../src/postgres/database/scram.js';

const classes = (p: string) => [/[A-Z]/, /[a-z]/, /[0-9]/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length;

test.each([16, 32, DEFAULT_PASSWORD_LENGTH, 128])('20,000 passwords of %i characters: exact length, Azure complexity, usable as a role password', (length) => {
  const seen = new Set<string>();
  for (let i = 0; i < 20_000; i++) {
    const p = length === DEFAULT_PASSWORD_LENGTH ? generatePassword() : generatePassword(length);
    if (p.length !== length) throw new Error(`call ${i}: ${p.length} characters instead of ${length}`);
    if (classes(p) < 3) throw new Error(`call ${i}: only ${classes(p)} character classes`);
    if (!PASSWORD_PATTERN.test(p)) throw new Error(`call ${i}: not a printable-ASCII password`);
    seen.add(p);
  }
  expect(seen.size).toBe(20_000);
});

test('lengths outside what Azure and PostgreSQL accept are refused', () => {
  expect(() => generatePassword(8)).toThrow(/length/);
  expect(() => generatePassword(129)).toThrow(/length/);
  expect(() => generatePassword(20.5)).toThrow(/length/);
});
