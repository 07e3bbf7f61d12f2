// Names the BackupPolicy gives what it makes, and keep-N: only the policy's own on-demand backups are
// ever chosen for deletion, oldest first.
import { backupName, backupPrefix, backupsToDelete, drillServerName } from '../../controllers/backuppolicy/naming.js';

test('backup names carry the policy, a hash of namespace/name and the UTC time; prefixes differ per policy', () => {
  const n = backupName('prod', 'compliance-db-backups', new Date('2026-03-08T03:00:00.123Z'));
  expect(n).toMatch(/^tdbop-compliance-db-backups-[0-9a-f]{6}-20260308T030000Z$/);
  expect(n.startsWith(backupPrefix('prod', 'compliance-db-backups'))).toBe(true);
  expect(backupPrefix('staging', 'compliance-db-backups')).not.toBe(backupPrefix('prod', 'compliance-db-backups'));
  expect(/^[-\w]{1,128}$/.test(backupName('ns', 'a'.repeat(253), new Date()))).toBe(true);
});

test('keep N: the oldest of ours beyond N, never anyone else\'s, never one still running', () => {
  const p = backupPrefix('ns', 'pol');
  const at = (d: string) => new Date(`2026-03-0${d}T03:00:00Z`);
  const all = [
    { name: `${p}1`, completedTime: at('1') },
    { name: 'hand-made', completedTime: at('1') },
    { name: `${p}3`, completedTime: at('3') },
    { name: `${backupPrefix('ns', 'other')}0`, completedTime: at('1') },
    { name: `${p}2`, completedTime: at('2') },
    { name: `${p}4` },
    { name: 'backup_20260301T000000', completedTime: at('1') },
  ];
  expect(backupsToDelete(all, p, 2).map((b) => b.name)).toEqual([`${p}1`]);
  expect(backupsToDelete(all, p, 1).map((b) => b.name)).toEqual([`${p}2`, `${p}1`]);
  expect(backupsToDelete(all, p, 5)).toEqual([]);
});

test('throw-away server names are valid server names that say what they are', () => {
  expect(drillServerName('comply-ai-postgres', 'mx59r3o2')).toBe('comply-ai-postgres-drill-mx59r3o2');
  const long = drillServerName('a'.repeat(50) + '-' + 'b'.repeat(12), 'mx59r3o2');
  expect(long.length).toBeLessThanOrEqual(63);
  expect(long).toMatch(/^[a-z0-9][-a-z0-9]*[a-z0-9]$/);
});
