import { z } from 'zod';
import { listModels } from '../src/catalog/index.js';
import { ASSET_KINDS } from '../src/domain.js';
import { wordsFor } from '../src/words.js';
import { AppError } from '../src/errors.js';
import type { Message } from './context.js';
import { componentId, defineCommand, type ComponentHandler } from './define.js';
import { cancelButton, modelName } from './render.js';

const when = (ms: number | null) => (ms === null ? 'never' : `${new Date(ms).toISOString().replace('T', ' ').slice(0, 16)} UTC`);

export const KEY_FORM = 'keyform';

/** The modal that receives the key: the only place a user types it. */
export const keyForm = {
  id: KEY_FORM,
  title: 'Register your fal key',
  fields: [
    {
      id: 'key',
      label: 'fal API key',
      style: 'short' as const,
      required: true,
      minLength: 16,
      maxLength: 256,
      placeholder: 'From fal.ai → Dashboard → Keys',
    },
  ],
};

const keyDmMessage: Message = {
  text:
    'Register your fal key here, privately. Press the button and paste the key into the form: it is checked with fal, ' +
    'stored encrypted, and only its last four characters are ever shown.',
  buttons: [[{ kind: 'action', id: componentId('keyopen'), label: 'Set fal key', style: 'primary' }]],
};

export const key = defineCommand({
  name: 'key',
  description: 'Register, check or remove your fal key (use it in a DM with the bot)',
  dm: true,
  subcommands: [
    { name: 'set', description: 'Register your fal key (opens a private form)', options: [] },
    { name: 'status', description: 'Show which key is registered and when it was last used', options: [] },
    { name: 'remove', description: 'Forget your fal key', options: [] },
  ],
  input: z.object({ subcommand: z.enum(['set', 'status', 'remove']) }),
  async run(ctx, input, services) {
    switch (input.subcommand) {
      case 'set':
        // Discord keeps key registration to a DM; a Slack modal is private wherever it opens.
        if (!ctx.isDirectMessage && wordsFor(ctx.platform).keyRegistrationInDm) {
          await ctx.reply({
            text: 'Keys are registered in a direct message with me, never in a channel. Press the button and I will message you.',
            buttons: [[{ kind: 'action', id: componentId('keydm'), label: 'Register in DM', style: 'primary' }]],
            private: true,
          });
          return;
        }
        await ctx.openForm(keyForm);
        return;
      case 'status': {
        const status = services.keys.status(ctx.user);
        await ctx.reply({
          text: status
            ? `Your fal key ${status.hint} is registered (since ${when(status.createdAt)}; checked with fal ${when(status.validatedAt)}; last used ${when(status.lastUsedAt)}).`
            : `You have no fal key registered. Register one with ${wordsFor(ctx.platform).registerKey}.`,
          private: true,
        });
        return;
      }
      case 'remove': {
        const removed = services.keys.remove(ctx.user);
        await ctx.reply({
          text: removed ? 'Your fal key is removed. New generations need a key again.' : 'You had no fal key registered.',
          private: true,
        });
        return;
      }
    }
  },
});

export const keyComponents: ComponentHandler[] = [
  {
    name: 'keydm',
    async run(ctx) {
      try {
        await ctx.sendDirectMessage(keyDmMessage);
      } catch (error) {
        throw new AppError('NOT_ALLOWED', 'could not open a DM', {
          reason: 'I could not send you a direct message. Allow direct messages from this server (or open a DM with me) and try again.',
        }, { cause: error });
      }
      await ctx.reply({ text: 'I sent you a direct message.', private: true });
    },
  },
  {
    name: 'keyopen',
    async run(ctx) {
      await ctx.openForm(keyForm);
    },
  },
  {
    name: KEY_FORM,
    async run(ctx, _args, services, values) {
      await ctx.defer({ private: true });
      const status = await services.keys.register(ctx.user, values?.key ?? '');
      await ctx.reply({ text: `Saved. Your fal key ${status.hint} works and is stored encrypted.`, private: true });
    },
  },
];

