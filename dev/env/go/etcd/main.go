// Command etcd is the etcd server, built from the Go module proxy at the version the pinned Kubernetes
// release recommends (build/dependencies.yaml), so the test harness needs no downloaded release binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
