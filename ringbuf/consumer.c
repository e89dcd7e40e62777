/*
 * The consumer side: attach, acquire frames in place, release them, sleep.
 *
 * Lossless: every descriptor in [next, write_seq) must carry exactly its
 * sequence number, because the producer cannot overwrite a slot this
 * consumer has not released. Anything else means a corrupt or hostile
 * segment and is reported, not read.
 *
 * Lossy: the producer ignores us. Reading a frame is a sequence-lock read
 * on its descriptor: read seq (acquire), read the rest, fence, read seq
 * again; hand the frame out only if both equal the expected sequence. The
 * producer marks a descriptor WRITING before it touches the slot's bytes,
 * so rb_consumer_check / release re-read the descriptor after the caller
 * has read the bytes and report RB_E_OVERRUN if anything may have changed.
 *
 * Sleeping (Dekker with rb_publish): store wake_target, set our bit in the
 * sleep mask with an atomic OR, snapshot our doorbell, then re-read
 * write_seq. Either the producer sees our bit after publishing, or we see
 * its new write_seq before sleeping.
 *
 * Group members (rb_consumer_options.group) do not read every seq: they
 * claim runs of seqs from their group under its claim lock (group.c) and
 * release them in the order they claimed them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "claims.h"
#include "rb_internal.h"
#include "sigbus.h"

#define RB_DEFAULT_SPIN_NS 5000u
/* Separate claim ranges a group member may hold at once. */
#define RB_MAX_MEMBER_RANGES 4096u
/* How long an acquire with RB_NO_WAIT may wait for its group's claim lock. */
#define RB_LOCK_NO_WAIT_NS 1000000ull
/* Kept out of line: the group member's single-frame paths, inlined into
 * rb_consumer_acquire/release, would cost the plain consumer's fast path
 * register saves on every frame (tools/frame-cost: +13 instructions). */
#define RB_OUT_OF_LINE __attribute__((noinline))

struct rb_consumer {
	struct rb_ring *ring;
	struct rb_shm_consumer *rec;
	uint32_t index;
	bool lossy;
	bool poll_desc;        /* no group: a frame is known published by its
				* descriptor's seq (§5.6); with several
				* producers one seq at a time only */
	bool in_order;         /* single producer: commits come in seq order */
	uint64_t owner;        /* our owner word; changes only if evicted */
	uint64_t next;         /* next seq to hand out */
	uint64_t released;     /* read_seq as we last published it */
	uint64_t cached_write; /* last write_seq seen */
	uint64_t first_seq;    /* where it started reading */
	uint64_t eos_seen;     /* eos_seq of the last end it reported */
	uint64_t next_check_ns;/* when a wait next checks the producer's life */
	uint64_t alive_check_ns;/* when an empty acquire next checks it */
	uint64_t dead_signature; /* producers' census signature last found dead */
	uint64_t pending_marker; /* end marker taken while frames were held */
	uint64_t frames;
	uint64_t lost;
	uint64_t abandoned;
	uint64_t dropped;      /* dropped at the producer, said by the frames
				* (and markers) delivered (FORMAT.md §3.4) */
	uint64_t wakeups;
	int32_t group;         /* group record index, -1 when in no group */
	struct rb_claims claims; /* member: seqs held, oldest first */
	uint64_t claimed;      /* member: seqs claimed from the group */
	uint64_t spin_ns;
	uint64_t avg_wait_ns;  /* recent waits' length (rb_spin_learn) */
	const volatile int *cancel;
	uint64_t claim_seen;   /* member: highest group claim_seq seen */
	uint64_t shown_read;   /* member: read_seq as we last stored it */
	struct rb_lock_watch lock_watch; /* member: the claim lock's holder */
	bool corrupt;          /* a shared position was found implausible */
	bool demoted;          /* lossless, demoted to lossy (stall.c) */
	bool demoted_told;     /* RB_E_DEMOTED returned */
	uint64_t stalled_ns;   /* what the demoter measured */
};

/* Frames published past c->next as far as the last write_seq seen says
 * (0 when the consumer took frames by their descriptors past it). */
static inline uint64_t
rb_consumer_avail(const struct rb_consumer *c)
{
	return c->cached_write > c->next ? c->cached_write - c->next : 0;
}

/*
 * Whether seq `s` is published, by its descriptor alone (FORMAT.md §5.6):
 * its committer stores D(s).seq = s after everything else of the frame.
 * In a single-producer ring commits come in seq order, so every seq below
 * s (back to a lap) is published too; with several producers only s is.
 */
static inline bool
rb_consumer_published(const struct rb_consumer *c, uint64_t s)
{
	return rb_load_acquire_64(&rb_descriptor(c->ring, s)->seq) == s;
}

/*
 * Loads write_seq and keeps it only if it is plausible for this handle:
 * never below a value seen before (it only grows), below 2^62, no further
 * past what a lossless consumer released than one lap (the producer cannot
 * pass it), and a jump of more than a lap no further than claim_limit
 * (producers publish it before they claim). Anything else is a hostile or
 * corrupt ring: the handle is marked and its calls return RB_E_CORRUPT,
 * never a wrapped count or a frame that is not there.
 */
static uint64_t
rb_consumer_load_write(struct rb_consumer *c)
{
	struct rb_ring *ring = c->ring;
	uint64_t w = rb_load_acquire_64(&ring->producer->write_seq);
	uint64_t n = ring->slot_count;

	if (w == c->cached_write)
		return w;
	if (w < c->cached_write || w >= RB_SEQ_LIMIT) {
		c->corrupt = true;
		return c->cached_write;
	}
	/* Several producers: nor past claim_seq (loaded after w, and only
	 * growing), which a claim_limit raised from a hostile write_seq
	 * would let through (FINDINGS.md F8). */
	if (w - c->cached_write > n &&
	    (w > rb_load_acquire_64(&ring->producer->claim_limit) ||
	     (rb_ring_multi_producer(ring) &&
	      w > rb_load_acquire_64(&ring->producer->claim_seq)))) {
		c->corrupt = true;
		return c->cached_write;
	}
	/* A lossless consumer demoted or evicted (stalled) may be lapped.
	 * It may also have released a frame it took by its descriptor
	 * before the producer's write_seq store is visible (w < released). */
	if (!c->lossy && c->group < 0 && w > c->released && w - c->released > n &&
	    !(ck_pr_load_32(&c->rec->mode) & RB_MODE_LOSSY) &&
	    !rb_consumer_is_demoted(c->rec, c->owner) &&
	    rb_load_acquire_64(&c->rec->owner) == c->owner) {
		c->corrupt = true;
		return c->cached_write;
	}
	c->cached_write = w;
	return w;
}

/* A producer's stall timeout (or rb-ctl evict) demoted us to lossy
 * (stall.c): from now on we read, check and release as a lossy consumer.
 * The load fence orders the caller's reads of frame bytes before the load
 * of the mark: bytes a producer wrote after it saw the mark are then
 * caught by the lossy re-check of the descriptor. */
