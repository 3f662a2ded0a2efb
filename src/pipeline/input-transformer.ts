/**
 * What a rule's target receives: EventBridge's `Input` (constant JSON), `InputPath` (a JSONPath into
 * the event) and `InputTransformer` (`InputPathsMap` + `InputTemplate`), as the EventBridge user
 * guide's "input transformation" describes them. Pure: the local bus's user targets use it.
 *
 * In a JSON template (one that starts with `{`, `[` or `"`) a variable outside a JSON string is
 * inserted as its JSON value (a string with its quotes), one inside as text; any other template is
 * text, variables inserted as their text (the user guide's examples). Two local differences, so that
 * a JSON template always makes valid JSON: a value inside a JSON string is escaped (AWS documents
 * that it "doesn't escape values extracted by Input Path"), and a variable whose path the event
 * lacks is `null` outside quotes and empty inside them (on AWS the variable "isn't created").
 */
import { AwsApiError } from './errors.ts';

export interface InputTransformer {
  InputPathsMap?: Record<string, string>;
  InputTemplate: string;
}

/** A target's input settings, as PutTargets takes them. */
export interface TargetInput {
  Input?: string;
  InputPath?: string;
  InputTransformer?: InputTransformer;
}

/** The predefined variables' values for one delivery. */
export interface DeliveryContext {
  ruleName: string;
  ruleArn: string;
  /** When the bus received the event (ISO 8601). */
  ingestionTime: string;
}

export const PREDEFINED_VARIABLES = [
  'aws.events.rule-arn',
  'aws.events.rule-name',
  'aws.events.event',
  'aws.events.event.json',
  'aws.events.event.ingestion-time',
] as const;

export const MAX_INPUT_LENGTH = 8192;
export const MAX_INPUT_PATHS = 100;

const validation = (message: string): AwsApiError => new AwsApiError('ValidationException', message);

/** One step of a path: a member, an array index, or a wildcard over members or elements. */
type Step = { member: string } | { index: number } | { wildcard: true };

/**
 * The JSONPath EventBridge evaluates: `$`, dot notation (names of letters, digits, `-`, `_`, `/`
 * and the like), array indices `[0]` and wildcards `.*` / `[*]`. Undefined when the path is not one.
 */
export function parseJsonPath(path: string): Step[] | undefined {
  if (!path.startsWith('$')) return undefined;
  const steps: Step[] = [];
  const step = /\.(\*|[^.[\]*]+)|\[(\d+|\*)\]/y;
  step.lastIndex = 1;
  while (step.lastIndex < path.length) {
    const at = step.lastIndex;
    const found = step.exec(path);
    if (!found || found.index !== at) return undefined;
    const [, member, bracket] = found;
    if (member === '*' || bracket === '*') steps.push({ wildcard: true });
    else if (member !== undefined) steps.push({ member });
    else steps.push({ index: Number(bracket) });
  }
  return steps;
}

/** The value at a path: undefined when absent; an array of every match when it has a wildcard. */
export function readJsonPath(value: unknown, steps: readonly Step[]): unknown {
  if (!steps.some((s) => 'wildcard' in s)) {
    let at: unknown = value;
    for (const s of steps) {
      if (at === null || typeof at !== 'object') return undefined;
      at =
        'member' in s
          ? Array.isArray(at)
            ? undefined
            : (at as Record<string, unknown>)[s.member]
          : 'index' in s && Array.isArray(at)
            ? at[s.index]
            : undefined;
      if (at === undefined) return undefined;
    }
    return at;
  }
  let level: unknown[] = [value];
  for (const s of steps) {
    const next: unknown[] = [];
    for (const at of level) {
      if (at === null || typeof at !== 'object') continue;
      if ('wildcard' in s) next.push(...(Array.isArray(at) ? at : Object.values(at)));
      else if ('member' in s && !Array.isArray(at)) next.push((at as Record<string, unknown>)[s.member]);
      else if ('index' in s && Array.isArray(at)) next.push(at[s.index]);
    }
    level = next.filter((v) => v !== undefined);
  }
  return level;
}

/** `<name>`: a placeholder. Names the map does not define (HTML in a text template) stay as written. */
const PLACEHOLDER = /<([A-Za-z0-9_.-]+)>/g;

function isJsonTemplate(template: string): boolean {
  const first = template.trimStart()[0];
  return first === '{' || first === '[' || first === '"';
}

/**
 * Fills a template. `values` holds each defined variable's value (undefined: its path found
 * nothing). Tracks JSON string state so a placeholder knows whether it sits inside quotes.
 */
function fill(template: string, values: ReadonlyMap<string, unknown>): string {
  const json = isJsonTemplate(template);
  let out = '';
  let inString = false;
  let last = 0;
  for (let i = 0; i < template.length; i++) {
    const c = template[i];
    if (json && c === '\\' && inString) {
      i++;
      continue;
    }
    if (json && c === '"') {
      inString = !inString;
      continue;
    }
    if (c !== '<') continue;
    PLACEHOLDER.lastIndex = i;
    const found = PLACEHOLDER.exec(template);
    if (!found || found.index !== i || !values.has(found[1] as string)) continue;
    const value = values.get(found[1] as string);
    out += template.slice(last, i) + render(value, json ? (inString ? 'in-string' : 'json') : 'text');
    last = i + found[0].length;
    i = last - 1;
  }
  return out + template.slice(last);
}

