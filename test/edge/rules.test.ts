import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  CreateApiDestinationCommand,
  CreateConnectionCommand,
  DeleteApiDestinationCommand,
  DeleteRuleCommand,
  DescribeApiDestinationCommand,
  DescribeConnectionCommand,
  DescribeRuleCommand,
  DisableRuleCommand,
  EnableRuleCommand,
  EventBridgeServiceException,
  ListApiDestinationsCommand,
  ListRuleNamesByTargetCommand,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
  type Target,
} from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Journal } from '../../src/runtime/local/journal.ts';
import type { QueueSink } from '../../src/runtime/local/queue-sink.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { UserRulesFileError, userTargetName } from '../../src/runtime/local/user-rules.ts';
import { eventually, scanTable, SEED_SOURCE, startTestStack, type TestStack } from './support.ts';

const REGION = 'us-east-1';
const ACCOUNT = '000000000000';
const queueArn = (name: string) => `arn:aws:sqs:${REGION}:${ACCOUNT}:${name}`;
const stageArn = (stage: string) => `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${stage}`;

interface Sent {
  body: string;
  attributes: Readonly<Record<string, string>> | undefined;
}

/** Queues that record what is sent to them; a send to a queue not created throws, as the store does. */
class RecordingQueues implements QueueSink {
  readonly queues = new Map<string, Sent[]>();

  create(name: string): string {
    this.queues.set(queueArn(name), []);
    return queueArn(name);
  }

  has(arn: string): boolean {
    return this.queues.has(arn);
  }

  send(arn: string, body: string, attributes?: Readonly<Record<string, string>>): void {
    const queue = this.queues.get(arn);
    if (!queue) throw new Error(`AWS.SimpleQueueService.NonExistentQueue: ${arn}`);
    queue.push({ body, attributes });
  }

  bodies(name: string): string[] {
    return (this.queues.get(queueArn(name)) ?? []).map((m) => m.body);
  }

  messages(name: string): Sent[] {
    return this.queues.get(queueArn(name)) ?? [];
  }
}

async function failure(promise: Promise<unknown>): Promise<EventBridgeServiceException> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EventBridgeServiceException);
  return error as EventBridgeServiceException;
}

const APP = 'my.app';

function appEvent(detail: object, detailType = 'order') {
  return { Source: APP, DetailType: detailType, Detail: JSON.stringify(detail) };
}

