import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * A deterministic pseudo-random byte stream produced on demand (xorshift32), so a test can push
 * tens of megabytes through a driver and know the expected hash without ever holding the bytes.
 */
export function seededStream(totalBytes: number, seed: number, chunkSize = 256 * 1024): Readable {
  let state = seed >>> 0 || 0x9e3779b9;
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= totalBytes) {
        this.push(null);
        return;
      }
      const length = Math.min(chunkSize, totalBytes - produced);
      const words = new Uint32Array(Math.ceil(length / 4));
      for (let index = 0; index < words.length; index++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        words[index] = state >>> 0;
      }
      produced += length;
      this.push(Buffer.from(words.buffer, 0, length));
    },
  });
}

/** A stream that emits `bytes` and then fails with `error`, like a download cut off mid-way. */
export function failingStream(bytes: Buffer, error: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(bytes);
        return;
      }
      this.destroy(error);
    },
  });
}

export async function hashStream(stream: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = chunk as Buffer;
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

export async function collect(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** A key no other test (or earlier run against the same directory) uses. */
export function uniqueKey(ext = 'png'): string {
  return `outputs/test/${randomBytes(6).toString('hex')}/0.${ext}`;
}
