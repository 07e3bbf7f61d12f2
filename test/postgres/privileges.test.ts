// Pure logic of the grant convergence: the diff both ways, grouping, default privileges, SQL text with
// quoted names, and the SCRAM verifier's format.
import { describe, expect, test } from '@jest/globals';
import { changeSql, defaultChangeSql, desiredFor, desiredForMaterializedView, diffDefaultAcls, diffObjectAcls, PUBLIC, type ObjectAcl } from '../../src/postgres/database/privileges.js';
import { generatePassword, PASSWORD_PATTERN, scramVerifier } from '../../src/postgres/database/scram.js';
import { StatementLog } from '../../src/postgres/database/sync.js';

const roles = { application: 'app', analytics: 'ro' };

describe('object privileges', () => {
  test('missing privileges granted, extra ones revoked, grant options taken back, objects grouped', () => {
    const objects: ObjectAcl[] = [
      { kind: 'TABLE', target: '"public"."a"', entries: [] },
      { kind: 'TABLE', target: '"public"."b"', entries: [] },
      {
        kind: 'TABLE',
        target: '"public"."c"',
        entries: [
          { grantee: 'app', privilege: 'SELECT', grantable: true },
          { grantee: 'app', privilege: 'INSERT', grantable: false },
          { grantee: 'app', privilege: 'UPDATE', grantable: false },
          { grantee: 'app', privilege: 'DELETE', grantable: false },
          { grantee: 'ro', privilege: 'SELECT', grantable: false },
          { grantee: 'ro', privilege: 'TRUNCATE', grantable: false },
          { grantee: 'someone_else', privilege: 'TRUNCATE', grantable: false },
        ],
      },
    ];
    const sql = diffObjectAcls(objects, (k) => desiredFor(k, roles)).map(changeSql);
    expect(sql).toEqual([
      'GRANT DELETE, INSERT, SELECT, UPDATE ON TABLE "public"."a", "public"."b" TO "app"',
      'GRANT SELECT ON TABLE "public"."a", "public"."b" TO "ro"',
      'REVOKE GRANT OPTION FOR SELECT ON TABLE "public"."c" FROM "app"',
      'REVOKE TRUNCATE ON TABLE "public"."c" FROM "ro"',
    ]);
  });

  test('converged objects produce nothing; PUBLIC is written as the keyword', () => {
    const db: ObjectAcl = { kind: 'DATABASE', target: '"d"', entries: [{ grantee: PUBLIC, privilege: 'CONNECT', grantable: false }, { grantee: 'app', privilege: 'CONNECT', grantable: false }, { grantee: 'app', privilege: 'TEMPORARY', grantable: false }] };
    const desired = new Map([[PUBLIC, new Set<string>()], ...desiredFor('DATABASE', { application: 'app' })]);
    expect(diffObjectAcls([db], () => desired).map(changeSql)).toEqual(['REVOKE CONNECT ON DATABASE "d" FROM PUBLIC']);
    expect(diffObjectAcls([{ ...db, entries: db.entries.slice(1) }], () => desired)).toEqual([]);
  });
});

describe('default privileges', () => {
  test('global defaults converge; schema-level entries for managed roles are revoked', () => {
    const changes = diffDefaultAcls(
      [
        { schema: null, kind: 'TABLES', entries: [{ grantee: 'ro', privilege: 'SELECT', grantable: false }, { grantee: 'ro', privilege: 'INSERT', grantable: false }] },
        { schema: 'audit', kind: 'TABLES', entries: [{ grantee: 'app', privilege: 'TRUNCATE', grantable: false }] },
      ],
      (k) => desiredFor(k === 'TABLES' ? 'TABLE' : k === 'SEQUENCES' ? 'SEQUENCE' : 'ROUTINE', roles),
    );
    expect(changes.map((c) => defaultChangeSql('own"er', c))).toEqual([
      'ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" GRANT DELETE, INSERT, SELECT, UPDATE ON TABLES TO "app"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" REVOKE INSERT ON TABLES FROM "ro"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" IN SCHEMA "audit" REVOKE TRUNCATE ON TABLES FROM "app"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" GRANT SELECT, USAGE ON SEQUENCES TO "app"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" GRANT SELECT ON SEQUENCES TO "ro"',
      'ALTER DEFAULT PRIVILEGES FOR ROLE "own""er" GRANT EXECUTE ON FUNCTIONS TO "app"',
    ]);
  });
});

describe('passwords', () => {
  test('SCRAM-SHA-256 verifier in PostgreSQL\'s format, deterministic for a given salt; generated passwords are strong', () => {
    const salt = Buffer.from('0123456789abcdef');
    const v = scramVerifier('correct horse battery'.replace(/ /g, '-'), { salt });
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:MDEyMzQ1Njc4OWFiY2RlZg==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=$/);
    expect(scramVerifier('correct-horse-battery', { salt })).toBe(v);
    expect(() => scramVerifier('short')).toThrow(/printable ASCII/);
    const p = generatePassword();
    expect(p).toMatch(PASSWORD_PATTERN);
    expect(p.length).toBeGreaterThanOrEqual(43);
    expect(generatePassword()).not.toBe(p);
  });

  test('the statement log never holds a verifier', () => {
    const log = new StatementLog();
    log.record(`ALTER ROLE "a" WITH PASSWORD '${scramVerifier(generatePassword())}'`);
    expect(log.statements).toEqual([`ALTER ROLE "a" WITH PASSWORD '<scram verifier>'`]);
  });
});

describe('materialized views (no row-level security)', () => {
  test('give the application nothing and the cross-tenant roles SELECT; an application grant is revoked', () => {
    const all = { application: 'app', admin: 'adm', analytics: 'ana' };
    const mv: ObjectAcl = { kind: 'TABLE', target: '"public"."summary"', entries: [{ grantee: 'app', privilege: 'SELECT', grantable: false }], materialized: true };
    const changes = diffObjectAcls([mv], (_k, _t, o) => (o.materialized ? desiredForMaterializedView(all) : desiredFor('TABLE', all)));
    const sql = changes.map(changeSql).join('\n');
    expect(sql).toMatch(/REVOKE SELECT ON TABLE "public"."summary" FROM "app"/);
    expect(sql).toMatch(/GRANT SELECT ON TABLE "public"."summary" TO "adm", "ana"|GRANT SELECT ON TABLE "public"."summary" TO "adm"/);
    expect(sql).not.toMatch(/INSERT|UPDATE|DELETE/);
  });
});
