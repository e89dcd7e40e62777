/*
 * The verify analysis: is the stream complete and intact?
 *
 * Continuity: a lossless consumer must see consecutive sequence numbers;
 * every number missing between two delivered frames is a gap (the first
 * frame is whatever the ring held when we attached, so it is no gap). A
 * lossy consumer skips frames by design and the library counts them as
 * lost, so for it only a sequence number that goes backwards is wrong. A
 * member of a group gets a share of the frames, so for it too only order
 * is checked: the other members have the numbers in between.
 *
 * Frames a dead producer abandoned (RB_FRAME_ABANDONED) are empty
 * placeholders: they hold their sequence number's place, and nothing in
 * them is checked.
 *
 * Content: when the stream header says source=counter, every byte is
 * checked against cli_counter_check. A lossy consumer then asks
 * rb_consumer_check whether the producer overwrote the frame while we
 * read it: if so the bytes prove nothing either way, and the frame is an
 * overrun (counted lost when released), neither checked nor an error.
 *
 * Several producers (counter_layout=tagged): each frame starts with its
 * producer's id and frame number (the tag, see producer/producer.h), and
 * the bytes after the tag are checked as a counter frame of its sequence
 * number. Per producer, the numbers must go up; for a lossless consumer in
 * no group they must also be consecutive: every number missing between two
 * of a producer's frames is a gap, as for sequence numbers. A producer that
 * died leaves no gap: its numbers just stop.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"

/* The tag in front of a tagged counter frame: producer id, frame number
 * (producer/producer.h, COUNTER_TAG_BYTES). */
#define VERIFY_TAG_BYTES CLI_TAG_BYTES
/* Producers listed one per line in the human summary; JSON has them all. */
#define VERIFY_SUMMARY_PRODUCERS 8

/* What a tagged stream showed of one producer. */
struct verify_producer {
	uint64_t id;
	uint64_t frames;
	uint64_t first;  /* its first and last frame number seen */
	uint64_t last;
	uint64_t gaps;   /* numbers missing between its frames (strict only) */
};

enum verify_bad_kind {
	VERIFY_BAD_BYTES,    /* first_bad_offset: the first wrong byte */
	VERIFY_BAD_SEQ,      /* a sequence number going backwards */
	VERIFY_BAD_PRODUCER, /* a producer's frame number going backwards */
};

struct verify {
	bool lossy;
	bool group;        /* a member's share: order only, no gaps */
	bool counter;      /* the stream's bytes can be checked */
	bool tagged;       /* ... and each carries its producer's tag */
	uint64_t frame_bytes; /* the header's frame_bytes: each frame's length */
	bool have_prev;
	uint64_t prev_seq;
	uint64_t gaps;     /* missing sequence or producer numbers (strict) */
	uint64_t errors;   /* corrupt frames, numbers going backwards */
	uint64_t checked;  /* frames whose bytes were checked */
	uint64_t abandoned;/* placeholders seen */
	bool bad;          /* first_bad_* are set */
	uint64_t first_bad_seq;
	uint64_t first_bad_offset;
	enum verify_bad_kind first_bad_kind;
	struct verify_producer *producers;
	size_t nproducers;
	size_t cap;
	size_t hit;        /* the producer of the last frame: usually the next */
	bool out_of_memory;
};

static int
verify_init(void *state, const struct consumer_options *o)
{
	struct verify *v = state;

	v->lossy = o->lossy;
	v->group = o->group != NULL;
	return 0;
}

static void
verify_stream(void *state, const struct stream_info *s)
{
	struct verify *v = state;
	char layout[32], bytes[32];

	/* Continuity is checked within a stream: the end marker between two
	 * streams (rb-consumer --streams) takes a seq that is no frame. */
	v->have_prev = false;
	v->counter = strcmp(s->source, "counter") == 0;
	/* rb-producer writes whole frames of the header's frame_bytes: a
	 * counter frame of another length (an end marker whose flag was
	 * cleared, a rewritten length) is wrong, not a short frame. */
	v->frame_bytes = 0;
	if (cli_header_get(s->header, "frame_bytes", bytes, sizeof(bytes)))
		v->frame_bytes = strtoull(bytes, NULL, 10);
	v->tagged = v->counter &&
		    cli_header_get(s->header, "counter_layout", layout, sizeof(layout)) &&
		    strcmp(layout, "tagged") == 0;
}

