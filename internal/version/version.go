// Package version formats the --version line of gopcp's programs: the version
// set at build time (-ldflags "-X main.Version=..."), and the commit, either set
// the same way or read from what the Go toolchain records when it builds from a
// git checkout.
package version

import "runtime/debug"

// String is "PROG VERSION (commit C[, modified])", or "PROG VERSION" when the
// commit is unknown.
func String(prog, version, commit string) string {
	modified := false
	if commit == "" {
		commit, modified = vcs()
	}
	s := prog + " " + version
	switch {
	case commit == "":
		return s
	case modified:
		return s + " (commit " + commit + ", modified)"
	}
	return s + " (commit " + commit + ")"
}

// vcs reads the commit (shortened) and whether the tree had changes from the
// build information.
func vcs() (commit string, modified bool) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", false
	}
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
			if len(commit) > 12 {
				commit = commit[:12]
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return commit, modified
}