static bool
rb_consumer_check_demoted(struct rb_consumer *c)
{
	if (c->lossy || c->group >= 0)
		return false;
	ck_pr_fence_load();
	if (!rb_consumer_is_demoted(c->rec, c->owner))
		return false;
	ck_pr_fence_load(); /* the mark, then stalled_ns (stored before it) */
	c->stalled_ns = ck_pr_load_64(&c->rec->stalled_ns);
	c->lossy = c->demoted = true;
	return true;
}

void
rb_wake_producer_if_crossed(struct rb_ring *ring, uint64_t from, uint64_t to)
{
	uint64_t target = ck_pr_load_64(&ring->producer->wait_target);

	/* Only the consumer whose release crosses the target rings, so a
	 * fast consumer does not wake a producer held up by a slow one. */
	if (target != 0 && from < target && target <= to)
		rb_doorbell_ring(&ring->producer->doorbell);
}

static bool
rb_consumer_evicted(const struct rb_consumer *c)
{
	return rb_load_acquire_64(&c->rec->owner) != c->owner;
}

/*
 * Only this handle writes its record's read_seq while it is attached: a
 * different value there is a hostile write (one that would hold the
 * producer back, or let it overwrite held frames). Checked once a wait
 * slice; the caller has checked for eviction first.
 */
static bool
rb_consumer_read_seq_rewritten(struct rb_consumer *c)
{
	uint64_t mine = c->group >= 0 ? c->shown_read : c->released;

	if (rb_load_acquire_64(&c->rec->read_seq) == mine)
		return false;
	c->corrupt = true;
	return true;
}

/* The rest of rb_consumer_attach for a group member: the record (still
 * CLAIMING) joins the group, then becomes active holding nothing. */
static int
rb_member_attach(struct rb_ring *ring, struct rb_consumer *c,
		 struct rb_shm_consumer *rec, uint32_t index,
		 const struct rb_consumer_options *o, uint64_t start,
		 uint64_t claiming, struct rb_consumer **out)
{
	uint32_t g;
	int rc;

	ck_pr_store_64(&rec->read_seq, RB_SEQ_NONE);
	rc = rb_group_join(ring, rec, o->group, o->lossy != 0, start, &g, o->cancel);
	if (rc != 0) {
		rb_store_release_64(&rec->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(claiming) + 1,
							      RB_OWNER_FREE));
		rb_claims_free(&c->claims);
		free(c);
		return rc;
	}
	rb_store_then_fence_64(&rec->owner, c->owner);
	c->ring = ring;
	c->rec = rec;
	c->index = index;
	c->lossy = o->lossy != 0;
	c->group = (int32_t)g;
	c->first_seq = rb_load_acquire_64(&ring->groups[g].claim_seq);
	c->next = c->released = c->claim_seen = c->first_seq;
	c->shown_read = RB_SEQ_NONE;
	c->pending_marker = UINT64_MAX;
	c->cached_write = rb_load_acquire_64(&ring->producer->write_seq);
	c->spin_ns = o->spin_ns ? o->spin_ns : RB_DEFAULT_SPIN_NS;
	c->cancel = o->cancel;
	*out = c;
	return 0;
}

int
rb_consumer_attach(struct rb_ring *ring, const struct rb_consumer_options *options,
		   struct rb_consumer **out)
{
	struct rb_consumer_options defaults = {0};
	const struct rb_consumer_options *o = options ? options : &defaults;
	struct rb_shm_consumer *rec = NULL;
	struct rb_consumer *c;
	uint64_t owner = 0, w, start, limit;
	uint32_t i, n = ring->slot_count;

	*out = NULL;
	if (o->start > RB_START_NEXT)
		return -EINVAL;
	if (o->group != NULL && rb_group_name_check(o->group) != 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->group = -1;
	if (o->group != NULL) {
		uint32_t cap = n < RB_MAX_MEMBER_RANGES ? n : RB_MAX_MEMBER_RANGES;
		int rc = rb_claims_init(&c->claims, cap);

		if (rc != 0) {
			free(c);
			return rc;
		}
	}
	for (i = 0; i < ring->max_consumers; i++)
		(void)rb_consumer_evict_if_dead(ring, i);
	for (i = 0; i < ring->max_consumers; i++) {
		uint64_t cur = rb_load_acquire_64(&ring->consumers[i].owner);

		if (RB_OWNER_STATE(cur) != RB_OWNER_FREE)
			continue;
		owner = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(cur), RB_OWNER_CLAIMING);
		if (ck_pr_cas_64(&ring->consumers[i].owner, cur, owner)) {
			rec = &ring->consumers[i];
			break;
		}
	}
	if (rec == NULL) {
		rb_claims_free(&c->claims);
		free(c);
		return RB_E_TOO_MANY;
	}
	ck_pr_store_64(&rec->start_time, rb_self_start_time());
	ck_pr_store_32(&rec->mode, o->lossy ? RB_MODE_LOSSY : 0);
	ck_pr_store_64(&rec->frames, 0);
	ck_pr_store_64(&rec->lost, 0);
	ck_pr_store_64(&rec->wake_target, 0);
	ck_pr_store_64(&rec->claimed, 0);
	ck_pr_store_64(&rec->intent_claim_seq, 0);
	ck_pr_store_32(&rec->group, 0);
	ck_pr_store_64(&rec->demoted, 0);
	ck_pr_store_64(&rec->stalled_ns, 0);
	memset(rec->label, 0, sizeof(rec->label));
	if (o->label != NULL)
		strncpy(rec->label, o->label, sizeof(rec->label) - 1);

	w = rb_load_acquire_64(&ring->producer->write_seq);
	switch (o->start) {
	case RB_START_OLDEST:
		start = w - ring->initial_seq > n ? w - n : ring->initial_seq;
		break;
	case RB_START_NEWEST:
		start = w > ring->initial_seq ? w - 1 : w;
		break;
	default:
		start = w;
		break;
	}
	c->owner = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(owner), RB_OWNER_ACTIVE);
	if (o->group != NULL)
		return rb_member_attach(ring, c, rec, i, o, start, owner, out);
	ck_pr_store_64(&rec->read_seq, start);
	/* Become visible to the producer, then read its claim limit: the
	 * other half of the handshake in rb_refresh_limit. */
	rb_store_then_fence_64(&rec->owner, c->owner);
	if (!o->lossy) {
		limit = rb_load_acquire_64(&ring->producer->claim_limit);
		if (limit > n && start < limit - n) {
			uint64_t joined_at = start;

			/* The producer may already sleep on a wait_target computed
			 * from joined_at: this raise is a release like any other. */
			start = limit - n;
			rb_store_then_fence_64(&rec->read_seq, start);
			rb_wake_producer_if_crossed(ring, joined_at, start);
		}
	}
	c->ring = ring;
	c->rec = rec;
	c->index = i;
	c->lossy = o->lossy != 0;
	c->next = c->released = c->first_seq = start;
	c->poll_desc = true;
	c->in_order = !rb_ring_multi_producer(ring);
	c->pending_marker = UINT64_MAX;
	/* The handshake may have raised start past w: never cache a write_seq
	 * below next (it would read as write_seq going backwards). */
	c->cached_write = start > w ? start : w;
	c->spin_ns = o->spin_ns ? o->spin_ns : RB_DEFAULT_SPIN_NS;
	c->cancel = o->cancel;
	*out = c;
	return 0;
}

