/*
 * The JSON members that list, info and top share, so that a ring, its
 * producers, groups and consumers look the same in every command's output.
 * Integers are raw (bytes, sequence numbers); strings are the words the
 * text output uses ("lossless", "sleeping").
 */
#include "ctl.h"

void
ctl_json_geometry(struct cli_json *j, struct rb_ring *ring)
{
	const struct rb_frame_type *t = rb_ring_frame_type(ring);
	uint32_t flags = rb_ring_create_flags(ring), bit, i;
	char text[128];

	ctl_format_type(text, sizeof(text), t);
	cli_json_u64(j, "frame_bytes", rb_ring_frame_bytes(ring));
	cli_json_string(j, "frame_type", text);
	cli_json_string(j, "elem", rb_elem_name(t->elem) ? rb_elem_name(t->elem) : "?");
	cli_json_array(j, "shape");
	for (i = 0; i < t->ndim && i < RB_MAX_DIMS; i++)
		cli_json_u64(j, NULL, t->dims[i]);
	cli_json_array_end(j);
	cli_json_u64(j, "slot_count", rb_ring_slot_count(ring));
	cli_json_u64(j, "slot_stride", rb_ring_slot_stride(ring));
	cli_json_u64(j, "slot_align", rb_ring_slot_align(ring));
	cli_json_u64(j, "max_consumers", rb_ring_max_consumers(ring));
	cli_json_u64(j, "max_producers", rb_ring_max_producers(ring));
	cli_json_u64(j, "max_groups", rb_ring_max_groups(ring));
	cli_json_u64(j, "stream_header_bytes", rb_ring_stream_header_capacity(ring));
	cli_json_u64(j, "initial_seq", rb_ring_initial_seq(ring));
	cli_json_u64(j, "segment_bytes", rb_ring_segment_bytes(ring));
	cli_json_string(j, "pages", rb_ring_pages(ring) == RB_PAGES_THP ? "thp" : "normal");
	cli_json_u64(j, "created_ns", rb_ring_created_ns(ring));
	ctl_format_time(text, sizeof(text), rb_ring_created_ns(ring));
	cli_json_string(j, "created", text);
	cli_json_u64(j, "create_flags", flags);
	cli_json_array(j, "create_flag_names");
	for (bit = 1; bit != 0; bit <<= 1)
		if ((flags & bit) && ctl_flag_name(bit) != NULL)
			cli_json_string(j, NULL, ctl_flag_name(bit));
	cli_json_array_end(j);
}

void
ctl_json_producer(struct cli_json *j, const struct ctl_snapshot *s)
{
	const struct rb_ring_status *st = &s->status;
	struct ctl_blocker b;
	int blocked = ctl_snapshot_blocker(s, &b);

	cli_json_object(j, "producer");
	if (st->producer_pid != 0)
		cli_json_u64(j, "pid", st->producer_pid);
	else
		cli_json_null(j, "pid");
	cli_json_bool(j, "alive", st->producer_alive != 0);
	cli_json_bool(j, "stream_open", st->stream_open != 0);
	cli_json_u64(j, "write_seq", st->write_seq);
	cli_json_u64(j, "initial_seq", st->initial_seq);
	cli_json_u64(j, "frames_dropped", st->frames_dropped);
	cli_json_bool(j, "blocked", st->producer_blocked != 0);
	if (st->producer_blocked)
		cli_json_u64(j, "waits_for_read_seq", st->producer_waits_for);
	else
		cli_json_null(j, "waits_for_read_seq");
	if (blocked > 0 && b.consumer >= 0)
		cli_json_u64(j, "blocked_by", s->consumers[b.consumer].index);
	else
		cli_json_null(j, "blocked_by");
	if (blocked > 0 && b.group >= 0)
		cli_json_string(j, "blocked_by_group", s->groups[b.group].name);
	else
		cli_json_null(j, "blocked_by_group");
	/* Several producers: pid and alive above are the first attached and
	 * "any alive"; the records are in "producers". */
	cli_json_u64(j, "max_producers", s->max_producers);
	cli_json_u64(j, "producers_attached", s->nproducers);
	cli_json_u64(j, "producers_alive", ctl_snapshot_producers_alive(s));
	cli_json_string(j, "stream_state", ctl_stream_state_name(st->stream_state));
	cli_json_u64(j, "stream_members", st->stream_members);
	cli_json_u64(j, "claim_seq", st->claim_seq);
	cli_json_u64(j, "frames_abandoned", st->frames_abandoned);
	cli_json_object_end(j);
}

