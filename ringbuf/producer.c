/*
 * The producer side: acquire slots in place, commit them, wake consumers.
 *
 * Positions are 64-bit sequence numbers; seq lives in slot (seq & mask).
 *
 * Publish protocol (per frame, see docs/FORMAT.md "Publishing"):
 *   1. acquire: descriptor.seq := WRITING, then a store fence, before the
 *      caller touches the slot's bytes. A lossy reader that sees any new
 *      byte therefore also sees WRITING when it re-checks the descriptor.
 *   2. commit: descriptor.length/timestamp/flags, then descriptor.seq := seq
 *      with release, then write_seq := seq + 1 by an atomic exchange that
 *      also orders the store before the load of the sleep mask (Dekker with
 *      a consumer going to sleep: it sets its bit, then re-reads write_seq).
 *   3. If a sleep bit is set, ring the doorbell of each sleeping consumer
 *      whose wake target is reached. No bit set: no system call.
 *
 * Flow control (lossless consumers gate the producer):
 *   The producer may acquire seq s only while s < limit, where
 *   limit = min(write_seq, read_seq of every active lossless consumer) +
 *   slot_count, and publishes the largest limit it ever used as
 *   claim_limit. It keeps the limit in private memory and
 *   rescans the consumer records only when it reaches it. A consumer that
 *   joins races with that private copy; the handshake in refresh_limit and
 *   in consumer attach (each stores, fences, then reads the other side)
 *   guarantees that either the producer sees the new consumer or the
 *   consumer starts at or after claim_limit - slot_count.
 *
 * Several producers (max_producers > 1): each producer claims seqs from
 * the shared claim_seq by CAS, after publishing hold_from (see repair.c),
 * and commits them in its own order; write_seq is moved by whichever
 * commit completes the run in front of it (rb_advance_write_seq). The
 * flow-control limit also keeps each claim below write_seq + slot_count, so
 * a slot is never reused while the frame a lap before it is uncommitted.
 * One producer of such a ring pays one CAS per acquire (batch) and one per
 * commit (batch) more than the single-producer path.
 *
 * Several producers may wait for space at once: each lowers wait_target to
 * its own target (atomic minimum), and the consumer that crosses it clears
 * it and rings the doorbell, which wakes every waiter; those that still
 * lack space announce themselves again.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "rb_internal.h"
#include "sigbus.h"

#define RB_DEFAULT_SPIN_NS 5000u
/* Separate claim ranges a several-producer handle may hold at once. */
#define RB_MAX_CLAIM_RANGES 4096u

struct rb_producer {
	struct rb_ring *ring;
	struct rb_shm_producer_record *rec;
	uint32_t index;
	bool multi;          /* several-producer ring */
	uint64_t owner;      /* our owner word */
	uint64_t next;       /* single: next seq to acquire */
	uint64_t committed;  /* single: write_seq as we last published it */
	struct rb_claims claims; /* several: seqs acquired, not committed */
	uint64_t frames;     /* frames committed */
	uint64_t limit;      /* may acquire seqs below it without a rescan */
	uint64_t published_limit; /* claim_limit: the most it has been */
	uint64_t spin_ns;
	uint64_t avg_wait_ns; /* recent waits' length (rb_spin_learn) */
	uint32_t next_flags; /* RB_FRAME_STREAM_START for the next commit */
	uint64_t dropped;    /* dropped since the last commit: the next
			      * descriptor carries it (FORMAT.md §3.4) */
	uint64_t next_check_ns; /* when a blocked wait next evicts the dead */
	uint64_t seen_write; /* several: the highest write_seq seen */
	uint64_t suspect;    /* an implausible gate seen by the last check: */
	uint64_t suspect_value; /* where (record + 1) and its value */
	bool corrupt;        /* a shared position was found implausible */
	struct rb_stall *stall; /* stall timeout tracker (stall.c), or NULL */
};

void
rb_wake_consumers(struct rb_ring *ring, uint64_t write_seq, bool all)
{
	uint32_t words = (ring->max_consumers + 63) / 64;
	uint32_t w;

	for (w = 0; w < words; w++) {
		uint64_t mask = ck_pr_load_64(&ring->producer->sleep_mask[w]);

		/* Load the targets only after the bits that announce them. */
		ck_pr_fence_load();
		while (mask != 0) {
			uint32_t i = w * 64 + (uint32_t)__builtin_ctzll(mask);
			struct rb_shm_consumer *rec;
			uint64_t target;

			mask &= mask - 1;
			if (i >= ring->max_consumers)
				break;
			rec = &ring->consumers[i];
			target = ck_pr_load_64(&rec->wake_target);
			if (all || (target != 0 && target <= write_seq))
				rb_doorbell_ring(&rec->doorbell);
		}
	}
}

/* The lowest seq a lossless reader still needs, or m. Groups first: a
 * member stores its held position before it moves its group's claim_seq,
 * so reading claim_seq first never misses a claim in flight. */
static uint64_t
rb_lossless_min(struct rb_ring *ring, uint64_t m)
{
	uint32_t i;

	m = rb_groups_lossless_min(ring, m);
	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);
		uint64_t r;

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) ||
		    rb_consumer_is_demoted(rec, owner))
			continue;
		r = rb_load_acquire_64(&rec->read_seq);
		if (r < m)
			m = r;
	}
	return m;
}

