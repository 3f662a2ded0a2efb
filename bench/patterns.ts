/**
 * Event-pattern engine throughput: (a) the seed's three rules evaluated one by one against pipeline events,
 * (b) events routed through a RuleIndex of 1,000 mixed rules. Single thread; each phase warms up, then runs
 * for about 2.5 s. Runnable alone: `node --import tsx bench/patterns.ts`.
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { compilePattern, RuleIndex } from '../src/patterns/index.ts';

export interface PatternBenchResult {
  seedRulesEvalsPerSec: number;
  eventsPerSecAmong1000Rules: number;
}

const WARM_UP_MS = 500;
const MEASURE_MS = 2500;
const SOURCE = 'cdkpatterns.the-eventbridge-etl';

const SEED_RULES = [
  { source: [SOURCE], 'detail-type': ['s3RecordExtraction'], detail: { status: ['extracted'] } },
  { source: [SOURCE], 'detail-type': ['transform'], detail: { status: ['transformed'] } },
  { source: [SOURCE] },
];

function pipelineEvent(
  detailType: string,
  status: string,
  row: number,
  source = SOURCE,
): Record<string, unknown> {
  return {
    version: '0',
    id: `6a7e8feb-b491-4cf7-a9f1-bf37034677${String(row % 100).padStart(2, '0')}`,
    'detail-type': detailType,
    source,
    account: '000000000000',
    time: '2026-11-24T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {
      status,
      headers: 'ID,HouseNum,Street,Town,Zip',
      data: `${row},12,Main Street,Antrim,22876`,
      run: `r${row % 7}`,
      row,
    },
  };
}

/** Runs `step` in batches until `durationMs` has passed; returns calls per second. */
function measure(step: (iteration: number) => number, durationMs: number): number {
  let calls = 0;
  let sink = 0;
  const batch = 1000;
  const started = performance.now();
  let elapsed = 0;
  while (elapsed < durationMs) {
    for (let index = 0; index < batch; index++) sink += step(calls + index);
    calls += batch;
    elapsed = performance.now() - started;
  }
  if (sink < 0) console.log(sink); // keeps the work observable
  return (calls * 1000) / elapsed;
}

/** A small deterministic PRNG (mulberry32) so every run routes the same rules and events. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

const SOURCES = [SOURCE, ...Array.from({ length: 19 }, (_, index) => `app.service-${index}`)];
const DETAIL_TYPES = [
  's3RecordExtraction',
  'transform',
  'load',
  ...Array.from({ length: 27 }, (_, i) => `type-${i}`),
];
const STATUSES = ['extracted', 'transformed', 'loaded', 'failed', 'skipped', 'retrying'];

/** 1,000 rules in a realistic mix: most pin source and detail-type, a few only use content filters. */
export function mixedRules(): unknown[] {
  const next = random(42);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  const rules: unknown[] = [];
  for (let index = 0; index < 1000; index++) {
    const source = pick(SOURCES);
    const detailType = pick(DETAIL_TYPES);
    const kind = index % 20;
    if (kind < 8) {
      rules.push({ source: [source], 'detail-type': [detailType], detail: { status: [pick(STATUSES)] } });
    } else if (kind < 11) {
      rules.push({
        source: [source],
        'detail-type': [detailType],
        detail: { run: [{ prefix: `r${index % 7}` }] },
      });
    } else if (kind < 13) {
      rules.push({
        'detail-type': [detailType],
        detail: { row: [{ numeric: ['>', index % 50, '<=', 1000] }] },
      });
    } else if (kind < 15) {
      rules.push({
        source: [source],
        'detail-type': [{ 'anything-but': [pick(DETAIL_TYPES), pick(DETAIL_TYPES)] }],
      });
    } else if (kind < 17) {
      rules.push({
        source: [source],
        $or: [
          { 'detail-type': [detailType] },
          { detail: { status: [pick(STATUSES)], row: [{ exists: true }] } },
        ],
      });
    } else if (kind < 19) {
      rules.push({ source: [source], detail: { data: [{ wildcard: `${index % 10}*Street*` }] } });
    } else {
      // No exact field at all: checked for every event.
      rules.push({ source: [{ prefix: source.slice(0, 6) }], detail: { row: [{ numeric: ['=', index] }] } });
    }
  }
  return rules;
}

export function mixedEvents(): Record<string, unknown>[] {
  const next = random(7);
  const pick = <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)] as T;
  return Array.from({ length: 512 }, (_, row) =>
    next() < 0.6
      ? pipelineEvent(pick(['s3RecordExtraction', 'transform', 'load']), pick(STATUSES), row)
      : pipelineEvent(pick(DETAIL_TYPES), pick(STATUSES), row, pick(SOURCES)),
  );
}

export async function runPatternBench(): Promise<PatternBenchResult> {
  const seedRules = SEED_RULES.map((rule) => compilePattern(rule));
  const seedEvents = [
    pipelineEvent('s3RecordExtraction', 'extracted', 1),
    pipelineEvent('transform', 'transformed', 2),
    pipelineEvent('load', 'loaded', 3),
    pipelineEvent('s3RecordExtraction', 'extracted', 4),
  ];
  const evaluate = (iteration: number): number => {
    const rule = seedRules[iteration % seedRules.length];
    const event = seedEvents[(iteration >> 2) % seedEvents.length];
    return rule?.matches(event) ? 1 : 0;
  };
  measure(evaluate, WARM_UP_MS);
  const seedRulesEvalsPerSec = measure(evaluate, MEASURE_MS);

  const index = new RuleIndex<number>();
  mixedRules().forEach((rule, position) => index.add(`rule-${position}`, rule, position));
  const events = mixedEvents();
  const route = (iteration: number): number => index.match(events[iteration % events.length]).length;
  measure(route, WARM_UP_MS);
  const eventsPerSecAmong1000Rules = measure(route, MEASURE_MS);

  // Yield once so callers composing several async benches interleave fairly.
  await Promise.resolve();
  return { seedRulesEvalsPerSec, eventsPerSecAmong1000Rules };
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await runPatternBench();
  console.log(
    `seed rules:          ${Math.round(result.seedRulesEvalsPerSec).toLocaleString('en-US')} evaluations/s`,
  );
  console.log(
    `1,000 mixed rules:   ${Math.round(result.eventsPerSecAmong1000Rules).toLocaleString('en-US')} events/s`,
  );
}
