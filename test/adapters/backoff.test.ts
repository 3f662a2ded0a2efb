/**
 * The one retry helper: full-jitter exponential backoff, and the loop that sends what is left undone.
 * Deterministic: the random source and the wait are injected; no test waits for real time.
 */
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, DEFAULT_BACKOFF, retryUnfinished } from '../../src/adapters/backoff.ts';
import { mapConcurrently } from '../../src/adapters/concurrency.ts';

const BUS = { baseDelayMs: 100, maxDelayMs: 20_000 };

describe('backoffDelayMs (full jitter)', () => {
  it('waits a random share of min(cap, base x 2^attempt)', () => {
    expect(backoffDelayMs(0, BUS, () => 0.5)).toBe(50);
    expect(backoffDelayMs(3, BUS, () => 0.5)).toBe(400);
    expect(backoffDelayMs(3, BUS, () => 0)).toBe(0);
    // The cap: 100 x 2^8 = 25.6 s is over 20 s.
    expect(backoffDelayMs(8, BUS, () => 0.5)).toBe(10_000);
    expect(backoffDelayMs(184, BUS, () => 0.999)).toBeCloseTo(19_980);
  });

  it('never waits past the cap, at any attempt, with Math.random', () => {
    for (let attempt = 0; attempt < 200; attempt++) {
      const delay = backoffDelayMs(attempt, BUS);
      expect(delay).toBeGreaterThanOrEqual(0);
      expect(delay).toBeLessThan(BUS.maxDelayMs);
    }
  });

  it('defaults to 50 ms doubling up to 5 s', () => {
    expect(DEFAULT_BACKOFF).toEqual({ baseDelayMs: 50, maxDelayMs: 5_000 });
    expect(backoffDelayMs(1, undefined, () => 1)).toBe(100);
    expect(backoffDelayMs(20, undefined, () => 1)).toBe(5_000);
  });
});

/** A sleep that records the waits and returns at once. */
function recordingSleep(): { waits: number[]; sleep: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

describe('retryUnfinished', () => {
  it('sends what each call left undone until nothing is left, backing off between calls', async () => {
    const { waits, sleep } = recordingSleep();
    const sent: (readonly number[])[] = [];
    const left = await retryUnfinished(
      [1, 2, 3, 4],
      async (pending) => {
        sent.push(pending);
        return pending.slice(1); // one item goes through per call
      },
      { maxAttempts: 8, random: () => 1, sleep },
    );
    expect(left).toEqual([]);
    expect(sent).toEqual([[1, 2, 3, 4], [2, 3, 4], [3, 4], [4]]);
    // After call n (from 0): base x 2^n, the whole range with random() = 1.
    expect(waits).toEqual([50, 100, 200]);
  });

  it('makes maxAttempts calls at most and resolves with what is still undone', async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    const left = await retryUnfinished(
      ['a', 'b'],
      async (pending) => {
        calls++;
        return pending;
      },
      { maxAttempts: 3, policy: BUS, random: () => 0.5, sleep },
    );
    expect(left).toEqual(['a', 'b']);
    expect(calls).toBe(3);
    expect(waits).toEqual([50, 100]); // no wait after the last call
  });

  it('makes one call and no wait when it does everything', async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    const left = await retryUnfinished([1], async () => (calls++, []), { maxAttempts: 8, sleep });
    expect([left, calls, waits]).toEqual([[], 1, []]);
  });

  it('stops at a call that throws, with its error', async () => {
    const { waits, sleep } = recordingSleep();
    let calls = 0;
    const send = async (pending: readonly number[]): Promise<readonly number[]> => {
      calls++;
      if (calls === 2) throw new Error('refused for what it is');
      return pending;
    };
    await expect(retryUnfinished([1], send, { maxAttempts: 8, random: () => 1, sleep })).rejects.toThrow(
      'refused for what it is',
    );
    expect([calls, waits]).toEqual([2, [50]]);
  });
});

describe('mapConcurrently (p-queue)', () => {
  it('runs at most `concurrency` at once, starting each as a slot frees, results in order', async () => {
    let running = 0;
    let most = 0;
    const releases: (() => void)[] = [];
    const done = mapConcurrently([1, 2, 3, 4, 5], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => releases.push(resolve));
      running--;
      return n * 10;
    });
    await Promise.resolve();
    expect(releases).toHaveLength(2);
    // The second finishing first frees a slot for the third: no waiting for the whole wave.
    releases[1]?.();
    await new Promise((resolve) => setImmediate(resolve));
    expect(releases).toHaveLength(3);
    for (let i = 0; i < 5; i++) {
      releases[i]?.();
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(await done).toEqual([10, 20, 30, 40, 50]);
    expect(most).toBe(2);
  });

  it('rejects with the first failure and starts nothing more', async () => {
    const started: number[] = [];
    await expect(
      mapConcurrently([1, 2, 3, 4], 1, async (n) => {
        started.push(n);
        if (n === 2) throw new Error('two failed');
        return n;
      }),
    ).rejects.toThrow('two failed');
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([1, 2]);
  });
});
