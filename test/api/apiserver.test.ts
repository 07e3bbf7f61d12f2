// The generated CRDs against a real kube-apiserver: they install, every example is accepted (and
// defaults are applied by the server), every invalid case is rejected at admission naming the
// field, immutable fields stay immutable, and kubectl explain shows the descriptions.
import fs from 'node:fs';
import path from 'node:path';
import { KIND_DEFINITIONS } from '../../src/api/index.js';
import { createTestNamespace, kubectl, type KubectlResult } from '../../dev/env/testenv.js';
import { INVALID_CASES, type InvalidCase } from './invalid-cases.js';
import { CRDS_DIR, REMOVE, example, loadExamples, renamed, withChanges, type Obj } from './objects.js';

let ns = '';

// JSON, not YAML: kubectl reads YAML 1.1, where an unquoted `on` (a valid parameter value) is a boolean.
const toInput = (o: Obj): string => JSON.stringify(o);

async function mustSucceed(args: string[], input?: string): Promise<KubectlResult> {
  const r = await kubectl(args, input === undefined ? {} : { input });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}

function dryRunApply(o: Obj): Promise<KubectlResult> {
  return kubectl(['apply', '-n', ns, '--dry-run=server', '-f', '-'], { input: toInput(o) });
}

// Replace, not apply: a client-side apply merges, so it could not remove a field.
function dryRunReplace(o: Obj): Promise<KubectlResult> {
  return kubectl(['replace', '-n', ns, '--dry-run=server', '-f', '-'], { input: toInput(o) });
}

/** Runs `fn` over `items` with at most `limit` in flight (each kubectl call is a process). */
async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

beforeAll(async () => {
  const files = fs
    .readdirSync(CRDS_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => path.join(CRDS_DIR, f));
  // Server-side apply: no last-applied annotation, whose size limit large CRDs can hit.
  await mustSucceed(['apply', '--server-side', '--force-conflicts', ...files.flatMap((f) => ['-f', f])]);
  await mustSucceed([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    ...KIND_DEFINITIONS.map((k) => `crd/${k.info.plural}.tenantdb.io`),
  ]);
  ns = await createTestNamespace('api');
});

afterAll(async () => {
  if (ns) await kubectl(['delete', 'namespace', ns, '--wait=false']);
});

