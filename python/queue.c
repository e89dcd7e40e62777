/*
 * The queue of frames an endpoint holds (consumer) or has reserved
 * (producer), oldest first: see rbpy.h for why it exists.
 *
 * Entries live in one array from `head`; the prefix that is done goes to
 * the library as one contiguous struct rb_frame array, which is why the
 * array is never circular: it is compacted (or grown) when the tail
 * reaches its end. A lossless consumer holds at most slot_count frames, so
 * after the first few acquires this allocates nothing.
 */
#include <stdlib.h>
#include <string.h>

#include "rbpy.h"

int
rbpy_queue_push(struct rbpy_queue *q, const struct rb_frame *f, uint64_t *ticket)
{
	if (q->head + q->len == q->cap) {
		if (q->head > 0) {
			memmove(q->frames, q->frames + q->head,
				q->len * sizeof(*q->frames));
			memmove(q->state, q->state + q->head, q->len);
			q->head = 0;
		} else {
			size_t cap = q->cap ? 2 * q->cap : 64;
			struct rb_frame *frames;
			uint8_t *state;

			frames = PyMem_Realloc(q->frames, cap * sizeof(*frames));
			if (frames == NULL)
				return -1;
			q->frames = frames;
			state = PyMem_Realloc(q->state, cap);
			if (state == NULL)
				return -1;
			q->state = state;
			q->cap = cap;
		}
	}
	q->frames[q->head + q->len] = *f;
	q->state[q->head + q->len] = RBPY_ENTRY_HELD;
	*ticket = q->first_ticket + q->len;
	q->len++;
	return 0;
}

/* The entry of `ticket`, or NULL if it has left the queue. */
struct rb_frame *
rbpy_queue_entry(struct rbpy_queue *q, uint64_t ticket)
{
	if (ticket < q->first_ticket || ticket - q->first_ticket >= q->len)
		return NULL;
	return &q->frames[q->head + (ticket - q->first_ticket)];
}

void
rbpy_queue_mark_done(struct rbpy_queue *q, uint64_t ticket)
{
	if (rbpy_queue_entry(q, ticket) != NULL)
		q->state[q->head + (ticket - q->first_ticket)] = RBPY_ENTRY_DONE;
}

/* How many entries from the head are done. */
size_t
rbpy_queue_done_prefix(const struct rbpy_queue *q)
{
	size_t n = 0;

	while (n < q->len && q->state[q->head + n] == RBPY_ENTRY_DONE)
		n++;
	return n;
}

void
rbpy_queue_pop(struct rbpy_queue *q, size_t n)
{
	q->head += n;
	q->len -= n;
	q->first_ticket += n;
	if (q->len == 0)
		q->head = 0;
}

void
rbpy_queue_free(struct rbpy_queue *q)
{
	PyMem_Free(q->frames);
	PyMem_Free(q->state);
	q->frames = NULL;
	q->state = NULL;
	q->first_ticket += q->len;
	q->head = q->len = q->cap = 0;
}
