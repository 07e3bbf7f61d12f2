import { ConfigError, parseConfig, parseDuration } from '../../src/config.js';
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
      postgres: { caFile: undefined, hostsFile: undefined },
    });
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
