/*
 * Scaling across processes (issue 6): several producers into one ring, and
 * a work-sharing consumer group, at 1..--scale processes each, against a
 * single-process baseline measured right before them in the same round.
 *
 *   producers  P producer processes (P = 1..--scale) commit into one ring
 *              created with max_producers = --scale; one lossless consumer
 *              reads every byte of every frame. Baseline: one producer
 *              into a ring with max_producers 1 (the single-producer fast
 *              path) and the same consumer.
 *   group      one producer; a lossless group of M member processes
 *              (M = 1..--scale), each reading every byte of the frames it
 *              is given. Baseline: one lossless consumer in no group.
 *
 * Every producer writes every byte (the touch fill) and marks each frame
 * with its number in the user bits of the flags, so that the consumer can
 * count every producer's frames. A point runs for --duration: the
 * producers commit until the deadline, then leave the stream (the last one
 * to leave ends it); the consumers read until the end marker.
 *
 * What a point reports:
 *   - total frames/s and GB/s: the frames consumed (by the consumer, or by
 *     all the members together) over the window from the first producer's
 *     start to the last consumer's end of stream. All the producers stop
 *     --duration after the first one started, so a producer the scheduler
 *     started late produces less, and does not stretch the window;
 *   - that rate over the block's baseline (bench_compute_ratios);
 *   - CPU time: getrusage in each child (user + system, from the start gate
 *     to its detach), summed over the processes, per frame and over the
 *     window (busy cores). Waiters that spin instead of sleeping show as
 *     CPU per frame growing with the processes while the frames do not;
 *   - the window over --duration, and the longest time any process went
 *     without progress (no frame committed or received). A stall shows
 *     there, even inside a good average.
 *
 * The counts must add up exactly, or the point is BAD:
 *   - producers: the consumer got every sequence number once and in order
 *     (contiguous), each frame with the bytes its number implies, and from
 *     each producer exactly the frames that producer committed;
 *   - group: each member's sequence numbers increase, the members together
 *     got as many frames as were committed, and the sum of a 64-bit mix of
 *     their sequence numbers equals that of the committed range (so a frame
 *     given to two members and another given to none would show);
 *   - the ring afterwards: write_seq advanced by the frames committed plus
 *     one end marker, claim_seq caught up with it, nothing abandoned or
 *     dropped, no producer, consumer or group left attached.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

#define SC_GROUP_NAME "bench"

enum sc_kind { SC_PRODUCERS, SC_GROUP };

/* What one scaling point does. */
struct sc_spec {
	enum sc_kind kind;
	uint64_t frame_bytes;
	uint32_t slots;
	bool batch;
	uint32_t producers;     /* producer processes */
	uint32_t max_producers; /* the ring's; 1: the single-producer fast path */
	uint32_t members;       /* group members; 0: one consumer in no group */
	uint64_t duration_ns;
};

/* What each child reports, written once at its end. */
struct sc_side {
	uint64_t frames;       /* committed (producer) or received (consumer) */
	uint64_t from[BENCH_MAX_SCALE]; /* consumer: frames of each producer */
	uint64_t hash;         /* consumer: sum of sc_mix(seq) of its frames */
	uint64_t bad;          /* frames whose bytes, length or order were wrong */
	uint64_t abandoned;    /* RB_FRAME_ABANDONED frames received */
	uint64_t lost;
	uint64_t wakeups;
	uint64_t t_end;        /* consumer: end of stream seen */
	uint64_t cpu_ns;       /* user + system from the gate to the detach */
	uint64_t longest_gap_ns;
	int64_t syscalls;      /* -1 when not counted */
	int32_t rc;
	char what[44];         /* the call that failed */
};

struct sc_shared {
	struct bench_gate gate;
	uint64_t t_open;       /* the first producer's start: the window's */
	struct sc_side prod[BENCH_MAX_SCALE];
	struct sc_side cons[BENCH_MAX_SCALE];
};

struct sc_ctx {
	const struct sc_spec *s;
	const char *name;
	struct sc_shared *sh;
	struct sc_side *side;
	uint32_t index;   /* producer number (its mark) or member number */
	uint32_t batch;
	uint64_t spin_ns; /* 0: the library's default */
};

