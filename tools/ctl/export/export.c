/*
 * rb-ctl export REC... OUT --format hdf5|dada: the command (export.h says
 * which file does what). Every REC is checked before OUT is made, so a
 * wrong operand costs nothing; then each is exported in turn, one frame
 * in memory from the recording and one chunk in the writer.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "export.h"

static const char export_usage[] =
	"Usage: rb-ctl export [options] REC... OUT\n"
	"Export recordings (rb-consumer record) to HDF5 or PSRDADA. Each REC is one\n"
	"stream: a file, or FILE.000, FILE.001, ... of a rotated recording.\n"
	"  -F, --format FMT   hdf5: the file OUT, a group streamN per REC (frames,\n"
	"                     descriptors, the stream header as attributes);\n"
	"                     dada: the file OUT (4096-byte ASCII header, then the\n"
	"                     frames), or with several RECs a directory OUT of\n"
	"                     streamN.dada. Default: from OUT's extension (.h5,\n"
	"                     .hdf5, .dada)\n"
	"  -z, --compress N   gzip level 1 to 9 (hdf5; default none)\n"
	"  -f, --force        replace OUT if it exists\n"
	"  -p, --progress     a progress line on stderr (default: on a terminal)\n"
	"      --no-progress\n"
	"  -j, --json         a JSON summary on stdout\n"
	"  -h, --help\n"
	"Frames shorter than the frame (incomplete, abandoned) are zero-padded; their\n"
	"length and flags are in the descriptors (HDF5) and counted in the header.\n"
	"Exit status: 0 exported (a recording cut short by a crash: its frames, with a\n"
	"note; SIGINT/SIGTERM: what was exported so far, each file complete), 1 a\n"
	"damaged recording (the frames before the damage are exported), a write\n"
	"error, OUT exists; 2 bad usage. See docs/RECORDING.md, \"Export\".\n";

enum { EXPORT_OPT_NO_PROGRESS = 256 };

static const struct option export_options_long[] = {
	{"format", required_argument, NULL, 'F'},
	{"compress", required_argument, NULL, 'z'},
	{"force", no_argument, NULL, 'f'},
	{"progress", no_argument, NULL, 'p'},
	{"no-progress", no_argument, NULL, EXPORT_OPT_NO_PROGRESS},
	{"json", no_argument, NULL, 'j'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Progress lines at most this often. */
#define EXPORT_PROGRESS_NS 250000000ull

struct export_run {
	const struct export_format *fmt;
	struct export_options o;
	bool progress, json;
	const char *out;
	char **recs;
	unsigned nrecs;
	uint64_t start_ns, last_progress_ns;
	uint64_t frames, data_bytes;  /* all streams: frames, frames * row_bytes */
	bool shown;                   /* a progress line is on screen */
};

static const struct export_format *
export_format_named(const char *name)
{
	if (strcmp(name, "hdf5") == 0 || strcmp(name, "h5") == 0)
		return &export_hdf5;
	if (strcmp(name, "dada") == 0 || strcmp(name, "psrdada") == 0)
		return &export_dada;
	return NULL;
}

/* The format OUT's extension names, NULL for none. */
static const struct export_format *
export_format_guess(const char *out)
{
	const char *dot = strrchr(out, '.');

	if (dot == NULL || strchr(dot, '/') != NULL)
		return NULL;
	if (strcmp(dot, ".h5") == 0 || strcmp(dot, ".hdf5") == 0)
		return &export_hdf5;
	if (strcmp(dot, ".dada") == 0)
		return &export_dada;
	return NULL;
}