/** An HTTP endpoint answering each request with the next status of a script (then 200), recording them. */
class Endpoint {
  readonly requests: { method: string; headers: IncomingMessage['headers']; body: string }[] = [];
  private server: Server | undefined;
  statuses: number[] = [];
  /** Answers an error with a body that never ends (written until the client goes away). */
  endlessErrorBody = false;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.requests.push({
          method: req.method ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString(),
        });
        const status = this.statuses.shift() ?? 200;
        if (!this.endlessErrorBody || status < 400) return void res.writeHead(status).end();
        res.writeHead(status);
        const chunk = `${'x'.repeat(1023)}\n`;
        const write = (): void => {
          if (!res.destroyed) setImmediate(() => (res.write(chunk) ? write() : res.once('drain', write)));
        };
        write();
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('your own rules on the running bus', () => {
  let t: TestStack;
  const sink = new RecordingQueues();
  const created: string[] = [];

  beforeAll(async () => {
    t = await startTestStack({ queueSink: sink });
  });
  afterAll(async () => t?.close());

  /** Puts a rule (removed again after the test) with targets. */
  async function rule(
    name: string,
    pattern: object,
    targets: Target[],
    state: 'ENABLED' | 'DISABLED' = 'ENABLED',
  ) {
    await t.events.send(
      new PutRuleCommand({ Name: name, EventPattern: JSON.stringify(pattern), State: state }),
    );
    created.push(name);
    if (targets.length > 0) {
      const result = await t.events.send(new PutTargetsCommand({ Rule: name, Targets: targets }));
      expect(result.FailedEntries).toEqual([]);
    }
  }

  afterEach(async () => {
    await t.stack.pipeline.bus.whenIdle();
    for (const name of created.splice(0)) {
      const { Rules } = await t.events.send(new ListRulesCommand({ NamePrefix: name }));
      if (!Rules?.some((r) => r.Name === name)) continue;
      const { Targets } = await t.events.send(new ListTargetsByRuleCommand({ Rule: name }));
      const ids = (Targets ?? []).map((target) => target.Id as string);
      if (ids.length > 0) await t.events.send(new RemoveTargetsCommand({ Rule: name, Ids: ids }));
      await t.events.send(new DeleteRuleCommand({ Name: name }));
    }
  });

  describe('PutRule, DescribeRule, ListRules, EnableRule, DisableRule, DeleteRule', () => {
    it('puts a rule, describes it as given, updates it in place, disables and enables it', async () => {
      const pattern = '{"source": ["my.app"]}';
      const put = await t.events.send(
        new PutRuleCommand({ Name: 'orders', EventPattern: pattern, Description: 'all orders' }),
      );
      created.push('orders');
      const arn = `arn:aws:events:${REGION}:${ACCOUNT}:rule/${t.stack.busName}/orders`;
      expect(put.RuleArn).toBe(arn);
      const described = await t.events.send(new DescribeRuleCommand({ Name: 'orders' }));
      expect(described).toMatchObject({
        Name: 'orders',
        Arn: arn,
        EventPattern: pattern,
        State: 'ENABLED',
        Description: 'all orders',
        EventBusName: t.stack.busName,
      });
      expect(described.ManagedBy).toBeUndefined();

      await t.events.send(new PutRuleCommand({ Name: 'orders', EventPattern: pattern, State: 'DISABLED' }));
      expect((await t.events.send(new DescribeRuleCommand({ Name: 'orders' }))).State).toBe('DISABLED');
      await t.events.send(new EnableRuleCommand({ Name: 'orders' }));
      expect((await t.events.send(new DescribeRuleCommand({ Name: 'orders' }))).State).toBe('ENABLED');
      await t.events.send(new DisableRuleCommand({ Name: 'orders' }));

      const { Rules } = await t.events.send(new ListRulesCommand({}));
      const byName = new Map((Rules ?? []).map((r) => [r.Name, r]));
      expect(byName.get('orders')).toMatchObject({ State: 'DISABLED', EventPattern: pattern });
      expect(byName.get('transformRule')).toMatchObject({
        State: 'ENABLED',
        ManagedBy: 'eventbridge-etl.pipeline',
      });
    });

    it('answers bad requests as EventBridge does', async () => {
      const cases: [PutRuleCommand, string, RegExp][] = [
        [
          new PutRuleCommand({ Name: 'x' }),
          'ValidationException',
          /EventPattern or ScheduleExpression must be specified/,
        ],
        [
          new PutRuleCommand({ Name: 'x', ScheduleExpression: 'rate(5 minutes)' }),
          'ValidationException',
          /scheduled rules are not served locally/,
        ],
        [
          new PutRuleCommand({ Name: 'x', EventPattern: '{"source": "my.app"}' }),
          'InvalidEventPatternException',
          /./,
        ],
        [new PutRuleCommand({ Name: 'x', EventPattern: 'not json' }), 'InvalidEventPatternException', /./],
        [
          new PutRuleCommand({ Name: 'bad name!', EventPattern: '{"source": ["a"]}' }),
          'ValidationException',
          /failed to satisfy constraint: Member must satisfy regular expression pattern/,
        ],
        [
          new PutRuleCommand({ Name: 'x', EventPattern: '{"source": ["a"]}', State: 'ON' as never }),
          'ValidationException',
          /Member must satisfy enum value set/,
        ],
      ];
      for (const [command, name, message] of cases) {
        const error = await failure(t.events.send(command));
        expect(error.name).toBe(name);
        expect(error.message).toMatch(message);
      }
      // Nothing was put by any of them.
      const { Rules } = await t.events.send(new ListRulesCommand({ NamePrefix: 'x' }));
      expect(Rules).toEqual([]);
    });

    it('names a rule that is not there', async () => {
      for (const command of [
        new EnableRuleCommand({ Name: 'nope' }),
        new DisableRuleCommand({ Name: 'nope' }),
        new PutTargetsCommand({ Rule: 'nope', Targets: [{ Id: 'a', Arn: queueArn('q') }] }),
        new RemoveTargetsCommand({ Rule: 'nope', Ids: ['a'] }),
        new DescribeRuleCommand({ Name: 'nope' }),
      ]) {
        const error = await failure(t.events.send(command as PutRuleCommand));
        expect(error.name).toBe('ResourceNotFoundException');
        expect(error.message).toBe(`Rule nope does not exist on EventBus default.`);
      }
      // As on AWS, deleting a rule that is not there succeeds.
      await t.events.send(new DeleteRuleCommand({ Name: 'nope' }));
    });

    it("refuses to delete a rule with targets: Rule can't be deleted since it has targets.", async () => {
      sink.create('kept');
      await rule('with-targets', { source: [APP] }, [{ Id: 'q', Arn: queueArn('kept') }]);
      const error = await failure(t.events.send(new DeleteRuleCommand({ Name: 'with-targets' })));
      expect(error.name).toBe('ValidationException');
      expect(error.message).toBe("Rule can't be deleted since it has targets.");
      await t.events.send(new RemoveTargetsCommand({ Rule: 'with-targets', Ids: ['q'] }));
      await t.events.send(new DeleteRuleCommand({ Name: 'with-targets' }));
      const { Rules } = await t.events.send(new ListRulesCommand({ NamePrefix: 'with-targets' }));
      expect(Rules).toEqual([]);
    });

    it("keeps the pipeline's rules read-only: ManagedRuleException naming them", async () => {
      const name = 'transformRule';
      for (const command of [
        new PutRuleCommand({ Name: name, EventPattern: '{"source": ["x"]}' }),
        new DeleteRuleCommand({ Name: name }),
        new DisableRuleCommand({ Name: name }),
        new EnableRuleCommand({ Name: name }),
        new PutTargetsCommand({ Rule: name, Targets: [{ Id: 'a', Arn: queueArn('q') }] }),
        new RemoveTargetsCommand({ Rule: name, Ids: ['transform'] }),
      ]) {
        const error = await failure(t.events.send(command as PutRuleCommand));
        expect(error.name).toBe('ManagedRuleException');
        expect(error.message).toMatch(/^Rule transformRule is managed by the pipeline/);
      }
      const described = await t.events.send(new DescribeRuleCommand({ Name: name }));
      expect(described).toMatchObject({ State: 'ENABLED', ManagedBy: 'eventbridge-etl.pipeline' });
      const { Targets } = await t.events.send(new ListTargetsByRuleCommand({ Rule: name }));
      expect(Targets).toEqual([{ Id: 'transform', Arn: stageArn('transform') }]);
    });
  });

  describe('PutTargets, RemoveTargets, ListTargetsByRule, ListRuleNamesByTarget', () => {
    it('takes the targets it can deliver to and reports the others per entry', async () => {
      await rule('mixed', { source: [APP] }, []);
      const put = await t.events.send(
        new PutTargetsCommand({
          Rule: 'mixed',
          Targets: [
            { Id: 'stage', Arn: stageArn('load') },
            { Id: 'sns', Arn: `arn:aws:sns:${REGION}:${ACCOUNT}:topic` },
            { Id: 'fn', Arn: stageArn('not-a-stage') },
            { Id: 'log', Arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/my/app` },
          ],
        }),
      );
      expect(put.FailedEntryCount).toBe(2);
      expect(put.FailedEntries?.map((f) => [f.TargetId, f.ErrorCode])).toEqual([
        ['sns', 'ValidationException'],
        ['fn', 'ValidationException'],
      ]);
      expect(put.FailedEntries?.[0]?.ErrorMessage).toMatch(/is not served locally/);
      expect(put.FailedEntries?.[1]?.ErrorMessage).toMatch(
        /the only functions are the pipeline's stages \(transform, load, observe, quarantine\)/,
      );
      const { Targets } = await t.events.send(new ListTargetsByRuleCommand({ Rule: 'mixed' }));
      expect(Targets?.map((x) => x.Id)).toEqual(['stage', 'log']);
      const names = await t.events.send(new ListRuleNamesByTargetCommand({ TargetArn: stageArn('load') }));
      expect(names.RuleNames).toEqual(['loadRule', 'mixed']);
    });

    it('updates a target by Id, allows five targets and refuses a sixth with LimitExceededException', async () => {
      for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) sink.create(`five-${name}`);
      const five = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ Id: id, Arn: queueArn(`five-${id}`) }));
      await rule('five', { source: [APP] }, five);
      // The same Id again is an update, not a sixth target.
      await t.events.send(
        new PutTargetsCommand({
          Rule: 'five',
          Targets: [{ Id: 'a', Arn: queueArn('five-f'), Input: '{"n":1}' }],
        }),
      );
      const error = await failure(
        t.events.send(
          new PutTargetsCommand({ Rule: 'five', Targets: [{ Id: 'f', Arn: queueArn('five-f') }] }),
        ),
      );
      expect(error.name).toBe('LimitExceededException');
      const { Targets } = await t.events.send(new ListTargetsByRuleCommand({ Rule: 'five' }));
      expect(Targets?.length).toBe(5);
      expect(Targets?.[0]).toEqual({ Id: 'a', Arn: queueArn('five-f'), Input: '{"n":1}' });
      const names = await t.events.send(new ListRuleNamesByTargetCommand({ TargetArn: queueArn('five-f') }));
      expect(names.RuleNames).toEqual(['five']);
    });

    it('checks RetryPolicy ranges, input settings and the dead-letter queue', async () => {
      await rule('checked', { source: [APP] }, []);
      const cases: [Target, string, RegExp][] = [
        [
          { Id: 'r', Arn: queueArn('q'), RetryPolicy: { MaximumRetryAttempts: 186 } },
          'ValidationException',
          /Value '186' at 'targets.1.member.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must have value less than or equal to 185/,
        ],
        [
          { Id: 'r', Arn: queueArn('q'), RetryPolicy: { MaximumEventAgeInSeconds: 59 } },
          'ValidationException',
          /maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value greater than or equal to 60/,
        ],
        [
          {
            Id: 'r',
            Arn: queueArn('q'),
            InputTransformer: { InputPathsMap: { a: '$.detail' }, InputTemplate: '{<a>: 1}' },
          },
          'ValidationException',
          /Invalid InputTemplate for target r/,
        ],
        [{ Id: 'r', Arn: queueArn('q'), Input: 'nope' }, 'ValidationException', /Invalid Input for target r/],
        [{ Id: 'bad id!', Arn: queueArn('q') }, 'ValidationException', /targets.1.member.id/],
      ];
      for (const [target, name, message] of cases) {
        const error = await failure(
          t.events.send(new PutTargetsCommand({ Rule: 'checked', Targets: [target] })),
        );
        expect(error.name).toBe(name);
        expect(error.message).toMatch(message);
      }
      const dlq = await t.events.send(
        new PutTargetsCommand({
          Rule: 'checked',
          Targets: [{ Id: 'r', Arn: queueArn('q'), DeadLetterConfig: { Arn: 'arn:aws:sns:us-east-1:0:t' } }],
        }),
      );
      expect(dlq.FailedEntries?.[0]?.ErrorMessage).toMatch(/is not an SQS queue ARN/);
    });
  });

  describe('delivery', () => {
    it('sends the transformed event to a queue, a constant Input and an InputPath to others', async () => {
      for (const name of ['transformed', 'constant', 'path', 'whole']) sink.create(name);
      await rule('to-queues', { source: [APP], detail: { total: [{ numeric: ['>', 100] }] } }, [
        {
          Id: 'transformed',
          Arn: queueArn('transformed'),
          InputTransformer: {
            InputPathsMap: { id: '$.detail.id', total: '$.detail.total', first: '$.detail.items[0].sku' },
            InputTemplate:
              '{"order": <id>, "total": <total>, "note": "order <id> of <total> starts with \\"<first>\\"", "rule": <aws.events.rule-name>, "at": <aws.events.event.ingestion-time>}',
          },
        },
        { Id: 'constant', Arn: queueArn('constant'), Input: '{"big": true}' },
        { Id: 'path', Arn: queueArn('path'), InputPath: '$.detail.items' },
        { Id: 'whole', Arn: queueArn('whole') },
      ]);
      const detail = { id: 'o-1', total: 250, items: [{ sku: 'ab"c' }] };
      const before = Date.now();
      const put = await t.events.send(
        new PutEventsCommand({ Entries: [appEvent(detail), appEvent({ ...detail, total: 5 })] }),
      );
      const after = Date.now();
      await eventually(
        async () => sink.bodies('whole'),
        (b) => b.length === 1,
        'the whole event',
      );
      await t.stack.pipeline.bus.whenIdle();
      const transformed = sink.bodies('transformed').map((b) => JSON.parse(b) as { at: string });
      expect(transformed).toEqual([
        {
          order: 'o-1',
          total: 250,
          note: 'order o-1 of 250 starts with "ab"c"',
          rule: 'to-queues',
          at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        },
      ]);
      // When the bus accepted the event: during the PutEvents call.
      expect(Date.parse(transformed[0]?.at as string)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(transformed[0]?.at as string)).toBeLessThanOrEqual(after);
      expect(sink.bodies('constant')).toEqual(['{"big":true}']);
      expect(sink.bodies('path').map((b) => JSON.parse(b) as unknown)).toEqual([[{ sku: 'ab"c' }]]);
      expect(JSON.parse(sink.bodies('whole')[0] as string)).toMatchObject({
        id: put.Entries?.[0]?.EventId,
        source: APP,
        'detail-type': 'order',
        detail,
      });
    });

    it('delivers nothing through a disabled rule, and again once it is enabled', async () => {
      for (const name of ['disabled', 'control']) sink.create(name);
      await rule('off', { source: [APP] }, [{ Id: 'q', Arn: queueArn('disabled') }], 'DISABLED');
      await rule('control', { source: [APP] }, [{ Id: 'q', Arn: queueArn('control') }]);
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 1 })] }));
      await eventually(
        async () => sink.bodies('control'),
        (b) => b.length === 1,
        'the control rule',
      );
      await t.stack.pipeline.bus.whenIdle();
      expect(sink.bodies('disabled')).toEqual([]);
      await t.events.send(new EnableRuleCommand({ Name: 'off' }));
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 2 })] }));
      await eventually(
        async () => sink.bodies('disabled'),
        (b) => b.length === 1,
        'the enabled rule',
      );
      expect(JSON.parse(sink.bodies('disabled')[0] as string).detail).toEqual({ n: 2 });
    });

    it('writes a log group target as NDJSON under the state directory', async () => {
      await rule('to-log', { source: [APP] }, [
        {
          Id: 'log',
          Arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:/my/orders:*`,
          InputTransformer: { InputPathsMap: { n: '$.detail.n' }, InputTemplate: 'order <n> arrived' },
        },
      ]);
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 1 }), appEvent({ n: 2 })] }));
      const file = join(t.stateDir, 'logs', 'my', 'orders.ndjson');
      const read = async () => {
        try {
          return readFileSync(file, 'utf8');
        } catch {
          return '';
        }
      };
      const text = await eventually(read, (s) => s.split('\n').length === 3, 'two log lines');
      expect(
        text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as unknown)
          .sort(),
      ).toEqual(['order 1 arrived', 'order 2 arrived']);
    });

    it('sends a transformed event into a pipeline stage: the row is loaded into the table', async () => {
      await rule('into-transform', { source: [APP], 'detail-type': ['import'] }, [
        {
          Id: 'stage',
          Arn: stageArn('transform'),
          InputTransformer: {
            InputPathsMap: { id: '$.detail.id', town: '$.detail.town', eventId: '$.id', time: '$.time' },
            InputTemplate: JSON.stringify({
              version: '0',
              id: '<eventId>',
              source: SEED_SOURCE,
              'detail-type': 's3RecordExtraction',
              account: ACCOUNT,
              time: '<time>',
              region: REGION,
              resources: [],
              detail: {
                status: 'extracted',
                headers: 'ID,HouseNum,Street,Town,Zip',
                data: '<id>,7,High Street,<town>,12345',
                run: 'run-user-rule',
                row: 1,
              },
            }),
          },
        },
      ]);
      await t.events.send(
        new PutEventsCommand({ Entries: [appEvent({ id: 901, town: 'Lisburn' }, 'import')] }),
      );
      const items = await eventually(
        () => scanTable(t),
        (all) => all.some((item) => item.id === '901'),
        'the row loaded',
      );
      expect(items.find((item) => item.id === '901')).toMatchObject({
        town: 'Lisburn',
        street_address: 'High Street',
      });
    });

    it('dead-letters at once what a stage does not take (not retried)', async () => {
      sink.create('stage-dlq');
      await rule('wrong-input', { source: [APP], 'detail-type': ['for-load'] }, [
        {
          Id: 'load',
          Arn: stageArn('load'),
          Input: '{"not": "an event"}',
          DeadLetterConfig: { Arn: queueArn('stage-dlq') },
        },
      ]);
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 1 }, 'for-load')] }));
      const [letter] = await eventually(
        async () => sink.messages('stage-dlq'),
        (m) => m.length === 1,
        'the dead letter',
      );
      expect(letter?.attributes).toMatchObject({ TARGET_ARN: stageArn('load'), RETRY_ATTEMPTS: '0' });
      expect(letter?.attributes?.ERROR_MESSAGE).toMatch(/^stage load failed the event: invalid: /);
    });

    it('dead-letters an event for a queue that does not exist at once, as NO_RESOURCE, with AWS attributes', async () => {
      sink.create('dlq');
      await rule('exhausting', { source: [APP] }, [
        {
          Id: 'missing',
          Arn: queueArn('never-created'),
          RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 60 },
          DeadLetterConfig: { Arn: queueArn('dlq') },
        },
      ]);
      const put = await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 'lost' })] }));
      const [letter] = await eventually(
        async () => sink.messages('dlq'),
        (m) => m.length === 1,
        'the dead letter',
      );
      expect(JSON.parse(letter?.body as string)).toMatchObject({
        id: put.Entries?.[0]?.EventId,
        detail: { n: 'lost' },
      });
      expect(letter?.attributes).toMatchObject({
        RULE_ARN: `arn:aws:events:${REGION}:${ACCOUNT}:rule/${t.stack.busName}/exhausting`,
        TARGET_ARN: queueArn('never-created'),
        ERROR_CODE: 'NO_RESOURCE',
        // Not retried (AWS: "if a target resource no longer exists, no retry attempts will happen").
        RETRY_ATTEMPTS: '0',
      });
      // The retry policy did not end it: no EXHAUSTED_RETRY_CONDITION.
      expect(letter?.attributes).not.toHaveProperty('EXHAUSTED_RETRY_CONDITION');
      expect(letter?.attributes?.ERROR_MESSAGE).toMatch(/does not exist/);
    });
  });

  describe('API destinations', () => {
    const endpoint = new Endpoint();
    let url: string;
    beforeAll(async () => {
      url = await endpoint.start();
    });
    afterAll(() => endpoint.close());

    it('creates, describes, lists and deletes connections and API destinations', async () => {
      const connection = await t.events.send(
        new CreateConnectionCommand({
          Name: 'listing',
          AuthorizationType: 'API_KEY',
          AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'x-api-key', ApiKeyValue: 'secret' } },
        }),
      );
      expect(connection.ConnectionState).toBe('AUTHORIZED');
      const described = await t.events.send(new DescribeConnectionCommand({ Name: 'listing' }));
      // As AWS, the secret is not given back.
      expect(described.AuthParameters).toEqual({ ApiKeyAuthParameters: { ApiKeyName: 'x-api-key' } });
      const made = await t.events.send(
        new CreateApiDestinationCommand({
          Name: 'listing',
          ConnectionArn: connection.ConnectionArn,
          InvocationEndpoint: url,
          HttpMethod: 'POST',
          InvocationRateLimitPerSecond: 10,
        }),
      );
      expect(made.ApiDestinationArn).toMatch(
        /^arn:aws:events:us-east-1:000000000000:api-destination\/listing\/[0-9a-f-]{36}$/,
      );
      const again = await failure(
        t.events.send(
          new CreateApiDestinationCommand({
            Name: 'listing',
            ConnectionArn: connection.ConnectionArn,
            InvocationEndpoint: url,
            HttpMethod: 'POST',
          }),
        ),
      );
      expect(again.name).toBe('ResourceAlreadyExistsException');
      expect(await t.events.send(new DescribeApiDestinationCommand({ Name: 'listing' }))).toMatchObject({
        InvocationEndpoint: url,
        HttpMethod: 'POST',
        InvocationRateLimitPerSecond: 10,
        ApiDestinationState: 'ACTIVE',
      });
      const listed = await t.events.send(new ListApiDestinationsCommand({ NamePrefix: 'list' }));
      expect(listed.ApiDestinations?.map((d) => d.Name)).toEqual(['listing']);
      await t.events.send(new DeleteApiDestinationCommand({ Name: 'listing' }));
      const gone = await failure(t.events.send(new DescribeApiDestinationCommand({ Name: 'listing' })));
      expect(gone.name).toBe('ResourceNotFoundException');
    });

    it('POSTs the transformed event with the connection header, retries 5xx, dead-letters a 4xx at once', async () => {
      sink.create('http-dlq');
      const connection = await t.events.send(
        new CreateConnectionCommand({
          Name: 'hook',
          AuthorizationType: 'API_KEY',
          AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'x-api-key', ApiKeyValue: 'secret' } },
        }),
      );
      const destination = await t.events.send(
        new CreateApiDestinationCommand({
          Name: 'hook',
          ConnectionArn: connection.ConnectionArn,
          InvocationEndpoint: url,
          HttpMethod: 'POST',
          InvocationRateLimitPerSecond: 50,
        }),
      );
      await rule('to-http', { source: [APP] }, [
        {
          Id: 'hook',
          Arn: destination.ApiDestinationArn,
          InputTransformer: { InputPathsMap: { n: '$.detail.n' }, InputTemplate: '{"n": <n>}' },
          DeadLetterConfig: { Arn: queueArn('http-dlq') },
        },
      ]);
      endpoint.statuses = [500, 503];
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 1 })] }));
      await eventually(
        async () => endpoint.requests.length,
        (n) => n === 3,
        'two retries then success',
      );
      expect(endpoint.requests.map((r) => [r.method, r.body, r.headers['x-api-key']])).toEqual([
        ['POST', '{"n":1}', 'secret'],
        ['POST', '{"n":1}', 'secret'],
        ['POST', '{"n":1}', 'secret'],
      ]);
      await t.stack.pipeline.bus.whenIdle();
      expect(sink.messages('http-dlq')).toEqual([]);

      endpoint.statuses = [400];
      // The body is not read to its end: a prefix goes into the message, the rest is cancelled.
      endpoint.endlessErrorBody = true;
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 2 })] }));
      const [letter] = await eventually(
        async () => sink.messages('http-dlq'),
        (m) => m.length === 1,
        'the dead letter',
      );
      await t.stack.pipeline.bus.whenIdle();
      // Not retried: one request for the event.
      expect(endpoint.requests.filter((r) => r.body === '{"n":2}')).toHaveLength(1);
      endpoint.endlessErrorBody = false;
      expect(letter?.attributes?.ERROR_MESSAGE).toMatch(/answered HTTP 400: x{500}/);
      expect((letter?.attributes?.ERROR_MESSAGE ?? '').length).toBeLessThan(1_000);
      expect(letter?.attributes).toMatchObject({ ERROR_CODE: 'INVALID_PARAMETER', RETRY_ATTEMPTS: '0' });
      expect(letter?.attributes).not.toHaveProperty('EXHAUSTED_RETRY_CONDITION');
    });

    it('dead-letters an event whose retries run out with MaximumRetryAttempts and the error code', async () => {
      sink.create('retry-dlq');
      const connection = await t.events.send(
        new CreateConnectionCommand({
          Name: 'flaky',
          AuthorizationType: 'API_KEY',
          AuthParameters: { ApiKeyAuthParameters: { ApiKeyName: 'x-api-key', ApiKeyValue: 'k' } },
        }),
      );
      const destination = await t.events.send(
        new CreateApiDestinationCommand({
          Name: 'flaky',
          ConnectionArn: connection.ConnectionArn,
          InvocationEndpoint: url,
          HttpMethod: 'POST',
        }),
      );
      await rule('to-flaky', { source: [APP] }, [
        {
          Id: 'flaky',
          Arn: destination.ApiDestinationArn,
          RetryPolicy: { MaximumRetryAttempts: 1 },
          DeadLetterConfig: { Arn: queueArn('retry-dlq') },
        },
      ]);
      endpoint.statuses = [502, 502];
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 3 })] }));
      const [letter] = await eventually(
        async () => sink.messages('retry-dlq'),
        (m) => m.length === 1,
        'the dead letter',
      );
      expect(letter?.attributes).toMatchObject({
        ERROR_CODE: 'THIRD_PARTY_FAILURE',
        EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts',
        RETRY_ATTEMPTS: '1',
      });
    });
  });
});

