import { App, HTTPReceiver, LogLevel, type Logger as BoltLogger, type types, type webApi } from '@slack/bolt';
import type { Attachment, Message } from '../../../commands/context.js';
import type { Services } from '../../../commands/define.js';
import { keyInTextRefusal } from '../../../commands/generate.js';
import { runCommand, runComponent } from '../../../commands/index.js';
import { listModels } from '../../catalog/index.js';
import type { SlackConfig } from '../../config.js';
import type { Job } from '../../db/index.js';
import type { AssetKind } from '../../domain.js';
import type { HttpServer } from '../../http/server.js';
import type { PipelineEvents } from '../../jobs/deliver.js';
import type { GenerateProgress } from '../../jobs/types.js';
import type { Logger } from '../../logger.js';
import { looksLikeFalKey } from '../../services/keys.js';
import type { StorageDriver } from '../../storage/types.js';
import { SlackContext, type SlackOrigin } from './context.js';
import { SlackDeliverer, type SlackDelivererOptions } from './deliverer.js';
import { parseGenerationText } from './flags.js';
import { parseModText } from './mod-text.js';
import { decodeSlackText } from './render.js';

type WebClient = webApi.WebClient;

export const SLACK_EVENTS_PATH = '/slack/events';

export interface SlackBotOptions {
  config: SlackConfig;
  services: Services;
  events: PipelineEvents;
  storage: StorageDriver;
  logger: Logger;
  deliverer?: Partial<Omit<SlackDelivererOptions, 'uploadResults'>>;
}

interface SlackFile {
  name?: string;
  mimetype?: string;
  size?: number;
  url_private?: string;
  url_private_download?: string;
}

/** Slack files are fetched by the worker with the bot token (`auth: 'slack'`), never by their public link. */
export function toAttachment(file: SlackFile): Attachment | undefined {
  const url = file.url_private_download ?? file.url_private;
  if (!url) return undefined;
  return { name: file.name ?? 'file', url, ...(file.mimetype ? { contentType: file.mimetype } : {}), ...(file.size !== undefined ? { size: file.size } : {}), auth: 'slack' };
}

function boltLogger(logger: Logger): BoltLogger {
  let level = LogLevel.INFO;
  const log = logger.child({ component: 'slack-bolt' });
  return {
    debug: (...messages: unknown[]) => log.debug(messages.map(String).join(' ')),
    info: (...messages: unknown[]) => log.info(messages.map(String).join(' ')),
    warn: (...messages: unknown[]) => log.warn(messages.map(String).join(' ')),
    error: (...messages: unknown[]) => log.error(messages.map(String).join(' ')),
    setLevel: (next: LogLevel) => {
      level = next;
    },
    getLevel: () => level,
    setName: () => undefined,
  };
}

const GENERATE_MODALS: Record<'imagine' | 'animate', { callbackId: string; kind: AssetKind; title: string }> = {
  imagine: { callbackId: 'slack-imagine', kind: 'image', title: 'Imagine' },
  animate: { callbackId: 'slack-animate', kind: 'video', title: 'Animate' },
};

/**
 * The Slack adapter: Bolt in, the platform-neutral commands in the middle, the deliverer out. Slash
 * commands, buttons and modals are acknowledged first; the work happens after the ack.
 */
export class SlackBot {
  readonly app: App;
  readonly deliverer: SlackDeliverer;
  private readonly receiver: HTTPReceiver | undefined;
  private readonly log: Logger;
  private readonly onProgress = (job: Job, progress: GenerateProgress) => {
    if (job.platform === 'slack') this.deliverer.onProgress(job, progress);
  };

  constructor(private readonly options: SlackBotOptions) {
    const { config } = options;
    this.log = options.logger.child({ component: 'slack' });
    const clientOptions = { slackApiUrl: config.apiUrl, retryConfig: { retries: 2 } };
    const logger = boltLogger(options.logger);
    if (config.appToken) {
      this.app = new App({ token: config.botToken, appToken: config.appToken, socketMode: true, clientOptions, logger });
    } else {
      // Our HTTP server owns the port: the receiver only verifies signatures and dispatches.
      this.receiver = new HTTPReceiver({ signingSecret: config.signingSecret ?? '', endpoints: SLACK_EVENTS_PATH, logger });
      this.app = new App({ token: config.botToken, receiver: this.receiver, clientOptions, logger });
    }
    this.deliverer = new SlackDeliverer(this.app.client, options.storage, this.log, { uploadResults: config.uploadResults, ...options.deliverer });
    this.registerHandlers();
    this.app.error(async (error) => {
      this.log.error({ err: error }, 'slack handler failed');
    });
    options.events.on('progress', this.onProgress);
  }

