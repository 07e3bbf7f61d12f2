// Microsoft Entra token logins enforced by the emulated server's PostgreSQL: a server created with
// activeDirectoryAuth Enabled runs on Debian's PostgreSQL, whose pg_hba.conf sends Entra principals to LDAP
// simple bind against the emulator's token check. Tokens come from the emulator's Entra endpoint through
// @azure/identity, as a workload gets them; the refused ones are refused by PostgreSQL at login.
import { generateKeyPairSync, sign } from 'node:crypto';
import fs from 'node:fs';
import pg from 'pg';
import { credentialFromSecretData } from '../../src/azure/credentials.js';
import { FAST, LOCATION, createResourceGroup, startHarness, type Harness } from './fixtures.js';

const RG = 'rg-entra-login';
const NAME = 'entra-login-pg';
const ENTRA_ONLY = 'entra-only-pg';
const TENANT = '5d2e8f1a-3b4c-4d5e-8f6a-7b8c9d0e1f2a';
const AUDIENCE = 'https://ossrdbms-aad.database.windows.net';
const ADMIN_ROLE = 'ops-admin';
const APP_ROLE = 'orders-app';
const PASSWORD = 'S3cure-Passw0rd!';

let h: Harness;
const sps: Record<string, { clientId: string; objectId: string }> = {};

beforeAll(async () => {
  h = await startHarness('entra-login');
  await createResourceGroup(h, RG);
  for (const [name, clientId] of [
    ['admin', '0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e'],
    ['app', '1d2e3f4a-5b6c-4d7e-8f90-a1b2c3d4e5f6'],
    ['other', '2e3f4a5b-6c7d-4e8f-9a0b-b1c2d3e4f5a6'],
  ] as const) {
    const r = await h.control.registerServicePrincipal({ tenantId: TENANT, clientId, clientSecret: `${name}-secret` });
    sps[name] = { clientId, objectId: r.objectId };
  }
});

afterAll(async () => {
  await h?.stop();
});

async function token(who: string, scope = `${AUDIENCE}/.default`): Promise<string> {
  const { credential } = credentialFromSecretData(
    { tenantId: TENANT, clientId: sps[who]!.clientId, clientSecret: `${who}-secret` },
    { authorityHost: h.emu.authorityHost, disableInstanceDiscovery: true, caCertPem: h.caPem },
  );
  return (await credential.getToken(scope))!.token;
}

async function connect(server: string, user: string, password: string, database = 'postgres'): Promise<pg.Client> {
  const fqdn = `${server}.postgres.database.azure.com`;
  const target = (JSON.parse(fs.readFileSync(h.emu.hostsFile, 'utf8')) as Record<string, { host: string; port: number }>)[fqdn]!;
  const c = new pg.Client({ host: target.host, port: target.port, user, password, database, ssl: { ca: h.caPem, servername: fqdn } });
  await c.connect();
  return c;
}

