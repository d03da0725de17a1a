/*
 * fetchbench - load a PCP collector through the real libpcp client.
 *
 * gopcp's collectord and the real pmcd are measured with this one client in the same
 * run, so the difference between the figures is the servers' and not the clients'.
 *
 * Build:  cc -O2 -o fetchbench bench/fetchbench.c -lpcp     (Debian: libpcp3-dev)
 * Run:    fetchbench [-h HOST[:PORT]] [-n ITERS] [-c CLIENTS] [-s 1|10|30|all] [-C] [NAME...]
 *
 *   -h  the collector (default local:)
 *   -n  fetches per client (default 1000)
 *   -c  clients, each a process with its own connection, started together (default 1)
 *   -s  the metric set: 1, 10 or 30 metrics, or all three in turn (default all; with -C,
 *       default 1)
 *   -C  measure connection set-up: per iteration open a context, look the set's names
 *       up, fetch once and close
 *   NAME...  fetch these metrics (at most MAX_NAMES) as the one set, labelled "args",
 *       instead of a built-in set (scripts/bench-proc.sh passes the per-process set)
 *
 * Secure connections are libpcp's own business: PCP_SECURE_SOCKETS=enforce and
 * PCP_TLSCONF_PATH as for every PCP tool.
 *
 * Output is one line per measurement of key=value fields (times in microseconds), for
 * scripts/bench.sh to pick apart. Exit status 0; 1 when a connection, lookup or fetch
 * failed (the reason goes to stderr); 2 for bad arguments.
 */
#include <pcp/pmapi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The three sets: a single cheap metric, a typical dashboard, a broad one. */
static const char *const names_1[] = {"kernel.all.load"};
static const char *const names_10[] = {
	"kernel.all.cpu.user", "kernel.all.cpu.sys", "kernel.all.cpu.idle",
	"kernel.all.pswitch", "kernel.all.intr", "mem.util.free", "mem.util.used",
	"mem.util.cached", "kernel.all.load", "kernel.all.nprocs",
};
static const char *const names_30[] = {
	"kernel.percpu.cpu.user", "kernel.percpu.cpu.sys", "kernel.percpu.cpu.idle",
	"network.interface.in.bytes", "network.interface.out.bytes",
	"network.interface.in.packets", "network.interface.out.packets",
	"disk.dev.read", "disk.dev.write", "disk.dev.read_bytes", "disk.dev.write_bytes",
	"mem.util.free", "mem.util.used", "mem.util.cached", "mem.util.bufmem",
	"kernel.all.load", "kernel.all.pswitch", "kernel.all.intr", "kernel.all.nprocs",
	"swap.used", "filesys.free", "filesys.used", "kernel.all.cpu.nice",
	"kernel.all.cpu.steal", "mem.util.available", "mem.util.slab",
	"kernel.all.running", "kernel.all.blocked", "kernel.all.uptime", "hinv.ncpu",
};

struct metric_set {
	const char *label;
	const char *const *names;
	int count;
};

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define MAX_NAMES 64 /* the pmids[] arrays below */
static const struct metric_set sets[] = {
	{"1", names_1, COUNT(names_1)},
	{"10", names_10, COUNT(names_10)},
	{"30", names_30, COUNT(names_30)},
};

struct options {
	const char *host;
	int iters;
	int clients;
	const char *set; /* "1", "10", "30" or "all" */
	int connects;
};

static double clock_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* percentile of a sorted array, p in [0, 1) */
static double percentile(const double *sorted, int n, double p)
{
	int i = (int)(n * p);
	return sorted[i < n ? i : n - 1];
}

static int fail(const char *what, const char *detail, int sts)
{
	fprintf(stderr, "fetchbench: %s%s%s: %s\n", what, detail ? " " : "", detail ? detail : "",
		pmErrStr(sts));
	return -1;
}

/* open a context on host and resolve the set's names into pmids */
static int open_and_lookup(const char *host, const struct metric_set *s, pmID *pmids)
{
	int ctx = pmNewContext(PM_CONTEXT_HOST, host);
	if (ctx < 0)
		return fail("pmNewContext", host, ctx);
	int sts = pmLookupName(s->count, (const char **)s->names, pmids);
	if (sts < 0) {
		pmDestroyContext(ctx);
		return fail("pmLookupName", NULL, sts);
	}
	for (int i = 0; i < s->count; i++) {
		if (pmids[i] == PM_ID_NULL) {
			pmDestroyContext(ctx);
			fprintf(stderr, "fetchbench: no metric named %s\n", s->names[i]);
			return -1;
		}
	}
	return ctx;
}

