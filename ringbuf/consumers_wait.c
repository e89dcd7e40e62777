/*
 * Waiting until a number of consumers are attached: what a producer does
 * before its first frame when frames made with nobody reading would be
 * overwritten unread (rb-producer --wait-consumers, Producer.wait_consumers).
 *
 * Consumers attach rarely, so this polls the ring's status in short naps
 * rather than sleeping on a doorbell: nothing on the attach path has to
 * ring for it, and a nap of a few milliseconds is invisible next to an
 * attach. The nap is a nanosleep, which a signal handler cuts short: the
 * call then returns -EINTR, so Ctrl-C ends the wait at once.
 */
#include <errno.h>
#include <time.h>

#include "rb_internal.h"

#define RB_CONSUMERS_POLL_NS 2000000ull /* 2 ms */

int
rb_ring_wait_consumers(struct rb_ring *ring, uint32_t count, uint64_t timeout_ns)
{
	uint64_t deadline = rb_deadline_after(timeout_ns);
	struct rb_ring_status st;
	int rc;

	if (ring == NULL)
		return -EINVAL;
	for (;;) {
		uint64_t now, nap = RB_CONSUMERS_POLL_NS;
		struct timespec ts;

		if ((rc = rb_ring_get_status(ring, &st)) != 0)
			return rc;
		if (st.consumers >= count)
			return 0;
		now = rb_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		if (deadline - now < nap)
			nap = deadline - now;
		ts.tv_sec = (time_t)(nap / 1000000000ull);
		ts.tv_nsec = (long)(nap % 1000000000ull);
		if (nanosleep(&ts, NULL) != 0 && errno == EINTR)
			return -EINTR;
	}
}
