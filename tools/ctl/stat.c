/*
 * rb-ctl stat: the counters of one or more rings, for scripts and for
 * Prometheus. Both outputs come from one table of metrics, so a counter
 * added here appears in both.
 *
 * The Prometheus output is meant for the node exporter's textfile
 * collector: every family gets its HELP and TYPE lines once, its samples
 * follow together (all rings, all consumers), and there are no time
 * stamps (the collector rejects them). Write it to a temporary file and
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
	"                consumer counters are consumer.INDEX.KEY\n"
	"  --prometheus: the Prometheus text format (ringbuf_write_seq{ring=..},\n"
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

enum stat_id {
	ST_WRITE_SEQ,
	ST_PUBLISHED,
	ST_DROPPED,
	ST_PRODUCER_ALIVE,
	ST_PRODUCER_PID,
	ST_PRODUCER_BLOCKED,
	ST_STREAM_OPEN,
	ST_CONSUMERS,
	ST_CONSUMERS_DEAD,
	ST_FILL,
	ST_SLOTS,
	ST_FRAME_BYTES,
	ST_SEGMENT_BYTES,
	ST_MAX_CONSUMERS,
	ST_CREATED,
	/* Per consumer from here on. */
	ST_C_READ_SEQ,
	ST_C_LAG,
	ST_C_FRAMES,
	ST_C_LOST,
	ST_C_ALIVE,
	ST_C_SLEEPING,
	ST_C_PID,
};

struct stat_metric {
	enum stat_id id;
	const char *name; /* Prometheus family */
	const char *key;  /* key of the plain output */
	const char *type;
	const char *help;
};

static const struct stat_metric stat_metrics[] = {
	{ST_WRITE_SEQ, "ringbuf_write_seq", "write_seq", "gauge",
	 "Sequence number the producer publishes next."},
	{ST_PUBLISHED, "ringbuf_frames_published_total", "frames_published", "counter",
	 "Sequence numbers published since creation (frames and end-of-stream markers)."},
	{ST_DROPPED, "ringbuf_frames_dropped_total", "frames_dropped", "counter",
	 "Frames the producer dropped because the ring was full."},
	{ST_PRODUCER_ALIVE, "ringbuf_producer_alive", "producer_alive", "gauge",
	 "1 if a producer is attached and its process runs."},
	{ST_PRODUCER_PID, "ringbuf_producer_pid", "producer_pid", "gauge",
	 "Process id of the attached producer, 0 when none."},
	{ST_PRODUCER_BLOCKED, "ringbuf_producer_blocked", "producer_blocked", "gauge",
	 "1 while the producer sleeps waiting for a lossless consumer."},
	{ST_STREAM_OPEN, "ringbuf_stream_open", "stream_open", "gauge",
	 "1 between the producer's begin and end of stream."},
	{ST_CONSUMERS, "ringbuf_consumers", "consumers", "gauge",
	 "Attached consumers, dead ones not yet evicted included."},
	{ST_CONSUMERS_DEAD, "ringbuf_consumers_dead", "consumers_dead", "gauge",
	 "Attached consumers whose process is gone."},
	{ST_FILL, "ringbuf_fill_frames", "fill_frames", "gauge",
	 "Lag of the slowest lossless consumer: frames the producer cannot overwrite."},
	{ST_SLOTS, "ringbuf_slots", "slots", "gauge", "Number of slots in the ring."},
	{ST_FRAME_BYTES, "ringbuf_frame_bytes", "frame_bytes", "gauge",
	 "Largest frame (usable bytes per slot)."},
	{ST_SEGMENT_BYTES, "ringbuf_segment_bytes", "segment_bytes", "gauge",
	 "Size of the shared-memory segment in bytes."},
	{ST_MAX_CONSUMERS, "ringbuf_max_consumers", "max_consumers", "gauge",
	 "Number of consumer records."},
	{ST_CREATED, "ringbuf_created_timestamp_seconds", "created_seconds", "gauge",
	 "When the ring was created, in seconds since the epoch."},
	{ST_C_READ_SEQ, "ringbuf_consumer_read_seq", "read_seq", "gauge",
	 "Sequence number the consumer releases next."},
	{ST_C_LAG, "ringbuf_consumer_lag_frames", "lag", "gauge",
	 "write_seq - read_seq: frames published and not yet released."},
	{ST_C_FRAMES, "ringbuf_consumer_frames_total", "frames", "counter",
	 "Frames delivered and released since the consumer attached."},
	{ST_C_LOST, "ringbuf_consumer_lost_total", "lost", "counter",
	 "Frames a lossy consumer skipped or had overwritten since it attached."},
	{ST_C_ALIVE, "ringbuf_consumer_alive", "alive", "gauge",
	 "1 if the consumer's process runs."},
	{ST_C_SLEEPING, "ringbuf_consumer_sleeping", "sleeping", "gauge",
	 "1 while the consumer sleeps waiting for the producer."},
	{ST_C_PID, "ringbuf_consumer_pid", "pid", "gauge", "Process id of the consumer."},
};

#define STAT_NMETRICS (sizeof(stat_metrics) / sizeof(stat_metrics[0]))

/*
 * The value of metric m as text; false when the ring has no such sample
 * (the fill level without a lossless consumer).
 */
