/*
 * Waiting for a calm machine before each point.
 *
 * On this shared VM the noise comes in spells: for seconds at a time the
 * host takes most of a vCPU (or the memory bandwidth) away, and everything
 * measured then runs up to 30 times slower. A ratio between a point taken
 * in such a spell and one taken outside it means nothing. So before each
 * point, every CPU runs a short probe (a few milliseconds of the touch
 * fill over a buffer that fits the L3 but not the L2); if the slowest CPU
 * is much slower than the best probe seen so far, the bench waits and
 * probes again, up to --calm-wait per point and a minute per run. Points
 * taken while still slow are flagged in the note ("slow host"), not hidden.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define CALM_PROBE_BYTES (4u << 20)
#define CALM_PROBE_NS 4000000ull
#define CALM_RETRY_NS 100000000ull
/* A probe below this share of the best one means a slow spell. */
#define CALM_THRESHOLD 0.6
#define CALM_MAX_CPUS 64
/* All the waiting of one run together: a host that stays slow for minutes
 * must not turn a 3-minute run into a 30-minute one. */
#define CALM_BUDGET_NS (60ull * 1000000000ull)

struct calm_probe {
	pthread_t thread;
	int cpu;
	uint8_t *buf;
	double bytes_per_s;
};

static double calm_best;
static uint64_t calm_spent;

static void *
calm_run(void *arg)
{
	struct calm_probe *p = arg;
	uint64_t t0, t, bytes = 0, pass = 0;

	(void)bench_pin(p->cpu);
	t0 = bench_now_ns();
	do {
		bench_fill(p->buf, CALM_PROBE_BYTES, pass++);
		bytes += CALM_PROBE_BYTES;
		t = bench_now_ns();
	} while (t - t0 < CALM_PROBE_NS);
	p->bytes_per_s = (double)bytes * 1e9 / (double)(t - t0);
	return NULL;
}

/* The slowest CPU's fill rate right now, or 0 if the probe failed. */
static double
calm_probe_once(void)
{
	struct calm_probe probes[CALM_MAX_CPUS];
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	double slowest = 0;
	long i, started = 0;

	if (n < 1)
		return 0;
	if (n > CALM_MAX_CPUS)
		n = CALM_MAX_CPUS;
	memset(probes, 0, sizeof(probes));
	for (i = 0; i < n; i++) {
		probes[i].cpu = (int)i;
		probes[i].buf = malloc(CALM_PROBE_BYTES);
		if (probes[i].buf == NULL)
			break;
		/* First touch outside the timed loop. */
		memset(probes[i].buf, 0, CALM_PROBE_BYTES);
		if (pthread_create(&probes[i].thread, NULL, calm_run, &probes[i]) != 0) {
			free(probes[i].buf);
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(probes[i].thread, NULL);
		free(probes[i].buf);
		if (i == 0 || probes[i].bytes_per_s < slowest)
			slowest = probes[i].bytes_per_s;
	}
	return started == n ? slowest : 0;
}

bool
bench_wait_calm(const struct bench_options *o)
{
	uint64_t start = bench_now_ns(), deadline = start + o->calm_ns;
	bool calm = false;

	if (o->calm_ns == 0)
		return true;
	for (;;) {
		double v = calm_probe_once();
		struct timespec ts = {
			.tv_sec = 0,
			.tv_nsec = (long)CALM_RETRY_NS,
		};

		if (v > calm_best)
			calm_best = v;
		if (v >= CALM_THRESHOLD * calm_best) {
			calm = true;
			break;
		}
		if (cli_stop || bench_now_ns() >= deadline ||
		    calm_spent + (bench_now_ns() - start) >= CALM_BUDGET_NS)
			break;
		(void)nanosleep(&ts, NULL);
	}
	calm_spent += bench_now_ns() - start;
	return calm;
}

void
bench_calm_before(const struct bench_options *o, struct bench_result *r)
{
	if (!bench_wait_calm(o))
		r->slow_host = true;
}
