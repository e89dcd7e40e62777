/*
 * Stream headers: key=value text the producer sets at the start of each
 * stream, read by consumers as a consistent copy (FORMAT.md §3.5, §5.13).
 *
 * The ring keeps one header per stream in a small ring of `stream_headers`
 * entries: stream ordinal o (1, 2, ...) lives in entry o % stream_headers,
 * and P.stream_ordinal names the newest. A frame belongs to the newest
 * stream whose start_seq is <= its seq, so the commit path stores nothing
 * for it, and frames committed by any producer (or empty by a repairer)
 * map the same way. A ring of slot_count slots may hold frames of up to
 * slot_count streams, more than the entries kept: an entry overwritten by
 * a newer stream is detected (its ordinal changed) and reported as
 * RB_E_HEADER_GONE, never handed over as another stream's header.
 *
 * Each entry is a sequence lock. Only the producer opening a stream writes
 * (one at a time: the OPENING state is exclusive); it makes the generation
 * odd, rewrites the entry, makes it even again, then publishes the ordinal.
 * A reader copies between two loads of the generation and retries if they
 * differ or are odd. Readers never write, so a crashed reader blocks no
 * one; a producer that dies mid-write leaves the generation odd, and
 * readers give up after a bounded number of tries with -EAGAIN.
 */
#include <errno.h>
#include <string.h>

#include "rb_internal.h"

#define RB_HEADER_READ_TRIES 100000

static struct rb_shm_stream_header *
rb_header_entry(const struct rb_ring *ring, uint64_t ordinal)
{
	return (struct rb_shm_stream_header *)((uint8_t *)ring->stream_header +
					       (ordinal % ring->stream_headers) *
						       ring->stream_header_stride);
}

int
rb_stream_header_write(struct rb_ring *ring, const char *text,
		       uint64_t start_seq)
{
	uint64_t ordinal = ck_pr_load_64(&ring->producer->stream_ordinal) + 1;
	struct rb_shm_stream_header *sh = rb_header_entry(ring, ordinal);
	size_t len = text ? strlen(text) : 0;
	int64_t offset;
	uint64_t gen;

	if (len >= ring->stream_header_bytes)
		return -EMSGSIZE;
	offset = rb_clock_anchor_current(ring);
	gen = ck_pr_load_64(&sh->generation);
	if (gen & 1)
		gen++; /* a previous producer died mid-write: start afresh */
	ck_pr_store_64(&sh->generation, gen + 1);
	/* The odd generation must be visible before anything else changes. */
	ck_pr_fence_store();
	ck_pr_store_64(&sh->ordinal, ordinal);
	memcpy(sh->text, text ? text : "", len);
	sh->text[len] = '\0';
	ck_pr_store_64(&sh->length, len);
	ck_pr_store_64(&sh->start_seq, start_seq);
	ck_pr_store_64(&sh->clock_offset_ns, (uint64_t)offset);
	rb_store_release_64(&sh->generation, gen + 2);
	/* After the entry: a reader that sees the ordinal finds it written
	 * (or being rewritten by a newer stream, which it detects). */
	rb_store_release_64(&ring->producer->stream_ordinal, ordinal);
	return 0;
}

/*
 * One consistent copy of entry `ordinal`: 0 with *info filled (and the text
 * copied when buf), RB_E_HEADER_GONE when the entry holds another stream
 * (or was never written), -ENOBUFS, or -EAGAIN after too many retries.
 */
static int
rb_header_copy(struct rb_ring *ring, uint64_t ordinal, char *buf, size_t size,
	       struct rb_stream_info *info)
{
	struct rb_shm_stream_header *sh = rb_header_entry(ring, ordinal);
	int tries;

