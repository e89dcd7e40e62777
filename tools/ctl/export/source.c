/*
 * A recording as the exporter sees it: frames in order, each checked
 * against its checksum, and a clear word on where the walk stopped.
 *
 * This is the exporter's only use of the recording reader
 * (<ringbuf/recording.h>): the walk over descriptor pages is the reader's
 * (the rules of docs/RECORDING.md, "Reading", the same as --check), the
 * frame bytes are read here with pread from the part the reader is on.
 * Files are read through the page cache: an export reads a finished
 * recording, not one being written (that needs O_DIRECT, see "Reading").
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "export.h"
#include <ringbuf/recording.h>

static const char *
source_open_error(int rc)
{
	switch (rc) {
	case -EMEDIUMTYPE:
		return "not a recording";
	case -EPROTONOSUPPORT:
		return "recording format version not supported (this rb-ctl reads versions 1 and 2)";
	case -EBADMSG:
		return "damaged recording header";
	default:
		return strerror(-rc);
	}
}

int
export_source_open(struct export_source *s, const char *path, char *why, size_t size)
{
	struct rb_rec_reader *rd = calloc(1, sizeof(*rd));
	uint64_t elems = 1;
	uint32_t i;
	int rc;

	memset(s, 0, sizeof(*s));
	s->path = path;
	if (rd == NULL)
		return -ENOMEM;
	rc = rb_rec_reader_open(rd, path, false);
	if (rc != 0) {
		snprintf(why, size, "%s", source_open_error(rc));
		rb_rec_reader_close(rd);
		free(rd);
		return rc;
	}
	s->rd = rd;
	s->type = rd->h.type;
	s->frame_bytes = rd->h.frame_bytes;
	s->stream_start_seq = rd->h.stream_start_seq;
	s->text = rd->text;
	/* The header's bounds (rb_rec_header_decode) keep the type's bytes at
	 * most frame_bytes, and frame_bytes at most 1 GiB. */
	for (i = 0; i < s->type.ndim; i++)
		elems *= s->type.dims[i];
	s->row_bytes = s->type.elem != RB_ELEM_NONE ? elems * rb_elem_size(s->type.elem)
						    : s->frame_bytes;
	s->row = malloc(s->row_bytes);
	if (s->row == NULL) {
		snprintf(why, size, "%" PRIu64 "-byte frames: out of memory", s->row_bytes);
		export_source_close(s);
		return -ENOMEM;
	}
	s->complete = true;
	snprintf(s->stop, sizeof(s->stop), "end");
	return 0;
}

/* Ends the walk on damage: what was read before is the valid prefix. */
static int CLI_PRINTF(2, 3)
source_damaged(struct export_source *s, const char *fmt, ...)
{
	va_list ap;

	s->ended = true;
	s->damaged = true;
	s->complete = false;
	va_start(ap, fmt);
	vsnprintf(s->stop, sizeof(s->stop), fmt, ap);
	va_end(ap);
	return 0;
}

int
export_source_next(struct export_source *s, struct export_frame *f, uint8_t *dest)
{
	uint8_t *row = dest != NULL ? dest : s->row;
	struct rb_rec_reader *rd = s->rd;
	struct rb_rec_entry e;
	ssize_t got;
	int rc;

	if (s->ended)
		return 0;
	do {
		rc = rb_rec_reader_next(rd, &e);
		if (rc < 0)
			return source_damaged(s, "read error: %s", strerror(-rc));
		if (rc == 0) {
			s->ended = true;
			s->complete = rd->complete;
			/* A torn tail is what a crash leaves, and still valid;
			 * a descriptor pointing outside the file, a summary
			 * promising more, a missing part are not (--check's
			 * rule, docs/RECORDING.md "Reading"). */
			s->damaged = !rd->complete && strncmp(rd->stop, "not closed", 10) != 0;
			snprintf(s->stop, sizeof(s->stop), "%s", rd->stop);
			return 0;
		}
		if (e.rflags & RB_REC_ENTRY_DISCARDED)
			s->discarded++;
	} while (e.rflags & RB_REC_ENTRY_DISCARDED);
	if (e.length > s->row_bytes)
		return source_damaged(s, "frame seq %" PRIu64 ": %" PRIu64 " bytes, more than "
				      "its type's %" PRIu64, e.seq, e.length, s->row_bytes);
	got = e.length ? pread(rd->fd, row, e.length, (off_t)e.data_offset) : 0;
	if (got < 0)
		return source_damaged(s, "frame seq %" PRIu64 ": %s", e.seq, strerror(errno));
	if ((uint64_t)got < e.length)
		return source_damaged(s, "frame seq %" PRIu64 ": the file ends inside it", e.seq);
	if (!rb_rec_frame_intact(&rd->ph, &e, row))
		return source_damaged(s, "frame seq %" PRIu64 ": its bytes fail their checksum",
				      e.seq);
	memset(row + e.length, 0, s->row_bytes - e.length);
	if (s->have_seq && e.seq > s->last_seq + 1)
		s->seq_gaps += e.seq - s->last_seq - 1;
	if (!s->have_seq)
		s->first_seq = e.seq;
	s->have_seq = true;
	s->last_seq = e.seq;
	f->seq = e.seq;
	f->timestamp_ns = e.timestamp_ns;
	f->length = e.length;
	f->flags = e.flags;
	f->row = row;
	if (s->frames == 0)
		export_stream_utc_start(s, f, &s->utc);
	f->utc_ns = s->utc.frames_known ? (int64_t)f->timestamp_ns + s->utc.offset_ns : 0;
	s->frames++;
	s->bytes += e.length;
	s->incomplete += (e.flags & RB_FRAME_INCOMPLETE) != 0;
	s->abandoned += (e.flags & RB_FRAME_ABANDONED) != 0;
	s->short_frames += e.length < s->row_bytes;
	return 1;
}

