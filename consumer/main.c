/*
 * rb-consumer: attaches to a ring, reads its frames in place, hands them
 * to an analysis (verify, stats, null, stdout) and releases them, until the
 * end of the stream, a frame count, a duration, a signal or the death of
 * the producer. Then it detaches and prints a summary.
 *
 * Counting: `frames` and `lost` are the library's own counters for this
 * consumer (rb_consumer_get_stats): a frame is counted once released
 * intact; a lossy consumer's skipped or overwritten frames are lost.
 * Frames a dead producer abandoned (RB_FRAME_ABANDONED, empty) are
 * `abandoned`, not `frames`: they are placeholders, never data, and never
 * an error. So for a lossless consumer that saw a whole stream,
 * frames + abandoned + end markers = the sequence numbers it went through.
 *
 * With --group the consumer is one member of a work-sharing group: it gets
 * a share of the frames, and its summary adds the group's accounting as it
 * stood just before this member left (docs/FORMAT.md, "Consumer groups").
 * `seconds` runs from the first frame to the end of the run, so time spent
 * waiting for a producer to start does not dilute the rates.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"

/* How long one wait lasts before we look at the clock and the status line
 * again. Signals do not wait for it: the library notices cli_stop. */
#define CONSUMER_WAIT_SLICE_NS 100000000ull
/* Polling period of --wait-ring. */
#define CONSUMER_POLL_NS 10000000ull

struct consumer_run {
	const struct consumer_options *o;
	const struct analysis *a;
	void *state;
	struct rb_ring *ring;
	struct rb_consumer *c;
	struct rb_frame *frames;
	bool *lost;         /* lossy, analysis with `released`: per frame */
	struct stream_info *stream;
	struct rb_consumer_stats st;
	uint64_t bytes;
	uint64_t incomplete; /* frames flagged RB_FRAME_INCOMPLETE (udp: packets
			      * missing), counted as their bytes are */
	uint64_t first_ns;  /* first frame; 0 before */
	uint64_t end_ns;
	uint64_t last_timestamp; /* producer's time stamp of the last frame */
	uint64_t taken;     /* frames acquired (released or not) */
	bool held_released; /* an end marker released frames still held */
	uint64_t first_seq; /* sequence numbers of the first and last frame */
	uint64_t last_seq;
	struct rb_group_status group; /* --group: the group before we left */
	bool have_group;
	uint64_t streams_ended; /* end markers met (--streams) */
	const char *end;    /* why the run stopped */
	struct cli_status status;
	uint64_t shown_frames;
	uint64_t shown_ns;
};

/* Opens the ring, polling for it to appear with --wait-ring. */
static int
consumer_open(struct consumer_run *r)
{
	const struct consumer_options *o = r->o;
	uint64_t deadline = cli_now_ns() + o->wait_ring_ns;
	int rc;

	for (;;) {
		rc = cli_ring_open(o->ring, &r->ring);
		if (rc != -ENOENT || o->wait_ring_ns == 0 || cli_stop ||
		    cli_now_ns() >= deadline)
			break;
		cli_sleep_for(CONSUMER_POLL_NS);
	}
	if (rc == 0)
		return 0;
	if (rc == -ENOENT && cli_stop) {
		cli_error("ring '%s': interrupted while waiting for it to appear "
			  "(--wait-ring)", o->ring);
		r->end = "signal";
		return CLI_EXIT_OK;
	}
	if (rc == -ENOENT && o->wait_ring_ns != 0)
		cli_error("ring '%s': %s (waited %.3g s)", o->ring, rb_strerror(rc),
			  (double)o->wait_ring_ns / 1e9);
	else if (rc == -ENOENT)
		cli_error("ring '%s': %s (--wait-ring TIME waits for it to appear)",
			  o->ring, rb_strerror(rc));
	else
		cli_error("ring '%s': %s", o->ring, cli_ring_error(o->ring, rc));
	return CLI_EXIT_FAIL;
}

