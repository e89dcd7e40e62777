/*
 * rb-ctl info NAME: everything about one ring. The header (immutable after
 * creation) first, then the live part: the producers, the stream header
 * text, the consumer groups and every attached consumer.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char info_usage[] =
	"Usage: rb-ctl info [--json] NAME\n"
	"Show everything about the ring NAME:\n"
	"  the header: frame size and type, slots, stride, alignment, producer,\n"
	"    consumer and group records, stream header capacity, initial seq,\n"
	"    segment size, pages, creation time (UTC) and flags, area offsets;\n"
	"  the producers: stream state, write_seq, frames dropped and abandoned,\n"
	"    who a blocked producer waits for; each producer's index, pid, alive,\n"
	"    stream membership, frames committed, oldest seq it holds;\n"
	"  the stream header text the producer set;\n"
	"  each group: name, mode, members, claim position, lag (write_seq -\n"
	"    claim_seq), lost, frames of departed members, end markers;\n"
	"  each consumer: index, pid, mode (lossless, lossy, demoted), state\n"
	"    (active, sleeping = waiting for the producer, stopped = SIGSTOP or\n"
	"    traced, dead), position (read_seq; a group member's is\n"
	"    its oldest held frame), lag, frames, lost, group, held, label.\n"
	"Options:\n"
	"  -j, --json   the same as one JSON object on one line\n"
	"  -h, --help\n";

static const struct option info_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Offsets of the areas, from the formulas of docs/FORMAT.md §2.1. */
struct info_layout {
	uint64_t producer, producers, consumers, groups, stream_header, descriptors,
		slots, segment;
};

static uint64_t
info_round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/*
 * The library does not hand out offsets (programs have no use for them),
 * but someone debugging a ring with a hex dump does. The geometry was
 * validated against exactly these formulas when the ring was opened, so
 * they cannot overflow; the segment size is checked as a guard against a
 * future layout this code does not know.
 */
static bool
info_layout(struct rb_ring *ring, struct info_layout *l)
{
	uint64_t align = rb_ring_slot_align(ring);
	uint64_t page = rb_ring_pages(ring) == RB_PAGES_THP ? 2ull << 20 : 4096;

	l->producer = 256;
	l->producers = 768;
	l->consumers = l->producers + 128ull * rb_ring_max_producers(ring);
	l->groups = l->consumers + 256ull * rb_ring_max_consumers(ring);
	l->stream_header = info_round_up(l->groups + 256ull * rb_ring_max_groups(ring), 128);
	/* Layout 4: stream_headers entries of whole 128-byte lines. */
	l->descriptors = info_round_up(l->stream_header + rb_ring_stream_headers(ring) *
						     info_round_up(64 + rb_ring_stream_header_capacity(ring), 128),
				       128);
	l->slots = info_round_up(l->descriptors + 64ull * rb_ring_slot_count(ring),
				 align > 4096 ? align : 4096);
	l->segment = info_round_up(l->slots + rb_ring_slot_count(ring) *
						      rb_ring_slot_stride(ring), page);
	return l->segment == rb_ring_segment_bytes(ring);
}

