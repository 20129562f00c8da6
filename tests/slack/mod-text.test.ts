import { describe, expect, it } from 'vitest';
import { parseModText } from '../../src/bots/slack/mod-text.js';

/** `/mod` as typed in Slack (mentions escaped by Slack), as the options the platform-neutral command takes. */
describe('Slack /mod text', () => {
  const options = (text: string) => {
    const parsed = parseModText(text);
    if (!parsed.ok) throw new Error(parsed.error);
    return parsed.options;
  };

  it('shows the settings when empty, and reads key=value changes', () => {
    expect(options('')).toEqual({ subcommand: 'settings' });
    expect(options('settings')).toEqual({ subcommand: 'settings' });
    expect(options('settings nsfw=HOLD daily_cap=20 models=dev, schnell')).toEqual({
      subcommand: 'settings',
      nsfw: 'hold',
      daily_cap: 20,
      models: 'dev, schnell',
    });
    expect(options('settings moderators=<@U1|ann> <@U2|bob> <!subteam^S9|@mods> other=spoiler')).toEqual({
      subcommand: 'settings',
      moderators: '<@U1|ann> <@U2|bob> <!subteam^S9|@mods>',
      other: 'spoiler',
    });
  });

  it('refuses unknown settings and changes without key=value', () => {
    expect(parseModText('settings colour=red')).toMatchObject({ ok: false, error: expect.stringMatching(/Unknown setting "colour"/) });
    expect(parseModText('settings hold')).toMatchObject({ ok: false, error: expect.stringMatching(/key=value/) });
  });

  it('reads the review channel as a mention, this channel, or off', () => {
    expect(options('channel')).toEqual({ subcommand: 'channel' });
    expect(options('channel <#C0REVIEW|mod-review>')).toEqual({ subcommand: 'channel', channel: 'C0REVIEW' });
    expect(options('channel off')).toEqual({ subcommand: 'channel', off: true });
    expect(parseModText('channel #review')).toMatchObject({ ok: false });
  });

  it('reads blocklist entries with their spaces', () => {
    expect(options('blocklist add blood bath')).toEqual({ group: 'blocklist', subcommand: 'add', pattern: 'blood bath' });
    expect(options('blocklist remove /n[u0]de/')).toEqual({ group: 'blocklist', subcommand: 'remove', pattern: '/n[u0]de/' });
    expect(options('blocklist')).toEqual({ group: 'blocklist', subcommand: 'list' });
    expect(parseModText('blocklist add')).toMatchObject({ ok: false });
  });

  it('reads bans with a mention and an optional reason, and the log with a count', () => {
    expect(options('ban <@U123|eve> spamming the channel')).toEqual({ subcommand: 'ban', user: 'U123', reason: 'spamming the channel' });
    expect(options('unban <@U123>')).toEqual({ subcommand: 'unban', user: 'U123' });
    expect(parseModText('ban eve')).toMatchObject({ ok: false, error: expect.stringMatching(/@member/) });
    expect(options('log 5')).toEqual({ subcommand: 'log', count: 5 });
  });

  it('names the usage for an unknown part', () => {
    expect(parseModText('purge')).toMatchObject({ ok: false, error: expect.stringMatching(/\/mod settings/) });
  });
});
