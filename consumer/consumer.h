/*
 * rb-consumer's internal interfaces: options (options.c), what it learns
 * about the stream (stream.c), and the analyses (verify.c, stats.c,
 * null.c, stdout_sink.c, record.c) that main.c feeds with frames.
 */
#ifndef RB_CONSUMER_H
#define RB_CONSUMER_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"

/* ---- options (options.c) --------------------------------------------- */

struct consumer_options {
	const char *ring;
	const char *analysis;
	const char *label;
	const char *group;       /* --group: a work-sharing group, NULL: none */
	bool lossy;
	enum rb_start start;
	uint32_t batch;
	uint64_t wait_ring_ns;   /* 0: fail at once if the ring is missing */
	uint64_t count;          /* 0: no limit */
	uint64_t duration_ns;    /* 0: no limit */
	uint64_t delay_ns;       /* debug: sleep this long per frame */
	bool per_frame;          /* stats: one line per frame on stdout */
	uint64_t streams;        /* stop after this many streams; 0: never */
	bool json;
	/* record */
	const char *output;      /* --output FILE */
	uint64_t max_file_size;  /* 0: one file, else FILE.000, FILE.001, ... */
	bool fsync;              /* fsync each file before closing it */
	bool buffered;           /* no O_DIRECT */
	uint32_t queue_depth;    /* writes in flight; 0: the default */
	/* record --format hdf5 (issue 16): the analysis record-hdf5 */
	bool hdf5;
};

/* -1 to go on, or the exit status to end with (0 after --help). */
int consumer_parse_options(int argc, char **argv, struct consumer_options *o);

/* ---- the stream (stream.c) ------------------------------------------- */

#define STREAM_HEADER_MAX 16384
/* Streams listed in the JSON summary (--streams N reads several). */
#define STREAM_SEEN_MAX 16

/* A stream met: which, where its first frame for us was, its header. */
struct stream_seen {
	uint64_t ordinal;
	uint64_t start_seq;
	uint64_t first_seq;  /* the first of its frames we got */
	bool gone;           /* its header was overwritten before we read it */
	char *header;        /* NULL when gone or out of memory */
};

struct stream_info {
	bool seen;                 /* a frame of this stream arrived */
	bool gone;                 /* its header was overwritten before we read it */
	uint64_t ordinal;          /* the stream's ordinal (FORMAT.md §5.13) */
	uint64_t start_seq;
	uint64_t loads;            /* streams met (headers looked up) */
	uint64_t headers_gone;     /* of those, headers overwritten unread */
	struct stream_seen seen_list[STREAM_SEEN_MAX];
	uint32_t nseen;
	char header[STREAM_HEADER_MAX]; /* key=value text, "" if none */
	char source[32];           /* the header's source=, "" if none */
	struct rb_frame_type type; /* what a frame holds (never RB_ELEM_NONE) */
	const char *type_from;     /* "ring", "header" or "bytes" */
	uint32_t channels;         /* adc streams: dims[1]; otherwise 1 */
};

/*
 * Reads the stream header and works out the frame layout: the ring's frame
 * type when it has one, else the header's elem= and shape=, else bytes.
 */
void stream_load(struct stream_info *s, struct rb_consumer *c, struct rb_ring *ring,
		 const struct rb_frame *frame);
/* Whether `frame` belongs to another stream than the one loaded. */
bool stream_changed(const struct stream_info *s, struct rb_ring *ring,
		    const struct rb_frame *frame);
/* Writes the header keys as a JSON object member named "header", and the
 * streams met as "streams_seen". */
void stream_json(const struct stream_info *s, struct cli_json *j);
void stream_free(struct stream_info *s);
/* The header on one line, "key=value key=value". */
void stream_oneline(const struct stream_info *s, char *buf, size_t size);

/* ---- analyses -------------------------------------------------------- */

/*
 * A frame its producer died holding (RB_FRAME_ABANDONED): an empty
 * placeholder for its sequence number, never data. main.c counts them;
 * analyses hand them back like the others but look at nothing in them.
 */
static inline bool
frame_abandoned(const struct rb_frame *f)
{
	return (f->flags & RB_FRAME_ABANDONED) != 0;
}

/*
 * An analysis looks at frames in place between acquire and release; main.c
 * owns the consumer handle and releases the frames after `frames` returns.
 * A lossy consumer's frames may be overwritten while the analysis reads
 * them: an analysis that draws a conclusion from the bytes confirms with
 * rb_consumer_check() first (an overrun frame is counted lost on release).
 *
 * An analysis that `keeps_frames` (record: until their writes complete)
 * releases them itself, in order, and main.c never does. While it holds
 * frames (`busy`), main.c does not sleep in the ring: it polls for new
 * frames and otherwise waits in `progress`, which completes what it can
 * and releases; `finish` completes everything at the end of the run,
 * whatever ended it.
 */
struct analysis {
	const char *name;
	size_t state_size;
	bool owns_stdout; /* writes data there: summaries go to stderr */
	bool keeps_frames;
	/* Before the ring is opened; returns 0 or an exit status. */
	int (*init)(void *state, const struct consumer_options *o);
	/* The ring is open (before the consumer attaches); 0 or an exit status. */
	int (*ring)(void *state, struct rb_ring *ring);
	/* A new stream's header has been read (before its first frame). */
	void (*stream)(void *state, const struct stream_info *s);
	/* Returns 0 to go on, 1 to stop cleanly, or an exit status (>1)
	 * after printing why. */
	int (*frames)(void *state, struct rb_consumer *c,
		      const struct rb_frame *frames, uint32_t n);
	/* Optional: after the batch handed to `frames` was released. lost
	 * (lossy consumers; NULL when lossless) says per frame whether the
	 * library counted it lost at release, overwritten after `frames`
	 * looked at it: an analysis that reports per frame reports only
	 * the others. Not with keeps_frames. Returns as `frames` does; the
	 * frames' data must not be read any more. */
	int (*released)(void *state, const struct rb_frame *frames, uint32_t n,
			const bool *lost);
	/* keeps_frames only: see above. progress and finish return 0 or an
	 * exit status (after printing why). */
	bool (*busy)(void *state);
	int (*progress)(void *state, struct rb_consumer *c, bool wait);
	/* held_released: the library took the held frames back already (an
	 * end marker consumed while they were held); do not release them. */
	int (*finish)(void *state, struct rb_consumer *c, bool held_released);
	/* Human summary lines (after the common one) and JSON members. */
	void (*summary)(void *state, FILE *out);
	void (*json)(void *state, struct cli_json *j);
	/* Counters every summary has; zero where they do not apply. */
	uint64_t (*gaps)(void *state);
	uint64_t (*errors)(void *state);
	/* Exit status once the run ended well: CLI_EXIT_OK or VERIFY. */
	int (*verdict)(void *state, bool lossy);
	void (*fini)(void *state);
};

extern const struct analysis analysis_verify;
extern const struct analysis analysis_stats;
extern const struct analysis analysis_null;
extern const struct analysis analysis_stdout;
extern const struct analysis analysis_record;
/* record --format hdf5 (issue 16): record_hdf5.c */
extern const struct analysis analysis_record_hdf5;

/* By name; NULL if there is no such analysis. */
const struct analysis *analysis_find(const char *name);

#endif /* RB_CONSUMER_H */
