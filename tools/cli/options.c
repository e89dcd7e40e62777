/*
 * The command line as rb-producer and rb-consumer read it: getopt without
 * its own messages, option values reported under the name the user typed,
 * the options both programs take, and the RING operand. The programs keep
 * their own option tables and usage texts.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

int
cli_getopt(int argc, char **argv, const char *optstring,
	   const struct option *longopts, char name[CLI_OPTION_NAME_MAX])
{
	int c, index = -1;

	opterr = 0; /* getopt's messages start with argv[0], a full path */
	c = getopt_long(argc, argv, optstring, longopts, &index);
	if (c == -1)
		return -1;
	if (c == '?' || c == ':') {
		cli_option_error(c, argv);
		return '?';
	}
	/* The option as the user spelled it, for messages. */
	if (index >= 0)
		snprintf(name, CLI_OPTION_NAME_MAX, "--%s", longopts[index].name);
	else
		snprintf(name, CLI_OPTION_NAME_MAX, "-%c", c);
	return c;
}

int
cli_option_count(const char *name, const char *text, uint64_t *out)
{
	uint64_t v;
	int rc = cli_parse_count(text, &v);

	if (rc == 0 && v == 0)
		rc = -EINVAL;
	if (rc != 0)
		return cli_bad_value(name, text, rc, "a frame count (1000, 1M)");
	*out = v;
	return 0;
}

int
cli_option_duration(const char *name, const char *text, uint64_t *out_ns)
{
	uint64_t ns;
	int rc = cli_parse_duration(text, &ns);

	if (rc == 0 && ns == 0)
		rc = -EINVAL;
	if (rc != 0)
		return cli_bad_value(name, text, rc, "a duration (500ms, 10s, 2m)");
	*out_ns = ns;
	return 0;
}

int
cli_option_queue_depth(const char *name, const char *text, uint32_t *out)
{
	uint64_t v;
	int rc = cli_parse_count(text, &v);

	if (rc == 0 && (v == 0 || v > 4096))
		rc = -ERANGE;
	if (rc != 0)
		return cli_bad_value(name, text, rc, "a depth (1 to 4096)");
	*out = (uint32_t)v;
	return 0;
}

int
cli_parse_start(const char *name, const char *text, enum rb_start *out)
{
	static const struct {
		const char *word;
		enum rb_start start;
	} starts[] = {
		{"oldest", RB_START_OLDEST},
		{"newest", RB_START_NEWEST},
		{"next", RB_START_NEXT},
	};

	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		if (strcmp(text, starts[i].word) == 0) {
			*out = starts[i].start;
			return 0;
		}
	}
	return cli_bad_value(name, text, -EINVAL, "oldest, newest or next");
}

bool
cli_group_name_valid(const char *text)
{
	/* The library takes ring-name rules for group names. */
	return rb_ring_name_check(text) == 0 && strlen(text) <= RB_GROUP_NAME_MAX;
}

int
cli_option_group(const char *name, const char *text, const char **out)
{
	if (!cli_group_name_valid(text)) {
		cli_error("%s: '%s': not a valid group name (1 to %d of "
			  "A-Z a-z 0-9 . _ -, not starting with '.')", name, text,
			  RB_GROUP_NAME_MAX);
		return CLI_EXIT_USAGE;
	}
	*out = text;
	return 0;
}

int
cli_ring_operand(int argc, char **argv, const char **ring)
{
	if (optind >= argc) {
		cli_error("missing RING operand (see --help)");
		return CLI_EXIT_USAGE;
	}
	*ring = argv[optind++];
	if (rb_ring_name_check(*ring) != 0)
		return cli_bad_ring_name(*ring);
	return 0;
}

int
cli_print_version(void)
{
	printf("%s (ringbuf) %s\n", cli_program(), RB_VERSION_STRING);
	return CLI_EXIT_OK;
}
