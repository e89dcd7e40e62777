/*
 * rb-producer's command line. Every value goes through the unit parsers
 * in tools/cli, and every mistake is one line naming the option and the
 * text that did not parse.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "producer.h"

/* Fits a 24-line terminal: keep it that way when adding options. */
static const char producer_usage[] =
	"Usage: rb-producer [options] RING\n"
	"Create the ring RING (or --attach to it) and stream frames into it.\n"
	"Ring:   -f, --frame-size SIZE  slot size (default: the source's frame)\n"
	"        -n, --slots N          slots, rounded up to a power of two (256)\n"
	"            --align SIZE (64; file: 4096)  --consumers N (most at once: 64)\n"
	"            --max-producers N (1)  --max-groups N (groups: 8; 0: none)\n"
	"            --hugepages --mlock --prefault --group-access (0660) --replace\n"
	"        -a, --attach  join an existing ring  -w, --wait-ring TIME  for it to\n"
	"                      appear   --trust-owner USER  its owner   --keep  at exit\n"
	"Source: -s, --source NAME      counter (default; 4KiB frames), adc, camera,\n"
	"                               file, udp, udp-send (see docs/RECORDING.md)\n"
	"            --channels N --samples N --sample-rate FREQ  adc: 4, 1024, 1MHz\n"
	"            --width N --height N                       camera: 640, 480\n"
	"  file:     --input FILE --loop --restamp --queue-depth N (16) --check (no RING)\n"
	"  udp:      --listen ADDR:PORT   udp-send (no RING): --target ADDR:PORT\n"
	"            --packet-size SIZE (payload, 8KiB)   udp-send: --drop-every N\n"
	"Pace:   -r, --rate RATE        10kHz, 5000fps, 2GB/s, max; file: recorded\n"
	"        -c, --count N (frames, dropped ones too)  -d, --duration TIME (10s)\n"
	"            --on-full MODE     block for lossless consumers (default) or drop\n"
	"            --stall-timeout TIME  demote a lossless consumer stuck that long\n"
	"        -W, --wait-consumers N start streaming once N consumers are attached\n"
	"Output: -j, --json  the summary as JSON on stdout   -h, --help   -V, --version\n"
	"Sizes: 4KiB = 4096, 1MB = 10^6. SIGINT/SIGTERM end the stream cleanly.\n"
	"Exit status: 0 done or stopped by a signal, 1 error, 2 bad usage.\n";

enum {
	OPT_ALIGN = 256,
	OPT_CONSUMERS,
	OPT_HUGEPAGES,
	OPT_MLOCK,
	OPT_PREFAULT,
	OPT_GROUP_ACCESS,
	OPT_GROUP_OLD,
	OPT_REPLACE,
	OPT_KEEP,
	OPT_CHANNELS,
	OPT_SAMPLES,
	OPT_SAMPLE_RATE,
	OPT_WIDTH,
	OPT_HEIGHT,
	OPT_ON_FULL,
	OPT_INPUT,
	OPT_LOOP,
	OPT_RESTAMP,
	OPT_CHECK,
	OPT_LISTEN,
	OPT_TARGET,
	OPT_PACKET_SIZE,
	OPT_DROP_EVERY,
	OPT_REORDER_EVERY,
	OPT_FRAME_TIMEOUT,
	OPT_QUEUE_DEPTH,
	OPT_MAX_PRODUCERS,
	OPT_MAX_GROUPS,
	OPT_TRUST_OWNER,
	OPT_HOLD,
	OPT_STALL_TIMEOUT,
};

