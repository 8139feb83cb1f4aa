//go:build tools

// Package kratos pins Ory Kratos's dependency graph so that the test suite
// can build a real Kratos server from the Go module proxy.
package kratos

import _ "github.com/ory/kratos/cmd"
