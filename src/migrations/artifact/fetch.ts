// Fetching a Flux source artifact: the URL and digest come from the source's status.artifact
// (https://fluxcd.io/flux/components/source/gitrepositories/#artifact: `url` served over HTTP by
// source-controller in the cluster, `digest` "sha256:<hex>" of the tar.gz, `revision`). That status is
// written by another controller, so it is not trusted: only the allowed origin is fetched from, the
// download is bounded in time and size, and the digest is checked before a byte is extracted.
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { readTar, type TarFile } from './tar.js';

/** source-controller's in-cluster address (the trailing dot as Flux writes it in artifact URLs). */
export const DEFAULT_ARTIFACT_ORIGIN = 'http://source-controller.flux-system.svc.cluster.local.';

export interface ArtifactLimits {
  origin: string;
  timeoutMs: number;
  /** Most bytes of the tar.gz downloaded. */
  maxCompressedBytes: number;
  /** Most bytes of the extracted tar. */
  maxExtractedBytes: number;
  maxFiles: number;
}

export const DEFAULT_ARTIFACT_LIMITS: ArtifactLimits = {
  origin: DEFAULT_ARTIFACT_ORIGIN,
  timeoutMs: 30_000,
  maxCompressedBytes: 64 * 1024 * 1024,
  maxExtractedBytes: 256 * 1024 * 1024,
  maxFiles: 10_000,
};

/** Why an artifact was not read. Stalled reasons need a person; ArtifactFetchFailed is retried. */
export type ArtifactReason = 'ArtifactOriginNotAllowed' | 'ArtifactDigestMismatch' | 'ArtifactInvalid' | 'ArtifactFetchFailed';

export class ArtifactError extends Error {
  constructor(
    readonly reason: ArtifactReason,
    message: string,
  ) {
    super(message);
  }
}

/** The origin (scheme://host[:port]) of a URL, or undefined when it is not an http(s) URL. */
function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.origin : undefined;
  } catch {
    return undefined;
  }
}

export function originAllowed(url: string, allowed: string): boolean {
  const o = originOf(url);
  return o !== undefined && o === originOf(allowed);
}

async function download(url: string, limits: ArtifactLimits): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(limits.timeoutMs), redirect: 'error' });
  } catch (e) {
    throw new ArtifactError('ArtifactFetchFailed', `fetching ${url}: ${(e as Error).message}`);
  }
  if (!res.ok || !res.body) throw new ArtifactError('ArtifactFetchFailed', `fetching ${url}: HTTP ${res.status}`);
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > limits.maxCompressedBytes) {
        throw new ArtifactError('ArtifactInvalid', `artifact ${url} is larger than ${limits.maxCompressedBytes} bytes`);
      }
      chunks.push(Buffer.from(chunk));
    }
  } catch (e) {
    if (e instanceof ArtifactError) throw e;
    throw new ArtifactError('ArtifactFetchFailed', `reading ${url}: ${(e as Error).message}`);
  }
  return Buffer.concat(chunks);
}

/** Checks the digest ("sha256:<hex>"), then extracts: nothing of a mismatching artifact is read. */
export function verifyAndExtract(body: Buffer, digest: string, limits: ArtifactLimits): TarFile[] {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m) throw new ArtifactError('ArtifactInvalid', `digest "${digest.slice(0, 80)}" is not sha256:<hex>`);
  const actual = createHash('sha256').update(body).digest('hex');
  if (actual !== m[1]) throw new ArtifactError('ArtifactDigestMismatch', `artifact digest is sha256:${actual}, status.artifact.digest says ${digest}`);
  try {
    return readTar(gunzipSync(body, { maxOutputLength: limits.maxExtractedBytes }), { maxFiles: limits.maxFiles });
  } catch (e) {
    throw new ArtifactError('ArtifactInvalid', `artifact is not a readable tar.gz: ${(e as Error).message}`);
  }
}

/** The artifact's files, after the origin, size and digest checks. */
export async function fetchArtifact(url: string, digest: string, limits: ArtifactLimits): Promise<TarFile[]> {
  if (!originAllowed(url, limits.origin)) {
    throw new ArtifactError('ArtifactOriginNotAllowed', `artifact URL ${url.slice(0, 200)} is not on the allowed origin ${limits.origin} (--source-artifact-origin)`);
  }
  return verifyAndExtract(await download(url, limits), digest, limits);
}

/**
 * Fetched artifacts by digest, least recently used dropped first: a converged Migration (same digest)
 * costs no fetch; a digest is content-addressed, so a hit never needs checking again.
 */
export class ArtifactCache {
  private readonly entries = new Map<string, TarFile[]>();
  private readonly inflight = new Map<string, Promise<TarFile[]>>();
  /**
   * URL+digest pairs whose download failed a content check (digest, size, tar): source-controller's URLs
   * name the content (its checksum), so the same pair fails the same way; not fetched again until the
   * source's status changes. Transient failures (ArtifactFetchFailed) are not kept.
   */
  private readonly failed = new Map<string, ArtifactError>();
  fetches = 0;

  constructor(
    readonly limits: ArtifactLimits,
    private readonly max = 16,
  ) {}

  async get(url: string, digest: string): Promise<TarFile[]> {
    // The origin is checked on every use, a cached digest included: the URL is the status's claim.
    if (!originAllowed(url, this.limits.origin)) {
      throw new ArtifactError('ArtifactOriginNotAllowed', `artifact URL ${url.slice(0, 200)} is not on the allowed origin ${this.limits.origin} (--source-artifact-origin)`);
    }
    const hit = this.entries.get(digest);
    if (hit) {
      this.entries.delete(digest);
      this.entries.set(digest, hit);
      return hit;
    }
    const key = `${digest} ${url}`;
    const known = this.failed.get(key);
    if (known) throw known;
    let p = this.inflight.get(key);
    if (!p) {
      this.fetches++;
      p = fetchArtifact(url, digest, this.limits).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    let files: TarFile[];
    try {
      files = await p;
    } catch (e) {
      if (e instanceof ArtifactError && e.reason !== 'ArtifactFetchFailed') {
        this.failed.set(key, e);
        while (this.failed.size > this.max) this.failed.delete(this.failed.keys().next().value as string);
      }
      throw e;
    }
    this.entries.set(digest, files);
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value as string);
    return files;
  }
}
