/*
 * Units people write: sizes (4KiB, 1MB), counts (1e6, 10k), durations
 * (500ms, 2m), frequencies (1MHz) and rates (10kHz, 5000fps, 2GB/s).
 *
 * Numbers are read as long double: its 64-bit mantissa holds every
 * uint64_t exactly, and so does the product with any power of 1000 or 1024
 * that still fits in 64 bits. A size like "18446744073709551615" or
 * "16EiB - 1" is therefore exact, and "1.5KiB" is 1536 with no rounding.
 *
 * Unit names are matched without regard to case ("kib", "MHZ"), except
 * where case is the only difference that matters: "m" is minutes in a
 * duration and mega in a count; both are unambiguous in their own kind.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

struct cli_unit {
	const char *name;
	long double scale;
};

#define KILO 1e3L
#define MEGA 1e6L
#define GIGA 1e9L
#define TERA 1e12L
#define KIBI 1024.0L
#define MEBI (1024.0L * 1024.0L)
#define GIBI (1024.0L * 1024.0L * 1024.0L)
#define TEBI (1024.0L * 1024.0L * 1024.0L * 1024.0L)
/* 2^64: the first value a uint64_t cannot hold. */
#define U64_LIMIT 18446744073709551616.0L

static const struct cli_unit cli_size_units[] = {
	{"", 1},       {"B", 1},
	{"k", KILO},   {"kB", KILO}, {"Ki", KIBI}, {"KiB", KIBI},
	{"M", MEGA},   {"MB", MEGA}, {"Mi", MEBI}, {"MiB", MEBI},
	{"G", GIGA},   {"GB", GIGA}, {"Gi", GIBI}, {"GiB", GIBI},
	{"T", TERA},   {"TB", TERA}, {"Ti", TEBI}, {"TiB", TEBI},
	{NULL, 0},
};

static const struct cli_unit cli_count_units[] = {
	{"", 1}, {"k", KILO}, {"M", MEGA}, {"G", GIGA}, {NULL, 0},
};

static const struct cli_unit cli_duration_units[] = {
	{"", 1e9L},   {"s", 1e9L},     {"sec", 1e9L},   {"ms", 1e6L},
	{"us", 1e3L}, {"\xc2\xb5s", 1e3L}, {"ns", 1},   {"m", 60e9L},
	{"min", 60e9L}, {"h", 3600e9L}, {NULL, 0},
};

static const struct cli_unit cli_frequency_units[] = {
	{"", 1},        {"Hz", 1},       {"k", KILO}, {"kHz", KILO},
	{"M", MEGA},    {"MHz", MEGA},   {"G", GIGA}, {"GHz", GIGA},
	{NULL, 0},
};

static const struct cli_unit cli_fps_units[] = {
	{"fps", 1}, {"kfps", KILO}, {"Mfps", MEGA}, {"/s", 1}, {NULL, 0},
};

/*
 * Reads the leading decimal number of `text`: digits, an optional fraction
 * and an optional exponent. No sign (nothing here can be negative), no hex,
 * no "inf": strtold alone would accept all of those.
 */
