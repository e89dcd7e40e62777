/*
 * ringbuf throughput across processes: one producer process and one or
 * more consumer processes, each of which opens the ring by name, the way
 * separate programs would.
 *
 * A point runs for a fixed time: the producer commits frames until its
 * deadline, then ends the stream; each consumer reads until the end marker.
 * A consumer's rate is the frames it received over the time from the
 * producer's start to the end marker's arrival (so the ring's fill and
 * drain are inside the window). The figure for a point is the slowest
 * consumer's rate.
 *
 * Data is verified: in touch mode every frame's checksum against the value
 * its sequence number implies, in notouch mode (lossless) the sequence
 * numbers themselves, which must be contiguous. A broken ring therefore
 * shows up as "BAD", not as a fast one.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

struct tp_side {
	uint64_t frames;   /* delivered (consumer) or committed (producer) */
	uint64_t lost;
	uint64_t bad;      /* frames whose bytes or sequence did not verify */
	uint64_t t_start;
	uint64_t t_end;
	uint64_t wakeups;
	int64_t syscalls;  /* -1 when not counted */
	int32_t rc;
	char what[44];     /* the call that failed */
};

struct tp_shared {
	struct bench_gate gate;
	struct tp_side side[1 + BENCH_MAX_CONSUMERS];
};

struct tp_ctx {
	const struct bench_tp_spec *s;
	const char *name;
	struct tp_shared *sh;
	uint32_t index;  /* 0: producer; 1..: consumers */
	uint32_t batch;
	uint64_t spin_ns; /* 0: the library's default */
};

static int
tp_fail(struct tp_side *side, const char *what, int rc)
{
	side->rc = rc;
	snprintf(side->what, sizeof(side->what), "%s", what);
	return 1;
}

/*
 * Reading is harmless under the protocol and enough: tmpfs pages are
 * mapped writable on a read fault. Without it the first pass through the
 * ring pays one page fault per 4 KiB, which is set-up, not streaming.
 */
void
bench_map_pages(struct rb_ring *ring)
{
	const volatile uint8_t *p = rb_ring_slots(ring);
	uint64_t bytes = (uint64_t)rb_ring_slot_count(ring) * rb_ring_slot_stride(ring);
	uint64_t off;

	for (off = 0; off < bytes; off += 4096)
		(void)p[off];
}

/* A look at the clock costs about as much as handing over a 64-byte frame. */
uint64_t
bench_check_every(uint64_t frame_bytes)
{
	uint64_t n = 65536 / (frame_bytes ? frame_bytes : 1);

	return n ? n : 1;
}

/*
 * A batch as large as the ring turns a pipeline into turns: the producer
 * fills every slot while the consumer waits, then the consumer reads them
 * all while the producer waits.
 */
uint32_t
bench_batch_for(uint32_t batch, uint32_t slots)
{
	uint32_t quarter = slots / 4 ? slots / 4 : 1;

	batch = batch < quarter ? batch : quarter;
	return batch < BENCH_MAX_BATCH ? batch : BENCH_MAX_BATCH;
}

int
bench_producer_take(struct rb_producer *p, struct rb_frame *frames, bool batched,
		    uint32_t want, const char **what)
{
	int rc;

	if (batched) {
		*what = "rb_producer_acquire_batch";
		return rb_producer_acquire_batch(p, frames, want, BENCH_WAIT_NS);
	}
	*what = "rb_producer_acquire";
	rc = rb_producer_acquire(p, &frames[0], BENCH_WAIT_NS);
	return rc != 0 ? rc : 1;
}

int
bench_producer_put(struct rb_producer *p, struct rb_frame *frames, bool batched, uint32_t k)
{
	return batched ? rb_producer_commit_batch(p, frames, k) : rb_producer_commit(p, &frames[0]);
}

int
bench_consumer_take(struct rb_consumer *c, struct rb_frame *frames, bool batched,
		    uint32_t batch, const char **what)
{
	int rc;

	if (batched) {
		*what = "rb_consumer_acquire_batch";
		return rb_consumer_acquire_batch(c, frames, batch, 1, BENCH_WAIT_NS);
	}
	*what = "rb_consumer_acquire";
	rc = rb_consumer_acquire(c, &frames[0], BENCH_WAIT_NS);
	return rc != 0 ? rc : 1;
}

