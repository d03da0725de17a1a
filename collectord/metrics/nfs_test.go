package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

func singleValue(t *testing.T, res Result) (uint64, bool) {
	t.Helper()
	if res.Err != 0 || len(res.Values) != 1 {
		return 0, false
	}
	return res.Values[0].U, true
}

// TestNFSFixture checks the client and server counts of the fixture's rpc files
// and nfsd pools: sums over the known procedures only (the kernel's longer NFSv4
// lines are cut to the named operations), the server's NFSv4 operations numbered
// from 1, the thread usage floats ignored, the read-ahead hits summed.
func TestNFSFixture(t *testing.T) {
	r := newFixtureRegistry(t, fixtureDir)
	want := map[string]uint64{
		"nfs3.client.calls": 231, "nfs4.client.calls": 7140, "nfs3.server.calls": 462, "nfs.server.calls": 18,
		"nfs4.server.calls": 2485, "rpc.client.rpccnt": 118, "rpc.client.rpcretrans": 2, "rpc.client.rpcauthrefresh": 1,
		"rpc.client.netcnt": 120, "rpc.client.nettcpcnt": 120, "rpc.client.nettcpconn": 3, "rpc.server.rchits": 5,
		"rpc.server.rcmisses": 95, "rpc.server.rcnocache": 40, "rpc.server.fh_stale": 7, "rpc.server.io_read": 4096,
		"rpc.server.io_write": 8192, "rpc.server.th_cnt": 8, "rpc.server.th_fullcnt": 0, "rpc.server.ra_size": 32,
		"rpc.server.ra_hits": 55, "rpc.server.ra_misses": 11, "rpc.server.rpcerr": 3, "rpc.server.rpcbadclnt": 1,
		"rpc.server.netcnt": 140, "rpc.server.nettcpconn": 4,
		"nfs.server.threads.total": 8, "nfs.server.threads.pools": 2, "nfs.server.threads.requests": 1500,
		"nfs.server.threads.enqueued": 15, "nfs.server.threads.processed": 1485, "nfs.server.threads.timedout": 3,
	}
	absent := []string{"nfs.client.calls", "nfs.client.reqs", "rpc.server.fh_cached", "rpc.server.fh_concurrent"}
	names := append([]string(nil), absent...)
	for n := range want {
		names = append(names, n)
	}
	res := fetchByName(t, r, names...)
	for n, w := range want {
		if g, ok := singleValue(t, res[n]); !ok || g != w {
			t.Errorf("%s = %+v, want %d", n, res[n], w)
		}
	}
	for _, n := range absent {
		if res[n].Err != 0 || len(res[n].Values) != 0 {
			t.Errorf("%s = %+v, want no value (not printed by the kernel)", n, res[n])
		}
	}
	checkInstValues(t, r, map[string]map[string]string{
		"nfs.server.reqs": func() map[string]string {
			m := map[string]string{}
			for _, op := range nfs2Ops {
				m[op] = "1"
			}
			return m
		}(),
	})
	v4 := valuesByInst(t, r, "nfs4.server.reqs", fetchByName(t, r, "nfs4.server.reqs")["nfs4.server.reqs"])
	if len(v4) != 71 || v4["op0-unused"] != "0" || v4["access"] != "3" || v4["write_same"] != "70" {
		t.Errorf("nfs4.server.reqs: %d values, op0-unused %s access %s write_same %s", len(v4), v4["op0-unused"], v4["access"], v4["write_same"])
	}
	v4c := valuesByInst(t, r, "nfs4.client.reqs", fetchByName(t, r, "nfs4.client.reqs")["nfs4.client.reqs"])
	if len(v4c) != 56 || v4c["null"] != "100" || v4c["deallocate"] != "155" {
		t.Errorf("nfs4.client.reqs: %d values, null %s deallocate %s", len(v4c), v4c["null"], v4c["deallocate"])
	}
	if n := r.SourceErrors()["nfs"]; n != 0 {
		t.Errorf("%d source errors", n)
	}
}

