/*
 * Reading a recording: the walk over descriptor pages that rb-producer's
 * replay and --check share (docs/RECORDING.md, "Reading").
 *
 * The walk trusts nothing it has not checked: a page counts only with its
 * magic, CRC, recording id, part, group number and own offset right, and
 * a descriptor only if its bytes lie inside the file. The first page that
 * fails ends the part: that is the torn or unwritten tail of a recording
 * whose writer died, or ran out of space, and everything before it is
 * whole (the writer puts a descriptor on disk only after its frame's
 * bytes).
 *
 * Why descriptor pages are read one at a time, synchronously, on their
 * own small io_uring: a page describes 63 frames, so its read is rare next
 * to the frames' own, and the callers (replay) keep their ring for frame
 * reads straight into ring slots.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rio.h"

/* Opens `path`, with O_DIRECT if wanted and the file system allows it. */
static int
reader_open_fd(struct rb_rec_reader *rd, const char *path, bool direct)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | (direct ? O_DIRECT : 0));

	if (fd < 0 && direct && errno == EINVAL)
		return reader_open_fd(rd, path, false);
	if (fd < 0)
		return -errno;
	rd->direct = direct;
	return fd;
}

/* Reads the header of the part in rd->path into rd->ph / rd->hbuf. */
static int
reader_read_header(struct rb_rec_reader *rd, int fd)
{
	struct stat st;
	uint32_t want = RB_REC_PAGE;
	int rc;

	for (;;) {
		free(rd->hbuf);
		rd->hbuf = aligned_alloc(RB_REC_PAGE, want);
		if (rd->hbuf == NULL)
			return -ENOMEM;
		rc = rio_read_sync(rd->meta, fd, rd->hbuf, want, 0);
		if (rc < 0)
			return rc;
		if ((uint32_t)rc < RB_REC_PAGE)
			return -EMEDIUMTYPE; /* too short to be a recording */
		rc = rb_rec_header_decode(rd->hbuf, (size_t)rc, &rd->ph);
		if (rc == -EAGAIN && want < rd->ph.header_bytes) {
			want = rd->ph.header_bytes;
			continue;
		}
		if (rc != 0)
			return rc;
		break;
	}
	if (fstat(fd, &st) != 0)
		return -errno;
	rd->file_bytes = (uint64_t)st.st_size;
	rd->summary_ok = rb_rec_summary_decode(rd->hbuf, &rd->sum);
	/* Before version 3, dropped_after's bytes were reserved (zero). */
	if (rd->summary_ok && rd->ph.version < 3 && rd->sum.dropped_after != 0)
		rd->summary_ok = false;
	return 0;
}

/* Opens rd->path as the next part to read. */
static int
reader_open_part(struct rb_rec_reader *rd)
{
	int fd, rc;

	fd = reader_open_fd(rd, rd->path, rd->want_direct);
	if (fd < 0)
		return fd;
	rc = reader_read_header(rd, fd);
	if (rc == -EINVAL && rd->direct) {
		/* The file system took O_DIRECT at open but refuses the
		 * reads: read through the page cache instead. */
		close(fd);
		if ((fd = reader_open_fd(rd, rd->path, false)) < 0)
			return fd;
		rc = reader_read_header(rd, fd);
	}
	if (rc != 0) {
		close(fd);
		return rc;
	}
	if (rd->old_fd >= 0)
		close(rd->old_fd);
	rd->old_fd = rd->fd;
	rd->fd = fd;
	rd->page_offset = rd->ph.header_bytes;
	rd->group = 0;
	rd->page_loaded = false;
	rd->part_done = false;
	rd->part_entries = 0;
	rd->parts++;
	return 0;
}

