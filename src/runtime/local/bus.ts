/**
 * The local event bus: EventBridge's PutEvents in, rules matched against each event, matched events
 * delivered to targets in batches, each target with its own concurrency limit. Events are queued,
 * never dropped; a failed delivery is retried with backoff and, after its last attempt, dead-lettered.
 */
import { randomUUID } from 'node:crypto';
import PQueue from 'p-queue';
import type { TargetDelivery } from '../../pipeline/definition.ts';
import { builtDetail, type EventEnvelope, type PutEventsEntry } from '../../pipeline/events.ts';
import {
  parsePutEventsEntry,
  type PutEventsResult,
  type PutEventsResultEntry,
  PutEventsValidationError,
  validatePutEventsRequest,
} from '../../pipeline/put-events-request.ts';
import { backoffDelayMs } from '../../adapters/backoff.ts';
import type { Journal } from './journal.ts';

/**
 * Routes an event to the targets of the routes it matches. The pattern engine implements it. A route
 * is a pipeline rule (named as the rule), or one target of a user rule (see LocalEventBus.setRule).
 */
export interface RuleRouter<T> {
  /** Adds a route, or replaces the one of that name. */
  add(name: string, pattern: unknown, target: T): void;
  /** Removes a route; returns whether it existed. */
  remove(name: string): boolean;
  match(event: unknown): T[];
  /** The names of the rules the event matches. */
  matchNames(event: unknown): string[];
}

export type AnyEvent = EventEnvelope<unknown>;

/** The name every account's default bus has (the seed put everything on it). */
export const DEFAULT_BUS = 'default';

/** What a target reports back: the events it could not process (SQS's batchItemFailures). */
export interface BatchOutcome {
  failedEventIds?: string[];
  /** Why each failed event failed, for its dead letter. */
  reasons?: ReadonlyMap<string, string>;
  /** Failed events not worth retrying (an HTTP target's 4xx): dead-lettered at once, as on AWS. */
  notRetryable?: ReadonlySet<string>;
  /** A failed event's error code, for its dead letter (a user target's ERROR_CODE). */
  codes?: ReadonlyMap<string, string>;
  /**
   * Events this process cannot deliver at all (an SQS target when no queues are served): neither
   * retried nor acknowledged, so the next start that can deliver them finds them in the journal.
   */
  deferred?: ReadonlySet<string>;
}

export type { PutEventsResult, PutEventsResultEntry };
export { PutEventsValidationError };

/** A target's delivery: a batch of events, with when the bus received each (epoch ms; an input transformer's ingestion time). */
export type TargetHandler = (
  events: AnyEvent[],
  receivedAt?: readonly number[],
) => Promise<BatchOutcome | void>;

/** Told of an accepted event and the names of the rules it matched. */
export type AcceptedListener = (event: AnyEvent, rules: readonly string[]) => void;

export interface BusRule {
  name: string;
  eventPattern: unknown;
  /** The bus targets it delivers to (a pipeline rule has one). */
  targets: string[];
  /** A disabled rule matches nothing. */
  enabled: boolean;
  description?: string;
}

export interface DeadLetter {
  target: string;
  event: AnyEvent;
  attempts: number;
  reason: string;
  /**
   * What ended the retries: the attempts, the event's age, a failure not worth retrying, or the
   * target already holding its bound of events (TargetOptions.maxHeld).
   */
  exhausted?: 'attempts' | 'age' | 'not-retryable' | 'overflow';
  /** The target's error code for the failure, when it gave one. */
  code?: string;
}

/** A target's own settings beyond its delivery. */
export interface TargetOptions {
  /** Its dead letters go here instead of the bus's onDeadLetter (a user target's DeadLetterConfig). */
  onDeadLetter?: (letter: DeadLetter) => void;
  /**
   * Makes it a target bounded on its own (a user target): its events do not count toward the
   * high-water mark or the pipeline's idleness (whenPipelineIdle), so a target that is down cannot
   * hold back the pipeline's producers; it holds at most this many events (queued, in flight or
   * waiting for a retry), and an event beyond that is dead-lettered at once (`overflow`).
   */
  maxHeld?: number;
}

