/*
 * rb-ctl stat: the counters of one or more rings, for scripts and for
 * Prometheus. Both outputs come from one table of metrics, so a counter
 * added here appears in both.
 *
 * The Prometheus output is meant for the node exporter's textfile
 * collector: every family gets its HELP and TYPE lines once, its samples
 * follow together (all rings, all consumers), and there are no time
 * stamps (the collector rejects them). Samples are per ring, per producer
 * record (labels producer = index, pid), per consumer group (group = its
 * name, mode) or per consumer; a consumer's group is in the
 * ringbuf_consumer_group_info family, so the consumer families keep the
 * labels they always had. Write it to a temporary file and
 * rename it into the collector's directory so it is never read half-done.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char stat_usage[] =
	"Usage: rb-ctl stat [--prometheus] [NAME...]\n"
	"Print the counters of the rings NAME (default: every ring that opens).\n"
	"  plain:        `key value` lines, a block per ring starting `ring NAME`;\n"
	"                producer.INDEX.KEY, group.INDEX.KEY, consumer.INDEX.KEY\n"
	"  --prometheus: the Prometheus text format (ringbuf_write_seq{ring=..},\n"
	"                ringbuf_producer_frames_total{ring,producer,pid},\n"
	"                ringbuf_group_lost_total{ring,group,mode},\n"
	"                ringbuf_consumer_frames_total{ring,consumer,label,mode},\n"
	"                ...), valid for the node exporter's textfile collector:\n"
	"                rb-ctl stat --prometheus > DIR/ringbuf.prom.tmp &&\n"
	"                mv DIR/ringbuf.prom.tmp DIR/ringbuf.prom\n"
	"Options:\n"
	"  -p, --prometheus   Prometheus text exposition format\n"
	"  -h, --help\n"
	"A named ring that does not open is an error (exit 1, nothing printed);\n"
	"without names, rings that do not open are skipped with a comment.\n";

static const struct option stat_options[] = {
	{"prometheus", no_argument, NULL, 'p'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct stat_ring {
	const char *name;
	struct rb_ring *ring; /* NULL when it did not open */
	int error;
	struct ctl_snapshot *snap;
};

/* Whose sample a metric is: one per ring, producer, group or consumer. */
enum stat_scope {
	SC_RING,
	SC_PRODUCER,
	SC_GROUP,
	SC_CONSUMER,
};

enum stat_id {
	ST_WRITE_SEQ,
	ST_PUBLISHED,
	ST_DROPPED,
	ST_ABANDONED,
	ST_PRODUCER_ALIVE,
	ST_PRODUCER_PID,
	ST_PRODUCER_BLOCKED,
	ST_PRODUCERS,
	ST_PRODUCERS_DEAD,
	ST_MAX_PRODUCERS,
	ST_CLAIM_SEQ,
	ST_STREAM_OPEN,
	ST_STREAM_MEMBERS,
	ST_CONSUMERS,
	ST_CONSUMERS_DEAD,
	ST_GROUPS,
	ST_FILL,
	ST_SLOTS,
	ST_FRAME_BYTES,
	ST_SEGMENT_BYTES,
	ST_MAX_CONSUMERS,
	ST_MAX_GROUPS,
	ST_CREATED,
	ST_P_FRAMES,
	ST_P_ALIVE,
	ST_P_IN_STREAM,
	ST_P_HOLD_FROM,
	ST_P_STOPPED,
	/* the source counters a producer publishes (udp capture, FORMAT.md
	 * §3.7.1), in rb_counter_name order */
	ST_P_C0, ST_P_C1, ST_P_C2, ST_P_C3, ST_P_C4, ST_P_C5, ST_P_C6, ST_P_C7,
	ST_G_MEMBERS,
	ST_G_CLAIM_SEQ,
	ST_G_CLAIMED,
	ST_G_LAG,
	ST_G_LOST,
	ST_G_DEPARTED,
	ST_G_MARKERS,
	ST_C_READ_SEQ,
	ST_C_LAG,
	ST_C_FRAMES,
	ST_C_LOST,
	ST_C_HELD,
	ST_C_ALIVE,
	ST_C_SLEEPING,
	ST_C_PID,
	ST_C_GROUP_INFO,
	ST_C_STOPPED,
	ST_C_DEMOTED,
};

