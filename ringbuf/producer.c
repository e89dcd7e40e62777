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
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rb_internal.h"

#define RB_DEFAULT_SPIN_NS 5000u

struct rb_producer {
	struct rb_ring *ring;
	uint64_t owner;      /* our owner word */
	uint64_t next;       /* next seq to acquire */
	uint64_t committed;  /* write_seq as we last published it */
	uint64_t limit;      /* may acquire seqs below it without a rescan */
	uint64_t published_limit; /* claim_limit: the most it has been */
	uint64_t spin_ns;
	uint32_t next_flags; /* RB_FRAME_STREAM_START for the next commit */
	uint64_t next_check_ns; /* when a blocked wait next evicts dead consumers */
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

static uint64_t
rb_lossless_min(struct rb_ring *ring, uint64_t m)
{
	uint32_t i;

	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);
		uint64_t r;

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY))
			continue;
		r = rb_load_acquire_64(&rec->read_seq);
		if (r < m)
			m = r;
	}
	return m;
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
 * earlier, higher limit. So the shared value only grows; the private limit
 * may be lower than it, which is merely conservative.
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
	uint64_t m = rb_lossless_min(ring, p->committed);
	uint64_t m2;

	p->limit = m + ring->slot_count;
	if (p->limit <= p->published_limit)
		return;
	rb_store_then_fence_64(&ring->producer->claim_limit, p->limit);
	p->published_limit = p->limit;
	m2 = rb_lossless_min(ring, m);
	if (m2 < m)
		p->limit = m2 + ring->slot_count; /* private only: see above */
}

/* Every wait slice: evict dead lossless consumers that hold us up. */
static int
rb_producer_wait_check(void *arg)
{
	struct rb_producer *p = arg;
	struct rb_ring *ring = p->ring;
	uint64_t blocking = p->next + 1 - ring->slot_count;
	int evicted = 0;
	uint32_t i;

	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) ||
		    rb_load_acquire_64(&rec->read_seq) >= blocking)
			continue;
		if (rb_consumer_evict_if_dead(ring, i))
			evicted++;
	}
	return evicted != 0;
}

/* Waits until seq p->next may be acquired. */
static int
rb_producer_wait_space(struct rb_producer *p, uint64_t timeout_ns)
{
	struct rb_ring *ring = p->ring;
	struct rb_shm_producer *shm = ring->producer;
	uint64_t deadline, spin_until;

	rb_refresh_limit(p);
	if (p->next < p->limit)
		return 0;
	if (p->next - p->committed >= ring->slot_count)
		return -ENOBUFS; /* every slot acquired and none committed */
	if (timeout_ns == RB_NO_WAIT)
		return RB_E_WOULD_BLOCK;
	deadline = rb_deadline_after(timeout_ns);
	spin_until = rb_now_ns() + p->spin_ns;

	for (;;) {
		uint64_t now = rb_now_ns();
		uint32_t seen;
		int rc;

		if (now < spin_until) {
			rb_cpu_relax();
			rb_refresh_limit(p);
			if (p->next < p->limit)
				return 0;
			continue;
		}
		/* Announce what we wait for, then re-check (Dekker with the
		 * consumer's release: it stores read_seq, then reads this). */
		rb_store_then_fence_64(&shm->wait_target, p->next + 1 - ring->slot_count);
		seen = rb_doorbell_value(&shm->doorbell);
		rb_refresh_limit(p);
		if (p->next < p->limit) {
			ck_pr_store_64(&shm->wait_target, 0);
			return 0;
		}
		rc = rb_doorbell_wait(&shm->doorbell, seen, deadline,
				      rb_producer_wait_check, p, &p->next_check_ns);
		ck_pr_store_64(&shm->wait_target, 0);
		rb_refresh_limit(p);
		if (p->next < p->limit)
			return 0;
		if (rc == -ETIMEDOUT)
			return -ETIMEDOUT;
		if (deadline != RB_FOREVER && rb_now_ns() >= deadline)
			return -ETIMEDOUT;
	}
}

int
rb_producer_attach(struct rb_ring *ring, const struct rb_producer_options *options,
		   struct rb_producer **out)
{
	struct rb_shm_producer *shm = ring->producer;
	struct rb_producer *p;
	uint64_t owner, claiming;

