/**
 * A stand-in for the AWS APIs the bundles call that have no local implementation here, on 127.0.0.1,
 * speaking their JSON 1.1 protocols: EventBridge PutEvents (records the entries) and ECS RunTask
 * (records the input, answers with a provisioning task). Anything else is answered as S3 refusing
 * access (403 AccessDenied), which is what S3 says to a role it does not let read.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface PutEventsRequestEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName?: string;
}

export interface FakeAws {
  endpoint: string;
  /** Every PutEvents entry, in the order received. */
  entries: PutEventsRequestEntry[];
  /** Every RunTask input. */
  runTasks: Record<string, unknown>[];
  /** S3 requests refused. */
  s3Requests: string[];
  close(): Promise<void>;
}

export async function startFakeAws(): Promise<FakeAws> {
  const entries: PutEventsRequestEntry[] = [];
  const runTasks: Record<string, unknown>[] = [];
  const s3Requests: string[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const json = (payload: unknown): void => {
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      };
      if (target === 'AWSEvents.PutEvents') {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { Entries: PutEventsRequestEntry[] };
        entries.push(...body.Entries);
        json({ FailedEntryCount: 0, Entries: body.Entries.map(() => ({ EventId: randomUUID() })) });
      } else if (target === 'AmazonEC2ContainerServiceV20141113.RunTask') {
        const input = JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>;
        runTasks.push(input);
        json({
          tasks: [
            {
              taskArn: `${String(input.cluster)}/task/${randomUUID().replace(/-/g, '')}`,
              clusterArn: input.cluster,
              taskDefinitionArn: input.taskDefinition,
              lastStatus: 'PROVISIONING',
              startedBy: input.startedBy,
              createdAt: Date.now() / 1000,
            },
          ],
          failures: [],
        });
      } else {
        s3Requests.push(`${req.method ?? ''} ${req.url ?? ''}`);
        res.writeHead(403, { 'content-type': 'application/xml' });
        res.end(
          '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>1</RequestId></Error>',
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    entries,
    runTasks,
    s3Requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