static void
consumer_show(struct consumer_run *r, uint64_t now)
{
	struct rb_ring_status rs;
	char rate[32], bps[32], lag[32];
	double dt = (double)(now - r->shown_ns) / 1e9;
	double fps = dt > 0 ? (double)(r->st.frames - r->shown_frames) / dt : 0;
	double bytes_per = r->st.frames ? (double)r->bytes / (double)r->st.frames : 0;
	uint64_t behind;

	rb_ring_get_status(r->ring, &rs);
	behind = rs.write_seq > r->st.next_seq ? rs.write_seq - r->st.next_seq : 0;
	if (r->last_timestamp != 0 && now >= r->last_timestamp)
		snprintf(lag, sizeof(lag), "%.1f ms", (double)(now - r->last_timestamp) / 1e6);
	else
		snprintf(lag, sizeof(lag), "-");
	cli_status_print(&r->status,
			 "%" PRIu64 " frames  %s  %s  fill %" PRIu64 "%%  lag %s  lost %" PRIu64,
			 r->st.frames, cli_format_si(rate, sizeof(rate), fps, "fps"),
			 cli_format_si(bps, sizeof(bps), fps * bytes_per, "B/s"),
			 behind * 100 / rb_ring_slot_count(r->ring), lag, r->st.lost);
	r->shown_frames = r->st.frames;
	r->shown_ns = now;
}

/*
 * True when the stream has ended or been abandoned, so that the next thing
 * to acquire may be its end marker. Taking the marker hands every frame
 * the consumer holds back to the ring at once (the library publishes the
 * read position past it), so an analysis that keeps frames completes them
 * before looking.
 */
static bool
consumer_stream_over(struct consumer_run *r)
{
	struct rb_ring_status rs;

	if (rb_ring_get_status(r->ring, &rs) != 0)
		return true;
	return rs.stream_state != RB_STREAM_STATUS_OPEN;
}

