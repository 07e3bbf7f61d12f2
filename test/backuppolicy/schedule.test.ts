// Pure schedule math: UTC whatever the process's zone (a DST change of the local zone moves nothing),
// one catch-up after downtime, schedule changes re-anchor, nicknames work.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { decide, nextRunAfter } from '../../src/runtime/schedule.js';
import { repoRoot } from '../../dev/env/paths.js';

test('five-field cron and nicknames, in UTC', () => {
  expect(nextRunAfter('0 3 * * 0', new Date('2026-03-04T12:00:00Z')).toISOString()).toBe('2026-03-08T03:00:00.000Z');
  expect(nextRunAfter('30 4 1 * *', new Date('2026-03-04T12:00:00Z')).toISOString()).toBe('2026-04-01T04:30:00.000Z');
  expect(nextRunAfter('@daily', new Date('2026-03-04T12:00:00Z')).toISOString()).toBe('2026-03-05T00:00:00.000Z');
  expect(nextRunAfter('@weekly', new Date('2026-03-04T12:00:00Z')).toISOString()).toBe('2026-03-08T00:00:00.000Z');
});

test('first sight records the next run without running', () => {
  const now = new Date('2026-03-04T12:00:00Z');
  expect(decide('0 3 * * *', undefined, now)).toEqual({ due: false, next: new Date('2026-03-05T03:00:00Z') });
});

test('not yet due keeps the recorded time; due runs once and moves on', () => {
  const next = new Date('2026-03-05T03:00:00Z');
  expect(decide('0 3 * * *', next, new Date('2026-03-05T02:59:59Z'))).toEqual({ due: false, next });
  expect(decide('0 3 * * *', next, new Date('2026-03-05T03:00:10Z'))).toEqual({ due: true, next: new Date('2026-03-06T03:00:00Z') });
});

test('after a week of downtime: one catch-up run, then the next future occurrence (no burst)', () => {
  const d = decide('0 * * * *', new Date('2026-03-01T00:00:00Z'), new Date('2026-03-08T10:30:00Z'));
  expect(d).toEqual({ due: true, next: new Date('2026-03-08T11:00:00Z') });
  // The pass after the catch-up finds nothing due.
  expect(decide('0 * * * *', d.next, new Date('2026-03-08T10:30:05Z')).due).toBe(false);
});

test('a changed schedule re-anchors instead of running', () => {
  const d = decide('0 4 * * *', new Date('2026-03-05T03:00:00Z'), new Date('2026-03-05T03:30:00Z'));
  expect(d).toEqual({ due: false, next: new Date('2026-03-05T04:00:00Z') });
});

test('the same answers in a local zone across its DST change (Europe/Berlin, 29 March 2026)', () => {
  // Run in a child process so TZ really is the process zone, as the operator's would be.
  const script = `
    import { nextRunAfter, decide } from ${JSON.stringify(path.join(repoRoot, 'src/runtime/schedule.ts'))};
    const out = [
      nextRunAfter('30 1 * * *', new Date('2026-03-28T12:00:00Z')).toISOString(),
      nextRunAfter('30 1 * * *', new Date('2026-03-29T12:00:00Z')).toISOString(),
      nextRunAfter('0 2 * * *', new Date('2026-03-29T00:30:00Z')).toISOString(),
      nextRunAfter('0 2 * * *', new Date('2026-10-25T00:30:00Z')).toISOString(),
      decide('0 * * * *', new Date('2026-03-29T00:00:00Z'), new Date('2026-03-29T03:10:00Z')).next.toISOString(),
    ];
    console.log(JSON.stringify(out));`;
  const run = (tz: string) =>
    JSON.parse(execFileSync(path.join(repoRoot, 'node_modules/.bin/tsx'), ['--eval', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' })) as string[];
  const expected = ['2026-03-29T01:30:00.000Z', '2026-03-30T01:30:00.000Z', '2026-03-29T02:00:00.000Z', '2026-10-25T02:00:00.000Z', '2026-03-29T04:00:00.000Z'];
  expect(run('Europe/Berlin')).toEqual(expected);
  expect(run('America/New_York')).toEqual(expected);
  expect(run('UTC')).toEqual(expected);
});
