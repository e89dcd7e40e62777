/*
 * A producer for tests that drive the ring from outside C (the independent
 * FORMAT.md reader in reader.py). Deliberately small: it uses only the
 * public API and the counter pattern the reader checks.
 *
 *   ring_fixture create NAME FRAME_BYTES SLOTS [INITIAL_SEQ]
 *   ring_fixture produce NAME COUNT FRAME_LEN [RATE_HZ]
 *   ring_fixture remove NAME
 *   ring_fixture corrupt NAME OFFSET BYTE
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

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
produce(const char *name, uint64_t count, uint64_t len, uint64_t rate_hz)
{
	char header[128];
	struct rb_ring *ring;
	struct rb_producer *p;
	struct timespec next;
	int rc;

	if ((rc = rb_ring_open(name, &ring)) != 0)
		return fail("open", rc);
	if ((rc = rb_producer_attach(ring, NULL, &p)) != 0)
		return fail("attach", rc);
	snprintf(header, sizeof(header), "source=fixture\ncount=%llu\n",
		 (unsigned long long)count);
	if ((rc = rb_producer_begin_stream(p, header)) != 0)
		return fail("begin stream", rc);
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (uint64_t n = 0; n < count; n++) {
		struct rb_frame f;

		if ((rc = rb_producer_acquire(p, &f, 30ull * 1000000000ull)) != 0)
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
	if ((rc = rb_producer_detach(p, 30ull * 1000000000ull)) != 0)
		return fail("detach", rc);
	rb_ring_close(ring);
	return 0;
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
		if ((rc = rb_ring_create(argv[2], &cfg, &ring)) != 0)
			return fail("create", rc);
		rb_ring_close(ring);
		return 0;
	}
	if (argc >= 5 && strcmp(argv[1], "produce") == 0)
		return produce(argv[2], strtoull(argv[3], NULL, 0),
			       strtoull(argv[4], NULL, 0),
			       argc >= 6 ? strtoull(argv[5], NULL, 0) : 0);
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
	fprintf(stderr, "usage: ring_fixture create|produce|remove|corrupt ...\n");
	return 2;
}
