// Command pminfo displays information about performance metrics from a pmcd: names,
// PMIDs, descriptors, help text, labels and current values. Its output is that of
// PCP 6.0.3's pminfo, byte for byte.
//
// Usage:
//
//	pminfo [-h host] [-dfFIlmMstTvx] [-b N] [metricname | pmid | indom]...
//
// Examples:
//
//	pminfo                          list every metric name
//	pminfo -h localhost -f kernel.all.load
//	pminfo -dtT hinv.ncpu 60.2      descriptor and help of a metric, help of an InDom
//
// Exit status: 0 on success; 1 after a usage error, when pmcd cannot be reached, or
// when a name argument is unknown (the other names are still reported).
//
// Unlike collectord, proxyd and certdb, whose flags are urfave/cli tables,
// pminfo keeps its own emulation of GNU getopt_long as PCP's pmGetOptions uses
// it (getopt in options.go): bundled letters (-fdh HOST), options after
// operands, "--" and PCP's messages and statuses are part of the byte-for-byte
// compatibility, and urfave/cli parses none of them that way. Its manual page
// and completion are therefore made from its --help (man/main.go).
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}
