/*
 * Command line of rb-bench. Units as people write them (64B, 4KiB, 16MiB,
 * 2s, 500ms), parsed by the shared helpers in tools/cli. --quick only
 * changes the defaults of what was not given explicitly.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

enum {
	OPT_SAMPLES = 256,
	OPT_SLEEP_SAMPLES,
	OPT_GAP,
	OPT_COST_TIME,
	OPT_CSV,
	OPT_MODES,
	OPT_API,
	OPT_REPEAT,
	OPT_SPIN,
	OPT_CALM,
	OPT_JSON,
	OPT_SCALE_SIZES,
	OPT_SCALE,
};

static const struct option bench_longopts[] = {
	{"suite", required_argument, NULL, 's'},
	{"sizes", required_argument, NULL, 'z'},
	{"modes", required_argument, NULL, OPT_MODES},
	{"api", required_argument, NULL, OPT_API},
	{"scale-sizes", required_argument, NULL, OPT_SCALE_SIZES},
	{"scale", required_argument, NULL, OPT_SCALE},
	{"consumers", required_argument, NULL, 'c'},
	{"ring-bytes", required_argument, NULL, 'r'},
	{"slots", required_argument, NULL, 'n'},
	{"batch", required_argument, NULL, 'b'},
	{"duration", required_argument, NULL, 'd'},
	{"repeat", required_argument, NULL, OPT_REPEAT},
	{"spin", required_argument, NULL, OPT_SPIN},
	{"calm-wait", required_argument, NULL, OPT_CALM},
	{"samples", required_argument, NULL, OPT_SAMPLES},
	{"sleep-samples", required_argument, NULL, OPT_SLEEP_SAMPLES},
	{"gap", required_argument, NULL, OPT_GAP},
	{"cost-time", required_argument, NULL, OPT_COST_TIME},
	{"pin", no_argument, NULL, 'p'},
	{"quick", no_argument, NULL, 'q'},
	{"csv", optional_argument, NULL, OPT_CSV},
	{"json", optional_argument, NULL, OPT_JSON},
	{"help", no_argument, NULL, 'h'},
	{"version", no_argument, NULL, 'V'},
	{NULL, 0, NULL, 0},
};

static void
bench_usage(FILE *out)
{
	fputs("Usage: rb-bench [OPTION]...\n"
	      "Measures ringbuf across processes against baselines run alongside (memory,\n"
	      "two-thread ring, pipe, Unix socket, ck_ring, futex and spin ping-pongs).\n"
	      "  -s, --suite LIST       throughput,latency,cost,baselines (default all)\n"
	      "  -z, --sizes LIST       frame sizes (default 64B,1KiB,4KiB,64KiB,1MiB,16MiB)\n"
	      "      --modes LIST       touch,notouch,broadcast,lossy,producers,group (all)\n"
	      "      --api LIST         ringbuf API: frame,batch (default both)\n"
	      "      --scale N          producers, group: 1..N processes (default 4, max 8)\n"
	      "      --scale-sizes LIST frame sizes of those points (default 64B,1MiB)\n"
	      "  -c, --consumers N      consumers of the broadcast points (default 2)\n"
	      "  -r, --ring-bytes SIZE  slot bytes per ring (default 8MiB; 4..65536 slots)\n"
	      "  -n, --slots N          slots per ring instead (a power of two)\n"
	      "  -b, --batch N          frames per batch call (default 64, <= slots/4)\n"
	      "  -d, --duration TIME    per throughput point (default 500ms)\n"
	      "      --repeat N         rounds: best, median, slowest throughput; pooled latency (3)\n"
	      "      --samples N        latency samples, spinning (20000); --sleep-samples N\n"
	      "                         sleeping (2000), one frame per --gap TIME (1ms)\n"
	      "      --spin TIME        spin_ns of throughput producers/consumers (lib: 5us)\n"
	      "      --cost-time TIME   idle consumer and blocked producer points (2s)\n"
	      "  -p, --pin              producer on CPU 0, consumers on CPU 1, 2, ...\n"
	      "      --calm-wait TIME   wait up to TIME per point for a calm host (2s; 0: no)\n"
	      "  -q, --quick            smoke run: 64B,4KiB,64KiB (scaling 64B,64KiB), short\n"
	      "                         points, 1 round\n"
	      "      --csv[=FILE]       CSV to FILE, or instead of the table\n"
	      "      --json[=FILE]      JSON to FILE, or instead of the table\n"
	      "  -h, --help;  -V, --version\n"
	      "Sizes: 64, 4KiB, 1MiB, 1MB; times: 2s, 500ms. Progress on stderr if a tty.\n"
	      "Exit: 0 done, 1 a point failed or did not verify, 2 usage, 130 interrupted.\n",
	      out);
}

/* A comma-separated list has no empty item: strtok_r would skip the
 * empty words of "64B,,4KiB" or ",64", hiding a typo. */
