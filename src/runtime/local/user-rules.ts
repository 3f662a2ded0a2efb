/**
 * Users' own rules on the local bus (PutRule, PutTargets, ...), with their targets, and the
 * connections and API destinations HTTP targets use. This module owns them and their one file,
 * `<state-dir>/user-rules.json`, written whole (a temporary file renamed into place) after every
 * change, so `etl up` and `etl run` find them again after a restart.
 *
 * Each user target is a bus target of its own, named `user~<rule>~<id>` on the bus and in the journal:
 * events journaled for it are delivered after a restart while it still exists, and acknowledged
 * (skipped) once it is removed. The pipeline definition's rules are not here: they stay read-only.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { AwsApiError, UserError } from '../../pipeline/errors.ts';
import {
  EVENTBRIDGE_MAX_EVENT_AGE_SECONDS,
  EVENTBRIDGE_MAX_RETRY_ATTEMPTS,
  type TargetDelivery,
} from '../../pipeline/definition.ts';
import { compilePattern } from '../../patterns/index.ts';
import type { LocalEventBus, TargetHandler } from './bus.ts';
import type { QueueSink } from './queue-sink.ts';
import { isQueueArn, targetKind, userTargetDeadLetter, userTargetHandler } from './user-targets.ts';

const inputTransformerSchema = z.object({
  InputPathsMap: z.record(z.string(), z.string()).optional(),
  InputTemplate: z.string(),
});

/** EventBridge's names (rules, target ids): also safe in the journal's target names and file names. */
const nameSchema = z.string().regex(/^[.\-_A-Za-z0-9]{1,64}$/);

const targetSchema = z.object({
  Id: nameSchema,
  Arn: z.string(),
  Input: z.string().optional(),
  InputPath: z.string().optional(),
  InputTransformer: inputTransformerSchema.optional(),
  RetryPolicy: z
    .object({
      MaximumRetryAttempts: z.number().int().optional(),
      MaximumEventAgeInSeconds: z.number().int().optional(),
    })
    .optional(),
  DeadLetterConfig: z.object({ Arn: z.string().optional() }).optional(),
});
export type UserTarget = z.infer<typeof targetSchema>;

const ruleSchema = z.object({
  Name: nameSchema,
  EventPattern: z.string(),
  State: z.enum(['ENABLED', 'DISABLED']),
  Description: z.string().optional(),
  Targets: z.array(targetSchema),
});
export type UserRule = z.infer<typeof ruleSchema>;

const connectionSchema = z.object({
  Name: z.string(),
  ConnectionArn: z.string(),
  Description: z.string().optional(),
  AuthorizationType: z.enum(['API_KEY', 'BASIC', 'OAUTH_CLIENT_CREDENTIALS']),
  /** Kept as given (AWS keeps them in Secrets Manager): the local state directory is the user's own. */
  AuthParameters: z.record(z.string(), z.unknown()),
  CreationTime: z.number(),
  LastModifiedTime: z.number(),
});
export type Connection = z.infer<typeof connectionSchema>;