  /** HTTP mode: Slack's requests arrive on our one port at POST /slack/events. */
  mount(http: HttpServer): void {
    const receiver = this.receiver;
    if (!receiver) return;
    http.route('POST', SLACK_EVENTS_PATH, (request, response) => receiver.requestListener(request, response));
  }

  async start(): Promise<void> {
    if (this.options.config.appToken) await this.app.start();
    this.log.info({ mode: this.options.config.appToken ? 'socket' : 'http' }, 'Slack: connected');
  }

  async close(): Promise<void> {
    this.options.events.off('progress', this.onProgress);
    if (this.options.config.appToken) await this.app.stop().catch(() => undefined);
  }

  /** Runs a handler with its context; the job's edits of a status message it posted wait until it is done. */
  private async withContext(client: WebClient, origin: SlackOrigin, handler: (ctx: SlackContext) => Promise<void>): Promise<void> {
    const ctx = new SlackContext(client, origin, (channelId, ts) => this.deliverer.holdEdits(channelId, ts));
    try {
      await handler(ctx);
    } finally {
      ctx.release();
    }
  }

  private registerHandlers(): void {
    const { services, logger } = this.options;

    for (const name of ['imagine', 'animate'] as const) {
      this.app.command(`/${name}`, async ({ command, ack, client }) => {
        await ack();
        const origin = originOfCommand(command);
        if (!command.text.trim()) {
          try {
            const allowed = services.moderation.allowedModels({ platform: 'slack', workspaceId: origin.teamId });
            await client.views.open({ trigger_id: command.trigger_id, view: generateModal(name, origin, allowed) });
          } catch (error) {
            // The trigger lives 3 seconds; a slow Slack or a busy process can miss it.
            this.log.warn({ err: error }, 'could not open the generation form');
            await this.withContext(client, origin, (ctx) => ctx.reply(errorText(`I could not open the form in time. Try \`/${name}\` again, or type \`/${name} <prompt>\`.`)));
          }
          return;
        }
        const parsed = parseGenerationText(command.text);
        await this.withContext(client, origin, async (ctx) => {
          if (parsed.unknownFlags.length) {
            await ctx.reply(errorText(`Unknown option ${parsed.unknownFlags.join(', ')}. Use --model, --seed, --size, --n, --duration, --private and key=value params.`));
            return;
          }
          await runCommand(name, parsed.options, ctx, services, logger);
        });
      });
    }

    this.app.command('/gallery', async ({ command, ack, client }) => {
      await ack();
      const search = decodeSlackText(command.text.trim());
      await this.withContext(client, originOfCommand(command), async (ctx) => {
        if (looksLikeFalKey(search)) return ctx.reply(errorText(keyInTextRefusal('slack')));
        await runCommand('gallery', search ? { search } : {}, ctx, services, logger);
      });
    });

    this.app.command('/atelier', async ({ command, ack, client }) => {
      await ack();
      const [verb = 'help', ...rest] = command.text.trim().toLowerCase().split(/\s+/).filter(Boolean);
      await this.withContext(client, originOfCommand(command), async (ctx) => {
        // A key belongs in the private form only: typed as text, it is refused and never repeated.
        if (looksLikeFalKey(command.text)) return ctx.reply(errorText(keyInTextRefusal('slack')));
        switch (verb) {
          case 'key': {
            const sub = rest[0] ?? 'set';
            return runCommand('key', { subcommand: sub === 'delete' ? 'remove' : sub }, ctx, services, logger);
          }
          case 'jobs':
            return runCommand('jobs', {}, ctx, services, logger);
          case 'models':
            return runCommand('models', rest[0] ? { kind: rest[0] } : {}, ctx, services, logger);
          case 'gallery':
            return runCommand('gallery', rest.length ? { search: rest.join(' ') } : {}, ctx, services, logger);
          default:
            return runCommand('help', {}, ctx, services, logger);
        }
      });
    });

    this.app.command('/mod', async ({ command, ack, client }) => {
      await ack();
      await this.withContext(client, originOfCommand(command), async (ctx) => {
        if (looksLikeFalKey(command.text)) return ctx.reply(errorText(keyInTextRefusal('slack')));
        const parsed = parseModText(command.text);
        if (!parsed.ok) return ctx.reply(errorText(parsed.error));
        await runCommand('mod', parsed.options, ctx, services, logger);
      });
    });

    this.app.action(/.*/, async ({ action, body, ack, client }) => {
      await ack();
      // Link buttons open their URL in the browser; Slack still reports the click.
      if (action.type !== 'button' || !('action_id' in action) || action.action_id.startsWith('link:')) return;
      const origin = originOfAction(body);
      if (!origin) return;
      await this.withContext(client, origin, (ctx) => runComponent(action.action_id, ctx, services, logger));
    });

    this.app.view(/.*/, async ({ view, body, ack, client }) => {
      await ack();
      const metadata = parseMetadata(view.private_metadata);
      const origin: SlackOrigin = {
        teamId: body.team?.id ?? body.user.team_id ?? '',
        userId: body.user.id,
        userName: body.user.name,
        channelId: metadata.channelId ?? '',
        isIm: metadata.isIm ?? false,
        ...(metadata.responseUrl ? { responseUrl: metadata.responseUrl } : {}),
        // The response_url is the slash command's: its 30 minutes started when the modal was opened.
        ...(metadata.responseUrl && typeof metadata.at === 'number' ? { responseUrlIssuedAt: metadata.at } : {}),
      };
      const modal = Object.entries(GENERATE_MODALS).find(([, spec]) => spec.callbackId === view.callback_id);
      if (modal) {
        await this.withContext(client, origin, (ctx) => runCommand(modal[0], generateModalOptions(view.state.values), ctx, services, logger));
        return;
      }
      const values: Record<string, string> = {};
      for (const block of Object.values(view.state.values)) {
        for (const [actionId, element] of Object.entries(block)) if (typeof element.value === 'string') values[actionId] = element.value;
      }
      await this.withContext(client, origin, (ctx) => runComponent(view.callback_id, ctx, services, logger, values));
    });

    const fromMessage = async (client: WebClient, event: GenerationEvent, threadTs: string | undefined) => {
      const text = event.text.replace(/<@[A-Z0-9]+>/g, ' ').trim();
      const origin: SlackOrigin = {
        teamId: event.team ?? '',
        userId: event.user,
        channelId: event.channel,
        isIm: event.channel_type === 'im',
        ...(threadTs ? { threadTs } : {}),
      };
      const images = (event.files ?? []).map(toAttachment).filter((file): file is Attachment => file !== undefined);
      await this.withContext(client, origin, async (ctx) => {
        if (!text && images.length === 0) {
          await runCommand('help', {}, ctx, services, logger);
          return;
        }
        const parsed = parseGenerationText(text || 'a variation of this image');
        if (parsed.unknownFlags.length) {
          await ctx.reply(errorText(`Unknown option ${parsed.unknownFlags.join(', ')}. Use --model, --seed, --size, --n, --private and key=value params.`));
          return;
        }
        const [image, image2, image3] = images;
        await runCommand('imagine', { ...parsed.options, ...(image ? { image } : {}), ...(image2 ? { image2 } : {}), ...(image3 ? { image3 } : {}) }, ctx, services, logger);
      });
    };

    this.app.event('app_mention', async ({ event, client }) => {
      if (!event.user) return;
      await fromMessage(client, { ...event, user: event.user, text: event.text, channel_type: 'channel' } as GenerationEvent, event.thread_ts ?? event.ts);
    });

    this.app.message(async ({ message, client }) => {
      const event = message as Partial<GenerationEvent> & { subtype?: string; bot_id?: string };
      if (event.bot_id || !event.user || (event.subtype && event.subtype !== 'file_share')) return;
      const full = { ...event, text: event.text ?? '', user: event.user, channel: event.channel ?? '' } as GenerationEvent;
      if (event.channel_type === 'im') {
        // A message in a DM thread is answered in that thread.
        await fromMessage(client, full, event.thread_ts);
        return;
      }
      // A key pasted in a channel: never kept, never repeated; the author is told privately.
      if (looksLikeFalKey(full.text)) {
        await client.chat.postEphemeral({
          channel: full.channel,
          user: full.user,
          text: 'That looks like a fal key, posted where others can see it. I did not keep it. Revoke it at fal.ai, then register a new one privately with `/atelier key`.',
        });
      }
    });
  }
}

