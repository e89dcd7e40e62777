/*
 * The copying transports: a pipe and a Unix stream socket carrying the same
 * frames between two processes. The producer writes every byte of a frame
 * into its buffer (the same fill as everywhere else), then write()s the
 * whole frame; the consumer read()s a whole frame, then reads every byte
 * of it (the same checksum). So the pipe does the same work as ringbuf's
 * touch mode plus the two copies through the kernel that ringbuf avoids.
 *
 * Each transport gets its best shot: the pipe is grown to the largest size
 * an unprivileged process may ask for (/proc/sys/fs/pipe-max-size, 1 MiB
 * by default) and the socket's buffers to 4 MiB (the kernel caps them at
 * net.core.wmem_max / rmem_max).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define PIPE_SOCKET_BUFFER (4 << 20)

struct pp_shared {
	struct bench_gate gate;
	struct bench_pair_counts counts;
	int32_t err; /* errno of a failed read or write */
};

struct pp_ctx {
	struct pp_shared *sh;
	int fd[2]; /* [0] read end, [1] write end */
	uint64_t frame_bytes;
	uint64_t duration_ns;
};

static uint8_t *
pp_buffer(uint64_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static int
pp_producer(void *arg)
{
	struct pp_ctx *x = arg;
	struct pp_shared *sh = x->sh;
	uint64_t n = 0, t0, deadline;
	uint8_t *buf = pp_buffer(x->frame_bytes);

	close(x->fd[0]);
	if (buf == NULL) {
		sh->err = ENOMEM;
		return 1;
	}
	bench_gate_arrive(&sh->gate);
	t0 = bench_now_ns();
	deadline = t0 + x->duration_ns;
	/* A system call per frame already: looking at the clock every frame
	 * costs nothing in comparison. */
	while (bench_now_ns() < deadline) {
		uint64_t off = 0;

		bench_fill(buf, x->frame_bytes, n);
		while (off < x->frame_bytes) {
			ssize_t w = write(x->fd[1], buf + off, x->frame_bytes - off);

			if (w < 0) {
				if (errno == EINTR)
					continue;
				sh->err = errno;
				return 1;
			}
			off += (uint64_t)w;
		}
		n++;
	}
	sh->counts.t_start = t0;
	sh->counts.produced = n;
	close(x->fd[1]); /* end of stream: the consumer reads 0 */
	return 0;
}

static int
pp_consumer(void *arg)
{
	struct pp_ctx *x = arg;
	struct pp_shared *sh = x->sh;
	uint64_t n = 0, bad = 0;
	uint8_t *buf = pp_buffer(x->frame_bytes);

	close(x->fd[1]);
	if (buf == NULL) {
		sh->err = ENOMEM;
		return 1;
	}
	bench_gate_arrive(&sh->gate);
	for (;;) {
		uint64_t off = 0;

		while (off < x->frame_bytes) {
			ssize_t r = read(x->fd[0], buf + off, x->frame_bytes - off);

			if (r < 0) {
				if (errno == EINTR)
					continue;
				sh->err = errno;
				return 1;
			}
			if (r == 0)
				goto done;
			off += (uint64_t)r;
		}
		if (bench_sum(buf, x->frame_bytes) != bench_expected_sum(x->frame_bytes, n))
			bad++;
		n++;
	}
done:
	sh->counts.t_end = bench_now_ns();
	sh->counts.consumed = n;
	sh->counts.bad = bad;
	return 0;
}

/* The largest pipe an unprivileged process may ask for. */
static int
pp_pipe_max(void)
{
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	int v = 1 << 20;

	if (f != NULL) {
		if (fscanf(f, "%d", &v) != 1)
			v = 1 << 20;
		fclose(f);
	}
	return v;
}

static int
pp_point(const struct bench_options *o, uint64_t size, bool socket)
{
	struct bench_result *res;
	struct pp_ctx x;
	char sz[32];
	int rc;

	res = bench_result_add("baselines", socket ? "unix-socket" : "pipe", "touch");
	if (res == NULL)
		return -ENOMEM;
	bench_format_size(sz, sizeof(sz), size);
	bench_progress("baseline %s %s touch", socket ? "unix-socket" : "pipe", sz);
	bench_calm_before(o, res);
	snprintf(res->api, sizeof(res->api), "frame");
	res->consumers = 1;
	memset(&x, 0, sizeof(x));
	x.frame_bytes = size;
	x.duration_ns = o->duration_ns;
	x.sh = bench_shared_alloc(sizeof(*x.sh));
	if (x.sh == NULL)
		return -ENOMEM;
	if (socket) {
		int b = PIPE_SOCKET_BUFFER;

		rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, x.fd);
		if (rc == 0) {
			(void)setsockopt(x.fd[1], SOL_SOCKET, SO_SNDBUF, &b, sizeof(b));
			(void)setsockopt(x.fd[0], SOL_SOCKET, SO_RCVBUF, &b, sizeof(b));
		}
	} else {
		rc = pipe2(x.fd, O_CLOEXEC);
		if (rc == 0)
			(void)fcntl(x.fd[1], F_SETPIPE_SZ, pp_pipe_max());
	}
	if (rc != 0) {
		rc = -errno;
		goto out;
	}
	if ((rc = (int)bench_spawn(pp_consumer, &x, bench_cpu_for(o, 1))) < 0 ||
	    (rc = (int)bench_spawn(pp_producer, &x, bench_cpu_for(o, 0))) < 0) {
		bench_kill_all();
		goto close_out;
	}
	/* The parent must not hold the write end, or the reader never sees
	 * the end of the stream. */
	close(x.fd[0]);
	close(x.fd[1]);
	x.fd[0] = x.fd[1] = -1;
	rc = bench_run_gated(&x.sh->gate, 2, o);
	if (rc != 0)
		goto out;
	bench_result_pair(res, size, &x.sh->counts);
	goto out;
close_out:
	close(x.fd[0]);
	close(x.fd[1]);
out:
	if (rc != 0) {
		res->failed = true;
		snprintf(res->note, sizeof(res->note), "%s",
			 strerror(x.sh->err ? x.sh->err : -rc));
	}
	bench_shared_free(x.sh, sizeof(*x.sh));
	return rc;
}

int
bench_baseline_pipe(const struct bench_options *o, uint64_t size)
{
	int rc, rc2;

	/* Pipes and sockets move every byte: they only have a touch mode. */
	if (!(o->modes & BENCH_MODE_TOUCH))
		return 0;
	rc = pp_point(o, size, false);
	if (cli_stop)
		return -EINTR;
	rc2 = pp_point(o, size, true);
	if (cli_stop)
		return -EINTR;
	return rc != 0 ? rc : rc2;
}
