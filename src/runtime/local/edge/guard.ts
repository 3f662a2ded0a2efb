/**
 * Who may drive the edge. It listens on loopback, but a web page the user opens can still reach it:
 * by DNS rebinding (a page's own host name made to resolve to 127.0.0.1: the browser then sends
 * that name as Host) or by cross-site requests (a form POST, which a browser sends anywhere without
 * asking). So a request is served only when
 * - its Host names this endpoint: the bound address, `localhost`, `127.0.0.1` or `[::1]` with the
 *   edge's port (`<bucket>.localhost` too, for virtual-host S3), or a name the user allowed
 *   (`etl up --allow-host NAME`);
 * - it carries no Origin, or this endpoint's own (browsers add Origin to cross-site requests);
 * - an AWS API call is signed, with SigV4 (`Authorization: AWS4-HMAC-SHA256 ...`) or as a presigned
 *   URL (`X-Amz-Signature`). Any credentials do, as with LocalStack: the signature is not checked,
 *   but a browser cannot produce the header in a form or a simple request.
 */
import type { IncomingMessage } from 'node:http';
import { AwsApiError } from './errors.ts';

export interface GuardOptions {
  /** The address the edge is bound to. */
  host: string;
  port: number;
  /** Further host names (any port) the user allows. */
  allowHosts?: readonly string[];
}

const LOOPBACK_NAMES = ['localhost', '127.0.0.1', '::1'];

/** A Host header (or an origin's host) split into its name and port; undefined if malformed. */
export function parseHost(value: string): { name: string; port: string | undefined } | undefined {
  const match = /^(?:\[(?<v6>[0-9a-fA-F:.]+)\]|(?<name>[^:[\]/\s@]+))(?::(?<port>\d{1,5}))?$/.exec(value);
  if (!match?.groups) return undefined;
  const name = (match.groups.v6 ?? match.groups.name ?? '').toLowerCase().replace(/\.$/, '');
  return { name, port: match.groups.port };
}

/** An allowed host name as given on the command line: `name`, `name:port`, `[v6]` or a bare IPv6. */
export function normaliseHostName(value: string): string {
  const bare = value.trim().toLowerCase();
  if (bare.includes(':') && !bare.startsWith('[') && (bare.match(/:/g)?.length ?? 0) > 1) return bare;
  return parseHost(bare)?.name ?? bare;
}

export class RequestGuard {
  private readonly local: Set<string>;
  private readonly allowed: Set<string>;
  private readonly port: string;

  constructor(options: GuardOptions) {
    this.port = String(options.port);
    const bound = normaliseHostName(options.host);
    this.local = new Set([...LOOPBACK_NAMES, ...(bound === '0.0.0.0' || bound === '::' ? [] : [bound])]);
    this.allowed = new Set((options.allowHosts ?? []).map(normaliseHostName));
  }

  /** Whether a `host[:port]` names this endpoint. */
  isOwnHost(value: string): boolean {
    const host = parseHost(value);
    if (!host) return false;
    if (this.allowed.has(host.name)) return true;
    const local = this.local.has(host.name) || host.name.endsWith('.localhost');
    return local && host.port === this.port;
  }

  /** Why the request must not be served (a foreign Host or Origin), or undefined. */
  refuseOrigin(req: IncomingMessage, protocol: 'json' | 'xml'): AwsApiError | undefined {
    const code = protocol === 'json' ? 'AccessDeniedException' : 'AccessDenied';
    const host = req.headers.host;
    if (host === undefined || !this.isOwnHost(host)) {
      return new AwsApiError(
        code,
        `Host ${JSON.stringify(host ?? '')} is not this endpoint; requests must be addressed to 127.0.0.1:${this.port} ` +
          `or localhost:${this.port} (etl up --allow-host NAME allows another name)`,
        403,
      );
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !this.isOwnOrigin(origin)) {
      return new AwsApiError(
        code,
        `Requests from web pages (Origin ${JSON.stringify(origin)}) are refused: the local endpoint is for AWS clients`,
        403,
      );
    }
    return undefined;
  }

  /** Why an AWS API request must not be served (it is not signed), or undefined. */
  refuseUnsigned(req: IncomingMessage, protocol: 'json' | 'xml'): AwsApiError | undefined {
    if (isSigned(req)) return undefined;
    return new AwsApiError(
      protocol === 'json' ? 'MissingAuthenticationTokenException' : 'AccessDenied',
      'Unsigned requests are refused: sign with AWS Signature Version 4 (any access key and secret will do)',
      403,
    );
  }

  private isOwnOrigin(origin: string): boolean {
    let url: URL;
    try {
      url = new URL(origin);
    } catch {
      return false; // `null` (a sandboxed page, a file) among others
    }
    return url.protocol === 'http:' && url.pathname === '/' && this.isOwnHost(url.host);
  }
}

/** SigV4 in the Authorization header, or a presigned URL's query. */
export function isSigned(req: IncomingMessage): boolean {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^AWS4-HMAC-SHA256\s+Credential=\S/.test(auth)) return true;
  const query = req.url?.indexOf('?') ?? -1;
  if (query === -1 || !req.url) return false;
  const params = new URLSearchParams(req.url.slice(query + 1));
  return (
    params.get('X-Amz-Algorithm') === 'AWS4-HMAC-SHA256' &&
    !!params.get('X-Amz-Credential') &&
    !!params.get('X-Amz-Signature')
  );
}