/* The stream header text, or NULL (with *rc) if it could not be read. */
static char *
info_stream_header(struct rb_ring *ring, uint64_t *start_seq, int *rc)
{
	size_t size = (size_t)rb_ring_stream_header_capacity(ring) + 1;
	char *text = malloc(size);

	if (text == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	*rc = rb_ring_stream_header(ring, text, size, start_seq);
	if (*rc < 0) {
		free(text);
		return NULL;
	}
	return text;
}

static void
info_json(FILE *out, struct rb_ring *ring, const struct ctl_snapshot *s, const char *header,
	  uint64_t start_seq)
{
	struct info_layout l;
	struct cli_json j;
	uint32_t i;

	cli_json_begin(&j, out);
	cli_json_string(&j, "name", rb_ring_name(ring));
	ctl_json_geometry(&j, ring);
	if (info_layout(ring, &l)) {
		cli_json_object(&j, "layout");
		cli_json_u64(&j, "producer_offset", l.producer);
		cli_json_u64(&j, "producers_offset", l.producers);
		cli_json_u64(&j, "consumers_offset", l.consumers);
		cli_json_u64(&j, "groups_offset", l.groups);
		cli_json_u64(&j, "stream_header_offset", l.stream_header);
		cli_json_u64(&j, "stream_headers", rb_ring_stream_headers(ring));
		cli_json_u64(&j, "descriptors_offset", l.descriptors);
		cli_json_u64(&j, "slots_offset", l.slots);
		cli_json_object_end(&j);
	}
	ctl_json_producer(&j, s);
	ctl_json_producers(&j, s);
	cli_json_object(&j, "stream_header");
	if (header != NULL) {
		cli_json_u64(&j, "start_seq", start_seq);
		cli_json_string(&j, "text", header);
	} else {
		cli_json_null(&j, "start_seq");
		cli_json_null(&j, "text");
	}
	cli_json_object_end(&j);
	ctl_json_groups(&j, s);
	cli_json_array(&j, "consumers");
	for (i = 0; i < s->nconsumers; i++) {
		cli_json_object(&j, NULL);
		ctl_json_consumer_fields(&j, s, &s->consumers[i]);
		cli_json_object_end(&j);
	}
	cli_json_array_end(&j);
	cli_json_end(&j);
}

static void
info_text_header(struct rb_ring *ring)
{
	char a[64], b[128], age[32];
	struct info_layout l;
	uint64_t created = rb_ring_created_ns(ring), now = ctl_realtime_ns();

	printf("ring           %s\n", rb_ring_name(ring));
	ctl_format_bytes(a, sizeof(a), rb_ring_frame_bytes(ring));
	ctl_format_type(b, sizeof(b), rb_ring_frame_type(ring));
	printf("frame          %" PRIu64 " B (%s), %s\n", rb_ring_frame_bytes(ring), a, b);
	printf("slots          %u, stride %" PRIu64 " B, align %u\n", rb_ring_slot_count(ring),
	       rb_ring_slot_stride(ring), rb_ring_slot_align(ring));
	printf("max consumers  %u\n", rb_ring_max_consumers(ring));
	printf("max producers  %u%s\n", rb_ring_max_producers(ring),
	       rb_ring_max_producers(ring) > 1 ? "" : " (single-producer ring)");
	printf("max groups     %u\n", rb_ring_max_groups(ring));
	printf("header space   %u B for each stream header, the newest %u streams'\n",
	       rb_ring_stream_header_capacity(ring), rb_ring_stream_headers(ring));
	printf("initial seq    %" PRIu64 "\n", rb_ring_initial_seq(ring));
	ctl_format_bytes(a, sizeof(a), rb_ring_segment_bytes(ring));
	printf("segment        %" PRIu64 " B (%s), %s\n", rb_ring_segment_bytes(ring), a,
	       ctl_pages_name(rb_ring_pages(ring)));
	ctl_format_time(a, sizeof(a), created);
	ctl_format_duration(age, sizeof(age), now > created ? now - created : 0);
	printf("created        %s (%s ago)\n", a, age);
	ctl_format_flags(b, sizeof(b), rb_ring_create_flags(ring));
	printf("create flags   %s\n", b);
	if (info_layout(ring, &l))
		printf("offsets        producer %" PRIu64 ", producer records %" PRIu64
		       ", consumers %" PRIu64 ",\n"
		       "               groups %" PRIu64 ", stream header %" PRIu64
		       ", descriptors %" PRIu64 ",\n"
		       "               slots %" PRIu64 "\n",
		       l.producer, l.producers, l.consumers, l.groups, l.stream_header,
		       l.descriptors, l.slots);
}

/* "open", "ended", ... as a phrase for people. */
static const char *
info_stream_text(int state)
{
	switch (state) {
	case RB_STREAM_STATUS_NONE: return "closed (none begun yet)";
	case RB_STREAM_STATUS_OPEN: return "open";
	case RB_STREAM_STATUS_ENDED: return "closed (ended)";
	case RB_STREAM_STATUS_ABANDONED: return "abandoned (its producers died with it open)";
	}
	return "unknown";
}

static void
info_text_blocked(const struct ctl_snapshot *s)
{
	const struct rb_ring_status *st = &s->status;
	struct ctl_blocker b;
	int found = ctl_snapshot_blocker(s, &b);

	if (found < 0) {
		printf("blocked        no\n");
	} else if (found == 0) {
		printf("blocked        waiting for read_seq %" PRIu64 " (just reached)\n",
		       st->producer_waits_for);
	} else if (b.group >= 0) {
		const struct rb_group_status *g = &s->groups[b.group];

		printf("blocked        by group \"%s\" (claim_seq %" PRIu64 ", %u member%s), "
		       "needs read_seq %" PRIu64 "%s\n",
		       g->name, g->claim_seq, g->members, g->members == 1 ? "" : "s",
		       st->producer_waits_for, b.others ? " (others behind too)" : "");
	} else {
		const struct rb_consumer_status *c = &s->consumers[b.consumer];

		printf("blocked        by consumer #%u (pid %u%s), needs read_seq %" PRIu64
		       "%s\n",
		       c->index, c->pid, c->alive ? (c->stopped ? ", stopped" : "") : ", dead",
		       st->producer_waits_for,
		       b.others ? " (others behind too)" : "");
	}
}

/* "capture  packets 1000  packets_lost 3 ..." when the producer publishes
 * its source's counters (udp capture, FORMAT.md §3.7.1). */
static void
info_text_counters(const struct rb_producer_status *p, const char *indent)
{
	if (p->ncounters == 0)
		return;
	printf("%scapture", indent);
	for (uint32_t k = 0; k < p->ncounters && k < RB_COUNTERS_MAX; k++)
		printf("  %s %" PRIu64, rb_counter_name(k), p->counters[k]);
	printf("\n");
}

static void
info_text_producer_records(const struct ctl_snapshot *s)
{
	char hold[24];
	uint32_t i;

	if (s->nproducers == 0)
		return;
	printf("  %3s %7s  %-5s  %-6s %12s %12s\n", "#", "PID", "STATE", "STREAM",
	       "FRAMES", "HOLD_FROM");
	for (i = 0; i < s->nproducers; i++) {
		const struct rb_producer_status *p = &s->producers[i];

		/* hold_from: the oldest seq it may have claimed and not yet
		 * committed; consumers wait there if it is slow or dead. */
		if (p->hold_from == UINT64_MAX)
			snprintf(hold, sizeof(hold), "-");
		else
			snprintf(hold, sizeof(hold), "%" PRIu64, p->hold_from);
		printf("  %3u %7u  %-5s  %-6s %12" PRIu64 " %12s\n", p->index, p->pid,
		       ctl_producer_state(p), p->in_stream ? "in" : "-", p->frames,
		       hold);
		info_text_counters(p, "      ");
	}
}

static void
info_text_producer(const struct ctl_snapshot *s)
{
	const struct rb_ring_status *st = &s->status;

	printf("\n");
	if (s->max_producers <= 1) {
		if (s->nproducers == 0 && st->producer_pid == 0)
			printf("producer       none attached\n");
		else if (s->nproducers == 0)
			printf("producer       pid %u, %s\n", st->producer_pid,
			       st->producer_alive ? "alive" : "dead (not evicted yet)");
		else
			printf("producer       pid %u, %s, %" PRIu64 " frames committed\n",
			       s->producers[0].pid,
			       s->producers[0].alive ? ctl_producer_state(&s->producers[0])
						     : "dead (not evicted yet)",
			       s->producers[0].frames);
		if (s->nproducers > 0)
			info_text_counters(&s->producers[0], "               ");
		printf("stream         %s\n", info_stream_text(st->stream_state));
	} else {
		printf("producers      %u attached (of %u), %u alive", s->nproducers,
		       s->max_producers, ctl_snapshot_producers_alive(s));
		if (s->producers_dead)
			printf(", %u dead (not evicted yet)", s->producers_dead);
		printf("\n");
		printf("stream         %s", info_stream_text(st->stream_state));
		if (st->stream_state == RB_STREAM_STATUS_OPEN)
			printf(", %u producer%s in it", st->stream_members,
			       st->stream_members == 1 ? "" : "s");
		printf("\n");
	}
	printf("write_seq      %" PRIu64 " (%" PRIu64 " published)\n", st->write_seq,
	       st->write_seq - st->initial_seq);
	if (s->max_producers > 1) {
		printf("claim_seq      %" PRIu64 " (%" PRIu64 " claimed, not yet published)\n",
		       st->claim_seq,
		       st->claim_seq > st->write_seq ? st->claim_seq - st->write_seq : 0);
		printf("abandoned      %" PRIu64 " frames (claimed by producers that died, "
		       "published empty)\n", st->frames_abandoned);
	}
	printf("dropped        %" PRIu64 " frames\n", st->frames_dropped);
	info_text_blocked(s);
	if (s->max_producers > 1)
		info_text_producer_records(s);
}

static void
info_text_stream_header(const char *header, uint64_t start_seq, int rc)
{
	const char *p;

	printf("\n");
	if (header == NULL) {
		printf("stream header  unreadable: %s\n", rb_strerror(rc));
		return;
	}
	if (header[0] == '\0') {
		printf("stream header  empty\n");
		return;
	}
	printf("stream header  %zu B, stream starts at seq %" PRIu64 "\n", strlen(header),
	       start_seq);
	/* The text is the producer's: show it line by line, indented, with
	 * anything that could drive the terminal replaced. */
	printf("  ");
	for (p = header; *p != '\0'; p++) {
		if (*p == '\n')
			fputs(p[1] != '\0' ? "\n  " : "", stdout);
		else
			putchar((*p >= 0x20 && *p != 0x7f) || *p == '\t' ? *p : '?');
	}
	printf("\n");
}

static void
info_text_groups(struct rb_ring *ring, const struct ctl_snapshot *s)
{
	uint32_t i;

	if (s->ngroups == 0)
		return;
	printf("\ngroups         %u (of %u)\n", s->ngroups, rb_ring_max_groups(ring));
	printf("  %2s %-14s %-8s %4s %11s %7s %8s %8s %7s\n", "#", "NAME", "MODE", "MEMB",
	       "CLAIM_SEQ", "LAG", "LOST", "DEPARTED", "MARKERS");
	for (i = 0; i < s->ngroups; i++) {
		const struct rb_group_status *g = &s->groups[i];

		printf("  %2u %-14s %-8s %4u %11" PRIu64 " %7" PRIu64 " %8" PRIu64 " %8" PRIu64
		       " %7" PRIu64 "\n",
		       g->index, g->name, ctl_group_mode(g), g->members, g->claim_seq,
		       ctl_group_lag(s, g), g->lost, g->frames_departed, g->markers);
	}
}

static void
info_text_consumers(struct rb_ring *ring, const struct ctl_snapshot *s)
{
	bool members = false;
	char position[24];
	uint32_t i;

	printf("\nconsumers      %u attached (of %u)", s->nconsumers,
	       rb_ring_max_consumers(ring));
	if (s->dead)
		printf(", %u dead", s->dead);
	printf("\n");
	if (s->nconsumers == 0)
		return;
	for (i = 0; i < s->nconsumers; i++)
		members |= s->consumers[i].group[0] != '\0';
	/* The group columns only when there are groups: the table stays
	 * within 80 columns for rings that do not use them. */
	printf("  %3s %7s  %-8s  %-8s %12s %8s %11s %8s", "#", "PID", "MODE", "STATE",
	       "POSITION", "LAG", "FRAMES", "LOST");
	if (members)
		printf("  %-14s %5s", "GROUP", "HELD");
	printf("  %s\n", "LABEL");
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if (ctl_consumer_has_position(c))
			snprintf(position, sizeof(position), "%" PRIu64, c->read_seq);
		else
			snprintf(position, sizeof(position), "-");
		printf("  %3u %7u  %-8s  %-8s %12s %8" PRIu64 " %11" PRIu64 " %8" PRIu64,
		       c->index, c->pid, ctl_consumer_mode(c), ctl_consumer_state(c),
		       position, ctl_consumer_lag(s, c), c->frames, c->lost);
		if (members)
			printf("  %-14s %5" PRIu64, c->group[0] ? c->group : "-", c->held);
		printf("  %s\n", c->label);
	}
}

