/*
 * <ringbuf/recording.h>: the recording format of ringbuf, a library module
 * of its own (libringbuf-recording, pkg-config ringbuf-recording).
 * rb-consumer record writes recordings with it, rb-producer --source file
 * replays and checks them with it, and the Python reader
 * ringbuf.Recording reads them with it: nothing else knows the format.
 *
 * The byte layout is in docs/RECORDING.md; this header is its C form.
 * Every multi-byte field is little-endian (x86-64 is the only target,
 * checked in meson.build, so structs are stored as they are laid out; the
 * _Static_asserts in format.c pin every offset).
 *
 *   file header   RB_REC_PAGE * k bytes: identity, frame type, stream header
 *                 text, and a summary written at a clean close
 *   then groups   a 4 KiB descriptor page for up to RB_REC_PAGE_ENTRIES
 *                 frames, followed by their data regions, each
 *                 round_up(length, 4096) bytes, straight from the slots
 *
 * Like the core library, nothing here prints or exits: functions return
 * 0 or -errno and the caller decides what to say.
 */
#ifndef RB_RECORDING_H
#define RB_RECORDING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringbuf/ringbuf.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The module's public functions; everything else in the shared library
 * (the I/O engine) is hidden. */
#define RB_REC_API __attribute__((visibility("default")))

/* The module's private I/O engine (not installed): the reader keeps one
 * for its descriptor pages. */
struct rio;

/* Every record starts on a multiple of this, for O_DIRECT. */
#define RB_REC_PAGE 4096u
#define RB_REC_MAGIC "RBRECORD"
#define RB_REC_SUMMARY_MAGIC "RBRECEND"
#define RB_REC_PAGE_MAGIC "RBRECIDX"
/* Version 2 added a CRC-32C per frame (rb_rec_entry.data_crc); version 3
 * the frames dropped before each frame (rb_rec_entry.dropped_before) and
 * after the last (rb_rec_summary.dropped_after), and the stream's UTC
 * anchor (rb_rec_header.anchor_*). Versions 1 and 2
 * still read: their frames unchecked (1), no drops known, no anchor. */
#define RB_REC_VERSION 3u
#define RB_REC_VERSION_MIN 1u
/* Descriptors per page: a 64-byte page head and 63 64-byte entries. */
#define RB_REC_PAGE_ENTRIES 63u
/* Offset of the stream header text inside the file header. */
#define RB_REC_TEXT_OFFSET 512u
/* Longest stream header a recording keeps (the ring's own limit is
 * configurable; 1 MiB is far beyond any real header). */
#define RB_REC_TEXT_MAX (1u << 20)
/* Largest frame a recording holds: a frame is one write, and io_uring
 * lengths are 32-bit. Readers refuse a header that says more. */
#define RB_REC_FRAME_MAX (1ull << 30)
/* Largest slot stride a header may name (a 1 GiB frame in slots aligned
 * to up to its own size). */
#define RB_REC_STRIDE_MAX (1ull << 31)
/* Largest recording-wide index a header may start at: far beyond any
 * real recording, and index arithmetic never wraps. */
#define RB_REC_INDEX_MAX (1ull << 62)
/* Largest file offset a page may name (offset arithmetic never wraps). */
#define RB_REC_OFFSET_MAX (1ull << 62)

/* rb_rec_header.flags */
#define RB_REC_FLAG_SERIES (1u << 0) /* one of numbered files FILE.000, ... */
#define RB_REC_FLAG_LOSSY (1u << 1)  /* recorded by a lossy consumer */
#define RB_REC_FLAGS_KNOWN (RB_REC_FLAG_SERIES | RB_REC_FLAG_LOSSY)

/* rb_rec_summary.end */
enum rb_rec_end {
	RB_REC_END_STOPPED = 0, /* end of stream, count, duration or a signal */
	RB_REC_END_ROTATED = 1, /* the recording continues in the next part */
	RB_REC_END_ERROR = 2,   /* a write failed (error holds the errno) */
};

/* rb_rec_entry.rflags */
#define RB_REC_ENTRY_DISCARDED (1u << 0) /* overwritten while written (lossy) */