/* write_seq as this producer knows it: its own in a single-producer ring. */
static uint64_t
rb_producer_write_seq(struct rb_producer *p)
{
	return p->multi ? rb_load_acquire_64(&p->ring->producer->write_seq)
			: p->committed;
}

/*
 * Recomputes the private limit from the consumer records, and publishes it
 * as claim_limit (see top of file).
 *
 * claim_limit never decreases. A joining consumer first makes itself
 * visible with a tentative read_seq, then reads claim_limit and starts no
 * lower than claim_limit - slot_count. If a rescan that sees the tentative
 * read_seq lowered claim_limit, the joiner could read that lower value and
 * keep a start position the producer has already overwritten under an
 * earlier, higher limit. So the shared value only grows (an atomic maximum
 * when several producers publish); the private limit may be lower than it,
 * which is merely conservative.
 *
 * Publishing takes a store, a fence and a second scan (the producer's half
 * of the join handshake). When the published value already covers the new
 * limit, it was fenced before this scan began, so this scan is the second
 * look: spinning on a full ring then costs only loads.
 */
static void
rb_refresh_limit(struct rb_producer *p)
{
	struct rb_ring *ring = p->ring;
	uint64_t m = rb_lossless_min(ring, rb_producer_write_seq(p));
	uint64_t m2;

	p->limit = m + ring->slot_count;
	if (p->limit <= p->published_limit)
		return;
	if (p->multi) {
		uint64_t cur = ck_pr_load_64(&ring->producer->claim_limit);

		while (cur < p->limit &&
		       !ck_pr_cas_64_value(&ring->producer->claim_limit, cur,
					   p->limit, &cur))
			;
		ck_pr_fence_atomic_load();
		p->published_limit = cur > p->limit ? cur : p->limit;
	} else {
		rb_store_then_fence_64(&ring->producer->claim_limit, p->limit);
		p->published_limit = p->limit;
	}
	m2 = rb_lossless_min(ring, m);
	if (m2 < m)
		p->limit = m2 + ring->slot_count; /* private only: see above */
}

/*
 * Whether a lossless gate `g` (a group's claim_seq, a consumer's read_seq)
 * is a position the protocol can produce with write_seq at `w`: nobody
 * releases past write_seq, and nobody the producer waits for is more than
 * a lap behind it (the producer could not have passed it).
 */
static bool
rb_gate_plausible(const struct rb_ring *ring, uint64_t g, uint64_t w)
{
	return g <= w && w - g <= ring->slot_count;
}

/*
 * Several producers: write_seq only grows, never passes claim_seq, and
 * no claim ends more than a lap past it (claims end at the limit, a lap
 * past the lowest lossless gate or write_seq itself, as read before the
 * claim): anything else was written by no producer (FINDINGS.md F8).
 */
static bool
rb_producer_write_seq_moved(struct rb_producer *p)
{
	struct rb_shm_producer *shm = p->ring->producer;
	uint64_t w = rb_load_acquire_64(&shm->write_seq);
	uint64_t c = rb_load_acquire_64(&shm->claim_seq);

	if (w < p->seen_write || w > c || c - w > p->ring->slot_count)
		return p->corrupt = true;
	p->seen_write = w;
	return false;
}

/*
 * Once a wait slice while blocked: looks for shared positions no real
 * participant writes. write_seq must be ours (single producer) or only
 * grow and stay below claim_seq (several). A lossless gate must be
 * plausible (above), but may not be for a moment: a consumer or group
 * joining shows a tentative position before it raises it to the claim
 * limit. So a gate is corrupt only when the same one with the same value
 * is found implausible by two checks a slice apart. Returns true when the
 * ring is corrupt (and marks the handle).
 */
static bool
rb_producer_check_positions(struct rb_producer *p)
{
	struct rb_ring *ring = p->ring;
	struct rb_shm_producer *shm = ring->producer;
	uint64_t w = rb_load_acquire_64(&shm->write_seq), found = 0, value = 0;
	uint32_t i;

	if (p->multi) {
		if (rb_producer_write_seq_moved(p))
			return true;
	} else if (w != p->committed) {
		return p->corrupt = true;
	}
	for (i = 0; i < ring->max_groups && found == 0; i++) {
		struct rb_shm_group *g = &ring->groups[i];
		uint64_t c;

		if (RB_OWNER_STATE(rb_load_acquire_64(&g->owner)) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&g->mode) & RB_MODE_LOSSY))
			continue;
		c = rb_load_acquire_64(&g->claim_seq);
		if (!rb_gate_plausible(ring, c, rb_load_acquire_64(&shm->write_seq))) {
			found = ring->max_consumers + i + 1;
			value = c;
		}
	}
	for (i = 0; i < ring->max_consumers && found == 0; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner), r;

		/* A demoted consumer gates nobody: it may lag any distance. */
		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) ||
		    rb_consumer_is_demoted(rec, owner))
			continue;
		r = rb_load_acquire_64(&rec->read_seq);
		if (r == RB_SEQ_NONE && ck_pr_load_32(&rec->group) != 0)
			continue; /* a member holding nothing */
		if (!rb_gate_plausible(ring, r, rb_load_acquire_64(&shm->write_seq))) {
			found = i + 1;
			value = r;
		}
	}
	if (found != 0 && found == p->suspect && value == p->suspect_value)
		return p->corrupt = true;
	p->suspect = found;
	p->suspect_value = value;
	return false;
}

