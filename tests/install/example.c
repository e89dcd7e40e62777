/* The README's example: a producer and a consumer process sharing a ring. */
#include <ringbuf/ringbuf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int
main(void)
{
	struct rb_ring_config cfg = {.frame_bytes = 4096, .slot_count = 64};
	struct rb_ring *ring;
	int rc = rb_ring_create("example", &cfg, &ring);

	if (rc != 0) {
		fprintf(stderr, "create: %s\n", rb_strerror(rc));
		return 1;
	}
	if (fork() == 0) { /* the consumer: reads frames in place */
		struct rb_consumer *c;
		struct rb_frame f;
		uint64_t n = 0;

		rb_consumer_attach(ring, NULL, &c);
		while (rb_consumer_acquire(c, &f, RB_FOREVER) == 0) {
			n += f.length;
			rb_consumer_release(c, &f);
		}
		printf("consumer read %llu bytes\n", (unsigned long long)n);
		rb_consumer_detach(c);
		exit(0);
	}
	struct rb_ring_status st = {0};
	while (rb_ring_get_status(ring, &st) == 0 && st.consumers == 0)
		usleep(1000); /* wait until the consumer has attached */
	struct rb_producer *p;
	rb_producer_attach(ring, NULL, &p);
	rb_producer_begin_stream(p, "source=example\n");
	for (int i = 0; i < 1000; i++) {
		struct rb_frame f;
		rb_producer_acquire(p, &f, RB_FOREVER); /* f.data: the slot itself */
		memset(f.data, i & 0xff, 4096);          /* write the frame in place */
		f.length = 4096;
		rb_producer_commit(p, &f);               /* publish it */
	}
	rb_producer_detach(p, RB_FOREVER); /* ends the stream: the consumer stops */
	wait(NULL);
	rb_ring_close(ring);
	rb_ring_remove("example");
	return 0;
}
