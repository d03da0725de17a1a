// Package stress holds gopcp's reliability and security suite: tests that put
// collectord under load, at its limits, under hostile input, under a TLS policy
// attack, against crashes of the certificate store and against faults in /proc, and
// fail when a guarantee breaks. The package has no code of its own; everything is
// in its tests.
//
// Two modes:
//
//	go test ./stress/...                      default: short variants (200 clients for 5 s, ...)
//	GOPCP_STRESS_FULL=1 go test ./stress/...  the full variants (1,000 clients for 30 s, ...)
//	make stress                               the full variants, figures in bin/stress-figures.txt
//
// Every figure a test measures is logged as a line starting with "FIGURE" and, when
// GOPCP_STRESS_FIGURES names a file, appended to it; BENCHMARKS.md quotes them.
//
// The tests use loopback only, bound every loop in count and time, and raise
// RLIMIT_NOFILE of the test process (TestMain) so that a thousand clients and their
// server fit in one process. Binaries (collectord, certdb) are built once, on first
// use, as e2e does. The real pmcd is used where PCP is installed (internal/pcptest)
// and skipped, with the install hint, where it is not.
package stress
