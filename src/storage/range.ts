import { StorageError, type ByteRange } from './types.js';

/** Rejects ranges no HTTP client could have meant, before any I/O; both drivers share the rules. */
export function assertValidRange(range: ByteRange): void {
  const { start, end } = range;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new StorageError('INVALID_RANGE', `range start must be a non-negative integer (got ${start})`);
  }
  if (end !== undefined && (!Number.isSafeInteger(end) || end < start)) {
    throw new StorageError('INVALID_RANGE', `range end must be an integer >= start (got ${start}-${end})`);
  }
}

/** HTTP semantics: an end past the object is clamped; a start past it is unsatisfiable (416). */
export function resolveRange(range: ByteRange, size: number): { start: number; end: number } {
  assertValidRange(range);
  if (range.start >= size) {
    throw new StorageError('INVALID_RANGE', `range start ${range.start} is beyond the object (${size} bytes)`);
  }
  return { start: range.start, end: Math.min(range.end ?? size - 1, size - 1) };
}
