// A Git server for the tests of Migrations whose steps come from a Flux GitRepository: Flux's own test
// Git server (github.com/fluxcd/pkg/gittestserver: smart HTTP through the git binary) serving the bare
// repositories under -root. It prints its URL on the first line of stdout and serves until it is killed.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/fluxcd/pkg/gittestserver"
)

func main() {
	root := flag.String("root", "", "directory of the bare repositories to serve")
	flag.Parse()
	if *root == "" {
		log.Fatal("-root is required")
	}
	srv := gittestserver.NewGitServer(*root)
	if err := srv.StartHTTP(); err != nil {
		log.Fatalf("starting the Git server: %v", err)
	}
	fmt.Println(srv.HTTPAddress())
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
	srv.StopHTTP()
}