/* Every wait slice: evict dead lossless consumers that hold us up, and
 * commit the frames of dead producers that hold write_seq up. */
static int
rb_producer_wait_check(void *arg)
{
	struct rb_producer *p = arg;
	struct rb_ring *ring = p->ring;
	uint64_t next = p->multi ? ck_pr_load_64(&ring->producer->claim_seq) : p->next;
	uint64_t blocking = next + 1 - ring->slot_count;
	int evicted = 0;
	uint32_t i;

	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);

		/* A lossless group's members gate us through the group's
		 * claim_seq even when they hold nothing: look at all of them,
		 * also one that died joining (still CLAIMING). */
		if (RB_OWNER_STATE(owner) == RB_OWNER_CLAIMING &&
		    ck_pr_load_32(&rec->group) != 0) {
			if (rb_consumer_evict_if_dead(ring, i))
				evicted++;
			continue;
		}
		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) ||
		    (ck_pr_load_32(&rec->group) == 0 &&
		     rb_load_acquire_64(&rec->read_seq) >= blocking))
			continue;
		if (rb_consumer_evict_if_dead(ring, i))
			evicted++;
	}
	evicted += rb_groups_tidy(ring);
	evicted += rb_stall_check(p->stall, ring, blocking);
	if (p->multi) {
		/* Before any repair: a write_seq moved back would make the
		 * seqs above it look abandoned, and every slice repair them. */
		if (rb_producer_write_seq_moved(p))
			return 1;
		evicted += rb_repair_abandoned(ring);
		evicted += rb_producers_evict_dead(ring);
		/* A safety net under the wake-up protocol: a lost wake-up costs
		 * at most one slice, never the whole timeout. */
		rb_refresh_limit(p);
		if (ck_pr_load_64(&ring->producer->claim_seq) < p->limit)
			evicted++;
	}
	if (evicted == 0 && rb_producer_check_positions(p))
		return 1;
	return evicted != 0;
}

/*
 * Lowers wait_target to `target` unless a lower one still waits, then
 * fences: the announce half of the Dekker with a consumer's release. A
 * target at or below `gate` (what readers have released by now) was met
 * already: its waiter got space without being rung and left it behind, so
 * it is replaced, or nobody would ever ring for ours.
 */
static void
rb_announce_wait(struct rb_shm_producer *shm, uint64_t target, uint64_t gate)
{
	uint64_t cur = ck_pr_load_64(&shm->wait_target);

	while ((cur == 0 || cur > target || cur <= gate) && cur != target &&
	       !ck_pr_cas_64_value(&shm->wait_target, cur, target, &cur))
		;
	ck_pr_fence_memory();
}

/*
 * Several producers: a waiter that leaves with space it was not rung for
 * takes its announcement back. Another waiter may have kept that lower
 * target instead of its own, and the target may already be passed (the
 * leaver's view was old), so nobody would ever cross it again: ring, and
 * those still waiting look and announce themselves anew. (Found by rb-bench
 * with four producers on two cores.)
 */
static void
rb_withdraw_wait(struct rb_shm_producer *shm, uint64_t target)
{
	if (ck_pr_load_64(&shm->wait_target) == target &&
	    ck_pr_cas_64(&shm->wait_target, target, 0))
		rb_doorbell_ring(&shm->doorbell);
}

