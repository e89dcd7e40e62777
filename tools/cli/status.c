/*
 * The live status line: one line on stderr, rewritten in place about twice
 * a second with "\r" and erased with "\033[K" (clear to end of line), so
 * it never scrolls. Only on a terminal: in a log file a carriage-return
 * line is noise, so when stderr is not a terminal the programs stay quiet
 * until their summary.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

/* Twice a second: fast enough to look live, slow enough to read. */
#define CLI_STATUS_INTERVAL_NS 500000000ull

void
cli_status_init(struct cli_status *s, FILE *out)
{
	const char *force = getenv("RB_STATUS");

	memset(s, 0, sizeof(*s));
	s->out = out;
	s->enabled = isatty(fileno(out)) == 1;
	if (force != NULL && strcmp(force, "always") == 0)
		s->enabled = true;
	else if (force != NULL && strcmp(force, "never") == 0)
		s->enabled = false;
	/* The first line after one interval: a run that ends sooner has
	 * nothing worth a status line and goes straight to its summary. */
	s->next_ns = cli_now_ns() + CLI_STATUS_INTERVAL_NS;
}

bool
cli_status_due(struct cli_status *s, uint64_t now_ns)
{
	if (!s->enabled || now_ns < s->next_ns)
		return false;
	s->next_ns = now_ns + CLI_STATUS_INTERVAL_NS;
	return true;
}

void
cli_status_print(struct cli_status *s, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	if (!s->enabled)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One write per refresh: stderr is unbuffered. */
	fprintf(s->out, "\r%s: %s\033[K", cli_program(), line);
	fflush(s->out);
	s->shown = true;
}

void
cli_status_clear(struct cli_status *s)
{
	if (!s->shown)
		return;
	fputs("\r\033[K", s->out);
	fflush(s->out);
	s->shown = false;
}
