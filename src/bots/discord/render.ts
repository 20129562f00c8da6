import {
  ButtonStyle,
  ComponentType,
  TextInputStyle,
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIModalInteractionResponseCallbackData,
} from 'discord.js';
import type { Button, Card, FormSpec, Message } from '../../../commands/context.js';

/** Discord's limits (https://discord.com/developers/docs/resources/message): longer text is clipped, never rejected. */
const LIMITS = { content: 2000, title: 256, description: 4096, fieldName: 256, fieldValue: 1024, fields: 25, footer: 2048, embeds: 10, rows: 5, buttons: 5, label: 80 };

const clip = (text: string, max: number) => (text.length > max ? `${[...text].slice(0, max - 1).join('')}…` : text);

export interface DiscordPayload {
  content: string;
  embeds: APIEmbed[];
  components: Array<APIActionRowComponent<APIButtonComponent>>;
  allowed_mentions: { parse: []; users?: string[] };
}

type ActionStyle = ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Success | ButtonStyle.Danger;

const STYLE: Record<NonNullable<Extract<Button, { kind: 'action' }>['style']>, ActionStyle> = {
  primary: ButtonStyle.Primary,
  secondary: ButtonStyle.Secondary,
  success: ButtonStyle.Success,
  danger: ButtonStyle.Danger,
};

function toButton(button: Button): APIButtonComponent {
  if (button.kind === 'link') return { type: ComponentType.Button, style: ButtonStyle.Link, url: button.url, label: clip(button.label, LIMITS.label) };
  return {
    type: ComponentType.Button,
    style: STYLE[button.style ?? 'secondary'],
    custom_id: button.id.slice(0, 100),
    label: clip(button.label, LIMITS.label),
    ...(button.disabled ? { disabled: true } : {}),
  };
}

function toEmbed(card: Card): APIEmbed {
  const embed: APIEmbed = {};
  if (card.title) embed.title = clip(card.title, LIMITS.title);
  if (card.url) embed.url = card.url;
  if (card.description) embed.description = clip(card.description, LIMITS.description);
  // Embed images cannot be blurred: a flagged image is left out here and sent as a spoiler attachment
  // (or a spoiler link) by whoever posts it.
  if (card.imageUrl && !card.spoiler) embed.image = { url: card.imageUrl };
  if (card.thumbnailUrl && !card.spoiler) embed.thumbnail = { url: card.thumbnailUrl };
  if (card.fields?.length) {
    embed.fields = card.fields.slice(0, LIMITS.fields).map((field) => ({
      name: clip(field.name, LIMITS.fieldName),
      value: clip(field.value || '—', LIMITS.fieldValue),
      ...(field.inline ? { inline: true } : {}),
    }));
  }
  if (card.footer) embed.footer = { text: clip(card.footer, LIMITS.footer) };
  if (card.color !== undefined) embed.color = card.color;
  return embed;
}

/** A platform-neutral message as Discord's message payload. Mentions are off unless `mentionUserId` is given. */
export function toDiscordPayload(message: Message, options: { mentionUserId?: string; prefix?: string } = {}): DiscordPayload {
  const text = [options.prefix, message.text].filter(Boolean).join(' ');
  return {
    content: clip(text, LIMITS.content),
    embeds: (message.cards ?? []).slice(0, LIMITS.embeds).map(toEmbed),
    components: (message.buttons ?? [])
      .filter((row) => row.length > 0)
      .slice(0, LIMITS.rows)
      .map((row) => ({ type: ComponentType.ActionRow, components: row.slice(0, LIMITS.buttons).map(toButton) })),
    allowed_mentions: options.mentionUserId ? { parse: [], users: [options.mentionUserId] } : { parse: [] },
  };
}

export function toDiscordModal(form: FormSpec): APIModalInteractionResponseCallbackData {
  return {
    custom_id: form.id.slice(0, 100),
    title: clip(form.title, 45),
    components: form.fields.slice(0, 5).map((field) => ({
      type: ComponentType.ActionRow,
      components: [
        {
          type: ComponentType.TextInput,
          custom_id: field.id,
          label: clip(field.label, 45),
          style: field.style === 'paragraph' ? TextInputStyle.Paragraph : TextInputStyle.Short,
          required: field.required ?? false,
          ...(field.placeholder ? { placeholder: clip(field.placeholder, 100) } : {}),
          ...(field.minLength !== undefined ? { min_length: field.minLength } : {}),
          ...(field.maxLength !== undefined ? { max_length: field.maxLength } : {}),
        },
      ],
    })),
  };
}
