// Pure logic of the connection Secrets: the keys and their formats (URIs percent-encoded, pgpass escaped,
// pooler keys with PgBouncer, ca.crt only with a private CA), names, and label values that fit.
import { describe, expect, test } from '@jest/globals';
import { connectionData, ownerLabelValue, secretNameFor } from '../../controllers/tenantdatabase/database/secrets.js';
import type { ServerConnection } from '../../controllers/tenantdatabase/context.js';

const conn: ServerConnection = { kind: 'azure', host: 's1.postgres.database.azure.com', port: 5432, sslMode: 'verify-full', adminUser: 'a', adminPassword: 'b' };

describe('connection Secret data', () => {
  test('every key, with characters that need encoding or escaping', () => {
    const d = connectionData(conn, 'orders', 'app_user', 'p:w@/\\x', undefined);
    expect(d).toEqual({
      host: 's1.postgres.database.azure.com',
      port: '5432',
      dbname: 'orders',
      username: 'app_user',
      password: 'p:w@/\\x',
      sslmode: 'verify-full',
      uri: 'postgresql://app_user:p%3Aw%40%2F%5Cx@s1.postgres.database.azure.com:5432/orders?sslmode=verify-full',
      'jdbc-uri': 'jdbc:postgresql://s1.postgres.database.azure.com:5432/orders?user=app_user&password=p%3Aw%40%2F%5Cx&sslmode=verify-full',
      pgpass: 's1.postgres.database.azure.com:5432:orders:app_user:p\\:w@/\\\\x\n',
    });
    expect(new URL(d.uri as string).password).toBe('p%3Aw%40%2F%5Cx');
  });

  test('pooler keys with PgBouncer; ca.crt with a private CA', () => {
    const d = connectionData({ ...conn, pooler: { port: 6432 } }, 'orders', 'u', 'pw', 'PEM');
    expect(d).toMatchObject({ 'pooler-host': conn.host, 'pooler-port': '6432', 'pooler-uri': `postgresql://u:pw@${conn.host}:6432/orders?sslmode=verify-full`, 'ca.crt': 'PEM' });
  });

  test('names per role; label values within 63 characters and distinct', () => {
    const ctx = { name: 'orders', spec: {} };
    expect(['application', 'admin', 'analytics'].map((k) => secretNameFor(ctx, k as 'admin'))).toEqual(['orders-connection', 'orders-admin-connection', 'orders-analytics-connection']);
    expect(secretNameFor({ name: 'orders', spec: { connectionSecret: { name: 'app-db' } } }, 'application')).toBe('app-db');
    const long = 'x'.repeat(100);
    expect(ownerLabelValue('orders')).toBe('orders');
    expect(ownerLabelValue(long).length).toBeLessThanOrEqual(63);
    expect(ownerLabelValue(long)).not.toBe(ownerLabelValue(`${long}y`));
    expect(ownerLabelValue(long)).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  });
});
