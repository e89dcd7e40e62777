/*
 * The stdout analysis: the raw bytes of every frame to standard output,
 * written with io_uring straight from the ring's slots (no copy in user
 * space), several writes in flight, each frame released only after its
 * bytes have been written.
 *
 * Order. Writes to a pipe, a terminal or a socket land in the order they
 * execute, and io_uring may run independent requests in any order. So the
 * writes of a batch form one IOSQE_IO_LINK chain: each starts only when
 * the one before it completed, and the kernel still gets the whole batch
 * in one submission. A chain does not extend across submissions, so only
 * one chain is in flight at a time: the next batch is submitted once the
 * previous one has completed.
 *
 * Short writes. io_uring treats a short write as a failure of the link:
 * the rest of the chain completes with -ECANCELED. We then resubmit, as a
 * new chain, the remainder of the short write followed by the cancelled
 * ones, so bytes still reach the output in order. The same path handles
 * -EINTR, and -EAGAIN on an output left in non-blocking mode (after waiting
 * for POLLOUT, through io_uring as well).
 *
 * Closed output. With SIGPIPE ignored, a reader that went away shows up as
 * -EPIPE: the analysis asks the consumer to stop cleanly, like `head`
 * closing a pipe is no failure of the writer.
 *
 * Lossy consumers. A slot the producer may overwrite at any time cannot be
 * written out in place: the bytes could leave part old and part new. So a
 * lossy sink copies each batch into a staging buffer first (the one copy,
 * lossy mode only), lets the batch be released, and writes out only the
 * copies of frames the release counted received (stdout_released): a frame
 * intact at its release was intact when it was copied before it, since a
 * producer marks a slot before changing a byte of it (FORMAT.md §5.7). The
 * bytes written are then exactly the summary's frames, never a torn one.
 * The buffer holds --batch frames of the ring's frame size, at most
 * SINK_MAX_STAGING bytes.
 *
 * Signals. A SIGINT while writes are in flight gives them a second to
 * complete (a reader may just be slow); then they are cancelled, so that
 * the frames they point into can be released and the ring unmapped.
 */
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "consumer.h"

/* Writes in one chain: enough to keep the output busy between batches. */
#define SINK_MAX_DEPTH 64u
/* One write moves at most this much (io_uring lengths are 32-bit). */
#define SINK_MAX_WRITE (1u << 30)
/* After a stop request, how long in-flight writes may still take. */
#define SINK_GRACE_SEC 1
/* user_data of requests that are not frame writes. */
#define SINK_TAG_CANCEL (UINT64_MAX - 1)
#define SINK_TAG_POLL (UINT64_MAX - 2)
/* Consecutive rounds without a byte written before giving up. */
#define SINK_MAX_STALLS 1000
/* Lossy staging buffer: --batch frames of the ring's frame size. */
#define SINK_MAX_STAGING (1ull << 30)

struct sink_write {
	const uint8_t *p;
	uint64_t left;
};

struct stdout_sink {
	struct io_uring uring;
	bool uring_ready;
	unsigned depth;
	struct sink_write *w; /* one per frame of the batch */
	uint32_t cap;
	uint64_t bytes;
	uint64_t writes;
	uint64_t retries;     /* resubmissions: short, interrupted, EAGAIN */
	bool closed;          /* EPIPE: the reader went away */
	bool cancelled;       /* in-flight writes were cancelled on a stop */
	bool lossy;
	uint8_t *staging;     /* lossy: copies of the batch's frames */
	uint64_t staging_bytes;
	uint64_t frames_written;
	uint64_t not_written; /* lossy: overwritten before their release */
};

