/*
 * rb-ctl create NAME: make a ring ahead of its producer, e.g. to choose
 * its geometry or its group access once, in a start-up script. The ring
 * stays after rb-ctl exits, with no participant, until a producer
 * attaches (`rb-producer --attach`).
 *
 * Every option is checked here, with a message that names it, before the
 * library is asked: the library can only answer -EINVAL.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <string.h>

#include "ctl.h"

static const char create_usage[] =
	"Usage: rb-ctl create [options] NAME\n"
	"Create the ring NAME (/dev/shm/rb-NAME) with no participant attached.\n"
	"  -f, --frame-size SIZE   largest frame (default: the --type/--shape\n"
	"                          frame, else 4KiB)\n"
	"  -t, --type T            element type: u8 u16 u32 u64 i8 ... f32 f64 c64\n"
	"                          c128, or bytes (default)\n"
	"  -s, --shape DIMS        frame shape with --type, slowest first: 480x640\n"
	"  -n, --slots N           slots, rounded up to a power of two (256)\n"
	"      --align SIZE        slot alignment, power of two >= 64 (64)\n"
	"      --consumers N       consumer records, 1 to 256 (64)\n"
	"      --max-producers N   producers attached at once, 1 to 64 (1: the\n"
	"                          single-producer fast path)\n"
	"      --max-groups N      consumer group records, 0 (none) to 64 (8)\n"
	"      --header-size SIZE  stream header capacity, 4KiB to 1MiB (16KiB)\n"
	"      --initial-seq N     sequence number of the first frame (0)\n"
	"      --hugepages         ask for transparent huge pages (falls back)\n"
	"      --prefault          allocate every page now\n"
	"      --mlock             check the ring can be locked in memory (the\n"
	"                          lock itself ends when rb-ctl exits)\n"
	"      --group-access      mode 0660 instead of 0600: the group may attach\n"
	"      --replace           replace an existing ring nobody alive uses\n"
	"  -h, --help\n"
	"Sizes: 4KiB = 4096, 1MB = 10^6. Counts: 1000, 1k, 1e6.\n";

enum {
	OPT_ALIGN = 256,
	OPT_CONSUMERS,
	OPT_MAX_PRODUCERS,
	OPT_MAX_GROUPS,
	OPT_HEADER_SIZE,
	OPT_INITIAL_SEQ,
	OPT_HUGEPAGES,
	OPT_PREFAULT,
	OPT_MLOCK,
	OPT_GROUP_ACCESS,
	OPT_GROUP_OLD,
	OPT_REPLACE,
};

static const struct option create_options[] = {
	{"frame-size", required_argument, NULL, 'f'},
	{"type", required_argument, NULL, 't'},
	{"shape", required_argument, NULL, 's'},
	{"slots", required_argument, NULL, 'n'},
	{"align", required_argument, NULL, OPT_ALIGN},
	{"consumers", required_argument, NULL, OPT_CONSUMERS},
	{"max-producers", required_argument, NULL, OPT_MAX_PRODUCERS},
	{"max-groups", required_argument, NULL, OPT_MAX_GROUPS},
	{"header-size", required_argument, NULL, OPT_HEADER_SIZE},
	{"initial-seq", required_argument, NULL, OPT_INITIAL_SEQ},
	{"hugepages", no_argument, NULL, OPT_HUGEPAGES},
	{"prefault", no_argument, NULL, OPT_PREFAULT},
	{"mlock", no_argument, NULL, OPT_MLOCK},
	{"group-access", no_argument, NULL, OPT_GROUP_ACCESS},
	/* Deprecated spelling (not in --help), as rb-producer's. */
	{"group", no_argument, NULL, OPT_GROUP_OLD},
	{"replace", no_argument, NULL, OPT_REPLACE},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* The limits of docs/FORMAT.md §7, checked so the messages can name them. */
#define CREATE_MAX_SLOTS (1ull << 30)
#define CREATE_MAX_ALIGN (2ull << 20)
#define CREATE_MIN_HEADER 4096ull
#define CREATE_MAX_HEADER (1ull << 20)
#define CREATE_SEQ_LIMIT (1ull << 62)

struct create_args {
	struct rb_ring_config config;
	uint64_t slots, align, consumers, header, producers, groups;
	bool frame_size_given, shape_given, type_given;
	bool no_groups; /* --max-groups 0 */
};

static bool
create_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

