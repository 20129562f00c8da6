import type { Asset } from '../db/index.js';
import { getModel } from '../catalog/index.js';

export interface SharePageInput {
  asset: Asset;
  shareUrl: string;
  mediaUrl: string;
  posterUrl?: string | undefined;
  takenMs?: number | undefined;
}

const HELD_NOTE = "Waiting for a moderator's review: link previews do not show it until it is approved.";

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (char) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[char] ?? char);

/** At most `max` characters (code points: an emoji is never cut in half into an invalid surrogate). */
const clip = (text: string, max: number) => {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max - 1).join('').trimEnd()}…` : text;
};

const meta = (property: string, content: string | number | undefined) =>
  content === undefined ? '' : `<meta property="${property}" content="${escapeHtml(String(content))}">`;
const metaName = (name: string, content: string | undefined) =>
  content === undefined ? '' : `<meta name="${name}" content="${escapeHtml(content)}">`;

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** The public page behind a share link: OpenGraph and Twitter card tags for chat unfurls, the media, and its facts. */
export function renderSharePage({ asset, shareUrl, mediaUrl, posterUrl, takenMs }: SharePageInput): string {
  const title = clip(asset.prompt.replace(/\s+/g, ' ').trim() || 'Untitled', 200);
  const modelName = getModel(asset.modelId)?.name ?? asset.modelId;
  const facts: Array<[string, string]> = [['Model', modelName]];
  if (asset.seed !== null) facts.push(['Seed', String(asset.seed)]);
  if (asset.width !== null && asset.height !== null) facts.push(['Size', `${asset.width}×${asset.height}`]);
  if (asset.durationSeconds !== null) facts.push(['Duration', `${asset.durationSeconds} s`]);
  if (asset.inferenceMs !== null) facts.push(['Inference', seconds(asset.inferenceMs)]);
  if (takenMs !== undefined) facts.push(['Time taken', seconds(takenMs)]);
  facts.push(['Created', new Date(asset.createdAt).toISOString().replace('T', ' ').slice(0, 16) + ' UTC']);
  const description = clip(`${asset.kind === 'video' ? 'Video' : 'Image'} generated with ${modelName}${asset.seed !== null ? ` · seed ${asset.seed}` : ''}`, 300);
  const isVideo = asset.kind === 'video';
  const downloadUrl = mediaUrl.includes('?') ? `${mediaUrl}&download=1` : `${mediaUrl}?download=1`;

  // A held result is not for the channel yet: a link pasted there must not unfurl it.
  const ogTags = asset.held
    ? [metaName('robots', 'noindex'), metaName('twitter:card', 'summary')]
    : isVideo
    ? [
        meta('og:type', 'video.other'),
        meta('og:video', mediaUrl),
        meta('og:video:secure_url', mediaUrl.startsWith('https:') ? mediaUrl : undefined),
        meta('og:video:type', asset.contentType),
        meta('og:video:width', asset.width ?? undefined),
        meta('og:video:height', asset.height ?? undefined),
        // A poster is a still image; the video URL is never offered as one.
        meta('og:image', posterUrl),
        metaName('twitter:card', posterUrl ? 'summary_large_image' : 'summary'),
        metaName('twitter:image', posterUrl),
      ]
    : [
        meta('og:type', 'website'),
        meta('og:image', mediaUrl),
        meta('og:image:type', asset.contentType),
        meta('og:image:width', asset.width ?? undefined),
        meta('og:image:height', asset.height ?? undefined),
        meta('og:image:alt', title),
        metaName('twitter:card', 'summary_large_image'),
        metaName('twitter:image', mediaUrl),
      ];

  const media = isVideo
    ? `<video src="${escapeHtml(mediaUrl)}" controls playsinline preload="metadata"${posterUrl ? ` poster="${escapeHtml(posterUrl)}"` : ''}></video>`
    : `<img src="${escapeHtml(mediaUrl)}" alt="${escapeHtml(title)}"${asset.width ? ` width="${asset.width}"` : ''}${asset.height ? ` height="${asset.height}"` : ''}>`;

  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<meta name="description" content="${escapeHtml(description)}">
${meta('og:title', title)}
${meta('og:description', description)}
${meta('og:url', shareUrl)}
${meta('og:site_name', 'Atelier')}
${ogTags.filter(Boolean).join('\n')}
${metaName('twitter:title', title)}
${metaName('twitter:description', description)}
<link rel="canonical" href="${escapeHtml(shareUrl)}">
<style>
  body { margin: 0; font: 16px/1.5 system-ui, sans-serif; background: #111; color: #eee; }
  main { max-width: 960px; margin: 0 auto; padding: 24px; }
  img, video { display: block; max-width: 100%; height: auto; margin: 0 auto 16px; border-radius: 8px; background: #000; }
  h1 { font-size: 1.2rem; font-weight: 500; white-space: pre-wrap; word-break: break-word; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; color: #bbb; }
  dt { color: #888; }
  a { color: #9cf; }
</style>
</head>
<body>
<main>
${asset.held ? `<p role="status">${escapeHtml(HELD_NOTE)}</p>\n` : ''}${media}
<h1>${escapeHtml(asset.prompt)}</h1>
<dl>
${facts.map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`).join('\n')}
</dl>
<p><a href="${escapeHtml(downloadUrl)}" download>Download</a></p>
</main>
</body>
</html>
`;
}

const simplePage = (title: string, text: string) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title></head>
<body style="font: 16px system-ui, sans-serif; padding: 48px; text-align: center"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>
`;

export const renderNotFoundPage = () => simplePage('Not found', 'There is nothing at this link.');
export const renderGonePage = () => simplePage('Removed', 'This item was removed and is no longer available.');
