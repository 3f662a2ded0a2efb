import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CreateEventBusCommand,
  DescribeEventBusCommand,
  DescribeRuleCommand,
  EventBridgeServiceException,
  InvalidEventPatternException,
  ListEventBusesCommand,
  ListRulesCommand,
  ListTargetsByRuleCommand,
  PutEventsCommand,
  type PutEventsRequestEntry,
  ResourceNotFoundException,
  TestEventPatternCommand,
} from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, scanTable, SEED_SOURCE, startTestStack, type TestStack } from './support.ts';

const SEED_PATTERNS = {
  transformRule: {
    source: [SEED_SOURCE],
    'detail-type': ['s3RecordExtraction'],
    detail: { status: ['extracted'] },
  },
  loadRule: { source: [SEED_SOURCE], 'detail-type': ['transform'], detail: { status: ['transformed'] } },
  observeRule: { source: [SEED_SOURCE] },
};

const EVENT = JSON.stringify({
  id: '7b0c2f3e-0000-0000-0000-000000000000',
  account: '000000000000',
  source: SEED_SOURCE,
  time: '2024-05-01T12:00:00Z',
  region: 'us-east-1',
  resources: [],
  'detail-type': 's3RecordExtraction',
  detail: { status: 'extracted' },
});

function entry(detail: unknown, extra: Partial<PutEventsRequestEntry> = {}): PutEventsRequestEntry {
  return {
    Source: 'edge.test',
    DetailType: 'probe',
    Detail: typeof detail === 'string' ? detail : JSON.stringify(detail),
    ...extra,
  };
}

async function failure(promise: Promise<unknown>): Promise<EventBridgeServiceException> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EventBridgeServiceException);
  return error as EventBridgeServiceException;
}

