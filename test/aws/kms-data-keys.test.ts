import { InvalidCiphertextException, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCipher } from '../../src/adapters/envelope-cipher.ts';
import { KmsDataKeys } from '../../src/adapters/kms-data-keys.ts';
import { type FakeKms, startFakeKms } from './fake-kms.ts';

let kms: FakeKms;
let client: KMSClient;

beforeAll(async () => {
  kms = await startFakeKms();
  client = new KMSClient({
    endpoint: kms.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
});
afterAll(async () => {
  client?.destroy();
  await kms?.close();
});

describe('KmsDataKeys (through the real KMS client, against a local KMS)', () => {
  it('asks GenerateDataKey for an AES_256 key of the named key, with the context as EncryptionContext', async () => {
    const keys = new KmsDataKeys(client, kms.keyId);
    const key = await keys.generateDataKey({ run: 'run-a' });
    expect(key.plaintext).toHaveLength(32);
    expect(key.wrapped.length).toBeGreaterThan(32);
    expect(kms.calls.at(-1)).toEqual({
      action: 'GenerateDataKey',
      body: { KeyId: kms.keyId, KeySpec: 'AES_256', EncryptionContext: { run: 'run-a' } },
    });
    expect(Buffer.from(await keys.unwrapDataKey(key.wrapped, { run: 'run-a' }))).toEqual(
      Buffer.from(key.plaintext),
    );
    expect(kms.calls.at(-1)?.body).toMatchObject({ KeyId: kms.keyId, EncryptionContext: { run: 'run-a' } });
  });

  it('cannot unwrap a data key under another run (the encryption context is bound)', async () => {
    const keys = new KmsDataKeys(client, kms.keyId);
    const key = await keys.generateDataKey({ run: 'run-a' });
    await expect(keys.unwrapDataKey(key.wrapped, { run: 'run-b' })).rejects.toBeInstanceOf(
      InvalidCiphertextException,
    );
  });

  it('gives EnvelopeCipher one data key per run, unwrapped once, and values only that run decrypts', async () => {
    const encrypting = new EnvelopeCipher(new KmsDataKeys(client, kms.keyId));
    const before = kms.calls.length;
    const a = await encrypting.encrypt('run-x', '12 Main Street');
    const b = await encrypting.encrypt('run-x', '23 2nd Street');
    expect(kms.calls.slice(before).map((c) => c.action)).toEqual(['GenerateDataKey']);
    expect(a).not.toContain('Main');

    // The load stage: another process, another cipher, the same KMS key.
    const decrypting = new EnvelopeCipher(new KmsDataKeys(client, kms.keyId));
    const mark = kms.calls.length;
    expect(await decrypting.decrypt('run-x', a)).toBe('12 Main Street');
    expect(await decrypting.decrypt('run-x', b)).toBe('23 2nd Street');
    expect(kms.calls.slice(mark).map((c) => c.action)).toEqual(['Decrypt']);
    await expect(decrypting.decrypt('run-y', a)).rejects.toThrow();
  });
});