static int
cli_number(const char *text, long double *value, const char **rest)
{
	char buf[64];
	const char *p = text;
	size_t len;

	while (isdigit((unsigned char)*p))
		p++;
	if (*p == '.') {
		p++;
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (p == text || (p == text + 1 && text[0] == '.'))
		return -EINVAL;
	if ((*p == 'e' || *p == 'E') &&
	    (isdigit((unsigned char)p[1]) ||
	     ((p[1] == '+' || p[1] == '-') && isdigit((unsigned char)p[2])))) {
		p += 2;
		while (isdigit((unsigned char)*p))
			p++;
	}
	len = (size_t)(p - text);
	if (len >= sizeof(buf))
		return -ERANGE;
	memcpy(buf, text, len);
	buf[len] = '\0';
	*value = strtold(buf, NULL);
	if (!isfinite(*value))
		return -ERANGE;
	*rest = p;
	return 0;
}

/* Looks `unit` up in `table`: case-sensitive first, then not. */
static const struct cli_unit *
cli_unit_find(const struct cli_unit *table, const char *unit)
{
	const struct cli_unit *u;

	for (u = table; u->name != NULL; u++)
		if (strcmp(u->name, unit) == 0)
			return u;
	for (u = table; u->name != NULL; u++)
		if (strcasecmp(u->name, unit) == 0)
			return u;
	return NULL;
}

/* Number times unit, from one table. */
static int
cli_scaled(const char *text, const struct cli_unit *table, long double *out)
{
	const struct cli_unit *u;
	const char *rest;
	long double v;
	int rc;

	if (text == NULL || (rc = cli_number(text, &v, &rest)) != 0)
		return text == NULL ? -EINVAL : rc;
	if ((u = cli_unit_find(table, rest)) == NULL)
		return -EINVAL;
	*out = v * u->scale;
	return isfinite(*out) ? 0 : -ERANGE;
}

/* A whole number that fits in a uint64_t. */
static int
cli_whole(long double v, uint64_t *out)
{
	if (v != floorl(v))
		return -EINVAL;
	if (v >= U64_LIMIT)
		return -ERANGE;
	*out = (uint64_t)v;
	return 0;
}

int
cli_parse_size(const char *text, uint64_t *out)
{
	long double v;
	int rc = cli_scaled(text, cli_size_units, &v);

	return rc != 0 ? rc : cli_whole(v, out);
}

int
cli_parse_count(const char *text, uint64_t *out)
{
	long double v;
	int rc = cli_scaled(text, cli_count_units, &v);

	return rc != 0 ? rc : cli_whole(v, out);
}

int
cli_parse_duration(const char *text, uint64_t *out_ns)
{
	long double v;
	int rc = cli_scaled(text, cli_duration_units, &v);

	if (rc != 0)
		return rc;
	if (v >= U64_LIMIT - 1)
		return -ERANGE;
	*out_ns = (uint64_t)(v + 0.5L); /* "1.5ns" is not worth an error */
	return 0;
}

int
cli_parse_frequency(const char *text, double *out_hz)
{
	long double v;
	int rc = cli_scaled(text, cli_frequency_units, &v);

	if (rc != 0)
		return rc;
	if (v > 1e18L)
		return -ERANGE;
	*out_hz = (double)v;
	return 0;
}

int
cli_parse_rate(const char *text, struct cli_rate *out)
{
	const struct cli_unit *u;
	const char *rest;
	long double v;
	size_t len;
	char unit[32];
	int rc;

	if (text == NULL)
		return -EINVAL;
	if (strcasecmp(text, "max") == 0 || strcasecmp(text, "unlimited") == 0) {
		out->unit = CLI_RATE_UNLIMITED;
		out->per_second = 0;
		return 0;
	}
	if ((rc = cli_number(text, &v, &rest)) != 0)
		return rc;
	/* Frames: a frequency (10kHz, 5000) or frames per second (5000fps). */
	if ((u = cli_unit_find(cli_frequency_units, rest)) != NULL ||
	    (u = cli_unit_find(cli_fps_units, rest)) != NULL) {
		out->unit = CLI_RATE_FRAMES;
		out->per_second = (double)(v * u->scale);
		return isfinite(out->per_second) ? 0 : -ERANGE;
	}
	/* Bytes: a size with a B, per second (2GB/s, 500MiB/s). */
	len = strlen(rest);
	if (len < 3 || len >= sizeof(unit) || strcmp(rest + len - 2, "/s") != 0)
		return -EINVAL;
	memcpy(unit, rest, len - 2);
	unit[len - 2] = '\0';
	if (toupper((unsigned char)unit[len - 3]) != 'B' ||
	    (u = cli_unit_find(cli_size_units, unit)) == NULL)
		return -EINVAL;
	out->unit = CLI_RATE_BYTES;
	out->per_second = (double)(v * u->scale);
	return isfinite(out->per_second) ? 0 : -ERANGE;
}

char *
cli_format_si(char *buf, size_t size, double value, const char *unit)
{
	static const char prefixes[] = " kMGTPE";
	int i = 0;

	while (fabs(value) >= 999.5 && prefixes[i + 1] != '\0') {
		value /= 1000.0;
		i++;
	}
	if (i == 0)
		snprintf(buf, size, "%.0f %s", value, unit);
	else
		snprintf(buf, size, "%.*f %c%s",
			 fabs(value) < 9.995 ? 2 : fabs(value) < 99.95 ? 1 : 0,
			 value, prefixes[i], unit);
	return buf;
}
