/*
 * The record analysis: the ring's frames to a file, in the recording
 * format of docs/RECORDING.md, written with io_uring straight from the
 * ring's slots. No byte of frame data is copied in user space.
 *
 * Data path. The slot area is registered with io_uring as fixed buffers
 * (rio_register), the file is opened with O_DIRECT, and every frame is one
 * write_fixed of its slot: round_up(length, 4096) bytes to a 4096-aligned
 * offset. Up to --queue-depth writes are in flight. Where that cannot be
 * done the recorder says so and falls back, never to a copy:
 *   direct+fixed    O_DIRECT, registered slots (the goal)
 *   direct          registration refused (RLIMIT_MEMLOCK): the kernel pins
 *                   the slot's pages per write
 *   buffered+fixed  O_DIRECT impossible (slots not 4096-aligned, file system
 *                   refusing it, --buffered): writes of exactly `length`
 *                   bytes through the page cache
 *   buffered        both of the above
 *   pwrite[+direct] io_uring refused (ENOSYS, EPERM): pwrite(2) from the slot
 *
 * Release order. Writes complete in any order, but a lossless consumer
 * hands frames back in sequence order. Frames wait in `pending` (a window
 * as long as the ring, in acquire order) until every frame before them is
 * written; then the in-order prefix gets its descriptors and is released
 * in one batch.
 *
 * Descriptors. Each group of RB_REC_PAGE_ENTRIES frames has a descriptor page
 * in front of its data. The page is written (empty) when the group opens,
 * which allocates its blocks before the data behind it, and rewritten with
 * the in-order prefix's descriptors as frames complete: a descriptor
 * reaches the file only after its frame's bytes did. At most one write per
 * page is in flight (two writes of one block could land in either order),
 * from a copy of the page so the next descriptors can be added meanwhile.
 * A killed recorder thus leaves a file that reads back whole up to the
 * last descriptor written; a write error (a full disk) ends the recording
 * the same way, with a summary saying why.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "consumer.h"
#include <ringbuf/recording.h>
#include "rio.h" /* the recording module's private I/O engine */

#define RECORD_DEFAULT_DEPTH 16u
/* Descriptor pages being written at once: the group being filled and the
 * ones before it whose last writes are still on their way. */
#define RECORD_GROUPS 4u
/* File blocks are allocated this much at a time, ahead of the writes. */
#define RECORD_PREALLOC (64ull << 20)
/* user_data: what completed, and which one. */
#define TAG_DATA (1ull << 56)
#define TAG_PAGE (2ull << 56)
#define TAG_ALLOC (3ull << 56)
#define TAG_KIND(t) ((t) & (0xffull << 56))
#define TAG_INDEX(t) ((t) & ((1ull << 56) - 1))

enum pending_state {
	PENDING_INFLIGHT,
	PENDING_DONE,
	PENDING_FAILED,
};

/* A frame between acquire and release. */
struct pending {
	struct rb_frame f;
	uint64_t offset;      /* of its data region */
	uint32_t len;         /* bytes of its write */
	uint32_t written;     /* of them, so far (short writes continue) */
	uint32_t group;       /* tracker index */
	enum pending_state state;
};

/* A descriptor page in the making. */
struct group {
	bool used;
	uint64_t number;      /* group number in the part */
	uint64_t offset;      /* of the page */
	uint64_t alloc_end;   /* just past its last data region so far */
	uint32_t assigned;    /* frames given a region in this group */
	struct rb_rec_page *page;/* the descriptors so far */
	struct rb_rec_page *wbuf;/* the copy being written */
	bool inflight;
	bool ever_written;
	bool failed;          /* its write failed: not tried again */
	uint32_t writing;     /* count of the write in flight */
	uint32_t written;     /* count of the last completed write */
};

