/**
 * `Content-Encoding: aws-chunked`: how SDKs stream an S3 upload of unknown length, or one with a
 * trailing checksum (SDK v3's default for stream bodies since the 2025 checksum change). The body is
 * a series of `<hex size>[;chunk-signature=...]\r\n<bytes>\r\n`, a zero-size chunk, then optional
 * trailer lines (`x-amz-checksum-crc32:...`) and a blank line. s3rver does not decode it, so the edge
 * does, before the object reaches the store.
 */
import { Transform, type TransformCallback } from 'node:stream';

/** Whether a request's body is aws-chunked (by its encoding, or by its streaming payload hash). */
export function isAwsChunked(headers: Record<string, string | string[] | undefined>): boolean {
  const encoding = String(headers['content-encoding'] ?? '').toLowerCase();
  const payload = String(headers['x-amz-content-sha256'] ?? '');
  return (
    encoding
      .split(',')
      .map((e) => e.trim())
      .includes('aws-chunked') || payload.startsWith('STREAMING-')
  );
}

/** The Content-Encoding to keep once aws-chunked is decoded (undefined when nothing else is left). */
export function withoutAwsChunked(encoding: string | undefined): string | undefined {
  if (!encoding) return undefined;
  const rest = encoding
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e && e.toLowerCase() !== 'aws-chunked');
  return rest.length > 0 ? rest.join(', ') : undefined;
}

export class AwsChunkedError extends Error {
  override readonly name = 'AwsChunkedError';
}

/** Longest chunk header line we accept (size, extensions, signature). */
const MAX_LINE = 4096;

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

/** Decodes an aws-chunked body into the object's bytes; trailers are parsed and kept in `trailers`. */
export class AwsChunkedDecoder extends Transform {
  readonly trailers: Record<string, string> = {};
  private state: State = 'size';
  private pending: Buffer = Buffer.alloc(0);
  private remaining = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.consume(this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk);
      callback();
    } catch (error) {
      callback(error as Error);
    }
  }

  override _flush(callback: TransformCallback): void {
    // Lenient about a missing blank line after the trailers; not about missing data.
    if (this.state === 'done' || this.state === 'trailer') callback();
    else callback(new AwsChunkedError('the aws-chunked body ended before its last chunk'));
  }

  private consume(buffer: Buffer): void {
    let offset = 0;
    while (offset < buffer.length) {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, buffer.length - offset);
        this.push(buffer.subarray(offset, offset + take));
        offset += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'data-end';
        continue;
      }
      if (this.state === 'done') {
        // Anything after the final blank line is not part of the body.
        offset = buffer.length;
        break;
      }
      const end = buffer.indexOf('\r\n', offset);
      if (end === -1) {
        if (buffer.length - offset > MAX_LINE) throw new AwsChunkedError('an aws-chunked line is too long');
        break;
      }
      const line = buffer.subarray(offset, end).toString('latin1');
      offset = end + 2;
      this.line(line);
    }
    this.pending = Buffer.from(buffer.subarray(offset));
  }

  private line(line: string): void {
    switch (this.state) {
      case 'data-end':
        if (line !== '') throw new AwsChunkedError('an aws-chunked chunk is longer than its size');
        this.state = 'size';
        return;
      case 'size': {
        const hex = line.split(';', 1)[0]?.trim() ?? '';
        if (!/^[0-9a-fA-F]{1,16}$/.test(hex))
          throw new AwsChunkedError(`bad aws-chunked size line "${line}"`);
        const size = Number.parseInt(hex, 16);
        if (size === 0) this.state = 'trailer';
        else {
          this.remaining = size;
          this.state = 'data';
        }
        return;
      }
      case 'trailer': {
        if (line === '') {
          this.state = 'done';
          return;
        }
        const colon = line.indexOf(':');
        if (colon > 0)
          this.trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
        return;
      }
      default:
        return;
    }
  }
}
