/*
 * rb-ctl clean: tidy up after crashed processes.
 *
 * The rule, also in --help and in every line printed:
 *   - A ring that no live process is attached to (its producer, if any,
 *     and all its consumers are dead or detached) is abandoned, and is
 *     removed once it is at least --min-age old.
 *   - In a ring that is still in use, dead participants are evicted: that
 *     frees their producer and consumer records, lets a producer go on
 *     that waits for a dead lossless consumer or group member, and lets
 *     consumers go on past the seqs a dead producer claimed (published
 *     empty, flagged abandoned).
 *   - A lossless consumer whose process is stopped (SIGSTOP, or traced:
 *     /proc state T or t) while a producer is blocked waiting for it is
 *     demoted to lossy, as `rb-ctl evict` does: a stopped process cannot
 *     release anything until someone continues it, and demoted it loses
 *     only the frames it misses (counted, and reported to it), where left
 *     alone it would hold the producer for as long as it stays stopped.
 *     A stopped consumer nobody waits for is left alone.
 *   - Entries that do not open as rings (foreign files, corrupted rings,
 *     other users' rings) are left alone: `rm --force` is for those.
 *
 * Why an age: a ring made by `rb-ctl create` (or by a producer a moment
 * before it attaches) has no participant yet and must survive. The ring
 * does not record when it was last used, only when it was created, so
 * the creation time is the age we have; a long-lived ring whose last
 * process just exited is therefore removed at once. A producer that
 * attaches between our look and the unlink would lose its ring's name:
 * we look again right before unlinking, which makes that window tiny.
 */
#include <errno.h>
#include <inttypes.h>
#include <getopt.h>
#include <stdlib.h>

#include "ctl.h"

static const char clean_usage[] =
	"Usage: rb-ctl clean [options] [NAME...]\n"
	"Clean up the rings NAME (default: every ring on this machine):\n"
	"  - a ring no live process is attached to (no live producer, no live\n"
	"    consumer) is removed if it was created at least --min-age ago;\n"
	"    younger ones are kept: they may be waiting for their producer;\n"
	"  - a ring still in use gets its dead participants evicted: producers,\n"
	"    consumers and group members (frees their records, unblocks those\n"
	"    waiting for them: a dead producer's claimed seqs are published\n"
	"    empty, flagged abandoned; a dead member's held frames are lost);\n"
	"  - a stopped (SIGSTOP, traced) lossless consumer that a blocked producer\n"
	"    waits for is demoted to lossy (as rb-ctl evict does);\n"
	"  - files that do not open as rings are left alone (see rm --force).\n"
	"Every ring gets one line saying what was done and why.\n"
	"Options:\n"
	"  -n, --dry-run         say what would be done, change nothing\n"
	"  -a, --min-age TIME    keep abandoned rings younger than this (10s)\n"
	"  -h, --help\n"
	"Exit status: 0 done, 1 if a named ring is missing or an action failed.\n";

