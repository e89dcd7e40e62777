/*
 * The clock anchor: what turns a frame's CLOCK_MONOTONIC time stamp into
 * UTC (FORMAT.md §5.22).
 *
 * One signed 64-bit word, P.clock_offset_ns = CLOCK_REALTIME -
 * CLOCK_MONOTONIC, is all a reader needs: utc = timestamp + offset. Being a
 * single aligned word it needs no lock, and any number of producers may
 * refresh it concurrently (the last store wins; each is a correct
 * measurement). clock_anchor_ns (when it was measured) is informational:
 * it tells a monitor how fresh the anchor is. The library measures at ring
 * creation and at every begin-stream; rb-producer refreshes it each second,
 * so never on the per-frame path.
 *
 * A measurement is published only when it moved by more than a step
 * (RB_CLOCK_STEP_NS) from the published offset. CLOCK_REALTIME -
 * CLOCK_MONOTONIC changes only when the realtime clock is stepped (NTP's
 * frequency corrections slew both clocks alike), while each measurement is
 * off by up to half the window between its clock reads, some ns:
 * republishing every measurement would make the UTC of one frame differ by
 * those ns between a consumer and a recording made a second earlier. A
 * measurement whose reads were far apart (the thread was preempted between
 * them) is no better than the published value and is not used unless there
 * is none.
 *
 * A replay of a recording (rb-producer --source file) carries the recorded
 * frames' own time stamps, from the recording machine's CLOCK_MONOTONIC:
 * their UTC comes from the recording's anchor, not from this machine's
 * clocks. rb_producer_set_clock_offset publishes that anchor and pins it in
 * this process's ring handle, so that begin-stream and refreshes keep it.
 */
#include <errno.h>
#include <time.h>

#include "rb_internal.h"

static uint64_t
rb_clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int64_t
rb_clock_anchor_refresh(struct rb_shm_producer *shm)
{
	/* The realtime reading sits between two monotonic ones: take the
	 * midpoint, so the error is at most half the (tiny) window. */
	uint64_t m0 = rb_clock_ns(CLOCK_MONOTONIC);
	uint64_t real = rb_clock_ns(CLOCK_REALTIME);
	uint64_t m1 = rb_clock_ns(CLOCK_MONOTONIC);
	uint64_t mono = m0 + (m1 - m0) / 2;
	int64_t offset = (int64_t)(real - mono);
	uint64_t published = ck_pr_load_64(&shm->clock_offset_ns);
	/* In unsigned arithmetic: the shared word may hold anything. */
	uint64_t moved = (uint64_t)offset - published;

	if (offset == 0)
		offset = 1; /* 0 means "no anchor" */
	if (published != 0 &&
	    (m1 - m0 > RB_CLOCK_WINDOW_NS || moved <= RB_CLOCK_STEP_NS ||
	     -moved <= RB_CLOCK_STEP_NS))
		return (int64_t)published;
	ck_pr_store_64(&shm->clock_anchor_ns, mono);
	ck_pr_store_64(&shm->clock_offset_ns, (uint64_t)offset);
	return offset;
}

int64_t
rb_clock_anchor_current(struct rb_ring *ring)
{
	if (ring->clock_pinned)
		return (int64_t)ck_pr_load_64(&ring->producer->clock_offset_ns);
	return rb_clock_anchor_refresh(ring->producer);
}

int
rb_clock_anchor_pin(struct rb_ring *ring, int64_t offset_ns,
		    uint64_t measured_at_ns)
{
	if (offset_ns == 0)
		return -EINVAL; /* 0 means "no anchor" */
	ring->clock_pinned = true;
	ck_pr_store_64(&ring->producer->clock_anchor_ns, measured_at_ns);
	ck_pr_store_64(&ring->producer->clock_offset_ns, (uint64_t)offset_ns);
	return 0;
}

int64_t
rb_ring_clock_offset(struct rb_ring *ring, uint64_t *measured_at_ns)
{
	if (measured_at_ns != NULL)
		*measured_at_ns = ck_pr_load_64(&ring->producer->clock_anchor_ns);
	return (int64_t)ck_pr_load_64(&ring->producer->clock_offset_ns);
}

int
rb_ring_utc_ns(struct rb_ring *ring, uint64_t timestamp_ns, int64_t *utc_ns)
{
	int64_t offset = (int64_t)ck_pr_load_64(&ring->producer->clock_offset_ns);

	if (timestamp_ns == 0 || offset == 0 || utc_ns == NULL)
		return -ENODATA;
	*utc_ns = (int64_t)(timestamp_ns + (uint64_t)offset);
	return 0;
}
