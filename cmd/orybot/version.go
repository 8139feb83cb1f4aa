package main

import "runtime/debug"

// version is the release, stamped at build time with
// -ldflags "-X main.version=v1.2.3" (the Dockerfile does). It is the only
// package-level variable: the linker can set nothing else.
var version string

// buildVersion is version, or else what the Go toolchain recorded: the
// module version of a `go install`, or the VCS revision of a build from a
// checkout.
func buildVersion() string {
	if version != "" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	switch {
	case rev == "":
		return "devel"
	case dirty:
		return "devel-" + rev + "-dirty"
	}
	return "devel-" + rev
}
