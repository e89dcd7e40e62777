/*
 * rb-producer: creates a ring (or attaches to one) and streams frames from
 * a simulated source into it, paced or as fast as possible, until a frame
 * count, a duration or a signal says stop. Then it ends the stream, so
 * that consumers see the end rather than a vanished producer, detaches,
 * removes the ring it created, and prints a summary.
 *
 * The stream header it writes (key=value lines, read by rb-consumer):
 *   source=counter|adc|camera  elem=bytes|i16|u16  shape=1024x4 (C order)
 *   rate=<frames/s>|max  start_time=<ISO 8601 UTC>  host=<hostname>
 *   frame_bytes=<bytes per frame>, then the source's own keys
 *   (adc: channels, samples, sample_rate, amplitude, noise, freqs;
 *    camera: width, height; counter on a ring for several producers:
 *    counter_layout=tagged).
 *
 * Several producers: a ring created with --max-producers N takes up to N
 * rb-producer processes, the others started with --attach. Each commits
 * its own frames (the ring numbers them all in one sequence); the first to
 * begin the stream writes the header, the others join it, and the stream
 * ends when the last of them ends it. So that their frames fit one stream,
 * an --attach producer must make frames of the ring's type and of the open
 * stream's source and shape. The creator removes the ring's name when it
 * exits (unless --keep): producers and consumers still attached go on.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "producer.h"

/* How long ending the stream may wait for a slot for its marker. */
#define PRODUCER_END_TIMEOUT_NS 2000000000ull
/* Polling period while waiting for consumers to attach or for the ring
 * to appear (--wait-ring). */
#define PRODUCER_POLL_NS 10000000ull

/* A tagged counter frame must hold its tag (producer.h). */
static int
producer_check_tag_room(const struct producer_options *o, uint64_t frame_bytes,
			int status)
{
	if (frame_bytes >= COUNTER_TAG_BYTES)
		return 0;
	cli_error("ring '%s': %" PRIu64 "-byte counter frames are too small for a ring "
		  "of several producers (each frame starts with a %u-byte tag)",
		  o->ring, frame_bytes, COUNTER_TAG_BYTES);
	return status;
}

/*
 * The ring we were to create is there already: say whether its producers
 * are alive (then --attach may be meant) or dead (a stale ring: --replace
 * or rb-ctl clean), naming the pid, so the reader knows what to do.
 */
static void
producer_explain_existing(const char *name)
{
	struct rb_producer_status ps[RB_MAX_PRODUCERS];
	struct rb_ring *old;
	int n, i, live = -1, dead = -1;

	if (rb_ring_open(name, &old) != 0) {
		/* Not a ring we can read (foreign, corrupt, another user's). */
		cli_error("ring '%s' exists and cannot be opened: use --replace, "
			  "or rb-ctl clean", name);
		return;
	}
	n = rb_ring_producers(old, ps, RB_MAX_PRODUCERS);
	for (i = 0; i < n && i < RB_MAX_PRODUCERS; i++) {
		if (ps[i].alive && live < 0)
			live = i;
		else if (!ps[i].alive && dead < 0)
			dead = i;
	}
	if (live >= 0)
		cli_error("ring '%s' exists; its producer (pid %" PRIu32 ") is alive: "
			  "use --attach to join it, or another name", name, ps[live].pid);
	else if (dead >= 0)
		cli_error("ring '%s' exists; its producer (pid %" PRIu32 ") is dead: "
			  "use --replace, or rb-ctl clean", name, ps[dead].pid);
	else
		cli_error("ring '%s' exists with no producer attached: use --attach, "
			  "--replace, or rb-ctl clean", name);
	rb_ring_close(old);
}

