// The benchmarks' user shell (bench/user-shell.ts): a real bash runs each command with its arguments as
// given (quotes, spaces, $ and newlines reach the command untouched), the environment set for that
// command alone, and the shell's own clock around it.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserShell, withUserShell } from '../../bench/user-shell.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'user-shell-test-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A command that writes its arguments and $PROBE, one per line, to `out`. */
const echoTo = (out: string, ...args: string[]) => ['bash', '-c', 'printf "%s\\n" "$@" "${PROBE-unset}" > "$0"', out, ...args];

test('arguments reach the command exactly as given, and the clock brackets the command', async () => {
  const out = path.join(dir, "it's here.txt");
  const args = ["a b", "it's", '$HOME', '`id`', 'x;y', 'multi\nline', ''];
  await withUserShell(async (shell) => {
    const before = Date.now();
    const r = await shell.run(echoTo(out, ...args));
    const after = Date.now();
    expect(r.code).toBe(0);
    expect(fs.readFileSync(out, 'utf8')).toBe([...args, 'unset'].join('\n') + '\n');
    expect(r.startMs).toBeGreaterThanOrEqual(before - 1);
    expect(r.endMs).toBeGreaterThanOrEqual(r.startMs);
    expect(r.endMs).toBeLessThanOrEqual(after + 1);
  });
});

test('stdin is empty, the environment is set for one command only; exit codes and stderr come back; runs queue', async () => {
  const shell = new UserShell();
  try {
    const a = path.join(dir, 'a.txt');
    const b = path.join(dir, 'b.txt');
    const c = path.join(dir, 'c.txt');
    // A command reading stdin reads nothing (not the shell's next commands).
    const [reader, first, second, failed] = await Promise.all([
      shell.run(['bash', '-c', 'cat > "$0"', c]),
      shell.run(echoTo(a), { PROBE: "x'y z" }),
      shell.run(echoTo(b)),
      shell.run(['bash', '-c', 'echo broken >&2; exit 3']),
    ]);
    expect([reader.code, first.code, second.code, failed.code]).toEqual([0, 0, 0, 3]);
    expect(fs.readFileSync(c, 'utf8')).toBe('');
    expect(fs.readFileSync(a, 'utf8')).toBe("x'y z\n");
    expect(fs.readFileSync(b, 'utf8')).toBe('unset\n');
    expect(failed.stderr).toBe('broken\n');
    expect(second.startMs).toBeGreaterThanOrEqual(first.endMs);
    await expect(shell.run(['true'], { 'BAD;NAME': 'x' })).rejects.toThrow(/not an environment variable name/);
  } finally {
    shell.close();
  }
});
