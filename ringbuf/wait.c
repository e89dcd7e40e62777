/*
 * Waiting and waking: the ck_ec event-count operations over shared futexes.
 *
 * Each participant sleeps on its own doorbell, a ck_ec32 in its record. The
 * waker increments the doorbell; ck_ec makes that a plain atomic add with no
 * system call unless the sleeper has set the doorbell's "waiters" bit, which
 * it does only after spinning. Why a doorbell per participant instead of
 * waiting on write_seq itself: a consumer may ask to sleep until k frames
 * are ready, and with 64 consumers a single futex word would wake all of
 * them on every commit. The producer wakes exactly the consumers whose
 * target is met (see rb_wake_consumers in producer.c).
 *
 * The futexes are shared (no FUTEX_PRIVATE_FLAG): the words live in a
 * MAP_SHARED mapping used by several processes, and a private futex is keyed
 * on the process's address space, so a wake from another process would never
 * reach the sleeper.
 */
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "rb_internal.h"

static int
rb_ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	(void)ops;
	return clock_gettime(CLOCK_MONOTONIC, out);
}

struct rb_wait_context {
	rb_wake_check_fn check;
	void *arg;
	uint64_t *next_check_ns; /* the caller's: kept across waits */
	bool interrupted;        /* a futex sleep returned EINTR */
};

/*
 * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline, which is
 * what ck_ec hands us. EAGAIN and ETIMEDOUT just return: ck_ec re-checks the
 * counter and the deadline itself. EINTR (a signal handler ran; the programs
 * install theirs without SA_RESTART) is remembered, and the predicate ends
 * the wait with it, so a signal ends a wait at once, not a slice later.
 */
static void
rb_futex_wait(const struct ck_ec_wait_state *state, const uint32_t *word,
	      uint32_t expected, const struct timespec *deadline)
{
	struct rb_wait_context *ctx = state != NULL ? state->data : NULL;

	if (syscall(SYS_futex, word, FUTEX_WAIT_BITSET, expected, deadline,
		    NULL, FUTEX_BITSET_MATCH_ANY) != 0 &&
	    errno == EINTR && ctx != NULL)
		ctx->interrupted = true;
}

static void
rb_ec_wait32(const struct ck_ec_wait_state *state, const uint32_t *word,
	     uint32_t expected, const struct timespec *deadline)
{
	rb_futex_wait(state, word, expected, deadline);
}

static void
rb_ec_wait64(const struct ck_ec_wait_state *state, const uint64_t *word,
	     uint64_t expected, const struct timespec *deadline)
{
	/* ck_ec64 keeps its flag in the low half: wait on that half. */
	rb_futex_wait(state, (const uint32_t *)word, (uint32_t)expected, deadline);
}

static void
rb_ec_wake32(const struct ck_ec_ops *ops, const uint32_t *word)
{
	(void)ops;
	(void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

static void
rb_ec_wake64(const struct ck_ec_ops *ops, const uint64_t *word)
{
	rb_ec_wake32(ops, (const uint32_t *)word);
}

static const struct ck_ec_ops rb_ec_ops = {
	.gettime = rb_ec_gettime,
	.wait32 = rb_ec_wait32,
	.wait64 = rb_ec_wait64,
	.wake32 = rb_ec_wake32,
	.wake64 = rb_ec_wake64,
	/* ck_ec's defaults: ~100 spins after setting the waiters bit, then
	 * futex sleeps with a backoff that becomes unbounded after 1 s. */
};

/* Several processes may ring the same doorbell, so the multi-producer
 * (locked add) variant is the right one. */
const struct ck_ec_mode rb_ec_mode = {
	.ops = &rb_ec_ops,
	.single_producer = false,
};

uint64_t
rb_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
rb_deadline_after(uint64_t timeout_ns)
{
	uint64_t now;

	if (timeout_ns == RB_FOREVER)
		return RB_FOREVER;
	now = rb_now_ns();
	if (timeout_ns > RB_FOREVER - now - 1)
		return RB_FOREVER;
	return now + timeout_ns;
}

uint64_t
rb_spin_budget(uint64_t avg_wait_ns, uint64_t spin_ns)
{
	uint64_t twice = 2 * avg_wait_ns;

	return twice <= RB_SPIN_ADAPT_MAX_NS && twice > spin_ns ? twice : spin_ns;
}

void
rb_spin_learn(uint64_t *avg_wait_ns, uint64_t waited_ns)
{
	/* An average over about the last 8 waits; a wait of seconds counts
	 * as one second (it only needs to read as "long"). */
	if (waited_ns > 1000000000ull)
		waited_ns = 1000000000ull;
	*avg_wait_ns = *avg_wait_ns - *avg_wait_ns / 8 + waited_ns / 8;
}

static uint64_t
rb_timespec_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static struct timespec
rb_ns_timespec(uint64_t ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ns / 1000000000ull),
		.tv_nsec = (long)(ns % 1000000000ull),
	};
	return ts;
}

