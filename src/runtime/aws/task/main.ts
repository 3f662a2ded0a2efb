/** The extract task container's entry point (bundled by build.mjs, run by the Dockerfile). */
import { main } from '../extract-task.ts';

// On Linux, writes to stdout (a pipe to the awslogs driver) are synchronous, so no log is lost here.
process.exit(await main());
