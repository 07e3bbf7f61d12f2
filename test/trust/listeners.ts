// Hostile endpoints for the "status is output, never input" attacks: servers whose certificates the
// operator trusts (issued by the local CA it is configured with), so that only the operator's own
// checks keep a token or a password away from them. Each records everything it receives.
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { ensureCertificateAuthority, issueCertificate } from '../../dev/env/pki.js';

export interface RecordedRequest {
  method: string;
  url: string;
  authorization: string | undefined;
}

/** An HTTPS server on 127.0.0.1 answering every request as an operation still in progress. */
export async function hostileArm(caDir: string): Promise<{ origin: string; requests: RecordedRequest[]; close(): Promise<void> }> {
  const ca = await ensureCertificateAuthority(caDir);
  const leaf = await issueCertificate(ca, { commonName: 'hostile-arm', ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'], usage: 'server' });
  const requests: RecordedRequest[] = [];
  const server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'InProgress' }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `https://127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/**
 * A fake PostgreSQL server for `hostName` on 127.0.0.1: it accepts TLS (a certificate for that name),
 * reads the startup message and asks for the password in clear text, recording every byte it gets.
 */
export async function hostilePostgres(caDir: string, hostName: string): Promise<{ port: number; connections: number; received(): Buffer; close(): Promise<void> }> {
  const ca = await ensureCertificateAuthority(caDir);
  const leaf = await issueCertificate(ca, { commonName: hostName, dnsNames: [hostName], usage: 'server' });
  const chunks: Buffer[] = [];
  const state = { connections: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((raw) => {
    state.connections += 1;
    sockets.add(raw);
    raw.on('error', () => undefined);
    raw.once('data', (first: Buffer) => {
      chunks.push(first);
      // SSLRequest (length 8, code 80877103): yes, then TLS on the same socket.
      if (first.length >= 8 && first.readInt32BE(4) === 80877103) {
        raw.write('S');
        const secure = new tls.TLSSocket(raw, { isServer: true, cert: leaf.certPem, key: leaf.keyPem });
        secure.on('error', () => undefined);
        let startup = true;
        secure.on('data', (d: Buffer) => {
          chunks.push(d);
          if (startup) {
            startup = false;
            const ask = Buffer.alloc(9);
            ask.write('R', 0);
            ask.writeInt32BE(8, 1);
            ask.writeInt32BE(3, 5); // AuthenticationCleartextPassword
            secure.write(ask);
          } else secure.destroy();
        });
      } else raw.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    get connections() {
      return state.connections;
    },
    received: () => Buffer.concat(chunks),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A hosts file (`--postgres-hosts-file` format) sending `hostName` to the fake server. */
export function hostsFileFor(file: string, hostName: string, port: number): string {
  fs.writeFileSync(file, JSON.stringify({ [hostName]: { host: '127.0.0.1', port } }));
  return file;
}