// TestNFSAbsentModules: without the nfs and nfsd modules (no files), no values,
// no error, and the procedure instance domains are still there.
func TestNFSAbsentModules(t *testing.T) {
	dir := copyTree(t, fixtureDir)
	os.RemoveAll(filepath.Join(dir, "proc/net/rpc"))
	os.RemoveAll(filepath.Join(dir, "proc/fs/nfsd"))
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "nfs3.client.calls", "nfs3.server.reqs", "rpc.server.rpccnt", "nfs.server.threads.total")
	for n, v := range res {
		if v.Err != 0 || len(v.Values) != 0 {
			t.Errorf("%s = %+v, want no value", n, v)
		}
	}
	if n := r.SourceErrors()["nfs"]; n != 0 {
		t.Errorf("%d source errors", n)
	}
	if insts, err := r.Instances(indomNFS3); err != nil || len(insts) != 22 || insts[17].Name != "readdir+" {
		t.Errorf("nfs3 instances %v %v", insts, err)
	}
}

// TestNFSHostile: a broken file fails its own metrics, counted; the other side
// keeps its values.
func TestNFSHostile(t *testing.T) {
	for _, tc := range []struct{ name, nfsd string }{
		{"garbage", "\x00\x01\xff\n"},
		{"count mismatch", "proc3 22 1 2 3\n"},
		{"negative", "rpc -1 0 0 0 0\n"},
		{"too big", "net 99999999999999999999999 0 0 0\n"},
		{"empty", ""},
		{"float in counts", "io 1.5 2\n"},
	} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "proc/net/rpc/nfsd"), tc.nfsd)
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "rpc.server.rpccnt", "nfs3.server.reqs", "rpc.client.rpccnt")
		for _, n := range []string{"rpc.server.rpccnt", "nfs3.server.reqs"} {
			if res[n].Err == 0 || len(res[n].Values) != 0 {
				t.Errorf("%s: %s = %+v, want an error", tc.name, n, res[n])
			}
		}
		if v, ok := singleValue(t, res["rpc.client.rpccnt"]); !ok || v != 118 {
			t.Errorf("%s: rpc.client.rpccnt = %+v", tc.name, res["rpc.client.rpccnt"])
		}
		if r.SourceErrors()["nfs"] == 0 {
			t.Errorf("%s: not counted", tc.name)
		}
	}
	// Broken pool files fail only the thread metrics.
	for _, tc := range []struct{ threads, stats string }{{"x\n", ""}, {"8\n", "# header\n"}, {"8\n", "0 1 2\n"}} {
		dir := copyTree(t, fixtureDir)
		writeFile(t, filepath.Join(dir, "proc/fs/nfsd/pool_threads"), tc.threads)
		writeFile(t, filepath.Join(dir, "proc/fs/nfsd/pool_stats"), tc.stats)
		r := newFixtureRegistry(t, dir)
		res := fetchByName(t, r, "nfs.server.threads.requests", "rpc.server.rpccnt")
		if res["nfs.server.threads.requests"].Err == 0 || len(res["rpc.server.rpccnt"].Values) != 1 || r.SourceErrors()["nfs"] == 0 {
			t.Errorf("pool %q/%q: %+v", tc.threads, tc.stats, res)
		}
	}
	// No threads running: the count is 0, the pool figures have no value.
	dir := copyTree(t, fixtureDir)
	writeFile(t, filepath.Join(dir, "proc/fs/nfsd/pool_threads"), "0\n")
	r := newFixtureRegistry(t, dir)
	res := fetchByName(t, r, "nfs.server.threads.total", "nfs.server.threads.pools")
	if v, ok := singleValue(t, res["nfs.server.threads.total"]); !ok || v != 0 || len(res["nfs.server.threads.pools"].Values) != 0 {
		t.Errorf("no threads: %+v", res)
	}
}
