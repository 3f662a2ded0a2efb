/** What a sensitive value's decryption failure means for its row: retried when KMS is out of reach, failed otherwise. */
import { describe, expect, it } from 'vitest';
import { EnvelopeCipher } from '../../src/adapters/envelope-cipher.ts';
import { DetailType } from '../../src/pipeline/definition.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { loadStage } from '../../src/stages/load.ts';
import { type DataKeyProvider, KeyServiceUnavailableError } from '../../src/stages/ports.ts';
import { runStage } from '../../src/stages/run-stage.ts';
import { envelope } from '../support/stages.ts';

/** Data keys that work for encrypting; unwrapping fails with this error. */
function keysFailingUnwrap(error: object): DataKeyProvider {
  const plaintext = new Uint8Array(32).fill(7);
  return {
    generateDataKey: async () => ({ plaintext, wrapped: new Uint8Array(16).fill(1) }),
    unwrapDataKey: async () => {
      throw error;
    },
  };
}

const mapping = {
  ...SEED_MAPPING,
  columns: {
    ...SEED_MAPPING.columns,
    Street: { attribute: 'street_address', type: 'string' as const, sensitive: true },
  },
};

async function loadOneRow(unwrapError: object) {
  const encrypted = await new EnvelopeCipher(keysFailingUnwrap(unwrapError)).encrypt(
    'run-k',
    '7 Secret Street',
  );
  const writes: unknown[] = [];
  const stage = loadStage({
    source: 's',
    mappingFor: async () => mapping,
    writer: { writeItems: async (items) => (writes.push(...items), []) },
    cipher: new EnvelopeCipher(keysFailingUnwrap(unwrapError)),
  });
  const event = envelope(DetailType.rowTransformed, {
    status: 'transformed' as const,
    data: { ID: '1', HouseNum: '1', Street: encrypted, Town: 'T', Zip: '1' },
    run: 'run-k',
    row: 1,
  });
  const published: string[] = [];
  const report = await runStage(stage, [{ id: 'm1', event }], {
    putEvents: async (entries) => void published.push(...entries.map((e) => e.DetailType)),
  });
  return { report, published, writes };
}

describe('a sensitive value that does not decrypt', () => {
  it.each([
    ['KMS throttles', { name: 'ThrottlingException', $fault: 'client' }],
    ['KMS fails inside', { name: 'KMSInternalException', $fault: 'server' }],
    [
      'the network to KMS is down',
      Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }),
    ],
  ])('is retried, not failed, when %s', async (_, error) => {
    const { report, published, writes } = await loadOneRow(error);
    expect(report.retry.get('m1')?.reason).toBe('transient');
    expect(report.retry.get('m1')?.message).toMatch(/KeyServiceUnavailableError/);
    expect(published).toEqual([]);
    expect(writes).toEqual([]);
  });

  it('fails its row when KMS refuses the key for good', async () => {
    const { report, published } = await loadOneRow({ name: 'InvalidCiphertextException', $fault: 'client' });
    expect(report.retry.size).toBe(0);
    expect(published).toEqual([DetailType.rowFailed]);
  });

  it('is a KeyServiceUnavailableError from the cipher itself', async () => {
    const cipher = new EnvelopeCipher(keysFailingUnwrap({ name: 'ThrottlingException' }));
    const value = await cipher.encrypt('run-x', 'v');
    await expect(
      new EnvelopeCipher(keysFailingUnwrap({ name: 'ThrottlingException' })).decrypt('run-x', value),
    ).rejects.toBeInstanceOf(KeyServiceUnavailableError);
  });
});