const apiDestinationSchema = z.object({
  Name: z.string(),
  ApiDestinationArn: z.string(),
  Description: z.string().optional(),
  ConnectionArn: z.string(),
  InvocationEndpoint: z.string(),
  HttpMethod: z.enum(['POST', 'GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'DELETE']),
  InvocationRateLimitPerSecond: z.number().int(),
  CreationTime: z.number(),
  LastModifiedTime: z.number(),
});
export type ApiDestination = z.infer<typeof apiDestinationSchema>;

const documentSchema = z.object({
  version: z.literal(1),
  rules: z.array(ruleSchema),
  connections: z.array(connectionSchema),
  apiDestinations: z.array(apiDestinationSchema),
});
type UserRulesDocument = z.infer<typeof documentSchema>;

/** A target PutTargets could not take, as AWS reports it in FailedEntries. */
export interface FailedEntry {
  TargetId: string;
  ErrorCode: string;
  ErrorMessage: string;
}

export const MAX_TARGETS_PER_RULE = 5;
/**
 * The longest wait between a user target's retries. With full jitter a retry waits half of it on
 * average, so the default 185 retries take about 23 hours, close to AWS's 24 (the pipeline's own
 * targets keep their settings from the pipeline definition).
 */
export const USER_TARGET_MAX_RETRY_DELAY_MS = 15 * 60_000;
/**
 * Events one user target holds at most (queued, in flight or waiting for a retry); beyond that a new
 * event is dead-lettered at once (ERROR_CODE THROTTLING), a recovered one left in the journal. So a
 * target that is down keeps memory bounded and never holds back the pipeline.
 */
export const USER_TARGET_MAX_HELD = 10_000;

/** How a user target is delivered to: one event at a time as AWS does, a few at once, AWS's retry defaults. */
export function userTargetDelivery(target: UserTarget): TargetDelivery {
  return {
    concurrency: 4,
    batchSize: 10,
    maxBatchingWindowSeconds: 0,
    maxAttempts: (target.RetryPolicy?.MaximumRetryAttempts ?? EVENTBRIDGE_MAX_RETRY_ATTEMPTS) + 1,
    maxEventAgeSeconds: target.RetryPolicy?.MaximumEventAgeInSeconds ?? EVENTBRIDGE_MAX_EVENT_AGE_SECONDS,
    retryBaseDelayMs: 100,
    retryMaxDelayMs: USER_TARGET_MAX_RETRY_DELAY_MS,
    maxReceiveCount: 1,
  };
}

export function userTargetName(rule: string, id: string): string {
  return `user~${rule}~${id}`;
}

export interface UserRulesOptions {
  /** The file (`StatePaths.userRules`). */
  file: string;
  /** Where log-group targets write (`StatePaths.logs`). */
  logsDir: string;
  /** Events one user target holds at most (USER_TARGET_MAX_HELD unless given; tests give less). */
  maxHeldPerTarget?: number;
  bus: LocalEventBus;
  /** The pipeline definition's rules: listed, never changed here. */
  managedRules: ReadonlySet<string>;
  /** The pipeline's stages as targets, by stage name. */
  stages: ReadonlyMap<string, TargetHandler>;
  /** The local queues (absent: SQS targets and dead-letter queues are refused). */
  queueSink?: QueueSink;
  /** Problems nobody asked about: a dead letter dropped for want of a dead-letter queue. */
  warn?: (line: string) => void;
}

/** The user rules file cannot be read as one. */
export class UserRulesFileError extends UserError {}

const notFound = (rule: string, bus: string): AwsApiError =>
  new AwsApiError('ResourceNotFoundException', `Rule ${rule} does not exist on EventBus ${bus}.`);

export class UserRules {
  private document: UserRulesDocument;
  readonly warn: (line: string) => void;

  private constructor(readonly options: UserRulesOptions) {
    this.document = read(options.file);
    this.warn = options.warn ?? ((line) => console.error(line));
  }

  /** Reads the file and puts its rules on the bus. */
  static open(options: UserRulesOptions): UserRules {
    const rules = new UserRules(options);
    for (const rule of rules.document.rules) rules.applyRule(rule, []);
    return rules;
  }

  get bus(): LocalEventBus {
    return this.options.bus;
  }

  get queueSink(): QueueSink | undefined {
    return this.options.queueSink;
  }

  get logsDir(): string {
    return this.options.logsDir;
  }

  isManaged(name: string): boolean {
    return this.options.managedRules.has(name);
  }

  stage(name: string): TargetHandler | undefined {
    return this.options.stages.get(name);
  }

  stageNames(): string[] {
    return [...this.options.stages.keys()];
  }

  rules(): readonly UserRule[] {
    return this.document.rules;
  }

  rule(name: string): UserRule | undefined {
    return this.document.rules.find((r) => r.Name === name);
  }

  private managed(name: string): AwsApiError {
    return new AwsApiError(
      'ManagedRuleException',
      `Rule ${name} is managed by the pipeline (src/pipeline/definition.ts) and cannot be changed through the API; ` +
        'put a rule of your own instead.',
    );
  }

  /** A user rule by name; `busName`: the bus as the request named it, for the error. */
  private existing(name: string, busName: string): UserRule {
    if (this.isManaged(name)) throw this.managed(name);
    const rule = this.rule(name);
    if (!rule) throw notFound(name, busName);
    return rule;
  }

  /** PutRule: a new rule, or the rule of that name updated in place (its targets kept). */
  putRule(input: {
    Name: string;
    EventPattern: string;
    State: 'ENABLED' | 'DISABLED';
    Description?: string;
  }): string {
    if (this.isManaged(input.Name)) throw this.managed(input.Name);
    // The engine's InvalidEventPatternException, with AWS's message, before anything changes.
    compilePattern(input.EventPattern);
    const before = this.rule(input.Name);
    const rule: UserRule = {
      Name: input.Name,
      EventPattern: input.EventPattern,
      State: input.State,
      ...(input.Description !== undefined ? { Description: input.Description } : {}),
      Targets: before?.Targets ?? [],
    };
    this.replace(rule);
    return this.bus.ruleArn(input.Name);
  }

  deleteRule(name: string): void {
    if (this.isManaged(name)) throw this.managed(name);
    const rule = this.rule(name);
    // As on AWS, deleting a rule that is not there succeeds.
    if (!rule) return;
    if (rule.Targets.length > 0)
      throw new AwsApiError('ValidationException', "Rule can't be deleted since it has targets.");
    this.bus.deleteRule(name);
    this.document.rules = this.document.rules.filter((r) => r !== rule);
    this.save();
  }

  setState(name: string, state: 'ENABLED' | 'DISABLED', busName = this.bus.name): void {
    const rule = this.existing(name, busName);
    this.replace({ ...rule, State: state });
  }

  /**
   * PutTargets: targets whose ARN the local stack cannot deliver to are reported per entry, the
   * others added or updated by Id; more than five on the rule is LimitExceededException.
   */
  putTargets(name: string, targets: readonly UserTarget[], busName = this.bus.name): FailedEntry[] {
    const rule = this.existing(name, busName);
    const failed: FailedEntry[] = [];
    const accepted: UserTarget[] = [];
    for (const target of targets) {
      const problem = this.targetProblem(target);
      if (problem)
        failed.push({ TargetId: target.Id, ErrorCode: 'ValidationException', ErrorMessage: problem });
      else accepted.push(target);
    }
    const merged = [...rule.Targets];
    for (const target of accepted) {
      const at = merged.findIndex((t) => t.Id === target.Id);
      if (at >= 0) merged[at] = target;
      else merged.push(target);
    }
    if (merged.length > MAX_TARGETS_PER_RULE)
      throw new AwsApiError(
        'LimitExceededException',
        `The requested resource exceeds the maximum number allowed: a rule has at most ${MAX_TARGETS_PER_RULE} targets.`,
      );
    if (accepted.length > 0) this.replace({ ...rule, Targets: merged });
    return failed;
  }

  removeTargets(name: string, ids: readonly string[], busName = this.bus.name): FailedEntry[] {
    const rule = this.existing(name, busName);
    const remove = new Set(ids);
    const kept = rule.Targets.filter((t) => !remove.has(t.Id));
    if (kept.length !== rule.Targets.length) this.replace({ ...rule, Targets: kept });
    return [];
  }

  /** Why the local stack cannot deliver to the target, or undefined when it can. */
  private targetProblem(target: UserTarget): string | undefined {
    const kind = targetKind(target.Arn, this);
    if ('problem' in kind) return kind.problem;
    if (kind.kind === 'api-destination' && !this.apiDestinationByArn(target.Arn))
      return `No API destination ${target.Arn} exists: create it with CreateApiDestination first.`;
    const dlq = target.DeadLetterConfig?.Arn;
    if (dlq !== undefined) {
      if (!isQueueArn(dlq)) return `DeadLetterConfig.Arn ${dlq} is not an SQS queue ARN.`;
      if (!this.queueSink)
        return `DeadLetterConfig.Arn ${dlq}: the local stack serves no SQS queues in this process.`;
    }
    return undefined;
  }

  /** Rule names whose targets include the ARN (the pipeline's too), sorted. */
  ruleNamesByTarget(arn: string, stageArn: (stage: string) => string): string[] {
    const names = new Set<string>();
    for (const rule of this.bus.listRules()) {
      if (this.isManaged(rule.name) && rule.targets.some((t) => stageArn(t) === arn)) names.add(rule.name);
    }
    for (const rule of this.document.rules) if (rule.Targets.some((t) => t.Arn === arn)) names.add(rule.Name);
    return [...names].sort();
  }

  // Connections and API destinations.

  connections(): readonly Connection[] {
    return this.document.connections;
  }

  connection(name: string): Connection | undefined {
    return this.document.connections.find((c) => c.Name === name);
  }

  createConnection(
    input: Omit<Connection, 'ConnectionArn' | 'CreationTime' | 'LastModifiedTime'>,
  ): Connection {
    if (this.connection(input.Name))
      throw new AwsApiError('ResourceAlreadyExistsException', `Connection ${input.Name} already exists.`);
    const now = Date.now() / 1000;
    const connection: Connection = {
      ...input,
      ConnectionArn: `arn:aws:events:${this.bus.region}:${this.bus.account}:connection/${input.Name}/${randomUUID()}`,
      CreationTime: now,
      LastModifiedTime: now,
    };
    this.document.connections.push(connection);
    this.save();
    return connection;
  }

  deleteConnection(name: string): Connection {
    const connection = this.connection(name);
    if (!connection)
      throw new AwsApiError('ResourceNotFoundException', `Connection '${name}' does not exist.`);
    this.document.connections = this.document.connections.filter((c) => c !== connection);
    this.save();
    return connection;
  }

  apiDestinations(): readonly ApiDestination[] {
    return this.document.apiDestinations;
  }

  apiDestination(name: string): ApiDestination | undefined {
    return this.document.apiDestinations.find((d) => d.Name === name);
  }

  apiDestinationByArn(
    arn: string,
  ): { destination: ApiDestination; connection: Connection | undefined } | undefined {
    const destination = this.document.apiDestinations.find((d) => d.ApiDestinationArn === arn);
    if (!destination) return undefined;
    const connection = this.document.connections.find((c) => c.ConnectionArn === destination.ConnectionArn);
    return { destination, connection };
  }

  createApiDestination(
    input: Omit<ApiDestination, 'ApiDestinationArn' | 'CreationTime' | 'LastModifiedTime'>,
  ): ApiDestination {
    if (this.apiDestination(input.Name))
      throw new AwsApiError(
        'ResourceAlreadyExistsException',
        `An api-destination '${input.Name}' already exists.`,
      );
    if (!this.document.connections.some((c) => c.ConnectionArn === input.ConnectionArn))
      throw new AwsApiError(
        'ResourceNotFoundException',
        `Connection '${input.ConnectionArn}' does not exist.`,
      );
    const now = Date.now() / 1000;
    const destination: ApiDestination = {
      ...input,
      ApiDestinationArn: `arn:aws:events:${this.bus.region}:${this.bus.account}:api-destination/${input.Name}/${randomUUID()}`,
      CreationTime: now,
      LastModifiedTime: now,
    };
    this.document.apiDestinations.push(destination);
    this.save();
    return destination;
  }

  deleteApiDestination(name: string): void {
    const destination = this.apiDestination(name);
    if (!destination)
      throw new AwsApiError('ResourceNotFoundException', `An api-destination '${name}' does not exist.`);
    this.document.apiDestinations = this.document.apiDestinations.filter((d) => d !== destination);
    this.save();
  }

  /**
   * The process is stopping: it does not wait out retries to user targets (an endpoint down would hold
   * it for a day); what they have not delivered stays in the journal for the next start.
   */
  stop(): void {
    this.bus.abandon(this.document.rules.flatMap((r) => r.Targets.map((t) => userTargetName(r.Name, t.Id))));
  }

  /** Puts a rule (new or changed) on the bus, then records it. */
  private replace(rule: UserRule): void {
    const before = this.rule(rule.Name);
    this.applyRule(rule, before?.Targets ?? []);
    const at = this.document.rules.findIndex((r) => r.Name === rule.Name);
    if (at >= 0) this.document.rules[at] = rule;
    else this.document.rules.push(rule);
    this.save();
  }

  /** The rule on the bus: its targets registered (or their retry settings updated), the ones gone removed. */
  private applyRule(rule: UserRule, targetsBefore: readonly UserTarget[]): void {
    const names = rule.Targets.map((t) => userTargetName(rule.Name, t.Id));
    for (const target of rule.Targets) {
      const name = userTargetName(rule.Name, target.Id);
      if (this.bus.hasTarget(name)) {
        this.bus.setTargetDelivery(name, userTargetDelivery(target));
        continue;
      }
      // The handler looks its target up at each delivery: PutTargets may change it meanwhile.
      const current = () => {
        const now = this.rule(rule.Name);
        const found = now?.Targets.find((t) => t.Id === target.Id);
        return now && found ? { rule: now, target: found } : undefined;
      };
      this.bus.addTarget(name, userTargetHandler(this, current), userTargetDelivery(target), {
        onDeadLetter: (letter) => userTargetDeadLetter(this, current, letter),
        maxHeld: this.options.maxHeldPerTarget ?? USER_TARGET_MAX_HELD,
      });
    }
    this.bus.setRule({
      name: rule.Name,
      eventPattern: JSON.parse(rule.EventPattern) as unknown,
      targets: names,
      enabled: rule.State === 'ENABLED',
      ...(rule.Description !== undefined ? { description: rule.Description } : {}),
    });
    for (const gone of targetsBefore) {
      const name = userTargetName(rule.Name, gone.Id);
      if (!names.includes(name)) this.bus.removeTarget(name);
    }
  }

  private save(): void {
    const { file } = this.options;
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.tmp`;
    // It holds connections' API keys and passwords: the owner's only, the temporary file too.
    writeFileSync(temp, `${JSON.stringify(this.document, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600);
    renameSync(temp, file);
  }
}

function read(file: string): UserRulesDocument {
  if (!existsSync(file)) return { version: 1, rules: [], connections: [], apiDestinations: [] };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new UserRulesFileError(`${file}: not JSON (${(error as Error).message}); fix or delete it`);
  }
  const result = documentSchema.safeParse(parsed);
  if (!result.success)
    throw new UserRulesFileError(
      `${file}: not a user rules file (${result.error.issues[0]?.message}); fix or delete it`,
    );
  // A pattern the engine refuses (an edited file, or one an older version took) is named here,
  // rather than failing the start with the engine's exception.
  for (const rule of result.data.rules) {
    try {
      compilePattern(rule.EventPattern);
    } catch (error) {
      throw new UserRulesFileError(
        `${file}: rule ${rule.Name} has an event pattern the bus refuses (${oneLine(error)}); fix the rule in the file or delete it`,
      );
    }
  }
  return result.data;
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] as string;
}
