/** A growable set of small non-negative integers, a bit each. */
export class Bitset {
  private words = new Uint32Array(1024);

  /** Sets bit i; true when it was not set before. */
  add(i: number): boolean {
    const word = i >>> 5;
    if (word >= this.words.length) {
      const grown = new Uint32Array(Math.max(word + 1, this.words.length * 2));
      grown.set(this.words);
      this.words = grown;
    }
    const mask = 1 << (i & 31);
    const before = this.words[word] as number;
    if (before & mask) return false;
    this.words[word] = before | mask;
    return true;
  }

  has(i: number): boolean {
    const word = i >>> 5;
    return word < this.words.length && ((this.words[word] as number) & (1 << (i & 31))) !== 0;
  }
}
