/**
 * Run as its own process by job-limit-race.test.ts. Opens the shared database file and, in rounds
 * that start at the same wall-clock millisecond in every process, tries to create jobs for that
 * round's user as fast as it can. Prints how many it created per round.
 * Arguments: <db path> <comma-separated user ids, one per round> <attempts per round> <max active>
 *            <first round start (ms since epoch)> <round length (ms)>
 */
import { createRepositories, openDatabase } from '../../src/db/index.js';

const [path, userList, attempts, maxActive, startAt, roundMs] = process.argv.slice(2);
if (!path || !userList || !attempts || !maxActive || !startAt || !roundMs) {
  throw new Error('usage: race-worker <path> <users> <attempts> <max> <startAt> <roundMs>');
}

const db = openDatabase(path);
const repos = createRepositories(db);
const created: number[] = [];
for (const [round, userId] of userList.split(',').map(Number).entries()) {
  // Spin rather than sleep: a timer could wake a process a millisecond late and lose the race.
  const roundStart = Number(startAt) + round * Number(roundMs);
  while (Date.now() < roundStart) {
    /* wait for the others */
  }
  let count = 0;
  for (let i = 0; i < Number(attempts); i++) {
    const result = repos.jobs.createJobWithinLimit(
      { userId, platform: 'discord', workspaceId: 'g', channelId: 'c', kind: 'image', modelId: 'm', prompt: `race ${process.pid}`, params: {} },
      Number(maxActive),
    );
    if (result.ok) count++;
  }
  created.push(count);
}
db.close();
process.stdout.write(JSON.stringify(created));
