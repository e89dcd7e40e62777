/*
 * The newest frame of a ring, for the page's live plots. The server holds
 * no consumer between requests: each snapshot attaches a lossy consumer at
 * the newest frame, copies it and detaches, so an idle page costs the ring
 * nothing and a stalled server never holds a producer back (lossy readers
 * never do; what the producer overwrites while we copy is detected by
 * rb_consumer_check and the copy thrown away).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "serve.h"

/* A copy that races the producer this often in a row gives up (-EAGAIN). */
#define SERVE_FRAME_TRIES 4

static int
serve_frame_copy(struct rb_consumer *c, uint64_t timeout_ns, struct serve_frame *out)
{
	struct rb_frame f;
	int rc, tries;

	for (tries = 0; tries < SERVE_FRAME_TRIES; tries++) {
		rc = rb_consumer_acquire(c, &f, timeout_ns);
		if (rc == -ETIMEDOUT || rc == RB_E_EOS || rc == RB_E_PRODUCER_DEAD)
			return -EAGAIN;
		if (rc != 0)
			return rc;
		if (f.flags & RB_FRAME_ABANDONED) {
			/* An empty frame: wait for the next real one. */
			rb_consumer_release(c, &f);
			continue;
		}
		out->seq = f.seq;
		out->timestamp_ns = f.timestamp_ns;
		out->length = f.length;
		out->copied = f.length < SERVE_FRAME_MAX ? (size_t)f.length : SERVE_FRAME_MAX;
		memcpy(out->data, f.data, out->copied);
		/* Checked after the copy: intact now means intact throughout. */
		rc = rb_consumer_check(c, &f);
		rb_consumer_release(c, &f);
		if (rc == 0)
			return 0;
		if (rc != RB_E_OVERRUN)
			return rc;
	}
	return -EAGAIN;
}

int
serve_frame_take(const char *name, uint64_t timeout_ns, struct serve_frame *out)
{
	struct rb_consumer_options opt;
	struct rb_consumer *c = NULL;
	struct rb_ring *ring = NULL;
	uint64_t bytes;
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = rb_ring_open(name, &ring)) != 0)
		return rc;
	out->type = *rb_ring_frame_type(ring);
	bytes = rb_ring_frame_bytes(ring);
	if ((out->data = malloc(bytes < SERVE_FRAME_MAX ? bytes : SERVE_FRAME_MAX)) == NULL) {
		rb_ring_close(ring);
		return -ENOMEM;
	}
	memset(&opt, 0, sizeof(opt));
	opt.lossy = 1;
	opt.start = RB_START_NEWEST;
	opt.label = "rb-ctl serve";
	opt.cancel = &cli_stop;
	rc = rb_consumer_attach(ring, &opt, &c);
	if (rc == 0) {
		rc = serve_frame_copy(c, timeout_ns, out);
		rb_consumer_detach(c);
	}
	rb_ring_close(ring);
	if (rc != 0) {
		free(out->data);
		out->data = NULL;
	}
	return rc;
}
