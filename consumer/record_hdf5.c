/*
 * rb-consumer record --format hdf5: frames straight into an HDF5 file, in
 * the layout rb-ctl export writes (docs/RECORDING.md, "Export": the group
 * stream0 with frames, descriptors and the stream header as attributes),
 * through the same writer (tools/ctl/export/hdf5.c).
 *
 * For users who want HDF5 at once, not for the fastest path: each frame is
 * copied from its slot into the writer's chunk buffer and written through
 * libhdf5 and the page cache, where `record` writes the slots themselves
 * with O_DIRECT. Its rate against `record` is in docs/RECORDING.md. A frame
 * is released once it is copied, so the ring never waits on a write: a
 * chunk's write (1 MiB) holds up only the consumer.
 *
 * A lossy consumer's frame overwritten while it was copied is left out
 * (the library counts it lost at release), so the file holds only frames
 * that are what the producer wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consumer.h"
#include "export.h"

struct record_hdf5 {
	const char *output;
	bool fsync, lossy;
	struct export_writer *w;
	struct rb_ring *ring;
	struct export_source s;     /* what the writer needs: type, counts */
	bool begun, failed;
	char text[STREAM_HEADER_MAX + 1];
	uint64_t first_ns, end_ns;  /* first frame, file closed */
	uint64_t lost;              /* overwritten while copied (lossy) */
};

