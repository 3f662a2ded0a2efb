/**
 * EventBridge archives and replays over the local bus: ListArchives, DescribeArchive, CreateArchive,
 * UpdateArchive, DeleteArchive, StartReplay, DescribeReplay, ListReplays and CancelReplay, validated
 * as EventBridge does, with AWS's error codes.
 *
 * The local bus keeps at most one archive: its journal, kept for the archive's retention. The archive
 * switch (`archive.json`, archive-settings.ts; `etl up --archive`) and CreateArchive / DeleteArchive
 * turn the same thing on and off, so a second archive under another name is refused with a message
 * that says so. An archive's event pattern is honoured when it is replayed (LocalPipeline.replay):
 * only matching events come back, as only they would have been archived on AWS.
 */

import type { ArchiveSettings } from '../archive-settings.ts';
import type { AnyEvent, LocalEventBus } from '../bus.ts';
import { compilePattern } from '../../../patterns/index.ts';
import { AwsApiError, validation } from './errors.ts';
import {
  constraint,
  type EventsApi,
  optionalString,
  page,
  requiredString,
  timestamp,
  wrongType,
} from './events-api.ts';

type Body = Record<string, unknown>;

export const ARCHIVE_OPERATIONS = [
  'ListArchives',
  'DescribeArchive',
  'CreateArchive',
  'UpdateArchive',
  'DeleteArchive',
  'StartReplay',
  'DescribeReplay',
  'ListReplays',
  'CancelReplay',
] as const;
type ArchiveOperation = (typeof ARCHIVE_OPERATIONS)[number];

/** What keeps the archive and replays it (LocalPipeline). */
export interface ArchiveHost {
  /** The archive settings; undefined when the stack keeps no journal (in memory). */
  readonly archive: ArchiveSettings | undefined;
  /** Stores new settings and applies them to the running bus. */
  configureArchive(settings: ArchiveSettings): ArchiveSettings;
  replay(options: {
    from: Date;
    to: Date;
    name: string;
    rules?: string[];
    filter?: (event: AnyEvent) => boolean;
    signal?: AbortSignal;
  }): Promise<number>;
}

const REPLAY_STATES = ['STARTING', 'RUNNING', 'CANCELLING', 'COMPLETED', 'CANCELLED', 'FAILED'] as const;
type ReplayState = (typeof REPLAY_STATES)[number];
const ARCHIVE_STATES = ['ENABLED', 'DISABLED', 'CREATING', 'UPDATING', 'CREATE_FAILED', 'UPDATE_FAILED'];

interface Replay {
  ReplayName: string;
  ReplayArn: string;
  Description?: string;
  State: ReplayState;
  StateReason?: string;
  EventSourceArn: string;
  Destination: { Arn: string; FilterArns?: string[] };
  EventStartTime: number;
  EventEndTime: number;
  ReplayStartTime: number;
  ReplayEndTime?: number;
}

const NAME_PATTERN = /^[.\-_A-Za-z0-9]+$/;

/** A name member: its length range and AWS's name pattern. */
function checkName(member: string, value: string, maxLength: number): void {
  if (value.length < 1 || value.length > maxLength)
    throw constraint(
      member,
      value,
      `Member must have length less than or equal to ${maxLength} and greater than or equal to 1`,
    );
  if (!NAME_PATTERN.test(value))
    throw constraint(member, value, 'Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+');
}

function description(body: Body): string | undefined {
  const value = optionalString(body, 'Description');
  if (value !== undefined && value.length > 512)
    throw constraint('description', value, 'Member must have length less than or equal to 512');
  return value;
}

function retentionDays(body: Body): number | undefined {
  const value = body.RetentionDays;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType('RetentionDays', 'an integer');
  if (value < 0)
    throw constraint('retentionDays', value, 'Member must have value greater than or equal to 0');
  return value;
}

/** EventPattern, checked by the pattern engine (InvalidEventPatternException as AWS answers). */
function eventPattern(body: Body): string | undefined {
  const value = optionalString(body, 'EventPattern');
  if (value === undefined) return undefined;
  compilePattern(value);
  return value;
}

export class ArchivesApi {
  readonly operations: readonly string[] = ARCHIVE_OPERATIONS;
  private readonly replays = new Map<string, Replay>();
  private readonly running = new Map<string, AbortController>();

