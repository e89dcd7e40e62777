/* The analyses rb-consumer knows, by name. */
#include <string.h>

#include "consumer.h"

static const struct analysis *const analyses[] = {
	&analysis_verify,
	&analysis_stats,
	&analysis_null,
	&analysis_stdout,
	&analysis_record,
	/* record --format hdf5 (issue 16) */
	&analysis_record_hdf5,
};

const struct analysis *
analysis_find(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(analyses) / sizeof(analyses[0]); i++)
		if (strcmp(analyses[i]->name, name) == 0)
			return analyses[i];
	return NULL;
}