int
rb_consumer_detach(struct rb_consumer *c)
{
	struct rb_ring *ring;
	uint64_t evicting;
	int rc = 0;

	if (c == NULL)
		return 0;
	ring = c->ring;
	evicting = RB_OWNER_MAKE(RB_OWNER_PID(c->owner), RB_OWNER_GEN(c->owner),
				 RB_OWNER_EVICTING);
	if (ck_pr_cas_64(&c->rec->owner, c->owner, evicting)) {
		/* Frames still held become the group's lost (group.c). */
		if (c->group >= 0)
			rb_group_member_leave(ring, c->index);
		rb_consumer_record_free(ring, c->index, c->owner);
	} else {
		rc = rb_ring_error(ring, RB_E_EVICTED);
	}
	rb_claims_free(&c->claims);
	free(c);
	return rc;
}

/* A group member evicts dead members of its group, so that the frames
 * they held are counted as lost and the group's lock and gate move on. */
static bool
rb_member_evict_dead_peers(struct rb_consumer *c)
{
	struct rb_ring *ring = c->ring;
	uint32_t i, g = (uint32_t)c->group + 1;
	bool any = rb_group_tidy(ring, (uint32_t)c->group);

	for (i = 0; i < ring->max_consumers; i++) {
		if (i == c->index ||
		    (ck_pr_load_32(&ring->consumers[i].group) & ~RB_GROUP_JOINING) != g)
			continue;
		if (rb_consumer_evict_if_dead(ring, i))
			any = true;
	}
	return any;
}

/*
 * Ended, nobody left to publish and nothing left to repair, yet write_seq
 * short of the end: it was moved back (a producer publishes up to the end
 * before it marks it, §5.12; the seqs of one that died are repaired once
 * its record is freed), and waiting would be for ever. The repair is
 * tried once more after the census: a dead producer freed in between
 * leaves seqs only this repair commits. Marks the handle corrupt.
 */
static bool
rb_stream_end_unreachable(struct rb_consumer *c, const struct rb_producer_census *census)
{
	struct rb_shm_producer *p = c->ring->producer;

	if (census->active != 0 || rb_load_acquire_64(&p->stream_state) != RB_STREAM_ENDED ||
	    rb_load_acquire_64(&p->write_seq) >= ck_pr_load_64(&p->eos_seq) ||
	    rb_repair_abandoned(c->ring) > 0 ||
	    rb_load_acquire_64(&p->write_seq) >= ck_pr_load_64(&p->eos_seq))
		return false;
	c->corrupt = true;
	return true;
}

/* Why a sleeping consumer should look at the ring again. */
static int
rb_consumer_wait_check(void *arg)
{
	struct rb_consumer *c = arg;
	struct rb_producer_census census;

	if (c->cancel != NULL && *c->cancel)
		return 1;
	if (rb_consumer_evicted(c) || rb_consumer_read_seq_rewritten(c))
		return 1;
	/* A producer killed between claim and commit holds write_seq up:
	 * commit its frames empty (several-producer rings; repair.c). */
	if (rb_repair_abandoned(c->ring) > 0)
		return 1;
	if (c->group >= 0 && rb_member_evict_dead_peers(c))
		return 1;
	rb_producer_census(c->ring, &census);
	if (census.active > 0 && census.alive == 0)
		return 1;
	return rb_stream_end_unreachable(c, &census) ? 1 : 0;
}

/* Where this consumer reads next: its own position, or its group's. */
static uint64_t
rb_consumer_position(const struct rb_consumer *c)
{
	if (c->group >= 0)
		return rb_load_acquire_64(&c->ring->groups[c->group].claim_seq);
	return c->next;
}

/* Whether the stream has ended or its producer is gone, so that waiting
 * for more frames is pointless. */
static bool
rb_stream_stopped(struct rb_consumer *c)
{
	struct rb_shm_producer *p = c->ring->producer;
	uint64_t state = rb_load_acquire_64(&p->stream_state);

	uint64_t eos;

	if (state == RB_STREAM_ABANDONED)
		return true;
	if (state != RB_STREAM_ENDED)
		return false;
	/* A stream that ended before this consumer's first frame is not its
	 * stream: it waits for the next one instead. With several producers
	 * the end may be published before frames claimed ahead of it: the
	 * stream has stopped only once they are all published. */
	eos = ck_pr_load_64(&p->eos_seq);
	return eos > c->first_seq && rb_load_acquire_64(&p->write_seq) >= eos;
}

/* The code to return when no frame is available and waiting is over. */
static int
rb_consumer_nothing(struct rb_consumer *c, int wait_rc)
{
	struct rb_shm_producer *p = c->ring->producer;
	uint64_t state, now;

	if (rb_consumer_evicted(c))
		return RB_E_EVICTED;
	if (c->group >= 0) {
		uint64_t pos = rb_consumer_position(c);

		/* A claim_seq behind what we saw or past write_seq would make
		 * the end look reached with frames never handed out. */
		if (pos < c->claim_seen ||
		    pos > rb_load_acquire_64(&p->write_seq))
			c->corrupt = true;
	}
	if (c->corrupt)
		return RB_E_CORRUPT;
	state = rb_load_acquire_64(&p->stream_state);
	if (state == RB_STREAM_ENDED && rb_stream_stopped(c) &&
	    rb_consumer_position(c) >= ck_pr_load_64(&p->eos_seq)) {
		uint64_t eos = ck_pr_load_64(&p->eos_seq);

		/* A lossy consumer that skipped the end marker counted its
		 * sequence number as lost; it was not a frame. */
		if (c->group < 0 && c->eos_seen != eos &&
		    ck_pr_load_64(&p->eos_marker) == 1 &&
		    eos - 1 >= c->first_seq && c->lost > 0) {
			c->lost--;
			ck_pr_store_64(&c->rec->lost, c->lost);
		}
		c->eos_seen = eos;
		return RB_E_EOS;
	}
	if (state == RB_STREAM_ABANDONED)
		return RB_E_PRODUCER_DEAD;
	/* Liveness costs kill() and a read of /proc/PID/stat: a consumer that
	 * polls with RB_NO_WAIT would pay them on every empty poll (~4 us).
	 * Look at most once per wait slice, as a sleeping consumer does. */
	now = rb_now_ns();
	if (c->dead_signature != 0) {
		struct rb_producer_census quick = {0};
		uint32_t i;

		/* The dead stay dead while no producer attaches or leaves. */
		for (i = 0; i < c->ring->max_producers; i++) {
			uint64_t w = rb_load_acquire_64(&c->ring->producer_records[i].owner);

			if (RB_OWNER_STATE(w) == RB_OWNER_ACTIVE)
				quick.signature += w;
		}
		if (quick.signature == c->dead_signature)
			return RB_E_PRODUCER_DEAD;
		c->dead_signature = 0;
	}
	if (now >= c->alive_check_ns) {
		struct rb_producer_census census;

		c->alive_check_ns = now + RB_WAIT_SLICE_NS;
		if (rb_consumer_read_seq_rewritten(c))
			return RB_E_CORRUPT;
		if (rb_repair_abandoned(c->ring) > 0)
			return wait_rc;
		if (c->group >= 0)
			(void)rb_member_evict_dead_peers(c);
		rb_producer_census(c->ring, &census);
		if (census.active > 0 && census.alive == 0) {
			c->dead_signature = census.signature;
			return RB_E_PRODUCER_DEAD;
		}
		if (rb_stream_end_unreachable(c, &census))
			return RB_E_CORRUPT;
	}
	if (c->cancel != NULL && *c->cancel)
		return -EINTR;
	return wait_rc;
}