void
export_source_close(struct export_source *s)
{
	if (s->rd != NULL) {
		rb_rec_reader_close(s->rd);
		free(s->rd);
	}
	free(s->row);
	s->rd = NULL;
	s->row = NULL;
	s->text = NULL;
}

/* "2024-05-01T12:00:00.123Z" (cli_utc_iso8601's form, fraction optional). */
static bool
source_parse_utc(const char *text, int64_t *ns)
{
	struct tm tm;
	const char *p;
	char *end;
	int64_t frac = 0, scale = 1000000000;

	memset(&tm, 0, sizeof(tm));
	p = strptime(text, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return false;
	if (*p == '.') {
		for (p++, end = (char *)p; *end >= '0' && *end <= '9'; end++)
			if (scale > 1) {
				scale /= 10;
				frac += (*end - '0') * scale;
			}
		p = end;
	}
	if (strcmp(p, "Z") != 0)
		return false;
	*ns = (int64_t)timegm(&tm) * 1000000000 + frac;
	return true;
}

/*
 * What recordings hold today: the stream header's start_time=, the UTC
 * at which rb-producer began the stream (taken just before it, to the
 * millisecond), and CLOCK_MONOTONIC time stamps. So the stream's start is
 * known from start_time; a frame's UTC only when the recording holds the
 * stream's first frame (RB_FRAME_STREAM_START): its time stamp is then
 * the stream's start on the monotonic clock, and the two clocks are tied
 * by that one pair. A recording that begins mid-stream gets no frame UTC
 * (0). A recording of format version 3 or later carries the stream's UTC
 * anchor: that replaces both.
 */
void
export_stream_utc_start(const struct export_source *s, const struct export_frame *first,
			struct export_utc *u)
{
	char value[64];

	const struct rb_rec_reader *rd = s->rd;
	bool anchored = rd != NULL && rb_rec_has_utc(&rd->ph);

	memset(u, 0, sizeof(*u));
	u->source = "none";
	/* Version 3 on: the stream's own anchor ties every frame's time stamp
	 * to UTC, whatever the recording's first frame is. */
	if (anchored) {
		u->frames_known = true;
		u->offset_ns = (int64_t)rd->ph.anchor_real_ns - (int64_t)rd->ph.anchor_mono_ns;
		u->source = "recording's UTC anchor";
	}
	/* The stream's start (UTC_START) is the producer's start_time when it
	 * wrote one: a recording begun mid-stream has no frame at the start. */
	if (cli_header_get(s->text, "start_time", value, sizeof(value)) &&
	    source_parse_utc(value, &u->start_ns)) {
		u->start_known = true;
		if (anchored) {
			u->source = "stream header start_time; frames by the recording's UTC anchor";
		} else if (first != NULL && (first->flags & RB_FRAME_STREAM_START) &&
			   first->seq == s->stream_start_seq) {
			u->frames_known = true;
			u->offset_ns = u->start_ns - (int64_t)first->timestamp_ns;
			u->source = "stream header start_time, at the first frame's time stamp";
		} else {
			u->source = "stream header start_time";
		}
	} else if (anchored && first != NULL && (first->flags & RB_FRAME_STREAM_START) &&
		   first->seq == s->stream_start_seq) {
		u->start_known = true;
		u->start_ns = (int64_t)first->timestamp_ns + u->offset_ns;
	}
}
