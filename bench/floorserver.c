/*
 * floorserver - a PCP server that does no work at all, in C: the floor under any
 * collector's CPU per operation on this machine, without a language runtime.
 *
 * scripts/bench.sh measures it beside the Go floors (internal/cmd/floorserver,
 * -loop goroutine and -loop raw) and the real collectors. It answers exactly what
 * the Go floor package answers, byte for byte (its tests build this file and
 * compare):
 *   - on accept: the 20-byte greeting of a pmcd with no error;
 *   - CREDS and PROFILE: nothing;
 *   - PMNS_NAMES with N names: PMNS_IDS with status N and the PMIDs 60<<22 + i,
 *     i = 0..N-1 (domain 60, counting up), whatever the names;
 *   - FETCH or HIGHRES_FETCH of N PMIDs: RESULT or HIGHRES_RESULT, timestamp
 *     zero, for each PMID asked one insitu value 1 of instance PM_IN_NULL;
 *   - anything else, or counts that do not fit the PDU's length: ERROR PM_ERR_IPC.
 * A length word below the 12-byte header or above MAX_PDU, a read error or EOF,
 * and a reply write that does not complete at once (no output queue) close the
 * connection.
 *
 * Shape: one thread, one level-triggered epoll set, accept4 with non-blocking
 * sockets, TCP_NODELAY, one read per readiness event, the replies to everything
 * that read completed in one write. A PDU split across reads is kept per
 * connection (allocated only then).
 *
 * Build:  cc -O2 -o floorserver bench/floorserver.c
 * Run:    floorserver [-p PORT]     (127.0.0.1 only; -p 0 takes a free port and
 *                                    prints "port N" on stdout)
 * Exit status 2 for bad arguments, 1 when the server cannot start or its loop fails.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PDU (64 * 1024) /* the largest PDU taken; the Go floor's MaxPDU */
#define HEADER 12           /* length, type, from: three 32-bit words */

/* PDU types and codes, as PCP numbers them. */
#define PDU_ERROR 0x7000
#define PDU_RESULT 0x7001
#define PDU_PROFILE 0x7002
#define PDU_FETCH 0x7003
#define PDU_CREDS 0x700c
#define PDU_PMNS_IDS 0x700d
#define PDU_PMNS_NAMES 0x700e
#define PDU_HIGHRES_FETCH 0x7014
#define PDU_HIGHRES_RESULT 0x7015
#define PM_ERR_IPC (-12366)
#define PM_IN_NULL 0xffffffffu
#define PMID_BASE (60u << 22) /* domain 60 in a PMID's top nine bits */
/* The greeting's datum: PDU version 2, licence byte 1, features HIGHRES (0x400),
 * DESCS (0x800) and LABELS (0x200). */
#define GREETING_DATUM (2u << 24 | 1u << 16 | 0x0e00u)

/* A connection: its socket and the start of a PDU still arriving (NULL nearly
 * always). Its address is the epoll event's data. */
struct conn {
	int fd;
	unsigned char *pend;
	size_t npend;
};

/* One read's input: a carried-over partial PDU (< MAX_PDU) then up to MAX_PDU
 * read. One read's replies: at most 5 bytes per input byte (a 4-byte PMID asked
 * becomes a 20-byte value set) plus a header's difference. */
static unsigned char in[2 * MAX_PDU];
static unsigned char out[10 * MAX_PDU + 64];

static uint32_t get32(const unsigned char *p)
{
	uint32_t w;
	memcpy(&w, p, 4);
	return ntohl(w);
}

/* put appends one big-endian word at *o. */
static void put(unsigned char **o, uint32_t w)
{
	w = htonl(w);
	memcpy(*o, &w, 4);
	*o += 4;
}

static void greeting(unsigned char **o)
{
	put(o, 20);             /* length */
	put(o, PDU_ERROR);      /* type: the greeting is an extended ERROR */
	put(o, 0);              /* from */
	put(o, 0);              /* code: no error */
	put(o, GREETING_DATUM); /* version, licence, features */
}

