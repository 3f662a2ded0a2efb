import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  AwsChunkedDecoder,
  isAwsChunked,
  withoutAwsChunked,
} from '../../src/runtime/local/edge/aws-chunked.ts';
import { type IngestObject, ObjectIngest } from '../../src/runtime/local/edge/ingest.ts';

/** Frames `body` the way SDKs do: chunks of `size`, optional signatures, a zero chunk, trailers. */
function frame(body: Buffer, size: number, options: { signed?: boolean; trailers?: string[] } = {}): Buffer {
  const sig = options.signed ? `;chunk-signature=${'a'.repeat(64)}` : '';
  const parts: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) {
    const chunk = body.subarray(i, i + size);
    parts.push(Buffer.from(`${chunk.length.toString(16)}${sig}\r\n`), chunk, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`0${sig}\r\n`));
  for (const trailer of options.trailers ?? []) parts.push(Buffer.from(`${trailer}\r\n`));
  parts.push(Buffer.from('\r\n'));
  return Buffer.concat(parts);
}

async function decode(
  encoded: Buffer,
  pieceSize: number,
): Promise<{ body: Buffer; trailers: Record<string, string> }> {
  const pieces: Buffer[] = [];
  for (let i = 0; i < encoded.length; i += pieceSize) pieces.push(encoded.subarray(i, i + pieceSize));
  const decoder = new AwsChunkedDecoder();
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(pieces).pipe(decoder)) out.push(chunk as Buffer);
  return { body: Buffer.concat(out), trailers: decoder.trailers };
}

describe('aws-chunked decoding', () => {
  const body = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));

  it.each<[string, number, { signed?: boolean; trailers?: string[] }]>([
    ['unsigned with a trailer, fed a byte at a time', 1, { trailers: ['x-amz-checksum-crc32:AAAAAA=='] }],
    ['signed, fed in odd pieces', 13, { signed: true }],
    [
      'signed with trailers, fed whole',
      1 << 20,
      { signed: true, trailers: ['x-amz-checksum-crc32:Zm9v', 'x-amz-trailer-signature:abc'] },
    ],
  ])('%s', async (_, pieceSize, options) => {
    const decoded = await decode(frame(body, 1024, options), pieceSize);
    expect(decoded.body.equals(body)).toBe(true);
    const checksum = options.trailers?.find((line) => line.startsWith('x-amz-checksum-crc32:'));
    expect(decoded.trailers['x-amz-checksum-crc32']).toBe(checksum?.split(':')[1]);
  });

  it('fails a body cut short, and a chunk longer than its size', async () => {
    const encoded = frame(body, 1024);
    await expect(decode(encoded.subarray(0, 3000), 100)).rejects.toThrow(/ended before its last chunk/);
    const lying = Buffer.concat([Buffer.from('2\r\nabc\r\n0\r\n\r\n')]);
    await expect(decode(lying, 4)).rejects.toThrow(/longer than its size/);
  });

  it('recognises aws-chunked requests and keeps any other content encoding', () => {
    expect(isAwsChunked({ 'content-encoding': 'aws-chunked' })).toBe(true);
    expect(isAwsChunked({ 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' })).toBe(true);
    expect(isAwsChunked({ 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-encoding': 'gzip' })).toBe(
      false,
    );
    expect(withoutAwsChunked('aws-chunked')).toBeUndefined();
    expect(withoutAwsChunked('aws-chunked,gzip')).toBe('gzip');
  });
});

describe('ObjectIngest', () => {
  const object = (key: string): IngestObject => ({ bucket: 'b', key, etag: key });

  it('processes objects one at a time in order, carries on after a failure, and reports it', async () => {
    const started: string[] = [];
    let running = 0;
    let most = 0;
    const failed: string[] = [];
    const ingest = new ObjectIngest(
      async (o) => {
        started.push(o.key);
        running++;
        most = Math.max(most, running);
        await new Promise((resolve) => setImmediate(resolve));
        running--;
        if (o.key === 'b') throw new Error('boom');
      },
      { onError: (o) => failed.push(o.key) },
    );
    for (const key of ['a', 'b', 'c']) ingest.submit(object(key));
    await ingest.onIdle();
    expect(started).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
    expect(failed).toEqual(['b']);
  });

  it('close() lets the object under way finish and hands back the ones never started', async () => {
    let release: () => void = () => {};
    const done: string[] = [];
    const ingest = new ObjectIngest(async (o) => {
      await new Promise<void>((resolve) => (release = resolve));
      done.push(o.key);
    });
    ingest.submit(object('first'));
    ingest.submit(object('second'));
    const closing = ingest.close();
    ingest.submit(object('after-close'));
    release();
    expect((await closing).map((o) => o.key)).toEqual(['second']);
    expect(done).toEqual(['first']);
  });
});

describe('ObjectIngest with a journal', () => {
  it('finds again, in a new process, the notifications a crash caught queued or in progress', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const journal = join(mkdtempSync(join(tmpdir(), 'ingest-')), 'ingest.ndjson');
    const a = { bucket: 'b', key: 'a.csv', etag: '1' };
    const b = { bucket: 'b', key: 'b.csv', etag: '2' };
    const c = { bucket: 'b', key: 'c.csv', etag: '3' };
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((resolve) => (release = resolve));
    const done: string[] = [];
    // The first process finishes a, is stuck in b, and has c queued when it "dies".
    const first = new ObjectIngest(
      async (o) => {
        if (o.key === 'b.csv') await blocked;
        done.push(o.key);
      },
      { journal },
    );
    expect(first.unfinished).toEqual([]);
    first.submit(a);
    await first.onIdle();
    first.submit(b);
    first.submit(c);
    expect(done).toEqual(['a.csv']);

    const second = new ObjectIngest(async () => undefined, { journal });
    expect(second.unfinished).toEqual([b, c]);
    // Still pending if the second dies before taking them on; done once processed.
    expect(new ObjectIngest(async () => undefined, { journal }).unfinished).toEqual([b, c]);
    const third = new ObjectIngest(async () => undefined, { journal });
    for (const o of third.unfinished) third.submit(o);
    await third.onIdle();
    expect(new ObjectIngest(async () => undefined, { journal }).unfinished).toEqual([]);
    release();
  });
});