describe('user rules across restarts', () => {
  it('keep their rules, targets and API destinations, and recovery delivers to targets that still exist', async () => {
    const sink = new RecordingQueues();
    sink.create('kept');
    let t = await startTestStack({ queueSink: sink });
    const stateDir = t.stateDir;
    try {
      await t.events.send(
        new PutRuleCommand({ Name: 'durable', EventPattern: '{"source": ["my.app"]}', State: 'DISABLED' }),
      );
      await t.events.send(
        new PutTargetsCommand({
          Rule: 'durable',
          Targets: [{ Id: 'kept', Arn: queueArn('kept'), InputPath: '$.detail' }],
        }),
      );
      await t.events.send(new EnableRuleCommand({ Name: 'durable' }));
      const connection = await t.events.send(
        new CreateConnectionCommand({
          Name: 'c',
          AuthorizationType: 'BASIC',
          AuthParameters: { BasicAuthParameters: { Username: 'u', Password: 'p' } },
        }),
      );
      await t.events.send(
        new CreateApiDestinationCommand({
          Name: 'd',
          ConnectionArn: connection.ConnectionArn,
          InvocationEndpoint: 'http://127.0.0.1:9/x',
          HttpMethod: 'PUT',
        }),
      );
    } finally {
      await t.close();
    }
    // What a crash would leave: an event journaled for the kept target and for one removed since.
    const journal = new Journal({ dir: statePaths(stateDir).journal });
    journal.append([
      {
        targets: [userTargetName('durable', 'kept'), userTargetName('durable', 'removed')],
        event: {
          version: '0',
          id: '11111111-2222-3333-4444-555555555555',
          'detail-type': 'order',
          source: APP,
          account: ACCOUNT,
          time: new Date().toISOString().slice(0, 19) + 'Z',
          region: REGION,
          resources: [],
          detail: { recovered: true },
        },
      },
    ]);
    journal.close();

    t = await startTestStack({ queueSink: sink, stateDir });
    try {
      await eventually(
        async () => sink.bodies('kept'),
        (b) => b.length === 1,
        'the recovered event',
      );
      expect(JSON.parse(sink.bodies('kept')[0] as string)).toEqual({ recovered: true });
      const described = await t.events.send(new DescribeRuleCommand({ Name: 'durable' }));
      expect(described).toMatchObject({ State: 'ENABLED', EventPattern: '{"source": ["my.app"]}' });
      const { Targets } = await t.events.send(new ListTargetsByRuleCommand({ Rule: 'durable' }));
      expect(Targets).toEqual([{ Id: 'kept', Arn: queueArn('kept'), InputPath: '$.detail' }]);
      expect(await t.events.send(new DescribeApiDestinationCommand({ Name: 'd' }))).toMatchObject({
        HttpMethod: 'PUT',
      });
      // And the rule goes on delivering.
      await t.events.send(new PutEventsCommand({ Entries: [appEvent({ after: 'restart' })] }));
      await eventually(
        async () => sink.bodies('kept'),
        (b) => b.length === 2,
        'a new event',
      );
      await t.stack.pipeline.bus.whenIdle();
    } finally {
      await t.close();
    }
    // Nothing is left for either target: the removed one's record was acknowledged, not kept forever.
    const after = new Journal({ dir: statePaths(stateDir).journal });
    const pending = [];
    for await (const record of after.pending()) pending.push(record);
    after.close();
    expect(pending).toEqual([]);
    expect(JSON.parse(readFileSync(statePaths(stateDir).userRules, 'utf8'))).toMatchObject({ version: 1 });
  });
});

