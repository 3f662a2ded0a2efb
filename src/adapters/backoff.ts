/**
 * Exponential backoff with full jitter, as AWS recommends for retries (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"): the n-th retry waits a random time up to min(cap, base x 2^n),
 * so that callers retrying at once spread out. The one retry schedule of the code base: the bus's
 * target retries, and `retryUnfinished` (the DynamoDB writer's unprocessed items, the publisher's
 * failed entries, the tally store's unprocessed keys).
 */
export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseDelayMs: 50, maxDelayMs: 5_000 };

/** `random` returns a number in [0, 1), as Math.random does (tests pass their own). */
export function backoffDelayMs(
  attempt: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  return random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RetryOptions {
  /** Calls in all, the first included. */
  maxAttempts: number;
  policy?: BackoffPolicy;
  /** The jitter's random source and the wait; tests pass their own. */
  random?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Sends `work`, then what each call left undone, until nothing is left or `maxAttempts` calls were
 * made, waiting backoffDelayMs(n) after the n-th call (from 0). Resolves with what is still undone
 * after the last call (empty when everything went through). A call that throws ends the retries
 * with its error: `send` throws for what no retry can fix.
 */
export async function retryUnfinished<W>(
  work: readonly W[],
  send: (pending: readonly W[]) => Promise<readonly W[]>,
  options: RetryOptions,
): Promise<readonly W[]> {
  let pending = work;
  for (let attempt = 0; ; attempt++) {
    pending = await send(pending);
    if (pending.length === 0 || attempt + 1 >= options.maxAttempts) return pending;
    await (options.sleep ?? sleep)(backoffDelayMs(attempt, options.policy, options.random));
  }
}
