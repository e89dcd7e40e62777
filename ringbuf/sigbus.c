/*
 * The truncation guard: a registry of the ring mappings open in this
 * process, and rb_ring_handle_sigbus, which a program's SIGBUS handler
 * calls to survive a ring whose file was truncated under it.
 *
 * The registry is a singly linked list that only grows: a node, once
 * published at the head, stays in the list (and in memory) for the life
 * of the process, and its `next` never changes, so a signal handler can
 * walk it at any moment without a lock. Closing a ring frees its node for
 * the next open (in_use 0), so the list is as long as the most rings ever
 * open at once, not as the number of opens.
 *
 * The one race that matters is a handler that read a node's range while
 * another thread closes that ring and unmaps the range (which the kernel
 * may then hand to something else: the handler's MAP_FIXED would
 * clobber it). A handler announces itself in rb_sigbus_active before it
 * reads any range; unregister clears the range and then waits for
 * rb_sigbus_active to drop to 0 before the caller may unmap or the node
 * be reused. Both sides store, full fence, then load (a Dekker pair): a
 * handler that read the old range is seen as active by unregister, and
 * a handler unregister did not see reads the cleared range.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "rb_internal.h"
#include "sigbus.h"

struct rb_mapping {
	struct rb_mapping *next; /* written before publication, then fixed */
	uint64_t base;           /* start address; 0 while free or filled in */
	uint64_t bytes;          /* length of the mapping */
	uint32_t in_use;         /* 1: owned by an open ring */
	uint32_t truncated;      /* 1: a SIGBUS replaced it with zero pages */
};

static struct rb_mapping *rb_mapping_head;
/* Handlers inside rb_ring_handle_sigbus right now (all threads). */
static uint64_t rb_sigbus_active;

struct rb_mapping *
rb_mapping_register(void *base, uint64_t bytes)
{
	struct rb_mapping *m, *head;

	for (m = ck_pr_load_ptr(&rb_mapping_head); m != NULL; m = m->next)
		if (ck_pr_load_32(&m->in_use) == 0 && ck_pr_cas_32(&m->in_use, 0, 1))
			goto fill;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return NULL;
	m->in_use = 1;
	do {
		head = ck_pr_load_ptr(&rb_mapping_head);
		m->next = head;
		/* The node's fields before the node, for a walking handler. */
		ck_pr_fence_store();
	} while (!ck_pr_cas_ptr(&rb_mapping_head, head, m));
fill:
	ck_pr_store_32(&m->truncated, 0);
	ck_pr_store_64(&m->bytes, bytes);
	/* The length before the start: a handler that sees the start reads
	 * this mapping's length, never a previous one's. */
	ck_pr_fence_store();
	ck_pr_store_64(&m->base, (uint64_t)(uintptr_t)base);
	return m;
}

void
rb_mapping_unregister(struct rb_mapping *m)
{
	if (m == NULL)
		return;
	ck_pr_store_64(&m->base, 0);
	/* Store, full fence, load: see the top of the file. */
	ck_pr_fence_memory();
	while (ck_pr_load_64(&rb_sigbus_active) != 0)
		ck_pr_stall(); /* a handler runs one mmap: a few microseconds */
	ck_pr_fence_memory();
	ck_pr_store_32(&m->in_use, 0);
}

int
rb_mapping_truncated(const struct rb_mapping *m)
{
	return m != NULL && ck_pr_load_32(&m->truncated) != 0;
}

int
rb_ring_truncated(const struct rb_ring *ring)
{
	return rb_mapping_truncated(ring->mapping);
}

int
rb_ring_error(const struct rb_ring *ring, int rc)
{
	/* A timeout is no error, and misuse (-EINVAL, -EBUSY, -ENOBUFS) is
	 * found before the ring is read. */
	if (rc < 0 && rc != -ETIMEDOUT && rc != -EAGAIN && rc != -EINVAL && rc != -EBUSY &&
	    rc != -ENOBUFS && rb_ring_truncated(ring))
		return RB_E_TRUNCATED;
	return rc;
}

int
rb_ring_handle_sigbus(const void *addr)
{
	uint64_t a = (uint64_t)(uintptr_t)addr;
	struct rb_mapping *m;
	int saved = errno, rc = 0;

	ck_pr_inc_64(&rb_sigbus_active);
	/* Announce, full fence, then read ranges: see the top of the file. */
	ck_pr_fence_memory();
	for (m = ck_pr_load_ptr(&rb_mapping_head); m != NULL; m = m->next) {
		uint64_t base = ck_pr_load_64(&m->base), bytes;
		void *p;

		ck_pr_fence_load(); /* pairs with the fence in register */
		bytes = ck_pr_load_64(&m->bytes);
		if (base == 0 || a < base || a - base >= bytes)
			continue;
		/* The whole mapping, not just the faulting page: the ring is
		 * gone, and zeros everywhere at least read consistently (no
		 * magic, no producer, no frames) wherever the caller looks. */
		p = mmap((void *)(uintptr_t)base, (size_t)bytes, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		if (p == MAP_FAILED) {
			rc = -errno;
		} else {
			ck_pr_store_32(&m->truncated, 1);
			rc = 1;
		}
		break;
	}
	ck_pr_fence_memory();
	ck_pr_dec_64(&rb_sigbus_active);
	errno = saved;
	return rc;
}
