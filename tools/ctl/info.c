/*
 * rb-ctl info NAME: everything about one ring. The header (immutable after
 * creation) first, then the live part: the producer, the stream header
 * text and every attached consumer.
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
	"  the header: frame size and type, slots, stride, alignment, consumer\n"
	"    records, stream header capacity, initial seq, segment size, pages,\n"
	"    creation time (ISO 8601, UTC) and flags, and the area offsets;\n"
	"  the producer: pid, alive, stream state, write_seq, frames dropped,\n"
	"    and whether it is blocked waiting for a consumer (which one);\n"
	"  the stream header text the producer set;\n"
	"  each consumer: index, pid, mode (lossless/lossy), state (active,\n"
	"    sleeping = waiting for the producer, dead), position (read_seq),\n"
	"    lag (write_seq - read_seq), frames, lost, label.\n"
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
	uint64_t producer, consumers, stream_header, descriptors, slots, segment;
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
	l->consumers = 768;
	l->stream_header = info_round_up(768 + 256ull * rb_ring_max_consumers(ring), 128);
	l->descriptors = info_round_up(l->stream_header + 64 +
					       rb_ring_stream_header_capacity(ring), 128);
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
info_json(struct rb_ring *ring, const struct ctl_snapshot *s, const char *header,
	  uint64_t start_seq)
{
	struct info_layout l;
	struct cli_json j;
	uint32_t i;

	cli_json_begin(&j, stdout);
	cli_json_string(&j, "name", rb_ring_name(ring));
	ctl_json_geometry(&j, ring);
	if (info_layout(ring, &l)) {
		cli_json_object(&j, "layout");
		cli_json_u64(&j, "producer_offset", l.producer);
		cli_json_u64(&j, "consumers_offset", l.consumers);
		cli_json_u64(&j, "stream_header_offset", l.stream_header);
		cli_json_u64(&j, "descriptors_offset", l.descriptors);
		cli_json_u64(&j, "slots_offset", l.slots);
		cli_json_object_end(&j);
	}
	ctl_json_producer(&j, s);
	cli_json_object(&j, "stream_header");
	if (header != NULL) {
		cli_json_u64(&j, "start_seq", start_seq);
		cli_json_string(&j, "text", header);
	} else {
		cli_json_null(&j, "start_seq");
		cli_json_null(&j, "text");
	}
	cli_json_object_end(&j);
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
	printf("header space   %u B for the stream header\n",
	       rb_ring_stream_header_capacity(ring));
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
		printf("offsets        producer %" PRIu64 ", consumers %" PRIu64
		       ", stream header %" PRIu64 ",\n"
		       "               descriptors %" PRIu64 ", slots %" PRIu64 "\n",
		       l.producer, l.consumers, l.stream_header, l.descriptors, l.slots);
}

static void
info_text_producer(const struct ctl_snapshot *s)
{
	const struct rb_ring_status *st = &s->status;
	uint32_t others;
	int b = ctl_snapshot_blocker(s, &others);

	printf("\n");
	if (st->producer_pid == 0)
		printf("producer       none attached\n");
	else
		printf("producer       pid %u, %s\n", st->producer_pid,
		       st->producer_alive ? "alive" : "dead (not evicted yet)");
	printf("stream         %s\n", st->stream_open ? "open" : "closed");
	printf("write_seq      %" PRIu64 " (%" PRIu64 " published)\n", st->write_seq,
	       st->write_seq - st->initial_seq);
	printf("dropped        %" PRIu64 " frames\n", st->frames_dropped);
	if (!st->producer_blocked)
		printf("blocked        no\n");
	else if (b < 0)
		printf("blocked        waiting for read_seq %" PRIu64 " (just reached)\n",
		       st->producer_waits_for);
	else
		printf("blocked        by consumer #%u (pid %u%s), needs read_seq %" PRIu64
		       "%s\n",
		       s->consumers[b].index, s->consumers[b].pid,
		       s->consumers[b].alive ? "" : ", dead", st->producer_waits_for,
		       others ? " (others behind too)" : "");
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
info_text_consumers(struct rb_ring *ring, const struct ctl_snapshot *s)
{
	uint32_t i;

	printf("\nconsumers      %u attached (of %u)", s->nconsumers,
	       rb_ring_max_consumers(ring));
	if (s->dead)
		printf(", %u dead", s->dead);
	printf("\n");
	if (s->nconsumers == 0)
		return;
	printf("  %3s %7s  %-8s  %-8s %12s %8s %11s %8s  %s\n", "#", "PID", "MODE",
	       "STATE", "POSITION", "LAG", "FRAMES", "LOST", "LABEL");
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		printf("  %3u %7u  %-8s  %-8s %12" PRIu64 " %8" PRIu64 " %11" PRIu64
		       " %8" PRIu64 "  %s\n",
		       c->index, c->pid, ctl_consumer_mode(c), ctl_consumer_state(c),
		       c->read_seq, ctl_consumer_lag(s, c), c->frames, c->lost, c->label);
	}
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
	if (rc != 0) {
		cli_error("%s: %s", argv[optind], rb_strerror(rc));
		free(s);
		rb_ring_close(ring);
		return CLI_EXIT_FAIL;
	}
	header = info_stream_header(ring, &start_seq, &hrc);
	if (json) {
		info_json(ring, s, header, start_seq);
	} else {
		info_text_header(ring);
		info_text_producer(s);
		info_text_stream_header(header, start_seq, hrc);
		info_text_consumers(ring, s);
	}
	free(header);
	free(s);
	rb_ring_close(ring);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