/* Waits until seq `want` may be acquired (want < limit). */
static int
rb_producer_wait_space(struct rb_producer *p, uint64_t want, uint64_t timeout_ns)
{
	struct rb_ring *ring = p->ring;
	struct rb_shm_producer *shm = ring->producer;
	uint64_t deadline, spin_until, start;

	rb_refresh_limit(p);
	if (want < p->limit)
		return 0;
	if (!p->multi && p->next - p->committed >= ring->slot_count)
		return -ENOBUFS; /* every slot acquired and none committed */
	/* Several producers: a claim a lap past our own oldest uncommitted seq
	 * needs write_seq past it, which only our own commit can bring. */
	if (p->multi && p->claims.held > 0 &&
	    want >= rb_claims_oldest(&p->claims) + ring->slot_count)
		return -ENOBUFS;
	if (p->corrupt)
		return RB_E_CORRUPT;
	if (timeout_ns == RB_NO_WAIT)
		return RB_E_WOULD_BLOCK;
	/* Behind a consumer that is just slower, space comes a frame at a
	 * time: look again a few times before reading the clock. */
	for (uint32_t i = 0; i < RB_BRIEF_SPINS; i++) {
		rb_cpu_relax();
		rb_refresh_limit(p);
		if (want < p->limit)
			return 0;
	}
	deadline = rb_deadline_after(timeout_ns);
	start = rb_now_ns();
	spin_until = start + rb_spin_budget(p->avg_wait_ns, p->spin_ns);

	for (;;) {
		uint64_t now = rb_now_ns();
		uint32_t seen;
		int rc;

		if (now < spin_until) {
			rb_cpu_relax();
			rb_refresh_limit(p);
			if (want < p->limit) {
				rb_spin_learn(&p->avg_wait_ns, now - start);
				return 0;
			}
			continue;
		}
		/* Announce what we wait for, then re-check (Dekker with the
		 * consumer's release: it stores read_seq, then reads this). */
		rb_announce_wait(shm, want + 1 - ring->slot_count,
				 p->limit - ring->slot_count);
		seen = rb_doorbell_value(&shm->doorbell);
		rb_refresh_limit(p);
		if (want < p->limit) {
			if (!p->multi)
				ck_pr_store_64(&shm->wait_target, 0);
			else
				rb_withdraw_wait(shm, want + 1 - ring->slot_count);
			return 0;
		}
		rc = rb_doorbell_wait(&shm->doorbell, seen, deadline,
				      rb_producer_wait_check, p, &p->next_check_ns);
		rb_spin_learn(&p->avg_wait_ns, rb_now_ns() - start);
		/* With several producers another may still wait on the same
		 * announcement: the consumer that crosses it clears it. */
		if (!p->multi)
			ck_pr_store_64(&shm->wait_target, 0);
		if (p->corrupt)
			return RB_E_CORRUPT;
		rb_refresh_limit(p);
		if (want < p->limit) {
			if (p->multi)
				rb_withdraw_wait(shm, want + 1 - ring->slot_count);
			return 0;
		}
		if (rc == -ETIMEDOUT || rc == -EINTR) {
			if (p->multi)
				rb_withdraw_wait(shm, want + 1 - ring->slot_count);
			return rc;
		}
		if (deadline != RB_FOREVER && rb_now_ns() >= deadline)
			return -ETIMEDOUT;
		if (p->multi)
			return 1; /* claim_seq may have moved: look again */
	}
}

static void
rb_record_free(struct rb_shm_producer_record *rec, uint64_t owner)
{
	ck_pr_store_32(&rec->in_stream, RB_MEMBER_NONE);
	ck_pr_store_64(&rec->hold_from, RB_SEQ_NONE);
	rb_store_then_fence_64(&rec->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(owner) + 1,
							  RB_OWNER_FREE));
}

int
rb_producer_attach(struct rb_ring *ring, const struct rb_producer_options *options,
		   struct rb_producer **out)
{
	struct rb_shm_producer_record *rec = NULL;
	struct rb_producer *p;
	uint64_t claiming = 0;
	uint32_t i;
	int rc;

	*out = NULL;
	/* A dead producer is replaced: its committed frames stay, and the
	 * slots it held uncommitted are reused (single) or repaired (several). */
	(void)rb_producers_evict_dead(ring);
	for (i = 0; i < ring->max_producers; i++) {
		uint64_t cur = rb_load_acquire_64(&ring->producer_records[i].owner);

		if (RB_OWNER_STATE(cur) != RB_OWNER_FREE)
			continue;
		claiming = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(cur), RB_OWNER_CLAIMING);
		if (ck_pr_cas_64(&ring->producer_records[i].owner, cur, claiming)) {
			rec = &ring->producer_records[i];
			break;
		}
	}
	if (rec == NULL)
		return RB_E_BUSY;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rb_record_free(rec, claiming);
		return -ENOMEM;
	}
	p->ring = ring;
	p->rec = rec;
	p->index = i;
	p->multi = rb_ring_multi_producer(ring);
	if (p->multi) {
		uint32_t cap = ring->slot_count < RB_MAX_CLAIM_RANGES ? ring->slot_count
								      : RB_MAX_CLAIM_RANGES;
		if ((rc = rb_claims_init(&p->claims, cap)) != 0) {
			free(p);
			rb_record_free(rec, claiming);
			return rc;
		}
	}
	ck_pr_store_64(&rec->start_time, rb_self_start_time());
	ck_pr_store_64(&rec->hold_from, RB_SEQ_NONE);
	ck_pr_store_64(&rec->frames, 0);
	ck_pr_store_32(&rec->in_stream, RB_MEMBER_NONE);
	ck_pr_store_32(&rec->counters, 0); /* the last owner's source counters */
	p->owner = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(claiming), RB_OWNER_ACTIVE);
	rb_store_then_fence_64(&rec->owner, p->owner);
	p->spin_ns = options && options->spin_ns ? options->spin_ns : RB_DEFAULT_SPIN_NS;
	p->committed = p->next = rb_load_acquire_64(&ring->producer->write_seq);
	p->seen_write = p->committed;
	p->limit = 0; /* rescan before the first acquire */
	/* claim_limit only grows, also across producers. */
	p->published_limit = rb_load_acquire_64(&ring->producer->claim_limit);
	rc = rb_stall_create(ring, options ? options->stall_timeout_ns : 0, &p->stall);
	if (rc != 0 || p->next >= RB_SEQ_LIMIT - ring->slot_count) {
		rb_stall_destroy(p->stall);
		rb_claims_free(&p->claims);
		free(p);
		rb_record_free(rec, claiming);
		return rc != 0 ? rc : RB_E_CORRUPT;
	}
	*out = p;
	return 0;
}

