//go:build tools

// Package tools pins the helm command the chart tests build from the Go module proxy; it is never compiled.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
