/*
 * rb-ctl top NAME: a live view of one ring. Every interval it takes a
 * snapshot and shows what changed since the previous one: the write rate,
 * each producer's rate (rings made for several), each consumer group's
 * rate, lag and losses, each consumer's rate, lag and losses, how full
 * the ring is for the producers, and who is waiting for whom.
 *
 * The first snapshot is taken at start and the first view one interval
 * later, so every view (and `top --json`) has rates. On a terminal each
 * view replaces the previous one (ANSI home + clear); into a pipe or file
 * the views follow each other, separated by a blank line.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl.h"

static const char top_usage[] =
	"Usage: rb-ctl top [options] NAME\n"
	"Show the ring NAME live, refreshed every interval:\n"
	"  write rate (frames/s, and bytes/s at the slot size), fill level (lag\n"
	"  of the slowest lossless consumer or group / slots), who waits for\n"
	"  whom (a producer for the slowest lossless consumer or group, sleeping\n"
	"  consumers for the producer); per producer (rings made for several):\n"
	"  rate, frames, oldest seq held; per group: members, rate, lag (frames\n"
	"  no member claimed yet), losses; per consumer: rate, losses/s, lag,\n"
	"  state (MODE @NAME: a member of group NAME).\n"
	"Options:\n"
	"  -i, --interval TIME  time between views (default 1s; 200ms, 2s)\n"
	"  -n, --count N        stop after N views (default: until Ctrl-C;\n"
	"                       1 with --json)\n"
	"  -j, --json           one JSON object per view, rates over one interval\n"
	"  -h, --help\n"
	"Rates are differences between two snapshots divided by their time\n"
	"apart. On a terminal the view is redrawn in place; otherwise the\n"
	"views are printed one after another. Ctrl-C exits cleanly.\n";

static const struct option top_options[] = {
	{"interval", required_argument, NULL, 'i'},
	{"count", required_argument, NULL, 'n'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* What one view shows: two snapshots and the time between them. */
struct top_view {
	struct rb_ring *ring;
	const struct ctl_snapshot *prev, *cur;
	double seconds;
};

static double
top_rate(uint64_t before, uint64_t after, double seconds)
{
	return after > before && seconds > 0 ? (double)(after - before) / seconds : 0;
}

/* The same consumer in the previous snapshot: same record, same process. */
static const struct rb_consumer_status *
top_previous(const struct top_view *v, const struct rb_consumer_status *c)
{
	uint32_t i;

	for (i = 0; i < v->prev->nconsumers; i++) {
		const struct rb_consumer_status *p = &v->prev->consumers[i];

		if (p->index == c->index && p->pid == c->pid)
			return p;
	}
	return NULL;
}

/* The same producer record, held by the same process. */
static const struct rb_producer_status *
top_previous_producer(const struct top_view *v, const struct rb_producer_status *p)
{
	uint32_t i;

	for (i = 0; i < v->prev->nproducers; i++) {
		const struct rb_producer_status *q = &v->prev->producers[i];

		if (q->index == p->index && q->pid == p->pid)
			return q;
	}
	return NULL;
}

/* The same group: same record, same name, not recreated since (a group
 * made anew starts at a later start_seq). */
static const struct rb_group_status *
top_previous_group(const struct top_view *v, const struct rb_group_status *g)
{
	uint32_t i;

	for (i = 0; i < v->prev->ngroups; i++) {
		const struct rb_group_status *q = &v->prev->groups[i];

		if (q->index == g->index && q->start_seq == g->start_seq &&
		    strcmp(q->name, g->name) == 0)
			return q;
	}
	return NULL;
}

static double
top_write_rate(const struct top_view *v)
{
	return top_rate(v->prev->status.write_seq, v->cur->status.write_seq, v->seconds);
}