static void
rb_mark_writing(struct rb_ring *ring, struct rb_frame *frames, uint64_t first,
		uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t seq = first + i;

		ck_pr_store_64(&rb_descriptor(ring, seq)->seq, RB_SEQ_WRITING);
		frames[i].data = rb_slot(ring, seq);
		frames[i].seq = seq;
		frames[i].length = ring->frame_bytes;
		frames[i].timestamp_ns = 0;
		frames[i].flags = 0;
		frames[i].dropped = 0;
	}
	/* The WRITING marks must be visible before the caller's first byte. */
	ck_pr_fence_store();
}

/* Several producers: claims up to max seqs from claim_seq. */
static int
rb_acquire_multi(struct rb_producer *p, struct rb_frame *frames, uint32_t max,
		 uint64_t timeout_ns)
{
	struct rb_ring *ring = p->ring;
	struct rb_shm_producer *shm = ring->producer;
	uint64_t deadline = 0, cur, n;
	int rc;

	if (rb_claims_full(&p->claims))
		return -ENOBUFS;
	if (p->corrupt)
		return RB_E_CORRUPT;
	cur = rb_load_acquire_64(&shm->claim_seq);
	for (;;) {
		if (cur + max >= RB_SEQ_LIMIT)
			return -EOVERFLOW;
		/* A lower bound of what we are about to claim, visible before
		 * the claim: a repairer must be able to tell a live claimer
		 * from a dead one (repair.c). Only the oldest hold counts. */
		if (p->claims.length == 0 && ck_pr_load_64(&p->rec->hold_from) != cur)
			rb_store_then_fence_64(&p->rec->hold_from, cur);
		if (cur >= p->limit || p->limit - cur < max)
			rb_refresh_limit(p);
		if (cur >= p->limit) {
			uint64_t left = timeout_ns;

			if (timeout_ns != RB_NO_WAIT && timeout_ns != RB_FOREVER) {
				uint64_t now = rb_now_ns();

				if (deadline == 0)
					deadline = rb_deadline_after(timeout_ns);
				left = deadline > now ? deadline - now : 0;
				if (left == 0)
					return -ETIMEDOUT;
			}
			rc = rb_producer_wait_space(p, cur, left);
			if (rc < 0)
				return rc;
			cur = rb_load_acquire_64(&shm->claim_seq);
			continue;
		}
		n = p->limit - cur < max ? p->limit - cur : max;
		RB_TSAN_RELEASE(&shm->claim_seq);
		if (ck_pr_cas_64_value(&shm->claim_seq, cur, cur + n, &cur))
			break;
	}
	RB_TSAN_ACQUIRE(&shm->claim_seq);
	(void)rb_claims_push(&p->claims, cur, n);
	rb_mark_writing(ring, frames, cur, (uint32_t)n);
	return (int)n;
}

int
rb_producer_acquire_batch(struct rb_producer *p, struct rb_frame *frames,
			  uint32_t max, uint64_t timeout_ns)
{
	struct rb_ring *ring = p->ring;
	uint64_t avail;
	uint32_t n;
	int rc;

	if (max == 0)
		return -EINVAL;
	/* Errors on a ring truncated under us say so (sigbus.c). */
	if (p->multi)
		return rb_ring_error(ring, rb_acquire_multi(p, frames, max, timeout_ns));
	if (p->next + max >= RB_SEQ_LIMIT)
		return -EOVERFLOW; /* sequence numbers stay below 2^62 */
	/* The cached limit may be stale on the low side: look again before
	 * handing out less than asked, and wait only when nothing is free. */
	if (p->limit - p->next < max || p->next >= p->limit)
		rb_refresh_limit(p);
	if (p->next >= p->limit) {
		rc = rb_producer_wait_space(p, p->next, timeout_ns);
		if (rc != 0)
			return rb_ring_error(ring, rc);
	}
	avail = p->limit - p->next;
	n = avail < max ? (uint32_t)avail : max;
	rb_mark_writing(ring, frames, p->next, n);
	p->next += n;
	return (int)n;
}

int
rb_producer_acquire(struct rb_producer *p, struct rb_frame *frame,
		    uint64_t timeout_ns)
{
	int rc;

	/* Single producer below its cached limit: no rescan, no wait. */
	if (!p->multi && p->next < p->limit && p->next + 1 < RB_SEQ_LIMIT) {
		rb_mark_writing(p->ring, frame, p->next, 1);
		p->next++;
		return 0;
	}
	rc = rb_producer_acquire_batch(p, frame, 1, timeout_ns);

	return rc < 0 ? rc : 0;
}

static void
rb_publish(struct rb_producer *p, uint64_t new_write_seq)
{
	struct rb_ring *ring = p->ring;
	uint32_t words = (ring->max_consumers + 63) / 64;
	uint32_t w;

	rb_store_then_fence_64(&ring->producer->write_seq, new_write_seq);
	p->committed = new_write_seq;
	for (w = 0; w < words; w++) {
		if (ck_pr_load_64(&ring->producer->sleep_mask[w]) != 0) {
			rb_wake_consumers(ring, new_write_seq, false);
			break;
		}
	}
}