int
bench_seq_bad(uint64_t seq, uint64_t *expect, bool increasing)
{
	int bad = increasing ? seq < *expect : seq != *expect;

	*expect = seq + 1;
	return bad;
}

int
bench_ring_create(const struct rb_ring_config *cfg, char *name, size_t size,
		  struct rb_ring **ring, struct bench_result *r)
{
	int rc;

	bench_ring_name(name, size);
	rc = rb_ring_create(name, cfg, ring);
	if (rc != 0) {
		bench_ring_forget(name);
		r->failed = true;
		snprintf(r->note, sizeof(r->note), "rb_ring_create: %s", rb_strerror(rc));
	}
	return rc;
}

static int
tp_producer(void *arg)
{
	struct tp_ctx *x = arg;
	const struct bench_tp_spec *s = x->s;
	struct tp_side *side = &x->sh->side[0];
	struct rb_frame frames[BENCH_MAX_BATCH];
	struct rb_producer_options po = {0};
	struct rb_producer *p;
	struct rb_ring *ring;
	uint64_t n = 0, t0, now, deadline, until_check, every = bench_check_every(s->frame_bytes);
	double due, period = s->rate > 0 ? 1e9 / s->rate : 0;
	int64_t sys0 = -1;
	const char *what;
	int sysfd = -1, rc;

	side->syscalls = -1;
	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return tp_fail(side, "rb_ring_open", rc);
	po.spin_ns = x->spin_ns;
	if ((rc = rb_producer_attach(ring, &po, &p)) != 0)
		return tp_fail(side, "rb_producer_attach", rc);
	if ((rc = rb_producer_begin_stream(p, "source=rb-bench\n")) != 0)
		return tp_fail(side, "rb_producer_begin_stream", rc);
	bench_map_pages(ring);
	if (s->count_syscalls)
		sysfd = bench_syscalls_open();
	bench_gate_arrive(&x->sh->gate);

	sys0 = bench_syscalls_read(sysfd);
	t0 = now = bench_now_ns();
	due = (double)t0;
	deadline = t0 + s->duration_ns;
	until_check = every;
	for (;;) {
		uint32_t want = s->batch ? x->batch : 1, k, i;

		if (s->rate > 0) {
			/* Paced: wait for the frame's time in the schedule, but
			 * read the clock only while ahead of it (a look at the
			 * clock costs as much as a small frame). */
			due += period;
			while (now < (uint64_t)due)
				now = bench_now_ns();
			/* A source that fell behind (the host took the CPU away)
			 * does not catch up in a burst: a sensor would have lost
			 * those frames itself, and a burst would be counted
			 * against the consumer. */
			if ((double)now > due + period)
				due = (double)now;
			want = 1;
		}
		if (until_check <= want) {
			now = bench_now_ns();
			if (now >= deadline)
				break;
			until_check = every;
		}
		rc = bench_producer_take(p, frames, s->batch, want, &what);
		if (rc < 0)
			return tp_fail(side, what, rc);
		k = (uint32_t)rc;
		for (i = 0; i < k; i++) {
			if (s->touch)
				bench_fill(frames[i].data, s->frame_bytes, frames[i].seq);
			frames[i].length = s->frame_bytes;
		}
		rc = bench_producer_put(p, frames, s->batch, k);
		if (rc != 0)
			return tp_fail(side, "rb_producer_commit", rc);
		n += k;
		until_check -= k < until_check ? k : until_check;
	}
	side->t_end = bench_now_ns();
	if (sys0 >= 0)
		side->syscalls = bench_syscalls_read(sysfd) - sys0;
	side->t_start = t0;
	side->frames = n;
	if ((rc = rb_producer_end_stream(p, BENCH_WAIT_NS)) != 0)
		return tp_fail(side, "rb_producer_end_stream", rc);
	(void)rb_producer_detach(p, 0);
	rb_ring_close(ring);
	return 0;
}

