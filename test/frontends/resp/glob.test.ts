/**
 * The glob matcher of KEYS, SCAN MATCH and CONFIG GET: Redis's stringmatchlen semantics, and no
 * pattern makes it exponential.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import fc from 'fast-check';
import { globMatch, globMatchBytes } from '../../../src/frontends/resp/commands.js';

test('patterns mean what they mean in Redis: *, ?, classes, ranges, negation, escapes', () => {
  const cases: [string, string, boolean][] = [
    ['*', '', true],
    ['*', 'anything', true],
    ['h?llo', 'hello', true],
    ['h?llo', 'hllo', false],
    ['h*llo', 'heeeello', true],
    ['h[ae]llo', 'hallo', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['h[^e]llo', 'hello', false],
    ['h[a-b]llo', 'hbllo', true],
    ['h[b-a]llo', 'hallo', true], // a reversed range is swapped, as in Redis
    ['h\\*llo', 'h*llo', true],
    ['h\\*llo', 'hello', false],
    ['[\\]]', ']', true],
    ['[abc', 'a', true], // an unterminated class runs to the end of the pattern
    ['a*b*c', 'aXbYc', true],
    ['a*b*c', 'aXbY', false],
    ['*a', 'ba', true],
    ['**', 'x', true],
  ];
  for (const [pattern, text, expected] of cases) {
    assert.equal(globMatch(pattern, text, false), expected, `${pattern} against ${text}`);
  }
  assert.equal(globMatch('MAX*', 'maxmemory', true), true, 'CONFIG GET patterns ignore case');
});

test('on patterns of *, ? and literals it agrees with the equivalent regular expression', () => {
  const toRegex = (p: string) =>
    new RegExp(`^${[...p].map((c) => (c === '*' ? '[^]*' : c === '?' ? '[^]' : c)).join('')}$`);
  fc.assert(
    fc.property(
      fc.string({ unit: fc.constantFrom('a', 'b', '*', '?'), maxLength: 8 }),
      fc.string({ unit: fc.constantFrom('a', 'b'), maxLength: 10 }),
      (pattern, text) => globMatch(pattern, text, false) === toRegex(pattern).test(text),
    ),
    { numRuns: 2000 },
  );
});

test('a pattern built to make backtracking matchers exponential runs in O(pattern × key)', {
  timeout: 2000,
}, () => {
  const key = Buffer.alloc(2000, 'a');
  const pattern = Buffer.from(`${'*a'.repeat(50)}b`);
  assert.equal(globMatchBytes(pattern, key, false), false);
  assert.equal(globMatchBytes(Buffer.from('*'.repeat(1000)), key, false), true);
});
