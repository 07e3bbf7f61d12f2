// Where the operator's API credentials come from: an explicit file (flag or KUBECONFIG), the pod's
// service account when running in a cluster, or the usual ~/.kube/config for local runs.
import fs from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

const SERVICE_ACCOUNT_TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

export function inCluster(env: NodeJS.ProcessEnv = process.env): boolean {
  return Boolean(env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) && fs.existsSync(SERVICE_ACCOUNT_TOKEN);
}

export function loadKubeConfig(opts: { kubeconfig?: string | undefined; env?: NodeJS.ProcessEnv } = {}): KubeConfig {
  const env = opts.env ?? process.env;
  const kc = new KubeConfig();
  if (opts.kubeconfig) {
    kc.loadFromFile(opts.kubeconfig);
  } else if (env.KUBECONFIG) {
    kc.loadFromDefault();
  } else if (inCluster(env)) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (!kc.getCurrentCluster()) throw new Error('no Kubernetes cluster configured (use --kubeconfig, KUBECONFIG or run in a pod)');
  return kc;
}
