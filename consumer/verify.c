/*
 * The verify analysis: is the stream complete and intact?
 *
 * Continuity: a lossless consumer must see consecutive sequence numbers;
 * every number missing between two delivered frames is a gap (the first
 * frame is whatever the ring held when we attached, so it is no gap). A
 * lossy consumer skips frames by design and the library counts them as
 * lost, so for it only a sequence number that goes backwards is wrong.
 *
 * Content: when the stream header says source=counter, every byte is
 * checked against cli_counter_check. A lossy consumer then asks
 * rb_consumer_check whether the producer overwrote the frame while we
 * read it: if so the bytes prove nothing either way, and the frame is an
 * overrun (counted lost when released), neither checked nor an error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "consumer.h"

struct verify {
	bool lossy;
	bool counter;      /* the stream's bytes can be checked */
	bool have_prev;
	uint64_t prev_seq;
	uint64_t gaps;     /* missing sequence numbers (lossless) */
	uint64_t errors;   /* corrupt frames, sequence going backwards */
	uint64_t checked;  /* frames whose bytes were checked */
	bool bad;          /* first_bad_* are set */
	uint64_t first_bad_seq;
	uint64_t first_bad_offset;  /* UINT64_MAX: a sequence error */
};

static int
verify_init(void *state, const struct consumer_options *o)
{
	struct verify *v = state;

	v->lossy = o->lossy;
	return 0;
}

static void
verify_stream(void *state, const struct stream_info *s)
{
	struct verify *v = state;

	v->counter = strcmp(s->source, "counter") == 0;
}

static void
verify_bad(struct verify *v, uint64_t seq, uint64_t offset)
{
	v->errors++;
	if (!v->bad) {
		v->bad = true;
		v->first_bad_seq = seq;
		v->first_bad_offset = offset;
	}
}

static int
verify_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
	      uint32_t n)
{
	struct verify *v = state;
	uint32_t i;

	for (i = 0; i < n; i++) {
		const struct rb_frame *f = &frames[i];
		uint64_t off;

		if (v->have_prev) {
			if (f->seq <= v->prev_seq)
				verify_bad(v, f->seq, UINT64_MAX);
			else if (!v->lossy && f->seq != v->prev_seq + 1)
				v->gaps += f->seq - v->prev_seq - 1;
		}
		v->have_prev = true;
		v->prev_seq = f->seq;
		if (!v->counter)
			continue;
		off = cli_counter_check(f->data, f->length, f->seq);
		/* rb_consumer_check is always 0 for a lossless consumer. */
		if (rb_consumer_check(c, f) != 0)
			continue; /* overwritten under us: lost, not wrong */
		if (off == f->length)
			v->checked++;
		else
			verify_bad(v, f->seq, off);
	}
	return 0;
}

static void
verify_summary(void *state, FILE *out)
{
	struct verify *v = state;

	fprintf(out, "  verify: %s", v->counter ? "every byte of " : "sequence only; ");
	if (v->counter)
		fprintf(out, "%" PRIu64 " counter frames checked", v->checked);
	else
		fprintf(out, "not a counter stream");
	if (v->bad && v->first_bad_offset == UINT64_MAX)
		fprintf(out, "; first bad: seq %" PRIu64 " out of order", v->first_bad_seq);
	else if (v->bad)
		fprintf(out, "; first bad: seq %" PRIu64 " at byte %" PRIu64,
			v->first_bad_seq, v->first_bad_offset);
	fputc('\n', out);
}

static void
verify_json(void *state, struct cli_json *j)
{
	struct verify *v = state;

	cli_json_bool(j, "content_checked", v->counter);
	cli_json_u64(j, "checked_frames", v->checked);
	if (v->bad) {
		cli_json_u64(j, "first_bad_seq", v->first_bad_seq);
		if (v->first_bad_offset == UINT64_MAX)
			cli_json_null(j, "first_bad_offset");
		else
			cli_json_u64(j, "first_bad_offset", v->first_bad_offset);
	} else {
		cli_json_null(j, "first_bad_seq");
	}
}

static uint64_t
verify_gaps(void *state)
{
	return ((struct verify *)state)->gaps;
}

static uint64_t
verify_errors(void *state)
{
	return ((struct verify *)state)->errors;
}

static int
verify_verdict(void *state, bool lossy)
{
	struct verify *v = state;

	if (v->errors != 0 || (!lossy && v->gaps != 0))
		return CLI_EXIT_VERIFY;
	return CLI_EXIT_OK;
}

const struct analysis analysis_verify = {
	.name = "verify",
	.state_size = sizeof(struct verify),
	.init = verify_init,
	.stream = verify_stream,
	.frames = verify_frames,
	.summary = verify_summary,
	.json = verify_json,
	.gaps = verify_gaps,
	.errors = verify_errors,
	.verdict = verify_verdict,
};
