/*
 * A producer (and group consumer) for tests that drive the ring from
 * outside C (the independent FORMAT.md reader in reader.py). Deliberately
 * small: it uses only the public API and the counter pattern the reader
 * checks.
 *
 *   ring_fixture create NAME FRAME_BYTES SLOTS [INITIAL_SEQ [MAX_PRODUCERS
 *                [MAX_GROUPS]]]
 *   ring_fixture produce NAME COUNT FRAME_LEN [RATE_HZ]
 *   ring_fixture produce-multi NAME NPROD COUNT FRAME_LEN
 *       NPROD processes, each COUNT frames; all of them are members of the
 *       stream before any of them produces, so the last one to end writes
 *       the one end marker (FORMAT.md §5.18).
 *   ring_fixture hang NAME COMMITS FRAME_LEN
 *       begins (or joins) the stream, commits COMMITS frames, acquires one
 *       more, prints "held SEQ" and waits to be killed.
 *   ring_fixture consume NAME GROUP TIMEOUT_S [lossy]
 *       a member of consumer group GROUP: reads until the end of stream,
 *       checks the counter pattern, prints one JSON line, then waits for
 *       stdin to close before it detaches (so that a test can look at the
 *       group while its members are attached).
 *   ring_fixture evict NAME
 *   ring_fixture remove NAME
 *   ring_fixture corrupt NAME OFFSET BYTE
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

#define FIX_TIMEOUT_NS (30ull * 1000000000ull)

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "ring_fixture: %s: %s\n", what, rb_strerror(rc));
	return 1;
}

static void
fill_counter(uint8_t *p, uint64_t len, uint64_t seq)
{
	for (uint64_t i = 0; i < len; i++) {
		uint64_t x = seq * 0x9E3779B97F4A7C15ull + (i >> 3);
		p[i] = (uint8_t)(x >> (8 * (i & 7)));
	}
}

static int
check_counter(const uint8_t *p, uint64_t len, uint64_t seq)
{
	for (uint64_t i = 0; i < len; i++) {
		uint64_t x = seq * 0x9E3779B97F4A7C15ull + (i >> 3);
		if (p[i] != (uint8_t)(x >> (8 * (i & 7))))
			return 0;
	}
	return 1;
}

static int
produce_frames(struct rb_ring *ring, struct rb_producer *p, uint64_t count,
	       uint64_t len, uint64_t rate_hz)
{
	struct timespec next;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t n = 0; n < count; n++) {
		struct rb_frame f;

		if ((rc = rb_producer_acquire(p, &f, FIX_TIMEOUT_NS)) != 0)
			return fail("acquire", rc);
		if (len > rb_ring_frame_bytes(ring))
			return fail("frame length", -EINVAL);
		fill_counter(f.data, len, f.seq);
		f.length = len;
		f.timestamp_ns = f.seq;
		if ((rc = rb_producer_commit(p, &f)) != 0)
			return fail("commit", rc);
		if (rate_hz != 0) {
			next.tv_nsec += (long)(1000000000ull / rate_hz);
			while (next.tv_nsec >= 1000000000L) {
				next.tv_nsec -= 1000000000L;
				next.tv_sec++;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
	}
	return 0;
}

static int
attach_and_begin(const char *name, uint64_t count, struct rb_ring **ring,
		 struct rb_producer **p)
{
	char header[128];
	int rc;

	if ((rc = rb_ring_open(name, ring)) != 0)
		return fail("open", rc);
	if ((rc = rb_producer_attach(*ring, NULL, p)) != 0)
		return fail("attach", rc);
	snprintf(header, sizeof(header), "source=fixture\ncount=%llu\n",
		 (unsigned long long)count);
	if ((rc = rb_producer_begin_stream(*p, header)) != 0)
		return fail("begin stream", rc);
	return 0;
}

static int
finish(struct rb_ring *ring, struct rb_producer *p)
{
	int rc;

	if ((rc = rb_producer_detach(p, FIX_TIMEOUT_NS)) != 0)
		return fail("detach", rc);
	rb_ring_close(ring);
	return 0;
}

static int
produce(const char *name, uint64_t count, uint64_t len, uint64_t rate_hz)
{
	struct rb_ring *ring;
	struct rb_producer *p;

	if (attach_and_begin(name, count, &ring, &p) != 0)
		return 1;
	if (produce_frames(ring, p, count, len, rate_hz) != 0)
		return 1;
	return finish(ring, p);
}

/* Reads exactly one byte, or fails; the barrier pipes below use it. */
static int
read_byte(int fd)
{
	char c;
	ssize_t r;

	do
		r = read(fd, &c, 1);
	while (r < 0 && errno == EINTR);
	return r == 1 ? 0 : -1;
}

