// A TCP proxy between a client and the apiserver that can cut the network (refuse and drop every
// connection) or black-hole it (keep connections open but deliver nothing), to test watch recovery
// from failures an apiserver restart alone does not produce.
import net from 'node:net';

type Mode = 'pass' | 'cut' | 'blackhole';

export class TcpProxy {
  private mode: Mode = 'pass';
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let self: TcpProxy | undefined;
    const server = net.createServer((client) => self?.accept(client, targetHost, targetPort));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    self = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    return self;
  }

  private accept(client: net.Socket, host: string, port: number): void {
    if (this.mode === 'cut') {
      client.destroy();
      return;
    }
    const upstream = net.connect(port, host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    this.pairs.add(pair);
    const forward = (from: net.Socket, to: net.Socket): void => {
      from.on('data', (d) => {
        if (this.mode === 'pass') to.write(d);
      });
      from.on('close', () => {
        // A black hole swallows the close as well: the other side must notice on its own.
        if (this.mode !== 'blackhole') to.destroy();
        this.pairs.delete(pair);
      });
      from.on('error', () => undefined);
    };
    forward(client, upstream);
    forward(upstream, client);
  }

  cut(): void {
    this.mode = 'cut';
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs.clear();
  }

  blackhole(): void {
    this.mode = 'blackhole';
  }

  heal(): void {
    if (this.mode === 'blackhole') {
      // Connections that lost data in the hole are broken streams now; drop them.
      for (const [a, b] of this.pairs) {
        a.destroy();
        b.destroy();
      }
      this.pairs.clear();
    }
    this.mode = 'pass';
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
