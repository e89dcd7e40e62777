/*
 * What the programs' summaries share: why a run ended, in words, and the
 * totals both start with (frames, bytes, time and the two rates), in the
 * one-line text and in JSON. Tests and scripts read these, so both
 * programs must spell them the same way.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *
cli_end_text(const char *end)
{
	if (strcmp(end, "count") == 0)
		return "frame count reached";
	if (strcmp(end, "duration") == 0)
		return "duration reached";
	if (strcmp(end, "truncated") == 0)
		return "ring truncated under us";
	if (strcmp(end, "signal") == 0)
		return cli_signal_name(cli_stop);
	return end;
}

/* Rates over a run that took no measurable time are 0, not infinite. */
static double
cli_per_second(uint64_t n, double seconds)
{
	return seconds > 0 ? (double)n / seconds : 0;
}

void
cli_summary_head(char *buf, size_t size, const char *ring, const char *what,
		 uint64_t frames, uint64_t bytes, double seconds)
{
	char x[32], y[32], z[32];

	snprintf(buf, size, "%s: ring %s: %s: %" PRIu64 " frames, %s in %.3f s (%s, %s)",
		 cli_program(), ring, what, frames,
		 cli_format_si(x, sizeof(x), (double)bytes, "B"), seconds,
		 cli_format_si(y, sizeof(y), cli_per_second(frames, seconds), "fps"),
		 cli_format_si(z, sizeof(z), cli_per_second(bytes, seconds), "B/s"));
}

void
cli_json_totals(struct cli_json *j, uint64_t frames, uint64_t bytes, double seconds)
{
	cli_json_u64(j, "frames", frames);
	cli_json_u64(j, "bytes", bytes);
	cli_json_double(j, "seconds", seconds);
	cli_json_double(j, "frames_per_second", cli_per_second(frames, seconds));
	cli_json_double(j, "bytes_per_second", cli_per_second(bytes, seconds));
}

void
cli_json_end_reason(struct cli_json *j, const char *end)
{
	cli_json_string(j, "end", end);
	/* A truncation sets cli_stop too (sigbus.c): that was no signal. */
	if (cli_stop && strcmp(end, "truncated") != 0)
		cli_json_string(j, "signal", cli_signal_name(cli_stop));
}
