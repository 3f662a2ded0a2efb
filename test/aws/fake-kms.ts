/**
 * A tiny KMS on 127.0.0.1 speaking KMS's JSON protocol (X-Amz-Target: TrentService.*), enough for
 * GenerateDataKey and Decrypt: the data key is wrapped with AES-GCM under a master key, the key id and
 * the encryption context are authenticated, so a wrong context or key is refused as KMS refuses it.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeKms {
  endpoint: string;
  keyId: string;
  calls: { action: string; body: Record<string, unknown> }[];
  close(): Promise<void>;
}

function aad(keyId: string, context: Record<string, string> | undefined): Buffer {
  const sorted = Object.entries(context ?? {}).sort(([a], [b]) => a.localeCompare(b));
  return Buffer.from(JSON.stringify([keyId, sorted]));
}

export async function startFakeKms(keyId = 'arn:aws:kms:eu-west-1:123456789012:key/test'): Promise<FakeKms> {
  const master = randomBytes(32);
  const calls: FakeKms['calls'] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const action = String(req.headers['x-amz-target'] ?? '').replace('TrentService.', '');
      const body = JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>;
      calls.push({ action, body });
      const reply = (status: number, payload: unknown, errorType?: string): void => {
        res.writeHead(status, {
          'content-type': 'application/x-amz-json-1.1',
          ...(errorType ? { 'x-amzn-errortype': errorType } : {}),
        });
        res.end(JSON.stringify(payload));
      };
      const context = body.EncryptionContext as Record<string, string> | undefined;
      if (action === 'GenerateDataKey') {
        if (body.KeyId !== keyId)
          return reply(400, { __type: 'NotFoundException', message: 'no such key' }, 'NotFoundException');
        const plaintext = randomBytes(body.KeySpec === 'AES_256' ? 32 : 16);
        const iv = randomBytes(12);
        const cipher = createCipheriv('aes-256-gcm', master, iv).setAAD(aad(keyId, context));
        const blob = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
        return reply(200, {
          KeyId: keyId,
          Plaintext: plaintext.toString('base64'),
          CiphertextBlob: blob.toString('base64'),
        });
      }
      if (action === 'Decrypt') {
        try {
          if (body.KeyId !== undefined && body.KeyId !== keyId) throw new Error('IncorrectKeyException');
          const blob = Buffer.from(String(body.CiphertextBlob), 'base64');
          const decipher = createDecipheriv('aes-256-gcm', master, blob.subarray(0, 12)).setAAD(
            aad(keyId, context),
          );
          decipher.setAuthTag(blob.subarray(blob.length - 16));
          const plaintext = Buffer.concat([
            decipher.update(blob.subarray(12, blob.length - 16)),
            decipher.final(),
          ]);
          return reply(200, {
            KeyId: keyId,
            Plaintext: plaintext.toString('base64'),
            EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
          });
        } catch {
          return reply(
            400,
            { __type: 'InvalidCiphertextException', message: 'invalid ciphertext' },
            'InvalidCiphertextException',
          );
        }
      }
      return reply(
        400,
        { __type: 'UnsupportedOperationException', message: action },
        'UnsupportedOperationException',
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    keyId,
    calls,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