  constructor(
    private readonly events: Pick<EventsApi, 'busName' | 'busArn' | 'isLocalBus' | 'ruleArn'>,
    private readonly bus: Pick<LocalEventBus, 'region' | 'account' | 'listRules'>,
    /** Absent: the stack keeps no journal, so no archive can be created. */
    private readonly host?: ArchiveHost,
  ) {}

  /** The archive's settings while there is one. */
  private get current(): ArchiveSettings | undefined {
    return this.host?.archive?.enabled ? this.host.archive : undefined;
  }

  /** The archive's name: CreateArchive's, or `<bus>-archive` for one turned on by `--archive`. */
  get archiveName(): string {
    return this.current?.name ?? `${this.events.busName}-archive`;
  }

  archiveArn(name = this.archiveName): string {
    return `arn:aws:events:${this.bus.region}:${this.bus.account}:archive/${name}`;
  }

  handle(operation: string, body: Body): unknown {
    switch (operation as ArchiveOperation) {
      case 'ListArchives':
        return this.listArchives(body);
      case 'DescribeArchive':
        return this.describeArchive(body);
      case 'CreateArchive':
        return this.createArchive(body);
      case 'UpdateArchive':
        return this.updateArchive(body);
      case 'DeleteArchive':
        return this.deleteArchive(body);
      case 'StartReplay':
        return this.startReplay(body);
      case 'DescribeReplay':
        return this.describeReplay(body);
      case 'ListReplays':
        return this.listReplays(body);
      case 'CancelReplay':
        return this.cancelReplay(body);
      default:
        throw new AwsApiError(
          'UnknownOperationException',
          `AWSEvents.${operation} is not an archive operation`,
        );
    }
  }

  /** ListArchives' entry; DescribeArchive adds the ARN and the rest, as AWS does. */
  private archiveListShape(settings: ArchiveSettings) {
    return {
      ArchiveName: this.archiveName,
      EventSourceArn: this.events.busArn(this.events.busName),
      State: 'ENABLED',
      RetentionDays: settings.retentionDays,
      ...(settings.creationTime === undefined ? {} : { CreationTime: settings.creationTime }),
    };
  }

  /** The archive a request names, or ResourceNotFoundException. */
  private named(body: Body): ArchiveSettings {
    const name = requiredString(body, 'ArchiveName', 'archiveName');
    checkName('archiveName', name, 48);
    const settings = this.current;
    if (!settings || name !== this.archiveName)
      throw new AwsApiError('ResourceNotFoundException', `Archive ${name} does not exist.`);
    return settings;
  }

  private listArchives(body: Body): unknown {
    const prefix = optionalString(body, 'NamePrefix');
    const source = optionalString(body, 'EventSourceArn');
    const state = optionalString(body, 'State');
    if (state !== undefined && !ARCHIVE_STATES.includes(state))
      throw constraint('state', state, `Member must satisfy enum value set: [${ARCHIVE_STATES.join(', ')}]`);
    const settings = this.current;
    const archives =
      settings &&
      (prefix === undefined || this.archiveName.startsWith(prefix)) &&
      (source === undefined || this.events.isLocalBus(source)) &&
      (state === undefined || state === 'ENABLED')
        ? [this.archiveListShape(settings)]
        : [];
    const { items, NextToken } = page(archives, body);
    return { Archives: items, ...(NextToken ? { NextToken } : {}) };
  }

  private describeArchive(body: Body): unknown {
    const settings = this.named(body);
    return {
      ...this.archiveListShape(settings),
      ArchiveArn: this.archiveArn(),
      ...(settings.description ? { Description: settings.description } : {}),
      ...(settings.eventPattern ? { EventPattern: settings.eventPattern } : {}),
    };
  }

