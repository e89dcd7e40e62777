/*
 * Consumer groups: work sharing. Each seq goes to exactly one member.
 *
 * A group record holds claim_seq, the next seq to hand out. Members claim
 * runs of seqs under the group's claim lock (a CAS of 0 -> consumer index
 * + 1), which is held for a few dozen instructions. Why a lock and not a
 * lock-free CAS on claim_seq: a member killed right after a successful CAS
 * would take the knowledge of what it claimed with it, and the group could
 * no longer count exactly what was lost. Under the lock the claimer first
 * writes its intent (the claim_seq and its own counters as they will be
 * after the claim) into its record, then moves claim_seq, then its
 * counters; whoever finds the lock held by a dead member rolls the claim
 * forward (claim_seq already moved) or back (it had not), idempotently.
 *
 * Flow control: a lossless group gates the producer at the lowest of its
 * claim_seq and its members' oldest held seqs (a member's read_seq; it
 * holds nothing: RB_SEQ_NONE). A member stores read_seq before moving
 * claim_seq, and the producer loads claim_seq before read_seq, so a claim
 * in flight is always covered.
 *
 * A member that leaves (detaches or is evicted as dead) while holding
 * frames: they are counted in the group's lost, never handed to another
 * member (docs/FORMAT.md "Consumer groups" says why).
 */
#include <errno.h>
#include <sched.h>
#include <string.h>

#include "rb_internal.h"

/* Spins on a held claim lock before yielding the CPU to its holder. */
#define RB_LOCK_SPINS 128u
/* How often a waiter checks whether the lock's holder is alive. */
#define RB_LOCK_CHECK_NS 1000000ull
/* A CAS on the members word fails only when another member changed it
 * meanwhile; this many failures in a row mean a writer that never stops
 * (hostile), and the loop gives up rather than spin. */
#define RB_MEMBERS_TRIES 100000u

int
rb_group_name_check(const char *name)
{
	size_t n;

	if (name == NULL)
		return -EINVAL;
	n = strlen(name);
	if (n == 0 || n > RB_GROUP_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return -EINVAL;
	}
	return 0;
}

uint64_t
rb_groups_lossless_min(struct rb_ring *ring, uint64_t m)
{
	uint32_t i;

	for (i = 0; i < ring->max_groups; i++) {
		struct rb_shm_group *g = &ring->groups[i];
		uint64_t c;

		if (RB_OWNER_STATE(rb_load_acquire_64(&g->owner)) != RB_OWNER_ACTIVE ||
		    (ck_pr_load_32(&g->mode) & RB_MODE_LOSSY))
			continue;
		c = rb_load_acquire_64(&g->claim_seq);
		if (c < m)
			m = c;
	}
	return m;
}

/* Completes or cancels the claim a dead lock holder was making. */
static void
rb_group_roll(struct rb_shm_group *g, struct rb_shm_consumer *rec)
{
	uint64_t to = rb_load_acquire_64(&rec->intent_claim_seq);

	if (to == 0)
		return;
	if (rb_load_acquire_64(&g->claim_seq) == to) {
		ck_pr_store_64(&rec->claimed, ck_pr_load_64(&rec->intent_claimed));
		ck_pr_store_64(&rec->lost, ck_pr_load_64(&rec->intent_lost));
		ck_pr_store_64(&g->markers, ck_pr_load_64(&rec->intent_markers));
	}
	rb_store_release_64(&rec->intent_claim_seq, 0);
}

/*
 * Takes the lock `lock` (held by consumer index h - 1, who is dead or
 * leaving) over for recovery: one recoverer at a time, under a tag that
 * names it, so that a late second recoverer cannot roll the same claim
 * again after a new holder has moved on (it would store old counters).
 * A recoverer that dies leaves its tag; the next one takes over from it.
 */
static bool
rb_group_take_over(struct rb_ring *ring, uint32_t index, uint64_t lock, uint64_t h)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t tag = RB_LOCK_RECOVERING(rb_self_pid(), h);

	if (!ck_pr_cas_64(&g->claim_lock, lock, tag))
		return false;
	if (h >= 1 && h <= ring->max_consumers)
		rb_group_roll(g, &ring->consumers[h - 1]);
	RB_TSAN_RELEASE(&g->claim_lock);
	rb_store_release_64(&g->claim_lock, 0);
	return true;
}

