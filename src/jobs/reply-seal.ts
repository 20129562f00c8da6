import { z } from 'zod';
import type { Keyring } from '../crypto/keyring.js';
import type { Job } from '../db/index.js';

/**
 * An adapter's way back to the user (a Discord interaction token, a Slack response_url) is a short-
 * lived credential: the database keeps it sealed with the key-encryption secret, bound to its job,
 * and it is opened only where a job is handed to its adapter.
 */
const sealedSchema = z.object({ sealed: z.string() });

const binding = (jobId: string) => `reply:${jobId}`;

export function sealReply(keyring: Keyring, jobId: string, reply: unknown): { sealed: string } | null {
  if (reply === undefined || reply === null) return null;
  return { sealed: keyring.encrypt(JSON.stringify(reply), binding(jobId)).toString('base64') };
}

/** The job with its reply route readable; a route that cannot be opened reads as none. */
export function openReply(keyring: Keyring, job: Job): Job {
  const parsed = sealedSchema.safeParse(job.reply);
  if (!parsed.success) return job;
  try {
    return { ...job, reply: JSON.parse(keyring.decrypt(Buffer.from(parsed.data.sealed, 'base64'), binding(job.id))) as unknown };
  } catch {
    return { ...job, reply: null };
  }
}