/* Bytes [0, 256) of the file header: written once, when the file is made. */
struct rb_rec_header {
	char magic[8];              /* "RBRECORD" */
	uint32_t version;           /* RB_REC_VERSION */
	uint32_t header_bytes;      /* size of the file header, k * RB_REC_PAGE */
	uint32_t page_bytes;        /* RB_REC_PAGE */
	uint32_t page_entries;      /* RB_REC_PAGE_ENTRIES */
	uint64_t recording_id;      /* random, shared by the parts of a series */
	uint32_t part;              /* 0, 1, ... in a series; 0 otherwise */
	uint32_t flags;             /* RB_REC_FLAG_* */
	uint64_t created_ns;        /* CLOCK_REALTIME when the file was made */
	uint64_t frame_bytes;       /* the ring's largest frame */
	uint64_t slot_stride;       /* the recorded ring's slot stride */
	struct rb_frame_type type;  /* the ring's frame type (40 bytes) */
	uint32_t text_bytes;        /* stream header text length, no NUL */
	uint32_t reserved0;
	uint64_t first_index;       /* recording-wide index of the first entry */
	uint64_t stream_start_seq;  /* seq of the stream's first frame */
	/* The stream's UTC anchor (version 3): CLOCK_REALTIME anchor_real_ns
	 * was read at the CLOCK_MONOTONIC instant anchor_mono_ns, on the
	 * machine whose clock stamped the frames; both 0: none. */
	uint64_t anchor_mono_ns;
	uint64_t anchor_real_ns;
	uint8_t reserved[108];
	uint32_t crc;               /* crc32c of [0, 252) and of the text */
};

/* Bytes [256, 512): written at a clean close (also after a failed write). */
struct rb_rec_summary {
	char magic[8];              /* "RBRECEND" */
	uint64_t entries;           /* descriptors in this file, discarded included */
	uint64_t discarded;
	uint64_t data_bytes;        /* sum of the kept frames' lengths */
	uint64_t end_offset;        /* just past the last record */
	uint64_t first_seq;
	uint64_t last_seq;
	uint64_t first_timestamp_ns;
	uint64_t last_timestamp_ns;
	uint32_t end;               /* enum rb_rec_end */
	uint32_t error;             /* errno of the failed write, or 0 */
	uint64_t dropped_after;     /* frames the producer dropped after the
				     * last frame (the stream's end marker
				     * said so; version 3, 0 before) */
	uint8_t reserved[164];
	uint32_t crc;               /* crc32c of [256, 508) */
};

/* One frame's descriptor. */
struct rb_rec_entry {
	uint64_t seq;
	uint64_t length;
	uint64_t timestamp_ns;
	uint32_t flags;             /* the frame's RB_FRAME_* flags */
	uint32_t rflags;            /* RB_REC_ENTRY_* */
	uint64_t data_offset;       /* where the frame's bytes are in the file */
	uint32_t data_crc;          /* crc32c of the frame's length bytes (version 2) */
	uint32_t reserved0;
	uint64_t dropped_before;    /* frames the producer dropped just before
				     * this one (version 3; 0 before) */
	uint8_t reserved[8];
};

/* A descriptor page. */
struct rb_rec_page {
	char magic[8];              /* "RBRECIDX" */
	uint64_t recording_id;
	uint32_t part;
	uint32_t count;             /* entries in use, 0..RB_REC_PAGE_ENTRIES */
	uint64_t group;             /* 0, 1, ... within the file */
	uint64_t page_offset;       /* where this page is in the file */
	uint64_t next_offset;       /* just past the group's last data region */
	uint64_t first_index;       /* recording-wide index of entries[0] */
	uint32_t reserved0;
	uint32_t crc;               /* crc32c of the page with this field 0 */
	struct rb_rec_entry entries[RB_REC_PAGE_ENTRIES];
};

/* ---- checksums (crc32c.c) ------------------------------------------- */

/* CRC-32C; pass the previous result to continue, 0 to start. */
RB_REC_API uint32_t rb_rec_crc32c(uint32_t crc, const void *data, size_t n);

/* ---- the format (recording.c) ------------------------------------------ */

static inline uint64_t
rb_rec_round_up(uint64_t n)
{
	return (n + RB_REC_PAGE - 1) & ~(uint64_t)(RB_REC_PAGE - 1);
}

/* Bytes a frame of `length` takes in the file. */
static inline uint64_t
rb_rec_region_bytes(uint64_t length)
{
	return rb_rec_round_up(length);
}

/* Header size for a stream header text of `text_bytes`. */
RB_REC_API uint32_t rb_rec_header_bytes(uint32_t text_bytes);
/* Fills `buf` (header_bytes long) with the header and text; sets crc. */
RB_REC_API void rb_rec_header_encode(void *buf, const struct rb_rec_header *h, const char *text);
/* Sets the summary's magic and crc in the first page of the header. */
RB_REC_API void rb_rec_summary_encode(void *buf, const struct rb_rec_summary *s);
/*
 * Validates the fixed part of a header page (the first `have` bytes of the
 * file, at least RB_REC_PAGE): 0, -EMEDIUMTYPE if it is not a recording,
 * -EPROTONOSUPPORT for another version, -EBADMSG if damaged or a field is
 * out of its bounds (docs/RECORDING.md lists them; nothing is sized from
 * a field before it is checked), -EAGAIN if the text goes beyond `have`
 * (read header_bytes and call again).
 */