void
ctl_json_producer_fields(struct cli_json *j, const struct rb_producer_status *p)
{
	cli_json_u64(j, "index", p->index);
	cli_json_u64(j, "pid", p->pid);
	cli_json_bool(j, "alive", p->alive != 0);
	cli_json_bool(j, "stopped", p->stopped != 0);
	cli_json_string(j, "state", ctl_producer_state(p));
	cli_json_bool(j, "in_stream", p->in_stream != 0);
	cli_json_u64(j, "frames", p->frames);
	if (p->hold_from != UINT64_MAX)
		cli_json_u64(j, "hold_from", p->hold_from);
	else
		cli_json_null(j, "hold_from");
	/* The source's own counters (udp capture, FORMAT.md §3.7.1). */
	cli_json_object(j, "counters");
	for (uint32_t k = 0; k < p->ncounters && k < RB_COUNTERS_MAX; k++)
		cli_json_u64(j, rb_counter_name(k), p->counters[k]);
	cli_json_object_end(j);
}

void
ctl_json_producers(struct cli_json *j, const struct ctl_snapshot *s)
{
	uint32_t i;

	cli_json_array(j, "producers");
	for (i = 0; i < s->nproducers; i++) {
		cli_json_object(j, NULL);
		ctl_json_producer_fields(j, &s->producers[i]);
		cli_json_object_end(j);
	}
	cli_json_array_end(j);
}

void
ctl_json_group_fields(struct cli_json *j, const struct ctl_snapshot *s,
		      const struct rb_group_status *g)
{
	uint64_t held = 0;
	uint32_t i;

	for (i = 0; i < s->nconsumers; i++)
		if (ctl_consumer_group(s, &s->consumers[i]) == g)
			held += s->consumers[i].held;
	cli_json_u64(j, "index", g->index);
	cli_json_string(j, "name", g->name);
	cli_json_string(j, "mode", ctl_group_mode(g));
	cli_json_u64(j, "members", g->members);
	cli_json_u64(j, "claim_seq", g->claim_seq);
	cli_json_u64(j, "start_seq", g->start_seq);
	cli_json_u64(j, "lag", ctl_group_lag(s, g));
	cli_json_u64(j, "held", held);
	cli_json_u64(j, "lost", g->lost);
	cli_json_u64(j, "frames_departed", g->frames_departed);
	cli_json_u64(j, "markers", g->markers);
}

void
ctl_json_groups(struct cli_json *j, const struct ctl_snapshot *s)
{
	uint32_t i;

	cli_json_array(j, "groups");
	for (i = 0; i < s->ngroups; i++) {
		cli_json_object(j, NULL);
		ctl_json_group_fields(j, s, &s->groups[i]);
		cli_json_object_end(j);
	}
	cli_json_array_end(j);
}

void
ctl_json_consumer_fields(struct cli_json *j, const struct ctl_snapshot *s,
			 const struct rb_consumer_status *c)
{
	cli_json_u64(j, "index", c->index);
	cli_json_u64(j, "pid", c->pid);
	cli_json_bool(j, "alive", c->alive != 0);
	cli_json_string(j, "mode", ctl_consumer_mode(c));
	cli_json_string(j, "label", c->label);
	/* A group member holding nothing has no position. */
	if (ctl_consumer_has_position(c))
		cli_json_u64(j, "read_seq", c->read_seq);
	else
		cli_json_null(j, "read_seq");
	cli_json_u64(j, "lag", ctl_consumer_lag(s, c));
	cli_json_u64(j, "frames", c->frames);
	cli_json_u64(j, "lost", c->lost);
	cli_json_string(j, "state", ctl_consumer_state(c));
	cli_json_bool(j, "stopped", c->stopped != 0);
	cli_json_bool(j, "demoted", c->demoted != 0);
	if (c->demoted)
		cli_json_double(j, "stalled_s", (double)c->stalled_ns / 1e9);
	else
		cli_json_null(j, "stalled_s");
	if (c->sleeping)
		cli_json_u64(j, "wakes_at_write_seq", c->wakes_at);
	else
		cli_json_null(j, "wakes_at_write_seq");
	if (c->group[0] != '\0')
		cli_json_string(j, "group", c->group);
	else
		cli_json_null(j, "group");
	cli_json_u64(j, "held", c->held);
}
