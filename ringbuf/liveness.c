/*
 * Liveness: who is attached, and whether they still run.
 *
 * A participant is named by (pid, start time). The start time (field 22 of
 * /proc/PID/stat, clock ticks since boot) tells a reused pid from the
 * process that registered, so a recycled pid never keeps a dead consumer's
 * slots held.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "rb_internal.h"

/*
 * Reads /proc/PID/stat: the state letter (field 3) and the start time
 * (field 22). Returns false if the process does not exist.
 */
static bool
rb_process_stat(uint32_t pid, char *state, uint64_t *start_time)
{
	char path[64], buf[1024];
	const char *p;
	ssize_t n;
	int fd, field;

	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* The command name (field 2) may hold spaces and parentheses: fields
	 * are counted from the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		return false;
	*state = p[2];
	for (field = 2; field < 22 && *p != '\0'; p++) {
		if (*p == ' ')
			field++;
	}
	*start_time = field == 22 ? strtoull(p, NULL, 10) : 0;
	return true;
}

uint64_t
rb_process_start_time(uint32_t pid)
{
	uint64_t start = 0;
	char state;

	return rb_process_stat(pid, &state, &start) ? start : 0;
}

bool
rb_process_alive(uint32_t pid, uint64_t start_time)
{
	uint64_t now_start = 0;
	char state = '?';

	if (pid == 0)
		return false;
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return false;
	/* Unreadable /proc (hidepid): trust kill(). */
	if (!rb_process_stat(pid, &state, &now_start))
		return true;
	/* A killed process whose parent has not reaped it yet is a zombie:
	 * kill(pid, 0) still succeeds, but it will never run again. */
	if (state == 'Z' || state == 'X' || state == 'x')
		return false;
	return start_time == 0 || now_start == start_time;
}

bool
rb_process_stopped(uint32_t pid)
{
	uint64_t start = 0;
	char state = '?';

	/* 'T' stopped by a signal, 't' stopped by a tracer. */
	return pid != 0 && rb_process_stat(pid, &state, &start) &&
	       (state == 'T' || state == 't');
}

uint32_t
rb_self_pid(void)
{
	return (uint32_t)getpid();
}

uint64_t
rb_self_start_time(void)
{
	return rb_process_start_time(rb_self_pid());
}

bool
rb_owner_alive(uint64_t owner, uint64_t start_time)
{
	if (RB_OWNER_STATE(owner) == RB_OWNER_FREE)
		return false;
	return rb_process_alive(RB_OWNER_PID(owner), start_time);
}

void
rb_consumer_record_free(struct rb_ring *ring, uint32_t index, uint64_t owner)
{
	struct rb_shm_consumer *rec = &ring->consumers[index];
	uint64_t bit = 1ull << (index % 64);

	/* Clear the sleep bit before the record becomes FREE: once FREE a new
	 * consumer may claim it and set the bit for itself. */
	ck_pr_and_64(&ring->producer->sleep_mask[index / 64], ~bit);
	ck_pr_store_64(&rec->wake_target, 0);
	rb_store_release_64(&rec->owner,
			    RB_OWNER_MAKE(0, RB_OWNER_GEN(owner) + 1, RB_OWNER_FREE));
	/* A producer blocked on this consumer can go on now. */
	rb_doorbell_ring(&ring->producer->doorbell);
}

bool
rb_consumer_evict_if_dead(struct rb_ring *ring, uint32_t index)
{
	struct rb_shm_consumer *rec = &ring->consumers[index];
	uint64_t owner = rb_load_acquire_64(&rec->owner);
	uint32_t state = RB_OWNER_STATE(owner);
	uint64_t evicting;

	if (state != RB_OWNER_ACTIVE && state != RB_OWNER_CLAIMING)
		return false;
	/* While CLAIMING, start_time may still be the previous owner's. */
	if (rb_process_alive(RB_OWNER_PID(owner),
			     state == RB_OWNER_ACTIVE ? ck_pr_load_64(&rec->start_time) : 0))
		return false;
	/* The owner is dead and cannot race with us; the CAS only settles a
	 * race between two evictors. */
	evicting = RB_OWNER_MAKE(RB_OWNER_PID(owner), RB_OWNER_GEN(owner),
				 RB_OWNER_EVICTING);
	if (!ck_pr_cas_64(&rec->owner, owner, evicting))
		return false;
	if (ck_pr_load_32(&rec->group) != 0)
		rb_group_member_leave(ring, index);
	ck_pr_store_32(&rec->group, 0);
	rb_consumer_record_free(ring, index, owner);
	return true;
}

