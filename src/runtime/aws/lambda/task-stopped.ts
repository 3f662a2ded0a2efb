/** Lambda entry (bundled by the stack's NodejsFunction): the handler wired from the environment at init. */
import { createTaskStoppedHandler, taskStoppedDepsFromEnv } from '../task-stopped.ts';

export const handler = createTaskStoppedHandler(taskStoppedDepsFromEnv(process.env));
