// Step 1a of a Migration pass: the Flux sources of spec.sources (sourceRef), each read as the files of
// `path` inside its artifact. The artifact's URL and digest are read from the source's status.artifact
// (source.toolkit.fluxcd.io/v1: https://fluxcd.io/flux/components/source/gitrepositories/#artifact;
// OCIRepository and Bucket report the same fields); the download is checked (src/migrations/artifact/)
// and cached by digest, so a converged Migration costs one GET of the source and no fetch.
import type { FluxSourceKind, MigrationSpec } from '../../src/api/migration.js';
import { ArtifactError, type ArtifactReason } from '../../src/migrations/artifact/fetch.js';
import { filesIn } from '../../src/migrations/artifact/tar.js';
import type { ConfigMapLike } from '../../src/migrations/steps.js';
import type { Health } from '../../src/runtime/conditions.js';
import { isNotFound, type KubeObject, type ResourceRef } from '../../src/runtime/kubeclient.js';
import type { MigrationEnv } from './pass.js';

// Spelled out one per kind so the chart's RBAC check (test/ship/code-requests.ts) finds each GET.
const GIT_REPOSITORIES: ResourceRef = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'gitrepositories' };
const OCI_REPOSITORIES: ResourceRef = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'ocirepositories' };
const BUCKETS: ResourceRef = { group: 'source.toolkit.fluxcd.io', version: 'v1', plural: 'buckets' };
export const FLUX_RESOURCES: Record<FluxSourceKind, ResourceRef> = { GitRepository: GIT_REPOSITORIES, OCIRepository: OCI_REPOSITORIES, Bucket: BUCKETS };

function getSource(env: MigrationEnv, namespace: string, kind: FluxSourceKind, name: string): Promise<KubeObject> {
  const client = env.mgr.client;
  if (kind === 'GitRepository') return client.get(GIT_REPOSITORIES, namespace, name);
  if (kind === 'OCIRepository') return client.get(OCI_REPOSITORIES, namespace, name);
  return client.get(BUCKETS, namespace, name);
}

type SourceItem = NonNullable<MigrationSpec['sources']>[number];

/** The name a source goes by in messages and status.sources: the ConfigMap's, or <kind>/<name>[:<path>]. */
export function sourceName(s: SourceItem): string {
  if (s.configMapRef) return s.configMapRef.name;
  const ref = s.sourceRef as { kind: FluxSourceKind; name: string };
  return `${ref.kind}/${ref.name}${s.path ? `:${s.path}` : ''}`;
}

export interface ArtifactUsed {
  revision: string;
  digest: string;
}

export type FluxRead = { ok: true; data: Map<string, ConfigMapLike>; used: Map<string, ArtifactUsed> } | { ok: false; health: Health };

interface Artifact {
  url?: unknown;
  digest?: unknown;
  revision?: unknown;
}

const STALLED: readonly ArtifactReason[] = ['ArtifactOriginNotAllowed', 'ArtifactDigestMismatch', 'ArtifactInvalid'];

async function readSource(env: MigrationEnv, namespace: string, kind: FluxSourceKind, name: string): Promise<KubeObject | undefined> {
  // Where Flux is installed the watch's cache answers (no request); before it synced, or without Flux, a GET.
  const ref = FLUX_RESOURCES[kind];
  if (env.mgr.cacheSynced(ref, namespace)) return env.mgr.getCached(ref, namespace, name);
  try {
    return await getSource(env, namespace, kind, name);
  } catch (e) {
    // Not there, or Flux's CRD not installed (the apiserver answers 404 for an unknown resource too).
    if (isNotFound(e)) return undefined;
    throw e;
  }
}

/** Each Flux source's files (as a ConfigMap's data), or the health saying why they cannot be had. */
export async function readFluxSources(env: MigrationEnv, namespace: string, sources: readonly SourceItem[]): Promise<FluxRead> {
  const data = new Map<string, ConfigMapLike>();
  const used = new Map<string, ArtifactUsed>();
  for (const s of sources) {
    if (!s.sourceRef) continue;
    const name = sourceName(s);
    const obj = await readSource(env, namespace, s.sourceRef.kind, s.sourceRef.name);
    if (!obj) return waiting(`${s.sourceRef.kind} ${s.sourceRef.name} (spec.sources) not found`);
    const artifact = ((obj as { status?: { artifact?: Artifact } }).status?.artifact ?? {}) as Artifact;
    const { url, digest, revision } = artifact;
    if (typeof url !== 'string' || typeof digest !== 'string') return waiting(`${s.sourceRef.kind} ${s.sourceRef.name} has no artifact yet (status.artifact)`);
    try {
      const files = await env.artifacts.get(url, digest);
      data.set(name, { metadata: { name }, data: filesIn(files, s.path) });
      used.set(name, { revision: typeof revision === 'string' ? revision.slice(0, 512) : '', digest });
    } catch (e) {
      if (!(e instanceof ArtifactError)) throw e;
      const message = `${s.sourceRef.kind} ${s.sourceRef.name}: ${e.message}`;
      return { ok: false, health: { state: STALLED.includes(e.reason) ? 'Stalled' : 'Reconciling', reason: e.reason, message } };
    }
  }
  return { ok: true, data, used };
}

function waiting(message: string): FluxRead {
  return { ok: false, health: { state: 'Reconciling', reason: 'WaitingForSource', message } };
}
