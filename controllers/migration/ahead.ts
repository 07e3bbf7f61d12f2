// Work started ahead of where a pass needs it. Each target database's gate (there, Ready, reachable as its
// administrator: plan.ts) is worked out once per pass, and where it gives a target with no run in
// progress, the administrator's session for the history read is opened then (PostgresConnections.warm):
// the first database's before the sources are read, the next one's while the one before is evaluated. A
// new session costs a backend start and a TLS handshake (20-25 ms on the 2-core machine), which this puts
// beside the work before the read instead of in front of it. No query is sent and nothing is written
// ahead; only a session the history read would open anyway is opened sooner.
import type { MigrationPass } from './pass.js';
import { gate, keepOf, type GateResult } from './plan.js';

type Context = Pick<MigrationPass, 'env' | 'kit' | 'prevDbs'>;

export class TargetGates {
  private readonly memo = new Map<string, Promise<GateResult>>();

  constructor(private readonly pass: Context) {}

  /** The gate of `name`, worked out on first ask. */
  get(name: string): Promise<GateResult> {
    let g = this.memo.get(name);
    if (!g) {
      g = gate(this.pass, name, keepOf(this.pass.prevDbs.get(name)));
      this.memo.set(name, g);
    }
    return g;
  }

  /** Starts `name`'s gate and, past it, its administrator's session (not while a run of it is in progress: no history is read then). */
  ahead(name: string | undefined): void {
    if (name === undefined) return;
    const { env, kit } = this.pass;
    void this.get(name).then(
      (g) => {
        const run = env.runs.get(kit.key, name);
        if ('target' in g && (!run || run.result)) env.conns.warm(g.target.target);
      },
      () => undefined,
    );
  }
}
