/**
 * One of the pipeline's Lambda functions: a NodejsFunction bundled by the local esbuild (ESM, the
 * locked dependency versions bundled in), on the newest Node.js runtime, with its own log group
 * (retention set) and its own role that may write to that log group and nothing else until the
 * stack grants it exactly what its stage uses.
 */
import { join } from 'node:path';
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, LoggingFormat, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { SHARED_BUNDLING } from '../runtime/aws/bundling.mjs';
import { REPO_ROOT } from './context.ts';
import { SERVICE_NAME } from '../runtime/aws/config.ts';

/** The newest Node.js runtime aws-cdk-lib knows (what cdk-nag's AwsSolutions-L1 asks for). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;

/** A handler: which one, and what it runs with. */
export interface EtlHandlerProps {
  /** The entry file under src/runtime/aws/lambda/, without extension (it exports `handler`). */
  readonly entry: string;
  /** What the function does (the function's and its role's description). */
  readonly description: string;
  /** The queue's visibility timeout is derived from it (see `visibilityTimeoutFor`). */
  readonly timeout: Duration;
  /** In MiB. */
  readonly memorySize: number;
}

export interface EtlFunctionProps extends EtlHandlerProps {
  /** The handler's configuration (names in `Env`, src/runtime/aws/config.ts), besides Powertools'. */
  readonly environment: Record<string, string>;
  /** Of the function's own log group. */
  readonly logRetention: RetentionDays;
}

/** A pipeline Lambda: bundled, on the newest Node.js runtime, with its own log group and role. */
export class EtlFunction extends Construct {
  readonly function: NodejsFunction;
  /** May write to the function's log group, and nothing else until granted more. */
  readonly role: Role;
  /** Retained when the stack goes. */
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: EtlFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `${props.description} (logs to its own log group only)`,
    });
    this.logGroup.grantWrite(this.role);
    this.function = new NodejsFunction(this, 'Function', {
      entry: join(REPO_ROOT, 'src/runtime/aws/lambda', `${props.entry}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: LoggingFormat.JSON,
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
      // The settings the task's bundle shares (src/runtime/aws/bundling.mjs), in NodejsFunction's terms.
      bundling: {
        format: OutputFormat.ESM,
        mainFields: SHARED_BUNDLING.mainFields,
        banner: SHARED_BUNDLING.banner,
        sourceMap: SHARED_BUNDLING.sourcemap,
        sourcesContent: SHARED_BUNDLING.sourcesContent,
        // Bundle the locked AWS SDK versions (the ones the tests ran) instead of the runtime's.
        externalModules: [],
        minify: true,
      },
    });
  }
}
