import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { useTempDatabases, userRef } from './fixtures.js';

const run = promisify(execFile);
const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const worker = fileURLToPath(new URL('./race-worker.ts', import.meta.url));
const openTemp = useTempDatabases();

describe('createJobWithinLimit across processes', () => {
  it('never lets processes sharing the file exceed the limit together', async () => {
    const { path, repos } = await openTemp('atelier-race');
    const processes = 4;
    const rounds = 30;
    const attemptsPerRound = 3;
    const maxActive = 2;
    // A fresh user per round: every round is a new race for the same few slots.
    const users = Array.from({ length: rounds }, () => repos.users.upsertUser(userRef()).id);
    // Far enough ahead for every process to have loaded tsx and opened the file.
    const startAt = Date.now() + 3_000;

    const outputs = await Promise.all(
      Array.from({ length: processes }, () =>
        run(
          process.execPath,
          ['--import', 'tsx', worker, path, users.join(','), String(attemptsPerRound), String(maxActive), String(startAt), '20'],
          { cwd: projectRoot, timeout: 25_000 },
        ),
      ),
    );
    const perProcess = outputs.map(({ stdout }) => JSON.parse(stdout) as number[]);

    users.forEach((userId, round) => {
      const created = perProcess.reduce((sum, counts) => sum + (counts[round] ?? 0), 0);
      expect({ round, created }).toEqual({ round, created: maxActive });
      expect(repos.jobs.listActiveJobs(userId)).toHaveLength(maxActive);
    });
    expect(repos.jobs.countJobsByStatus().queued).toBe(rounds * maxActive);
  });

  it('serialises two connections in one process through the write lock', async () => {
    const one = await openTemp('atelier-lock');
    const two = one.reopen();
    const user = one.repos.users.upsertUser(userRef());
    // While another connection holds the write lock, a create must wait for it (here: give up fast)
    // rather than count from a stale snapshot.
    two.db.pragma('busy_timeout = 50');
    one.db.exec('BEGIN IMMEDIATE');
    try {
      expect(() =>
        two.repos.jobs.createJobWithinLimit(
          { userId: user.id, platform: 'discord', workspaceId: '', channelId: 'c', kind: 'image', modelId: 'm', prompt: 'p', params: {} },
          1,
        ),
      ).toThrow(/locked|busy/i);
    } finally {
      one.db.exec('ROLLBACK');
    }
    expect(two.repos.jobs.listActiveJobs(user.id)).toEqual([]);
  });
});
