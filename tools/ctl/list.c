/*
 * rb-ctl list: one line per ring. A /dev/shm entry named like a ring that
 * does not open (a foreign file, another user's ring, a corrupted or newer
 * one) is still listed, with the reason, because that is usually what the
 * person running `list` is looking for.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static uint32_t
list_stopped(const struct ctl_snapshot *s)
{
	uint32_t i, n = 0;

	for (i = 0; i < s->nconsumers; i++)
		n += s->consumers[i].alive && s->consumers[i].stopped;
	return n;
}

static const char list_usage[] =
	"Usage: rb-ctl list [--json]\n"
	"List the rings on this machine (/dev/shm/rb-*), sorted by name:\n"
	"  NAME      ring name\n"
	"  FRAME     largest frame (slot size), and TYPE: u16[480,640] or bytes\n"
	"  SLOTS     number of slots\n"
	"  MEMORY    size of the shared-memory segment\n"
	"  PRODUCER  pid and whether it is alive, or none; a ring made for\n"
	"            several producers: ALIVE/ATTACHED alive (2/3 alive)\n"
	"  CONS      attached consumers (and how many of them are dead), and\n"
	"            how many are members of how many groups (3, 2 in 1 grp)\n"
	"Entries that cannot be opened are listed with the reason (not a\n"
	"ringbuf ring, permission denied, corrupted, ...).\n"
	"Options:\n"
	"  -j, --json   one JSON object {\"rings\": [...]} on one line\n"
	"  -h, --help\n";

static const struct option list_options[] = {
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void
list_json_ring(struct cli_json *j, const char *name, struct ctl_snapshot *s)
{
	struct rb_ring *ring = NULL;
	int rc = cli_ring_open(name, &ring);

	cli_json_object(j, NULL);
	cli_json_string(j, "name", name);
	if (rc == 0)
		rc = ctl_snapshot_take(ring, s);
	cli_json_bool(j, "ok", rc == 0);
	if (rc != 0) {
		cli_json_string(j, "error", rb_strerror(rc));
		cli_json_i64(j, "code", rc);
	} else {
		ctl_json_geometry(j, ring);
		ctl_json_producer(j, s);
		ctl_json_producers(j, s);
		ctl_json_groups(j, s);
		cli_json_u64(j, "consumers", s->nconsumers);
		cli_json_u64(j, "consumers_dead", s->dead);
	}
	cli_json_object_end(j);
	rb_ring_close(ring);
}

static void
list_text_ring(const char *name, int width, struct ctl_snapshot *s)
{
	struct rb_ring *ring = NULL;
	char frame[32], type[96], memory[32], producer[32], consumers[48];
	int rc = cli_ring_open(name, &ring);

	if (rc == 0)
		rc = ctl_snapshot_take(ring, s);
	if (rc != 0) {
		printf("%-*s  error: %s\n", width, name, rb_strerror(rc));
		rb_ring_close(ring);
		return;
	}
	ctl_format_bytes(frame, sizeof(frame), rb_ring_frame_bytes(ring));
	ctl_format_type(type, sizeof(type), rb_ring_frame_type(ring));
	ctl_format_bytes(memory, sizeof(memory), rb_ring_segment_bytes(ring));
	if (s->nproducers == 0 && s->status.producer_pid == 0)
		snprintf(producer, sizeof(producer), "none");
	else if (s->max_producers > 1)
		snprintf(producer, sizeof(producer), "%u/%u alive",
			 ctl_snapshot_producers_alive(s), s->nproducers);
	else if (s->nproducers > 0)
		snprintf(producer, sizeof(producer), "%u %s", s->producers[0].pid,
			 ctl_producer_state(&s->producers[0]));
	else
		snprintf(producer, sizeof(producer), "%u %s", s->status.producer_pid,
			 s->status.producer_alive ? "alive" : "dead");
	if (s->dead > 0)
		snprintf(consumers, sizeof(consumers), "%u (%u dead)", s->nconsumers, s->dead);
	else
		snprintf(consumers, sizeof(consumers), "%u", s->nconsumers);
	/* Stopped (SIGSTOP, traced) consumers: alive, but not reading. */
	if (list_stopped(s) > 0) {
		size_t used = strlen(consumers);

		snprintf(consumers + used, sizeof(consumers) - used, " (%u stopped)",
			 list_stopped(s));
	}
	if (s->ngroups > 0) {
		size_t used = strlen(consumers);
		uint32_t members = 0, i;

		for (i = 0; i < s->nconsumers; i++)
			members += s->consumers[i].group[0] != '\0';
		snprintf(consumers + used, sizeof(consumers) - used, ", %u in %u grp%s",
			 members, s->ngroups, s->ngroups == 1 ? "" : "s");
	}
	printf("%-*s  %9s  %-14s %7u  %9s  %-12s %s\n", width, name, frame, type,
	       rb_ring_slot_count(ring), memory, producer, consumers);
	rb_ring_close(ring);
}

static void
list_json(FILE *out, const struct ctl_names *names, struct ctl_snapshot *s)
{
	struct cli_json j;
	size_t i;

	cli_json_begin(&j, out);
	cli_json_array(&j, "rings");
	for (i = 0; i < names->count; i++)
		list_json_ring(&j, names->names[i], s);
	cli_json_array_end(&j);
	cli_json_end(&j);
}

int
ctl_list_json(FILE *out)
{
	struct ctl_names names;
	struct ctl_snapshot *s;
	int rc;

	if ((rc = ctl_names_all(&names)) != 0)
		return rc;
	if ((s = malloc(sizeof(*s))) == NULL) {
		ctl_names_free(&names);
		return -ENOMEM;
	}
	list_json(out, &names, s);
	free(s);
	ctl_names_free(&names);
	return 0;
}

int
ctl_list(int argc, char **argv)
{
	struct ctl_names names;
	struct ctl_snapshot *s;
	bool json = false;
	int c, rc, width = 4;
	size_t i;

	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":jh", list_options, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if ((rc = ctl_getopt_other(c, argv, list_usage)) >= 0)
			return rc;
	}
	if (optind < argc)
		return ctl_usage_error("list", "takes no ring name (try rb-ctl info NAME)");
	if ((rc = ctl_names_all(&names)) != 0) {
		cli_error("/dev/shm: %s", rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	if ((s = malloc(sizeof(*s))) == NULL) {
		ctl_names_free(&names);
		cli_error("list: %s", rb_strerror(-ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (json) {
		list_json(stdout, &names, s);
	} else if (names.count == 0) {
		printf("no rings in /dev/shm\n");
	} else {
		/* Names up to 32 characters line up; longer ones push their
		 * own line to the right rather than being cut. */
		for (i = 0; i < names.count; i++) {
			int len = (int)strlen(names.names[i]);
			if (len > width)
				width = len > 32 ? 32 : len;
		}
		printf("%-*s  %9s  %-14s %7s  %9s  %-12s %s\n", width, "NAME", "FRAME",
		       "TYPE", "SLOTS", "MEMORY", "PRODUCER", "CONS");
		for (i = 0; i < names.count; i++)
			list_text_ring(names.names[i], width, s);
	}
	free(s);
	ctl_names_free(&names);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
