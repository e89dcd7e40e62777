/*
 * libFuzzer target: a segment of arbitrary bytes under a ring's name.
 *
 * The input is the whole segment file. Opening must validate it or refuse
 * it; if it opens, a lossless and a lossy consumer attach and read what the
 * (hostile) descriptors announce, then detach. Any crash, sanitizer report
 * or hang is a bug: validation and the consumer's bounds checks must hold
 * against every byte a peer could write.
 *
 * Most random inputs die at the magic number; the seed corpus (made by
 * make_seeds.c) holds real rings so mutations reach the deeper checks.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

static char name[64];
static char path[128];

static void
read_some(struct rb_ring *ring, int lossy)
{
	struct rb_consumer_options o = {.lossy = lossy, .start = RB_START_OLDEST};
	struct rb_consumer *c;
	struct rb_frame frames[8];
	char header[256];
	int n, i;
	volatile uint8_t sink = 0;

	if (rb_consumer_attach(ring, &o, &c) != 0)
		return;
	for (int round = 0; round < 4; round++) {
		n = rb_consumer_acquire_batch(c, frames, 8, 1, RB_NO_WAIT);
		if (n <= 0)
			break;
		for (i = 0; i < n; i++) {
			const uint8_t *d = frames[i].data;
			/* Touch the first and last byte the frame claims. */
			if (frames[i].length > 0)
				sink ^= d[0] ^ d[frames[i].length - 1];
		}
		rb_consumer_release_batch(c, frames, (uint32_t)n);
	}
	(void)rb_consumer_stream_header(c, header, sizeof(header), NULL);
	rb_consumer_detach(c);
	(void)sink;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_ring *ring;
	int fd;

	if (name[0] == '\0') {
		snprintf(name, sizeof(name), "fuzz-attach-%d", (int)getpid());
		snprintf(path, sizeof(path), "/dev/shm/rb-%s", name);
	}
	if (size > (64u << 20))
		return 0;
	fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);
	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	/* The checksum would stop nearly every mutated header at the door.
	 * For inputs whose checksum byte 248 is odd, write the right checksum
	 * (FNV-1a 64 of bytes 0..247, docs/FORMAT.md 4.2) so that the field
	 * checks behind it are fuzzed too. */
	if (size >= 256 && (data[248] & 1)) {
		uint64_t h = 0xcbf29ce484222325ull;
		for (size_t i = 0; i < 248; i++) {
			h ^= data[i];
			h *= 0x100000001b3ull;
		}
		if (pwrite(fd, &h, sizeof(h), 248) != (ssize_t)sizeof(h))
			abort();
	}
	close(fd);
	if (rb_ring_open(name, &ring) == 0) {
		struct rb_ring_status st;
		struct rb_consumer_status cs[4];

		(void)rb_ring_get_status(ring, &st);
		(void)rb_ring_consumers(ring, cs, 4);
		read_some(ring, 0);
		read_some(ring, 1);
		rb_ring_close(ring);
	}
	unlink(path);
	return 0;
}
