/*
 * The stream header: key=value text the producer sets at the start of a
 * stream, read by consumers as a consistent copy.
 *
 * A sequence lock. The producer (the only writer) makes the generation odd,
 * rewrites the text, then makes it even again; a reader copies the text
 * between two reads of the generation and retries if they differ or are
 * odd. Readers never write, so a crashed reader cannot block anyone; a
 * producer that dies mid-write leaves the generation odd, and readers give
 * up after a bounded number of tries with -EAGAIN.
 */
#include <errno.h>
#include <string.h>

#include "rb_internal.h"

#define RB_HEADER_READ_TRIES 100000

int
rb_stream_header_write(struct rb_ring *ring, const char *text,
		       uint64_t start_seq)
{
	struct rb_shm_stream_header *sh = ring->stream_header;
	size_t len = text ? strlen(text) : 0;
	uint64_t gen;

	if (len >= ring->stream_header_bytes)
		return -EMSGSIZE;
	gen = ck_pr_load_64(&sh->generation);
	if (gen & 1)
		gen++; /* a previous producer died mid-write: start afresh */
	ck_pr_store_64(&sh->generation, gen + 1);
	/* The odd generation must be visible before any text changes. */
	ck_pr_fence_store();
	memcpy(sh->text, text ? text : "", len);
	sh->text[len] = '\0';
	ck_pr_store_64(&sh->length, len);
	ck_pr_store_64(&sh->start_seq, start_seq);
	rb_store_release_64(&sh->generation, gen + 2);
	return 0;
}

int
rb_stream_header_read(struct rb_ring *ring, char *buf, size_t size,
		      uint64_t *start_seq)
{
	struct rb_shm_stream_header *sh = ring->stream_header;
	int tries;

	for (tries = 0; tries < RB_HEADER_READ_TRIES; tries++) {
		uint64_t gen = rb_load_acquire_64(&sh->generation);
		uint64_t len, seq;

		if (gen & 1) {
			rb_cpu_relax();
			continue;
		}
		len = ck_pr_load_64(&sh->length);
		seq = ck_pr_load_64(&sh->start_seq);
		/* A torn or hostile length is caught by the generation check
		 * or, failing that, clamped to the capacity we validated. */
		if (len >= ring->stream_header_bytes)
			len = ring->stream_header_bytes - 1;
		if (len >= size) {
			/* Only a stable length is worth refusing the buffer for. */
			ck_pr_fence_load();
			if (ck_pr_load_64(&sh->generation) != gen)
				continue;
			return -ENOBUFS;
		}
		memcpy(buf, sh->text, len);
		ck_pr_fence_load();
		if (ck_pr_load_64(&sh->generation) != gen)
			continue;
		buf[len] = '\0';
		if (start_seq != NULL)
			*start_seq = seq;
		return (int)len;
	}
	return -EAGAIN;
}

int
rb_ring_stream_header(struct rb_ring *ring, char *buf, size_t size,
		      uint64_t *start_seq)
{
	if (buf == NULL || size == 0)
		return -EINVAL;
	return rb_stream_header_read(ring, buf, size, start_seq);
}
