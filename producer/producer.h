/*
 * rb-producer's internal interfaces: the frame sources (sources.c; the
 * I/O sources in source_file.c, source_udp.c), the UDP sender
 * (udp_send.c), rate pacing (pacing.c) and the options (options.c) that
 * main.c ties together.
 */
#ifndef RB_PRODUCER_H
#define RB_PRODUCER_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* ---- sources (sources.c) --------------------------------------------- */

enum source_kind {
	SOURCE_COUNTER,
	SOURCE_ADC,
	SOURCE_CAMERA,
	SOURCE_FILE,     /* replays a recording (source_file.c) */
	SOURCE_UDP,      /* captures UDP sensor packets (source_udp.c) */
	SOURCE_UDP_SEND, /* sends them: no ring (udp_send.c) */
};

/* Fixed properties of the simulated ADC, stated in the stream header. */
#define ADC_AMPLITUDE 10000 /* peak of each channel's sine, in counts */
#define ADC_NOISE 100       /* uniform noise in [-ADC_NOISE, +ADC_NOISE] */
#define ADC_MAX_CHANNELS 256

struct source_params {
	uint64_t frame_bytes; /* counter: bytes per frame */
	uint64_t channels;    /* adc */
	uint64_t samples;     /* adc: samples per channel per frame */
	double sample_rate;   /* adc, Hz */
	uint64_t width;       /* camera */
	uint64_t height;      /* camera */
	bool frame_size_set;  /* --frame-size given */
	/* file */
	const char *input;
	bool loop;
	bool restamp;
	bool check;
	bool rate_recorded;   /* --rate recorded */
	uint32_t queue_depth; /* file: reads in flight; 0: default */
	/* udp, udp-send */
	const char *listen;
	const char *target;
	uint64_t packet_bytes; /* payload per packet */
	uint64_t drop_every;   /* udp-send: skip every Nth packet; 0: none */
	uint64_t reorder_every; /* udp-send: send every Nth packet after the next */
	uint64_t frame_timeout_ns; /* udp: publish a frame incomplete after this idle */
};

struct source {
	enum source_kind kind;
	const char *name;
	struct source_params p;
	uint64_t frame_bytes;      /* bytes of one frame */
	struct rb_frame_type type; /* what the frame holds */
	int16_t *sine;             /* adc: one period of the sine, see sources.c */
	uint32_t align;            /* slot alignment it wants; 0: no preference */
	bool has_initial_seq;      /* file: the ring starts at the recorded seq */
	uint64_t initial_seq;
	bool tagged;               /* counter: frames carry COUNTER_TAG_BYTES of tag */
	uint64_t tag_id;           /* counter, tagged: this producer's id (its pid) */
	void *io;                  /* file, udp: their state */
};

/*
 * Sets up source `name` ("counter", "adc", "camera") for the parameters.
 * Prints what is wrong and returns CLI_EXIT_USAGE on bad ones, else 0.
 */
int source_init(struct source *s, const char *name, const struct source_params *p);
void source_fini(struct source *s);
/* The source-specific stream header lines ("channels=4\n..."). */
void source_header(const struct source *s, char *buf, size_t size);
/*
 * Writes frame number `index` (0 for the first frame of the run, counting
 * frames dropped on a full ring too) with ring sequence number `seq`.
 * `number` is how many frames this producer committed before this one: a
 * tagged counter frame carries it (dropped frames must leave no hole in a
 * producer's numbers, or verify could not tell a drop from a loss).
 */
void source_fill(const struct source *s, void *data, uint64_t seq, uint64_t index,
		 uint64_t number);

/* Tagged counter frames (several producers): CLI_TAG_BYTES, tools/cli/cli.h. */
#define COUNTER_TAG_BYTES CLI_TAG_BYTES

/* ---- I/O sources (source_file.c, source_udp.c, udp_send.c) ----------- */

struct producer_run;

/* file: opens the recording; its frame type, size, header and first seq. */
int file_source_init(struct source *s);
void file_source_fini(struct source *s);
/* The recording's stream header text, replayed verbatim. */
const char *file_source_header(const struct source *s);
/* Pins the recording's UTC anchor in r's ring (before the stream begins)
 * when the replay keeps the recorded time stamps; 0 or an error code. */
int file_source_pin_clock(struct producer_run *r);
/* --check: reads the whole recording, prints what it found; exit status. */
int file_check(struct source *s, bool json);
/* Replays into r's ring until the end, --count, --duration or a signal. */
int file_stream(struct producer_run *r);

/* udp: binds the socket (so the port is known before the ring exists). */
int udp_source_init(struct source *s);
void udp_source_fini(struct source *s);
/* "listen=ADDR:PORT\npacket_bytes=N\n" for the stream header. */
void udp_source_header(const struct source *s, char *buf, size_t size);
int udp_stream(struct producer_run *r);

/* udp-send: sends --count frames (or until --duration) to --target. */
int udp_send_run(const struct source_params *p, const struct cli_rate *rate,
		 uint64_t count, uint64_t duration_ns, bool json);
