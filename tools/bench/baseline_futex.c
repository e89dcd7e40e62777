/*
 * The floors for latency between two processes on this machine:
 *
 *   futex-pingpong  two processes take turns on one shared futex word, each
 *                   waking the other with FUTEX_WAKE and sleeping in
 *                   FUTEX_WAIT; one-way = round trip / 2. The floor for a
 *                   woken consumer, as the issue defines it.
 *   spin-pingpong   the same turns, but both spin on the word: the floor for
 *                   a spinning consumer (one cache-line transfer each way).
 *   futex-wake      one-way wake-up measured directly (shared clock): the
 *                   sender sleeps `--gap` between messages, stamps the time
 *                   and wakes the receiver, asleep in FUTEX_WAIT all along.
 *                   The same pattern as ringbuf's sleeping-consumer point,
 *                   so its CPU has gone idle too: on a VM that is a deeper,
 *                   slower wake-up than in a tight ping-pong.
 */
#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

enum fx_kind { FX_FUTEX_PINGPONG, FX_SPIN_PINGPONG, FX_FUTEX_WAKE };

struct fx_shared {
	struct bench_gate gate;
	_Alignas(128) uint32_t word;
	_Alignas(128) uint64_t stamp;
	_Alignas(128) uint32_t ack; /* futex-wake: messages the receiver took */
	_Alignas(128) uint64_t samples[];
};

struct fx_ctx {
	struct fx_shared *sh;
	enum fx_kind kind;
	uint64_t warmup;
	uint64_t count;
	uint64_t gap_ns;
};

static uint32_t
fx_load(uint32_t *w)
{
	return atomic_load_explicit((_Atomic uint32_t *)w, memory_order_acquire);
}

static void
fx_store(uint32_t *w, uint32_t v)
{
	atomic_store_explicit((_Atomic uint32_t *)w, v, memory_order_release);
}

/* Waits until *w == want; the word holds `before` until then. */
static void
fx_await(const struct fx_ctx *x, uint32_t *w, uint32_t before, uint32_t want)
{
	while (fx_load(w) != want) {
		if (x->kind == FX_SPIN_PINGPONG)
			__builtin_ia32_pause();
		else
			bench_futex_wait(w, before, 100000000ull);
	}
}

static int
fx_pinger(void *arg)
{
	struct fx_ctx *x = arg;
	struct fx_shared *sh = x->sh;
	uint64_t i, total = x->warmup + x->count;

	bench_gate_arrive(&sh->gate);
	for (i = 0; i < total; i++) {
		uint32_t v = (uint32_t)(2 * i);
		uint64_t t0 = bench_now_ns();

		/* The spinning ping-pong keeps ringbuf's spinning gap between
		 * round trips, so that both are exposed to the host's stalls
		 * for as long and their tails compare. */
		if (x->kind == FX_SPIN_PINGPONG && i > 0) {
			while (bench_now_ns() - t0 < x->gap_ns)
				;
			t0 = bench_now_ns();
		}
		fx_store(&sh->word, v + 1);
		if (x->kind == FX_FUTEX_PINGPONG)
			bench_futex_wake(&sh->word);
		fx_await(x, &sh->word, v + 1, v + 2);
		if (i >= x->warmup)
			sh->samples[i - x->warmup] = (bench_now_ns() - t0) / 2;
	}
	return 0;
}

static int
fx_ponger(void *arg)
{
	struct fx_ctx *x = arg;
	struct fx_shared *sh = x->sh;
	uint64_t i, total = x->warmup + x->count;

	bench_gate_arrive(&sh->gate);
	for (i = 0; i < total; i++) {
		uint32_t v = (uint32_t)(2 * i);

		fx_await(x, &sh->word, v, v + 1);
		fx_store(&sh->word, v + 2);
		if (x->kind == FX_FUTEX_PINGPONG)
			bench_futex_wake(&sh->word);
	}
	return 0;
}

static int
fx_sender(void *arg)
{
	struct fx_ctx *x = arg;
	struct fx_shared *sh = x->sh;
	uint64_t i, total = x->warmup + x->count, start;

	bench_gate_arrive(&sh->gate);
	start = bench_now_ns();
	for (i = 0; i < total; i++) {
		uint64_t due = start + (i + 1) * x->gap_ns;
		struct timespec ts = {
			.tv_sec = (time_t)(due / 1000000000ull),
			.tv_nsec = (long)(due % 1000000000ull),
		};

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		/* Never overtake a late receiver: it would wait for a value
		 * that has already gone by. */
		while (fx_load(&sh->ack) != (uint32_t)i)
			bench_futex_wait(&sh->ack, (uint32_t)i - 1, 1000000ull);
		atomic_store_explicit((_Atomic uint64_t *)&sh->stamp, bench_now_ns(),
				      memory_order_relaxed);
		fx_store(&sh->word, (uint32_t)(i + 1));
		bench_futex_wake(&sh->word);
	}
	return 0;
}

