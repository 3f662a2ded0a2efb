/**
 * The EventBridge API (AWS JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`) over the local bus:
 * PutEvents, TestEventPattern, ListRules, DescribeRule, ListTargetsByRule, ListEventBuses and
 * DescribeEventBus. Requests are validated as EventBridge does; errors carry AWS's codes so SDK
 * clients raise the matching exception classes.
 *
 * The local stack has one bus, named by the pipeline definition. `default` names it too (the seed
 * put everything on the default bus), by name or ARN. Its rules are the definition's, listed here and
 * never changed, and users' own (PutRule, PutTargets and friends: rules-api.ts).
 */
import { type BusRule, DEFAULT_BUS, type LocalEventBus, type PutEventsResultEntry } from '../bus.ts';
import type { PutEventsEntry } from '../../../pipeline/events.ts';
import { jsonNestsDeeperThan, MAX_JSON_DEPTH } from '../../../pipeline/put-events.ts';
import { entryCountError, validatePutEventsRequest } from '../../../pipeline/put-events-request.ts';
import { testEventPattern } from '../../../patterns/index.ts';
import { AwsApiError, validation } from './errors.ts';
import type { UserRules } from '../user-rules.ts';

export { DEFAULT_BUS };

type Body = Record<string, unknown>;

export const EVENTS_OPERATIONS = [
  'PutEvents',
  'TestEventPattern',
  'ListRules',
  'DescribeRule',
  'ListTargetsByRule',
  'ListEventBuses',
  'DescribeEventBus',
  'ListArchives',
  'DescribeArchive',
  'StartReplay',
  'DescribeReplay',
] as const;
export type EventsOperation = (typeof EVENTS_OPERATIONS)[number];

/** A JSON 1.1 timestamp member: epoch seconds (what the SDKs send), or an ISO 8601 string. */
function timestamp(body: Body, member: string): number {
  const value = body[member];
  const seconds =
    typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) / 1000 : NaN;
  if (!Number.isFinite(seconds)) {
    throw validation(`Parameter ${member} is not valid. Reason: it must be a timestamp.`);
  }
  return seconds;
}

/** AWS's wording for a member that breaks a constraint. */
export function constraint(member: string, value: unknown, rule: string): AwsApiError {
  const shown =
    value === undefined ? 'null' : `'${typeof value === 'string' ? value : JSON.stringify(value)}'`;
  return validation(
    `1 validation error detected: Value ${shown} at '${member}' failed to satisfy constraint: ${rule}`,
  );
}

/** A member of the wrong JSON type: AWS answers SerializationException. */
export function wrongType(member: string, expected: string): AwsApiError {
  return new AwsApiError('SerializationException', `${member} must be ${expected}`);
}

export function optionalString(body: Body, member: string): string | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw wrongType(member, 'a string');
  return value;
}

export function requiredString(body: Body, member: string, wireName: string): string {
  const value = optionalString(body, member);
  if (value === undefined) throw constraint(wireName, undefined, 'Member must not be null');
  return value;
}

function limit(body: Body, max: number): number {
  const value = body.Limit;
  if (value === undefined || value === null) return max;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType('Limit', 'an integer');
  if (value < 1) throw constraint('limit', value, 'Member must have value greater than or equal to 1');
  if (value > 100) throw constraint('limit', value, 'Member must have value less than or equal to 100');
  return value;
}

/** NextToken: the offset of the next page, opaque to clients. */
function pageStart(body: Body): number {
  const token = optionalString(body, 'NextToken');
  if (token === undefined) return 0;
  const match = /^o(\d{1,9})$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  if (!match) throw validation('The NextToken provided is not valid.');
  return Number(match[1]);
}

export function page<T>(items: T[], body: Body, max = 100): { items: T[]; NextToken?: string } {
  const start = pageStart(body);
  const end = start + limit(body, max);
  const slice = items.slice(start, end);
  return end < items.length
    ? { items: slice, NextToken: Buffer.from(`o${end}`).toString('base64url') }
    : { items: slice };
}

