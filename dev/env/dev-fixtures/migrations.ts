// Dev fixture for crds/examples/migration-rollout.yaml: the ConfigMap `standard-tier-migrations` the
// example reads its further steps from, as a team would keep them next to the application. Its first
// step creates what the example's inline step alters: `events` (tenant column org_id, range-partitioned
// by day on occurred_at, as the events-db TenantDatabase's spec.partitioning maintains it; the primary
// key contains the partition key, as PostgreSQL requires) and `event_subscriptions`. The example's
// targetVersion 20250301000000 is the last step here.
import type { DevFixtureContext } from './context.js';

export const STANDARD_TIER_CONFIGMAP = 'standard-tier-migrations';

export const STANDARD_TIER_STEPS: Record<string, string> = {
  '20241201000000_create_events.up.sql': `-- Events of every organisation, one partition per day (created ahead by the operator).
CREATE TABLE events (
    id          bigint      GENERATED ALWAYS AS IDENTITY,
    org_id      text        NOT NULL CHECK (length(org_id) > 0),
    occurred_at timestamptz NOT NULL DEFAULT now(),
    type        text        NOT NULL,
    payload     jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(payload) = 'object'),
    PRIMARY KEY (id, occurred_at)
) PARTITION BY RANGE (occurred_at);

CREATE TABLE event_subscriptions (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id     text        NOT NULL CHECK (length(org_id) > 0),
    event_type text        NOT NULL,
    target_url text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, event_type, target_url)
);
`,
  '20241201000000_create_events.down.sql': `DROP TABLE event_subscriptions;
DROP TABLE events;
`,
  '20250201000000_events_org_time_index.up.sql': `-- Cascades to every partition, present and future (CONCURRENTLY is not possible on a partitioned table).
CREATE INDEX events_org_occurred ON events (org_id, occurred_at DESC);
`,
  '20250201000000_events_org_time_index.down.sql': `DROP INDEX events_org_occurred;
`,
  '20250301000000_subscriptions_active.up.sql': `ALTER TABLE event_subscriptions ADD COLUMN active boolean NOT NULL DEFAULT true;
`,
  '20250301000000_subscriptions_active.down.sql': `ALTER TABLE event_subscriptions DROP COLUMN active;
`,
};

export async function prepare(ctx: DevFixtureContext): Promise<void> {
  await ctx.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: STANDARD_TIER_CONFIGMAP, namespace: ctx.namespace }, data: STANDARD_TIER_STEPS });
  ctx.say(`migrations: ConfigMap ${STANDARD_TIER_CONFIGMAP} with ${Object.keys(STANDARD_TIER_STEPS).filter((k) => k.endsWith('.up.sql')).length} steps for migration-rollout.yaml`);
}