static void
top_text_waits(const struct top_view *v)
{
	const struct ctl_snapshot *s = v->cur;
	struct ctl_blocker b;
	uint32_t i, shown = 0;
	int found = ctl_snapshot_blocker(s, &b);

	if (found < 0) {
		printf("waits      producer is not blocked\n");
	} else if (found == 0) {
		printf("waits      producer waits for read_seq %" PRIu64 " (just reached)\n",
		       s->status.producer_waits_for);
	} else {
		if (b.group >= 0) {
			const struct rb_group_status *g = &s->groups[b.group];

			printf("waits      producer is blocked by group %.16s (claim_seq %" PRIu64
			       ")", g->name, g->claim_seq);
		} else {
			const struct rb_consumer_status *c = &s->consumers[b.consumer];

			printf("waits      producer is blocked by consumer #%u (pid %u%s%s%.16s)",
			       c->index, c->pid,
			       c->alive ? (c->stopped ? ", stopped" : "") : ", dead",
			       c->label[0] ? ", " : "", c->label);
		}
		if (b.others)
			printf(" and %u more", b.others);
		printf("\n");
	}
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];

		if (!c->alive || c->stopped || !c->sleeping)
			continue;
		if (shown == 0)
			printf("           waiting for the producer: consumer #%u", c->index);
		else if (shown < 8)
			printf(", #%u", c->index);
		else if (shown == 8)
			printf(", ...");
		shown++;
	}
	if (shown)
		printf("\n");
}

/* A single-producer ring's producer line. */
static void
top_text_producer(const struct ctl_snapshot *s)
{
	const struct rb_ring_status *st = &s->status;

	if (s->nproducers == 0 && st->producer_pid == 0)
		printf("producer   none attached");
	else if (s->nproducers == 0)
		printf("producer   pid %u %s", st->producer_pid,
		       st->producer_alive ? "alive" : "DEAD");
	else
		printf("producer   pid %u %s", s->producers[0].pid,
		       s->producers[0].alive ? ctl_producer_state(&s->producers[0]) : "DEAD");
	printf(", stream %s, write_seq %" PRIu64 ", dropped %" PRIu64 "\n",
	       st->stream_open ? "open" : "closed", st->write_seq, st->frames_dropped);
}

/* A ring made for several producers: their summary and their table. */
static void
top_text_producers(const struct top_view *v)
{
	const struct ctl_snapshot *s = v->cur;
	const struct rb_ring_status *st = &s->status;

	printf("producers  %u/%u alive (max %u), stream %s", ctl_snapshot_producers_alive(s),
	       s->nproducers, s->max_producers, st->stream_open ? "open" : "closed");
	if (st->stream_open)
		printf(" (%u in it)", st->stream_members);
	printf("\n           write_seq %" PRIu64 ", claim_seq %" PRIu64 ", dropped %" PRIu64
	       ", abandoned %" PRIu64 "\n",
	       st->write_seq, st->claim_seq, st->frames_dropped, st->frames_abandoned);
}

static void
top_text_producer_table(const struct top_view *v)
{
	const struct ctl_snapshot *s = v->cur;
	char a[32], hold[24];
	uint32_t i;

	if (s->nproducers == 0)
		return;
	printf("\n  # %7s %-5s %-6s %9s %12s %12s\n", "PID", "STATE", "STREAM", "FRAMES/s",
	       "FRAMES", "HOLD_FROM");
	for (i = 0; i < s->nproducers; i++) {
		const struct rb_producer_status *p = &s->producers[i];
		const struct rb_producer_status *q = top_previous_producer(v, p);

		if (q != NULL)
			ctl_format_rate(a, sizeof(a), top_rate(q->frames, p->frames, v->seconds));
		else /* attached since the last view */
			snprintf(a, sizeof(a), "-");
		if (p->hold_from == UINT64_MAX)
			snprintf(hold, sizeof(hold), "-");
		else
			snprintf(hold, sizeof(hold), "%" PRIu64, p->hold_from);
		printf("%3u %7u %-5s %-6s %9s %12" PRIu64 " %12s\n", p->index, p->pid,
		       p->alive ? ctl_producer_state(p) : "DEAD", p->in_stream ? "in" : "-", a,
		       p->frames,
		       hold);
	}
}