	*out = NULL;
	owner = rb_load_acquire_64(&shm->owner);
	if (RB_OWNER_STATE(owner) != RB_OWNER_FREE) {
		/* A dead producer is replaced: its committed frames stay, the
		 * slots it held uncommitted are reused. */
		uint64_t start = RB_OWNER_STATE(owner) == RB_OWNER_ACTIVE
					 ? ck_pr_load_64(&shm->start_time)
					 : 0;
		if (rb_process_alive(RB_OWNER_PID(owner), start))
			return RB_E_BUSY;
	}
	claiming = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(owner) + 1,
				 RB_OWNER_CLAIMING);
	if (!ck_pr_cas_64(&shm->owner, owner, claiming))
		return RB_E_BUSY;
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		rb_store_release_64(&shm->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(claiming),
							      RB_OWNER_FREE));
		return -ENOMEM;
	}
	ck_pr_store_64(&shm->start_time, rb_self_start_time());
	/* A stream left open by a dead producer is over: say so before the
	 * new producer publishes anything. */
	(void)ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPEN, RB_STREAM_ABANDONED);
	p->owner = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(claiming), RB_OWNER_ACTIVE);
	rb_store_release_64(&shm->owner, p->owner);
	p->ring = ring;
	p->spin_ns = options && options->spin_ns ? options->spin_ns : RB_DEFAULT_SPIN_NS;
	p->committed = p->next = rb_load_acquire_64(&shm->write_seq);
	p->limit = p->next; /* rescan before the first acquire */
	/* claim_limit only grows, also across producers. */
	p->published_limit = rb_load_acquire_64(&shm->claim_limit);
	if (p->next >= RB_SEQ_LIMIT - ring->slot_count) {
		free(p);
		rb_store_release_64(&shm->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(claiming),
							      RB_OWNER_FREE));
		return RB_E_CORRUPT;
	}
	*out = p;
	return 0;
}

int
rb_producer_acquire_batch(struct rb_producer *p, struct rb_frame *frames,
			  uint32_t max, uint64_t timeout_ns)
{
	struct rb_ring *ring = p->ring;
	uint64_t avail;
	uint32_t n, i;
	int rc;

	if (max == 0)
		return -EINVAL;
	if (p->next + max >= RB_SEQ_LIMIT)
		return -EOVERFLOW; /* sequence numbers stay below 2^62 */
	/* The cached limit may be stale on the low side: look again before
	 * handing out less than asked, and wait only when nothing is free. */
	if (p->limit - p->next < max)
		rb_refresh_limit(p);
	if (p->next >= p->limit) {
		rc = rb_producer_wait_space(p, timeout_ns);
		if (rc != 0)
			return rc;
	}
	avail = p->limit - p->next;
	n = avail < max ? (uint32_t)avail : max;
	for (i = 0; i < n; i++) {
		uint64_t seq = p->next + i;

		ck_pr_store_64(&rb_descriptor(ring, seq)->seq, RB_SEQ_WRITING);
		frames[i].data = rb_slot(ring, seq);
		frames[i].seq = seq;
		frames[i].length = ring->frame_bytes;
		frames[i].timestamp_ns = 0;
		frames[i].flags = 0;
		frames[i].reserved_ = 0;
	}
	/* The WRITING marks must be visible before the caller's first byte. */
	ck_pr_fence_store();
	p->next += n;
	return (int)n;
}

