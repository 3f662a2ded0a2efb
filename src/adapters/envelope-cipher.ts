/**
 * FieldCipher by envelope encryption: AES-256-GCM under a data key per run, the wrapped data key
 * carried in each value so any stage holding the master key (KMS Decrypt permission) can decrypt.
 * Value format: `enc:v1:<wrapped key b64>:<iv b64>:<ciphertext+tag b64>`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import {
  type DataKey,
  type DataKeyProvider,
  type FieldCipher,
  KeyServiceUnavailableError,
} from '../stages/ports.ts';

const PREFIX = 'enc:v1:';

export function isEncryptedValue(value: string): boolean {
  return value.startsWith(PREFIX);
}

export class EnvelopeCipher implements FieldCipher {
  private readonly keysByRun = new Map<string, Promise<DataKey & { wrappedText: string }>>();
  private readonly plaintextByWrapped = new Map<string, Promise<Uint8Array>>();

  constructor(private readonly keys: DataKeyProvider) {}

  async encrypt(run: string, plaintext: string): Promise<string> {
    const key = await this.dataKey(run);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key.plaintext, iv);
    // The run is authenticated data: a value moved to another run does not decrypt.
    cipher.setAAD(Buffer.from(run));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${PREFIX}${key.wrappedText}:${iv.toString('base64')}:${body.toString('base64')}`;
  }

  async decrypt(run: string, value: string): Promise<string> {
    if (!isEncryptedValue(value)) throw new Error('value is not encrypted');
    const [wrappedText, ivText, bodyText] = value.slice(PREFIX.length).split(':');
    if (!wrappedText || !ivText || !bodyText) throw new Error('malformed encrypted value');
    let key: Uint8Array;
    try {
      key = await this.unwrap(run, wrappedText);
    } catch (error) {
      // The key service is down or busy: the value is fine, try again later (not a failed row).
      if (isKeyServiceUnavailable(error)) {
        throw new KeyServiceUnavailableError(
          `the key service could not unwrap the data key: ${String(error)}`,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
    const body = Buffer.from(bodyText, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(ivText, 'base64'));
    decipher.setAAD(Buffer.from(run));
    decipher.setAuthTag(body.subarray(body.length - 16));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  }

  private dataKey(run: string): Promise<DataKey & { wrappedText: string }> {
    let key = this.keysByRun.get(run);
    if (!key) {
      key = this.keys
        .generateDataKey({ run })
        .then((k) => ({ ...k, wrappedText: Buffer.from(k.wrapped).toString('base64') }));
      this.keysByRun.set(run, key);
    }
    return key;
  }

  /** One unwrap (one KMS Decrypt) per data key, however many values it encrypted. */
  private unwrap(run: string, wrappedText: string): Promise<Uint8Array> {
    let key = this.plaintextByWrapped.get(wrappedText);
    if (!key) {
      key = this.keys.unwrapDataKey(Buffer.from(wrappedText, 'base64'), { run });
      key.catch(() => this.plaintextByWrapped.delete(wrappedText));
      this.plaintextByWrapped.set(wrappedText, key);
    }
    return key;
  }
}

/** KMS's answers that say "not now" rather than "never", and network failures on the way to it. */
const TRANSIENT_KEY_SERVICE_ERRORS = new Set([
  'ThrottlingException',
  'KMSInternalException',
  'DependencyTimeoutException',
  'ServiceUnavailableException',
  'TimeoutError',
]);
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

function isKeyServiceUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { name?: unknown; code?: unknown; $fault?: unknown };
  return (
    e.$fault === 'server' ||
    (typeof e.name === 'string' && TRANSIENT_KEY_SERVICE_ERRORS.has(e.name)) ||
    (typeof e.code === 'string' && NETWORK_ERROR_CODES.has(e.code))
  );
}
