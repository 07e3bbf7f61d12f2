//go:build tools

// Package tools pins Flux's source-controller, which the tests of Migrations with a Flux source run
// against the local apiserver, built from the Go module proxy; it is never compiled.
package tools

import _ "github.com/fluxcd/source-controller"