static void
verify_bad(struct verify *v, uint64_t seq, enum verify_bad_kind kind, uint64_t offset)
{
	v->errors++;
	if (!v->bad) {
		v->bad = true;
		v->first_bad_seq = seq;
		v->first_bad_kind = kind;
		v->first_bad_offset = offset;
	}
}

/* Every number is checked in order, so losing track of a producer would
 * make the verdict a guess: out of memory is an error of the run. */
static struct verify_producer *
verify_producer(struct verify *v, uint64_t id, bool *fresh)
{
	struct verify_producer *p;
	size_t i;

	*fresh = false;
	if (v->hit < v->nproducers && v->producers[v->hit].id == id)
		return &v->producers[v->hit];
	for (i = 0; i < v->nproducers; i++) {
		if (v->producers[i].id == id) {
			v->hit = i;
			return &v->producers[i];
		}
	}
	if (v->nproducers == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 8;

		p = realloc(v->producers, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		v->producers = p;
		v->cap = cap;
	}
	p = &v->producers[v->nproducers];
	memset(p, 0, sizeof(*p));
	p->id = id;
	v->hit = v->nproducers++;
	*fresh = true;
	return p;
}

/* A tagged frame's producer and number: in order, and for a strict
 * (lossless, whole-stream) consumer consecutive. */
static int
verify_tag(struct verify *v, uint64_t seq, uint64_t id, uint64_t number)
{
	bool fresh;
	struct verify_producer *p = verify_producer(v, id, &fresh);

	if (p == NULL) {
		cli_error("verify: out of memory tracking %zu producers", v->nproducers);
		v->out_of_memory = true;
		return CLI_EXIT_FAIL;
	}
	if (fresh) {
		p->first = p->last = number;
		p->frames = 1;
		return 0;
	}
	if (number <= p->last) {
		verify_bad(v, seq, VERIFY_BAD_PRODUCER, UINT64_MAX);
		return 0;
	}
	if (!v->lossy && !v->group && number != p->last + 1) {
		p->gaps += number - p->last - 1;
		v->gaps += number - p->last - 1;
	}
	p->last = number;
	p->frames++;
	return 0;
}

/* Checks a counter frame's bytes; returns the offset of the first bad byte
 * or the frame's length. A tagged frame's tag is read into *id, *number. */
static uint64_t
verify_counter(const struct verify *v, const struct rb_frame *f, uint64_t *id,
	       uint64_t *number)
{
	if (!v->tagged)
		return cli_counter_check(f->data, f->length, f->seq);
	return cli_tagged_check(f->data, f->length, f->seq, id, number);
}

static int
verify_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
	      uint32_t n)
{
	struct verify *v = state;
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		const struct rb_frame *f = &frames[i];
		uint64_t off, id = 0, number = 0;

		if (v->have_prev) {
			if (f->seq <= v->prev_seq)
				verify_bad(v, f->seq, VERIFY_BAD_SEQ, UINT64_MAX);
			else if (!v->lossy && !v->group && f->seq != v->prev_seq + 1)
				v->gaps += f->seq - v->prev_seq - 1;
		}
		v->have_prev = true;
		v->prev_seq = f->seq;
		if (frame_abandoned(f)) {
			v->abandoned++;
			continue;
		}
		if (!v->counter)
			continue;
		off = verify_counter(v, f, &id, &number);
		/* rb_consumer_check is always 0 for a lossless consumer, unless
		 * it has been demoted to lossy (a producer's stall timeout). */
		if (rb_consumer_check(c, f) != 0)
			continue; /* overwritten under us: lost, not wrong */
		if (off != f->length || (v->tagged && f->length < VERIFY_TAG_BYTES) ||
		    (v->frame_bytes != 0 && f->length != v->frame_bytes)) {
			verify_bad(v, f->seq, VERIFY_BAD_BYTES, off);
			continue; /* a tag in a corrupt frame is no evidence */
		}
		v->checked++;
		if (v->tagged && (rc = verify_tag(v, f->seq, id, number)) != 0)
			return rc;
	}
	return 0;
}

