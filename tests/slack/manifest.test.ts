import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SLACK_EVENTS_PATH } from '../../src/bots/slack/bot.js';

interface Manifest {
  features: { slash_commands: Array<{ command: string; url: string }> };
  oauth_config: { scopes: { bot: string[] } };
  settings: { event_subscriptions: { request_url: string; bot_events: string[] }; interactivity: { is_enabled: boolean; request_url: string } };
}

/** The manifest a team pastes must match what the app handles, or a command silently does nothing. */
describe('slack-manifest.json', () => {
  const manifest = JSON.parse(readFileSync('slack-manifest.json', 'utf8')) as Manifest;

  it('declares the commands the adapter handles, all at the events URL', () => {
    expect(manifest.features.slash_commands.map((command) => command.command).sort()).toEqual(['/animate', '/atelier', '/gallery', '/imagine', '/mod']);
    for (const url of [
      ...manifest.features.slash_commands.map((command) => command.url),
      manifest.settings.event_subscriptions.request_url,
      manifest.settings.interactivity.request_url,
    ]) {
      expect(new URL(url).pathname).toBe(SLACK_EVENTS_PATH);
    }
  });

  it('subscribes to mentions and DMs, with the scopes the adapter calls need', () => {
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(expect.arrayContaining(['app_mention', 'message.im', 'message.channels']));
    expect(manifest.settings.interactivity.is_enabled).toBe(true);
    expect(manifest.oauth_config.scopes.bot).toEqual(
      expect.arrayContaining(['commands', 'chat:write', 'files:read', 'files:write', 'im:write', 'app_mentions:read', 'im:history', 'users:read', 'usergroups:read']),
    );
  });
});
