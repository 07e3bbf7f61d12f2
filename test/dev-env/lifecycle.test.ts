// The environment's own life cycle, driven through the same CLI a developer uses: `up` starts real
// processes, `down` leaves none behind, and a machine without Go or the module proxy fails fast.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binaryPaths } from '../../dev/env/binaries.js';
import { readEnvInfo, recordedProcesses } from '../../dev/env/localenv.js';
import { repoRoot } from '../../dev/env/paths.js';
import { isRunning, runCommand, type CommandResult } from '../../dev/env/proc.js';

function cli(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CommandResult> {
  return runCommand(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'dev/env/cli.ts'), ...args], { cwd: repoRoot, env });
}

/** Live (non-zombie) processes whose command line mentions `dir`. */
function processesMentioning(dir: string): string[] {
  const out: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue;
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(dir) && !cmd.includes('cli.ts')) out.push(`${pid}: ${cmd}`);
    } catch {
      /* gone */
    }
  }
  return out;
}

describe('local environment life cycle', () => {
  it('up starts etcd, kube-apiserver, PostgreSQL and the ARM emulator; down stops every one of them', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-env-'));
    try {
      const upRun = await cli(['up', '--dir', dir]);
      expect(upRun.stderr).not.toMatch(/error:/);
      expect(upRun.code).toBe(0);
      const info = readEnvInfo(dir);
      expect(info.kubeconfig).toBe(path.join(dir, 'kube', 'kubeconfig'));
      expect(fs.existsSync(info.kubectl)).toBe(true);
      expect(info.postgres.url).toMatch(/^postgresql:\/\/postgres:.+@127\.0\.0\.1:\d+\/postgres\?sslmode=verify-full$/);
      expect(fs.existsSync(info.postgres.caFile)).toBe(true);
      expect(info.arm?.endpoint).toMatch(/^https:\/\/127\.0\.0\.1:\d+/);
      // The printed summary never shows the database password.
      expect(upRun.stdout).toContain('postgres:****@');
      expect(upRun.stdout).not.toContain(decodeURIComponent(new URL(info.postgres.url).password));

      const recs = recordedProcesses(dir);
      expect(recs.map((r) => r.name.split(' ')[0]).sort()).toEqual(['arm-emulator', 'etcd', 'kube-apiserver', 'postgres']);
      expect(recs.every(isRunning)).toBe(true);
      expect((await cli(['status', '--dir', dir])).code).toBe(0);

      const downRun = await cli(['down', '--dir', dir]);
      expect(downRun.code).toBe(0);
      expect(recs.filter(isRunning)).toEqual([]);
      expect(processesMentioning(dir)).toEqual([]);
      expect((await cli(['status', '--dir', dir])).code).toBe(1);
    } finally {
      await cli(['down', '--dir', dir]);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('without the Go toolchain or module proxy', () => {
    // An empty binary cache forces the build path; the check must answer before any compile starts.
    const emptyCache = () => fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-cache-'));

    it('fails fast naming Go and the existing-cluster alternative when go is not on PATH', async () => {
      const nodeDir = path.dirname(process.execPath);
      const run = await cli(['up', '--dir', fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-nogo-'))], {
        ...process.env,
        PATH: `${path.join(repoRoot, 'node_modules', '.bin')}:${nodeDir}:/usr/bin:/bin`.split(':').filter((p) => !fs.existsSync(path.join(p, 'go'))).join(':'),
        TENANTDB_CACHE_DIR: emptyCache(),
      });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/Go was not found/);
      expect(run.stderr).toMatch(/--existing-cluster/);
      expect(run.ms).toBeLessThan(30_000);
    });

    it('fails fast naming the module proxy when it cannot be reached', async () => {
      const run = await cli(['up', '--dir', fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-noproxy-'))], {
        ...process.env,
        // Port 9 (discard) on loopback: nothing listens there, so the proxy is unreachable at once.
        GOPROXY: 'http://127.0.0.1:9',
        GOMODCACHE: fs.mkdtempSync(path.join(os.tmpdir(), 'tenantdb-gomod-')),
        TENANTDB_CACHE_DIR: emptyCache(),
      });
      expect(run.code).not.toBe(0);
      expect(run.stderr).toMatch(/module proxy http:\/\/127\.0\.0\.1:9 cannot be reached/);
      expect(run.stderr).toMatch(/--existing-cluster/);
      expect(run.ms).toBeLessThan(30_000);
    });
  });

  it('keeps the Go-built binaries in the versioned cache', () => {
    const bins = binaryPaths();
    for (const b of [bins.etcd, bins.kubeApiserver, bins.kubectl]) expect(fs.statSync(b).mode & 0o111).toBeTruthy();
    expect(bins.kubeApiserver).toContain('kubernetes-v1.');
  });
});
