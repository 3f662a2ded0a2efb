/**
 * Local data keys: the master key is a file under the state directory, created on first use and
 * readable only by its owner; data keys are wrapped under it with AES-256-GCM, as KMS would.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { DataKey, DataKeyProvider } from '../../stages/ports.ts';

export class KeyFileDataKeys implements DataKeyProvider {
  private master: Promise<Buffer> | undefined;

  constructor(private readonly path: string) {}

  async generateDataKey(context: Record<string, string>): Promise<DataKey> {
    const plaintext = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', await this.masterKey(), iv);
    cipher.setAAD(contextBytes(context));
    const wrapped = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { plaintext, wrapped };
  }

  async unwrapDataKey(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    const bytes = Buffer.from(wrapped);
    const decipher = createDecipheriv('aes-256-gcm', await this.masterKey(), bytes.subarray(0, 12));
    decipher.setAAD(contextBytes(context));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]);
  }

  private masterKey(): Promise<Buffer> {
    this.master ??= this.loadOrCreate();
    return this.master;
  }

  private async loadOrCreate(): Promise<Buffer> {
    try {
      const key = await readFile(this.path);
      if (key.length !== 32) throw new Error(`${this.path} is not a 256-bit key`);
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await mkdir(dirname(this.path), { recursive: true, mode: 0o700 });
    const key = randomBytes(32);
    try {
      // `wx`: if another process created it first, use theirs.
      await writeFile(this.path, key, { flag: 'wx', mode: 0o600 });
      return key;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      return readFile(this.path);
    }
  }
}

/** KMS binds the encryption context as authenticated data; so do we, in a canonical order. */
function contextBytes(context: Record<string, string>): Buffer {
  return Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => a.localeCompare(b))));
}
