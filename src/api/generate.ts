// `npm run generate`: writes crds/tenantdb.io_<plural>.yaml from the zod schemas. With --check it
// writes nothing and exits non-zero when a file differs, which is what CI wants.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { crdFileName, renderCrd } from './crd.js';
import { KIND_DEFINITIONS } from './index.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CRD_DIR = path.join(REPO_ROOT, 'crds');

/** File name -> content of every generated CRD. */
export function renderAll(): Map<string, string> {
  return new Map(KIND_DEFINITIONS.map((k) => [crdFileName(k), renderCrd(k)]));
}

async function main(check: boolean): Promise<number> {
  await mkdir(CRD_DIR, { recursive: true });
  let stale = 0;
  for (const [file, content] of renderAll()) {
    const target = path.join(CRD_DIR, file);
    const current = await readFile(target, 'utf8').catch(() => undefined);
    if (current === content) continue;
    if (check) {
      console.error(`crds/${file} is stale; run npm run generate`);
      stale++;
    } else {
      await writeFile(target, content);
      console.log(`wrote crds/${file}`);
    }
  }
  return stale === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.includes('--check'));
}