struct stat_metric {
	enum stat_id id;
	enum stat_scope scope;
	const char *name; /* Prometheus family */
	const char *key;  /* key of the plain output (NULL: Prometheus only) */
	const char *type;
	const char *help;
};

static const struct stat_metric stat_metrics[] = {
	{ST_WRITE_SEQ, SC_RING, "ringbuf_write_seq", "write_seq", "gauge",
	 "Sequence number the producer publishes next."},
	{ST_PUBLISHED, SC_RING, "ringbuf_frames_published_total", "frames_published", "counter",
	 "Sequence numbers published since creation (frames and end-of-stream markers)."},
	{ST_DROPPED, SC_RING, "ringbuf_frames_dropped_total", "frames_dropped", "counter",
	 "Frames the producer dropped because the ring was full."},
	{ST_ABANDONED, SC_RING, "ringbuf_frames_abandoned_total", "frames_abandoned", "counter",
	 "Sequence numbers claimed by producers that died, published empty for them."},
	{ST_PRODUCER_ALIVE, SC_RING, "ringbuf_producer_alive", "producer_alive", "gauge",
	 "1 if a producer is attached and its process runs."},
	{ST_PRODUCER_PID, SC_RING, "ringbuf_producer_pid", "producer_pid", "gauge",
	 "Process id of the (first) attached producer, 0 when none."},
	{ST_PRODUCER_BLOCKED, SC_RING, "ringbuf_producer_blocked", "producer_blocked", "gauge",
	 "1 while a producer sleeps waiting for a lossless consumer."},
	{ST_PRODUCERS, SC_RING, "ringbuf_producers", "producers", "gauge",
	 "Attached producers, dead ones not yet evicted included."},
	{ST_PRODUCERS_DEAD, SC_RING, "ringbuf_producers_dead", "producers_dead", "gauge",
	 "Attached producers whose process is gone."},
	{ST_MAX_PRODUCERS, SC_RING, "ringbuf_max_producers", "max_producers", "gauge",
	 "Producers that may attach at once (1: a single-producer ring)."},
	{ST_CLAIM_SEQ, SC_RING, "ringbuf_claim_seq", "claim_seq", "gauge",
	 "Next sequence number a producer claims (write_seq in single-producer rings)."},
	{ST_STREAM_OPEN, SC_RING, "ringbuf_stream_open", "stream_open", "gauge",
	 "1 between the producer's begin and end of stream."},
	{ST_STREAM_MEMBERS, SC_RING, "ringbuf_stream_members", "stream_members", "gauge",
	 "Producers that have the open stream open."},
	{ST_CONSUMERS, SC_RING, "ringbuf_consumers", "consumers", "gauge",
	 "Attached consumers, dead ones not yet evicted included."},
	{ST_CONSUMERS_DEAD, SC_RING, "ringbuf_consumers_dead", "consumers_dead", "gauge",
	 "Attached consumers whose process is gone."},
	{ST_GROUPS, SC_RING, "ringbuf_groups", "groups", "gauge",
	 "Consumer groups with members."},
	{ST_FILL, SC_RING, "ringbuf_fill_frames", "fill_frames", "gauge",
	 "Lag of the slowest lossless consumer or group: frames the producers cannot "
	 "overwrite."},
	{ST_SLOTS, SC_RING, "ringbuf_slots", "slots", "gauge", "Number of slots in the ring."},
	{ST_FRAME_BYTES, SC_RING, "ringbuf_frame_bytes", "frame_bytes", "gauge",
	 "Largest frame (usable bytes per slot)."},
	{ST_SEGMENT_BYTES, SC_RING, "ringbuf_segment_bytes", "segment_bytes", "gauge",
	 "Size of the shared-memory segment in bytes."},
	{ST_MAX_CONSUMERS, SC_RING, "ringbuf_max_consumers", "max_consumers", "gauge",
	 "Number of consumer records."},
	{ST_MAX_GROUPS, SC_RING, "ringbuf_max_groups", "max_groups", "gauge",
	 "Number of consumer group records."},
	{ST_CREATED, SC_RING, "ringbuf_created_timestamp_seconds", "created_seconds", "gauge",
	 "When the ring was created, in seconds since the epoch."},
	{ST_P_FRAMES, SC_PRODUCER, "ringbuf_producer_frames_total", "frames", "counter",
	 "Frames this producer committed since it attached."},
	{ST_P_ALIVE, SC_PRODUCER, "ringbuf_producer_up", "alive", "gauge",
	 "1 if this producer's process runs."},
	{ST_P_IN_STREAM, SC_PRODUCER, "ringbuf_producer_in_stream", "in_stream", "gauge",
	 "1 while this producer is a member of the open stream."},
	{ST_P_HOLD_FROM, SC_PRODUCER, "ringbuf_producer_hold_from", "hold_from", "gauge",
	 "Oldest sequence number this producer may hold claimed and uncommitted "
	 "(no sample when it holds none)."},
	{ST_P_STOPPED, SC_PRODUCER, "ringbuf_producer_stopped", "stopped", "gauge",
	 "1 while this producer's process is stopped or traced (SIGSTOP, a debugger)."},
	{ST_P_C0, SC_PRODUCER, "ringbuf_producer_packets_total", "packets", "counter",
	 "UDP capture: packets booked into frames."},
	{ST_P_C1, SC_PRODUCER, "ringbuf_producer_packets_lost_total", "packets_lost",
	 "counter", "UDP capture: packets missing from the frames published."},
	{ST_P_C2, SC_PRODUCER, "ringbuf_producer_packets_late_total", "packets_late",
	 "counter", "UDP capture: packets of frames already published (dropped)."},
	{ST_P_C3, SC_PRODUCER, "ringbuf_producer_packets_duplicate_total",
	 "packets_duplicate", "counter", "UDP capture: packets already booked (dropped)."},
	{ST_P_C4, SC_PRODUCER, "ringbuf_producer_packets_malformed_total",
	 "packets_malformed", "counter", "UDP capture: datagrams that are no valid packet."},
	{ST_P_C5, SC_PRODUCER, "ringbuf_producer_kernel_drops_total", "kernel_drops",
	 "counter", "UDP capture: datagrams the kernel dropped (socket buffer full)."},
	{ST_P_C6, SC_PRODUCER, "ringbuf_producer_frames_incomplete_total",
	 "frames_incomplete", "counter",
	 "UDP capture: frames published with RB_FRAME_INCOMPLETE (packets missing)."},
	{ST_P_C7, SC_PRODUCER, "ringbuf_producer_frames_missing_total",
	 "frames_missing", "counter", "UDP capture: frames no packet of reached."},
	{ST_G_MEMBERS, SC_GROUP, "ringbuf_group_members", "members", "gauge",
	 "Consumers attached as members of the group."},
	{ST_G_CLAIM_SEQ, SC_GROUP, "ringbuf_group_claim_seq", "claim_seq", "gauge",
	 "Next sequence number the group hands to a member."},
	{ST_G_CLAIMED, SC_GROUP, "ringbuf_group_claimed_total", "claimed", "counter",
	 "Sequence numbers handed to members (or lost) since the group was created."},
	{ST_G_LAG, SC_GROUP, "ringbuf_group_lag_frames", "lag", "gauge",
	 "write_seq - claim_seq: frames published that no member has claimed yet."},
	{ST_G_LOST, SC_GROUP, "ringbuf_group_lost_total", "lost", "counter",
	 "Frames the group lost: lapped (lossy), or held by members that died or left."},
	{ST_G_DEPARTED, SC_GROUP, "ringbuf_group_frames_departed_total", "frames_departed",
	 "counter", "Frames released by members that have since left the group."},
	{ST_G_MARKERS, SC_GROUP, "ringbuf_group_markers_total", "markers", "counter",
	 "End-of-stream markers the group passed."},
	{ST_C_READ_SEQ, SC_CONSUMER, "ringbuf_consumer_read_seq", "read_seq", "gauge",
	 "Sequence number the consumer releases next (a group member: the oldest it "
	 "holds; no sample when it holds none)."},
	{ST_C_LAG, SC_CONSUMER, "ringbuf_consumer_lag_frames", "lag", "gauge",
	 "write_seq - read_seq: frames published and not yet released."},
	{ST_C_FRAMES, SC_CONSUMER, "ringbuf_consumer_frames_total", "frames", "counter",
	 "Frames delivered and released since the consumer attached."},
	{ST_C_LOST, SC_CONSUMER, "ringbuf_consumer_lost_total", "lost", "counter",
	 "Frames a lossy consumer skipped or had overwritten since it attached."},
	{ST_C_HELD, SC_CONSUMER, "ringbuf_consumer_held", "held", "gauge",
	 "Frames a group member has claimed and not yet released."},
	{ST_C_ALIVE, SC_CONSUMER, "ringbuf_consumer_alive", "alive", "gauge",
	 "1 if the consumer's process runs."},
	{ST_C_SLEEPING, SC_CONSUMER, "ringbuf_consumer_sleeping", "sleeping", "gauge",
	 "1 while the consumer sleeps waiting for the producer."},
	{ST_C_PID, SC_CONSUMER, "ringbuf_consumer_pid", "pid", "gauge",
	 "Process id of the consumer."},
	{ST_C_GROUP_INFO, SC_CONSUMER, "ringbuf_consumer_group_info", NULL, "gauge",
	 "1 for a consumer that is a member of the group (join on ring and consumer)."},
	{ST_C_STOPPED, SC_CONSUMER, "ringbuf_consumer_stopped", "stopped", "gauge",
	 "1 while the consumer's process is stopped or traced (SIGSTOP, a debugger)."},
	{ST_C_DEMOTED, SC_CONSUMER, "ringbuf_consumer_demoted", "demoted", "gauge",
	 "1 for a lossless consumer demoted to lossy (it stalled the producer, or "
	 "rb-ctl evict)."},
};

