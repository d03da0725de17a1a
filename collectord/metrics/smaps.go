package metrics

// proc.smaps.*: the totals of /proc/<pid>/smaps_rollup (Linux 4.14 and later), one
// line per kind of memory, "Rss:   1632 kB". The file is costly: the kernel walks
// every mapping of the process to sum it, so it is read only for a fetch that names
// one of these metrics, once per process for all of them.
//
// Hand-written rather than procfs's ProcSMapsRollup: that one keeps ten of the
// twenty fields these metrics need (no Pss_Anon, Pss_File, Pss_Shmem, LazyFree,
// AnonHugePages, the PMD-mapped, hugetlb or Locked lines) and reports a field the
// kernel does not print as 0; here such a field has no value.

// smapsFields is the number of smaps_rollup fields served, in item order.
const smapsFields = 20

// smapsKeys are the smaps_rollup keys in the order of the metrics' items.
var smapsKeys = [smapsFields]string{"Rss", "Pss", "Pss_Anon", "Pss_File", "Pss_Shmem",
	"Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty", "Referenced",
	"Anonymous", "LazyFree", "AnonHugePages", "ShmemPmdMapped", "FilePmdMapped",
	"Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked"}

// smapsNames are the metric names' last parts and their one-line help, by item.
var smapsNames = [smapsFields][2]string{
	{"rss", "resident memory of all mappings"},
	{"pss", "proportional share of resident memory"},
	{"pss_anon", "proportional share of anonymous memory"},
	{"pss_file", "proportional share of file-backed memory"},
	{"pss_shmem", "proportional share of shared memory (shmem, tmpfs)"},
	{"shared_clean", "clean pages shared with other processes"},
	{"shared_dirty", "dirty pages shared with other processes"},
	{"private_clean", "clean pages only this process maps"},
	{"private_dirty", "dirty pages only this process maps"},
	{"referenced", "memory marked referenced (recently used)"},
	{"anonymous", "memory not backed by a file"},
	{"lazyfree", "memory freed with MADV_FREE, not yet reclaimed"},
	{"anonhugepages", "anonymous memory in transparent huge pages"},
	{"shmempmdmapped", "shared memory mapped with huge page table entries"},
	{"filepmdmapped", "file memory mapped with huge page table entries"},
	{"shared_hugetlb", "shared hugetlbfs memory"},
	{"private_hugetlb", "private hugetlbfs memory"},
	{"swap", "anonymous memory swapped out"},
	{"swappss", "proportional share of swapped-out memory"},
	{"locked", "memory locked in RAM (mlock)"},
}

var smapsMetrics = func() []procMetric {
	out := make([]procMetric, smapsFields)
	for i := range out {
		out[i] = procMetric{
			name: "proc.smaps." + smapsNames[i][0], pmid: pmid(3, 33, uint32(i)), typ: tU64, sem: semI,
			units: uKB, file: pfSmaps, get: smapsU(i), one: smapsNames[i][1] + ", kilobytes",
			hlp: "The " + smapsKeys[i] + " line of /proc/<pid>/smaps_rollup: " + smapsNames[i][1] +
				",\nsummed over every mapping of the process, in kilobytes. Reading it makes the\n" +
				"kernel walk the process's mappings, so it costs more than the other files.",
		}
	}
	return out
}()

func smapsU(i int) func(*procData, *processSource) (Value, bool) {
	return func(p *procData, _ *processSource) (Value, bool) {
		return Value{U: p.smaps[i]}, p.smapsOK&(1<<i) != 0
	}
}

// parseSmapsRollup takes the "Key:  value kB" lines after the first (the address
// range) line; a line with another unit or a non-number leaves its field absent.
func parseSmapsRollup(b []byte, d *procData) bool {
	_, b = nextLine(b) // "55e6ba9a8000-7ffca4547000 ---p 00000000 00:00 0  [rollup]"
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		key, rest := nextField(line)
		if len(key) < 2 || key[len(key)-1] != ':' {
			continue
		}
		key = key[:len(key)-1]
		i := -1
		for k, name := range smapsKeys {
			if string(key) == name {
				i = k
				break
			}
		}
		if i < 0 {
			continue
		}
		num, rest := nextField(rest)
		unit, _ := nextField(rest)
		v, ok := parseUint(num)
		if !ok || string(unit) != "kB" {
			continue
		}
		d.smaps[i] = v
		d.smapsOK |= 1 << i
	}
	return d.smapsOK != 0
}