/* one client's fetch loop; prints its latency line when report is set */
static int fetch_loop(const struct options *o, const struct metric_set *s, int report)
{
	pmID pmids[MAX_NAMES];
	pmResult *res;
	int ctx = open_and_lookup(o->host, s, pmids);
	if (ctx < 0)
		return -1;

	/* one fetch outside the measurement: it counts the values and warms both sides */
	int sts = pmFetch(s->count, pmids, &res);
	if (sts < 0)
		return fail("pmFetch", NULL, sts);
	int nvalues = 0;
	for (int i = 0; i < res->numpmid; i++)
		nvalues += res->vset[i]->numval > 0 ? res->vset[i]->numval : 0;
	pmFreeResult(res);

	double *lat = malloc(sizeof(double) * o->iters);
	if (lat == NULL) {
		fprintf(stderr, "fetchbench: out of memory\n");
		return -1;
	}
	double began = clock_us();
	for (int i = 0; i < o->iters; i++) {
		double t = clock_us();
		if ((sts = pmFetch(s->count, pmids, &res)) < 0) {
			free(lat);
			return fail("pmFetch", NULL, sts);
		}
		pmFreeResult(res);
		lat[i] = clock_us() - t;
	}
	double took = clock_us() - began;
	pmDestroyContext(ctx);

	if (report) {
		double sum = 0;
		for (int i = 0; i < o->iters; i++)
			sum += lat[i];
		qsort(lat, o->iters, sizeof(double), by_value);
		printf("set=%s metrics=%d values=%d iters=%d p50_us=%.1f p99_us=%.1f mean_us=%.1f fetches_per_s=%.0f\n",
		       s->label, s->count, nvalues, o->iters, percentile(lat, o->iters, 0.5),
		       percentile(lat, o->iters, 0.99), sum / o->iters, o->iters / (took / 1e6));
	}
	free(lat);
	return 0;
}

/* many clients at once, each a process (libpcp contexts are per process state) */
static int many_clients(const struct options *o, const struct metric_set *s)
{
	double began = clock_us();
	for (int c = 0; c < o->clients; c++) {
		pid_t pid = fork();
		if (pid < 0) {
			perror("fetchbench: fork");
			return -1;
		}
		if (pid == 0)
			_exit(fetch_loop(o, s, 0) == 0 ? 0 : 1);
	}
	int failed = 0, status;
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed++;
	double took = clock_us() - began;
	double fetches = (double)(o->clients - failed) * o->iters;
	printf("set=%s metrics=%d clients=%d iters_each=%d failed_clients=%d total_fetches_per_s=%.0f\n",
	       s->label, s->count, o->clients, o->iters, failed, fetches / (took / 1e6));
	return failed ? -1 : 0;
}

/* connection set-up: new context, lookup, one fetch, close, per iteration */
static int connect_loop(const struct options *o, const struct metric_set *s)
{
	pmID pmids[MAX_NAMES];
	pmResult *res;
	double *lat = malloc(sizeof(double) * o->iters);
	if (lat == NULL) {
		fprintf(stderr, "fetchbench: out of memory\n");
		return -1;
	}
	for (int i = 0; i < o->iters; i++) {
		double t = clock_us();
		int ctx = open_and_lookup(o->host, s, pmids);
		if (ctx < 0) {
			free(lat);
			return -1;
		}
		int sts = pmFetch(s->count, pmids, &res);
		if (sts < 0) {
			free(lat);
			return fail("pmFetch", NULL, sts);
		}
		pmFreeResult(res);
		pmDestroyContext(ctx);
		lat[i] = clock_us() - t;
	}
	qsort(lat, o->iters, sizeof(double), by_value);
	printf("connect+lookup+fetch iters=%d p50_us=%.1f p99_us=%.1f\n", o->iters,
	       percentile(lat, o->iters, 0.5), percentile(lat, o->iters, 0.99));
	free(lat);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: fetchbench [-h HOST[:PORT]] [-n ITERS] [-c CLIENTS] [-s 1|10|30|all] [-C] [NAME...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	struct options o = {.host = "local:", .iters = 1000, .clients = 1, .set = NULL};
	int opt;
	while ((opt = getopt(argc, argv, "h:n:c:s:C")) != -1) {
		switch (opt) {
		case 'h': o.host = optarg; break;
		case 'n': o.iters = atoi(optarg); break;
		case 'c': o.clients = atoi(optarg); break;
		case 's': o.set = optarg; break;
		case 'C': o.connects = 1; break;
		default: return usage();
		}
	}
	if (argc - optind > MAX_NAMES || o.iters < 1 || o.clients < 1 || o.clients > 1000)
		return usage();
	if (optind < argc) {
		/* names on the command line: they are the one set measured */
		const struct metric_set args = {"args", (const char *const *)&argv[optind], argc - optind};
		int r;
		if (o.set != NULL)
			return usage();
		if (o.connects)
			r = connect_loop(&o, &args);
		else if (o.clients > 1)
			r = many_clients(&o, &args);
		else
			r = fetch_loop(&o, &args, 1);
		fflush(stdout);
		return r < 0 ? 1 : 0;
	}
	if (o.set == NULL)
		o.set = o.connects ? "1" : "all";

	int matched = 0, rc = 0;
	for (int i = 0; i < COUNT(sets); i++) {
		const struct metric_set *s = &sets[i];
		if (strcmp(o.set, "all") != 0 && strcmp(o.set, s->label) != 0)
			continue;
		matched++;
		int r;
		if (o.connects)
			r = connect_loop(&o, s);
		else if (o.clients > 1)
			r = many_clients(&o, s);
		else
			r = fetch_loop(&o, s, 1);
		if (r < 0)
			rc = 1;
		fflush(stdout);
	}
	if (matched == 0)
		return usage();
	return rc;
}