static void
verify_summary(void *state, FILE *out)
{
	struct verify *v = state;
	size_t i;

	fprintf(out, "  verify: %s", v->counter ? "every byte of " : "sequence only; ");
	if (v->counter)
		fprintf(out, "%" PRIu64 " counter frames checked", v->checked);
	else
		fprintf(out, "not a counter stream");
	if (v->tagged)
		fprintf(out, ", from %zu producer%s", v->nproducers,
			v->nproducers == 1 ? "" : "s");
	if (v->abandoned)
		fprintf(out, "; %" PRIu64 " abandoned by a dead producer", v->abandoned);
	if (v->bad && v->first_bad_kind == VERIFY_BAD_SEQ)
		fprintf(out, "; first bad: seq %" PRIu64 " out of order", v->first_bad_seq);
	else if (v->bad && v->first_bad_kind == VERIFY_BAD_PRODUCER)
		fprintf(out, "; first bad: seq %" PRIu64 " out of its producer's order",
			v->first_bad_seq);
	else if (v->bad)
		fprintf(out, "; first bad: seq %" PRIu64 " at byte %" PRIu64,
			v->first_bad_seq, v->first_bad_offset);
	fputc('\n', out);
	for (i = 0; i < v->nproducers && i < VERIFY_SUMMARY_PRODUCERS; i++) {
		const struct verify_producer *p = &v->producers[i];

		fprintf(out, "  verify: producer %" PRIu64 ": %" PRIu64 " frames, numbers %"
			PRIu64 "..%" PRIu64 ", %" PRIu64 " missing\n", p->id, p->frames,
			p->first, p->last, p->gaps);
	}
	if (v->nproducers > VERIFY_SUMMARY_PRODUCERS)
		fprintf(out, "  verify: ... and %zu more producers (see --json)\n",
			v->nproducers - VERIFY_SUMMARY_PRODUCERS);
}

static void
verify_json(void *state, struct cli_json *j)
{
	struct verify *v = state;
	size_t i;

	cli_json_bool(j, "content_checked", v->counter);
	cli_json_u64(j, "checked_frames", v->checked);
	if (v->bad) {
		cli_json_u64(j, "first_bad_seq", v->first_bad_seq);
		if (v->first_bad_kind != VERIFY_BAD_BYTES)
			cli_json_null(j, "first_bad_offset");
		else
			cli_json_u64(j, "first_bad_offset", v->first_bad_offset);
		cli_json_string(j, "first_bad",
				v->first_bad_kind == VERIFY_BAD_BYTES ? "bytes"
				: v->first_bad_kind == VERIFY_BAD_SEQ ? "seq_order"
								      : "producer_order");
	} else {
		cli_json_null(j, "first_bad_seq");
	}
	cli_json_bool(j, "tagged", v->tagged);
	if (!v->tagged)
		return;
	/* In order of first appearance. */
	cli_json_array(j, "producers");
	for (i = 0; i < v->nproducers; i++) {
		const struct verify_producer *p = &v->producers[i];

		cli_json_object(j, NULL);
		cli_json_u64(j, "id", p->id);
		cli_json_u64(j, "frames", p->frames);
		cli_json_u64(j, "first_number", p->first);
		cli_json_u64(j, "last_number", p->last);
		cli_json_u64(j, "gaps", p->gaps);
		cli_json_object_end(j);
	}
	cli_json_array_end(j);
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

	if (v->out_of_memory)
		return CLI_EXIT_FAIL;
	if (v->errors != 0 || (!lossy && v->gaps != 0))
		return CLI_EXIT_VERIFY;
	return CLI_EXIT_OK;
}

static void
verify_fini(void *state)
{
	struct verify *v = state;

	free(v->producers);
	v->producers = NULL;
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
	.fini = verify_fini,
};
