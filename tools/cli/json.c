/*
 * The programs' JSON summaries, built with Debian's jansson: the calls
 * add members to a tree as they come (the same calls the programs always
 * made), and cli_json_end prints the tree as one compact line, so
 * `rb-consumer --json ... | jq` and line-oriented log collectors both work.
 * jansson escapes strings (a newline in a label never splits the line)
 * and keeps members in the order they were added.
 */
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The container members go into now; NULL past CLI_JSON_MAX_DEPTH or after
 * an allocation failure (jansson's calls then do nothing). */
static json_t *
cli_json_top(struct cli_json *j)
{
	return j->skipped > 0 ? NULL : j->stack[j->depth];
}

/* Adds v (a new reference) under key, or to the array when key is NULL. */
static void
cli_json_add(struct cli_json *j, const char *key, json_t *v)
{
	json_t *top = cli_json_top(j);

	if (top == NULL || v == NULL) {
		json_decref(v);
		return;
	}
	if (key != NULL && json_is_object(top))
		json_object_set_new(top, key, v);
	else if (json_is_array(top))
		json_array_append_new(top, v);
	else
		json_decref(v);
}

static void
cli_json_open(struct cli_json *j, const char *key, json_t *container)
{
	/* Deeper than we ever nest: drop what is inside, keep the rest valid. */
	if (j->skipped > 0 || j->depth + 1 >= CLI_JSON_MAX_DEPTH) {
		json_decref(container);
		j->skipped++;
		return;
	}
	json_incref(container);
	cli_json_add(j, key, container);
	j->stack[++j->depth] = container;
}

static void
cli_json_close(struct cli_json *j)
{
	if (j->skipped > 0) {
		j->skipped--;
		return;
	}
	if (j->depth > 0) {
		json_decref(j->stack[j->depth]);
		j->depth--;
	}
}

void
cli_json_begin(struct cli_json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->skipped = 0;
	j->stack[0] = json_object();
}

void
cli_json_end(struct cli_json *j)
{
	while (j->skipped > 0 || j->depth > 0)
		cli_json_close(j);
	/* 10 significant digits are more than any measured rate deserves and
	 * round-trip every i32 exactly. */
	if (j->stack[0] == NULL ||
	    json_dumpf(j->stack[0], j->out, JSON_COMPACT | JSON_REAL_PRECISION(10)) != 0)
		fputs("{}", j->out); /* out of memory: still one valid line */
	fputc('\n', j->out);
	fflush(j->out);
	json_decref(j->stack[0]);
	j->stack[0] = NULL;
}

void
cli_json_object(struct cli_json *j, const char *key)
{
	cli_json_open(j, key, json_object());
}

void
cli_json_object_end(struct cli_json *j)
{
	cli_json_close(j);
}

void
cli_json_array(struct cli_json *j, const char *key)
{
	cli_json_open(j, key, json_array());
}

void
cli_json_array_end(struct cli_json *j)
{
	cli_json_close(j);
}

void
cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
	/* jansson's integers are signed 64-bit; a sequence number past 2^63
	 * (a ring started near the wrap) goes out as the nearest double. */
	if (v > (uint64_t)INT64_MAX)
		cli_json_add(j, key, json_real((double)v));
	else
		cli_json_add(j, key, json_integer((json_int_t)v));
}

void
cli_json_i64(struct cli_json *j, const char *key, int64_t v)
{
	cli_json_add(j, key, json_integer((json_int_t)v));
}

void
cli_json_double(struct cli_json *j, const char *key, double v)
{
	/* JSON has no NaN or infinity. */
	cli_json_add(j, key, isfinite(v) ? json_real(v) : json_null());
}

void
cli_json_string(struct cli_json *j, const char *key, const char *v)
{
	json_t *s = json_string(v);

	/* Text from shared memory (a label, a stream header) need not be
	 * UTF-8, which jansson refuses: such bytes become '?'. */
	if (s == NULL && v != NULL) {
		char *copy = strdup(v);
		unsigned char *p;

		if (copy != NULL) {
			for (p = (unsigned char *)copy; *p != '\0'; p++)
				if (*p >= 0x80)
					*p = '?';
			s = json_string(copy);
			free(copy);
		}
	}
	cli_json_add(j, key, s);
}

void
cli_json_bool(struct cli_json *j, const char *key, bool v)
{
	cli_json_add(j, key, json_boolean(v));
}

void
cli_json_null(struct cli_json *j, const char *key)
{
	cli_json_add(j, key, json_null());
}