	for (tries = 0; tries < RB_HEADER_READ_TRIES; tries++) {
		uint64_t gen = rb_load_acquire_64(&sh->generation);
		uint64_t len, seq, ord, clk;

		if (gen & 1) {
			rb_cpu_relax();
			continue;
		}
		ord = ck_pr_load_64(&sh->ordinal);
		len = ck_pr_load_64(&sh->length);
		seq = ck_pr_load_64(&sh->start_seq);
		clk = ck_pr_load_64(&sh->clock_offset_ns);
		/* A torn or hostile length is caught by the generation check
		 * or, failing that, clamped to the capacity we validated. */
		if (len >= ring->stream_header_bytes)
			len = ring->stream_header_bytes - 1;
		if (ord == ordinal && buf != NULL) {
			if (len >= size) {
				/* Only a stable length is worth refusing for. */
				ck_pr_fence_load();
				if (ck_pr_load_64(&sh->generation) != gen)
					continue;
				return -ENOBUFS;
			}
			memcpy(buf, sh->text, len);
		}
		ck_pr_fence_load();
		if (ck_pr_load_64(&sh->generation) != gen)
			continue;
		if (ord != ordinal)
			return RB_E_HEADER_GONE;
		if (buf != NULL)
			buf[len] = '\0';
		info->ordinal = ord;
		info->start_seq = seq;
		info->clock_offset_ns = (int64_t)clk;
		info->length = len;
		return 0;
	}
	return -EAGAIN;
}

static int
rb_header_none(char *buf, size_t size, struct rb_stream_info *info)
{
	memset(info, 0, sizeof(*info));
	if (buf != NULL && size > 0)
		buf[0] = '\0';
	return 0;
}

int
rb_stream_header_read(struct rb_ring *ring, char *buf, size_t size,
		      uint64_t *start_seq)
{
	uint64_t ordinal = rb_load_acquire_64(&ring->producer->stream_ordinal);
	struct rb_stream_info info;
	int rc;

	/* The newest stream's entry; a newer one replacing it meanwhile makes
	 * the copy fail, and the newer one is then the current header. */
	for (int tries = 0; tries < 16; tries++) {
		if (ordinal == 0) {
			rc = rb_header_none(buf, size, &info);
		} else {
			rc = rb_header_copy(ring, ordinal, buf, size, &info);
			if (rc == RB_E_HEADER_GONE) {
				ordinal = rb_load_acquire_64(&ring->producer->stream_ordinal);
				continue;
			}
		}
		if (rc != 0)
			return rc;
		if (start_seq != NULL)
			*start_seq = info.start_seq;
		return (int)info.length;
	}
	return -EAGAIN;
}

uint64_t
rb_stream_current_start(struct rb_ring *ring)
{
	uint64_t ordinal = rb_load_acquire_64(&ring->producer->stream_ordinal);

	return ck_pr_load_64(&rb_header_entry(ring, ordinal)->start_seq);
}

int
rb_ring_stream_header(struct rb_ring *ring, char *buf, size_t size,
		      uint64_t *start_seq)
{
	if (buf == NULL || size == 0)
		return -EINVAL;
	return rb_stream_header_read(ring, buf, size, start_seq);
}

/*
 * The stream of `seq` is the newest o with start_seq(o) <= seq. Walk down
 * from the newest ordinal: entries are overwritten oldest first, so once
 * one is gone every older one is too, and the frame's stream (this one or
 * an older) is gone. A stream opened after we loaded the newest ordinal
 * starts after seq (seq was claimed before), so it cannot be the answer.
 */
int
rb_ring_stream_header_at(struct rb_ring *ring, uint64_t seq, char *buf,
			 size_t size, struct rb_stream_info *info)
{
	uint64_t newest = rb_load_acquire_64(&ring->producer->stream_ordinal);
	struct rb_stream_info tmp;
	uint64_t o;

	if (info == NULL)
		info = &tmp;
	if (buf == NULL && size != 0)
		return -EINVAL;
	if (buf != NULL && size == 0)
		return -EINVAL;
	for (o = newest; o > 0 && newest - o < ring->stream_headers; o--) {
		/* Look at start_seq first, copy the text only for the match. */
		int rc = rb_header_copy(ring, o, NULL, 0, info);

		if (rc != 0)
			return rc;
		if (info->start_seq > seq)
			continue;
		if (buf == NULL)
			return (int)info->length;
		rc = rb_header_copy(ring, o, buf, size, info);
		return rc != 0 ? rc : (int)info->length;
	}
	if (o > 0)
		return RB_E_HEADER_GONE;
	return rb_header_none(buf, size, info);
}
