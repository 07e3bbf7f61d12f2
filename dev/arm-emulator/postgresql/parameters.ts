// The server parameters the emulated flexible server exposes through `configurations`. Real PostgreSQL
// settings are written to the instance's managed config and reloaded: dynamic ones take effect at once,
// static ones show `isConfigPendingRestart` (read from pg_settings.pending_restart) until a restart.
// `azure.extensions` is the allow-list enforced inside each instance (see bootstrap.ts).

export type ParameterDataType = 'Boolean' | 'Integer' | 'Numeric' | 'Enumeration' | 'String' | 'Set';

export interface ServerParameter {
  name: string;
  defaultValue: string;
  dataType: ParameterDataType;
  /** Integer/Numeric: "min-max"; Enumeration/Set/Boolean: comma-separated choices; String: ".*" style hint. */
  allowedValues: string;
  isDynamicConfig: boolean;
  isReadOnly: boolean;
  unit?: string;
  description: string;
  /** Applied to the PostgreSQL instance (false: stored only, e.g. Azure-only switches). */
  applied: boolean;
}

const doc = (anchor: string) => `https://www.postgresql.org/docs/17/${anchor}`;

/** Contrib extensions the emulated service lets users allow-list (those shipped with the PostgreSQL binaries). */
export const ALLOWLISTABLE_EXTENSIONS = [
  'amcheck', 'bloom', 'btree_gin', 'btree_gist', 'citext', 'cube', 'dblink', 'dict_int', 'earthdistance', 'fuzzystrmatch',
  'hstore', 'intagg', 'intarray', 'isn', 'lo', 'ltree', 'pageinspect', 'pg_buffercache', 'pg_freespacemap', 'pg_prewarm',
  'pg_stat_statements', 'pg_trgm', 'pg_visibility', 'pgcrypto', 'pgrowlocks', 'pgstattuple', 'postgres_fdw', 'seg',
  'sslinfo', 'tablefunc', 'tcn', 'tsm_system_rows', 'tsm_system_time', 'unaccent', 'uuid-ossp',
];

