// The go.mod that builds the control plane must be exactly what the pinned k8s.io/kubernetes tag
// implies: one replace line per staging module of that tag, at the matching v0.X.Y.
import fs from 'node:fs';
import path from 'node:path';
import { goModuleDir } from '../../dev/env/binaries.js';
import { downloadModule, kubernetesGoMod, recommendedEtcdVersion, stagingReplaces } from '../../dev/env/gomod.js';
import { ETCD_VERSION, KUBERNETES_VERSION } from '../../dev/env/versions.js';

describe('generated go.mod files', () => {
  it('derives staging replaces from a kubernetes go.mod', () => {
    const sample = [
      'module k8s.io/kubernetes',
      'replace (',
      '\tk8s.io/api => ./staging/src/k8s.io/api',
      '\tk8s.io/client-go => ./staging/src/k8s.io/client-go',
      '\tgithub.com/other/thing => github.com/other/thing v1.2.3',
      ')',
      'replace k8s.io/kms => ./staging/src/k8s.io/kms',
    ].join('\n');
    expect(stagingReplaces(sample, 'v1.40.3')).toEqual([
      ['k8s.io/api', 'v0.40.3'],
      ['k8s.io/client-go', 'v0.40.3'],
      ['k8s.io/kms', 'v0.40.3'],
    ]);
    expect(recommendedEtcdVersion('dependencies:\n  - name: "etcd"\n    version: 3.7.0\n')).toBe('v3.7.0');
  });

  it('matches the pinned tag: committed go.mod equals the one generated from k8s.io/kubernetes', () => {
    const k8s = downloadModule(`k8s.io/kubernetes@${KUBERNETES_VERSION}`);
    const derived = stagingReplaces(fs.readFileSync(k8s.goMod, 'utf8'), KUBERNETES_VERSION);
    const committed = fs.readFileSync(path.join(goModuleDir.kubernetes, 'go.mod'), 'utf8');
    // `go mod tidy` adds the indirect requirements, so compare the parts the generator owns.
    const replaceLines = [...committed.matchAll(/^\t(\S+) => (\S+) (v\S+)$/gm)].map((m) => [m[1], m[3]]);
    expect(replaceLines).toEqual(derived);
    expect(derived.length).toBeGreaterThan(20);
    expect(committed).toMatch(new RegExp(`^require k8s.io/kubernetes ${KUBERNETES_VERSION.replace(/\./g, '\\.')}$`, 'm'));
    expect(kubernetesGoMod(derived)).toContain(`require k8s.io/kubernetes ${KUBERNETES_VERSION}`);
    expect(recommendedEtcdVersion(fs.readFileSync(path.join(k8s.dir, 'build', 'dependencies.yaml'), 'utf8'))).toBe(ETCD_VERSION);
    expect(fs.readFileSync(path.join(goModuleDir.etcd, 'go.mod'), 'utf8')).toContain(`go.etcd.io/etcd/server/v3 ${ETCD_VERSION}`);
  });
});