static int
sc_fail(struct sc_side *side, const char *what, int rc)
{
	side->rc = rc;
	snprintf(side->what, sizeof(side->what), "%s", what);
	return 1;
}

/*
 * splitmix64's finaliser. The sum over a set of sequence numbers is a hash
 * of the set that does not depend on the order or on which member got
 * which: the members' sums add up to the committed range's exactly when
 * (barring a 2^-64 accident) the members got that range once each.
 */
static inline uint64_t
sc_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

/* The sum of sc_mix over the `n` sequence numbers from `first`. */
static uint64_t
sc_range_hash(uint64_t first, uint64_t n)
{
	uint64_t sum = 0, seq;

	for (seq = first; seq < first + n; seq++)
		sum += sc_mix(seq);
	return sum;
}

/* Records the time since the last sign of progress; returns now. */
static inline uint64_t
sc_progress(struct sc_side *side, uint64_t last)
{
	uint64_t now = bench_now_ns();

	if (now - last > side->longest_gap_ns)
		side->longest_gap_ns = now - last;
	return now;
}

static int
sc_producer(void *arg)
{
	struct sc_ctx *x = arg;
	const struct sc_spec *s = x->s;
	struct sc_side *side = x->side;
	struct rb_frame frames[BENCH_MAX_BATCH];
	struct rb_producer_options po = {0};
	struct rb_producer *p;
	struct rb_ring *ring;
	uint32_t mark = (x->index + 1) << RB_FRAME_USER_SHIFT;
	uint64_t every = bench_check_every(s->frame_bytes);
	uint64_t n = 0, t0, last, deadline, until_check = 0, cpu0, none;
	int64_t sys0;
	const char *what;
	int sysfd, rc;

	side->syscalls = -1;
	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return sc_fail(side, "rb_ring_open", rc);
	po.spin_ns = x->spin_ns;
	if ((rc = rb_producer_attach(ring, &po, &p)) != 0)
		return sc_fail(side, "rb_producer_attach", rc);
	/* The first producer opens the stream, the others join it. All are
	 * members before the gate opens, so the first to finish cannot end
	 * the stream under the others. */
	if ((rc = rb_producer_begin_stream(p, "source=rb-bench\n")) != 0)
		return sc_fail(side, "rb_producer_begin_stream", rc);
	bench_map_pages(ring);
	sysfd = bench_syscalls_open();
	bench_gate_arrive(&x->sh->gate);

	sys0 = bench_syscalls_read(sysfd);
	cpu0 = bench_cpu_ns();
	t0 = last = bench_now_ns();
	/* One deadline for all: the first producer through the gate sets
	 * the start; a later one finds it (the exchange fails). */
	none = 0;
	(void)atomic_compare_exchange_strong_explicit((_Atomic uint64_t *)&x->sh->t_open,
						      &none, t0, memory_order_acq_rel,
						      memory_order_acquire);
	t0 = atomic_load_explicit((_Atomic uint64_t *)&x->sh->t_open, memory_order_acquire);
	deadline = t0 + s->duration_ns;
	for (;;) {
		uint32_t want = s->batch ? x->batch : 1, k, i;

		if (until_check <= want) {
			last = sc_progress(side, last);
			if (last >= deadline)
				break;
			until_check = every;
		}
		rc = bench_producer_take(p, frames, s->batch, want, &what);
		if (rc < 0)
			return sc_fail(side, what, rc);
		k = (uint32_t)rc;
		for (i = 0; i < k; i++) {
			bench_fill(frames[i].data, s->frame_bytes, frames[i].seq);
			frames[i].length = s->frame_bytes;
			/* The library adds its own bits (stream start) at commit. */
			frames[i].flags = mark;
		}
		rc = bench_producer_put(p, frames, s->batch, k);
		if (rc != 0)
			return sc_fail(side, "rb_producer_commit", rc);
		n += k;
		until_check -= k < until_check ? k : until_check;
	}
	side->frames = n;
	if ((rc = rb_producer_end_stream(p, BENCH_WAIT_NS)) != 0)
		return sc_fail(side, "rb_producer_end_stream", rc);
	if ((rc = rb_producer_detach(p, BENCH_WAIT_NS)) != 0)
		return sc_fail(side, "rb_producer_detach", rc);
	/* Leaving counts: a producer that spins or stalls in end_stream or
	 * detach shows in its CPU time and its longest gap. */
	(void)sc_progress(side, last);
	side->cpu_ns = bench_cpu_ns() - cpu0;
	if (sys0 >= 0)
		side->syscalls = bench_syscalls_read(sysfd) - sys0;
	rb_ring_close(ring);
	return 0;
}

