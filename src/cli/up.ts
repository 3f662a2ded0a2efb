/**
 * `etl up`: the local stack behind AWS-compatible endpoints, until Ctrl-C. One port serves S3,
 * DynamoDB, EventBridge and SQS, so `--endpoint-url` works for the AWS CLI and the SDKs alike.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { EdgePortInUseError } from '../runtime/local/edge/server.ts';
import {
  DEFAULT_EDGE_HOST,
  DEFAULT_EDGE_PORT,
  DEFAULT_LANDING_BUCKET,
  LocalStack,
} from '../runtime/local/edge/stack.ts';
import { UserError } from './errors.ts';
import { etlVersion } from './version.ts';
import {
  archiveRequestFromOptions,
  definitionFromOptions,
  parsePort,
  type PipelineOptions,
  withPipelineOptions,
  withStateDir,
} from './options.ts';

interface UpOptions extends PipelineOptions {
  port: number;
  host: string;
  stateDir: string;
  /** A directory, false for --no-landing, undefined for the default. */
  landing?: string | false;
  bucket: string;
  allowHost: string[];
  json?: boolean;
}

function parseHostName(value: string): string {
  if (!/^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9.-]+)$/.test(value))
    throw new InvalidArgumentError('a host name (example.test), an IPv4 address or an [IPv6] address');
  return value;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export function registerUp(program: Command): void {
  withPipelineOptions(
    withStateDir(
      program
        .command('up')
        .description(
          'run the local stack until Ctrl-C: S3, DynamoDB, EventBridge and SQS on one port for --endpoint-url; ' +
            'objects put in the landing bucket and files dropped in the landing folder are run through the pipeline',
        )
        .option('--port <n>', 'the edge port (0: any free port)', parsePort, DEFAULT_EDGE_PORT)
        .option(
          '--host <host>',
          'the address to listen on (anything but loopback exposes the stack)',
          DEFAULT_EDGE_HOST,
        )
        .option('--landing <dir>', 'the landing folder (default: <state-dir>/landing)')
        .option('--no-landing', 'no landing folder')
        .option('--bucket <name>', 'the landing bucket', DEFAULT_LANDING_BUCKET)
        .option(
          '--allow-host <name>',
          'also serve requests addressed to this host name (repeatable; loopback names are always served)',
          (value: string, previous: string[]) => [...previous, parseHostName(value)],
          [] as string[],
        )
        .option('--json', 'one JSON object per line on stdout: the stack, progress, runs, notices'),
    ),
  ).action(async (options: UpOptions) => {
    const json = options.json === true;
    const say = (message: string): void =>
      console.log(json ? JSON.stringify({ type: 'notice', message }) : message);
    const definition = definitionFromOptions(options);
    const archive = archiveRequestFromOptions(options);
    let stack: LocalStack;
    try {
      stack = await LocalStack.start({
        definition,
        stateDir: options.stateDir,
        host: options.host,
        port: options.port,
        bucket: options.bucket,
        archive,
        recordEvents: options.recordEvents === true,
        allowHosts: options.allowHost,
        json,
        version: etlVersion(),
        ...(options.landing === undefined ? {} : { landingDir: options.landing }),
      });
    } catch (error) {
      if (error instanceof EdgePortInUseError) {
        throw new UserError(
          `${error.message} (another etl up, or LocalStack?); pass --port with another port, or --port 0 for a free one`,
        );
      }
      throw error;
    }
    const endpoint = stack.endpoint;
    const lines = [
      'etl up: the local stack is up (Ctrl-C to stop)',
      `  endpoint:       ${endpoint}`,
      `  dashboard:      ${stack.dashboardUrl}`,
      `  landing bucket: ${stack.bucket}`,
      `  landing folder: ${stack.landing?.dir ?? '(none)'}`,
      `  table:          ${stack.tableName}`,
      `  event bus:      ${stack.busName} (also answers as "default")`,
      `  queues (SQS):   each stage's and its DLQ (aws sqs list-queues); yours with aws sqs create-queue`,
      `  state:          ${stack.stateDir}`,
      `  try:            aws s3 cp data/test_data.csv s3://${stack.bucket}/ --endpoint-url ${endpoint}`,
    ];
    console.log(json ? JSON.stringify({ type: 'up', ...stack.describe() }) : lines.join('\n'));
    if (!LOOPBACK.has(options.host)) {
      console.error(
        `etl up: listening on ${options.host}: anyone who can reach it can read and write (any credentials are accepted)`,
      );
    }

    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      const stop = (received: NodeJS.Signals): void => {
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        resolve(received);
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    const force = (): void => {
      console.error('etl up: stopping now, without waiting for runs under way');
      process.exit(130);
    };
    process.once('SIGINT', force);
    process.once('SIGTERM', force);
    say(`etl up: ${signal}: stopping (runs under way finish first; Ctrl-C again to stop at once)`);
    try {
      await stack.close();
    } finally {
      process.removeListener('SIGINT', force);
      process.removeListener('SIGTERM', force);
    }
    say('etl up: stopped');
  });
}