/* Whether the frames below `target` are published (by their descriptors
 * when the caller takes frames that way). */
static inline bool
rb_consumer_reached(struct rb_consumer *c, uint64_t target, bool fast)
{
	return fast ? rb_consumer_published(c, target - 1)
		    : rb_consumer_load_write(c) >= target || c->corrupt;
}

/* Up to RB_BRIEF_SPINS looks, with no clock read; true once reached. */
static bool
rb_consumer_spin_briefly(struct rb_consumer *c, uint64_t target, bool fast)
{
	for (uint32_t i = 0; i < RB_BRIEF_SPINS; i++) {
		rb_cpu_relax();
		if (rb_consumer_reached(c, target, fast))
			return true;
	}
	return false;
}

/*
 * Waits until write_seq >= target, or until the wait should end for
 * another reason. Returns 0 when it should look again, -ETIMEDOUT, or
 * -EINTR.
 */
static int
rb_consumer_wait(struct rb_consumer *c, uint64_t target, uint64_t deadline, bool fast)
{
	struct rb_ring *ring = c->ring;
	struct rb_shm_producer *p = ring->producer;
	uint64_t bit = 1ull << (c->index % 64);
	uint64_t *mask = &p->sleep_mask[c->index / 64];
	uint64_t start = rb_now_ns(), now = start;
	uint64_t spin_until = start + rb_spin_budget(c->avg_wait_ns, c->spin_ns);
	uint32_t seen;
	int rc;

	/* Spin briefly: on a busy stream the next frame is microseconds away
	 * and a futex round trip costs tens of microseconds. */
	do {
		/* By descriptor when the caller may take frames that way: the
		 * line it will read anyway, not the one the producer writes on
		 * every commit. */
		if (rb_consumer_reached(c, target, fast)) {
			rb_spin_learn(&c->avg_wait_ns, now - start);
			return 0;
		}
		rb_cpu_relax();
		now = rb_now_ns();
	} while (now < spin_until);

	/* Cheap reasons not to sleep; the producer's liveness costs a look in
	 * /proc and is checked every wait slice instead. */
	if (rb_stream_stopped(c) || (c->cancel != NULL && *c->cancel))
		return 0;

	ck_pr_store_64(&c->rec->wake_target, target);
	ck_pr_fence_store_atomic();
	ck_pr_or_64(mask, bit);
	ck_pr_fence_atomic_load();
	seen = rb_doorbell_value(&c->rec->doorbell);
	if (rb_consumer_load_write(c) >= target || c->corrupt || rb_stream_stopped(c)) {
		rc = 0;
	} else {
		c->wakeups++;
		rc = rb_doorbell_wait(&c->rec->doorbell, seen, deadline,
				      rb_consumer_wait_check, c, &c->next_check_ns);
	}
	ck_pr_and_64(mask, ~bit);
	ck_pr_store_64(&c->rec->wake_target, 0);
	rb_spin_learn(&c->avg_wait_ns, rb_now_ns() - start);
	(void)rb_consumer_load_write(c);
	if (rc == -ETIMEDOUT || rc == -EINTR)
		return rc;
	return 0;
}

/* A descriptor's drop count (FORMAT.md §3.4) as struct rb_frame carries
 * it: saturated to 32 bits. The callers zero an abandoned seq's count
 * first (a repairer may leave it stale); the fast path takes none. */
static inline uint32_t
rb_descriptor_dropped(uint64_t dropped)
{
	return dropped > UINT32_MAX ? UINT32_MAX : (uint32_t)dropped;
}

/* Reads the descriptor of `seq` into `f`; for a lossy consumer returns
 * RB_E_OVERRUN if the slot no longer (or not yet) holds that frame. */
static int
rb_read_descriptor(struct rb_consumer *c, uint64_t seq, struct rb_frame *f)
{
	struct rb_ring *ring = c->ring;
	struct rb_shm_descriptor *d = rb_descriptor(ring, seq);
	uint64_t s = rb_load_acquire_64(&d->seq), dropped;

	if (s != seq) {
		if (c->lossy || rb_consumer_check_demoted(c))
			return RB_E_OVERRUN;
		/* An evicted consumer's frames may be overwritten: say why. */
		return rb_consumer_evicted(c) ? RB_E_EVICTED : RB_E_CORRUPT;
	}
	f->length = ck_pr_load_64(&d->length);
	f->timestamp_ns = ck_pr_load_64(&d->timestamp_ns);
	f->flags = ck_pr_load_32(&d->flags);
	dropped = ck_pr_load_64(&d->dropped);
	if (c->lossy) {
		ck_pr_fence_load();
		if (ck_pr_load_64(&d->seq) != seq)
			return RB_E_OVERRUN;
	}
	/* Never trust a shared length for bounds. An end marker and an
	 * abandoned seq are empty (FORMAT.md §7, invariant 6): a frame with
	 * bytes and either flag is a hostile or corrupt descriptor, not the
	 * end of the stream. */
	if (f->length > ring->frame_bytes ||
	    ((f->flags & (RB_FRAME_EOS | RB_FRAME_ABANDONED)) && f->length != 0))
		return RB_E_CORRUPT;
	f->seq = seq;
	f->data = rb_slot(ring, seq);
	/* A repairer may leave an abandoned seq's count stale: ignore it. */
	f->dropped = (f->flags & RB_FRAME_ABANDONED) ? 0 : rb_descriptor_dropped(dropped);
	return 0;
}

