/**
 * A set of non-negative safe integers, a bit each, in pages of 4,096 bits allocated as touched: a
 * million consecutive rows take about 125 KB, and a far-out number (anyone may put events) costs
 * one 512-byte page, not a huge array.
 */
const PAGE_BITS = 4096;
const PAGE_WORDS = PAGE_BITS / 32;

export class Bitset {
  private readonly pages = new Map<number, Uint32Array>();

  /** Sets bit i; true when it was not set before. */
  add(i: number): boolean {
    const pageIndex = Math.floor(i / PAGE_BITS);
    let page = this.pages.get(pageIndex);
    if (!page) {
      page = new Uint32Array(PAGE_WORDS);
      this.pages.set(pageIndex, page);
    }
    const offset = i - pageIndex * PAGE_BITS;
    const word = offset >>> 5;
    const mask = 1 << (offset & 31);
    const before = page[word] as number;
    if (before & mask) return false;
    page[word] = before | mask;
    return true;
  }

  /** Clears bit i. */
  delete(i: number): void {
    const pageIndex = Math.floor(i / PAGE_BITS);
    const page = this.pages.get(pageIndex);
    if (!page) return;
    const offset = i - pageIndex * PAGE_BITS;
    page[offset >>> 5] = (page[offset >>> 5] as number) & ~(1 << (offset & 31));
  }

  has(i: number): boolean {
    const pageIndex = Math.floor(i / PAGE_BITS);
    const page = this.pages.get(pageIndex);
    if (!page) return false;
    const offset = i - pageIndex * PAGE_BITS;
    return ((page[offset >>> 5] as number) & (1 << (offset & 31))) !== 0;
  }
}
