/**
 * The dashboard on a port of its own, for `etl run --dashboard`: the same page and API as on
 * `etl up`'s edge, behind the same Host and Origin checks, and nothing else.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UserError } from '../../../pipeline/errors.ts';
import { RequestGuard } from '../edge/guard.ts';
import type { LocalPipeline } from '../pipeline.ts';
import { Dashboard, DASHBOARD_PATH } from './dashboard.ts';

export class DashboardPortInUseError extends UserError {
  override readonly name = 'DashboardPortInUseError';
}

export class DashboardServer {
  private constructor(
    private readonly server: Server,
    private readonly dashboard: Dashboard,
    readonly url: string,
  ) {}

  /** Binds `port` on `host` (0: a free port); a port in use is a DashboardPortInUseError. */
  static async listen(options: {
    pipeline: LocalPipeline;
    port: number;
    host?: string;
    onError?: (error: unknown) => void;
  }): Promise<DashboardServer> {
    const host = options.host ?? '127.0.0.1';
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE')
          reject(new DashboardPortInUseError(`port ${options.port} on ${host} is already in use`));
        else reject(error);
      });
      server.listen(options.port, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const guard = new RequestGuard({ host, port });
    const dashboard = new Dashboard({
      pipeline: options.pipeline,
      ...(options.onError ? { onError: options.onError } : {}),
    });
    server.on('request', (req, res) => {
      const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
      const refused = guard.refuseOrigin(req, 'json');
      if (refused) {
        req.resume();
        res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
        res.end(`${refused.message}\n`);
        return;
      }
      if (path === '/' || path === '') {
        req.resume();
        res.writeHead(308, { location: DASHBOARD_PATH, 'content-length': 0 });
        res.end();
        return;
      }
      if (!Dashboard.owns(path)) {
        req.resume();
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`nothing here: the dashboard is at ${DASHBOARD_PATH}\n`);
        return;
      }
      dashboard.handle(req, res);
    });
    return new DashboardServer(server, dashboard, `http://${host}:${port}${DASHBOARD_PATH}`);
  }

  async close(): Promise<void> {
    await this.dashboard.close();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }
}