static const struct option clean_options[] = {
	{"dry-run", no_argument, NULL, 'n'},
	{"min-age", required_argument, NULL, 'a'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct clean_run {
	bool dry_run;
	uint64_t min_age_ns;
	struct ctl_snapshot *snap;
	unsigned removed, evicted, kept, skipped, demoted;
};

/* An abandoned ring: remove it if old enough. */
static int
clean_abandoned(struct clean_run *run, const char *name, struct rb_ring *ring)
{
	uint64_t now = ctl_realtime_ns(), created = rb_ring_created_ns(ring);
	uint64_t age = now > created ? now - created : 0;
	char age_text[32], min_text[32], dead[512];
	int rc;

	ctl_format_duration(age_text, sizeof(age_text), age);
	if (age < run->min_age_ns) {
		ctl_format_duration(min_text, sizeof(min_text), run->min_age_ns);
		printf("kept %s: no live participant, but created %s ago (< --min-age %s)\n",
		       name, age_text, min_text);
		run->kept++;
		return 0;
	}
	ctl_snapshot_who(run->snap, false, dead, sizeof(dead));
	if (!run->dry_run) {
		/* Look again: someone may have attached since. */
		if ((rc = ctl_snapshot_take(ring, run->snap)) != 0) {
			cli_error("%s: %s", name, rb_strerror(rc));
			return rc;
		}
		if (ctl_snapshot_in_use(run->snap)) {
			printf("kept %s: a participant attached just now\n", name);
			run->kept++;
			return 0;
		}
		if ((rc = rb_ring_remove(name)) != 0 && rc != -ENOENT) {
			cli_error("%s: %s", name, rb_strerror(rc));
			return rc;
		}
	}
	printf("%s %s: no live participant (%s%s), created %s ago\n",
	       run->dry_run ? "would remove" : "removed", name,
	       dead[0] ? "dead: " : "none attached", dead, age_text);
	run->removed++;
	return 0;
}

/* Stopped lossless consumers a blocked producer waits for: demoted. */
static void
clean_stopped(struct clean_run *run, const char *name, struct rb_ring *ring)
{
	const struct rb_ring_status *st = &run->snap->status;
	uint32_t i;

	if (!st->producer_blocked)
		return;
	for (i = 0; i < run->snap->nconsumers; i++) {
		const struct rb_consumer_status *c = &run->snap->consumers[i];
		int rc = 0;

		if (!c->alive || !c->stopped || c->lossy || c->group[0] != '\0' ||
		    c->read_seq >= st->producer_waits_for)
			continue;
		if (!run->dry_run && (rc = rb_ring_demote(ring, c->index)) != 0) {
			if (rc != -EALREADY && rc != -ENOENT)
				cli_error("%s: consumer #%u: %s", name, c->index, rb_strerror(rc));
			continue;
		}
		printf("%s in %s: consumer #%u pid %u to lossy: stopped, and the producer "
		       "waits for it (read_seq %" PRIu64 ")\n",
		       run->dry_run ? "would demote" : "demoted", name, c->index, c->pid,
		       c->read_seq);
		run->demoted++;
	}
}

/* A ring in use: evict its dead participants. */
static int
clean_in_use(struct clean_run *run, const char *name, struct rb_ring *ring)
{
	char live[512], dead[512];
	uint32_t ndead = ctl_snapshot_dead(run->snap);
	int n;

	clean_stopped(run, name, ring);
	ctl_snapshot_who(run->snap, true, live, sizeof(live));
	if (ndead == 0) {
		printf("kept %s: in use by %s\n", name, live);
		run->kept++;
		return 0;
	}
	ctl_snapshot_who(run->snap, false, dead, sizeof(dead));
	if (run->dry_run) {
		printf("would evict from %s: %s (in use by %s)\n", name, dead, live);
		run->evicted += ndead;
		return 0;
	}
	if ((n = rb_ring_evict_dead(ring)) < 0) {
		cli_error("%s: %s", name, rb_strerror(n));
		return n;
	}
	/* n can differ from ndead: one may have died or been evicted since. */
	printf("evicted from %s: %s (%d evicted; in use by %s)\n", name, dead, n, live);
	run->evicted += (unsigned)n;
	return 0;
}

static int
clean_one(struct clean_run *run, const char *name, bool named)
{
	struct rb_ring *ring = NULL;
	int rc;

	if (named && !ctl_name_valid(name)) {
		ctl_name_error(name);
		return -EINVAL;
	}
	rc = cli_ring_open(name, &ring);
	if (rc == -ENOENT && named) {
		cli_error("%s: %s", name, rb_strerror(rc));
		return rc;
	}
	if (rc != 0) {
		if (rc != -ENOENT) { /* gone since we listed it: nothing to say */
			printf("skipped %s: %s\n", name, rb_strerror(rc));
			run->skipped++;
		}
		return 0;
	}
	if ((rc = ctl_snapshot_take(ring, run->snap)) != 0)
		cli_error("%s: %s", name, rb_strerror(rc));
	else if (ctl_snapshot_in_use(run->snap))
		rc = clean_in_use(run, name, ring);
	else
		rc = clean_abandoned(run, name, ring);
	rb_ring_close(ring);
	return rc;
}

int
ctl_clean(int argc, char **argv)
{
	struct clean_run run = {false, 10000000000ull, NULL, 0, 0, 0, 0, 0};
	struct ctl_names all = {NULL, 0};
	int c, rc, status = CLI_EXIT_OK;
	size_t i;

	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":na:h", clean_options, NULL)) != -1) {
		if (c == 'n') {
			run.dry_run = true;
		} else if (c == 'a') {
			if ((rc = cli_parse_duration(optarg, &run.min_age_ns)) != 0)
				return cli_bad_value("--min-age", optarg, rc,
						     "a duration (10s, 5m, 0)");
		} else if ((rc = ctl_getopt_other(c, argv, clean_usage)) >= 0) {
			return rc;
		}
	}
	if ((run.snap = malloc(sizeof(*run.snap))) == NULL) {
		cli_error("clean: %s", rb_strerror(-ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if (optind < argc) {
		for (; optind < argc; optind++)
			if (clean_one(&run, argv[optind], true) != 0)
				status = CLI_EXIT_FAIL;
	} else if ((rc = ctl_names_all(&all)) != 0) {
		cli_error("/dev/shm: %s", rb_strerror(rc));
		status = CLI_EXIT_FAIL;
	} else {
		for (i = 0; i < all.count; i++)
			if (clean_one(&run, all.names[i], false) != 0)
				status = CLI_EXIT_FAIL;
	}
	printf("%s: %u removed, %u evicted, %u kept, %u skipped",
	       run.dry_run ? "dry run, nothing changed" : "clean", run.removed,
	       run.evicted, run.kept, run.skipped);
	/* Only when it happened: the line stays as it was otherwise. */
	if (run.demoted > 0)
		printf(", %u demoted", run.demoted);
	printf("\n");
	free(run.snap);
	ctl_names_free(&all);
	if (fflush(stdout) != 0)
		status = CLI_EXIT_FAIL;
	return status;
}