bool
rb_group_recover_lock(struct rb_ring *ring, uint32_t index)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t lock = rb_load_acquire_64(&g->claim_lock);
	struct rb_shm_consumer *rec;
	uint64_t owner;

	if (lock == 0)
		return false;
	if (RB_LOCK_IS_RECOVERING(lock)) {
		/* Another recovery: leave it alone while its process lives. */
		if (rb_process_alive(RB_LOCK_RECOVERER_PID(lock), 0))
			return false;
		return rb_group_take_over(ring, index, lock, RB_LOCK_HOLDER(lock));
	}
	if (lock > ring->max_consumers) {
		/* Not a consumer index: a hostile or corrupt value. Clearing
		 * it is the only way the group can go on. */
		return ck_pr_cas_64(&g->claim_lock, lock, 0);
	}
	rec = &ring->consumers[lock - 1];
	owner = rb_load_acquire_64(&rec->owner);
	/* A creator holds the lock while its record is still CLAIMING. */
	if (RB_OWNER_STATE(owner) == RB_OWNER_ACTIVE &&
	    rb_process_alive(RB_OWNER_PID(owner), ck_pr_load_64(&rec->start_time)))
		return false;
	if (RB_OWNER_STATE(owner) == RB_OWNER_CLAIMING &&
	    rb_process_alive(RB_OWNER_PID(owner), 0))
		return false;
	return rb_group_take_over(ring, index, lock, lock);
}

/* Whether `pid` is the live process of a participant of this ring. */
static bool
rb_ring_participant(struct rb_ring *ring, uint32_t pid)
{
	uint32_t i;

	for (i = 0; i < ring->max_consumers; i++)
		if (RB_OWNER_STATE(rb_load_acquire_64(&ring->consumers[i].owner)) != RB_OWNER_FREE &&
		    RB_OWNER_PID(ck_pr_load_64(&ring->consumers[i].owner)) == pid)
			return rb_process_alive(pid, 0);
	for (i = 0; i < ring->max_producers; i++)
		if (RB_OWNER_STATE(rb_load_acquire_64(&ring->producer_records[i].owner)) !=
			    RB_OWNER_FREE &&
		    RB_OWNER_PID(ck_pr_load_64(&ring->producer_records[i].owner)) == pid)
			return rb_process_alive(pid, 0);
	return false;
}

/*
 * Whether lock word `lock` of group `index` could be a real holder's: a
 * live member of this group (or its creator), or a recoverer that is a
 * live participant of the ring. Anything else is a hostile or stale value.
 */
static bool
rb_group_holder_plausible(struct rb_ring *ring, uint32_t index, uint64_t lock)
{
	struct rb_shm_consumer *rec;
	uint64_t owner;
	uint32_t state;

	if (RB_LOCK_IS_RECOVERING(lock))
		return rb_ring_participant(ring, RB_LOCK_RECOVERER_PID(lock));
	if (lock == 0 || lock > ring->max_consumers)
		return false;
	rec = &ring->consumers[lock - 1];
	owner = rb_load_acquire_64(&rec->owner);
	state = RB_OWNER_STATE(owner);
	if (state != RB_OWNER_ACTIVE && state != RB_OWNER_CLAIMING)
		return false;
	if ((ck_pr_load_32(&rec->group) & ~RB_GROUP_JOINING) != index + 1)
		return false;
	return rb_process_alive(RB_OWNER_PID(owner),
				state == RB_OWNER_ACTIVE ? ck_pr_load_64(&rec->start_time) : 0);
}