/* Checks one delivered frame; returns 1 if it is wrong. */
static int
tp_verify(const struct bench_tp_spec *s, const struct rb_frame *f,
	  uint64_t *expect, uint64_t sum)
{
	int bad = 0;

	if (f->length != s->frame_bytes)
		bad = 1;
	else if (s->touch && sum != bench_expected_sum(f->length, f->seq))
		bad = 1;
	/* Lossless: contiguous sequence numbers; lossy: increasing ones. */
	return bench_seq_bad(f->seq, expect, s->lossy) | bad;
}

static int
tp_consumer(void *arg)
{
	struct tp_ctx *x = arg;
	const struct bench_tp_spec *s = x->s;
	struct tp_side *side = &x->sh->side[x->index];
	struct rb_frame frames[BENCH_MAX_BATCH];
	struct rb_consumer_options co;
	struct rb_consumer_stats st;
	struct rb_consumer *c;
	struct rb_ring *ring;
	uint64_t delivered = 0, bad = 0, expect = 0, sums[BENCH_MAX_BATCH];
	int64_t sys0;
	const char *what;
	int sysfd = -1, rc;

	side->syscalls = -1;
	memset(&co, 0, sizeof(co));
	co.lossy = s->lossy;
	co.start = RB_START_OLDEST;
	co.label = "rb-bench";
	co.spin_ns = x->spin_ns;
	if ((rc = rb_ring_open(x->name, &ring)) != 0)
		return tp_fail(side, "rb_ring_open", rc);
	if ((rc = rb_consumer_attach(ring, &co, &c)) != 0)
		return tp_fail(side, "rb_consumer_attach", rc);
	expect = rb_ring_initial_seq(ring);
	bench_map_pages(ring);
	if (s->count_syscalls)
		sysfd = bench_syscalls_open();
	bench_gate_arrive(&x->sh->gate);
	sys0 = bench_syscalls_read(sysfd);

	for (;;) {
		uint32_t k, i;

		rc = bench_consumer_take(c, frames, s->batch, x->batch, &what);
		if (rc == RB_E_EOS)
			break;
		if (rc < 0)
			return tp_fail(side, what, rc);
		k = (uint32_t)rc;
		for (i = 0; i < k; i++)
			sums[i] = s->touch ? bench_sum(frames[i].data, frames[i].length) : 0;
		if (s->lossy) {
			/* A frame overrun while we read it is lost, not bad: the
			 * release says which, and only intact ones are checked. */
			for (i = 0; i < k; i++) {
				rc = rb_consumer_release(c, &frames[i]);
				if (rc == RB_E_OVERRUN)
					continue;
				if (rc != 0)
					return tp_fail(side, "rb_consumer_release", rc);
				bad += (uint64_t)tp_verify(s, &frames[i], &expect, sums[i]);
				delivered++;
			}
			continue;
		}
		for (i = 0; i < k; i++)
			bad += (uint64_t)tp_verify(s, &frames[i], &expect, sums[i]);
		rc = s->batch ? rb_consumer_release_batch(c, frames, k)
			      : rb_consumer_release(c, &frames[0]);
		if (rc < 0)
			return tp_fail(side, "rb_consumer_release", rc);
		delivered += k;
	}
	side->t_end = bench_now_ns();
	if (sys0 >= 0)
		side->syscalls = bench_syscalls_read(sysfd) - sys0;
	rb_consumer_get_stats(c, &st);
	side->frames = delivered;
	side->bad = bad;
	side->lost = st.lost;
	side->wakeups = st.wakeups;
	(void)rb_consumer_detach(c);
	rb_ring_close(ring);
	return 0;
}

void
bench_result_throughput(struct bench_result *r, uint64_t frame_bytes,
			uint64_t frames, double seconds)
{
	r->frame_bytes = frame_bytes;
	r->frames = frames;
	r->seconds = seconds;
	r->frames_per_s = seconds > 0 ? (double)frames / seconds : NAN;
	r->bytes_per_s = r->frames_per_s * (double)frame_bytes;
}

void
bench_result_pair(struct bench_result *r, uint64_t frame_bytes,
		  const struct bench_pair_counts *c)
{
	bench_result_throughput(r, frame_bytes, c->consumed,
				(double)(c->t_end - c->t_start) / 1e9);
	r->produced = c->produced;
	r->verified = (c->bad == 0 && c->consumed == c->produced) ? 1 : -1;
	if (r->verified < 0)
		snprintf(r->note, sizeof(r->note), "%llu frames did not verify",
			 (unsigned long long)c->bad);
}

