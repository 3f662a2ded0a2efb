/**
 * A TCP proxy in front of a real server that can be switched to failing: while it is down, open
 * connections are cut and new ones are reset as soon as they arrive, as a table endpoint that went
 * away would look to the SDK. Used to interrupt dynalite mid-run.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface SwitchableProxy {
  endpoint: string;
  /** Connections reset while down. */
  readonly refused: number;
  /** Goes down once this many request bytes have passed through, for `outageMs`, then up again. */
  failAfterBytes(bytes: number, outageMs: number): Promise<void>;
  down(): void;
  up(): void;
  close(): Promise<void>;
}

export async function startSwitchableProxy(
  targetPort: number,
  targetHost = '127.0.0.1',
): Promise<SwitchableProxy> {
  const sockets = new Set<Socket>();
  let isDown = false;
  let refused = 0;
  let forwarded = 0;
  let trigger: { bytes: number; fire: () => void } | undefined;

  const down = (): void => {
    isDown = true;
    for (const socket of sockets) socket.destroy();
    sockets.clear();
  };
  const server: Server = createServer((client) => {
    if (isDown) {
      refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ port: targetPort, host: targetHost });
    sockets.add(client).add(upstream);
    const forget = (): void => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', forget).on('close', forget);
    upstream.on('error', forget).on('close', forget);
    client.on('data', (chunk: Buffer) => {
      forwarded += chunk.length;
      if (trigger && forwarded >= trigger.bytes) {
        const { fire } = trigger;
        trigger = undefined;
        fire();
        return;
      }
      upstream.write(chunk);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    get refused() {
      return refused;
    },
    failAfterBytes(bytes, outageMs) {
      return new Promise((resolve) => {
        trigger = {
          bytes: forwarded + bytes,
          fire: () => {
            down();
            setTimeout(() => {
              isDown = false;
              resolve();
            }, outageMs);
          },
        };
      });
    },
    down,
    up: () => {
      isDown = false;
    },
    close: () =>
      new Promise((resolve) => {
        down();
        server.close(() => resolve());
      }),
  };
}
