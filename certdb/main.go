// Command certdb manages gopcp certificate stores: what NSS certutil and pk12util
// did for PCP 5 and earlier, with the same nicknames and trust attributes, plus
// what openssl and keytool were needed for around them: issuing certificates,
// checking them, Java keystores, and moving an NSS database over.
//
//	certdb quickstart --dir /etc/pcp/tls
//	certdb issue  -d /etc/pcp/tls/ca --ca "PCP CA" -n pmserver --server --san DNS:pmserver
//	certdb check  -d /etc/pcp/tls/server -n "PCP Collector certificate" --host pmserver
//	certdb import-nss -d /etc/pcp/tls/collector --from sql:/etc/pcp/nssdb
//	certdb create -d /etc/pcp/nssdb
//	certdb add    -d /etc/pcp/nssdb -n "Root CA" -t "CT,," -i rootCA.crt
//	certdb import -d /etc/pcp/nssdb -i pmserver_pkcs12.key -w p12pass.txt
//	certdb list   -d /etc/pcp/nssdb
//
// Run `certdb --help` for every command. Exit status: 0 success, 1 the operation
// failed, 2 usage error.
//
// The commands and their flags are one table on urfave/cli/v2 (newApp, built
// afresh for every run so runs in one process share nothing); --help, the
// manual page (certdb --generate-man) and the bash completion (certdb
// completion bash) are made from it. The certutil letter forms go through a
// small shim (shim in cli.go) before the table parses them. main only calls run,
// which returns the exit status, so tests drive the real CLI in-process.
package main

import "os"

// Version and Commit are set at build time (-ldflags "-X main.Version=...
// -X main.Commit=..."); certdb --version prints them.
var (
	Version = "0.1.0"
	Commit  = ""
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
