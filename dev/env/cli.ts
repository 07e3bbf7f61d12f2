// `npm run env -- up | down | status | gomod`: the local environment from the command line.
import { parseArgs } from 'node:util';
import { regenerateGoMods } from './gomod.js';
import { down, readEnvInfo, status, up } from './localenv.js';
import { localDir } from './paths.js';
import { EnvError } from './proc.js';

const USAGE = `usage: npm run env -- <command> [options]

commands:
  up       build (first run only) and start etcd, kube-apiserver, PostgreSQL and the ARM emulator
  down     stop everything 'up' started
  status   show the recorded processes and whether they run
  gomod    regenerate dev/env/go/*/go.mod from the pinned versions

options:
  --dir <path>          state folder (default .local/ or $TENANTDB_LOCAL_DIR)
  --existing-cluster    use the cluster KUBECONFIG points at (or TENANTDB_USE_EXISTING_CLUSTER=true)
  --no-arm              do not start the ARM emulator
`;

function maskPassword(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]+@/, '//$1:****@');
}

async function main(): Promise<number> {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      dir: { type: 'string' },
      'existing-cluster': { type: 'boolean' },
      'no-arm': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const dir = values.dir ?? localDir();
  const cmd = positionals[0];
  const log = (m: string) => process.stderr.write(`[env] ${m}\n`);
  switch (cmd) {
    case 'up': {
      const t0 = Date.now();
      const info = await up({
        dir,
        log,
        arm: !values['no-arm'],
        ...(values['existing-cluster'] ? { existingCluster: true } : {}),
      });
      const lines = [
        `local environment up in ${((Date.now() - t0) / 1000).toFixed(1)} s`,
        `  kubernetes  ${info.kubernetes.server} (${info.kubernetes.version})`,
        `  kubeconfig  ${info.kubeconfig}`,
        `  kubectl     ${info.kubectl}`,
        `  postgres    ${maskPassword(info.postgres.url)} (PostgreSQL ${info.postgres.version}, CA ${info.postgres.caFile})`,
        ...(info.arm ? [`  arm         ${info.arm.endpoint} (control ${info.arm.controlEndpoint}, CA ${info.arm.caFile})`] : []),
        `  env file    ${dir}/env.json`,
        '',
        `  export KUBECONFIG=${info.kubeconfig}`,
      ];
      process.stdout.write(lines.join('\n') + '\n');
      return 0;
    }
    case 'down': {
      const stopped = await down(dir);
      process.stdout.write(stopped.length ? `stopped ${stopped.map((p) => `${p.name} (${p.pid})`).join(', ')}\n` : 'nothing was running\n');
      return 0;
    }
    case 'status': {
      const lines = status(dir);
      if (lines.length === 0) {
        process.stdout.write('not running\n');
        return 1;
      }
      for (const l of lines) process.stdout.write(`${l.running ? 'running' : 'stopped'}  ${l.name} (pid ${l.pid})\n`);
      try {
        process.stdout.write(`env file: ${dir}/env.json (kubeconfig ${readEnvInfo(dir).kubeconfig})\n`);
      } catch {
        /* not fully up */
      }
      return lines.every((l) => l.running) ? 0 : 1;
    }
    case 'gomod':
      regenerateGoMods(log);
      return 0;
    default:
      process.stdout.write(USAGE);
      return values.help ? 0 : 2;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`error: ${err instanceof EnvError ? err.message : (err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
