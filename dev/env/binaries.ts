// kube-apiserver, kubectl and etcd, built once from the Go module proxy into a versioned cache.
// Before any download or compile we check that Go and the proxy answer, so a machine without them fails
// in seconds with a message naming what is missing (and the existing-cluster alternative) instead of hanging.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cacheDir, repoRoot } from './paths.js';
import { EnvError } from './proc.js';
import { ETCD_VERSION, KUBERNETES_VERSION } from './versions.js';

export interface Binaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
}

const EXISTING_CLUSTER_HINT =
  'To use an existing cluster instead, point KUBECONFIG at it and run with --existing-cluster ' +
  '(or TENANTDB_USE_EXISTING_CLUSTER=true).';

export const goModuleDir = {
  kubernetes: path.join(repoRoot, 'dev', 'env', 'go', 'kubernetes'),
  etcd: path.join(repoRoot, 'dev', 'env', 'go', 'etcd'),
};

export function binaryPaths(): Binaries {
  const base = path.join(cacheDir(), 'envtest');
  const k8s = path.join(base, `kubernetes-${KUBERNETES_VERSION}`);
  return {
    kubeApiserver: path.join(k8s, 'kube-apiserver'),
    kubectl: path.join(k8s, 'kubectl'),
    etcd: path.join(base, `etcd-${ETCD_VERSION}`, 'etcd'),
  };
}

function goEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // -mod=mod lets go.sum entries be filled in on a machine whose module cache lacks them.
  return { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=mod', GOTOOLCHAIN: 'local', ...extra };
}

/** Fails fast when Go is missing or the module proxy cannot be reached. */
export async function preflightGo(): Promise<void> {
  const version = spawnSync('go', ['env', 'GOVERSION', 'GOPROXY', 'GOMODCACHE'], { encoding: 'utf8', timeout: 15_000, env: goEnv() });
  if (version.error || version.status !== 0) {
    throw new EnvError(
      `Go was not found (${version.error?.message ?? version.stderr.trim()}). The local control plane builds ` +
        `kube-apiserver ${KUBERNETES_VERSION}, kubectl and etcd ${ETCD_VERSION} from the Go module proxy once; ` +
        `install Go (1.26 or newer) and put it on PATH. ${EXISTING_CLUSTER_HINT}`,
    );
  }
  const [, proxyList = '', modCache = ''] = version.stdout.trim().split('\n');
  // Already downloaded: no network needed.
  if (fs.existsSync(path.join(modCache, 'cache', 'download', 'k8s.io', 'kubernetes', '@v', `${KUBERNETES_VERSION}.zip`))) return;
  const proxy = proxyList.split(/[,|]/).find((p) => p.startsWith('http'));
  if (!proxy) {
    throw new EnvError(`GOPROXY is "${proxyList}": the Go module proxy is needed to build the control plane. ${EXISTING_CLUSTER_HINT}`);
  }
  const url = `${proxy.replace(/\/$/, '')}/k8s.io/kubernetes/@v/${KUBERNETES_VERSION}.info`;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  } catch (err) {
    throw new EnvError(
      `The Go module proxy ${proxy} cannot be reached (${(err as Error).message}); it is needed once to build ` +
        `kube-apiserver ${KUBERNETES_VERSION} and etcd ${ETCD_VERSION}. ${EXISTING_CLUSTER_HINT}`,
    );
  }
}

function run(cmd: string, args: string[], cwd: string, logFile: string, env: NodeJS.ProcessEnv, timeoutMs?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = fs.openSync(logFile, 'a');
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', out, out] });
    let timedOut = false;
    // SIGINT, as Ctrl-C would: the go command then stops the compilers it started.
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(() => {
            timedOut = true;
            child.kill('SIGINT');
          }, timeoutMs);
    child.on('error', (e) => reject(new EnvError(`${cmd} failed to start: ${e.message}`)));
    child.on('exit', (code) => {
      if (timer) clearTimeout(timer);
      fs.closeSync(out);
      if (code === 0) resolve();
      else if (timedOut) reject(new EnvError(`${cmd} ${args.join(' ')} did not finish within ${Math.round(timeoutMs! / 60_000)} min; see ${logFile}`));
      else reject(new EnvError(`${cmd} ${args.join(' ')} failed (exit ${code}); see ${logFile}`));
    });
  });
}

function versionLdflags(): string {
  // Without these the binaries report v0.0.0 and kubectl warns about version skew.
  const [major, minor] = KUBERNETES_VERSION.replace(/^v/, '').split('.');
  const vars = (pkg: string) =>
    [`${pkg}.gitVersion=${KUBERNETES_VERSION}`, `${pkg}.gitMajor=${major}`, `${pkg}.gitMinor=${minor}`, `${pkg}.gitTreeState=clean`]
      .map((v) => `-X ${v}`)
      .join(' ');
  return `-s -w ${vars('k8s.io/component-base/version')} ${vars('k8s.io/client-go/pkg/version')}`;
}

