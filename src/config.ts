// Operator settings from flags and environment variables (flags win). Names follow controller-runtime's
// conventional flags so the chart and operators' habits carry over.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { AZURE_CLOUDS, type AzureCloudName } from './azure/clouds.js';
import { readScopePolicyFile, type ScopePolicy } from './azure/scope-policy.js';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/** In a pod, the namespace it runs in (where the leader Lease belongs by default), as controller-runtime finds it. */
function podNamespace(env: NodeJS.ProcessEnv): string | undefined {
  if (env.POD_NAMESPACE) return env.POD_NAMESPACE;
  try {
    return fs.readFileSync(SERVICE_ACCOUNT_NAMESPACE, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

export interface OperatorConfig {
  /** Empty: all namespaces. */
  namespaces: string[];
  /** Sharding: only TenantDatabases, Migrations, BackupPolicies and AlertRuleSets matching it; undefined: all. */
  watchLabelSelector: string | undefined;
  leaderElect: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  metricsBindAddress: string;
  healthProbeBindAddress: string;
  maxConcurrentReconciles: number;
  syncPeriodMs: number;
  logLevel: string;
  kubeconfig: string | undefined;
  gracefulShutdownTimeoutMs: number;
  azure: AzureSettings;
  postgres: PostgresSettings;
  /** The one origin Flux source artifacts are fetched from (Migration sourceRef); undefined: source-controller's in-cluster address. */
  sourceArtifactOrigin?: string | undefined;
}

/** How the operator reaches Azure Resource Manager and Microsoft Entra. */
export interface AzureSettings {
  /** Named cloud; its ARM endpoint and authority host apply unless overridden below. */
  cloud: AzureCloudName;
  /** ARM endpoint override (sovereign or private clouds, the local emulator). */
  armEndpoint: string | undefined;
  /** Entra authority host override (the emulator's token endpoint in tests). */
  authorityHost: string | undefined;
  /** PEM file of an extra CA trusted for ARM and Entra (the emulator's). */
  caFile: string | undefined;
  /** Fixed bearer token for ARM; only accepted for a loopback endpoint (the emulator). Never logged. */
  staticToken: string | undefined;
  /**
   * Which subscriptions / resource groups each namespace may reach with the operator's own identity, and
   * where it may adopt servers (src/azure/scope-policy.ts). Absent: nothing (deny by default).
   */
  scopePolicy?: ScopePolicy;
}

/** How the operator reaches database servers. */
export interface PostgresSettings {
  /** PEM file of an extra CA trusted for TLS to database servers, on top of the public roots. */
  caFile: string | undefined;
  /** JSON file mapping host names to addresses ({"name": "127.0.0.5"}); production uses DNS. */
  hostsFile: string | undefined;
  /** Weakest sslMode a TenantDatabase may ask for (undefined: verify-full); weaker specs are Stalled. */
  minSslMode?: PostgresSslMode | undefined;
}

/** TLS modes for database servers, weakest first. */
export const POSTGRES_SSL_MODES = ['require', 'verify-ca', 'verify-full'] as const;
export type PostgresSslMode = (typeof POSTGRES_SSL_MODES)[number];

export const USAGE = `Usage: tenantdb-operator [flags]

  --namespaces <a,b>                    namespaces to watch, comma separated; empty = all   (WATCH_NAMESPACES)
  --leader-elect[=true|false]           enable leader election                              (LEADER_ELECT, default false)
  --leader-election-namespace <ns>      namespace of the leader Lease                       (LEADER_ELECTION_NAMESPACE, default: POD_NAMESPACE or "default")
  --watch-label-selector <selector>     reconcile only objects of the four kinds matching it (sharding: e.g.
                                        sharding.tenantdb.io/key=shard1, or !sharding.tenantdb.io/key)  (WATCH_LABEL_SELECTOR)
  --leader-election-id <name>           name of the leader Lease                            (LEADER_ELECTION_ID, default tenantdb-operator.tenantdb.io;
                                        with a watch selector, one derived from it, so each shard has its own)
  --metrics-bind-address <addr>         address for /metrics; "0" disables                  (METRICS_BIND_ADDRESS, default :8080)
  --health-probe-bind-address <addr>    address for /healthz and /readyz; "0" disables      (HEALTH_PROBE_BIND_ADDRESS, default :8081)
  --max-concurrent-reconciles <n>       workers per controller                              (MAX_CONCURRENT_RECONCILES, default 1)
  --sync-period <duration>              resync every object at least this often (e.g. 10h, 30m, 45s)  (SYNC_PERIOD, default 10h)
  --graceful-shutdown-timeout <dur>     bound for in-flight reconciles on shutdown          (GRACEFUL_SHUTDOWN_TIMEOUT, default 30s)
  --log-level <level>                   trace, debug, info, warn, error                     (LOG_LEVEL, default info)
  --kubeconfig <path>                   kubeconfig file; default in-cluster or KUBECONFIG   (KUBECONFIG)
  --azure-cloud <name>                  AzurePublicCloud, AzureUSGovernment, AzureChinaCloud (AZURE_CLOUD, default AzurePublicCloud)
  --azure-arm-endpoint <url>            ARM endpoint override (https)                       (AZURE_ARM_ENDPOINT)
  --azure-authority-host <url>          Microsoft Entra authority host override             (AZURE_AUTHORITY_HOST)
  --azure-ca-file <path>                extra CA (PEM) trusted for ARM and Entra            (AZURE_CA_FILE)
  --azure-static-token-file <path>      file with a fixed ARM bearer token; loopback endpoints only (AZURE_STATIC_TOKEN_FILE)
  --azure-scope-policy <path>           YAML/JSON file: which namespaces may use the operator's identity in which
                                        subscriptions/resource groups, and adopt there; default: none  (AZURE_SCOPE_POLICY)
  --postgres-ca-file <path>             extra CA (PEM) trusted for database servers         (POSTGRES_CA_FILE)
  --postgres-hosts-file <path>          JSON maps (':'-separated) of host name to address for database servers (POSTGRES_HOSTS_FILE)
  --postgres-min-sslmode <mode>         weakest sslMode a TenantDatabase may use: verify-full, verify-ca or require
                                        (POSTGRES_MIN_SSLMODE, default verify-full)
  --source-artifact-origin <url>        the only origin (scheme://host[:port]) Flux source artifacts are fetched from
                                        (SOURCE_ARTIFACT_ORIGIN, default http://source-controller.flux-system.svc.cluster.local.)
  -h, --help                            show this help
`;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses Go-style durations: "1h30m", "45s", "250ms", or a bare number of seconds. */
export function parseDuration(s: string): number {
  const t = s.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let rest = t;
  const re = /^(\d+(?:\.\d+)?)(ms|s|m|h)/;
  if (!rest) throw new ConfigError(`invalid duration ${JSON.stringify(s)}`);
  while (rest) {
    const m = re.exec(rest);
    if (!m) throw new ConfigError(`invalid duration ${JSON.stringify(s)}`);
    total += Number(m[1]) * (unit[m[2] as string] as number);
    rest = rest.slice(m[0].length);
  }
  return total;
}

function parseBool(name: string, v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new ConfigError(`${name}: not a boolean: ${JSON.stringify(v)}`);
}

function parsePositiveInt(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${name}: want a positive integer, got ${JSON.stringify(v)}`);
  return n;
}

const DEFAULT_LEADER_ELECTION_ID = 'tenantdb-operator.tenantdb.io';

/**
 * The leader Lease of a shard: each selector its own lease, so shards elect leaders independently; the
 * unsharded operator keeps the usual name. Readable part from the selector plus a hash (two selectors that
 * read alike still get different leases), within a Lease name's 63 characters.
 */
export function leaderElectionIdFor(selector: string | undefined): string {
  if (!selector) return DEFAULT_LEADER_ELECTION_ID;
  // The end of a selector tells shards apart (key=shard1, key=shard2), so that is the part kept, from a word start.
  const words = selector
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  const tail = words.slice(-24);
  const readable = words.length > 24 && tail.includes('-') ? tail.slice(tail.indexOf('-') + 1) : tail.replace(/^-+/, '');
  const hash = createHash('sha256').update(selector).digest('hex').slice(0, 8);
  return `tenantdb-operator-${readable ? `${readable}-` : ''}${hash}.tenantdb.io`;
}

/**
 * A label selector as the apiserver takes it (equality, set-based and existence terms, comma separated);
 * checked here so a typo stops the operator at start instead of failing every list.
 */
function checkLabelSelector(selector: string): void {
  const key = String.raw`(?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`;
  const value = String.raw`(?:[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?`;
  const term = new RegExp(String.raw`^(?:!?\s*${key}|${key}\s*(?:==?|!=)\s*${value}|${key}\s+(?:in|notin)\s+\(\s*${value}(?:\s*,\s*${value})*\s*\))$`);
  // Commas inside `in (a, b)` are not term separators.
  const terms = selector.split(/,(?![^(]*\))/).map((t) => t.trim());
  for (const t of terms) if (!term.test(t)) throw new ConfigError(`--watch-label-selector: not a label selector term: ${JSON.stringify(t)}`);
}

const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** The flags parseArgs accepts (every one also has an environment variable, see USAGE). */
const OPTIONS = {
  namespaces: { type: 'string' },
  'watch-label-selector': { type: 'string' },
  'leader-elect': { type: 'string' },
  'leader-election-namespace': { type: 'string' },
  'leader-election-id': { type: 'string' },
  'metrics-bind-address': { type: 'string' },
  'health-probe-bind-address': { type: 'string' },
  'max-concurrent-reconciles': { type: 'string' },
  'sync-period': { type: 'string' },
  'graceful-shutdown-timeout': { type: 'string' },
  'log-level': { type: 'string' },
  kubeconfig: { type: 'string' },
  'azure-cloud': { type: 'string' },
  'azure-arm-endpoint': { type: 'string' },
  'azure-authority-host': { type: 'string' },
  'azure-ca-file': { type: 'string' },
  'azure-static-token-file': { type: 'string' },
  'azure-scope-policy': { type: 'string' },
  'postgres-ca-file': { type: 'string' },
  'postgres-hosts-file': { type: 'string' },
  'postgres-min-sslmode': { type: 'string' },
  'source-artifact-origin': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };
/** A flag's value, else its environment variable's. */
type Pick = (flag: string | undefined, envName: string) => string | undefined;

/** A file's content read at start; a clear error naming the flag when it cannot be. */
function readFlagFile<T>(flag: string, file: string | undefined, read: (file: string) => T): T | undefined {
  if (!file) return undefined;
  try {
    return read(file);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`--${flag}: ${file}: ${e.code ? `cannot read: ${e.code}` : e.message}`);
  }
}

function azureConfig(v: Values, pick: Pick): AzureSettings {
  const cloud = pick(v['azure-cloud'], 'AZURE_CLOUD') ?? 'AzurePublicCloud';
  if (!(cloud in AZURE_CLOUDS)) throw new ConfigError(`--azure-cloud: want one of ${Object.keys(AZURE_CLOUDS).join(', ')}`);
  const staticToken = readFlagFile('azure-static-token-file', pick(v['azure-static-token-file'], 'AZURE_STATIC_TOKEN_FILE'), (f) => fs.readFileSync(f, 'utf8').trim());
  const scopePolicy = readFlagFile('azure-scope-policy', pick(v['azure-scope-policy'], 'AZURE_SCOPE_POLICY'), readScopePolicyFile);
  return {
    cloud: cloud as AzureCloudName,
    armEndpoint: pick(v['azure-arm-endpoint'], 'AZURE_ARM_ENDPOINT'),
    authorityHost: pick(v['azure-authority-host'], 'AZURE_AUTHORITY_HOST'),
    caFile: pick(v['azure-ca-file'], 'AZURE_CA_FILE'),
    staticToken,
    ...(scopePolicy ? { scopePolicy } : {}),
  };
}

function postgresConfig(v: Values, pick: Pick): OperatorConfig['postgres'] {
  const minSslMode = pick(v['postgres-min-sslmode'], 'POSTGRES_MIN_SSLMODE') ?? 'verify-full';
  if (!(POSTGRES_SSL_MODES as readonly string[]).includes(minSslMode)) throw new ConfigError(`--postgres-min-sslmode: want one of ${POSTGRES_SSL_MODES.join(', ')}`);
  return {
    caFile: pick(v['postgres-ca-file'], 'POSTGRES_CA_FILE'),
    hostsFile: pick(v['postgres-hosts-file'], 'POSTGRES_HOSTS_FILE'),
    minSslMode: minSslMode as PostgresSslMode,
  };
}

function parseFlags(argv: string[]): Values | { retry: string[] } {
  try {
    return parseArgs({ args: argv, allowPositionals: false, strict: true, options: OPTIONS }).values as Values;
  } catch (err) {
    // parseArgs rejects a string option without a value; accept the bare boolean flag form.
    const idx = argv.indexOf('--leader-elect');
    if (idx >= 0) return { retry: [...argv.slice(0, idx), '--leader-elect=true', ...argv.slice(idx + 1)] };
    throw new ConfigError((err as Error).message);
  }
}

export function parseConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig | 'help' {
  const v = parseFlags(argv);
  if ('retry' in v) return parseConfig(v.retry, env);
  if (v.help) return 'help';
  const pick: Pick = (flag, envName) => flag ?? env[envName];
  const namespaces = (pick(v.namespaces, 'WATCH_NAMESPACES') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const leaderElectRaw = pick(v['leader-elect'], 'LEADER_ELECT');
  const logLevel = pick(v['log-level'], 'LOG_LEVEL') ?? 'info';
  if (!LOG_LEVELS.includes(logLevel)) throw new ConfigError(`--log-level: want one of ${LOG_LEVELS.join(', ')}`);
  const mcr = pick(v['max-concurrent-reconciles'], 'MAX_CONCURRENT_RECONCILES');
  const sync = pick(v['sync-period'], 'SYNC_PERIOD');
  const grace = pick(v['graceful-shutdown-timeout'], 'GRACEFUL_SHUTDOWN_TIMEOUT');
  const watchLabelSelector = pick(v['watch-label-selector'], 'WATCH_LABEL_SELECTOR')?.trim() || undefined;
  if (watchLabelSelector !== undefined) checkLabelSelector(watchLabelSelector);
  return {
    namespaces,
    watchLabelSelector,
    leaderElect: leaderElectRaw === undefined ? false : parseBool('--leader-elect', leaderElectRaw),
    leaderElectionNamespace: pick(v['leader-election-namespace'], 'LEADER_ELECTION_NAMESPACE') ?? podNamespace(env) ?? 'default',
    leaderElectionId: pick(v['leader-election-id'], 'LEADER_ELECTION_ID') ?? leaderElectionIdFor(watchLabelSelector),
    metricsBindAddress: pick(v['metrics-bind-address'], 'METRICS_BIND_ADDRESS') ?? ':8080',
    healthProbeBindAddress: pick(v['health-probe-bind-address'], 'HEALTH_PROBE_BIND_ADDRESS') ?? ':8081',
    maxConcurrentReconciles: mcr === undefined ? 1 : parsePositiveInt('--max-concurrent-reconciles', mcr),
    syncPeriodMs: sync === undefined ? 10 * 3_600_000 : parseDuration(sync),
    gracefulShutdownTimeoutMs: grace === undefined ? 30_000 : parseDuration(grace),
    logLevel,
    kubeconfig: v.kubeconfig,
    azure: azureConfig(v, pick),
    postgres: postgresConfig(v, pick),
    sourceArtifactOrigin: artifactOrigin(pick(v['source-artifact-origin'], 'SOURCE_ARTIFACT_ORIGIN')),
  };
}

/** An origin only (http or https, no path, query or credentials): what an artifact URL's origin is compared to. */
function artifactOrigin(raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new ConfigError(`--source-artifact-origin: not a URL: ${JSON.stringify(raw)}`);
  }
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.username || u.password || u.search || u.hash || (u.pathname !== '/' && u.pathname !== '')) {
    throw new ConfigError(`--source-artifact-origin: want scheme://host[:port] (http or https), got ${JSON.stringify(raw)}`);
  }
  return u.origin;
}
