/*
 * Private declarations shared by the library's files: the process-local
 * handles, the shared-access helpers and the module entry points.
 */
#ifndef RB_INTERNAL_H
#define RB_INTERNAL_H

#include <ck_ec.h>
#include <ck_pr.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "rb_layout.h"
#include "ringbuf.h"

/*
 * Every access to a shared control word goes through ck_pr. On x86-64 ck_pr
 * is inline assembly, which ThreadSanitizer cannot see; the annotations below
 * tell it about the acquire/release edges so that the plain accesses to frame
 * bytes they order are not reported as races in threaded tests.
 */
#if defined(__SANITIZE_THREAD__)
#define RB_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RB_TSAN 1
#endif
#endif

#ifdef RB_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define RB_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define RB_TSAN_RELEASE(p) __tsan_release((void *)(p))
#else
#define RB_TSAN_ACQUIRE(p) ((void)0)
#define RB_TSAN_RELEASE(p) ((void)0)
#endif

static inline uint64_t
rb_load_acquire_64(const uint64_t *p)
{
	uint64_t v = ck_pr_load_64(p);

	ck_pr_fence_acquire();
	RB_TSAN_ACQUIRE(p);
	return v;
}

static inline void
rb_store_release_64(uint64_t *p, uint64_t v)
{
	RB_TSAN_RELEASE(p);
	ck_pr_fence_release();
	ck_pr_store_64(p, v);
}

/*
 * A store that must be visible before the loads that follow it (the
 * announce-then-check half of a Dekker handshake). The exchange is a locked
 * instruction on x86, cheaper than a store plus mfence, and
 * ck_pr_fence_atomic_load orders it before the later loads.
 */
static inline void
rb_store_then_fence_64(uint64_t *p, uint64_t v)
{
	RB_TSAN_RELEASE(p);
	ck_pr_fence_release();
	(void)ck_pr_fas_64(p, v);
	ck_pr_fence_atomic_load();
}

/* ---- ring handle ---- */

struct rb_ring {
	char name[RB_NAME_MAX + 1];
	uint8_t *base;           /* mapping of the whole segment */
	uint64_t segment_bytes;
	/* Geometry copied out of shared memory once validated: a hostile peer
	 * rewriting the header later cannot move our bounds. */
	uint64_t frame_bytes;
	uint64_t slot_stride;
	uint32_t slot_count;
	uint32_t slot_mask;
	uint32_t max_consumers;
	uint32_t max_producers;
	uint32_t max_groups;
	uint32_t stream_header_bytes;
	uint32_t stream_headers;        /* entries in the stream-header ring */
	uint64_t stream_header_stride;  /* bytes from one entry to the next */
	uint64_t initial_seq;
	uint32_t slot_align;
	uint32_t create_flags;
	uint64_t created_ns;
	struct rb_frame_type type;
	enum rb_pages pages;
	uint32_t owner_uid;             /* st_uid of the file at open/create */
	bool clock_pinned;              /* rb_producer_set_clock_offset was called */
	struct rb_mapping *mapping;     /* its entry in the SIGBUS guard (sigbus.c) */
	struct rb_shm_header *header;
	struct rb_shm_producer *producer;
	struct rb_shm_producer_record *producer_records;
	struct rb_shm_consumer *consumers;
	struct rb_shm_group *groups;
	struct rb_shm_stream_header *stream_header;
	struct rb_shm_descriptor *descriptors;
	uint8_t *slots;
};

static inline struct rb_shm_descriptor *
rb_descriptor(const struct rb_ring *ring, uint64_t seq)
{
	return &ring->descriptors[seq & ring->slot_mask];
}

/* A ring made for several producers claims through claim_seq. */
static inline bool
rb_ring_multi_producer(const struct rb_ring *ring)
{
	return ring->max_producers > 1;
}

static inline void *
rb_slot(const struct rb_ring *ring, uint64_t seq)
{
	return ring->slots + (uint64_t)(seq & ring->slot_mask) * ring->slot_stride;
}

/* ---- waiting (wait.c) ---- */

extern const struct ck_ec_mode rb_ec_mode;