/* What changes while a holder of group `index`'s lock makes progress. */
static uint64_t
rb_group_progress(struct rb_ring *ring, uint32_t index, uint64_t lock)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t h = RB_LOCK_IS_RECOVERING(lock) ? RB_LOCK_HOLDER(lock) : lock;
	uint64_t v = ck_pr_load_64(&g->claim_seq) * 0x9e3779b97f4a7c15ull;

	if (h >= 1 && h <= ring->max_consumers) {
		struct rb_shm_consumer *rec = &ring->consumers[h - 1];

		v ^= ck_pr_load_64(&rec->claimed) + (ck_pr_load_64(&rec->intent_claim_seq) << 1);
	}
	return v;
}

/*
 * Looks at the holder of group `index`'s lock (`lock`, not 0) once a
 * millisecond: a lock word and progress unchanged for RB_HOLD_MAX_NS of
 * continuous watching mean a holder that will not let go. One that could
 * not be a real holder is cleared (the group goes on); a live member that
 * holds it is reported: RB_E_STUCK. Why not always clear: a stopped member
 * that resumes would go on with its claim as if it held the lock.
 */
static int
rb_group_watch(struct rb_ring *ring, uint32_t index, uint64_t lock,
	       struct rb_lock_watch *w, uint64_t now)
{
	uint64_t progress = rb_group_progress(ring, index, lock);

	/* Watching with gaps (the caller was away) proves nothing. */
	if (w->value != lock || w->progress != progress ||
	    now - w->last_ns > 250000000ull) {
		w->value = lock;
		w->progress = progress;
		w->since_ns = now;
		w->last_ns = now;
		return 0;
	}
	w->last_ns = now;
	if (now - w->since_ns < RB_HOLD_MAX_NS)
		return 0;
	if (rb_group_holder_plausible(ring, index, lock))
		return RB_E_STUCK;
	w->value = 0;
	if (!RB_LOCK_IS_RECOVERING(lock) && lock <= ring->max_consumers &&
	    (ck_pr_load_32(&ring->consumers[lock - 1].group) & ~RB_GROUP_JOINING) == index + 1)
		(void)rb_group_take_over(ring, index, lock, lock);
	else
		(void)ck_pr_cas_64(&ring->groups[index].claim_lock, lock, 0);
	return 0;
}

bool
rb_group_trylock(struct rb_ring *ring, uint32_t index, uint32_t consumer,
		 struct rb_lock_watch *watch)
{
	struct rb_shm_group *g = &ring->groups[index];

	/* The CAS is a full barrier; the lock fence keeps the compiler from
	 * hoisting the claim's loads above it. */
	if (ck_pr_load_64(&g->claim_lock) != 0 ||
	    !ck_pr_cas_64(&g->claim_lock, 0, (uint64_t)consumer + 1))
		return false;
	ck_pr_fence_lock();
	RB_TSAN_ACQUIRE(&g->claim_lock);
	watch->value = 0;
	return true;
}

int
rb_group_lock(struct rb_ring *ring, uint32_t index, uint32_t consumer,
	      uint64_t deadline_ns, const volatile int *cancel,
	      struct rb_lock_watch *watch)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t next_check = 0, pause = 0, self = (uint64_t)consumer + 1;
	uint32_t spins = 0;
	int rc;

	for (;;) {
		uint64_t lock = ck_pr_load_64(&g->claim_lock), now;

		if (lock == 0 && rb_group_trylock(ring, index, consumer, watch))
			return 0;
		if (lock == self) {
			/* We never ask for a lock we hold: our own index there is
			 * a hostile or stale value. */
			(void)ck_pr_cas_64(&g->claim_lock, self, 0);
			continue;
		}
		if (++spins < RB_LOCK_SPINS) {
			rb_cpu_relax();
			continue;
		}
		/* The holder is likely preempted: on two cores spinning would
		 * keep it off the CPU. Yield a while, then sleep in growing
		 * pauses, which a signal interrupts. */
		if (spins < 2 * RB_LOCK_SPINS) {
			sched_yield();
			if (cancel != NULL && *cancel)
				return -EINTR;
			if (deadline_ns != RB_FOREVER && rb_now_ns() >= deadline_ns)
				return -ETIMEDOUT;
		} else if ((rc = rb_pause(&pause, deadline_ns, cancel)) != 0) {
			return rc;
		}
		now = rb_now_ns();
		if (now >= next_check) {
			if (next_check != 0 && rb_group_recover_lock(ring, index))
				continue;
			next_check = now + RB_LOCK_CHECK_NS;
			lock = ck_pr_load_64(&g->claim_lock);
			if (lock != 0 && (rc = rb_group_watch(ring, index, lock, watch, now)) != 0)
				return rc;
		}
	}
}

