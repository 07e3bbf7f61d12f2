// Flux's source-controller for the tests of Migrations with a Flux source: its CRDs come from the same
// module version the Go tool builds (dev/env/go/source-controller/go.mod), read from the Go module cache,
// so the tests install exactly the API the controller serves, never a copy kept here.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from './paths.js';
import { EnvError } from './proc.js';

const MODULE = 'github.com/fluxcd/source-controller';
const TOOL_DIR = path.join(repoRoot, 'dev', 'env', 'go', 'source-controller');

/** The source-controller version the tool's go.mod pins. */
export function sourceControllerVersion(): string {
  const m = new RegExp(`^\\s*(?:require\\s+)?${MODULE.replace(/[./]/g, '\\$&')}\\s+(v\\S+)`, 'm').exec(fs.readFileSync(path.join(TOOL_DIR, 'go.mod'), 'utf8'));
  if (!m) throw new EnvError(`${MODULE} is not required in ${TOOL_DIR}/go.mod`);
  return m[1] as string;
}

/** Paths of source-controller's CRD manifests (GitRepository, OCIRepository, Bucket and the rest). */
export function fluxCrdFiles(): string[] {
  const mod = `${MODULE}@${sourceControllerVersion()}`;
  const res = spawnSync('go', ['mod', 'download', '-json', mod], { encoding: 'utf8', timeout: 300_000, cwd: TOOL_DIR, env: { ...process.env, GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local' } });
  if (res.status !== 0) throw new EnvError(`go mod download ${mod} failed: ${res.stderr || res.error?.message}`);
  const dir = path.join((JSON.parse(res.stdout) as { Dir: string }).Dir, 'config', 'crd', 'bases');
  return fs
    .readdirSync(dir)
    .filter((f) => f.startsWith('source.toolkit.fluxcd.io_') && f.endsWith('.yaml'))
    .sort()
    .map((f) => path.join(dir, f));
}
