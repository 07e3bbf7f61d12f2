// The operator's ARM client layer (createAzureClients with its per-subscription request budget and the
// SDK's retry policy, unchanged) against the ARM emulator running as its own process in a private local
// environment, at ARM's REAL default bucket sizes (writes 200 tokens refilling 10/s). A burst of cheap,
// non-long-running writes (Microsoft.Insights actionGroups PUT; PostgreSQL child writes such as firewall
// rules are long-running operations in the emulator, as on Azure) must earn zero 429s and still finish
// close to the bucket's ideal time, (writes - 200) / 10 s. Then, with the read bucket raised on both
// sides (emulator via the control API, client budget to match), the read throughput of the client layer.
import fs from 'node:fs';
import { createHttpHeaders, createPipelineRequest } from '@azure/core-rest-pipeline';
import { ArmRequestBudget, ARM_SUBSCRIPTION_BUCKETS } from '../src/azure/budget.js';
import { createAzureClients, type AzureClients } from '../src/azure/clients.js';
import { staticTokenCredential } from '../src/azure/credentials.js';
import { ArmMetrics } from '../src/azure/metrics.js';
import { idealDurationMs } from '../src/azure/token-bucket.js';
import { EmulatorControl } from '../dev/arm-emulator/control-client.js';
import type { EnvInfo } from '../dev/env/localenv.js';
import { allPass, goal, log, numFlag, pool, quantile, round, withEnv, type Benchmark, type BenchResult, type Flags } from './common.js';

const SUBSCRIPTION = '7d0c6a2e-3b9f-4e51-8c2d-1a4b5e6f7089';
const RG = 'bench-budget-rg';

function clientsFor(env: NonNullable<EnvInfo['arm']>, budget: ArmRequestBudget, metrics: ArmMetrics): AzureClients {
  return createAzureClients({
    subscriptionId: SUBSCRIPTION,
    armEndpoint: env.endpoint,
    credential: staticTokenCredential('bench-static-token', { armEndpoint: env.endpoint }),
    caCertPem: fs.readFileSync(env.caFile, 'utf8'),
    budget,
    metrics,
  });
}

async function createResourceGroup(clients: AzureClients, name: string): Promise<void> {
  const request = createPipelineRequest({
    url: `${clients.armEndpoint}/subscriptions/${SUBSCRIPTION}/resourcegroups/${name}?api-version=2024-11-01`,
    method: 'PUT',
    headers: createHttpHeaders({ 'content-type': 'application/json', accept: 'application/json' }),
    body: JSON.stringify({ location: 'eastus' }),
  });
  const res = await clients.postgres.sendRequest(request);
  if (res.status !== 200 && res.status !== 201) throw new Error(`resource group ${name}: ${res.status} ${res.bodyAsText ?? ''}`);
}