RB_REC_API int rb_rec_header_decode(const void *buf, size_t have, struct rb_rec_header *h);
/* true if the recording's frames carry a data_crc (version 2 on). */
static inline bool
rb_rec_has_frame_crc(const struct rb_rec_header *h)
{
	return h->version >= 2;
}
/* true if the stream has a UTC anchor (version 3 on, when recorded). */
static inline bool
rb_rec_has_utc(const struct rb_rec_header *h)
{
	return h->anchor_real_ns != 0;
}

/* The UTC time (ns since 1970, CLOCK_REALTIME) of a frame time stamp
 * (CLOCK_MONOTONIC of the recording machine): the anchor's offset added,
 * modulo 2^64. Meaningful only when rb_rec_has_utc(). */
static inline uint64_t
rb_rec_utc_ns(const struct rb_rec_header *h, uint64_t timestamp_ns)
{
	return timestamp_ns + (h->anchor_real_ns - h->anchor_mono_ns);
}

/* The frame `e` of a part with header `h` holds `data` (e->length bytes):
 * true if its data_crc matches, or the version has none. */
RB_REC_API bool rb_rec_frame_intact(const struct rb_rec_header *h, const struct rb_rec_entry *e,
		      const void *data);
/* true if the summary is present and intact. */
RB_REC_API bool rb_rec_summary_decode(const void *buf, struct rb_rec_summary *s);
/* Sets the page's crc. */
RB_REC_API void rb_rec_page_seal(struct rb_rec_page *p);
/* Checks magic, crc and that the page is the one expected at `offset`. */
RB_REC_API bool rb_rec_page_valid(const struct rb_rec_page *p, uint64_t recording_id, uint32_t part,
		    uint64_t group, uint64_t offset);

/* Path of part `part`: "FILE" alone, or "FILE.000" in a series. */
RB_REC_API int rb_rec_part_path(char *buf, size_t size, const char *base, bool series, uint32_t part);

/* ---- reading recordings (reader.c) ------------------------------------ */

/*
 * Walks a recording (one file or a series of parts) descriptor by
 * descriptor, reading descriptor pages itself; the frame bytes are the
 * caller's to read, at rb_rec_entry.data_offset of the file rd->fd.
 */
struct rb_rec_reader {
	struct rio *meta;       /* headers and pages, one at a time */
	char base[4096];        /* the path given, without a part suffix */
	char path[4096 + 8];    /* the part being read */
	bool series;
	bool direct;            /* files opened with O_DIRECT */
	bool want_direct;
	int fd;
	int old_fd;             /* the previous part: closed on the next switch */
	uint64_t file_bytes;
	struct rb_rec_header h;    /* of the first part */
	struct rb_rec_header ph;   /* of the part being read */
	char *text;             /* the stream header text, NUL-terminated */
	uint8_t *hbuf;          /* the part's header, header_bytes */
	bool summary_ok;        /* the part being read has a summary */
	struct rb_rec_summary sum;
	struct rb_rec_page *page;  /* aligned */
	uint64_t page_offset;
	uint64_t group;
	uint32_t next_entry;    /* in *page */
	bool page_loaded;
	bool part_done;
	uint64_t part_entries;  /* entries seen in this part */
	uint64_t index;         /* recording-wide index of the next entry */
	bool have_seq;
	uint64_t last_seq;      /* of the last descriptor returned */
	uint32_t parts;         /* parts opened so far */
	bool complete;          /* every part read closed cleanly */
	const char *stop;       /* why the walk stopped: see reader.c */
	int error;              /* -errno of a failed read, 0 */
};

/*
 * Opens a recording: `path` itself, or `path`.000 when `path` does not
 * exist and the series does. want_direct: open with O_DIRECT where the
 * file system allows it. Returns 0 or -errno (-EMEDIUMTYPE and friends as
 * rb_rec_header_decode).
 */
RB_REC_API int rb_rec_reader_open(struct rb_rec_reader *rd, const char *path, bool want_direct);
/*
 * The next descriptor: 1 with *e set (rd->fd and rd->path are its file's),
 * 0 at the end (rd->stop says why), -errno on a read error. A part switch
 * keeps the previous part's fd open until the switch after it, so reads
 * in flight on it may finish: a caller that sees rd->fd change completes
 * its reads on the old one before asking for the next descriptor again.
 */
RB_REC_API int rb_rec_reader_next(struct rb_rec_reader *rd, struct rb_rec_entry *e);
/* Starts again from the first part (for --loop). */
RB_REC_API int rb_rec_reader_rewind(struct rb_rec_reader *rd);
RB_REC_API void rb_rec_reader_close(struct rb_rec_reader *rd);

#ifdef __cplusplus
}
#endif

#endif /* RB_RECORDING_H */
