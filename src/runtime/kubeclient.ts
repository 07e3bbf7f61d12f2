// A small REST client for the Kubernetes API. The generated client of @kubernetes/client-node hides the
// raw watch stream, patch content types and status codes that the informer, status writer and leader
// elector need, so requests go through node's https with the KubeConfig's TLS and credentials applied
// per request (in-cluster tokens rotate, so credentials are never cached here).
import http from 'node:http';
import https from 'node:https';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';

/** Identifies a resource collection: `/apis/<group>/<version>/namespaces/<ns>/<plural>`. */
export interface ResourceRef {
  group: string; // '' for the core group
  version: string;
  plural: string;
}

export type KubeObject = {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    finalizers?: string[];
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export interface Status {
  kind: 'Status';
  code?: number;
  reason?: string;
  message?: string;
}

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly statusCode: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.statusCode === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.statusCode === 409;
export const isGone = (e: unknown): boolean => e instanceof ApiError && e.statusCode === 410;

export function resourcePath(ref: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  const base = ref.group === '' ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  let p = base;
  if (namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${ref.plural}`;
  if (name) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

export type PatchType = 'merge' | 'json' | 'apply';
const patchContentType: Record<PatchType, string> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Accept header; default application/json. Metadata-only lists and watches ask for PartialObjectMetadata. */
  accept?: string;
}

/**
 * Asks the apiserver for metadata only (as controller-runtime's metadata informers do): lists and watches
 * answer PartialObjectMetadata, so a cache of a kind holds names, labels and resourceVersions, not data.
 */
export const ACCEPT_METADATA_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';
/** The same for a watch, whose events carry single objects. */
export const ACCEPT_METADATA_WATCH = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/** An open watch: `done` settles when the stream ends (resolve) or fails (reject); `abort()` closes it. */
export interface WatchHandle {
  done: Promise<void>;
  abort(): void;
}

export interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubeObject | Status;
}

export class KubeClient {
  private readonly server: URL;
  private readonly agent: http.Agent;

  constructor(readonly kubeConfig: KubeConfig) {
    const cluster = kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.server = new URL(cluster.server);
    const isHttps = this.server.protocol === 'https:';
    this.agent = isHttps ? new https.Agent({ keepAlive: true, maxSockets: 64 }) : new http.Agent({ keepAlive: true, maxSockets: 64 });
  }

  private async openRequest(method: string, path: string, opts: RequestOptions): Promise<http.ClientRequest> {
    const url = new URL(this.server.toString().replace(/\/$/, '') + path);
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v));
    const reqOpts: https.RequestOptions = { method, headers: { Accept: opts.accept ?? 'application/json' } };
    await this.kubeConfig.applyToHTTPSOptions(reqOpts);
    reqOpts.agent = this.agent;
    const headers = reqOpts.headers as Record<string, string>;
    if (opts.body !== undefined) headers['Content-Type'] = opts.contentType ?? 'application/json';
    const mod = url.protocol === 'https:' ? https : http;
    const req = mod.request(url, reqOpts);
    const signal = opts.signal;
    if (signal) {
      if (signal.aborted) req.destroy(new Error('aborted'));
      else {
        // The signal outlives the request (an informer's stop signal serves every list it makes): the
        // listener goes with the request, or it would keep each request, and the parsed answer its
        // promise resolved with (a whole list page), alive until the informer stops.
        const onAbort = (): void => void req.destroy(new Error('aborted'));
        signal.addEventListener('abort', onAbort, { once: true });
        req.once('close', () => signal.removeEventListener('abort', onAbort));
      }
    }
    return req;
  }

  /** Sends one request and parses the JSON answer; non-2xx answers become ApiError. */
  async request<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const req = await this.openRequest(method, path, opts);
    return new Promise<T>((resolve, reject) => {
      // Node keeps a keep-alive socket's first request reachable for as long as the socket lives (its TLS
      // session listener holds it), and with it this request's listeners. So they hold the promise only
      // until it settles and the body only until it is parsed: otherwise every such socket would keep a
      // whole answer alive (a list page of 500 objects, measured in the heap snapshot).
      let settle: { resolve: (v: T) => void; reject: (e: unknown) => void } | undefined = { resolve, reject };
      let chunks: Buffer[] = [];
      const finish = (err: unknown, value?: T): void => {
        clearTimeout(timeout);
        chunks = [];
        const s = settle;
        settle = undefined;
        if (!s) return;
        if (err !== undefined) s.reject(err);
        else s.resolve(value as T);
      };
      const timeout = setTimeout(() => req.destroy(new Error(`${method} ${path}: timed out`)), opts.timeoutMs ?? 30_000);
      req.on('error', (e) => finish(e));
      req.on('response', (res) => {
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => finish(e));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          chunks = [];
          let parsed: unknown = undefined;
          try {
            parsed = text ? JSON.parse(text) : undefined;
          } catch {
            parsed = undefined;
          }
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) return finish(undefined, parsed as T);
          const st = (parsed ?? {}) as Partial<Status>;
          finish(new ApiError(code, st.reason ?? 'Unknown', `${method} ${path}: ${st.message ?? `${code} ${text.trim().slice(0, 200)}`}`));
        });
      });
      if (opts.body !== undefined) req.write(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      req.end();
    });
  }

  get<T = KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    return this.request<T>('GET', resourcePath(ref, namespace, name));
  }

  create<T = KubeObject>(ref: ResourceRef, namespace: string | undefined, body: unknown, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('POST', resourcePath(ref, namespace), { body, ...(query ? { query } : {}) });
  }

  replace<T = KubeObject>(ref: ResourceRef, namespace: string | undefined, name: string, body: unknown): Promise<T> {
    return this.request<T>('PUT', resourcePath(ref, namespace, name), { body });
  }

  patch<T = KubeObject>(
    ref: ResourceRef,
    namespace: string | undefined,
    name: string,
    type: PatchType,
    body: unknown,
    opts: { subresource?: string; fieldManager?: string; force?: boolean } = {},
  ): Promise<T> {
    const query: Record<string, string | boolean | undefined> = { fieldManager: opts.fieldManager };
    if (type === 'apply' && opts.force) query.force = true;
    return this.request<T>('PATCH', resourcePath(ref, namespace, name, opts.subresource), {
      body,
      contentType: patchContentType[type],
      query,
    });
  }

  delete(ref: ResourceRef, namespace: string | undefined, name: string): Promise<unknown> {
    return this.request('DELETE', resourcePath(ref, namespace, name));
  }

  /**
   * Opens a watch stream and calls `onEvent` for every line. A non-200 answer rejects `done` with an
   * ApiError (410 when the resourceVersion is too old). `onActivity` fires on every received chunk, so
   * a watchdog can tell a live-but-quiet stream (bookmarks arrive) from a dead one.
   */
  async watch(path: string, query: RequestOptions['query'], onEvent: (ev: WatchEvent) => void, onActivity?: () => void, accept?: string): Promise<WatchHandle> {
    const req = await this.openRequest('GET', path, { query: { ...query, watch: true }, ...(accept ? { accept } : {}) });
    let aborted = false;
    const done = new Promise<void>((resolve, reject) => {
      req.on('error', (e) => (aborted ? resolve() : reject(e)));
      req.on('response', (res) => {
        const code = res.statusCode ?? 0;
        if (code !== 200) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let st: Partial<Status> = {};
            try {
              st = JSON.parse(text) as Partial<Status>;
            } catch {
              /* not JSON */
            }
            reject(new ApiError(code, st.reason ?? 'Unknown', `watch ${path}: ${code} ${st.message ?? text.slice(0, 200)}`));
          });
          return;
        }
        res.on('data', () => onActivity?.());
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        // The stream's own error handler below settles `done`; readline re-emits the same error.
        lines.on('error', () => undefined);
        lines.on('line', (line) => {
          if (!line.trim()) return;
          let ev: WatchEvent;
          try {
            ev = JSON.parse(line) as WatchEvent;
          } catch {
            return;
          }
          onEvent(ev);
        });
        res.on('error', (e) => (aborted ? resolve() : reject(e)));
        res.on('close', () => {
          if (!res.complete && !aborted) reject(new Error(`watch ${path}: connection closed before the stream ended`));
          else resolve();
        });
      });
      req.end();
    });
    return {
      done,
      abort: () => {
        aborted = true;
        req.destroy();
      },
    };
  }

  close(): void {
    this.agent.destroy();
  }
}
