import { describe, expect, it } from 'vitest';
import { FreeformParamsError, parseFreeformParams } from '../../src/catalog/validate.js';

function errorOf(text: string): FreeformParamsError {
  try {
    parseFreeformParams(text);
  } catch (error) {
    if (error instanceof FreeformParamsError) return error;
    throw error;
  }
  throw new Error(`expected ${JSON.stringify(text)} to fail`);
}

describe('parseFreeformParams', () => {
  it('reads name=value pairs as strings', () => {
    expect(parseFreeformParams('num_inference_steps=8 guidance_scale=4.5 negative_prompt="no people, no text"')).toEqual({
      num_inference_steps: '8',
      guidance_scale: '4.5',
      negative_prompt: 'no people, no text',
    });
  });

  it('gives {} for empty or blank text', () => {
    expect(parseFreeformParams('')).toEqual({});
    expect(parseFreeformParams('   \n\t ')).toEqual({});
  });

  it('tolerates extra whitespace, tabs and newlines between pairs', () => {
    expect(parseFreeformParams('  a=1\t\tb=2\nc=3  ')).toEqual({ a: '1', b: '2', c: '3' });
  });

  it('keeps = inside values (split at the first =)', () => {
    expect(parseFreeformParams('image_size={"width":1,"height":2} note=a=b==c')).toEqual({
      image_size: '{"width":1,"height":2}',
      note: 'a=b==c',
    });
    expect(parseFreeformParams('negative_prompt="x = y"')).toEqual({ negative_prompt: 'x = y' });
  });

  it('supports single quotes, curly quotes and escaped quotes', () => {
    expect(parseFreeformParams("a='one two' b=\u201Cthree four\u201D c=\u2018five six\u2019")).toEqual({
      a: 'one two',
      b: 'three four',
      c: 'five six',
    });
    expect(parseFreeformParams('a="say \\"hi\\"" b="back\\\\slash" c="C:\\path"')).toEqual({
      a: 'say "hi"',
      b: 'back\\slash',
      c: 'C:\\path',
    });
  });

  it('keeps apostrophes inside unquoted words and double quotes inside single quotes', () => {
    expect(parseFreeformParams("style=artist's mood='a \"quoted\" word'")).toEqual({
      style: "artist's",
      mood: 'a "quoted" word',
    });
  });

  it('appends text right after a closing quote, like a shell', () => {
    expect(parseFreeformParams('a="b c"d')).toEqual({ a: 'b cd' });
  });

  it('allows empty values', () => {
    expect(parseFreeformParams('negative_prompt= seed=1 x=""')).toEqual({ negative_prompt: '', seed: '1', x: '' });
  });

  it('keeps a __proto__ key as a plain property', () => {
    const parsed = parseFreeformParams('__proto__=x');
    expect(Object.keys(parsed)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });

  it('rejects repeated keys, naming the token', () => {
    const error = errorOf('seed=1 steps=2 seed=3');
    expect(error.code).toBe('duplicate_key');
    expect(error.token).toBe('seed=3');
    expect(error.message).toBe('parameter "seed" is given more than once');
  });

  it('rejects a word without =', () => {
    const error = errorOf('seed=1 sunset');
    expect(error.code).toBe('missing_equals');
    expect(error.token).toBe('sunset');
    expect(error.message).toContain('name=value');
  });

  it('rejects spaces around = (the value part becomes its own token)', () => {
    const error = errorOf('seed = 4');
    expect(error.code).toBe('missing_equals');
    expect(error.token).toBe('seed');
  });

  it('rejects empty and non-identifier keys', () => {
    expect(errorOf('=5')).toMatchObject({ code: 'invalid_key', token: '=5' });
    expect(errorOf('num-images=2')).toMatchObject({ code: 'invalid_key', token: 'num-images=2' });
    expect(errorOf('"seed"=2')).toMatchObject({ code: 'invalid_key' });
    expect(errorOf('9lives=1')).toMatchObject({ code: 'invalid_key' });
  });

  it('rejects an unterminated quote', () => {
    const error = errorOf('negative_prompt="no people');
    expect(error.code).toBe('unterminated_quote');
    expect(error.token).toBe('negative_prompt="no people');
    expect(error).toBeInstanceOf(Error);
  });
});
