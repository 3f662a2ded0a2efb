import { writeFileSync } from 'node:fs';

/** The seed's sample as items, with the seed's attribute names: what every sample run must leave. */
export const SEED_ITEMS = [
  { id: '1', house_number: '12', street_address: 'Main Street', town: 'Antrim', zip: '22876' },
  { id: '2', house_number: '23', street_address: '2nd Street', town: 'Glengormley', zip: '73495' },
  { id: '3', house_number: '45', street_address: 'Church Way', town: 'Ballymena', zip: '18649' },
  { id: '4', house_number: '67', street_address: 'Bangor Road', town: 'Carrickfergus', zip: '86492' },
  { id: '5', house_number: '89', street_address: 'Dublin Boulevard', town: 'Swords', zip: '72648' },
];

/** Writes an N-row CSV with the seed's columns (ids 1..N), for runs large enough to interrupt. */
export function writeSeedShapedCsv(file: string, rows: number): void {
  writeFileSync(
    file,
    [
      'ID,HouseNum,Street,Town,Zip',
      ...Array.from({ length: rows }, (_, i) => `${i + 1},${i},Street ${i},Town,${i}`),
    ].join('\n'),
  );
}
