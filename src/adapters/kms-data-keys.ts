/**
 * DataKeyProvider on AWS KMS: GenerateDataKey (AES_256) for a run's data key, Decrypt to unwrap it.
 * The context (the run) is the KMS EncryptionContext, so a wrapped key only unwraps for its own run
 * and every use is recorded with the run in CloudTrail. Decrypt names the key, so a ciphertext made
 * under any other key is refused instead of being decrypted with whatever key made it.
 */
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import type { DataKey, DataKeyProvider } from '../stages/ports.ts';

/** The part of the KMS client this adapter uses (a KMSClient, or a stub in tests). */
export type KmsSender = Pick<KMSClient, 'send'>;

export class KmsDataKeys implements DataKeyProvider {
  constructor(
    private readonly client: KmsSender,
    /** The key's ARN (or id or alias ARN): the master key that wraps data keys. */
    private readonly keyId: string,
  ) {}

  async generateDataKey(context: Record<string, string>): Promise<DataKey> {
    const response = await this.client.send(
      new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: context }),
    );
    if (!response.Plaintext || !response.CiphertextBlob) {
      throw new Error('KMS GenerateDataKey returned no key material');
    }
    return { plaintext: response.Plaintext, wrapped: response.CiphertextBlob };
  }

  async unwrapDataKey(wrapped: Uint8Array, context: Record<string, string>): Promise<Uint8Array> {
    const response = await this.client.send(
      new DecryptCommand({ KeyId: this.keyId, CiphertextBlob: wrapped, EncryptionContext: context }),
    );
    if (!response.Plaintext) throw new Error('KMS Decrypt returned no plaintext');
    return response.Plaintext;
  }
}