/* What an acquire error means for the run; returns the exit status. */
static int
consumer_acquire_failed(struct consumer_run *r, int rc)
{
	if (cli_ring_lost(r->ring, r->o->ring)) {
		r->end = "truncated";
		return CLI_EXIT_FAIL;
	}
	switch (rc) {
	case RB_E_EOS:
		r->end = "eos";
		return CLI_EXIT_OK;
	case RB_E_PRODUCER_DEAD:
		r->end = "producer_dead";
		cli_error("ring '%s': %s; the stream is incomplete", r->o->ring,
			  rb_strerror(rc));
		return CLI_EXIT_FAIL;
	default:
		r->end = "error";
		cli_error("ring '%s': %s", r->o->ring, rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
}

/* A frame received: its bytes, and whether the source flagged it as
 * incomplete (every analysis reports those, whatever it checks). */
static void
consumer_count(struct consumer_run *r, const struct rb_frame *f)
{
	r->bytes += f->length;
	if (f->flags & RB_FRAME_INCOMPLETE)
		r->incomplete++;
}

/* Hands a batch to the analysis and releases it. */
static int
consumer_batch(struct consumer_run *r, uint32_t n)
{
	const struct consumer_options *o = r->o;
	uint32_t i;
	int rc, result;

	/* A new stream's header comes before its first frame. One stream
	 * start is looked at per batch: a stream ends with an end marker,
	 * which ends a batch and, for us, the run. */
	for (i = 0; i < n; i++) {
		/* A lossy consumer may have lost the start frame: the first
		 * frame of a batch names its stream too. */
		if (!r->stream->seen || (r->frames[i].flags & RB_FRAME_STREAM_START) ||
		    (i == 0 && stream_changed(r->stream, r->ring, &r->frames[0]))) {
			stream_load(r->stream, r->c, r->ring, &r->frames[i]);
			if (r->a->stream != NULL)
				r->a->stream(r->state, r->stream);
			break;
		}
	}
	result = r->a->frames(r->state, r->c, r->frames, n);
	if (o->delay_ns != 0)
		cli_sleep_for(o->delay_ns * n);
	r->last_timestamp = r->frames[n - 1].timestamp_ns;
	r->last_seq = r->frames[n - 1].seq;
	if (o->lossy && r->a->released != NULL) {
		/* The release is the last word on a lossy frame: one checked
		 * intact by the analysis can still be lapped before it. Frame
		 * by frame, so the analysis learns which ones the library
		 * counted (its output then agrees with `frames` and `lost`). */
		rc = 0;
		for (i = 0; i < n && rc >= 0; i++) {
			rc = rb_consumer_release(r->c, &r->frames[i]);
			r->lost[i] = rc == RB_E_OVERRUN;
			if (rc == RB_E_OVERRUN)
				rc = 0;
			else if (rc == 0)
				consumer_count(r, &r->frames[i]);
		}
	} else {
		/* Lossless: 0 at once, unless demoted to lossy (a stall
		 * timeout). */
		for (i = 0; i < n; i++)
			if (rb_consumer_check(r->c, &r->frames[i]) == 0)
				consumer_count(r, &r->frames[i]);
		/* An analysis that keeps frames releases them when it is done. */
		rc = r->a->keeps_frames ? 0 : rb_consumer_release_batch(r->c, r->frames, n);
	}
	if (rc < 0) {
		if (cli_ring_lost(r->ring, o->ring)) {
			r->end = "truncated";
			return CLI_EXIT_FAIL;
		}
		cli_error("ring '%s': releasing frames: %s", o->ring, rb_strerror(rc));
		r->end = "error";
		return CLI_EXIT_FAIL;
	}
	if (r->a->released != NULL) {
		int after = r->a->released(r->state, r->frames, n, o->lossy ? r->lost : NULL);

		if (result == 0)
			result = after;
	}
	if (result == 1) {
		if (cli_stop)
			r->end = "signal";
		else
			r->end = r->a->keeps_frames ? "new_stream" : "output_closed";
		return 1;
	}
	if (result != 0) {
		r->end = "error";
		return result;
	}
	return 0;
}

/* "after stalling the producer 1.2 s" or "by hand (rb-ctl evict)". */
static void
consumer_demoted_how(const struct rb_consumer_stats *st, char *buf, size_t size)
{
	if (st->stalled_ns == 0)
		snprintf(buf, size, "by hand (rb-ctl evict)");
	else
		snprintf(buf, size, "after stalling the producer %.1f s",
			 (double)st->stalled_ns / 1e9);
}

/* A producer's --stall-timeout (or rb-ctl evict) demoted this lossless
 * consumer to lossy: say so now; it reads on and fails at the end. */
static void
consumer_demoted(struct consumer_run *r)
{
	char how[64];

	rb_consumer_get_stats(r->c, &r->st);
	consumer_demoted_how(&r->st, how, sizeof(how));
	cli_status_clear(&r->status);
	cli_error("ring '%s': demoted to lossy %s; frames it missed are counted "
		  "as lost", r->o->ring, how);
}

/* The reading loop. Returns the exit status. */
static int
consumer_loop(struct consumer_run *r)
{
	const struct consumer_options *o = r->o;
	const struct analysis *a = r->a;
	uint64_t now = cli_now_ns(), stop_at = 0, timeout, done;
	uint32_t want;
	bool busy;
	int n, rc;

	r->shown_ns = now;
	if (o->duration_ns != 0)
		stop_at = now + o->duration_ns;
	for (;;) {
		busy = a->keeps_frames && a->busy(r->state);
		if (busy && (rc = a->progress(r->state, r->c, false)) != 0) {
			r->end = "error";
			return rc;
		}
		rb_consumer_get_stats(r->c, &r->st);
		if (cli_stop) {
			r->end = "signal";
			return CLI_EXIT_OK;
		}
		/* Frames an analysis still holds count as taken; abandoned
		 * placeholders are no frames. */
		done = a->keeps_frames ? r->taken : r->st.frames - r->st.abandoned;
		if (o->count != 0 && done >= o->count) {
			r->end = "count";
			return CLI_EXIT_OK;
		}
		now = cli_now_ns();
		if (stop_at != 0 && now >= stop_at) {
			r->end = "duration";
			return CLI_EXIT_OK;
		}
		if (cli_status_due(&r->status, now))
			consumer_show(r, now);
		want = o->batch;
		if (o->count != 0 && o->count - done < want)
			want = (uint32_t)(o->count - done);
		timeout = CONSUMER_WAIT_SLICE_NS;
		if (stop_at != 0 && stop_at - now < timeout)
			timeout = stop_at - now;
		/* Holding frames, never sleep in the ring: the producer may
		 * be waiting for exactly those. Look, then wait for the
		 * analysis's own progress instead. */
		busy = a->keeps_frames && a->busy(r->state);
		if (busy && consumer_stream_over(r)) {
			if ((rc = a->progress(r->state, r->c, true)) != 0) {
				r->end = "error";
				return rc;
			}
			continue;
		}
		n = rb_consumer_acquire_batch(r->c, r->frames, want, 1,
					      busy ? RB_NO_WAIT : timeout);
		/* The stream ended between the look above and the acquire:
		 * the marker took the held frames back (see above). */
		if (busy && n == RB_E_EOS)
			r->held_released = true;
		if (busy && (n == -EAGAIN || n == -ENOBUFS)) {
			if ((rc = a->progress(r->state, r->c, true)) != 0) {
				r->end = "error";
				return rc;
			}
			continue;
		}
		if (n == -ETIMEDOUT || n == -EAGAIN || n == -EINTR)
			continue; /* look at the clock and cli_stop again */
		if (n == RB_E_DEMOTED) {
			consumer_demoted(r);
			continue; /* reads on as lossy; the run fails at the end */
		}
		if (n == RB_E_EOS && (o->streams == 0 || ++r->streams_ended < o->streams))
			continue; /* --streams: read on into the next stream */
		if (n < 0)
			return consumer_acquire_failed(r, n);
		r->taken += (uint64_t)n;
		if (r->first_ns == 0) {
			r->first_ns = cli_now_ns();
			r->first_seq = r->frames[0].seq;
		}
		rc = consumer_batch(r, (uint32_t)n);
		if (rc == 1)
			return CLI_EXIT_OK;
		if (rc != 0)
			return rc;
	}
}

/* Frames of data: the library's count less the abandoned placeholders. */
static uint64_t
consumer_data_frames(const struct consumer_run *r)
{
	return r->st.frames - r->st.abandoned;
}

/* The group's record as it stands, while we are still one of its members.
 * Returns RB_E_CORRUPT for counters that cannot be (a hostile ring). */
static int
consumer_group_snapshot(struct consumer_run *r)
{
	uint32_t max = rb_ring_max_groups(r->ring), i;
	struct rb_group_status *all = calloc(max ? max : 1, sizeof(*all));
	int n;

	if (all == NULL)
		return -ENOMEM;
	n = rb_ring_groups(r->ring, all, max);
	for (i = 0; n > 0 && i < (uint32_t)n && i < max; i++) {
		if (strcmp(all[i].name, r->o->group) == 0) {
			r->group = all[i];
			r->have_group = true;
			break;
		}
	}
	free(all);
	return n < 0 ? n : 0;
}

static void
consumer_group_json(const struct consumer_run *r, struct cli_json *j)
{
	const struct rb_group_status *g = &r->group;

	if (r->o->group == NULL) {
		cli_json_null(j, "group");
		return;
	}
	cli_json_object(j, "group");
	cli_json_string(j, "name", r->o->group);
	if (r->have_group) {
		cli_json_bool(j, "lossy", g->lossy);
		cli_json_u64(j, "members", g->members);
		cli_json_u64(j, "start_seq", g->start_seq);
		cli_json_u64(j, "claim_seq", g->claim_seq);
		cli_json_u64(j, "lost", g->lost);
		cli_json_u64(j, "frames_departed", g->frames_departed);
		cli_json_u64(j, "markers", g->markers);
	}
	cli_json_object_end(j);
}

/* The consumer's own reasons; the ones it shares with rb-producer are in
 * tools/cli. */
static const char *
consumer_end_text(const char *end)
{
	if (strcmp(end, "eos") == 0)
		return "end of stream";
	if (strcmp(end, "producer_dead") == 0)
		return "the producer died";
	if (strcmp(end, "output_closed") == 0)
		return "output closed";
	if (strcmp(end, "new_stream") == 0)
		return "a new stream began";
	return cli_end_text(end);
}

static void
consumer_summary(struct consumer_run *r)
{
	const struct analysis *a = r->a;
	FILE *out = a->owns_stdout ? stderr : stdout;
	double secs = r->first_ns ? (double)(r->end_ns - r->first_ns) / 1e9 : 0;
	uint64_t gaps = a->gaps ? a->gaps(r->state) : 0;
	uint64_t errors = a->errors ? a->errors(r->state) : 0;
	char head[CLI_SUMMARY_HEAD_MAX], line[1024];

	if (r->o->json) {
		struct cli_json j;

		cli_json_begin(&j, out);
		cli_json_string(&j, "program", "rb-consumer");
		cli_json_string(&j, "ring", r->o->ring);
		cli_json_string(&j, "analysis", a->name);
		cli_json_string(&j, "label", r->o->label);
		cli_json_bool(&j, "lossy", r->o->lossy);
		cli_json_totals(&j, consumer_data_frames(r), r->bytes, secs);
		cli_json_u64(&j, "lost", r->st.lost);
		cli_json_u64(&j, "abandoned", r->st.abandoned);
		cli_json_u64(&j, "incomplete", r->incomplete);
		cli_json_u64(&j, "dropped_at_producer", r->st.dropped_at_producer);
		cli_json_u64(&j, "streams", r->stream->loads);
		cli_json_u64(&j, "stream_ordinal", r->stream->ordinal);
		cli_json_u64(&j, "headers_gone", r->stream->headers_gone);
		cli_json_u64(&j, "next_seq", r->st.next_seq);
		cli_json_u64(&j, "gaps", gaps);
		cli_json_u64(&j, "errors", errors);
		cli_json_u64(&j, "wakeups", r->st.wakeups);
		cli_json_bool(&j, "demoted", r->st.demoted != 0);
		if (r->st.demoted)
			cli_json_double(&j, "stalled_s", (double)r->st.stalled_ns / 1e9);
		if (r->first_ns != 0) {
			cli_json_u64(&j, "first_seq", r->first_seq);
			cli_json_u64(&j, "last_seq", r->last_seq);
		} else {
			cli_json_null(&j, "first_seq");
			cli_json_null(&j, "last_seq");
		}
		cli_json_end_reason(&j, r->end);
		consumer_group_json(r, &j);
		stream_json(r->stream, &j);
		if (a->json != NULL)
			a->json(r->state, &j);
		cli_json_end(&j);
		return;
	}
	cli_summary_head(head, sizeof(head), r->o->ring, a->name, consumer_data_frames(r),
			 r->bytes, secs);
	/* Only where a producer died: the line stays as it was otherwise. */
	line[0] = '\0';
	if (r->st.abandoned != 0)
		snprintf(line, sizeof(line), ", abandoned %" PRIu64, r->st.abandoned);
	if (r->incomplete != 0)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 ", incomplete %" PRIu64, r->incomplete);
	if (r->st.dropped_at_producer != 0)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 ", dropped at the producer %" PRIu64, r->st.dropped_at_producer);
	if (r->stream->headers_gone != 0)
		snprintf(line + strlen(line), sizeof(line) - strlen(line),
			 ", stream headers overwritten unread %" PRIu64,
			 r->stream->headers_gone);
	if (r->st.demoted) {
		char how[64];
		size_t used = strlen(line);

		consumer_demoted_how(&r->st, how, sizeof(how));
		snprintf(line + used, sizeof(line) - used, ", demoted to lossy %s", how);
	}
	fprintf(stderr, "%s; lost %" PRIu64 ", gaps %" PRIu64 ", errors %" PRIu64 "%s; %s\n",
		head, r->st.lost, gaps, errors, line, consumer_end_text(r->end));
	if (r->have_group)
		fprintf(stderr, "  group %s (%s, members %" PRIu32 "): %" PRIu64
			" seqs handed out from seq %" PRIu64 "; lost %" PRIu64
			", frames of members gone %" PRIu64 ", end markers %" PRIu64 "\n",
			r->group.name, r->group.lossy ? "lossy" : "lossless", r->group.members,
			r->group.claim_seq - r->group.start_seq, r->group.start_seq,
			r->group.lost, r->group.frames_departed, r->group.markers);
	stream_oneline(r->stream, line, sizeof(line));
	fprintf(stderr, "  stream: %s\n", line[0] ? line : "(no header seen)");
	if (a->summary != NULL)
		a->summary(r->state, stderr);
}

