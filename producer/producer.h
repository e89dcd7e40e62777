/*
 * rb-producer's internal interfaces: the frame sources (sources.c), rate
 * pacing (pacing.c) and the options (options.c) that main.c ties together.
 */
#ifndef RB_PRODUCER_H
#define RB_PRODUCER_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* ---- sources (sources.c) --------------------------------------------- */

enum source_kind {
	SOURCE_COUNTER,
	SOURCE_ADC,
	SOURCE_CAMERA,
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
};

struct source {
	enum source_kind kind;
	const char *name;
	struct source_params p;
	uint64_t frame_bytes;      /* bytes of one frame */
	struct rb_frame_type type; /* what the frame holds */
	int16_t *sine;             /* adc: one period of the sine, see sources.c */
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
 */
void source_fill(const struct source *s, void *data, uint64_t seq, uint64_t index);

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
	bool keep;
	bool json;
	bool drop; /* --on-full drop */
	struct cli_rate rate;
	uint64_t count;       /* 0: no limit */
	uint64_t duration_ns; /* 0: no limit */
	uint64_t wait_consumers;
};

/*
 * Fills `o` from the command line. Returns -1 to go on, or the exit status
 * to end with (0 after --help or --version).
 */
int producer_parse_options(int argc, char **argv, struct producer_options *o);

#endif /* RB_PRODUCER_H */
