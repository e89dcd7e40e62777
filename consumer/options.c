/*
 * rb-consumer's command line.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "consumer.h"

/* Fits a 24-line terminal: keep it that way when adding options. */
static const char consumer_usage[] =
	"Usage: rb-consumer [options] RING [ANALYSIS]\n"
	"Read the frames of ring RING in place and analyse them. ANALYSIS is one of\n"
	"  verify  sequence continuity, and every byte of counter streams (default)\n"
	"  stats   min/max/mean/RMS and a histogram; per channel for adc streams\n"
	"  null    release frames as fast as possible\n"
	"  stdout  raw frame bytes to standard output (io_uring, no copy)\n"
	"  record  frames to --output FILE, O_DIRECT from the slots (docs/RECORDING.md)\n"
	"Options:\n"
	"  -A, --analysis NAME   the same as the ANALYSIS operand\n"
	"  -l, --lossy           never hold the producer up; count the frames lost\n"
	"      --start WHERE     oldest (default), newest or next frame\n"
	"  -L, --label TEXT      name shown by monitors (default: the analysis)\n"
	"  -b, --batch N         take up to N frames per wake-up (64)\n"
	"  -w, --wait-ring TIME  wait up to TIME (5s, 500ms) for the ring to appear\n"
	"  -g, --group NAME      share the frames out with the group's other members\n"
	"  -c, --count N  -d, --duration TIME   stop after N frames, after TIME (10s)\n"
	"  -p, --per-frame       stats: a line per frame on stdout (JSON with --json)\n"
	"  -o, --output FILE     record: --max-file-size SIZE makes FILE.000, FILE.001...\n"
	"      --no-fsync --buffered (no O_DIRECT) --queue-depth N (16) --format hdf5\n"
	"  -j, --json            summary as one JSON line (on stderr with stdout)\n"
	"      --trust-owner USER  rings USER owns too   -h, --help   -V, --version\n"
	"Stops at the end of the stream (-S, --streams N: the Nth; 0: never), on a signal\n"
	"or if the producer dies. Exit status: 0 done or stopped by a signal, 1 error\n"
	"(e.g. the producer died), 2 bad usage, 3 verify found gaps or corrupt frames.\n";


enum {
	OPT_START = 256,
	OPT_DELAY,
	OPT_MAX_FILE_SIZE,
	OPT_FSYNC,
	OPT_NO_FSYNC,
	OPT_BUFFERED,
	OPT_QUEUE_DEPTH,
	OPT_TRUST_OWNER,
	OPT_FORMAT, /* record --format (issue 16) */
};

static const struct option consumer_longopts[] = {
	{"analysis", required_argument, NULL, 'A'},
	{"lossy", no_argument, NULL, 'l'},
	{"start", required_argument, NULL, OPT_START},
	{"label", required_argument, NULL, 'L'},
	{"group", required_argument, NULL, 'g'},
	{"batch", required_argument, NULL, 'b'},
	{"wait-ring", required_argument, NULL, 'w'},
	{"count", required_argument, NULL, 'c'},
	{"duration", required_argument, NULL, 'd'},
	{"per-frame", no_argument, NULL, 'p'},
	{"streams", required_argument, NULL, 'S'},
	{"output", required_argument, NULL, 'o'},
	{"max-file-size", required_argument, NULL, OPT_MAX_FILE_SIZE},
	{"fsync", no_argument, NULL, OPT_FSYNC},
	{"no-fsync", no_argument, NULL, OPT_NO_FSYNC},
	{"buffered", no_argument, NULL, OPT_BUFFERED},
	{"queue-depth", required_argument, NULL, OPT_QUEUE_DEPTH},
	{"trust-owner", required_argument, NULL, OPT_TRUST_OWNER},
	{"format", required_argument, NULL, OPT_FORMAT},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	/* Not in --help: slows the consumer down on purpose, to test how a
	 * lagging consumer is handled (lossy accounting, flow control). */
	{"delay-per-frame", required_argument, NULL, OPT_DELAY},
	{NULL, 0, NULL, 0},
};

/* Longest batch: frames are described on the stack of the main loop. */
#define CONSUMER_MAX_BATCH 4096