static int
create_option(int c, const char *arg, struct create_args *a)
{
	int rc, elem;

	switch (c) {
	case 'f':
		if ((rc = cli_parse_size(arg, &a->config.frame_bytes)) != 0 ||
		    a->config.frame_bytes == 0)
			return cli_bad_value("--frame-size", arg, rc ? rc : -ERANGE,
					     "a size (4KiB, 1MiB, 1500)");
		a->frame_size_given = true;
		return -1;
	case 't':
		if ((elem = rb_elem_parse(arg)) < 0)
			return cli_bad_value("--type", arg, -EINVAL,
					     "an element type (u8, i16, f32, c64, bytes, ...)");
		a->config.type.elem = (uint32_t)elem;
		a->type_given = elem != RB_ELEM_NONE;
		return -1;
	case 's':
		if (cli_parse_shape(arg, a->config.type.dims, &a->config.type.ndim) != 0)
			return cli_bad_value("--shape", arg, -EINVAL,
					     "a shape of 1 to 4 dimensions (1024, 480x640)");
		a->shape_given = true;
		return -1;
	case 'n':
		if ((rc = cli_parse_count(arg, &a->slots)) != 0 || a->slots == 0 ||
		    a->slots > CREATE_MAX_SLOTS)
			return cli_bad_value("--slots", arg, rc ? rc : -ERANGE,
					     "a count of 1 to 2^30 slots");
		return -1;
	case OPT_ALIGN:
		if ((rc = cli_parse_size(arg, &a->align)) != 0 || !create_pow2(a->align) ||
		    a->align < 64 || a->align > CREATE_MAX_ALIGN)
			return cli_bad_value("--align", arg, rc == -ERANGE ? rc : -EINVAL,
					     "a power of two from 64 to 2MiB");
		return -1;
	case OPT_CONSUMERS:
		if ((rc = cli_parse_count(arg, &a->consumers)) != 0 || a->consumers == 0 ||
		    a->consumers > RB_MAX_CONSUMERS)
			return cli_bad_value("--consumers", arg, rc ? rc : -ERANGE,
					     "a count of 1 to 256");
		return -1;
	case OPT_MAX_PRODUCERS:
		if ((rc = cli_parse_count(arg, &a->producers)) != 0 || a->producers == 0 ||
		    a->producers > RB_MAX_PRODUCERS)
			return cli_bad_value("--max-producers", arg, rc ? rc : -ERANGE,
					     "a count of 1 to 64");
		return -1;
	case OPT_MAX_GROUPS:
		/* 0 is no groups at all (RB_CREATE_NO_GROUPS): the library's
		 * config value 0 would mean its default, 8. */
		if ((rc = cli_parse_count(arg, &a->groups)) != 0 ||
		    a->groups > RB_MAX_GROUPS)
			return cli_bad_value("--max-groups", arg, rc ? rc : -ERANGE,
					     "a count of 0 to 64");
		a->no_groups = a->groups == 0;
		return -1;
	case OPT_HEADER_SIZE:
		if ((rc = cli_parse_size(arg, &a->header)) != 0 ||
		    a->header < CREATE_MIN_HEADER || a->header > CREATE_MAX_HEADER)
			return cli_bad_value("--header-size", arg, rc ? rc : -ERANGE,
					     "a size of 4KiB to 1MiB");
		return -1;
	case OPT_INITIAL_SEQ:
		if ((rc = cli_parse_count(arg, &a->config.initial_seq)) != 0 ||
		    a->config.initial_seq >= CREATE_SEQ_LIMIT)
			return cli_bad_value("--initial-seq", arg, rc ? rc : -ERANGE,
					     "a sequence number below 2^62");
		return -1;
	case OPT_HUGEPAGES: a->config.flags |= RB_CREATE_HUGEPAGES; return -1;
	case OPT_PREFAULT: a->config.flags |= RB_CREATE_PREFAULT; return -1;
	case OPT_MLOCK: a->config.flags |= RB_CREATE_MLOCK; return -1;
	case OPT_GROUP_OLD:
		cli_warning("--group is deprecated: it is now --group-access (mode 0660)");
		a->config.flags |= RB_CREATE_GROUP_ACCESS;
		return -1;
	case OPT_GROUP_ACCESS: a->config.flags |= RB_CREATE_GROUP_ACCESS; return -1;
	case OPT_REPLACE: a->config.flags |= RB_CREATE_REPLACE; return -1;
	default:
		return -2;
	}
}