static int
fx_receiver(void *arg)
{
	struct fx_ctx *x = arg;
	struct fx_shared *sh = x->sh;
	uint64_t i, total = x->warmup + x->count;

	bench_gate_arrive(&sh->gate);
	for (i = 0; i < total; i++) {
		uint64_t now;

		fx_await(x, &sh->word, (uint32_t)i, (uint32_t)(i + 1));
		now = bench_now_ns();
		if (i >= x->warmup)
			sh->samples[i - x->warmup] =
				now - atomic_load_explicit((_Atomic uint64_t *)&sh->stamp,
							   memory_order_relaxed);
		fx_store(&sh->ack, (uint32_t)(i + 1));
	}
	return 0;
}

static int
fx_point(const struct bench_options *o, enum fx_kind kind, uint64_t count,
	 uint64_t gap_ns)
{
	static const char *const names[] = {"futex-pingpong", "spin-pingpong", "futex-wake"};
	struct bench_result *r;
	struct fx_ctx x;
	size_t bytes = sizeof(struct fx_shared) + count * sizeof(uint64_t);
	int rc;

	r = bench_result_add("baselines", names[kind],
			     kind == FX_SPIN_PINGPONG ? "spin" : "sleep");
	if (r == NULL)
		return -ENOMEM;
	bench_progress("baseline %s (%llu samples)", names[kind], (unsigned long long)count);
	bench_calm_before(o, r);
	memset(&x, 0, sizeof(x));
	x.kind = kind;
	x.count = count;
	x.warmup = count / 100 + 10;
	x.gap_ns = gap_ns;
	x.sh = bench_shared_alloc(bytes);
	if (x.sh == NULL)
		return -ENOMEM;
	/* Pinger/sender on the producer's CPU, ponger/receiver on the
	 * consumer's, as in the ringbuf latency points. */
	if ((rc = (int)bench_spawn(kind == FX_FUTEX_WAKE ? fx_receiver : fx_ponger, &x,
				   bench_cpu_for(o, 1))) < 0 ||
	    (rc = (int)bench_spawn(kind == FX_FUTEX_WAKE ? fx_sender : fx_pinger, &x,
				   bench_cpu_for(o, 0))) < 0) {
		bench_kill_all();
		goto out;
	}
	if ((rc = bench_gate_wait_ready(&x.sh->gate, 2)) != 0) {
		bench_kill_all();
		goto out;
	}
	bench_gate_open(&x.sh->gate);
	rc = bench_wait_all((count + x.warmup) * (x.gap_ns + 1000000ull) + 60ull * 1000000000ull,
			    NULL, NULL);
	if (rc != 0)
		goto out;
	if (bench_result_samples(r, x.sh->samples, count) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	r->frame_bytes = 0;
	r->gap_ns = kind == FX_FUTEX_PINGPONG ? 0 : gap_ns;
	snprintf(r->note, sizeof(r->note), "%s",
		 kind == FX_FUTEX_WAKE ? "one-way, measured" : "one-way = round trip / 2");
out:
	if (rc != 0) {
		r->failed = true;
		snprintf(r->note, sizeof(r->note), "%s", strerror(-rc));
	}
	bench_shared_free(x.sh, bytes);
	return rc;
}

int
bench_baseline_futex(const struct bench_options *o)
{
	int rc, failed = 0;

	/* A futex round trip is ~30 us here: half the spinning count keeps the
	 * point short and still >= 10,000 samples by default. */
	rc = fx_point(o, FX_FUTEX_PINGPONG, bench_per_round(o, o->spin_samples / 2), 0);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = fx_point(o, FX_SPIN_PINGPONG, bench_per_round(o, o->spin_samples),
		      BENCH_SPIN_GAP_NS);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = fx_point(o, FX_FUTEX_WAKE, bench_per_round(o, o->sleep_samples), o->sleep_gap_ns);
	if (bench_fold(rc, &failed))
		return -EINTR;
	if (o->sleep_gap_ns != BENCH_SHORT_GAP_NS) {
		rc = fx_point(o, FX_FUTEX_WAKE, bench_per_round(o, o->sleep_samples),
			      BENCH_SHORT_GAP_NS);
		if (bench_fold(rc, &failed))
			return -EINTR;
	}
	return failed ? -ECHILD : 0;
}