static int
export_parse(struct export_run *r, int argc, char **argv)
{
	const char *format = NULL;
	int c, rc, tty = isatty(STDERR_FILENO);
	char *end;
	long level;

	memset(r, 0, sizeof(*r));
	r->progress = tty;
	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":F:z:fpjh", export_options_long, NULL)) != -1) {
		switch (c) {
		case 'F':
			format = optarg;
			break;
		case 'z':
			errno = 0;
			level = strtol(optarg, &end, 10);
			if (errno != 0 || end == optarg || *end != '\0' || level < 1 || level > 9)
				return cli_bad_value("--compress", optarg, -EINVAL,
						     "a gzip level, 1 to 9");
			r->o.compress = (int)level;
			break;
		case 'f':
			r->o.force = true;
			break;
		case 'p':
			r->progress = true;
			break;
		case EXPORT_OPT_NO_PROGRESS:
			r->progress = false;
			break;
		case 'j':
			r->json = true;
			break;
		default:
			if ((rc = ctl_getopt_other(c, argv, export_usage)) >= 0)
				return rc;
		}
	}
	if (argc - optind < 2)
		return ctl_usage_error("export", argc - optind == 0 ? "needs a recording and OUT"
								   : "needs OUT after the recording");
	r->recs = argv + optind;
	r->nrecs = (unsigned)(argc - optind - 1);
	r->out = argv[argc - 1];
	if (format != NULL && (r->fmt = export_format_named(format)) == NULL) {
		cli_error("export: --format: '%s': unknown format (hdf5 or dada)", format);
		return CLI_EXIT_USAGE;
	}
	if (format == NULL && (r->fmt = export_format_guess(r->out)) == NULL)
		return ctl_usage_error("export", "needs --format hdf5|dada (OUT's name does not "
						 "end in .h5, .hdf5 or .dada)");
	if (r->o.compress && r->fmt != &export_hdf5)
		return ctl_usage_error("export", "--compress is for --format hdf5");
	return -1;
}

