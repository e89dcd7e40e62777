/*
 * rb-ctl export: a recording's streams as HDF5 or PSRDADA files
 * (docs/RECORDING.md, "Export").
 *
 *   source.c   the only user of the recording reader (<ringbuf/recording.h>):
 *              walks one recording frame by frame, checks each frame's
 *              checksum, and says where and why it stopped
 *   hdf5.c     one HDF5 file, a group per stream (libhdf5's C API)
 *   dada.c     a PSRDADA file per stream (4096-byte ASCII header, then data)
 *   meta.c     what both formats take from a stream: element size, sample
 *              rate, the stream header's key=value lines
 *   export.c   the command: options, the loop, progress, errors
 *
 * rb-consumer record --format hdf5 (consumer/record_hdf5.c) drives the same
 * HDF5 writer with frames from the ring, filling an export_source itself.
 *
 * Today a recording holds one stream (a new stream ends the recording), so
 * stream i is the i-th REC operand. Frames are exported in a fixed-size
 * row each (row_bytes): a shorter frame (incomplete, abandoned) is padded
 * with zeros and its length kept in its descriptor.
 *
 * Like tools/cli, nothing here but export.c prints: functions return 0 or
 * -errno and leave a sentence in a `why` buffer where errno is not enough.
 */
#ifndef RB_CTL_EXPORT_H
#define RB_CTL_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringbuf/ringbuf.h>

#define EXPORT_WHY_MAX 512

/* The command (export.c), in rb-ctl's table. */
int ctl_export(int argc, char **argv);

/* One exported frame: `row` holds row_bytes, the frame's length first,
 * then zeros. */
struct export_frame {
	uint64_t seq;
	uint64_t timestamp_ns;  /* the producer's (CLOCK_MONOTONIC for rb-producer) */
	int64_t utc_ns;         /* the UTC of timestamp_ns, 0 when unknown */
	uint64_t length;
	uint32_t flags;         /* RB_FRAME_* */
	const uint8_t *row;
};

/* Where a stream's time comes from (export_stream_utc_start). */
struct export_utc {
	bool start_known;       /* start_ns is the UTC of the stream's first frame */
	int64_t start_ns;
	bool frames_known;      /* a frame's UTC is its timestamp + offset_ns */
	int64_t offset_ns;
	const char *source;     /* what it was taken from, for the output's metadata */
};

/* One recording, opened for export. */
struct export_source {
	const char *path;
	void *rd;                   /* struct rb_rec_reader, private to source.c */
	struct rb_frame_type type;  /* the ring's; elem 0 for untyped */
	uint64_t frame_bytes;       /* the ring's largest frame */
	uint64_t row_bytes;         /* bytes per exported frame */
	uint64_t stream_start_seq;  /* seq of the stream's first frame */
	const char *text;           /* stream header text, NUL-terminated */
	struct export_utc utc;      /* set once the first frame is read */
	/* counts, as frames are handed out */
	uint64_t frames, bytes;     /* frames and their length bytes */
	uint64_t incomplete;        /* frames flagged RB_FRAME_INCOMPLETE */
	uint64_t abandoned;         /* frames flagged RB_FRAME_ABANDONED */
	uint64_t short_frames;      /* length < row_bytes (padded) */
	uint64_t discarded;         /* descriptors a lossy recorder marked discarded */
	uint64_t seq_gaps;          /* seqs missing between frames */
	uint64_t first_seq, last_seq;
	/* how the walk ended */
	bool ended;
	bool damaged;               /* not a valid prefix's end: exit 1 */
	bool complete;              /* every part closed cleanly */
	char stop[EXPORT_WHY_MAX];  /* "end", or where and why it stopped */
	/* private */
	uint8_t *row;
	uint8_t *buf;
	uint64_t buf_bytes;
	bool have_seq;
};

/* Opens `path` (a file, or FILE.000... of a series). 0, or -errno with a
 * sentence in why ("not a recording", ...). */
int export_source_open(struct export_source *s, const char *path, char *why, size_t size);
/*
 * The next frame, its row read into `dest` (row_bytes; NULL: a buffer of
 * the source's own): 1 with *f set (f->row valid until the next call), 0 at
 * the end (s->stop, s->damaged, s->complete say how it ended: a frame
 * failing its checksum, a frame longer than the type's row, damage or a
 * read error end the walk before that frame, damaged). Never negative.
 */
int export_source_next(struct export_source *s, struct export_frame *f, uint8_t *dest);
void export_source_close(struct export_source *s);
/*
 * The UTC of the stream, from what the recording holds (`first` is the
 * first frame handed out, NULL if none). See docs/RECORDING.md, "Export":
 * the one place to switch when recordings carry a UTC anchor.
 */
void export_stream_utc_start(const struct export_source *s, const struct export_frame *first,
			     struct export_utc *u);

/* ---- meta.c ------------------------------------------------------------ */

/* Bytes of one element of the type, 1 for untyped rings. */
size_t export_elem_bytes(const struct export_source *s);
/* Real samples per second from the stream header (sample_rate=, else
 * rate= frames/s times the frame's first dimension); false if none. */
bool export_sample_rate(const struct export_source *s, double *hz);
/*
 * Walks the stream header's key=value lines: calls `fn` for each, key
 * and value NUL-terminated (copies, at most 255 and 4095 bytes; lines
 * without '=' or with an empty key are skipped). Stops at fn's non-zero
 * return and returns it.
 */
int export_header_each(const char *text, int (*fn)(void *arg, const char *key, const char *value),
		       void *arg);
/* "2024-05-01T12:00:00.123Z" of a UTC time in ns, ms precision. */
void export_format_utc(char *buf, size_t size, int64_t utc_ns);

/* ---- the formats -------------------------------------------------------- */

struct export_options {
	int compress;           /* gzip level 1-9, 0 none (HDF5) */
	bool force;             /* replace an existing OUT */
};

struct export_writer;

struct export_format {
	const char *name;
	/* Makes OUT for `nstreams` streams; -EEXIST if it exists (not forced). */
	int (*open)(struct export_writer **w, const char *out, unsigned nstreams,
		    const struct export_options *o, char *why, size_t size);
	/* A stream begins (s->utc is not known yet: it is at end). */
	int (*begin)(struct export_writer *w, unsigned index, const struct export_source *s,
		     char *why, size_t size);
	/* Where the next frame's row should be read to (row_bytes), so that
	 * it is not copied again; NULL: anywhere. */
	uint8_t *(*slot)(struct export_writer *w);
	int (*frame)(struct export_writer *w, const struct export_frame *f, char *why,
		     size_t size);
	/* The stream ended (s has its final counts); the file is finished. */
	int (*end)(struct export_writer *w, const struct export_source *s, char *why,
		   size_t size);
	/* Closes OUT and frees w (after an error too). */
	int (*close)(struct export_writer *w, char *why, size_t size);
	/* The file stream `index` is written to (for messages and JSON). */
	const char *(*path)(const struct export_writer *w, unsigned index);
};

extern const struct export_format export_hdf5;
extern const struct export_format export_dada;

#endif /* RB_CTL_EXPORT_H */