int
rb_producer_acquire(struct rb_producer *p, struct rb_frame *frame,
		    uint64_t timeout_ns)
{
	int rc = rb_producer_acquire_batch(p, frame, 1, timeout_ns);

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

int
rb_producer_commit_batch(struct rb_producer *p, const struct rb_frame *frames,
			 uint32_t count)
{
	struct rb_ring *ring = p->ring;
	uint32_t i;

	if (count == 0)
		return 0;
	if (count > p->next - p->committed)
		return -EINVAL;
	for (i = 0; i < count; i++) {
		if (frames[i].seq != p->committed + i ||
		    frames[i].length > ring->frame_bytes ||
		    (frames[i].flags & RB_FRAME_EOS))
			return -EINVAL;
	}
	for (i = 0; i < count; i++) {
		struct rb_shm_descriptor *d = rb_descriptor(ring, frames[i].seq);
		uint32_t flags = frames[i].flags;

		if (i == 0) {
			flags |= p->next_flags;
			p->next_flags = 0;
		}
		ck_pr_store_64(&d->length, frames[i].length);
		ck_pr_store_64(&d->timestamp_ns, frames[i].timestamp_ns);
		ck_pr_store_32(&d->flags, flags);
		rb_store_release_64(&d->seq, frames[i].seq);
	}
	rb_publish(p, p->committed + count);
	return 0;
}

int
rb_producer_commit(struct rb_producer *p, const struct rb_frame *frame)
{
	return rb_producer_commit_batch(p, frame, 1);
}

void
rb_producer_count_dropped(struct rb_producer *p, uint64_t n)
{
	ck_pr_add_64(&p->ring->producer->frames_dropped, n);
}

uint64_t
rb_producer_next_seq(const struct rb_producer *p)
{
	return p->next;
}

int
rb_producer_begin_stream(struct rb_producer *p, const char *header_text)
{
	struct rb_shm_producer *shm = p->ring->producer;
	int rc;

	if (p->next != p->committed)
		return -EBUSY; /* commit what is acquired first */
	rc = rb_stream_header_write(p->ring, header_text, p->next);
	if (rc != 0)
		return rc;
	p->next_flags = RB_FRAME_STREAM_START;
	rb_store_release_64(&shm->stream_state, RB_STREAM_OPEN);
	return 0;
}

int
rb_producer_end_stream(struct rb_producer *p, uint64_t timeout_ns)
{
	struct rb_ring *ring = p->ring;
	struct rb_shm_producer *shm = ring->producer;
	struct rb_shm_descriptor *d;
	struct rb_frame marker;
	int rc;

	if (p->next != p->committed)
		return -EBUSY;
	rc = rb_producer_acquire(p, &marker, timeout_ns);
	if (rc != 0)
		return rc;
	/* The marker takes a sequence number so that it is ordered with the
	 * frames: every consumer sees it right after the stream's last frame. */
	d = rb_descriptor(ring, marker.seq);
	ck_pr_store_64(&d->length, 0);
	ck_pr_store_64(&d->timestamp_ns, 0);
	ck_pr_store_32(&d->flags, RB_FRAME_EOS | p->next_flags);
	p->next_flags = 0;
	rb_store_release_64(&d->seq, marker.seq);
	rb_publish(p, marker.seq + 1);
	ck_pr_store_64(&shm->eos_marker, 1);
	ck_pr_store_64(&shm->eos_seq, marker.seq + 1);
	rb_store_then_fence_64(&shm->stream_state, RB_STREAM_ENDED);
	/* Lossy consumers may have lost the marker: wake them all to look at
	 * stream_state. */
	rb_wake_consumers(ring, p->committed, true);
	return 0;
}

int
rb_producer_detach(struct rb_producer *p, uint64_t timeout_ns)
{
	struct rb_ring *ring;
	struct rb_shm_producer *shm;
	int rc = 0;

	if (p == NULL)
		return 0;
	ring = p->ring;
	shm = ring->producer;
	p->next = p->committed; /* acquired, uncommitted slots are dropped */
	if (ck_pr_load_64(&shm->stream_state) == RB_STREAM_OPEN) {
		rc = rb_producer_end_stream(p, timeout_ns);
		if (rc != 0) {
			/* No slot for the marker (lossless consumers stuck): end
			 * the stream by its state alone, right after the last
			 * committed frame. Consumers see RB_E_EOS there. */
			ck_pr_store_64(&shm->eos_marker, 0);
			ck_pr_store_64(&shm->eos_seq, p->committed);
			rb_store_then_fence_64(&shm->stream_state, RB_STREAM_ENDED);
		}
	}
	rb_store_then_fence_64(&shm->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(p->owner) + 1,
							  RB_OWNER_FREE));
	rb_wake_consumers(ring, p->committed, true);
	free(p);
	return rc;
}
