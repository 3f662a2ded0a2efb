import { describe, expect, it } from 'vitest';
import { DetailType } from '../../src/pipeline/definition.ts';
import type { Mapping } from '../../src/pipeline/mapping.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { encodeCsvLine } from '../../src/stages/csv.ts';
import { transformRow } from '../../src/stages/transform.ts';
import { transformBatch } from '../support/stages.ts';

const headers = 'ID,HouseNum,Street,Town,Zip';

describe('transform', () => {
  it("zips headers and data into the seed's object", () => {
    expect(transformRow({ headers, data: '1,12,Main Street,Antrim,22876' }, SEED_MAPPING)).toEqual({
      ok: true,
      data: { ID: '1', HouseNum: '12', Street: 'Main Street', Town: 'Antrim', Zip: '22876' },
    });
  });

  it("keeps a quoted comma inside its field (the seed's split(',') did not)", () => {
    const data = encodeCsvLine(['1', '12', 'Main Street, Upper', 'Antrim', '22876']);
    const outcome = transformRow({ headers, data }, SEED_MAPPING);
    expect(outcome).toMatchObject({ ok: true, data: { Street: 'Main Street, Upper', Town: 'Antrim' } });
  });

  it('treats headers named like object internals as plain columns', () => {
    const mapping: Mapping = {
      key: { partition: 'id' },
      columns: {
        ID: { attribute: 'id', type: 'string', required: true },
        constructor: { attribute: 'ctor', type: 'string' as const },
      },
    };
    const outcome = transformRow({ headers: 'ID,__proto__,toString', data: '1,a,b' }, mapping);
    expect(outcome).toMatchObject({ ok: true });
    const data = (outcome as { data: Record<string, string> }).data;
    expect(JSON.stringify(data)).toBe('{"ID":"1","__proto__":"a","toString":"b"}');
  });

  it('fails a row whose field count differs from the header', () => {
    expect(transformRow({ headers, data: '1,12,Main Street' }, SEED_MAPPING)).toEqual({
      ok: false,
      reason: 'row has 3 fields; the header has 5',
    });
  });

  it('fails an empty required value, naming the column', () => {
    expect(transformRow({ headers, data: ',12,Main Street,Antrim,22876' }, SEED_MAPPING)).toEqual({
      ok: false,
      reason: 'required value is empty',
      column: 'ID',
    });
  });

  it('fails values that do not fit their type, without quoting them', () => {
    const mapping: Mapping = {
      key: { partition: 'id' },
      columns: {
        ID: { attribute: 'id', type: 'string', required: true },
        Zip: { attribute: 'zip', type: 'number' },
        Active: { attribute: 'active', type: 'boolean' },
      },
    };
    expect(transformRow({ headers: 'ID,Zip,Active', data: '1,BT1 5GS,true' }, mapping)).toEqual({
      ok: false,
      reason: 'value is not a number',
      column: 'Zip',
    });
    expect(transformRow({ headers: 'ID,Zip,Active', data: '1,2,maybe' }, mapping)).toEqual({
      ok: false,
      reason: 'value is not a boolean (true or false)',
      column: 'Active',
    });
    expect(transformRow({ headers: 'ID,Zip,Active', data: '1,-2.5e3,FALSE' }, mapping).ok).toBe(true);
  });

  it.each([
    ['1e200', "number is outside DynamoDB's range (1E-130 to 9.99E+125)"],
    ['1e-131', "number is outside DynamoDB's range (1E-130 to 9.99E+125)"],
    [
      '1234567890123456789012345678901234567890',
      "number has more than 38 significant digits (DynamoDB's limit)",
    ],
  ])('fails a number DynamoDB would refuse (%s), so it cannot fail its whole batch', (zip, reason) => {
    const mapping: Mapping = {
      key: { partition: 'id' },
      columns: {
        ID: { attribute: 'id', type: 'string', required: true },
        Zip: { attribute: 'zip', type: 'number' },
      },
    };
    expect(transformRow({ headers: 'ID,Zip', data: `1,${zip}` }, mapping)).toEqual({
      ok: false,
      reason,
      column: 'Zip',
    });
  });

  it.each([
    '0',
    '-0.0',
    '1E-130',
    '9.9999999999999999999999999999999999999E+125',
    '12345678901234567890123456789012345678',
  ])('accepts a number DynamoDB keeps exactly (%s)', (zip) => {
    const mapping: Mapping = {
      key: { partition: 'id' },
      columns: {
        ID: { attribute: 'id', type: 'string', required: true },
        Zip: { attribute: 'zip', type: 'number' },
      },
    };
    expect(transformRow({ headers: 'ID,Zip', data: `1,${zip}` }, mapping).ok).toBe(true);
  });

  it('puts transform events, and row-failed events with run and row for bad rows', async () => {
    const entries = await transformBatch(
      [
        { status: 'extracted', headers, data: '1,12,Main Street,Antrim,22876', run: 'r', row: 1 },
        { status: 'extracted', headers, data: '2,23', run: 'r', row: 2 },
      ],
      { source: 's', mapping: SEED_MAPPING },
    );
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.rowTransformed, DetailType.rowFailed]);
    expect(JSON.parse(entries[0]?.Detail ?? '')).toMatchObject({ status: 'transformed', run: 'r', row: 1 });
    expect(JSON.parse(entries[1]?.Detail ?? '')).toEqual({
      status: 'failed',
      stage: 'transform',
      reason: 'row has 2 fields; the header has 5',
      run: 'r',
      row: 2,
    });
  });
});

describe('transform of a row too large for one event as an object', () => {
  it('reports that row failed, and transforms the rest of its batch', async () => {
    // 25,000 one-letter columns: about 220 KB as CSV lines (one event), over 300 KB as {header: value}.
    const names = Array.from({ length: 25_000 }, (_, i) => `c${i}`);
    const wide = {
      headers: encodeCsvLine(['ID', ...names]),
      data: encodeCsvLine(['1', ...names.map(() => 'x')]),
    };
    const mapping: Mapping = {
      key: { partition: 'id' },
      columns: { ID: { attribute: 'id', type: 'string', required: true } },
    };
    const entries = await transformBatch(
      [
        { status: 'extracted', ...wide, run: 'r', row: 1 },
        { status: 'extracted', headers: 'ID', data: '2', run: 'r', row: 2 },
      ],
      { source: 's', mapping },
    );
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.rowFailed, DetailType.rowTransformed]);
    expect(JSON.parse(entries[0]?.Detail ?? '')).toMatchObject({
      stage: 'transform',
      row: 1,
      reason: expect.stringMatching(
        /^the row's transform event would be \d+ bytes; PutEvents takes at most 262144$/,
      ),
    });
  });
});
