/** `etl dlq`, `etl dlq redrive`, `etl replay`: the bus's delivery promises, from the command line. */
import type { Command } from 'commander';
import {
  DescribeArchiveCommand,
  DescribeReplayCommand,
  DescribeRuleCommand,
  EventBridgeClient,
  ListArchivesCommand,
  ResourceNotFoundException,
  StartReplayCommand,
} from '@aws-sdk/client-eventbridge';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  QueueDoesNotExist,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { compilePattern, InvalidEventPatternException } from '../patterns/index.ts';
import { definePipeline, targetQueueNames } from '../pipeline/definition.ts';
import { DeadLetterStore } from '../runtime/local/dead-letters.ts';
import { readQuarantine } from '../runtime/local/journal.ts';
import { readLock } from '../runtime/local/lock.ts';
import { LocalPipeline } from '../runtime/local/pipeline.ts';
import { NoArchiveError, readArchiveSettings } from '../runtime/local/archive-settings.ts';
import { statePaths } from '../runtime/local/state.ts';
import { UserError } from './errors.ts';
import { withStateDir } from './options.ts';
import { parseLimit, writeListing } from './listing.ts';

export function registerDelivery(program: Command): void {
  const dlq = withStateDir(
    program
      .command('dlq')
      .description('events that exhausted their retries, per target, with why')
      .option('--target <name>', 'only this target (transform, load, observe, quarantine)')
      .option('--run <id>', "only this run's events")
      .option('--json', 'a JSON array of the dead letters, one per line')
      .option('--limit <n>', 'at most this many dead letters', parseLimit),
  ).action(
    async (options: { stateDir: string; target?: string; run?: string; json?: boolean; limit?: number }) => {
      const paths = statePaths(options.stateDir);
      const letters = new DeadLetterStore(paths.dlq).read(options);
      const count = await writeListing(letters, {
        ...options,
        row: (l) => {
          const detail = (l.event.detail ?? {}) as { run?: string; row?: number };
          return {
            time: l.time,
            target: l.target,
            attempts: l.attempts,
            'detail-type': l.event['detail-type'],
            run: detail.run,
            row: detail.row,
            reason: l.reason,
          };
        },
      });
      if (!options.json) console.log(`${count} dead-lettered event${count === 1 ? '' : 's'}`);
      const quarantine = paths.quarantine;
      let quarantined = 0;
      for await (const _ of readQuarantine(quarantine)) quarantined++;
      if (quarantined > 0) {
        console.log(
          `${quarantined} journal record${quarantined === 1 ? '' : 's'} quarantined at recovery (with the reason): ${quarantine}`,
        );
      }
    },
  );

  withStateDir(
    dlq
      .command('redrive')
      .description('deliver dead-lettered events to their targets again')
      .option('--target <name>', 'only this target')
      .option('--json', 'the counts per target as one JSON object'),
  ).action(async (options: { stateDir: string; target?: string; json?: boolean }, command: Command) => {
    // `dlq`'s own options come first: commander gives `--state-dir` and `--json` to the parent.
    const parent = command.parent?.opts() as { stateDir?: string; json?: boolean; target?: string };
    const stateDir = parent.stateDir ?? options.stateDir;
    const json = options.json ?? parent.json;
    // `dlq` has a --target of its own (a filter of the listing): commander gives it that one.
    const target = options.target ?? parent.target;
    const owner = readLock(statePaths(stateDir).lock);
    // `etl up` owns the state: ask it, through SQS's StartMessageMoveTask, as one would ask AWS.
    const result = owner?.endpoint
      ? await redriveThroughEndpoint(owner.endpoint, target, new DeadLetterStore(statePaths(stateDir).dlq))
      : await redriveHere(stateDir, target);
    const targets = Object.entries(result);
    if (json) console.log(JSON.stringify({ targets: result }));
    else if (targets.length === 0) console.log('no dead-lettered events');
    else
      for (const [target, counts] of targets)
        console.log(`${target}: ${counts.redriven} redriven, ${counts.deadAgain} dead-lettered again`);
    if (targets.some(([, c]) => c.deadAgain > 0)) process.exitCode = 1;
  });

  withStateDir(
    program
      .command('replay')
      .description('replay archived events through the rules (EventBridge StartReplay)')
      .requiredOption('--from <time>', 'ISO 8601 start time, inclusive')
      .option('--to <time>', 'ISO 8601 end time, exclusive (default: now)')
      .option('--rule <name...>', 'deliver only through these rules (StartReplay FilterArns)')
      .option('--pattern <json>', 'replay only the events this event pattern matches (stack stopped)')
      .option('--name <name>', 'the replay name stamped on replayed events')
      .option('--json', 'the outcome as one JSON object'),
  ).action(
    async (options: {
      stateDir: string;
      from: string;
      to?: string;
      rule?: string[];
      pattern?: string;
      name?: string;
      json?: boolean;
    }) => {
      const from = parseTime(options.from, '--from');
      const to = options.to === undefined ? new Date() : parseTime(options.to, '--to');
      if (from >= to) throw new UserError('--from must be before --to');
      const name = options.name ?? `replay-${Date.now()}`;
      const owner = readLock(statePaths(options.stateDir).lock);
      if (owner?.endpoint) {
        // `etl up` owns the state: ask it, through the EventBridge API, as one would ask AWS.
        if (options.pattern !== undefined) {
          throw new UserError(
            '--pattern needs the stack stopped; with etl up running, choose rules with --rule',
          );
        }
        await replayThroughEndpoint(owner.endpoint, { from, to, name, rules: options.rule ?? [] });
        console.log(options.json ? JSON.stringify({ name, state: 'COMPLETED' }) : `replay ${name} completed`);
        return;
      }
      const filter = options.pattern === undefined ? undefined : patternFilter(options.pattern);
      // Said before starting anything: without an archive there is nothing to replay.
      if (!readArchiveSettings(statePaths(options.stateDir).archiveSettings).enabled)
        throw new NoArchiveError();
      const pipeline = await LocalPipeline.start({ stateDir: options.stateDir });
      try {
        await pipeline.recover();
        const count = await pipeline.replay({
          from,
          to,
          name,
          ...(filter ? { filter } : {}),
          ...(options.rule ? { rules: options.rule } : {}),
        });
        console.log(
          options.json
            ? JSON.stringify({ name, state: 'COMPLETED', replayed: count })
            : `replayed ${count} event${count === 1 ? '' : 's'} as ${name}`,
        );
      } catch (error) {
        if (error instanceof Error && /^no rule /.test(error.message))
          throw new UserError(`--rule: ${error.message}`);
        throw error;
      } finally {
        await pipeline.close();
      }
    },
  );
}

