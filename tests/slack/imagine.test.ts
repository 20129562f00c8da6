import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSlackHarness, type SlackHarness } from '../helpers/slack.js';

describe('/imagine on Slack', () => {
  let h: SlackHarness;

  beforeAll(async () => {
    h = await startSlackHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('acks at once, updates a status message, and threads the result with our image URL and a share link', async () => {
    const { user, key } = await h.memberWithKey('alice');
    h.fal.setOutput('fal-ai/flux/dev', () => h.fal.imageOutput({ width: 64, height: 48, seed: 5 }));
    const result = await h.slack.slashCommand({ command: '/imagine', text: 'a quiet harbour --model dev --seed 5 num_inference_steps=10', user, channel: h.general });
    expect(result.status).toBe(200);
    expect(result.late).toBe(false);

    const threaded = await h.slack.waitFor(() => h.slack.messages(h.general.id, { includeReplies: true }).find((message) => message.threadTs && message.threadTs !== message.ts && JSON.stringify(message.blocks).includes('/s/')), 20_000);
    const blocks = JSON.stringify(threaded.blocks);
    expect(blocks).toContain('a quiet harbour');
    expect(blocks).toContain(`${h.harness.baseUrl}/media/`);
    expect(blocks).not.toContain('fal.media');
    expect(blocks).toMatch(/"action_id":"rerun:/);
    const status = await h.slack.waitFor(() => {
      const message = h.slack.message(h.general.id, threaded.threadTs!);
      return message?.text.startsWith('Done') ? message : undefined;
    }, 5_000);
    expect(status.text).toContain('a quiet harbour');
    const [submit] = h.fal.submits('fal-ai/flux/dev');
    expect(submit?.key).toBe(key);
    expect(submit?.input).toMatchObject({ prompt: 'a quiet harbour', seed: 5, num_inference_steps: 10 });
  });
});