interface GenerationEvent {
  user: string;
  text: string;
  channel: string;
  channel_type?: string;
  team?: string;
  ts: string;
  thread_ts?: string;
  files?: SlackFile[];
}

function errorText(text: string): Message {
  return { text, private: true };
}

function originOfCommand(command: { team_id: string; user_id: string; user_name: string; channel_id: string; channel_name: string; trigger_id: string; response_url: string }): SlackOrigin {
  return {
    teamId: command.team_id,
    userId: command.user_id,
    userName: command.user_name,
    channelId: command.channel_id,
    isIm: command.channel_name === 'directmessage' || command.channel_id.startsWith('D'),
    triggerId: command.trigger_id,
    responseUrl: command.response_url,
  };
}

interface ActionBody {
  team?: { id?: string } | null;
  user: { id: string; name?: string; team_id?: string };
  channel?: { id?: string; name?: string };
  trigger_id?: string;
  response_url?: string;
  view?: { private_metadata?: string };
}

function originOfAction(body: unknown): SlackOrigin | undefined {
  const action = body as ActionBody;
  const metadata = parseMetadata(action.view?.private_metadata);
  const channelId = action.channel?.id ?? metadata.channelId;
  if (!channelId) return undefined;
  return {
    teamId: action.team?.id ?? action.user.team_id ?? '',
    userId: action.user.id,
    userName: action.user.name,
    channelId,
    isIm: action.channel?.name === 'directmessage' || channelId.startsWith('D'),
    ...(action.trigger_id ? { triggerId: action.trigger_id } : {}),
    ...(action.response_url ? { responseUrl: action.response_url } : {}),
  };
}

