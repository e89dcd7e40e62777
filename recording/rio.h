/*
 * The recording module's I/O engine, private to the module and the
 * programs built in this tree (the recorder, replay, --check): it is not
 * installed, and its symbols are hidden in the shared library. Its own
 * prefix rio_ says it is not part of <ringbuf/recording.h>.
 */
#ifndef RB_RECORDING_RIO_H
#define RB_RECORDING_RIO_H

#include <liburing.h>
#include <stdbool.h>
#include <stdint.h>

#include <ringbuf/recording.h>

/* ---- the I/O engine (rio.c) ------------------------------------------ */

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

#endif /* RB_RECORDING_RIO_H */
