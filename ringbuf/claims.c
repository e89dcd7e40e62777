/*
 * The private list of held sequence numbers (see claims.h). ck_ring would
 * hold pointers, not the (start, count) pairs merged in place here, so this
 * small circular array is written out.
 */
#include <errno.h>
#include <stdlib.h>

#include "claims.h"

int
rb_claims_init(struct rb_claims *c, uint32_t capacity)
{
	uint32_t n = 1;

	while (n < capacity && n < (1u << 20))
		n <<= 1;
	c->ranges = calloc(n, sizeof(*c->ranges));
	if (c->ranges == NULL)
		return -ENOMEM;
	c->capacity = n;
	c->head = 0;
	c->length = 0;
	c->held = 0;
	return 0;
}

void
rb_claims_free(struct rb_claims *c)
{
	free(c->ranges);
	c->ranges = NULL;
}

static struct rb_claim_range *
rb_claims_at(const struct rb_claims *c, uint32_t i)
{
	return &c->ranges[(c->head + i) & (c->capacity - 1)];
}

bool
rb_claims_full(const struct rb_claims *c)
{
	return c->length == c->capacity;
}

bool
rb_claims_push(struct rb_claims *c, uint64_t start, uint64_t count)
{
	if (count == 0)
		return true;
	if (c->length > 0) {
		struct rb_claim_range *last = rb_claims_at(c, c->length - 1);

		if (last->start + last->count == start) {
			last->count += count;
			c->held += count;
			return true;
		}
	}
	if (rb_claims_full(c))
		return false;
	*rb_claims_at(c, c->length) = (struct rb_claim_range){start, count};
	c->length++;
	c->held += count;
	return true;
}

uint64_t
rb_claims_oldest(const struct rb_claims *c)
{
	return c->length == 0 ? UINT64_MAX : rb_claims_at(c, 0)->start;
}

bool
rb_claims_match(const struct rb_claims *c, const struct rb_frame *frames,
		uint32_t count)
{
	uint32_t r = 0, i = 0;
	uint64_t off = 0;

	if (count > c->held)
		return false;
	for (i = 0; i < count; i++) {
		const struct rb_claim_range *range = rb_claims_at(c, r);

		if (frames[i].seq != range->start + off)
			return false;
		if (++off == range->count) {
			r++;
			off = 0;
		}
	}
	return true;
}

void
rb_claims_pop(struct rb_claims *c, uint64_t count)
{
	c->held -= count;
	while (count > 0) {
		struct rb_claim_range *range = rb_claims_at(c, 0);

		if (count < range->count) {
			range->start += count;
			range->count -= count;
			return;
		}
		count -= range->count;
		c->head = (c->head + 1) & (c->capacity - 1);
		c->length--;
	}
}