/*
 * Several producers: the stream's first seq may have been claimed by any
 * of them, so each committer looks whether it holds it. A producer opening
 * a stream sets OPENING, then reads claim_seq as the start: whoever claims
 * that seq did so after OPENING was visible, and waits here for the header
 * (a few hundred ns; a dead opener is evicted, which abandons the stream).
 * Returns the index in frames[] of the stream's first frame, or count.
 */
static uint32_t
rb_stream_start_index(struct rb_producer *p, const struct rb_frame *frames,
		      uint32_t count)
{
	struct rb_shm_producer *shm = p->ring->producer;
	uint64_t state, start, deadline = 0, pause = 0;

	for (uint32_t spins = 1;; spins++) {
		state = rb_load_acquire_64(&shm->stream_state);
		if (state != RB_STREAM_OPENING)
			break;
		if (spins % 256 == 0) {
			/* Held longer than any opener takes (a stopped one, or a
			 * hostile value): commit without the start flag rather
			 * than never. */
			if (deadline == 0)
				deadline = rb_deadline_after(RB_HOLD_MAX_NS);
			if (rb_pause(&pause, deadline, NULL) == -ETIMEDOUT)
				return count;
			(void)rb_producers_evict_dead(p->ring);
		}
		rb_cpu_relax();
	}
	if (state != RB_STREAM_OPEN)
		return count;
	start = rb_stream_current_start(p->ring);
	if (start < frames[0].seq || start > frames[count - 1].seq)
		return count;
	for (uint32_t i = 0; i < count; i++)
		if (frames[i].seq == start)
			return i;
	return count;
}

/* Writes the descriptors of `count` held frames (the first carries
 * extra_flags) and publishes them. */
static void
rb_commit_held(struct rb_producer *p, const struct rb_frame *frames,
	       uint32_t count, uint32_t extra_flags)
{
	struct rb_ring *ring = p->ring;
	uint32_t i, start_at = p->multi ? rb_stream_start_index(p, frames, count) : count;
	uint64_t ws;

	for (i = 0; i < count; i++) {
		struct rb_shm_descriptor *d = rb_descriptor(ring, frames[i].seq);
		uint32_t flags = frames[i].flags;

		if (i == 0) {
			flags |= p->next_flags | extra_flags;
			p->next_flags = 0;
		}
		if (i == start_at)
			flags |= RB_FRAME_STREAM_START;
		ck_pr_store_64(&d->dropped, i == 0 ? p->dropped : 0);
		ck_pr_store_64(&d->length, frames[i].length);
		ck_pr_store_64(&d->timestamp_ns, frames[i].timestamp_ns);
		ck_pr_store_32(&d->flags, flags);
		rb_store_release_64(&d->seq, frames[i].seq);
	}
	p->dropped = 0;
	if (!(extra_flags & RB_FRAME_EOS))
		p->frames += count;
	ck_pr_store_64(&p->rec->frames, p->frames);
	if (!p->multi) {
		rb_publish(p, p->committed + count);
		return;
	}
	rb_claims_pop(&p->claims, count);
	/* The exchange is the fence between our descriptor stores and the
	 * load of write_seq in the advance (repair.c). */
	rb_store_then_fence_64(&p->rec->hold_from, rb_claims_oldest(&p->claims));
	ws = rb_advance_write_seq(ring);
	/* write_seq only grows: one below what we saw was moved back. */
	if (ws < p->seen_write)
		p->corrupt = true;
	else
		p->seen_write = ws;
}

static bool
rb_holds_in_order(const struct rb_producer *p, const struct rb_frame *frames,
		  uint32_t count)
{
	uint32_t i;

	if (p->multi)
		return rb_claims_match(&p->claims, frames, count);
	if (count > p->next - p->committed)
		return false;
	for (i = 0; i < count; i++)
		if (frames[i].seq != p->committed + i)
			return false;
	return true;
}

static bool
rb_holds_nothing(const struct rb_producer *p)
{
	return p->multi ? p->claims.held == 0 : p->next == p->committed;
}

int
rb_producer_commit_batch(struct rb_producer *p, const struct rb_frame *frames,
			 uint32_t count)
{
	uint32_t i;

	if (count == 0)
		return 0;
	if (!rb_holds_in_order(p, frames, count))
		return -EINVAL;
	for (i = 0; i < count; i++) {
		if (frames[i].length > p->ring->frame_bytes ||
		    (frames[i].flags & (RB_FRAME_EOS | RB_FRAME_ABANDONED)))
			return -EINVAL;
	}
	rb_commit_held(p, frames, count, 0);
	return 0;
}

int
rb_producer_commit(struct rb_producer *p, const struct rb_frame *frame)
{
	/* Single producer, its oldest acquired frame, a valid one: what
	 * rb_producer_commit_batch checks, without its loops. */
	if (!p->multi && frame->seq == p->committed && p->next != p->committed &&
	    frame->length <= p->ring->frame_bytes &&
	    !(frame->flags & (RB_FRAME_EOS | RB_FRAME_ABANDONED))) {
		rb_commit_held(p, frame, 1, 0);
		return 0;
	}
	return rb_producer_commit_batch(p, frame, 1);
}