static void
top_text_groups(const struct top_view *v)
{
	const struct ctl_snapshot *s = v->cur;
	char a[32], b[32];
	uint32_t i;

	if (s->ngroups == 0)
		return;
	/* FRAMES/s: seqs handed to members (the claim position's speed). */
	printf("\n  # %-16s %-8s %4s %9s %7s %9s %9s\n", "GROUP", "MODE", "MEMB",
	       "FRAMES/s", "LOST/s", "LAG", "LOST");
	for (i = 0; i < s->ngroups; i++) {
		const struct rb_group_status *g = &s->groups[i];
		const struct rb_group_status *q = top_previous_group(v, g);

		if (q != NULL) {
			ctl_format_rate(a, sizeof(a),
					top_rate(q->claim_seq, g->claim_seq, v->seconds));
			ctl_format_rate(b, sizeof(b), top_rate(q->lost, g->lost, v->seconds));
		} else {
			snprintf(a, sizeof(a), "-");
			snprintf(b, sizeof(b), "-");
		}
		printf("%3u %-16.16s %-8s %4u %9s %7s %9" PRIu64 " %9" PRIu64 "\n", g->index,
		       g->name, ctl_group_mode(g), g->members, a, b, ctl_group_lag(s, g),
		       g->lost);
	}
}

static void
top_text(const struct top_view *v, bool terminal)
{
	const struct ctl_snapshot *s = v->cur;
	uint32_t slots = rb_ring_slot_count(v->ring), i;
	double rate = top_write_rate(v);
	char type[96], size[32], now[40], a[32], b[32], mode[16];
	uint64_t fill;

	if (terminal)
		fputs("\033[H\033[2J", stdout);
	ctl_format_type(type, sizeof(type), rb_ring_frame_type(v->ring));
	ctl_format_bytes(size, sizeof(size), rb_ring_frame_bytes(v->ring));
	ctl_format_time(now, sizeof(now), ctl_realtime_ns());
	printf("ring %s  %s %s x %u slots  %s\n", rb_ring_name(v->ring), type, size, slots,
	       now);
	if (s->max_producers <= 1)
		top_text_producer(s);
	else
		top_text_producers(v);
	ctl_format_rate(a, sizeof(a), rate);
	cli_format_si(b, sizeof(b), rate * (double)rb_ring_frame_bytes(v->ring), "B/s");
	printf("write      %s frames/s, %s at %s per frame\n", a, b, size);
	if (ctl_snapshot_fill(s, &fill)) {
		char bar[21];
		unsigned full = (unsigned)(fill >= slots ? 20 : fill * 20 / slots);

		memset(bar, '#', full);
		memset(bar + full, '.', 20 - full);
		bar[20] = '\0';
		printf("fill       %" PRIu64 "/%u slots (%.0f%%) [%s]\n", fill, slots,
		       100.0 * (double)fill / slots, bar);
	} else {
		printf("fill       - (no lossless consumer holds the producer back)\n");
	}
	top_text_waits(v);
	if (s->max_producers > 1)
		top_text_producer_table(v);
	top_text_groups(v);
	printf("\n  # %7s %-8s %-8s %9s %7s %9s %9s  %s\n", "PID", "MODE", "STATE",
	       "FRAMES/s", "LOST/s", "LAG", "LOST", "LABEL");
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];
		const struct rb_consumer_status *p = top_previous(v, c);

		if (p != NULL) {
			ctl_format_rate(a, sizeof(a), top_rate(p->frames, c->frames, v->seconds));
			ctl_format_rate(b, sizeof(b), top_rate(p->lost, c->lost, v->seconds));
		} else { /* attached since the last view */
			snprintf(a, sizeof(a), "-");
			snprintf(b, sizeof(b), "-");
		}
		/* A member's mode is its group's (in the group table): the
		 * column names the group instead. */
		if (c->group[0] != '\0')
			snprintf(mode, sizeof(mode), "@%.7s", c->group);
		else
			snprintf(mode, sizeof(mode), "%s", ctl_consumer_mode(c));
		printf("%3u %7u %-8s %-8s %9s %7s %9" PRIu64 " %9" PRIu64 "  %.11s\n", c->index,
		       c->pid, mode, ctl_consumer_state(c), a, b, ctl_consumer_lag(s, c),
		       c->lost, c->label);
	}
	if (s->nconsumers == 0)
		printf("  (no consumers attached)\n");
}