/* Turns the children's reports into the row. */
static int
tp_collect(const struct bench_tp_spec *s, const struct tp_shared *sh,
	   struct bench_result *r)
{
	const struct tp_side *prod = &sh->side[0];
	double worst = INFINITY, seconds = 0;
	uint64_t frames = 0, bad = 0, lost = 0, wakeups = 0;
	int64_t sys = prod->syscalls;
	uint32_t i;

	for (i = 1; i <= s->consumers; i++) {
		const struct tp_side *c = &sh->side[i];
		double sec = (double)(c->t_end - prod->t_start) / 1e9;
		double rate = sec > 0 ? (double)c->frames / sec : 0;

		if (rate < worst) {
			worst = rate;
			frames = c->frames;
			seconds = sec;
		}
		bad += c->bad;
		lost += c->lost;
		wakeups += c->wakeups;
		if (sys >= 0 && c->syscalls >= 0)
			sys += c->syscalls;
		else
			sys = -1;
	}
	bench_result_throughput(r, s->frame_bytes, frames, seconds);
	r->produced = prod->frames;
	r->wakeups = wakeups;
	if (s->lossy && prod->frames > 0)
		r->lost_ratio = (double)lost / ((double)prod->frames * s->consumers);
	if (s->count_syscalls && sys >= 0 && prod->frames > 0)
		r->syscalls_per_frame = (double)sys / (double)prod->frames;
	/* Lossless: each consumer must have every frame produced. */
	if (!s->lossy) {
		for (i = 1; i <= s->consumers; i++)
			if (sh->side[i].frames != prod->frames)
				bad++;
	}
	r->verified = bad == 0 ? 1 : -1;
	if (bad != 0)
		snprintf(r->note, sizeof(r->note), "%llu frames did not verify",
			 (unsigned long long)bad);
	return 0;
}

int
bench_tp_run(const struct bench_options *o, const struct bench_tp_spec *s,
	     struct bench_result *r)
{
	struct rb_ring_config cfg;
	struct tp_ctx ctx[1 + BENCH_MAX_CONSUMERS];
	struct tp_shared *sh;
	struct rb_ring *ring;
	char name[64];
	uint32_t i;
	int rc;

	r->frame_bytes = s->frame_bytes;
	r->slots = s->slots;
	r->consumers = s->consumers;
	r->lossy = s->lossy;
	r->rate_limit = s->rate;
	snprintf(r->api, sizeof(r->api), "%s", s->batch ? "batch" : "frame");

