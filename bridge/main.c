/*
 * rb-bridge: send a ring's frames to another machine, receive them into a
 * ring there, or make CURVE keys (docs/BRIDGE.md).
 */
#include <stdio.h>
#include <string.h>

#include "bridge.h"

static const char bridge_usage[] =
	"Usage: rb-bridge send [options] RING ENDPOINT\n"
	"       rb-bridge recv [options] ENDPOINT RING\n"
	"       rb-bridge keygen NAME\n"
	"Carry the frames of a ring to a ring on another machine over ZeroMQ, each\n"
	"exactly once across reconnects and restarts (docs/BRIDGE.md).\n"
	"rb-bridge send --help, rb-bridge recv --help: their options.\n";

int
main(int argc, char **argv)
{
	struct bridge_options o;
	const char *name;
	int rc;

	cli_set_program("rb-bridge");
	if (argc < 2) {
		cli_error("missing subcommand: send, recv or keygen (see --help)");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		fputs(bridge_usage, stdout);
		return CLI_EXIT_OK;
	}
	if (strcmp(argv[1], "-V") == 0 || strcmp(argv[1], "--version") == 0)
		return cli_print_version();
	if (strcmp(argv[1], "keygen") == 0) {
		rc = bridge_parse_keygen(argc - 1, argv + 1, &name);
		return rc >= 0 ? rc : bridge_keygen(name);
	}
	if (strcmp(argv[1], "send") == 0 || strcmp(argv[1], "recv") == 0) {
		bool send = argv[1][0] == 's';

		rc = send ? bridge_parse_send(argc - 1, argv + 1, &o)
			  : bridge_parse_recv(argc - 1, argv + 1, &o);
		if (rc >= 0)
			return rc;
		if (cli_signals_start() != 0)
			return CLI_EXIT_FAIL;
		return send ? (o.pub ? bridge_publish(&o) : bridge_send(&o)) : bridge_recv(&o);
	}
	cli_error("%s: unknown subcommand (send, recv or keygen)", argv[1]);
	return CLI_EXIT_USAGE;
}
