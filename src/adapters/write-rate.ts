/**
 * A token bucket for table writes: at most `perSecond` writes a second on average, with bursts of
 * up to one second's worth. Callers take their writes before sending; a take beyond what is
 * available is granted at once and waited off (the balance goes negative), so concurrent writers
 * queue up in the order they asked and the long-run rate holds for batches larger than the rate.
 */
export interface WriteRateOptions {
  /** Writes a second (a write is one item of a BatchWriteItem request). */
  perSecond: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class WriteRateLimiter {
  private available: number;
  private last: number;
  private readonly now: () => number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: WriteRateOptions) {
    if (!(options.perSecond > 0)) throw new RangeError('perSecond must be positive');
    this.now = options.now ?? Date.now;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.available = options.perSecond;
    this.last = this.now();
  }

  /** Resolves once `writes` may be sent. */
  async take(writes: number): Promise<void> {
    const { perSecond } = this.options;
    const now = this.now();
    this.available = Math.min(perSecond, this.available + ((now - this.last) / 1000) * perSecond);
    this.last = now;
    this.available -= writes;
    if (this.available < 0) await this.sleep((-this.available / perSecond) * 1000);
  }
}