/** PutEvents' Time: epoch seconds on the wire (SDKs and the CLI), an ISO string tolerated. */
function parseTime(value: unknown, index: number): Date | undefined {
  if (value === undefined || value === null) return undefined;
  const date =
    typeof value === 'number'
      ? new Date(value * 1000)
      : typeof value === 'string'
        ? new Date(/^\d+(\.\d+)?$/.test(value) ? Number(value) * 1000 : value)
        : undefined;
  if (!date || Number.isNaN(date.getTime())) throw wrongType(`Entries[${index}].Time`, 'a timestamp');
  return date;
}

interface ParsedEntry {
  entry: PutEventsEntry;
  /** The EventBusName as given (undefined: the default bus). */
  busName: string | undefined;
}

function parseEntries(body: Body): ParsedEntry[] {
  const entries = body.Entries;
  if (entries === undefined || entries === null)
    throw constraint('entries', undefined, 'Member must not be null');
  if (!Array.isArray(entries)) throw wrongType('Entries', 'a list');
  // Checked before the entries are read: a request of thousands is refused at once.
  const countError = entryCountError(entries.length);
  if (countError) throw countError;
  return entries.map((raw, i): ParsedEntry => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
      throw wrongType(`Entries[${i}]`, 'a structure');
    const e = raw as Body;
    const resources = e.Resources;
    if (resources !== undefined && resources !== null) {
      if (!Array.isArray(resources) || resources.some((r) => typeof r !== 'string')) {
        throw wrongType(`Entries[${i}].Resources`, 'a list of strings');
      }
    }
    const time = parseTime(e.Time, i);
    const entry: PutEventsEntry = {
      Source: optionalString(e, 'Source') ?? '',
      DetailType: optionalString(e, 'DetailType') ?? '',
      Detail: optionalString(e, 'Detail') ?? '',
      ...(time ? { Time: time } : {}),
      ...(Array.isArray(resources) ? { Resources: resources as string[] } : {}),
    };
    optionalString(e, 'TraceHeader');
    return { entry, busName: optionalString(e, 'EventBusName') };
  });
}

/** The bus's archive, replayed into the bus (LocalPipeline does this). */
export interface Archive {
  replay(options: { from: Date; to: Date; name: string; rules?: string[] }): Promise<number>;
  /** The archive's retention (0: indefinitely). */
  readonly archive?: { retentionDays: number } | undefined;
}

/** The local archive keeps every event for its retention; AWS's archives name days too. */
const ARCHIVE_RETENTION_DAYS = 7;

interface Replay {
  ReplayName: string;
  ReplayArn: string;
  Description?: string;
  State: 'STARTING' | 'RUNNING' | 'COMPLETED' | 'FAILED';
  StateReason?: string;
  EventSourceArn: string;
  Destination: { Arn: string; FilterArns?: string[] };
  EventStartTime: number;
  EventEndTime: number;
  ReplayStartTime: number;
  ReplayEndTime?: number;
}

/** The operations on users' own rules (rules-api.ts), when the stack serves them. */
export interface RuleOperations {
  readonly operations: readonly string[];
  handle(operation: string, body: Body): unknown;
}

export class EventsApi {
  readonly busName: string;
  private readonly replays = new Map<string, Replay>();
  private ruleOperations: RuleOperations | undefined;

  constructor(
    private readonly bus: LocalEventBus,
    private readonly archive?: Archive,
    /** Users' own rules, listed with the pipeline's (read-only) ones. */
    private readonly userRules?: UserRules,
  ) {
    this.busName = bus.name;
  }

  /** Serves PutRule, PutTargets and the other operations on users' rules. */
  serveRules(operations: RuleOperations): void {
    this.ruleOperations = operations;
  }

  /** The one archive: every event on the bus (the local bus journals them all). */
  get archiveName(): string {
    return `${this.busName}-archive`;
  }

  archiveArn(): string {
    return `arn:aws:events:${this.bus.region}:${this.bus.account}:archive/${this.archiveName}`;
  }