/* Monotonic clock in nanoseconds. */
uint64_t rb_now_ns(void);
/* Absolute monotonic deadline timeout_ns from now (RB_FOREVER stays so). */
uint64_t rb_deadline_after(uint64_t timeout_ns);

/*
 * Adaptive spinning (wait.c): a waiter keeps an average of how long its
 * recent waits lasted, and spins up to twice that before it sleeps when
 * that is at most RB_SPIN_ADAPT_MAX_NS, else its spin_ns as before. A
 * stream whose hand-overs come every few tens of microseconds (batches of
 * 4 KiB frames) is then met spinning instead of by a futex round trip per
 * batch; an idle or slow stream still sleeps after spin_ns.
 */
#define RB_SPIN_ADAPT_MAX_NS 100000ull
uint64_t rb_spin_budget(uint64_t avg_wait_ns, uint64_t spin_ns);
void rb_spin_learn(uint64_t *avg_wait_ns, uint64_t waited_ns);

/*
 * Called by rb_doorbell_wait every RB_WAIT_SLICE_NS while asleep; returns
 * non-zero to stop waiting (the waiter then re-examines the ring).
 */
typedef int (*rb_wake_check_fn)(void *arg);
#define RB_WAIT_SLICE_NS 100000000ull
/* Looks a waiter takes (one pause each, well under a microsecond) before
 * it reads the clock for its deadline and spin: the frame (or the space)
 * a busy stream's waiter waits for is usually that close. */
#define RB_BRIEF_SPINS 32u

/*
 * Sleeps on a ck_ec32 doorbell until its value differs from `seen`, the
 * deadline passes (returns -ETIMEDOUT), or check() returns non-zero (returns
 * 1). Returns 0 when rung. check() runs when the monotonic clock passes
 * *next_check_ns (0: one slice from now), which then moves on by a slice;
 * the caller keeps it across waits.
 */
int rb_doorbell_wait(uint32_t *doorbell, uint32_t seen, uint64_t deadline_ns,
		     rb_wake_check_fn check, void *arg, uint64_t *next_check_ns);
uint32_t rb_doorbell_value(uint32_t *doorbell);
/*
 * One pause of a wait that has nothing to sleep on (a lock, a state that a
 * peer must change): sleeps *pause_ns (doubling from RB_PAUSE_MIN_NS to
 * RB_PAUSE_MAX_NS across calls; start it at 0), never past the deadline.
 * Returns 0, -ETIMEDOUT once the deadline has passed, or -EINTR when a
 * signal interrupted the sleep or *cancel is set (cancel may be NULL).
 */
#define RB_PAUSE_MIN_NS 2000ull
#define RB_PAUSE_MAX_NS 1000000ull
int rb_pause(uint64_t *pause_ns, uint64_t deadline_ns, const volatile int *cancel);
/*
 * The longest a participant may keep a short-lived lock or state of the
 * ring (a group's claim lock, a group being created, a stream header being
 * written): each lasts a few hundred instructions, so only a stopped
 * process or a hostile value holds one this long. A waiter then recovers
 * it (the holder is not a live participant) or returns RB_E_STUCK.
 */
#define RB_HOLD_MAX_NS 2000000000ull
void rb_doorbell_ring(uint32_t *doorbell);

/* Spin-wait pause that lets the sibling hyperthread/VM vCPU progress. */
static inline void
rb_cpu_relax(void)
{
	ck_pr_stall();
}

/* ---- liveness (liveness.c) ---- */

/* Start time of `pid` in clock ticks since boot; 0 if it does not exist. */
uint64_t rb_process_start_time(uint32_t pid);
/* Whether the process (pid, start_time) still runs. start_time 0: pid only. */
bool rb_process_alive(uint32_t pid, uint64_t start_time);
uint32_t rb_self_pid(void);
uint64_t rb_self_start_time(void);
/* Whether the owner word names a live process (FREE counts as not alive). */
bool rb_owner_alive(uint64_t owner, uint64_t start_time);
/* Evicts consumer record `index` if its owner is dead; true if it did. */
bool rb_consumer_evict_if_dead(struct rb_ring *ring, uint32_t index);
/* Frees a consumer record in EVICTING state (clears sleep bit and wakes the
 * producer, which may have been waiting on it). */