	memset(&cfg, 0, sizeof(cfg));
	cfg.frame_bytes = s->frame_bytes;
	cfg.slot_count = s->slots;
	rc = bench_ring_create(&cfg, name, sizeof(name), &ring, r);
	if (rc != 0)
		return rc;
	/* The children open it by name; the parent keeps no mapping. */
	rb_ring_close(ring);
	sh = bench_shared_alloc(sizeof(*sh));
	if (sh == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (i = 0; i <= s->consumers; i++) {
		ctx[i].s = s;
		ctx[i].name = name;
		ctx[i].sh = sh;
		ctx[i].index = i;
		ctx[i].batch = bench_batch_for(o->batch, s->slots);
		ctx[i].spin_ns = o->spin_ns;
	}
	/* Consumers first, so that they are attached when the producer starts
	 * (the gate also guarantees it). Role 0 is the producer's CPU. */
	for (i = 1; i <= s->consumers + 1; i++) {
		uint32_t role = i <= s->consumers ? i : 0;
		pid_t pid = bench_spawn(role ? tp_consumer : tp_producer, &ctx[role],
					bench_cpu_for(o, (int)role));

		if (pid < 0) {
			rc = (int)pid;
			bench_kill_all();
			goto out;
		}
	}
	rc = bench_gate_wait_ready(&sh->gate, s->consumers + 1);
	if (rc != 0) {
		bench_kill_all();
		goto out;
	}
	bench_gate_open(&sh->gate);
	rc = bench_wait_all(s->duration_ns + 60ull * 1000000000ull, NULL, NULL);
	if (rc == 0)
		rc = tp_collect(s, sh, r);
out:
	if (rc != 0) {
		r->failed = true;
		if (sh != NULL) {
			for (i = 0; i <= s->consumers; i++) {
				if (sh->side[i].rc != 0) {
					snprintf(r->note, sizeof(r->note), "%s %u: %s: %s",
						 i ? "consumer" : "producer", i,
						 sh->side[i].what, rb_strerror(sh->side[i].rc));
					break;
				}
			}
		}
		if (r->note[0] == '\0')
			snprintf(r->note, sizeof(r->note), "%s", rb_strerror(rc));
	}
	bench_shared_free(sh, sizeof(*sh));
	(void)rb_ring_remove(name);
	bench_ring_forget(name);
	return rc;
}

static int
tp_point(const struct bench_options *o, const struct bench_tp_spec *s,
	 const char *mode)
{
	char size[32];
	struct bench_result *r = bench_result_add("throughput", "ringbuf", mode);

	if (r == NULL)
		return -ENOMEM;
	bench_format_size(size, sizeof(size), s->frame_bytes);
	bench_progress("throughput ringbuf %s %s %s x%u%s", size, mode,
		       s->batch ? "batch" : "frame", s->consumers,
		       s->lossy ? " lossy" : "");
	bench_calm_before(o, r);
	return bench_tp_run(o, s, r);
}

int
bench_throughput(const struct bench_options *o, uint64_t size)
{
	struct bench_tp_spec s;
	double lossless_rate = 0;
	int touch, batch, rc, failed = 0;
	size_t i;

	memset(&s, 0, sizeof(s));
	s.frame_bytes = size;
	s.slots = bench_slots_for(o, size);
	s.duration_ns = o->duration_ns;
	s.consumers = 1;
	s.count_syscalls = true;

	/* One lossless consumer: touch and notouch, per-frame and batch. */
	for (touch = 1; touch >= 0; touch--) {
		if (!(o->modes & (touch ? BENCH_MODE_TOUCH : BENCH_MODE_NOTOUCH)))
			continue;
		for (batch = 0; batch <= 1; batch++) {
			if (!(o->apis & (batch ? BENCH_API_BATCH : BENCH_API_FRAME)))
				continue;
			s.touch = touch;
			s.batch = batch;
			rc = tp_point(o, &s, touch ? "touch" : "notouch");
			if (bench_fold(rc, &failed))
				return -EINTR;
			i = bench_result_count() - 1;
			if (touch && !batch && rc == 0)
				lossless_rate = bench_result_at(i)->frames_per_s;
		}
	}

	/* Broadcast: every consumer reads every byte of every frame. */
	if (o->consumers > 1 && (o->modes & BENCH_MODE_BROADCAST)) {
		s.touch = true;
		s.batch = (o->apis & BENCH_API_BATCH) != 0;
		s.consumers = o->consumers;
		rc = tp_point(o, &s, "touch");
		if (bench_fold(rc, &failed))
			return -EINTR;
		s.consumers = 1;
	}

	/*
	 * A lossy consumer, reading every byte, at three producer speeds: as
	 * fast as the producer can write (it does not wait for a lossy
	 * consumer), at the rate a lossless consumer sustained just before,
	 * and at half that rate. Per-frame API: a lossy reader checks and
	 * releases each frame as it goes.
	 */
	if (!(o->modes & BENCH_MODE_LOSSY))
		return failed ? -ECHILD : 0;
	s.touch = true;
	s.batch = false;
	s.lossy = true;
	for (i = 0; i < 3; i++) {
		if (i > 0 && !(lossless_rate > 0))
			break;
		s.rate = i == 0 ? 0 : lossless_rate / (double)i;
		rc = tp_point(o, &s, "touch");
		snprintf(bench_result_at(bench_result_count() - 1)->speed, 8, "%s",
			 i == 0 ? "max" : i == 1 ? "1x" : "1/2x");
		if (bench_fold(rc, &failed))
			return -EINTR;
	}
	return failed ? -ECHILD : 0;
}