void
rb_group_unlock(struct rb_ring *ring, uint32_t index)
{
	struct rb_shm_group *g = &ring->groups[index];

	RB_TSAN_RELEASE(&g->claim_lock);
	ck_pr_fence_unlock();
	ck_pr_store_64(&g->claim_lock, 0);
}

/* Adds counter v to *sum; false if either is past any seq count. */
static bool
rb_group_sum_add(uint64_t *sum, uint64_t v)
{
	if (v >= RB_SEQ_LIMIT || *sum >= RB_SEQ_LIMIT)
		return false;
	*sum += v;
	return true;
}

/*
 * Every seq below claim_seq was handed out once, and is counted once: in
 * a member's claimed (frames + lost + held), or, once the member left, in
 * the group's lost and frames_departed, or in markers. Only the lock
 * holder moves claim_seq and its own claimed, and the roll of a dead
 * holder happens under the lock too, so with the lock held the identity
 * is exact but for a leave, which adds to the group's counters without
 * the lock (a leaver may not wait for it): its record is EVICTING from
 * before the adds until it stops naming the group, and the group counters
 * are read before and after the scan, so a leave in progress is seen and
 * the check is left undecided rather than wrong.
 */
static int
rb_group_accounting_once(struct rb_ring *ring, uint32_t index, uint64_t cur)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t lost = rb_load_acquire_64(&g->lost);
	uint64_t departed = rb_load_acquire_64(&g->frames_departed);
	uint64_t start = ck_pr_load_64(&g->start_seq), sum = 0;
	uint32_t i;

	if (!rb_group_sum_add(&sum, lost) || !rb_group_sum_add(&sum, departed) ||
	    !rb_group_sum_add(&sum, ck_pr_load_64(&g->markers)))
		return RB_E_CORRUPT;
	ck_pr_fence_load();
	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint32_t state = RB_OWNER_STATE(rb_load_acquire_64(&rec->owner));

		if ((ck_pr_load_32(&rec->group) & ~RB_GROUP_JOINING) != index + 1)
			continue;
		if (state == RB_OWNER_EVICTING)
			return 1; /* leaving: counted here or in the group, not known */
		if (state != RB_OWNER_ACTIVE && state != RB_OWNER_CLAIMING)
			continue;
		/* A joiner zeroes claimed before it names the group. */
		ck_pr_fence_load();
		if (!rb_group_sum_add(&sum, ck_pr_load_64(&rec->claimed)))
			return RB_E_CORRUPT;
	}
	ck_pr_fence_load();
	if (ck_pr_load_64(&g->lost) != lost || ck_pr_load_64(&g->frames_departed) != departed)
		return 1; /* a leave added its part meanwhile */
	if (cur < start || cur - start != sum)
		return RB_E_CORRUPT;
	return 0;
}

/* A leave takes a few hundred instructions: wait out a few, then give up
 * deciding (a leaver stopped or killed half-way stays EVICTING). */
#define RB_ACCOUNTING_TRIES 16u

int
rb_group_check_accounting(struct rb_ring *ring, uint32_t index, uint64_t cur)
{
	int rc = 1;

	for (uint32_t tries = 0; tries < RB_ACCOUNTING_TRIES && rc == 1; tries++) {
		if (tries > 0)
			sched_yield();
		rc = rb_group_accounting_once(ring, index, cur);
	}
	return rc;
}

/*
 * Looks for group `name` other than record `self`: its index if active,
 * -EAGAIN if a live creator is still setting it up, -1 if none.
 */
