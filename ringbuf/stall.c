/*
 * Stalled lossless consumers: demotion to lossy.
 *
 * A lossless consumer that stops (SIGSTOP, a debugger, an analysis that
 * hangs) holds every producer back for as long as it stays stopped: its
 * process is alive, so liveness (liveness.c) never evicts it. A producer
 * given a stall timeout (rb_producer_options.stall_timeout_ns) measures,
 * in its wait slices, how long each lossless consumer that it waits for
 * has kept the same read_seq, and demotes one that stalls it that long.
 * rb_ring_demote does the same by hand (rb-ctl evict).
 *
 * Demoted, not evicted: the consumer keeps its record, its counters and
 * its process, which may well run again (SIGCONT, the debugger lets go).
 * From then on the producers ignore its read_seq; it reads as a lossy
 * consumer and counts every seq it missed in `lost`, so frames + lost
 * still adds up to what was published, and its next acquire returns
 * RB_E_DEMOTED once so that a lossless reader cannot mistake the stream
 * for complete. An evicted consumer would only learn RB_E_EVICTED, lose
 * its counters with its record, and have to attach again at a position it
 * cannot relate to what it missed.
 *
 * The mark: the demoter stores stalled_ns, then CASes `demoted` to the
 * consumer's owner word (docs/FORMAT.md, consumer record). The owner word
 * carries the record's generation, so a demotion aimed at a consumer that
 * has since detached never applies to the next owner of the record, and
 * no other field of the record needs a new writer.
 */
#include <errno.h>
#include <stdlib.h>

#include "rb_internal.h"

struct rb_stall_entry {
	uint64_t owner;      /* whom it measures; 0: nobody */
	uint64_t read_seq;   /* its read_seq when the measure began */
	uint64_t stalled_ns; /* blocked time since, with read_seq unchanged */
};

struct rb_stall {
	uint64_t timeout_ns;
	uint64_t blocking;   /* the producer's target at the last look */
	uint64_t last_ns;    /* when it last looked (0: never) */
	uint32_t count;
	struct rb_stall_entry entry[];
};

bool
rb_consumer_is_demoted(const struct rb_shm_consumer *rec, uint64_t owner)
{
	/* Relaxed: the demoter's CAS is a locked instruction, and whoever
	 * must see it (a producer) is rung after it (rb_consumer_demote). */
	return ck_pr_load_64(&rec->demoted) == owner;
}

int
rb_stall_create(const struct rb_ring *ring, uint64_t timeout_ns,
		struct rb_stall **out)
{
	struct rb_stall *st;

	*out = NULL;
	if (timeout_ns == 0)
		return 0;
	st = calloc(1, sizeof(*st) + ring->max_consumers * sizeof(st->entry[0]));
	if (st == NULL)
		return -ENOMEM;
	st->timeout_ns = timeout_ns;
	st->count = ring->max_consumers;
	*out = st;
	return 0;
}

void
rb_stall_destroy(struct rb_stall *st)
{
	free(st);
}

int
rb_consumer_demote(struct rb_ring *ring, uint32_t index, uint64_t owner,
		   uint64_t stalled_ns)
{
	struct rb_shm_consumer *rec = &ring->consumers[index];
	uint64_t cur = ck_pr_load_64(&rec->demoted);

	if (cur == owner)
		return -EALREADY;
	/* Before the CAS, which orders it: the consumer loads `demoted`
	 * (acquire), then this. */
	ck_pr_store_64(&rec->stalled_ns, stalled_ns);
	if (!ck_pr_cas_64(&rec->demoted, cur, owner))
		return -EAGAIN; /* another demoter, or the attacher, came first */
	/* A producer asleep waiting for this consumer looks again. */
	rb_doorbell_ring(&ring->producer->doorbell);
	return 0;
}

/* A lossless consumer in no group, not demoted: one a producer waits for. */
static bool
rb_consumer_gates(const struct rb_shm_consumer *rec, uint64_t owner)
{
	return RB_OWNER_STATE(owner) == RB_OWNER_ACTIVE &&
	       (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) == 0 &&
	       ck_pr_load_32(&rec->group) == 0 && !rb_consumer_is_demoted(rec, owner);
}

int
rb_stall_check(struct rb_stall *st, struct rb_ring *ring, uint64_t blocking)
{
	uint64_t now = rb_now_ns(), delta;
	int demoted = 0;
	uint32_t i;

	if (st == NULL)
		return 0;
	/* Time counts only while the producer stays blocked on the same seq
	 * (it acquired nothing in between) and only from one look to the
	 * next: a producer that was busy elsewhere between two waits does
	 * not charge that time to anyone. */
	delta = now - st->last_ns;
	if (st->last_ns == 0 || blocking != st->blocking)
		delta = 0;
	if (delta > 2 * RB_WAIT_SLICE_NS)
		delta = 2 * RB_WAIT_SLICE_NS;
	if (blocking != st->blocking) {
		for (i = 0; i < st->count; i++)
			st->entry[i].owner = 0;
	}
	st->blocking = blocking;
	st->last_ns = now;
	for (i = 0; i < st->count && i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		struct rb_stall_entry *e = &st->entry[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner), r;

		if (!rb_consumer_gates(rec, owner)) {
			e->owner = 0;
			continue;
		}
		r = rb_load_acquire_64(&rec->read_seq);
		if (r >= blocking || e->owner != owner || e->read_seq != r) {
			/* Not holding us back, or it moved: measure anew. */
			e->owner = owner;
			e->read_seq = r;
			e->stalled_ns = 0;
			continue;
		}
		e->stalled_ns += delta;
		if (e->stalled_ns >= st->timeout_ns &&
		    rb_consumer_demote(ring, i, owner, e->stalled_ns) == 0) {
			e->owner = 0;
			demoted++;
		}
	}
	return demoted;
}

int
rb_ring_demote(struct rb_ring *ring, uint32_t index)
{
	struct rb_shm_consumer *rec;
	uint64_t owner;
	int rc;

	if (index >= ring->max_consumers)
		return -EINVAL;
	rec = &ring->consumers[index];
	owner = rb_load_acquire_64(&rec->owner);
	if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
		return -ENOENT;
	if (ck_pr_load_32(&rec->group) != 0)
		return -EOPNOTSUPP;
	if ((ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) ||
	    rb_consumer_is_demoted(rec, owner))
		return -EALREADY;
	rc = rb_consumer_demote(ring, index, owner, 0);
	return rc == -EAGAIN ? -EALREADY : rc;
}

void
rb_stall_consumer_status(const struct rb_shm_consumer *rec, uint64_t owner,
			 struct rb_consumer_status *s)
{
	s->stopped = rb_process_stopped(RB_OWNER_PID(owner));
	if (ck_pr_load_32(&rec->group) == 0 && rb_consumer_is_demoted(rec, owner)) {
		s->demoted = 1;
		s->lossy = 1;
		s->stalled_ns = ck_pr_load_64(&rec->stalled_ns);
	}
}
