/*
 * A handle's private list of the sequence numbers it holds, oldest first,
 * as ranges. A producer of a several-producer ring and a group member hold
 * seqs that need not be contiguous (others claim in between), and both must
 * hand them back oldest first.
 */
#ifndef RB_CLAIMS_H
#define RB_CLAIMS_H

#include <stdbool.h>
#include <stdint.h>

#include "ringbuf.h"

struct rb_claim_range {
	uint64_t start;
	uint64_t count;
};

struct rb_claims {
	struct rb_claim_range *ranges; /* circular, capacity a power of two */
	uint32_t capacity;
	uint32_t head;   /* index of the oldest range */
	uint32_t length; /* ranges in use */
	uint64_t held;   /* seqs in all ranges */
};

/* Room for `capacity` separate ranges (rounded up to a power of two). */
int rb_claims_init(struct rb_claims *c, uint32_t capacity);
void rb_claims_free(struct rb_claims *c);
/* Appends [start, start + count), merging with the newest range when it
 * follows on. false when every range is in use. */
bool rb_claims_push(struct rb_claims *c, uint64_t start, uint64_t count);
/* Whether a range can be pushed without merging. */
bool rb_claims_full(const struct rb_claims *c);
/* Oldest held seq, RB_SEQ_NONE (UINT64_MAX) when empty. */
uint64_t rb_claims_oldest(const struct rb_claims *c);
/* Whether frames[0..count) carry the `count` oldest held seqs, in order. */
bool rb_claims_match(const struct rb_claims *c, const struct rb_frame *frames,
		     uint32_t count);
/* Drops the `count` oldest held seqs (count <= held). */
void rb_claims_pop(struct rb_claims *c, uint64_t count);

#endif /* RB_CLAIMS_H */