/* "FILE.007" -> base "FILE" when the header says it is part 7 of a series. */
static void
reader_series_base(struct rb_rec_reader *rd, const char *path)
{
	size_t len = strlen(path);
	char suffix[16];

	if (len >= sizeof(rd->base))
		len = sizeof(rd->base) - 1; /* checked in rb_rec_reader_open */
	memcpy(rd->base, path, len);
	rd->base[len] = '\0';
	if (!(rd->ph.flags & RB_REC_FLAG_SERIES))
		return;
	snprintf(suffix, sizeof(suffix), ".%03u", rd->ph.part);
	if (len > strlen(suffix) && strcmp(path + len - strlen(suffix), suffix) == 0) {
		rd->base[len - strlen(suffix)] = '\0';
		rd->series = true;
	}
}

int
rb_rec_reader_open(struct rb_rec_reader *rd, const char *path, bool want_direct)
{
	struct stat st;
	size_t n;
	int rc;

	memset(rd, 0, sizeof(*rd));
	rd->fd = rd->old_fd = -1;
	rd->want_direct = want_direct;
	rd->complete = true;
	rd->stop = "end";
	rd->meta = calloc(1, sizeof(*rd->meta));
	if (rd->meta == NULL)
		return -ENOMEM;
	if ((rc = rio_init(rd->meta, 2)) != 0)
		return rc;
	rd->page = aligned_alloc(RB_REC_PAGE, RB_REC_PAGE);
	if (rd->page == NULL)
		return -ENOMEM;
	n = strlen(path);
	if (n >= sizeof(rd->base))
		return -ENAMETOOLONG;
	/* FILE itself, or the first part of the series FILE.000, ... (a
	 * copy of the length checked: GCC's ASan build takes snprintf's
	 * "%s" of it for a possible NULL) */
	memcpy(rd->path, path, n + 1);
	if (stat(path, &st) != 0) {
		if (errno != ENOENT)
			return -errno;
		rb_rec_part_path(rd->path, sizeof(rd->path), path, true, 0);
		if (stat(rd->path, &st) != 0)
			return -ENOENT; /* name the file asked for, not FILE.000 */
	}
	if ((rc = reader_open_part(rd)) != 0)
		return rc;
	rd->h = rd->ph;
	rd->index = rd->h.first_index;
	reader_series_base(rd, rd->path);
	rd->text = malloc(rd->h.text_bytes + 1);
	if (rd->text == NULL)
		return -ENOMEM;
	memcpy(rd->text, rd->hbuf + RB_REC_TEXT_OFFSET, rd->h.text_bytes);
	rd->text[rd->h.text_bytes] = '\0';
	return 0;
}

/* The part ended (its last group, or its tail): judge it, and move on to
 * the next part of a series if the part says there is one. Returns 1 to
 * go on reading, 0 at the end of the recording, -errno on errors. */
static int
reader_part_end(struct rb_rec_reader *rd, const char *tail)
{
	int rc;

	if (!rd->summary_ok) {
		/* The writer never closed this part: a crash, kill -9 or
		 * power loss. Everything read so far is whole. */
		rd->complete = false;
		rd->stop = tail ? tail : "not closed";
		return 0;
	}
	if (rd->sum.entries != rd->part_entries) {
		rd->complete = false;
		rd->stop = "damaged: fewer descriptors than the summary says";
		return 0;
	}
	if (rd->sum.end == RB_REC_END_ERROR) {
		rd->complete = false;
		rd->stop = "the writer stopped on a write error";
		return 0;
	}
	if (rd->sum.end != RB_REC_END_ROTATED || !rd->series) {
		rd->stop = "end";
		return 0;
	}
	rc = rb_rec_part_path(rd->path, sizeof(rd->path), rd->base, true, rd->ph.part + 1);
	if (rc == 0)
		rc = reader_open_part(rd);
	if (rc == -ENOENT) {
		rd->complete = false;
		rd->stop = "the next part is missing";
		return 0;
	}
	if (rc != 0)
		return rc;
	if (rd->ph.recording_id != rd->h.recording_id ||
	    rd->ph.first_index != rd->index || rd->ph.version != rd->h.version ||
	    rd->ph.frame_bytes != rd->h.frame_bytes) {
		rd->complete = false;
		rd->stop = "the next part belongs to another recording";
		return 0;
	}
	return 1;
}

