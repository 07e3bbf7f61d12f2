// `npm run operator -- [flags]`: the operator wired to the local environment in `.local/` (or --dir):
// kubeconfig, the ARM emulator's endpoint, CA and token, the environment CA for database servers and the
// emulator's host map. Every flag given on the command line wins over the one derived here.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { readEnvInfo, type EnvInfo } from './localenv.js';
import { localDir, repoRoot } from './paths.js';
import { externalHostsFile } from './dev-fixtures/external.js';

/**
 * The local environment's scope policy: the emulator is a sandbox, so every namespace may use the
 * operator's identity anywhere in it and adopt there (an install's default is to grant nothing).
 */
function localScopePolicy(env: EnvInfo): string {
  const file = path.join(env.dir, 'azure-scope-policy.yaml');
  const policy = ['# npm run operator: the local ARM emulator only', 'rules:', '  - namespaceSelector: {}', '    subscriptions: ["*"]', '    resourceGroups: ["*"]', '    allowAdoption: true', ''].join('\n');
  fs.writeFileSync(file, policy);
  return file;
}

/** Flags that point the operator at the local environment. */
export function localOperatorFlags(env: EnvInfo): string[] {
  const flags = [`--kubeconfig=${env.kubeconfig}`, `--postgres-ca-file=${env.ca.certFile}`];
  // Host maps for database servers: the external-server dev fixture's, then the emulator's (joined with
  // the path delimiter; src/postgres/hosts.ts reads each and follows their changes).
  const hostsFiles = [externalHostsFile(env), ...(env.arm ? [env.arm.hostsFile] : [])];
  flags.push(`--postgres-hosts-file=${hostsFiles.join(path.delimiter)}`);
  if (env.arm) {
    // The emulator accepts any bearer token; a fixed one stands in for the pod identity locally.
    const tokenFile = path.join(env.dir, 'arm-token');
    if (!fs.existsSync(tokenFile)) fs.writeFileSync(tokenFile, 'local-emulator-token\n', { mode: 0o600 });
    // Credentials Secrets (spec.server.azure.credentialsSecretRef) get their tokens from the emulator's Entra.
    flags.push(
      `--azure-arm-endpoint=${env.arm.endpoint}`,
      `--azure-authority-host=${env.arm.authorityHost ?? env.arm.endpoint}`,
      `--azure-ca-file=${env.arm.caFile}`,
      `--azure-static-token-file=${tokenFile}`,
      `--azure-scope-policy=${localScopePolicy(env)}`,
    );
  }
  return flags;
}

/** Merges derived flags with the user's: a flag the user gave (by name) replaces the derived one. */
export function mergeFlags(derived: string[], given: string[]): string[] {
  const name = (f: string) => f.replace(/^--?/, '').split('=')[0];
  const givenNames = new Set(given.filter((f) => f.startsWith('-')).map(name));
  return [...derived.filter((f) => !givenNames.has(name(f))), ...given];
}

function main(): void {
  const argv = process.argv.slice(2);
  let dir = localDir();
  const i = argv.findIndex((a) => a === '--dir' || a.startsWith('--dir='));
  if (i >= 0) {
    const a = argv[i] as string;
    dir = path.resolve(a.includes('=') ? a.slice(a.indexOf('=') + 1) : (argv[i + 1] as string));
    argv.splice(i, a.includes('=') ? 1 : 2);
  }
  const env = readEnvInfo(dir);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'main.ts'), ...mergeFlags(localOperatorFlags(env), argv)], { cwd: repoRoot, stdio: 'inherit' });
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => child.kill(sig));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) main();
