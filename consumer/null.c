/*
 * The null analysis: looks at nothing, so the consumer releases frames as
 * fast as the ring hands them out. It measures the ring itself, and is the
 * reference the other analyses' costs are read against.
 */
#include "consumer.h"

static int
null_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
	    uint32_t n)
{
	(void)state;
	(void)c;
	(void)frames;
	(void)n;
	return 0;
}

const struct analysis analysis_null = {
	.name = "null",
	.frames = null_frames,
};
