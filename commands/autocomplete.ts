import { chooseModel, getModel, listModels, type CatalogModel } from '../src/catalog/index.js';
import type { AssetKind } from '../src/domain.js';

/** One suggestion, as Discord's autocomplete and Slack's external selects show it. */
export interface Choice {
  name: string;
  value: string;
}

/** Discord shows at most 25 suggestions, each name and value at most 100 characters. */
export const MAX_CHOICES = 25;
const MAX_CHOICE_LENGTH = 100;

const clip = (text: string) => (text.length > MAX_CHOICE_LENGTH ? `${text.slice(0, MAX_CHOICE_LENGTH - 1)}…` : text);
const WIDTH_X_HEIGHT = /^\s*\d+\s*[x×*]\s*\d+\s*$/i;

const KIND_OF_COMMAND: Readonly<Record<string, AssetKind>> = { imagine: 'image', animate: 'video' };

/** The model the other options point at: the one named, else the default the request would get. */
function modelFor(command: string, options: Record<string, unknown>): CatalogModel | undefined {
  const kind = KIND_OF_COMMAND[command];
  if (!kind) return undefined;
  const named = typeof options.model === 'string' ? options.model.trim() : '';
  if (named) {
    const model = getModel(named);
    return model?.kind === kind ? model : undefined;
  }
  const hasImages = ['image', 'image2', 'image3', 'first_frame', 'last_frame'].some((name) => options[name] !== undefined && options[name] !== null && options[name] !== '');
  return chooseModel({ kind, hasReferenceImages: hasImages });
}

function matching(values: readonly string[], typed: string): Choice[] {
  const needle = typed.trim().toLowerCase();
  return values.filter((value) => value.toLowerCase().includes(needle)).map((value) => ({ name: clip(value), value: clip(value) }));
}

/**
 * Suggestions for an option declared with `autocomplete: true`, from the catalog: models of the
 * command's kind, and the sizes and durations of the model the other options choose. `options` are
 * the values typed so far (attachments only need to be present). Unknown options get none.
 */
export function suggest(
  command: string,
  option: string,
  typed: string,
  options: Record<string, unknown> = {},
  /** The models the community allows (catalog ids); null: all. */
  allowedModels: readonly string[] | null = null,
): Choice[] {
  const needle = typed.trim().toLowerCase();
  switch (option) {
    case 'model': {
      const kind = KIND_OF_COMMAND[command];
      return listModels(kind ? { kind } : {})
        .filter((model) => allowedModels === null || allowedModels.includes(model.id))
        .filter((model) => !needle || [model.id, model.name, ...model.aliases].some((name) => name.toLowerCase().includes(needle)))
        .map((model) => ({ name: clip(`${model.name} (${model.mode}, ${model.priceHint})`), value: model.aliases[0] ?? model.id }))
        .slice(0, MAX_CHOICES);
    }
    case 'size': {
      const model = modelFor(command, options);
      if (!model) return [];
      const choices = matching(model.sizeChoices, typed);
      if (model.sizeAcceptsCustom && WIDTH_X_HEIGHT.test(typed)) choices.unshift({ name: clip(typed.trim()), value: clip(typed.trim()) });
      return choices.slice(0, MAX_CHOICES);
    }
    case 'duration': {
      const model = modelFor(command, options);
      return model ? matching(model.durationChoices, typed).slice(0, MAX_CHOICES) : [];
    }
    default:
      return [];
  }
}
