// Pure logic of the TenantDatabase orchestrator: which part gives the overall reason, and which Secrets
// of a spec bring the object back when they change.
import { composeHealth, referencedSecrets } from '../../controllers/tenantdatabase/index.js';

describe('composeHealth', () => {
  it('is Ready only when every part is in shape', () => {
    expect(composeHealth([{ type: 'ServerReady', ok: true, reason: 'Ready', message: '' }, { type: 'DatabaseReady', ok: true, reason: 'Ready', message: '' }]).state).toBe('Ready');
  });
  it('takes the reason of the first part not in shape; stalled parts make it Stalled', () => {
    const h = composeHealth([
      { type: 'ServerReady', ok: true, reason: 'Ready', message: '' },
      { type: 'DatabaseReady', ok: false, stalled: true, reason: 'InsufficientPrivilege', message: 'role lacks CREATEROLE' },
      { type: 'TenancyReady', ok: false, reason: 'Later', message: '' },
    ]);
    expect(h).toEqual({ state: 'Stalled', reason: 'InsufficientPrivilege', message: 'role lacks CREATEROLE' });
  });
  it('a transient failure is Reconciling, never Stalled', () => {
    expect(composeHealth([{ type: 'ServerReady', ok: false, reason: 'ConnectionFailed', message: 'ECONNREFUSED' }]).state).toBe('Reconciling');
  });
});

describe('referencedSecrets', () => {
  it('lists the admin, credentials and CA Secrets of either server kind', () => {
    expect(
      referencedSecrets({
        server: {
          azure: {
            administratorPasswordSecretRef: { name: 'admin', key: 'password' },
            credentialsSecretRef: { name: 'creds' },
          } as never,
        },
      }).sort(),
    ).toEqual(['admin', 'creds']);
    expect(referencedSecrets({ server: { external: { adminSecretRef: { name: 'a' }, caSecretRef: { name: 'ca', key: 'ca.crt' } } as never } }).sort()).toEqual(['a', 'ca']);
    expect(referencedSecrets(undefined)).toEqual([]);
  });
});
