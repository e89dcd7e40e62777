/*
 * The command lines of rb-bridge send, recv and keygen.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"

static const char send_usage[] =
	"Usage: rb-bridge send [options] RING ENDPOINT\n"
	"Send the frames of ring RING to an rb-bridge recv at ENDPOINT (tcp://HOST:PORT,\n"
	"HOST:PORT, or :PORT on loopback), releasing each once the far side has it.\n"
	"  -l, --lossy           never hold the producer up; count the frames lost\n"
	"  -g, --group NAME      one member of a work-sharing group of the ring\n"
	"      --start WHERE     oldest (default), newest or next frame\n"
	"  -L, --label TEXT      consumer label (default: the endpoint)\n"
	"  -W, --window N        frames unacknowledged at most (half the ring, <= 4096)\n"
	"      --ack-timeout TIME  ask again after TIME with no ACK (2s)\n"
	"  -w, --wait-ring TIME  wait up to TIME for the ring to appear\n"
	"  -c, --count N  -d, --duration TIME   stop after N frames, after TIME\n"
	"      --bind            bind ENDPOINT instead of connecting\n"
	"      --any-address     allow binding to every address (*, 0.0.0.0)\n"
	"      --curve-key FILE  CURVE: this side's key pair (rb-bridge keygen)\n"
	"      --curve-peer FILE CURVE: the receiver's public key\n"
	"      --pub             publish to any number of rb-bridge recv --sub (lossy,\n"
	"                        binds ENDPOINT; --hwm N messages queued each, 1000)\n"
	"  -j, --json            summary as one JSON line\n"
	"      --trust-owner USER  rings USER owns too   -h, --help   -V, --version\n"
	"Ends at the end of the stream (after the far side has it) or on SIGINT/SIGTERM.\n"
	"Exit status: 0 done or stopped by a signal, 1 error or refused, 2 bad usage.\n";

static const char recv_usage[] =
	"Usage: rb-bridge recv [options] ENDPOINT RING\n"
	"Receive frames from an rb-bridge send at ENDPOINT (bound; loopback unless the\n"
	"endpoint names an address) into ring RING, created with the near ring's frame\n"
	"type, size and stream header plus bridge_origin=HOST:RING.\n"
	"  -a, --attach          use RING if it exists (resume after a restart)\n"
	"  -n, --slots N         far ring slots (default: the near ring's)\n"
	"      --keep            keep RING at exit (default: removed, as rb-producer)\n"
	"      --keep-going      after an end of stream, wait for the next sender\n"
	"  -d, --duration TIME   stop after TIME\n"
	"      --connect         connect to ENDPOINT instead of binding\n"
	"      --any-address     allow binding to every address (*, 0.0.0.0)\n"
	"      --curve-key FILE  CURVE: this side's key pair (rb-bridge keygen)\n"
	"      --curve-peer FILE CURVE: the one sender public key admitted\n"
	"      --sub             subscribe to an rb-bridge send --pub at ENDPOINT (lossy,\n"
	"                        connects; losses counted; --hwm N queued, 1000)\n"
	"  -j, --json            summary as one JSON line\n"
	"      --trust-owner USER  rings USER owns too   -h, --help   -V, --version\n"
	"Ends after the end of the stream, when the sender stops, or on SIGINT/SIGTERM\n"
	"(the far stream is then ended). Exit status: 0 done, 1 error, 2 bad usage.\n";

enum {
	OPT_START = 256,
	OPT_ACK_TIMEOUT,
	OPT_BIND,
	OPT_CONNECT,
	OPT_ANY,
	OPT_CURVE_KEY,
	OPT_CURVE_PEER,
	OPT_TRUST_OWNER,
	OPT_KEEP,
	OPT_KEEP_GOING,
	OPT_PUB,
	OPT_SUB,
	OPT_HWM,
};

static const struct option bridge_longopts[] = {
	{"lossy", no_argument, NULL, 'l'},
	{"group", required_argument, NULL, 'g'},
	{"start", required_argument, NULL, OPT_START},
	{"label", required_argument, NULL, 'L'},
	{"window", required_argument, NULL, 'W'},
	{"ack-timeout", required_argument, NULL, OPT_ACK_TIMEOUT},
	{"wait-ring", required_argument, NULL, 'w'},
	{"count", required_argument, NULL, 'c'},
	{"duration", required_argument, NULL, 'd'},
	{"bind", no_argument, NULL, OPT_BIND},
	{"connect", no_argument, NULL, OPT_CONNECT},
	{"any-address", no_argument, NULL, OPT_ANY},
	{"curve-key", required_argument, NULL, OPT_CURVE_KEY},
	{"curve-peer", required_argument, NULL, OPT_CURVE_PEER},
	{"attach", no_argument, NULL, 'a'},
	{"slots", required_argument, NULL, 'n'},
	{"keep", no_argument, NULL, OPT_KEEP},
	{"keep-going", no_argument, NULL, OPT_KEEP_GOING},
	{"trust-owner", required_argument, NULL, OPT_TRUST_OWNER},
	{"pub", no_argument, NULL, OPT_PUB},
	{"sub", no_argument, NULL, OPT_SUB},
	{"hwm", required_argument, NULL, OPT_HWM},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

/* Options only one of the two subcommands takes. */
static bool
bridge_send_only(int c)
{
	return c == 'l' || c == 'g' || c == OPT_START || c == 'L' || c == 'W' ||
	       c == OPT_ACK_TIMEOUT || c == 'w' || c == 'c' || c == OPT_BIND || c == OPT_PUB;
}

