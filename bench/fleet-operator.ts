// The operator of the controllers-fleet benchmark, in a process of its own so that its memory is the
// operator's alone: the runtime's Manager with the four controllers registered exactly as src/main.ts
// does (leader election off, info logs — to a file, as stdout is not ours), and nothing else but a small
// IPC handler through which the benchmark (controllers-fleet.ts, which does all watching and counting)
// asks for memory and reconcile counters and finally says stop.
//
//   node [the image's node flags] --import tsx --expose-gc fleet-operator.ts --kubeconfig <file> --workers N --sync-period-ms N --log-file <file>
//
// Messages from the parent: { cmd: 'start' } → { type: 'started', at } once manager.start() returned;
// { cmd: 'stats', gc?: boolean } → { type: 'stats', memory, heapSpaces, peaks, reconciles }; { cmd: 'stop' } → stops
// the manager, answers { type: 'stopped' } and exits.
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { registerControllers } from '../controllers/index.js';
import { cacheTransformFor } from '../src/runtime/cache-transform.js';
import { loadKubeConfig } from '../src/runtime/kubeconfig.js';
import { createLogger } from '../src/runtime/logging.js';
import { Manager } from '../src/runtime/manager.js';
import { reconcileErrors, reconcileTotal } from '../src/runtime/metrics.js';
import { gc, heapSpaces, memory, memorySampler } from './mem.js';

export interface ReconcileCounts {
  total: number;
  errors: number;
  byController: Record<string, number>;
}

export type HostRequest = { cmd: 'start' } | { cmd: 'stats'; gc?: boolean } | { cmd: 'stop' };
export type HostReply =
  | { type: 'ready' }
  | { type: 'started' }
  | {
      type: 'stats';
      memory: ReturnType<typeof memory>;
      heapSpaces: ReturnType<typeof heapSpaces>;
      peaks: { peakRssMiB: number; peakHeapUsedMiB: number };
      reconciles: ReconcileCounts;
    }
  | { type: 'stopped' }
  | { type: 'error'; message: string };

async function reconcileCounts(): Promise<ReconcileCounts> {
  const byController: Record<string, number> = {};
  let total = 0;
  for (const v of (await reconcileTotal.get()).values) {
    const c = String(v.labels.controller);
    byController[c] = (byController[c] ?? 0) + v.value;
    total += v.value;
  }
  const errors = (await reconcileErrors.get()).values.reduce((n, v) => n + v.value, 0);
  return { total, errors, byController };
}

function send(msg: HostReply): void {
  process.send?.(msg);
}

async function main(): Promise<void> {
  if (!process.send) throw new Error('fleet-operator.ts runs as a child of the controllers-fleet benchmark (needs an IPC channel)');
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      workers: { type: 'string' },
      'sync-period-ms': { type: 'string' },
      'log-file': { type: 'string' },
    },
  });
  const logFile = values['log-file'] ?? '/dev/null';
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const mgr = new Manager({
    kubeConfig: loadKubeConfig({ kubeconfig: values.kubeconfig }),
    logger: createLogger({ level: 'info', destination: fs.createWriteStream(logFile) }),
    leaderElection: { enabled: false, namespace: 'default', id: 'tenantdb-operator.tenantdb.io' },
    metricsBindAddress: '0',
    healthProbeBindAddress: '0',
    maxConcurrentReconciles: Number(values.workers ?? 1),
    syncPeriodMs: Number(values['sync-period-ms'] ?? 10 * 60 * 60 * 1000),
    gracefulShutdownTimeoutMs: 10_000,
    // What the caches keep, as src/main.ts sets it.
    informer: { transformFor: cacheTransformFor },
  });
  registerControllers(mgr);
  let sampler: ReturnType<typeof memorySampler> | undefined;
  let peaks = { peakRssMiB: 0, peakHeapUsedMiB: 0 };

  process.on('message', (msg: HostRequest) => {
    void (async () => {
      try {
        switch (msg.cmd) {
          case 'start':
            gc();
            sampler = memorySampler(100);
            await mgr.start();
            send({ type: 'started' });
            return;
          case 'stats':
            if (sampler) peaks = sampler.stop();
            sampler = memorySampler(100);
            if (msg.gc) gc();
            send({ type: 'stats', memory: memory(), heapSpaces: heapSpaces(), peaks, reconciles: await reconcileCounts() });
            return;
          case 'stop':
            sampler?.stop();
            await mgr.stop();
            send({ type: 'stopped' });
            process.disconnect();
            setTimeout(() => process.exit(0), 200).unref();
            return;
        }
      } catch (err) {
        send({ type: 'error', message: err instanceof Error ? err.message : String(err) });
      }
    })();
  });
  // The parent going away (crash, SIGKILL) must not leave an operator running.
  process.on('disconnect', () => {
    void mgr.stop().finally(() => process.exit(0));
  });
  send({ type: 'ready' });
}

main().catch((err: unknown) => {
  process.stderr.write(`fleet-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