export const SERVER_PARAMETERS: ServerParameter[] = [
  {
    name: 'azure.extensions', defaultValue: '', dataType: 'Set', allowedValues: ALLOWLISTABLE_EXTENSIONS.join(','),
    isDynamicConfig: true, isReadOnly: false, applied: true,
    description: 'Specifies which extensions are allowed to be created in the server.',
  },
  {
    name: 'max_connections', defaultValue: '100', dataType: 'Integer', allowedValues: '25-5000', isDynamicConfig: false,
    isReadOnly: false, applied: true, description: 'Sets the maximum number of concurrent connections.',
  },
  {
    name: 'shared_buffers', defaultValue: '4096', dataType: 'Integer', allowedValues: '16-1073741823', unit: '8KB',
    isDynamicConfig: false, isReadOnly: false, applied: true, description: 'Sets the number of shared memory buffers used by the server.',
  },
  {
    name: 'max_worker_processes', defaultValue: '8', dataType: 'Integer', allowedValues: '0-262143', isDynamicConfig: false,
    isReadOnly: false, applied: true, description: 'Maximum number of concurrent worker processes.',
  },
  {
    name: 'shared_preload_libraries', defaultValue: 'pg_stat_statements', dataType: 'Set', allowedValues: 'auto_explain,pg_prewarm,pg_stat_statements',
    isDynamicConfig: false, isReadOnly: false, applied: true, description: 'Lists shared libraries to preload into server.',
  },
  {
    name: 'work_mem', defaultValue: '4096', dataType: 'Integer', allowedValues: '4096-2097151', unit: 'KB', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Sets the amount of memory to be used by internal sort operations and hash tables before writing to temporary disk files.',
  },
  {
    name: 'maintenance_work_mem', defaultValue: '65536', dataType: 'Integer', allowedValues: '1024-2097151', unit: 'KB',
    isDynamicConfig: true, isReadOnly: false, applied: true, description: 'Sets the maximum memory to be used for maintenance operations.',
  },
  {
    name: 'statement_timeout', defaultValue: '0', dataType: 'Integer', allowedValues: '0-2147483647', unit: 'milliseconds',
    isDynamicConfig: true, isReadOnly: false, applied: true, description: 'Sets the maximum allowed duration of any statement.',
  },
  {
    name: 'lock_timeout', defaultValue: '0', dataType: 'Integer', allowedValues: '0-2147483647', unit: 'milliseconds',
    isDynamicConfig: true, isReadOnly: false, applied: true, description: 'Sets the maximum allowed duration of any wait for a lock.',
  },
  {
    name: 'idle_in_transaction_session_timeout', defaultValue: '86400000', dataType: 'Integer', allowedValues: '0-2147483647',
    unit: 'milliseconds', isDynamicConfig: true, isReadOnly: false, applied: true,
    description: 'Sets the maximum allowed idle time between queries, when in a transaction.',
  },
  {
    name: 'log_min_duration_statement', defaultValue: '-1', dataType: 'Integer', allowedValues: '-1-2147483647', unit: 'milliseconds',
    isDynamicConfig: true, isReadOnly: false, applied: true, description: 'Sets the minimum execution time above which statements will be logged.',
  },
  {
    name: 'log_statement', defaultValue: 'none', dataType: 'Enumeration', allowedValues: 'none,ddl,mod,all', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Sets the type of statements logged.',
  },
  {
    name: 'log_connections', defaultValue: 'on', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Logs each successful connection.',
  },
  {
    name: 'track_io_timing', defaultValue: 'off', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Collects timing statistics for database I/O activity.',
  },
  {
    name: 'timezone', defaultValue: 'UTC', dataType: 'String', allowedValues: '[A-Za-z0-9/+_-]+', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Sets the time zone for displaying and interpreting time stamps.',
  },
  {
    name: 'array_nulls', defaultValue: 'on', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true, isReadOnly: false, applied: true,
    description: "Enables input of NULL (case insensitive) to be considered as NULL value rather than the literal String 'NULL'.",
  },
  {
    name: 'constraint_exclusion', defaultValue: 'partition', dataType: 'Enumeration', allowedValues: 'partition,on,off', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Enables the planner to use constraints to optimize queries.',
  },
  {
    name: 'require_secure_transport', defaultValue: 'on', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true,
    isReadOnly: false, applied: false, description: 'Whether client connections to the server are required to use some form of secure transport.',
  },
  // Parameters of crds/examples/tenantdatabase-azure.yaml (values and ranges as Azure lists them).
  {
    name: 'log_checkpoints', defaultValue: 'on', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Logs each checkpoint.',
  },
  {
    name: 'log_disconnections', defaultValue: 'off', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Logs end of a session, including duration.',
  },
  {
    name: 'random_page_cost', defaultValue: '2', dataType: 'Numeric', allowedValues: '0-1.79769e+308', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: "Sets the planner's estimate of the cost of a nonsequentially fetched disk page.",
  },
  {
    name: 'effective_io_concurrency', defaultValue: '1', dataType: 'Integer', allowedValues: '0-1000', isDynamicConfig: true,
    isReadOnly: false, applied: true, description: 'Number of simultaneous requests that can be handled efficiently by the disk subsystem.',
  },
  {
    name: 'metrics.collector_database_activity', defaultValue: 'off', dataType: 'Boolean', allowedValues: 'on,off', isDynamicConfig: true,
    isReadOnly: false, applied: false, description: 'Enables metrics collection for database and activity statistics.',
  },
  {
    name: 'pgbouncer.enabled', defaultValue: 'false', dataType: 'Boolean', allowedValues: 'true,false', isDynamicConfig: true,
    isReadOnly: false, applied: false, description: 'Denotes if pgBouncer service is enabled.',
  },
  // The built-in PgBouncer's own settings (Azure: visible once pgbouncer.enabled is true; no restart
  // needed). Applied to the emulated server's real PgBouncer (pgbouncer.ts), not to PostgreSQL.
  {
    name: 'pgbouncer.default_pool_size', defaultValue: '50', dataType: 'Integer', allowedValues: '1-4950', isDynamicConfig: true,
    isReadOnly: false, applied: false, description: 'How many server connections to allow per user/database pair.',
  },
  {
    name: 'pgbouncer.max_client_conn', defaultValue: '5000', dataType: 'Integer', allowedValues: '1-50000', isDynamicConfig: true,
    isReadOnly: false, applied: false, description: 'Maximum number of client connections allowed.',
  },
  {
    name: 'pgbouncer.pool_mode', defaultValue: 'TRANSACTION', dataType: 'Enumeration', allowedValues: 'SESSION,TRANSACTION,STATEMENT', isDynamicConfig: true,
    isReadOnly: false, applied: false, description: 'Specifies when a server connection can be reused by other clients.',
  },
  {
    name: 'wal_level', defaultValue: 'replica', dataType: 'Enumeration', allowedValues: 'replica,logical', isDynamicConfig: false,
    isReadOnly: true, applied: false, description: 'Sets the level of information written to the WAL.',
  },
];