void
rb_producer_census(struct rb_ring *ring, struct rb_producer_census *out)
{
	uint32_t i;

	out->active = out->alive = 0;
	out->signature = 0;
	for (i = 0; i < ring->max_producers; i++) {
		struct rb_shm_producer_record *rec = &ring->producer_records[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
			continue;
		out->active++;
		out->signature += owner;
		if (rb_process_alive(RB_OWNER_PID(owner), ck_pr_load_64(&rec->start_time)))
			out->alive++;
	}
}

/* A departing producer's part of the open stream: a member leaves it, and
 * when no member is left (or it died opening or closing it) the stream is
 * abandoned. */
static void
rb_producer_leave_stream(struct rb_ring *ring, uint32_t membership)
{
	struct rb_shm_producer *shm = ring->producer;

	switch (membership) {
	case RB_MEMBER_IN:
		if (ck_pr_faa_64(&shm->stream_members, (uint64_t)-1) == 1)
			(void)ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPEN,
					   RB_STREAM_ABANDONED);
		break;
	case RB_MEMBER_OPENING: /* died writing the header of a new stream */
		(void)ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPENING,
				   RB_STREAM_ABANDONED);
		break;
	case RB_MEMBER_RESTARTING: /* died rewriting the header: leave, reopen */
		if (ck_pr_faa_64(&shm->stream_members, (uint64_t)-1) == 1)
			(void)ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPENING,
					   RB_STREAM_ABANDONED);
		else
			(void)ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPENING,
					   RB_STREAM_OPEN);
		break;
	case RB_MEMBER_CLOSING: /* died writing the end marker as the last member */
		(void)ck_pr_cas_64(&shm->stream_state, RB_STREAM_OPEN,
				   RB_STREAM_ABANDONED);
		break;
	default:
		break;
	}
}

bool
rb_producer_evict_if_dead(struct rb_ring *ring, uint32_t index)
{
	struct rb_shm_producer_record *rec = &ring->producer_records[index];
	uint64_t owner = rb_load_acquire_64(&rec->owner);
	uint32_t state = RB_OWNER_STATE(owner);
	uint32_t membership;

	if (state != RB_OWNER_ACTIVE && state != RB_OWNER_CLAIMING)
		return false;
	if (rb_process_alive(RB_OWNER_PID(owner),
			     state == RB_OWNER_ACTIVE ? ck_pr_load_64(&rec->start_time) : 0))
		return false;
	if (!ck_pr_cas_64(&rec->owner, owner,
			  RB_OWNER_MAKE(RB_OWNER_PID(owner), RB_OWNER_GEN(owner),
					RB_OWNER_EVICTING)))
		return false;
	membership = ck_pr_load_32(&rec->in_stream);
	rb_producer_leave_stream(ring, membership);
	/* Its uncommitted seqs are repaired by the rule in repair.c, which
	 * needs no record: a FREE record is no live holder. */
	ck_pr_store_32(&rec->in_stream, 0);
	ck_pr_store_64(&rec->hold_from, RB_SEQ_NONE);
	rb_store_then_fence_64(&rec->owner, RB_OWNER_MAKE(0, RB_OWNER_GEN(owner) + 1,
							  RB_OWNER_FREE));
	/* Consumers waiting on it learn at their next look. */
	rb_wake_consumers(ring, 0, true);
	return true;
}

int
rb_producers_evict_dead(struct rb_ring *ring)
{
	int evicted = 0;
	uint32_t i;

	for (i = 0; i < ring->max_producers; i++)
		if (rb_producer_evict_if_dead(ring, i))
			evicted++;
	return evicted;
}

int
rb_ring_evict_dead(struct rb_ring *ring)
{
	int evicted = 0;
	uint32_t i;

	for (i = 0; i < ring->max_consumers; i++) {
		if (rb_consumer_evict_if_dead(ring, i))
			evicted++;
	}
	evicted += rb_groups_tidy(ring);
	evicted += rb_producers_evict_dead(ring);
	(void)rb_repair_abandoned(ring);
	return evicted;
}
