/*
 * The file source: replays a recording (docs/RECORDING.md) into a ring,
 * and --check, which reads a recording through and says what it holds.
 *
 * Replay reads every frame with io_uring straight into the slot it will
 * be published from: the slot is acquired first, then a read_fixed of the
 * frame's region lands in it (the slot area is registered as fixed
 * buffers; O_DIRECT where the file system and the slot geometry allow,
 * which is why a replay ring gets 4096-byte slot alignment by default).
 * No byte is copied in user space. Several reads are in flight; they
 * complete in any order, and frames are published in order, the in-order
 * prefix of completed reads at a time, and not before they are due:
 *   --rate recorded  at start + (timestamp - first timestamp)
 *   --rate RATE      at the given rate (pacing.c)
 *   default          as fast as the ring takes them
 *
 * What a replay reproduces (docs/RECORDING.md, "Identity"): the ring's
 * frame type and slot size, the stream header text, each frame's bytes,
 * length, time stamp (unless --restamp), flags and drops at the producer
 * before it (dropped_before; dropped_after with the end), and the sequence
 * numbers (the ring is created to start at the first recorded seq; a
 * recording with gaps, from a lossy recorder, is replayed gap-free and the
 * gaps are counted). RB_FRAME_STREAM_START is the library's: it marks the
 * replay's first frame, whatever the recording's first frame had.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "producer.h"
#include <ringbuf/recording.h>
#include "rio.h" /* the recording module's private I/O engine */

#define FILE_DEFAULT_DEPTH 16u
/* --rate recorded: a frame published this much after its recorded time is
 * late (behind schedule); less is the sleep's own wake-up latency. */
#define FILE_LATE_NS 2000000ull

/* A frame being read into its slot, then waiting to be published. */
struct file_read {
	struct rb_frame f;
	struct rb_rec_entry e;
	uint32_t len;   /* bytes asked for */
	uint64_t pass;  /* of --loop, for its time shift */
	bool done;
};

struct file_source {
	struct rb_rec_reader rd;
	bool reader_open;
	struct rb_rec_entry next;  /* read ahead by one descriptor */
	bool have_next;
	bool eof;
	int last_fd;
	/* I/O */
	struct rio io;
	bool io_ready;
	bool direct;
	char fallback[160];
	struct rio_done *done;
	unsigned depth;
	/* Acquired slots, in order. */
	struct file_read *win;
	struct rb_frame *commit;
	uint32_t cap, head, count, inflight;
	/* Time: the first pass's first and last time stamps, and what is
	 * added to time stamps and deadlines on later passes (--loop). */
	bool have_t0;
	uint64_t t0, last_ts;
	uint64_t pass_frames;
	uint64_t shift_ns;
	uint64_t passes;
	/* What the summary says. */
	bool have_prev;
	uint64_t prev_seq;
	uint64_t seq_gaps;
	uint64_t discarded;
	uint64_t drops_carry;   /* recorded drops of discarded descriptors */
	uint64_t recorded_drops; /* recorded drops republished (dropped_before) */
	uint64_t recorded_tail;  /* of them, after the last frame (dropped_after) */
	uint64_t last_publish_ns; /* when the last frame was published */
	/* --rate recorded: frames published more than FILE_LATE_NS after their
	 * recorded time (the schedule), and the latest of them (file_behind). */
	uint64_t late_frames;
	uint64_t late_ns_max;
	uint64_t reads;
	const char *io_path;
	bool damaged;           /* a frame failed its checksum: stop */
	uint64_t damaged_seq;
};

static struct file_source *
file_state(const struct source *s)
{
	return s->io;
}

static void
file_fallback(struct file_source *fs, const char *why, int code)
{
	rio_fallback_note(fs->fallback, sizeof(fs->fallback), why, code);
}

static const char *
file_open_error(int rc)
{
	switch (rc) {
	case -EMEDIUMTYPE:
		return "not a ringbuf recording";
	case -EPROTONOSUPPORT:
		return "recording format version not supported (this rb-producer reads "
		       "versions 1 to 3)";
	case -EBADMSG:
		return "damaged recording header";
	default:
		return strerror(-rc);
	}
}

/* The next descriptor worth replaying (discarded ones are skipped):
 * 1 with *e, 0 at the end, or -errno. */