static int
rb_group_find(struct rb_ring *ring, const char *name, uint32_t self)
{
	int creating = -1;
	uint32_t i;

	for (i = 0; i < ring->max_groups; i++) {
		struct rb_shm_group *g = &ring->groups[i];
		uint64_t owner = rb_load_acquire_64(&g->owner);
		uint32_t state = RB_OWNER_STATE(owner);

		if (i == self || (state != RB_OWNER_ACTIVE && state != RB_OWNER_CLAIMING) ||
		    strncmp(g->name, name, RB_GROUP_NAME_BYTES) != 0)
			continue;
		if (state == RB_OWNER_ACTIVE)
			return (int)i;
		if (rb_process_alive(RB_OWNER_PID(owner), 0))
			creating = -EAGAIN;
	}
	return creating;
}

/* Frees a group record whose last member has left. */
static void
rb_group_free(struct rb_shm_group *g)
{
	uint64_t owner = ck_pr_load_64(&g->owner);

	rb_store_then_fence_64(&g->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(owner) + 1,
							RB_OWNER_FREE));
}

/*
 * Joins group `index` if it is active and has members. The member's record
 * names the group, marked joining, before the count includes it: a member
 * that dies in between is not subtracted (it was not added), and one that
 * dies after the count but before the mark is cleared leaves a count one
 * too high, which rb_group_fix_members finds (the record is gone).
 */
static int
rb_group_try_join(struct rb_ring *ring, uint32_t index, const char *name,
		  bool lossy, struct rb_shm_consumer *rec)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t owner = rb_load_acquire_64(&g->owner);

	/* The record may have been freed and made another group since it was
	 * found: its owner word (a new generation) tells. */
	if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE ||
	    strncmp(g->name, name, RB_GROUP_NAME_BYTES) != 0)
		return -EAGAIN;
	if (((ck_pr_load_32(&g->mode) & RB_MODE_LOSSY) != 0) != lossy)
		return -EINVAL; /* the group is of the other mode */
	ck_pr_store_32(&rec->group, (index + 1) | RB_GROUP_JOINING);
	ck_pr_fence_store_atomic();
	for (uint32_t tries = 0;; tries++) {
		uint64_t m = rb_load_acquire_64(&g->members);

		/* Freeing bumps the members word before the owner word, so a
		 * CAS from an m read before a free fails, and this check then
		 * sees the new owner. */
		if (RB_MEMBERS_COUNT(m) == 0 || rb_load_acquire_64(&g->owner) != owner ||
		    tries >= RB_MEMBERS_TRIES) {
			ck_pr_store_32(&rec->group, 0);
			return -EAGAIN; /* its last member is leaving: look again */
		}
		if (ck_pr_cas_64(&g->members, m, RB_MEMBERS_NEXT(m, RB_MEMBERS_COUNT(m) + 1)))
			break;
	}
	ck_pr_store_32(&rec->group, index + 1);
	return 0;
}

void
rb_group_fix_members(struct rb_ring *ring, uint32_t index)
{
	struct rb_shm_group *g = &ring->groups[index];
	uint64_t owner = rb_load_acquire_64(&g->owner);

	if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
		return;
	for (uint32_t tries = 0; tries < RB_MEMBERS_TRIES; tries++) {
		uint64_t m = ck_pr_load_64(&g->members), records = 0;
		uint32_t count = RB_MEMBERS_COUNT(m);
		uint32_t i;

		ck_pr_fence_load();
		/* Records appear before the count goes up and disappear after
		 * it goes down, so fewer records than the count means a member
		 * died between the two. */
		for (i = 0; i < ring->max_consumers; i++) {
			struct rb_shm_consumer *rec = &ring->consumers[i];
			uint32_t state = RB_OWNER_STATE(rb_load_acquire_64(&rec->owner));

			if ((state == RB_OWNER_ACTIVE || state == RB_OWNER_CLAIMING ||
			     state == RB_OWNER_EVICTING) &&
			    (ck_pr_load_32(&rec->group) & ~RB_GROUP_JOINING) == index + 1)
				records++;
		}
		if (records >= count)
			return;
		/* Any join or leave since m was read changed the word: then the
		 * CAS fails and the count is taken again. */
		if (ck_pr_cas_64(&g->members, m, RB_MEMBERS_NEXT(m, records))) {
			if (records == 0)
				rb_group_free(g);
			return;
		}
	}
}