describe('stopping with a user target still retrying', () => {
  it('does not wait out its retries, and the next start delivers the event', async () => {
    const endpoint = new Endpoint();
    const url = await endpoint.start();
    try {
      endpoint.statuses = Array.from({ length: 1000 }, () => 503);
      let t = await startTestStack();
      const stateDir = t.stateDir;
      try {
        const connection = await t.events.send(
          new CreateConnectionCommand({
            Name: 'c',
            AuthorizationType: 'BASIC',
            AuthParameters: { BasicAuthParameters: { Username: 'u', Password: 'p' } },
          }),
        );
        const destination = await t.events.send(
          new CreateApiDestinationCommand({
            Name: 'down',
            ConnectionArn: connection.ConnectionArn,
            InvocationEndpoint: url,
            HttpMethod: 'POST',
          }),
        );
        await t.events.send(new PutRuleCommand({ Name: 'webhook', EventPattern: '{"source": ["my.app"]}' }));
        await t.events.send(
          new PutTargetsCommand({
            Rule: 'webhook',
            Targets: [{ Id: 'down', Arn: destination.ApiDestinationArn }],
          }),
        );
        await t.events.send(new PutEventsCommand({ Entries: [appEvent({ n: 'patient' })] }));
        await eventually(
          async () => endpoint.requests.length,
          (n) => n >= 2,
          'a retry',
        );
      } finally {
        // With the default RetryPolicy (185 retries over a day) this would not return if it waited.
        await t.close();
      }
      const tried = endpoint.requests.length;
      // Still down at the next start: the start (its recovery) does not wait for the user target.
      t = await startTestStack({ stateDir });
      try {
        await eventually(
          async () => endpoint.requests.length,
          (n) => n > tried,
          'a retry after restart',
        );
      } finally {
        await t.close();
      }
      const triedAgain = endpoint.requests.length;
      endpoint.statuses = [];
      t = await startTestStack({ stateDir });
      try {
        await eventually(
          async () => endpoint.requests.length,
          (n) => n > triedAgain,
          'the delivery after restart',
        );
        await t.stack.pipeline.bus.whenIdle();
        const last = endpoint.requests.at(-1);
        expect(JSON.parse(last?.body as string)).toMatchObject({ source: APP, detail: { n: 'patient' } });
        expect(last?.headers.authorization).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
      } finally {
        await t.close();
      }
    } finally {
      await endpoint.close();
    }
  });
});

