/**
 * The CDK app (`npx cdk synth` / `npx cdk deploy`, see cdk.json): one environment-agnostic stack, so
 * synthesis needs no credentials and no lookups, checked by cdk-nag's AWS Solutions rules.
 *
 * Context: `-c mapping=FILE` and `-c source=NAME` choose the mapping and event source;
 * `-c sensitiveColumns=Street,Zip` marks columns sensitive (envelope-encrypted with KMS in events,
 * decrypted only by the load stage); `-c stackName=...` names the stack (and the bus, after it: several
 * stacks live side by side in one account and region); `-c alarmEmail=...` subscribes an address to
 * the alarm topic.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { UserError } from '../pipeline/errors.ts';
import { ALARM_EMAIL_CONTEXT, definitionFromContext, FEATURE_FLAGS } from './context.ts';
import { EventBridgeEtlStack } from './stack.ts';

const app = new App({ context: FEATURE_FLAGS });
const stackName = app.node.tryGetContext('stackName') as string | undefined;
const alarmEmail = app.node.tryGetContext(ALARM_EMAIL_CONTEXT) as string | undefined;
let definition;
try {
  definition = definitionFromContext((key) => app.node.tryGetContext(key));
} catch (error) {
  // A bad mapping file, column name or setting is the user's to fix: one line, no stack trace.
  if (!(error instanceof UserError)) throw error;
  console.error(`eventbridge-etl: ${error.message}`);
  process.exit(2);
}
new EventBridgeEtlStack(app, 'TheEventBridgeETL', {
  ...(stackName ? { stackName } : {}),
  description:
    'eventbridge-etl: event-driven CSV-to-DynamoDB ETL (the EventBridge ETL pattern, production-grade)',
  definition,
  ...(alarmEmail ? { alarmEmail } : {}),
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