/* Creates group `name` in a free record, starting at `start`. */
static int
rb_group_create(struct rb_ring *ring, const char *name, bool lossy, uint64_t start,
		struct rb_shm_consumer *rec)
{
	uint32_t i, n = ring->slot_count;

	for (i = 0; i < ring->max_groups; i++) {
		struct rb_shm_group *g = &ring->groups[i];
		uint64_t cur = rb_load_acquire_64(&g->owner);
		uint64_t claiming, limit;

		if (RB_OWNER_STATE(cur) == RB_OWNER_CLAIMING &&
		    !rb_process_alive(RB_OWNER_PID(cur), 0)) {
			/* Its creator died half-way: take the record over. */
		} else if (RB_OWNER_STATE(cur) != RB_OWNER_FREE) {
			continue;
		}
		claiming = RB_OWNER_MAKE(rb_self_pid(), RB_OWNER_GEN(cur) + 1,
					 RB_OWNER_CLAIMING);
		if (!ck_pr_cas_64(&g->owner, cur, claiming))
			continue;
		memset(g->name, 0, sizeof(g->name));
		memcpy(g->name, name, strlen(name));
		/* Two first members may create the same name at once: each
		 * shows its name, fences, then looks for the other; at least
		 * one sees the other and backs off (both may: they retry). */
		ck_pr_fence_memory();
		if (rb_group_find(ring, name, i) != -1) {
			memset(g->name, 0, sizeof(g->name));
			rb_store_release_64(&g->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(claiming),
								    RB_OWNER_FREE));
			return -EAGAIN;
		}
		ck_pr_store_32(&g->mode, lossy ? RB_MODE_LOSSY : 0);
		/* Named before counted, and marked joining until the group is
		 * up: a creator that dies before then is not subtracted from a
		 * record another creator may have taken over meanwhile. */
		ck_pr_store_32(&rec->group, (i + 1) | RB_GROUP_JOINING);
		ck_pr_fence_store();
		ck_pr_store_64(&g->members, RB_MEMBERS_NEXT(ck_pr_load_64(&g->members), 1));
		/* The creator holds the claim lock until the start is final, so
		 * that nobody who joins meanwhile claims from the tentative one. */
		ck_pr_store_64(&g->claim_lock, (uint64_t)(rec - ring->consumers) + 1);
		ck_pr_store_64(&g->lost, 0);
		ck_pr_store_64(&g->frames_departed, 0);
		ck_pr_store_64(&g->markers, 0);
		ck_pr_store_64(&g->claim_seq, start);
		ck_pr_store_64(&g->start_seq, start);
		/* Visible to the producer, then read its claim limit: the same
		 * join handshake as a lossless consumer's (producer.c). */
		rb_store_then_fence_64(&g->owner, RB_OWNER_MAKE(rb_self_pid(),
								RB_OWNER_GEN(claiming),
								RB_OWNER_ACTIVE));
		if (!lossy) {
			limit = rb_load_acquire_64(&ring->producer->claim_limit);
			if (limit > n && start < limit - n) {
				ck_pr_store_64(&g->start_seq, limit - n);
				rb_store_then_fence_64(&g->claim_seq, limit - n);
				rb_wake_producer_if_crossed(ring, start, limit - n);
			}
		}
		ck_pr_store_32(&rec->group, i + 1);
		rb_group_unlock(ring, i);
		return (int)i;
	}
	return RB_E_TOO_MANY;
}

/* Adds n to a group counter, unless the counter or n is already past any
 * seq count (a hostile or corrupt record): adding would wrap it back into
 * plausible numbers, and monitors report the implausible value instead. */
static void
rb_group_count_add(uint64_t *counter, uint64_t n)
{
	if (n < RB_SEQ_LIMIT && ck_pr_load_64(counter) < RB_SEQ_LIMIT)
		ck_pr_add_64(counter, n);
}

