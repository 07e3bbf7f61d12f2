// The image's file system, assembled the way the Dockerfile does it (scripts/image-rootfs.sh): the
// production dependencies from the committed lockfile (`npm ci --omit=dev`, cached by the lockfile's
// hash because it needs the registry and ~20 s) and a fresh bundle of src/main.ts. Jest's global setup
// assembles it once per run (prebuild.ts), so test/ship finds it ready.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, repoRoot } from './paths.js';
import { runCommand } from './proc.js';

const SCRIPT = path.join(repoRoot, 'scripts', 'image-rootfs.sh');
/** npm ci from the registry on a new machine, or esbuild: generous, but a hung registry still ends. */
const STEP_TIMEOUT_MS = 600_000;

export interface Rootfs {
  /** /app inside the image. */
  app: string;
  /** The entrypoint the image runs (`node <entrypoint>`). */
  entrypoint: string;
}

async function sh(step: 'deps' | 'bundle', out: string): Promise<void> {
  const res = await runCommand('sh', [SCRIPT, step, repoRoot, out], { timeoutMs: STEP_TIMEOUT_MS, env: { ...process.env, PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH}` } });
  if (res.code !== 0) throw new Error(`image-rootfs.sh ${step} failed (${res.code}):\n${res.stderr}\n${res.stdout}`);
}

/** The cached production dependencies (`<dir>/app/{package.json,node_modules}`), installed when missing. */
export function imageDepsDir(): string {
  const hash = createHash('sha256')
    .update(fs.readFileSync(path.join(repoRoot, 'package-lock.json')))
    .update(fs.readFileSync(SCRIPT))
    .digest('hex')
    .slice(0, 16);
  return path.join(cacheDir(), 'ship-rootfs', hash);
}

export function imageDepsReady(): boolean {
  return fs.existsSync(path.join(imageDepsDir(), 'app', 'node_modules', '.ok'));
}

export async function ensureImageDeps(): Promise<string> {
  const out = imageDepsDir();
  if (imageDepsReady()) return out;
  const tmp = `${out}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await sh('deps', tmp);
  fs.writeFileSync(path.join(tmp, 'app', 'node_modules', '.ok'), '');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  try {
    fs.renameSync(tmp, out);
  } catch (err) {
    // Another run installed the same lockfile at the same time: keep theirs.
    if (!imageDepsReady()) throw err;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return out;
}

/** Where a test run keeps its image file system (the bundle is of this checkout, so it is per run). */
export function imageRootfsDir(runDir: string): string {
  return path.join(runDir, 'image-rootfs');
}

function rootfsAt(dir: string): Rootfs {
  const app = path.join(dir, 'app');
  return { app, entrypoint: path.join(app, 'dist', 'tenantdb-operator.mjs') };
}

/**
 * Assembles the image's /app in `dir`: the cached dependencies (linked, not copied: they are the
 * lockfile's, the same for every run) and a bundle of the working tree as it is now.
 */
export async function buildImageRootfs(dir: string): Promise<Rootfs> {
  const deps = path.join(await ensureImageDeps(), 'app');
  const rootfs = rootfsAt(dir);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(rootfs.app, { recursive: true });
  fs.copyFileSync(path.join(deps, 'package.json'), path.join(rootfs.app, 'package.json'));
  fs.symlinkSync(path.join(deps, 'node_modules'), path.join(rootfs.app, 'node_modules'), 'dir');
  await sh('bundle', dir);
  fs.writeFileSync(path.join(dir, '.ok'), '');
  return rootfs;
}

/** The run's image file system: the one global setup assembled, or (a run without it) assembled now. */
export async function imageRootfs(runDir: string): Promise<Rootfs> {
  const dir = imageRootfsDir(runDir);
  if (fs.existsSync(path.join(dir, '.ok'))) return rootfsAt(dir);
  return buildImageRootfs(dir);
}
