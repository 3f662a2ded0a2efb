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

  /** The set as page index -> base64 of the page's bits: what a run's saved tally holds. */
  toPages(): Record<string, string> {
    const pages: Record<string, string> = {};
    for (const [index, page] of this.pages)
      pages[index] = Buffer.from(page.buffer, page.byteOffset, page.byteLength).toString('base64');
    return pages;
  }

  /** The set `toPages` gave; a page that is not one (wrong size, not base64) throws. */
  static fromPages(pages: Readonly<Record<string, string>>): Bitset {
    const set = new Bitset();
    for (const [index, text] of Object.entries(pages)) {
      const bytes = Buffer.from(text, 'base64');
      const pageIndex = Number(index);
      if (bytes.length !== PAGE_WORDS * 4 || !Number.isSafeInteger(pageIndex) || pageIndex < 0)
        throw new RangeError(`page ${index} is not a page of a row set`);
      const page = new Uint32Array(PAGE_WORDS);
      new Uint8Array(page.buffer).set(bytes);
      set.pages.set(pageIndex, page);
    }
    return set;
  }
}
