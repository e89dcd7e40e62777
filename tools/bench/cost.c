/*
 * What waiting costs, and how many system calls streaming costs.
 *
 *   idle consumer     a consumer process blocked in rb_consumer_acquire
 *                     (RB_FOREVER, default options) on a ring with a live
 *                     producer that sends nothing, for --cost-time. Its CPU
 *                     time (getrusage in the child, user + system, over the
 *                     wait) as a share of one core.
 *   blocked producer  a producer process that has filled the ring and waits
 *                     in rb_producer_acquire for a lossless consumer that
 *                     never releases, for --cost-time. The same measure.
 *   syscalls          full-speed points with every process counting its own
 *                     system calls (perf raw_syscalls:sys_enter tracepoint,
 *                     see proc.c); the total over all processes divided by
 *                     the frames produced.
 *
 * The waits are not free by design: every 100 ms a sleeper wakes to check
 * that its peer is alive (one /proc read), which is what these figures show.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

#define COST_FRAME_BYTES 4096
#define COST_SLOTS 64

struct cost_shared {
	struct bench_gate gate;
	int32_t rc;
	char what[44];
	uint64_t cpu_ns;
	uint64_t wall_ns;
	uint64_t switches; /* voluntary context switches: sleeps */
};

struct cost_ctx {
	struct cost_shared *sh;
	const char *name;
	uint64_t time_ns;
};

static int
cost_fail(struct cost_shared *sh, const char *what, int rc)
{
	sh->rc = rc;
	snprintf(sh->what, sizeof(sh->what), "%s", what);
	return 1;
}

static uint64_t
cost_switches(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_nvcsw;
}

static int
cost_idle_consumer(void *arg)
{
	struct cost_ctx *x = arg;
	struct rb_consumer *c;
	struct rb_ring *ring;
	struct rb_frame f;
	uint64_t cpu0, t0, sw0;
	int rc;

	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return cost_fail(x->sh, "rb_ring_open", rc);
	if ((rc = rb_consumer_attach(ring, NULL, &c)) != 0)
		return cost_fail(x->sh, "rb_consumer_attach", rc);
	bench_gate_arrive(&x->sh->gate);
	cpu0 = bench_cpu_ns();
	sw0 = cost_switches();
	t0 = bench_now_ns();
	/* The parent ends the stream after time_ns: that is the only frame. */
	rc = rb_consumer_acquire(c, &f, RB_FOREVER);
	x->sh->wall_ns = bench_now_ns() - t0;
	x->sh->cpu_ns = bench_cpu_ns() - cpu0;
	x->sh->switches = cost_switches() - sw0;
	if (rc != RB_E_EOS)
		return cost_fail(x->sh, "rb_consumer_acquire", rc ? rc : -EPROTO);
	(void)rb_consumer_detach(c);
	rb_ring_close(ring);
	return 0;
}

static int
cost_blocked_producer(void *arg)
{
	struct cost_ctx *x = arg;
	struct rb_producer *p;
	struct rb_ring *ring;
	struct rb_frame f;
	uint64_t cpu0, t0, sw0;
	uint32_t i;
	int rc;

	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return cost_fail(x->sh, "rb_ring_open", rc);
	if ((rc = rb_producer_attach(ring, NULL, &p)) != 0)
		return cost_fail(x->sh, "rb_producer_attach", rc);
	for (i = 0; i < COST_SLOTS; i++) {
		if ((rc = rb_producer_acquire(p, &f, RB_NO_WAIT)) != 0)
			return cost_fail(x->sh, "rb_producer_acquire (fill)", rc);
		if ((rc = rb_producer_commit(p, &f)) != 0)
			return cost_fail(x->sh, "rb_producer_commit", rc);
	}
	bench_gate_arrive(&x->sh->gate);
	cpu0 = bench_cpu_ns();
	sw0 = cost_switches();
	t0 = bench_now_ns();
	rc = rb_producer_acquire(p, &f, x->time_ns);
	x->sh->wall_ns = bench_now_ns() - t0;
	x->sh->cpu_ns = bench_cpu_ns() - cpu0;
	x->sh->switches = cost_switches() - sw0;
	if (rc != -ETIMEDOUT)
		return cost_fail(x->sh, "rb_producer_acquire", rc ? rc : -EPROTO);
	(void)rb_producer_detach(p, 0);
	rb_ring_close(ring);
	return 0;
}

