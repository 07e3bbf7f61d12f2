// Where an emulated server's PostgreSQL sends a Microsoft Entra principal's login: PostgreSQL's own `ldap`
// authentication (simple bind) against this small LDAP endpoint on loopback, with the bind DN
// `cn=<role>,ou=<server>,dc=pgaadauth` and the client's password, i.e. its access token. The bind succeeds
// only when the token passes the check (entra/token-check.ts plus the role's object id); PostgreSQL refuses
// the login otherwise, so the check is enforced by the server, not by any client.
// Why LDAP and not PAM: pam_exec hands a program at most PAM_MAX_RESP_SIZE (512) bytes of the password and
// Entra tokens are longer; RADIUS caps passwords at 128 bytes. An LDAP simple bind carries the whole token.
// Only what PostgreSQL's simple bind sends is understood: BindRequest (answered) and UnbindRequest.
import net from 'node:net';

/** Resolves to undefined when the login is accepted, else the reason (written to the server's log). */
export type LoginCheck = (serverKey: string, role: string, token: string) => Promise<string | undefined>;

const DN_SUFFIX = ',dc=pgaadauth';
const BIND_REQUEST = 0x60;
const UNBIND_REQUEST = 0x42;
const SUCCESS = 0;
const INVALID_CREDENTIALS = 49;

interface Tlv {
  tag: number;
  value: Buffer;
  end: number;
}

/** One BER element at `off`; undefined while the buffer does not hold all of it yet. */
function readTlv(buf: Buffer, off: number): Tlv | undefined {
  if (buf.length < off + 2) return undefined;
  let len = buf[off + 1]!;
  let p = off + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3) throw new Error('unsupported BER length');
    if (buf.length < p + n) return undefined;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[p++]!;
  }
  if (buf.length < p + len) return undefined;
  return { tag: buf[off]!, value: buf.subarray(p, p + len), end: p + len };
}

function children(value: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let off = 0; off < value.length; ) {
    const t = readTlv(value, off);
    if (!t) throw new Error('truncated BER element');
    out.push(t);
    off = t.end;
  }
  return out;
}

function tlv(tag: number, value: Buffer): Buffer {
  const n = value.length;
  const len = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...len]), value]);
}

function bindResponse(messageId: Buffer, code: number, diagnostic: string): Buffer {
  const op = tlv(0x61, Buffer.concat([tlv(0x0a, Buffer.from([code])), tlv(0x04, Buffer.alloc(0)), tlv(0x04, Buffer.from(diagnostic, 'utf8'))]));
  return tlv(0x30, Buffer.concat([tlv(0x02, messageId), op]));
}

/** `cn=<role>,ou=<server>,dc=pgaadauth` -> its parts (the role may itself hold commas, the server key cannot). */
export function parseBindDn(dn: string): { role: string; serverKey: string } | undefined {
  if (!dn.startsWith('cn=') || !dn.endsWith(DN_SUFFIX)) return undefined;
  const rest = dn.slice(3, -DN_SUFFIX.length);
  const i = rest.lastIndexOf(',ou=');
  if (i <= 0) return undefined;
  return { role: rest.slice(0, i), serverKey: rest.slice(i + 4) };
}

export class EntraLoginService {
  private server: net.Server | undefined;
  port = 0;
  /** Logins checked (accepted + refused), for tests and the README's figures. */
  readonly stats = { accepted: 0, refused: 0 };

  constructor(private readonly check: LoginCheck) {}

  /** The pg_hba.conf options sending a login of `serverKey` here. */
  hbaOptions(serverKey: string): string {
    return `ldapserver=127.0.0.1 ldapport=${this.port} ldapprefix="cn=" ldapsuffix=",ou=${serverKey}${DN_SUFFIX}"`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = net.createServer((sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    server.unref();
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  private serve(sock: net.Socket): void {
    let buf = Buffer.alloc(0);
    sock.setTimeout(30_000, () => sock.destroy());
    sock.on('error', () => sock.destroy());
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      try {
        for (let msg = readTlv(buf, 0); msg; msg = readTlv(buf, 0)) {
          buf = buf.subarray(msg.end);
          this.onMessage(sock, msg);
        }
      } catch {
        sock.destroy();
      }
    });
  }

  private onMessage(sock: net.Socket, msg: Tlv): void {
    const [id, op] = children(msg.value);
    if (msg.tag !== 0x30 || !id || !op) throw new Error('not an LDAPMessage');
    if (op.tag === UNBIND_REQUEST) {
      sock.end();
      return;
    }
    if (op.tag !== BIND_REQUEST) throw new Error(`unsupported LDAP operation 0x${op.tag.toString(16)}`);
    const [, name, auth] = children(op.value);
    const dn = parseBindDn(name?.value.toString('utf8') ?? '');
    const token = auth?.tag === 0x80 ? auth.value.toString('utf8') : '';
    const answer = (code: number, diagnostic: string) => {
      if (code === SUCCESS) this.stats.accepted++;
      else this.stats.refused++;
      if (!sock.destroyed) sock.write(bindResponse(id.value, code, diagnostic));
    };
    if (!dn || !token) return answer(INVALID_CREDENTIALS, 'Microsoft Entra login: no role or no token');
    this.check(dn.serverKey, dn.role, token).then(
      (reason) => answer(reason === undefined ? SUCCESS : INVALID_CREDENTIALS, reason === undefined ? '' : `Microsoft Entra login refused: ${reason}`),
      (err: Error) => answer(INVALID_CREDENTIALS, `Microsoft Entra login could not be checked: ${err.message}`),
    );
  }
}
