// Hand-maintained: the help of the metrics and instance domains whose source file
// does not carry its own (sourceSpec.help, which takes priority over this table).
// Every text here is written for gopcp from what the collector actually reads; none
// is taken from PCP's help databases (TestHelpIsOurOwn fails if one equals PCP's).
// Names, PMIDs and descriptors are facts shared with PCP; the words are ours.
//
// Conventions: the one-line text is a short phrase without a final full stop; the
// long text says what the value means, where it comes from (the /proc or /sys file
// and field, a system call, or the collector's own state) and, where it helps, its
// units and when there is no value.

package metrics

import "github.com/gopcp/gopcp/protocol"

// helpPMID holds the help of the metrics whose source has no help function, by PMID.
var helpPMID = map[protocol.PMID]helpText{
	// The pmcd agent (domain 2): the collector daemon describing itself (self.go).
	0x00800001: { // 2.0.1 pmcd.datasize
		"data segment size of the collector process in Kbytes",
		`The VmData line of /proc/self/status of the collector process, in Kbytes:
its heap and other private writable memory. The metric sources are compiled
into the same process, so their memory is included. No value when the line
cannot be read.`,
	},
	0x00800002: { // 2.0.2 pmcd.numagents
		"how many metric agents the collector serves",
		`The number of agent domains the collector answers for, all built into the
process: pmcd (2), proc (3) and linux (60). Their names are the instances of
pmcd.agent.type and pmcd.agent.status.`,
	},
	0x00800003: { // 2.0.3 pmcd.numclients
		"client connections open at this moment",
		`How many client sessions the collector holds open right now, counted by
the server over TCP and Unix domain sockets alike (including the one asking).`,
	},
	0x00800005: { // 2.0.5 pmcd.timezone
		"POSIX TZ string of the collector's time zone",
		`The time zone the collector runs in, as a POSIX TZ string such as "UTC"
or "AEST-10AEDT" (offsets count hours west of Greenwich). Taken from the
TZ environment variable when that holds a POSIX zone, otherwise built from
the local zone's abbreviations and offset. Clients use it to show remote
timestamps in the collector's local time.`,
	},
	0x00800006: { // 2.0.6 pmcd.simabi
		"binary format of the collector executable",
		`A fixed string naming the object format the daemon is built as: "elf64"
(a 64-bit ELF program). It has no bearing on the agents, which are linked
into the same binary.`,
	},
	0x00800010: { // 2.0.16 pmcd.services
		"PCP services this process provides",
		`A space-separated list of the PCP services offered by this process. The
collector provides the metric collection service only, so the value is
"pmcd".`,
	},
	0x00800011: { // 2.0.17 pmcd.openfds
		"highest open file descriptor number of the collector",
		`The largest descriptor number listed in /proc/self/fd for the collector
process, not counting the descriptor used to list that directory. A value
that keeps rising hints at a descriptor leak. No value when the directory
cannot be read.`,
	},
	0x00800015: { // 2.0.21 pmcd.hostname
		"host name the collector reports for this machine",
		`The host name the server passed to the metric catalogue, or when it passed
none the one the operating system returns (os.Hostname, the kernel's node
name). It is the name the metric values are attributed to.`,
	},
	0x00800017: { // 2.0.23 pmcd.pid
		"process ID of the collector daemon",
		`The operating system's process ID of the running collectord, read once
when the daemon starts. It changes when the daemon is restarted.`,
	},
	0x00800018: { // 2.0.24 pmcd.seqnum
		"configuration generation of the agents, always 1",
		`A number that would grow each time the set of agents changed. The
collector's agents are compiled in and never restart or change, so it
stays at its first value, 1.`,
	},
	0x00800019: { // 2.0.25 pmcd.labels
		"labels set for the whole collector context, empty",
		`The JSON text of extra context labels configured for the host. The
collector reads no such configuration, so the string is empty; the labels it
does serve (hostname, domainname, machineid, agent) come with the label
requests themselves.`,
	},
	0x0080001a: { // 2.0.26 pmcd.zoneinfo
		"time zone as a tzfile reference such as :Europe/Paris",
		`The collector's time zone as a reference to a compiled zone file, in the
form ":Area/City". Taken from the TZ environment variable when it names such
a zone, else from the target of the /etc/localtime symbolic link. An empty
string when neither tells.`,
	},
	0x00801000: { // 2.4.0 pmcd.agent.type
		"how each agent is attached, 0 for built in",
		`One value per agent domain (pmcd, proc, linux). It would encode how the
agent is connected to the daemon; every agent of the collector is compiled
into the process, so each value is 0.`,
	},
	0x00801001: { // 2.4.1 pmcd.agent.status
		"state of each agent, 0 when serving",
		`One value per agent domain (pmcd, proc, linux): 0 when the agent is able
to answer. The built-in agents cannot be lost apart from the daemon, so the
value is always 0; a failing metric source shows in pmcd.gopcp.source.errors
instead.`,
	},
	0x00801801: { // 2.6.1 pmcd.client.start_date
		"when each client session began",
		`One value per open client session: the moment the collector accepted the
connection, in the collector's local time and the fixed layout of ctime(3),
e.g. "Mon Nov 23 14:38:25 2026".`,
	},
	0x00801802: { // 2.6.2 pmcd.client.container
		"container each client asked about, empty here",
		`One value per open client session: the name of the container the
session is attached to. The collector does not offer container attachment,
so the string is empty.`,
	},
	0x00801c00: { // 2.7.0 pmcd.cputime.total
		"CPU time used by the collector process, in milliseconds",
		`User plus system CPU time consumed by the whole collector process since
it started, from getrusage(2) with RUSAGE_SELF, in milliseconds. The
metric sources run inside it and are included.`,
	},
	0x00802000: { // 2.8.0 pmcd.feature.secure
		"1 when the collector accepts TLS connections",
		`1 when the server has a certificate and key configured and will upgrade
connections to TLS on request; 0 when it serves plain connections only.`,
	},
	0x00802001: { // 2.8.1 pmcd.feature.compress
		"1 if wire compression is offered, always 0",
		`The collector does not implement compression of the connection, so the
value is always 0.`,
	},
	0x00802002: { // 2.8.2 pmcd.feature.ipv6
		"1 when IPv6 addresses can be served, always 1",
		`The collector's networking supports IPv6 as well as IPv4, so the value is
always 1 (whether an IPv6 listener is configured is a separate matter).`,
	},
	0x00802003: { // 2.8.3 pmcd.feature.authentication
		"1 if user authentication is offered, always 0",
		`The collector does not implement the protocol's user authentication
exchange, so the value is always 0. Clients are identified by TLS client
certificates or by the Unix socket peer credentials instead.`,
	},
	0x00802004: { // 2.8.4 pmcd.feature.creds_required
		"1 when clients must present credentials",
		`1 when the server's policy refuses clients that do not identify
themselves; 0 when anonymous clients are served.`,
	},
	0x00802005: { // 2.8.5 pmcd.feature.unix_domain_sockets
		"1 when a Unix domain socket listener is active",
		`1 when the collector listens on a local Unix domain socket as well as (or
instead of) TCP; 0 otherwise.`,
	},
	0x00802006: { // 2.8.6 pmcd.feature.service_discovery
		"1 if the service is advertised on the network, always 0",
		`The collector does not announce itself with a service discovery protocol,
so the value is always 0.`,
	},
	0x00802007: { // 2.8.7 pmcd.feature.containers
		"1 if container attachment is offered, always 0",
		`The collector cannot restrict its metrics to a container, so the value
is always 0.`,
	},
	0x00802008: { // 2.8.8 pmcd.feature.local
		"1 when the collector listens on loopback addresses only",
		`1 when the server is configured to accept connections only on loopback
addresses and its Unix socket; 0 when it listens more widely.`,
	},
	0x00802009: { // 2.8.9 pmcd.feature.client_cert_required
		"1 when TLS clients must show a trusted certificate",
		`1 when the server's TLS configuration demands a client certificate that
chains to its trust store, and refuses clients without one; 0 otherwise.`,
	},

	// The proc agent (domain 3).
	0x00c02063: { // 3.8.99 proc.nprocs
		"processes on the system, counted from /proc",
		`The number of /proc/<pid> directories (names made of digits only): one
per process, not per thread, counted with getdents(2) at fetch time.`,
	},

	// The linux agent (domain 60), cluster 0: /proc/stat and /proc/diskstats.
	0x0f000000: { // 60.0.0 kernel.percpu.cpu.user
		"per-CPU time in user mode in milliseconds",
		`Field 1 (user) of each "cpuN" line of /proc/stat, turned from clock ticks
(USER_HZ, 100 per second) into milliseconds. The kernel counts time spent
running virtual machine guests in this field too.`,
	},
	0x0f000001: { // 60.0.1 kernel.percpu.cpu.nice
		"per-CPU time in user mode at lowered priority in milliseconds",
		`Field 2 (nice) of each "cpuN" line of /proc/stat, in milliseconds: user
mode time of processes whose nice value is above 0. Guest time run at low
priority is included by the kernel.`,
	},
	0x0f000002: { // 60.0.2 kernel.percpu.cpu.sys
		"per-CPU time in kernel mode in milliseconds",
		`Field 3 (system) of each "cpuN" line of /proc/stat, in milliseconds: time
spent executing kernel code on behalf of processes, not counting interrupt
handling.`,
	},
	0x0f000003: { // 60.0.3 kernel.percpu.cpu.idle
		"per-CPU idle time in milliseconds",
		`Field 4 (idle) of each "cpuN" line of /proc/stat, in milliseconds: time
the CPU had nothing to run and was not waiting for I/O.`,
	},
	0x0f000004: { // 60.0.4 disk.dev.read
		"reads completed by each disk",
		`Column 4 (reads completed) of each whole-disk line of /proc/diskstats: read requests the
device completed, after merging of adjacent requests. Counter.`,
	},
	0x0f000005: { // 60.0.5 disk.dev.write
		"writes completed by each disk",
		`Column 8 (writes completed) of each whole-disk line of /proc/diskstats: write requests the
device completed, after merging of adjacent requests. Counter.`,
	},
	0x0f000008: { // 60.0.8 swap.pagesin
		"pages brought in from swap space",
		`The pswpin line of /proc/vmstat: pages the kernel read back from swap
areas because a process touched memory that had been swapped out. Counter.`,
	},
	0x0f000009: { // 60.0.9 swap.pagesout
		"pages written out to swap space",
		`The pswpout line of /proc/vmstat: pages the kernel wrote to swap areas to
free memory. Counter.`,
	},
	0x0f00000a: { // 60.0.10 swap.in
		"swap-in operations (Linux 2.4 only)",
		`The first number of the "swap" line of /proc/stat, which only Linux 2.4
kernels print. On any later kernel the fetch answers with an error saying
the metric is not available for this kernel version; see swap.pagesin.`,
	},
	0x0f00000b: { // 60.0.11 swap.out
		"swap-out operations (Linux 2.4 only)",
		`The second number of the "swap" line of /proc/stat, which only Linux 2.4
kernels print. On any later kernel the fetch answers with an error saying
the metric is not available for this kernel version; see swap.pagesout.`,
	},
	0x0f00000c: { // 60.0.12 kernel.all.intr
		"interrupts serviced since boot, all CPUs",
		`The first number of the "intr" line of /proc/stat: every interrupt the
kernel has handled on any CPU since it booted. Counter.`,
	},
	0x0f00000d: { // 60.0.13 kernel.all.pswitch
		"CPU context switches since boot",
		`The "ctxt" line of /proc/stat: how many times any CPU switched from one
task to another since boot. Counter.`,
	},
	0x0f00000e: { // 60.0.14 kernel.all.sysfork
		"processes and threads created since boot",
		`The "processes" line of /proc/stat: tasks created by fork(2), clone(2)
and similar calls since boot. Counter; its rate is the creation rate.`,
	},
	0x0f00000f: { // 60.0.15 kernel.all.running
		"tasks runnable at this moment",
		`The "procs_running" line of /proc/stat: tasks running or waiting for a
CPU when the file was read.`,
	},
	0x0f000010: { // 60.0.16 kernel.all.blocked
		"tasks waiting for I/O at this moment",
		`The "procs_blocked" line of /proc/stat: tasks in uninterruptible sleep,
usually waiting for disk I/O, when the file was read.`,
	},
	0x0f000011: { // 60.0.17 kernel.all.boottime
		"when the system booted, in seconds since 1970",
		`The "btime" line of /proc/stat: the boot time as seconds since the Unix
epoch (1970-01-01 00:00 UTC).`,
	},
	0x0f000014: { // 60.0.20 kernel.all.cpu.user
		"user mode CPU time of all CPUs together in milliseconds",
		`Field 1 (user) of the aggregate "cpu" line of /proc/stat, converted from
clock ticks to milliseconds. The kernel includes time spent running
virtual machine guests.`,
	},
	0x0f000015: { // 60.0.21 kernel.all.cpu.nice
		"low priority user mode CPU time of all CPUs in milliseconds",
		`Field 2 (nice) of the aggregate "cpu" line of /proc/stat, in
milliseconds: user mode time of processes with a positive nice value,
guest time at low priority included.`,
	},
	0x0f000016: { // 60.0.22 kernel.all.cpu.sys
		"kernel mode CPU time of all CPUs in milliseconds",
		`Field 3 (system) of the aggregate "cpu" line of /proc/stat, in
milliseconds, interrupt handling not included (see kernel.all.cpu.intr).`,
	},
	0x0f000017: { // 60.0.23 kernel.all.cpu.idle
		"idle CPU time of all CPUs in milliseconds",
		`Field 4 (idle) of the aggregate "cpu" line of /proc/stat, in
milliseconds. Time spent idle while I/O was outstanding is counted apart,
in kernel.all.cpu.wait.total.`,
	},
	0x0f000018: { // 60.0.24 disk.all.read
		"reads completed, summed over all disks",
		`The sum of column 4 (reads completed) of /proc/diskstats over the lines counted as whole
disks (the instances of disk.dev.read). Counter.`,
	},
	0x0f000019: { // 60.0.25 disk.all.write
		"writes completed, summed over all disks",
		`The sum of column 8 (writes completed) of /proc/diskstats over the lines counted as whole
disks (the instances of disk.dev.write). Counter.`,
	},
	0x0f00001c: { // 60.0.28 disk.dev.total
		"reads plus writes completed by each disk",
		`Columns 4 and 8 (reads and writes completed) of each whole-disk line of /proc/diskstats added together.
Counter.`,
	},
	0x0f00001d: { // 60.0.29 disk.all.total
		"reads plus writes completed, summed over all disks",
		`Columns 4 and 8 (reads and writes completed) of /proc/diskstats added together and summed over the whole
disks. Counter.`,
	},
	0x0f00001e: { // 60.0.30 kernel.percpu.cpu.wait.total
		"per-CPU idle time with I/O outstanding in milliseconds",
		`Field 5 (iowait) of each "cpuN" line of /proc/stat, in milliseconds. The
kernel's accounting of this field is approximate on multi-CPU systems.`,
	},
	0x0f000020: { // 60.0.32 hinv.ncpu
		"CPUs the kernel reports in /proc/stat",
		`The number of "cpuN" lines in /proc/stat, that is the CPUs currently
online. No value when the file has none.`,
	},
	0x0f000021: { // 60.0.33 hinv.ndisk
		"whole disks found in /proc/diskstats",
		`How many lines of /proc/diskstats name whole disks: partitions, loop,
ram, zram, CD-ROM, device-mapper and md devices are left out. It is the
size of the instance domain of disk.dev.*.`,
	},
	0x0f000022: { // 60.0.34 kernel.all.cpu.intr
		"CPU time handling interrupts, all CPUs, in milliseconds",
		`Fields 6 (irq) and 7 (softirq) of the aggregate "cpu" line of /proc/stat
added together, in milliseconds. No value unless the kernel prints both.`,
	},
	0x0f000023: { // 60.0.35 kernel.all.cpu.wait.total
		"idle time with I/O outstanding, all CPUs, in milliseconds",
		`Field 5 (iowait) of the aggregate "cpu" line of /proc/stat, in
milliseconds: time CPUs sat idle while some task waited for I/O.`,
	},
	0x0f000026: { // 60.0.38 disk.dev.read_bytes
		"Kbytes read from each disk",
		`Column 6 of each whole-disk line of /proc/diskstats (sectors read, always
512-byte units) halved to give Kbytes. Counter.`,
	},
	0x0f000027: { // 60.0.39 disk.dev.write_bytes
		"Kbytes written to each disk",
		`Column 10 of each whole-disk line of /proc/diskstats (sectors written, in
512-byte units) halved to give Kbytes. Counter.`,
	},
	0x0f000028: { // 60.0.40 disk.dev.total_bytes
		"Kbytes read and written by each disk",
		`Columns 6 and 10 of each whole-disk line of /proc/diskstats (512-byte
sectors read and written) added and halved to give Kbytes. Counter.`,
	},
	0x0f000029: { // 60.0.41 disk.all.read_bytes
		"Kbytes read, summed over all disks",
		`Column 6 of /proc/diskstats (512-byte sectors read) summed over the whole
disks and halved to give Kbytes. Counter.`,
	},
	0x0f00002a: { // 60.0.42 disk.all.write_bytes
		"Kbytes written, summed over all disks",
		`Column 10 of /proc/diskstats (512-byte sectors written) summed over the
whole disks and halved to give Kbytes. Counter.`,
	},
	0x0f00002b: { // 60.0.43 disk.all.total_bytes
		"Kbytes read and written, summed over all disks",
		`Columns 6 and 10 of /proc/diskstats (512-byte sectors read and written)
summed over the whole disks and halved to give Kbytes. Counter.`,
	},
	0x0f00002e: { // 60.0.46 disk.dev.avactive
		"milliseconds each disk had I/O in progress",
		`Column 13 of each whole-disk line of /proc/diskstats (milliseconds spent
doing I/O): time during which
the device had at least one request outstanding. Its rate divided by 1000
is the fraction of time the disk was busy. Counter, wraps at 2^32.`,
	},
	0x0f000030: { // 60.0.48 kernel.all.hz
		"clock ticks per second used by /proc/stat times",
		`USER_HZ, the unit in which the kernel prints CPU times in /proc/stat:
100 on every architecture the collector is built for. It is a fixed value
of the build, not read from a file.`,
	},
	0x0f000035: { // 60.0.53 kernel.all.cpu.irq.soft
		"CPU time in deferred interrupt work, all CPUs, in milliseconds",
		`Field 7 (softirq) of the aggregate "cpu" line of /proc/stat, in
milliseconds: time spent in softirq handlers such as network receive.`,
	},
	0x0f000036: { // 60.0.54 kernel.all.cpu.irq.hard
		"CPU time in hardware interrupt handlers, all CPUs, in milliseconds",
		`Field 6 (irq) of the aggregate "cpu" line of /proc/stat, in milliseconds.`,
	},
	0x0f000037: { // 60.0.55 kernel.all.cpu.steal
		"time the hypervisor gave this machine's CPUs to others, in milliseconds",
		`Field 8 (steal) of the aggregate "cpu" line of /proc/stat, in
milliseconds: time a virtual CPU was ready to run but the host ran
something else. No value when the kernel does not print the field.`,
	},
	0x0f00003c: { // 60.0.60 kernel.all.cpu.guest
		"CPU time spent running guest machines, in milliseconds",
		`Field 9 (guest) of the aggregate "cpu" line of /proc/stat, in
milliseconds: time CPUs ran virtual machines hosted here. The kernel also
counts it in kernel.all.cpu.user. No value when the field is absent.`,
	},

	// Cluster 1: /proc/meminfo, and the page size.
	0x0f000400: { // 60.1.0 mem.physmem
		"installed memory the kernel manages, in Kbytes",
		`The MemTotal line of /proc/meminfo, in Kbytes: usable RAM, less what the
firmware reserves and the kernel image itself.`,
	},
	0x0f000401: { // 60.1.1 mem.util.used
		"memory not free, in Kbytes",
		`MemTotal minus MemFree from /proc/meminfo, in Kbytes. It counts the page
cache and buffers as used; see mem.util.available for memory that could be
had back.`,
	},
	0x0f000402: { // 60.1.2 mem.util.free
		"completely unused memory in Kbytes",
		`The MemFree line of /proc/meminfo, in Kbytes: pages holding nothing at
all. Usually small on a busy system, since the kernel fills spare memory
with cache.`,
	},
	0x0f000403: { // 60.1.3 mem.util.shared
		"shared memory as old kernels reported it, in Kbytes",
		`The MemShared line of /proc/meminfo, which only Linux 2.4 printed; no value
on later kernels (see mem.util.shmem).`,
	},
	0x0f000404: { // 60.1.4 mem.util.bufmem
		"memory in raw block device buffers, in Kbytes",
		`The Buffers line of /proc/meminfo, in Kbytes: cached blocks of devices
read directly rather than through a file, such as file system metadata.`,
	},
	0x0f000405: { // 60.1.5 mem.util.cached
		"file data held in the page cache, in Kbytes",
		`The Cached line of /proc/meminfo, in Kbytes: file contents and tmpfs
pages kept in memory. The kernel leaves the swap cache out of this figure.`,
	},
	0x0f000406: { // 60.1.6 swap.length
		"total size of the swap areas in bytes",
		`The SwapTotal line of /proc/meminfo, converted from Kbytes to bytes: the
space of all active swap partitions and files together.`,
	},
	0x0f000407: { // 60.1.7 swap.used
		"swap space holding pages, in bytes",
		`SwapTotal minus SwapFree from /proc/meminfo, converted from Kbytes to
bytes.`,
	},
	0x0f000408: { // 60.1.8 swap.free
		"unused swap space in bytes",
		`The SwapFree line of /proc/meminfo, converted from Kbytes to bytes.`,
	},
	0x0f000409: { // 60.1.9 hinv.physmem
		"installed memory in Mbytes",
		`The MemTotal line of /proc/meminfo divided by 1024, giving Mbytes
(rounded down).`,
	},
	0x0f00040a: { // 60.1.10 mem.freemem
		"free memory in Kbytes",
		`The same figure as mem.util.free: the MemFree line of /proc/meminfo, in
Kbytes.`,
	},
	0x0f00040b: { // 60.1.11 hinv.pagesize
		"size of a memory page in bytes",
		`The kernel's base page size as the collector process sees it
(os.Getpagesize), e.g. 4096 on x86-64.`,
	},
	0x0f000419: { // 60.1.25 mem.util.slab
		"memory held by the kernel's slab allocator, in Kbytes",
		`The Slab line of /proc/meminfo, in Kbytes: kernel objects such as inodes
and directory entries; see mem.util.slabReclaimable for the part that can
be given back.`,
	},
	0x0f00043a: { // 60.1.58 mem.util.available
		"memory that could be used without swapping, in Kbytes",
		`The MemAvailable line of /proc/meminfo, in Kbytes: the kernel's own guess
of how much memory new work could get by using free pages and dropping
reclaimable cache. No value on kernels older than 3.14.`,
	},

	// Cluster 2: /proc/loadavg.
	0x0f000800: { // 60.2.0 kernel.all.load
		"run queue length averaged over 1, 5 and 15 minutes",
		`The first three numbers of /proc/loadavg: exponentially damped averages
of the tasks running, runnable or in uninterruptible sleep, one instance
per averaging period (1, 5 and 15 minutes).`,
	},
	0x0f000803: { // 60.2.3 kernel.all.nprocs
		"tasks (processes and threads) in the system",
		`The number after the slash in the fourth field of /proc/loadavg: every
scheduling entity that exists, threads counted one by one.`,
	},

	// Cluster 3: /proc/net/dev and /sys/class/net.
	0x0f000c00: { // 60.3.0 network.interface.in.bytes
		"bytes received on each network interface",
		`The receive bytes column (1st) of each interface's line in /proc/net/dev.
Counter.`,
	},
	0x0f000c01: { // 60.3.1 network.interface.in.packets
		"packets received on each network interface",
		`The receive packets column (2nd) of each interface's line in
/proc/net/dev. Counter.`,
	},
	0x0f000c02: { // 60.3.2 network.interface.in.errors
		"receive errors on each network interface",
		`The receive errs column (3rd) of each interface's line in /proc/net/dev:
frames the driver found bad. Counter.`,
	},
	0x0f000c03: { // 60.3.3 network.interface.in.drops
		"received packets dropped on each network interface",
		`The receive drop column (4th) of each interface's line in /proc/net/dev:
packets the kernel discarded, for instance for lack of buffer space.
Counter.`,
	},
	0x0f000c08: { // 60.3.8 network.interface.out.bytes
		"bytes sent on each network interface",
		`The transmit bytes column (9th) of each interface's line in
/proc/net/dev. Counter.`,
	},
	0x0f000c09: { // 60.3.9 network.interface.out.packets
		"packets sent on each network interface",
		`The transmit packets column (10th) of each interface's line in
/proc/net/dev. Counter.`,
	},
	0x0f000c0a: { // 60.3.10 network.interface.out.errors
		"transmit errors on each network interface",
		`The transmit errs column (11th) of each interface's line in
/proc/net/dev. Counter.`,
	},
	0x0f000c0b: { // 60.3.11 network.interface.out.drops
		"outgoing packets dropped on each network interface",
		`The transmit drop column (12th) of each interface's line in
/proc/net/dev. Counter.`,
	},
	0x0f000c15: { // 60.3.21 network.interface.mtu
		"largest packet each interface sends, in bytes",
		`The contents of /sys/class/net/<interface>/mtu. No value for an interface
whose file cannot be read.`,
	},
	0x0f000c16: { // 60.3.22 network.interface.speed
		"link speed of each interface in Mbytes per second",
		`/sys/class/net/<interface>/speed, which the kernel gives in Mbit/s,
converted to Mbyte/s (times 10^6, divided by 8 and by 2^20). No value when
the driver does not know the speed (the file says -1 or cannot be read),
as for the loopback interface.`,
	},
	0x0f000c19: { // 60.3.25 network.interface.up
		"1 when the interface is administratively up",
		`The IFF_UP bit of /sys/class/net/<interface>/flags: 1 when the interface
has been brought up, 0 when it is down. It does not say that a cable is
plugged in.`,
	},
	0x0f000c1b: { // 60.3.27 hinv.ninterface
		"network interfaces listed in /proc/net/dev",
		`The number of interface lines in /proc/net/dev, up or down, loopback
included: the size of the instance domain of network.interface.*.`,
	},

	// Cluster 5: /proc/mounts and statfs(2).
	0x0f001401: { // 60.5.1 filesys.capacity
		"size of each mounted file system in Kbytes",
		`statfs(2) of the mount point: total blocks times the block size, in
Kbytes. One instance per block device mounted (see instance domain 60.5);
no value for a file system statfs fails on.`,
	},
	0x0f001402: { // 60.5.2 filesys.used
		"space in use on each mounted file system, in Kbytes",
		`statfs(2) of the mount point: total blocks minus free blocks, times the
block size, in Kbytes. Blocks reserved for the superuser count as free.`,
	},
	0x0f001403: { // 60.5.3 filesys.free
		"free space on each mounted file system, in Kbytes",
		`statfs(2) of the mount point: free blocks times the block size, in
Kbytes, including the blocks only the superuser may use.`,
	},
	0x0f001407: { // 60.5.7 filesys.mountdir
		"directory each file system is mounted on",
		`The second field of the file system's line in /proc/mounts, with the
kernel's octal escapes (\040 for a space and so on) undone.`,
	},

	// Cluster 12: uname strings from /proc/sys/kernel and /etc.
	0x0f003000: { // 60.12.0 kernel.uname.release
		"kernel release, as uname -r prints it",
		`The contents of /proc/sys/kernel/osrelease, e.g. "6.1.0-18-amd64". Read
once, since it cannot change while the kernel runs.`,
	},
	0x0f003001: { // 60.12.1 kernel.uname.version
		"kernel build string, as uname -v prints it",
		`The contents of /proc/sys/kernel/version: usually a build number, the
build options such as SMP and PREEMPT, and the build date. Read once.`,
	},
	0x0f003002: { // 60.12.2 kernel.uname.sysname
		"operating system kernel name, as uname -s prints it",
		`The contents of /proc/sys/kernel/ostype, "Linux" in practice. Read once.`,
	},
	0x0f003003: { // 60.12.3 kernel.uname.machine
		"processor architecture, as uname -m prints it",
		`The contents of /proc/sys/kernel/arch (Linux 6.1 and later), e.g.
"x86_64" or "aarch64"; on older kernels the machine field of uname(2).
Read once.`,
	},
	0x0f003004: { // 60.12.4 kernel.uname.nodename
		"network node name, as uname -n prints it",
		`The contents of /proc/sys/kernel/hostname, read at every fetch since the
administrator may change it.`,
	},
	0x0f003007: { // 60.12.7 kernel.uname.distro
		"name of the installed Linux distribution",
		`Worked out once from the release files under /etc: the first of the
distribution-specific files found wins (the contents of /etc/debian_version
prefixed with "Debian ", DISTRIB_DESCRIPTION of /etc/lsb-release, ...), then
PRETTY_NAME of /etc/os-release. No value when none of them is present.`,
	},

	// Cluster 18.
	0x0f004807: { // 60.18.7 hinv.machine
		"hardware architecture name",
		`The same string as kernel.uname.machine: /proc/sys/kernel/arch, or the
machine field of uname(2) on kernels before 6.1.`,
	},

	// Cluster 26: /proc/uptime.
	0x0f006800: { // 60.26.0 kernel.all.uptime
		"seconds since the kernel booted",
		`The first number of /proc/uptime: wall-clock seconds since boot,
with hundredths.`,
	},
	0x0f006801: { // 60.26.1 kernel.all.idletime
		"idle seconds summed over all CPUs since boot",
		`The second number of /proc/uptime: the idle time of every CPU added
together, so it can grow faster than kernel.all.uptime on a machine with
several CPUs.`,
	},
}

