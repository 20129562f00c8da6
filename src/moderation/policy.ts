import type { OutputPolicy } from '../domain.js';

/**
 * The pure parts of moderation: prompt blocklists and what a community's policy does with an output.
 * No I/O here, so every rule is testable on its own.
 */

export const MAX_PATTERN_LENGTH = 200;

/** Lower-cased, accents removed: "Café" and "cafe" are the same word to a blocklist. */
export function normalizeText(text: string): string {
  return text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase();
}

export class PatternError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PatternError';
  }
}

const WORD_CHAR = '[\\p{L}\\p{N}]';
const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A quantified group that itself contains a quantifier, e.g. `(a+)+`: the shape of catastrophic backtracking. */
const NESTED_QUANTIFIER = /\((?:[^()\\]|\\.)*[+*}](?:[^()\\]|\\.)*\)\s*[+*{]/;

/**
 * A moderator's blocklist entry as a regular expression. Entries are:
 * - a word or phrase (`spider`, `blood bath`): whole words, any case and accents, any spacing;
 * - a word with `*` wildcards (`gor*` blocks gore, gory…): `*` stands for any letters or digits;
 * - `/regex/`: a regular expression, for moderators who need one (case-insensitive).
 * Throws PatternError with a sentence a moderator can act on.
 */
export function compilePattern(entry: string): RegExp {
  const pattern = entry.trim();
  if (!pattern) throw new PatternError('the pattern is empty');
  if (pattern.length > MAX_PATTERN_LENGTH) throw new PatternError(`a pattern can be at most ${MAX_PATTERN_LENGTH} characters`);
  const regex = /^\/(.+)\/$/s.exec(pattern);
  if (regex?.[1] !== undefined) {
    const source = regex[1];
    // Prompts are short, but one pathological pattern would stall every request of the community.
    if (NESTED_QUANTIFIER.test(source)) throw new PatternError('nested repetition such as (a+)+ is not allowed in a pattern');
    try {
      return new RegExp(normalizeText(source), 'iu');
    } catch (error) {
      throw new PatternError(`that is not a valid regular expression (${(error as Error).message})`);
    }
  }
  const words = normalizeText(pattern).split(/\s+/).filter(Boolean);
  if (words.every((word) => /^\*+$/.test(word))) throw new PatternError('a pattern needs at least one letter or digit besides *');
  const body = words.map((word) => word.split('*').map(escapeRegExp).join(`${WORD_CHAR}*`)).join('[\\s\\p{P}]+');
  return new RegExp(`(?<!${WORD_CHAR})${body}(?!${WORD_CHAR})`, 'iu');
}

/** The stored form of an entry: trimmed, lower-cased (regexes keep their case: they match case-insensitively anyway). */
export function canonicalPattern(entry: string): string {
  const trimmed = entry.trim();
  return /^\/.+\/$/s.test(trimmed) ? trimmed : normalizeText(trimmed).split(/\s+/).filter(Boolean).join(' ');
}

export interface Blocklist {
  /** The first entry the text matches, if any. */
  match(text: string): string | undefined;
}

/** Compiles a community's entries once; an entry that no longer compiles is skipped rather than blocking everything. */
export function compileBlocklist(entries: readonly string[]): Blocklist {
  const compiled: Array<{ entry: string; regex: RegExp }> = [];
  for (const entry of entries) {
    try {
      compiled.push({ entry, regex: compilePattern(entry) });
    } catch {
      // Entries are checked when added; this only guards against a hand-edited database.
    }
  }
  return {
    match(text) {
      const normalized = normalizeText(text);
      return compiled.find(({ regex }) => regex.test(normalized))?.entry;
    },
  };
}

export interface OutputVerdict<T> {
  output: T;
  policy: OutputPolicy;
}

/**
 * What a community's settings do with each output of a job: flagged ones (`nsfw`) follow the NSFW
 * policy, the rest the other policy.
 */
export function judgeOutputs<T extends { nsfw: boolean }>(
  outputs: readonly T[],
  settings: { nsfwPolicy: OutputPolicy; otherPolicy: OutputPolicy },
): Array<OutputVerdict<T>> {
  return outputs.map((output) => ({ output, policy: output.nsfw ? settings.nsfwPolicy : settings.otherPolicy }));
}