void
rb_producer_count_dropped(struct rb_producer *p, uint64_t n)
{
	ck_pr_add_64(&p->ring->producer->frames_dropped, n);
	p->dropped += n;
}

/* Source counters (FORMAT.md §3.7.1): the values first, then how many
 * there are, so a reader that sees the count sees values at least that
 * recent. Only the owner writes its record. */
int
rb_producer_publish_counters(struct rb_producer *p, const uint64_t *values,
			     uint32_t count)
{
	if (count > RB_COUNTERS_MAX || (count > 0 && values == NULL))
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		ck_pr_store_64(&p->rec->counter[i], values[i]);
	RB_TSAN_RELEASE(&p->rec->counters);
	ck_pr_fence_release();
	ck_pr_store_32(&p->rec->counters, count);
	return 0;
}

int64_t
rb_producer_refresh_clock(struct rb_producer *p)
{
	return rb_clock_anchor_refresh(p->ring->producer);
}

uint64_t
rb_producer_next_seq(const struct rb_producer *p)
{
	if (p->multi)
		return ck_pr_load_64(&p->ring->producer->claim_seq);
	return p->next;
}

/* Opens a new stream (state was `state`, not open); true if this producer
 * won the right to. */
static bool
rb_stream_open(struct rb_producer *p, uint64_t state, const char *header_text,
	       int *rc)
{
	struct rb_shm_producer *shm = p->ring->producer;
	uint64_t start;

	ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_OPENING);
	ck_pr_fence_store_atomic();
	if (!ck_pr_cas_64(&shm->stream_state, state, RB_STREAM_OPENING)) {
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_NONE);
		return false;
	}
	start = p->multi ? ck_pr_load_64(&shm->claim_seq) : p->next;
	*rc = rb_stream_header_write(p->ring, header_text, start);
	if (*rc != 0) {
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_NONE);
		rb_store_release_64(&shm->stream_state, state);
		return true;
	}
	/* Single producer: its next frame is the stream's first. Several:
	 * whoever commits seq `start` flags it (rb_stream_start_index). */
	if (!p->multi)
		p->next_flags = RB_FRAME_STREAM_START;
	ck_pr_store_64(&shm->stream_members, 1);
	ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_IN);
	rb_store_release_64(&shm->stream_state, RB_STREAM_OPEN);
	return true;
}

static int
rb_stream_begin(struct rb_producer *p, const char *header_text)
{
	struct rb_shm_producer *shm = p->ring->producer;
	int rc = 0;

	if (!rb_holds_nothing(p))
		return -EBUSY; /* commit what is acquired first */
	if (!p->multi || ck_pr_load_32(&p->rec->in_stream) == RB_MEMBER_IN) {
		/* The only producer (or a member) restarts the stream: a new
		 * header, the next frame starts it. */
		if (!p->multi && ck_pr_load_32(&p->rec->in_stream) != RB_MEMBER_IN) {
			uint64_t state = rb_load_acquire_64(&shm->stream_state);

			if (rb_stream_open(p, state, header_text, &rc))
				return rc;
			return -EAGAIN;
		}
		if (p->multi) {
			/* Others commit too: whoever commits the new start flags
			 * it, reading it after OPENING is over (as when opening). */
			ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_RESTARTING);
			ck_pr_fence_store_atomic();
			if (!ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPEN,
					  RB_STREAM_OPENING)) {
				ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_IN);
				return -EAGAIN;
			}
			rc = rb_stream_header_write(p->ring, header_text,
						    rb_producer_next_seq(p));
			rb_store_release_64(&shm->stream_state, RB_STREAM_OPEN);
			ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_IN);
			return rc;
		}
		rc = rb_stream_header_write(p->ring, header_text, p->next);
		if (rc == 0)
			p->next_flags = RB_FRAME_STREAM_START;
		return rc;
	}
	uint64_t deadline = rb_deadline_after(RB_HOLD_MAX_NS), pause = 0;

	for (uint32_t spins = 1;; spins++) {
		uint64_t state = rb_load_acquire_64(&shm->stream_state);
		uint64_t members;

		if (state == RB_STREAM_OPENING) {
			/* Another producer writes the header: a few hundred ns,
			 * unless it was preempted, died or stopped doing it. */
			if (spins % 256 == 0) {
				int rc2 = rb_pause(&pause, deadline, NULL);

				if (rc2 == -ETIMEDOUT)
					return RB_E_STUCK;
				(void)rb_producers_evict_dead(p->ring);
			}
			rb_cpu_relax();
			continue;
		}
		if (state != RB_STREAM_OPEN) {
			if (rb_stream_open(p, state, header_text, &rc))
				return rc;
			continue;
		}
		members = ck_pr_load_64(&shm->stream_members);
		if (members == 0)
			return -EAGAIN; /* its last member is ending it right now */
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_IN);
		ck_pr_fence_store_atomic();
		if (ck_pr_cas_64(&shm->stream_members, members, members + 1))
			return 0;
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_NONE);
	}
}