int
rb_rec_reader_next(struct rb_rec_reader *rd, struct rb_rec_entry *e)
{
	struct rb_rec_page *p = rd->page;
	int rc;

	for (;;) {
		if (rd->part_done)
			return 0;
		if (!rd->page_loaded) {
			const char *tail = NULL;

			rc = rio_read_sync(rd->meta, rd->fd, p, RB_REC_PAGE, rd->page_offset);
			if (rc < 0) {
				rd->error = rc;
				rd->stop = "read error";
				return rc;
			}
			if ((uint32_t)rc < RB_REC_PAGE)
				tail = "not closed; ends after the last whole page";
			else if (!rb_rec_page_valid(p, rd->h.recording_id, rd->ph.part,
						 rd->group, rd->page_offset) ||
				 p->first_index != rd->index)
				tail = "not closed; ends at a torn or unwritten page";
			if (tail != NULL) {
				rd->part_done = true;
				if ((rc = reader_part_end(rd, tail)) <= 0)
					return rc;
				continue;
			}
			rd->page_loaded = true;
			rd->next_entry = 0;
		}
		if (rd->next_entry < p->count) {
			const struct rb_rec_entry *x = &p->entries[rd->next_entry];

			/* In this order, no sum can wrap: page_offset and
			 * next_offset are at most 2^62 (rb_rec_page_valid),
			 * length at most frame_bytes <= 1 GiB. */
			if (x->length > rd->ph.frame_bytes ||
			    x->data_offset % RB_REC_PAGE != 0 ||
			    x->data_offset < rd->page_offset + RB_REC_PAGE ||
			    x->data_offset > p->next_offset ||
			    x->data_offset > rd->file_bytes ||
			    x->length > rd->file_bytes - x->data_offset ||
			    x->data_offset + rb_rec_region_bytes(x->length) > p->next_offset) {
				rd->part_done = true;
				rd->complete = false;
				rd->stop = "damaged: a descriptor points outside the file";
				return 0;
			}
			/* One stream, in ring order: seqs only go up. */
			if (rd->have_seq && x->seq <= rd->last_seq) {
				rd->part_done = true;
				rd->complete = false;
				rd->stop = "damaged: a descriptor's seq goes backwards";
				return 0;
			}
			rd->have_seq = true;
			rd->last_seq = x->seq;
			*e = *x;
			/* Before version 3 these bytes were reserved. */
			if (rd->ph.version < 3)
				e->dropped_before = 0;
			rd->next_entry++;
			rd->index++;
			rd->part_entries++;
			return 1;
		}
		if (p->count == RB_REC_PAGE_ENTRIES) {
			rd->page_offset = p->next_offset;
			rd->group++;
			rd->page_loaded = false;
			continue;
		}
		/* A page with room left is the part's last. */
		rd->part_done = true;
		if ((rc = reader_part_end(rd, NULL)) <= 0)
			return rc;
	}
}

int
rb_rec_reader_rewind(struct rb_rec_reader *rd)
{
	uint32_t first = rd->h.part;
	int rc;

	rc = rb_rec_part_path(rd->path, sizeof(rd->path), rd->base, rd->series, first);
	if (rc != 0)
		return rc;
	if ((rc = reader_open_part(rd)) != 0)
		return rc;
	rd->index = rd->h.first_index;
	rd->have_seq = false;
	rd->complete = true;
	rd->stop = "end";
	return 0;
}

void
rb_rec_reader_close(struct rb_rec_reader *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	if (rd->old_fd >= 0)
		close(rd->old_fd);
	if (rd->meta != NULL)
		rio_fini(rd->meta);
	free(rd->meta);
	free(rd->page);
	free(rd->hbuf);
	free(rd->text);
	memset(rd, 0, sizeof(*rd));
	rd->fd = rd->old_fd = -1;
}
