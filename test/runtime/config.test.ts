import { ConfigError, leaderElectionIdFor, parseConfig, parseDuration } from '../../src/config.js';
import { parseBindAddress } from '../../src/runtime/server.js';

describe('parseConfig', () => {
  it('has controller-runtime style defaults', () => {
    expect(parseConfig([], {})).toEqual({
      namespaces: [],
      leaderElect: false,
      leaderElectionNamespace: 'default',
      leaderElectionId: 'tenantdb-operator.tenantdb.io',
      metricsBindAddress: ':8080',
      healthProbeBindAddress: ':8081',
      maxConcurrentReconciles: 1,
      syncPeriodMs: 36_000_000,
      gracefulShutdownTimeoutMs: 30_000,
      logLevel: 'info',
      kubeconfig: undefined,
      azure: { cloud: 'AzurePublicCloud', armEndpoint: undefined, authorityHost: undefined, caFile: undefined, staticToken: undefined },
      postgres: { caFile: undefined, hostsFile: undefined, minSslMode: 'verify-full' },
    });
  });

  it('reads the TLS floor for database servers from --postgres-min-sslmode or POSTGRES_MIN_SSLMODE', () => {
    expect(parseConfig([], { POSTGRES_MIN_SSLMODE: 'require' })).toMatchObject({ postgres: { minSslMode: 'require' } });
    expect(parseConfig(['--postgres-min-sslmode=verify-ca'], { POSTGRES_MIN_SSLMODE: 'require' })).toMatchObject({ postgres: { minSslMode: 'verify-ca' } });
    expect(() => parseConfig(['--postgres-min-sslmode=disable'], {})).toThrow(ConfigError);
  });

  it('reads env and lets flags win', () => {
    const env = { WATCH_NAMESPACES: 'a, b', LEADER_ELECT: 'true', MAX_CONCURRENT_RECONCILES: '4', LOG_LEVEL: 'debug', POD_NAMESPACE: 'ops' };
    const c = parseConfig(['--namespaces=c', '--sync-period', '1m30s'], env);
    expect(c).toMatchObject({ namespaces: ['c'], leaderElect: true, maxConcurrentReconciles: 4, logLevel: 'debug', syncPeriodMs: 90_000, leaderElectionNamespace: 'ops' });
  });

  it('accepts a bare --leader-elect and --leader-elect=false', () => {
    expect(parseConfig(['--leader-elect', '--log-level', 'warn'], {})).toMatchObject({ leaderElect: true, logLevel: 'warn' });
    expect(parseConfig(['--leader-elect'], {})).toMatchObject({ leaderElect: true });
    expect(parseConfig(['--leader-elect=false'], { LEADER_ELECT: 'true' })).toMatchObject({ leaderElect: false });
  });

  it('rejects bad values and unknown flags', () => {
    expect(() => parseConfig(['--max-concurrent-reconciles=0'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--log-level=loud'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--bogus'], {})).toThrow(ConfigError);
    expect(parseConfig(['--help'], {})).toBe('help');
  });
});

describe('sharding: --watch-label-selector', () => {
  it('reads the selector from the flag or WATCH_LABEL_SELECTOR and gives each shard its own lease', () => {
    const a = parseConfig(['--watch-label-selector', 'sharding.tenantdb.io/key=shard1'], {}) as Exclude<ReturnType<typeof parseConfig>, 'help'>;
    const b = parseConfig([], { WATCH_LABEL_SELECTOR: 'sharding.tenantdb.io/key=shard2' }) as Exclude<ReturnType<typeof parseConfig>, 'help'>;
    const rest = parseConfig([], { WATCH_LABEL_SELECTOR: '!sharding.tenantdb.io/key' }) as Exclude<ReturnType<typeof parseConfig>, 'help'>;
    expect(a.watchLabelSelector).toBe('sharding.tenantdb.io/key=shard1');
    expect(b.watchLabelSelector).toBe('sharding.tenantdb.io/key=shard2');
    expect(rest.watchLabelSelector).toBe('!sharding.tenantdb.io/key');
    const ids = [a, b, rest].map((c) => c.leaderElectionId);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) {
      expect(id).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      expect(id.length).toBeLessThanOrEqual(63);
      expect(id).not.toBe('tenantdb-operator.tenantdb.io');
    }
    expect(a.leaderElectionId).toBe(leaderElectionIdFor('sharding.tenantdb.io/key=shard1'));
    expect(leaderElectionIdFor(undefined)).toBe('tenantdb-operator.tenantdb.io');
  });

  it('lets --leader-election-id name the lease of a shard', () => {
    expect(parseConfig(['--watch-label-selector=tier in (gold, silver)', '--leader-election-id=gold.tenantdb.io'], {})).toMatchObject({ watchLabelSelector: 'tier in (gold, silver)', leaderElectionId: 'gold.tenantdb.io' });
  });

  it('rejects what is not a label selector', () => {
    expect(() => parseConfig(['--watch-label-selector', 'a=b=c'], {})).toThrow(ConfigError);
    expect(() => parseConfig(['--watch-label-selector', 'key in gold'], {})).toThrow(ConfigError);
    expect(parseConfig(['--watch-label-selector', 'a!=b,c,!d'], {})).toMatchObject({ watchLabelSelector: 'a!=b,c,!d' });
  });
});

describe('parseDuration / parseBindAddress', () => {
  it('parses Go durations', () => {
    expect(parseDuration('10h')).toBe(36_000_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1h2m3s')).toBe(3_723_000);
    expect(parseDuration('15')).toBe(15_000);
    expect(() => parseDuration('5x')).toThrow(ConfigError);
  });

  it('parses bind addresses', () => {
    expect(parseBindAddress(':8080')).toEqual({ host: '0.0.0.0', port: 8080 });
    expect(parseBindAddress('127.0.0.1:0')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(parseBindAddress('[::1]:9')).toEqual({ host: '::1', port: 9 });
    expect(parseBindAddress('0')).toBeUndefined();
    expect(() => parseBindAddress('nope')).toThrow();
  });
});

test('--source-artifact-origin takes an origin only (Flux artifacts are fetched from nowhere else)', () => {
  const origin = (args: string[], env: NodeJS.ProcessEnv = {}) => (parseConfig(args, env) as { sourceArtifactOrigin?: string }).sourceArtifactOrigin;
  expect(origin([])).toBeUndefined();
  expect(origin(['--source-artifact-origin=http://source-controller.flux-system.svc.cluster.local.'])).toBe('http://source-controller.flux-system.svc.cluster.local.');
  expect(origin([], { SOURCE_ARTIFACT_ORIGIN: 'http://127.0.0.1:9090/' })).toBe('http://127.0.0.1:9090');
  expect(() => parseConfig(['--source-artifact-origin=http://host/path'], {})).toThrow(ConfigError);
  expect(() => parseConfig(['--source-artifact-origin=file:///etc'], {})).toThrow(ConfigError);
  expect(() => parseConfig(['--source-artifact-origin=http://user:pw@host'], {})).toThrow(ConfigError);
});