static int
record_hdf5_init(void *state, const struct consumer_options *o)
{
	struct record_hdf5 *r = state;
	struct export_options eo = {.compress = 0, .force = true};
	char why[EXPORT_WHY_MAX] = "";
	int rc;

	if (o->max_file_size != 0 || o->queue_depth != 0) {
		cli_error("record: %s: not with --format hdf5 (one file, written through libhdf5)",
			  o->max_file_size != 0 ? "--max-file-size" : "--queue-depth");
		return CLI_EXIT_USAGE;
	}
	r->output = o->output;
	r->fsync = o->fsync;
	r->lossy = o->lossy;
	/* An existing file is replaced, as by record. */
	rc = export_hdf5.open(&r->w, o->output, 1, &eo, why, sizeof(why));
	if (rc != 0) {
		cli_error("record: %s: %s", o->output, why[0] ? why : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static int
record_hdf5_ring(void *state, struct rb_ring *ring)
{
	struct record_hdf5 *r = state;
	struct export_source *s = &r->s;
	uint64_t elems = 1;
	uint32_t i;

	r->ring = ring;
	s->path = r->output;
	s->type = *rb_ring_frame_type(ring);
	s->frame_bytes = rb_ring_frame_bytes(ring);
	for (i = 0; i < s->type.ndim; i++)
		elems *= s->type.dims[i];
	s->row_bytes = s->type.elem != RB_ELEM_NONE ? elems * rb_elem_size(s->type.elem)
						    : s->frame_bytes;
	s->text = r->text;
	s->complete = true;
	snprintf(s->stop, sizeof(s->stop), "end");
	return 0;
}

/* The writer's stream begins with the first frame f: the header of its
 * own stream (not the ring's newest, for a consumer lagging behind a
 * stream boundary), as record takes it. */
static int
record_hdf5_begin(struct record_hdf5 *r, struct rb_consumer *c, const struct rb_frame *f)
{
	char why[EXPORT_WHY_MAX] = "";
	struct rb_stream_info info;
	int rc;

	rc = rb_consumer_frame_header(c, f, r->text, sizeof(r->text), &info);
	if (rc == RB_E_HEADER_GONE)
		cli_note("record: the header of the stream of frame %" PRIu64 " was overwritten "
			 "by newer streams before it was read: recorded without one", f->seq);
	r->s.stream_start_seq = rc < 0 ? f->seq : info.start_seq;
	if (rc < 0)
		r->text[0] = '\0'; /* gone, or longer than a consumer keeps: left out */
	rc = export_hdf5.begin(r->w, 0, &r->s, why, sizeof(why));
	if (rc != 0) {
		cli_error("record: %s: %s", r->output, why[0] ? why : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	r->begun = true;
	r->first_ns = cli_now_ns();
	return 0;
}

/*
 * Frame UTC from the ring's clock anchor (FORMAT.md §5.22), as record
 * takes it for its recordings: a frame's utc in the file is then exactly
 * what a live consumer computes for it (rb_consumer_frame_utc_ns). The
 * stream's start stays the header's start_time when it has one.
 */
static void
record_hdf5_anchor(struct record_hdf5 *r, const struct export_frame *first)
{
	struct export_utc *u = &r->s.utc;
	int64_t offset = rb_ring_clock_offset(r->ring, NULL);

	if (offset == 0)
		return; /* no anchor: what export_stream_utc_start found */
	u->frames_known = true;
	u->offset_ns = offset;
	if (u->start_known) {
		u->source = "stream header start_time; frames by the ring's UTC anchor";
		return;
	}
	u->source = "the ring's UTC anchor";
	if ((first->flags & RB_FRAME_STREAM_START) && first->seq == r->s.stream_start_seq) {
		u->start_known = true;
		u->start_ns = (int64_t)first->timestamp_ns + offset;
	}
}

static int
record_hdf5_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
		   uint32_t n)
{
	struct record_hdf5 *r = state;
	struct export_source *s = &r->s;
	char why[EXPORT_WHY_MAX] = "";
	struct export_frame f;
	uint32_t i;
	int rc;

	if (!r->begun && n > 0 && (rc = record_hdf5_begin(r, c, &frames[0])) != 0)
		return rc;
	for (i = 0; i < n; i++) {
		const struct rb_frame *x = &frames[i];
		uint8_t *row = export_hdf5.slot(r->w);
		uint64_t len = frame_abandoned(x) ? 0 : x->length;

		if (len > s->row_bytes) {
			cli_error("record: frame seq %" PRIu64 ": %" PRIu64 " bytes, more than "
				  "its type's %" PRIu64, x->seq, len, s->row_bytes);
			r->failed = true;
			return CLI_EXIT_FAIL;
		}
		memcpy(row, x->data, len);
		memset(row + len, 0, s->row_bytes - len);
		if (r->lossy && rb_consumer_check(c, x) != 0) {
			r->lost++;
			continue;
		}
		f.seq = x->seq;
		f.timestamp_ns = x->timestamp_ns;
		f.length = len;
		f.flags = x->flags;
		f.row = row;
		if (s->frames == 0) {
			export_stream_utc_start(s, &f, &s->utc);
			record_hdf5_anchor(r, &f);
		}
		f.utc_ns = s->utc.frames_known ? (int64_t)f.timestamp_ns + s->utc.offset_ns : 0;
		rc = export_hdf5.frame(r->w, &f, why, sizeof(why));
		if (rc != 0) {
			cli_error("record: %s: %s", r->output, why[0] ? why : strerror(-rc));
			r->failed = true;
			return CLI_EXIT_FAIL;
		}
		if (s->frames != 0 && f.seq > s->last_seq + 1)
			s->seq_gaps += f.seq - s->last_seq - 1;
		if (s->frames++ == 0)
			s->first_seq = f.seq;
		s->last_seq = f.seq;
		s->bytes += len;
		s->incomplete += (f.flags & RB_FRAME_INCOMPLETE) != 0;
		s->abandoned += (f.flags & RB_FRAME_ABANDONED) != 0;
		s->short_frames += len < s->row_bytes;
	}
	return 0;
}

/* Closes the file: the stream's counts, the datasets' last chunk, fsync. */
static int
record_hdf5_finish(void *state, struct rb_consumer *c, bool held_released)
{
	struct record_hdf5 *r = state;
	char why[EXPORT_WHY_MAX] = "";
	int rc = 0, fd;

	(void)c;
	(void)held_released;
	if (r->w == NULL)
		return 0;
	if (!r->begun && (rc = export_hdf5.begin(r->w, 0, &r->s, why, sizeof(why))) == 0)
		r->begun = true;
	if (r->failed)
		snprintf(r->s.stop, sizeof(r->s.stop), "a write failed");
	r->s.complete = !r->failed;
	if (rc == 0)
		rc = export_hdf5.end(r->w, &r->s, why, sizeof(why));
	if (export_hdf5.close(r->w, rc == 0 ? why : (char[EXPORT_WHY_MAX]){0},
			      EXPORT_WHY_MAX) != 0 && rc == 0)
		rc = -EIO;
	r->w = NULL;
	if (rc == 0 && r->fsync) {
		fd = open(r->output, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fsync(fd) != 0) {
			rc = -errno;
			snprintf(why, sizeof(why), "fsync: %s", strerror(errno));
		}
		if (fd >= 0)
			close(fd);
	}
	r->end_ns = cli_now_ns();
	if (rc != 0) {
		cli_error("record: %s: %s", r->output, why[0] ? why : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static double
record_hdf5_seconds(const struct record_hdf5 *r)
{
	return r->begun && r->end_ns > r->first_ns ? (double)(r->end_ns - r->first_ns) / 1e9 : 0;
}

static void
record_hdf5_summary(void *state, FILE *out)
{
	struct record_hdf5 *r = state;
	double secs = record_hdf5_seconds(r);
	char rate[32];

	cli_format_si(rate, sizeof(rate),
		      secs > 0 ? (double)(r->s.frames * r->s.row_bytes) / secs : 0, "B/s");
	fprintf(out, "  record: %s: %" PRIu64 " frames in HDF5 (stream0/frames), %s written; "
		"io buffered (libhdf5)\n", r->output, r->s.frames, rate);
	if (r->lost)
		fprintf(out, "  record: %" PRIu64 " frames overwritten while copied, left out\n",
			r->lost);
}

static void
record_hdf5_json(void *state, struct cli_json *j)
{
	struct record_hdf5 *r = state;
	double secs = record_hdf5_seconds(r);

	cli_json_string(j, "output", r->output);
	cli_json_string(j, "format", "hdf5");
	cli_json_string(j, "io_path", "buffered");
	cli_json_u64(j, "recorded_frames", r->s.frames);
	cli_json_u64(j, "recorded_bytes", r->s.bytes);
	cli_json_u64(j, "discarded", r->lost);
	cli_json_u64(j, "abandoned_entries", r->s.abandoned);
	cli_json_double(j, "record_seconds", secs);
	cli_json_double(j, "record_bytes_per_second",
			secs > 0 ? (double)(r->s.frames * r->s.row_bytes) / secs : 0);
	cli_json_bool(j, "fsync", r->fsync);
}

static void
record_hdf5_fini(void *state)
{
	struct record_hdf5 *r = state;

	if (r->w != NULL)
		export_hdf5.close(r->w, (char[EXPORT_WHY_MAX]){0}, EXPORT_WHY_MAX);
	r->w = NULL;
}

const struct analysis analysis_record_hdf5 = {
	.name = "record-hdf5",
	.state_size = sizeof(struct record_hdf5),
	.init = record_hdf5_init,
	.ring = record_hdf5_ring,
	.frames = record_hdf5_frames,
	.finish = record_hdf5_finish,
	.summary = record_hdf5_summary,
	.json = record_hdf5_json,
	.fini = record_hdf5_fini,
};
