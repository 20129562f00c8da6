/**
 * Slack slash commands carry one line of text. `/imagine a red fox --model dev --seed 7 --n 2 steps=8`
 * becomes the same options Discord sends as fields: flags name options, `key=value` pairs are free-form
 * model params, and the remaining words are the prompt.
 */

import { decodeSlackText } from './render.js';

interface FlagSpec {
  option: string;
  type: 'string' | 'integer' | 'boolean';
}

const FLAGS: Readonly<Record<string, FlagSpec>> = {
  model: { option: 'model', type: 'string' },
  m: { option: 'model', type: 'string' },
  seed: { option: 'seed', type: 'integer' },
  size: { option: 'size', type: 'string' },
  aspect: { option: 'size', type: 'string' },
  n: { option: 'count', type: 'integer' },
  count: { option: 'count', type: 'integer' },
  duration: { option: 'duration', type: 'string' },
  private: { option: 'private', type: 'boolean' },
};

/** Words, with "double" or 'single' quotes keeping spaces together (quotes kept in key=value pairs). */
function tokenize(text: string): string[] {
  return text.match(/(?:[^\s"'“”]+|"[^"]*"?|'[^']*'?|“[^”]*”?)+/g) ?? [];
}

const unquote = (value: string) => value.replace(/^["'“](.*)["'”]$/s, '$1');

export interface ParsedCommandText {
  options: Record<string, unknown>;
  /** Flags that are not known, for a clear error. */
  unknownFlags: string[];
}

export function parseGenerationText(text: string): ParsedCommandText {
  const options: Record<string, unknown> = {};
  const prompt: string[] = [];
  const params: string[] = [];
  const unknownFlags: string[] = [];
  // Slack sends typed `&`, `<`, `>` as entities: fal (and the blocklist) get the text as typed.
  const tokens = tokenize(decodeSlackText(text.trim()));
  for (let index = 0; index < tokens.length; index += 1) {
    const token = tokens[index] ?? '';
    const flag = /^(?:--|—)([a-z_]+)(?:=(.*))?$/i.exec(token);
    if (flag) {
      const spec = FLAGS[(flag[1] ?? '').toLowerCase()];
      if (!spec) {
        unknownFlags.push(token);
        continue;
      }
      if (spec.type === 'boolean') {
        options[spec.option] = flag[2] === undefined ? true : !/^(false|no|0|off)$/i.test(flag[2]);
        continue;
      }
      const raw = flag[2] ?? tokens[++index];
      if (raw === undefined) {
        unknownFlags.push(`${token} (needs a value)`);
        continue;
      }
      const value = unquote(raw);
      // A non-number stays a string so validation names the option and what it expects.
      options[spec.option] = spec.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
      continue;
    }
    if (/^[A-Za-z_][\w.]*=/.test(token)) params.push(token);
    else prompt.push(unquote(token));
  }
  options.prompt = prompt.join(' ');
  if (params.length) options.params = params.join(' ');
  return { options, unknownFlags };
}
