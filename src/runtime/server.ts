// The operator's HTTP endpoints: /metrics for Prometheus, /healthz (the process is alive and serving)
// and /readyz (caches have synced, so reconciles would see the cluster's state).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type Check = () => boolean;

/** Parses controller-runtime style addresses: ":8080", "127.0.0.1:8080", "[::1]:8080"; "0" disables. */
export function parseBindAddress(addr: string): { host: string; port: number } | undefined {
  if (addr === '' || addr === '0') return undefined;
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`invalid bind address ${JSON.stringify(addr)} (want host:port or :port)`);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid port in bind address ${addr}`);
  return { host, port };
}

export interface Endpoints {
  registry?: Registry;
  healthz?: Check;
  readyz?: Check;
}

export class HttpEndpoint {
  private constructor(private readonly server: http.Server) {}

  static async listen(addr: string, endpoints: Endpoints): Promise<HttpEndpoint | undefined> {
    const bind = parseBindAddress(addr);
    if (!bind) return undefined;
    const server = http.createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      const check = (c: Check | undefined): void => {
        if (!c) return notFound();
        const ok = c();
        res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'not ready');
      };
      const notFound = (): void => void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      if (url === '/metrics' && endpoints.registry) {
        const reg = endpoints.registry;
        reg
          .metrics()
          .then((body) => res.writeHead(200, { 'Content-Type': reg.contentType }).end(body))
          .catch((err: unknown) => res.writeHead(500).end(String(err)));
      } else if (url === '/healthz') check(endpoints.healthz);
      else if (url === '/readyz') check(endpoints.readyz);
      else notFound();
    });
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bind.port, bind.host, () => resolve());
    });
    return new HttpEndpoint(server);
  }

  port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
