// Starting and stopping the environment's server processes. Every process is recorded (pid + the binary
// it runs) in the environment's state file, so `down` from another shell, or the next `up` after a crash,
// can stop exactly what was started and never a process that merely reused the pid.
import { spawn, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProcessRecord {
  name: string;
  pid: number;
  binary: string;
  logFile: string;
}

export class EnvError extends Error {
  override name = 'EnvError';
}

export interface StartOptions {
  name: string;
  binary: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  uid?: number;
  gid?: number;
}

/** Starts a server detached from this process (so it outlives a CLI `up`), logging to a file. */
export function startProcess(opts: StartOptions): ProcessRecord {
  fs.mkdirSync(path.dirname(opts.logFile), { recursive: true });
  const fd = fs.openSync(opts.logFile, 'a');
  if (opts.uid !== undefined) fs.fchownSync(fd, opts.uid, opts.gid ?? opts.uid);
  const spawnOpts: SpawnOptions = {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: opts.env ?? process.env,
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  };
  const child = spawn(opts.binary, opts.args, spawnOpts);
  fs.closeSync(fd);
  if (child.pid === undefined) throw new EnvError(`could not start ${opts.name} (${opts.binary})`);
  child.unref();
  return { name: opts.name, pid: child.pid, binary: opts.binary, logFile: opts.logFile };
}

/** True when `pid` is alive and still runs the recorded binary (guards against pid reuse). */
export function isRunning(rec: Pick<ProcessRecord, 'pid' | 'binary'>): boolean {
  try {
    const cmdline = fs.readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8');
    const stat = fs.readFileSync(`/proc/${rec.pid}/stat`, 'utf8');
    // A zombie (state Z) has exited; only its parent has not reaped it yet.
    if (/\) Z /.test(stat)) return false;
    return cmdline.split('\0')[0] === rec.binary;
  } catch {
    return false;
  }
}

/** SIGTERM (or the given signal), then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopProcess(rec: ProcessRecord, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
  if (!isRunning(rec)) return;
  try {
    process.kill(rec.pid, signal);
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(rec)) return;
    await sleep(50);
  }
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  while (isRunning(rec)) await sleep(20);
}

export function tail(file: string, lines = 25): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** Polls `check` until it resolves true; fails with the process log if the process dies or time runs out. */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs: number; rec?: ProcessRecord; intervalMs?: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (opts.rec && !isRunning(opts.rec)) {
      throw new EnvError(`${what}: ${opts.rec.name} exited during start-up. Last log lines (${opts.rec.logFile}):\n${tail(opts.rec.logFile)}`);
    }
    if (Date.now() > deadline) {
      const log = opts.rec ? `\nLast log lines (${opts.rec.logFile}):\n${tail(opts.rec.logFile)}` : '';
      throw new EnvError(`${what}: not ready after ${opts.timeoutMs} ms${log}`);
    }
    await sleep(opts.intervalMs ?? 100);
  }
}

/** A free TCP port on `host`, chosen by the kernel. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a short-lived command to completion, collecting its output; SIGKILL after `timeoutMs`. */
export function runCommand(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {},
): Promise<CommandResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    // No input: stdin is /dev/null, so there is no pipe for a command that exits early to break.
    const stdin = opts.input === undefined ? 'ignore' : 'pipe';
    const child = spawn(cmd, args, { stdio: [stdin, 'pipe', 'pipe'], env: opts.env ?? process.env, ...(opts.cwd ? { cwd: opts.cwd } : {}) });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, ms: Date.now() - started });
    });
    if (child.stdin) {
      // A command may exit without reading all of its input (EPIPE): its exit code and output tell the
      // caller what happened, so a broken pipe is not an error of its own.
      child.stdin.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EPIPE') {
          clearTimeout(timer);
          child.kill('SIGKILL');
          reject(err);
        }
      });
      child.stdin.end(opts.input);
    }
  });
}
