/*
 * The receiver's journal (docs/BRIDGE.md, "Receiver killed"): which near
 * seq the far ring's last commit carried, kept in a 4 KiB file in
 * /dev/shm beside the far ring so that it outlives a kill -9.
 */
#ifndef RB_BRIDGE_JOURNAL_H
#define RB_BRIDGE_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct journal_file;

struct journal {
	struct journal_file *f; /* the mapping; NULL when closed */
};

/* Opens (create: or makes anew, empty) the journal of far ring `ring`.
 * Returns 0 or -errno; *existed says whether it was there. */
int journal_open(const char *ring, bool create, bool *existed, struct journal *j);
void journal_close(struct journal *j);
/* Removes the journal of `ring` (with the ring). */
void journal_remove(const char *ring);

/* True when the journal names this origin (text and near ring identity). */
bool journal_matches(const struct journal *j, const char *origin, size_t len,
		     uint64_t near_created_ns);
/* Forgets everything and names the origin. */
void journal_reset(struct journal *j, const char *origin, size_t len,
		   uint64_t near_created_ns);
/* The origin it names (NUL-terminated, possibly empty). */
const char *journal_origin(const struct journal *j);

/*
 * The near seq of the last commit (WIRE_NONE: none), given the far ring's
 * write_seq now: an intent whose far seq is below it was committed.
 */
uint64_t journal_resume(const struct journal *j, uint64_t far_write_seq);

/* Around each commit of near seq `near` at far seq `far`. */
void journal_intent(struct journal *j, uint64_t near, uint64_t far);
void journal_done(struct journal *j, uint64_t near, uint64_t far);

#endif /* RB_BRIDGE_JOURNAL_H */