static bool
bridge_recv_only(int c)
{
	return c == 'a' || c == 'n' || c == OPT_KEEP || c == OPT_KEEP_GOING || c == OPT_CONNECT ||
	       c == OPT_SUB;
}

/* --pub and --sub: what fan-out takes and what it does not. */
static int
bridge_fanout_check(struct bridge_options *o)
{
	const char *bad = NULL;

	if (!o->pub && !o->sub)
		return 0;
	if (o->curve.on)
		bad = "--curve-key";
	else if (o->group != NULL)
		bad = "--group";
	else if (o->window != 0)
		bad = "--window";
	if (bad != NULL) {
		cli_error("%s: not with %s (a lossy fan-out)", bad, o->pub ? "--pub" : "--sub");
		return CLI_EXIT_USAGE;
	}
	/* Publishers bind, subscribers connect (ZeroMQ's usual way round;
	 * a bind needs no --bind). */
	o->bind = o->pub;
	o->lossy = true;
	return 0;
}

static int
bridge_parse(int argc, char **argv, struct bridge_options *o, bool send)
{
	const char *optstring = ":lg:L:W:w:c:d:an:jhV";
	const char *key_file = NULL, *peer_file = NULL, *endpoint;
	uint64_t v;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->start = RB_START_OLDEST;
	o->ack_timeout_ns = 2000000000ull;
	o->hwm = 1000;
	o->bind = !send;
	for (;;) {
		char name[CLI_OPTION_NAME_MAX];

		c = cli_getopt(argc, argv, optstring, bridge_longopts, name);
		if (c == -1)
			break;
		if (c == '?')
			return CLI_EXIT_USAGE;
		if ((send && bridge_recv_only(c)) || (!send && bridge_send_only(c))) {
			cli_error("%s: only for rb-bridge %s", name, send ? "recv" : "send");
			return CLI_EXIT_USAGE;
		}
		switch (c) {
		case 'l':
			o->lossy = true;
			break;
		case 'g':
			if ((rc = cli_option_group(name, optarg, &o->group)) != 0)
				return rc;
			break;
		case OPT_START:
			if ((rc = cli_parse_start(name, optarg, &o->start)) != 0)
				return rc;
			break;
		case 'L':
			if (strlen(optarg) > 31) {
				cli_error("%s: '%s': longer than 31 bytes", name, optarg);
				return CLI_EXIT_USAGE;
			}
			snprintf(o->label, sizeof(o->label), "%s", optarg);
			break;
		case 'W':
			rc = cli_parse_count(optarg, &v);
			if (rc == 0 && (v == 0 || v > 4096))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a frame count (1 to 4096)");
			o->window = (uint32_t)v;
			break;
		case OPT_ACK_TIMEOUT:
			rc = cli_parse_duration(optarg, &o->ack_timeout_ns);
			if (rc == 0 && o->ack_timeout_ns < 10000000ull)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (at least 10ms)");
			break;
		case 'w':
			rc = cli_parse_duration(optarg, &o->wait_ring_ns);
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (5s, 500ms)");
			break;
		case 'c':
			if ((rc = cli_option_count(name, optarg, &o->count)) != 0)
				return rc;
			break;
		case 'd':
			if ((rc = cli_option_duration(name, optarg, &o->duration_ns)) != 0)
				return rc;
			break;
		case OPT_BIND:
			o->bind = true;
			break;
		case OPT_CONNECT:
			o->bind = false;
			break;
		case OPT_ANY:
			o->any_address = true;
			break;
		case OPT_CURVE_KEY:
			key_file = optarg;
			if ((rc = bridge_load_keypair(name, optarg, &o->curve)) != 0)
				return rc;
			break;
		case OPT_CURVE_PEER:
			peer_file = optarg;
			if ((rc = bridge_load_public(name, optarg, o->curve.peer_key)) != 0)
				return rc;
			break;
		case 'a':
			o->attach = true;
			break;
		case 'n':
			rc = cli_parse_count(optarg, &v);
			if (rc == 0 && (v < 2 || v > (1u << 30)))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a slot count (2 to 2^30)");
			o->slots = (uint32_t)v;
			break;
		case OPT_KEEP:
			o->keep = true;
			break;
		case OPT_KEEP_GOING:
			o->keep_going = true;
			break;
		case OPT_PUB:
			o->pub = true;
			break;
		case OPT_SUB:
			o->sub = true;
			break;
		case OPT_HWM:
			rc = cli_parse_count(optarg, &v);
			if (rc == 0 && (v == 0 || v > (1u << 24)))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a message count (1 to 16M)");
			o->hwm = (int)v;
			break;
		case OPT_TRUST_OWNER:
			if ((rc = cli_trust_owner(name, optarg)) != 0)
				return rc;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			fputs(send ? send_usage : recv_usage, stdout);
			return CLI_EXIT_OK;
		case 'V':
			return cli_print_version();
		default:
			return cli_option_error('?', argv);
		}
	}
	if ((key_file == NULL) != (peer_file == NULL)) {
		cli_error("CURVE needs both --curve-key FILE and --curve-peer FILE");
		return CLI_EXIT_USAGE;
	}
	o->curve.on = key_file != NULL;
	if ((rc = bridge_fanout_check(o)) != 0)
		return rc;
	if (send && (rc = cli_ring_operand(argc, argv, &o->ring)) != 0)
		return rc;
	if (optind >= argc) {
		cli_error("missing ENDPOINT operand (see --help)");
		return CLI_EXIT_USAGE;
	}
	endpoint = argv[optind++];
	if ((rc = bridge_endpoint("ENDPOINT", endpoint, o->bind, o->any_address,
				  o->endpoint, sizeof(o->endpoint))) != 0)
		return rc;
	if (!send && (rc = cli_ring_operand(argc, argv, &o->ring)) != 0)
		return rc;
	if (optind < argc) {
		cli_error("%s: unexpected operand (see --help)", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (send && o->label[0] == '\0')
	{
		/* "bridge HOST:PORT", cut to the 31 bytes a label holds. */
		const char *ep = o->endpoint + 6;
		size_t n = strlen(ep);

		if (n > sizeof(o->label) - 8)
			n = sizeof(o->label) - 8;
		memcpy(o->label, "bridge ", 7);
		memcpy(o->label + 7, ep, n);
		o->label[7 + n] = '\0';
	}
	return -1;
}

int
bridge_parse_send(int argc, char **argv, struct bridge_options *o)
{
	return bridge_parse(argc, argv, o, true);
}

int
bridge_parse_recv(int argc, char **argv, struct bridge_options *o)
{
	return bridge_parse(argc, argv, o, false);
}

int
bridge_parse_keygen(int argc, char **argv, const char **name)
{
	if (argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		fputs("Usage: rb-bridge keygen NAME\n"
		      "Make a CURVE key pair with zmq_curve_keypair: NAME.key (mode 0600, both\n"
		      "keys; --curve-key) and NAME.pub (the public key; the peer's --curve-peer).\n",
		      stdout);
		return CLI_EXIT_OK;
	}
	if (argc != 2 || argv[1][0] == '\0' || argv[1][0] == '-') {
		cli_error("keygen: usage: rb-bridge keygen NAME");
		return CLI_EXIT_USAGE;
	}
	*name = argv[1];
	return -1;
}