export interface LocalEventBusOptions {
  name?: string;
  account?: string;
  region?: string;
  router: RuleRouter<string>;
  /** Events queued or in flight above which producers that ask for capacity wait. */
  highWaterMark?: number;
  /** Dead-lettered events go here (synchronously, before they are acknowledged). */
  onDeadLetter?: (letter: DeadLetter) => void;
  /** Makes delivery durable: events are journaled before delivery and acknowledged after. */
  journal?: Journal;
}

interface Queued {
  event: AnyEvent;
  attempts: number;
  /** Journal sequence number (0 without a journal). */
  seq: number;
  /** When the bus first accepted the event, for the maximum event age. */
  receivedAt: number;
}

class TargetQueue {
  private items: Queued[] = [];
  private head = 0;
  /** Batches being delivered: at most the target's concurrency (SQS event source's maximum concurrency). */
  readonly deliveries: PQueue;
  /** Events handed to the handler and not yet settled. */
  inFlightEvents = 0;
  /** Set once the target is removed: what it still holds is dropped (and acknowledged). */
  removed = false;
  /** Set when the process stops without waiting for it: what it holds stays in the journal. */
  abandoned = false;
  /** Retries waiting for their delay, with the event each will deliver again. */
  readonly retryTimers = new Map<NodeJS.Timeout, Queued>();
  /** Events queued, in flight or waiting for a retry. */
  held = 0;

  constructor(
    readonly name: string,
    readonly handler: TargetHandler,
    /** Replaced when a user target's RetryPolicy changes. */
    public delivery: TargetDelivery,
    readonly options: TargetOptions = {},
  ) {
    this.deliveries = new PQueue({ concurrency: delivery.concurrency });
  }

  /** Bounded on its own (TargetOptions.maxHeld): not one of the pipeline's targets. */
  get ownBound(): boolean {
    return this.options.maxHeld !== undefined;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: Queued): void {
    this.items.push(item);
  }

  /** Empties the queue (the target is removed), returning what it held. */
  drain(): Queued[] {
    const left = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return left;
  }

  take(max: number): Queued[] {
    const end = Math.min(this.items.length, this.head + max);
    const batch = this.items.slice(this.head, end);
    this.head = end;
    // Compact now and then so the array does not grow with everything ever queued.
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return batch;
  }
}

