/*
 * rb-ctl evict RING CONSUMER: take a stuck lossless consumer off the
 * producer's back by hand.
 *
 * What it does is a demotion to lossy (rb_ring_demote), the same as a
 * producer's --stall-timeout: the consumer keeps its record and may run
 * on; it then reads as a lossy consumer, counts what it missed as lost and
 * learns of it (RB_E_DEMOTED, "demoted to lossy" in rb-consumer's
 * summary). A consumer whose process is dead is evicted outright, as
 * `rb-ctl clean` would. Why demote rather than free the record: see
 * ringbuf/stall.c and docs/FORMAT.md §5.21.
 *
 * CONSUMER is the index (#) or the pid rb-ctl info shows; "#N" and
 * "pid:N" say which when a number could be both.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

static const char evict_usage[] =
	"Usage: rb-ctl evict [options] NAME CONSUMER\n"
	"Stop the producers of ring NAME waiting for the lossless consumer\n"
	"CONSUMER (its index or pid, as rb-ctl info shows; #N or pid:N when a\n"
	"number could be both): it is demoted to lossy, as rb-producer\n"
	"--stall-timeout does. It keeps running, counts the frames it misses\n"
	"as lost and reports that it was demoted. A dead consumer is evicted.\n"
	"Group members are not demoted.\n"
	"Options:\n"
	"  -h, --help\n"
	"Exit status: 0 demoted (or evicted, or demoted already), 1 otherwise.\n";

static const struct option evict_options[] = {
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The consumers[] entry CONSUMER names, or NULL (after saying why). */
static const struct rb_consumer_status *
evict_find(const struct ctl_snapshot *s, const char *name, const char *text)
{
	const struct rb_consumer_status *by_index = NULL, *by_pid = NULL;
	bool only_index = text[0] == '#', only_pid = strncmp(text, "pid:", 4) == 0;
	const char *digits = only_index ? text + 1 : only_pid ? text + 4 : text;
	uint64_t v;
	uint32_t i;
	char *end;

	errno = 0;
	v = digits[0] >= '0' && digits[0] <= '9' ? strtoull(digits, &end, 10) : 0;
	if (digits[0] < '0' || digits[0] > '9' || *end != '\0' || errno != 0 ||
	    v > UINT32_MAX) {
		cli_error("evict: %s: not a consumer index or pid (see rb-ctl evict --help)",
			  text);
		return NULL;
	}
	for (i = 0; i < s->nconsumers; i++) {
		if (!only_pid && s->consumers[i].index == v)
			by_index = &s->consumers[i];
		if (!only_index && s->consumers[i].pid == v && by_pid == NULL)
			by_pid = &s->consumers[i];
	}
	if (by_index != NULL && by_pid != NULL && by_index != by_pid) {
		cli_error("%s: %s is consumer #%s and the pid of consumer #%u: say #%s or "
			  "pid:%s", name, text, digits, by_pid->index, digits, digits);
		return NULL;
	}
	if (by_index == NULL && by_pid == NULL) {
		cli_error("%s: no consumer %s attached (see rb-ctl info %s)", name, text, name);
		return NULL;
	}
	return by_index != NULL ? by_index : by_pid;
}

static int
evict_one(struct rb_ring *ring, const char *name, const char *which)
{
	struct ctl_snapshot *s = malloc(sizeof(*s));
	const struct rb_consumer_status *c;
	int rc, status = CLI_EXIT_FAIL;

	if (s == NULL) {
		cli_error("evict: %s", rb_strerror(-ENOMEM));
		return CLI_EXIT_FAIL;
	}
	if ((rc = ctl_snapshot_take(ring, s)) != 0) {
		cli_error("%s: %s", name, rb_strerror(rc));
		goto out;
	}
	if ((c = evict_find(s, name, which)) == NULL)
		goto out;
	if (!c->alive) {
		rc = rb_ring_evict_dead(ring);
		if (rc < 0) {
			cli_error("%s: %s", name, rb_strerror(rc));
			goto out;
		}
		printf("evicted from %s: consumer #%u pid %u (dead)\n", name, c->index, c->pid);
		status = CLI_EXIT_OK;
		goto out;
	}
	rc = rb_ring_demote(ring, c->index);
	if (rc == -EALREADY && c->demoted) {
		printf("%s: consumer #%u pid %u was demoted to lossy already\n", name,
		       c->index, c->pid);
		status = CLI_EXIT_OK;
	} else if (rc == -EALREADY) {
		cli_error("%s: consumer #%u pid %u is lossy: the producers do not wait for it",
			  name, c->index, c->pid);
	} else if (rc == -EOPNOTSUPP) {
		cli_error("%s: consumer #%u pid %u is a member of group '%s': group members "
			  "are not demoted", name, c->index, c->pid, c->group);
	} else if (rc != 0) {
		cli_error("%s: consumer #%u: %s", name, c->index, rb_strerror(rc));
	} else {
		printf("demoted in %s: consumer #%u pid %u%s%s%s to lossy; the producers no "
		       "longer wait for it\n", name, c->index, c->pid,
		       c->stopped ? " (stopped)" : "", c->label[0] ? " " : "", c->label);
		status = CLI_EXIT_OK;
	}
out:
	free(s);
	return status;
}

int
ctl_evict(int argc, char **argv)
{
	struct rb_ring *ring = NULL;
	int c, rc;

	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":h", evict_options, NULL)) != -1)
		if ((rc = ctl_getopt_other(c, argv, evict_usage)) >= 0)
			return rc;
	if (argc - optind != 2)
		return ctl_usage_error("evict", "needs a ring name and a consumer");
	if (ctl_open(argv[optind], &ring) != 0)
		return CLI_EXIT_FAIL;
	rc = evict_one(ring, argv[optind], argv[optind + 1]);
	rb_ring_close(ring);
	if (fflush(stdout) != 0)
		rc = CLI_EXIT_FAIL;
	return rc;
}
