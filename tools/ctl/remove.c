/*
 * rb-ctl rm NAME...: remove rings. Removing only unlinks the name:
 * processes that have the ring mapped keep using it, but nobody new can
 * attach, so a producer would stream into a ring no new consumer finds.
 * That is why a ring with live participants is refused unless --force,
 * and why the refusal says who they are.
 */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>

#include "ctl.h"

static const char remove_usage[] =
	"Usage: rb-ctl rm [--force] NAME...\n"
	"Remove the rings NAME (unlink /dev/shm/rb-NAME).\n"
	"A ring with any live producer or consumer attached is not removed: the\n"
	"message names them. Neither is a file that does not open as a valid\n"
	"ring (foreign, corrupted, newer layout). --force removes both anyway;\n"
	"processes still attached keep their mapping until they detach.\n"
	"Options:\n"
	"  -f, --force   remove even if in use or not a valid ring\n"
	"  -h, --help\n"
	"Exit status: 0 when every ring was removed, 1 otherwise.\n";

static const struct option remove_options[] = {
	{"force", no_argument, NULL, 'f'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/*
 * Whether NAME may be removed; prints why not. *live counts the live
 * participants a forced removal leaves behind.
 */
static bool
remove_allowed(const char *name, bool force, struct ctl_snapshot *s, uint32_t *live)
{
	struct rb_ring *ring = NULL;
	char who[512];
	int rc = cli_ring_open(name, &ring);

	*live = 0;
	if (rc == -ENOENT || rc == -EACCES) {
		/* Nothing to inspect; the unlink gives the same answer. */
		return true;
	}
	if (rc != 0) {
		if (!force)
			cli_error("%s: %s; not removed (--force removes it anyway)", name,
				  rb_strerror(rc));
		return force;
	}
	rc = ctl_snapshot_take(ring, s);
	rb_ring_close(ring);
	if (rc != 0) {
		cli_error("%s: %s", name, rb_strerror(rc));
		return false;
	}
	if (!ctl_snapshot_in_use(s))
		return true;
	*live = ctl_snapshot_producers_alive(s) + s->nconsumers - s->dead;
	/* The status and the records are read one after the other: a
	 * producer the status saw alive may have left the records since. */
	if (*live == 0)
		*live = 1;
	if (force)
		return true;
	ctl_snapshot_who(s, true, who, sizeof(who));
	cli_error("%s: in use by %s; not removed (--force removes it anyway)", name, who);
	return false;
}

int
ctl_remove(int argc, char **argv)
{
	struct ctl_snapshot *s;
	bool force = false;
	int c, rc, status = CLI_EXIT_OK;

	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":fh", remove_options, NULL)) != -1) {
		if (c == 'f')
			force = true;
		else if ((rc = ctl_getopt_other(c, argv, remove_usage)) >= 0)
			return rc;
	}
	if (optind == argc)
		return ctl_usage_error("rm", "needs a ring name");
	if ((s = malloc(sizeof(*s))) == NULL) {
		cli_error("rm: %s", rb_strerror(-ENOMEM));
		return CLI_EXIT_FAIL;
	}
	for (; optind < argc; optind++) {
		const char *name = argv[optind];
		uint32_t live;

		if (!ctl_name_valid(name)) {
			ctl_name_error(name);
			status = CLI_EXIT_FAIL;
			continue;
		}
		if (!remove_allowed(name, force, s, &live)) {
			status = CLI_EXIT_FAIL;
			continue;
		}
		if ((rc = rb_ring_remove(name)) != 0) {
			cli_error("%s: %s", name, rb_strerror(rc));
			status = CLI_EXIT_FAIL;
			continue;
		}
		if (live > 0)
			printf("removed %s (%u live participant%s keep%s it mapped until "
			       "they detach)\n",
			       name, live, live == 1 ? "" : "s", live == 1 ? "s" : "");
		else
			printf("removed %s\n", name);
	}
	free(s);
	if (fflush(stdout) != 0)
		status = CLI_EXIT_FAIL;
	return status;
}