describe('the EventBridge API on the edge', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  describe('PutEvents', () => {
    it('refuses 11 entries as a whole with a ValidationException', async () => {
      const error = await failure(
        t.events.send(new PutEventsCommand({ Entries: Array.from({ length: 11 }, (_, i) => entry({ i })) })),
      );
      expect(error.name).toBe('ValidationException');
      expect(error.$metadata.httpStatusCode).toBe(400);
      expect(error.message).toMatch(/less than or equal to 10/);
    });

    it('refuses a request whose entries total more than 256 KB', async () => {
      const big = 'x'.repeat(100 * 1024);
      const error = await failure(
        t.events.send(new PutEventsCommand({ Entries: [1, 2, 3].map(() => entry({ big })) })),
      );
      expect(error.name).toBe('ValidationException');
      expect(error.message).toBe('Total size of the entries in the request is over the limit.');
    });

    it('fails a malformed Detail alone: FailedEntryCount 1, the other entries get event ids', async () => {
      const result = await t.events.send(
        new PutEventsCommand({ Entries: [entry({ n: 1 }), entry('{"not": json'), entry({ n: 3 })] }),
      );
      expect(result.FailedEntryCount).toBe(1);
      expect(result.Entries?.[1]).toEqual({
        ErrorCode: 'MalformedDetail',
        ErrorMessage: 'Detail is malformed.',
      });
      expect(result.Entries?.[0]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(result.Entries?.[2]?.EventId).toMatch(/^[0-9a-f-]{36}$/);
      expect(result.Entries?.[0]?.ErrorCode).toBeUndefined();
    });

    it('takes the default bus and the pipeline bus by name or ARN; an unknown bus fails its entries alone', async () => {
      const [defaultBus, pipelineBus] = (await t.events.send(new ListEventBusesCommand({}))).EventBuses ?? [];
      const result = await t.events.send(
        new PutEventsCommand({
          Entries: [
            entry({ n: 1 }),
            entry({ n: 2 }, { EventBusName: 'default' }),
            entry({ n: 3 }, { EventBusName: t.stack.busName }),
            entry({ n: 4 }, { EventBusName: pipelineBus?.Arn ?? '' }),
            entry({ n: 5 }, { EventBusName: defaultBus?.Arn ?? '' }),
            entry({ n: 6 }, { EventBusName: 'no-such-bus' }),
          ],
        }),
      );
      expect(result.FailedEntryCount).toBe(1);
      expect(result.Entries?.slice(0, 5).every((e) => e.EventId && !e.ErrorCode)).toBe(true);
      expect(result.Entries?.[5]).toEqual({
        ErrorCode: 'ResourceNotFoundException',
        ErrorMessage: 'Event bus no-such-bus does not exist.',
      });
    });

    it('reports missing Source, DetailType or Detail per entry', async () => {
      const result = await t.events.send(
        new PutEventsCommand({ Entries: [{ Source: 'edge.test', Detail: '{}' }, entry({ ok: true })] }),
      );
      expect(result.FailedEntryCount).toBe(1);
      expect(result.Entries?.[0]?.ErrorCode).toBe('InvalidArgument');
    });

    it('injects events into the running pipeline: an s3RecordExtraction row is transformed and loaded', async () => {
      const result = await t.events.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: SEED_SOURCE,
              DetailType: 's3RecordExtraction',
              Detail: JSON.stringify({
                status: 'extracted',
                headers: 'ID,HouseNum,Street,Town,Zip',
                data: '901,9,Harbour Road,Portrush,55555',
                run: 'run-injected-by-hand',
                row: 1,
              }),
            },
          ],
        }),
      );
      expect(result.FailedEntryCount).toBe(0);
      const items = await eventually(
        () => scanTable(t),
        (found) => found.some((i) => i.id === '901'),
        'the injected row to be loaded',
      );
      expect(items.find((i) => i.id === '901')).toEqual({
        id: '901',
        house_number: '9',
        street_address: 'Harbour Road',
        town: 'Portrush',
        zip: '55555',
      });
    });

    it('accepts, as AWS does, an event whose run id could not name a file, and writes nothing outside the state', async () => {
      const result = await t.events.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: SEED_SOURCE,
              DetailType: 's3RecordExtraction',
              Detail: JSON.stringify({
                status: 'extracted',
                headers: 'ID',
                data: '1',
                run: '../../escape',
                row: 1,
              }),
            },
          ],
        }),
      );
      expect(result.FailedEntryCount).toBe(0);
      await t.stack.pipeline.bus.whenIdle();
      // The stack is still up and the event's run never became a path.
      expect(existsSync(join(t.stateDir, '..', 'escape'))).toBe(false);
      expect(existsSync(join(t.stateDir, 'runs', '..', '..', 'escape'))).toBe(false);
      const after = await t.events.send(new ListEventBusesCommand({}));
      expect(after.EventBuses?.length).toBeGreaterThan(0);
    });
  });

  describe('TestEventPattern', () => {
    it('answers true and false', async () => {
      const matching = await t.events.send(
        new TestEventPatternCommand({
          EventPattern: JSON.stringify(SEED_PATTERNS.transformRule),
          Event: EVENT,
        }),
      );
      expect(matching.Result).toBe(true);
      const other = await t.events.send(
        new TestEventPatternCommand({ EventPattern: JSON.stringify(SEED_PATTERNS.loadRule), Event: EVENT }),
      );
      expect(other.Result).toBe(false);
    });

    it('raises InvalidEventPatternException for an invalid pattern', async () => {
      const error = await failure(
        t.events.send(
          new TestEventPatternCommand({ EventPattern: '{"source": "not-an-array"}', Event: EVENT }),
        ),
      );
      expect(error).toBeInstanceOf(InvalidEventPatternException);
      expect(error.message).toMatch(/^Event pattern is not valid\. Reason: /);
      expect(error.$metadata.httpStatusCode).toBe(400);
    });

    it('raises a ValidationException for an event missing envelope fields', async () => {
      const error = await failure(
        t.events.send(
          new TestEventPatternCommand({ EventPattern: '{"source": ["x"]}', Event: '{"source": "x"}' }),
        ),
      );
      expect(error.name).toBe('ValidationException');
      expect(error.message).toMatch(/^Parameter Event is not valid\./);
    });
  });

  describe('rules and buses', () => {
    it("lists the seed's rules with their exact patterns, on the default bus name as on the pipeline's", async () => {
      for (const EventBusName of [undefined, 'default', t.stack.busName]) {
        const { Rules = [] } = await t.events.send(new ListRulesCommand({ EventBusName }));
        const byName = Object.fromEntries(Rules.map((r) => [r.Name, r]));
        for (const [name, pattern] of Object.entries(SEED_PATTERNS)) {
          expect(JSON.parse(byName[name]?.EventPattern ?? 'null')).toEqual(pattern);
          expect(byName[name]?.State).toBe('ENABLED');
          expect(byName[name]?.EventBusName).toBe(t.stack.busName);
        }
        expect(byName.transformRule?.Description).toBe('Data extracted from S3, Needs transformed');
      }
    });

    it('filters by NamePrefix and pages with Limit and NextToken', async () => {
      const prefixed = await t.events.send(new ListRulesCommand({ NamePrefix: 'lo' }));
      expect(prefixed.Rules?.map((r) => r.Name)).toEqual(['loadRule']);

      const names: string[] = [];
      let NextToken: string | undefined;
      let pages = 0;
      do {
        const page = await t.events.send(new ListRulesCommand({ Limit: 1, NextToken }));
        names.push(...(page.Rules ?? []).map((r) => r.Name ?? ''));
        NextToken = page.NextToken;
        pages++;
      } while (NextToken);
      const all = (await t.events.send(new ListRulesCommand({}))).Rules?.map((r) => r.Name);
      expect(names).toEqual(all);
      expect(pages).toBe(all?.length);
    });

    it('raises ResourceNotFoundException for a bus that does not exist', async () => {
      const error = await failure(t.events.send(new ListRulesCommand({ EventBusName: 'no-such-bus' })));
      expect(error).toBeInstanceOf(ResourceNotFoundException);
      expect(error.message).toBe('Event bus no-such-bus does not exist.');
    });

    it('describes a rule and lists its target', async () => {
      const rule = await t.events.send(new DescribeRuleCommand({ Name: 'loadRule' }));
      expect(rule).toMatchObject({
        Name: 'loadRule',
        Arn: `arn:aws:events:us-east-1:000000000000:rule/${t.stack.busName}/loadRule`,
        State: 'ENABLED',
        EventBusName: t.stack.busName,
        Description: 'Data transformed, Needs loaded into dynamodb',
      });
      expect(JSON.parse(rule.EventPattern ?? '')).toEqual(SEED_PATTERNS.loadRule);

      const targets = await t.events.send(new ListTargetsByRuleCommand({ Rule: 'transformRule' }));
      expect(targets.Targets).toEqual([
        { Id: 'transform', Arn: 'arn:aws:lambda:us-east-1:000000000000:function:transform' },
      ]);
    });

    it('raises ResourceNotFoundException for a rule that does not exist', async () => {
      const describeError = await failure(t.events.send(new DescribeRuleCommand({ Name: 'noSuchRule' })));
      expect(describeError).toBeInstanceOf(ResourceNotFoundException);
      expect(describeError.message).toBe('Rule noSuchRule does not exist on EventBus default.');
      const targetsError = await failure(t.events.send(new ListTargetsByRuleCommand({ Rule: 'noSuchRule' })));
      expect(targetsError).toBeInstanceOf(ResourceNotFoundException);
    });

    it('lists and describes the buses', async () => {
      const { EventBuses } = await t.events.send(new ListEventBusesCommand({}));
      expect(EventBuses).toEqual([
        { Name: 'default', Arn: 'arn:aws:events:us-east-1:000000000000:event-bus/default' },
        {
          Name: t.stack.busName,
          Arn: `arn:aws:events:us-east-1:000000000000:event-bus/${t.stack.busName}`,
        },
      ]);
      const described = await t.events.send(new DescribeEventBusCommand({ Name: t.stack.busName }));
      expect(described.Name).toBe(t.stack.busName);
    });

    it('answers operations it does not offer with UnknownOperationException', async () => {
      const error = await failure(t.events.send(new CreateEventBusCommand({ Name: 'another' })));
      expect(error.name).toBe('UnknownOperationException');
      expect(error.message).toMatch(/AWSEvents\.CreateEventBus is not offered/);
    });
  });
});