static int
produce_multi(const char *name, unsigned nprod, uint64_t count, uint64_t len)
{
	int ready[2], go[2], status, failed = 0;
	pid_t pids[64];
	unsigned i;

	if (nprod == 0 || nprod > 64 || pipe(ready) != 0 || pipe(go) != 0) {
		fprintf(stderr, "ring_fixture: produce-multi: bad NPROD or pipe\n");
		return 1;
	}
	for (i = 0; i < nprod; i++) {
		pids[i] = fork();
		if (pids[i] < 0) {
			perror("ring_fixture: fork");
			failed = 1;
			break;
		}
		if (pids[i] == 0) {
			struct rb_ring *ring;
			struct rb_producer *p;

			/* A test stops an endless run by killing the parent. */
			prctl(PR_SET_PDEATHSIG, SIGTERM);
			if (getppid() == 1)
				_exit(1);
			close(ready[0]);
			close(go[1]);
			if (attach_and_begin(name, count * nprod, &ring, &p) != 0)
				_exit(1);
			/* Every producer is a member before any produces, so
			 * that none ends the stream while another has yet to
			 * join. */
			if (write(ready[1], "r", 1) != 1 || read_byte(go[0]) != 0)
				_exit(1);
			if (produce_frames(ring, p, count, len, 0) != 0)
				_exit(1);
			_exit(finish(ring, p));
		}
	}
	close(ready[1]);
	close(go[0]);
	if (!failed) {
		for (i = 0; i < nprod; i++)
			if (read_byte(ready[0]) != 0)
				failed = 1;
	}
	if (!failed) {
		for (i = 0; i < nprod; i++)
			if (write(go[1], "g", 1) != 1)
				failed = 1;
	}
	close(go[1]); /* a child still waiting gets EOF and fails */
	for (unsigned k = 0; k < i; k++) {
		if (waitpid(pids[k], &status, 0) != pids[k] ||
		    !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			failed = 1;
	}
	return failed;
}

static int
hang(const char *name, uint64_t commits, uint64_t len)
{
	struct rb_ring *ring;
	struct rb_producer *p;
	struct rb_frame f;
	int rc;

	if (attach_and_begin(name, commits, &ring, &p) != 0)
		return 1;
	if (produce_frames(ring, p, commits, len, 0) != 0)
		return 1;
	if ((rc = rb_producer_acquire(p, &f, FIX_TIMEOUT_NS)) != 0)
		return fail("acquire", rc);
	printf("held %llu\n", (unsigned long long)f.seq);
	fflush(stdout);
	for (;;)
		pause(); /* the test kills us here, holding f.seq */
}

static int
consume(const char *name, const char *group, uint64_t timeout_s, int lossy)
{
	struct rb_consumer_options o = {0};
	struct rb_consumer_stats st;
	struct rb_ring *ring;
	struct rb_consumer *c;
	uint64_t frames = 0, seqsum = 0, bad = 0, abandoned = 0, eos = 0;
	uint64_t last = 0, unordered = 0;
	char buf[64];
	int rc;

	if ((rc = rb_ring_open(name, &ring)) != 0)
		return fail("open", rc);
	o.group = group;
	o.lossy = lossy;
	o.label = "fixture-member";
	if ((rc = rb_consumer_attach(ring, &o, &c)) != 0)
		return fail("consumer attach", rc);
	printf("attached %d\n", (int)getpid());
	fflush(stdout);
	for (;;) {
		struct rb_frame f;

		rc = rb_consumer_acquire(c, &f, timeout_s * 1000000000ull);
		if (rc == RB_E_EOS) {
			eos = 1;
			break;
		}
		if (rc != 0)
			break;
		if (frames > 0 && f.seq <= last)
			unordered++; /* a member's own frames are in seq order */
		last = f.seq;
		if (f.flags & RB_FRAME_ABANDONED)
			abandoned++;
		else if (f.timestamp_ns != f.seq ||
			 !check_counter(f.data, f.length, f.seq))
			bad++;
		frames++;
		seqsum += f.seq;
		if ((rc = rb_consumer_release(c, &f)) != 0)
			break;
	}
	rb_consumer_get_stats(c, &st);
	printf("{\"frames\": %llu, \"seqsum\": %llu, \"bad\": %llu, "
	       "\"unordered\": %llu, \"abandoned\": %llu, \"eos\": %llu, "
	       "\"rc\": %d, \"stats_frames\": %llu, \"stats_abandoned\": %llu}\n",
	       (unsigned long long)frames, (unsigned long long)seqsum,
	       (unsigned long long)bad, (unsigned long long)unordered,
	       (unsigned long long)abandoned, (unsigned long long)eos,
	       eos ? 0 : rc, (unsigned long long)st.frames,
	       (unsigned long long)st.abandoned);
	fflush(stdout);
	/* Stay attached until the test has looked at the group. */
	while (read(0, buf, sizeof(buf)) > 0)
		;
	rb_consumer_detach(c);
	rb_ring_close(ring);
	return eos ? 0 : 1;
}

int
main(int argc, char **argv)
{
	int rc;

	if (argc >= 5 && strcmp(argv[1], "create") == 0) {
		struct rb_ring_config cfg = {0};
		struct rb_ring *ring;

		cfg.frame_bytes = strtoull(argv[3], NULL, 0);
		cfg.slot_count = (uint32_t)strtoul(argv[4], NULL, 0);
		cfg.initial_seq = argc >= 6 ? strtoull(argv[5], NULL, 0) : 0;
		cfg.max_producers = argc >= 7 ? (uint32_t)strtoul(argv[6], NULL, 0) : 0;
		cfg.max_groups = argc >= 8 ? (uint32_t)strtoul(argv[7], NULL, 0) : 0;
		if ((rc = rb_ring_create(argv[2], &cfg, &ring)) != 0)
			return fail("create", rc);
		rb_ring_close(ring);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "produce") == 0)
		return produce(argv[2], strtoull(argv[3], NULL, 0),
			       strtoull(argv[4], NULL, 0),
			       argc >= 6 ? strtoull(argv[5], NULL, 0) : 0);
	if (argc >= 6 && strcmp(argv[1], "produce-multi") == 0)
		return produce_multi(argv[2], (unsigned)strtoul(argv[3], NULL, 0),
				     strtoull(argv[4], NULL, 0),
				     strtoull(argv[5], NULL, 0));
	if (argc >= 5 && strcmp(argv[1], "hang") == 0)
		return hang(argv[2], strtoull(argv[3], NULL, 0),
			    strtoull(argv[4], NULL, 0));
	if (argc >= 5 && strcmp(argv[1], "consume") == 0)
		return consume(argv[2], argv[3], strtoull(argv[4], NULL, 0),
			       argc >= 6 && strcmp(argv[5], "lossy") == 0);
	if (argc >= 3 && strcmp(argv[1], "evict") == 0) {
		struct rb_ring *ring;

		if ((rc = rb_ring_open(argv[2], &ring)) != 0)
			return fail("open", rc);
		rc = rb_ring_evict_dead(ring);
		rb_ring_close(ring);
		if (rc < 0)
			return fail("evict", rc);
		printf("evicted %d\n", rc);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "remove") == 0) {
		rc = rb_ring_remove(argv[2]);
		return rc == 0 ? 0 : fail("remove", rc);
	}
	if (argc >= 5 && strcmp(argv[1], "corrupt") == 0) {
		char path[300];
		unsigned char b = (unsigned char)strtoul(argv[4], NULL, 0);
		int fd;

		snprintf(path, sizeof(path), "/dev/shm/rb-%s", argv[2]);
		fd = open(path, O_RDWR);
		if (fd < 0 || pwrite(fd, &b, 1, (off_t)strtoll(argv[3], NULL, 0)) != 1) {
			perror("ring_fixture: corrupt");
			return 1;
		}
		close(fd);
		return 0;
	}
	fprintf(stderr, "usage: ring_fixture create|produce|produce-multi|hang|"
		"consume|evict|remove|corrupt ...\n");
	return 2;
}