static void
rb_publish_release(struct rb_consumer *c, uint64_t new_read)
{
	uint64_t old = c->released;

	if (c->pending_marker != UINT64_MAX && new_read == c->pending_marker) {
		new_read++; /* the end marker consumed while frames were held */
		c->pending_marker = UINT64_MAX;
	}

	ck_pr_store_64(&c->rec->frames, c->frames);
	ck_pr_store_64(&c->rec->lost, c->lost);
	c->released = new_read;
	if (c->lossy) {
		/* Nobody waits on a lossy consumer: no handshake needed. */
		rb_store_release_64(&c->rec->read_seq, new_read);
		return;
	}
	rb_store_then_fence_64(&c->rec->read_seq, new_read);
	rb_wake_producer_if_crossed(c->ring, old, new_read);
}

/* Consumes the end-of-stream marker at c->next. */
static int
rb_consume_marker(struct rb_consumer *c)
{
	c->eos_seen = c->next + 1;
	if (c->next == c->released) {
		c->next++;
		rb_publish_release(c, c->next);
	} else {
		/* Frames before it are still held (e.g. writes in flight):
		 * releasing up to the marker now would hand their slots back.
		 * The marker is released with the last of them instead. */
		c->pending_marker = c->next;
		c->next++;
	}
	return RB_E_EOS;
}

/*
 * The fast path of a lossless consumer in no group: takes up to `max` frames from c->next while their descriptors say
 * they are published, without loading write_seq, if at least `min` are
 * (several producers: min 1 only, see rb_consumer_published).
 * Returns the frames taken; 0 when fewer than `min` are published; -1 when
 * the next one is published but is for the full path (an end marker, a
 * descriptor that does not hold up): the caller goes the full way.
 */
static int
rb_consumer_take_published(struct rb_consumer *c, struct rb_frame *frames,
			   uint32_t max, uint32_t min)
{
	struct rb_ring *ring = c->ring;
	uint32_t n;

	if (!rb_consumer_published(c, c->next + min - 1))
		return 0;
	if (c->next - c->released + max > ring->slot_count)
		max = (uint32_t)(ring->slot_count - (c->next - c->released));
	for (n = 0; n < max; n++) {
		struct rb_shm_descriptor *d = rb_descriptor(ring, c->next);
		struct rb_frame *f = &frames[n];
		uint64_t dropped;

		if (n >= min && rb_load_acquire_64(&d->seq) != c->next)
			break;
		f->length = ck_pr_load_64(&d->length);
		f->timestamp_ns = ck_pr_load_64(&d->timestamp_ns);
		f->flags = ck_pr_load_32(&d->flags);
		dropped = ck_pr_load_64(&d->dropped);
		/* Bounds as in rb_read_descriptor; a marker (and an abandoned
		 * seq, whose drop count a repairer may leave stale) ends the
		 * run. */
		if (f->length > ring->frame_bytes ||
		    (f->flags & (RB_FRAME_EOS | RB_FRAME_ABANDONED)))
			break;
		f->seq = c->next;
		f->data = rb_slot(ring, c->next);
		f->dropped = rb_descriptor_dropped(dropped);
		c->dropped += f->dropped;
		c->next++;
	}
	return n > 0 ? (int)n : -1;
}

/*
 * Waits until at least `min` frames are published past c->next, or fewer
 * once waiting is over (deadline, end of stream, dead producer). Returns 0
 * when there is at least one, or the code to give the caller. *deadline is
 * set at the first wait and kept across calls of one acquire.
 */
static int
rb_consumer_wait_ready(struct rb_consumer *c, uint32_t min, uint64_t timeout_ns,
		       uint64_t *deadline, bool fast)
{
	struct rb_ring *ring = c->ring;
	int rc;

	for (;;) {
		uint64_t avail = rb_consumer_avail(c);
		bool stopped;

		if (fast && rb_consumer_published(c, c->next + min - 1))
			return 0; /* the caller takes them by their descriptors */
		if (avail < min) {
			(void)rb_consumer_load_write(c);
			avail = rb_consumer_avail(c);
		}
		/* write_seq went backwards. A consumer that takes frames by
		 * their descriptors may be a frame or a batch ahead of it, for
		 * as long as the producer takes from its descriptor store to
		 * its write_seq store; load_write catches a real step back. */
		if (c->corrupt || (!c->poll_desc && c->cached_write < c->next))
			return RB_E_CORRUPT;
		if (avail >= min)
			return 0;
		if (avail > 0 && (*deadline != 0 || rb_stream_stopped(c) ||
				  timeout_ns == RB_NO_WAIT))
			return 0; /* waited once already, or no point waiting */
		if (timeout_ns == RB_NO_WAIT)
			return rb_consumer_nothing(c, -EAGAIN);
		if (*deadline == 0) {
			/* A caught-up consumer of a busy stream waits a few
			 * hundred ns per frame: look again a few times before
			 * the deadline and the spin read the clock. */
			if (rb_consumer_spin_briefly(c, c->next + min, fast))
				continue;
			*deadline = rb_deadline_after(timeout_ns);
		}
		rc = rb_consumer_wait(c, c->next + min, *deadline, fast);
		if (rb_consumer_avail(c) >= min ||
		    (fast && rb_consumer_published(c, c->next + min - 1)))
			return 0;
		stopped = rb_stream_stopped(c);
		if (stopped) {
			/* Frames of dead producers may still hold write_seq up. */
			(void)rb_repair_abandoned(ring);
			/* write_seq may have been read before the end: the
			 * acquire on stream_state makes every frame published
			 * before it visible now. */
			(void)rb_consumer_load_write(c);
		}
		if (c->corrupt)
			return RB_E_CORRUPT;
		if (rc != 0 || stopped || rb_consumer_nothing(c, 0) != 0) {
			if (c->cached_write > c->next)
				return 0;
			return rb_consumer_nothing(c, rc ? rc : -ETIMEDOUT);
		}
	}
}

/* Hands out up to `max` frames from c->next; 0 if a lossy consumer found
 * every available frame overrun. */
static int
rb_consumer_take(struct rb_consumer *c, struct rb_frame *frames, uint32_t max)
{
	struct rb_ring *ring = c->ring;
	uint32_t n;
	int rc;

	if (c->lossy && c->cached_write > c->next &&
	    c->cached_write - c->next > ring->slot_count) {
		uint64_t oldest = c->cached_write - ring->slot_count;

		c->lost += oldest - c->next;
		c->next = oldest;
	}
	for (n = 0; n < max && c->next < c->cached_write;) {
		struct rb_frame *f = &frames[n];

		rc = rb_read_descriptor(c, c->next, f);
		if (rc == RB_E_OVERRUN) {
			c->lost++;
			c->next++;
			continue;
		}
		if (rc != 0)
			return n > 0 ? (int)n : rc;
		if (f->flags & RB_FRAME_EOS) {
			if (n > 0)
				break; /* deliver the frames before it first */
			c->dropped += f->dropped;
			return rb_consume_marker(c);
		}
		c->dropped += f->dropped;
		c->next++;
		n++;
	}
	return (int)n;
}