static int
producer_create(struct producer_run *r)
{
	const struct producer_options *o = r->o;
	struct rb_ring_config cfg;
	uint64_t slots = 1;
	int rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.frame_bytes = o->frame_size_set ? o->params.frame_bytes : r->src->frame_bytes;
	if (cfg.frame_bytes < r->src->frame_bytes) {
		cli_error("--frame-size %" PRIu64 ": frame too big for the ring "
			  "(a %s frame needs %" PRIu64 " bytes)",
			  cfg.frame_bytes, r->src->name, r->src->frame_bytes);
		return CLI_EXIT_USAGE;
	}
	if (r->src->kind == SOURCE_COUNTER && o->max_producers > 1 &&
	    (rc = producer_check_tag_room(o, r->src->frame_bytes, CLI_EXIT_USAGE)) != 0)
		return rc;
	while (slots < o->slots)
		slots <<= 1;
	cfg.slot_count = (uint32_t)o->slots;
	cfg.slot_align = (uint32_t)(o->align ? o->align : r->src->align);
	cfg.max_consumers = (uint32_t)o->consumers;
	cfg.type = r->src->type;
	/* A replay numbers its frames as the recording did. */
	if (r->src->has_initial_seq)
		cfg.initial_seq = r->src->initial_seq;
	cfg.flags = o->create_flags | RB_CREATE_ROUND_UP;
	cfg.max_producers = (uint32_t)o->max_producers;
	cfg.max_groups = (uint32_t)o->max_groups;
	rc = rb_ring_create(o->ring, &cfg, &r->ring);
	if (rc == -EEXIST) {
		producer_explain_existing(o->ring);
		return CLI_EXIT_FAIL;
	}
	if (rc == -EBUSY) {
		cli_error("ring '%s': in use by a live process, not replaced", o->ring);
		return CLI_EXIT_FAIL;
	}
	if (rc == -EINVAL) { /* the name was checked in options.c */
		cli_error("ring '%s': the ring geometry was refused (%" PRIu64
			  "-byte frames x %" PRIu64 " slots too large?)",
			  o->ring, cfg.frame_bytes, slots);
		return CLI_EXIT_USAGE;
	}
	if (rc != 0 && (o->create_flags & RB_CREATE_MLOCK) &&
	    (rc == -ENOMEM || rc == -EPERM || rc == -EAGAIN)) {
		cli_error("ring '%s': --mlock: %s (see ulimit -l)", o->ring, rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (rc != 0) {
		cli_error("ring '%s': %s", o->ring, rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	r->created = true;
	r->frame_bytes = r->src->frame_bytes;
	if (slots != o->slots)
		cli_note("--slots %" PRIu64 " rounded up to %" PRIu64
			 " (slot counts are powers of two)", o->slots, slots);
	if ((o->create_flags & RB_CREATE_HUGEPAGES) && rb_ring_pages(r->ring) != RB_PAGES_THP)
		cli_note("huge pages are not available for shared memory; "
			 "using normal pages");
	return 0;
}

/* "i16 1024x4", "bytes 4096": a frame type for messages. */
static void
producer_type_text(char *buf, size_t size, const struct rb_frame_type *t,
		   uint64_t frame_bytes)
{
	char shape[128];

	if (t->elem == RB_ELEM_NONE) {
		snprintf(buf, size, "bytes %" PRIu64, frame_bytes);
		return;
	}
	cli_format_shape(shape, sizeof(shape), t->dims, t->ndim);
	snprintf(buf, size, "%s %s", rb_elem_name(t->elem), shape);
}

static bool
producer_same_type(const struct rb_frame_type *a, const struct rb_frame_type *b)
{
	uint32_t i;

	if (a->elem != b->elem || a->ndim != b->ndim)
		return false;
	for (i = 0; i < a->ndim && i < RB_MAX_DIMS; i++)
		if (a->dims[i] != b->dims[i])
			return false;
	return true;
}

/* The header's shape=: the type's dimensions, or the frame's bytes. */
static void
producer_shape(const struct producer_run *r, char *buf, size_t size)
{
	uint64_t bytes_dim = r->frame_bytes;

	if (r->src->type.elem == RB_ELEM_NONE)
		cli_format_shape(buf, size, &bytes_dim, 1);
	else
		cli_format_shape(buf, size, r->src->type.dims, r->src->type.ndim);
}

/*
 * Another producer's open stream on a ring for several: our frames join
 * it, so they must be what its header says its frames are. (A replay or a
 * capture brings its own header; only the simulated sources are held to
 * the keys rb-producer writes.)
 */
static int
producer_check_stream(struct producer_run *r)
{
	const struct producer_options *o = r->o;
	const struct source *s = r->src;
	struct rb_ring_status st;
	char *text, theirs[4][128], ours[4][128];
	static const char *const keys[4] = {"source", "elem", "shape", "frame_bytes"};
	int i, status = 0;

	if (r->max_producers < 2 || s->kind == SOURCE_FILE || s->kind == SOURCE_UDP)
		return 0;
	if (rb_ring_get_status(r->ring, &st) != 0 || st.stream_state != RB_STREAM_STATUS_OPEN)
		return 0;
	text = malloc(rb_ring_stream_header_capacity(r->ring) + 1);
	if (text == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	if (rb_ring_stream_header(r->ring, text, rb_ring_stream_header_capacity(r->ring) + 1,
				  NULL) < 0) {
		free(text);
		return 0; /* ended and replaced meanwhile: nothing to match */
	}
	snprintf(ours[0], sizeof(ours[0]), "%s", s->name);
	snprintf(ours[1], sizeof(ours[1]), "%s", rb_elem_name(s->type.elem));
	producer_shape(r, ours[2], sizeof(ours[2]));
	snprintf(ours[3], sizeof(ours[3]), "%" PRIu64, r->frame_bytes);
	for (i = 0; i < 4; i++) {
		/* Another program's header may say less: what it does not
		 * say, it does not hold us to. */
		if (!cli_header_get(text, keys[i], theirs[i], sizeof(theirs[i])))
			continue;
		if (strcmp(theirs[i], ours[i]) != 0 && status == 0) {
			cli_error("ring '%s': the open stream has %s=%s, this producer's "
				  "frames %s=%s (the frames of one stream must match)",
				  o->ring, keys[i], theirs[i], keys[i], ours[i]);
			status = CLI_EXIT_FAIL;
		}
	}
	free(text);
	return status;
}

/* --attach: opens the ring (waiting for it with --wait-ring) and checks that
 * this source's frames fit it. */
static int
producer_open(struct producer_run *r, struct source *src)
{
	const struct producer_options *o = r->o;
	const struct rb_frame_type *rt;
	uint64_t slot, deadline = cli_now_ns() + o->wait_ring_ns;
	char a[160], b[160];
	int rc;

	for (;;) {
		rc = cli_ring_open(o->ring, &r->ring);
		if (rc != -ENOENT || o->wait_ring_ns == 0 || cli_stop ||
		    cli_now_ns() >= deadline)
			break;
		cli_sleep_for(PRODUCER_POLL_NS);
	}
	if (rc == -ENOENT && cli_stop) {
		/* The documented status of a signal (0, --help): stopped
		 * before there was anything to do. */
		cli_error("ring '%s': interrupted while waiting for it to appear "
			  "(--wait-ring)", o->ring);
		return CLI_EXIT_OK; /* with no ring: main stops there */
	}
	if (rc == -ENOENT && o->wait_ring_ns != 0) {
		cli_error("ring '%s': %s (waited %.3g s)", o->ring, rb_strerror(rc),
			  (double)o->wait_ring_ns / 1e9);
		return CLI_EXIT_FAIL;
	}
	if (rc != 0) {
		cli_error("ring '%s': %s", o->ring, cli_ring_error(o->ring, rc));
		return CLI_EXIT_FAIL;
	}
	r->max_producers = rb_ring_max_producers(r->ring);
	slot = rb_ring_frame_bytes(r->ring);
	/* A counter frame fills the ring's slots unless told otherwise. */
	if (src->kind == SOURCE_COUNTER)
		src->frame_bytes = o->frame_size_set ? o->params.frame_bytes : slot;
	if (src->frame_bytes > slot) {
		cli_error("ring '%s': frame too big for the ring (a %" PRIu64
			  "-byte %s frame, %" PRIu64 "-byte slots)",
			  o->ring, src->frame_bytes, src->name, slot);
		return CLI_EXIT_FAIL;
	}
	/* A typed ring says what its frames are; an untyped one takes any
	 * frame that fits (consumers read the shape from the header). */
	rt = rb_ring_frame_type(r->ring);
	if (rt->elem != RB_ELEM_NONE && !producer_same_type(rt, &src->type)) {
		producer_type_text(a, sizeof(a), rt, slot);
		producer_type_text(b, sizeof(b), &src->type, src->frame_bytes);
		cli_error("ring '%s': the ring's frames are %s, a %s frame is %s",
			  o->ring, a, src->name, b);
		return CLI_EXIT_FAIL;
	}
	r->frame_bytes = src->frame_bytes;
	if (src->kind == SOURCE_COUNTER && r->max_producers > 1 &&
	    (rc = producer_check_tag_room(o, r->frame_bytes, CLI_EXIT_FAIL)) != 0)
		return rc;
	return producer_check_stream(r);
}

static void
producer_header(const struct producer_run *r, char *buf, size_t size)
{
	const struct source *s = r->src;
	char shape[128], rate[32], when[40], host[256], extra[4096];

	/* A replay's stream is the recorded one, header and all. */
	if (s->kind == SOURCE_FILE) {
		snprintf(buf, size, "%s", file_source_header(s));
		return;
	}
	producer_shape(r, shape, sizeof(shape));
	if (r->frames_per_second > 0)
		snprintf(rate, sizeof(rate), "%.9g", r->frames_per_second);
	else
		snprintf(rate, sizeof(rate), "max");
	cli_utc_iso8601(when, sizeof(when));
	if (gethostname(host, sizeof(host)) != 0)
		snprintf(host, sizeof(host), "unknown");
	host[sizeof(host) - 1] = '\0';
	source_header(s, extra, sizeof(extra));
	snprintf(buf, size,
		 "source=%s\nelem=%s\nshape=%s\nrate=%s\nstart_time=%s\nhost=%s\n"
		 "frame_bytes=%" PRIu64 "\n%s",
		 s->name, rb_elem_name(s->type.elem), shape, rate, when, host,
		 r->frame_bytes, extra);
}

/*
 * An adc's sample rate is its pace: frames/s = sample_rate / samples per
 * frame, unless --rate says otherwise. Then --rate wins and the samples
 * come at frames/s x samples, which is what the header states (and what
 * the sine frequencies of the header's `freqs` follow). `--rate max`
 * runs unpaced: the header keeps the sample rate the data stands for.
 */
static void
producer_adc_rates(struct producer_run *r, const struct producer_options *o, struct source *src)
{
	double real;

	if (!o->rate_set) {
		r->frames_per_second = src->p.sample_rate / (double)src->p.samples;
		return;
	}
	if (!(r->frames_per_second > 0))
		return;
	real = r->frames_per_second * (double)src->p.samples;
	if (o->sample_rate_set && fabs(real - src->p.sample_rate) > 1e-9 * real)
		fprintf(stderr, "rb-producer: note: --rate gives %.9g frames/s of %" PRIu64
			" samples: %.9g samples/s per channel, not the --sample-rate %.9g\n",
			r->frames_per_second, src->p.samples, real, src->p.sample_rate);
	src->p.sample_rate = real;
}

/* Waits for --wait-consumers; false if a signal came first. */
static bool
producer_wait_consumers(struct producer_run *r)
{
	struct rb_ring_status st;
	uint32_t want = r->o->wait_consumers > UINT32_MAX ? UINT32_MAX
							   : (uint32_t)r->o->wait_consumers;

	/* In slices, for the status line; a signal cuts a slice short. */
	while (rb_ring_wait_consumers(r->ring, want, PRODUCER_WAIT_SLICE_NS) != 0) {
		if (cli_stop)
			return false;
		rb_ring_get_status(r->ring, &st);
		if (cli_status_due(&r->status, cli_now_ns()))
			cli_status_print(&r->status, "waiting for %" PRIu64
					 " consumers (%" PRIu32 " attached)",
					 r->o->wait_consumers, st.consumers);
	}
	return !cli_stop;
}

/* Frames made while nobody reads are overwritten unread, and the producer
 * cannot count them as dropped (nothing was refused): say so once, at the
 * start, with the option that avoids it. */
static void
producer_note_unread(struct producer_run *r)
{
	struct rb_ring_status st;

	if (rb_ring_get_status(r->ring, &st) == 0 && st.consumers == 0)
		fprintf(stderr, "rb-producer: note: no consumer is attached to ring '%s': "
			"frames made before one attaches may be overwritten unread "
			"(--wait-consumers N waits for N)\n", r->o->ring);
}

/* Ring fill as the producer sees it: how far the slowest lossless consumer
 * is behind, in percent of the slots; -1 when no lossless consumer. */
static int
producer_fill(struct producer_run *r)
{
	struct rb_ring_status st;
	uint32_t max = rb_ring_max_consumers(r->ring), i;
	int n = rb_ring_consumers(r->ring, r->consumers, max);
	uint64_t behind = 0;
	bool any = false;

	rb_ring_get_status(r->ring, &st);
	for (i = 0; i < (uint32_t)n && i < max; i++) {
		/* A group member holding nothing reads at UINT64_MAX. */
		if (r->consumers[i].lossy || r->consumers[i].read_seq > st.write_seq)
			continue;
		any = true;
		if (st.write_seq - r->consumers[i].read_seq > behind)
			behind = st.write_seq - r->consumers[i].read_seq;
	}
	if (!any)
		return -1;
	return (int)(behind * 100 / rb_ring_slot_count(r->ring));
}

/* Whether a paced run has fallen measurably behind its rate: more than a
 * frame and more than 1% of what was due (a frame or so of lag is the
 * sleep's granularity, not a shortfall). */
static bool
producer_is_behind(const struct producer_run *r)
{
	return r->behind_frames > 1 && r->behind_frames * 100 > r->index;
}

/* Updates behind_frames/behind_seconds at time now: the frames due by now
 * (no more than --count) that the source has not made yet. */
void
producer_behind(struct producer_run *r, const struct pacer *pacer, uint64_t now)
{
	uint64_t due = pacer_due_by(pacer, now);

	if (r->o->count != 0 && due > r->o->count)
		due = r->o->count;
	r->behind_frames = due > r->index ? due - r->index : 0;
	r->behind_seconds = pacer->enabled ? (double)r->behind_frames * (double)pacer->period_ns / 1e9
					   : 0;
}

void
producer_show(struct producer_run *r, uint64_t now)
{
	char rate[32], bps[32], fill[16];
	double dt = (double)(now - r->shown_ns) / 1e9;
	double fps = dt > 0 ? (double)(r->frames - r->shown_frames) / dt : 0;
	int pct = producer_fill(r);

	if (pct < 0)
		snprintf(fill, sizeof(fill), "-");
	else
		snprintf(fill, sizeof(fill), "%d%%", pct);
	cli_status_print(&r->status,
			 "%" PRIu64 " frames  %s  %s  fill %s  lag %.1f ms  dropped %" PRIu64 "%s",
			 r->frames, cli_format_si(rate, sizeof(rate), fps, "fps"),
			 cli_format_si(bps, sizeof(bps), fps * (double)r->frame_bytes, "B/s"),
			 fill, (double)r->lag_ns / 1e6, r->dropped,
			 producer_is_behind(r) ? "  BEHIND SCHEDULE" : "");
	r->shown_frames = r->frames;
	r->shown_ns = now;
}

/*
 * Keeps the ring's UTC anchor right: the library republishes the offset
 * only when the realtime clock was stepped (more than 1 ms; smaller
 * differences are a measurement's own error, clock.c), so that one frame's
 * UTC is the same to the ns in a consumer and in a recording made earlier.
 * A replay has pinned the recording's anchor (rb_producer_set_clock_offset),
 * which the call leaves as it is.
 */
static void
producer_clock_check(struct producer_run *r)
{
	(void)rb_producer_refresh_clock(r->prod);
}

/*
 * Reserves the next slot. Block mode waits in slices so that signals and
 * the end of --duration are noticed; drop mode never waits. Returns 0 with
 * a frame, 1 when the frame was dropped or the slice ran out (the caller
 * goes round its loop again), or an exit status.
 */
int
producer_acquire(struct producer_run *r, struct rb_frame *f, uint64_t stop_at,
		 bool nowait)
{
	uint64_t slice = PRODUCER_WAIT_SLICE_NS, now = cli_now_ns();
	int rc;

	/* The UTC anchor of the ring (FORMAT.md §5.22), looked at once a
	 * second: the library never reads a clock per frame. */
	if (now >= r->clock_due) {
		producer_clock_check(r);
		r->clock_due = now + 1000000000ull;
	}
	if (nowait && !r->o->drop) {
		rc = rb_producer_acquire(r->prod, f, RB_NO_WAIT);
		if (rc == RB_E_WOULD_BLOCK)
			return 1;
	} else if (r->o->drop) {
		rc = rb_producer_acquire(r->prod, f, RB_NO_WAIT);
		if (rc == RB_E_WOULD_BLOCK) {
			rb_producer_count_dropped(r->prod, 1);
			r->dropped++;
			r->index++;
			return 1;
		}
	} else {
		if (stop_at != 0 && stop_at > now && stop_at - now < slice)
			slice = stop_at - now;
		rc = rb_producer_acquire(r->prod, f, slice);
		/* -EINTR: a signal ended the wait; the loop looks at cli_stop. */
		if (rc == -ETIMEDOUT || rc == -EINTR)
			return 1;
	}
	if (rc != 0) {
		if (cli_ring_lost(r->ring, r->o->ring)) {
			r->end = "truncated";
			return PRODUCER_ACQUIRE_FAILED;
		}
		cli_error("ring '%s': acquiring a slot: %s", r->o->ring, rb_strerror(rc));
		r->end = "error";
		return PRODUCER_ACQUIRE_FAILED;
	}
	return 0;
}

bool
producer_should_stop(struct producer_run *r, uint64_t stop_at)
{
	if (cli_stop) {
		r->end = "signal";
		return true;
	}
	if (r->o->count != 0 && r->index >= r->o->count) {
		r->end = "count";
		return true;
	}
	if (stop_at != 0 && cli_now_ns() >= stop_at) {
		r->end = "duration";
		return true;
	}
	return false;
}

/* The streaming loop. Returns the exit status. */
static int
producer_stream(struct producer_run *r)
{
	const struct producer_options *o = r->o;
	uint64_t stop_at = 0, now;
	struct pacer pacer;
	struct rb_frame f;
	int rc;

	if (r->src->kind == SOURCE_FILE)
		return file_stream(r);
	if (r->src->kind == SOURCE_UDP)
		return udp_stream(r);
	r->start_ns = r->shown_ns = cli_now_ns();
	if (o->duration_ns != 0)
		stop_at = r->start_ns + o->duration_ns;
	pacer_init(&pacer, r->frames_per_second, r->start_ns);
	for (;;) {
		if (producer_should_stop(r, stop_at))
			break;
		now = cli_now_ns();
		if (pacer.enabled)
			producer_behind(r, &pacer, now);
		if (cli_status_due(&r->status, now))
			producer_show(r, now);
		if (pacer.enabled) {
			uint64_t due = pacer_deadline(&pacer, r->index);

			if (now < due) {
				/* Sleep to the deadline (or the end of the
				 * run), then go round to look at everything
				 * again: a signal cuts the sleep short. */
				cli_sleep_until(stop_at != 0 && stop_at < due ? stop_at : due);
				continue;
			}
			r->lag_ns = now - due;
		}
		rc = producer_acquire(r, &f, stop_at, false);
		if (rc == 1)
			continue;
		if (rc != 0)
			return CLI_EXIT_FAIL;
		/* The capture time: before the source fills the frame. */
		f.timestamp_ns = cli_now_ns();
		source_fill(r->src, f.data, f.seq, r->index, r->frames);
		if (o->hold_ns != 0)
			cli_sleep_for(o->hold_ns);
		f.length = r->frame_bytes;
		f.flags = 0;
		rc = rb_producer_commit(r->prod, &f);
		if (rc != 0 && cli_ring_lost(r->ring, o->ring)) {
			r->end = "truncated";
			return CLI_EXIT_FAIL;
		}
		if (rc != 0) {
			cli_error("ring '%s': committing frame %" PRIu64 ": %s",
				  o->ring, f.seq, rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
		r->frames++;
		r->bytes += f.length;
		r->index++;
	}
	if (pacer.enabled)
		producer_behind(r, &pacer, cli_now_ns());
	return CLI_EXIT_OK;
}

/* The producer's own reasons; the ones it shares with rb-consumer are in
 * tools/cli. */
static const char *
producer_end_text(const char *end)
{
	if (strcmp(end, "eof") == 0)
		return "end of the recording";
	if (strcmp(end, "sender_end") == 0)
		return "the sender ended its stream";
	return cli_end_text(end);
}

static void
producer_summary(const struct producer_run *r)
{
	double secs = (double)(r->end_ns - r->start_ns) / 1e9;
	char head[CLI_SUMMARY_HEAD_MAX];

	if (r->o->json) {
		struct cli_json j;

		cli_json_begin(&j, stdout);
		cli_json_string(&j, "program", "rb-producer");
		cli_json_string(&j, "ring", r->o->ring);
		cli_json_string(&j, "source", r->src->name);
		cli_json_u64(&j, "frame_bytes", r->frame_bytes);
		cli_json_u64(&j, "slots", r->slots);
		cli_json_bool(&j, "created", r->created);
		cli_json_u64(&j, "max_producers", r->max_producers);
		cli_json_u64(&j, "pid", (uint64_t)getpid());
		cli_json_totals(&j, r->frames, r->bytes, secs);
		cli_json_u64(&j, "dropped", r->dropped);
		if (r->frames_per_second > 0 || r->src->p.rate_recorded) {
			if (r->frames_per_second > 0)
				cli_json_double(&j, "rate_asked", r->frames_per_second);
			else
				cli_json_string(&j, "rate_asked", "recorded");
			cli_json_object(&j, "behind_schedule");
			cli_json_u64(&j, "frames", r->behind_frames);
			cli_json_double(&j, "seconds", r->behind_seconds);
			cli_json_bool(&j, "behind", producer_is_behind(r));
			cli_json_object_end(&j);
		}
		cli_json_end_reason(&j, r->end);
		source_json(r->src, &j);
		cli_json_end(&j);
		return;
	}
	cli_summary_head(head, sizeof(head), r->o->ring, r->src->name, r->frames, r->bytes,
			 secs);
	fprintf(stderr, "%s, %" PRIu64 " dropped; %s\n", head, r->dropped,
		producer_end_text(r->end));
	if (producer_is_behind(r) && r->src->p.rate_recorded)
		fprintf(stderr, "  BEHIND SCHEDULE: %" PRIu64 " frames published late against "
			"the recording's time line (up to %.3f s); the consumers could not keep "
			"up\n", r->behind_frames, r->behind_seconds);
	else if (producer_is_behind(r))
		fprintf(stderr, "  BEHIND SCHEDULE: %" PRIu64 " frames (%.3f s at %.9g frames/s) "
			"short of the rate asked; the source or the consumers could not keep up\n",
			r->behind_frames, r->behind_seconds, r->frames_per_second);
	if (r->max_producers > 1)
		fprintf(stderr, "  one of up to %" PRIu32 " producers (pid %ld): the "
			"frames above are this one's%s\n", r->max_producers, (long)getpid(),
			r->src->tagged ? ", tagged with its pid" : "");
	source_summary(r->src, stderr);
}

/* Ends the stream, detaches, removes a ring we created. */
static int
producer_finish(struct producer_run *r, int status)
{
	int rc;

	/* A truncated ring's memory is zeros: ending a stream there would
	 * only wait for space that never comes. Detaching writes nothing
	 * anyone can see any more, but frees the handle. */
	if (r->prod != NULL && cli_ring_lost(r->ring, r->o->ring)) {
		(void)rb_producer_detach(r->prod, 0);
		r->prod = NULL;
		r->end = "truncated";
		status = CLI_EXIT_FAIL;
	}
	if (r->prod != NULL) {
		rc = rb_producer_end_stream(r->prod, PRODUCER_END_TIMEOUT_NS);
		if (rc == -EBUSY) {
			/* Slots acquired for data that never came (udp: the
			 * frames after the sender's last): detaching drops
			 * them and ends the stream after the last frame. */
			rc = rb_producer_detach(r->prod, PRODUCER_END_TIMEOUT_NS);
			r->prod = NULL;
			if (rc != 0 && status == CLI_EXIT_OK) {
				cli_error("ring '%s': ending the stream: %s", r->o->ring,
					  rb_strerror(rc));
				status = CLI_EXIT_FAIL;
			}
		} else if (rc != 0 && status == CLI_EXIT_OK) {
			/* Detach marks the stream abandoned: consumers are
			 * told the producer is gone instead of waiting. */
			cli_error("ring '%s': ending the stream: %s", r->o->ring,
				  rb_strerror(rc));
			status = CLI_EXIT_FAIL;
		}
	}
	if (r->prod != NULL) {
		rc = rb_producer_detach(r->prod, 0);
		if (rc != 0 && rc != RB_E_WOULD_BLOCK && status == CLI_EXIT_OK) {
			cli_error("ring '%s': detaching: %s", r->o->ring, rb_strerror(rc));
			status = CLI_EXIT_FAIL;
		}
		r->prod = NULL;
	}
	if (r->ring != NULL) {
		/* Consumers keep their mapping: removing the name only stops
		 * new ones from finding a ring nobody will write again. */
		if (r->created && !r->o->keep)
			(void)rb_ring_remove(r->o->ring);
		rb_ring_close(r->ring);
		r->ring = NULL;
	}
	return status;
}

int
main(int argc, char **argv)
{
	struct producer_options o;
	struct producer_run r;
	struct source src;
	char header[8192];
	int rc, status;

	cli_set_program("rb-producer");
	rc = producer_parse_options(argc, argv, &o);
	if (rc >= 0)
		return rc;
	if ((rc = cli_signals_start()) != 0)
		return rc;
	/* The sender and --check need no ring. */
	if (strcmp(o.source, "udp-send") == 0)
		return udp_send_run(&o.params, &o.rate, o.count, o.duration_ns, o.json);
	if ((status = source_init(&src, o.source, &o.params)) != 0) {
		source_fini(&src);
		return status;
	}
	if (src.kind == SOURCE_FILE && o.params.check) {
		status = file_check(&src, o.json);
		source_fini(&src);
		return status;
	}

	memset(&r, 0, sizeof(r));
	r.o = &o;
	r.src = &src;
	r.end = "error";
	cli_status_init(&r.status, stderr);
	status = o.attach ? producer_open(&r, &src) : producer_create(&r);
	if (status != 0 || r.ring == NULL)
		goto out;
	r.max_producers = rb_ring_max_producers(r.ring);
	/* Frames from several producers interleave: each is tagged with its
	 * producer so that every producer's frames can be checked. */
	src.tagged = src.kind == SOURCE_COUNTER && r.max_producers > 1;
	src.tag_id = (uint64_t)getpid();
	r.slots = rb_ring_slot_count(r.ring);
	if (o.rate.unit == CLI_RATE_FRAMES)
		r.frames_per_second = o.rate.per_second;
	else if (o.rate.unit == CLI_RATE_BYTES)
		r.frames_per_second = o.rate.per_second / (double)r.frame_bytes;
	if (src.kind == SOURCE_ADC)
		producer_adc_rates(&r, &o, &src);
	r.consumers = calloc(rb_ring_max_consumers(r.ring), sizeof(*r.consumers));
	if (r.consumers == NULL) {
		cli_error("out of memory");
		status = CLI_EXIT_FAIL;
		goto out;
	}
	rc = rb_producer_attach(r.ring,
				&(struct rb_producer_options){.stall_timeout_ns = o.stall_timeout_ns},
				&r.prod);
	if (rc == RB_E_BUSY && r.max_producers == 1) {
		cli_error("ring '%s': a live producer is attached, and the ring takes one "
			  "(create it with --max-producers N for several)", o.ring);
		status = CLI_EXIT_FAIL;
		goto out;
	}
	if (rc == RB_E_BUSY) {
		cli_error("ring '%s': all %" PRIu32 " producer places are taken by live "
			  "producers", o.ring, r.max_producers);
		status = CLI_EXIT_FAIL;
		goto out;
	}
	if (rc != 0) {
		cli_error("ring '%s': %s", o.ring, rb_strerror(rc));
		status = CLI_EXIT_FAIL;
		goto out;
	}
	if (o.wait_consumers != 0 && !producer_wait_consumers(&r)) {
		r.end = "signal";
		r.start_ns = r.end_ns = cli_now_ns();
		cli_status_clear(&r.status);
		status = producer_finish(&r, CLI_EXIT_OK);
		producer_summary(&r);
		goto out;
	}
	if (o.wait_consumers == 0)
		producer_note_unread(&r);
	producer_header(&r, header, sizeof(header));
	if (r.src->kind == SOURCE_FILE && (rc = file_source_pin_clock(&r)) != 0) {
		cli_error("ring '%s': the recording's UTC anchor: %s", o.ring, rb_strerror(rc));
		status = CLI_EXIT_FAIL;
		goto out;
	}
	rc = rb_producer_begin_stream(r.prod, header);
	if (rc != 0) {
		cli_error("ring '%s': starting the stream: %s", o.ring, rb_strerror(rc));
		status = CLI_EXIT_FAIL;
		goto out;
	}
	status = producer_stream(&r);
	/* A truncation ends the loop through cli_stop (tools/cli/sigbus.c). */
	if (cli_ring_lost(r.ring, o.ring)) {
		r.end = "truncated";
		status = CLI_EXIT_FAIL;
	}
	r.end_ns = cli_now_ns();
	cli_status_clear(&r.status);
	status = producer_finish(&r, status);
	producer_summary(&r);
out:
	cli_status_clear(&r.status);
	status = producer_finish(&r, status);
	free(r.consumers);
	source_fini(&src);
	return status;
}