int
ctl_info_json(FILE *out, const char *name)
{
	struct ctl_snapshot *s = NULL;
	struct rb_ring *ring = NULL;
	uint64_t start_seq = 0;
	char *header;
	int rc, hrc = 0;

	if ((rc = rb_ring_open(name, &ring)) != 0)
		return rc;
	if ((s = malloc(sizeof(*s))) == NULL)
		rc = -ENOMEM;
	else
		rc = ctl_snapshot_take(ring, s);
	if (rc == 0) {
		header = info_stream_header(ring, &start_seq, &hrc);
		info_json(out, ring, s, header, start_seq);
		free(header);
	}
	free(s);
	rb_ring_close(ring);
	return rc;
}

int
ctl_info(int argc, char **argv)
{
	struct ctl_snapshot *s = NULL;
	struct rb_ring *ring = NULL;
	uint64_t start_seq = 0;
	char *header = NULL;
	bool json = false;
	int c, rc, hrc = 0;

	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":jh", info_options, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if ((rc = ctl_getopt_other(c, argv, info_usage)) >= 0)
			return rc;
	}
	if (optind != argc - 1)
		return ctl_usage_error("info", optind == argc ? "needs a ring name"
							       : "takes one ring name");
	if (ctl_open(argv[optind], &ring) != 0)
		return CLI_EXIT_FAIL;
	if ((s = malloc(sizeof(*s))) == NULL)
		rc = -ENOMEM;
	else
		rc = ctl_snapshot_take(ring, s);
	/* Truncated while we read it: what we read is zeros, not the ring. */
	if (rc == 0 && cli_ring_lost(ring, argv[optind]))
		rc = RB_E_TRUNCATED;
	else if (rc != 0)
		cli_error("%s: %s", argv[optind], rb_strerror(rc));
	if (rc != 0) {
		free(s);
		rb_ring_close(ring);
		return CLI_EXIT_FAIL;
	}
	header = info_stream_header(ring, &start_seq, &hrc);
	if (json) {
		info_json(stdout, ring, s, header, start_seq);
	} else {
		info_text_header(ring);
		info_text_producer(s);
		info_text_stream_header(header, start_seq, hrc);
		info_text_groups(ring, s);
		info_text_consumers(ring, s);
	}
	free(header);
	free(s);
	rb_ring_close(ring);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