void rb_consumer_record_free(struct rb_ring *ring, uint32_t index, uint64_t owner);
/* Whether the process is stopped or traced (/proc/PID/stat state T or t). */
bool rb_process_stopped(uint32_t pid);

/* ---- stalled lossless consumers (stall.c) ---- */

struct rb_stall;
struct rb_consumer_status;
/* The producer's tracker for a stall timeout; NULL (and 0) when timeout 0. */
int rb_stall_create(const struct rb_ring *ring, uint64_t timeout_ns,
		    struct rb_stall **out);
void rb_stall_destroy(struct rb_stall *st);
/* From a blocked producer's wait slice: `blocking` is the read_seq every
 * lossless consumer must reach. Demotes those stalled past the timeout;
 * returns how many. NULL: nothing. */
int rb_stall_check(struct rb_stall *st, struct rb_ring *ring, uint64_t blocking);
/* Whether record `rec`, owned by `owner`, was demoted to lossy. */
bool rb_consumer_is_demoted(const struct rb_shm_consumer *rec, uint64_t owner);
/* Marks it demoted and rings the producers: 0, -EALREADY or -EAGAIN. */
int rb_consumer_demote(struct rb_ring *ring, uint32_t index, uint64_t owner,
		       uint64_t stalled_ns);
/* Fills stopped, demoted, stalled_ns (and lossy when demoted). */
void rb_stall_consumer_status(const struct rb_shm_consumer *rec, uint64_t owner,
			      struct rb_consumer_status *s);

/*
 * Producer records (producer.c, liveness.c). A producer is "live" when its
 * record is ACTIVE and its process runs.
 */
struct rb_producer_census {
	uint32_t active;     /* ACTIVE records */
	uint32_t alive;      /* of which the process runs */
	uint64_t signature;  /* sum of the ACTIVE owner words: changes when any
			      * producer attaches or leaves */
};
void rb_producer_census(struct rb_ring *ring, struct rb_producer_census *out);
/* Evicts producer record `index` if its owner is dead; true if it did. A
 * member of the open stream leaves it; the last member leaving marks the
 * stream abandoned. */
bool rb_producer_evict_if_dead(struct rb_ring *ring, uint32_t index);
/* Evicts every dead producer; returns how many. */
int rb_producers_evict_dead(struct rb_ring *ring);

/* ---- write_seq advance and abandoned-slot repair (repair.c) ---- */

/*
 * Several-producer rings: moves write_seq over every committed descriptor
 * that follows it, wakes sleeping consumers, and returns the new write_seq.
 * The caller has just stored a descriptor's seq; see repair.c for why that
 * store must be fenced before this call.
 */
uint64_t rb_advance_write_seq(struct rb_ring *ring);
/*
 * Several-producer rings: if write_seq is held up by seqs whose producer
 * died before committing them, commits them empty with RB_FRAME_ABANDONED
 * and advances write_seq. Returns how many it repaired.
 */
int rb_repair_abandoned(struct rb_ring *ring);

/* ---- consumer groups (group.c) ---- */

/* Lowest seq a lossless group still needs: its claim_seq, or a member's
 * oldest held seq; m when it needs nothing lower. */
uint64_t rb_groups_lossless_min(struct rb_ring *ring, uint64_t m);
/* Frees a departing member's part of its group (held frames become the
 * group's lost, released frames its frames_departed); frees the group when
 * it was the last member. Called with the record EVICTING. */
void rb_group_member_leave(struct rb_ring *ring, uint32_t index);
/* Recovers the claim lock of group `g` if its holder died; true if it did. */
bool rb_group_recover_lock(struct rb_ring *ring, uint32_t g);
/* 0 if `name` is a valid group name, else -EINVAL. */
int rb_group_name_check(const char *name);
/* Joins group `name`, creating it (starting at `start`) if it does not
 * exist. -EINVAL if it exists in the other mode, RB_E_TOO_MANY if every
 * group record is taken. */
int rb_group_join(struct rb_ring *ring, struct rb_shm_consumer *rec,
		  const char *name, bool lossy, uint64_t start, uint32_t *index_out,
		  const volatile int *cancel);
/* Corrects a group's members count left one too high by a member that died
 * joining (and frees the group if nobody is left). */
