/*
 * Clocks. Frame time stamps, pacing deadlines and durations all use
 * CLOCK_MONOTONIC: it never jumps, and it is the same clock in every
 * process on the machine, so a consumer can compare a producer's time
 * stamp with its own clock to measure lag.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"

uint64_t
cli_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
cli_sleep_until(uint64_t deadline_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(deadline_ns / 1000000000ull),
		.tv_nsec = (long)(deadline_ns % 1000000000ull),
	};

	/* Absolute: a deadline cannot drift however often we are woken. The
	 * signal handlers have no SA_RESTART, so a stop request ends the
	 * sleep with EINTR and the caller looks at cli_stop. */
	return -clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

int
cli_sleep_for(uint64_t ns)
{
	return cli_sleep_until(cli_now_ns() + ns);
}

void
cli_utc_iso8601(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	char date[32];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%03ldZ", date, ts.tv_nsec / 1000000);
}
