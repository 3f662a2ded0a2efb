import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EnvelopeCipher, isEncryptedValue } from '../../src/adapters/envelope-cipher.ts';
import { KeyFileDataKeys } from '../../src/runtime/local/key-file.ts';
import { tempDir } from '../support/cli.ts';

describe('envelope encryption of sensitive values', () => {
  it('round-trips values with AES-256-GCM under a per-run data key, never showing the plaintext', async () => {
    const keyPath = join(tempDir(), 'keys', 'master.key');
    const cipher = new EnvelopeCipher(new KeyFileDataKeys(keyPath));
    const secret = 'ann@example.com ✉';
    const a = await cipher.encrypt('run-1', secret);
    const b = await cipher.encrypt('run-1', secret);
    expect(isEncryptedValue(a)).toBe(true);
    expect(a).not.toContain('ann');
    expect(a).not.toBe(b); // a fresh IV per value
    expect(a.split(':')[2]).toBe(b.split(':')[2]); // one data key per run
    expect((await cipher.encrypt('run-2', secret)).split(':')[2]).not.toBe(a.split(':')[2]);
    expect(await cipher.decrypt('run-1', a)).toBe(secret);
    expect(statSync(keyPath).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyPath)).toHaveLength(32);
  });

  it('decrypts in another process that reads the same key file (the load stage after a restart)', async () => {
    const keyPath = join(tempDir(), 'master.key');
    const value = await new EnvelopeCipher(new KeyFileDataKeys(keyPath)).encrypt('r', 'secret');
    expect(await new EnvelopeCipher(new KeyFileDataKeys(keyPath)).decrypt('r', value)).toBe('secret');
  });

  it('refuses a value moved to another run, a tampered value, or another master key', async () => {
    const keyPath = join(tempDir(), 'master.key');
    const cipher = new EnvelopeCipher(new KeyFileDataKeys(keyPath));
    const value = await cipher.encrypt('r1', 'secret');
    await expect(cipher.decrypt('r2', value)).rejects.toThrow();
    const body = value.split(':');
    body[4] = Buffer.from('x' + Buffer.from(body[4] ?? '', 'base64').toString('latin1'), 'latin1').toString(
      'base64',
    );
    await expect(cipher.decrypt('r1', body.join(':'))).rejects.toThrow();
    const stranger = new EnvelopeCipher(new KeyFileDataKeys(join(tempDir(), 'other.key')));
    await expect(stranger.decrypt('r1', value)).rejects.toThrow();
  });
});