describe('a user rules file', () => {
  it('names a user rules file it cannot read, in one line', async () => {
    const first = await startTestStack();
    const stateDir = first.stateDir;
    await first.close();
    writeFileSync(statePaths(stateDir).userRules, '{"version": 1, "rules": "oops"}');
    await expect(startTestStack({ stateDir })).rejects.toThrow(
      new RegExp(
        `^${statePaths(stateDir).userRules.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a user rules file \\(.*\\); fix or delete it$`,
      ),
    );
  });

  it('names the rule whose stored pattern the bus refuses, in one line, rather than failing the start raw', async () => {
    const first = await startTestStack();
    const stateDir = first.stateDir;
    await first.close();
    const rule = {
      Name: 'edited',
      EventPattern: '{"source": "my.app"}',
      State: 'ENABLED',
      Targets: [{ Id: 'log', Arn: `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:g` }],
    };
    writeFileSync(
      statePaths(stateDir).userRules,
      JSON.stringify({ version: 1, rules: [rule], connections: [], apiDestinations: [] }),
    );
    const refused = await startTestStack({ stateDir }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(UserRulesFileError);
    expect((refused as Error).message).toMatch(
      /: rule edited has an event pattern the bus refuses \(.+\); fix/,
    );
    expect((refused as Error).message).not.toContain('\n');
  });
});
