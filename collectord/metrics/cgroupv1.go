package metrics

import (
	"fmt"
	"strings"

	"github.com/gopcp/gopcp/protocol"
)

// The metric tables of the "cgroup" source (cgroup.go): names, PMIDs (cluster<<16 |
// item), descriptors as the proc agent has them, the file and field each value is
// read from, and our own help. The v1 controllers come first, then the cgroup2-only
// metrics.

// cgWhere says where a group's file is, for the help texts.
func cgWhere(file string) string {
	return "the " + file + " file of each control group (the directories below the cgroup\n" +
		"mounts listed in /proc/self/mountinfo)"
}

// Short names for the tables below.
type (
	indomT = protocol.InDom
	unitsT = protocol.Units
)

var cgMetrics = buildCgMetrics()

func buildCgMetrics() []cgMetric {
	var out []cgMetric
	add := func(m cgMetric) { out = append(out, m) }
	one := func(name string, cl, it uint32, typ int32, in indomT, sem int32, u unitsT, g cgGroup, file string, kind cgKind, key string, h helpText) {
		add(cgMetric{name: name, item: cl<<16 | it, typ: typ, indom: in, sem: sem, units: u, group: g, file: file, kind: kind, key: key, help: h})
	}
	container := func(name string, cl, it uint32, in indomT, g cgGroup) {
		one(name, cl, it, tSTR, in, semD, uNone, g, "", kContainer, "",
			helpText{"container id in each control group's name", "The 64-hex-digit id a container engine puts in the last component of the group's\n" +
				"path (as /docker/<id>, docker-<id>.scope or libpod-<id>.scope); empty for other\n" +
				"groups. The groups are the directories below the cgroup mounts of /proc/self/mountinfo."})
	}

	// cgroup.subsys.* (cluster 37) and cgroup.mounts.* (38).
	one("cgroup.subsys.hierarchy", 37, 0, tU32, indomCgSubsys, semI, uNone, cgNone, "", kSubsys, "hierarchy",
		helpText{"hierarchy id of each cgroup controller", "The hierarchy column of /proc/cgroups: the v1 hierarchy the controller is\nmounted on, 0 when it is on cgroup2 or not mounted."})
	one("cgroup.subsys.count", 37, 1, tU32, null, semI, uCount, cgNone, "", kSubsys, "count",
		helpText{"number of cgroup controllers the kernel has", "The number of controller lines of /proc/cgroups; no value without the file."})
	one("cgroup.subsys.num_cgroups", 37, 2, tU32, indomCgSubsys, semI, uNone, cgNone, "", kSubsys, "num_cgroups",
		helpText{"number of control groups using each controller", "The num_cgroups column of /proc/cgroups."})
	one("cgroup.subsys.enabled", 37, 3, tU32, indomCgSubsys, semI, uNone, cgNone, "", kSubsys, "enabled",
		helpText{"whether each cgroup controller is enabled", "The enabled column of /proc/cgroups: 1 when enabled, 0 when disabled (cgroup_disable=)."})
	one("cgroup.mounts.subsys", 38, 0, tSTR, indomCgMounts, semI, uNone, cgNone, "", kMounts, "subsys",
		helpText{"controllers attached to each cgroup mount", "The mount options of each cgroup mount of /proc/self/mountinfo that name a controller of\n/proc/cgroups, comma separated; \"?\" for a mount with none (cgroup2, name=systemd)."})
	one("cgroup.mounts.count", 38, 1, tU32, null, semI, uCount, cgNone, "", kMounts, "count",
		helpText{"number of cgroup file system mounts", "The number of cgroup and cgroup2 mounts of /proc/self/mountinfo."})

	// cgroup.cpu.stat.* (cluster 67, cgroup2).
	for i, f := range []struct{ name, key, what string }{
		{"user", "user_usec", "user mode"}, {"system", "system_usec", "kernel mode"}, {"usage", "usage_usec", "all modes"}} {
		one("cgroup.cpu.stat."+f.name, 67, uint32(i), tU64, indomCgroup2, semC, uUsec, cgV2, "cpu.stat", kKeyed, f.key,
			helpText{"CPU time of each cgroup2 group's tasks in " + f.what, "The " + f.key + " line of " + cgWhere("cpu.stat") + ",\nin microseconds; cgroup2 hosts only."})
	}

	// cgroup.cpuset.* (cluster 39).
	one("cgroup.cpuset.cpus", 39, 0, tSTR, indomCgCpuset, semI, uNone, cgCpuset, "cpuset.cpus", kString, "",
		helpText{"CPUs each control group may run on", "The list in " + cgWhere("cpuset.cpus") + ",\nas the kernel writes it (\"0-3,8\"); empty when the group sets none."})
	one("cgroup.cpuset.mems", 39, 1, tSTR, indomCgCpuset, semI, uNone, cgCpuset, "cpuset.mems", kString, "",
		helpText{"memory nodes each control group may allocate from", "The list in " + cgWhere("cpuset.mems") + ",\nas the kernel writes it."})
	container("cgroup.cpuset.id.container", 39, 2, indomCgCpuset, cgCpuset)

	// cgroup.cpuacct.* (cluster 41).
	one("cgroup.cpuacct.usage", 41, 2, tU64, indomCgCpuacct, semC, uNsec, cgCpuacct, "cpuacct.usage", kOne, "",
		helpText{"CPU time used by each control group's tasks", "The number in " + cgWhere("cpuacct.usage") + ",\nin nanoseconds."})
	one("cgroup.cpuacct.usage_percpu", 41, 3, tU64, indomCgPercpu, semC, uNsec, cgCpuacct, "cpuacct.usage_percpu", kPercpu, "",
		helpText{"CPU time used by each control group's tasks, per CPU", "The numbers in " + cgWhere("cpuacct.usage_percpu") + ",\none per CPU, in nanoseconds."})
	for i, k := range []string{"user", "system"} {
		one("cgroup.cpuacct.stat."+k, 41, uint32(i), tU64, indomCgCpuacct, semC, uMsec, cgCpuacct, "cpuacct.stat", kTicks, k,
			helpText{"CPU time of each control group's tasks in " + map[string]string{"user": "user mode", "system": "kernel mode"}[k],
				"The " + k + " line of " + cgWhere("cpuacct.stat") + ":\nUSER_HZ ticks, served in milliseconds (10 per tick)."})
	}
	container("cgroup.cpuacct.id.container", 41, 4, indomCgCpuacct, cgCpuacct)

	// cgroup.cpusched.* (cluster 43).
	one("cgroup.cpusched.shares", 43, 0, tU64, indomCgCpusched, semI, uNone, cgCpusched, "cpu.shares", kOne, "",
		helpText{"CPU weight of each control group", "The number in " + cgWhere("cpu.shares") + "\n(1024 is the default weight)."})
	one("cgroup.cpusched.periods", 43, 1, tU64, indomCgCpusched, semI, uNone, cgCpusched, "cpu.stat", kKeyed, "nr_periods",
		helpText{"bandwidth periods each control group has run in", "The nr_periods line of " + cgWhere("cpu.stat") + "."})
	one("cgroup.cpusched.throttled", 43, 2, tU64, indomCgCpusched, semI, uNone, cgCpusched, "cpu.stat", kKeyed, "nr_throttled",
		helpText{"bandwidth periods in which each control group was throttled", "The nr_throttled line of " + cgWhere("cpu.stat") + "."})
	one("cgroup.cpusched.throttled_time", 43, 3, tU64, indomCgCpusched, semC, uNsec, cgCpusched, "cpu.stat", kKeyed, "throttled_time",
		helpText{"time each control group's tasks were throttled", "The throttled_time line of " + cgWhere("cpu.stat") + ",\nin nanoseconds (v1 hierarchies)."})
	one("cgroup.cpusched.cfs_period", 43, 4, tU64, indomCgCpusched, semI, uUsec, cgCpusched, "cpu.cfs_period_us", kOne, "",
		helpText{"length of each control group's CPU bandwidth period", "The number in " + cgWhere("cpu.cfs_period_us") + ",\nin microseconds."})
	one("cgroup.cpusched.cfs_quota", 43, 5, tI64, indomCgCpusched, semI, uUsec, cgCpusched, "cpu.cfs_quota_us", kOneSigned, "",
		helpText{"CPU time each control group may use per period", "The number in " + cgWhere("cpu.cfs_quota_us") + ",\nin microseconds; -1 for no limit."})
	container("cgroup.cpusched.id.container", 43, 6, indomCgCpusched, cgCpusched)

	// cgroup.memory.* (cluster 45).
	one("cgroup.memory.usage", 45, 80, tU64, indomCgMemory, semI, uByte, cgMemory, "memory.usage_in_bytes", kOne, "",
		helpText{"memory charged to each control group", "The number in " + cgWhere("memory.usage_in_bytes") + ",\nin bytes (v1 hierarchies)."})
	one("cgroup.memory.limit", 45, 81, tU64, indomCgMemory, semI, uByte, cgMemory, "memory.limit_in_bytes", kOne, "",
		helpText{"memory limit of each control group", "The number in " + cgWhere("memory.limit_in_bytes") + ",\nin bytes (v1 hierarchies; a huge number when there is no limit)."})
	one("cgroup.memory.failcnt", 45, 82, tU64, indomCgMemory, semC, uCount, cgMemory, "memory.failcnt", kOne, "",
		helpText{"times each control group hit its memory limit", "The number in " + cgWhere("memory.failcnt") + " (v1 hierarchies)."})
	one("cgroup.memory.current", 45, 90, tU64, indomCgMemory, semI, uByte, cgMemory, "memory.current", kOne, "",
		helpText{"memory in use by each control group", "The number in " + cgWhere("memory.current") + ",\nin bytes (cgroup2)."})
	for _, f := range []struct {
		name string
		item uint32
		sem  int32
		u    unitsT
	}{
		{"cache", 0, semI, uByte}, {"rss", 1, semI, uByte}, {"rss_huge", 2, semI, uByte}, {"mapped_file", 3, semI, uByte},
		{"writeback", 4, semI, uByte}, {"swap", 5, semI, uByte}, {"pgpgin", 6, semC, uCount}, {"pgpgout", 7, semC, uCount},
		{"pgfault", 8, semC, uCount}, {"pgmajfault", 9, semC, uCount}, {"inactive_anon", 10, semI, uByte},
		{"active_anon", 11, semI, uByte}, {"inactive_file", 12, semI, uByte}, {"active_file", 13, semI, uByte},
		{"unevictable", 14, semI, uByte}, {"anon", 17, semI, uByte}, {"anon_thp", 18, semI, uByte}, {"file", 19, semI, uByte},
		{"file_dirty", 20, semI, uByte}, {"file_mapped", 21, semI, uByte}, {"file_writeback", 22, semI, uByte},
		{"kernel_stack", 25, semI, uByte}, {"pgactivate", 26, semI, uByte}, {"pgdeactivate", 27, semI, uByte},
		{"pglazyfree", 28, semI, uByte}, {"pglazyfreed", 50, semI, uByte}, {"pgrefill", 51, semI, uByte},
		{"pgscan", 52, semI, uByte}, {"pgsteal", 53, semI, uByte}, {"shmem", 64, semI, uByte}, {"slab", 65, semI, uByte},
		{"slab_reclaimable", 66, semI, uByte}, {"slab_unreclaimable", 67, semI, uByte}, {"sock", 68, semI, uByte},
		{"thp_collapse_alloc", 70, semI, uByte}, {"thp_fault_alloc", 71, semI, uByte},
		{"total.cache", 30, semI, uByte}, {"total.rss", 31, semI, uByte}, {"total.rss_huge", 32, semI, uByte},
		{"total.mapped_file", 33, semI, uByte}, {"total.writeback", 34, semI, uByte}, {"total.swap", 35, semI, uByte},
		{"total.pgpgin", 36, semC, uCount}, {"total.pgpgout", 37, semC, uCount}, {"total.pgfault", 38, semC, uCount},
		{"total.pgmajfault", 39, semC, uCount}, {"total.inactive_anon", 40, semI, uByte}, {"total.active_anon", 41, semI, uByte},
		{"total.inactive_file", 42, semI, uByte}, {"total.active_file", 43, semI, uByte}, {"total.unevictable", 44, semI, uByte},
		{"recent.rotated_anon", 60, semC, uByte}, {"recent.rotated_file", 61, semC, uByte},
		{"recent.scanned_anon", 62, semC, uByte}, {"recent.scanned_file", 63, semC, uByte},
		{"workingset.activate", 72, semI, uByte}, {"workingset.nodereclaim", 73, semI, uByte}, {"workingset.refault", 74, semI, uByte},
	} {
		key := strings.Replace(f.name, ".", "_", 1)
		what := strings.ReplaceAll(key, "_", " ")
		if strings.HasPrefix(key, "total_") {
			what = strings.TrimPrefix(what, "total ") + ", with the group's descendants"
		}
		one("cgroup.memory.stat."+f.name, 45, f.item, tU64, indomCgMemory, f.sem, f.u, cgMemory, "memory.stat", kKeyed, key,
			helpText{"memory statistic \"" + what + "\" of each control group",
				"The " + key + " line of " + cgWhere("memory.stat") + ";\nno value for a group whose kernel does not print it (v1 and cgroup2 differ)."})
	}
	container("cgroup.memory.id.container", 45, 29, indomCgMemory, cgMemory)

	// cgroup.netclass.* (cluster 47).
	one("cgroup.netclass.classid", 47, 0, tU64, indomCgNetcls, semI, uNone, cgNetcls, "net_cls.classid", kOne, "",
		helpText{"network class id of each control group's packets", "The number in " + cgWhere("net_cls.classid") + "."})
	container("cgroup.netclass.id.container", 47, 1, indomCgNetcls, cgNetcls)

	// cgroup.blkio.{dev,all}.* (cluster 49): per group and device, and per group.
	ops := []string{"Read", "Write", "Sync", "Async", "Total"}
	for _, all := range []bool{false, true} {
		prefix, in, base, per := "cgroup.blkio.dev.", indomCgBlkioDev, uint32(0), "each control group and device"
		if all {
			prefix, in, base, per = "cgroup.blkio.all.", indomCgBlkio, 60, "each control group, all devices summed"
		}
		addOps := func(name, file string, first uint32, u unitsT, what string) {
			for i, op := range ops {
				m := cgMetric{name: prefix + name + "." + strings.ToLower(op), item: 49<<16 | base + first + uint32(i), typ: tU64,
					indom: in, sem: semC, units: u, group: cgBlkio, file: file, kind: kBlkioOp, key: op, all: all,
					help: helpText{what + " (" + strings.ToLower(op) + ") of " + per,
						fmt.Sprintf("The \"%s\" lines of %s,\nthe device named from /sys/dev/block.", op, cgWhere(file))}}
				add(m)
			}
		}
		addOps("io_merged", "blkio.io_merged", 0, uCount, "requests merged")
		addOps("io_queued", "blkio.io_queued", 5, uCount, "requests queued")
		addOps("io_service_bytes", "blkio.io_service_bytes", 10, uByte, "bytes transferred")
		addOps("io_serviced", "blkio.io_serviced", 15, uCount, "requests completed")
		addOps("io_service_time", "blkio.io_service_time", 20, uNsec, "time between dispatch and completion")
		addOps("io_wait_time", "blkio.io_wait_time", 25, uNsec, "time requests waited in the scheduler queues")
		add(cgMetric{name: prefix + "sectors", item: 49<<16 | base + 30, typ: tU64, indom: in, sem: semC, units: uKB,
			group: cgBlkio, file: "blkio.sectors", kind: kBlkioDev, key: "sectors", all: all,
			help: helpText{"data transferred by " + per, "The numbers of " + cgWhere("blkio.sectors") + ",\n512-byte sectors served in kilobytes, the device named from /sys/dev/block."}})
		add(cgMetric{name: prefix + "time", item: 49<<16 | base + 31, typ: tU64, indom: in, sem: semC, units: uMsec,
			group: cgBlkio, file: "blkio.time", kind: kBlkioDev, key: "time", all: all,
			help: helpText{"disk time given to " + per, "The numbers of " + cgWhere("blkio.time") + ",\nin milliseconds, the device named from /sys/dev/block."}})
		addOps("throttle.io_service_bytes", "blkio.throttle.io_service_bytes", 32, uByte, "bytes transferred, as the throttling policy counts them,")
		addOps("throttle.io_serviced", "blkio.throttle.io_serviced", 37, uCount, "requests completed, as the throttling policy counts them,")
	}
	container("cgroup.blkio.id.container", 49, 42, indomCgBlkio, cgBlkio)

	// cgroup.pressure.* (clusters 64 cpu, 65 io, 66 memory, 76 irq; cgroup2).
	for _, p := range []struct {
		res     string
		cluster uint32
		lines   []string
	}{{"cpu", 64, []string{"some"}}, {"memory", 66, []string{"some", "full"}}, {"io", 65, []string{"some", "full"}}, {"irq", 76, []string{"full"}}} {
		for li, line := range p.lines {
			who := "some task"
			if line == "full" {
				who = "all non-idle tasks"
			}
			file := p.res + ".pressure"
			for fi, f := range []string{"avg10sec", "avg1min", "avg5min", "total"} {
				typ, u := tFLT, uNone
				h := helpText{fmt.Sprintf("share of the last %s each cgroup2 group's %s stalled on %s, in percent",
					map[string]string{"avg10sec": "10 seconds", "avg1min": "minute", "avg5min": "5 minutes"}[f], who, p.res),
					fmt.Sprintf("The avg%s= field of the %q line of %s.", []string{"10", "60", "300"}[min(fi, 2)], line, cgWhere(file))}
				if f == "total" {
					typ, u = tU64, uUsec
					h = helpText{fmt.Sprintf("total time each cgroup2 group's %s stalled on %s", who, p.res),
						fmt.Sprintf("The total= field of the %q line of %s,\nin microseconds.", line, cgWhere(file))}
				}
				add(cgMetric{name: "cgroup.pressure." + p.res + "." + line + "." + f, item: p.cluster<<16 | uint32(li*4+fi), typ: typ,
					indom: indomCgroup2, sem: semI, units: u, group: cgV2, file: file, kind: kPSI, key: line, field: fi, help: h})
			}
		}
	}

	// cgroup.io.stat.* (cluster 68; cgroup2, per group and device).
	for i, k := range []string{"rbytes", "wbytes", "rios", "wios", "dbytes", "dios"} {
		u, what := uByte, map[byte]string{'r': "read", 'w': "written", 'd': "discarded"}[k[0]]
		h := helpText{"bytes " + what + " by each cgroup2 group, per device", ""}
		if strings.HasSuffix(k, "ios") {
			u = uCount
			h.oneline = map[byte]string{'r': "read", 'w': "write", 'd': "discard"}[k[0]] + " requests of each cgroup2 group, per device"
		}
		h.help = "The " + k + "= fields of " + cgWhere("io.stat") + ",\nthe device named from /sys/dev/block."
		add(cgMetric{name: "cgroup.io.stat." + k, item: 68<<16 | uint32(i), typ: tU64, indom: indomCgroup2Dev, sem: semC, units: u,
			group: cgV2, file: "io.stat", kind: kIOStat, key: k, help: h})
	}
	return out
}
