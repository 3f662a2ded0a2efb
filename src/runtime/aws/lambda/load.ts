/** Lambda entry (bundled by the stack's NodejsFunction): the handler wired from the environment at init. */
import { createLoadHandler, loadDepsFromEnv } from '../load.ts';

export const handler = createLoadHandler(loadDepsFromEnv(process.env));