static int
file_next_entry(struct file_source *fs, struct rb_rec_entry *e)
{
	int rc;

	for (;;) {
		if (fs->have_next) {
			*e = fs->next;
			fs->have_next = false;
			return 1;
		}
		rc = rb_rec_reader_next(&fs->rd, e);
		if (rc <= 0)
			return rc;
		/* A discarded descriptor is no frame, but the drops it names
		 * happened before the next frame too. */
		if (!(e->rflags & RB_REC_ENTRY_DISCARDED)) {
			e->dropped_before += fs->drops_carry;
			fs->drops_carry = 0;
			return 1;
		}
		fs->drops_carry += e->dropped_before;
		fs->discarded++;
	}
}

int
file_source_init(struct source *s)
{
	struct file_source *fs;
	int rc;

	if (s->p.input == NULL) {
		cli_error("--source file: missing --input FILE");
		return CLI_EXIT_USAGE;
	}
	fs = calloc(1, sizeof(*fs));
	if (fs == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	s->io = fs;
	fs->last_fd = -1;
	rc = rb_rec_reader_open(&fs->rd, s->p.input, true);
	fs->reader_open = true;
	if (rc == -ENOMEM) {
		char why[320];

		rio_init_error(why, sizeof(why), rc);
		cli_error("%s: %s", s->p.input, why);
		return CLI_EXIT_FAIL;
	}
	if (rc != 0) {
		cli_error("%s: %s", s->p.input, file_open_error(rc));
		return CLI_EXIT_FAIL;
	}
	s->frame_bytes = fs->rd.h.frame_bytes;
	s->type = fs->rd.h.type;
	/* O_DIRECT reads whole 4 KiB blocks into 4 KiB-aligned slots. */
	s->align = RB_REC_PAGE;
	if (s->p.check)
		return 0;
	/* The ring numbers frames as the recording did: look at the first. */
	rc = file_next_entry(fs, &fs->next);
	if (rc < 0) {
		cli_error("%s: %s", fs->rd.path, strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	fs->have_next = rc == 1;
	s->has_initial_seq = true;
	s->initial_seq = rc == 1 ? fs->next.seq : fs->rd.h.stream_start_seq;
	return 0;
}

void
file_source_fini(struct source *s)
{
	struct file_source *fs = file_state(s);

	if (fs == NULL)
		return;
	if (fs->io_ready)
		rio_fini(&fs->io);
	if (fs->reader_open)
		rb_rec_reader_close(&fs->rd);
	free(fs->done);
	free(fs->win);
	free(fs->commit);
	free(fs);
	s->io = NULL;
}

const char *
file_source_header(const struct source *s)
{
	return file_state(s)->rd.text;
}

/* ---- replay ------------------------------------------------------------- */

/*
 * The replayed frames keep their recorded time stamps (CLOCK_MONOTONIC of
 * the recording machine and boot) unless --restamp: their UTC is the
 * recording's anchor, not this machine's. So the ring gets that anchor,
 * pinned (the library then leaves it alone at begin-stream and in
 * rb-producer's clock check), and a consumer of the replay computes each
 * frame's UTC exactly as it was recorded. A recording without an anchor
 * (before format 3, or from a ring without one) leaves the ring's own:
 * right on the same machine and boot only, as docs/RECORDING.md says.
 */
int
file_source_pin_clock(struct producer_run *r)
{
	const struct rb_rec_header *h = &file_state(r->src)->rd.h;
	int64_t offset = (int64_t)(h->anchor_real_ns - h->anchor_mono_ns);

	if (r->src->p.restamp || !rb_rec_has_utc(h) || offset == 0)
		return 0;
	return rb_producer_set_clock_offset(r->prod, offset, h->anchor_mono_ns);
}

/* io_uring, registered slots, O_DIRECT where possible. */
static int
file_setup(struct producer_run *r, struct file_source *fs)
{
	uint8_t *slots = rb_ring_slots(r->ring);
	uint64_t stride = rb_ring_slot_stride(r->ring);
	uint32_t n = rb_ring_slot_count(r->ring);
	int rc;

	fs->depth = r->src->p.queue_depth ? r->src->p.queue_depth : FILE_DEFAULT_DEPTH;
	if (fs->depth > n)
		fs->depth = n;
	fs->cap = n;
	fs->win = calloc(n, sizeof(*fs->win));
	fs->commit = calloc(n, sizeof(*fs->commit));
	fs->done = calloc(fs->depth + 2, sizeof(*fs->done));
	if (fs->win == NULL || fs->commit == NULL || fs->done == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	if ((rc = rio_init(&fs->io, fs->depth + 2)) != 0) {
		char why[320];

		rio_init_error(why, sizeof(why), rc);
		cli_error("%s: %s", fs->rd.path, why);
		return CLI_EXIT_FAIL;
	}
	fs->io_ready = true;
	if (!fs->io.uring_ok)
		file_fallback(fs, "io_uring refused", fs->io.uring_error);
	fs->direct = fs->rd.direct;
	if (!fs->rd.direct) {
		file_fallback(fs, "the file system refuses O_DIRECT", 0);
	} else if (stride % RB_REC_PAGE != 0 || (uintptr_t)slots % RB_REC_PAGE != 0) {
		/* Whole blocks would overrun the slots: read exact lengths
		 * through the page cache, here and in every later part. */
		int flags = fcntl(fs->rd.fd, F_GETFL);

		if (flags < 0 || fcntl(fs->rd.fd, F_SETFL, flags & ~O_DIRECT) != 0) {
			cli_error("%s: %s", fs->rd.path, strerror(errno));
			return CLI_EXIT_FAIL;
		}
		fs->rd.want_direct = false;
		fs->rd.direct = false;
		fs->direct = false;
		file_fallback(fs, "O_DIRECT impossible: slot stride not a multiple of 4096", 0);
	}
	if (fs->io.uring_ok) {
		rc = rio_register(&fs->io, slots, (uint64_t)n * stride, stride);
		if (rc != 0)
			file_fallback(fs, "buffer registration refused", rc);
	}
	fs->io_path = rio_path_name(&fs->io, fs->direct, false);
	return 0;
}

/* Reaps read completions (waiting up to a slice for one if `wait`). */
static int
file_reap(struct producer_run *r, struct file_source *fs, bool wait)
{
	int n, i;

	n = rio_reap(&fs->io, fs->done, fs->depth + 2, wait ? 1 : 0,
		     wait ? PRODUCER_WAIT_SLICE_NS : 0);
	if (n == -EINTR || n == -ETIME)
		return 0;
	if (n < 0) {
		cli_error("%s: io_uring: %s", fs->rd.path, strerror(-n));
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < n; i++) {
		struct file_read *x = &fs->win[fs->done[i].tag];

		fs->inflight--;
		if (fs->done[i].res < 0 || (uint64_t)fs->done[i].res < x->e.length) {
			cli_error("%s: reading frame %" PRIu64 ": %s", fs->rd.path, x->e.seq,
				  fs->done[i].res < 0 ? strerror(-fs->done[i].res)
						      : "the file ends inside it");
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
		x->done = true;
	}
	return 0;
}

/* Waits until no read is in flight (before switching files). */
static int
file_drain(struct producer_run *r, struct file_source *fs)
{
	int rc;

	while (fs->inflight > 0)
		if ((rc = file_reap(r, fs, true)) != 0)
			return rc;
	return 0;
}

/* Starts the next pass of --loop: time stamps and deadlines move on by
 * the first pass's span plus one mean frame interval. */
static int
file_rewind(struct producer_run *r, struct file_source *fs)
{
	uint64_t span = fs->last_ts - fs->t0;
	int rc;

	if ((rc = file_drain(r, fs)) != 0)
		return rc;
	if ((rc = rb_rec_reader_rewind(&fs->rd)) != 0) {
		cli_error("%s: %s", fs->rd.path, file_open_error(rc));
		return CLI_EXIT_FAIL;
	}
	if (fs->passes == 0 && fs->pass_frames > 1)
		fs->shift_ns = span + span / (fs->pass_frames - 1);
	fs->passes++;
	return 0;
}

/* Drops the recording says the recorded producer made: published again,
 * so that the replay's consumers count them as dropped at the producer
 * (the library puts them in the next frame's descriptor, or the end
 * marker's). Not in r->dropped, which is this replay's own. */
static void
file_republish_drops(struct producer_run *r, struct file_source *fs, uint64_t n)
{
	if (n == 0)
		return;
	rb_producer_count_dropped(r->prod, n);
	fs->recorded_drops += n;
}

/* Acquires slots and starts reads while there is room. */
static int
file_fill(struct producer_run *r, struct file_source *fs, uint64_t stop_at)
{
	const struct producer_options *o = r->o;
	struct rb_rec_entry e;
	int rc;

	while (!fs->eof && fs->inflight < fs->depth && fs->count < fs->cap &&
	       (o->count == 0 || r->index + fs->count < o->count)) {
		struct file_read *x;
		struct rb_frame f;
		uint32_t i;

		rc = file_next_entry(fs, &e);
		if (rc < 0) {
			cli_error("%s: %s", fs->rd.path, strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		if (rc == 0) {
			/* The drops after the recording's last frame come
			 * before the next pass's first frame, or with the
			 * stream's end (file_stream). */
			if (fs->rd.summary_ok)
				fs->drops_carry += fs->rd.sum.dropped_after;
			if (!r->src->p.loop || fs->pass_frames + fs->passes == 0) {
				fs->eof = true;
				break;
			}
			if ((rc = file_rewind(r, fs)) != 0)
				return rc;
			continue;
		}
		/* A new part (or a new pass): reads on the previous file end
		 * before the reader may close it (recording.h). */
		if (fs->rd.fd != fs->last_fd) {
			if ((rc = file_drain(r, fs)) != 0)
				return rc;
			fs->last_fd = fs->rd.fd;
		}
		/* Block for a slot only when nothing else is waiting. */
		rc = producer_acquire(r, &f, stop_at, fs->count > 0);
		if (rc == PRODUCER_ACQUIRE_FAILED)
			return CLI_EXIT_FAIL;
		if (rc == 1) {
			if (!o->drop) {
				fs->next = e; /* not taken: try again later */
				fs->have_next = true;
				break;
			}
			/* Dropped (counted by producer_acquire), and with it
			 * what it said was dropped before it. */
			file_republish_drops(r, fs, e.dropped_before);
			continue;
		}
		if (fs->passes == 0) {
			if (fs->have_prev && e.seq != fs->prev_seq + 1)
				fs->seq_gaps++;
			fs->have_prev = true;
			fs->prev_seq = e.seq;
			if (!fs->have_t0) {
				fs->t0 = e.timestamp_ns;
				fs->have_t0 = true;
			}
			fs->last_ts = e.timestamp_ns;
			fs->pass_frames++;
		}
		i = (fs->head + fs->count) % fs->cap;
		x = &fs->win[i];
		x->f = f;
		x->e = e;
		x->pass = fs->passes;
		x->done = false;
		/* O_DIRECT reads whole blocks (past `length` to the block's
		 * end, inside the slot); the page cache exact lengths. */
		x->len = (uint32_t)(fs->direct ? rb_rec_region_bytes(e.length) : e.length);
		fs->count++;
		if (x->len == 0) {
			x->done = true;
			continue;
		}
		rc = rio_read(&fs->io, fs->rd.fd, f.data, x->len, e.data_offset, i);
		if (rc != 0) {
			cli_error("%s: io_uring: %s", fs->rd.path, strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		fs->inflight++;
		fs->reads++;
	}
	if (rio_submit(&fs->io) != 0) {
		cli_error("%s: io_uring submit failed", fs->rd.path);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* When the frame at the head of the window may be published. */
static uint64_t
file_due(struct producer_run *r, struct file_source *fs, const struct pacer *pacer,
	 const struct file_read *x)
{
	if (r->src->p.rate_recorded)
		return r->start_ns + x->pass * fs->shift_ns + (x->e.timestamp_ns - fs->t0);
	if (pacer->enabled)
		return pacer_deadline(pacer, r->index);
	return 0;
}

/* Commits fs->commit[0..n): the head of the window. */
static int
file_publish(struct producer_run *r, struct file_source *fs, uint32_t n)
{
	int rc;

	if (n == 0)
		return 0;
	rc = rb_producer_commit_batch(r->prod, fs->commit, n);
	if (rc != 0) {
		cli_error("ring '%s': committing frames: %s", r->o->ring, rb_strerror(rc));
		r->end = "error";
		return CLI_EXIT_FAIL;
	}
	fs->head = (fs->head + n) % fs->cap;
	fs->count -= n;
	return 0;
}

/*
 * Publishes the in-order prefix of completed reads that are due. Returns 0
 * (with *wake the deadline of a frame read but not yet due, else 0) or an
 * exit status.
 */
static int
file_commit(struct producer_run *r, struct file_source *fs, const struct pacer *pacer,
	    bool hurry, uint64_t *wake)
{
	uint64_t now = cli_now_ns();
	uint32_t n = 0;
	int rc;

	*wake = 0;
	while (n < fs->count) {
		struct file_read *x = &fs->win[(fs->head + n) % fs->cap];
		uint64_t due;

		if (!x->done)
			break;
		due = hurry ? 0 : file_due(r, fs, pacer, x);
		if (due > now) {
			*wake = due;
			break;
		}
		if (due != 0)
			r->lag_ns = now - due;
		/* A frame whose bytes are not what the recorder wrote is
		 * never published: the frames before it go out, then the
		 * replay stops on it (docs/RECORDING.md, "Replay"). */
		if (!rb_rec_frame_intact(&fs->rd.h, &x->e, x->f.data)) {
			fs->damaged = true;
			fs->damaged_seq = x->e.seq;
			break;
		}
		/* Only a batch's first frame carries the drops before it
		 * (rb_producer_count_dropped): a frame that had some starts
		 * a batch of its own. */
		if (x->e.dropped_before != 0) {
			if ((rc = file_publish(r, fs, n)) != 0)
				return rc;
			n = 0;
			x = &fs->win[fs->head];
			file_republish_drops(r, fs, x->e.dropped_before);
			x->e.dropped_before = 0; /* once, if it waits again */
		}
		if (r->src->p.rate_recorded && due != 0 && now > due + FILE_LATE_NS) {
			fs->late_frames++;
			if (now - due > fs->late_ns_max)
				fs->late_ns_max = now - due;
		}
		x->f.length = x->e.length;
		x->f.timestamp_ns = r->src->p.restamp ? now
						      : x->e.timestamp_ns + x->pass * fs->shift_ns;
		/* The library marks the replay's first frame itself. */
		x->f.flags = x->e.flags & ~(RB_FRAME_STREAM_START | RB_FRAME_EOS);
		fs->commit[n++] = x->f;
		r->frames++;
		r->bytes += x->e.length;
		r->index++;
		fs->last_publish_ns = now;
		if (pacer->enabled && !hurry)
			break; /* the next deadline is index-based: look again */
	}
	if ((rc = file_publish(r, fs, n)) != 0)
		return rc;
	if (fs->damaged) {
		cli_error("%s: frame seq %" PRIu64 ": its bytes fail their checksum (damaged "
			  "recording); replay stopped before it, after %" PRIu64 " frames",
			  r->src->p.input, fs->damaged_seq, r->frames);
		r->end = "damaged";
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/*
 * behind_schedule of a replay paced with --rate RATE (producer_behind):
 * while it runs, the frames due by now that are not published yet, of
 * those the recording has (once it is read to its end, no more than the
 * frames read). A replay that published every frame it was to (the end of
 * the recording, --count) is judged by its last frame: the frames due by
 * the time it was published, beyond those published, i.e. how late the
 * replay ended, in frames and seconds of the rate asked. --rate recorded
 * follows the recording's time stamps, not a rate: there the frames behind
 * are those published more than FILE_LATE_NS after their recorded time,
 * and the seconds the latest of them was late by.
 */
static void
file_behind(struct producer_run *r, struct file_source *fs, const struct pacer *pacer,
	    uint64_t now, bool finished)
{
	uint64_t due;

	if (r->src->p.rate_recorded) {
		/* The schedule is the recording's own time line: what is
		 * behind is each frame published late, and by how much. */
		r->behind_frames = fs->late_frames;
		r->behind_seconds = (double)fs->late_ns_max / 1e9;
		return;
	}
	if (!pacer->enabled)
		return;
	if (!finished) {
		producer_behind(r, pacer, now);
		if (fs->eof && r->behind_frames > fs->count) {
			r->behind_frames = fs->count;
			r->behind_seconds = (double)fs->count * (double)pacer->period_ns / 1e9;
		}
		return;
	}
	due = fs->last_publish_ns != 0 ? pacer_due_by(pacer, fs->last_publish_ns) : 0;
	r->behind_frames = due > r->index ? due - r->index : 0;
	r->behind_seconds = (double)r->behind_frames * (double)pacer->period_ns / 1e9;
}

int
file_stream(struct producer_run *r)
{
	struct file_source *fs = file_state(r->src);
	uint64_t stop_at = 0, wake, now;
	struct pacer pacer;
	bool stopping = false;
	int rc;

	if ((rc = file_setup(r, fs)) != 0)
		return rc;
	r->start_ns = r->shown_ns = cli_now_ns();
	if (r->o->duration_ns != 0)
		stop_at = r->start_ns + r->o->duration_ns;
	pacer_init(&pacer, r->src->p.rate_recorded ? 0 : r->frames_per_second, r->start_ns);
	for (;;) {
		/* Stopping ends the reading, not the frames already read:
		 * every acquired slot is published (the library cannot give
		 * one back). */
		if (!stopping && producer_should_stop(r, stop_at))
			stopping = true;
		if (!stopping && (rc = file_fill(r, fs, stop_at)) != 0)
			return rc;
		if ((rc = file_commit(r, fs, &pacer, stopping, &wake)) != 0)
			return rc;
		if (fs->count == 0 && (stopping || fs->eof))
			break;
		now = cli_now_ns();
		file_behind(r, fs, &pacer, now, false);
		if (cli_status_due(&r->status, now))
			producer_show(r, now);
		if (fs->count > 0 && fs->win[fs->head].done && wake != 0) {
			/* Read and not due: sleep to its time (a signal cuts
			 * the sleep short; stopping publishes it at once). */
			cli_sleep_until(stop_at != 0 && stop_at < wake ? stop_at : wake);
		} else if (fs->inflight > 0) {
			if ((rc = file_reap(r, fs, true)) != 0)
				return rc;
		}
	}
	if (!stopping)
		r->end = "eof";
	/* Everything it was to publish, or stopped early (--duration, a
	 * signal: then judged like the other sources, at the end). */
	file_behind(r, fs, &pacer, cli_now_ns(),
		    fs->eof || (r->o->count != 0 && r->index >= r->o->count));
	/* Drops after the last frame (and those of trailing discarded
	 * descriptors) go with the stream's end marker. */
	if (fs->eof) {
		fs->recorded_tail = fs->drops_carry;
		file_republish_drops(r, fs, fs->drops_carry);
		fs->drops_carry = 0;
	}
	return CLI_EXIT_OK;
}

void
file_source_summary(const struct source *s, FILE *out)
{
	const struct file_source *fs = file_state(s);

	fprintf(out, "  file: %s: %" PRIu32 " file%s, %" PRIu64 " reads, io %s%s%s%s",
		s->p.input, fs->rd.parts, fs->rd.parts == 1 ? "" : "s", fs->reads,
		fs->io_path ? fs->io_path : "none", fs->fallback[0] ? " (" : "",
		fs->fallback, fs->fallback[0] ? ")" : "");
	if (fs->passes)
		fprintf(out, ", %" PRIu64 " passes", fs->passes + 1);
	if (fs->seq_gaps)
		fprintf(out, ", %" PRIu64 " gaps in the recorded seq (replayed gap-free)",
			fs->seq_gaps);
	if (fs->recorded_drops)
		fprintf(out, ", %" PRIu64 " frames dropped at the recorded producer "
			"(published again as drops)", fs->recorded_drops);
	if (!fs->rd.complete)
		fprintf(out, "; the recording %s", fs->rd.stop);
	fputc('\n', out);
}

void
file_source_json(const struct source *s, struct cli_json *j)
{
	const struct file_source *fs = file_state(s);

	cli_json_string(j, "input", s->p.input);
	cli_json_string(j, "io_path", fs->io_path ? fs->io_path : "none");
	if (fs->fallback[0])
		cli_json_string(j, "io_fallback", fs->fallback);
	else
		cli_json_null(j, "io_fallback");
	cli_json_u64(j, "files", fs->rd.parts);
	cli_json_u64(j, "reads", fs->reads);
	cli_json_u64(j, "passes", fs->passes + 1);
	cli_json_u64(j, "seq_gaps", fs->seq_gaps);
	cli_json_u64(j, "discarded", fs->discarded);
	cli_json_u64(j, "recorded_dropped", fs->recorded_drops);
	cli_json_u64(j, "recorded_dropped_after", fs->recorded_tail);
	cli_json_bool(j, "recording_complete", fs->rd.complete);
	cli_json_string(j, "recording_end", fs->rd.stop);
}

/* ---- --check ------------------------------------------------------------ */

struct file_check {
	uint64_t entries, frames, discarded, bytes, seq_gaps;
	uint64_t dropped;  /* at the producer: every dropped_before, dropped_after */
	uint64_t dropped_after;
	uint64_t damaged, first_damaged_seq;  /* frames failing their checksum */
	uint64_t first_seq, last_seq, first_ts, last_ts;
	uint32_t digest, data_digest;
};

/* The digests of docs/RECORDING.md: over every kept frame, in order. */
static void
file_check_frame(struct file_check *k, const struct rb_rec_entry *e, const void *data)
{
	uint8_t d[28];

	memcpy(d, &e->seq, 8);
	memcpy(d + 8, &e->length, 8);
	memcpy(d + 16, &e->timestamp_ns, 8);
	memcpy(d + 24, &e->flags, 4);
	k->digest = rb_rec_crc32c(k->digest, d, sizeof(d));
	k->digest = rb_rec_crc32c(k->digest, data, e->length);
	k->data_digest = rb_rec_crc32c(k->data_digest, &e->length, 8);
	k->data_digest = rb_rec_crc32c(k->data_digest, data, e->length);
	if (k->frames == 0) {
		k->first_seq = e->seq;
		k->first_ts = e->timestamp_ns;
	} else if (e->seq != k->last_seq + 1) {
		k->seq_gaps++;
	}
	k->last_seq = e->seq;
	k->last_ts = e->timestamp_ns;
	k->frames++;
	k->bytes += e->length;
}

static void
file_check_report(struct source *s, const struct file_check *k, bool valid, bool json)
{
	struct file_source *fs = file_state(s);
	const struct rb_rec_header *h = &fs->rd.h;
	char shape[128], id[24], dg[16], ddg[16], bytes[32];
	uint64_t dims = h->frame_bytes;

	if (h->type.elem == RB_ELEM_NONE)
		cli_format_shape(shape, sizeof(shape), &dims, 1);
	else
		cli_format_shape(shape, sizeof(shape), h->type.dims, h->type.ndim);
	snprintf(id, sizeof(id), "%016" PRIx64, h->recording_id);
	snprintf(dg, sizeof(dg), "%08" PRIx32, k->digest);
	snprintf(ddg, sizeof(ddg), "%08" PRIx32, k->data_digest);
	if (json) {
		struct cli_json j;

		cli_json_begin(&j, stdout);
		cli_json_string(&j, "program", "rb-producer");
		cli_json_string(&j, "check", s->p.input);
		cli_json_bool(&j, "valid", valid);
		cli_json_bool(&j, "complete", fs->rd.complete);
		cli_json_string(&j, "end", fs->rd.stop);
		cli_json_string(&j, "recording_id", id);
		cli_json_u64(&j, "files", fs->rd.parts);
		cli_json_u64(&j, "frame_bytes", h->frame_bytes);
		cli_json_string(&j, "elem", h->type.elem == RB_ELEM_NONE ? "bytes"
					    : rb_elem_name(h->type.elem));
		cli_json_string(&j, "shape", shape);
		cli_json_u64(&j, "frames", k->frames);
		cli_json_u64(&j, "discarded", k->discarded);
		cli_json_u64(&j, "bytes", k->bytes);
		if (k->frames) {
			cli_json_u64(&j, "first_seq", k->first_seq);
			cli_json_u64(&j, "last_seq", k->last_seq);
			cli_json_u64(&j, "first_timestamp_ns", k->first_ts);
			cli_json_u64(&j, "last_timestamp_ns", k->last_ts);
		} else {
			cli_json_null(&j, "first_seq");
			cli_json_null(&j, "last_seq");
			cli_json_null(&j, "first_timestamp_ns");
			cli_json_null(&j, "last_timestamp_ns");
		}
		cli_json_u64(&j, "seq_gaps", k->seq_gaps);
		cli_json_u64(&j, "dropped_at_producer", k->dropped);
		cli_json_u64(&j, "dropped_after", k->dropped_after);
		if (rb_rec_has_utc(h)) {
			cli_json_u64(&j, "anchor_mono_ns", h->anchor_mono_ns);
			cli_json_u64(&j, "anchor_real_ns", h->anchor_real_ns);
		} else {
			cli_json_null(&j, "anchor_mono_ns");
			cli_json_null(&j, "anchor_real_ns");
		}
		cli_json_string(&j, "digest", dg);
		cli_json_string(&j, "data_digest", ddg);
		cli_json_u64(&j, "stream_header_bytes", fs->rd.h.text_bytes);
		cli_json_u64(&j, "format_version", fs->rd.h.version);
		cli_json_bool(&j, "frame_checksums", rb_rec_has_frame_crc(&fs->rd.h));
		cli_json_u64(&j, "damaged_frames", k->damaged);
		if (k->damaged)
			cli_json_u64(&j, "first_damaged_seq", k->first_damaged_seq);
		else
			cli_json_null(&j, "first_damaged_seq");
		cli_json_end(&j);
		return;
	}
	printf("%s: %s recording: %" PRIu64 " frames (%s) of %s %s in %" PRIu32
	       " file%s", s->p.input, !valid ? "damaged" : fs->rd.complete ? "complete"
	       : "truncated", k->frames, cli_format_si(bytes, sizeof(bytes), (double)k->bytes, "B"),
	       h->type.elem == RB_ELEM_NONE ? "bytes" : rb_elem_name(h->type.elem), shape,
	       fs->rd.parts, fs->rd.parts == 1 ? "" : "s");
	if (k->frames)
		printf(", seq %" PRIu64 "..%" PRIu64, k->first_seq, k->last_seq);
	printf("; digest %s\n", dg);
	if (!fs->rd.complete)
		printf("  ends: %s\n", fs->rd.stop);
	if (k->discarded || k->seq_gaps)
		printf("  %" PRIu64 " discarded descriptors, %" PRIu64 " gaps in seq\n",
		       k->discarded, k->seq_gaps);
	if (k->dropped)
		printf("  %" PRIu64 " frames dropped at the producer\n", k->dropped);
	if (k->damaged)
		printf("  %" PRIu64 " frame%s checksum, the first seq %" PRIu64 "\n",
		       k->damaged, k->damaged == 1 ? " fails its" : "s fail their", k->first_damaged_seq);
	if (!rb_rec_has_frame_crc(h))
		printf("  format version %" PRIu32 ": frames carry no checksum, not checked\n",
		       h->version);
}

int
file_check(struct source *s, bool json)
{
	struct file_source *fs = file_state(s);
	struct file_check k;
	struct rb_rec_entry e;
	uint8_t *buf = NULL;
	uint64_t buf_bytes = 0;
	bool valid = true;
	int rc;

	memset(&k, 0, sizeof(k));
	while ((rc = rb_rec_reader_next(&fs->rd, &e)) == 1) {
		uint32_t len = (uint32_t)(fs->rd.direct ? rb_rec_region_bytes(e.length) : e.length);

		k.entries++;
		k.dropped += e.dropped_before;
		if (e.rflags & RB_REC_ENTRY_DISCARDED) {
			k.discarded++;
			continue;
		}
		/* Sized by the frames there are (the reader has checked that
		 * each lies inside the file), never by a header field. */
		if (len > buf_bytes) {
			free(buf);
			buf_bytes = rb_rec_region_bytes(len);
			buf = aligned_alloc(RB_REC_PAGE, buf_bytes);
			if (buf == NULL) {
				cli_error("%s: %" PRIu64 "-byte frame: out of memory", fs->rd.path,
					  e.length);
				return CLI_EXIT_FAIL;
			}
		}
		rc = len ? rio_read_sync(fs->rd.meta, fs->rd.fd, buf, len, e.data_offset) : 0;
		if (rc >= 0 && (uint64_t)rc < e.length)
			rc = -ENODATA;
		if (rc < 0)
			break;
		if (!rb_rec_frame_intact(&fs->rd.ph, &e, buf) && k.damaged++ == 0)
			k.first_damaged_seq = e.seq;
		file_check_frame(&k, &e, buf);
	}
	free(buf);
	if (rc < 0) {
		cli_error("%s: %s", fs->rd.path, strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	if (fs->rd.summary_ok) {
		k.dropped_after = fs->rd.sum.dropped_after;
		k.dropped += k.dropped_after;
	}
	/* A torn tail is what a crash leaves, and still valid; a descriptor
	 * pointing outside the file or a summary promising more is not. */
	if (strncmp(fs->rd.stop, "damaged", 7) == 0 || k.damaged != 0)
		valid = false;
	file_check_report(s, &k, valid, json);
	return valid ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
