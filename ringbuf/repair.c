/*
 * Several-producer rings: moving write_seq over committed frames, and
 * committing the frames of dead producers on their behalf.
 *
 * Producers claim seqs from claim_seq and commit them in any order; a
 * descriptor whose seq field equals its own seq is committed. write_seq
 * may only pass a seq once it is committed, so whichever producer commits
 * moves write_seq over the committed run that follows it:
 *
 *   committer:  descriptor.seq := s; full fence; load write_seq; advance
 *   advancer:   CAS write_seq w -> e (a full fence); load descriptor(e)
 *
 * Of a committer of e and an advancer that has just reached e, at least one
 * sees the other's store (store-buffering, fenced on both sides), so write_seq
 * never stops in front of a committed frame.
 *
 * A producer killed between claim and commit leaves write_seq stuck at its
 * seq. Each producer publishes hold_from, a lower bound of every seq it has
 * claimed and not committed, before its claim CAS. A seq s below claim_seq
 * whose descriptor is not committed, and no live producer with
 * hold_from <= s: its claimer died. The repairer commits it empty with
 * RB_FRAME_ABANDONED (consumers are told, not shown a silent gap).
 */
#include "rb_internal.h"

static void
rb_wake_after_advance(struct rb_ring *ring, uint64_t from, uint64_t to)
{
	uint32_t words = (ring->max_consumers + 63) / 64;
	uint32_t w;

	/* The CAS that moved write_seq ordered it before these loads. */
	for (w = 0; w < words; w++) {
		if (ck_pr_load_64(&ring->producer->sleep_mask[w]) != 0) {
			rb_wake_consumers(ring, to, false);
			break;
		}
	}
	/* Producers wait for write_seq too (a slot may be reused only once
	 * the frame a lap before it is committed). */
	rb_wake_producer_if_crossed(ring, from, to);
}

uint64_t
rb_advance_write_seq(struct rb_ring *ring)
{
	struct rb_shm_producer *shm = ring->producer;
	uint64_t ws = rb_load_acquire_64(&shm->write_seq);

	for (;;) {
		uint64_t e = ws;

		while (e - ws < ring->slot_count &&
		       rb_load_acquire_64(&rb_descriptor(ring, e)->seq) == e)
			e++;
		if (e == ws)
			return ws;
		RB_TSAN_RELEASE(&shm->write_seq);
		if (ck_pr_cas_64_value(&shm->write_seq, ws, e, &ws)) {
			rb_wake_after_advance(ring, ws, e);
			ws = e;
		}
		/* Lost the race: ws now holds the winner's value; go on from
		 * there in case frames after it are committed too. */
	}
}

/* Whether a live producer may still hold `seq` uncommitted. */
static bool
rb_live_holder(struct rb_ring *ring, uint64_t seq)
{
	uint32_t i;

	for (i = 0; i < ring->max_producers; i++) {
		struct rb_shm_producer_record *rec = &ring->producer_records[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);
		uint32_t state = RB_OWNER_STATE(owner);

		if (state != RB_OWNER_ACTIVE && state != RB_OWNER_CLAIMING)
			continue;
		if (rb_load_acquire_64(&rec->hold_from) > seq)
			continue;
		if (rb_process_alive(RB_OWNER_PID(owner),
				     state == RB_OWNER_ACTIVE ? ck_pr_load_64(&rec->start_time) : 0))
			return true;
	}
	return false;
}

/*
 * Commits `seq` empty on behalf of its dead claimer; true if this call did
 * it (and counted it).
 *
 * The repairer first takes the descriptor with a CAS to a REPAIRING mark
 * (bit 63, its pid, the seq's low 32 bits), a value no producer writes, so
 * that one repairer at a time writes the fields; another that finds the
 * mark stops while the marker's process lives, and takes over if it died.
 * WRITING alone would not do: a repairer preempted for a lap could find
 * WRITING again, set by the producer of seq + slot_count, and write over
 * that frame. After the CAS, write_seq still at or below seq proves the
 * slot was not reused: it cannot move past seq until this repairer stores
 * seq.
 */
static bool
rb_commit_abandoned(struct rb_ring *ring, uint64_t seq, uint64_t seen)
{
	struct rb_shm_descriptor *d = rb_descriptor(ring, seq);
	uint64_t mark = RB_SEQ_REPAIRING(rb_self_pid(), seq);

	if (!ck_pr_cas_64(&d->seq, seen, mark))
		return false; /* someone else got there */
	if (rb_load_acquire_64(&ring->producer->write_seq) > seq) {
		/* A lap went by while we were preempted: the descriptor is a
		 * live producer's again. Give it back untouched. */
		(void)ck_pr_cas_64(&d->seq, mark, seen);
		return false;
	}
	/* A lossy reader of the frame a lap before sees the descriptor change
	 * before any of these fields do. */
	ck_pr_fence_store();
	ck_pr_store_64(&d->length, 0);
	ck_pr_store_64(&d->timestamp_ns, 0);
	ck_pr_store_32(&d->flags, RB_FRAME_ABANDONED);
	rb_store_release_64(&d->seq, seq);
	ck_pr_inc_64(&ring->producer->frames_abandoned);
	return true;
}

int
rb_repair_abandoned(struct rb_ring *ring)
{
	struct rb_shm_producer *shm = ring->producer;
	int repaired = 0;

	if (!rb_ring_multi_producer(ring))
		return 0;
	for (;;) {
		uint64_t ws = rb_advance_write_seq(ring);
		uint64_t claimed = rb_load_acquire_64(&shm->claim_seq);
		uint64_t seen;

		if (ws >= claimed)
			return repaired;
		/* No claim ends more than a lap past write_seq (FORMAT.md §7
		 * invariant 9): a claim_seq beyond is a hostile write, and
		 * repairing up to it would run for up to 2^62 seqs. The
		 * producers' position check reports it. */
		if (claimed - ws > ring->slot_count)
			return repaired;
		seen = rb_load_acquire_64(&rb_descriptor(ring, ws)->seq);
		if (seen == ws)
			continue; /* committed meanwhile: advance again */
		/* A descriptor already holding a later seq: write_seq was moved
		 * back under us (a hostile write). Repairing would overwrite
		 * committed frames with empty ones; the readers report it. */
		if (seen != RB_SEQ_WRITING && !(seen & (1ull << 63)) && seen > ws)
			return repaired;
		/* claim_seq was read before the scan: every producer that
		 * claimed ws had published its hold_from by then. */
		if (rb_live_holder(ring, ws))
			return repaired;
		/* Another repairer is at it: leave it alone while it lives. */
		if (seen != RB_SEQ_WRITING && (seen & (1ull << 63)) &&
		    rb_process_alive(RB_REPAIRING_PID(seen), 0))
			return repaired;
		/* Re-read after the scan: a holder that committed ws and then
		 * moved hold_from on is seen here, and the CAS below fails. */
		if (rb_load_acquire_64(&rb_descriptor(ring, ws)->seq) != seen)
			continue;
		if (rb_commit_abandoned(ring, ws, seen))
			repaired++;
	}
}