async function buildInto(finalDir: string, moduleDir: string, pkgs: string[], ldflags: string, log: (m: string) => void): Promise<void> {
  // Build into a scratch folder and rename it into place, so an interrupted build never leaves a
  // half-written binary in the cache.
  fs.mkdirSync(path.dirname(finalDir), { recursive: true });
  const tmp = `${finalDir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const logFile = path.join(path.dirname(finalDir), `build-${path.basename(finalDir)}.log`);
  log(`building ${pkgs.join(', ')} (log: ${logFile})`);
  const started = Date.now();
  await run('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', tmp + path.sep, ...pkgs], moduleDir, logFile, goEnv());
  fs.rmSync(finalDir, { recursive: true, force: true });
  fs.renameSync(tmp, finalDir);
  log(`built ${path.basename(finalDir)} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** Returns the binaries, building the ones missing from the cache (first run only). */
export async function ensureBinaries(log: (m: string) => void = () => {}): Promise<Binaries> {
  const bins = binaryPaths();
  const k8sMissing = !fs.existsSync(bins.kubeApiserver) || !fs.existsSync(bins.kubectl);
  const etcdMissing = !fs.existsSync(bins.etcd);
  if (!k8sMissing && !etcdMissing) return bins;
  await preflightGo();
  log(`first run: compiling the control plane from the Go module proxy (about 10-20 minutes on 2 cores; cached in ${path.join(cacheDir(), 'envtest')})`);
  if (etcdMissing) await buildInto(path.dirname(bins.etcd), goModuleDir.etcd, ['.'], '-s -w', log);
  if (k8sMissing) {
    await buildInto(
      path.dirname(bins.kubeApiserver),
      goModuleDir.kubernetes,
      ['k8s.io/kubernetes/cmd/kube-apiserver', 'k8s.io/kubernetes/cmd/kubectl'],
      versionLdflags(),
      log,
    );
  }
  return bins;
}

/**
 * Tools the chart, GitOps-health and RBAC tests use, each a Go module under dev/env/go/<tool>/ built from
 * the Go module proxy once and cached under a name that changes when its go.mod or source changes.
 * `minutes`: the first build's time on 2 cores with an empty Go build cache (measured), for the progress line.
 */
export const GO_TOOLS = {
  // As helm's Makefile does: its version, and the Kubernetes version `helm template` assumes offline.
  helm: {
    minutes: 5,
    pkg: 'helm.sh/helm/v3/cmd/helm',
    ldflags: ['helm.sh/helm/v3/internal/version.version=v3.22.0', 'helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1', 'helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=37', 'helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1', 'helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37'],
  },
  kubeconform: { minutes: 2, pkg: 'github.com/yannh/kubeconform/cmd/kubeconform' },
  kstatus: { minutes: 2, pkg: '.' },
  'argocd-health': { minutes: 2, pkg: '.' },
  // Flux's source-controller and Flux's test Git server, for the Migration tests with a Flux source.
  'source-controller': { minutes: 8, pkg: 'github.com/fluxcd/source-controller' },
  gitserver: { minutes: 1, pkg: '.' },
} as const satisfies Record<string, { minutes: number; pkg: string; ldflags?: readonly string[] }>;
export type GoTool = keyof typeof GO_TOOLS;

function goToolDir(tool: GoTool): string {
  const moduleDir = path.join(repoRoot, 'dev', 'env', 'go', tool);
  // The cache key: the module's files (go.mod pins the versions, main.go is ours), hashed.
  const hash = createHash('sha256');
  for (const f of fs.readdirSync(moduleDir).sort()) hash.update(f).update(fs.readFileSync(path.join(moduleDir, f)));
  const { minutes: _estimate, ...spec } = GO_TOOLS[tool];
  hash.update(JSON.stringify(spec));
  return path.join(cacheDir(), 'envtest', `${tool}-${hash.digest('hex').slice(0, 12)}`);
}

export function goToolReady(tool: GoTool): boolean {
  return fs.existsSync(path.join(goToolDir(tool), tool));
}

/**
 * Path of a Go tool, built into the cache on first use (helm takes minutes on 2 cores: jest's global
 * setup builds them all before any test's clock starts, see prebuild.ts). `timeoutMs` bounds the build.
 */
export async function ensureGoTool(tool: GoTool, log: (m: string) => void = () => {}, timeoutMs?: number): Promise<string> {
  const dir = goToolDir(tool);
  const bin = path.join(dir, tool);
  if (fs.existsSync(bin)) return bin;
  await preflightGo();
  const moduleDir = path.join(repoRoot, 'dev', 'env', 'go', tool);
  const tmp = `${dir}.partial-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const logFile = `${dir}.log`;
  const spec: { minutes: number; pkg: string; ldflags?: readonly string[] } = GO_TOOLS[tool];
  log(`building ${tool} (first run, ~${spec.minutes} min; log: ${logFile})...`);
  const started = Date.now();
  const ldflags = ['-s', '-w', ...(spec.ldflags ?? []).map((v) => `-X ${v}`)].join(' ');
  await run('go', ['build', '-trimpath', '-ldflags', ldflags, '-o', path.join(tmp, tool), spec.pkg], moduleDir, logFile, goEnv(), timeoutMs);
  try {
    fs.renameSync(tmp, dir);
  } catch (err) {
    // Another process built it at the same time: keep theirs.
    if (!fs.existsSync(bin)) throw err;
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  log(`built ${tool} in ${Math.round((Date.now() - started) / 1000)} s`);
  return bin;
}
