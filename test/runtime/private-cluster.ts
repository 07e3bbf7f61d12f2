// A private control plane for tests that restart the apiserver or need unusual apiserver flags, with a
// TCP proxy in front so a test can also break the network between a client and the apiserver.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/runtime/kubeclient.js';
import { binaryPaths } from '../../dev/env/binaries.js';
import { startControlPlane, type ControlPlane } from '../../dev/env/controlplane.js';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { TcpProxy } from './tcp-proxy.js';

export interface PrivateCluster {
  cp: ControlPlane;
  proxy: TcpProxy;
  /** Talks to the apiserver directly. */
  direct: KubeClient;
  /** A kubeconfig that goes through the proxy. */
  viaProxy: KubeConfig;
  stop(): Promise<void>;
}

export async function startPrivateCluster(name: string, apiserverFlags: string[] = []): Promise<PrivateCluster> {
  fs.mkdirSync(path.join(repoRoot, '.local'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(repoRoot, '.local', `${name}-`));
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const cp = await startControlPlane({ dir: path.join(dir, 'kube'), binaries: binaryPaths(), ca, apiserverFlags });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const direct = new KubeClient(kc);
  const target = new URL(cp.server);
  const proxy = await TcpProxy.start(target.hostname, Number(target.port));
  const viaProxy = new KubeConfig();
  viaProxy.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server: `https://127.0.0.1:${proxy.port}` })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return {
    cp,
    proxy,
    direct,
    viaProxy,
    async stop() {
      direct.close();
      await proxy.close();
      await cp.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
