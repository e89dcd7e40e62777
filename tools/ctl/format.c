/*
 * Text for people: frame types, sizes in binary units, creation flags,
 * times and durations. Machine output (--json, stat) prints raw integers
 * instead, so nothing here has to round-trip.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

void
ctl_format_type(char *buf, size_t size, const struct rb_frame_type *t)
{
	const char *elem = rb_elem_name(t->elem);
	size_t used;
	uint32_t i;
	int n;

	if (t->elem == RB_ELEM_NONE || elem == NULL || t->ndim == 0) {
		snprintf(buf, size, "bytes");
		return;
	}
	n = snprintf(buf, size, "%s[", elem);
	used = n > 0 ? (size_t)n : 0;
	for (i = 0; i < t->ndim && i < RB_MAX_DIMS && used < size; i++) {
		n = snprintf(buf + used, size - used, "%s%" PRIu64, i ? "," : "",
			     t->dims[i]);
		used += n > 0 ? (size_t)n : 0;
	}
	if (used < size)
		snprintf(buf + used, size - used, "]");
}

void
ctl_format_bytes(char *buf, size_t size, uint64_t bytes)
{
	static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024.0;
		u++;
	}
	/* Exact multiples (ring sizes usually are) print without decimals;
	 * others keep three significant digits. */
	if (u == 0 || bytes % (1ull << (10 * u)) == 0)
		snprintf(buf, size, "%.0f %s", v, units[u]);
	else
		snprintf(buf, size, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, units[u]);
}

static const struct {
	uint32_t bit;
	const char *name;
} ctl_flag_names[] = {
	{RB_CREATE_ROUND_UP, "round-up"},   {RB_CREATE_REPLACE, "replace"},
	{RB_CREATE_HUGEPAGES, "hugepages"}, {RB_CREATE_MLOCK, "mlock"},
	{RB_CREATE_PREFAULT, "prefault"},   {RB_CREATE_GROUP_ACCESS, "group"},
};

const char *
ctl_flag_name(uint32_t bit)
{
	size_t i;

	for (i = 0; i < sizeof(ctl_flag_names) / sizeof(ctl_flag_names[0]); i++)
		if (ctl_flag_names[i].bit == bit)
			return ctl_flag_names[i].name;
	return NULL;
}

void
ctl_format_flags(char *buf, size_t size, uint32_t flags)
{
	size_t used = 0;
	uint32_t bit;
	int n;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (bit = 1; bit != 0; bit <<= 1) {
		const char *name = ctl_flag_name(bit);

		if (!(flags & bit) || name == NULL)
			continue;
		n = snprintf(buf + used, size - used, "%s%s", used ? "," : "", name);
		if (n < 0 || (size_t)n >= size - used)
			return;
		used += (size_t)n;
		flags &= ~bit;
	}
	/* Bits a newer library may define. */
	if (flags != 0)
		snprintf(buf + used, size - used, "%s0x%" PRIx32, used ? "," : "", flags);
	else if (used == 0)
		snprintf(buf, size, "none");
}

void
ctl_format_time(char *buf, size_t size, uint64_t realtime_ns)
{
	time_t sec = (time_t)(realtime_ns / 1000000000ull);
	struct tm tm;
	char date[32];

	if (gmtime_r(&sec, &tm) == NULL ||
	    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "%" PRIu64 "ns", realtime_ns);
		return;
	}
	snprintf(buf, size, "%s.%03uZ", date,
		 (unsigned)(realtime_ns % 1000000000ull / 1000000ull));
}

void
ctl_format_duration(char *buf, size_t size, uint64_t ns)
{
	uint64_t s = ns / 1000000000ull;

	if (s == 0)
		snprintf(buf, size, "%" PRIu64 "ms", (uint64_t)(ns / 1000000));
	else if (s < 60)
		snprintf(buf, size, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRIu64 "m%02" PRIu64 "s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRIu64 "h%02" PRIu64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRIu64 "d%02" PRIu64 "h", s / 86400, s % 86400 / 3600);
}

void
ctl_format_rate(char *buf, size_t size, double v)
{
	if (v <= 0)
		snprintf(buf, size, "0");
	else if (v < 100)
		snprintf(buf, size, "%.1f", v);
	else if (v < 1e7)
		snprintf(buf, size, "%.0f", v);
	else
		snprintf(buf, size, "%.3g", v);
}

const char *
ctl_pages_name(enum rb_pages pages)
{
	return pages == RB_PAGES_THP ? "transparent huge pages" : "normal pages";
}

uint64_t
ctl_realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
