/** Picks the runs a listing command reads, through the runs' store. */
import type { RunStore } from '../runtime/local/runs.ts';
import { UserError } from './errors.ts';

/** The runs to read: the one asked for (which must exist) or all of them. */
export async function selectRuns(runs: RunStore, root: string, run: string | undefined): Promise<string[]> {
  const names = (await runs.list()).map((r) => r.run);
  if (run === undefined) return names;
  if (!names.includes(run)) throw new UserError(`no run ${run} under ${root} (see: etl runs)`);
  return [run];
}
