// A real Kubernetes control plane the way controller-runtime's envtest runs one: etcd plus
// kube-apiserver on loopback ports, certificates from the environment CA, RBAC on, and an admin
// kubeconfig whose client certificate is in system:masters.
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import type { Binaries } from './binaries.js';
import { issueCertificate, serviceAccountKeyPair, writeKeyPair, type CertificateAuthority } from './pki.js';
import { freePort, startProcess, stopProcess, waitFor, type ProcessRecord } from './proc.js';

export interface ControlPlaneOptions {
  dir: string;
  binaries: Binaries;
  ca: CertificateAuthority & { certFile: string };
  /** Extra kube-apiserver flags (`--name=value`), e.g. a short compaction interval for watch tests. */
  apiserverFlags?: string[];
}

export interface ControlPlane {
  server: string;
  kubeconfig: string;
  etcd: ProcessRecord;
  apiserver: ProcessRecord;
  /** Stop only kube-apiserver (etcd keeps the data), e.g. to test watch recovery. */
  stopApiserver(): Promise<void>;
  /** Start kube-apiserver again on the same port with the same certificates. */
  startApiserver(): Promise<void>;
  stop(): Promise<void>;
  processes(): ProcessRecord[];
}

function kubeconfigYaml(server: string, caPem: string, client: { certPem: string; keyPem: string }): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: tenantdb-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    'users:',
    '- name: tenantdb-admin',
    '  user:',
    `    client-certificate-data: ${b64(client.certPem)}`,
    `    client-key-data: ${b64(client.keyPem)}`,
    'contexts:',
    '- name: tenantdb-local',
    '  context:',
    '    cluster: tenantdb-local',
    '    user: tenantdb-admin',
    'current-context: tenantdb-local',
    '',
  ].join('\n');
}

/** GET a path on the apiserver with the admin client certificate; resolves to the HTTP status. */
function getStatus(url: string, caPem: string, client: { certPem: string; keyPem: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca: caPem, cert: client.certPem, key: client.keyPem, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

export async function startControlPlane(opts: ControlPlaneOptions): Promise<ControlPlane> {
  const { dir, binaries, ca } = opts;
  const pki = path.join(dir, 'pki');
  fs.mkdirSync(pki, { recursive: true });
  const host = '127.0.0.1';
  const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(host), await freePort(host), await freePort(host)];

  const serving = writeKeyPair(
    pki,
    'apiserver',
    await issueCertificate(ca, {
      commonName: 'kube-apiserver',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ipAddresses: [host, '10.0.0.1'],
      usage: 'server',
    }),
  );
  const admin = await issueCertificate(ca, { commonName: 'tenantdb-admin', organizations: ['system:masters'], usage: 'client' });
  writeKeyPair(pki, 'admin', admin);
  const sa = serviceAccountKeyPair();
  const saPub = path.join(pki, 'sa.pub');
  const saKey = path.join(pki, 'sa.key');
  fs.writeFileSync(saPub, sa.publicPem);
  fs.writeFileSync(saKey, sa.privatePem, { mode: 0o600 });

  const etcdUrl = `http://${host}:${etcdClientPort}`;
  const etcd = startProcess({
    name: 'etcd',
    binary: binaries.etcd,
    args: [
      '--name=tenantdb-local',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${etcdUrl}`,
      `--advertise-client-urls=${etcdUrl}`,
      `--listen-peer-urls=http://${host}:${etcdPeerPort}`,
      `--initial-advertise-peer-urls=http://${host}:${etcdPeerPort}`,
      `--initial-cluster=tenantdb-local=http://${host}:${etcdPeerPort}`,
      // As envtest does: the data is throw-away, and fsync dominates start-up on slow disks.
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    logFile: path.join(dir, 'logs', 'etcd.log'),
  });
  await waitFor(
    'etcd',
    async () => {
      const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(1000) });
      return res.ok && ((await res.json()) as { health?: string }).health === 'true';
    },
    { timeoutMs: 20_000, rec: etcd },
  );

  const server = `https://${host}:${apiPort}`;
  const apiserverArgs = [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${host}`,
    `--advertise-address=${host}`,
    `--secure-port=${apiPort}`,
    `--tls-cert-file=${serving.certFile}`,
    `--tls-private-key-file=${serving.keyFile}`,
    `--client-ca-file=${ca.certFile}`,
    `--service-account-issuer=${server}`,
    `--service-account-key-file=${saPub}`,
    `--service-account-signing-key-file=${saKey}`,
    '--service-cluster-ip-range=10.0.0.0/24',
    // The kubernetes Service endpoint would point at a loopback address, which the reconciler refuses.
    '--endpoint-reconciler-type=none',
    '--authorization-mode=RBAC',
    '--allow-privileged=true',
    `--cert-dir=${pki}`,
    '--profiling=false',
    '--v=1',
    ...(opts.apiserverFlags ?? []),
  ];
  const apiserverLog = path.join(dir, 'logs', 'kube-apiserver.log');
  const launchApiserver = () =>
    startProcess({ name: 'kube-apiserver', binary: binaries.kubeApiserver, args: apiserverArgs, logFile: apiserverLog });
  const caPem = fs.readFileSync(ca.certFile, 'utf8');
  const waitReady = (rec: ProcessRecord) =>
    waitFor('kube-apiserver', async () => (await getStatus(`${server}/readyz`, caPem, admin)) === 200, { timeoutMs: 60_000, rec, intervalMs: 200 });

  const plane: ControlPlane = {
    server,
    kubeconfig: path.join(dir, 'kubeconfig'),
    etcd,
    apiserver: launchApiserver(),
    async stopApiserver() {
      await stopProcess(plane.apiserver);
    },
    async startApiserver() {
      plane.apiserver = launchApiserver();
      await waitReady(plane.apiserver);
    },
    async stop() {
      await stopProcess(plane.apiserver);
      await stopProcess(plane.etcd);
    },
    processes: () => [plane.apiserver, plane.etcd],
  };
  fs.writeFileSync(plane.kubeconfig, kubeconfigYaml(server, caPem, admin), { mode: 0o600 });
  try {
    await waitReady(plane.apiserver);
  } catch (err) {
    await plane.stop();
    throw err;
  }
  return plane;
}
