/**
 * Exponential backoff with full jitter, as the AWS Architecture Blog recommends for retries: the
 * n-th retry waits a random time up to min(cap, base x 2^n). The one retry schedule of the code
 * base: the bus's target retries and the DynamoDB writer's unprocessed items both use it.
 */
export interface BackoffPolicy {
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseDelayMs: 50, maxDelayMs: 5_000 };

export function backoffDelayMs(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  return Math.random() * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