static const struct option producer_longopts[] = {
	{"frame-size", required_argument, NULL, 'f'},
	{"slots", required_argument, NULL, 'n'},
	{"align", required_argument, NULL, OPT_ALIGN},
	{"consumers", required_argument, NULL, OPT_CONSUMERS},
	{"hugepages", no_argument, NULL, OPT_HUGEPAGES},
	{"mlock", no_argument, NULL, OPT_MLOCK},
	{"prefault", no_argument, NULL, OPT_PREFAULT},
	{"group-access", no_argument, NULL, OPT_GROUP_ACCESS},
	/* Deprecated spelling of --group-access (not in --help): rb-consumer's
	 * --group NAME is a consumer group, something else entirely. */
	{"group", no_argument, NULL, OPT_GROUP_OLD},
	{"replace", no_argument, NULL, OPT_REPLACE},
	{"keep", no_argument, NULL, OPT_KEEP},
	{"attach", no_argument, NULL, 'a'},
	{"wait-ring", required_argument, NULL, 'w'},
	{"max-producers", required_argument, NULL, OPT_MAX_PRODUCERS},
	{"max-groups", required_argument, NULL, OPT_MAX_GROUPS},
	{"trust-owner", required_argument, NULL, OPT_TRUST_OWNER},
	{"source", required_argument, NULL, 's'},
	{"channels", required_argument, NULL, OPT_CHANNELS},
	{"samples", required_argument, NULL, OPT_SAMPLES},
	{"sample-rate", required_argument, NULL, OPT_SAMPLE_RATE},
	{"width", required_argument, NULL, OPT_WIDTH},
	{"height", required_argument, NULL, OPT_HEIGHT},
	{"rate", required_argument, NULL, 'r'},
	{"count", required_argument, NULL, 'c'},
	{"duration", required_argument, NULL, 'd'},
	{"on-full", required_argument, NULL, OPT_ON_FULL},
	{"stall-timeout", required_argument, NULL, OPT_STALL_TIMEOUT},
	{"input", required_argument, NULL, OPT_INPUT},
	{"loop", no_argument, NULL, OPT_LOOP},
	{"restamp", no_argument, NULL, OPT_RESTAMP},
	{"check", no_argument, NULL, OPT_CHECK},
	{"listen", required_argument, NULL, OPT_LISTEN},
	{"target", required_argument, NULL, OPT_TARGET},
	{"packet-size", required_argument, NULL, OPT_PACKET_SIZE},
	{"drop-every", required_argument, NULL, OPT_DROP_EVERY},
	/* Not in --help: for tests of the receiver's reordering. */
	{"reorder-every", required_argument, NULL, OPT_REORDER_EVERY},
	/* Not in --help (docs/RECORDING.md): udp's idle time before an
	 * incomplete frame is published. */
	{"frame-timeout", required_argument, NULL, OPT_FRAME_TIMEOUT},
	{"queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH},
	/* Not in --help: holds each acquired slot this long before committing
	 * it, so that tests can kill a producer that holds one (the fault
	 * loop's several-producer case). */
	{"hold-per-frame", required_argument, NULL, OPT_HOLD},
	{"wait-consumers", required_argument, NULL, 'W'},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void
producer_defaults(struct producer_options *o)
{
	memset(o, 0, sizeof(*o));
	o->source = "counter";
	o->params.frame_bytes = 4096;
	o->params.channels = 4;
	o->params.samples = 1024;
	o->params.sample_rate = 1e6;
	o->params.width = 640;
	o->params.height = 480;
	o->params.packet_bytes = 8192;
	o->slots = 256;
	o->rate.unit = CLI_RATE_UNLIMITED;
}

/* Remembers that a ring-creation option was given (they clash with --attach). */
static void
producer_create_option(struct producer_options *o, const char *name)
{
	static char first[32];

	if (o->create_option == NULL) {
		snprintf(first, sizeof(first), "%s", name);
		o->create_option = first;
	}
}

/* Options that belong to one source are refused with the others. */
static int
producer_check_source_options(const struct producer_options *o)
{
	const struct source_params *p = &o->params;
	bool file = strcmp(o->source, "file") == 0;
	bool udp = strcmp(o->source, "udp") == 0;
	bool send = strcmp(o->source, "udp-send") == 0;
	const char *bad = NULL, *only = NULL;

	if (!file && (p->input || p->loop || p->restamp || p->check || p->rate_recorded)) {
		bad = p->input ? "--input" : p->loop ? "--loop" : p->restamp ? "--restamp"
		      : p->check ? "--check" : "--rate recorded";
		only = "--source file";
	} else if (!udp && (p->listen || p->frame_timeout_ns)) {
		bad = p->listen ? "--listen" : "--frame-timeout";
		only = "--source udp";
	} else if (!send && (p->target || p->drop_every || p->reorder_every)) {
		bad = p->target ? "--target" : p->drop_every ? "--drop-every" : "--reorder-every";
		only = "--source udp-send";
	} else if (!file && p->queue_depth) {
		bad = "--queue-depth";
		only = "--source file";
	} else if (!udp && !send && o->params.packet_bytes != 8192) {
		bad = "--packet-size";
		only = "--source udp or udp-send";
	}
	if (bad != NULL) {
		cli_error("%s: only with %s", bad, only);
		return CLI_EXIT_USAGE;
	}
	if (p->check && (o->attach || o->wait_ring_set || o->create_option != NULL)) {
		cli_error("--check: reads the recording only; no ring options");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int
producer_parse_options(int argc, char **argv, struct producer_options *o)
{
	const char *optstring = ":f:n:aw:s:r:c:d:W:jhV";
	int c, rc;

	producer_defaults(o);
	for (;;) {
		char name[CLI_OPTION_NAME_MAX];

		c = cli_getopt(argc, argv, optstring, producer_longopts, name);
		if (c == -1)
			break;
		if (c == '?')
			return CLI_EXIT_USAGE;
		rc = 0;
		switch (c) {
		case 'f':
			rc = cli_parse_size(optarg, &o->params.frame_bytes);
			if (rc == 0 && o->params.frame_bytes == 0)
				rc = -EINVAL;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a frame size (64, 4KiB, 1MiB)");
			o->frame_size_set = true;
			o->params.frame_size_set = true;
			break;
		case 'n':
			rc = cli_parse_count(optarg, &o->slots);
			if (rc == 0 && (o->slots == 0 || o->slots > (1u << 30)))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a slot count (1 to 2^30)");
			producer_create_option(o, name);
			break;
		case OPT_ALIGN:
			rc = cli_parse_size(optarg, &o->align);
			if (rc == 0 && (o->align < 64 || o->align > (2u << 20) ||
					(o->align & (o->align - 1)) != 0))
				rc = -EINVAL;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc,
						     "a power of two from 64 to 2MiB");
			producer_create_option(o, name);
			break;
		case OPT_CONSUMERS:
			rc = cli_parse_count(optarg, &o->consumers);
			if (rc == 0 && (o->consumers == 0 || o->consumers > RB_MAX_CONSUMERS))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a consumer count (1 to 256)");
			producer_create_option(o, name);
			break;
		case OPT_MAX_PRODUCERS:
			rc = cli_parse_count(optarg, &o->max_producers);
			if (rc == 0 && (o->max_producers == 0 ||
					o->max_producers > RB_MAX_PRODUCERS))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a producer count (1 to 64)");
			producer_create_option(o, name);
			break;
		case OPT_MAX_GROUPS:
			rc = cli_parse_count(optarg, &o->max_groups);
			if (rc == 0 && o->max_groups > RB_MAX_GROUPS)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a group count (0 to 64)");
			/* 0: no group records at all (the library's 0 is 8). */
			if (o->max_groups == 0)
				o->create_flags |= RB_CREATE_NO_GROUPS;
			else
				o->create_flags &= ~RB_CREATE_NO_GROUPS;
			producer_create_option(o, name);
			break;
		case OPT_HUGEPAGES:
			o->create_flags |= RB_CREATE_HUGEPAGES;
			producer_create_option(o, name);
			break;
		case OPT_MLOCK:
			o->create_flags |= RB_CREATE_MLOCK;
			producer_create_option(o, name);
			break;
		case OPT_PREFAULT:
			o->create_flags |= RB_CREATE_PREFAULT;
			producer_create_option(o, name);
			break;
		case OPT_GROUP_OLD:
			cli_warning("--group is deprecated: it is now --group-access (mode 0660); "
				 "consumer groups are rb-consumer's --group NAME");
			/* fall through */
		case OPT_GROUP_ACCESS:
			o->create_flags |= RB_CREATE_GROUP_ACCESS;
			producer_create_option(o, name);
			break;
		case OPT_REPLACE:
			o->create_flags |= RB_CREATE_REPLACE;
			producer_create_option(o, name);
			break;
		case OPT_KEEP:
			o->keep = true;
			break;
		case 'a':
			o->attach = true;
			break;
		case 'w':
			rc = cli_parse_duration(optarg, &o->wait_ring_ns);
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (5s, 500ms)");
			o->wait_ring_set = true;
			break;
		case 's':
			o->source = optarg;
			break;
		case OPT_CHANNELS:
			if ((rc = cli_parse_count(optarg, &o->params.channels)) != 0)
				return cli_bad_value(name, optarg, rc, "a channel count");
			break;
		case OPT_SAMPLES:
			if ((rc = cli_parse_count(optarg, &o->params.samples)) != 0)
				return cli_bad_value(name, optarg, rc, "a sample count");
			break;
		case OPT_SAMPLE_RATE:
			rc = cli_parse_frequency(optarg, &o->params.sample_rate);
			if (rc == 0 && !(o->params.sample_rate > 0))
				rc = -EINVAL;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a frequency (1MHz, 48kHz)");
			o->sample_rate_set = true;
			break;
		case OPT_WIDTH:
			if ((rc = cli_parse_count(optarg, &o->params.width)) != 0)
				return cli_bad_value(name, optarg, rc, "a width in pixels");
			break;
		case OPT_HEIGHT:
			if ((rc = cli_parse_count(optarg, &o->params.height)) != 0)
				return cli_bad_value(name, optarg, rc, "a height in pixels");
			break;
		case 'r':
			if (strcmp(optarg, "recorded") == 0) {
				o->params.rate_recorded = true;
				o->rate.unit = CLI_RATE_UNLIMITED;
				break;
			}
			o->params.rate_recorded = false;
			rc = cli_parse_rate(optarg, &o->rate);
			if (rc == 0 && o->rate.unit != CLI_RATE_UNLIMITED &&
			    !(o->rate.per_second > 0))
				rc = -EINVAL;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc,
						     "a rate (10kHz, 5000fps, 2GB/s, max)");
			o->rate_set = true;
			break;
		case 'c':
			if ((rc = cli_option_count(name, optarg, &o->count)) != 0)
				return rc;
			break;
		case 'd':
			if ((rc = cli_option_duration(name, optarg, &o->duration_ns)) != 0)
				return rc;
			break;
		case OPT_ON_FULL:
			if (strcmp(optarg, "block") == 0)
				o->drop = false;
			else if (strcmp(optarg, "drop") == 0)
				o->drop = true;
			else
				return cli_bad_value(name, optarg, -EINVAL, "block or drop");
			break;
		case OPT_INPUT:
			o->params.input = optarg;
			break;
		case OPT_LOOP:
			o->params.loop = true;
			break;
		case OPT_RESTAMP:
			o->params.restamp = true;
			break;
		case OPT_CHECK:
			o->params.check = true;
			break;
		case OPT_LISTEN:
			o->params.listen = optarg;
			break;
		case OPT_TARGET:
			o->params.target = optarg;
			break;
		case OPT_PACKET_SIZE:
			rc = cli_parse_size(optarg, &o->params.packet_bytes);
			if (rc == 0 && (o->params.packet_bytes == 0 ||
					o->params.packet_bytes > 65475))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc,
						     "a payload size (1 to 65475 bytes)");
			break;
		case OPT_DROP_EVERY:
			rc = cli_parse_count(optarg, &o->params.drop_every);
			if (rc == 0 && o->params.drop_every < 2)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a packet count (2 or more)");
			break;
		case OPT_REORDER_EVERY:
			rc = cli_parse_count(optarg, &o->params.reorder_every);
			if (rc == 0 && o->params.reorder_every < 2)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a packet count (2 or more)");
			break;
		case OPT_FRAME_TIMEOUT:
			rc = cli_parse_duration(optarg, &o->params.frame_timeout_ns);
			if (rc == 0 && o->params.frame_timeout_ns == 0)
				rc = -EINVAL;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (50ms, 1s)");
			break;
		case OPT_STALL_TIMEOUT:
			rc = cli_parse_duration(optarg, &o->stall_timeout_ns);
			if (rc == 0 && o->stall_timeout_ns == 0)
				rc = -EINVAL;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (500ms, 5s)");
			break;
		case OPT_HOLD:
			rc = cli_parse_duration(optarg, &o->hold_ns);
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (20us, 1ms)");
			break;
		case OPT_QUEUE_DEPTH:
			rc = cli_option_queue_depth(name, optarg, &o->params.queue_depth);
			if (rc != 0)
				return rc;
			break;
		case 'W':
			rc = cli_parse_count(optarg, &o->wait_consumers);
			if (rc == 0 && o->wait_consumers > RB_MAX_CONSUMERS)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a consumer count");
			break;
		case OPT_TRUST_OWNER:
			if ((rc = cli_trust_owner(name, optarg)) != 0)
				return rc;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			fputs(producer_usage, stdout);
			return CLI_EXIT_OK;
		case 'V':
			return cli_print_version();
		default:
			return cli_option_error('?', argv);
		}
	}
	if ((rc = producer_check_source_options(o)) != 0)
		return rc;
	/* The sender and --check read and write no ring. */
	if (strcmp(o->source, "udp-send") == 0 || o->params.check) {
		if (optind < argc) {
			cli_error("%s: unexpected operand (%s uses no ring)", argv[optind],
				  o->params.check ? "--check" : "udp-send");
			return CLI_EXIT_USAGE;
		}
		return -1;
	}
	/* Checked first, so that a second operand is reported even when the
	 * first is not a valid name (with no operand, there is no second). */
	if (optind + 1 < argc) {
		cli_error("%s: unexpected operand (one RING only)", argv[optind + 1]);
		return CLI_EXIT_USAGE;
	}
	if ((rc = cli_ring_operand(argc, argv, &o->ring)) != 0)
		return rc;
	if (o->attach && o->create_option != NULL) {
		cli_error("%s: only applies when creating the ring, not with --attach",
			  o->create_option);
		return CLI_EXIT_USAGE;
	}
	/* A ring we create is there at once: nothing to wait for. */
	if (o->wait_ring_set && !o->attach) {
		cli_error("--wait-ring: only with --attach");
		return CLI_EXIT_USAGE;
	}
	return -1;
}
