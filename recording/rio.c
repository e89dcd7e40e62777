/*
 * The I/O engine of the recorder and the replayer: io_uring with the
 * ring's slots as fixed buffers, or plain pread/pwrite where io_uring is
 * refused. See rio.h for the interface.
 *
 * Why fixed buffers: for every unregistered read or write the kernel
 * looks up and pins the user pages, and unpins them at completion; with
 * the slot area registered once, a 1 MiB O_DIRECT write is a table lookup.
 * Registration is charged to RLIMIT_MEMLOCK (without CAP_IPC_LOCK), and
 * one iovec may not exceed 1 GiB; so the area is cut into runs of whole
 * slots, and a refusal leaves I/O on unregistered buffers.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <unistd.h>

#include "rio.h"

/* io_uring's limits on registered buffers (io_uring/rsrc.c). */
#define RIO_MAX_IOVEC_BYTES (1ull << 30)
#define RIO_MAX_IOVECS 16384u

int
rio_init(struct rio *io, unsigned entries)
{
	struct io_uring_params p;
	int rc;

	memset(io, 0, sizeof(*io));
	io->entries = entries ? entries : 1;
	/* COOP_TASKRUN: completions are run when we next enter the kernel
	 * instead of interrupting us with an IPI; we always reap through
	 * io_uring_enter anyway. Older kernels refuse the flag: retry
	 * without it. */
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_COOP_TASKRUN;
	rc = io_uring_queue_init_params(io->entries, &io->uring, &p);
	if (rc == -EINVAL) {
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(io->entries, &io->uring, &p);
	}
	if (rc == 0) {
		io->uring_ok = true;
		return 0;
	}
	if (rc == -ENOMEM)
		return rc;
	/* ENOSYS (not built in), EPERM (io_uring_disabled, seccomp), and
	 * anything else the setup says: use the system calls. */
	io->uring_error = rc;
	io->sync_cap = io->entries;
	io->sync = calloc(io->sync_cap, sizeof(*io->sync));
	return io->sync == NULL ? -ENOMEM : 0;
}

void
rio_fini(struct rio *io)
{
	if (io->uring_ok) {
		if (io->fixed)
			(void)io_uring_unregister_buffers(&io->uring);
		io_uring_queue_exit(&io->uring);
	}
	free(io->sync);
	memset(io, 0, sizeof(*io));
}

int
rio_register(struct rio *io, void *base, uint64_t bytes, uint64_t unit)
{
	uint64_t chunk, n, i;
	struct iovec *iov;
	int rc;

	if (!io->uring_ok) {
		io->fixed_error = io->uring_error;
		return io->uring_error;
	}
	if (unit == 0 || unit > RIO_MAX_IOVEC_BYTES || bytes == 0) {
		io->fixed_error = -EINVAL;
		return -EINVAL;
	}
	chunk = RIO_MAX_IOVEC_BYTES / unit * unit;
	if (chunk > bytes)
		chunk = bytes;
	n = (bytes + chunk - 1) / chunk;
	if (n > RIO_MAX_IOVECS) {
		io->fixed_error = -E2BIG;
		return -E2BIG;
	}
	iov = calloc(n, sizeof(*iov));
	if (iov == NULL) {
		io->fixed_error = -ENOMEM;
		return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		iov[i].iov_base = (uint8_t *)base + i * chunk;
		iov[i].iov_len = i + 1 < n ? chunk : bytes - i * chunk;
	}
	rc = io_uring_register_buffers(&io->uring, iov, (unsigned)n);
	free(iov);
	if (rc != 0) {
		io->fixed_error = rc;
		return rc;
	}
	io->fixed = true;
	io->fixed_base = base;
	io->fixed_bytes = bytes;
	io->fixed_chunk = chunk;
	return 0;
}

/* The registered buffer holding [buf, buf + len), or -1. */
static int
rio_fixed_index(const struct rio *io, const void *buf, uint32_t len)
{
	const uint8_t *p = buf;
	uint64_t off, idx;

	if (!io->fixed || p < io->fixed_base || p >= io->fixed_base + io->fixed_bytes)
		return -1;
	off = (uint64_t)(p - io->fixed_base);
	idx = off / io->fixed_chunk;
	if (off + len > (idx + 1) * io->fixed_chunk || off + len > io->fixed_bytes)
		return -1;
	return (int)idx;
}

/* Records a fallback completion. */
static int
rio_sync_done(struct rio *io, uint64_t tag, int res)
{
	if (io->sync_n == io->sync_cap)
		return -EBUSY;
	io->sync[(io->sync_head + io->sync_n) % io->sync_cap] =
		(struct rio_done){.tag = tag, .res = res};
	io->sync_n++;
	io->inflight++;
	return 0;
}