  /** The buses this endpoint answers for: `default` and the pipeline's. */
  busNames(): string[] {
    return this.busName === DEFAULT_BUS ? [DEFAULT_BUS] : [DEFAULT_BUS, this.busName];
  }

  busArn(name: string): string {
    return `arn:aws:events:${this.bus.region}:${this.bus.account}:event-bus/${name}`;
  }

  ruleArn(rule: string): string {
    return this.bus.ruleArn(rule);
  }

  /** Whether a name or ARN (undefined: the default bus) names the local bus. */
  isLocalBus(nameOrArn: string | undefined): boolean {
    if (nameOrArn === undefined || nameOrArn === '') return true;
    const name = nameOrArn.startsWith('arn:')
      ? this.busNames().find((n) => this.busArn(n) === nameOrArn)
      : nameOrArn;
    return name !== undefined && this.busNames().includes(name);
  }

  async handle(operation: string, body: Body): Promise<unknown> {
    if (this.ruleOperations?.operations.includes(operation))
      return this.ruleOperations.handle(operation, body);
    switch (operation as EventsOperation) {
      case 'PutEvents':
        return this.putEvents(body);
      case 'TestEventPattern':
        return this.testEventPattern(body);
      case 'ListRules':
        return this.listRules(body);
      case 'DescribeRule':
        return this.describeRule(body);
      case 'ListTargetsByRule':
        return this.listTargetsByRule(body);
      case 'ListEventBuses':
        return this.listEventBuses(body);
      case 'DescribeEventBus':
        return this.describeEventBus(body);
      case 'ListArchives':
        return { Archives: this.archive ? [this.archiveListShape()] : [] };
      case 'DescribeArchive':
        return this.describeArchive(body);
      case 'StartReplay':
        return this.startReplay(body);
      case 'DescribeReplay':
        return this.describeReplay(body);
      default:
        throw new AwsApiError(
          'UnknownOperationException',
          `AWSEvents.${operation} is not offered by the local endpoint (it offers ${[...EVENTS_OPERATIONS, ...(this.ruleOperations?.operations ?? [])].join(', ')})`,
        );
    }
  }

  private async putEvents(body: Body): Promise<unknown> {
    const parsed = parseEntries(body);
    // The whole request, before entries for other buses are set aside: the one PutEvents validator.
    validatePutEventsRequest(parsed.map((p) => p.entry));
    const results: PutEventsResultEntry[] = new Array(parsed.length);
    const accepted: { index: number; entry: PutEventsEntry }[] = [];
    for (const [index, { entry, busName }] of parsed.entries()) {
      if (!this.isLocalBus(busName)) {
        results[index] = {
          ErrorCode: 'ResourceNotFoundException',
          ErrorMessage: `Event bus ${busName} does not exist.`,
        };
        continue;
      }
      accepted.push({ index, entry });
    }
    if (accepted.length > 0) {
      // A request limit broken throws the bus's ValidationException, answered as it is.
      const put = await this.bus.putEvents(accepted.map((a) => a.entry));
      put.Entries.forEach((result, i) => {
        results[(accepted[i] as { index: number }).index] = result;
      });
    }
    return {
      FailedEntryCount: results.filter((r) => r.ErrorCode !== undefined).length,
      Entries: results,
    };
  }

  /** ListArchives' entry; DescribeArchive adds the ARN, as AWS does. */
  private archiveListShape() {
    return {
      ArchiveName: this.archiveName,
      EventSourceArn: this.busArn(this.busName),
      State: 'ENABLED',
      RetentionDays: this.archive?.archive?.retentionDays ?? ARCHIVE_RETENTION_DAYS,
    };
  }

  private archiveShape() {
    return { ...this.archiveListShape(), ArchiveArn: this.archiveArn() };
  }

  private describeArchive(body: Body): unknown {
    const name = requiredString(body, 'ArchiveName', 'archiveName');
    if (!this.archive || name !== this.archiveName) {
      throw new AwsApiError('ResourceNotFoundException', `Archive ${name} does not exist.`);
    }
    return this.archiveShape();
  }

