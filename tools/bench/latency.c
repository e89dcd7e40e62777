/*
 * ringbuf latency: from the producer's commit to the consumer's acquire,
 * across processes. The producer stamps CLOCK_MONOTONIC into the frame's
 * descriptor just before rb_producer_commit; the consumer reads the clock
 * as soon as rb_consumer_acquire returns. One machine, one clock: the
 * difference is the one-way latency, with no round trip to halve.
 *
 * The producer sends one frame at a time with a gap, so that the ring is
 * empty when each frame arrives (no queueing in the figure):
 *
 *   spin   the consumer spins (spin_ns of 1 s, far longer than the gap of
 *          20 us, so it never sleeps): the library's own busy-wait path.
 *   poll   the consumer polls rb_consumer_acquire with RB_NO_WAIT.
 *   sleep  default consumer options (spin 5 us, then the futex) and a gap
 *          of --gap (1 ms): the consumer is asleep when each frame comes.
 *          Again with a gap of 100 us (BENCH_SHORT_GAP_NS, see bench.h).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

#define LAT_FRAME_BYTES 64
#define LAT_SLOTS 256
#define LAT_WAIT_NS (10ull * 1000000000ull)

enum lat_mode { LAT_SPIN, LAT_POLL, LAT_SLEEP };

struct lat_shared {
	struct bench_gate gate;
	int32_t rc;
	char what[44];
	uint64_t wakeups;
	_Alignas(64) uint64_t samples[];
};

struct lat_ctx {
	struct lat_shared *sh;
	const char *name;
	enum lat_mode mode;
	uint64_t warmup;
	uint64_t count;
	uint64_t gap_ns;
};

static int
lat_fail(struct lat_shared *sh, const char *what, int rc)
{
	sh->rc = rc;
	snprintf(sh->what, sizeof(sh->what), "%s", what);
	return 1;
}

static void
lat_sleep_until(uint64_t due)
{
	struct timespec ts = {
		.tv_sec = (time_t)(due / 1000000000ull),
		.tv_nsec = (long)(due % 1000000000ull),
	};

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static int
lat_producer(void *arg)
{
	struct lat_ctx *x = arg;
	struct rb_producer *p;
	struct rb_ring *ring;
	uint64_t i, due, total = x->warmup + x->count;
	int rc;

	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return lat_fail(x->sh, "rb_ring_open", rc);
	if ((rc = rb_producer_attach(ring, NULL, &p)) != 0)
		return lat_fail(x->sh, "rb_producer_attach", rc);
	if ((rc = rb_producer_begin_stream(p, "source=rb-bench\n")) != 0)
		return lat_fail(x->sh, "rb_producer_begin_stream", rc);
	bench_gate_arrive(&x->sh->gate);
	due = bench_now_ns();
	for (i = 0; i < total; i++) {
		struct rb_frame f;
		uint64_t now;

		/* One frame per gap; after a stall, no burst to catch up (it
		 * would queue frames and measure the queue, not the wake-up). */
		due += x->gap_ns;
		now = bench_now_ns();
		if (now > due)
			due = now;

		if (x->mode == LAT_SLEEP) {
			lat_sleep_until(due);
		} else {
			/* Spin: a timer wake-up would add its own jitter to the
			 * gap, and this core has nothing else to do. */
			while (bench_now_ns() < due)
				;
		}
		if ((rc = rb_producer_acquire(p, &f, LAT_WAIT_NS)) != 0)
			return lat_fail(x->sh, "rb_producer_acquire", rc);
		f.length = LAT_FRAME_BYTES;
		f.timestamp_ns = bench_now_ns();
		if ((rc = rb_producer_commit(p, &f)) != 0)
			return lat_fail(x->sh, "rb_producer_commit", rc);
	}
	if ((rc = rb_producer_end_stream(p, LAT_WAIT_NS)) != 0)
		return lat_fail(x->sh, "rb_producer_end_stream", rc);
	(void)rb_producer_detach(p, 0);
	rb_ring_close(ring);
	return 0;
}