/* Checks one received frame; returns 1 if it is wrong. */
static int
sc_verify(const struct sc_spec *s, const struct rb_frame *f, uint64_t *expect,
	  uint64_t sum)
{
	int bad = 0;

	if (f->length != s->frame_bytes || (f->flags & RB_FRAME_ABANDONED) ||
	    sum != bench_expected_sum(f->length, f->seq))
		bad = 1;
	/* One consumer gets every number in order; a member gets increasing
	 * ones (those in between went to the other members). */
	return bench_seq_bad(f->seq, expect, s->members != 0) | bad;
}

static int
sc_consumer(void *arg)
{
	struct sc_ctx *x = arg;
	const struct sc_spec *s = x->s;
	struct sc_side *side = x->side;
	struct rb_frame frames[BENCH_MAX_BATCH];
	struct rb_consumer_options co;
	struct rb_consumer_stats st;
	struct rb_consumer *c;
	struct rb_ring *ring;
	uint64_t every = bench_check_every(s->frame_bytes);
	uint64_t received = 0, bad = 0, hash = 0, expect, last, until_check, cpu0;
	int64_t sys0;
	const char *what;
	int sysfd, rc;

	side->syscalls = -1;
	memset(&co, 0, sizeof(co));
	co.start = RB_START_OLDEST;
	co.label = "rb-bench";
	co.spin_ns = x->spin_ns;
	co.group = s->members ? SC_GROUP_NAME : NULL;
	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return sc_fail(side, "rb_ring_open", rc);
	if ((rc = rb_consumer_attach(ring, &co, &c)) != 0)
		return sc_fail(side, "rb_consumer_attach", rc);
	expect = rb_ring_initial_seq(ring);
	bench_map_pages(ring);
	sysfd = bench_syscalls_open();
	bench_gate_arrive(&x->sh->gate);

	sys0 = bench_syscalls_read(sysfd);
	cpu0 = bench_cpu_ns();
	last = bench_now_ns();
	until_check = every;
	for (;;) {
		uint32_t k, i;

		rc = bench_consumer_take(c, frames, s->batch, x->batch, &what);
		if (rc == RB_E_EOS)
			break;
		if (rc < 0)
			return sc_fail(side, what, rc);
		k = (uint32_t)rc;
		for (i = 0; i < k; i++) {
			const struct rb_frame *f = &frames[i];
			uint32_t who = f->flags >> RB_FRAME_USER_SHIFT;

			bad += (uint64_t)sc_verify(s, f, &expect, bench_sum(f->data, f->length));
			hash += sc_mix(f->seq);
			if (who >= 1 && who <= BENCH_MAX_SCALE)
				side->from[who - 1]++;
			else
				bad++; /* no producer of ours marked it */
		}
		rc = s->batch ? rb_consumer_release_batch(c, frames, k)
			      : rb_consumer_release(c, &frames[0]);
		if (rc < 0)
			return sc_fail(side, "rb_consumer_release", rc);
		received += k;
		if (until_check <= k) {
			last = sc_progress(side, last);
			until_check = every;
		} else {
			until_check -= k;
		}
	}
	side->t_end = sc_progress(side, last);
	rb_consumer_get_stats(c, &st);
	side->frames = received;
	side->hash = hash;
	side->bad = bad;
	side->abandoned = st.abandoned;
	side->lost = st.lost;
	side->wakeups = st.wakeups;
	if ((rc = rb_consumer_detach(c)) != 0)
		return sc_fail(side, "rb_consumer_detach", rc);
	/* A member leaving its group is part of the run too. */
	(void)sc_progress(side, side->t_end);
	side->cpu_ns = bench_cpu_ns() - cpu0;
	if (sys0 >= 0)
		side->syscalls = bench_syscalls_read(sysfd) - sys0;
	rb_ring_close(ring);
	return 0;
}

