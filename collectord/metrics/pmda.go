package metrics

// pmda.uname and pmda.version: what the linux agent says about itself (domain
// 60, cluster 12, beside kernel.uname.*). The uname source serves them, so the
// /proc/sys/kernel files are read once per fetch for both families.

func init() {
	helpPMID[pmid(60, 12, 5)] = helpText{"the kernel's uname(2) fields in one line",
		"The system name, host name, kernel release, kernel version and machine\n" +
			"type, separated by single spaces, as \"uname -a\" prints them: from\n" +
			"/proc/sys/kernel/{ostype,hostname,osrelease,version,arch} (uname(2) for\n" +
			"the machine on kernels without arch). No value unless all five are known,\n" +
			"rather than a line with a hole in it."}
	helpPMID[pmid(60, 12, 6)] = helpText{"PCP release the linux agent is compatible with",
		"Always \"" + PCPVersion + "\", as pmcd.version: the PCP release whose linux agent\n" +
			"this one reproduces. It is built in, not read from /proc/ or /etc/; the\n" +
			"collector's own version is pmcd.build."}
}

// unameLine is pmda.uname: "sysname nodename release version machine", or ""
// unless all five are known.
func (s *unameSource) unameLine(host string) string {
	s.readOnce(&s.sysname, "ostype")
	s.readOnce(&s.release, "osrelease")
	s.readOnce(&s.version, "version")
	s.readMachine()
	if host == "" || s.sysname == "" || s.release == "" || s.version == "" || s.machine == "" {
		return ""
	}
	return s.sysname + " " + host + " " + s.release + " " + s.version + " " + s.machine
}
