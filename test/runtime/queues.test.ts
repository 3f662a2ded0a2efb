/**
 * The queue store's files: what a process that stops without warning leaves is read back whole,
 * consumed segments go, and the window keeps memory bounded while every message is delivered once.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { md5OfMessageAttributes, QueueStore, type ReceivedMessage } from '../../src/runtime/local/queues.ts';
import { tempDir } from '../support/cli.ts';

const account = '000000000000';
const region = 'us-east-1';

function open(dir: string, limits = { segmentBytes: 4_096, changesPerSnapshot: 50 }): QueueStore {
  return new QueueStore({ dir, account, region, limits });
}

async function drain(
  store: QueueStore,
  name: string,
  options: { delete: boolean },
): Promise<ReceivedMessage[]> {
  const queue = store.get(name);
  if (!queue) throw new Error(`no queue ${name}`);
  const all: ReceivedMessage[] = [];
  for (;;) {
    const batch = await queue.receive({ max: 10, waitSeconds: 0 });
    if (batch.length === 0) return all;
    all.push(...batch);
    if (options.delete) for (const m of batch) queue.deleteMessage(m.receiptHandle);
  }
}

describe('the queue store', () => {
  it('reads back what a process left without closing: messages, receives, deletes, handles', async () => {
    const dir = join(tempDir('etl-queues-'), 'queues');
    const first = open(dir);
    const queue = first.create('jobs', { VisibilityTimeout: '600' });
    for (let i = 0; i < 300; i++) queue.send({ body: `job ${i} ${'x'.repeat(50)}` });
    const received = await queue.receive({ max: 10 });
    for (const m of received.slice(0, 5)) queue.deleteMessage(m.receiptHandle);
    const kept = received.slice(5);
    expect(queue.counts()).toEqual({ visible: 290, inFlight: 5, delayed: 0 });
    // Many segments of 4 KB; the first is still needed (messages in flight).
    const segments = readdirSync(join(dir, 'jobs')).filter((n) => n.startsWith('messages-'));
    expect(segments.length).toBeGreaterThan(3);

    // No close: as after kill -9 (appends are synchronous, so everything is in the files).
    const second = open(dir);
    const again = second.get('jobs');
    expect(again?.attributes.VisibilityTimeout).toBe('600');
    expect(again?.counts()).toEqual({ visible: 290, inFlight: 5, delayed: 0 });
    for (const m of kept) again?.deleteMessage(m.receiptHandle);
    expect(again?.counts()).toEqual({ visible: 290, inFlight: 0, delayed: 0 });
    const rest = await drain(second, 'jobs', { delete: true });
    const bodies = new Set([...received, ...rest].map((m) => m.body));
    expect(rest).toHaveLength(290);
    expect(bodies.size).toBe(300);
    // Every segment consumed is gone; the one being written to stays.
    expect(readdirSync(join(dir, 'jobs')).filter((n) => n.startsWith('messages-'))).toHaveLength(1);

    const third = open(dir);
    expect(third.get('jobs')?.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    expect(await drain(third, 'jobs', { delete: false })).toEqual([]);
  });

  it('keeps receive counts and the window across snapshots and reopenings', async () => {
    const dir = join(tempDir('etl-queues-'), 'queues');
    const store = open(dir, { segmentBytes: 1_000_000, changesPerSnapshot: 7 });
    const queue = store.create('counted', {});
    for (let i = 0; i < 2_500; i++) queue.send({ body: `m${i}` });
    // Visible again at once: each receive counts.
    for (let round = 1; round <= 3; round++) {
      const got = await queue.receive({ max: 3, visibilityTimeout: 0 });
      expect(got.map((m) => [m.body, m.receiveCount])).toEqual([
        ['m0', round],
        ['m1', round],
        ['m2', round],
      ]);
    }
    const reopened = open(dir, { segmentBytes: 1_000_000, changesPerSnapshot: 7 }).get('counted');
    const next = await reopened?.receive({ max: 4, visibilityTimeout: 600 });
    expect(next?.map((m) => [m.body, m.receiveCount])).toEqual([
      ['m0', 4],
      ['m1', 4],
      ['m2', 4],
      ['m3', 1],
    ]);
    expect(reopened?.counts()).toEqual({ visible: 2_496, inFlight: 4, delayed: 0 });
  });

  it('drops messages past their retention period, read or not, and their segments with them', async () => {
    const dir = join(tempDir('etl-queues-'), 'queues');
    const store = open(dir, { segmentBytes: 2_000, changesPerSnapshot: 50 });
    const queue = store.create('short-lived', { MessageRetentionPeriod: '60' });
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      // More than the window takes: 500 are never read before they expire.
      for (let i = 0; i < 1_500; i++) queue.send({ body: `old ${i} ${'x'.repeat(40)}` });
      const [inFlight] = await queue.receive({ max: 1, visibilityTimeout: 600 });
      expect(inFlight?.body).toMatch(/^old 0 /);
      expect(
        readdirSync(join(dir, 'short-lived')).filter((n) => n.startsWith('messages-')).length,
      ).toBeGreaterThan(5);
      vi.setSystemTime(Date.now() + 61_000);
      expect(queue.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
      queue.send({ body: 'fresh' });
      expect(queue.counts()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
      const received = await queue.receive({ max: 10 });
      expect(received.map((m) => m.body)).toEqual(['fresh']);
      // Only the segment written to now is left.
      expect(readdirSync(join(dir, 'short-lived')).filter((n) => n.startsWith('messages-'))).toHaveLength(1);
      queue.deleteMessage(received[0]?.receiptHandle as string);
      // Read back (without a close): nothing left, and a new message is not taken for a deleted one.
      const again = open(dir, { segmentBytes: 2_000, changesPerSnapshot: 50 }).get('short-lived');
      expect(again?.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
      again?.send({ body: 'next' });
      const third = open(dir, { segmentBytes: 2_000, changesPerSnapshot: 50 }).get('short-lived');
      expect((await third?.receive({ max: 10 }))?.map((m) => m.body)).toEqual(['next']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('keeps a deleted message deleted after a stop without close, once nothing unread is left', async () => {
    const dir = join(tempDir('etl-queues-'), 'queues');
    const queue = open(dir).create('once', { VisibilityTimeout: '0' });
    queue.send({ body: 'm0' });
    await queue.receive({ max: 1 });
    const [again] = await queue.receive({ max: 1 });
    if (!again) throw new Error('m0 not received twice');
    queue.deleteMessage(again.receiptHandle);

    // No close: as after kill -9.
    const reopened = open(dir).get('once');
    expect(reopened?.counts()).toEqual({ visible: 0, inFlight: 0, delayed: 0 });
    reopened?.send({ body: 'm1' });
    expect((await reopened?.receive({ max: 10 }))?.map((m) => m.body)).toEqual(['m1']);
  });

  it('delivers every message exactly as sent, deleted or not, across random stops (seeded)', async () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let trial = 0; trial < 15; trial++) {
      const dir = join(tempDir('etl-queues-'), 'queues');
      const limits = { segmentBytes: 200, changesPerSnapshot: 1 + Math.floor(random() * 6) };
      let store = open(dir, limits);
      store.create('q', { VisibilityTimeout: '0' });
      const live = new Set<string>();
      const handles: { handle: string; body: string }[] = [];
      let sent = 0;
      for (let step = 0; step < 200; step++) {
        const queue = store.get('q');
        if (!queue) throw new Error('queue gone');
        const r = random();
        if (r < 0.4) {
          const body = `m${sent++}`;
          queue.send({ body });
          live.add(body);
        } else if (r < 0.65) {
          const got = await queue.receive({
            max: 1 + Math.floor(random() * 10),
            waitSeconds: 0,
            visibilityTimeout: random() < 0.5 ? 0 : 100,
          });
          for (const m of got) {
            expect(live, `trial ${trial} step ${step}: ${m.body} came back`).toContain(m.body);
            handles.push({ handle: m.receiptHandle, body: m.body });
          }
        } else if (r < 0.85 && handles.length > 0) {
          const [{ handle, body }] = handles.splice(Math.floor(random() * handles.length), 1) as [
            { handle: string; body: string },
          ];
          const before = queue.size;
          queue.deleteMessage(handle);
          if (queue.size < before) live.delete(body);
        } else if (r < 0.95) {
          if (random() < 0.5) store.close();
          store = open(dir, limits);
        }
        expect(store.get('q')?.size, `trial ${trial} step ${step}`).toBe(live.size);
      }
    }
  });

  it('cuts a line torn by a crash off a segment and the change log, so the next appends are read back', async () => {
    const dir = join(tempDir('etl-queues-'), 'queues');
    const queue = open(dir).create('torn', { VisibilityTimeout: '0' });
    queue.send({ body: 'one' });
    await queue.receive({ max: 1 });
    const files = readdirSync(join(dir, 'torn'));
    const segment = files.find((n) => n.startsWith('messages-')) as string;
    // A send and a change torn mid-write (kill -9, disk full).
    appendFileSync(join(dir, 'torn', segment), '{"s":2,"i":"x","t":1,"v":1,"b":"tw');
    appendFileSync(join(dir, 'torn', 'changes.ndjson'), '{"n":99,"s":1,"x"');

    const second = open(dir).get('torn');
    second?.send({ body: 'acknowledged after restart' });
    const [one] = (await second?.receive({ max: 1, visibilityTimeout: 100 })) ?? [];
    // Received again after the restart: its receive count (from the change log) goes on.
    expect(one?.body).toBe('one');
    second?.deleteMessage(one?.receiptHandle ?? '');

    const third = open(dir).get('torn');
    expect(third?.size).toBe(1);
    expect((await third?.receive({ max: 10 }))?.map((m) => m.body)).toEqual(['acknowledged after restart']);
  });

  it("refuses a move from a queue deleted since (its name made again): the new queue's messages stay", async () => {
    const dir = join(tempDir('etl-queues-'), 'queues');
    let store = open(dir);
    const before = store.create('d', {});
    for (let i = 0; i < 5; i++) before.send({ body: `old-${i}` });
    store.delete('d');
    const again = store.create('d', {});
    for (let i = 0; i < 5; i++) again.send({ body: `new-${i}` });
    const moved: string[] = [];
    // What a move task's next batch does with the queue it began with.
    expect(() =>
      before.drain((message) => {
        moved.push(message.body);
        return true;
      }, 5),
    ).toThrow('The specified queue does not exist.');
    expect(moved).toEqual([]);
    store.close();
    store = open(dir);
    const bodies = (await drain(store, 'd', { delete: false })).map((m) => m.body);
    expect(bodies).toEqual(['new-0', 'new-1', 'new-2', 'new-3', 'new-4']);
    store.close();
  });

  it('computes the MD5OfMessageAttributes other SQS implementations publish in their tests', () => {
    // sqslite (wcharczuk/sqslite, md5_test.go) and LocalStack (test_sqs_message_attrs_md5).
    expect(
      md5OfMessageAttributes({
        ordinal: { DataType: 'Number', StringValue: '1' },
        category: { DataType: 'String', StringValue: 'test' },
      }),
    ).toBe('d21ae90c49061e927f57df5f5d72be1f');
    expect(md5OfMessageAttributes({ timestamp: { DataType: 'Number', StringValue: '1493147359900' } })).toBe(
      '235c5c510d26fb653d073faed50ae77c',
    );
  });

  it('computes MD5OfMessageAttributes as SQS documents it: names sorted, each part length-prefixed', () => {
    const part = (bytes: Buffer): Buffer => {
      const length = Buffer.alloc(4);
      length.writeUInt32BE(bytes.length);
      return Buffer.concat([length, bytes]);
    };
    const text = (s: string): Buffer => part(Buffer.from(s, 'utf8'));
    const expected = createHash('md5')
      .update(Buffer.concat([text('alpha'), text('Binary'), Buffer.from([2]), part(Buffer.from([0, 255]))]))
      .update(Buffer.concat([text('beta'), text('Number'), Buffer.from([1]), text('12.5')]))
      .digest('hex');
    expect(
      md5OfMessageAttributes({
        beta: { DataType: 'Number', StringValue: '12.5' },
        alpha: { DataType: 'Binary', BinaryValue: Buffer.from([0, 255]).toString('base64') },
      }),
    ).toBe(expected);
  });
});