#define STAT_NMETRICS (sizeof(stat_metrics) / sizeof(stat_metrics[0]))

/* The participant a per-producer, per-group or per-consumer sample is of. */
struct stat_who {
	const struct rb_producer_status *p;
	const struct rb_group_status *g;
	const struct rb_consumer_status *c;
};

/*
 * The value of metric m as text; false when there is no such sample (the
 * fill level without a lossless consumer, a producer or group member that
 * holds nothing, the group of a consumer in none).
 */
static bool
stat_value(const struct stat_metric *m, const struct stat_ring *r,
	   const struct stat_who *w, char *buf, size_t size)
{
	const struct ctl_snapshot *s = r->snap;
	const struct rb_ring_status *st = &s->status;
	const struct rb_producer_status *p = w ? w->p : NULL;
	const struct rb_group_status *g = w ? w->g : NULL;
	const struct rb_consumer_status *c = w ? w->c : NULL;
	uint64_t v = 0;

	switch (m->id) {
	case ST_WRITE_SEQ: v = st->write_seq; break;
	case ST_PUBLISHED: v = st->write_seq - st->initial_seq; break;
	case ST_DROPPED: v = st->frames_dropped; break;
	case ST_ABANDONED: v = st->frames_abandoned; break;
	case ST_PRODUCER_ALIVE: v = st->producer_alive != 0; break;
	case ST_PRODUCER_PID: v = st->producer_pid; break;
	case ST_PRODUCER_BLOCKED: v = st->producer_blocked != 0; break;
	case ST_PRODUCERS: v = s->nproducers; break;
	case ST_PRODUCERS_DEAD: v = s->producers_dead; break;
	case ST_MAX_PRODUCERS: v = s->max_producers; break;
	case ST_CLAIM_SEQ: v = st->claim_seq; break;
	case ST_STREAM_OPEN: v = st->stream_open != 0; break;
	case ST_STREAM_MEMBERS: v = st->stream_members; break;
	case ST_CONSUMERS: v = s->nconsumers; break;
	case ST_CONSUMERS_DEAD: v = s->dead; break;
	case ST_GROUPS: v = s->ngroups; break;
	case ST_FILL:
		if (!ctl_snapshot_fill(s, &v))
			return false;
		break;
	case ST_SLOTS: v = rb_ring_slot_count(r->ring); break;
	case ST_FRAME_BYTES: v = rb_ring_frame_bytes(r->ring); break;
	case ST_SEGMENT_BYTES: v = rb_ring_segment_bytes(r->ring); break;
	case ST_MAX_CONSUMERS: v = rb_ring_max_consumers(r->ring); break;
	case ST_MAX_GROUPS: v = rb_ring_max_groups(r->ring); break;
	case ST_CREATED: {
		uint64_t ns = rb_ring_created_ns(r->ring);

		snprintf(buf, size, "%" PRIu64 ".%03u", (uint64_t)(ns / 1000000000),
			 (unsigned)(ns % 1000000000ull / 1000000ull));
		return true;
	}
	case ST_P_FRAMES: v = p->frames; break;
	case ST_P_ALIVE: v = p->alive != 0; break;
	case ST_P_IN_STREAM: v = p->in_stream != 0; break;
	case ST_P_STOPPED: v = p->stopped != 0; break;
	case ST_P_HOLD_FROM:
		if (p->hold_from == UINT64_MAX)
			return false;
		v = p->hold_from;
		break;
	case ST_P_C0: case ST_P_C1: case ST_P_C2: case ST_P_C3:
	case ST_P_C4: case ST_P_C5: case ST_P_C6: case ST_P_C7:
		/* No sample from a producer that publishes none. */
		if ((uint32_t)(m->id - ST_P_C0) >= p->ncounters)
			return false;
		v = p->counters[m->id - ST_P_C0];
		break;
	case ST_G_MEMBERS: v = g->members; break;
	case ST_G_CLAIM_SEQ: v = g->claim_seq; break;
	case ST_G_CLAIMED: v = g->claim_seq > g->start_seq ? g->claim_seq - g->start_seq : 0; break;
	case ST_G_LAG: v = ctl_group_lag(s, g); break;
	case ST_G_LOST: v = g->lost; break;
	case ST_G_DEPARTED: v = g->frames_departed; break;
	case ST_G_MARKERS: v = g->markers; break;
	case ST_C_READ_SEQ:
		if (!ctl_consumer_has_position(c))
			return false;
		v = c->read_seq;
		break;
	case ST_C_LAG: v = ctl_consumer_lag(s, c); break;
	case ST_C_FRAMES: v = c->frames; break;
	case ST_C_LOST: v = c->lost; break;
	case ST_C_HELD: v = c->held; break;
	case ST_C_ALIVE: v = c->alive != 0; break;
	case ST_C_SLEEPING: v = c->sleeping != 0; break;
	case ST_C_PID: v = c->pid; break;
	case ST_C_STOPPED: v = c->stopped != 0; break;
	case ST_C_DEMOTED: v = c->demoted != 0; break;
	case ST_C_GROUP_INFO:
		if (c->group[0] == '\0')
			return false;
		v = 1;
		break;
	}
	snprintf(buf, size, "%" PRIu64, v);
	return true;
}