  /**
   * CreateArchive on the local bus turns its archive on (stored in `archive.json`), from now on; the
   * bus keeps one archive, so a second under another name is refused.
   */
  private createArchive(body: Body): unknown {
    const name = requiredString(body, 'ArchiveName', 'archiveName');
    checkName('archiveName', name, 48);
    const source = requiredString(body, 'EventSourceArn', 'eventSourceArn');
    const text = description(body);
    const days = retentionDays(body);
    const pattern = eventPattern(body);
    optionalString(body, 'KmsKeyIdentifier');
    if (!source.startsWith('arn:') || !this.events.isLocalBus(source))
      throw new AwsApiError('ResourceNotFoundException', `Event bus ${source} does not exist.`);
    if (!this.host?.archive)
      throw validation(
        'The local stack runs in memory and keeps no journal, so its bus cannot keep an archive.',
      );
    const existing = this.current;
    if (existing && this.archiveName === name)
      throw new AwsApiError('ResourceAlreadyExistsException', `Archive ${name} already exists.`);
    // Not LimitExceededException: SDKs and the CLI retry that code as throttling, and waiting helps not.
    if (existing)
      throw validation(
        `The local bus keeps one archive, and it has one: ${this.archiveName}. Update it (UpdateArchive) or delete it (DeleteArchive) first.`,
      );
    const creationTime = Math.floor(Date.now() / 1000);
    this.host.configureArchive({
      enabled: true,
      // AWS's default: kept indefinitely.
      retentionDays: days ?? 0,
      name,
      ...(text === undefined ? {} : { description: text }),
      ...(pattern === undefined ? {} : { eventPattern: pattern }),
      creationTime,
    });
    return { ArchiveArn: this.archiveArn(name), State: 'ENABLED', CreationTime: creationTime };
  }

  private updateArchive(body: Body): unknown {
    const settings = this.named(body);
    const text = description(body);
    const days = retentionDays(body);
    const pattern = eventPattern(body);
    optionalString(body, 'KmsKeyIdentifier');
    const updated = (this.host as ArchiveHost).configureArchive({
      ...settings,
      ...(days === undefined ? {} : { retentionDays: days }),
      ...(text === undefined ? {} : { description: text }),
      ...(pattern === undefined ? {} : { eventPattern: pattern }),
    });
    return {
      ArchiveArn: this.archiveArn(),
      State: 'ENABLED',
      ...(updated.creationTime === undefined ? {} : { CreationTime: updated.creationTime }),
    };
  }

  /** DeleteArchive turns the archive off: the journal's kept segments go at its next checkpoint. */
  private deleteArchive(body: Body): unknown {
    const settings = this.named(body);
    (this.host as ArchiveHost).configureArchive({ enabled: false, retentionDays: settings.retentionDays });
    return {};
  }