/*
 * Group member: claims up to `max` seqs from the group under its claim
 * lock (see group.c for the intent protocol). Returns the frames it got,
 * 0 when the group has nothing to hand out, RB_E_EOS when it claimed the
 * end marker, or a negative code.
 */
/*
 * Takes the group's claim lock. The clock is read only when the lock is
 * taken already: *deadline (0 until then) is set from timeout_ns at the
 * first need and kept for the rest of the acquire. Even a caller that does
 * not wait may wait RB_LOCK_NO_WAIT_NS for the lock, which is held for a
 * few dozen instructions.
 */
static int
rb_member_lock(struct rb_consumer *c, uint64_t *deadline, uint64_t timeout_ns)
{
	if (rb_group_trylock(c->ring, (uint32_t)c->group, c->index, &c->lock_watch))
		return 0;
	if (*deadline == 0)
		*deadline = rb_deadline_after(timeout_ns == RB_NO_WAIT ? RB_LOCK_NO_WAIT_NS
								 : timeout_ns);
	return rb_group_lock(c->ring, (uint32_t)c->group, c->index, *deadline, c->cancel,
			     &c->lock_watch);
}

static int
rb_member_take(struct rb_consumer *c, struct rb_frame *frames, uint32_t max,
	       uint64_t *deadline, uint64_t timeout_ns)
{
	struct rb_ring *ring = c->ring;
	struct rb_shm_group *g = &ring->groups[c->group];
	struct rb_shm_consumer *rec = c->rec;
	uint64_t cur, ws, s, lost_add = 0, end, markers, gate;
	uint32_t k = 0;
	bool marker = false;
	int rc = 0;

	rc = rb_member_lock(c, deadline, timeout_ns);
	if (rc != 0)
		return rc;
	cur = ck_pr_load_64(&g->claim_seq);
	ws = rb_consumer_load_write(c);
	/* claim_seq only grows, never passes write_seq, and a lossless
	 * group's gates the producer: write_seq is at most a lap past it. */
	if (c->corrupt || cur < c->claim_seen || cur > ws ||
	    (!c->lossy && ws - cur > ring->slot_count)) {
		rb_group_unlock(ring, (uint32_t)c->group);
		c->corrupt = true;
		return RB_E_CORRUPT;
	}
	/* Moved since we last saw it: by other members' claims, which the
	 * group's accounting covers, or by no claim at all (group.c). */
	if (cur != c->claim_seen &&
	    rb_group_check_accounting(ring, (uint32_t)c->group, cur) < 0) {
		rb_group_unlock(ring, (uint32_t)c->group);
		c->corrupt = true;
		return RB_E_CORRUPT;
	}
	c->claim_seen = cur;
	if (ws <= cur) {
		rb_group_unlock(ring, (uint32_t)c->group);
		return 0;
	}
	s = cur;
	if (c->lossy && ws - cur > ring->slot_count) {
		lost_add = ws - ring->slot_count - cur; /* lapped: overwritten */
		s = ws - ring->slot_count;
	}
	/* Lossless: the group's gate is at or below cur while we hold the
	 * lock, so these descriptors cannot change under us. */
	for (; s < ws && k < max; s++) {
		rc = rb_read_descriptor(c, s, &frames[k]);
		if (rc == RB_E_OVERRUN) {
			lost_add++;
			rc = 0;
			continue;
		}
		if (rc != 0)
			break;
		if (frames[k].flags & RB_FRAME_EOS) {
			if (k == 0) {
				marker = true;
				s++;
			}
			break;
		}
		k++;
	}
	end = s;
	if (end == cur) {
		rb_group_unlock(ring, (uint32_t)c->group);
		return rc;
	}
	/* A count past any seq count is a hostile record's: left as it is
	 * (monitors report it) rather than wrapped back to plausible. */
	markers = ck_pr_load_64(&g->markers);
	if (marker && markers < RB_SEQ_LIMIT)
		markers++;
	/* Hold position first (the producer reads claim_seq, then it). */
	if (k > 0 && c->claims.held == 0)
		ck_pr_store_64(&rec->read_seq, c->shown_read = frames[0].seq);
	ck_pr_store_64(&rec->intent_claimed, c->claimed + k + lost_add);
	ck_pr_store_64(&rec->intent_lost, c->lost + lost_add);
	ck_pr_store_64(&rec->intent_markers, markers);
	rb_store_release_64(&rec->intent_claim_seq, end);
	gate = k > 0 ? frames[0].seq : end;
	if (!c->lossy && c->claims.held == 0 && gate > cur) {
		/* Holding nothing before, this claim raises the group's gate
		 * (from cur to the first seq it now holds, or to end): a
		 * producer may wait for exactly that. Dekker with its
		 * announcement, as for a release. */
		rb_store_then_fence_64(&g->claim_seq, end);
		rb_wake_producer_if_crossed(ring, cur, gate);
	} else {
		/* The gate stays at or below cur (our read_seq, stored above,
		 * or an older seq we hold): no producer waits for this claim,
		 * so no fence. The release orders read_seq before it. */
		rb_store_release_64(&g->claim_seq, end);
	}
	c->claimed += k + lost_add;
	c->lost += lost_add;
	for (uint32_t i = 0; i < (marker ? 1 : k); i++)
		c->dropped += frames[i].dropped; /* a marker is read into frames[0] */
	c->claim_seen = end;
	ck_pr_store_64(&rec->claimed, c->claimed);
	ck_pr_store_64(&rec->lost, c->lost);
	ck_pr_store_64(&g->markers, markers);
	rb_store_release_64(&rec->intent_claim_seq, 0);
	rb_group_unlock(ring, (uint32_t)c->group);

	for (uint32_t i = 0; i < k; i++)
		(void)rb_claims_push(&c->claims, frames[i].seq, 1);
	if (marker) {
		c->eos_seen = end;
		return RB_E_EOS;
	}
	return (int)k;
}

/*
 * A lossless member's claim of one frame, rb_member_take's common case
 * without its loops: the claim lock free at the first look, claim_seq
 * where this member left it (nobody else claimed since, so the accounting
 * identity has nothing new to check, group.c), the frame there published
 * and not an end marker. Same checks, same intent protocol, same order of
 * stores; the group's lost and markers and our lost do not change, so
 * they are not stored. 1 with the frame; 0 when anything is otherwise:
 * the caller goes the full way, which decides it again under the lock.
 */
