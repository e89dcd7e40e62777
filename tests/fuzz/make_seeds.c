/*
 * Writes the seed corpus for fuzz_attach: real rings of a few shapes, some
 * with frames, a stream header and attached consumers, copied byte for byte
 * from /dev/shm.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

static int
copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY), out;
	ssize_t n;

	if (in < 0)
		return -1;
	out = open(to, O_CREAT | O_TRUNC | O_WRONLY, 0644);
	if (out < 0) {
		close(in);
		return -1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	close(in);
	close(out);
	return n == 0 ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const struct {
		uint64_t frame;
		uint32_t slots, consumers, frames;
		uint32_t elem, ndim;
		uint64_t d0, d1;
	} shapes[] = {
		{64, 4, 1, 0, 0, 0, 0, 0},
		{256, 8, 2, 5, RB_ELEM_U8, 1, 256, 0},
		{1000, 16, 4, 20, RB_ELEM_I16, 2, 100, 4},
		{4096, 2, 1, 3, RB_ELEM_F32, 1, 1024, 0},
	};
	char name[64], src[128], dst[512];
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: make_seeds DIR\n");
		return 2;
	}
	mkdir(argv[1], 0755);
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		struct rb_ring_config cfg = {0};
		struct rb_ring *ring;
		struct rb_producer *p;
		struct rb_consumer *c[4];

		cfg.frame_bytes = shapes[i].frame;
		cfg.slot_count = shapes[i].slots;
		cfg.max_consumers = shapes[i].consumers;
		cfg.stream_header_bytes = 4096;
		cfg.type.elem = shapes[i].elem;
		cfg.type.ndim = shapes[i].ndim;
		cfg.type.dims[0] = shapes[i].d0;
		cfg.type.dims[1] = shapes[i].d1;
		snprintf(name, sizeof(name), "fuzz-seed-%d-%zu", (int)getpid(), i);
		if (rb_ring_create(name, &cfg, &ring) != 0)
			return 1;
		rb_producer_attach(ring, NULL, &p);
		rb_producer_begin_stream(p, "source=seed\nshape=test\n");
		for (uint32_t k = 0; k < shapes[i].consumers; k++) {
			struct rb_consumer_options o = {.lossy = (int)(k & 1)};
			rb_consumer_attach(ring, &o, &c[k]);
		}
		for (uint32_t f = 0; f < shapes[i].frames && f < shapes[i].slots; f++) {
			struct rb_frame fr;
			if (rb_producer_acquire(p, &fr, RB_NO_WAIT) != 0)
				break;
			memset(fr.data, (int)f, shapes[i].frame);
			fr.length = shapes[i].frame - f;
			rb_producer_commit(p, &fr);
		}
		snprintf(src, sizeof(src), "/dev/shm/rb-%s", name);
		snprintf(dst, sizeof(dst), "%s/ring-%zu", argv[1], i);
		rc = copy_file(src, dst);
		for (uint32_t k = 0; k < shapes[i].consumers; k++)
			rb_consumer_detach(c[k]);
		rb_producer_detach(p, 0);
		rb_ring_close(ring);
		rb_ring_remove(name);
		if (rc != 0) {
			perror(dst);
			return 1;
		}
	}
	return 0;
}