int
main(int argc, char **argv)
{
	struct rb_consumer_options co;
	struct consumer_options o;
	struct consumer_run r;
	int rc, status;

	cli_set_program("rb-consumer");
	rc = consumer_parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = cli_signals_start()) != 0)
		return rc;
	memset(&r, 0, sizeof(r));
	r.o = &o;
	r.a = analysis_find(o.analysis);
	r.end = "error";
	r.state = calloc(1, r.a->state_size ? r.a->state_size : 1);
	r.frames = calloc(o.batch, sizeof(*r.frames));
	r.lost = calloc(o.batch, sizeof(*r.lost));
	r.stream = calloc(1, sizeof(*r.stream));
	if (r.state == NULL || r.frames == NULL || r.lost == NULL || r.stream == NULL) {
		cli_error("out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	cli_status_init(&r.status, stderr);
	if (r.a->init != NULL && (status = r.a->init(r.state, &o)) != 0)
		goto out;
	if ((status = consumer_open(&r)) != 0 || r.ring == NULL)
		goto out;
	if (r.a->ring != NULL && (status = r.a->ring(r.state, r.ring)) != 0)
		goto out;

	memset(&co, 0, sizeof(co));
	co.lossy = o.lossy;
	co.start = o.start;
	co.label = o.label;
	co.cancel = &cli_stop;
	co.group = o.group;
	rc = rb_consumer_attach(r.ring, &co, &r.c);
	if (rc == -EINVAL && o.group != NULL) {
		cli_error("ring '%s': group '%s': %s (a group is lossy or lossless as its "
			  "first member asked; join it the same way)", o.ring, o.group,
			  rb_strerror(rc));
		status = CLI_EXIT_FAIL;
		goto out;
	}
	if (rc != 0) {
		cli_error("ring '%s': %s", o.ring, rb_strerror(rc));
		status = CLI_EXIT_FAIL;
		goto out;
	}
	status = consumer_loop(&r);
	/* A truncation ends the loop through cli_stop (tools/cli/sigbus.c). */
	if (cli_ring_lost(r.ring, o.ring)) {
		r.end = "truncated";
		status = CLI_EXIT_FAIL;
	}
	/* Whatever ended the run, frames an analysis holds are completed
	 * (and released) before the consumer detaches. */
	if (r.a->finish != NULL) {
		rc = r.a->finish(r.state, r.c, r.held_released);
		if (rc != 0 && status == CLI_EXIT_OK) {
			status = rc;
			r.end = "error";
		}
	}
	r.end_ns = cli_now_ns();
	rb_consumer_get_stats(r.c, &r.st);
	if (o.group != NULL && consumer_group_snapshot(&r) == RB_E_CORRUPT) {
		cli_error("ring '%s': group %s: %s (its counters cannot be)", o.ring, o.group,
			  rb_strerror(RB_E_CORRUPT));
		r.end = "error";
		status = CLI_EXIT_FAIL;
	}
	rc = rb_consumer_detach(r.c);
	r.c = NULL;
	if (cli_ring_lost(r.ring, o.ring)) {
		r.end = "truncated";
		status = CLI_EXIT_FAIL;
	} else if (rc != 0 && status == CLI_EXIT_OK) {
		cli_error("ring '%s': detaching: %s", o.ring, rb_strerror(rc));
		status = CLI_EXIT_FAIL;
	}
	cli_status_clear(&r.status);
	consumer_summary(&r);
	if (status == CLI_EXIT_OK && r.st.demoted) {
		cli_error("ring '%s': this lossless consumer was demoted to lossy and "
			  "lost %" PRIu64 " frames; the stream is incomplete", o.ring,
			  r.st.lost);
		status = CLI_EXIT_FAIL;
	}
	if (status == CLI_EXIT_OK && r.a->verdict != NULL)
		status = r.a->verdict(r.state, o.lossy);
out:
	cli_status_clear(&r.status);
	if (r.c != NULL)
		rb_consumer_detach(r.c);
	if (r.a != NULL && r.a->fini != NULL && r.state != NULL)
		r.a->fini(r.state);
	rb_ring_close(r.ring);
	if (r.stream != NULL)
		stream_free(r.stream);
	free(r.frames);
	free(r.lost);
	free(r.state);
	return status;
}
