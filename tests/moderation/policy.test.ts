import { describe, expect, it } from 'vitest';
import { canonicalPattern, compileBlocklist, compilePattern, judgeOutputs, normalizeText, PatternError } from '../../src/moderation/policy.js';

describe('blocklist patterns', () => {
  const matches = (entry: string, text: string) => compileBlocklist([entry]).match(text) !== undefined;

  it('matches whole words in any case and with any accents', () => {
    expect(matches('gore', 'A GORE scene')).toBe(true);
    expect(matches('gore', 'Gorè, up close')).toBe(true);
    expect(matches('café', 'a cafe at night')).toBe(true);
    // Part of a longer word is not the word.
    expect(matches('gore', 'a gorgeous gorilla')).toBe(false);
    expect(matches('ass', 'a glass of water, classic pass')).toBe(false);
  });

  it('matches phrases across any spacing and punctuation between their words', () => {
    expect(matches('blood bath', 'a blood   bath')).toBe(true);
    expect(matches('blood bath', 'blood-bath at dawn')).toBe(true);
    expect(matches('blood bath', 'blood in the bath')).toBe(false);
  });

  it('treats * as any letters or digits within a word', () => {
    expect(matches('gor*', 'gory details')).toBe(true);
    expect(matches('gor*', 'gore')).toBe(true);
    expect(matches('*gore', 'splattergore')).toBe(true);
    expect(matches('gor*', 'a big ore')).toBe(false);
  });

  it('accepts /regex/ entries, case-insensitive, and refuses broken or catastrophic ones', () => {
    expect(matches('/n[u0]de/', 'a NUDE statue')).toBe(true);
    expect(matches('/n[u0]de/', 'n0de graph')).toBe(true);
    expect(() => compilePattern('/(unclosed/')).toThrow(PatternError);
    expect(() => compilePattern('/(a+)+$/')).toThrow(/nested repetition/);
    expect(() => compilePattern('/(\\w*)*x/')).toThrow(/nested repetition/);
  });

  it('refuses empty, wildcard-only and overlong entries with a sentence a moderator can act on', () => {
    expect(() => compilePattern('   ')).toThrow(/empty/);
    expect(() => compilePattern('* **')).toThrow(/at least one letter/);
    expect(() => compilePattern('x'.repeat(201))).toThrow(/at most 200/);
  });

  it('treats regex syntax in a plain entry as literal text', () => {
    expect(matches('a.b', 'axb')).toBe(false);
    expect(matches('a.b', 'see a.b here')).toBe(true);
    expect(matches('c++', 'learn c++ today')).toBe(true);
  });

  it('stores entries in one canonical form', () => {
    expect(canonicalPattern('  Blood   Bath ')).toBe('blood bath');
    expect(canonicalPattern('Café')).toBe('cafe');
    expect(canonicalPattern('/Keep[A-Z]Case/')).toBe('/Keep[A-Z]Case/');
    expect(normalizeText('ÉCOLE')).toBe('ecole');
  });

  it('names the first entry matched and skips entries that no longer compile', () => {
    const list = compileBlocklist(['/(broken/', 'spider', 'web']);
    expect(list.match('a spider web')).toBe('spider');
    expect(list.match('a quiet garden')).toBeUndefined();
  });
});

describe('output policy', () => {
  const settings = { nsfwPolicy: 'hold', otherPolicy: 'allow' } as const;

  it('gives flagged outputs the NSFW policy and the rest the other policy', () => {
    const verdicts = judgeOutputs([{ id: 1, nsfw: false }, { id: 2, nsfw: true }], settings);
    expect(verdicts.map((verdict) => [verdict.output.id, verdict.policy])).toEqual([
      [1, 'allow'],
      [2, 'hold'],
    ]);
  });
});

describe('lists in one message', () => {
  it('keeps whole lines within the budget and counts the rest', async () => {
    const { fitLines } = await import('../../src/moderation/messages.js');
    const lines = Array.from({ length: 100 }, (_, index) => `line ${index} ${'x'.repeat(40)}`);
    const text = fitLines('Heading', lines, (left) => `…and ${left} more`);
    expect(text.length).toBeLessThanOrEqual(1900);
    const shown = text.split('\n');
    expect(shown[0]).toBe('Heading');
    const last = shown.at(-1)!;
    expect(last).toBe(`…and ${100 - (shown.length - 2)} more`);
    expect(shown.slice(1, -1)).toEqual(lines.slice(0, shown.length - 2));
    expect(fitLines('Heading', ['a', 'b'], () => 'never')).toBe('Heading\na\nb');
  });
});
