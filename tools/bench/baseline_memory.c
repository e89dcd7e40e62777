/*
 * Memory bandwidth of one thread on this machine: memcpy, write (the touch
 * fill) and read (the touch checksum), over a buffer far larger than the
 * last-level cache (DRAM) and over one that fits in L2 (cache). These are
 * the ceilings for everything else: a ring cannot move frames faster than
 * a core can write them, and touch mode writes and reads each byte once.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

enum mem_op { MEM_MEMCPY, MEM_WRITE, MEM_READ };

static const char *const mem_op_name[] = {"memcpy", "write", "read"};

/* Keeps the checksum alive so that the compiler cannot drop the reads. */
static volatile uint64_t mem_sink;

static int
mem_point(const struct bench_options *o, uint64_t bytes, enum mem_op op,
	  uint64_t time_ns, const char *where)
{
	struct bench_result *r;
	uint8_t *a, *b;
	uint64_t t0, t1, passes = 0, half = bytes / 2;
	char sz[32];

	r = bench_result_add("baselines", "memory", mem_op_name[op]);
	if (r == NULL)
		return -ENOMEM;
	bench_format_size(sz, sizeof(sz), bytes);
	bench_progress("baseline memory %s %s", mem_op_name[op], sz);
	bench_calm_before(o, r);
	snprintf(r->note, sizeof(r->note), "%s buffer", where);
	a = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (a == MAP_FAILED) {
		r->failed = true;
		snprintf(r->note, sizeof(r->note), "mmap %s: %s", sz, strerror(errno));
		return -ENOMEM;
	}
	memset(a, 1, bytes);
	b = a + half;
	/* One pass untimed, so that the first-touch costs are out. */
	t0 = bench_now_ns();
	for (t1 = t0; passes == 0 || t1 - t0 < time_ns; passes++) {
		switch (op) {
		case MEM_MEMCPY:
			memcpy(b, a, half); /* half the buffer to the other half */
			break;
		case MEM_WRITE:
			bench_fill(a, bytes, passes);
			break;
		case MEM_READ:
			mem_sink += bench_sum(a, bytes);
			break;
		}
		t1 = bench_now_ns();
		if (passes == 0)
			t0 = t1;
	}
	passes--;
	r->frame_bytes = bytes;
	r->seconds = (double)(t1 - t0) / 1e9;
	/* memcpy: bytes copied (each read once and written once). */
	r->bytes_per_s = (double)passes * (double)(op == MEM_MEMCPY ? half : bytes) / r->seconds;
	r->verified = 0;
	munmap(a, bytes);
	return 0;
}

int
bench_baseline_memory(const struct bench_options *o)
{
	/* 256 MiB is 8 times the 32 MiB L3; 1 MiB is half of a 2 MiB L2. */
	uint64_t dram = o->quick ? (64ull << 20) : (256ull << 20);
	uint64_t cache = 1ull << 20;
	uint64_t t = o->quick ? 50000000ull : 300000000ull;
	int op, rc;

	for (op = MEM_MEMCPY; op <= MEM_READ; op++) {
		if ((rc = mem_point(o, dram, (enum mem_op)op, t, "DRAM")) != 0)
			return rc;
		if ((rc = mem_point(o, cache, (enum mem_op)op, t, "in-cache")) != 0)
			return rc;
		if (cli_stop)
			return -EINTR;
	}
	return 0;
}
