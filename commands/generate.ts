import { z } from 'zod';
import { FreeformParamsError, parseFreeformParams } from '../src/catalog/freeform.js';
import type { AssetKind, InputBucket } from '../src/domain.js';
import { AppError } from '../src/errors.js';
import { wordsFor } from '../src/words.js';
import type { InputFileRef } from '../src/jobs/types.js';
import type { Attachment, CommandContext } from './context.js';
import { defineCommand, type CommandOption, type Services } from './define.js';
import { queuedMessage } from './render.js';

export const PROMPT_MAX_LENGTH = 2000;

export const attachmentSchema = z.object({
  name: z.string(),
  url: z.string().url(),
  contentType: z.string().optional(),
  size: z.number().int().nonnegative().optional(),
  auth: z.literal('slack').optional(),
});

const promptOption: CommandOption = {
  name: 'prompt',
  description: 'What to create',
  type: 'string',
  required: true,
  minLength: 1,
  maxLength: PROMPT_MAX_LENGTH,
};
const paramsOption: CommandOption = {
  name: 'params',
  description: 'Extra model parameters as key=value pairs, e.g. num_inference_steps=8',
  type: 'string',
  maxLength: 1000,
};
const SEED_MAX = 4_294_967_295;
const seedOption: CommandOption = { name: 'seed', description: 'Seed for reproducible results', type: 'integer', minValue: 0, maxValue: SEED_MAX };
const seedSchema = z.number().int().min(0).max(SEED_MAX);
const privateOption: CommandOption = { name: 'private', description: 'Show the result only to you', type: 'boolean' };

interface GenerationInput {
  prompt: string;
  model?: string | undefined;
  params?: string | undefined;
  seed?: number | undefined;
  size?: string | undefined;
  count?: number | undefined;
  duration?: string | undefined;
  private?: boolean | undefined;
}

function toFileRef(bucket: InputBucket, attachment: Attachment): InputFileRef {
  return {
    bucket,
    url: attachment.url,
    filename: attachment.name,
    ...(attachment.contentType ? { contentType: attachment.contentType } : {}),
    ...(attachment.size !== undefined ? { size: attachment.size } : {}),
    ...(attachment.auth ? { auth: attachment.auth } : {}),
  };
}

function parseParams(text: string | undefined): Record<string, string> | undefined {
  if (!text?.trim()) return undefined;
  try {
    return parseFreeformParams(text);
  } catch (error) {
    if (error instanceof FreeformParamsError) {
      throw new AppError('INVALID_PARAMS', error.message, { reason: error.message, field: 'params' });
    }
    throw error;
  }
}

/** What a member reads after typing a key where keys do not belong (any command's text). */
export function keyInTextRefusal(platform: string): string {
  return (
    'That looks like a fal key. It was not stored, posted or sent anywhere. If others may have seen it, revoke it at fal.ai; ' +
    `register keys only with ${wordsFor(platform).registerKey}`
  );
}

/** Shared by /imagine and /animate (and the Rerun / Vary buttons): acknowledge, then validate and enqueue. */
export async function startGeneration(
  ctx: CommandContext,
  services: Services,
  kind: AssetKind,
  input: GenerationInput,
  files: InputFileRef[],
  /** Already-typed params (a Rerun reuses the validated input of the original job). */
  presetParams: Record<string, unknown> = {},
): Promise<void> {
  // A key typed into the options was refused before this runs (commands/index.ts).
  await ctx.defer({ private: input.private ?? false });
  const typed = parseParams(input.params);
  const params = typed || Object.keys(presetParams).length ? { ...presetParams, ...typed } : undefined;
  const { job, position } = await services.generation.enqueue({
    user: ctx.user,
    workspaceId: ctx.workspaceId,
    channelId: ctx.channelId,
    kind,
    prompt: input.prompt,
    model: input.model,
    params,
    seed: input.seed,
    size: input.size,
    count: input.count,
    duration: input.duration,
    files,
    private: input.private ?? false,
    reply: ctx.replyRoute(),
  });
  await ctx.reply({ ...queuedMessage(job, position), private: input.private ?? false });
}

export const imagine = defineCommand({
  name: 'imagine',
  description: 'Generate images from a prompt (attach images to edit or use them as references)',
  dm: true,
  options: [
    promptOption,
    { name: 'model', description: 'Image model (default: FLUX schnell; with images: the edit model)', type: 'string', autocomplete: true },
    { name: 'image', description: 'Reference image', type: 'attachment' },
    { name: 'image2', description: 'Second reference image', type: 'attachment' },
    { name: 'image3', description: 'Third reference image', type: 'attachment' },
    { name: 'size', description: 'Size or aspect ratio (choices depend on the model)', type: 'string', autocomplete: true },
    seedOption,
    { name: 'count', description: 'How many images', type: 'integer', minValue: 1, maxValue: 4 },
    paramsOption,
    privateOption,
  ],
  input: z.object({
    prompt: z.string(),
    model: z.string().optional(),
    image: attachmentSchema.optional(),
    image2: attachmentSchema.optional(),
    image3: attachmentSchema.optional(),
    size: z.string().optional(),
    seed: seedSchema.optional(),
    count: z.number().int().min(1).max(4).optional(),
    params: z.string().optional(),
    private: z.boolean().optional(),
  }),
  async run(ctx, input, services) {
    const files = [input.image, input.image2, input.image3]
      .filter((file): file is Attachment => file !== undefined)
      .map((file) => toFileRef('references', file));
    await startGeneration(ctx, services, 'image', input, files);
  },
});

export const animate = defineCommand({
  name: 'animate',
  description: 'Generate a video from a prompt, optionally from a first and last frame',
  dm: true,
  options: [
    promptOption,
    { name: 'model', description: 'Video model', type: 'string', autocomplete: true },
    { name: 'first_frame', description: 'Image the video starts from', type: 'attachment' },
    { name: 'last_frame', description: 'Image the video ends on', type: 'attachment' },
    { name: 'duration', description: 'Length (choices depend on the model)', type: 'string', autocomplete: true },
    { name: 'size', description: 'Aspect ratio (choices depend on the model)', type: 'string', autocomplete: true },
    seedOption,
    paramsOption,
    privateOption,
  ],
  input: z.object({
    prompt: z.string(),
    model: z.string().optional(),
    first_frame: attachmentSchema.optional(),
    last_frame: attachmentSchema.optional(),
    duration: z.string().optional(),
    size: z.string().optional(),
    seed: seedSchema.optional(),
    params: z.string().optional(),
    private: z.boolean().optional(),
  }),
  async run(ctx, input, services) {
    const files = [
      ...(input.first_frame ? [toFileRef('first_frame', input.first_frame)] : []),
      ...(input.last_frame ? [toFileRef('last_frame', input.last_frame)] : []),
    ];
    await startGeneration(ctx, services, 'video', input, files);
  },
});
