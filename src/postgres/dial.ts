// A TLS channel to a PostgreSQL server, opened before the login that will use it is known. A new session
// costs the server a backend (fork and start) and a TLS handshake before the startup packet is even read;
// a caller that knows a login will follow (the migration login, while the administrator issues its
// one-time password) dials first and logs in on the open channel later. Nothing is sent but PostgreSQL's
// SSLRequest and the TLS handshake, verified exactly as a login's own would be: the server learns no role,
// no database, no credential until the login. The protocol facts (SSLRequest code 80877103, answered by
// one byte, 'S' to go on with TLS) are from PostgreSQL's "Message Flow: SSL Session Encryption".
import net from 'node:net';
import tls from 'node:tls';

/** SSLRequest: length 8, request code 1234 << 16 | 5679. */
const SSL_REQUEST = Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f]);

/**
 * A channel this old is not used (the caller dials again): the server closes a connection that sends no
 * startup packet within authentication_timeout, whose floor is 1 s.
 */
export const DIALED_MAX_AGE_MS = 900;

export interface DialedChannel {
  /** The verified TLS socket, or undefined when the dial failed (the login then dials on its own and reports why). */
  take(): Promise<tls.TLSSocket | undefined>;
  /** Closes the channel if it was never taken (the login did not happen). */
  abandon(): void;
}

export interface DialOptions {
  host: string;
  port: number;
  tls: tls.ConnectionOptions;
  timeoutMs: number;
}

/** Opens TCP, asks for TLS, and completes the handshake with `tls` (CA, name check) as pg's own upgrade would. */
export function dialTls(opts: DialOptions): DialedChannel {
  const started = Date.now();
  let socket: tls.TLSSocket | undefined;
  let taken = false;
  const raw = net.connect({ host: opts.host, port: opts.port });
  // Errors after the handshake (the server ends an unused channel) reach whoever holds the socket by then;
  // until pg does, nobody listens, and an unheard 'error' would end the process.
  raw.on('error', () => undefined);
  const ready = new Promise<tls.TLSSocket>((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      raw.destroy();
      socket?.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new Error('timeout dialling the server')), opts.timeoutMs);
    raw.setNoDelay(true);
    raw.once('error', fail);
    raw.once('connect', () => raw.write(SSL_REQUEST));
    raw.once('data', (answer) => {
      if (answer.length !== 1 || answer[0] !== 0x53) return fail(new Error('the server did not accept TLS'));
      socket = tls.connect({ ...opts.tls, socket: raw });
      socket.on('error', () => undefined);
      socket.once('error', fail);
      socket.once('secureConnect', () => {
        clearTimeout(timer);
        (socket as tls.TLSSocket).off('error', fail);
        raw.off('error', fail);
        resolve(socket as tls.TLSSocket);
      });
    });
  });
  ready.catch(() => undefined);
  return {
    async take() {
      taken = true;
      const s = await ready.catch(() => undefined);
      if (!s) return undefined;
      if (s.destroyed || Date.now() - started > DIALED_MAX_AGE_MS) {
        s.destroy();
        return undefined;
      }
      return s;
    },
    abandon() {
      if (taken) return;
      taken = true;
      void ready.then((s) => s.destroy(), () => undefined);
      raw.destroy();
    },
  };
}

/**
 * The socket as pg's connection wants a stream it may `connect`: already connected, so connecting only
 * reports it (on the next tick, after pg has attached its listener). pg is then told there is no TLS to
 * negotiate and sends the startup packet on this channel.
 */
export function connectedStream(socket: tls.TLSSocket): tls.TLSSocket {
  socket.connect = ((..._args: unknown[]) => {
    process.nextTick(() => socket.emit('connect'));
    return socket;
  }) as typeof socket.connect;
  return socket;
}
