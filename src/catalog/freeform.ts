/**
 * Parses the free-text "extra parameters" a chat user types, e.g.
 *   num_inference_steps=8 guidance_scale=4.5 negative_prompt="no people, no text"
 * into raw strings; `buildInput` coerces them by the model's schema afterwards.
 */

export type FreeformParamsErrorCode = 'missing_equals' | 'invalid_key' | 'duplicate_key' | 'unterminated_quote';

export class FreeformParamsError extends Error {
  constructor(
    readonly code: FreeformParamsErrorCode,
    /** The offending token as the user typed it, so the reply can quote it back. */
    readonly token: string,
    message: string,
  ) {
    super(message);
    this.name = 'FreeformParamsError';
  }
}

const KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

// Phones turn " and ' into curly quotes; treat each opener as closed by its partner.
const QUOTE_PAIRS: Readonly<Record<string, string>> = {
  '"': '"',
  "'": "'",
  '\u201C': '\u201D', // “ ”
  '\u201D': '\u201D', // some keyboards open with ” too
  '\u2018': '\u2019', // ‘ ’
  '\u2019': '\u2019',
  '\u201E': '\u201C', // „ “
};

interface Token {
  raw: string;
  key: string;
  value: string;
  hasEquals: boolean;
  keyQuoted: boolean;
}

/**
 * Splits on unquoted whitespace. A quote right after `=` wraps the value and text straight after
 * the closing quote is appended (`a="b c"d` is `b cd`). Inside quotes only `\"` and `\\` are
 * escapes, so other backslashes stay as typed. The first `=` separates key and value, so values
 * may themselves contain `=`.
 */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;
  while (index < text.length) {
    while (index < text.length && /\s/.test(text[index] ?? '')) index += 1;
    if (index >= text.length) break;
    const start = index;
    let key = '';
    let value = '';
    let hasEquals = false;
    let keyQuoted = false;
    // Quotes only open at the start of the key or the value, so apostrophes inside words
    // (`style=artist's`) stay literal.
    let atSegmentStart = true;
    while (index < text.length && !/\s/.test(text[index] ?? '')) {
      const char = text[index] ?? '';
      const closer = atSegmentStart ? QUOTE_PAIRS[char] : undefined;
      atSegmentStart = false;
      if (closer !== undefined) {
        const quoteStart = index;
        index += 1;
        let quoted = '';
        let closed = false;
        while (index < text.length) {
          const inner = text[index] ?? '';
          const next = text[index + 1];
          if (inner === '\\' && (next === closer || next === '\\')) {
            quoted += next;
            index += 2;
            continue;
          }
          if (inner === closer) {
            closed = true;
            index += 1;
            break;
          }
          quoted += inner;
          index += 1;
        }
        if (!closed) {
          const raw = text.slice(start);
          throw new FreeformParamsError(
            'unterminated_quote',
            raw,
            `missing closing quote in ${raw.length > 60 ? `${raw.slice(0, 57)}...` : raw} (opened at character ${quoteStart + 1})`,
          );
        }
        if (hasEquals) value += quoted;
        else {
          key += quoted;
          keyQuoted = true;
        }
        continue;
      }
      if (char === '=' && !hasEquals) {
        hasEquals = true;
        atSegmentStart = true;
      } else if (hasEquals) value += char;
      else key += char;
      index += 1;
    }
    tokens.push({ raw: text.slice(start, index), key, value, hasEquals, keyQuoted });
  }
  return tokens;
}

/**
 * `key=value` pairs separated by spaces. Throws `FreeformParamsError` (with the offending token) for
 * a word without `=`, a key that is not a plain identifier, a repeated key or an unclosed quote.
 * Empty text gives `{}`; `key=` gives an empty string.
 */
export function parseFreeformParams(text: string): Record<string, string> {
  // A Map, then fromEntries, so a key like __proto__ becomes a plain own property.
  const result = new Map<string, string>();
  for (const token of tokenize(text)) {
    if (!token.hasEquals) {
      throw new FreeformParamsError(
        'missing_equals',
        token.raw,
        `"${token.raw}" is not a parameter; write name=value (quote values with spaces: name="a b")`,
      );
    }
    if (token.keyQuoted || !KEY_PATTERN.test(token.key)) {
      throw new FreeformParamsError(
        'invalid_key',
        token.raw,
        token.key === ''
          ? `"${token.raw}" has no parameter name before "="`
          : `"${token.key}" is not a valid parameter name (use letters, digits and _)`,
      );
    }
    if (result.has(token.key)) {
      throw new FreeformParamsError('duplicate_key', token.raw, `parameter "${token.key}" is given more than once`);
    }
    result.set(token.key, token.value);
  }
  return Object.fromEntries(result);
}
