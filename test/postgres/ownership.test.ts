// Pure rules deciding whether an existing role or database may be managed: created by this object (its
// UID marker), adopted explicitly by the spec, or refused. Nothing is inferred from names or owners.
import { describe, expect, test } from '@jest/globals';
import type { DatabaseInfo, RoleInfo } from '../../src/postgres/database/catalog.js';
import { adoptionMarker, checkExistingDatabase, checkExistingRole, NO_ADOPTION, ownershipMarker } from '../../src/postgres/database/sync.js';

const marker = ownershipMarker('team-a', 'orders', 'uid-1');
const adopted = adoptionMarker('team-a', 'orders', 'uid-1');
const role = (over: Partial<RoleInfo> = {}): RoleInfo => ({ name: 'orders_app', superuser: false, inherit: true, createRole: false, createDb: false, canLogin: true, replication: false, bypassRls: false, comment: null, memberOf: [], ...over });
const db = (comment: string | null): DatabaseInfo => ({ name: 'orders', owner: 'someone', comment, acl: [] });

describe('an existing role', () => {
  test('is ours only with this object\'s marker; the same name under another UID is another object', () => {
    expect(checkExistingRole(role({ comment: marker }), marker, NO_ADOPTION)).toBe('ours');
    const later = ownershipMarker('team-a', 'orders', 'uid-2');
    expect(() => checkExistingRole(role({ comment: marker }), later, NO_ADOPTION)).toThrow(expect.objectContaining({ reason: 'RoleConflict' }));
  });

  test('without a marker: refused (RoleExists) unless adopted; adopted stays adopted across passes', () => {
    expect(() => checkExistingRole(role(), marker, NO_ADOPTION)).toThrow(expect.objectContaining({ reason: 'RoleExists' }));
    const adopt = { names: new Set(['orders_app'])};
    expect(checkExistingRole(role(), marker, adopt)).toBe('adopted');
    expect(checkExistingRole(role({ comment: adopted }), marker, adopt)).toBe('adopted');
    // Adoption taken back in the spec: the role is no longer managed.
    expect(() => checkExistingRole(role({ comment: adopted }), marker, NO_ADOPTION)).toThrow(expect.objectContaining({ reason: 'RoleExists' }));
  });

  test('a privileged role is never taken over, adopted or not', () => {
    const adopt = { names: new Set(['orders_app'])};
    expect(() => checkExistingRole(role({ createRole: true }), marker, adopt)).toThrow(expect.objectContaining({ reason: 'RoleConflict' }));
  });

  test('a name-only marker of an earlier version counts as no marker: adoptable, never ours', () => {
    const legacy = 'managed by tenantdb-operator for TenantDatabase team-a/orders';
    expect(() => checkExistingRole(role({ comment: legacy }), marker, NO_ADOPTION)).toThrow(expect.objectContaining({ reason: 'RoleExists' }));
    expect(checkExistingRole(role({ comment: legacy }), marker, { names: new Set(['orders_app']) })).toBe('adopted');
    expect(() => checkExistingRole(role({ comment: 'managed by tenantdb-operator for TenantDatabase team-b/orders' }), marker, NO_ADOPTION)).toThrow(expect.objectContaining({ reason: 'RoleConflict' }));
  });
});

describe('an existing database', () => {
  test('ours with the marker, adoptable without, another object\'s refused even when adopt is set', () => {
    expect(checkExistingDatabase(db(marker), marker, false)).toBe('ours');
    expect(() => checkExistingDatabase(db('billing data'), marker, false)).toThrow(expect.objectContaining({ reason: 'DatabaseExists' }));
    expect(checkExistingDatabase(db('billing data'), marker, true)).toBe('adopted');
    expect(() => checkExistingDatabase(db(ownershipMarker('team-b', 'x', 'uid-9')), marker, true)).toThrow(expect.objectContaining({ reason: 'DatabaseConflict' }));
  });
});