/* reply appends the reply to the complete PDU p of length len. */
static void reply(unsigned char **o, const unsigned char *p, uint32_t len)
{
	uint32_t type = get32(p + 4), n, i;
	const unsigned char *body = p + HEADER;
	uint32_t blen = len - HEADER;

	switch (type) {
	case PDU_CREDS:
	case PDU_PROFILE:
		return;
	case PDU_PMNS_NAMES:
		/* nstrbytes, nstatus, numnames, names: each name takes at least its
		 * length word, which bounds N without reading the names. */
		if (blen < 12)
			break;
		n = get32(body + 8);
		if ((int32_t)n < 1 || n > (blen - 12) / 4)
			break;
		put(o, 20 + 4 * n); /* length */
		put(o, PDU_PMNS_IDS);
		put(o, 0); /* from */
		put(o, n); /* status: names found */
		put(o, n); /* numids */
		for (i = 0; i < n; i++)
			put(o, PMID_BASE + i);
		return;
	case PDU_FETCH:
	case PDU_HIGHRES_FETCH:
		/* context, a 64-bit time, numpmid, then exactly numpmid PMIDs. */
		if (blen < 16)
			break;
		n = get32(body + 12);
		if ((int32_t)n < 1 || n != (blen - 16) / 4 || blen % 4 != 0)
			break;
		if (type == PDU_FETCH) {
			put(o, 24 + 20 * n);
			put(o, PDU_RESULT);
			put(o, 0); /* from */
			put(o, 0); /* seconds */
			put(o, 0); /* microseconds */
			put(o, n); /* numpmid */
		} else {
			put(o, 32 + 20 * n);
			put(o, PDU_HIGHRES_RESULT);
			put(o, 0); /* from */
			put(o, n); /* numpmid */
			put(o, 0); /* seconds, 64 bits */
			put(o, 0);
			put(o, 0); /* nanoseconds, 64 bits */
			put(o, 0);
		}
		for (i = 0; i < n; i++) {
			put(o, get32(body + 16 + 4 * i)); /* the PMID asked */
			put(o, 1);                        /* numval */
			put(o, 0);                        /* valfmt: insitu */
			put(o, PM_IN_NULL);               /* instance */
			put(o, 1);                        /* value */
		}
		return;
	}
	put(o, 16); /* ERROR PM_ERR_IPC */
	put(o, PDU_ERROR);
	put(o, 0);
	put(o, (uint32_t)PM_ERR_IPC);
}

/* write_all is one write that must take all of b (no output queue). */
static int write_all(int fd, const unsigned char *b, size_t n)
{
	return write(fd, b, n) == (ssize_t)n;
}

static void drop(struct conn *c)
{
	close(c->fd); /* also leaves the epoll set */
	free(c->pend);
	free(c);
}

static void accept_one(int ep, int lfd)
{
	static const int one = 1;
	unsigned char g[20], *o = g;
	struct epoll_event ev = {.events = EPOLLIN};
	struct conn *c;
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED)
			return;
		/* EMFILE and the like: level-triggered, the loop would spin on it. */
		perror("floorserver: accept4 (at the open file limit? ulimit -n)");
		exit(1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	greeting(&o);
	c = calloc(1, sizeof *c);
	if (c == NULL || !write_all(fd, g, sizeof g)) {
		free(c);
		close(fd);
		return;
	}
	c->fd = fd;
	ev.data.ptr = c;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		drop(c);
}

static void readable(struct conn *c)
{
	size_t p = c->npend, used = 0, have;
	unsigned char *o = out;
	ssize_t n;

	memcpy(in, c->pend, p);
	n = read(c->fd, in + p, MAX_PDU);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		drop(c);
		return;
	}
	have = p + (size_t)n;
	while (have - used >= 4) {
		uint32_t len = get32(in + used);
		if (len < HEADER || len > MAX_PDU) {
			if (o > out)
				(void)write_all(c->fd, out, (size_t)(o - out));
			drop(c);
			return;
		}
		if (have - used < len)
			break;
		reply(&o, in + used, len);
		used += len;
	}
	if (o > out && !write_all(c->fd, out, (size_t)(o - out))) {
		drop(c);
		return;
	}
	free(c->pend);
	c->pend = NULL;
	c->npend = have - used;
	if (c->npend > 0) {
		c->pend = malloc(c->npend);
		if (c->pend == NULL) {
			drop(c);
			return;
		}
		memcpy(c->pend, in + used, c->npend);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof a;
	struct epoll_event ev = {.events = EPOLLIN}, evs[64];
	int port = 44799, one = 1, lfd, ep;
	char *end;

	if (argc == 3 && strcmp(argv[1], "-p") == 0) {
		long v = strtol(argv[2], &end, 10);
		if (*argv[2] == '\0' || *end != '\0' || v < 0 || v > 65535) {
			fprintf(stderr, "usage: floorserver [-p 0..65535]\n");
			return 2;
		}
		port = (int)v;
	} else if (argc != 1) {
		fprintf(stderr, "usage: floorserver [-p 0..65535]\n");
		return 2;
	}
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		perror("floorserver: socket");
		return 1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* The kernel caps the backlog at net.core.somaxconn, as for the Go floors. */
	if (bind(lfd, (struct sockaddr *)&a, sizeof a) < 0 || listen(lfd, 4096) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) < 0) {
		fprintf(stderr, "floorserver: listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
		return 1;
	}
	if (port == 0) {
		printf("port %d\n", ntohs(a.sin_port));
		fflush(stdout);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.ptr = NULL; /* the listener: the one event without a struct conn */
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
		perror("floorserver: epoll");
		return 1;
	}
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("floorserver: epoll_wait");
			return 1;
		}
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL)
				accept_one(ep, lfd);
			else
				readable(evs[i].data.ptr);
		}
	}
}
