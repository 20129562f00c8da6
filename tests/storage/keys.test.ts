import { describe, expect, it } from 'vitest';
import { assertSafeKey, contentTypeForKey, extensionFor, outputKey } from '../../src/storage/keys.js';
import { StorageError } from '../../src/storage/types.js';

function expectInvalidKey(run: () => unknown): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(StorageError);
  expect((thrown as StorageError).code).toBe('INVALID_KEY');
}

describe('outputKey', () => {
  it('builds outputs/<owner>/<job>/<index>.<ext>', () => {
    expect(outputKey(42, 'job_01HX', 0, 'png')).toBe('outputs/42/job_01HX/0.png');
    expect(outputKey('1234567890123456789', 'abc-def', 3, '.MP4')).toBe('outputs/1234567890123456789/abc-def/3.mp4');
  });

  it.each([
    ['owner with a slash', () => outputKey('a/b', 'job', 0, 'png')],
    ['owner ..', () => outputKey('..', 'job', 0, 'png')],
    ['empty job', () => outputKey(1, '', 0, 'png')],
    ['job with a slash', () => outputKey(1, 'x/../y', 0, 'png')],
    ['negative index', () => outputKey(1, 'job', -1, 'png')],
    ['fractional index', () => outputKey(1, 'job', 0.5, 'png')],
    ['job with a space', () => outputKey(1, 'my job', 0, 'png')],
    ['empty extension', () => outputKey(1, 'job', 0, '')],
  ])('rejects %s', (_, build) => {
    expectInvalidKey(build);
  });
});

describe('extensionFor / contentTypeForKey', () => {
  it.each([
    ['image/png', 'png'],
    ['image/jpeg', 'jpg'],
    ['image/jpg', 'jpg'],
    ['IMAGE/JPEG; charset=binary', 'jpg'],
    ['image/webp', 'webp'],
    ['image/gif', 'gif'],
    ['video/mp4', 'mp4'],
    ['video/webm', 'webm'],
    ['video/quicktime', 'mov'],
    ['application/octet-stream', 'bin'],
    ['text/html', 'bin'],
    ['', 'bin'],
  ])('%j → %s', (type, ext) => {
    expect(extensionFor(type)).toBe(ext);
  });

  it('maps every extension back to the type it came from', () => {
    for (const type of ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'video/mp4', 'video/webm', 'video/quicktime']) {
      expect(contentTypeForKey(`outputs/1/j/0.${extensionFor(type)}`)).toBe(type);
    }
  });

  it('falls back to application/octet-stream', () => {
    expect(contentTypeForKey('outputs/1/j/0.bin')).toBe('application/octet-stream');
    expect(contentTypeForKey('outputs/1/j/noext')).toBe('application/octet-stream');
    expect(contentTypeForKey('outputs/1.png/j/.hidden')).toBe('application/octet-stream');
    expect(contentTypeForKey('x.JPEG')).toBe('image/jpeg');
  });
});

describe('assertSafeKey', () => {
  it.each(['outputs/1/job/0.png', 'a', 'a.b-c_d/E.F', 'inputs/2024/x.webm'])('accepts %j', (key) => {
    expect(() => assertSafeKey(key)).not.toThrow();
  });

  it.each([
    '',
    '..',
    '../x',
    'a/../b',
    'a/..',
    'a..b',
    '/abs/path',
    'a\\b',
    'C:\\x',
    'a//b',
    'a/',
    'a/./b',
    './a',
    'a b',
    'a?b',
    'a%2Fb',
    'a#b',
    'ümlaut',
    'new\nline',
    'x'.repeat(1025),
  ])('rejects %j with INVALID_KEY', (key) => {
    expectInvalidKey(() => assertSafeKey(key));
  });
});
