/*
 * Recordings of a ring's frames on disk (rb-consumer record writes them,
 * rb-producer --source file replays and checks them), and the I/O engine
 * both use. The byte layout is in docs/RECORDING.md; this header is its
 * C form. Every multi-byte field is little-endian (x86-64 is the only
 * target, checked in meson.build, so structs are stored as they are laid
 * out; the _Static_asserts in recording.c pin every offset).
 *
 *   file header   REC_PAGE * k bytes: identity, frame type, stream header
 *                 text, and a summary written at a clean close
 *   then groups   a 4 KiB descriptor page for up to REC_PAGE_ENTRIES
 *                 frames, followed by their data regions, each
 *                 round_up(length, 4096) bytes, straight from the slots
 *
 * Like the rest of tools/cli, nothing here prints or exits: functions
 * return 0 or -errno and the programs decide what to say.
 */
#ifndef RB_RECORDING_H
#define RB_RECORDING_H

#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringbuf/ringbuf.h>

/* Every record starts on a multiple of this, for O_DIRECT. */
#define REC_PAGE 4096u
#define REC_MAGIC "RBRECORD"
#define REC_SUMMARY_MAGIC "RBRECEND"
#define REC_PAGE_MAGIC "RBRECIDX"
/* Version 2 added a CRC-32C per frame (rec_entry.data_crc); version 1
 * recordings still read, their frames unchecked. */
#define REC_VERSION 2u
#define REC_VERSION_MIN 1u
/* Descriptors per page: a 64-byte page head and 63 64-byte entries. */
#define REC_PAGE_ENTRIES 63u
/* Offset of the stream header text inside the file header. */
#define REC_TEXT_OFFSET 512u
/* Longest stream header a recording keeps (the ring's own limit is
 * configurable; 1 MiB is far beyond any real header). */
#define REC_TEXT_MAX (1u << 20)
/* Largest frame a recording holds: a frame is one write, and io_uring
 * lengths are 32-bit. Readers refuse a header that says more. */
#define REC_FRAME_MAX (1ull << 30)
/* Largest slot stride a header may name (a 1 GiB frame in slots aligned
 * to up to its own size). */
#define REC_STRIDE_MAX (1ull << 31)
/* Largest recording-wide index a header may start at: far beyond any
 * real recording, and index arithmetic never wraps. */
#define REC_INDEX_MAX (1ull << 62)
/* Largest file offset a page may name (offset arithmetic never wraps). */
#define REC_OFFSET_MAX (1ull << 62)

/* rec_header.flags */
#define REC_FLAG_SERIES (1u << 0) /* one of numbered files FILE.000, ... */
#define REC_FLAG_LOSSY (1u << 1)  /* recorded by a lossy consumer */
#define REC_FLAGS_KNOWN (REC_FLAG_SERIES | REC_FLAG_LOSSY)

/* rec_summary.end */
enum rec_end {
	REC_END_STOPPED = 0, /* end of stream, count, duration or a signal */
	REC_END_ROTATED = 1, /* the recording continues in the next part */
	REC_END_ERROR = 2,   /* a write failed (error holds the errno) */
};

/* rec_entry.rflags */
#define REC_ENTRY_DISCARDED (1u << 0) /* overwritten while written (lossy) */

/* Bytes [0, 256) of the file header: written once, when the file is made. */
struct rec_header {
	char magic[8];              /* "RBRECORD" */
	uint32_t version;           /* REC_VERSION */
	uint32_t header_bytes;      /* size of the file header, k * REC_PAGE */
	uint32_t page_bytes;        /* REC_PAGE */
	uint32_t page_entries;      /* REC_PAGE_ENTRIES */
	uint64_t recording_id;      /* random, shared by the parts of a series */
	uint32_t part;              /* 0, 1, ... in a series; 0 otherwise */
	uint32_t flags;             /* REC_FLAG_* */
	uint64_t created_ns;        /* CLOCK_REALTIME when the file was made */
	uint64_t frame_bytes;       /* the ring's largest frame */
	uint64_t slot_stride;       /* the recorded ring's slot stride */
	struct rb_frame_type type;  /* the ring's frame type (40 bytes) */
	uint32_t text_bytes;        /* stream header text length, no NUL */
	uint32_t reserved0;
	uint64_t first_index;       /* recording-wide index of the first entry */
	uint64_t stream_start_seq;  /* seq of the stream's first frame */
	uint8_t reserved[124];
	uint32_t crc;               /* crc32c of [0, 252) and of the text */
};

