/**
 * Stages driven directly, for their unit tests: details (or whole events) in, the entries each input
 * emits and the outcome of each out, through the stage contract's `handle`.
 */
import { randomUUID } from 'node:crypto';
import { DetailType } from '../../src/pipeline/definition.ts';
import type {
  EventEnvelope,
  PutEventsEntry,
  RowExtractedDetail,
  RowTransformedDetail,
} from '../../src/pipeline/events.ts';
import type { Mapping } from '../../src/pipeline/mapping.ts';
import type { InputOutcome, Stage, StageInput } from '../../src/stages/contract.ts';
import { loadStage } from '../../src/stages/load.ts';
import { type ObservedEvent, observeStage } from '../../src/stages/observe.ts';
import type { FieldCipher, ItemWriter, RunCounts, TallyStore } from '../../src/stages/ports.ts';
import { transformStage } from '../../src/stages/transform.ts';

export function envelope<D>(detailType: string, detail: D, source = 'test'): EventEnvelope<D> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source,
    account: '123456789012',
    time: new Date().toISOString(),
    region: 'eu-west-1',
    resources: [],
    detail,
  };
}

/** Hands the events to the stage in one batch; the outcomes in input order. */
export async function handle<D>(
  stage: Stage<D>,
  events: readonly EventEnvelope<D>[],
): Promise<InputOutcome[]> {
  const inputs: StageInput<D>[] = events.map((event, i) => ({ id: `input-${i}`, event }));
  const outcomes = await stage.handle(inputs);
  return inputs.map((input) => {
    const outcome = outcomes.get(input.id);
    if (!outcome) throw new Error(`no outcome for ${input.id}`);
    return outcome;
  });
}

export function emitted(outcomes: readonly InputOutcome[]): PutEventsEntry[] {
  return outcomes.flatMap((o) => (o.status === 'retry' ? [] : o.outputs.map((out) => out.entry)));
}

export async function transformBatch(
  details: readonly RowExtractedDetail[],
  options: { source: string; mapping: Mapping },
): Promise<PutEventsEntry[]> {
  const stage = transformStage({ source: options.source, mappingFor: async () => options.mapping });
  return emitted(
    await handle(
      stage,
      details.map((d) => envelope(DetailType.rowExtracted, d)),
    ),
  );
}

export async function loadBatch(
  details: readonly RowTransformedDetail[],
  options: { source: string; mapping: Mapping; writer: ItemWriter; cipher?: FieldCipher },
): Promise<{ events: PutEventsEntry[]; retry: RowTransformedDetail[] }> {
  const stage = loadStage({ ...options, mappingFor: async () => options.mapping });
  const outcomes = await handle(
    stage,
    details.map((d) => envelope(DetailType.rowTransformed, d)),
  );
  return {
    events: emitted(outcomes),
    retry: details.filter((_, i) => outcomes[i]?.status === 'retry'),
  };
}

/** The observer over one batch, its run-completed outputs taken as put. */
export async function observeBatch(
  events: readonly EventEnvelope<unknown>[],
  options: { source: string; tally: TallyStore },
): Promise<{ observed: ObservedEvent[]; events: PutEventsEntry[]; completed: RunCounts[] }> {
  const observed: ObservedEvent[] = [];
  const completed: RunCounts[] = [];
  const stage = observeStage({
    ...options,
    onObserved: (o) => void observed.push(...o),
    onCompleted: (counts) => void completed.push(counts),
  });
  const outcomes = await handle(stage, events);
  for (const o of outcomes) if (o.status !== 'retry') for (const out of o.outputs) await out.onPublished?.();
  return { observed, events: emitted(outcomes), completed };
}