struct record {
	/* Options. */
	const char *output;
	uint64_t max_file_size; /* 0: one file */
	bool fsync;
	bool lossy;
	bool want_direct;
	unsigned depth;
	/* The ring. */
	struct rb_ring *ring;
	uint8_t *slots;
	uint64_t slot_stride;
	uint32_t slot_count;
	uint64_t frame_bytes;
	struct rb_frame_type type;
	bool type_known;
	/* I/O. */
	struct rio io;
	bool io_ready;
	bool direct;
	char fallback[160];   /* why not direct+fixed, "" if it is */
	struct rio_done *done;
	/* The file being written. */
	char path[4096 + 8];
	int fd;
	uint32_t part;
	uint8_t *hbuf;        /* the file header (aligned) */
	uint32_t header_bytes;
	char *text;
	uint32_t text_bytes;
	uint64_t recording_id;
	uint64_t stream_start_seq;
	bool stream_known;        /* stream_start_seq is the ring's word */
	uint64_t anchor_mono_ns;  /* the stream's UTC anchor (record_utc_anchor) */
	uint64_t anchor_real_ns;
	uint64_t pos;         /* next free offset */
	bool prealloc;        /* the file system takes fallocate */
	bool prealloc_inflight;
	uint64_t prealloc_end;  /* blocks allocated up to here */
	uint64_t prealloc_len;  /* of the request in flight */
	uint64_t part_entries;
	uint64_t part_first_index;
	struct rb_rec_summary sum;
	uint64_t next_group;  /* number of the next group in this part */
	int current;          /* tracker of the group being filled, -1 none */
	struct group groups[RECORD_GROUPS];
	/* Frames between acquire and release, in order. */
	struct pending *pending;
	struct rb_frame *release;
	uint32_t head, count;
	/* Progress and results. */
	bool opened;
	bool stopping;        /* a new stream began: no more frames */
	bool no_release;      /* the library took the held frames back */
	int error;            /* first write error (-errno) */
	bool reported;
	uint64_t index;       /* entries so far, all parts */
	uint64_t frames;      /* recorded intact */
	uint64_t abandoned;   /* placeholders of a dead producer's frames */
	uint64_t discarded;
	uint64_t dropped_seen;  /* at the producer, in the frames handed to us */
	uint64_t dropped_after; /* at the producer after the last frame */
	uint64_t data_bytes;
	uint64_t file_bytes;  /* all parts, headers and pages included */
	uint64_t writes;
	uint32_t data_inflight;
	uint64_t page_writes;
	uint64_t short_writes;
	uint32_t files;
	uint64_t start_ns, end_ns;
};

static int
record_init(void *state, const struct consumer_options *o)
{
	struct record *r = state;
	char dir[4096];
	const char *slash = strrchr(o->output, '/');

	/* Say now, not at the first frame, that the file cannot be made
	 * there (the file itself is made when the stream's header is known). */
	if (slash == NULL)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == o->output)
		snprintf(dir, sizeof(dir), "/");
	else
		snprintf(dir, sizeof(dir), "%.*s", (int)(slash - o->output), o->output);
	if (access(dir, W_OK | X_OK) != 0) {
		cli_error("%s: %s", o->output, strerror(errno));
		return CLI_EXIT_FAIL;
	}

	r->output = o->output;
	r->max_file_size = o->max_file_size;
	r->fsync = o->fsync;
	r->lossy = o->lossy;
	r->want_direct = !o->buffered;
	r->depth = o->queue_depth ? o->queue_depth : RECORD_DEFAULT_DEPTH;
	r->fd = -1;
	r->current = -1;
	r->prealloc = true;
	return 0;
}

static void
record_fallback(struct record *r, const char *why, int code)
{
	rio_fallback_note(r->fallback, sizeof(r->fallback), why, code);
}

/* The ring is open: size the windows, set up io_uring, register slots. */
static int
record_ring(void *state, struct rb_ring *ring)
{
	struct record *r = state;
	uint32_t i;
	int rc;

	r->ring = ring;
	r->slots = rb_ring_slots(ring);
	r->slot_stride = rb_ring_slot_stride(ring);
	r->slot_count = rb_ring_slot_count(ring);
	r->frame_bytes = rb_ring_frame_bytes(ring);
	if (r->frame_bytes > RB_REC_FRAME_MAX) {
		cli_error("record: %" PRIu64 "-byte frames: at most 1 GiB per frame",
			  r->frame_bytes);
		return CLI_EXIT_FAIL;
	}
	if (r->depth > r->slot_count)
		r->depth = r->slot_count;
	r->pending = calloc(r->slot_count, sizeof(*r->pending));
	r->release = calloc(r->slot_count, sizeof(*r->release));
	r->done = calloc(r->depth + RECORD_GROUPS + 2, sizeof(*r->done));
	if (r->pending == NULL || r->release == NULL || r->done == NULL)
		goto nomem;
	for (i = 0; i < RECORD_GROUPS; i++) {
		r->groups[i].page = aligned_alloc(RB_REC_PAGE, RB_REC_PAGE);
		r->groups[i].wbuf = aligned_alloc(RB_REC_PAGE, RB_REC_PAGE);
		if (r->groups[i].page == NULL || r->groups[i].wbuf == NULL)
			goto nomem;
	}
	if ((rc = rio_init(&r->io, r->depth + RECORD_GROUPS + 2)) != 0) {
		char why[320];

		rio_init_error(why, sizeof(why), rc);
		cli_error("record: %s", why);
		return CLI_EXIT_FAIL;
	}
	r->io_ready = true;
	if (!r->io.uring_ok)
		record_fallback(r, "io_uring refused", r->io.uring_error);
	/* O_DIRECT moves whole 4 KiB blocks from 4 KiB-aligned memory: every
	 * slot must start on one and hold its frame's last block whole. */
	r->direct = r->want_direct;
	if (!r->want_direct) {
		record_fallback(r, "--buffered", 0);
	} else if (r->slot_stride % RB_REC_PAGE != 0 || (uintptr_t)r->slots % RB_REC_PAGE != 0) {
		char why[96];

		snprintf(why, sizeof(why), "O_DIRECT impossible: slot stride %" PRIu64
			 " is not a multiple of 4096", r->slot_stride);
		record_fallback(r, why, 0);
		r->direct = false;
	}
	if (r->io.uring_ok) {
		rc = rio_register(&r->io, r->slots, (uint64_t)r->slot_count * r->slot_stride,
				  r->slot_stride);
		if (rc != 0)
			record_fallback(r, rc == -ENOMEM ? "buffer registration refused "
					"(RLIMIT_MEMLOCK)" : "buffer registration refused", rc);
	}
	return 0;
nomem:
	cli_error("record: out of memory");
	return CLI_EXIT_FAIL;
}