static void
top_json(const struct top_view *v)
{
	const struct ctl_snapshot *s = v->cur;
	uint32_t slots = rb_ring_slot_count(v->ring), i;
	double rate = top_write_rate(v);
	struct cli_json j;
	char now[40];
	uint64_t fill;

	ctl_format_time(now, sizeof(now), ctl_realtime_ns());
	cli_json_begin(&j, stdout);
	cli_json_string(&j, "name", rb_ring_name(v->ring));
	cli_json_string(&j, "time", now);
	cli_json_double(&j, "interval_s", v->seconds);
	cli_json_u64(&j, "slot_count", slots);
	cli_json_u64(&j, "frame_bytes", rb_ring_frame_bytes(v->ring));
	cli_json_u64(&j, "write_seq", s->status.write_seq);
	cli_json_double(&j, "frames_per_s", rate);
	cli_json_double(&j, "bytes_per_s", rate * (double)rb_ring_frame_bytes(v->ring));
	if (ctl_snapshot_fill(s, &fill)) {
		cli_json_u64(&j, "fill_frames", fill);
		cli_json_double(&j, "fill_ratio", (double)fill / slots);
	} else {
		cli_json_null(&j, "fill_frames");
		cli_json_null(&j, "fill_ratio");
	}
	ctl_json_producer(&j, s);
	cli_json_array(&j, "producers");
	for (i = 0; i < s->nproducers; i++) {
		const struct rb_producer_status *p = &s->producers[i];
		const struct rb_producer_status *q = top_previous_producer(v, p);

		cli_json_object(&j, NULL);
		ctl_json_producer_fields(&j, p);
		if (q != NULL)
			cli_json_double(&j, "frames_per_s", top_rate(q->frames, p->frames, v->seconds));
		else
			cli_json_null(&j, "frames_per_s");
		cli_json_object_end(&j);
	}
	cli_json_array_end(&j);
	cli_json_array(&j, "groups");
	for (i = 0; i < s->ngroups; i++) {
		const struct rb_group_status *g = &s->groups[i];
		const struct rb_group_status *q = top_previous_group(v, g);

		cli_json_object(&j, NULL);
		ctl_json_group_fields(&j, s, g);
		if (q != NULL) {
			cli_json_double(&j, "frames_per_s",
					top_rate(q->claim_seq, g->claim_seq, v->seconds));
			cli_json_double(&j, "lost_per_s", top_rate(q->lost, g->lost, v->seconds));
		} else {
			cli_json_null(&j, "frames_per_s");
			cli_json_null(&j, "lost_per_s");
		}
		cli_json_object_end(&j);
	}
	cli_json_array_end(&j);
	cli_json_array(&j, "consumers");
	for (i = 0; i < s->nconsumers; i++) {
		const struct rb_consumer_status *c = &s->consumers[i];
		const struct rb_consumer_status *p = top_previous(v, c);

		cli_json_object(&j, NULL);
		ctl_json_consumer_fields(&j, s, c);
		if (p != NULL) {
			cli_json_double(&j, "frames_per_s", top_rate(p->frames, c->frames, v->seconds));
			cli_json_double(&j, "lost_per_s", top_rate(p->lost, c->lost, v->seconds));
		} else {
			cli_json_null(&j, "frames_per_s");
			cli_json_null(&j, "lost_per_s");
		}
		cli_json_object_end(&j);
	}
	cli_json_array_end(&j);
	cli_json_end(&j);
}