static int
sink_init(void *state, const struct consumer_options *o)
{
	struct stdout_sink *s = state;
	int rc;

	/* Raw frames would garble a terminal; it is always a mistake. */
	if (isatty(STDOUT_FILENO)) {
		cli_error("stdout: is a terminal; redirect the frames to a file or pipe");
		return CLI_EXIT_USAGE;
	}
	s->depth = o->batch < SINK_MAX_DEPTH ? o->batch : SINK_MAX_DEPTH;
	s->cap = o->batch;
	s->lossy = o->lossy;
	s->w = calloc(s->cap, sizeof(*s->w));
	if (s->w == NULL) {
		cli_error("stdout: out of memory");
		return CLI_EXIT_FAIL;
	}
	/* Room for a chain plus the cancel or poll request beside it. */
	rc = io_uring_queue_init(s->depth + 2, &s->uring, 0);
	if (rc < 0) {
		cli_error("stdout: io_uring setup: %s", strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	s->uring_ready = true;
	return 0;
}

/* Asks the kernel to cancel everything in flight (after a stop request). */
static void
sink_cancel_all(struct stdout_sink *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->uring);

	s->cancelled = true;
	if (sqe == NULL)
		return;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	io_uring_sqe_set_data64(sqe, SINK_TAG_CANCEL);
	(void)io_uring_submit(&s->uring);
}

/*
 * Waits for the next completion of ours. Signals only interrupt the wait;
 * once a stop was requested, the wait is bounded by the grace period,
 * after which everything in flight is cancelled (and then still waited
 * for: the kernel must be done with the ring's memory).
 */
static int
sink_wait(struct stdout_sink *s, struct io_uring_cqe **cqe)
{
	struct __kernel_timespec grace = {.tv_sec = SINK_GRACE_SEC, .tv_nsec = 0};
	int rc;

	for (;;) {
		if (cli_stop && !s->cancelled)
			rc = io_uring_wait_cqe_timeout(&s->uring, cqe, &grace);
		else
			rc = io_uring_wait_cqe(&s->uring, cqe);
		if (rc == -ETIME) {
			sink_cancel_all(s);
			continue;
		}
		if (rc == -EINTR)
			continue;
		if (rc < 0)
			return rc;
		if ((*cqe)->user_data == SINK_TAG_CANCEL ||
		    (*cqe)->user_data == LIBURING_UDATA_TIMEOUT) {
			io_uring_cqe_seen(&s->uring, *cqe);
			continue;
		}
		return 0;
	}
}

/* Waits until stdout can take more (it is in non-blocking mode). */
static int
sink_wait_writable(struct stdout_sink *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&s->uring);
	struct io_uring_cqe *cqe;
	int rc;

	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_poll_add(sqe, STDOUT_FILENO, POLLOUT);
	io_uring_sqe_set_data64(sqe, SINK_TAG_POLL);
	if ((rc = io_uring_submit(&s->uring)) < 0)
		return rc;
	if ((rc = sink_wait(s, &cqe)) < 0)
		return rc;
	io_uring_cqe_seen(&s->uring, cqe);
	return 0;
}

/*
 * Submits writes for w[first..] as one chain and reaps them all. Returns
 * 0, -EAGAIN if the output wants polling first, or a fatal -errno.
 */
static int
sink_chain(struct stdout_sink *s, uint32_t first, uint32_t n)
{
	struct io_uring_sqe *sqe, *last = NULL;
	struct io_uring_cqe *cqe;
	uint32_t i, k = 0, got = 0;
	bool again = false;
	int rc, error = 0;

	for (i = first; i < n && k < s->depth; i++) {
		unsigned len;

		if (s->w[i].left == 0)
			continue;
		sqe = io_uring_get_sqe(&s->uring);
		if (sqe == NULL)
			break;
		len = s->w[i].left > SINK_MAX_WRITE ? SINK_MAX_WRITE : (unsigned)s->w[i].left;
		/* Offset -1: the file position, which also works on pipes,
		 * and advances the way write(2) would for a regular file. */
		io_uring_prep_write(sqe, STDOUT_FILENO, s->w[i].p, len, (uint64_t)-1);
		io_uring_sqe_set_data64(sqe, i);
		io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
		last = sqe;
		k++;
		/* A frame that takes several writes ends the chain: what
		 * follows must wait for its remainder. */
		if (len < s->w[i].left)
			break;
	}
	if (k == 0)
		return 0;
	/* The chain ends at its last request. The kernel would end it at the
	 * submission boundary anyway; saying so keeps the intent plain. */
	io_uring_sqe_set_flags(last, 0);
	do
		rc = io_uring_submit(&s->uring);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	s->writes += k;
	while (got < k) {
		uint64_t idx;
		int res;

		if ((rc = sink_wait(s, &cqe)) < 0)
			return rc;
		idx = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&s->uring, cqe);
		if (idx >= n)
			continue; /* a stray poll completion: not a write */
		got++;
		if (res > 0) {
			s->w[idx].p += res;
			s->w[idx].left -= (uint64_t)res;
			s->bytes += (uint64_t)res;
		} else if (res == -EAGAIN) {
			again = true;
		} else if (res == -EPIPE) {
			s->closed = true;
		} else if (res != 0 && res != -ECANCELED && res != -EINTR && error == 0) {
			error = res;
		}
	}
	if (error != 0)
		return error;
	return again ? -EAGAIN : 0;
}

