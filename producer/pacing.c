/*
 * Rate pacing against absolute deadlines: frame n is due at
 * start + n / rate on CLOCK_MONOTONIC. Deriving every deadline from the
 * start, rather than sleeping one period after the previous frame, means
 * sleep overshoot and slow frames never accumulate into drift: a late
 * frame is followed by frames sent at once until the schedule is met
 * again, and the average rate over any long run is exact.
 *
 * The period is a long double in nanoseconds, so that n * period stays
 * exact to well under a nanosecond for any run length that fits in a
 * uint64_t of nanoseconds.
 */
#include "producer.h"

void
pacer_init(struct pacer *p, double frames_per_second, uint64_t start_ns)
{
	p->enabled = frames_per_second > 0;
	p->start_ns = start_ns;
	p->period_ns = p->enabled ? 1e9L / frames_per_second : 0;
}

uint64_t
pacer_deadline(const struct pacer *p, uint64_t n)
{
	long double offset = (long double)n * p->period_ns;

	if (!p->enabled)
		return 0;
	/* A rate so low that the deadline is past the end of time. */
	if (offset >= (long double)(UINT64_MAX - p->start_ns))
		return UINT64_MAX;
	return p->start_ns + (uint64_t)offset;
}

uint64_t
pacer_due_by(const struct pacer *p, uint64_t t)
{
	long double n;

	if (!p->enabled || t < p->start_ns)
		return 0;
	/* Frame 0 is due at the start, frame n at start + n periods. */
	n = (long double)(t - p->start_ns) / p->period_ns + 1;
	return n >= (long double)UINT64_MAX ? UINT64_MAX : (uint64_t)n;
}