interface ViewMetadata {
  channelId?: string | undefined;
  isIm?: boolean | undefined;
  responseUrl?: string | undefined;
  /** When the response_url was issued (ms). */
  at?: number | undefined;
}

function parseMetadata(text: string | undefined): ViewMetadata {
  try {
    const parsed: unknown = JSON.parse(text ?? '{}');
    return typeof parsed === 'object' && parsed !== null ? (parsed as ViewMetadata) : {};
  } catch {
    return {};
  }
}

/** `/imagine` or `/animate` with no text: a modal with the prompt, a model, a size and file inputs. */
function generateModal(name: 'imagine' | 'animate', origin: SlackOrigin, allowedModels: readonly string[] | null): types.ModalView {
  const spec = GENERATE_MODALS[name];
  // Only what the workspace's moderators allow.
  const models = listModels({ kind: spec.kind }).filter((model) => allowedModels === null || allowedModels.includes(model.id));
  const fileInput = (blockId: string, label: string, maxFiles: number) => ({
    type: 'input' as const,
    block_id: blockId,
    optional: true,
    label: { type: 'plain_text' as const, text: label },
    element: { type: 'file_input' as const, action_id: blockId, filetypes: ['png', 'jpg', 'jpeg', 'webp', 'gif'], max_files: maxFiles },
  });
  return {
    type: 'modal',
    callback_id: spec.callbackId,
    private_metadata: JSON.stringify({ channelId: origin.channelId, isIm: origin.isIm, responseUrl: origin.responseUrl, at: Date.now() } satisfies ViewMetadata),
    title: { type: 'plain_text', text: spec.title },
    submit: { type: 'plain_text', text: 'Generate' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'input',
        block_id: 'prompt',
        label: { type: 'plain_text', text: 'Prompt' },
        element: { type: 'plain_text_input', action_id: 'prompt', multiline: true, max_length: 2000 },
      },
      // Slack refuses a select without options: with no model of this kind allowed, the request says so on submit.
      ...(models.length
        ? [
            {
              type: 'input' as const,
              block_id: 'model',
              optional: true,
              label: { type: 'plain_text' as const, text: 'Model' },
              element: {
                type: 'static_select' as const,
                action_id: 'model',
                placeholder: { type: 'plain_text' as const, text: 'Default for what you attach' },
                options: models.slice(0, 100).map((model) => ({ text: { type: 'plain_text' as const, text: model.name.slice(0, 75) }, value: model.id })),
              },
            },
          ]
        : []),
      {
        type: 'input',
        block_id: name === 'imagine' ? 'size' : 'duration',
        optional: true,
        label: { type: 'plain_text', text: name === 'imagine' ? 'Size or aspect ratio' : 'Duration' },
        element: { type: 'plain_text_input', action_id: name === 'imagine' ? 'size' : 'duration' },
      },
      ...(name === 'imagine'
        ? [fileInput('references', 'Reference images', 3)]
        : [fileInput('first_frame', 'First frame', 1), fileInput('last_frame', 'Last frame', 1)]),
    ],
  };
}

interface ViewValue {
  value?: string | null;
  selected_option?: { value?: string } | null;
  files?: SlackFile[];
}

function generateModalOptions(values: Record<string, Record<string, ViewValue>>): Record<string, unknown> {
  const get = (id: string): ViewValue | undefined => values[id]?.[id];
  const files = (id: string) => (get(id)?.files ?? []).map(toAttachment).filter((file): file is Attachment => file !== undefined);
  const options: Record<string, unknown> = { prompt: get('prompt')?.value ?? '' };
  const model = get('model')?.selected_option?.value;
  if (model) options.model = model;
  const size = get('size')?.value?.trim();
  if (size) options.size = size;
  const duration = get('duration')?.value?.trim();
  if (duration) options.duration = duration;
  const [image, image2, image3] = files('references');
  if (image) options.image = image;
  if (image2) options.image2 = image2;
  if (image3) options.image3 = image3;
  const [first] = files('first_frame');
  if (first) options.first_frame = first;
  const [last] = files('last_frame');
  if (last) options.last_frame = last;
  return options;
}

