/*
 * A JSON writer for the programs' summaries: streaming, no tree, no
 * allocation. It tracks only whether a comma is due at each depth. The
 * whole object is one line (strings are escaped, nothing emits a newline
 * until cli_json_end), so `rb-consumer --json ... | jq` and line-oriented
 * log collectors both work.
 */
#include <inttypes.h>
#include <math.h>

#include "cli.h"

static void
cli_json_string_body(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', out);
	for (; *p != '\0'; p++) {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out); /* UTF-8 passes through */
		}
	}
	fputc('"', out);
}

/* The comma and the "key": in front of every value. */
static void
cli_json_member(struct cli_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->out);
	j->first[j->depth] = false;
	if (key != NULL) {
		cli_json_string_body(j->out, key);
		fputc(':', j->out);
	}
}

static void
cli_json_open(struct cli_json *j, const char *key, char bracket)
{
	cli_json_member(j, key);
	fputc(bracket, j->out);
	/* Deeper than we ever nest: keep writing valid JSON, stop tracking. */
	if (j->depth + 1 < CLI_JSON_MAX_DEPTH)
		j->depth++;
	j->first[j->depth] = true;
}

static void
cli_json_close(struct cli_json *j, char bracket)
{
	fputc(bracket, j->out);
	if (j->depth > 0)
		j->depth--;
}

void
cli_json_begin(struct cli_json *j, FILE *out)
{
	j->out = out;
	j->depth = 0;
	j->first[0] = true;
	fputc('{', out);
}

void
cli_json_end(struct cli_json *j)
{
	fputs("}\n", j->out);
	fflush(j->out);
}

void
cli_json_object(struct cli_json *j, const char *key)
{
	cli_json_open(j, key, '{');
}

void
cli_json_object_end(struct cli_json *j)
{
	cli_json_close(j, '}');
}

void
cli_json_array(struct cli_json *j, const char *key)
{
	cli_json_open(j, key, '[');
}

void
cli_json_array_end(struct cli_json *j)
{
	cli_json_close(j, ']');
}

void
cli_json_u64(struct cli_json *j, const char *key, uint64_t v)
{
	cli_json_member(j, key);
	fprintf(j->out, "%" PRIu64, v);
}

void
cli_json_i64(struct cli_json *j, const char *key, int64_t v)
{
	cli_json_member(j, key);
	fprintf(j->out, "%" PRId64, v);
}

void
cli_json_double(struct cli_json *j, const char *key, double v)
{
	cli_json_member(j, key);
	/* JSON has no NaN or infinity. 10 significant digits are more than
	 * any measured rate deserves and round-trip every i32 exactly. */
	if (isfinite(v))
		fprintf(j->out, "%.10g", v);
	else
		fputs("null", j->out);
}

void
cli_json_string(struct cli_json *j, const char *key, const char *v)
{
	cli_json_member(j, key);
	cli_json_string_body(j->out, v);
}

void
cli_json_bool(struct cli_json *j, const char *key, bool v)
{
	cli_json_member(j, key);
	fputs(v ? "true" : "false", j->out);
}

void
cli_json_null(struct cli_json *j, const char *key)
{
	cli_json_member(j, key);
	fputs("null", j->out);
}
