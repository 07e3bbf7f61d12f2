// Versions of the real components the local environment runs. The etcd version is the one the chosen
// Kubernetes release recommends (build/dependencies.yaml of k8s.io/kubernetes at that tag); the go.mod
// files under dev/env/go/ are generated from these by `npm run env -- gomod`.
export const KUBERNETES_VERSION = 'v1.37.2';
export const ETCD_VERSION = 'v3.7.0';
/** The Go language version the generated go.mod files declare (what k8s.io/kubernetes at the tag needs). */
export const GO_DIRECTIVE = '1.26.0';
