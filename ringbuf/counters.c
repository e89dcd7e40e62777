/*
 * The names of the source counters a producer publishes in its record
 * (FORMAT.md §3.7.1): the index is the meaning, so the record holds only
 * numbers, and every reader names them the same way.
 */
#include <stdint.h>

#include "ringbuf.h"

/* Source counters of a producer record, by index (FORMAT.md §3.7.1). */
const char *
rb_counter_name(uint32_t index)
{
	static const char *const names[RB_COUNTERS_MAX] = {
		"packets", "packets_lost", "packets_late", "packets_duplicate",
		"packets_malformed", "kernel_drops", "frames_incomplete",
		"frames_missing",
	};

	return index < RB_COUNTERS_MAX ? names[index] : NULL;
}
