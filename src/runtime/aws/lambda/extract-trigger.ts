/** Lambda entry (bundled by the stack's NodejsFunction): the handler wired from the environment at init. */
import { createExtractTriggerHandler, extractTriggerDepsFromEnv } from '../extract-trigger.ts';

export const handler = createExtractTriggerHandler(extractTriggerDepsFromEnv(process.env));
