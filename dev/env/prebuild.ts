// What the tests need that is slow to make the first time on a machine: the Go tools test/ship drives
// (helm, kubeconform, kstatus, the gopher-lua Argo CD health runner) and the image's file system. Jest's
// global setup makes them here, one after the other (each go build uses every core), under a budget of
// their own and before any test's clock starts; the tests then find them ready. Cached ones cost nothing.
import fs from 'node:fs';
import path from 'node:path';
import { ensureGoTool, goToolReady, GO_TOOLS, type GoTool } from './binaries.js';
import { buildImageRootfs, ensureImageDeps, imageDepsReady, imageRootfsDir } from './image-rootfs.js';
import { repoRoot } from './paths.js';

/** Each Go tool's build; TENANTDB_PREBUILD_TIMEOUT_MIN overrides it (a slow machine's first run). */
const TOOL_BUDGET_MS = Number(process.env.TENANTDB_PREBUILD_TIMEOUT_MIN ?? 30) * 60_000;

/** The tests that use what this builds. */
const SHIP_TESTS = path.join(repoRoot, 'test', 'ship');

/** What jest's global setup is given, as far as choosing the tests goes. */
export interface SelectedTests {
  rootDir: string;
  testPathPatterns?: { isSet(): boolean; toExecutor(o: { rootDir: string }): { isMatch(absPath: string): boolean } };
}

/** Whether this run may include a test under test/ship (a run given no path pattern runs them all). */
export function runNeedsShipTools(selected?: SelectedTests): boolean {
  const patterns = selected?.testPathPatterns;
  if (!selected || !patterns?.isSet()) return true;
  const executor = patterns.toExecutor({ rootDir: selected.rootDir });
  return fs
    .readdirSync(SHIP_TESTS)
    .filter((f) => f.endsWith('.test.ts'))
    .some((f) => executor.isMatch(path.join(SHIP_TESTS, f)));
}

/** Builds the Go tools missing from the cache and assembles this run's image file system in `runDir`. */
export async function prebuildShipTools(runDir: string, log: (m: string) => void): Promise<void> {
  for (const tool of Object.keys(GO_TOOLS) as GoTool[]) {
    if (!goToolReady(tool)) await ensureGoTool(tool, log, TOOL_BUDGET_MS);
  }
  if (!imageDepsReady()) {
    log('installing the image dependencies (first run, npm ci --omit=dev, ~1 min)...');
    const started = Date.now();
    await ensureImageDeps();
    log(`installed the image dependencies in ${Math.round((Date.now() - started) / 1000)} s`);
  }
  // The bundle is of this checkout as it is now, so it is made every run (a few seconds).
  await buildImageRootfs(imageRootfsDir(runDir));
}