static int
cost_wait_point(const struct bench_options *o, bool idle_consumer)
{
	struct bench_result *r;
	struct rb_ring_config cfg;
	struct rb_ring *ring = NULL;
	struct rb_producer *p = NULL;
	struct rb_consumer *c = NULL;
	struct cost_ctx x;
	char name[64];
	int rc;

	r = bench_result_add("cost", "ringbuf",
			     idle_consumer ? "idle-consumer" : "blocked-producer");
	if (r == NULL)
		return -ENOMEM;
	bench_progress("cost %s (%.3g s)", r->mode, (double)o->cost_ns / 1e9);
	r->frame_bytes = COST_FRAME_BYTES;
	r->slots = COST_SLOTS;
	r->consumers = 1;
	memset(&x, 0, sizeof(x));
	x.name = name;
	x.time_ns = o->cost_ns;
	memset(&cfg, 0, sizeof(cfg));
	cfg.frame_bytes = COST_FRAME_BYTES;
	cfg.slot_count = COST_SLOTS;
	bench_ring_name(name, sizeof(name));
	if ((rc = rb_ring_create(name, &cfg, &ring)) != 0) {
		bench_ring_forget(name);
		ring = NULL;
		goto out;
	}
	/* The parent plays the other side: a live producer that sends nothing,
	 * or a live lossless consumer that never releases. */
	rc = idle_consumer ? rb_producer_attach(ring, NULL, &p)
			   : rb_consumer_attach(ring, NULL, &c);
	if (rc != 0)
		goto out;
	if (idle_consumer && (rc = rb_producer_begin_stream(p, "source=rb-bench\n")) != 0)
		goto out;
	x.sh = bench_shared_alloc(sizeof(*x.sh));
	if (x.sh == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = (int)bench_spawn(idle_consumer ? cost_idle_consumer : cost_blocked_producer,
			      &x, bench_cpu_for(o, idle_consumer ? 1 : 0));
	if (rc < 0)
		goto out;
	if ((rc = bench_gate_wait_ready(&x.sh->gate, 1)) != 0) {
		bench_kill_all();
		goto out;
	}
	bench_gate_open(&x.sh->gate);
	if (idle_consumer) {
		struct timespec ts = {
			.tv_sec = (time_t)(o->cost_ns / 1000000000ull),
			.tv_nsec = (long)(o->cost_ns % 1000000000ull),
		};

		/* A signal cuts the sleep short; bench_wait_all then sees it. */
		(void)nanosleep(&ts, NULL);
		(void)rb_producer_end_stream(p, 0);
	}
	rc = bench_wait_all(o->cost_ns + 60ull * 1000000000ull, NULL, NULL);
	if (rc != 0)
		goto out;
	r->seconds = (double)x.sh->wall_ns / 1e9;
	r->cpu_pct = x.sh->wall_ns ? 100.0 * (double)x.sh->cpu_ns / (double)x.sh->wall_ns : NAN;
	r->wakeups = x.sh->switches;
	r->verified = 0;
	snprintf(r->note, sizeof(r->note), "%.3f ms CPU in %.2f s, %llu sleeps",
		 (double)x.sh->cpu_ns / 1e6, r->seconds,
		 (unsigned long long)x.sh->switches);
out:
	if (rc != 0) {
		r->failed = true;
		if (x.sh != NULL && x.sh->rc != 0)
			snprintf(r->note, sizeof(r->note), "%s: %s", x.sh->what,
				 rb_strerror(x.sh->rc));
		else
			snprintf(r->note, sizeof(r->note), "%s", rb_strerror(rc));
	}
	bench_shared_free(x.sh, sizeof(*x.sh));
	if (p != NULL)
		(void)rb_producer_detach(p, 0);
	if (c != NULL)
		(void)rb_consumer_detach(c);
	if (ring != NULL) {
		rb_ring_close(ring);
		(void)rb_ring_remove(name);
		bench_ring_forget(name);
	}
	return rc;
}

/* A full-speed point whose only purpose is the system-call count. */
static int
cost_syscalls_point(const struct bench_options *o, uint64_t size, bool touch,
		    bool batch)
{
	struct bench_tp_spec s;
	struct bench_result *r = bench_result_add("cost", "ringbuf", "syscalls");
	char sz[32];

	if (r == NULL)
		return -ENOMEM;
	bench_format_size(sz, sizeof(sz), size);
	bench_progress("cost syscalls %s %s %s", sz, touch ? "touch" : "notouch",
		       batch ? "batch" : "frame");
	bench_calm_before(o, r);
	memset(&s, 0, sizeof(s));
	s.frame_bytes = size;
	s.slots = bench_slots_for(o, size);
	s.touch = touch;
	s.batch = batch;
	s.consumers = 1;
	s.duration_ns = o->duration_ns;
	s.count_syscalls = true;
	snprintf(r->mode, sizeof(r->mode), "syscalls %s", touch ? "touch" : "notouch");
	return bench_tp_run(o, &s, r);
}

int
bench_cost(const struct bench_options *o)
{
	int rc, failed = 0;

	rc = cost_wait_point(o, true);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = cost_wait_point(o, false);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = cost_syscalls_point(o, 64, false, false);
	if (bench_fold(rc, &failed))
		return -EINTR;
	rc = cost_syscalls_point(o, 1u << 20, true, false);
	if (bench_fold(rc, &failed))
		return -EINTR;
	return failed ? -ECHILD : 0;
}
