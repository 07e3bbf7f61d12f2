// A user's shell for the latency benchmarks: one small bash started once, which runs each command the way
// a person's terminal or a CI step does, and takes the clock itself just before it starts the command and
// just after it exits. The benchmark's own process hosts the operator (the Manager in-process) and is
// hundreds of MB; a command spawned from it costs a fork of that process (20-40 ms with the operator's
// thread held, measured in bench/README.md), which neither a user's kubectl nor the operator's pod pays.
// bash's EPOCHREALTIME (bash 5.0+) is the wall clock in microseconds: the same clock as Date.now() and
// PostgreSQL's now() on this machine.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface ShellRun {
  code: number;
  /** Wall clock (ms since the epoch) just before the shell started the command, and just after it exited. */
  startMs: number;
  endMs: number;
  stderr: string;
}

/** One argument quoted for bash: single quotes, with each ' closed, escaped and reopened. */
const quote = (arg: string) => `'${arg.replaceAll("'", `'\\''`)}'`;

export class UserShell {
  private readonly bash: ChildProcessWithoutNullStreams;
  private readonly errFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'bench-shell-')), 'stderr');
  private buffered = '';
  private waiting: ((line: string) => void) | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor() {
    // LC_ALL=C: EPOCHREALTIME's decimal point is the locale's.
    this.bash = spawn('bash', ['--noprofile', '--norc'], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C' } });
    // A benchmark that fails before close() must not be kept alive by the shell; bash ends at stdin's EOF.
    this.bash.unref();
    for (const s of [this.bash.stdin, this.bash.stdout, this.bash.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.bash.stdout.setEncoding('utf8');
    this.bash.stdout.on('data', (d: string) => {
      this.buffered += d;
      let nl: number;
      while ((nl = this.buffered.indexOf('\n')) >= 0) {
        const line = this.buffered.slice(0, nl);
        this.buffered = this.buffered.slice(nl + 1);
        this.waiting?.(line);
      }
    });
  }

  /**
   * Runs one command, one at a time: `env` set for it alone, stdin from /dev/null (a command reading stdin
   * would read the shell's next commands), output discarded, stderr kept for the caller.
   */
  run(argv: string[], env: Record<string, string> = {}): Promise<ShellRun> {
    const next = this.queue.then(() => this.runNow(argv, env));
    this.queue = next.catch(() => undefined);
    return next;
  }

  private runNow(argv: string[], env: Record<string, string>): Promise<ShellRun> {
    const names = Object.keys(env);
    const bad = names.find((n) => !/^[A-Z_][A-Z0-9_]*$/.test(n));
    if (bad !== undefined) return Promise.reject(new Error(`shell: ${bad} is not an environment variable name`));
    const cmd = [...names.map((n) => `${n}=${quote(env[n] as string)}`), ...argv.map(quote)].join(' ');
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`shell: ${argv.join(' ')} did not end within 120 s`)), 120_000);
      this.waiting = (line) => {
        const m = /^DONE (\d+) ([\d.]+) ([\d.]+)$/.exec(line);
        if (!m) return;
        clearTimeout(timer);
        this.waiting = undefined;
        const stderr = fs.readFileSync(this.errFile, 'utf8');
        resolve({ code: Number(m[1]), startMs: Number(m[2]) * 1000, endMs: Number(m[3]) * 1000, stderr });
      };
      this.bash.stdin.write(`t0=$EPOCHREALTIME; ${cmd} </dev/null >/dev/null 2>${quote(this.errFile)}; rc=$?; t1=$EPOCHREALTIME; echo "DONE $rc $t0 $t1"\n`);
    });
  }

  close(): void {
    this.bash.stdin.end();
    fs.rmSync(path.dirname(this.errFile), { recursive: true, force: true });
  }
}

/** `fn` with a user's shell, closed after it whatever its outcome. */
export async function withUserShell<T>(fn: (shell: UserShell) => Promise<T>): Promise<T> {
  const shell = new UserShell();
  try {
    return await fn(shell);
  } finally {
    shell.close();
  }
}