/* A label value: backslash, double quote and newline are escaped. */
static void
stat_label_value(FILE *out, const char *text)
{
	for (; *text != '\0'; text++) {
		if (*text == '\\' || *text == '"')
			fprintf(out, "\\%c", *text);
		else if (*text == '\n')
			fprintf(out, "\\n");
		else
			putc(*text, out);
	}
}

/*
 * The samples of one family for one ring, every participant of its scope.
 * `pids`: producer samples also carry the pid label (a label that changes
 * at every restart starts a new series; rb-ctl serve leaves it out).
 */
static void
stat_prometheus_samples(FILE *out, const struct stat_metric *mt, const struct stat_ring *r,
			bool pids)
{
	const struct ctl_snapshot *s = r->snap;
	char value[48];
	uint32_t k;

	switch (mt->scope) {
	case SC_RING:
		if (stat_value(mt, r, NULL, value, sizeof(value)))
			fprintf(out, "%s{ring=\"%s\"} %s\n", mt->name, r->name, value);
		return;
	case SC_PRODUCER:
		for (k = 0; k < s->nproducers; k++) {
			const struct rb_producer_status *p = &s->producers[k];
			struct stat_who w = {p, NULL, NULL};

			if (!stat_value(mt, r, &w, value, sizeof(value)))
				continue;
			fprintf(out, "%s{ring=\"%s\",producer=\"%u\"", mt->name, r->name, p->index);
			if (pids)
				fprintf(out, ",pid=\"%u\"", p->pid);
			fprintf(out, "} %s\n", value);
		}
		return;
	case SC_GROUP:
		for (k = 0; k < s->ngroups; k++) {
			const struct rb_group_status *g = &s->groups[k];
			struct stat_who w = {NULL, g, NULL};

			if (!stat_value(mt, r, &w, value, sizeof(value)))
				continue;
			fprintf(out, "%s{ring=\"%s\",group=\"", mt->name, r->name);
			stat_label_value(out, g->name);
			fprintf(out, "\",mode=\"%s\"} %s\n", ctl_group_mode(g), value);
		}
		return;
	case SC_CONSUMER:
		for (k = 0; k < s->nconsumers; k++) {
			const struct rb_consumer_status *c = &s->consumers[k];
			struct stat_who w = {NULL, NULL, c};

			if (!stat_value(mt, r, &w, value, sizeof(value)))
				continue;
			fprintf(out, "%s{ring=\"%s\",consumer=\"%u\",", mt->name, r->name,
				c->index);
			if (mt->id == ST_C_GROUP_INFO) {
				fprintf(out, "group=\"");
				stat_label_value(out, c->group);
			} else {
				fprintf(out, "label=\"");
				stat_label_value(out, c->label);
				fprintf(out, "\",mode=\"%s", ctl_consumer_mode(c));
			}
			fprintf(out, "\"} %s\n", value);
		}
		return;
	}
}