export function findParameter(name: string): ServerParameter | undefined {
  const n = name.toLowerCase();
  return SERVER_PARAMETERS.find((p) => p.name === n);
}

const DOC_ANCHORS: Record<string, string> = {
  max_connections: 'runtime-config-connection.html#GUC-MAX-CONNECTIONS',
  shared_buffers: 'runtime-config-resource.html#GUC-SHARED-BUFFERS',
  work_mem: 'runtime-config-resource.html#GUC-WORK-MEM',
};

export function documentationLink(p: ServerParameter): string {
  return doc(DOC_ANCHORS[p.name] ?? 'runtime-config.html');
}

/** Normalises and checks a value against the parameter's type; returns the error message when invalid. */
export function checkParameterValue(p: ServerParameter, raw: string): { value: string } | { error: string } {
  const value = raw.trim();
  switch (p.dataType) {
    case 'Boolean': {
      const v = value.toLowerCase();
      // Stored in the parameter's own spelling: on/off for PostgreSQL's, true/false for Azure's switches.
      const [yes, no] = p.allowedValues.split(',') as [string, string];
      if (['on', 'true', '1', 'yes'].includes(v)) return { value: yes };
      if (['off', 'false', '0', 'no'].includes(v)) return { value: no };
      return { error: `Parameter value '${raw}' is invalid for '${p.name}'. Allowed values: ${p.allowedValues}.` };
    }
    case 'Integer':
    case 'Numeric': {
      const m = /^(-?\d+(?:\.\d+)?)-(-?\d+(?:\.\d+)?)$/.exec(p.allowedValues);
      const n = Number(value);
      if (!/^-?\d+(\.\d+)?$/.test(value) || (p.dataType === 'Integer' && !Number.isInteger(n)) || (m && (n < Number(m[1]) || n > Number(m[2])))) {
        return { error: `Parameter value '${raw}' is invalid for '${p.name}'. Allowed range: ${p.allowedValues}.` };
      }
      return { value: String(n) };
    }
    case 'Enumeration': {
      const v = p.allowedValues.split(',').find((a) => a.toLowerCase() === value.toLowerCase());
      if (v === undefined) return { error: `Parameter value '${raw}' is invalid for '${p.name}'. Allowed values: ${p.allowedValues}.` };
      return { value: v };
    }
    case 'Set': {
      const items = value.split(',').map((s) => s.trim()).filter(Boolean);
      const allowed = p.allowedValues.split(',');
      const bad = items.filter((i) => !allowed.includes(i.toLowerCase()));
      if (bad.length) return { error: `Parameter value '${raw}' is invalid for '${p.name}': '${bad.join(',')}' not allowed. Allowed values: ${p.allowedValues}.` };
      return { value: [...new Set(items.map((i) => i.toLowerCase()))].join(',') };
    }
    case 'String':
      if (!new RegExp(`^(?:${p.allowedValues})$`).test(value)) return { error: `Parameter value '${raw}' is invalid for '${p.name}'.` };
      return { value };
  }
}
