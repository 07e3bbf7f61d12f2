// The Migration controller: versioned SQL applied to one TenantDatabase or rolled out over the ones a
// selector picks (reconcile.ts), runs as tracked background tasks (runs.ts), status and health
// (status.ts), Prometheus metrics (metrics.ts). The SQL side is src/postgres/migrations/.
import type { KubeObject } from '../../src/runtime/kubeclient.js';
import type { Request } from '../../src/runtime/controller.js';
import type { Manager } from '../../src/runtime/manager.js';
import { requestFor, specOf } from '../../src/runtime/reconcile-kit.js';
import { selectorMatches } from '../../src/runtime/selectors.js';
import { DEFAULT_CONTROLLER_SETTINGS, type ControllerSettings } from '../../src/settings.js';
import { controllerName } from '../../src/api/resources.js';
import { migrationSpecSchema } from '../../src/api/migration.js';
import { adminSecrets, migrationsPrincipalSecret, DATABASE_REF_INDEX, indexDatabaseRef, indexSecretRefs, tenantDatabaseSpecOf, tenantDatabasesUsingSecret } from '../../src/tenantdatabase/index.js';
import { CONFIGMAPS, MIGRATIONS, SECRETS, TENANT_DATABASES, migrationReconciler, type MigrationControllerOptions } from './reconcile.js';
import { MigrationRuns } from './runs.js';
import { FLUX_RESOURCES } from './flux-sources.js';
import type { FluxSourceKind } from '../../src/api/migration.js';

export { RETRY_ANNOTATION, REPAIR_ANNOTATION, RESOLVE_ANNOTATION } from './reconcile.js';
export type { MigrationControllerOptions };

const specOfMigration = (m: KubeObject) => specOf(m, migrationSpecSchema);

/** Index names on Migrations: the ConfigMaps of spec.sources; SELECTOR_INDEX holds the ones with a selector under "*". */
const SOURCES_INDEX = 'spec.sources.configMapRef.name';
const SELECTOR_INDEX = 'spec.databaseSelector';
/** Index on Migrations: the Flux sources of spec.sources, as "<kind>/<name>". */
const SOURCE_REF_INDEX = 'spec.sources.sourceRef';

function registerIndexes(mgr: Manager): void {
  indexDatabaseRef(mgr, MIGRATIONS);
  indexSecretRefs(mgr);
  mgr.indexField(MIGRATIONS, SOURCES_INDEX, (m) => (specOfMigration(m)?.sources ?? []).flatMap((s) => (s.configMapRef ? [s.configMapRef.name] : [])));
  mgr.indexField(MIGRATIONS, SOURCE_REF_INDEX, (m) => (specOfMigration(m)?.sources ?? []).flatMap((s) => (s.sourceRef ? [`${s.sourceRef.kind}/${s.sourceRef.name}`] : [])));
  mgr.indexField(MIGRATIONS, SELECTOR_INDEX, (m) => (specOfMigration(m)?.databaseSelector ? ['*'] : []));
}

export function registerMigrationController(mgr: Manager, settings: ControllerSettings = DEFAULT_CONTROLLER_SETTINGS, opts: MigrationControllerOptions = {}): MigrationRuns {
  let enqueue: (key: string) => void = () => undefined;
  const runs = new MigrationRuns((key) => enqueue(key));
  registerIndexes(mgr);
  // A TenantDatabase becoming Ready, or starting (or stopping) to match a selector, reaches the
  // Migrations that target it; the manager maps both the old and the new copy of an update.
  const byTenantDatabase = (td: KubeObject): Request[] => {
    const ns = td.metadata.namespace;
    const named = mgr.byIndex(MIGRATIONS, DATABASE_REF_INDEX, ns, td.metadata.name);
    const selecting = mgr.byIndex(MIGRATIONS, SELECTOR_INDEX, ns, '*').filter((m) => selectorMatches(specOfMigration(m)?.databaseSelector ?? {}, td.metadata.labels ?? {}));
    return [...named, ...selecting].map(requestFor);
  };
  const byConfigMap = (cm: KubeObject): Request[] => mgr.byIndex(MIGRATIONS, SOURCES_INDEX, cm.metadata.namespace, cm.metadata.name).map(requestFor);
  const bySecret = (secret: KubeObject): Request[] =>
    tenantDatabasesUsingSecret(mgr, secret.metadata.namespace, secret.metadata.name)
      .filter((td) => {
        const spec = tenantDatabaseSpecOf(td);
        return adminSecrets(spec).includes(secret.metadata.name) || migrationsPrincipalSecret(spec) === secret.metadata.name;
      })
      .flatMap(byTenantDatabase);
  // Flux's sources, where Flux is installed: a new artifact reaches the Migrations reading it at once.
  // Optional, so the operator starts (and is ready) in a cluster without Flux; there the Migration looks
  // at its source on a timer instead (reconcile.ts).
  const fluxWatches = (Object.entries(FLUX_RESOURCES) as Array<[FluxSourceKind, (typeof FLUX_RESOURCES)[FluxSourceKind]]>).map(([kind, resource]) => ({
    resource,
    optional: true,
    map: (src: KubeObject): Request[] => mgr.byIndex(MIGRATIONS, SOURCE_REF_INDEX, src.metadata.namespace, `${kind}/${src.metadata.name}`).map(requestFor),
  }));
  const controller = mgr.addController({
    name: controllerName('Migration'),
    resource: MIGRATIONS,
    reconcile: migrationReconciler(mgr, settings, runs, opts),
    watches: [
      { resource: TENANT_DATABASES, map: byTenantDatabase },
      { resource: CONFIGMAPS, map: byConfigMap },
      { resource: SECRETS, map: bySecret },
      ...fluxWatches,
    ],
  });
  enqueue = (key) => controller.enqueue(key);
  return runs;
}
