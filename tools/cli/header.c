/*
 * Stream header text: "key=value" lines that rb-producer writes with
 * rb_producer_begin_stream and consumers read back. The library treats the
 * text as opaque; the keys are a convention between the programs (listed
 * in producer/main.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

bool
cli_header_get(const char *text, const char *key, char *value, size_t size)
{
	size_t klen = strlen(key);
	const char *line = text;

	while (line != NULL && *line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);

		if (len > klen && strncmp(line, key, klen) == 0 && line[klen] == '=') {
			size_t vlen = len - klen - 1;

			if (size > 0) {
				if (vlen >= size)
					vlen = size - 1;
				memcpy(value, line + klen + 1, vlen);
				value[vlen] = '\0';
			}
			return true;
		}
		line = end ? end + 1 : NULL;
	}
	return false;
}

int
cli_parse_shape(const char *text, uint64_t dims[RB_MAX_DIMS], uint32_t *ndim)
{
	const char *p = text;
	uint32_t n = 0;

	for (;;) {
		char *end;
		unsigned long long v;

		if (*p < '0' || *p > '9' || n == RB_MAX_DIMS)
			return -EINVAL;
		errno = 0;
		v = strtoull(p, &end, 10);
		if (errno != 0 || v == 0)
			return -EINVAL;
		dims[n++] = v;
		if (*end == '\0')
			break;
		if (*end != 'x')
			return -EINVAL;
		p = end + 1;
	}
	*ndim = n;
	return 0;
}

void
cli_format_shape(char *buf, size_t size, const uint64_t *dims, uint32_t ndim)
{
	size_t used = 0;
	uint32_t i;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < ndim && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%" PRIu64,
				 i ? "x" : "", dims[i]);
		if (n < 0)
			break;
		used += (size_t)n;
	}
}