/* Writes the end marker and marks the stream ended. */
static int
rb_write_end(struct rb_producer *p, uint64_t timeout_ns)
{
	struct rb_shm_producer *shm = p->ring->producer;
	struct rb_frame marker;
	int rc;

	rc = rb_producer_acquire(p, &marker, timeout_ns);
	if (rc != 0)
		return rc;
	/* The marker takes a sequence number so that it is ordered with the
	 * frames: every consumer sees it right after the stream's last frame. */
	marker.length = 0;
	marker.timestamp_ns = 0;
	marker.flags = 0;
	rb_commit_held(p, &marker, 1, RB_FRAME_EOS);
	ck_pr_store_64(&shm->eos_marker, 1);
	ck_pr_store_64(&shm->eos_seq, marker.seq + 1);
	rb_store_then_fence_64(&shm->stream_state, RB_STREAM_ENDED);
	/* Lossy consumers may have lost the marker: wake them all to look at
	 * stream_state. */
	rb_wake_consumers(p->ring, marker.seq + 1, true);
	return 0;
}

/* Ends the stream by its state alone, after everything claimed so far
 * (no slot was free for a marker). */
static void
rb_end_by_state(struct rb_producer *p)
{
	struct rb_shm_producer *shm = p->ring->producer;

	ck_pr_store_64(&shm->eos_marker, 0);
	ck_pr_store_64(&shm->eos_seq, rb_producer_next_seq(p));
	rb_store_then_fence_64(&shm->stream_state, RB_STREAM_ENDED);
}

static int
rb_stream_end(struct rb_producer *p, uint64_t timeout_ns)
{
	struct rb_shm_producer *shm = p->ring->producer;
	uint32_t membership = ck_pr_load_32(&p->rec->in_stream);
	int rc;

	if (!rb_holds_nothing(p))
		return -EBUSY;
	if (p->multi && membership == RB_MEMBER_NONE &&
	    rb_load_acquire_64(&shm->stream_state) == RB_STREAM_OPEN)
		return -EINVAL; /* others have a stream open; we are not in it */
	if (p->multi && membership == RB_MEMBER_IN) {
		/* Dead members must not keep the stream open forever. */
		(void)rb_producers_evict_dead(p->ring);
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_CLOSING);
		ck_pr_fence_store_atomic();
		if (ck_pr_faa_64(&shm->stream_members, (uint64_t)-1) != 1) {
			ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_NONE);
			return 0; /* others still have it open */
		}
	} else if (membership == RB_MEMBER_IN) {
		ck_pr_store_64(&shm->stream_members, 0);
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_CLOSING);
	}
	rc = rb_write_end(p, timeout_ns);
	if (rc != 0 && membership == RB_MEMBER_IN) {
		/* No slot for the marker: stay the stream's (last) member, so
		 * that the caller can try again or detach (which then ends it
		 * by its state). A producer that tried to join meanwhile was
		 * told -EAGAIN. */
		ck_pr_store_64(&shm->stream_members, 1);
		ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_IN);
		return rc;
	}
	ck_pr_store_32(&p->rec->in_stream, RB_MEMBER_NONE);
	return rc;
}

int
rb_producer_begin_stream(struct rb_producer *p, const char *header_text)
{
	return rb_ring_error(p->ring, rb_stream_begin(p, header_text));
}

int
rb_producer_end_stream(struct rb_producer *p, uint64_t timeout_ns)
{
	return rb_ring_error(p->ring, rb_stream_end(p, timeout_ns));
}

/* Several producers: commits what we hold, empty and flagged abandoned,
 * so that the others' frames after them flow on. */
static void
rb_abandon_held(struct rb_producer *p)
{
	struct rb_ring *ring = p->ring;

	while (p->claims.held > 0) {
		uint64_t seq = rb_claims_oldest(&p->claims);
		struct rb_shm_descriptor *d = rb_descriptor(ring, seq);

		ck_pr_store_64(&d->length, 0);
		ck_pr_store_64(&d->timestamp_ns, 0);
		ck_pr_store_32(&d->flags, RB_FRAME_ABANDONED);
		rb_store_release_64(&d->seq, seq);
		ck_pr_inc_64(&ring->producer->frames_abandoned);
		rb_claims_pop(&p->claims, 1);
	}
	rb_store_then_fence_64(&p->rec->hold_from, RB_SEQ_NONE);
	(void)rb_advance_write_seq(ring);
}

int
rb_producer_detach(struct rb_producer *p, uint64_t timeout_ns)
{
	struct rb_ring *ring;
	uint32_t membership;
	int rc = 0;

	if (p == NULL)
		return 0;
	ring = p->ring;
	if (p->multi)
		rb_abandon_held(p);
	else
		p->next = p->committed; /* acquired, uncommitted slots are reused */
	membership = ck_pr_load_32(&p->rec->in_stream);
	if (membership == RB_MEMBER_IN) {
		rc = rb_producer_end_stream(p, timeout_ns);
		if (rc != 0) {
			/* No slot for the marker (lossless consumers stuck): end
			 * the stream by its state alone, right after the last
			 * claimed frame. Consumers see RB_E_EOS there. */
			ck_pr_store_64(&ring->producer->stream_members, 0);
			rb_end_by_state(p);
		}
	}
	rb_record_free(p->rec, p->owner);
	rb_wake_consumers(ring, 0, true);
	if (p->multi)
		rb_claims_free(&p->claims);
	rb_stall_destroy(p->stall);
	free(p);
	return rc;
}