/* The fallback's read or write: loops over short transfers the way the
 * kernel's io_uring does for regular files, stopping at end of file. */
static int
rio_sync_rw(int fd, void *buf, uint32_t len, uint64_t off, bool writing)
{
	uint32_t done = 0;

	while (done < len) {
		ssize_t n = writing ? pwrite(fd, (uint8_t *)buf + done, len - done,
					     (off_t)(off + done))
				    : pread(fd, (uint8_t *)buf + done, len - done,
					    (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return done > 0 ? (int)done : -errno;
		if (n == 0)
			break;
		done += (uint32_t)n;
	}
	return (int)done;
}

static struct io_uring_sqe *
rio_sqe(struct rio *io)
{
	struct io_uring_sqe *sqe;

	if (io->inflight >= io->entries)
		return NULL;
	sqe = io_uring_get_sqe(&io->uring);
	if (sqe == NULL) {
		/* The submission queue is full of prepared requests: hand
		 * them over and take a fresh entry. */
		if (io_uring_submit(&io->uring) < 0)
			return NULL;
		sqe = io_uring_get_sqe(&io->uring);
	}
	return sqe;
}

static int
rio_rw(struct rio *io, int fd, void *buf, uint32_t len, uint64_t off, uint64_t tag,
       bool writing)
{
	struct io_uring_sqe *sqe;
	int idx;

	if (!io->uring_ok) {
		if (io->sync_n == io->sync_cap)
			return -EBUSY;
		return rio_sync_done(io, tag, rio_sync_rw(fd, buf, len, off, writing));
	}
	if ((sqe = rio_sqe(io)) == NULL)
		return -EBUSY;
	idx = rio_fixed_index(io, buf, len);
	if (writing && idx >= 0)
		io_uring_prep_write_fixed(sqe, fd, buf, len, off, idx);
	else if (writing)
		io_uring_prep_write(sqe, fd, buf, len, off);
	else if (idx >= 0)
		io_uring_prep_read_fixed(sqe, fd, buf, len, off, idx);
	else
		io_uring_prep_read(sqe, fd, buf, len, off);
	io_uring_sqe_set_data64(sqe, tag);
	io->inflight++;
	return 0;
}

int
rio_write(struct rio *io, int fd, const void *buf, uint32_t len, uint64_t off,
	  uint64_t tag)
{
	/* The buffer is only read: the cast serves the shared helper. */
	return rio_rw(io, fd, (void *)(uintptr_t)buf, len, off, tag, true);
}

int
rio_read(struct rio *io, int fd, void *buf, uint32_t len, uint64_t off, uint64_t tag)
{
	return rio_rw(io, fd, buf, len, off, tag, false);
}

int
rio_fsync(struct rio *io, int fd, uint64_t tag)
{
	struct io_uring_sqe *sqe;

	if (!io->uring_ok) {
		if (io->sync_n == io->sync_cap)
			return -EBUSY;
		return rio_sync_done(io, tag, fsync(fd) == 0 ? 0 : -errno);
	}
	if ((sqe = rio_sqe(io)) == NULL)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, 0);
	io_uring_sqe_set_data64(sqe, tag);
	io->inflight++;
	return 0;
}

int
rio_fallocate(struct rio *io, int fd, int mode, uint64_t off, uint64_t len, uint64_t tag)
{
	struct io_uring_sqe *sqe;

	if (!io->uring_ok) {
		if (io->sync_n == io->sync_cap)
			return -EBUSY;
		return rio_sync_done(io, tag, fallocate(fd, mode, (off_t)off, (off_t)len) == 0
						      ? 0 : -errno);
	}
	if ((sqe = rio_sqe(io)) == NULL)
		return -EBUSY;
	io_uring_prep_fallocate(sqe, fd, mode, (off_t)off, (off_t)len);
	io_uring_sqe_set_data64(sqe, tag);
	io->inflight++;
	return 0;
}

int
rio_submit(struct rio *io)
{
	int rc;

	if (!io->uring_ok)
		return 0;
	do
		rc = io_uring_submit(&io->uring);
	while (rc == -EINTR);
	/* EBUSY, EAGAIN: the completion queue is backed up or the kernel is
	 * short of memory for now; the requests stay queued and go with the
	 * next submit_and_wait. */
	if (rc == -EBUSY || rc == -EAGAIN)
		return 0;
	return rc < 0 ? rc : 0;
}

/* Moves what the completion queue holds into out[n..max). */
static unsigned
rio_collect(struct rio *io, struct rio_done *out, unsigned n, unsigned max)
{
	struct io_uring_cqe *cqe;
	unsigned head, got = 0;

	io_uring_for_each_cqe(&io->uring, head, cqe) {
		if (n + got == max)
			break;
		out[n + got].tag = cqe->user_data;
		out[n + got].res = cqe->res;
		got++;
	}
	io_uring_cq_advance(&io->uring, got);
	io->inflight -= got;
	return n + got;
}

int
rio_reap(struct rio *io, struct rio_done *out, unsigned max, unsigned min,
	 uint64_t timeout_ns)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	unsigned n = 0;
	int rc;

	if (!io->uring_ok) {
		while (n < max && io->sync_n > 0) {
			out[n++] = io->sync[io->sync_head];
			io->sync_head = (io->sync_head + 1) % io->sync_cap;
			io->sync_n--;
			io->inflight--;
		}
		return (int)n;
	}
	if (min > max)
		min = max;
	/* Never wait for completions that cannot come. */
	if (min > io->inflight)
		min = io->inflight;
	n = rio_collect(io, out, 0, max);
	while (n < min) {
		/* Submits whatever is queued in the same system call. */
		if (timeout_ns != 0) {
			ts.tv_sec = (long long)(timeout_ns / 1000000000ull);
			ts.tv_nsec = (long long)(timeout_ns % 1000000000ull);
			rc = io_uring_submit_and_wait_timeout(&io->uring, &cqe, min - n,
							     &ts, NULL);
		} else {
			rc = io_uring_submit_and_wait(&io->uring, min - n);
		}
		n = rio_collect(io, out, n, max);
		if (rc < 0 && rc != -EAGAIN && rc != -EBUSY)
			return n > 0 ? (int)n : rc; /* -EINTR, -ETIME, ... */
		/* One timed wait per call, so the caller's limit holds. */
		if (timeout_ns != 0)
			return n > 0 ? (int)n : -ETIME;
	}
	return (int)n;
}