static RB_OUT_OF_LINE int
rb_member_take_one(struct rb_consumer *c, struct rb_frame *f)
{
	struct rb_ring *ring = c->ring;
	struct rb_shm_group *g = &ring->groups[c->group];
	struct rb_shm_consumer *rec = c->rec;
	uint64_t cur, ws;

	if (c->lossy || c->corrupt || c->claims.held >= ring->slot_count ||
	    rb_claims_full(&c->claims) || rb_consumer_evicted(c) ||
	    !rb_group_trylock(ring, (uint32_t)c->group, c->index, &c->lock_watch))
		return 0;
	cur = ck_pr_load_64(&g->claim_seq);
	/* write_seq only grows: a cached value past cur is enough. */
	ws = c->cached_write > cur ? c->cached_write : rb_consumer_load_write(c);
	if (cur != c->claim_seen || c->corrupt || ws <= cur || ws - cur > ring->slot_count ||
	    rb_read_descriptor(c, cur, f) != 0 || (f->flags & RB_FRAME_EOS)) {
		rb_group_unlock(ring, (uint32_t)c->group);
		return 0;
	}
	/* Held position first (the producer reads claim_seq, then it). */
	if (c->claims.held == 0)
		ck_pr_store_64(&rec->read_seq, c->shown_read = cur);
	ck_pr_store_64(&rec->intent_claimed, c->claimed + 1);
	ck_pr_store_64(&rec->intent_lost, c->lost);
	ck_pr_store_64(&rec->intent_markers, ck_pr_load_64(&g->markers));
	rb_store_release_64(&rec->intent_claim_seq, cur + 1);
	/* The gate stays at cur: no fence (see rb_member_take). */
	rb_store_release_64(&g->claim_seq, cur + 1);
	c->claimed++;
	c->claim_seen = cur + 1;
	c->dropped += f->dropped;
	ck_pr_store_64(&rec->claimed, c->claimed);
	rb_store_release_64(&rec->intent_claim_seq, 0);
	rb_group_unlock(ring, (uint32_t)c->group);
	(void)rb_claims_push(&c->claims, cur, 1);
	return 1;
}

static int
rb_member_acquire_batch(struct rb_consumer *c, struct rb_frame *frames,
			uint32_t max, uint32_t min, uint64_t timeout_ns)
{
	struct rb_ring *ring = c->ring;
	uint64_t deadline = 0; /* read from the clock at the first need */
	int rc;

	if (rb_claims_full(&c->claims))
		return -ENOBUFS;
	if (!c->lossy && c->claims.held + min > ring->slot_count)
		return -ENOBUFS;
	for (;;) {
		uint64_t pos;
		bool stopped;

		if (rb_consumer_evicted(c))
			return RB_E_EVICTED;
		if (c->corrupt)
			return RB_E_CORRUPT;
		rc = rb_member_take(c, frames, max, &deadline, timeout_ns);
		if (rc == -ETIMEDOUT && timeout_ns == RB_NO_WAIT)
			return -EAGAIN;
		if (rc != 0)
			return rc;
		pos = rb_consumer_position(c);
		if (c->cached_write > pos)
			continue; /* lossy, all overrun: take again */
		/* The end is judged from a claim_seq our take checked (under
		 * the lock, against the group's accounting), never from one
		 * that moved since: take again. */
		if (timeout_ns == RB_NO_WAIT) {
			if (rb_consumer_position(c) != c->claim_seen)
				continue;
			return rb_consumer_nothing(c, -EAGAIN);
		}
		if (deadline == 0)
			deadline = rb_deadline_after(timeout_ns);
		rc = rb_consumer_wait(c, pos + min, deadline, false);
		if (c->corrupt)
			return RB_E_CORRUPT;
		if (rb_load_acquire_64(&ring->producer->write_seq) > rb_consumer_position(c))
			continue;
		stopped = rb_stream_stopped(c);
		if (stopped)
			(void)rb_repair_abandoned(ring);
		if (rc != 0 || stopped || rb_consumer_nothing(c, 0) != 0) {
			if (rb_load_acquire_64(&ring->producer->write_seq) >
				    rb_consumer_position(c) ||
			    rb_consumer_position(c) != c->claim_seen)
				continue;
			return rb_consumer_nothing(c, rc ? rc : -ETIMEDOUT);
		}
	}
}

/* Group member: hands back the `count` oldest held frames. */
static int
rb_member_release_batch(struct rb_consumer *c, const struct rb_frame *frames,
			uint32_t count)
{
	uint64_t old = rb_claims_oldest(&c->claims), now;
	uint32_t i, overrun = 0;

	if (!rb_claims_match(&c->claims, frames, count))
		return -EINVAL; /* members release in the order they got them */
	for (i = 0; i < count; i++) {
		/* Only a lossy member's frames can be overrun: the group's
		 * gate holds a lossless one's, and members are never demoted. */
		if (c->lossy && rb_consumer_check(c, &frames[i]) != 0)
			overrun++;
		else if (frames[i].flags & RB_FRAME_ABANDONED)
			c->abandoned++;
	}
	rb_claims_pop(&c->claims, count);
	c->frames += count - overrun;
	c->lost += overrun;
	/* lost before frames: a member killed between the two stores still
	 * adds up (held = claimed - frames - lost). */
	ck_pr_store_64(&c->rec->lost, c->lost);
	ck_pr_store_64(&c->rec->frames, c->frames);
	now = rb_claims_oldest(&c->claims);
	c->shown_read = now;
	if (c->lossy) {
		rb_store_release_64(&c->rec->read_seq, now);
	} else {
		rb_store_then_fence_64(&c->rec->read_seq, now);
		rb_wake_producer_if_crossed(c->ring, old, now);
	}
	if (rb_consumer_evicted(c))
		return RB_E_EVICTED;
	return (int)overrun;
}

static int
rb_consumer_take_batch(struct rb_consumer *c, struct rb_frame *frames,
		       uint32_t max, uint32_t min, uint64_t timeout_ns)
{
	struct rb_ring *ring = c->ring;
	uint64_t deadline = 0;
	bool fast;
	int rc;

	if (max == 0)
		return -EINVAL;
	if (min == 0)
		min = 1;
	if (min > max)
		min = max;
	if (min > ring->slot_count)
		min = ring->slot_count;
	if (c->group >= 0)
		return rb_member_acquire_batch(c, frames, max, min, timeout_ns);
	(void)rb_consumer_check_demoted(c);
	if (c->demoted && !c->demoted_told) {
		c->demoted_told = true;
		return RB_E_DEMOTED;
	}
	/* A lossless consumer's held frames count against the ring too. */
	if (!c->lossy && c->next - c->released + min > ring->slot_count)
		return -ENOBUFS;
	/* One descriptor vouches for the seqs below it only when commits come
	 * in order (single producer); otherwise for itself (min 1). */
	fast = c->poll_desc && !c->lossy && !c->corrupt && (c->in_order || min == 1);
	for (;;) {
		if (fast) {
			rc = rb_consumer_take_published(c, frames, max, min);
			if (rc > 0)
				return rc;
			/* Something there the full path must look at (an end
			 * marker, a bad descriptor): from now on it decides. */
			fast = rc == 0;
		}
		rc = rb_consumer_wait_ready(c, min, timeout_ns, &deadline, fast);
		if (rc != 0)
			return rc;
		rc = rb_consumer_take(c, frames, max);
		if (rc != 0)
			return rc;
		/* Lossy, and everything available was overrun: wait for the
		 * next frame, within the same deadline. */
		min = 1;
	}
}