type RedriveCounts = Record<string, { redriven: number; deadAgain: number }>;

async function redriveHere(stateDir: string, target: string | undefined): Promise<RedriveCounts> {
  const pipeline = await LocalPipeline.start({ stateDir });
  try {
    await pipeline.recover();
    return await pipeline.redriveDeadLetters(target);
  } finally {
    await pipeline.close();
  }
}

/**
 * The redrive `etl up` runs for us: a message move task per target's dead-letter queue holding
 * letters, each waited for (ListMessageMoveTasks), then what came back to the queue counted.
 */
async function redriveThroughEndpoint(
  endpoint: string,
  only: string | undefined,
  deadLetters: DeadLetterStore,
): Promise<RedriveCounts> {
  const client = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  const result: RedriveCounts = {};
  try {
    const targets = Object.keys(definePipeline().delivery).filter((t) => only === undefined || t === only);
    for (const target of targets.sort()) {
      const queue = await deadLetterQueue(client, targetQueueNames(target).deadLetterQueue);
      // A redrive a crash cut short left letters the queue's depth does not show: they go too.
      if (!queue || (queue.letters === 0 && !(await deadLetters.hasLeftovers(target)))) continue;
      const { TaskHandle } = await client.send(new StartMessageMoveTaskCommand({ SourceArn: queue.arn }));
      for (;;) {
        const { Results = [] } = await client.send(
          new ListMessageMoveTasksCommand({ SourceArn: queue.arn, MaxResults: 10 }),
        );
        // The task of ours: the newest one (a finished task no longer shows its handle).
        const task = Results.find((r) => r.TaskHandle === TaskHandle) ?? Results[0];
        if (task?.Status === 'FAILED') throw new UserError(`redriving ${target}: ${task.FailureReason}`);
        if (task && task.Status !== 'RUNNING') {
          const after = await deadLetterQueue(client, targetQueueNames(target).deadLetterQueue);
          result[target] = {
            redriven: task.ApproximateNumberOfMessagesMoved ?? 0,
            deadAgain: after?.letters ?? 0,
          };
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    return result;
  } finally {
    client.destroy();
  }
}

/** A dead-letter queue's ARN and how many letters it holds, or undefined when there is none. */
async function deadLetterQueue(
  client: SQSClient,
  name: string,
): Promise<{ arn: string; letters: number } | undefined> {
  try {
    const { QueueUrl } = await client.send(new GetQueueUrlCommand({ QueueName: name }));
    const { Attributes = {} } = await client.send(
      new GetQueueAttributesCommand({
        QueueUrl,
        AttributeNames: ['QueueArn', 'ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return {
      arn: Attributes.QueueArn ?? '',
      letters:
        Number(Attributes.ApproximateNumberOfMessages ?? 0) +
        Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    };
  } catch (error) {
    if (error instanceof QueueDoesNotExist) return undefined;
    throw error;
  }
}

function patternFilter(pattern: string): (event: unknown) => boolean {
  try {
    const compiled = compilePattern(pattern);
    return (event) => compiled.matches(event);
  } catch (error) {
    if (error instanceof InvalidEventPatternException)
      throw new UserError(`InvalidEventPatternException: ${error.message}`);
    throw error;
  }
}

async function replayThroughEndpoint(
  endpoint: string,
  options: { from: Date; to: Date; name: string; rules: string[] },
): Promise<void> {
  const client = new EventBridgeClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  try {
    const { Archives = [] } = await client.send(new ListArchivesCommand({}));
    const archive = Archives[0]?.ArchiveName
      ? await client.send(new DescribeArchiveCommand({ ArchiveName: Archives[0].ArchiveName }))
      : undefined;
    if (!archive?.ArchiveArn || !archive.EventSourceArn)
      throw new UserError(`${new NoArchiveError().message}; the running stack reports none`);
    const filterArns: string[] = [];
    for (const rule of options.rules) {
      try {
        const { Arn } = await client.send(
          new DescribeRuleCommand({ Name: rule, EventBusName: archive.EventSourceArn }),
        );
        if (Arn) filterArns.push(Arn);
      } catch (error) {
        if (error instanceof ResourceNotFoundException)
          throw new UserError(`--rule: no rule ${rule} on the bus`);
        throw error;
      }
    }
    await client.send(
      new StartReplayCommand({
        ReplayName: options.name,
        EventSourceArn: archive.ArchiveArn,
        EventStartTime: options.from,
        EventEndTime: options.to,
        Destination: {
          Arn: archive.EventSourceArn,
          ...(filterArns.length ? { FilterArns: filterArns } : {}),
        },
      }),
    );
    for (;;) {
      const replay = await client.send(new DescribeReplayCommand({ ReplayName: options.name }));
      if (replay.State === 'COMPLETED') return;
      if (replay.State === 'FAILED')
        throw new UserError(`replay ${options.name} failed: ${replay.StateReason}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    client.destroy();
  }
}

function parseTime(text: string, option: string): Date {
  const time = new Date(text);
  if (Number.isNaN(time.getTime()))
    throw new UserError(`${option}: "${text}" is not a time (use ISO 8601, e.g. 2026-11-24T10:00:00Z)`);
  return time;
}