export class LocalEventBus {
  readonly name: string;
  readonly account: string;
  readonly region: string;
  private readonly router: RuleRouter<string>;
  private readonly targets = new Map<string, TargetQueue>();
  private readonly rules = new Map<string, BusRule>();
  /** Each route's rule and target (a pipeline rule's route is named as the rule). */
  private readonly routes = new Map<string, { rule: string; target: string }>();
  private readonly highWaterMark: number;
  /** The pipeline's targets' events queued, in flight or waiting for a retry (targets bounded on their own not counted). */
  private pending = 0;
  /** The pipeline's targets' retries waiting for their time. */
  private retriesScheduled = 0;
  private retriedTotal = 0;
  private deadLetteredTotal = 0;
  /** Journal readers still feeding the queues (recovery). */
  private feeding = 0;
  private pumpScheduled = false;
  /** Set once events are left unacknowledged for the next start (abandoned or deferred): an idle bus is not all done. */
  private keepCheckpoint = false;
  private capacityWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];
  private pipelineIdleWaiters: (() => void)[] = [];
  private readonly onDeadLetter: ((letter: DeadLetter) => void) | undefined;
  private readonly journal: Journal | undefined;
  private readonly acceptedListeners = new Set<AcceptedListener>();

  constructor(options: LocalEventBusOptions) {
    this.name = options.name ?? 'default';
    this.account = options.account ?? '000000000000';
    this.region = options.region ?? 'us-east-1';
    this.router = options.router;
    this.highWaterMark = options.highWaterMark ?? 5_000;
    this.onDeadLetter = options.onDeadLetter;
    this.journal = options.journal;
  }

  addTarget(name: string, handler: TargetHandler, delivery: TargetDelivery, options?: TargetOptions): void {
    if (this.targets.has(name)) throw new Error(`target ${name} is already registered`);
    const queue = new TargetQueue(name, handler, delivery, options);
    // A delivery's slot is free once its task has settled: then take the next batch.
    queue.deliveries.on('next', () => this.pump(queue));
    this.targets.set(name, queue);
  }

  hasTarget(name: string): boolean {
    return this.targets.has(name);
  }

  /** Changes a target's retry settings (the batches in flight keep theirs). */
  setTargetDelivery(name: string, delivery: TargetDelivery): void {
    const queue = this.targets.get(name);
    if (!queue) throw new Error(`no target ${name}`);
    queue.delivery = delivery;
  }

  /**
   * Removes a target (RemoveTargets): what it holds is dropped and acknowledged, as its journal
   * records are; batches in flight finish, their retries are dropped.
   */
  removeTarget(name: string): void {
    const queue = this.targets.get(name);
    if (!queue) return;
    if ([...this.rules.values()].some((r) => r.targets.includes(name)))
      throw new Error(`target ${name} is still a rule's target`);
    this.targets.delete(name);
    queue.removed = true;
    // Its waiting retries go too: a timer left running would outlive the bus (and its journal).
    this.dropped(queue, [...queue.drain(), ...this.cancelRetries(queue)]);
  }

  /**
   * Stops delivering to these targets for now (the process is stopping and will not wait out their
   * retries, a day's worth by default): their retries are cancelled and what they hold is not
   * acknowledged, so the next start delivers it from the journal. Batches in flight finish. From
   * then on the journal keeps its checkpoint where it is.
   */
  abandon(names: readonly string[]): void {
    for (const name of names) {
      const queue = this.targets.get(name);
      if (!queue || queue.abandoned) continue;
      queue.abandoned = true;
      // Only events it holds stay behind in the journal; a target holding none leaves the checkpoint free.
      if (queue.held > 0) this.keepCheckpoint = true;
      this.count(queue, -queue.drain().length - this.cancelRetries(queue).length);
    }
    this.settle();
  }

  /** A pipeline rule: one target, always enabled. */
  putRule(name: string, eventPattern: unknown, target: string, description?: string): void {
    if (this.rules.has(name)) throw new Error(`rule ${name} already exists`);
    this.setRule({
      name,
      eventPattern,
      targets: [target],
      enabled: true,
      ...(description ? { description } : {}),
    });
  }

  /**
   * Adds a rule or replaces the one of that name (PutRule, PutTargets, EnableRule...): an enabled
   * rule routes to each of its targets; a disabled one, or one without targets, has no routes.
   * @throws InvalidEventPatternException, leaving the rule as it was.
   */
  setRule(rule: BusRule): void {
    for (const target of rule.targets)
      if (!this.targets.has(target)) throw new Error(`rule ${rule.name} names unknown target ${target}`);
    const routes = rule.enabled
      ? rule.targets.map((target) => ({ route: routeName(rule, target), target }))
      : [];
    const first = routes[0];
    if (first) {
      // The pattern is compiled before the rule's routes change: a bad one leaves them as they were.
      const check = `${rule.name}\u0000check`;
      this.router.add(check, rule.eventPattern, first.target);
      this.router.remove(check);
    }
    this.removeRoutes(rule.name);
    for (const { route, target } of routes) {
      this.router.add(route, rule.eventPattern, target);
      this.routes.set(route, { rule: rule.name, target });
    }
    this.rules.set(rule.name, { ...rule, targets: [...rule.targets] });
  }

  /** Removes a rule (its targets stay registered until removed). */
  deleteRule(name: string): void {
    this.removeRoutes(name);
    this.rules.delete(name);
  }

  private removeRoutes(rule: string): void {
    for (const [route, { rule: owner }] of this.routes) {
      if (owner !== rule) continue;
      this.router.remove(route);
      this.routes.delete(route);
    }
  }

  /** A rule's ARN, as EventBridge names it (a rule on the default bus has no bus in its ARN). */
  ruleArn(rule: string): string {
    const prefix = `arn:aws:events:${this.region}:${this.account}:rule/`;
    return this.name === DEFAULT_BUS ? `${prefix}${rule}` : `${prefix}${this.name}/${rule}`;
  }

  /** The rules, in the order they were first put (ListRules, DescribeRule, ListTargetsByRule). */
  listRules(): BusRule[] {
    return [...this.rules.values()];
  }

  /** PutEvents with EventBridge's validation: request limits throw, entry problems are reported per entry. */
  async putEvents(entries: readonly PutEventsEntry[]): Promise<PutEventsResult> {
    const [result] = this.putRequests([entries]);
    return result as PutEventsResult;
  }

  /**
   * Several PutEvents requests at once, each validated as its own request, journaled in one write:
   * how a stage's whole output goes on the bus. Throws if any request breaks a request limit, before
   * accepting any.
   */
  putRequests(requests: readonly (readonly PutEventsEntry[])[]): PutEventsResult[] {
    for (const entries of requests) validatePutEventsRequest(entries);
    const results: PutEventsResult[] = [];
    const accepted: {
      event: AnyEvent;
      targets: string[];
      detailJson: string;
      receivedAt: number;
      routes?: string[];
    }[] = [];
    const now = Date.now();
    // With a listener, the routes are matched by name (one match per event, not two).
    const listening = this.acceptedListeners.size > 0;
    for (const entries of requests) {
      const resultEntries: PutEventsResultEntry[] = [];
      let failed = 0;
      for (const e of entries) {
        const parsed = parsePutEventsEntry(e);
        if ('ErrorCode' in parsed) {
          failed++;
          resultEntries.push(parsed);
          continue;
        }
        const event = this.envelope(e, parsed.detail);
        resultEntries.push({ EventId: event.id });
        // A journal line is one line: Detail text from outside may span lines (valid JSON) and is then
        // written compacted; JSON.stringify, which built every in-process entry, never breaks lines.
        const spansLines = builtDetail(e) === undefined && LINE_BREAK.test(e.Detail);
        const detailJson = spansLines ? JSON.stringify(parsed.detail) : e.Detail;
        if (listening) {
          const routes = this.router.matchNames(event);
          const targets = routes.map((route) => (this.routes.get(route) as { target: string }).target);
          accepted.push({ event, targets, detailJson, receivedAt: now, routes });
        } else {
          accepted.push({ event, targets: this.router.match(event), detailJson, receivedAt: now });
        }
      }
      results.push({ FailedEntryCount: failed, Entries: resultEntries });
    }
    let seq = 0;
    if (this.journal && accepted.length > 0) {
      // Written before any target can see the events: an accepted event survives a crash.
      seq = this.journal.append(accepted);
    }
    for (const [i, a] of accepted.entries()) this.enqueue(a.targets, a.event, seq === 0 ? 0 : seq + i, now);
    if (listening) {
      for (const { event, routes = [] } of accepted) {
        // A route is a rule's per target: name each matching rule once.
        const rules = [...new Set(routes.map((route) => this.routes.get(route)?.rule ?? route))];
        for (const listener of this.acceptedListeners) listener(event, rules);
      }
    }
    return results;
  }

  /**
   * Tells `listener` of every event PutEvents accepted, with the names of the rules it matched (for
   * the dashboard's match counts and tail). Returns the function that stops it.
   */
  onAccepted(listener: AcceptedListener): () => void {
    this.acceptedListeners.add(listener);
    return () => void this.acceptedListeners.delete(listener);
  }

  /** Resolves when the bus has room: producers call this so that a large file cannot outrun the stages. */
  waitForCapacity(): Promise<void> {
    if (this.pending < this.highWaterMark) return Promise.resolve();
    return new Promise((resolve) => this.capacityWaiters.push(resolve));
  }

  /** Resolves when no event is queued, in flight or waiting for a retry, for any target. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Resolves when the pipeline's own targets hold no event: what a run, a recovery, a redrive or a
   * replay waits for. Targets bounded on their own (user targets) may still be retrying for hours.
   */
  whenPipelineIdle(): Promise<void> {
    if (this.isPipelineIdle()) return Promise.resolve();
    return new Promise((resolve) => this.pipelineIdleWaiters.push(resolve));
  }

  /** Deliveries retried and events dead-lettered since the bus started. */
  stats(): { retried: number; deadLettered: number } {
    return { retried: this.retriedTotal, deadLettered: this.deadLetteredTotal };
  }

  /** Events a target holds: queued, in flight or waiting for a retry. */
  held(target: string): number {
    return this.targets.get(target)?.held ?? 0;
  }

  /** Events queued or in flight, per target. */
  depth(): Record<string, number> {
    const depth: Record<string, number> = {};
    for (const [name, q] of this.targets) depth[name] = q.length + q.inFlightEvents;
    return depth;
  }

  /** Events queued for a delivery and events in flight, per target. */
  targetLoads(): Record<string, { queued: number; inFlight: number }> {
    const loads: Record<string, { queued: number; inFlight: number }> = {};
    for (const [name, q] of this.targets) loads[name] = { queued: q.length, inFlight: q.inFlightEvents };
    return loads;
  }

  /** The current time as EventBridge stamps it, formatted once a second rather than once an event. */
  private now(): string {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.stampedSecond) {
      this.stampedSecond = second;
      this.stamp = wholeSeconds(new Date(second * 1000));
    }
    return this.stamp;
  }

  private stampedSecond = -1;
  private stamp = '';

  private envelope(e: PutEventsEntry, detail: object): AnyEvent {
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': e.DetailType,
      source: e.Source,
      account: this.account,
      time: e.Time ? wholeSeconds(e.Time) : this.now(),
      region: this.region,
      resources: e.Resources ?? [],
      detail,
    };
  }

  /**
   * Delivers events again that the journal holds unacknowledged (after a restart), to the targets
   * that had not acknowledged them. Waits for capacity, so recovering a large backlog stays bounded.
   */
  async recover(
    records: AsyncIterable<{ seq: number; targets: string[]; event: AnyEvent; receivedAt?: number }>,
  ): Promise<number> {
    let recovered = 0;
    // Not idle until the journal is read to its end: an idle bus moves the journal's checkpoint,
    // which must not pass records still to be read.
    this.feeding++;
    try {
      for await (const record of records) {
        await this.waitForCapacity();
        // Lines journaled before the receive time was kept: the event's own time.
        const receivedAt = record.receivedAt ?? Date.parse(record.event.time);
        this.enqueue(record.targets, record.event, record.seq, receivedAt, 'defer');
        recovered++;
      }
    } finally {
      this.feeding--;
      this.settle();
    }
    return recovered;
  }

  /**
   * Puts an archived event back through the rules, as an EventBridge replay does: same id and
   * time, marked with `replay-name`; only through `rules` when given (StartReplay's FilterArns).
   * Returns the targets it went to.
   */
  replay(event: AnyEvent, replayName: string, rules?: ReadonlySet<string>): string[] {
    const replayed = { ...event, 'replay-name': replayName } as AnyEvent;
    const targets = rules
      ? this.router
          .matchNames(replayed)
          .map((route) => this.routes.get(route))
          .filter((route) => route !== undefined && rules.has(route.rule))
          .map((route) => (route as { target: string }).target)
      : this.router.match(replayed);
    this.enqueueJournaled(targets, replayed);
    return targets;
  }

  /** Delivers a dead-lettered event to its target again (a DLQ redrive). */
  redrive(target: string, event: AnyEvent): void {
    if (!this.targets.has(target)) throw new Error(`no target ${target}`);
    this.enqueueJournaled([target], event);
  }

  private enqueueJournaled(targets: string[], event: AnyEvent): void {
    if (targets.length === 0) return;
    const now = Date.now();
    const seq = this.journal ? this.journal.append([{ targets, event, receivedAt: now }]) : 0;
    this.enqueue(targets, event, seq, now);
  }

  /**
   * `overflow`: what becomes of an event for a target already holding its bound (maxHeld): dead-lettered
   * (a new event), or left unacknowledged in the journal for the next start (a recovered one: a
   * restart does not turn a backlog into dead letters).
   */
  private enqueue(
    targets: readonly string[],
    event: AnyEvent,
    seq: number,
    receivedAt: number,
    overflow: 'dead-letter' | 'defer' = 'dead-letter',
  ): void {
    for (const target of targets) {
      const queue = this.targets.get(target);
      if (queue?.abandoned) {
        // Left in the journal for the next start: the checkpoint must stay behind it.
        if (seq) this.keepCheckpoint = true;
        continue;
      }
      if (!queue) {
        // A target removed since the event was journaled (a user target, across a restart): acknowledged,
        // or the journal's checkpoint would wait for it forever.
        if (seq) this.journal?.ack(target, [seq]);
        continue;
      }
      const { maxHeld } = queue.options;
      if (maxHeld !== undefined && queue.held >= maxHeld) {
        if (overflow === 'defer' && seq) {
          this.keepCheckpoint = true;
          continue;
        }
        this.deadLetter(
          queue,
          { event, attempts: 0, seq, receivedAt },
          {
            reason: `the target already holds ${maxHeld} events it has not delivered (not delivered)`,
            exhausted: 'overflow',
          },
        );
        if (seq) this.journal?.ack(target, [seq]);
        continue;
      }
      queue.push({ event, attempts: 0, seq, receivedAt });
      this.count(queue, 1);
    }
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // Deliver on the next turn so that events put together travel together.
    setImmediate(() => {
      this.pumpScheduled = false;
      for (const queue of this.targets.values()) this.pump(queue);
      this.settle();
    });
  }

  private pump(queue: TargetQueue): void {
    // A batch is taken only when a slot is free (p-queue starts a task as it is added), so events
    // arriving while every slot is busy travel together in the next batch.
    const { deliveries } = queue;
    if (queue.abandoned) return;
    while (deliveries.pending < deliveries.concurrency && queue.length > 0) {
      const batch = queue.take(queue.delivery.batchSize);
      queue.inFlightEvents += batch.length;
      void deliveries.add(() => this.deliver(queue, batch));
    }
  }

  private async deliver(queue: TargetQueue, batch: Queued[]): Promise<void> {
    let failedIds: Set<string> | undefined;
    let reasons: ReadonlyMap<string, string> | undefined;
    let notRetryable: ReadonlySet<string> | undefined;
    let codes: ReadonlyMap<string, string> | undefined;
    let deferred: ReadonlySet<string> | undefined;
    let reason = '';
    try {
      const outcome = await queue.handler(
        batch.map((q) => q.event),
        batch.map((q) => q.receivedAt),
      );
      if (outcome?.failedEventIds?.length) {
        failedIds = new Set(outcome.failedEventIds);
        reasons = outcome.reasons;
        notRetryable = outcome.notRetryable;
        codes = outcome.codes;
        deferred = outcome.deferred;
        reason = 'the target reported the event as failed';
      }
    } catch (error) {
      failedIds = new Set(batch.map((q) => q.event.id));
      reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    }
    queue.inFlightEvents -= batch.length;
    const done: number[] = [];
    for (const item of batch) {
      const id = item.event.id;
      if (failedIds?.has(id) && deferred?.has(id) && item.seq) {
        // Left in the journal for a start that can deliver it.
        this.count(queue, -1);
        this.keepCheckpoint = true;
        continue;
      }
      if (failedIds?.has(id)) {
        const failure = {
          reason: reasons?.get(id) ?? reason,
          notRetryable: notRetryable?.has(id) ?? false,
          ...(codes?.has(id) ? { code: codes.get(id) as string } : {}),
        };
        if (this.retryOrDeadLetter(queue, item, failure)) continue;
      } else {
        this.count(queue, -1);
      }
      if (item.seq) done.push(item.seq);
    }
    this.journal?.ack(queue.name, done);
    this.settle();
  }

  /**
   * Schedules a retry or dead-letters the event per the target's retry policy. True when the event
   * is not to be acknowledged now: a retry is scheduled, or the target was abandoned.
   */
  private retryOrDeadLetter(
    queue: TargetQueue,
    item: Queued,
    failure: { reason: string; notRetryable: boolean; code?: string },
  ): boolean {
    const { reason, notRetryable } = failure;
    if (queue.abandoned) {
      this.count(queue, -1);
      return true;
    }
    const attempts = item.attempts + 1;
    const { maxAttempts, maxEventAgeSeconds, retryBaseDelayMs, retryMaxDelayMs } = queue.delivery;
    const delay = backoffDelayMs(attempts, { baseDelayMs: retryBaseDelayMs, maxDelayMs: retryMaxDelayMs });
    const tooOld = Date.now() + delay - item.receivedAt > maxEventAgeSeconds * 1000;
    if (attempts >= maxAttempts || tooOld || notRetryable || queue.removed) {
      this.count(queue, -1);
      if (queue.removed) return false;
      const exhausted: NonNullable<DeadLetter['exhausted']> = notRetryable
        ? 'not-retryable'
        : attempts >= maxAttempts
          ? 'attempts'
          : 'age';
      const why = {
        'not-retryable': 'not retried',
        attempts: `after ${attempts} attempts`,
        age: `past the maximum event age of ${maxEventAgeSeconds} s`,
      }[exhausted];
      this.deadLetter(
        queue,
        { ...item, attempts },
        {
          reason: `${reason} (${why})`,
          exhausted,
          ...(failure.code !== undefined ? { code: failure.code } : {}),
        },
      );
      return false;
    }
    if (!queue.ownBound) this.retriesScheduled++;
    this.retriedTotal++;
    const timer = setTimeout(() => {
      queue.retryTimers.delete(timer);
      if (!queue.ownBound) this.retriesScheduled--;
      if (queue.removed) {
        this.dropped(queue, [{ ...item, attempts }]);
        this.settle();
        return;
      }
      queue.push({ ...item, attempts });
      this.pump(queue);
    }, delay);
    queue.retryTimers.set(timer, { ...item, attempts });
    return true;
  }

  private deadLetter(
    queue: TargetQueue,
    item: Queued,
    letter: Pick<DeadLetter, 'reason' | 'exhausted' | 'code'>,
  ): void {
    this.deadLetteredTotal++;
    (queue.options.onDeadLetter ?? this.onDeadLetter)?.({
      target: queue.name,
      event: item.event,
      attempts: item.attempts,
      ...letter,
    });
  }

  /** Counts events a target takes on (+) or lets go of (-): the pipeline's toward `pending`. */
  private count(queue: TargetQueue, delta: number): void {
    queue.held += delta;
    if (!queue.ownBound) this.pending += delta;
  }

  /** Cancels a target's waiting retries; returns the events they would have delivered. */
  private cancelRetries(queue: TargetQueue): Queued[] {
    const waiting = [...queue.retryTimers.values()];
    for (const timer of queue.retryTimers.keys()) clearTimeout(timer);
    if (!queue.ownBound) this.retriesScheduled -= waiting.length;
    queue.retryTimers.clear();
    return waiting;
  }

  /** Events a removed target held: no longer pending, acknowledged in the journal. */
  private dropped(queue: TargetQueue, items: readonly Queued[]): void {
    this.count(queue, -items.length);
    this.journal?.ack(
      queue.name,
      items.filter((item) => item.seq !== 0).map((item) => item.seq),
    );
    this.settle();
  }

  private isPipelineIdle(): boolean {
    return this.pending === 0 && this.retriesScheduled === 0 && this.feeding === 0;
  }

  private isIdle(): boolean {
    if (!this.isPipelineIdle()) return false;
    for (const queue of this.targets.values()) if (queue.held > 0) return false;
    return true;
  }

  private settle(): void {
    if (this.pending < this.highWaterMark / 2 && this.capacityWaiters.length > 0) {
      const waiters = this.capacityWaiters;
      this.capacityWaiters = [];
      for (const resolve of waiters) resolve();
    }
    if (this.isPipelineIdle() && this.pipelineIdleWaiters.length > 0) {
      const waiters = this.pipelineIdleWaiters;
      this.pipelineIdleWaiters = [];
      for (const resolve of waiters) resolve();
    }
    // Never past an event a target has not acknowledged, a user target's included.
    const idle = this.isIdle();
    if (idle && !this.keepCheckpoint) this.journal?.checkpoint();
    if (idle && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }
}

const LINE_BREAK = /[\r\n]/;

/** A rule's route to one target: named as the rule when it has one target (a pipeline rule's), else both. */
function routeName(rule: BusRule, target: string): string {
  return rule.targets.length === 1 ? rule.name : `${rule.name}\u0000${target}`;
}

/** EventBridge stamps whole seconds. */
function wholeSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}