static int
lat_consumer(void *arg)
{
	struct lat_ctx *x = arg;
	struct rb_consumer_options co;
	struct rb_consumer_stats st;
	struct rb_consumer *c;
	struct rb_ring *ring;
	uint64_t i = 0, total = x->warmup + x->count;
	int rc;

	memset(&co, 0, sizeof(co));
	co.start = RB_START_OLDEST;
	co.label = "rb-bench latency";
	if (x->mode == LAT_SPIN)
		co.spin_ns = 1000000000ull; /* never reaches the futex */
	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return lat_fail(x->sh, "rb_ring_open", rc);
	if ((rc = rb_consumer_attach(ring, &co, &c)) != 0)
		return lat_fail(x->sh, "rb_consumer_attach", rc);
	bench_gate_arrive(&x->sh->gate);
	for (;;) {
		struct rb_frame f;
		uint64_t now;

		if (x->mode == LAT_POLL) {
			do
				rc = rb_consumer_acquire(c, &f, RB_NO_WAIT);
			while (rc == -EAGAIN);
		} else {
			rc = rb_consumer_acquire(c, &f, LAT_WAIT_NS);
		}
		now = bench_now_ns();
		if (rc == RB_E_EOS)
			break;
		if (rc != 0)
			return lat_fail(x->sh, "rb_consumer_acquire", rc);
		if (i >= x->warmup && i < total)
			x->sh->samples[i - x->warmup] = now - f.timestamp_ns;
		i++;
		if ((rc = rb_consumer_release(c, &f)) != 0)
			return lat_fail(x->sh, "rb_consumer_release", rc);
	}
	if (i != total)
		return lat_fail(x->sh, "frame count", -EBADMSG);
	rb_consumer_get_stats(c, &st);
	x->sh->wakeups = st.wakeups;
	(void)rb_consumer_detach(c);
	rb_ring_close(ring);
	return 0;
}

static int
lat_point(const struct bench_options *o, enum lat_mode mode, uint64_t count,
	  uint64_t gap_ns)
{
	static const char *const names[] = {"spin", "poll", "sleep"};
	struct bench_result *r;
	struct rb_ring_config cfg;
	struct rb_ring *ring;
	struct lat_ctx x;
	size_t bytes = sizeof(struct lat_shared) + count * sizeof(uint64_t);
	char name[64];
	int rc;

	r = bench_result_add("latency", "ringbuf", names[mode]);
	if (r == NULL)
		return -ENOMEM;
	bench_progress("latency ringbuf %s (%llu samples)", names[mode],
		       (unsigned long long)count);
	bench_calm_before(o, r);
	r->frame_bytes = LAT_FRAME_BYTES;
	r->slots = LAT_SLOTS;
	r->gap_ns = gap_ns;
	r->consumers = 1;
	snprintf(r->api, sizeof(r->api), "frame");
	memset(&x, 0, sizeof(x));
	x.mode = mode;
	x.count = count;
	x.warmup = count / 100 + 10;
	x.gap_ns = gap_ns;
	x.name = name;
	memset(&cfg, 0, sizeof(cfg));
	cfg.frame_bytes = LAT_FRAME_BYTES;
	cfg.slot_count = LAT_SLOTS;
	bench_ring_name(name, sizeof(name));
	if ((rc = rb_ring_create(name, &cfg, &ring)) != 0) {
		bench_ring_forget(name);
		r->failed = true;
		snprintf(r->note, sizeof(r->note), "rb_ring_create: %s", rb_strerror(rc));
		return rc;
	}
	rb_ring_close(ring);
	x.sh = bench_shared_alloc(bytes);
	if (x.sh == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if ((rc = (int)bench_spawn(lat_consumer, &x, bench_cpu_for(o, 1))) < 0 ||
	    (rc = (int)bench_spawn(lat_producer, &x, bench_cpu_for(o, 0))) < 0) {
		bench_kill_all();
		goto out;
	}
	if ((rc = bench_gate_wait_ready(&x.sh->gate, 2)) != 0) {
		bench_kill_all();
		goto out;
	}
	bench_gate_open(&x.sh->gate);
	rc = bench_wait_all((count + x.warmup) * (gap_ns + 1000000ull) + 60ull * 1000000000ull,
			    NULL, NULL);
	if (rc != 0)
		goto out;
	if (bench_result_samples(r, x.sh->samples, count) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	r->wakeups = x.sh->wakeups;
	r->verified = 1;
out:
	if (rc != 0) {
		r->failed = true;
		if (x.sh != NULL && x.sh->rc != 0)
			snprintf(r->note, sizeof(r->note), "%s: %s", x.sh->what,
				 rb_strerror(x.sh->rc));
		else
			snprintf(r->note, sizeof(r->note), "%s", rb_strerror(rc));
	}
	bench_shared_free(x.sh, bytes);
	(void)rb_ring_remove(name);
	bench_ring_forget(name);
	return rc;
}

int
bench_latency(const struct bench_options *o)
{
	int rc, failed = 0;

	rc = lat_point(o, LAT_SPIN, bench_per_round(o, o->spin_samples), BENCH_SPIN_GAP_NS);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = lat_point(o, LAT_POLL, bench_per_round(o, o->spin_samples), BENCH_SPIN_GAP_NS);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = lat_point(o, LAT_SLEEP, bench_per_round(o, o->sleep_samples), o->sleep_gap_ns);
	if (bench_fold(rc, &failed))
		return -EINTR;
	if (o->sleep_gap_ns != BENCH_SHORT_GAP_NS) {
		rc = lat_point(o, LAT_SLEEP, bench_per_round(o, o->sleep_samples),
			       BENCH_SHORT_GAP_NS);
		if (bench_fold(rc, &failed))
			return -EINTR;
	}
	return failed ? -ECHILD : 0;
}