export const jobs = defineCommand({
  name: 'jobs',
  description: 'Your queued and running generations, with Cancel buttons',
  dm: true,
  input: z.object({}),
  async run(ctx, _input, services) {
    const active = services.generation.activeJobs(ctx.user);
    if (active.length === 0) {
      await ctx.reply({ text: 'You have no generations in progress.', private: true });
      return;
    }
    await ctx.reply({
      text: `Your generations in progress (${active.length}/${services.maxActiveJobsPerUser}):`,
      cards: active.slice(0, 10).map((job, index) => ({
        title: `${index + 1}. ${job.prompt.slice(0, 250)}`,
        fields: [
          { name: 'Model', value: modelName(job.modelId), inline: true },
          { name: 'Status', value: job.status, inline: true },
        ],
      })),
      // One row of numbered buttons (a row holds five): each cancels the card with the same number.
      buttons: [active.slice(0, 5).map((job, index) => cancelButton(job.id, `Cancel ${index + 1}`))],
      private: true,
    });
  },
});

export const cancelComponent: ComponentHandler = {
  name: 'cancel',
  async run(ctx, [jobId], services) {
    await ctx.defer({ private: true });
    const job = await services.generation.cancel(jobId ?? '', ctx.user);
    await ctx.reply({ text: `Cancelling **${job.prompt.slice(0, 150)}**…`, private: true });
  },
};

export const models = defineCommand({
  name: 'models',
  description: 'The models you can use, with their inputs and prices',
  dm: true,
  options: [{ name: 'kind', description: 'Only image or video models', type: 'string', choices: ASSET_KINDS.map((kind) => ({ name: kind, value: kind })) }],
  input: z.object({ kind: z.enum(ASSET_KINDS).optional() }),
  async run(ctx, input, services) {
    const allowed = services.moderation.allowedModels(ctx);
    const found = listModels(input.kind ? { kind: input.kind } : {}).filter((model) => allowed === null || allowed.includes(model.id));
    const words = wordsFor(ctx.platform);
    await ctx.reply({
      ...(allowed === null ? {} : { text: `The moderators of ${words.community} allow these models.` }),
      cards: found.slice(0, 10).map((model) => {
        const inputs = Object.entries(model.buckets).map(([bucket, spec]) => `${bucket} (${spec.required ? 'required' : 'optional'}, up to ${spec.max})`);
        return {
          title: `${model.name} — ${model.mode}`,
          description: model.description,
          fields: [
            { name: 'Use', value: `\`${words.option('model', model.aliases[0] ?? model.id)}\``, inline: true },
            { name: 'Price', value: model.priceHint, inline: true },
            ...(inputs.length ? [{ name: 'Attachments', value: inputs.join(', ') }] : []),
            ...(model.sizeChoices.length ? [{ name: 'Sizes', value: model.sizeChoices.join(', ') }] : []),
          ],
          footer: model.id,
        };
      }),
      private: true,
    });
  },
});

export const help = defineCommand({
  name: 'help',
  description: 'How Atelier works and how your key is kept',
  dm: true,
  input: z.object({}),
  async run(ctx, _input, services) {
    const maxMiB = Math.round(services.maxInputBytes / (1024 * 1024));
    const words = wordsFor(ctx.platform);
    const options = ['model', 'size', 'seed', 'count', 'private'].map((name) => `\`${words.option(name, '…')}\``).join(', ');
    await ctx.reply({
      text: [
        '**Atelier** generates images and videos with fal.ai, using your own fal key.',
        '',
        `**Your key.** Register it with ${words.registerKey}. It is checked with fal, encrypted (AES-256-GCM) before it is stored, decrypted only by the worker at the moment it calls fal, and never shown again: only its last four characters. ${words.keyStatus} shows it, ${words.keyRemove} forgets it.`,
        '',
        `**Create.** ${words.imagineExample} makes images; attach up to three images to edit or use them as references. ${words.animateExample} makes a video, optionally from a first and last frame. Options: ${options}, and ${words.paramsSyntax}. ${words.models} lists models, their inputs and prices.`,
        '',
        `**Limits.** Attachments up to ${maxMiB} MiB; ${services.maxActiveJobsPerUser} generations in progress at once (${words.jobs} shows and cancels them).`,
        '',
        `**Results** are saved by Atelier (fal links expire) and posted with a share link. ${words.gallery} shows your history; you can delete any of your results, which removes the file and its link.`,
        '',
        `**Moderation.** Anyone can report a result with its Report button. Moderators of ${words.community} review results and reports in a review channel and manage the rules with \`/mod\` (settings, channel, blocklist, ban, unban, log).`,
      ].join('\n'),
      private: true,
    });
  },
});