/* Bytes [256, 512): written at a clean close (also after a failed write). */
struct rec_summary {
	char magic[8];              /* "RBRECEND" */
	uint64_t entries;           /* descriptors in this file, discarded included */
	uint64_t discarded;
	uint64_t data_bytes;        /* sum of the kept frames' lengths */
	uint64_t end_offset;        /* just past the last record */
	uint64_t first_seq;
	uint64_t last_seq;
	uint64_t first_timestamp_ns;
	uint64_t last_timestamp_ns;
	uint32_t end;               /* enum rec_end */
	uint32_t error;             /* errno of the failed write, or 0 */
	uint8_t reserved[172];
	uint32_t crc;               /* crc32c of [256, 508) */
};

/* One frame's descriptor. */
struct rec_entry {
	uint64_t seq;
	uint64_t length;
	uint64_t timestamp_ns;
	uint32_t flags;             /* the frame's RB_FRAME_* flags */
	uint32_t rflags;            /* REC_ENTRY_* */
	uint64_t data_offset;       /* where the frame's bytes are in the file */
	uint32_t data_crc;          /* crc32c of the frame's length bytes (version 2) */
	uint8_t reserved[20];
};

/* A descriptor page. */
struct rec_page {
	char magic[8];              /* "RBRECIDX" */
	uint64_t recording_id;
	uint32_t part;
	uint32_t count;             /* entries in use, 0..REC_PAGE_ENTRIES */
	uint64_t group;             /* 0, 1, ... within the file */
	uint64_t page_offset;       /* where this page is in the file */
	uint64_t next_offset;       /* just past the group's last data region */
	uint64_t first_index;       /* recording-wide index of entries[0] */
	uint32_t reserved0;
	uint32_t crc;               /* crc32c of the page with this field 0 */
	struct rec_entry entries[REC_PAGE_ENTRIES];
};

/* ---- checksums (crc32c.c) ------------------------------------------- */

/* CRC-32C; pass the previous result to continue, 0 to start. */
uint32_t rec_crc32c(uint32_t crc, const void *data, size_t n);

/* ---- the format (recording.c) ------------------------------------------ */

static inline uint64_t
rec_round_up(uint64_t n)
{
	return (n + REC_PAGE - 1) & ~(uint64_t)(REC_PAGE - 1);
}

/* Bytes a frame of `length` takes in the file. */
static inline uint64_t
rec_region_bytes(uint64_t length)
{
	return rec_round_up(length);
}

/* Header size for a stream header text of `text_bytes`. */
uint32_t rec_header_bytes(uint32_t text_bytes);
/* Fills `buf` (header_bytes long) with the header and text; sets crc. */
void rec_header_encode(void *buf, const struct rec_header *h, const char *text);
/* Sets the summary's magic and crc in the first page of the header. */
void rec_summary_encode(void *buf, const struct rec_summary *s);
/*
 * Validates the fixed part of a header page (the first `have` bytes of the
 * file, at least REC_PAGE): 0, -EMEDIUMTYPE if it is not a recording,
 * -EPROTONOSUPPORT for another version, -EBADMSG if damaged or a field is
 * out of its bounds (docs/RECORDING.md lists them; nothing is sized from
 * a field before it is checked), -EAGAIN if the text goes beyond `have`
 * (read header_bytes and call again).
 */
int rec_header_decode(const void *buf, size_t have, struct rec_header *h);
/* true if the recording's frames carry a data_crc (version 2 on). */
static inline bool
rec_has_frame_crc(const struct rec_header *h)
{
	return h->version >= 2;
}
/* The frame `e` of a part with header `h` holds `data` (e->length bytes):
 * true if its data_crc matches, or the version has none. */
bool rec_frame_intact(const struct rec_header *h, const struct rec_entry *e,
		      const void *data);
/* true if the summary is present and intact. */
bool rec_summary_decode(const void *buf, struct rec_summary *s);
/* Sets the page's crc. */
void rec_page_seal(struct rec_page *p);
/* Checks magic, crc and that the page is the one expected at `offset`. */
bool rec_page_valid(const struct rec_page *p, uint64_t recording_id, uint32_t part,
		    uint64_t group, uint64_t offset);

/* Path of part `part`: "FILE" alone, or "FILE.000" in a series. */
int rec_part_path(char *buf, size_t size, const char *base, bool series, uint32_t part);

/* ---- the I/O engine (rio.c) --------------------------------------------- */

/*
 * Reads and writes through io_uring when the kernel allows it, else
 * through pread/pwrite (an io_uring_setup refused with ENOSYS or EPERM:
 * kernels built without it, io_uring_disabled, seccomp). The fallback
 * completes every request at once and hands its result back through
 * rio_reap, so callers have one code path.
 *
 * Buffers inside the area given to rio_register are used as io_uring fixed
 * buffers (read_fixed/write_fixed): the kernel pins them once, not per I/O.
 */
struct rio_done {
	uint64_t tag;
	int32_t res;
};

