/*
 * A snapshot of a ring's counters: the producer block, every attached
 * producer, every consumer group and every attached consumer, read one
 * after the other. The fields change while we read them, so derived
 * numbers are clamped where two reads could disagree (a consumer's
 * read_seq read after write_seq may be ahead of it).
 */
#include <string.h>

#include "ctl.h"

/*
 * Labels are written by the consumers, any bytes they like. Everything we
 * print them into (a terminal, JSON, Prometheus label values) wants
 * printable UTF-8, so anything else becomes '?' here, once.
 */
static void
ctl_label_sanitize(char *label)
{
	unsigned char *p = (unsigned char *)label;

	while (*p != '\0') {
		int len = 0, i;

		if (*p >= 0x20 && *p < 0x7f) {
			p++;
			continue;
		}
		if (*p >= 0xc2 && *p <= 0xdf)
			len = 2;
		else if (*p >= 0xe0 && *p <= 0xef)
			len = 3;
		else if (*p >= 0xf0 && *p <= 0xf4)
			len = 4;
		for (i = 1; i < len; i++)
			if ((p[i] & 0xc0) != 0x80)
				break;
		/* Overlong and surrogate forms slip through this check; they
		 * are valid enough for a display label. */
		if (len == 0 || i < len) {
			*p++ = '?';
			continue;
		}
		p += len;
	}
}

int
ctl_snapshot_take(struct rb_ring *ring, struct ctl_snapshot *s)
{
	int n, rc;
	uint32_t i;

	memset(&s->status, 0, sizeof(s->status));
	s->nproducers = 0;
	s->producers_dead = 0;
	s->ngroups = 0;
	s->nconsumers = 0;
	s->dead = 0;
	s->max_producers = rb_ring_max_producers(ring);
	s->taken_ns = cli_now_ns();
	if ((rc = rb_ring_get_status(ring, &s->status)) != 0)
		return rc;
	if ((n = rb_ring_producers(ring, s->producers, RB_MAX_PRODUCERS)) < 0)
		return n;
	s->nproducers = (uint32_t)n < RB_MAX_PRODUCERS ? (uint32_t)n : RB_MAX_PRODUCERS;
	for (i = 0; i < s->nproducers; i++)
		if (!s->producers[i].alive)
			s->producers_dead++;
	if ((n = rb_ring_groups(ring, s->groups, RB_MAX_GROUPS)) < 0)
		return n;
	s->ngroups = (uint32_t)n < RB_MAX_GROUPS ? (uint32_t)n : RB_MAX_GROUPS;
	for (i = 0; i < s->ngroups; i++)
		ctl_label_sanitize(s->groups[i].name);
	n = rb_ring_consumers(ring, s->consumers, RB_MAX_CONSUMERS);
	if (n < 0)
		return n;
	s->nconsumers = (uint32_t)n < RB_MAX_CONSUMERS ? (uint32_t)n : RB_MAX_CONSUMERS;
	for (i = 0; i < s->nconsumers; i++) {
		ctl_label_sanitize(s->consumers[i].label);
		ctl_label_sanitize(s->consumers[i].group);
		if (!s->consumers[i].alive)
			s->dead++;
	}
	return 0;
}

bool
ctl_consumer_has_position(const struct rb_consumer_status *c)
{
	return c->group[0] == '\0' || (c->held > 0 && c->read_seq != UINT64_MAX);
}

uint64_t
ctl_consumer_lag(const struct ctl_snapshot *s, const struct rb_consumer_status *c)
{
	if (!ctl_consumer_has_position(c))
		return 0;
	return s->status.write_seq > c->read_seq ? s->status.write_seq - c->read_seq : 0;
}

const char *
ctl_consumer_state(const struct rb_consumer_status *c)
{
	if (!c->alive)
		return "dead";
	/* A stopped process may still look asleep: it cannot wake. */
	if (c->stopped)
		return "stopped";
	return c->sleeping ? "sleeping" : "active";
}

const char *
ctl_producer_state(const struct rb_producer_status *p)
{
	if (!p->alive)
		return "dead";
	return p->stopped ? "stopped" : "alive";
}

const char *
ctl_consumer_mode(const struct rb_consumer_status *c)
{
	if (c->demoted)
		return "demoted"; /* lossless, demoted to lossy */
	return c->lossy ? "lossy" : "lossless";
}

const struct rb_group_status *
ctl_consumer_group(const struct ctl_snapshot *s, const struct rb_consumer_status *c)
{
	uint32_t i;

	if (c->group[0] == '\0')
		return NULL;
	for (i = 0; i < s->ngroups; i++)
		if (strcmp(s->groups[i].name, c->group) == 0)
			return &s->groups[i];
	return NULL;
}

uint64_t
ctl_group_lag(const struct ctl_snapshot *s, const struct rb_group_status *g)
{
	return s->status.write_seq > g->claim_seq ? s->status.write_seq - g->claim_seq : 0;
}

const char *
ctl_group_mode(const struct rb_group_status *g)
{
	return g->lossy ? "lossy" : "lossless";
}