/*
 * ck_ec calls this before each sleep. It runs the caller's check every
 * RB_WAIT_SLICE_NS and caps each futex sleep at the next check, so a dead
 * peer or a cancel request is noticed within one slice even with no
 * deadline.
 */
static int
rb_wait_pred(const struct ck_ec_wait_state *state, struct timespec *deadline)
{
	struct rb_wait_context *ctx = state->data;
	uint64_t now = rb_timespec_ns(&state->now);

	if (ctx->interrupted)
		return 1;
	if (now >= *ctx->next_check_ns) {
		*ctx->next_check_ns = now + RB_WAIT_SLICE_NS;
		if (ctx->check != NULL && ctx->check(ctx->arg) != 0)
			return 1;
	}
	if (rb_timespec_ns(deadline) > *ctx->next_check_ns)
		*deadline = rb_ns_timespec(*ctx->next_check_ns);
	return 0;
}

int
rb_doorbell_wait(uint32_t *doorbell, uint32_t seen, uint64_t deadline_ns,
		 rb_wake_check_fn check, void *arg, uint64_t *next_check_ns)
{
	struct rb_wait_context ctx = {
		.check = check,
		.arg = arg,
		.next_check_ns = next_check_ns,
		.interrupted = false,
	};

	/* The schedule belongs to the handle, not to this wait: a caller
	 * waiting in short timeouts (to poll its own signals) must still get
	 * its check every slice. */
	if (*next_check_ns == 0)
		*next_check_ns = rb_now_ns() + RB_WAIT_SLICE_NS;
	struct timespec deadline;
	int rc;

	if (deadline_ns != RB_FOREVER)
		deadline = rb_ns_timespec(deadline_ns);
	rc = ck_ec32_wait_pred((struct ck_ec32 *)doorbell, &rb_ec_mode, seen,
			       rb_wait_pred, &ctx,
			       deadline_ns == RB_FOREVER ? NULL : &deadline);
	if (ctx.interrupted)
		return -EINTR;
	if (rc == -1)
		return -ETIMEDOUT;
	return rc;
}

int
rb_pause(uint64_t *pause_ns, uint64_t deadline_ns, const volatile int *cancel)
{
	uint64_t now = rb_now_ns();
	uint64_t ns = *pause_ns == 0 ? RB_PAUSE_MIN_NS : *pause_ns;
	struct timespec ts;

	if (cancel != NULL && *cancel)
		return -EINTR;
	if (deadline_ns != RB_FOREVER && now >= deadline_ns)
		return -ETIMEDOUT;
	if (deadline_ns != RB_FOREVER && deadline_ns - now < ns)
		ns = deadline_ns - now;
	/* Doubling from a few microseconds: a peer preempted for a moment
	 * costs little latency, one that never lets go costs no CPU. */
	*pause_ns = *pause_ns == 0 ? RB_PAUSE_MIN_NS
				   : (*pause_ns * 2 > RB_PAUSE_MAX_NS ? RB_PAUSE_MAX_NS
								      : *pause_ns * 2);
	ts = rb_ns_timespec(ns);
	if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
		return -EINTR;
	if (cancel != NULL && *cancel)
		return -EINTR;
	return 0;
}

uint32_t
rb_doorbell_value(uint32_t *doorbell)
{
	return ck_ec32_value((struct ck_ec32 *)doorbell);
}

void
rb_doorbell_ring(uint32_t *doorbell)
{
	RB_TSAN_RELEASE(doorbell);
	ck_ec32_inc((struct ck_ec32 *)doorbell, &rb_ec_mode);
}