function render(value: unknown, where: 'in-string' | 'json' | 'text'): string {
  if (where === 'json') return value === undefined ? 'null' : JSON.stringify(value);
  const text = value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return where === 'in-string' ? JSON.stringify(text).slice(1, -1) : text;
}

function targetLabel(id: string): string {
  return `target ${id}`;
}

/**
 * PutTargets' checks of a target's input settings, with AWS's ValidationException: one of the three
 * at most, constant input that is JSON, paths EventBridge can evaluate, a JSON template that stays
 * JSON whatever its variables hold.
 */
export function validateTargetInput(targetId: string, input: TargetInput): void {
  const given = [input.Input, input.InputPath, input.InputTransformer].filter((v) => v !== undefined);
  if (given.length > 1)
    throw validation(
      `Only one of Input, InputPath, or InputTransformer must be provided for ${targetLabel(targetId)}.`,
    );
  if (input.Input !== undefined) {
    if (input.Input.length > MAX_INPUT_LENGTH)
      throw validation(`Input for ${targetLabel(targetId)} is longer than ${MAX_INPUT_LENGTH} characters.`);
    try {
      JSON.parse(input.Input);
    } catch {
      throw validation(`Invalid Input for ${targetLabel(targetId)}: it is not valid JSON.`);
    }
  }
  if (input.InputPath !== undefined && parseJsonPath(input.InputPath) === undefined)
    throw validation(
      `Invalid InputPath for ${targetLabel(targetId)}: ${input.InputPath} is not a valid JSON path.`,
    );
  const transformer = input.InputTransformer;
  if (transformer === undefined) return;
  if (typeof transformer.InputTemplate !== 'string' || transformer.InputTemplate.length === 0)
    throw validation(`InputTemplate for ${targetLabel(targetId)} must not be empty.`);
  if (transformer.InputTemplate.length > MAX_INPUT_LENGTH)
    throw validation(
      `InputTemplate for ${targetLabel(targetId)} is longer than ${MAX_INPUT_LENGTH} characters.`,
    );
  const paths = Object.entries(transformer.InputPathsMap ?? {});
  if (paths.length > MAX_INPUT_PATHS)
    throw validation(`InputPathsMap for ${targetLabel(targetId)} has more than ${MAX_INPUT_PATHS} entries.`);
  for (const [name, path] of paths) {
    if (!/^[A-Za-z0-9_-]{1,256}$/.test(name))
      throw validation(
        `InputPathsMap key ${name} for ${targetLabel(targetId)} is not valid: use letters, digits, - and _.`,
      );
    if (/^aws/i.test(name))
      throw validation(
        `InputPathsMap key ${name} for ${targetLabel(targetId)} is not valid: keys cannot start with "AWS".`,
      );
    if (typeof path !== 'string' || path.length > 256 || parseJsonPath(path) === undefined)
      throw validation(
        `Invalid InputPathsMap for ${targetLabel(targetId)}: ${String(path)} is not a valid JSON path.`,
      );
  }
  const template = transformer.InputTemplate;
  if (template.trimStart().startsWith('{') || template.trimStart().startsWith('[')) {
    // Any value must keep it JSON; a marker value shows a placeholder used as an object key.
    const marker = '\u0000placeholder';
    const names = new Map<string, unknown>(
      [...paths.map(([n]) => n), ...PREDEFINED_VARIABLES].map((n) => [n, marker] as const),
    );
    let keyed = false;
    try {
      JSON.parse(fill(template, names), (key, value: unknown) => {
        if (key.includes(marker)) keyed = true;
        return value;
      });
    } catch (error) {
      throw validation(
        `Invalid InputTemplate for ${targetLabel(targetId)}: it is not valid JSON with its variables filled in (${(error as Error).message}).`,
      );
    }
    if (keyed)
      throw validation(
        `Invalid InputTemplate for ${targetLabel(targetId)}: a placeholder cannot be used as an object key.`,
      );
  }
}

/** What the target receives for `event`: its body as text (JSON, or the text a text template makes). */
export function targetPayload(
  event: { detail?: unknown },
  input: TargetInput,
  context: DeliveryContext,
): string {
  if (input.Input !== undefined) return minify(input.Input);
  if (input.InputPath !== undefined) {
    const value = readJsonPath(event, parseJsonPath(input.InputPath) ?? []);
    return JSON.stringify(value === undefined ? null : value);
  }
  const transformer = input.InputTransformer;
  if (transformer === undefined) return JSON.stringify(event);
  const values = new Map<string, unknown>();
  for (const [name, path] of Object.entries(transformer.InputPathsMap ?? {}))
    values.set(name, readJsonPath(event, parseJsonPath(path) ?? []));
  const { detail: _detail, ...withoutDetail } = event;
  values.set('aws.events.rule-arn', context.ruleArn);
  values.set('aws.events.rule-name', context.ruleName);
  values.set('aws.events.event', withoutDetail);
  values.set('aws.events.event.json', event);
  values.set('aws.events.event.ingestion-time', context.ingestionTime);
  const filled = fill(transformer.InputTemplate, values);
  return isJsonTemplate(transformer.InputTemplate) ? minify(filled) : filled;
}

/** JSON as the target gets it: minified (left as it is if a variable made it something else). */
function minify(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text));
  } catch {
    return text;
  }
}