static void
record_stream(void *state, const struct stream_info *s)
{
	struct record *r = state;

	if (r->type_known)
		return;
	/* The ring's own type if it has one; a type read from the header
	 * text is the header's business and travels with the text. */
	if (strcmp(s->type_from, "ring") == 0)
		r->type = s->type;
	else
		memset(&r->type, 0, sizeof(r->type));
	r->type_known = true;
}

/* Reports the first write error once, naming the file. */
static void
record_fail(struct record *r, int code)
{
	if (r->error == 0)
		r->error = code;
	if (!r->reported) {
		cli_error("%s: %s", r->path, strerror(-r->error));
		r->reported = true;
	}
}

static uint64_t
record_random_id(void)
{
	uint64_t id = 0;

	if (getrandom(&id, sizeof(id), GRND_NONBLOCK) != (ssize_t)sizeof(id))
		id = cli_now_ns() ^ ((uint64_t)getpid() << 32);
	return id | 1; /* never 0: a zeroed page must not match */
}

/*
 * The recording's UTC anchor is the ring's (FORMAT.md §5.22): its
 * clock_offset_ns, as it stands when the recording starts, paired with the
 * CLOCK_MONOTONIC instant it was measured at. So a recorded frame's UTC,
 * timestamp + anchor_real_ns - anchor_mono_ns, is exactly what a live
 * consumer gets from rb_consumer_frame_utc_ns for it (while the ring's
 * offset is the same: rb-producer moves it only on a clock step). Sampling
 * the clocks here would give another measurement of the same offset, some
 * ns apart. A ring without an anchor (offset 0) gives a recording without
 * one.
 */
static void
record_utc_anchor(struct record *r)
{
	uint64_t at = 0;
	int64_t offset = rb_ring_clock_offset(r->ring, &at);

	if (offset == 0) {
		r->anchor_mono_ns = r->anchor_real_ns = 0;
		return;
	}
	/* The instant is informational in the ring; a reader needs only a
	 * pair whose difference is the offset (modulo 2^64), with a nonzero
	 * realtime half. */
	r->anchor_mono_ns = at != 0 ? at : cli_now_ns();
	r->anchor_real_ns = r->anchor_mono_ns + (uint64_t)offset;
	if (r->anchor_real_ns == 0) {
		r->anchor_mono_ns++;
		r->anchor_real_ns++;
	}
}

/* Frames the producer dropped just before `f`, as its descriptor says
 * (layout 4, FORMAT.md §5.23). */
static uint64_t
record_dropped_before(const struct rb_frame *f)
{
	return f->dropped;
}