/* The common end of the one-at-a-time helpers. */
static int
rio_wait_one(struct rio *io)
{
	struct rio_done d;
	int rc;

	if ((rc = rio_submit(io)) < 0)
		return rc;
	do
		rc = rio_reap(io, &d, 1, 1, 0);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	return rc == 1 ? d.res : -EIO;
}

int
rio_read_sync(struct rio *io, int fd, void *buf, uint32_t len, uint64_t off)
{
	int rc = rio_read(io, fd, buf, len, off, 0);

	return rc < 0 ? rc : rio_wait_one(io);
}

int
rio_write_sync(struct rio *io, int fd, const void *buf, uint32_t len, uint64_t off)
{
	int rc = rio_write(io, fd, buf, len, off, 0);

	return rc < 0 ? rc : rio_wait_one(io);
}

int
rio_fsync_sync(struct rio *io, int fd)
{
	int rc = rio_fsync(io, fd, 0);

	return rc < 0 ? rc : rio_wait_one(io);
}

const char *
rio_path_name(const struct rio *io, bool direct, bool writing)
{
	if (!io->uring_ok) {
		if (writing)
			return direct ? "pwrite+direct" : "pwrite";
		return direct ? "pread+direct" : "pread";
	}
	if (direct)
		return io->fixed ? "direct+fixed" : "direct";
	return io->fixed ? "buffered+fixed" : "buffered";
}

void
rio_fallback_note(char *note, size_t size, const char *why, int code)
{
	size_t n = strlen(note);

	if (n != 0 && n + 2 < size)
		n += (size_t)snprintf(note + n, size - n, "; ");
	if (code != 0)
		snprintf(note + n, size - n, "%s: %s", why, strerror(-code));
	else
		snprintf(note + n, size - n, "%s", why);
}

void
rio_init_error(char *buf, size_t size, int rc)
{
	struct rlimit rl;

	/* io_uring_setup charges its rings to RLIMIT_MEMLOCK for a process
	 * without CAP_IPC_LOCK (a few pages per ring): ENOMEM under a small
	 * limit is that limit, not a full machine. */
	if (rc == -ENOMEM && getrlimit(RLIMIT_MEMLOCK, &rl) == 0 &&
	    rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < (1u << 20)) {
		snprintf(buf, size, "io_uring refused to set up its rings: RLIMIT_MEMLOCK is %llu "
			 "bytes (io_uring charges its rings to it without CAP_IPC_LOCK); raise it "
			 "to at least 1 MiB (ulimit -l 1024, LimitMEMLOCK= in a systemd unit, "
			 "memlock in /etc/security/limits.conf)", (unsigned long long)rl.rlim_cur);
		return;
	}
	snprintf(buf, size, "io_uring setup: %s", strerror(-rc));
}