int
consumer_parse_options(int argc, char **argv, struct consumer_options *o)
{
	const char *optstring = ":A:lL:g:b:w:c:d:pS:o:jhV";
	const char *record_option = NULL;
	uint64_t v;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->start = RB_START_OLDEST;
	o->batch = 64;
	o->streams = 1;
	o->fsync = true;
	for (;;) {
		char name[CLI_OPTION_NAME_MAX];

		c = cli_getopt(argc, argv, optstring, consumer_longopts, name);
		if (c == -1)
			break;
		if (c == '?')
			return CLI_EXIT_USAGE;
		switch (c) {
		case 'A':
			o->analysis = optarg;
			break;
		case 'l':
			o->lossy = true;
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
			o->label = optarg;
			break;
		case 'g':
			if ((rc = cli_option_group(name, optarg, &o->group)) != 0)
				return rc;
			break;
		case 'b':
			rc = cli_parse_count(optarg, &v);
			if (rc == 0 && (v == 0 || v > CONSUMER_MAX_BATCH))
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a batch size (1 to 4096)");
			o->batch = (uint32_t)v;
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
		case OPT_DELAY:
			rc = cli_parse_duration(optarg, &o->delay_ns);
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a duration (100us, 1ms)");
			break;
		case 'p':
			o->per_frame = true;
			break;
		case 'S':
			if ((rc = cli_option_count(name, optarg, &o->streams)) != 0)
				return rc;
			break;
		case 'o':
			if (optarg[0] == '\0')
				return cli_bad_value(name, optarg, -EINVAL, "a file name");
			o->output = optarg;
			break;
		case OPT_MAX_FILE_SIZE:
			rc = cli_parse_size(optarg, &o->max_file_size);
			/* Smaller than a header, a page and a frame would
			 * only ever hold one frame per file. */
			if (rc == 0 && o->max_file_size < 3 * 4096)
				rc = -ERANGE;
			if (rc != 0)
				return cli_bad_value(name, optarg, rc, "a size (at least 12KiB)");
			record_option = "--max-file-size";
			break;
		case OPT_FSYNC:
		case OPT_NO_FSYNC:
			o->fsync = c == OPT_FSYNC;
			record_option = c == OPT_FSYNC ? "--fsync" : "--no-fsync";
			break;
		case OPT_BUFFERED:
			o->buffered = true;
			record_option = "--buffered";
			break;
		case OPT_QUEUE_DEPTH:
			if ((rc = cli_option_queue_depth(name, optarg, &o->queue_depth)) != 0)
				return rc;
			record_option = "--queue-depth";
			break;
		case OPT_FORMAT: /* record --format rbrec|hdf5 (issue 16) */
			if (strcmp(optarg, "hdf5") != 0 && strcmp(optarg, "rbrec") != 0)
				return cli_bad_value(name, optarg, -EINVAL, "rbrec or hdf5");
			o->hdf5 = strcmp(optarg, "hdf5") == 0;
			record_option = "--format";
			break;
		case OPT_TRUST_OWNER:
			if ((rc = cli_trust_owner(name, optarg)) != 0)
				return rc;
			break;
		case 'j':
			o->json = true;
			break;
		case 'h':
			fputs(consumer_usage, stdout);
			return CLI_EXIT_OK;
		case 'V':
			return cli_print_version();
		default:
			return cli_option_error('?', argv);
		}
	}
	if ((rc = cli_ring_operand(argc, argv, &o->ring)) != 0)
		return rc;
	if (optind < argc) {
		if (o->analysis != NULL && strcmp(o->analysis, argv[optind]) != 0) {
			cli_error("%s: the analysis is already '%s' (--analysis)",
				  argv[optind], o->analysis);
			return CLI_EXIT_USAGE;
		}
		o->analysis = argv[optind++];
	}
	if (optind < argc) {
		cli_error("%s: unexpected operand (see --help)", argv[optind]);
		return CLI_EXIT_USAGE;
	}
	if (o->analysis == NULL)
		o->analysis = "verify";
	if (analysis_find(o->analysis) == NULL) {
		cli_error("%s: unknown analysis (verify, stats, null, stdout, record)",
			  o->analysis);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(o->analysis, "record") == 0 && o->output == NULL) {
		cli_error("record: missing --output FILE");
		return CLI_EXIT_USAGE;
	}
	if (strcmp(o->analysis, "record") != 0 && o->output != NULL)
		record_option = "--output";
	if (strcmp(o->analysis, "record") != 0 && record_option != NULL) {
		cli_error("%s: only with the record analysis", record_option);
		return CLI_EXIT_USAGE;
	}
	if (o->streams != 1 && strcmp(o->analysis, "record") == 0) {
		cli_error("--streams: not with record (it records one stream)");
		return CLI_EXIT_USAGE;
	}
	if (o->per_frame && strcmp(o->analysis, "stats") != 0) {
		cli_error("--per-frame: only with the stats analysis");
		return CLI_EXIT_USAGE;
	}
	if (o->label == NULL)
		o->label = o->analysis;
	/* record --format hdf5 (issue 16): the same options, another writer. */
	if (o->hdf5)
		o->analysis = "record-hdf5";
	return -1;
}