  /**
   * StartReplay: the archived events in [EventStartTime, EventEndTime) (those matching the archive's
   * pattern) go back through the rules (only those in FilterArns, when given), marked with
   * `replay-name`. It runs in the background; DescribeReplay tells when it is COMPLETED, and
   * CancelReplay stops it between two events.
   */
  private startReplay(body: Body): unknown {
    const name = requiredString(body, 'ReplayName', 'replayName');
    checkName('replayName', name, 64);
    if (this.replays.has(name))
      throw new AwsApiError('ResourceAlreadyExistsException', `Replay ${name} already exists.`);
    const source = requiredString(body, 'EventSourceArn', 'eventSourceArn');
    const settings = this.current;
    if (!settings || source !== this.archiveArn()) {
      const hint = settings
        ? ''
        : ' The local bus keeps no archive: create one (CreateArchive) or start etl up with --archive.';
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
    if (!this.events.isLocalBus(destination.Arn)) {
      throw new AwsApiError('ResourceNotFoundException', `Event bus ${destination.Arn} does not exist.`);
    }
    const filterArns = Array.isArray(destination.FilterArns)
      ? (destination.FilterArns as unknown[])
      : undefined;
    const rules = filterArns?.map((arn) => {
      const rule = this.bus.listRules().find((r) => this.events.ruleArn(r.name) === arn);
      if (!rule) throw new AwsApiError('ResourceNotFoundException', `Rule ${String(arn)} does not exist.`);
      return rule.name;
    });
    const text = description(body);
    const replay: Replay = {
      ReplayName: name,
      ReplayArn: `arn:aws:events:${this.bus.region}:${this.bus.account}:replay/${name}`,
      ...(text ? { Description: text } : {}),
      State: 'STARTING',
      EventSourceArn: source,
      Destination: { Arn: destination.Arn, ...(filterArns ? { FilterArns: filterArns as string[] } : {}) },
      EventStartTime: from,
      EventEndTime: to,
      ReplayStartTime: Date.now() / 1000,
    };
    this.replays.set(name, replay);
    const cancel = new AbortController();
    this.running.set(name, cancel);
    const host = this.host as ArchiveHost;
    const ended = (state: ReplayState, reason?: string): void => {
      replay.State = state;
      if (reason !== undefined) replay.StateReason = reason;
      replay.ReplayEndTime = Date.now() / 1000;
      this.running.delete(name);
    };
    setImmediate(() => {
      if (cancel.signal.aborted) return ended('CANCELLED');
      replay.State = 'RUNNING';
      host
        .replay({
          from: new Date(from * 1000),
          to: new Date(to * 1000),
          name,
          ...(rules ? { rules } : {}),
          signal: cancel.signal,
        })
        .then(
          () => ended(cancel.signal.aborted ? 'CANCELLED' : 'COMPLETED'),
          (error: unknown) => ended('FAILED', error instanceof Error ? error.message : String(error)),
        );
    });
    return { ReplayArn: replay.ReplayArn, State: replay.State, ReplayStartTime: replay.ReplayStartTime };
  }

  private describeReplay(body: Body): unknown {
    const name = requiredString(body, 'ReplayName', 'replayName');
    const replay = this.replays.get(name);
    if (!replay) throw new AwsApiError('ResourceNotFoundException', `Replay ${name} does not exist.`);
    return replay;
  }

  /** ListReplays: by name, with at most one of its filters (AWS: "Filter parameters are exclusive"). */
  private listReplays(body: Body): unknown {
    const prefix = optionalString(body, 'NamePrefix');
    if (prefix !== undefined) checkName('namePrefix', prefix, 64);
    const state = optionalString(body, 'State');
    if (state !== undefined && !(REPLAY_STATES as readonly string[]).includes(state))
      throw constraint('state', state, `Member must satisfy enum value set: [${REPLAY_STATES.join(', ')}]`);
    const source = optionalString(body, 'EventSourceArn');
    if ([prefix, state, source].filter((f) => f !== undefined).length > 1)
      throw validation(
        'At most one filter is allowed for ListReplays. Use either : State, EventSourceArn, or NamePrefix.',
      );
    const replays = [...this.replays.values()]
      .filter(
        (r) =>
          (prefix === undefined || r.ReplayName.startsWith(prefix)) &&
          (state === undefined || r.State === state) &&
          (source === undefined || r.EventSourceArn === source),
      )
      .sort((a, b) => (a.ReplayName < b.ReplayName ? -1 : a.ReplayName > b.ReplayName ? 1 : 0))
      .map((r) => ({
        ReplayName: r.ReplayName,
        EventSourceArn: r.EventSourceArn,
        State: r.State,
        ...(r.StateReason === undefined ? {} : { StateReason: r.StateReason }),
        EventStartTime: r.EventStartTime,
        EventEndTime: r.EventEndTime,
        ReplayStartTime: r.ReplayStartTime,
        ...(r.ReplayEndTime === undefined ? {} : { ReplayEndTime: r.ReplayEndTime }),
      }));
    const { items, NextToken } = page(replays, body);
    return { Replays: items, ...(NextToken ? { NextToken } : {}) };
  }

  /** CancelReplay: a replay STARTING or RUNNING goes CANCELLING, then CANCELLED once its loop stops. */
  private cancelReplay(body: Body): unknown {
    const name = requiredString(body, 'ReplayName', 'replayName');
    checkName('replayName', name, 64);
    const replay = this.replays.get(name);
    if (!replay) throw new AwsApiError('ResourceNotFoundException', `Replay ${name} does not exist.`);
    const cancel = this.running.get(name);
    if (!cancel || (replay.State !== 'STARTING' && replay.State !== 'RUNNING'))
      throw new AwsApiError(
        'IllegalStatusException',
        `Replay ${name} is ${replay.State}: only a replay that is STARTING or RUNNING can be cancelled.`,
      );
    cancel.abort();
    replay.State = 'CANCELLING';
    return { ReplayArn: replay.ReplayArn, State: replay.State };
  }
}
