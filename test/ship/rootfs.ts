// The image's file system, assembled the way the Dockerfile does it (scripts/image-rootfs.sh): the
// production dependencies from the committed lockfile (`npm ci --omit=dev`, cached by the lockfile's
// hash because it needs the registry and ~20 s) and a fresh bundle of src/main.ts.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, repoRoot } from '../../dev/env/paths.js';
import { runCommand } from '../../dev/env/proc.js';

const SCRIPT = path.join(repoRoot, 'scripts', 'image-rootfs.sh');

export interface Rootfs {
  /** /app inside the image. */
  app: string;
  /** The entrypoint the image runs (`node <entrypoint>`). */
  entrypoint: string;
}

async function sh(step: 'deps' | 'bundle', out: string): Promise<void> {
  const res = await runCommand('sh', [SCRIPT, step, repoRoot, out], { timeoutMs: 300_000, env: { ...process.env, PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${process.env.PATH}` } });
  if (res.code !== 0) throw new Error(`image-rootfs.sh ${step} failed (${res.code}):\n${res.stderr}\n${res.stdout}`);
}

export async function buildRootfs(): Promise<Rootfs> {
  const hash = createHash('sha256')
    .update(fs.readFileSync(path.join(repoRoot, 'package-lock.json')))
    .update(fs.readFileSync(SCRIPT))
    .digest('hex')
    .slice(0, 16);
  const out = path.join(cacheDir(), 'ship-rootfs', hash);
  if (!fs.existsSync(path.join(out, 'app', 'node_modules', '.ok'))) {
    const tmp = `${out}.partial-${process.pid}`;
    fs.rmSync(tmp, { recursive: true, force: true });
    await sh('deps', tmp);
    fs.writeFileSync(path.join(tmp, 'app', 'node_modules', '.ok'), '');
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.renameSync(tmp, out);
  }
  // The bundle always reflects the working tree (parallel runs write the same bytes).
  const app = path.join(out, `app`);
  const dist = path.join(app, 'dist');
  await sh('bundle', out);
  return { app, entrypoint: path.join(dist, 'tenantdb-operator.mjs') };
}
