import type { types } from '@slack/bolt';

type Block = types.Block;
type KnownBlock = types.KnownBlock;
type ModalView = types.ModalView;
import type { Button, Card, FormSpec, Message } from '../../../commands/context.js';

/** Slack's limits (Block Kit reference); longer text is clipped, never rejected. */
const LIMITS = { sectionText: 3000, field: 2000, fields: 10, buttonText: 75, actionId: 255, blocks: 50, altText: 2000, fallback: 3000, modalTitle: 24, label: 2000, placeholder: 150 };

const clip = (text: string, max: number) => (text.length > max ? `${[...text].slice(0, max - 1).join('')}…` : text);

/**
 * Slack reads `&`, `<` and `>` as control characters: `<!channel>` in a prompt would notify the whole
 * channel, `<https://…|text>` would disguise a link. User text is escaped; only member and channel
 * mentions (`<@U123>`, `<#C123>`, which the commands write themselves) and block quotes stay.
 */
export function escapeMrkdwn(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/&lt;@([UW][A-Z0-9]+)&gt;/g, '<@$1>')
    // Channel mentions the commands write (`<#C123>`, where a result was posted) stay links too.
    .replace(/&lt;#([CG][A-Z0-9]+)&gt;/g, '<#$1>')
    // A `>` opening a line is a block quote (fal's log lines are quoted), harmless without a `<`.
    .replace(/^&gt;/gm, '>');
}

/**
 * The inverse for what Slack sends: typed `&`, `<` and `>` arrive as `&amp;`, `&lt;` and `&gt;` (the
 * control characters stay for mentions). Free text (a pattern, a reason, a prompt, a search) is decoded
 * once it is separated from mentions.
 */
export function decodeSlackText(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

/** The commands write Markdown-ish text (`**bold**`); Slack's mrkdwn bolds with single stars. */
export function toMrkdwn(text: string): string {
  return escapeMrkdwn(text).replace(/\*\*(.+?)\*\*/gs, '*$1*');
}

/** Clips already-escaped text without cutting an entity (`&amp;`) in half. */
const clipEscaped = (text: string, max: number) => (text.length > max ? `${[...text].slice(0, max - 1).join('').replace(/&[a-z]*$/, '')}…` : text);

const escapeLinkText = (text: string) => text.replace(/[<>|]/g, ' ').replace(/&/g, '&amp;');

export interface SlackMessage {
  /** The notification and fallback text. */
  text: string;
  blocks: Array<KnownBlock | Block>;
}

function buttonElement(button: Button, index: number) {
  const text = { type: 'plain_text' as const, text: clip(button.label, LIMITS.buttonText), emoji: true };
  if (button.kind === 'link') return { type: 'button' as const, text, url: button.url, action_id: `link:${index}` };
  return {
    type: 'button' as const,
    text,
    action_id: button.id.slice(0, LIMITS.actionId),
    value: button.id.slice(0, 2000),
    ...(button.style === 'primary' ? { style: 'primary' as const } : button.style === 'danger' ? { style: 'danger' as const } : {}),
  };
}

function cardBlocks(card: Card): Array<KnownBlock> {
  const blocks: KnownBlock[] = [];
  const heading = card.title ? (card.url ? `*<${card.url}|${escapeLinkText(card.title)}>*` : `*${escapeMrkdwn(card.title)}*`) : '';
  const body = [heading, card.description ? toMrkdwn(card.description) : ''].filter(Boolean).join('\n');
  const thumbnail = card.thumbnailUrl && !card.spoiler ? { type: 'image' as const, image_url: card.thumbnailUrl, alt_text: clip(card.title ?? 'preview', LIMITS.altText) } : undefined;
  if (body) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clipEscaped(body, LIMITS.sectionText) }, ...(thumbnail ? { accessory: thumbnail } : {}) });
  if (card.fields?.length) {
    blocks.push({
      type: 'section',
      fields: card.fields.slice(0, LIMITS.fields).map((field) => ({ type: 'mrkdwn' as const, text: clipEscaped(`*${escapeMrkdwn(field.name)}*\n${toMrkdwn(field.value || '—')}`, LIMITS.field) })),
    });
  }
  if (card.imageUrl && !card.spoiler) {
    blocks.push({ type: 'image', image_url: card.imageUrl, alt_text: clip(card.title ?? 'image', LIMITS.altText) });
  } else if (card.imageUrl && card.spoiler) {
    // Slack cannot blur an image: a flagged one is a link the viewer chooses to open.
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `Flagged as sensitive: <${card.imageUrl}|open the image>` }] });
  }
  if (card.footer) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: clipEscaped(toMrkdwn(card.footer), LIMITS.field) }] });
  return blocks;
}

/** A platform-neutral message as Block Kit, with a plain fallback text for notifications. */
export function toSlackMessage(message: Message): SlackMessage {
  const blocks: Array<KnownBlock | Block> = [];
  if (message.text) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clipEscaped(toMrkdwn(message.text), LIMITS.sectionText) } });
  for (const card of message.cards ?? []) blocks.push(...cardBlocks(card));
  let buttonIndex = 0;
  for (const row of message.buttons ?? []) {
    if (row.length === 0) continue;
    blocks.push({ type: 'actions', elements: row.map((button) => buttonElement(button, buttonIndex++)) });
  }
  const fallback = message.text ?? message.cards?.[0]?.title ?? 'Atelier';
  // The fallback is what notifications show, and Slack parses it too.
  return { text: clipEscaped(escapeMrkdwn(fallback.replace(/\*\*/g, '')), LIMITS.fallback), blocks: blocks.slice(0, LIMITS.blocks) };
}

/** A form as a Slack modal; its submission comes back as a view_submission with `callback_id` = form id. */
export function toSlackModal(form: FormSpec, privateMetadata: string): ModalView {
  return {
    type: 'modal',
    callback_id: form.id,
    private_metadata: privateMetadata,
    title: { type: 'plain_text', text: clip(form.title, LIMITS.modalTitle) },
    submit: { type: 'plain_text', text: 'Save' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: form.fields.map((field) => ({
      type: 'input' as const,
      block_id: field.id,
      optional: !(field.required ?? false),
      label: { type: 'plain_text' as const, text: clip(field.label, LIMITS.label) },
      element: {
        type: 'plain_text_input' as const,
        action_id: field.id,
        multiline: field.style === 'paragraph',
        ...(field.placeholder ? { placeholder: { type: 'plain_text' as const, text: clip(field.placeholder, LIMITS.placeholder) } } : {}),
        ...(field.minLength !== undefined ? { min_length: field.minLength } : {}),
        ...(field.maxLength !== undefined ? { max_length: field.maxLength } : {}),
      },
    })),
  };
}