struct rio {
	struct io_uring uring;
	bool uring_ok;          /* false: the system-call fallback */
	int uring_error;        /* why io_uring is not used (-errno) */
	bool fixed;             /* a buffer area is registered */
	int fixed_error;        /* why registration was refused (-errno) */
	const uint8_t *fixed_base;
	uint64_t fixed_bytes;
	uint64_t fixed_chunk;   /* bytes per registered iovec */
	unsigned entries;
	unsigned inflight;      /* requests not reaped yet */
	struct rio_done *sync;  /* fallback: completed, not reaped */
	unsigned sync_cap, sync_head, sync_n;
};

/* Sets up `entries` requests in flight at most. -ENOMEM only: a refused
 * io_uring selects the fallback (see uring_ok, uring_error). */
int rio_init(struct rio *io, unsigned entries);
void rio_fini(struct rio *io);
/*
 * Registers [base, base + bytes) as fixed buffers, one iovec per run of
 * whole `unit`s (slots) of at most 1 GiB. Returns 0 or -errno (then I/O
 * still works, with unregistered buffers; fixed_error says why).
 */
int rio_register(struct rio *io, void *base, uint64_t bytes, uint64_t unit);
/* Queue one request; the fallback performs it now. -EBUSY if the queue
 * is full (reap first). */
int rio_write(struct rio *io, int fd, const void *buf, uint32_t len, uint64_t off,
	      uint64_t tag);
int rio_read(struct rio *io, int fd, void *buf, uint32_t len, uint64_t off,
	     uint64_t tag);
int rio_fsync(struct rio *io, int fd, uint64_t tag);
int rio_fallocate(struct rio *io, int fd, int mode, uint64_t off, uint64_t len,
		  uint64_t tag);
/* Hands queued requests to the kernel. */
int rio_submit(struct rio *io);
/*
 * Waits until `min` completions are there (min 0: never waits; a timeout
 * of 0 means no limit), then returns up to `max` of them. -EINTR on a
 * signal, -ETIME when the timeout passed with fewer than min.
 */
int rio_reap(struct rio *io, struct rio_done *out, unsigned max, unsigned min,
	     uint64_t timeout_ns);
/* One request at a time, to its end (for headers and descriptor pages):
 * queue, submit, wait for it. Returns its result. Nothing else may be in
 * flight on `io`. */
int rio_read_sync(struct rio *io, int fd, void *buf, uint32_t len, uint64_t off);
int rio_write_sync(struct rio *io, int fd, const void *buf, uint32_t len, uint64_t off);
int rio_fsync_sync(struct rio *io, int fd);
/* "direct+fixed", "buffered", "pwrite+direct", ... for summaries. */
const char *rio_path_name(const struct rio *io, bool direct, bool writing);
/*
 * Adds to `note` (size bytes, "" at first) why I/O is not on the
 * direct+fixed path: `why`, with strerror(-code) when code is -errno;
 * reasons are separated by "; ". For the io_fallback of summaries.
 */
void rio_fallback_note(char *note, size_t size, const char *why, int code);
/*
 * Says in `buf` why rio_init failed with `rc` and what to do: for -ENOMEM
 * under a small RLIMIT_MEMLOCK, which limit refused and how to raise it.
 */
void rio_init_error(char *buf, size_t size, int rc);

/* ---- reading recordings (reader.c) ------------------------------------ */

/*
 * Walks a recording (one file or a series of parts) descriptor by
 * descriptor, reading descriptor pages itself; the frame bytes are the
 * caller's to read, at rec_entry.data_offset of the file rd->fd.
 */
struct rec_reader {
	struct rio meta;        /* headers and pages, one at a time */
	char base[4096];        /* the path given, without a part suffix */
	char path[4096 + 8];    /* the part being read */
	bool series;
	bool direct;            /* files opened with O_DIRECT */
	bool want_direct;
	int fd;
	int old_fd;             /* the previous part: closed on the next switch */
	uint64_t file_bytes;
	struct rec_header h;    /* of the first part */
	struct rec_header ph;   /* of the part being read */
	char *text;             /* the stream header text, NUL-terminated */
	uint8_t *hbuf;          /* the part's header, header_bytes */
	bool summary_ok;        /* the part being read has a summary */
	struct rec_summary sum;
	struct rec_page *page;  /* aligned */
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
 * rec_header_decode).
 */
int rec_reader_open(struct rec_reader *rd, const char *path, bool want_direct);
/*
 * The next descriptor: 1 with *e set (rd->fd and rd->path are its file's),
 * 0 at the end (rd->stop says why), -errno on a read error. A part switch
 * keeps the previous part's fd open until the switch after it, so reads
 * in flight on it may finish: a caller that sees rd->fd change completes
 * its reads on the old one before asking for the next descriptor again.
 */
int rec_reader_next(struct rec_reader *rd, struct rec_entry *e);
/* Starts again from the first part (for --loop). */
int rec_reader_rewind(struct rec_reader *rd);
void rec_reader_close(struct rec_reader *rd);

#endif /* RB_RECORDING_H */