/*
 * A count that does not add up: the row says BAD with the reason in its
 * note (which may be cut short), and stderr gets the whole sentence at
 * once, so that a JSON-only run fails loudly too.
 */
static void CLI_PRINTF(2, 3)
sc_bad(struct bench_result *r, const char *fmt, ...)
{
	char why[256], size[32];
	size_t len = strlen(r->note);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(r->note + len, sizeof(r->note) - len, "%s%s", len ? "; " : "", why);
	r->verified = -1;
	bench_progress_clear();
	cli_error("scaling %s %s, %u producer(s), %u member(s): %s",
		  bench_format_size(size, sizeof(size), r->frame_bytes), r->mode,
		  r->producers, r->members, why);
}

/*
 * Turns the children's reports into the row and checks that every count
 * adds up. The ring (the parent's own mapping, attached to nothing) says
 * what the library counted.
 */
static void
sc_collect(const struct sc_spec *s, const struct sc_shared *sh,
	   struct rb_ring *ring, struct bench_result *r)
{
	uint32_t np = s->producers, nc = s->members ? s->members : 1, i;
	const char *stalled = NULL;
	uint32_t stalled_index = 0;
	uint64_t t_start = sh->t_open, t_end = 0, produced = 0, consumed = 0;
	uint64_t cpu = 0, gap = 0, bad = 0, abandoned = 0, lost = 0, wakeups = 0, hash = 0;
	int64_t sys = 0;
	struct rb_ring_status st;
	double window;
	int rc;

	for (i = 0; i < np; i++) {
		const struct sc_side *p = &sh->prod[i];

		produced += p->frames;
		cpu += p->cpu_ns;
		if (p->longest_gap_ns > gap) {
			gap = p->longest_gap_ns;
			stalled = "producer";
			stalled_index = i;
		}
		sys = sys >= 0 && p->syscalls >= 0 ? sys + p->syscalls : -1;
	}
	for (i = 0; i < nc; i++) {
		const struct sc_side *c = &sh->cons[i];

		t_end = c->t_end > t_end ? c->t_end : t_end;
		consumed += c->frames;
		cpu += c->cpu_ns;
		if (c->longest_gap_ns > gap) {
			gap = c->longest_gap_ns;
			stalled = s->members ? "member" : "consumer";
			stalled_index = i;
		}
		sys = sys >= 0 && c->syscalls >= 0 ? sys + c->syscalls : -1;
		bad += c->bad;
		abandoned += c->abandoned;
		lost += c->lost;
		wakeups += c->wakeups;
		hash += c->hash;
	}
	window = t_end > t_start ? (double)(t_end - t_start) / 1e9 : NAN;
	bench_result_throughput(r, s->frame_bytes, consumed, window);
	r->produced = produced;
	r->wakeups = wakeups;
	r->cpu_ns_per_frame = consumed ? (double)cpu / (double)consumed : NAN;
	r->worst_cpu_ns_per_frame = r->cpu_ns_per_frame;
	r->cpu_cores = window > 0 ? (double)cpu / 1e9 / window : NAN;
	r->run_ratio = window / ((double)s->duration_ns / 1e9);
	r->longest_gap_ns = (double)gap;
	if (sys >= 0 && consumed > 0)
		r->syscalls_per_frame = (double)sys / (double)consumed;
	for (i = 0; i < BENCH_MAX_SCALE; i++)
		r->per_proc[i] = s->members ? (i < nc ? sh->cons[i].frames : 0)
					    : sh->cons[0].from[i];
	/* Timing is not judged (the host may be loaded), but a stall is told
	 * at once, with who stalled; the table says STALL (report.c). */
	if (gap >= BENCH_STALL_NS && stalled != NULL) {
		char size[32];

		bench_progress_clear();
		cli_note("scaling %s %s, %u producer(s), %u member(s): %s %u made no progress "
			 "for %.0f ms; the run took %.2f x --duration",
			 bench_format_size(size, sizeof(size), s->frame_bytes), r->mode,
			 s->producers, s->members, stalled, stalled_index, (double)gap / 1e6,
			 r->run_ratio);
	}

