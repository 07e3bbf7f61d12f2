#!/usr/bin/env node
// The operator's entrypoint: parse settings, build the manager with every controller, run until
// SIGTERM/SIGINT, then shut down gracefully (stop taking work, finish in-flight reconciles, release the
// leader lease) and exit 0. A lost lease exits 1 so the pod restarts as a fresh candidate.
import { registerControllers } from '../controllers/index.js';
import { ConfigError, parseConfig, USAGE } from './config.js';
import { API_GROUP } from './api/kinds.js';
import { cacheTransformFor } from './runtime/cache-transform.js';
import { loadKubeConfig } from './runtime/kubeconfig.js';
import { createLogger } from './runtime/logging.js';
import { Manager } from './runtime/manager.js';
import { closeAllPostgresConnections } from './postgres/connections.js';

async function main(): Promise<number> {
  let cfg;
  try {
    cfg = parseConfig(process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`${err.message}\n\n${USAGE}`);
      return 2;
    }
    throw err;
  }
  if (cfg === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const logger = createLogger({ level: cfg.logLevel });
  const manager = new Manager({
    kubeConfig: loadKubeConfig({ kubeconfig: cfg.kubeconfig }),
    logger,
    namespaces: cfg.namespaces,
    // Sharding: this process caches and reconciles only the objects of our four kinds in its shard.
    ...(cfg.watchLabelSelector ? { watchSelector: { labelSelector: cfg.watchLabelSelector, appliesTo: (r) => r.group === API_GROUP } } : {}),
    leaderElection: { enabled: cfg.leaderElect, namespace: cfg.leaderElectionNamespace, id: cfg.leaderElectionId },
    metricsBindAddress: cfg.metricsBindAddress,
    healthProbeBindAddress: cfg.healthProbeBindAddress,
    maxConcurrentReconciles: cfg.maxConcurrentReconciles,
    syncPeriodMs: cfg.syncPeriodMs,
    gracefulShutdownTimeoutMs: cfg.gracefulShutdownTimeoutMs,
    // Caches keep objects without managedFields and kubectl's last-applied copy, which no controller reads.
    informer: { transformFor: cacheTransformFor },
    // Secrets: the Manager's default ('selective') caches only the Secrets the operator writes; the ones a
    // spec names are read by name (a small cache, dropped on change), never listed into memory.
  });
  registerControllers(manager, { azure: cfg.azure, postgres: cfg.postgres, sourceArtifactOrigin: cfg.sourceArtifactOrigin });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      // A second signal means the operator wants out now (as controller-runtime's signal handler does).
      logger.warn({ signal: sig }, 'second signal; exiting immediately');
      process.exit(1);
    }
    logger.info({ signal: sig }, 'shutting down');
    void manager.stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // A bug that escapes every handler leaves the process in an unknown state: log it and exit, and
  // let the restart (and the successor's relist) bring back a consistent view.
  process.on('unhandledRejection', (err) => {
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, 'unhandled rejection; exiting');
    process.exit(1);
  });

  logger.info(
    {
      namespaces: cfg.namespaces.length ? cfg.namespaces : 'all',
      watchLabelSelector: cfg.watchLabelSelector ?? 'all objects',
      leaderElectionId: cfg.leaderElectionId,
      leaderElect: cfg.leaderElect,
      metrics: cfg.metricsBindAddress,
      health: cfg.healthProbeBindAddress,
      maxConcurrentReconciles: cfg.maxConcurrentReconciles,
    },
    'starting tenantdb-operator',
  );
  await manager.start();
  const reason = await manager.done;
  // Database sessions end cleanly (the server logs no broken connections, advisory locks are released).
  await closeAllPostgresConnections();
  return reason === 'leadership-lost' ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Keep-alive sockets or stray timers must not keep a stopped operator alive.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    process.stderr.write(`tenantdb-operator: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