/* Lossy: the staging buffer, sized for --batch frames of the ring. */
static int
sink_ring(void *state, struct rb_ring *ring)
{
	struct stdout_sink *s = state;
	uint64_t frame = rb_ring_frame_bytes(ring);

	if (!s->lossy)
		return 0;
	if (frame != 0 && s->cap > SINK_MAX_STAGING / frame) {
		cli_error("stdout: --lossy copies each batch before writing it, and %" PRIu32
			  " frames of %" PRIu64 " bytes exceed %llu MiB: give a smaller --batch",
			  s->cap, frame, SINK_MAX_STAGING >> 20);
		return CLI_EXIT_USAGE;
	}
	s->staging_bytes = frame * s->cap;
	s->staging = malloc(s->staging_bytes ? s->staging_bytes : 1);
	if (s->staging == NULL) {
		cli_error("stdout: out of memory for the lossy staging buffer (%" PRIu64 " bytes)",
			  s->staging_bytes);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

/* Writes w[0..n) out, in order. 0, 1 to stop cleanly, or an exit status. */
static int
sink_write_all(struct stdout_sink *s, uint32_t n)
{
	uint32_t first = 0, stalls = 0;
	uint64_t before;
	int rc;

	while (first < n) {
		before = s->bytes;
		rc = sink_chain(s, first, n);
		if (s->closed)
			return 1;
		if (rc == -EAGAIN)
			rc = sink_wait_writable(s);
		if (rc < 0) {
			cli_error("stdout: %s", strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		if (s->cancelled)
			return 1; /* stopped with writes cut short */
		while (first < n && s->w[first].left == 0)
			first++;
		/* Every round writes something unless interrupted; a writer
		 * that keeps getting nowhere is broken, not slow. */
		if (s->bytes != before)
			stalls = 0;
		else if (++stalls >= SINK_MAX_STALLS) {
			cli_error("stdout: no progress writing");
			return CLI_EXIT_FAIL;
		}
		if (first < n)
			s->retries++;
	}
	return 0;
}

static int
sink_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
	    uint32_t n)
{
	struct stdout_sink *s = state;
	uint64_t off = 0;
	uint32_t i;
	int rc;

	(void)c;
	if (n > s->cap)
		n = s->cap; /* never: main asks for at most --batch frames */
	for (i = 0; i < n; i++) {
		/* An abandoned frame is a placeholder: no bytes to write. */
		uint64_t len = frame_abandoned(&frames[i]) ? 0 : frames[i].length;

		if (s->lossy) {
			/* Copied now, written once the release says it was
			 * intact (sink_released). length <= frame_bytes. */
			if (off + len > s->staging_bytes)
				len = 0; /* never: a longer frame is refused as corrupt */
			memcpy(s->staging + off, frames[i].data, len);
			s->w[i].p = s->staging + off;
			off += len;
		} else {
			s->w[i].p = frames[i].data;
		}
		s->w[i].left = len;
	}
	if (s->lossy)
		return 0;
	rc = sink_write_all(s, n);
	if (rc == 0)
		s->frames_written += n;
	return rc;
}

static int
sink_released(void *state, const struct rb_frame *frames, uint32_t n, const bool *lost)
{
	struct stdout_sink *s = state;
	uint32_t i, gone = 0;
	int rc;

	(void)frames;
	if (!s->lossy || lost == NULL)
		return 0;
	if (n > s->cap)
		n = s->cap;
	for (i = 0; i < n; i++)
		if (lost[i]) {
			s->w[i].left = 0; /* overwritten before its release */
			gone++;
		}
	s->not_written += gone;
	rc = sink_write_all(s, n);
	if (rc == 0)
		s->frames_written += n - gone;
	return rc;
}

static void
sink_summary(void *state, FILE *out)
{
	struct stdout_sink *s = state;

	fprintf(out, "  stdout: %" PRIu64 " bytes in %" PRIu64 " writes, %" PRIu64
		" resubmitted%s\n", s->bytes, s->writes, s->retries,
		s->closed ? "; the output was closed" : "");
	if (s->lossy)
		fprintf(out, "  stdout: lossy, staged: %" PRIu64 " frames written, each intact; %"
			PRIu64 " overwritten before their release were not written\n",
			s->frames_written, s->not_written);
}

static void
sink_json(void *state, struct cli_json *j)
{
	struct stdout_sink *s = state;

	cli_json_u64(j, "bytes_written", s->bytes);
	cli_json_u64(j, "writes", s->writes);
	cli_json_u64(j, "resubmitted", s->retries);
	cli_json_bool(j, "output_closed", s->closed);
	cli_json_u64(j, "frames_written", s->frames_written);
	cli_json_u64(j, "not_written", s->not_written);
}

static void
sink_fini(void *state)
{
	struct stdout_sink *s = state;

	if (s->uring_ready)
		io_uring_queue_exit(&s->uring);
	free(s->w);
	free(s->staging);
}

const struct analysis analysis_stdout = {
	.name = "stdout",
	.state_size = sizeof(struct stdout_sink),
	.owns_stdout = true,
	.init = sink_init,
	.ring = sink_ring,
	.frames = sink_frames,
	.released = sink_released,
	.summary = sink_summary,
	.json = sink_json,
	.fini = sink_fini,
};