static bool
bench_list_well_formed(const char *text)
{
	size_t n = strlen(text);

	return n > 0 && text[0] != ',' && text[n - 1] != ',' && strstr(text, ",,") == NULL;
}

/* Turns "a,b" into the OR of the bits of the names; names[i] is bit i. */
static int
bench_parse_words(const char *text, const char *const *names, uint32_t *out)
{
	char buf[256], *save = NULL, *word;

	if (strlen(text) >= sizeof(buf) || !bench_list_well_formed(text))
		return -EINVAL;
	strcpy(buf, text);
	*out = 0;
	for (word = strtok_r(buf, ",", &save); word != NULL; word = strtok_r(NULL, ",", &save)) {
		uint32_t i;

		for (i = 0; names[i] != NULL && strcmp(names[i], word) != 0; i++)
			;
		if (names[i] != NULL)
			*out |= 1u << i;
		else if (strcmp(word, "all") == 0)
			*out |= (1u << i) - 1;
		else
			return -EINVAL;
	}
	return *out ? 0 : -EINVAL;
}

static const char *const bench_suite_names[] = {
	"throughput", "latency", "cost", "baselines", NULL,
};
static const char *const bench_mode_names[] = {
	"touch", "notouch", "broadcast", "lossy", "producers", "group", NULL,
};
static const char *const bench_api_names[] = {"frame", "batch", NULL};

static int
bench_parse_sizes(const char *text, uint64_t *sizes, uint32_t *nsizes)
{
	char buf[1024], *save = NULL, *word;
	int rc;

	if (strlen(text) >= sizeof(buf) || !bench_list_well_formed(text))
		return -EINVAL;
	strcpy(buf, text);
	*nsizes = 0;
	for (word = strtok_r(buf, ",", &save); word != NULL; word = strtok_r(NULL, ",", &save)) {
		uint64_t v;

		if (*nsizes == BENCH_MAX_SIZES)
			return -ERANGE;
		if ((rc = cli_parse_size(word, &v)) != 0)
			return rc;
		/* 8 bytes: the smallest frame the checksum covers with a word. */
		if (v < 8 || v > (1ull << 32))
			return -ERANGE;
		sizes[(*nsizes)++] = v;
	}
	return *nsizes ? 0 : -EINVAL;
}

