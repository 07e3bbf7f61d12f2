// A process running only the BackupPolicy controller, for the test that SIGKILLs it mid-drill:
// `node --import tsx policy-operator.ts` with TENANTDB_TEST_KUBECONFIG, TENANTDB_TEST_NAMESPACE and
// TENANTDB_TEST_SETTINGS (ControllerSettings as JSON). Prints "started" once the manager runs.
import * as k8s from '@kubernetes/client-node';
import { registerBackupPolicyController } from '../../controllers/backuppolicy/index.js';
import { Manager } from '../../src/runtime/manager.js';
import { createLogger } from '../../src/runtime/logging.js';
import type { ControllerSettings } from '../../src/settings.js';

const kc = new k8s.KubeConfig();
kc.loadFromFile(process.env.TENANTDB_TEST_KUBECONFIG!);
const mgr = new Manager({
  kubeConfig: kc,
  logger: createLogger({ level: 'warn', destination: process.stderr }),
  namespaces: [process.env.TENANTDB_TEST_NAMESPACE!],
  metricsBindAddress: '127.0.0.1:0',
  healthProbeBindAddress: '127.0.0.1:0',
});
registerBackupPolicyController(mgr, JSON.parse(process.env.TENANTDB_TEST_SETTINGS!) as ControllerSettings);
await mgr.start();
console.log('started');