/* Frame size from the type and shape; checks they agree. */
static int
create_frame(struct create_args *a)
{
	struct rb_frame_type *t = &a->config.type;
	uint64_t bytes = rb_elem_size(t->elem);
	uint32_t i;
	char text[96];

	if (a->type_given != a->shape_given) {
		cli_error("%s needs %s (a typed frame has both)",
			  a->type_given ? "--type" : "--shape",
			  a->type_given ? "--shape" : "--type");
		return CLI_EXIT_USAGE;
	}
	if (!a->type_given) {
		memset(t, 0, sizeof(*t));
		if (!a->frame_size_given)
			a->config.frame_bytes = 4096;
		return -1;
	}
	for (i = 0; i < t->ndim; i++) {
		if (bytes > UINT64_MAX / t->dims[i]) {
			cli_error("--shape: frame of more than 2^64 bytes");
			return CLI_EXIT_USAGE;
		}
		bytes *= t->dims[i];
	}
	if (!a->frame_size_given) {
		a->config.frame_bytes = bytes;
	} else if (a->config.frame_bytes < bytes) {
		ctl_format_type(text, sizeof(text), t);
		cli_error("--frame-size: %" PRIu64 " B is smaller than one %s frame "
			  "(%" PRIu64 " B)", a->config.frame_bytes, text, bytes);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

static void
create_report(struct rb_ring *ring, const struct rb_ring_config *config)
{
	char type[96], frame[32], memory[32];

	ctl_format_type(type, sizeof(type), rb_ring_frame_type(ring));
	ctl_format_bytes(frame, sizeof(frame), rb_ring_frame_bytes(ring));
	ctl_format_bytes(memory, sizeof(memory), rb_ring_segment_bytes(ring));
	printf("created %s: %s %s x %u slots, %s (%s)\n", rb_ring_name(ring), type, frame,
	       rb_ring_slot_count(ring), memory, ctl_pages_name(rb_ring_pages(ring)));
	if (rb_ring_max_producers(ring) > 1)
		printf("  for up to %u producers at once, %u consumer groups\n",
		       rb_ring_max_producers(ring), rb_ring_max_groups(ring));
	if ((config->flags & RB_CREATE_HUGEPAGES) && rb_ring_pages(ring) != RB_PAGES_THP)
		cli_note("huge pages are not available for shared memory here "
			 "(/sys/kernel/mm/transparent_hugepage/shmem_enabled); "
			 "normal pages are used");
	if (config->flags & RB_CREATE_MLOCK)
		cli_note("the ring could be locked; the lock ends when rb-ctl exits, "
			 "producers lock their own mapping");
}

int
ctl_create(int argc, char **argv)
{
	struct create_args a;
	struct rb_ring *ring = NULL;
	const char *name;
	int c, rc;

	memset(&a, 0, sizeof(a));
	a.slots = 256;
	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":f:t:s:n:h", create_options, NULL)) != -1) {
		if ((rc = create_option(c, optarg, &a)) >= 0)
			return rc;
		if (rc == -2 && (rc = ctl_getopt_other(c, argv, create_usage)) >= 0)
			return rc;
	}
	if (optind != argc - 1)
		return ctl_usage_error("create", optind == argc ? "needs a ring name"
								 : "takes one ring name");
	name = argv[optind];
	if (!ctl_name_valid(name)) {
		ctl_name_error(name);
		return CLI_EXIT_USAGE;
	}
	if ((rc = create_frame(&a)) >= 0)
		return rc;
	a.config.slot_count = (uint32_t)a.slots;
	a.config.slot_align = (uint32_t)a.align;
	a.config.max_consumers = (uint32_t)a.consumers;
	a.config.stream_header_bytes = (uint32_t)a.header;
	a.config.max_producers = (uint32_t)a.producers;
	a.config.max_groups = (uint32_t)a.groups;
	if (a.no_groups)
		a.config.flags |= RB_CREATE_NO_GROUPS;
	/* Recorded in the header only when it mattered. */
	if (!create_pow2(a.slots))
		a.config.flags |= RB_CREATE_ROUND_UP;
	rc = rb_ring_create(name, &a.config, &ring);
	if (rc == -EEXIST)
		cli_error("%s: %s (--replace replaces it if nobody alive uses it)", name,
			  rb_strerror(rc));
	else if (rc == -EBUSY && (a.config.flags & RB_CREATE_REPLACE))
		cli_error("%s: not replaced: live processes are attached (see rb-ctl info %s)",
			  name, name);
	else if (rc == -EINVAL)
		cli_error("%s: the library refused this geometry (too large for "
			  "64-bit offsets?)", name);
	else if (rc != 0)
		cli_error("%s: %s", name, rb_strerror(rc));
	if (rc != 0)
		return CLI_EXIT_FAIL;
	create_report(ring, &a.config);
	rb_ring_close(ring);
	return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
}