async function whoAmI(server: string, user: string, password: string): Promise<string> {
  const c = await connect(server, user, password);
  try {
    return (await c.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u;
  } finally {
    await c.end();
  }
}

/** The token re-signed with a key that is not Entra's (header and claims unchanged). */
function resigned(jwt: string): string {
  const [hd, pl] = jwt.split('.');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return `${hd}.${pl}.${sign('sha256', Buffer.from(`${hd}.${pl}`), privateKey).toString('base64url')}`;
}

const REFUSED = /LDAP authentication failed|authentication failed/;

describe('a server created with Microsoft Entra authentication', () => {
  beforeAll(async () => {
    const server = await h.client.servers.beginCreateOrUpdateAndWait(
      RG,
      NAME,
      {
        location: LOCATION,
        sku: { name: 'Standard_B1ms', tier: 'Burstable' },
        administratorLogin: 'pwadmin',
        administratorLoginPassword: PASSWORD,
        version: '17',
        storage: { storageSizeGB: 32 },
        authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Enabled', tenantId: TENANT },
      },
      FAST,
    );
    expect(server.state).toBe('Ready');
    await h.client.administratorsMicrosoftEntra.beginCreateOrUpdateAndWait(RG, NAME, sps.admin!.objectId, { principalName: ADMIN_ROLE, principalType: 'ServicePrincipal', tenantId: TENANT }, FAST);
  }, 240_000);

  test('the Entra administrator logs in with its token; pgaadauth creates and lists principals', async () => {
    const admin = await connect(NAME, ADMIN_ROLE, await token('admin'));
    try {
      expect((await admin.query<{ u: string }>('SELECT current_user AS u')).rows[0]!.u).toBe(ADMIN_ROLE);
      const made = await admin.query<{ r: string }>('SELECT pgaadauth_create_principal_with_oid($1, $2, $3, false, false) AS r', [APP_ROLE, sps.app!.objectId, 'service']);
      expect(made.rows[0]!.r).toBe(`Created role for ${APP_ROLE}`);
      const all = await admin.query('SELECT rolname, principaltype, objectid, isadmin FROM pgaadauth_list_principals(false)');
      expect(all.rows).toEqual([
        { rolname: ADMIN_ROLE, principaltype: 'service', objectid: sps.admin!.objectId, isadmin: 1 },
        { rolname: APP_ROLE, principaltype: 'service', objectid: sps.app!.objectId, isadmin: 0 },
      ]);
      expect((await admin.query('SELECT rolname FROM pgaadauth_list_principals(true)')).rows).toEqual([{ rolname: ADMIN_ROLE }]);
    } finally {
      await admin.end();
    }
    expect(await whoAmI(NAME, APP_ROLE, await token('app'))).toBe(APP_ROLE);
  });

  test('only an Entra administrator may create principals', async () => {
    const app = await connect(NAME, APP_ROLE, await token('app'));
    try {
      await expect(app.query("SELECT pgaadauth_create_principal_with_oid('sneaky', $1, 'user', true, false)", [sps.other!.objectId])).rejects.toThrow(/permission denied/);
    } finally {
      await app.end();
    }
  });

  test('PostgreSQL refuses a wrong audience, another principal, an expired token and a bad signature', async () => {
    const before = await h.control.entraLogins();
    // A token for ARM, not for the database.
    await expect(whoAmI(NAME, APP_ROLE, await token('app', `${h.emu.endpoint}/.default`))).rejects.toThrow(REFUSED);
    // A valid database token of another principal, and the administrator's on the application's role.
    await expect(whoAmI(NAME, APP_ROLE, await token('other'))).rejects.toThrow(REFUSED);
    await expect(whoAmI(NAME, APP_ROLE, await token('admin'))).rejects.toThrow(REFUSED);
    // Signed by Entra's key, but expired a minute ago.
    const expired = await h.control.mintToken({ authority: h.emu.authorityHost, tenantId: TENANT, objectId: sps.app!.objectId, audience: AUDIENCE, expiresInSeconds: -60 });
    await expect(whoAmI(NAME, APP_ROLE, expired.accessToken)).rejects.toThrow(REFUSED);
    // The same claims that pass, minted fresh: accepted (so the refusal above was the expiry).
    const fresh = await h.control.mintToken({ authority: h.emu.authorityHost, tenantId: TENANT, objectId: sps.app!.objectId, audience: AUDIENCE, expiresInSeconds: 300 });
    expect(await whoAmI(NAME, APP_ROLE, fresh.accessToken)).toBe(APP_ROLE);
    // Right claims, signed with another key.
    await expect(whoAmI(NAME, APP_ROLE, resigned(await token('app')))).rejects.toThrow(REFUSED);
    // Another tenant's issuer.
    const foreign = await h.control.mintToken({ authority: h.emu.authorityHost, tenantId: '9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a', objectId: sps.app!.objectId, audience: AUDIENCE });
    await expect(whoAmI(NAME, APP_ROLE, foreign.accessToken)).rejects.toThrow(REFUSED);
    const after = await h.control.entraLogins();
    expect(after.refused - before.refused).toBe(6);
    expect(after.accepted - before.accepted).toBe(1);
  });

  test('with passwordAuth Disabled PostgreSQL refuses passwords; tokens still work', async () => {
    expect(await whoAmI(NAME, 'pwadmin', PASSWORD)).toBe('pwadmin');
    await h.client.servers.beginUpdateAndWait(RG, NAME, { authConfig: { passwordAuth: 'Disabled' } }, FAST);
    expect((await h.client.servers.get(RG, NAME)).authConfig).toMatchObject({ activeDirectoryAuth: 'Enabled', passwordAuth: 'Disabled' });
    await expect(whoAmI(NAME, 'pwadmin', PASSWORD)).rejects.toThrow(/no pg_hba\.conf entry/);
    expect(await whoAmI(NAME, APP_ROLE, await token('app'))).toBe(APP_ROLE);
    // Both off is not a configuration Azure accepts.
    await expect(h.client.servers.beginUpdateAndWait(RG, NAME, { authConfig: { activeDirectoryAuth: 'Disabled' } }, FAST)).rejects.toMatchObject({ statusCode: 400 });
  });

  test('a dropped principal can no longer log in', async () => {
    const admin = await connect(NAME, ADMIN_ROLE, await token('admin'));
    try {
      await admin.query(`DROP ROLE ${admin.escapeIdentifier(APP_ROLE)}`);
    } finally {
      await admin.end();
    }
    await expect(whoAmI(NAME, APP_ROLE, await token('app'))).rejects.toThrow(/authentication failed|no pg_hba\.conf entry/);
  });
});

test('an Entra-only server needs no administrator password; its databases belong to the Entra administrators', async () => {
  const server = await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    ENTRA_ONLY,
    { location: LOCATION, sku: { name: 'Standard_B1ms', tier: 'Burstable' }, version: '17', storage: { storageSizeGB: 32 }, authConfig: { activeDirectoryAuth: 'Enabled', passwordAuth: 'Disabled', tenantId: TENANT } },
    FAST,
  );
  expect(server.state).toBe('Ready');
  expect(server.administratorLogin).toBeUndefined();
  await h.client.administratorsMicrosoftEntra.beginCreateOrUpdateAndWait(RG, ENTRA_ONLY, sps.admin!.objectId, { principalName: ADMIN_ROLE, principalType: 'ServicePrincipal', tenantId: TENANT }, FAST);
  await h.client.databases.beginCreateAndWait(RG, ENTRA_ONLY, 'appdb', { charset: 'UTF8', collation: 'en_US.utf8' }, FAST);
  const c = await connect(ENTRA_ONLY, ADMIN_ROLE, await token('admin'), 'appdb');
  try {
    await c.query('CREATE SCHEMA app; CREATE TABLE app.t (id int)');
    expect((await c.query('SELECT count(*)::int AS n FROM app.t')).rows[0]).toEqual({ n: 0 });
  } finally {
    await c.end();
  }
}, 240_000);

test('Entra authentication cannot be switched on for a server running on PostgreSQL 17', async () => {
  const name = 'plain-pg17';
  await h.client.servers.beginCreateOrUpdateAndWait(
    RG,
    name,
    { location: LOCATION, sku: { name: 'Standard_B1ms', tier: 'Burstable' }, administratorLogin: 'pwadmin', administratorLoginPassword: PASSWORD, version: '17', storage: { storageSizeGB: 32 } },
    FAST,
  );
  await expect(h.client.servers.beginUpdateAndWait(RG, name, { authConfig: { activeDirectoryAuth: 'Enabled' } }, FAST)).rejects.toMatchObject({ statusCode: 400, code: 'PropertyChangeNotAllowed' });
  expect(await whoAmI(name, 'pwadmin', PASSWORD)).toBe('pwadmin');
}, 240_000);
