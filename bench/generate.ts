/** Writes an N-row CSV with the seed's columns, streamed so that generating 1M rows stays small. */
import { createReadStream, createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';

const STREETS = [
  'Main Street',
  '2nd Street',
  'Church Way',
  'Bangor Road',
  'Dublin Boulevard',
  'Shore Road, Upper',
];
const TOWNS = ['Antrim', 'Glengormley', 'Ballymena', 'Carrickfergus', 'Swords', 'Newtownabbey'];

export async function generateCsv(path: string, rows: number): Promise<void> {
  await writeLines(path, 'ID,HouseNum,Street,Town,Zip\r\n', rows, (i, street, town) => {
    // One street in six holds a comma, so the quoted path of the parser is exercised too.
    const streetField = street.includes(',') ? `"${street}"` : street;
    return `${i},${(i * 7) % 500},${streetField},${town},${10000 + (i % 90000)}\r\n`;
  });
}

/** The same rows as JSON Lines, one object per line under the same column names. */
export async function generateJsonl(path: string, rows: number): Promise<void> {
  await writeLines(
    path,
    '',
    rows,
    (i, street, town) =>
      `${JSON.stringify({ ID: String(i), HouseNum: String((i * 7) % 500), Street: street, Town: town, Zip: String(10000 + (i % 90000)) })}\n`,
  );
}

/** A gzip copy of a file, streamed. */
export async function gzipFile(from: string, to: string): Promise<void> {
  await pipeline(createReadStream(from), createGzip(), createWriteStream(to));
}

async function writeLines(
  path: string,
  header: string,
  rows: number,
  line: (i: number, street: string, town: string) => string,
): Promise<void> {
  const out = createWriteStream(path);
  out.write(header);
  let chunk = '';
  for (let i = 1; i <= rows; i++) {
    chunk += line(i, STREETS[i % STREETS.length] as string, TOWNS[i % TOWNS.length] as string);
    if (chunk.length > 64 * 1024) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}
