/**
 * The EventBridge API (AWS JSON 1.1, `X-Amz-Target: AWSEvents.<Operation>`) over the local bus:
 * PutEvents, TestEventPattern, ListRules, DescribeRule, ListTargetsByRule, ListEventBuses and
 * DescribeEventBus. Requests are validated as EventBridge does; errors carry AWS's codes so SDK
 * clients raise the matching exception classes.
 *
 * The local stack has one bus, named by the pipeline definition. `default` names it too (the seed
 * put everything on the default bus), by name or ARN. Its rules are the definition's, listed here and
 * never changed, and users' own (PutRule, PutTargets and friends: rules-api.ts). Archives and
 * replays are archives-api.ts's. Both are served through `serve`.
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
] as const;
export type EventsOperation = (typeof EVENTS_OPERATIONS)[number];

/** A JSON 1.1 timestamp member: epoch seconds (what the SDKs send), or an ISO 8601 string. */
export function timestamp(body: Body, member: string): number {
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

/** Operations another module serves on this endpoint: users' rules (rules-api.ts), archives (archives-api.ts). */
export interface ServedOperations {
  readonly operations: readonly string[];
  handle(operation: string, body: Body): unknown;
}

export class EventsApi {
  readonly busName: string;
  private readonly served: ServedOperations[] = [];

  constructor(
    private readonly bus: LocalEventBus,
    /** Users' own rules, listed with the pipeline's (read-only) ones. */
    private readonly userRules?: UserRules,
  ) {
    this.busName = bus.name;
  }

  /** Serves another module's operations: users' rules (rules-api.ts), archives (archives-api.ts). */
  serve(operations: ServedOperations): void {
    this.served.push(operations);
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
    const served = this.served.find((s) => s.operations.includes(operation));
    if (served) return served.handle(operation, body);
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
      default:
        throw new AwsApiError(
          'UnknownOperationException',
          `AWSEvents.${operation} is not offered by the local endpoint (it offers ${[...EVENTS_OPERATIONS, ...this.served.flatMap((s) => s.operations)].join(', ')})`,
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
