/*
 * rb-ctl: the command table and the command-line plumbing the commands
 * share. Each command parses its own options with getopt_long, so
 * `rb-ctl info NAME --json` and `rb-ctl info --json NAME` both work.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
/* rb-ctl export (issue 16) */
#include "export/export.h"

static const char ctl_usage[] =
	"Usage: rb-ctl COMMAND [options] [NAME...]\n"
	"Inspect and manage the ringbuf rings on this machine (/dev/shm/rb-*).\n"
	"\n"
	"Commands:\n"
	"  list              rings: frame, slots, memory, producers, consumers\n"
	"  info NAME         header, stream header, producers, groups, consumers\n"
	"  top NAME          live rates, fill level, lag, who waits for whom\n"
	"  stat [NAME...]    counters as `key value` lines, or --prometheus\n"
	"  create NAME       create a ring (--frame-size, --slots, --type,\n"
	"                    --max-producers, ...)\n"
	"  rm NAME...        remove rings nobody alive is attached to (--force)\n"
	"  clean [NAME...]   remove abandoned rings, evict dead participants\n"
	"  serve             a read-only web monitor and /metrics (--listen)\n"
	"  evict NAME CONSUMER  demote a stuck lossless consumer to lossy\n"
	"  export REC... OUT  recordings to HDF5 or PSRDADA files (--format)\n"
	"\n"
	"--trust-owner USER (before COMMAND, repeatable): also open rings that\n"
	"USER (a name or uid) owns; rings of other users but root are refused.\n"
	"`rb-ctl COMMAND --help` lists a command's options. list, info and top\n"
	"take --json. Sizes: 4KiB = 4096, 1MB = 10^6; durations: 200ms, 10s.\n"
	"Exit status: 0 success, 1 failure, 2 bad usage.\n";

struct ctl_command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct ctl_command ctl_commands[] = {
	{"list", ctl_list},     {"ls", ctl_list},       {"info", ctl_info},
	{"top", ctl_top},       {"stat", ctl_stat},     {"create", ctl_create},
	{"rm", ctl_remove},     {"remove", ctl_remove}, {"clean", ctl_clean},
	{"serve", ctl_serve},
	{"evict", ctl_evict},
	{"export", ctl_export}, /* issue 16 */
	{NULL, NULL},
};

void
ctl_getopt_reset(void)
{
	/* 0, not 1: glibc then also resets its private state (the argument
	 * permutation of a previous scan). Our own messages replace getopt's,
	 * which would start with argv[0], the command name. */
	optind = 0;
	opterr = 0;
}

int
ctl_getopt_other(int c, char **argv, const char *usage)
{
	if (c == 'h') {
		fputs(usage, stdout);
		return CLI_EXIT_OK;
	}
	if (c == '?' || c == ':')
		return cli_option_error(c, argv);
	return -1;
}

int
ctl_usage_error(const char *command, const char *what)
{
	cli_error("%s: %s (see rb-ctl %s --help)", command, what, command);
	return CLI_EXIT_USAGE;
}

int
main(int argc, char **argv)
{
	const struct ctl_command *cmd;

	cli_set_program("rb-ctl");
	/* The one option of rb-ctl itself, before the command: whose rings
	 * every command may open (tools/cli/trust.c). */
	while (argc >= 2 && strncmp(argv[1], "--trust-owner", 13) == 0 &&
	       (argv[1][13] == '\0' || argv[1][13] == '=')) {
		const char *value = argv[1][13] == '=' ? argv[1] + 14 : argv[2];
		int shift = argv[1][13] == '=' ? 1 : 2;

		if (value == NULL) {
			cli_error("--trust-owner: needs a user name or uid");
			return CLI_EXIT_USAGE;
		}
		if (cli_trust_owner("--trust-owner", value) != 0)
			return CLI_EXIT_USAGE;
		argc -= shift;
		argv += shift;
	}
	/* Every command maps rings: survive one truncated under us. */
	if (cli_sigbus_install() != 0) {
		cli_error("installing the SIGBUS handler failed");
		return CLI_EXIT_FAIL;
	}
	if (argc < 2) {
		fputs(ctl_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		/* `rb-ctl help CMD` is `rb-ctl CMD --help`. */
		if (strcmp(argv[1], "help") == 0 && argc > 2) {
			char help[] = "--help";
			char *args[] = {argv[2], help, NULL};

			for (cmd = ctl_commands; cmd->name != NULL; cmd++)
				if (strcmp(cmd->name, argv[2]) == 0)
					return cmd->run(2, args);
			cli_error("%s: unknown command (see rb-ctl --help)", argv[2]);
			return CLI_EXIT_USAGE;
		}
		fputs(ctl_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0) {
		printf("rb-ctl (ringbuf) %s\n", RB_VERSION_STRING);
		return CLI_EXIT_OK;
	}
	for (cmd = ctl_commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, argv[1]) == 0)
			return cmd->run(argc - 1, argv + 1);
	cli_error("%s: unknown command (see rb-ctl --help)", argv[1]);
	return CLI_EXIT_USAGE;
}
