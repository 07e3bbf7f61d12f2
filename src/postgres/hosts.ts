// Name-to-address overrides for database servers (`--postgres-hosts-file`): the local ARM emulator gives
// every server the FQDN Azure would (<name>.postgres.database.azure.com) but listens on a loopback
// address of its own. Production leaves this unset and uses DNS. The file is re-read when it changes,
// since the emulator adds servers while the operator runs.
import fs from 'node:fs';
import path from 'node:path';

export interface HostOverride {
  host: string;
  port?: number;
}

type HostsMap = Record<string, HostOverride>;

/**
 * `--postgres-hosts-file` names one file, or several joined with the platform's path delimiter (':' as in
 * PATH): locally the ARM emulator keeps one and the dev fixtures another. The first file naming a host wins.
 */
export class HostsFile {
  private readonly files: SingleHostsFile[];

  constructor(spec: string | undefined) {
    this.files = (spec ?? '').split(path.delimiter).filter((f) => f.length > 0).map((f) => new SingleHostsFile(f));
  }

  /** The address to dial for `host` (and the port, when the file names one); undefined: use DNS. */
  lookup(host: string): HostOverride | undefined {
    for (const f of this.files) {
      const o = f.lookup(host);
      if (o) return o;
    }
    return undefined;
  }
}

class SingleHostsFile {
  private cache: { mtimeMs: number; size: number; map: HostsMap } | undefined;

  constructor(private readonly file: string) {}

  lookup(host: string): HostOverride | undefined {
    return this.read()[host.toLowerCase()];
  }

  private read(): HostsMap {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.file);
    } catch {
      return {};
    }
    if (this.cache && this.cache.mtimeMs === st.mtimeMs && this.cache.size === st.size) return this.cache.map;
    let raw: unknown;
    try {
      raw = JSON.parse(fs.readFileSync(this.file, 'utf8'));
    } catch {
      // A file being rewritten reads as invalid JSON for a moment; keep the last good map.
      return this.cache?.map ?? {};
    }
    const map: HostsMap = {};
    for (const [name, v] of Object.entries((raw ?? {}) as Record<string, unknown>)) {
      if (typeof v === 'string') map[name.toLowerCase()] = { host: v };
      else if (v && typeof v === 'object' && typeof (v as HostOverride).host === 'string') {
        const o = v as HostOverride;
        map[name.toLowerCase()] = { host: o.host, ...(typeof o.port === 'number' ? { port: o.port } : {}) };
      }
    }
    this.cache = { mtimeMs: st.mtimeMs, size: st.size, map };
    return map;
  }
}