/* Parses "127.0.0.1:9000" (port 0: any, when listening). 0 or -EINVAL. */
int udp_parse_address(const char *text, struct sockaddr_in *out);

/* Source-specific summary lines and JSON members (none for simulators). */
void source_summary(const struct source *s, FILE *out);
void source_json(const struct source *s, struct cli_json *j);
void file_source_summary(const struct source *s, FILE *out);
void file_source_json(const struct source *s, struct cli_json *j);
void udp_source_summary(const struct source *s, FILE *out);
void udp_source_json(const struct source *s, struct cli_json *j);

/* ---- pacing (pacing.c) ----------------------------------------------- */

struct pacer {
	bool enabled;
	uint64_t start_ns;
	long double period_ns;
};

/* frames_per_second 0: unpaced. Frame n is due at start + n / rate. */
void pacer_init(struct pacer *p, double frames_per_second, uint64_t start_ns);
/* The absolute monotonic time frame n is due. */
uint64_t pacer_deadline(const struct pacer *p, uint64_t n);
/* How many frames were due by time t (0 when unpaced). */
uint64_t pacer_due_by(const struct pacer *p, uint64_t t);

/* ---- options (options.c) --------------------------------------------- */

struct producer_options {
	const char *ring;
	const char *source;
	struct source_params params;
	bool frame_size_set;
	uint64_t slots;
	uint64_t align;
	uint64_t consumers;
	uint32_t create_flags; /* RB_CREATE_* */
	const char *create_option; /* first ring-creation option given */
	bool attach;
	uint64_t wait_ring_ns;  /* --attach: wait this long for the ring */
	bool wait_ring_set;
	uint64_t max_producers; /* 0: the library's default (1) */
	uint64_t max_groups;    /* 0: the library's default (8), or none with
				 * RB_CREATE_NO_GROUPS in create_flags */
	bool keep;
	bool json;
	bool drop; /* --on-full drop */
	struct cli_rate rate;
	bool rate_set;        /* --rate given (adc: it overrides the sample rate) */
	bool sample_rate_set;
	uint64_t count;       /* 0: no limit */
	uint64_t duration_ns; /* 0: no limit */
	uint64_t wait_consumers;
	uint64_t hold_ns;     /* test hook: between acquire and commit */
	uint64_t stall_timeout_ns; /* --stall-timeout; 0: off */
};

/* ---- a run (main.c) ---------------------------------------------------- */

struct producer_run {
	const struct producer_options *o;
	const struct source *src;
	struct rb_ring *ring;
	struct rb_producer *prod;
	bool created;
	uint32_t max_producers; /* the ring's */
	uint64_t frame_bytes;  /* bytes written per frame */
	uint32_t slots;
	double frames_per_second; /* pacing target, 0 when unpaced */
	/* Counters for the summary. */
	uint64_t index;   /* source frames so far: committed + dropped */
	uint64_t frames;
	uint64_t bytes;
	uint64_t dropped;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t lag_ns;  /* how far behind its schedule the last frame was */
	/* Paced runs: frames due by the end that were not made, and what
	 * that is in time at the rate asked (producer_behind). */
	uint64_t behind_frames;
	double behind_seconds;
	const char *end;  /* why the run stopped */
	/* The live status line. */
	struct cli_status status;
	uint64_t shown_frames;
	uint64_t shown_ns;
	uint64_t clock_due;    /* when the ring's clock anchor is next refreshed */
	struct rb_consumer_status *consumers;
};

/* How long one blocking wait lasts before signals and the clock are looked
 * at again: short enough that Ctrl-C feels immediate. */
#define PRODUCER_WAIT_SLICE_NS 100000000ull

/* Sets r->behind_frames/behind_seconds at time now: the frames due by
 * now (no more than --count) that the source has not made yet. */
void producer_behind(struct producer_run *r, const struct pacer *pacer, uint64_t now);
/* Refreshes the status line (when cli_status_due said so). */
void producer_show(struct producer_run *r, uint64_t now);
/*
 * Reserves the next slot, waiting at most one slice (or not at all with
 * `nowait` or --on-full drop). 0 with a frame; 1 when none came (in drop
 * mode the frame is then counted dropped); PRODUCER_ACQUIRE_FAILED after
 * printing why (the run ends with CLI_EXIT_FAIL: not 1, which callers take
 * as "go round again").
 */
#define PRODUCER_ACQUIRE_FAILED 2
int producer_acquire(struct producer_run *r, struct rb_frame *f, uint64_t stop_at,
		     bool nowait);
/* True when --count, --duration or a signal says stop; sets r->end. */
bool producer_should_stop(struct producer_run *r, uint64_t stop_at);

/*
 * Fills `o` from the command line. Returns -1 to go on, or the exit status
 * to end with (0 after --help or --version).
 */
int producer_parse_options(int argc, char **argv, struct producer_options *o);

#endif /* RB_PRODUCER_H */