	r->verified = 1;
	if (bad != 0)
		sc_bad(r, "%llu frames did not verify", (unsigned long long)bad);
	if (consumed != produced || abandoned != 0 || lost != 0)
		sc_bad(r, "committed %llu, consumed %llu (%llu abandoned, %llu lost)",
		       (unsigned long long)produced, (unsigned long long)consumed,
		       (unsigned long long)abandoned, (unsigned long long)lost);
	for (i = 0; s->members == 0 && i < np; i++) {
		if (sh->cons[0].from[i] != sh->prod[i].frames)
			sc_bad(r, "producer %u committed %llu, the consumer got %llu", i,
			       (unsigned long long)sh->prod[i].frames,
			       (unsigned long long)sh->cons[0].from[i]);
	}
	if ((rc = rb_ring_get_status(ring, &st)) != 0) {
		sc_bad(r, "rb_ring_get_status: %s", rb_strerror(rc));
		return;
	}
	if (hash != sc_range_hash(st.initial_seq, produced))
		sc_bad(r, "the sequence numbers received are not the committed ones once each");
	/* One end marker: the last producer to leave the stream writes it. */
	if (st.write_seq - st.initial_seq != produced + 1 || st.claim_seq != st.write_seq ||
	    st.frames_abandoned != 0 || st.frames_dropped != 0)
		sc_bad(r, "ring: write_seq +%llu for %llu frames + 1 marker, claim_seq %+lld, "
		       "%llu abandoned, %llu dropped",
		       (unsigned long long)(st.write_seq - st.initial_seq),
		       (unsigned long long)produced, (long long)(st.claim_seq - st.write_seq),
		       (unsigned long long)st.frames_abandoned,
		       (unsigned long long)st.frames_dropped);
	if (st.producers != 0 || st.consumers != 0 || st.groups != 0)
		sc_bad(r, "left attached: %u producers, %u consumers, %u groups",
		       st.producers, st.consumers, st.groups);
}

/*
 * CPUs under --pin, with the roles of bench_cpu_for (role mod CPUs):
 * producer 0 and the consumers as in the other points (0, then 1, 2..),
 * further producers after the consumers. On two CPUs: producers on 0, 0,
 * 1, 0 and the consumer on 1; the group's members on 1, 0, 1, 0.
 */
static int
sc_cpu(const struct bench_options *o, const struct sc_spec *s, bool producer,
       uint32_t i)
{
	uint32_t nc = s->members ? s->members : 1;

	if (!producer)
		return bench_cpu_for(o, (int)(1 + i));
	return bench_cpu_for(o, i == 0 ? 0 : (int)(nc + i));
}