void rb_group_fix_members(struct rb_ring *ring, uint32_t g);
/* What a waiter does for group `g` every slice: recovers its claim lock
 * from a dead holder and corrects its members count. True if it recovered
 * the lock. rb_groups_tidy does it for every group; returns how many locks. */
bool rb_group_tidy(struct rb_ring *ring, uint32_t g);
int rb_groups_tidy(struct rb_ring *ring);
/*
 * What a waiter for a claim lock has seen of its holder, kept in the
 * waiter's handle across calls: the lock word and the holder's progress,
 * and since when they have stayed the same.
 */
struct rb_lock_watch {
	uint64_t value;
	uint64_t progress;
	uint64_t since_ns;
	uint64_t last_ns;
};
/*
 * The claim lock: spins, yields, then sleeps in growing pauses; recovers
 * it from a dead holder and from a value that names no live holder. Returns
 * 0 with the lock, -ETIMEDOUT at deadline_ns, -EINTR on a signal or
 * *cancel, RB_E_STUCK when a live holder has kept it RB_HOLD_MAX_NS.
 */
int rb_group_lock(struct rb_ring *ring, uint32_t g, uint32_t consumer,
		  uint64_t deadline_ns, const volatile int *cancel,
		  struct rb_lock_watch *watch);
void rb_group_unlock(struct rb_ring *ring, uint32_t g);
/* One attempt at the claim lock, with no clock read: true with the lock
 * held (the uncontended case of rb_group_lock), false when it is taken. */
bool rb_group_trylock(struct rb_ring *ring, uint32_t g, uint32_t consumer,
		      struct rb_lock_watch *watch);
/*
 * With group `g`'s claim lock held and its claim_seq read as `cur`: checks
 * the group's accounting identity (docs/FORMAT.md §5.19 "Accounting"),
 * claim_seq - start_seq = the members' claimed + lost + frames_departed +
 * markers. 0 when it holds, RB_E_CORRUPT when it does not (claim_seq was
 * moved by no claim), 1 when a member's leave in progress keeps it from
 * being decided now.
 */
int rb_group_check_accounting(struct rb_ring *ring, uint32_t g, uint64_t cur);

/* ---- producer internals used elsewhere ---- */

/* Rings every sleeping consumer whose wake target is <= write_seq (all of
 * them when `all`). */
void rb_wake_consumers(struct rb_ring *ring, uint64_t write_seq, bool all);
/* Rings the producer's doorbell if it waits for read_seq to pass `from`..`to`. */
void rb_wake_producer_if_crossed(struct rb_ring *ring, uint64_t from, uint64_t to);

/* ---- stream header (stream_header.c) ---- */

int rb_stream_header_write(struct rb_ring *ring, const char *text,
			   uint64_t start_seq);
int rb_stream_header_read(struct rb_ring *ring, char *buf, size_t size,
			  uint64_t *start_seq);
/* start_seq of the newest stream (several producers' commit uses it). */
uint64_t rb_stream_current_start(struct rb_ring *ring);
/* Measures CLOCK_REALTIME - CLOCK_MONOTONIC and publishes it (§5.22). */
int64_t rb_clock_anchor_refresh(struct rb_shm_producer *shm);
/* The offset to use now: the pinned one (rb_clock_anchor_pin), else a
 * refresh. */
int64_t rb_clock_anchor_current(struct rb_ring *ring);
int rb_clock_anchor_pin(struct rb_ring *ring, int64_t offset_ns,
			uint64_t measured_at_ns);
/* A clock step: the published offset is replaced only when a measurement
 * moved this far from it; a measurement whose reads were more than the
 * window apart is not used (clock.c). */
#define RB_CLOCK_STEP_NS 1000000ull
#define RB_CLOCK_WINDOW_NS 100000ull

/* ---- segment (segment.c) ---- */

/* FNV-1a 64 of the header's first 248 bytes. */
uint64_t rb_header_checksum(const struct rb_shm_header *header);
/* Checks `header` and the geometry it describes against segment_bytes,
 * filling the geometry of `ring`. Returns 0 or an RB_E_* code. */
int rb_header_validate(const struct rb_shm_header *header,
		       uint64_t segment_bytes, struct rb_ring *ring);

#endif /* RB_INTERNAL_H */
