/** Lambda entry (bundled by the stack's NodejsFunction): the handler wired from the environment at init. */
import { createQuarantineHandler, quarantineDepsFromEnv } from '../quarantine.ts';

export const handler = createQuarantineHandler(quarantineDepsFromEnv(process.env));
