/** Writes an N-row CSV with the seed's columns, streamed so that generating 1M rows stays small. */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';

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
  const out = createWriteStream(path);
  out.write('ID,HouseNum,Street,Town,Zip\r\n');
  let chunk = '';
  for (let i = 1; i <= rows; i++) {
    const street = STREETS[i % STREETS.length] as string;
    // One street in six holds a comma, so the quoted path of the parser is exercised too.
    const streetField = street.includes(',') ? `"${street}"` : street;
    chunk += `${i},${(i * 7) % 500},${streetField},${TOWNS[i % TOWNS.length]},${10000 + (i % 90000)}\r\n`;
    if (chunk.length > 64 * 1024) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}