static void
stat_prometheus(FILE *out, const struct stat_ring *rings, size_t count, bool pids)
{
	size_t m, i;

	for (i = 0; i < count; i++)
		if (rings[i].ring == NULL)
			fprintf(out, "# ring %s: %s\n", rings[i].name, rb_strerror(rings[i].error));
	for (m = 0; m < STAT_NMETRICS; m++) {
		const struct stat_metric *mt = &stat_metrics[m];

		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help, mt->name,
			mt->type);
		for (i = 0; i < count; i++)
			if (rings[i].ring != NULL)
				stat_prometheus_samples(out, mt, &rings[i], pids);
	}
}

/* The `PREFIX.INDEX.KEY value` lines of one participant. */
static void
stat_plain_scope(const struct stat_ring *r, enum stat_scope scope, const char *prefix,
		 uint32_t index, const struct stat_who *w)
{
	char value[48];
	size_t m;

	for (m = 0; m < STAT_NMETRICS; m++) {
		const struct stat_metric *mt = &stat_metrics[m];

		if (mt->scope != scope || mt->key == NULL)
			continue;
		if (stat_value(mt, r, w, value, sizeof(value)))
			printf("%s.%u.%s %s\n", prefix, index, mt->key, value);
	}
}

static void
stat_plain(const struct stat_ring *rings, size_t count)
{
	char value[48];
	size_t m, i;
	uint32_t k;

	for (i = 0; i < count; i++) {
		const struct stat_ring *r = &rings[i];
		const struct ctl_snapshot *s = r->snap;

		printf("%sring %s\n", i ? "\n" : "", r->name);
		if (r->ring == NULL) {
			printf("error %s\n", rb_strerror(r->error));
			continue;
		}
		for (m = 0; m < STAT_NMETRICS; m++)
			if (stat_metrics[m].scope == SC_RING &&
			    stat_value(&stat_metrics[m], r, NULL, value, sizeof(value)))
				printf("%s %s\n", stat_metrics[m].key, value);
		for (k = 0; k < s->nproducers; k++) {
			struct stat_who w = {&s->producers[k], NULL, NULL};

			printf("producer.%u.pid %u\n", s->producers[k].index, s->producers[k].pid);
			stat_plain_scope(r, SC_PRODUCER, "producer", s->producers[k].index, &w);
		}
		for (k = 0; k < s->ngroups; k++) {
			const struct rb_group_status *g = &s->groups[k];
			struct stat_who w = {NULL, g, NULL};

			printf("group.%u.name %s\n", g->index, g->name);
			printf("group.%u.mode %s\n", g->index, ctl_group_mode(g));
			stat_plain_scope(r, SC_GROUP, "group", g->index, &w);
		}
		for (k = 0; k < s->nconsumers; k++) {
			const struct rb_consumer_status *c = &s->consumers[k];
			struct stat_who w = {NULL, NULL, c};

			printf("consumer.%u.mode %s\n", c->index, ctl_consumer_mode(c));
			printf("consumer.%u.label %s\n", c->index, c->label);
			printf("consumer.%u.group %s\n", c->index, c->group[0] ? c->group : "-");
			stat_plain_scope(r, SC_CONSUMER, "consumer", c->index, &w);
		}
	}
}