uint32_t
ctl_snapshot_producers_alive(const struct ctl_snapshot *s)
{
	return s->nproducers - s->producers_dead;
}

const char *
ctl_stream_state_name(int state)
{
	switch (state) {
	case RB_STREAM_STATUS_NONE: return "none";
	case RB_STREAM_STATUS_OPEN: return "open";
	case RB_STREAM_STATUS_ENDED: return "ended";
	case RB_STREAM_STATUS_ABANDONED: return "abandoned";
	}
	return "unknown";
}

/*
 * What a lossless group holds the producers at: the group hands out
 * nothing before its claim_seq, and a seq a member still holds cannot
 * be overwritten either, so the older of the two.
 */
static uint64_t
ctl_group_gate(const struct ctl_snapshot *s, const struct rb_group_status *g)
{
	uint64_t gate = g->claim_seq;
	uint32_t i;

	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if (ctl_consumer_group(s, c) == g && ctl_consumer_has_position(c) &&
		    c->read_seq < gate)
			gate = c->read_seq;
	}
	return gate;
}

bool
ctl_snapshot_fill(const struct ctl_snapshot *s, uint64_t *lag)
{
	uint64_t write_seq = s->status.write_seq;
	bool any = false;
	uint32_t i;

	*lag = 0;
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];
		uint64_t l;

		/* Lossy consumers never hold the producer back. A dead
		 * lossless one does, until it is evicted: count it. Group
		 * members count through their group, below. */
		if (c->lossy || c->group[0] != '\0')
			continue;
		l = ctl_consumer_lag(s, c);
		if (!any || l > *lag)
			*lag = l;
		any = true;
	}
	for (i = 0; i < s->ngroups; i++) {
		const struct rb_group_status *g = &s->groups[i];
		uint64_t gate, l;

		if (g->lossy)
			continue;
		gate = ctl_group_gate(s, g);
		l = write_seq > gate ? write_seq - gate : 0;
		if (!any || l > *lag)
			*lag = l;
		any = true;
	}
	return any;
}

int
ctl_snapshot_blocker(const struct ctl_snapshot *s, struct ctl_blocker *b)
{
	uint64_t target = s->status.producer_waits_for, best = 0;
	uint32_t i, behind = 0;

	b->consumer = -1;
	b->group = -1;
	b->others = 0;
	if (!s->status.producer_blocked)
		return -1;
	/* The producer needs every lossless consumer in no group, every
	 * frame a lossless group's members hold, and every lossless group's
	 * claim position at target or beyond; the one furthest behind is the
	 * one it waits for longest. */
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if (c->lossy || !ctl_consumer_has_position(c) || c->read_seq >= target)
			continue;
		behind++;
		if ((b->consumer < 0 && b->group < 0) || c->read_seq < best) {
			b->consumer = (int)i;
			best = c->read_seq;
		}
	}
	for (i = 0; i < s->ngroups; i++) {
		const struct rb_group_status *g = &s->groups[i];

		if (g->lossy || g->claim_seq >= target)
			continue;
		behind++;
		if ((b->consumer < 0 && b->group < 0) || g->claim_seq < best) {
			b->consumer = -1;
			b->group = (int)i;
			best = g->claim_seq;
		}
	}
	if (behind == 0)
		return 0;
	b->others = behind - 1;
	return 1;
}

bool
ctl_snapshot_in_use(const struct ctl_snapshot *s)
{
	return s->status.producer_alive || ctl_snapshot_producers_alive(s) > 0 ||
	       s->dead < s->nconsumers;
}

uint32_t
ctl_snapshot_dead(const struct ctl_snapshot *s)
{
	return s->producers_dead + s->dead;
}

void
ctl_snapshot_who(const struct ctl_snapshot *s, bool alive, char *buf, size_t size)
{
	size_t used = 0;
	uint32_t i;
	int n;

	if (size == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < s->nproducers && used < size; i++) {
		const struct rb_producer_status *p = &s->producers[i];

		if ((p->alive != 0) != alive)
			continue;
		/* A single-producer ring has one: its index says nothing. */
		if (s->max_producers <= 1)
			n = snprintf(buf + used, size - used, "%sproducer pid %u",
				     used ? ", " : "", p->pid);
		else
			n = snprintf(buf + used, size - used, "%sproducer #%u pid %u",
				     used ? ", " : "", p->index, p->pid);
		used += n > 0 ? (size_t)n : 0;
	}
	for (i = 0; i < s->nconsumers && used < size; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if ((c->alive != 0) != alive)
			continue;
		n = snprintf(buf + used, size - used, "%sconsumer #%u pid %u%s%s%s%s%s",
			     used ? ", " : "", c->index, c->pid, c->label[0] ? " \"" : "",
			     c->label, c->label[0] ? "\"" : "",
			     c->group[0] ? " of group " : "", c->group);
		used += n > 0 ? (size_t)n : 0;
	}
	/* Cut short: say so rather than end mid-word. */
	if (used >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}