static int
bench_parse_u32(const char *text, uint32_t min, uint32_t max, uint32_t *out)
{
	uint64_t v;
	int rc = cli_parse_count(text, &v);

	if (rc != 0)
		return rc;
	if (v < min || v > max)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

uint64_t
bench_per_round(const struct bench_options *o, uint64_t total)
{
	uint64_t n = (total + o->repeat - 1) / o->repeat;

	return n ? n : 1;
}

uint32_t
bench_slots_for(const struct bench_options *o, uint64_t bytes)
{
	uint64_t stride = (bytes + 63) & ~63ull, n = 1;

	if (o->slots)
		return o->slots;
	/* The largest power of two that fits, but at least 4 (so that the
	 * producer can fill one slot while the consumer reads another, with
	 * room to spare) and at most 65536 (beyond that, for tiny frames, the
	 * descriptors alone leave the caches without gaining anything). */
	while (n * 2 * stride <= o->ring_bytes && n < 65536)
		n *= 2;
	return n < 4 ? 4 : (uint32_t)n;
}

/* --ring-bytes must hold the 4 slots bench_slots_for() promises for the
 * largest frame measured; a smaller ring would silently be enlarged, and
 * the report would state a ring size that was not used. Checked once the
 * sizes are known, whatever the order of the options. */
static int
bench_check_ring_bytes(const struct bench_options *o, const char *text)
{
	uint64_t largest = 0;
	uint32_t i;

	if (text == NULL || o->slots)
		return 0;
	for (i = 0; i < o->nsizes; i++)
		largest = o->sizes[i] > largest ? o->sizes[i] : largest;
	for (i = 0; i < o->nscale_sizes; i++)
		largest = o->scale_sizes[i] > largest ? o->scale_sizes[i] : largest;
	largest = (largest + 63) & ~63ull;
	if (o->ring_bytes >= 4 * largest)
		return 0;
	cli_error("--ring-bytes: '%s' holds fewer than 4 slots of the largest frame "
		  "(needs at least %" PRIu64 " bytes, or give --slots)", text, 4 * largest);
	return BENCH_EXIT_USAGE;
}

int
bench_parse_options(int argc, char **argv, struct bench_options *o)
{
	bool sizes_set = false, duration_set = false, samples_set = false;
	bool sleep_samples_set = false, cost_set = false, repeat_set = false;
	bool calm_set = false, scale_sizes_set = false;
	const char *ring_bytes_text = NULL;
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->suites = BENCH_SUITE_ALL;
	o->modes = BENCH_MODE_ALL;
	o->apis = BENCH_API_FRAME | BENCH_API_BATCH;
	o->consumers = 2;
	o->scale = 4;
	o->ring_bytes = 8ull << 20;
	o->batch = 64;
	o->duration_ns = 500000000ull;
	o->repeat = 3;
	o->calm_ns = 2000000000ull;
	o->spin_samples = 20000;
	o->sleep_samples = 2000;
	o->sleep_gap_ns = 1000000ull;
	o->cost_ns = 2000000000ull;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":s:z:c:r:n:b:d:pqhV", bench_longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			if ((rc = bench_parse_words(optarg, bench_suite_names, &o->suites)) != 0)
				return cli_bad_value("--suite", optarg, rc,
						     "a list of throughput,latency,cost,baselines");
			break;
		case 'z':
			if ((rc = bench_parse_sizes(optarg, o->sizes, &o->nsizes)) != 0)
				return cli_bad_value("--sizes", optarg, rc,
						     "a list of sizes from 8B (e.g. 64,4KiB,1MiB)");
			sizes_set = true;
			break;
		case OPT_SCALE_SIZES:
			if ((rc = bench_parse_sizes(optarg, o->scale_sizes, &o->nscale_sizes)) != 0)
				return cli_bad_value("--scale-sizes", optarg, rc,
						     "a list of sizes from 8B (e.g. 64,1MiB)");
			scale_sizes_set = true;
			break;
		case OPT_SCALE:
			if ((rc = bench_parse_u32(optarg, 1, BENCH_MAX_SCALE, &o->scale)) != 0)
				return cli_bad_value("--scale", optarg, rc, "a count from 1 to 8");
			break;
		case OPT_MODES:
			if ((rc = bench_parse_words(optarg, bench_mode_names, &o->modes)) != 0)
				return cli_bad_value("--modes", optarg, rc,
						     "a list of touch,notouch,broadcast,lossy,producers,group");
			break;
		case OPT_API:
			if ((rc = bench_parse_words(optarg, bench_api_names, &o->apis)) != 0)
				return cli_bad_value("--api", optarg, rc, "a list of frame,batch");
			break;
		case 'c':
			if ((rc = bench_parse_u32(optarg, 1, BENCH_MAX_CONSUMERS, &o->consumers)) != 0)
				return cli_bad_value("--consumers", optarg, rc, "a count from 1 to 16");
			break;
		case 'r':
			if ((rc = cli_parse_size(optarg, &o->ring_bytes)) != 0 || o->ring_bytes == 0 ||
			    o->ring_bytes > BENCH_MAX_RING_BYTES)
				return cli_bad_value("--ring-bytes", optarg, rc ? rc : -ERANGE,
						     "a size up to 64GiB (e.g. 64MiB)");
			ring_bytes_text = optarg;
			break;
		case 'n':
			if ((rc = bench_parse_u32(optarg, 2, 1u << 24, &o->slots)) != 0 ||
			    (o->slots & (o->slots - 1)) != 0)
				return cli_bad_value("--slots", optarg, rc ? rc : -EINVAL,
						     "a power of two from 2 to 16M");
			break;
		case 'b':
			if ((rc = bench_parse_u32(optarg, 1, 1024, &o->batch)) != 0)
				return cli_bad_value("--batch", optarg, rc, "a count from 1 to 1024");
			break;
		case 'd':
			if ((rc = cli_parse_duration(optarg, &o->duration_ns)) != 0 ||
			    o->duration_ns == 0)
				return cli_bad_value("--duration", optarg, rc ? rc : -ERANGE,
						     "a duration (e.g. 2s, 500ms)");
			duration_set = true;
			break;
		case OPT_REPEAT:
			if ((rc = bench_parse_u32(optarg, 1, 100, &o->repeat)) != 0)
				return cli_bad_value("--repeat", optarg, rc, "a count from 1 to 100");
			repeat_set = true;
			break;
		case OPT_SPIN:
			if ((rc = cli_parse_duration(optarg, &o->spin_ns)) != 0 || o->spin_ns == 0)
				return cli_bad_value("--spin", optarg, rc ? rc : -ERANGE,
						     "a duration (e.g. 5us, 1ms)");
			break;
		case OPT_CALM:
			if ((rc = cli_parse_duration(optarg, &o->calm_ns)) != 0)
				return cli_bad_value("--calm-wait", optarg, rc,
						     "a duration (e.g. 3s, 0)");
			calm_set = true;
			break;
		case OPT_SAMPLES:
			if ((rc = cli_parse_count(optarg, &o->spin_samples)) != 0 ||
			    o->spin_samples < 2 || o->spin_samples > 100000000ull)
				return cli_bad_value("--samples", optarg, rc ? rc : -ERANGE,
						     "a count from 2 (e.g. 20000, 1M)");
			samples_set = true;
			break;
		case OPT_SLEEP_SAMPLES:
			if ((rc = cli_parse_count(optarg, &o->sleep_samples)) != 0 ||
			    o->sleep_samples < 1 || o->sleep_samples > 10000000ull)
				return cli_bad_value("--sleep-samples", optarg, rc ? rc : -ERANGE,
						     "a count from 1");
			sleep_samples_set = true;
			break;
		case OPT_GAP:
			if ((rc = cli_parse_duration(optarg, &o->sleep_gap_ns)) != 0 ||
			    o->sleep_gap_ns < 1000 || o->sleep_gap_ns > 10000000000ull)
				return cli_bad_value("--gap", optarg, rc ? rc : -ERANGE,
						     "a duration from 1us to 10s");
			break;
		case OPT_COST_TIME:
			if ((rc = cli_parse_duration(optarg, &o->cost_ns)) != 0 ||
			    o->cost_ns < 1000000ull)
				return cli_bad_value("--cost-time", optarg, rc ? rc : -ERANGE,
						     "a duration from 1ms");
			cost_set = true;
			break;
		case 'p':
			o->pin = true;
			break;
		case 'q':
			o->quick = true;
			break;
		case OPT_CSV:
			o->csv_path = optarg ? optarg : "-";
			break;
		case OPT_JSON:
			o->json_path = optarg ? optarg : "-";
			break;
		case 'h':
			bench_usage(stdout);
			return -1;
		case 'V':
			printf("rb-bench %s\n", RB_VERSION_STRING);
			return -1;
		default:
			return cli_option_error(c, argv);
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s' (see --help)", argv[optind]);
		return BENCH_EXIT_USAGE;
	}
	if (o->csv_path && o->json_path && strcmp(o->csv_path, "-") == 0 &&
	    strcmp(o->json_path, "-") == 0) {
		cli_error("--csv and --json cannot both replace the table; give one a FILE");
		return BENCH_EXIT_USAGE;
	}
	if (!sizes_set) {
		static const uint64_t full[] = {64, 1024, 4096, 65536, 1u << 20, 16u << 20};
		static const uint64_t quick[] = {64, 4096, 65536};
		const uint64_t *v = o->quick ? quick : full;
		uint32_t n = o->quick ? 3 : 6, i;

		for (i = 0; i < n; i++)
			o->sizes[i] = v[i];
		o->nsizes = n;
	}
	if (!scale_sizes_set) {
		/* Small frames, where the hand-over is the cost, and a large
		 * one, where the bytes are; --quick keeps the large one small. */
		o->scale_sizes[0] = 64;
		o->scale_sizes[1] = o->quick ? 65536 : 1u << 20;
		o->nscale_sizes = 2;
	}
	if ((rc = bench_check_ring_bytes(o, ring_bytes_text)) != 0)
		return rc;
	if (o->quick) {
		/* A smoke run: every code path once, a few seconds in all. */
		if (!duration_set)
			o->duration_ns = 100000000ull;
		if (!samples_set)
			o->spin_samples = 2000;
		if (!sleep_samples_set)
			o->sleep_samples = 100;
		if (!cost_set)
			o->cost_ns = 200000000ull;
		if (!repeat_set)
			o->repeat = 1;
		if (!calm_set)
			o->calm_ns = 0;
	}
	return 0;
}
