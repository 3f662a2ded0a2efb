/**
 * Counts rows whose key repeats an earlier row's key in the same file: in DynamoDB the later row
 * overwrites the earlier item, so "4 rows loaded" can mean 2 items. Extract owns this because it is
 * the one place that sees every row of a file in order, in one process, on both runtimes.
 *
 * Memory is bounded: a key is kept as a 64-bit hash (the first 8 bytes of its SHA-256) in an
 * open-addressing table of two Uint32Arrays, 8 bytes a slot. Two different keys with the same hash
 * would count as a repeat; among a million keys the chance of any such pair is about 3 in 100
 * million. The table stops growing at MAX_SLOTS (32 MiB); keys after that are not tracked, and
 * `complete` says so.
 */
import { createHash } from 'node:crypto';

const INITIAL_SLOTS = 1 << 12;
const MAX_SLOTS = 1 << 22;
/** Grow (or stop) at 3/4 full: probes stay short. */
const MAX_LOAD = 0.75;

export class RepeatedKeys {
  private hi = new Uint32Array(INITIAL_SLOTS);
  private lo = new Uint32Array(INITIAL_SLOTS);
  private size = 0;
  /** Rows whose key an earlier row had. */
  repeated = 0;
  /** False once the table is full and later keys went unchecked. */
  complete = true;

  /** Records a row's key. */
  add(key: string): void {
    const digest = createHash('sha256').update(key).digest();
    const hi = digest.readUInt32LE(0);
    // 0/0 marks an empty slot; a key hashing to it shares a slot value with hash 0/1 (a collision).
    const lo = digest.readUInt32LE(4) || 1;
    if (this.contains(hi, lo)) {
      this.repeated += 1;
      return;
    }
    if (this.size + 1 > this.hi.length * MAX_LOAD) {
      if (this.hi.length >= MAX_SLOTS) {
        this.complete = false;
        return;
      }
      this.grow();
    }
    this.insert(hi, lo);
    this.size += 1;
  }

  private contains(hi: number, lo: number): boolean {
    const mask = this.hi.length - 1;
    for (let i = hi & mask; ; i = (i + 1) & mask) {
      if (this.lo[i] === 0) return false;
      if (this.hi[i] === hi && this.lo[i] === lo) return true;
    }
  }

  private insert(hi: number, lo: number): void {
    const mask = this.hi.length - 1;
    let i = hi & mask;
    while (this.lo[i] !== 0) i = (i + 1) & mask;
    this.hi[i] = hi;
    this.lo[i] = lo;
  }

  private grow(): void {
    const { hi, lo } = this;
    this.hi = new Uint32Array(hi.length * 2);
    this.lo = new Uint32Array(lo.length * 2);
    for (let i = 0; i < hi.length; i++) if (lo[i] !== 0) this.insert(hi[i] as number, lo[i] as number);
  }
}