// helpInDom holds the help of the instance domains whose source has none of its own.
var helpInDom = map[protocol.InDom]helpText{
	0x00800002: { // 2.2
		"the sixteen slots of pmcd.control.register",
		`Instances numbered 0 to 15, named by the decimal form of their number.`,
	},
	0x00800003: { // 2.3
		"agent domains built into the collector",
		`One instance per agent: the instance number is the agent's domain number
(2 pmcd, 3 proc, 60 linux) and the name is the agent's name.`,
	},
	0x00800006: { // 2.6
		"client sessions open with the collector",
		`One instance per client connection currently open, numbered by the
server's session slot for that connection.`,
	},
	0x0f000000: { // 60.0
		"online CPUs, one per cpuN line of /proc/stat",
		`Instance number N and name "cpuN" for each per-CPU line of /proc/stat.`,
	},
	0x0f000001: { // 60.1
		"whole disks from /proc/diskstats",
		`One instance per whole disk named in /proc/diskstats, partitions and
virtual devices (loop, ram, zram, CD-ROM, device-mapper, md) left out.
Numbers are given as names first appear and are never reused.`,
	},
	0x0f000002: { // 60.2
		"the averaging periods of the load average",
		`Three instances, numbered by their period in minutes: 1, 5 and 15, named
"1 minute", "5 minute" and "15 minute".`,
	},
	0x0f000003: { // 60.3
		"network interfaces from /proc/net/dev",
		`One instance per interface line of /proc/net/dev, named after the
interface. Numbers are given in the order interfaces first appear and are
never reused.`,
	},
	0x0f000005: { // 60.5
		"mounted file systems backed by a block device",
		`One instance per block device in /proc/mounts (device under /dev; proc,
NFS, tmpfs and similar left out), named by the device path with symbolic
links resolved. When a device is mounted twice the first mount is used.`,
	},
}