/* Opens part r->part and writes its header. */
static int
record_open_part(struct record *r)
{
	struct rb_rec_header h;
	int flags = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, rc;

	rc = rb_rec_part_path(r->path, sizeof(r->path), r->output, r->max_file_size != 0,
			   r->part);
	if (rc != 0) {
		cli_error("%s: %s", r->output, strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	memset(&h, 0, sizeof(h));
	h.version = RB_REC_VERSION;
	h.header_bytes = r->header_bytes;
	h.page_bytes = RB_REC_PAGE;
	h.page_entries = RB_REC_PAGE_ENTRIES;
	h.recording_id = r->recording_id;
	h.part = r->part;
	h.flags = (r->max_file_size != 0 ? RB_REC_FLAG_SERIES : 0) |
		  (r->lossy ? RB_REC_FLAG_LOSSY : 0);
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		h.created_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	}
	h.frame_bytes = r->frame_bytes;
	h.slot_stride = r->slot_stride;
	h.type = r->type;
	h.text_bytes = r->text_bytes;
	h.first_index = r->index;
	h.stream_start_seq = r->stream_start_seq;
	h.anchor_mono_ns = r->anchor_mono_ns;
	h.anchor_real_ns = r->anchor_real_ns;
	rb_rec_header_encode(r->hbuf, &h, r->text);
	for (;;) {
		r->fd = open(r->path, flags | (r->direct ? O_DIRECT : 0), 0644);
		if (r->fd < 0 && r->direct && errno == EINVAL) {
			record_fallback(r, "the file system refuses O_DIRECT", 0);
			r->direct = false;
			continue;
		}
		if (r->fd < 0) {
			cli_error("%s: %s", r->path, strerror(errno));
			return CLI_EXIT_FAIL;
		}
		/* The header is the first write: a file system that took
		 * O_DIRECT at open but refuses the write says so here. */
		rc = rio_write_sync(&r->io, r->fd, r->hbuf, r->header_bytes, 0);
		if (rc == -EINVAL && r->direct) {
			record_fallback(r, "the file system refuses O_DIRECT writes", 0);
			r->direct = false;
			close(r->fd);
			continue;
		}
		break;
	}
	if (rc >= 0 && (uint32_t)rc != r->header_bytes)
		rc = -ENOSPC; /* a short write of a fresh file: no room */
	if (rc < 0) {
		record_fail(r, rc);
		return CLI_EXIT_FAIL;
	}
	r->files++;
	r->file_bytes += r->header_bytes;
	r->pos = r->header_bytes;
	r->prealloc_end = r->pos;
	r->part_entries = 0;
	r->part_first_index = r->index;
	r->next_group = 0;
	r->current = -1;
	memset(&r->sum, 0, sizeof(r->sum));
	return 0;
}

/* The first frame f: learn its stream's header, create the first file. */
static int
record_start(struct record *r, struct rb_consumer *c, const struct rb_frame *f)
{
	struct rb_stream_info info;
	uint32_t cap = rb_ring_stream_header_capacity(r->ring) + 1;
	int n;

	/* The format keeps up to RB_REC_TEXT_MAX bytes; a longer header (far
	 * beyond any real one) is left out rather than cut. */
	if (cap > RB_REC_TEXT_MAX + 1)
		cap = RB_REC_TEXT_MAX + 1;
	r->text = malloc(cap);
	if (r->text == NULL) {
		cli_error("record: out of memory");
		return CLI_EXIT_FAIL;
	}
	/* The header of the frame's own stream (layout 4), not the ring's
	 * newest: a recorder lagging behind a stream boundary records the old
	 * stream with the old stream's header. One overwritten by newer
	 * streams is gone: the recording then says nothing rather than the
	 * wrong thing. */
	n = rb_consumer_frame_header(c, f, r->text, cap, &info);
	if (n == RB_E_HEADER_GONE)
		cli_note("record: the header of the stream of frame %" PRIu64 " was overwritten "
			 "by newer streams before it was read: recorded without one", f->seq);
	if (n < 0) {
		r->text[0] = '\0';
		n = 0;
		r->stream_start_seq = f->seq;
	} else {
		r->stream_start_seq = info.start_seq;
		r->stream_known = true;
	}
	r->text_bytes = (uint32_t)n;
	r->header_bytes = rb_rec_header_bytes(r->text_bytes);
	r->hbuf = aligned_alloc(RB_REC_PAGE, r->header_bytes);
	if (r->hbuf == NULL) {
		cli_error("record: out of memory");
		return CLI_EXIT_FAIL;
	}
	r->recording_id = record_random_id();
	record_utc_anchor(r);
	r->opened = true;
	r->start_ns = cli_now_ns();
	return record_open_part(r);
}

/* Writes a page's descriptors if it has new ones and no write in flight. */
static void
record_page_write(struct record *r, uint32_t t)
{
	struct group *g = &r->groups[t];
	int rc;

	if (!g->used || g->inflight || g->failed ||
	    (g->ever_written && g->page->count == g->written))
		return;
	memcpy(g->wbuf, g->page, RB_REC_PAGE);
	g->wbuf->next_offset = g->alloc_end;
	rb_rec_page_seal(g->wbuf);
	rc = rio_write(&r->io, r->fd, g->wbuf, RB_REC_PAGE, g->offset, TAG_PAGE | t);
	if (rc != 0) {
		record_fail(r, rc);
		return;
	}
	g->inflight = true;
	g->writing = g->page->count;
	r->page_writes++;
}

/* Pages of finished groups whose last write is done free their tracker. */
static void
record_pages(struct record *r)
{
	uint32_t t;

	for (t = 0; t < RECORD_GROUPS; t++) {
		struct group *g = &r->groups[t];

		if (!g->used)
			continue;
		record_page_write(r, t);
		if ((int)t != r->current && !g->inflight &&
		    (g->failed || (g->ever_written && g->written == g->page->count &&
				   g->assigned == g->page->count)))
			g->used = false;
	}
}

/* Adds the descriptors of the in-order prefix of written frames, then
 * releases those frames in one batch. */
static int
record_advance(struct record *r, struct rb_consumer *c)
{
	uint32_t n = 0;
	int rc;

	while (r->count > 0) {
		struct pending *p = &r->pending[r->head];
		struct group *g = &r->groups[p->group];
		struct rb_rec_entry *e;

		if (p->state != PENDING_DONE)
			break;
		e = &g->page->entries[g->page->count];
		memset(e, 0, sizeof(*e));
		e->seq = p->f.seq;
		e->length = p->f.length;
		e->timestamp_ns = p->f.timestamp_ns;
		e->flags = p->f.flags;
		e->dropped_before = record_dropped_before(&p->f);
		e->data_offset = p->offset;
		/* The checksum is of the slot's bytes, which the kernel has
		 * finished writing out. Lossless: the slot is ours until the
		 * release below. Lossy: it is taken before the check that
		 * the frame was not overwritten, so a frame that passes the
		 * check had the same bytes for the write and the checksum. */
		e->data_crc = rb_rec_crc32c(0, p->f.data, p->f.length);
		/* A lossy consumer's frame may have been overwritten while
		 * the kernel read it, and a ring truncated under us (checked
		 * after the checksum, whose reads may be what faulted) reads
		 * as zeros, not as the bytes written: keep its place, mark it
		 * unusable. */
		if (rb_consumer_check(c, &p->f) != 0 || rb_ring_truncated(r->ring)) {
			e->rflags |= RB_REC_ENTRY_DISCARDED;
			r->discarded++;
			r->sum.discarded++;
		} else {
			/* An abandoned frame is recorded as what it is, an
			 * empty descriptor with its flag, so that the file's
			 * seqs have no hole; it is no frame of data. */
			if (frame_abandoned(&p->f))
				r->abandoned++;
			else
				r->frames++;
			r->data_bytes += p->f.length;
			r->sum.data_bytes += p->f.length;
			if (r->sum.entries == r->sum.discarded) {
				r->sum.first_seq = p->f.seq;
				r->sum.first_timestamp_ns = p->f.timestamp_ns;
			}
			r->sum.last_seq = p->f.seq;
			r->sum.last_timestamp_ns = p->f.timestamp_ns;
		}
		g->page->count++;
		r->sum.entries++;
		r->part_entries++;
		r->index++;
		r->release[n++] = p->f;
		r->head = (r->head + 1) % r->slot_count;
		r->count--;
	}
	record_pages(r);
	if (n == 0 || r->no_release)
		return 0;
	rc = rb_consumer_release_batch(c, r->release, n);
	if (rc < 0) {
		cli_error("ring '%s': releasing frames: %s", rb_ring_name(r->ring),
			  rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Handles one completion. */
static void
record_complete(struct record *r, const struct rio_done *d)
{
	uint64_t i = TAG_INDEX(d->tag);

	if (TAG_KIND(d->tag) == TAG_ALLOC) {
		r->prealloc_inflight = false;
		if (d->res == 0)
			r->prealloc_end += r->prealloc_len;
		else
			r->prealloc = false; /* not supported, or no room: writes say */
		return;
	}
	if (TAG_KIND(d->tag) == TAG_PAGE) {
		struct group *g = &r->groups[i];

		g->inflight = false;
		if (d->res == (int)RB_REC_PAGE) {
			g->ever_written = true;
			g->written = g->writing;
		} else {
			g->failed = true;
			record_fail(r, d->res < 0 ? d->res : -ENOSPC);
		}
		return;
	}
	{
		struct pending *p = &r->pending[i];
		int rc;

		if (d->res < 0) {
			p->state = PENDING_FAILED;
			r->data_inflight--;
			record_fail(r, d->res);
			return;
		}
		p->written += (uint32_t)d->res;
		if (p->written >= p->len) {
			p->state = PENDING_DONE;
			r->data_inflight--;
			return;
		}
		/* A short write: the file system took part of it (a disk
		 * filling up does this). Ask for the rest; the answer is
		 * then either the rest or the error. */
		r->short_writes++;
		if (d->res == 0 || r->error != 0) {
			p->state = PENDING_FAILED;
			r->data_inflight--;
			record_fail(r, -ENOSPC);
			return;
		}
		rc = rio_write(&r->io, r->fd, (const uint8_t *)p->f.data + p->written,
			       p->len - p->written, p->offset + p->written, TAG_DATA | i);
		if (rc != 0) {
			p->state = PENDING_FAILED;
			r->data_inflight--;
			record_fail(r, rc);
		}
	}
}

/* Reaps completions (waiting for one if `wait`), then advances. */
static int
record_progress(void *state, struct rb_consumer *c, bool wait)
{
	struct record *r = state;
	int n, i;

	if (!r->io_ready)
		return 0;
	if (rio_submit(&r->io) < 0 && r->error == 0)
		record_fail(r, -EIO);
	do {
		n = rio_reap(&r->io, r->done, r->depth + RECORD_GROUPS + 2,
			     wait ? 1 : 0, 0);
	} while (n == -EINTR);
	if (n < 0) {
		cli_error("record: io_uring: %s", strerror(-n));
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < n; i++)
		record_complete(r, &r->done[i]);
	if (record_advance(r, c) != 0)
		return CLI_EXIT_FAIL;
	if (rio_submit(&r->io) < 0 && r->error == 0)
		record_fail(r, -EIO);
	return r->error != 0 ? CLI_EXIT_FAIL : 0;
}

static bool
record_busy(void *state)
{
	struct record *r = state;

	return r->count > 0 || (r->io_ready && r->io.inflight > 0);
}

/* Waits until everything in flight has completed. After a failure, frames
 * past the failed one are released without descriptors. */
static int
record_drain(struct record *r, struct rb_consumer *c)
{
	int rc = 0;

	while (r->io.inflight > 0 || r->count > 0) {
		if (r->io.inflight == 0) {
			/* Only frames stuck behind a failed write are left:
			 * hand them back (unrecorded) so the consumer can go. */
			uint32_t n = 0;

			while (r->count > 0) {
				r->release[n++] = r->pending[r->head].f;
				r->head = (r->head + 1) % r->slot_count;
				r->count--;
			}
			if (!r->no_release)
				(void)rb_consumer_release_batch(c, r->release, n);
			break;
		}
		if (record_progress(r, c, true) != 0)
			rc = CLI_EXIT_FAIL;
	}
	/* Last descriptor writes (one per page at a time). */
	for (;;) {
		record_pages(r);
		if (r->io.inflight == 0)
			break;
		if (record_progress(r, c, true) != 0)
			rc = CLI_EXIT_FAIL;
	}
	return rc;
}

/* Closes the part: summary, fsync, close. */
static int
record_close_part(struct record *r, enum rb_rec_end end)
{
	uint32_t t;
	int rc = 0, wrc;

	if (r->fd < 0)
		return 0;
	/* Blocks allocated ahead and never written go (a metadata change,
	 * no data moves: the one call here not made through io_uring). */
	if (r->prealloc_end > r->pos && ftruncate(r->fd, (off_t)r->pos) != 0)
		rc = -errno;
	if (r->fsync && (wrc = rio_fsync_sync(&r->io, r->fd)) < 0 && rc == 0)
		rc = wrc;
	r->sum.end = r->error != 0 ? RB_REC_END_ERROR : end;
	r->sum.error = (uint32_t)-r->error;
	r->sum.end_offset = r->pos;
	/* Summary after the descriptors are safe: a summary promises them. */
	rb_rec_summary_encode(r->hbuf, &r->sum);
	wrc = rio_write_sync(&r->io, r->fd, r->hbuf, RB_REC_PAGE, 0);
	if (wrc >= 0 && wrc != (int)RB_REC_PAGE)
		wrc = -ENOSPC;
	if (wrc < 0 && rc == 0)
		rc = wrc;
	if (r->fsync && (wrc = rio_fsync_sync(&r->io, r->fd)) < 0 && rc == 0)
		rc = wrc;
	if (close(r->fd) != 0 && rc == 0)
		rc = -errno;
	r->fd = -1;
	/* Drained before: every page of this part is as final as it gets. */
	for (t = 0; t < RECORD_GROUPS; t++)
		r->groups[t].used = false;
	r->current = -1;
	if (rc != 0) {
		record_fail(r, rc);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Opens a new group (and its page) at r->pos. */
static int
record_new_group(struct record *r, struct rb_consumer *c)
{
	uint32_t t;

	for (;;) {
		for (t = 0; t < RECORD_GROUPS; t++)
			if (!r->groups[t].used)
				break;
		if (t < RECORD_GROUPS)
			break;
		if (record_progress(r, c, true) != 0)
			return CLI_EXIT_FAIL;
	}
	{
		struct group *g = &r->groups[t];

		g->used = true;
		g->number = r->next_group++;
		g->offset = r->pos;
		g->alloc_end = r->pos + RB_REC_PAGE;
		g->assigned = 0;
		g->inflight = false;
		g->ever_written = false;
		g->failed = false;
		g->written = 0;
		memset(g->page, 0, RB_REC_PAGE);
		g->page->recording_id = r->recording_id;
		g->page->part = r->part;
		g->page->group = g->number;
		g->page->page_offset = g->offset;
		g->page->first_index = r->index + r->count;
	}
	r->current = (int)t;
	r->pos += RB_REC_PAGE;
	r->file_bytes += RB_REC_PAGE;
	/* Written now, empty: its blocks are allocated before the data
	 * behind it, so later rewrites overwrite and cannot run out of room. */
	record_page_write(r, t);
	return r->error != 0 ? CLI_EXIT_FAIL : 0;
}

/*
 * Allocates the file's blocks ahead of the writes. An O_DIRECT write past
 * the end of the file must allocate blocks and move the size while it
 * runs, which file systems serialise (ext4 takes the inode lock
 * exclusively); writes inside blocks fallocate made run side by side. The
 * file is cut back to its real end at close; a crash leaves zeroes after
 * the last record, which readers take for the end.
 */
static void
record_prealloc(struct record *r)
{
	uint64_t len = RECORD_PREALLOC;

	if (!r->prealloc || r->prealloc_inflight || r->error != 0 ||
	    r->pos + RECORD_PREALLOC / 2 < r->prealloc_end)
		return;
	if (r->max_file_size != 0) {
		if (r->prealloc_end >= r->max_file_size)
			return;
		if (len > r->max_file_size - r->prealloc_end)
			len = r->max_file_size - r->prealloc_end;
	}
	if (rio_fallocate(&r->io, r->fd, 0, r->prealloc_end, len, TAG_ALLOC) != 0)
		return;
	r->prealloc_inflight = true;
	r->prealloc_len = len;
}

/* Gives frame f a place in the file (rotating if it does not fit) and
 * queues its write. */
static int
record_frame(struct record *r, struct rb_consumer *c, const struct rb_frame *f)
{
	uint64_t region = rb_rec_region_bytes(f->length);
	bool new_group = r->current < 0 ||
			 r->groups[r->current].assigned == RB_REC_PAGE_ENTRIES;
	uint64_t need = region + (new_group ? RB_REC_PAGE : 0);
	struct pending *p;
	uint32_t i;
	int rc;

	if (r->max_file_size != 0 && r->part_entries + r->count > 0 &&
	    r->pos + need > r->max_file_size) {
		if ((rc = record_drain(r, c)) != 0)
			return rc;
		if ((rc = record_close_part(r, RB_REC_END_ROTATED)) != 0)
			return rc;
		r->part++;
		if ((rc = record_open_part(r)) != 0)
			return rc;
		new_group = true;
	}
	/* Room in the window and in the queue. */
	while (r->count == r->slot_count || r->data_inflight >= r->depth) {
		if ((rc = record_progress(r, c, true)) != 0)
			return rc;
	}
	if (new_group && (rc = record_new_group(r, c)) != 0)
		return rc;
	record_prealloc(r);
	i = (r->head + r->count) % r->slot_count;
	p = &r->pending[i];
	p->f = *f;
	p->offset = r->pos;
	p->group = (uint32_t)r->current;
	p->written = 0;
	/* O_DIRECT writes whole blocks: the slot's bytes past `length`, up
	 * to the block's end, go too (the region is the file's anyway).
	 * Through the page cache exactly `length`: the rest stays a hole. */
	p->len = (uint32_t)(r->direct ? region : f->length);
	r->pos += region;
	r->file_bytes += region;
	r->groups[r->current].assigned++;
	r->groups[r->current].alloc_end = r->pos;
	r->count++;
	if (p->len == 0) {
		p->state = PENDING_DONE;
		return 0;
	}
	p->state = PENDING_INFLIGHT;
	rc = rio_write(&r->io, r->fd, f->data, p->len, p->offset, TAG_DATA | i);
	if (rc == -EBUSY) {
		/* Queue full of prepared requests: hand them over, retry. */
		if ((rc = record_progress(r, c, true)) != 0)
			return rc;
		rc = rio_write(&r->io, r->fd, f->data, p->len, p->offset, TAG_DATA | i);
	}
	if (rc != 0) {
		p->state = PENDING_FAILED;
		record_fail(r, rc);
		return CLI_EXIT_FAIL;
	}
	r->data_inflight++;
	r->writes++;
	return 0;
}

/*
 * Whether frame f belongs to a stream after the recording's. A new stream
 * is seen by its RB_FRAME_STREAM_START frame, but a lossy (or demoted)
 * recorder can lose that frame: then the ring's stream headers say where
 * the frame's stream started (FORMAT.md §5.13). Looked up for the last
 * frame of a batch, and frame by frame only in a batch that crosses.
 */
static bool
record_other_stream(const struct record *r, const struct rb_frame *f)
{
	struct rb_stream_info info;

	if (!r->stream_known)
		return false;
	if (rb_ring_stream_header_at(r->ring, f->seq, NULL, 0, &info) < 0)
		return false; /* gone or torn: the start flag is all we have */
	return info.start_seq != r->stream_start_seq;
}

static int
record_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
	      uint32_t n)
{
	struct record *r = state;
	bool crosses;
	uint32_t i;
	int rc;

	if (r->error != 0)
		return CLI_EXIT_FAIL;
	/* Every frame handed over, recorded or not: what the consumer's
	 * count of drops holds beyond them is its end marker's (record_finish). */
	for (i = 0; i < n; i++)
		r->dropped_seen += frames[i].dropped;
	if (!r->opened && n > 0 && (rc = record_start(r, c, &frames[0])) != 0)
		return rc;
	crosses = n > 0 && record_other_stream(r, &frames[n - 1]);
	for (i = 0; i < n; i++) {
		if (r->stopping)
			break;
		/* One recording holds one stream: a new one (its producer
		 * died and another began) ends it. */
		if (((frames[i].flags & RB_FRAME_STREAM_START) && r->index + r->count > 0) ||
		    (crosses && record_other_stream(r, &frames[i]))) {
			cli_note("%s: a new stream began; the recording ends before it",
				 r->path);
			r->stopping = true;
			break;
		}
		if ((rc = record_frame(r, c, &frames[i])) != 0)
			return rc;
	}
	if ((rc = record_progress(r, c, false)) != 0)
		return rc;
	return r->stopping ? 1 : 0;
}

static int
record_finish(void *state, struct rb_consumer *c, bool held_released)
{
	struct record *r = state;
	int rc;

	struct rb_consumer_stats st;

	r->no_release = held_released;
	if (!r->io_ready || !r->opened)
		return r->error != 0 ? CLI_EXIT_FAIL : 0;
	rc = record_drain(r, c);
	/* Frames the producer dropped after the last frame are said only by
	 * the stream's end marker (FORMAT.md §5.23), which the library read
	 * and counted: they go into the last part's summary, so that the
	 * recording's frames and drops add up to what the producer made. */
	rb_consumer_get_stats(c, &st);
	if (!r->stopping && st.dropped_at_producer > r->dropped_seen)
		r->dropped_after = st.dropped_at_producer - r->dropped_seen;
	r->sum.dropped_after = r->dropped_after;
	if (record_close_part(r, RB_REC_END_STOPPED) != 0)
		rc = CLI_EXIT_FAIL;
	r->end_ns = cli_now_ns();
	return r->error != 0 ? CLI_EXIT_FAIL : rc;
}

static const char *
record_io_path(const struct record *r)
{
	return r->io_ready ? rio_path_name(&r->io, r->direct, true) : "none";
}

static void
record_summary(void *state, FILE *out)
{
	struct record *r = state;
	double secs = r->end_ns > r->start_ns ? (double)(r->end_ns - r->start_ns) / 1e9 : 0;
	char a[32], b[32];

	fprintf(out, "  record: %s: %" PRIu64 " frames (%s) in %" PRIu32 " file%s, %s/s "
		"written; io %s%s%s%s\n",
		r->max_file_size ? r->output : (r->path[0] ? r->path : r->output), r->frames,
		cli_format_si(a, sizeof(a), (double)r->data_bytes, "B"), r->files,
		r->files == 1 ? "" : "s",
		cli_format_si(b, sizeof(b), secs > 0 ? (double)r->file_bytes / secs : 0, "B"),
		record_io_path(r), r->fallback[0] ? " (" : "", r->fallback,
		r->fallback[0] ? ")" : "");
	if (r->discarded != 0)
		fprintf(out, "  record: %" PRIu64 " frames overwritten while written, "
			"kept as discarded descriptors\n", r->discarded);
	if (r->abandoned != 0)
		fprintf(out, "  record: %" PRIu64 " frames abandoned by a dead producer, "
			"kept as empty descriptors\n", r->abandoned);
}

static void
record_json(void *state, struct cli_json *j)
{
	struct record *r = state;
	double secs = r->end_ns > r->start_ns ? (double)(r->end_ns - r->start_ns) / 1e9 : 0;

	cli_json_string(j, "output", r->output);
	cli_json_string(j, "io_path", record_io_path(r));
	if (r->fallback[0])
		cli_json_string(j, "io_fallback", r->fallback);
	else
		cli_json_null(j, "io_fallback");
	cli_json_u64(j, "queue_depth", r->depth);
	cli_json_u64(j, "files", r->files);
	cli_json_u64(j, "recorded_frames", r->frames);
	cli_json_u64(j, "recorded_bytes", r->data_bytes);
	cli_json_u64(j, "discarded", r->discarded);
	cli_json_u64(j, "abandoned_entries", r->abandoned);
	cli_json_u64(j, "recorded_dropped_after", r->dropped_after);
	cli_json_u64(j, "file_bytes", r->file_bytes);
	cli_json_u64(j, "writes", r->writes);
	cli_json_u64(j, "page_writes", r->page_writes);
	cli_json_u64(j, "short_writes", r->short_writes);
	cli_json_double(j, "record_seconds", secs);
	cli_json_double(j, "record_bytes_per_second",
			secs > 0 ? (double)r->file_bytes / secs : 0);
	cli_json_bool(j, "fsync", r->fsync);
	if (r->error != 0)
		cli_json_string(j, "io_error", strerror(-r->error));
	else
		cli_json_null(j, "io_error");
}

static void
record_fini(void *state)
{
	struct record *r = state;
	uint32_t i;

	if (r->fd >= 0)
		close(r->fd);
	if (r->io_ready)
		rio_fini(&r->io);
	for (i = 0; i < RECORD_GROUPS; i++) {
		free(r->groups[i].page);
		free(r->groups[i].wbuf);
	}
	free(r->pending);
	free(r->release);
	free(r->done);
	free(r->hbuf);
	free(r->text);
}

const struct analysis analysis_record = {
	.name = "record",
	.state_size = sizeof(struct record),
	.keeps_frames = true,
	.init = record_init,
	.ring = record_ring,
	.stream = record_stream,
	.frames = record_frames,
	.busy = record_busy,
	.progress = record_progress,
	.finish = record_finish,
	.summary = record_summary,
	.json = record_json,
	.fini = record_fini,
};