static bool
stat_value(const struct stat_metric *m, const struct stat_ring *r,
	   const struct rb_consumer_status *c, char *buf, size_t size)
{
	const struct ctl_snapshot *s = r->snap;
	const struct rb_ring_status *st = &s->status;
	uint64_t v = 0;

	switch (m->id) {
	case ST_WRITE_SEQ: v = st->write_seq; break;
	case ST_PUBLISHED: v = st->write_seq - st->initial_seq; break;
	case ST_DROPPED: v = st->frames_dropped; break;
	case ST_PRODUCER_ALIVE: v = st->producer_alive != 0; break;
	case ST_PRODUCER_PID: v = st->producer_pid; break;
	case ST_PRODUCER_BLOCKED: v = st->producer_blocked != 0; break;
	case ST_STREAM_OPEN: v = st->stream_open != 0; break;
	case ST_CONSUMERS: v = s->nconsumers; break;
	case ST_CONSUMERS_DEAD: v = s->dead; break;
	case ST_FILL:
		if (!ctl_snapshot_fill(s, &v))
			return false;
		break;
	case ST_SLOTS: v = rb_ring_slot_count(r->ring); break;
	case ST_FRAME_BYTES: v = rb_ring_frame_bytes(r->ring); break;
	case ST_SEGMENT_BYTES: v = rb_ring_segment_bytes(r->ring); break;
	case ST_MAX_CONSUMERS: v = rb_ring_max_consumers(r->ring); break;
	case ST_CREATED: {
		uint64_t ns = rb_ring_created_ns(r->ring);

		snprintf(buf, size, "%" PRIu64 ".%03u", (uint64_t)(ns / 1000000000),
			 (unsigned)(ns % 1000000000ull / 1000000ull));
		return true;
	}
	case ST_C_READ_SEQ: v = c->read_seq; break;
	case ST_C_LAG: v = ctl_consumer_lag(s, c); break;
	case ST_C_FRAMES: v = c->frames; break;
	case ST_C_LOST: v = c->lost; break;
	case ST_C_ALIVE: v = c->alive != 0; break;
	case ST_C_SLEEPING: v = c->sleeping != 0; break;
	case ST_C_PID: v = c->pid; break;
	}
	snprintf(buf, size, "%" PRIu64, v);
	return true;
}

/* A label value: backslash, double quote and newline are escaped. */
static void
stat_label_value(const char *text)
{
	for (; *text != '\0'; text++) {
		if (*text == '\\' || *text == '"')
			printf("\\%c", *text);
		else if (*text == '\n')
			printf("\\n");
		else
			putchar(*text);
	}
}

static void
stat_prometheus(const struct stat_ring *rings, size_t count)
{
	char value[48];
	size_t m, i;
	uint32_t k;

	for (i = 0; i < count; i++)
		if (rings[i].ring == NULL)
			printf("# ring %s: %s\n", rings[i].name, rb_strerror(rings[i].error));
	for (m = 0; m < STAT_NMETRICS; m++) {
		const struct stat_metric *mt = &stat_metrics[m];

		printf("# HELP %s %s\n# TYPE %s %s\n", mt->name, mt->help, mt->name, mt->type);
		for (i = 0; i < count; i++) {
			const struct stat_ring *r = &rings[i];

			if (r->ring == NULL)
				continue;
			if (mt->id < ST_C_READ_SEQ) {
				if (stat_value(mt, r, NULL, value, sizeof(value)))
					printf("%s{ring=\"%s\"} %s\n", mt->name, r->name, value);
				continue;
			}
			for (k = 0; k < r->snap->nconsumers; k++) {
				const struct rb_consumer_status *c = &r->snap->consumers[k];

				stat_value(mt, r, c, value, sizeof(value));
				printf("%s{ring=\"%s\",consumer=\"%u\",label=\"", mt->name,
				       r->name, c->index);
				stat_label_value(c->label);
				printf("\",mode=\"%s\"} %s\n", ctl_consumer_mode(c), value);
			}
		}
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

		printf("%sring %s\n", i ? "\n" : "", r->name);
		if (r->ring == NULL) {
			printf("error %s\n", rb_strerror(r->error));
			continue;
		}
		for (m = 0; m < STAT_NMETRICS && stat_metrics[m].id < ST_C_READ_SEQ; m++)
			if (stat_value(&stat_metrics[m], r, NULL, value, sizeof(value)))
				printf("%s %s\n", stat_metrics[m].key, value);
		for (k = 0; k < r->snap->nconsumers; k++) {
			const struct rb_consumer_status *c = &r->snap->consumers[k];

			printf("consumer.%u.mode %s\n", c->index, ctl_consumer_mode(c));
			printf("consumer.%u.label %s\n", c->index, c->label);
			for (m = 0; m < STAT_NMETRICS; m++) {
				if (stat_metrics[m].id < ST_C_READ_SEQ)
					continue;
				stat_value(&stat_metrics[m], r, c, value, sizeof(value));
				printf("consumer.%u.%s %s\n", c->index, stat_metrics[m].key, value);
			}
		}
	}
}

int
ctl_stat(int argc, char **argv)
{
	struct stat_ring *rings = NULL;
	struct ctl_names all = {NULL, 0};
	bool prometheus = false, named;
	char **names;
	size_t count, i;
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
	/* Open and sample everything first: the Prometheus output groups
	 * samples by family across rings, and a named ring that fails must
	 * leave no partial output behind. */
	for (i = 0; i < count; i++) {
		struct stat_ring *r = &rings[i];

		r->name = names[i];
		r->error = named ? ctl_open(names[i], &r->ring) : rb_ring_open(names[i], &r->ring);
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
				status = CLI_EXIT_FAIL;
		}
	}
	if (status == CLI_EXIT_OK) {
		if (prometheus)
			stat_prometheus(rings, count);
		else
			stat_plain(rings, count);
		if (fflush(stdout) != 0)
			status = CLI_EXIT_FAIL;
	}
	for (i = 0; i < count; i++) {
		rb_ring_close(rings[i].ring);
		free(rings[i].snap);
	}
	free(rings);
	ctl_names_free(&all);
	return status;
}