describe('CRDs on a real apiserver', () => {
  it('are installed and Established, with the status subresource', async () => {
    for (const k of KIND_DEFINITIONS) {
      const r = await mustSucceed(['get', 'crd', `${k.info.plural}.tenantdb.io`, '-o', 'json']);
      const crd = JSON.parse(r.stdout) as {
        spec: { versions: { subresources?: { status?: object } }[] };
        status: { conditions: { type: string; status: string }[] };
      };
      expect(crd.status.conditions.find((c) => c.type === 'Established')?.status).toBe('True');
      expect(crd.spec.versions[0]?.subresources?.status).toEqual({});
    }
  });

  it('accept every example (dry run, then for real) and apply schema defaults', async () => {
    const examples = loadExamples();
    for (const e of examples) {
      const r = await dryRunApply(e.object);
      expect([e.file, r.status, r.stderr]).toEqual([e.file, 0, '']);
      expect(r.stdout).toContain('created (server dry run)');
    }
    for (const e of examples) await mustSucceed(['create', '-n', ns, '-f', '-'], toInput(e.object));

    const got = JSON.parse((await mustSucceed(['get', 'tenantdatabase', 'events-db', '-n', ns, '-o', 'json'])).stdout) as {
      spec: { partitioning: { schema: string; defaultPartition: boolean }[]; server: { external: { port: number } } };
    };
    // Set by the apiserver from the schema defaults, not by the example.
    expect(got.spec.partitioning[0]).toMatchObject({ schema: 'public', defaultPartition: true });
    const mig = JSON.parse((await mustSucceed(['get', 'migration', 'compliance-schema', '-n', ns, '-o', 'json'])).stdout) as {
      spec: { migrations: { version: string; transactional: boolean }[]; allowDown: boolean; outOfOrder: boolean };
    };
    expect(mig.spec.migrations.map((m) => [m.version, m.transactional])).toEqual([
      ['001', true],
      ['002', true],
      ['003', false],
      ['004', true],
      ['005', true],
    ]);
    expect([mig.spec.allowDown, mig.spec.outOfOrder]).toEqual([false, false]);
  });

  it(`reject all ${INVALID_CASES.length} invalid objects at admission, naming the field`, async () => {
    expect(INVALID_CASES.length).toBeGreaterThanOrEqual(40);
    expect(new Set(INVALID_CASES.map((c) => c.object.kind)).size).toBe(4);
    // One kubectl per kind with every case of that kind as a document of one stream: the apiserver
    // judges each object on its own and kubectl prints one error line per object, naming it.
    const kinds = [...new Set(INVALID_CASES.map((c) => c.object.kind))];
    const lines = new Map<string, string>();
    let accepted = '';
    await Promise.all(
      kinds.map(async (kind) => {
        const docs = INVALID_CASES.filter((c) => c.object.kind === kind && !c.apiserverOnly).map((c) => toInput(c.object));
        const r = await kubectl(['apply', '-n', ns, '--dry-run=server', '-f', '-'], { input: docs.join('\n---\n') });
        accepted += r.stdout;
        for (const line of r.stderr.split('\n')) {
          const name = /"(invalid-\d+)"/.exec(line)?.[1];
          if (name && line.startsWith('Error from server')) lines.set(name, line);
        }
      }),
    );
    // A strict-decoding error (unknown field) does not name the object, so those cases go one by one.
    for (const c of INVALID_CASES.filter((x) => x.apiserverOnly)) {
      const r = await dryRunApply(c.object);
      accepted += r.stdout;
      lines.set(c.object.metadata.name, r.stderr.split('\n').find((l) => l.startsWith('Error from server')) ?? '');
    }
    expect(accepted).toBe('');
    const namesField = (line: string, field: string) => line.includes(`${field}: `) || line.includes(`"${field}"`);
    const wrong = INVALID_CASES.filter((c) => !namesField(lines.get(c.object.metadata.name) ?? '', c.field)).map(
      (c) => `${c.title} (${c.object.metadata.name}): expected a rejection naming ${c.field}, got: ${lines.get(c.object.metadata.name) ?? 'no error'}`,
    );
    expect(wrong).toEqual([]);
  });

  it('keep immutable fields immutable, while mutable ones change', async () => {
    const tdb = renamed(example('tenantdatabase-azure.yaml'), 'immutability');
    const bp = renamed(example('backuppolicy.yaml'), 'immutability');
    await mustSucceed(['create', '-n', ns, '-f', '-'], toInput(tdb));
    await mustSucceed(['create', '-n', ns, '-f', '-'], toInput(bp));

    const immutableChanges: [string, Obj, string, string][] = [
      ['server name', withChanges(tdb, { 'spec.server.azure.name': 'comply-ai-postgres-2' }), 'spec.server.azure.name', 'name is immutable'],
      ['location', withChanges(tdb, { 'spec.server.azure.location': 'westeurope' }), 'spec.server.azure.location', 'location is immutable'],
      [
        'administratorLogin',
        withChanges(tdb, { 'spec.server.azure.administratorLogin': 'another_admin' }),
        'spec.server.azure.administratorLogin',
        'administratorLogin is immutable',
      ],
      [
        'administratorLogin removed (entra only)',
        withChanges(tdb, { 'spec.server.azure.administratorLogin': REMOVE, 'spec.server.azure.authentication.passwordAuth': false }),
        'spec.server.azure.administratorLogin',
        'administratorLogin is immutable and cannot be removed',
      ],
      [
        'backup.geoRedundant',
        withChanges(tdb, { 'spec.server.azure.backup.geoRedundant': false }),
        'spec.server.azure.backup.geoRedundant',
        'backup.geoRedundant is immutable',
      ],
      ['backup removed', withChanges(tdb, { 'spec.server.azure.backup': REMOVE }), 'spec.server.azure.backup', 'backup.geoRedundant is immutable'],
      ['database name', withChanges(tdb, { 'spec.database.name': 'compliance2' }), 'spec.database.name', 'database.name is immutable'],
      [
        'azure -> external',
        withChanges(tdb, {
          'spec.server.azure': REMOVE,
          'spec.server.external': { host: 'db.example.com', adminSecretRef: { name: 'admin' } },
        }),
        'spec.server',
        'cannot switch between azure and external',
      ],
      ['storage shrink', withChanges(tdb, { 'spec.server.azure.storage.sizeGB': 512 }), 'spec.server.azure.storage.sizeGB', 'storage cannot shrink'],
      ['version downgrade', withChanges(tdb, { 'spec.server.azure.version': '15' }), 'spec.server.azure.version', 'not downgraded'],
      ['BackupPolicy geoRedundant', withChanges(bp, { 'spec.geoRedundant': false }), 'spec.geoRedundant', 'geoRedundant is immutable'],
    ];
    const rejected = await mapLimited(immutableChanges, 4, async ([what, o, field, message]) => ({ what, field, message, r: await dryRunReplace(o) }));
    const wrong = rejected
      .filter(({ field, message, r }) => r.status === 0 || !r.stderr.includes(`${field}: `) || !r.stderr.includes(message))
      .map(({ what, field, message, r }) => `${what}: expected "${field}: ... ${message}", got ${r.status}: ${r.stdout}${r.stderr}`);
    expect(wrong).toEqual([]);

    // The same objects with mutable changes go through, so the rejections above are specific.
    const allowed = [
      withChanges(tdb, { 'spec.server.azure.backup.retentionDays': 14 }),
      withChanges(tdb, { 'spec.server.azure.storage.sizeGB': 2048 }),
      withChanges(tdb, { 'spec.server.azure.version': '17' }),
      withChanges(tdb, { 'spec.roles.analytics': 'compliance_reader' }),
      withChanges(bp, { 'spec.retentionDays': 14 }),
    ];
    for (const o of allowed) {
      const r = await dryRunReplace(o);
      expect([r.status, r.stderr]).toEqual([0, '']);
    }
  });

  it('print Ready, Reason, per-kind columns and Age', async () => {
    const r = await mustSucceed(['get', 'tenantdatabases', '-n', ns]);
    expect(r.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'REASON', 'DATABASE', 'SERVER', 'STATE', 'AGE']);
    const m = await mustSucceed(['get', 'migrations', '-n', ns]);
    expect(m.stdout.split('\n')[0]?.split(/\s{2,}/)).toEqual(['NAME', 'READY', 'REASON', 'DATABASE', 'APPLIED', 'LATEST', 'AGE']);
  });

  it('explain the fields with their descriptions', async () => {
    // The OpenAPI document is republished a moment after a CRD changes; allow for that.
    let last: KubectlResult | undefined;
    for (let i = 0; i < 30; i++) {
      last = await kubectl(['explain', 'tenantdatabase.spec.server.azure.name', '--api-version=tenantdb.io/v1alpha1']);
      if (last.status === 0 && last.stdout.includes('3-63 lowercase letters')) break;
      await new Promise((res) => setTimeout(res, 1000));
    }
    expect(last?.stdout).toContain('Name of the Flexible Server: 3-63 lowercase letters');
    const rules = await mustSucceed(['explain', 'alertruleset.spec.rules.metric', '--api-version=tenantdb.io/v1alpha1']);
    expect(rules.stdout).toContain('Flexible Server metric');
  });
});