export const armBudgetBench: Benchmark = {
  name: 'arm-budget',
  description: 'ARM client layer + request budget vs the emulator at ARM default buckets: 429s, elapsed vs ideal, read throughput',
  flags: {
    'arm-writes': { default: 400, help: 'writes in the burst' },
    'arm-write-callers': { default: 100, help: 'concurrent callers issuing the writes' },
    'arm-reads': { default: 3000, help: 'GETs in the read-throughput phase' },
    'arm-read-callers': { default: 32, help: 'concurrent callers issuing the GETs' },
    'arm-max-ratio': { default: 1.1, help: 'goal: elapsed / ideal at most' },
  },
  async run(flags: Flags): Promise<BenchResult> {
    const writes = numFlag(flags, this, 'arm-writes');
    const writeCallers = Math.max(1, numFlag(flags, this, 'arm-write-callers'));
    const reads = numFlag(flags, this, 'arm-reads');
    const readCallers = Math.max(1, numFlag(flags, this, 'arm-read-callers'));
    const maxRatio = numFlag(flags, this, 'arm-max-ratio');
    const serverWrites = ARM_SUBSCRIPTION_BUCKETS.writes;
    const params = { writes, writeCallers, reads, readCallers, serverBuckets: ARM_SUBSCRIPTION_BUCKETS, resource: 'Microsoft.Insights/actionGroups (PUT, non-LRO)' };

    return withEnv(this.name, { arm: true }, async (env) => {
      if (!env.arm) throw new Error('the environment has no ARM emulator');
      const arm = env.arm;
      const control = new EmulatorControl(arm.controlEndpoint, arm.caFile);
      await control.reset();
      await control.configureThrottling({ ...ARM_SUBSCRIPTION_BUCKETS });

      // --- the write burst ---
      const budget = new ArmRequestBudget();
      const metrics = new ArmMetrics();
      const clients = clientsFor(arm, budget, metrics);
      await createResourceGroup(clients, RG);
      // Warm-up: the emulator compiles its schemas on first use, and concurrent reads open the TLS
      // connections the burst's first writes reuse.
      await clients.monitor.actionGroups.createOrUpdate(RG, 'warm-up', { location: 'Global', groupShortName: 'warm', enabled: true });
      await Promise.all(Array.from({ length: Math.min(writeCallers, 100) }, () => clients.monitor.actionGroups.get(RG, 'warm-up')));
      // Setting the buckets again refills the emulator's; the client's refills meanwhile (2 writes used).
      await control.configureThrottling({ ...ARM_SUBSCRIPTION_BUCKETS });
      await new Promise((r) => setTimeout(r, 1_000));
      const ideal = idealDurationMs(writes, serverWrites);
      const idealWithHeadroom = idealDurationMs(writes, budget.effective.writes);
      log(`burst of ${writes} writes (${writeCallers} callers); ideal ${(ideal / 1000).toFixed(1)} s at ${serverWrites.capacity} @ ${serverWrites.refillPerSecond}/s`);
      const since = new Date().toISOString();
      const t0 = performance.now();
      const writeLatencies: number[] = [];
      await pool(writes, writeCallers, async (i) => {
        const ts = performance.now();
        await clients.monitor.actionGroups.createOrUpdate(RG, `bench-${i % 40}`, { location: 'Global', groupShortName: `b${i % 40}`, enabled: true });
        writeLatencies.push(performance.now() - ts);
      });
      const elapsed = performance.now() - t0;
      const writeLog = await control.requests(since);
      const burstEntries = writeLog.entries.filter((e) => e.method === 'PUT' && /\/actionGroups\/bench-/i.test(e.path));
      const write429 = burstEntries.filter((e) => e.status === 429).length;
      const sent = await metrics.requests.get();
      const clientSeen429 = sent.values.filter((v) => v.labels.status_code === '429').reduce((n, v) => n + v.value, 0);
      const waits = await metrics.budgetWait.get();
      const writeWaitSum = waits.values.find((v) => v.labels.category === 'writes' && String(v.metricName).endsWith('_sum'))?.value ?? 0;
      log(`burst done in ${(elapsed / 1000).toFixed(2)} s (ratio ${(elapsed / ideal).toFixed(3)}), ${write429} 429s`);
      writeLatencies.sort((a, b) => a - b);

      // --- read throughput, read bucket raised on both sides ---
      const raised = { capacity: 1_000_000, refillPerSecond: 1_000_000 };
      await control.configureThrottling({ ...ARM_SUBSCRIPTION_BUCKETS, reads: raised });
      const readClients = clientsFor(arm, new ArmRequestBudget({ buckets: { reads: raised } }), new ArmMetrics());
      await Promise.all(Array.from({ length: readCallers }, () => readClients.monitor.actionGroups.get(RG, 'warm-up')));
      log(`${reads} GETs with ${readCallers} callers, read bucket raised to ${raised.capacity}`);
      const readSince = new Date().toISOString();
      const readLatencies: number[] = [];
      const tr = performance.now();
      await pool(reads, readCallers, async (i) => {
        const ts = performance.now();
        await readClients.monitor.actionGroups.get(RG, `bench-${i % 40}`);
        readLatencies.push(performance.now() - ts);
      });
      const readElapsed = performance.now() - tr;
      const readLog = await control.requests(readSince);
      const readGets = readLog.entries.filter((e) => e.method === 'GET' && /\/actionGroups\/bench-/i.test(e.path));
      readLatencies.sort((a, b) => a - b);
      log(`reads: ${(reads / (readElapsed / 1000)).toFixed(0)} GETs/s`);

      const ratio = elapsed / ideal;
      const results = {
        writes: {
          elapsedSeconds: round(elapsed / 1000, 2),
          idealSeconds: round(ideal / 1000, 2),
          idealWithClientHeadroomSeconds: round(idealWithHeadroom / 1000, 2),
          ratioToIdeal: round(ratio, 3),
          sentToServer: burstEntries.length,
          answered2xx: burstEntries.filter((e) => e.status >= 200 && e.status < 300).length,
          throttled429: write429,
          emulatorThrottledTotal: writeLog.counts.throttled ?? 0,
          clientSeen429,
          // Summed over all writes: how long they queued in the client budget instead of earning 429s.
          budgetWaitSecondsSummed: round(writeWaitSum, 1),
          callLatencyMsIncludingBudgetWait: { p50: round(quantile(writeLatencies, 0.5), 1), p99: round(quantile(writeLatencies, 0.99), 1) },
          clientBudget: budget.effective.writes,
        },
        reads: {
          count: reads,
          callers: readCallers,
          elapsedSeconds: round(readElapsed / 1000, 2),
          getsPerSec: round(reads / (readElapsed / 1000), 1),
          serverLogged: readGets.length,
          throttled429: readGets.filter((e) => e.status === 429).length,
          latencyMs: { p50: round(quantile(readLatencies, 0.5), 2), p99: round(quantile(readLatencies, 0.99), 2) },
        },
      };
      const goals = {
        zero429: goal('0 throttled (429) writes in the emulator log', write429 + (writeLog.counts.throttled ?? 0), write429 === 0 && (writeLog.counts.throttled ?? 0) === 0),
        allWritesAnswered: goal(`${writes} writes answered 2xx`, results.writes.answered2xx, results.writes.answered2xx === writes),
        readsUnthrottled: goal('0 throttled (429) reads with the read bucket raised', results.reads.throttled429, results.reads.throttled429 === 0),
        elapsedNearIdeal: goal(`elapsed within 10% of ideal ${round(ideal / 1000, 1)} s (ratio 0.9..${maxRatio})`, round(ratio, 3), ratio >= 0.9 && ratio <= maxRatio),
      };
      return { name: this.name, params, results, goals, pass: allPass(goals) };
    });
  },
};

export default armBudgetBench;
