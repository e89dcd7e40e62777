/*
 * A snapshot of a ring's counters: the producer block and every attached
 * consumer, read one after the other. The fields change while we read
 * them, so derived numbers are clamped where two reads could disagree
 * (a consumer's read_seq read after write_seq may be ahead of it).
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
	s->nconsumers = 0;
	s->dead = 0;
	s->taken_ns = cli_now_ns();
	if ((rc = rb_ring_get_status(ring, &s->status)) != 0)
		return rc;
	n = rb_ring_consumers(ring, s->consumers, RB_MAX_CONSUMERS);
	if (n < 0)
		return n;
	s->nconsumers = (uint32_t)n < RB_MAX_CONSUMERS ? (uint32_t)n : RB_MAX_CONSUMERS;
	for (i = 0; i < s->nconsumers; i++) {
		ctl_label_sanitize(s->consumers[i].label);
		if (!s->consumers[i].alive)
			s->dead++;
	}
	return 0;
}

uint64_t
ctl_consumer_lag(const struct ctl_snapshot *s, const struct rb_consumer_status *c)
{
	return s->status.write_seq > c->read_seq ? s->status.write_seq - c->read_seq : 0;
}

const char *
ctl_consumer_state(const struct rb_consumer_status *c)
{
	if (!c->alive)
		return "dead";
	return c->sleeping ? "sleeping" : "active";
}

const char *
ctl_consumer_mode(const struct rb_consumer_status *c)
{
	return c->lossy ? "lossy" : "lossless";
}

bool
ctl_snapshot_fill(const struct ctl_snapshot *s, uint64_t *lag)
{
	bool any = false;
	uint32_t i;

	*lag = 0;
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];
		uint64_t l;

		/* Lossy consumers never hold the producer back. A dead
		 * lossless one does, until it is evicted: count it. */
		if (c->lossy)
			continue;
		l = ctl_consumer_lag(s, c);
		if (!any || l > *lag)
			*lag = l;
		any = true;
	}
	return any;
}

int
ctl_snapshot_blocker(const struct ctl_snapshot *s, uint32_t *others)
{
	uint64_t target = s->status.producer_waits_for;
	int best = -1;
	uint32_t i, behind = 0;

	*others = 0;
	if (!s->status.producer_blocked)
		return -1;
	/* The producer needs every lossless consumer at read_seq >= target;
	 * the one furthest behind is the one it waits for longest. */
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if (c->lossy || c->read_seq >= target)
			continue;
		behind++;
		if (best < 0 || c->read_seq < s->consumers[best].read_seq)
			best = (int)i;
	}
	if (behind > 0)
		*others = behind - 1;
	return best;
}

bool
ctl_snapshot_in_use(const struct ctl_snapshot *s)
{
	return s->status.producer_alive || s->dead < s->nconsumers;
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
	if (s->status.producer_pid != 0 && (s->status.producer_alive != 0) == alive) {
		n = snprintf(buf, size, "producer pid %u", s->status.producer_pid);
		used = n > 0 ? (size_t)n : 0;
	}
	for (i = 0; i < s->nconsumers && used < size; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if ((c->alive != 0) != alive)
			continue;
		n = snprintf(buf + used, size - used, "%sconsumer #%u pid %u%s%s%s",
			     used ? ", " : "", c->index, c->pid, c->label[0] ? " \"" : "",
			     c->label, c->label[0] ? "\"" : "");
		used += n > 0 ? (size_t)n : 0;
	}
	/* Cut short: say so rather than end mid-word. */
	if (used >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}