  /**
   * StartReplay: the archived events in [EventStartTime, EventEndTime) go back through the rules
   * (only those in FilterArns, when given), marked with `replay-name`. It runs in the background;
   * DescribeReplay tells when it is COMPLETED.
   */
  private startReplay(body: Body): unknown {
    const name = requiredString(body, 'ReplayName', 'replayName');
    if (!/^[.\-_A-Za-z0-9]{1,64}$/.test(name)) {
      throw constraint(
        'replayName',
        name,
        'Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+',
      );
    }
    if (this.replays.has(name))
      throw new AwsApiError('ResourceAlreadyExistsException', `Replay ${name} already exists.`);
    const source = requiredString(body, 'EventSourceArn', 'eventSourceArn');
    if (!this.archive || source !== this.archiveArn()) {
      const hint = this.archive ? '' : ' The local bus keeps no archive: start etl up with --archive.';
      throw new AwsApiError('ResourceNotFoundException', `Archive ${source} does not exist.${hint}`);
    }
    const from = timestamp(body, 'EventStartTime');
    const to = timestamp(body, 'EventEndTime');
    if (from >= to)
      throw validation(
        'Parameter EventStartTime is not valid. Reason: EventStartTime must be before EventEndTime.',
      );
    if (to > Date.now() / 1000 + 1) {
      throw validation('Parameter EventEndTime is not valid. Reason: EventEndTime cannot be in the future.');
    }
    const destination = body.Destination as { Arn?: unknown; FilterArns?: unknown } | undefined;
    if (typeof destination?.Arn !== 'string')
      throw constraint('destination.arn', undefined, 'Member must not be null');
    if (!this.isLocalBus(destination.Arn)) {
      throw new AwsApiError('ResourceNotFoundException', `Event bus ${destination.Arn} does not exist.`);
    }
    const filterArns = Array.isArray(destination.FilterArns)
      ? (destination.FilterArns as unknown[])
      : undefined;
    const rules = filterArns?.map((arn) => {
      const rule = this.bus.listRules().find((r) => this.ruleArn(r.name) === arn);
      if (!rule) throw new AwsApiError('ResourceNotFoundException', `Rule ${String(arn)} does not exist.`);
      return rule.name;
    });
    const replay: Replay = {
      ReplayName: name,
      ReplayArn: `arn:aws:events:${this.bus.region}:${this.bus.account}:replay/${name}`,
      ...(optionalString(body, 'Description')
        ? { Description: optionalString(body, 'Description') as string }
        : {}),
      State: 'STARTING',
      EventSourceArn: source,
      Destination: { Arn: destination.Arn, ...(filterArns ? { FilterArns: filterArns as string[] } : {}) },
      EventStartTime: from,
      EventEndTime: to,
      ReplayStartTime: Date.now() / 1000,
    };
    this.replays.set(name, replay);
    const archive = this.archive;
    setImmediate(() => {
      replay.State = 'RUNNING';
      archive
        .replay({ from: new Date(from * 1000), to: new Date(to * 1000), name, ...(rules ? { rules } : {}) })
        .then(
          () => {
            replay.State = 'COMPLETED';
          },
          (error: unknown) => {
            replay.State = 'FAILED';
            replay.StateReason = error instanceof Error ? error.message : String(error);
          },
        )
        .finally(() => {
          replay.ReplayEndTime = Date.now() / 1000;
        });
    });
    return { ReplayArn: replay.ReplayArn, State: replay.State, ReplayStartTime: replay.ReplayStartTime };
  }

  private describeReplay(body: Body): unknown {
    const name = requiredString(body, 'ReplayName', 'replayName');
    const replay = this.replays.get(name);
    if (!replay) throw new AwsApiError('ResourceNotFoundException', `Replay ${name} does not exist.`);
    return replay;
  }