static int
sc_run(const struct bench_options *o, const struct sc_spec *s, struct bench_result *r)
{
	struct sc_ctx cctx[BENCH_MAX_SCALE], pctx[BENCH_MAX_SCALE];
	uint32_t np = s->producers, nc = s->members ? s->members : 1, i;
	struct rb_ring_config cfg;
	struct sc_shared *sh = NULL;
	struct rb_ring *ring;
	char name[64];
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.frame_bytes = s->frame_bytes;
	cfg.slot_count = s->slots;
	cfg.max_producers = s->max_producers;
	rc = bench_ring_create(&cfg, name, sizeof(name), &ring, r);
	if (rc != 0)
		return rc;
	/* The parent keeps its mapping (it attaches nothing) to read the
	 * ring's counters once the children are done. */
	sh = bench_shared_alloc(sizeof(*sh));
	if (sh == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i < BENCH_MAX_SCALE; i++) {
		struct sc_ctx x = {
			.s = s, .name = name, .sh = sh, .index = i,
			.batch = bench_batch_for(o->batch, s->slots), .spin_ns = o->spin_ns,
		};

		cctx[i] = x;
		cctx[i].side = &sh->cons[i];
		pctx[i] = x;
		pctx[i].side = &sh->prod[i];
	}
	/* Consumers first, so that they are attached before any frame (the
	 * gate guarantees it too). */
	for (i = 0; i < nc + np; i++) {
		bool producer = i >= nc;
		uint32_t k = producer ? i - nc : i;
		pid_t pid = bench_spawn(producer ? sc_producer : sc_consumer,
					producer ? &pctx[k] : &cctx[k],
					sc_cpu(o, s, producer, k));

		if (pid < 0) {
			rc = (int)pid;
			bench_kill_all();
			goto out;
		}
	}
	rc = bench_run_gated(&sh->gate, nc + np, o);
	if (rc == 0)
		sc_collect(s, sh, ring, r);
out:
	if (rc != 0) {
		r->failed = true;
		for (i = 0; sh != NULL && i < nc + np; i++) {
			const struct sc_side *side = i < nc ? &sh->cons[i] : &sh->prod[i - nc];

			if (side->rc != 0) {
				snprintf(r->note, sizeof(r->note), "%s %u: %s: %s",
					 i < nc ? (s->members ? "member" : "consumer") : "producer",
					 i < nc ? i : i - nc, side->what, rb_strerror(side->rc));
				break;
			}
		}
		if (r->note[0] == '\0')
			snprintf(r->note, sizeof(r->note), "%s", rb_strerror(rc));
	}
	bench_shared_free(sh, sizeof(*sh));
	rb_ring_close(ring);
	(void)rb_ring_remove(name);
	bench_ring_forget(name);
	return rc;
}

static int
sc_point(const struct bench_options *o, const struct sc_spec *s)
{
	struct bench_result *r;
	char size[32];

	r = bench_result_add("scaling", "ringbuf",
			     s->kind == SC_PRODUCERS ? "producers" : "group");
	if (r == NULL)
		return -ENOMEM;
	r->frame_bytes = s->frame_bytes;
	r->slots = s->slots;
	r->consumers = s->members ? s->members : 1;
	r->producers = s->producers;
	r->max_producers = s->max_producers;
	r->members = s->members;
	snprintf(r->api, sizeof(r->api), "%s", s->batch ? "batch" : "frame");
	bench_format_size(size, sizeof(size), s->frame_bytes);
	if (s->kind == SC_PRODUCERS)
		bench_progress("scaling %s: %u producer(s), max_producers %u", size,
			       s->producers, s->max_producers);
	else if (s->members)
		bench_progress("scaling %s: group of %u", size, s->members);
	else
		bench_progress("scaling %s: one consumer in no group", size);
	bench_calm_before(o, r);
	return sc_run(o, s, r);
}

int
bench_scaling(const struct bench_options *o, uint64_t size)
{
	struct sc_spec s;
	uint32_t n;
	int failed = 0;

	memset(&s, 0, sizeof(s));
	s.frame_bytes = size;
	s.slots = bench_slots_for(o, size);
	s.batch = (o->apis & BENCH_API_BATCH) != 0;
	s.duration_ns = o->duration_ns;

	if (o->modes & BENCH_MODE_PRODUCERS) {
		s.kind = SC_PRODUCERS;
		s.producers = 1;
		s.max_producers = 1;
		if (bench_fold(sc_point(o, &s), &failed))
			return -EINTR;
		/* At least 2, so that --scale 1 still measures the ring made
		 * for several producers against the fast path. */
		s.max_producers = o->scale > 1 ? o->scale : 2;
		for (n = 1; n <= o->scale; n++) {
			s.producers = n;
			if (bench_fold(sc_point(o, &s), &failed))
				return -EINTR;
		}
	}
	if (o->modes & BENCH_MODE_GROUP) {
		s.kind = SC_GROUP;
		s.producers = 1;
		s.max_producers = 1;
		for (n = 0; n <= o->scale; n++) {
			s.members = n;
			if (bench_fold(sc_point(o, &s), &failed))
				return -EINTR;
		}
	}
	return failed ? -ECHILD : 0;
}
