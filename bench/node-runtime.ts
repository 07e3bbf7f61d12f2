// How a benchmark runs a node process of the operator: as the image runs it (the node flags of the
// Dockerfile's ENTRYPOINT and the ENV of its final stage, read from the Dockerfile so they cannot drift),
// or with node's defaults. The image trades speed for memory (no optimizing JITs), so a timing taken with
// node's defaults is not the shipped operator's.
import fs from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../dev/env/paths.js';

export interface NodeRuntime {
  /** node flags before the script. */
  args: string[];
  nodeOptions: string | undefined;
  /** Environment the image sets for the process (the final stage's ENV, e.g. MALLOC_ARENA_MAX). */
  env: Record<string, string>;
}

/**
 * How the image runs the bundle: the node flags between `node` and the script in the Dockerfile's
 * ENTRYPOINT (exec form), and the final stage's ENV (NODE_OPTIONS, glibc's MALLOC_* tunables), so the
 * benchmark runs it as the image does.
 */
export function imageNodeFlags(dockerfile = path.join(repoRoot, 'Dockerfile')): NodeRuntime {
  const text = fs.readFileSync(dockerfile, 'utf8');
  const entry = /^ENTRYPOINT\s+(\[.*\])\s*$/m.exec(text);
  const argv = entry ? (JSON.parse(entry[1] as string) as string[]) : [];
  const script = argv.findIndex((a) => a.endsWith('.mjs') || a.endsWith('.js'));
  const args = argv[0] === 'node' && script > 0 ? argv.slice(1, script) : [];
  const finalStage = text.slice(text.lastIndexOf('\nFROM '));
  const env: Record<string, string> = {};
  for (const m of finalStage.matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(?:"([^"]*)"|(\S+))\s*$/gm)) env[m[1] as string] = (m[2] ?? m[3]) as string;
  const nodeOptions = env.NODE_OPTIONS;
  delete env.NODE_OPTIONS;
  return { args, nodeOptions, env };
}

export const NODE_DEFAULTS: NodeRuntime = { args: [], nodeOptions: undefined, env: {} };

/** The environment of a child process of `node`: this process's, the runtime's ENV and `extra`, and the runtime's NODE_OPTIONS only. */
export function runtimeEnv(node: NodeRuntime, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra, ...node.env };
  delete env.NODE_OPTIONS;
  if (node.nodeOptions) env.NODE_OPTIONS = node.nodeOptions;
  return env;
}

/** The node flags this process (and the operator's code it hosts) runs with, but the loader's (--import) and --expose-gc. */
export function ownNodeFlags(): string {
  const own = process.execArgv.filter((a, i, all) => a !== '--expose-gc' && a !== '--import' && all[i - 1] !== '--import');
  return own.length > 0 ? own.join(' ') : "node's defaults";
}

/** The flag spec of a benchmark whose process hosts the operator's code (its `imageRuntimeFlag`). */
export const IMAGE_RUNTIME_FLAG = {
  default: 1,
  help: "1: this benchmark's process, which hosts the operator's Migration controller, runs with the image's node flags and ENV (Dockerfile ENTRYPOINT, final stage: no optimizing JITs), as a deployed operator does; 0: node's defaults",
};