  private testEventPattern(body: Body): unknown {
    const pattern = requiredString(body, 'EventPattern', 'eventPattern');
    const event = requiredString(body, 'Event', 'event');
    if (jsonNestsDeeperThan(pattern)) {
      throw new AwsApiError(
        'InvalidEventPatternException',
        `The pattern is nested deeper than ${MAX_JSON_DEPTH} levels.`,
      );
    }
    if (jsonNestsDeeperThan(event))
      throw validation(`The event is nested deeper than ${MAX_JSON_DEPTH} levels.`);
    // A bad pattern or event throws the engine's AWS-shaped error, answered as it is.
    return { Result: testEventPattern(pattern, event) };
  }

  /** The bus a request names (EventBusName, by name or ARN; absent: default), or ResourceNotFound. */
  requestBus(body: Body): string {
    const given = optionalString(body, 'EventBusName');
    if (!this.isLocalBus(given))
      throw new AwsApiError('ResourceNotFoundException', `Event bus ${given} does not exist.`);
    return given === undefined || given === '' ? DEFAULT_BUS : given;
  }

  private rule(body: Body, member: string, wireName: string) {
    const bus = this.requestBus(body);
    const name = requiredString(body, member, wireName);
    const rule = this.bus.listRules().find((r) => r.name === name);
    if (!rule)
      throw new AwsApiError('ResourceNotFoundException', `Rule ${name} does not exist on EventBus ${bus}.`);
    return rule;
  }

  private ruleShape(rule: BusRule) {
    const managed = this.userRules?.isManaged(rule.name) ?? true;
    return {
      Name: rule.name,
      Arn: this.ruleArn(rule.name),
      // A user's pattern as they wrote it, as AWS answers it.
      EventPattern: this.userRules?.rule(rule.name)?.EventPattern ?? JSON.stringify(rule.eventPattern),
      State: rule.enabled ? 'ENABLED' : 'DISABLED',
      ...(rule.description ? { Description: rule.description } : {}),
      // The pipeline's rules are managed by it, as AWS marks rules a service manages.
      ...(managed ? { ManagedBy: 'eventbridge-etl.pipeline' } : {}),
      EventBusName: this.busName,
    };
  }

  private listRules(body: Body): unknown {
    this.requestBus(body);
    const prefix = optionalString(body, 'NamePrefix');
    const rules = this.bus
      .listRules()
      .filter((r) => prefix === undefined || r.name.startsWith(prefix))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const { items, NextToken } = page(rules, body);
    return { Rules: items.map((r) => this.ruleShape(r)), ...(NextToken ? { NextToken } : {}) };
  }

  private describeRule(body: Body): unknown {
    const rule = this.rule(body, 'Name', 'name');
    return { ...this.ruleShape(rule), CreatedBy: this.bus.account };
  }

  private listTargetsByRule(body: Body): unknown {
    const rule = this.rule(body, 'Rule', 'rule');
    const targets: object[] =
      this.userRules?.rule(rule.name)?.Targets ??
      // The pipeline's targets are in-process stages; on AWS each is the stage's function.
      rule.targets.map((target) => ({
        Id: target,
        Arn: `arn:aws:lambda:${this.bus.region}:${this.bus.account}:function:${target}`,
      }));
    const { items, NextToken } = page(targets, body);
    return { Targets: items, ...(NextToken ? { NextToken } : {}) };
  }

  private listEventBuses(body: Body): unknown {
    const prefix = optionalString(body, 'NamePrefix');
    const buses = this.busNames()
      .filter((n) => prefix === undefined || n.startsWith(prefix))
      .map((name) => ({ Name: name, Arn: this.busArn(name) }));
    const { items, NextToken } = page(buses, body);
    return { EventBuses: items, ...(NextToken ? { NextToken } : {}) };
  }

  private describeEventBus(body: Body): unknown {
    const given = optionalString(body, 'Name');
    if (!this.isLocalBus(given))
      throw new AwsApiError('ResourceNotFoundException', `Event bus ${given} does not exist.`);
    const name =
      given === undefined || given === ''
        ? DEFAULT_BUS
        : (this.busNames().find((n) => n === given || this.busArn(n) === given) ?? given);
    return { Name: name, Arn: this.busArn(name) };
  }
}
