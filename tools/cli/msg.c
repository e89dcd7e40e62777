/*
 * Messages: every line a program prints on stderr starts with its name, so
 * that in a pipeline of several programs the reader knows who complained.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>

#include "cli.h"

static const char *cli_name = "rb";

void
cli_set_program(const char *name)
{
	cli_name = name;
}

const char *
cli_program(void)
{
	return cli_name;
}

static void
cli_vmessage(const char *kind, const char *fmt, va_list ap)
{
	/* One fprintf per part, but stderr is unbuffered: build the line
	 * first so that it reaches the terminal in one write. */
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "%s: %s", cli_name, kind);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void
cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("", fmt, ap);
	va_end(ap);
}

void
cli_warning(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("warning: ", fmt, ap);
	va_end(ap);
}

void
cli_note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cli_vmessage("note: ", fmt, ap);
	va_end(ap);
}

int
cli_bad_value(const char *option, const char *text, int rc,
	      const char *expected)
{
	if (rc == -ERANGE)
		cli_error("%s: '%s': out of range", option, text);
	else
		cli_error("%s: '%s': not %s", option, text, expected);
	return CLI_EXIT_USAGE;
}

int
cli_option_error(int c, char **argv)
{
	/* getopt leaves the offending word just before optind; optopt holds
	 * the option character when there is one (0 for an unknown long
	 * option, whose text is then the word itself). */
	const char *word = optind > 0 ? argv[optind - 1] : "";
	char shortname[3] = {'-', (char)optopt, '\0'};
	const char *what = word;

	if (optopt != 0 && !(word[0] == '-' && word[1] == '-'))
		what = shortname;
	if (c == ':')
		cli_error("%s: needs a value (see --help)", what);
	else
		cli_error("%s: unknown option (see --help)", what);
	return CLI_EXIT_USAGE;
}

int
cli_bad_ring_name(const char *name)
{
	cli_error("ring '%s': not a valid ring name (1 to %d letters, digits, "
		  "'.', '_' or '-', not starting with '.')", name, RB_NAME_MAX);
	return CLI_EXIT_USAGE;
}
