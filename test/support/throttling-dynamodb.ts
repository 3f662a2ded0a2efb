/**
 * An HTTP proxy in front of dynalite that throttles BatchWriteItem the two ways DynamoDB does: it
 * answers a request with ProvisionedThroughputExceededException, or it writes part of a batch and
 * hands the rest back as UnprocessedItems. Every other request passes through untouched. Faults
 * are per item (by its key), so a row stays unwritten until it has been tried often enough,
 * however the runtime batches and retries it.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ThrottleSchedule {
  /** Answer the first this-many BatchWriteItem requests with ProvisionedThroughputExceededException. */
  throttledRequests?: number;
  /** Leave each item unprocessed the first this-many times it is sent. */
  unprocessedSightings?: number;
  /** The key attribute that names an item. */
  key: string;
  /** Only items with these key values (strings) are left unprocessed; the rest are written. */
  onlyKeys?: readonly string[];
}

export interface ThrottlingDynamo {
  endpoint: string;
  readonly throttled: number;
  readonly unprocessed: number;
  close(): Promise<void>;
}

type WriteRequest = { PutRequest?: { Item?: Record<string, unknown> } };

export async function startThrottlingDynamo(
  target: string,
  schedule: ThrottleSchedule,
): Promise<ThrottlingDynamo> {
  const upstream = new URL(target);
  const sightings = new Map<string, number>();
  let throttled = 0;
  let unprocessed = 0;
  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, 'content-length': String(body.length) };
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 500,
              headers: Object.fromEntries(
                Object.entries(res.headers).filter(
                  ([k]) => k !== 'content-length' && k !== 'transfer-encoding',
                ),
              ) as Record<string, string>,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        let body = Buffer.concat(chunks);
        const isBatchWrite = req.headers['x-amz-target'] === 'DynamoDB_20120810.BatchWriteItem';
        if (isBatchWrite && throttled < (schedule.throttledRequests ?? 0)) {
          throttled++;
          const error = JSON.stringify({
            __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
            message: 'The level of configured provisioned throughput for the table was exceeded.',
          });
          res.writeHead(400, {
            'content-type': 'application/x-amz-json-1.0',
            'content-length': Buffer.byteLength(error),
          });
          res.end(error);
          return;
        }
        const held: Record<string, WriteRequest[]> = {};
        if (isBatchWrite && schedule.unprocessedSightings) {
          const parsed = JSON.parse(body.toString('utf8')) as {
            RequestItems: Record<string, WriteRequest[]>;
          };
          const kept: Record<string, WriteRequest[]> = {};
          for (const [table, requests] of Object.entries(parsed.RequestItems)) {
            for (const request of requests) {
              const keyValue = request.PutRequest?.Item?.[schedule.key] as { S?: string } | undefined;
              if (schedule.onlyKeys && !schedule.onlyKeys.includes(keyValue?.S ?? '')) {
                (kept[table] ??= []).push(request);
                continue;
              }
              const id = JSON.stringify(keyValue);
              const seen = (sightings.get(id) ?? 0) + 1;
              sightings.set(id, seen);
              const into = seen <= schedule.unprocessedSightings ? held : kept;
              (into[table] ??= []).push(request);
            }
          }
          unprocessed += Object.values(held).reduce((n, r) => n + r.length, 0);
          if (Object.keys(kept).length === 0) {
            const answer = JSON.stringify({ UnprocessedItems: held });
            res.writeHead(200, {
              'content-type': 'application/x-amz-json-1.0',
              'content-length': Buffer.byteLength(answer),
            });
            res.end(answer);
            return;
          }
          body = Buffer.from(JSON.stringify({ ...parsed, RequestItems: kept }));
        }
        const answer = await forward(req, body);
        let text = answer.body;
        if (Object.keys(held).length > 0 && answer.status === 200) {
          const parsed = JSON.parse(text.toString('utf8')) as {
            UnprocessedItems?: Record<string, WriteRequest[]>;
          };
          for (const [table, requests] of Object.entries(held))
            (parsed.UnprocessedItems ??= {})[table] = [
              ...(parsed.UnprocessedItems[table] ?? []),
              ...requests,
            ];
          text = Buffer.from(JSON.stringify(parsed));
        }
        // The SDK checks the CRC32 of DynamoDB answers; a rewritten body must not carry the old one.
        const { 'x-amz-crc32': _crc, ...headers } = answer.headers;
        res.writeHead(answer.status, { ...headers, 'content-length': text.length });
        res.end(text);
      })().catch((error: unknown) => {
        res.writeHead(502);
        res.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get throttled() {
      return throttled;
    },
    get unprocessed() {
      return unprocessed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