int
rb_consumer_acquire_batch(struct rb_consumer *c, struct rb_frame *frames,
			  uint32_t max, uint32_t min, uint64_t timeout_ns)
{
	int rc = rb_consumer_take_batch(c, frames, max, min, timeout_ns);

	/* A ring truncated under us reads as zero pages once the programs'
	 * SIGBUS handler mapped them (rb_ring_handle_sigbus): what looks
	 * like corruption (write_seq gone back to 0) is that, and the
	 * caller is told so. Only on the way out with an error. */
	return rb_ring_error(c->ring, rc);
}

int
rb_consumer_acquire(struct rb_consumer *c, struct rb_frame *frame,
		    uint64_t timeout_ns)
{
	int rc;

	/* The common case in a few dozen instructions: a lossless consumer
	 * in no group whose next frame's descriptor says it is published.
	 * The full path below does the same checks and then some. */
	if (c->poll_desc && !c->lossy && !c->corrupt && c->group < 0 &&
	    c->next - c->released < c->ring->slot_count &&
	    !rb_consumer_check_demoted(c) &&
	    rb_consumer_take_published(c, frame, 1, 1) > 0)
		return 0;
	/* A lossless group member's uncontended claim of one frame. */
	if (c->group >= 0 && rb_member_take_one(c, frame) > 0)
		return 0;
	rc = rb_consumer_acquire_batch(c, frame, 1, 1, timeout_ns);

	return rc < 0 ? rc : 0;
}

int
rb_consumer_check(struct rb_consumer *c, const struct rb_frame *frame)
{
	if (!c->lossy && !rb_consumer_check_demoted(c))
		return 0;
	/* Order the caller's reads of the bytes before the re-check. */
	ck_pr_fence_load();
	if (ck_pr_load_64(&rb_descriptor(c->ring, frame->seq)->seq) != frame->seq)
		return RB_E_OVERRUN;
	return 0;
}

int
rb_consumer_release_batch(struct rb_consumer *c, const struct rb_frame *frames,
			  uint32_t count)
{
	uint32_t i, overrun = 0;

	if (count == 0)
		return 0;
	/* A truncated ring's zeros read as our record freed: say truncated. */
	if (c->group >= 0)
		return rb_ring_error(c->ring, rb_member_release_batch(c, frames, count));
	(void)rb_consumer_check_demoted(c);
	if (frames[0].seq < c->released || frames[count - 1].seq >= c->next)
		return -EINVAL;
	for (i = 1; i < count; i++)
		if (frames[i].seq <= frames[i - 1].seq)
			return -EINVAL;
	if (!c->lossy && (frames[0].seq != c->released ||
			  frames[count - 1].seq != c->released + count - 1))
		return -EINVAL; /* lossless frames are released in order */
	for (i = 0; i < count; i++) {
		if (rb_consumer_check(c, &frames[i]) != 0)
			overrun++;
		else if (frames[i].flags & RB_FRAME_ABANDONED)
			c->abandoned++;
	}
	c->frames += count - overrun;
	c->lost += overrun;
	rb_publish_release(c, frames[count - 1].seq + 1);
	if (!c->lossy && rb_consumer_evicted(c))
		return rb_ring_error(c->ring, RB_E_EVICTED);
	return (int)overrun;
}

/*
 * A lossless group member's release of its oldest held frame: what
 * rb_member_release_batch does for it (a lossless member's lost does not
 * change). 0 or RB_E_EVICTED; 1 when the caller goes the full way.
 */
static RB_OUT_OF_LINE int
rb_member_release_one(struct rb_consumer *c, const struct rb_frame *frame)
{
	uint64_t now;

	if (c->lossy || c->claims.held == 0 || frame->seq != rb_claims_oldest(&c->claims))
		return 1;
	if (frame->flags & RB_FRAME_ABANDONED)
		c->abandoned++;
	rb_claims_pop(&c->claims, 1);
	c->frames++;
	ck_pr_store_64(&c->rec->frames, c->frames);
	now = rb_claims_oldest(&c->claims);
	c->shown_read = now;
	rb_store_then_fence_64(&c->rec->read_seq, now);
	rb_wake_producer_if_crossed(c->ring, frame->seq, now);
	return rb_consumer_evicted(c) ? rb_ring_error(c->ring, RB_E_EVICTED) : 0;
}

int
rb_consumer_release(struct rb_consumer *c, const struct rb_frame *frame)
{
	int rc;

	/* Lossless, in no group, the oldest held frame: what
	 * rb_consumer_release_batch does for it, without its loops. */
	if (c->group < 0 && !c->lossy && frame->seq == c->released &&
	    c->next > c->released && !rb_consumer_check_demoted(c)) {
		if (frame->flags & RB_FRAME_ABANDONED)
			c->abandoned++;
		c->frames++;
		rb_publish_release(c, frame->seq + 1);
		return rb_consumer_evicted(c) ? RB_E_EVICTED : 0;
	}
	if (c->group >= 0 && (rc = rb_member_release_one(c, frame)) != 1)
		return rc;
	rc = rb_consumer_release_batch(c, frame, 1);

	if (rc > 0)
		return RB_E_OVERRUN;
	return rc;
}

int
rb_consumer_stream_header(struct rb_consumer *c, char *buf, size_t size,
			  uint64_t *start_seq)
{
	return rb_ring_stream_header(c->ring, buf, size, start_seq);
}

int
rb_consumer_frame_header(struct rb_consumer *c, const struct rb_frame *frame,
			 char *buf, size_t size, struct rb_stream_info *info)
{
	return rb_ring_stream_header_at(c->ring, frame->seq, buf, size, info);
}

int
rb_consumer_frame_utc_ns(struct rb_consumer *c, const struct rb_frame *frame,
			 int64_t *utc_ns)
{
	return rb_ring_utc_ns(c->ring, frame->timestamp_ns, utc_ns);
}

void
rb_consumer_get_stats(const struct rb_consumer *c, struct rb_consumer_stats *out)
{
	out->frames = c->frames;
	out->lost = c->lost;
	out->next_seq = rb_consumer_position(c);
	out->wakeups = c->wakeups;
	out->abandoned = c->abandoned;
	out->dropped_at_producer = c->dropped;
	out->demoted = c->demoted;
	out->stalled_ns = c->stalled_ns;
}
