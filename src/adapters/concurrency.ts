/**
 * Concurrency limits, all on p-queue: the code base's one concurrency primitive (the local bus's
 * target queues, the edge's ingest queue and the stages' puts use it directly).
 */
import PQueue from 'p-queue';

/**
 * `work` on every item, at most `concurrency` at a time, each starting as soon as a slot frees;
 * resolves with the results in the items' order. The first failure rejects, and the items not yet
 * started are dropped.
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const queue = new PQueue({ concurrency });
  const guarded = async (item: T): Promise<R> => {
    try {
      return await work(item);
    } catch (error) {
      // Before the queue starts the next one (the tasks dropped never settle; Promise.all has failed).
      queue.clear();
      throw error;
    }
  };
  return Promise.all(items.map((item) => queue.add(() => guarded(item))));
}
