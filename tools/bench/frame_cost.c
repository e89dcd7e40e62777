/*
 * rb-frame-cost: the library's own instructions per frame, for callgrind.
 *
 * One thread alternates a producer and a consumer handle on one ring (so
 * the ring never fills and nothing waits): acquire, commit, acquire,
 * release, `--frames` times, through the per-frame or the batch API. Run
 * under `valgrind --tool=callgrind` twice with different --frames; the
 * difference of the totals over the difference of the frames is the cost
 * per frame, with every set-up cost cancelled. Deterministic, unlike
 * timings on a shared machine (docs/PERFORMANCE.md, "Per-frame accounting").
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

static int
fail(const char *what, int rc)
{
	fprintf(stderr, "rb-frame-cost: %s: %s\n", what, rb_strerror(rc));
	return 1;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"frames", required_argument, NULL, 'n'},
		{"batch", required_argument, NULL, 'b'},
		{"lossy", no_argument, NULL, 'l'},
		{"max-producers", required_argument, NULL, 'P'},
		{"group", no_argument, NULL, 'g'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct rb_ring_config cfg = {.frame_bytes = 64, .slot_count = 1024};
	struct rb_consumer_options co = {0};
	struct rb_frame f[64];
	struct rb_ring *ring;
	struct rb_producer *p;
	struct rb_consumer *c;
	unsigned long frames = 100000, batch = 1;
	char name[64];
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "n:b:lP:gh", longopts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			frames = strtoul(optarg, NULL, 10);
			break;
		case 'b':
			batch = strtoul(optarg, NULL, 10);
			break;
		case 'l':
			co.lossy = 1;
			break;
		case 'P':
			cfg.max_producers = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'g':
			co.group = "cost"; /* a group of one member */
			break;
		case 'h':
			printf("usage: rb-frame-cost [--frames N] [--batch B (1-64; 1: per-frame API)] [--lossy]\n"
			       "                     [--max-producers N (a several-producer ring)] [--group]\n");
			return 0;
		default:
			return 2;
		}
	}
	if (frames == 0 || batch == 0 || batch > 64 || frames % batch != 0) {
		fprintf(stderr, "rb-frame-cost: --frames must be a multiple of --batch (1-64)\n");
		return 2;
	}
	snprintf(name, sizeof(name), "rb-frame-cost-%ld", (long)getpid());
	if ((rc = rb_ring_create(name, &cfg, &ring)) != 0)
		return fail("create", rc);
	(void)rb_ring_remove(name);
	if ((rc = rb_producer_attach(ring, NULL, &p)) != 0)
		return fail("producer attach", rc);
	if ((rc = rb_consumer_attach(ring, &co, &c)) != 0)
		return fail("consumer attach", rc);
	for (unsigned long i = 0; i < frames; i += batch) {
		if (batch == 1) {
			if ((rc = rb_producer_acquire(p, f, RB_FOREVER)) != 0 ||
			    (rc = rb_producer_commit(p, f)) != 0 ||
			    (rc = rb_consumer_acquire(c, f, RB_FOREVER)) != 0 ||
			    (rc = rb_consumer_release(c, f)) != 0)
				return fail("frame", rc);
			continue;
		}
		rc = rb_producer_acquire_batch(p, f, (uint32_t)batch, RB_FOREVER);
		if (rc != (int)batch)
			return fail("acquire batch", rc < 0 ? rc : -EIO);
		if ((rc = rb_producer_commit_batch(p, f, (uint32_t)batch)) != 0)
			return fail("commit batch", rc);
		rc = rb_consumer_acquire_batch(c, f, (uint32_t)batch, (uint32_t)batch, RB_FOREVER);
		if (rc != (int)batch)
			return fail("consumer batch", rc < 0 ? rc : -EIO);
		if ((rc = rb_consumer_release_batch(c, f, (uint32_t)batch)) < 0)
			return fail("release batch", rc);
	}
	(void)rb_consumer_detach(c);
	(void)rb_producer_detach(p, 0);
	rb_ring_close(ring);
	return 0;
}