struct top_options {
	uint64_t interval_ns;
	uint64_t count; /* 0: until a signal */
	bool json;
	bool count_given;
};

static int
top_parse(int argc, char **argv, struct top_options *o)
{
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->interval_ns = 1000000000ull;
	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":i:n:jh", top_options, NULL)) != -1) {
		switch (c) {
		case 'i':
			rc = cli_parse_duration(optarg, &o->interval_ns);
			if (rc == 0 && o->interval_ns < 1000000ull)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value("--interval", optarg, rc,
						     "a duration of 1ms or more (200ms, 1s)");
			break;
		case 'n':
			if ((rc = cli_parse_count(optarg, &o->count)) != 0 || o->count == 0)
				return cli_bad_value("--count", optarg, rc ? rc : -ERANGE,
						     "a count (10, 1k)");
			o->count_given = true;
			break;
		case 'j':
			o->json = true;
			break;
		default:
			if ((rc = ctl_getopt_other(c, argv, top_usage)) >= 0)
				return rc;
		}
	}
	if (o->json && !o->count_given)
		o->count = 1;
	if (optind != argc - 1)
		return ctl_usage_error("top", optind == argc ? "needs a ring name"
							      : "takes one ring name");
	return -1;
}

int
ctl_top(int argc, char **argv)
{
	struct ctl_snapshot *snaps = NULL;
	struct top_options o;
	struct rb_ring *ring = NULL;
	bool terminal;
	uint64_t start, views = 0;
	int rc, status = CLI_EXIT_OK;

	if ((rc = top_parse(argc, argv, &o)) >= 0)
		return rc;
	if ((rc = cli_signals_install()) != 0) {
		cli_error("signals: %s", rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if (ctl_open(argv[optind], &ring) != 0)
		return CLI_EXIT_FAIL;
	terminal = !o.json && isatty(STDOUT_FILENO);
	/* Two snapshots, used in turn as the previous and the current one. */
	if ((snaps = malloc(2 * sizeof(*snaps))) == NULL)
		rc = -ENOMEM;
	else
		rc = ctl_snapshot_take(ring, &snaps[0]);
	start = cli_now_ns();
	while (rc == 0 && !cli_stop && (o.count == 0 || views < o.count)) {
		struct top_view v = {ring, &snaps[views % 2], &snaps[(views + 1) % 2], 0};
		struct ctl_snapshot *cur = &snaps[(views + 1) % 2];

		/* Absolute deadlines: the views do not drift by the time it
		 * takes to draw them. */
		if (cli_sleep_until(start + (views + 1) * o.interval_ns) == -EINTR || cli_stop)
			break;
		if ((rc = ctl_snapshot_take(ring, cur)) != 0 ||
		    cli_ring_lost(ring, argv[optind]))
			break;
		v.seconds = (double)(v.cur->taken_ns - v.prev->taken_ns) / 1e9;
		if (o.json) {
			top_json(&v);
		} else {
			if (views > 0 && !terminal)
				printf("\n");
			top_text(&v, terminal);
		}
		views++;
		if (fflush(stdout) != 0) {
			/* A reader that went away (`| head`) is not an error. */
			if (errno != EPIPE) {
				cli_error("stdout: %s", strerror(errno));
				status = CLI_EXIT_FAIL;
			}
			break;
		}
	}
	if (cli_ring_lost(ring, argv[optind]))
		status = CLI_EXIT_FAIL; /* said so */
	else if (rc != 0) {
		cli_error("%s: %s", argv[optind], rb_strerror(rc));
		status = CLI_EXIT_FAIL;
	}
	free(snaps);
	rb_ring_close(ring);
	return status;
}