/*
 * Opens and samples every ring first: the Prometheus output groups samples
 * by family across rings, and a named ring that fails must leave no
 * partial output behind. False when a named ring failed (said on stderr).
 */
static bool
stat_open_all(struct stat_ring *rings, char **names, size_t count, bool named)
{
	bool ok = true;
	size_t i;

	for (i = 0; i < count; i++) {
		struct stat_ring *r = &rings[i];

		r->name = names[i];
		r->error = named ? ctl_open(names[i], &r->ring) : cli_ring_open(names[i], &r->ring);
		if (r->error == 0 && (r->snap = malloc(sizeof(*r->snap))) == NULL)
			r->error = -ENOMEM;
		if (r->error == 0)
			r->error = ctl_snapshot_take(r->ring, r->snap);
		if (r->error != 0) {
			if (r->ring != NULL && named)
				cli_error("%s: %s", r->name, rb_strerror(r->error));
			rb_ring_close(r->ring);
			r->ring = NULL;
			if (named)
				ok = false;
		}
	}
	return ok;
}

static void
stat_close_all(struct stat_ring *rings, size_t count)
{
	size_t i;

	for (i = 0; i < count; i++) {
		rb_ring_close(rings[i].ring);
		free(rings[i].snap);
	}
	free(rings);
}