/* Every REC is a recording, and none is OUT itself. */
static int
export_check_inputs(const struct export_run *r)
{
	struct stat out_st, st;
	bool have_out = stat(r->out, &out_st) == 0;
	char why[EXPORT_WHY_MAX];
	unsigned i;

	for (i = 0; i < r->nrecs; i++) {
		struct export_source s;
		int rc = export_source_open(&s, r->recs[i], why, sizeof(why));

		if (rc != 0) {
			cli_error("export: %s: %s", r->recs[i], why);
			return CLI_EXIT_FAIL;
		}
		export_source_close(&s);
		if (have_out && stat(r->recs[i], &st) == 0 && st.st_dev == out_st.st_dev &&
		    st.st_ino == out_st.st_ino) {
			cli_error("export: %s: OUT is the recording itself", r->out);
			return CLI_EXIT_USAGE;
		}
	}
	if (have_out && !r->o.force) {
		cli_error("export: %s: exists (--force replaces it)", r->out);
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static void
export_progress(struct export_run *r, unsigned index, bool final)
{
	uint64_t now = cli_now_ns();
	double seconds = (double)(now - r->start_ns) / 1e9;
	char bytes[32], rate[32];

	if (!r->progress || (!final && now - r->last_progress_ns < EXPORT_PROGRESS_NS))
		return;
	r->last_progress_ns = now;
	ctl_format_bytes(bytes, sizeof(bytes), r->data_bytes);
	cli_format_si(rate, sizeof(rate), seconds > 0 ? (double)r->data_bytes / seconds : 0, "B/s");
	fprintf(stderr, "\r%s: export: stream %u/%u: %" PRIu64 " frames, %s, %s   ",
		cli_program(), index + 1, r->nrecs, r->frames, bytes, rate);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
	r->shown = !final;
}

/* Ends a progress line before another message. */
static void
export_progress_break(struct export_run *r)
{
	if (r->shown)
		fputc('\n', stderr);
	r->shown = false;
}

static void
export_json_stream(struct cli_json *j, const struct export_source *s, const char *path)
{
	cli_json_object(j, NULL);
	cli_json_string(j, "recording", s->path);
	cli_json_string(j, "output", path);
	cli_json_u64(j, "frames", s->frames);
	cli_json_u64(j, "bytes", s->bytes);
	cli_json_u64(j, "row_bytes", s->row_bytes);
	cli_json_u64(j, "incomplete_frames", s->incomplete);
	cli_json_u64(j, "abandoned_frames", s->abandoned);
	cli_json_u64(j, "short_frames", s->short_frames);
	cli_json_u64(j, "seq_gaps", s->seq_gaps);
	cli_json_u64(j, "discarded", s->discarded);
	if (s->frames) {
		cli_json_u64(j, "first_seq", s->first_seq);
		cli_json_u64(j, "last_seq", s->last_seq);
	} else {
		cli_json_null(j, "first_seq");
		cli_json_null(j, "last_seq");
	}
	cli_json_bool(j, "complete", s->complete);
	cli_json_bool(j, "damaged", s->damaged);
	cli_json_string(j, "end", s->stop);
	cli_json_string(j, "utc_source", s->utc.source);
	cli_json_object_end(j);
}

/* Says how a stream's export ended; CLI_EXIT_FAIL for damage. */
static int
export_report(struct export_run *r, const struct export_source *s, const char *path)
{
	export_progress_break(r);
	if (s->damaged) {
		cli_error("export: %s: damaged recording: %s; %s holds the %" PRIu64
			  " frames before it", s->path, s->stop, path, s->frames);
		return CLI_EXIT_FAIL;
	}
	if (!s->complete)
		cli_note("export: %s: recording %s; exported its %" PRIu64 " frames", s->path,
			 s->stop, s->frames);
	if (!r->json)
		printf("%s -> %s: %" PRIu64 " frames of %" PRIu64 " bytes (%" PRIu64
		       " incomplete, %" PRIu64 " abandoned, %" PRIu64 " seq gaps)\n",
		       s->path, path, s->frames, s->row_bytes, s->incomplete, s->abandoned,
		       s->seq_gaps);
	return CLI_EXIT_OK;
}

/* One stream into `w`. Returns the exit status; *fatal on a write error. */
static int
export_stream(struct export_run *r, struct export_writer *w, unsigned index,
	      struct export_source *s, struct cli_json *j, bool *fatal)
{
	char why[EXPORT_WHY_MAX] = "";
	struct export_frame f;
	int rc;

	rc = export_source_open(s, r->recs[index], why, sizeof(why));
	if (rc != 0) {
		/* Checked before OUT was made: it changed since. */
		export_progress_break(r);
		cli_error("export: %s: %s", r->recs[index], why);
		*fatal = true;
		return CLI_EXIT_FAIL;
	}
	rc = r->fmt->begin(w, index, s, why, sizeof(why));
	while (rc == 0 && !cli_stop) {
		if (export_source_next(s, &f, r->fmt->slot(w)) != 1)
			break;
		rc = r->fmt->frame(w, &f, why, sizeof(why));
		r->frames++;
		r->data_bytes += s->row_bytes;
		export_progress(r, index, false);
	}
	if (s->frames == 0)
		export_stream_utc_start(s, NULL, &s->utc);
	if (rc == 0 && cli_stop) {
		s->complete = false; /* not exported whole */
		snprintf(s->stop, sizeof(s->stop), "interrupted by %s", cli_signal_name(cli_stop));
	}
	if (rc == 0)
		rc = r->fmt->end(w, s, why, sizeof(why));
	if (rc != 0) {
		export_progress_break(r);
		cli_error("export: %s: %s", r->fmt->path(w, index), why[0] ? why : strerror(-rc));
		*fatal = true;
		return CLI_EXIT_FAIL;
	}
	if (r->json)
		export_json_stream(j, s, r->fmt->path(w, index));
	if (cli_stop) {
		export_progress_break(r);
		cli_note("export: %s: interrupted by %s: %s holds its first %" PRIu64 " frames",
			 s->path, cli_signal_name(cli_stop), r->fmt->path(w, index), s->frames);
		*fatal = true;
		return CLI_EXIT_OK;
	}
	return export_report(r, s, r->fmt->path(w, index));
}

int
ctl_export(int argc, char **argv)
{
	char why[EXPORT_WHY_MAX] = "";
	struct export_writer *w;
	struct export_run r;
	struct cli_json j;
	bool fatal = false;
	int status, rc;
	unsigned i;

	if ((status = export_parse(&r, argc, argv)) >= 0)
		return status;
	if ((status = export_check_inputs(&r)) != 0)
		return status;
	if (cli_signals_start() != 0)
		return CLI_EXIT_FAIL;
	rc = r.fmt->open(&w, r.out, r.nrecs, &r.o, why, sizeof(why));
	if (rc != 0) {
		cli_error("export: %s: %s", r.out, why[0] ? why : strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	r.start_ns = cli_now_ns();
	if (r.json) {
		cli_json_begin(&j, stdout);
		cli_json_string(&j, "format", r.fmt->name);
		cli_json_string(&j, "output", r.out);
		cli_json_array(&j, "streams");
	}
	for (i = 0; i < r.nrecs && !fatal; i++) {
		struct export_source s;

		rc = export_stream(&r, w, i, &s, &j, &fatal);
		export_source_close(&s);
		if (rc > status)
			status = rc;
	}
	rc = r.fmt->close(w, why, sizeof(why));
	if (rc != 0) {
		cli_error("export: %s: %s", r.out, why);
		status = CLI_EXIT_FAIL;
	}
	if (status == CLI_EXIT_OK && !cli_stop)
		export_progress(&r, r.nrecs - 1, true);
	export_progress_break(&r);
	if (r.json) {
		cli_json_array_end(&j);
		cli_json_totals(&j, r.frames, r.data_bytes,
				(double)(cli_now_ns() - r.start_ns) / 1e9);
		cli_json_end(&j);
	}
	return status;
}
