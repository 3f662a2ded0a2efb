/** Lambda entry (bundled by the stack's NodejsFunction): the handler wired from the environment at init. */
import { createObserveHandler, observeDepsFromEnv } from '../observe.ts';

export const handler = createObserveHandler(observeDepsFromEnv(process.env));
