import { ApiError, ValidationError } from '@fal-ai/client';
import { describe, expect, it } from 'vitest';
import { AppError, ERROR_CODES, userMessage } from '../../src/errors.js';
import { classifyFalError } from '../../src/fal/errors.js';

const apiError = (status: number, body: unknown, extra: { timeoutType?: string } = {}) =>
  new ApiError({ message: 'fal error', status, body, requestId: 'req-1', ...extra });

describe('classifyFalError', () => {
  it.each([
    [401, { detail: 'Invalid API key' }, 'INVALID_KEY', false],
    [403, { detail: 'User is locked. Reason: Exhausted balance.' }, 'FORBIDDEN', false],
    [403, { detail: 'Request blocked by the content policy' }, 'SAFETY_BLOCKED', false],
    [429, { detail: 'Rate limit exceeded' }, 'RATE_LIMITED', true],
    [500, { detail: 'Internal server error', error_type: 'internal_error' }, 'PROVIDER_UNAVAILABLE', true],
    [502, 'Bad Gateway', 'PROVIDER_UNAVAILABLE', true],
    [503, { detail: 'Could not schedule a runner', error_type: 'runner_scheduling_failure' }, 'PROVIDER_UNAVAILABLE', true],
    [400, { detail: 'Bad request' }, 'INVALID_PARAMS', false],
  ] as const)('HTTP %i %j → %s (retryable: %s)', (status, body, code, retryable) => {
    const error = classifyFalError(apiError(status, body));
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.details.requestId).toBe('req-1');
  });

  it('a start timeout we asked for is PROVIDER_TIMEOUT, not retried', () => {
    const error = classifyFalError(apiError(504, { detail: 'timed out' }, { timeoutType: 'user' }));
    expect(error).toMatchObject({ code: 'PROVIDER_TIMEOUT', retryable: false });
  });

  it('a 422 names the field and the allowed values', () => {
    const error = classifyFalError(
      new ValidationError({
        message: 'Unprocessable',
        status: 422,
        body: { detail: [{ loc: ['body', 'image_size'], msg: "Input should be 'square' or 'landscape_4_3'", type: 'enum', ctx: { expected: "'square' or 'landscape_4_3'" } }] },
      }),
    );
    expect(error).toMatchObject({ code: 'INVALID_PARAMS', retryable: false, details: { field: 'image_size', allowed: ['square', 'landscape_4_3'] } });
    expect(userMessage(error)).toContain('image_size');
  });

  it('content_policy_violation is a safety block', () => {
    const error = classifyFalError(
      new ValidationError({ message: 'x', status: 422, body: { detail: [{ loc: ['body', 'prompt'], msg: 'flagged', type: 'content_policy_violation' }] } }),
    );
    expect(error.code).toBe('SAFETY_BLOCKED');
  });

  it('network errors are provider outages, retried', () => {
    const error = classifyFalError(Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } }));
    expect(error).toMatchObject({ code: 'PROVIDER_UNAVAILABLE', retryable: true });
  });

  it('anything else is INTERNAL, and its text is not shown to users', () => {
    const error = classifyFalError(new RangeError('secret internals at /app/src/x.ts:12:3'));
    expect(error.code).toBe('INTERNAL');
    expect(userMessage(error)).not.toContain('secret internals');
  });
});

describe('userMessage', () => {
  it.each(ERROR_CODES)('%s has readable text without object dumps or stacks', (code) => {
    const text = userMessage(new AppError(code, 'internal detail', { reason: 'a reason', field: 'num_images', allowed: ['1', '2'], limit: 3, maxBytes: 1024 }));
    expect(text.trim().length).toBeGreaterThan(5);
    expect(text).not.toMatch(/\[object Object\]|undefined|null|\n\s+at /);
  });

  it('unknown values are handled', () => {
    expect(userMessage({ weird: true })).not.toContain('[object Object]');
    expect(userMessage('boom')).not.toContain('boom');
  });
});
