// A private control plane for the shipping tests: they install cluster-wide objects (CRDs with Helm's
// ownership labels, ClusterRoles) and read the apiserver's audit log, which must not meet the objects
// the other test files put in the shared environment.
import fs from 'node:fs';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../src/runtime/kubeclient.js';
import { binaryPaths } from '../../dev/env/binaries.js';
import { startControlPlane, type ControlPlane } from '../../dev/env/controlplane.js';
import { repoRoot } from '../../dev/env/paths.js';
import { ensureCertificateAuthority } from '../../dev/env/pki.js';
import { runCommand, type CommandResult } from '../../dev/env/proc.js';

export interface ShipCluster {
  dir: string;
  cp: ControlPlane;
  client: KubeClient;
  kubeConfig: KubeConfig;
  /** kubectl as the admin (system:masters), or with another kubeconfig. */
  kubectl(args: string[], opts?: { input?: string; kubeconfig?: string; allowFailure?: boolean }): Promise<CommandResult>;
  stop(): Promise<void>;
}

export async function startShipCluster(name: string, apiserverFlags: (dir: string) => string[] = () => []): Promise<ShipCluster> {
  fs.mkdirSync(path.join(repoRoot, '.local'), { recursive: true });
  const dir = fs.mkdtempSync(path.join(repoRoot, '.local', `${name}-`));
  const ca = await ensureCertificateAuthority(path.join(dir, 'ca'));
  const cp = await startControlPlane({ dir: path.join(dir, 'kube'), binaries: binaryPaths(), ca, apiserverFlags: apiserverFlags(dir) });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cp.kubeconfig);
  const client = new KubeClient(kubeConfig);
  return {
    dir,
    cp,
    client,
    kubeConfig,
    async kubectl(args, opts = {}) {
      const res = await runCommand(binaryPaths().kubectl, ['--kubeconfig', opts.kubeconfig ?? cp.kubeconfig, ...args], {
        timeoutMs: 60_000,
        ...(opts.input !== undefined ? { input: opts.input } : {}),
      });
      if (res.code !== 0 && !opts.allowFailure) throw new Error(`kubectl ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
      return res;
    },
    async stop() {
      client.close();
      await cp.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
