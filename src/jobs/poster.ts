import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { sniffContentType } from '../storage/sniff.js';

const POSTER_TIMEOUT_MS = 30_000;
const MAX_POSTER_BYTES = 8 * 1024 * 1024;

/**
 * One still frame of a video as JPEG, by ffmpeg reading the video on stdin (generated videos are
 * fast-start MP4s, which ffmpeg can read from a pipe). Undefined when ffmpeg is missing or cannot
 * read the file: a poster is a nicety, never a reason to fail a result.
 */
export async function extractPosterFrame(video: Readable, ffmpegPath: string, signal?: AbortSignal): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const child = spawn(
      ffmpegPath,
      ['-hide_banner', '-loglevel', 'error', '-i', 'pipe:0', '-frames:v', '1', '-vf', "scale='min(1280,iw)':-2", '-f', 'image2pipe', '-vcodec', 'mjpeg', '-q:v', '3', 'pipe:1'],
      { stdio: ['pipe', 'pipe', 'ignore'], ...(signal ? { signal } : {}) },
    );
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (result: Buffer | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      video.destroy();
      if (child.exitCode === null) child.kill('SIGKILL');
      resolve(result);
    };
    const timer = setTimeout(() => finish(undefined), POSTER_TIMEOUT_MS);
    child.on('error', () => finish(undefined));
    // ffmpeg stops reading once it has its frame: the rest of the video is not needed.
    child.stdin.on('error', () => undefined);
    video.on('error', () => child.stdin.destroy());
    video.pipe(child.stdin);
    child.stdout.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_POSTER_BYTES) return finish(undefined);
      chunks.push(chunk);
    });
    child.on('close', (code) => {
      const frame = Buffer.concat(chunks);
      finish(code === 0 && sniffContentType(frame) === 'image/jpeg' ? frame : undefined);
    });
  });
}

export function bufferStream(bytes: Buffer): Readable {
  return Readable.from([bytes]);
}
