// Where credentials come from: an explicit file wins, then KUBECONFIG; in-cluster needs the pod's
// service account token, which a test machine does not have.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inCluster, loadKubeConfig } from '../../src/runtime/kubeconfig.js';

const yaml = (server: string) =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "' + server + '"}}]',
    'users: [{name: u, user: {token: not-a-real-token}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
  ].join('\n');

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kc-'));
  fs.writeFileSync(path.join(dir, 'a.yaml'), yaml('https://a.example:6443'));
  fs.writeFileSync(path.join(dir, 'b.yaml'), yaml('https://b.example:6443'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

test('an explicit kubeconfig file wins over KUBECONFIG', () => {
  const saved = process.env.KUBECONFIG;
  process.env.KUBECONFIG = path.join(dir, 'b.yaml');
  try {
    expect(loadKubeConfig({ kubeconfig: path.join(dir, 'a.yaml') }).getCurrentCluster()?.server).toBe('https://a.example:6443');
    expect(loadKubeConfig().getCurrentCluster()?.server).toBe('https://b.example:6443');
  } finally {
    if (saved === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = saved;
  }
});

test('in-cluster detection needs the service host and the token file', () => {
  expect(inCluster({})).toBe(false);
  expect(inCluster({ KUBERNETES_SERVICE_HOST: '10.0.0.1', KUBERNETES_SERVICE_PORT: '443' })).toBe(fs.existsSync('/var/run/secrets/kubernetes.io/serviceaccount/token'));
});
