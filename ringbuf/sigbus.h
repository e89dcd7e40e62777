/*
 * The truncation guard's registry (sigbus.c): every mapping of a ring open
 * in this process, for rb_ring_handle_sigbus to find from a signal handler.
 */
#ifndef RB_SIGBUS_H
#define RB_SIGBUS_H

#include <stdint.h>

struct rb_mapping;

/* Enters [base, base + bytes); NULL when out of memory. */
struct rb_mapping *rb_mapping_register(void *base, uint64_t bytes);
/* Removes the entry; afterwards no handler touches the range, so the
 * caller may unmap it. NULL is ignored. */
void rb_mapping_unregister(struct rb_mapping *m);
/* 1 once a SIGBUS in the range replaced it with zero pages. */
int rb_mapping_truncated(const struct rb_mapping *m);

struct rb_ring;
/* rc, or RB_E_TRUNCATED when rc is an error (not a timeout) and the ring
 * was truncated under us: its zero pages read as corruption, or as
 * anything else, and the caller is told what happened instead. */
int rb_ring_error(const struct rb_ring *ring, int rc);

#endif /* RB_SIGBUS_H */