int
ctl_stat(int argc, char **argv)
{
	struct stat_ring *rings = NULL;
	struct ctl_names all = {NULL, 0};
	bool prometheus = false, named;
	char **names;
	size_t count;
	int c, rc, status = CLI_EXIT_OK;

	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":ph", stat_options, NULL)) != -1) {
		if (c == 'p')
			prometheus = true;
		else if ((rc = ctl_getopt_other(c, argv, stat_usage)) >= 0)
			return rc;
	}
	named = optind < argc;
	if (named) {
		names = argv + optind;
		count = (size_t)(argc - optind);
	} else {
		if ((rc = ctl_names_all(&all)) != 0) {
			cli_error("/dev/shm: %s", rb_strerror(rc));
			return CLI_EXIT_FAIL;
		}
		names = all.names;
		count = all.count;
	}
	if (count > 0 && (rings = calloc(count, sizeof(*rings))) == NULL) {
		cli_error("stat: %s", rb_strerror(-ENOMEM));
		ctl_names_free(&all);
		return CLI_EXIT_FAIL;
	}
	if (!stat_open_all(rings, names, count, named))
		status = CLI_EXIT_FAIL;
	if (status == CLI_EXIT_OK) {
		if (prometheus)
			stat_prometheus(stdout, rings, count, true);
		else
			stat_plain(rings, count);
		if (fflush(stdout) != 0)
			status = CLI_EXIT_FAIL;
	}
	stat_close_all(rings, count);
	ctl_names_free(&all);
	return status;
}

int
ctl_stat_prometheus(FILE *out, bool pids)
{
	struct stat_ring *rings = NULL;
	struct ctl_names all = {NULL, 0};
	int rc;

	if ((rc = ctl_names_all(&all)) != 0)
		return rc;
	if (all.count > 0 && (rings = calloc(all.count, sizeof(*rings))) == NULL) {
		ctl_names_free(&all);
		return -ENOMEM;
	}
	stat_open_all(rings, all.names, all.count, false);
	stat_prometheus(out, rings, all.count, pids);
	stat_close_all(rings, all.count);
	ctl_names_free(&all);
	return 0;
}
