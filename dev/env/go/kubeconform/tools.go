//go:build tools

// Package tools pins the kubeconform command the chart tests build from the Go module proxy; it is never compiled.
package tools

import _ "github.com/yannh/kubeconform/cmd/kubeconform"
