/** Lambda entry (bundled by the stack's NodejsFunction): the handler wired from the environment at init. */
import { createTransformHandler, transformDepsFromEnv } from '../transform.ts';

export const handler = createTransformHandler(transformDepsFromEnv(process.env));