int
rb_group_join(struct rb_ring *ring, struct rb_shm_consumer *rec, const char *name,
	      bool lossy, uint64_t start, uint32_t *index_out,
	      const volatile int *cancel)
{
	/* Each retry waits for another joiner, leaver or creator: a few
	 * hundred instructions, unless one is stopped or the records hostile. */
	uint64_t deadline = rb_deadline_after(RB_HOLD_MAX_NS), pause = 0;

	if (ring->max_groups == 0)
		return RB_E_NO_GROUPS; /* made with RB_CREATE_NO_GROUPS */
	for (;;) {
		int found = rb_group_find(ring, name, UINT32_MAX);
		int rc;

		if (found >= 0) {
			rc = rb_group_try_join(ring, (uint32_t)found, name, lossy, rec);
			if (rc == 0) {
				*index_out = (uint32_t)found;
				return 0;
			}
		} else if (found == -EAGAIN) {
			rc = -EAGAIN; /* its creator is setting it up */
		} else {
			rc = rb_group_create(ring, name, lossy, start, rec);
			if (rc >= 0) {
				*index_out = (uint32_t)rc;
				return 0;
			}
		}
		if (rc != -EAGAIN)
			return rc;
		rc = rb_pause(&pause, deadline, cancel);
		if (rc == -ETIMEDOUT)
			return RB_E_STUCK;
		if (rc != 0)
			return rc;
	}
}

void
rb_group_member_leave(struct rb_ring *ring, uint32_t consumer)
{
	struct rb_shm_consumer *rec = &ring->consumers[consumer];
	uint32_t index = ck_pr_load_32(&rec->group);
	struct rb_shm_group *g;
	uint64_t claimed, frames;

	if (index & RB_GROUP_JOINING) {
		/* Died joining: not counted yet (or counted, which
		 * rb_group_fix_members repairs once this record is gone). A
		 * creator may still hold the claim lock (no claim in it). */
		uint32_t g0 = (index & ~RB_GROUP_JOINING) - 1;

		if (g0 < ring->max_groups)
			(void)ck_pr_cas_64(&ring->groups[g0].claim_lock,
					   (uint64_t)consumer + 1, 0);
		ck_pr_store_32(&rec->group, 0);
		return;
	}
	if (index == 0 || index > ring->max_groups)
		return;
	g = &ring->groups[index - 1];
	/* Through the recoverers' path, not a store: a recoverer may have
	 * freed the lock meanwhile and another member taken it. */
	(void)rb_group_take_over(ring, index - 1, (uint64_t)consumer + 1,
				 (uint64_t)consumer + 1);
	claimed = ck_pr_load_64(&rec->claimed);
	frames = ck_pr_load_64(&rec->frames);
	/* What it released stays counted; what it still held (and lost) is
	 * the group's loss: at most once, never redelivered. */
	rb_group_count_add(&g->frames_departed, frames);
	rb_group_count_add(&g->lost, claimed >= frames ? claimed - frames : 0);
	ck_pr_store_64(&rec->read_seq, RB_SEQ_NONE);
	ck_pr_fence_memory();
	/* The count goes down before the record stops naming the group (a
	 * count left too high is corrected by rb_group_fix_members). */
	for (uint32_t tries = 0; tries < RB_MEMBERS_TRIES; tries++) {
		uint64_t m = ck_pr_load_64(&g->members);
		uint32_t count = RB_MEMBERS_COUNT(m);

		if (count == 0)
			break; /* the members repair got there first */
		if (!ck_pr_cas_64(&g->members, m, RB_MEMBERS_NEXT(m, count - 1)))
			continue;
		if (count == 1)
			rb_group_free(g);
		break;
	}
	ck_pr_store_32(&rec->group, 0);
	/* The group's gate may have moved on. */
	rb_doorbell_ring(&ring->producer->doorbell);
}

bool
rb_group_tidy(struct rb_ring *ring, uint32_t index)
{
	bool recovered = rb_group_recover_lock(ring, index);

	rb_group_fix_members(ring, index);
	return recovered;
}

int
rb_groups_tidy(struct rb_ring *ring)
{
	int recovered = 0;
	uint32_t i;

	for (i = 0; i < ring->max_groups; i++)
		if (rb_group_tidy(ring, i))
			recovered++;
	return recovered;
}
