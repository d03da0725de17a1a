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
//	make fuzz [FUZZTIME=10s]                  every fuzz target of the module, FuzzServerSession included
//
// Every figure a test measures is logged as a line starting with "FIGURE" and, when
// GOPCP_STRESS_FIGURES names a file, appended to it; BENCHMARKS.md quotes them.
//
// The guarantees, by file:
//
//	load_test.go     N clients fetching without pause: no error, p99 reported, goroutines,
//	                 fds and heap back to baseline (in-process, binary, real pmcd)
//	limits_test.go   connection limit (PM_ERR_CONNLIMIT and a close), trickled PDU and
//	                 CREDS, idle client, silent client, TLS never started, client that
//	                 never reads: each cut at its deadline; 100 x 1 MiB of garbage: RSS bounded
//	hostile_test.go  a corpus of malformed PDUs after and instead of CREDS, a hostile
//	                 server against pmapi, FuzzServerSession and its regressions, bounded
//	                 decoding allocations
//	tls_test.go      -Q: no application byte to a refused client (TLS 1.2 and 1.3), TLS 1.0
//	                 and 1.1 refused, remote plaintext refused; the client refuses bad
//	                 server certificates; a man in the middle that strips SECURE or
//	                 presents its own certificate is refused
//	store_test.go    certdb killed with SIGKILL during writes, two writers, loose key
//	                 permissions refused by collectord
//	faults_test.go   every /proc fixture file broken every way fails only its readers;
//	                 garbage is recorded; faults and disconnects under load
//	reload_test.go   certificate renewal, refused broken store and repair under TLS load
//	netns_test.go    across hosts (network namespaces, as root): collectord -Q with proxyd
//	                 beside it; no client on another host without a trusted certificate
//	                 gets a metric directly, through the relay, the REST API or /metrics
//
// The tests use loopback only (netns_test.go: addresses inside namespaces it
// makes), bound every loop in count and time, and raise RLIMIT_NOFILE of the test
// process (TestMain) so that a thousand clients and their server fit in one
// process. Binaries (collectord, certdb, pminfo, proxyd, pcpattack) are built once,
// on first use, as e2e does. The real pmcd is used where PCP is installed
// (internal/pcptest) and skipped, with the install hint, where it is not. A test
// waiting for a change in another package says so with t.Skip("needs: ...") and
// passes once the change is made.
package stress
