/*
 * What both export formats take from a stream besides its frames: the
 * element size, the sample rate and the stream header's key=value lines
 * (the keys rb-producer writes are listed in producer/main.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "export.h"

size_t
export_elem_bytes(const struct export_source *s)
{
	return s->type.elem != RB_ELEM_NONE ? rb_elem_size(s->type.elem) : 1;
}

/* A positive finite number, all of `text`. */
static bool
meta_number(const char *text, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(text, &end);
	if (errno != 0 || end == text || *end != '\0' || !isfinite(v) || !(v > 0))
		return false;
	*out = v;
	return true;
}

bool
export_sample_rate(const struct export_source *s, double *hz)
{
	char value[64];
	double rate;

	/* The adc source's own key: samples per second of each channel. */
	if (cli_header_get(s->text, "sample_rate", value, sizeof(value)) &&
	    meta_number(value, hz))
		return true;
	/* Else frames/s (rate=max is no rate) times the samples a typed
	 * frame holds along its slowest dimension. */
	if (s->type.elem == RB_ELEM_NONE || s->type.ndim == 0 ||
	    !cli_header_get(s->text, "rate", value, sizeof(value)) || !meta_number(value, &rate))
		return false;
	*hz = rate * (double)s->type.dims[0];
	return true;
}

int
export_header_each(const char *text, int (*fn)(void *arg, const char *key, const char *value),
		   void *arg)
{
	const char *line = text;
	char key[256], value[4096];
	int rc;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *eq = memchr(line, '=', len);

		if (eq != NULL && eq > line) {
			size_t klen = (size_t)(eq - line), vlen = len - klen - 1;

			if (klen >= sizeof(key))
				klen = sizeof(key) - 1;
			if (vlen >= sizeof(value))
				vlen = sizeof(value) - 1;
			memcpy(key, line, klen);
			key[klen] = '\0';
			memcpy(value, eq + 1, vlen);
			value[vlen] = '\0';
			if ((rc = fn(arg, key, value)) != 0)
				return rc;
		}
		line = end ? end + 1 : NULL;
	}
	return 0;
}

void
export_format_utc(char *buf, size_t size, int64_t utc_ns)
{
	time_t sec = (time_t)(utc_ns / 1000000000);
	struct tm tm;

	gmtime_r(&sec, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (int)(utc_ns % 1000000000 / 1000000));
}
