/*
 * Helpers shared by the ringbuf programs (rb-producer, rb-consumer):
 * messages, the command line, units, clocks, signals, the live status line,
 * JSON, summaries, stream header text and the counter test pattern. One
 * concept per .c file; this header declares them all, grouped by file.
 *
 * Like the library, nothing here exits: functions return 0 or -errno and
 * the programs decide what to say and with which exit status.
 */
#ifndef RB_CLI_H
#define RB_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ringbuf/ringbuf.h>

/* Exit statuses shared by the programs (documented in their --help). */
#define CLI_EXIT_OK 0     /* done, or stopped by SIGINT/SIGTERM */
#define CLI_EXIT_FAIL 1   /* a runtime error: ring, I/O, producer died */
#define CLI_EXIT_USAGE 2  /* bad options, operands or units */
#define CLI_EXIT_VERIFY 3 /* rb-consumer verify found gaps or bad bytes */

#define CLI_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* ---- messages (msg.c) ------------------------------------------------ */

/* The name every message starts with ("rb-producer"). */
void cli_set_program(const char *name);
const char *cli_program(void);
/* One line on stderr: "<program>: <message>". */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
/* One line on stderr: "<program>: note: <message>". */
void cli_note(const char *fmt, ...) CLI_PRINTF(1, 2);
/* "PROGRAM: warning: ...": something works but should change (a
 * deprecated option). */
void cli_warning(const char *fmt, ...) CLI_PRINTF(1, 2);
/*
 * Reports an option value that did not parse: "--rate: '10parsecs': not a
 * rate (e.g. 10kHz, 5000fps, 2GB/s)". rc is what the parser returned.
 * Returns CLI_EXIT_USAGE so that callers can `return cli_bad_value(...)`.
 */
int cli_bad_value(const char *option, const char *text, int rc,
		  const char *expected);

/* Reports a RING operand rb_ring_name_check refused. Returns CLI_EXIT_USAGE. */
int cli_bad_ring_name(const char *name);
/*
 * Reports what getopt_long rejected (c is the '?' or ':' it returned; the
 * programs set opterr = 0 and start optstring with ':' so that getopt's
 * own messages, which begin with the full argv[0], stay silent).
 * Returns CLI_EXIT_USAGE.
 */
int cli_option_error(int c, char **argv);

/* ---- command line (options.c) ---------------------------------------- */

struct option;

/* Room for an option's name as the user spelled it ("--max-file-size"). */
#define CLI_OPTION_NAME_MAX 32

/*
 * getopt_long with the programs' conventions: optstring starts with ':'
 * and getopt prints nothing (its messages start with the full argv[0]);
 * `name` receives the option as the user spelled it ("--rate" or "-r"),
 * for messages about its value. Returns the option, -1 after the last
 * one, or '?' once an unknown option or a missing value has been
 * reported (cli_option_error): then exit with CLI_EXIT_USAGE.
 */
int cli_getopt(int argc, char **argv, const char *optstring,
	       const struct option *longopts, char name[CLI_OPTION_NAME_MAX]);

/*
 * The values of options both programs take, parsed and checked the same
 * way. Each sets *out and returns 0, or reports the value (cli_bad_value,
 * naming `name`) and returns CLI_EXIT_USAGE, leaving *out alone.
 */
/* --count: a frame count, 1 or more. */
int cli_option_count(const char *name, const char *text, uint64_t *out);
/* --duration: a duration longer than 0. */
int cli_option_duration(const char *name, const char *text, uint64_t *out_ns);
/* --queue-depth: I/O requests in flight, 1 to 4096. */
int cli_option_queue_depth(const char *name, const char *text, uint32_t *out);
/* --start: oldest, newest or next (rb-consumer, rb-bridge send). */
int cli_parse_start(const char *name, const char *text, enum rb_start *out);
/* --group: a group name (rb_ring_name_check's rules, at most
 * RB_GROUP_NAME_MAX bytes). */
bool cli_group_name_valid(const char *text);
/* --group, checked with cli_group_name_valid and reported; *out = text. */
int cli_option_group(const char *name, const char *text, const char **out);

/*
 * Takes the RING operand, argv[optind], and moves optind past it. Reports
 * a missing operand or a name rb_ring_name_check refuses. Returns 0 or
 * CLI_EXIT_USAGE.
 */
int cli_ring_operand(int argc, char **argv, const char **ring);

/* --version: "<program> (ringbuf) <version>" on stdout. Returns CLI_EXIT_OK. */
int cli_print_version(void);

/* ---- units (units.c) ------------------------------------------------- */

/*
 * All parsers accept a decimal number (fraction and exponent allowed where
 * the result makes sense) followed by a unit, no space. They return 0,
 * -EINVAL when the text is not of that kind (or not a whole number where
 * one is needed), or -ERANGE when it is too large.
 */

/* Bytes: 64, 4KiB, 1MiB (2^20), 1MB (10^6), 1.5GiB; B optional: 4Ki, 4k. */
int cli_parse_size(const char *text, uint64_t *out);
/* A count: 1000000, 1e6, 10k, 2M (SI prefixes, whole numbers only). */
int cli_parse_count(const char *text, uint64_t *out);
/* A duration in ns: 500ms, 30s, 2m, 1h, 100us, 250ns; a plain number is s. */
int cli_parse_duration(const char *text, uint64_t *out_ns);
/* A frequency in Hz: 1MHz, 48kHz, 1000, 1M. */
int cli_parse_frequency(const char *text, double *out_hz);

enum cli_rate_unit {
	CLI_RATE_UNLIMITED = 0, /* "max": as fast as possible */
	CLI_RATE_FRAMES,        /* frames per second */
	CLI_RATE_BYTES,         /* bytes per second */
};

struct cli_rate {
	enum cli_rate_unit unit;
	double per_second;
};

/* Frames/s: 10kHz, 5000fps, 5000, 5000/s; bytes/s: 2GB/s, 500MiB/s; max. */
int cli_parse_rate(const char *text, struct cli_rate *out);

/* "1.23 M" + unit, scaled by powers of 1000; returns buf. */
char *cli_format_si(char *buf, size_t size, double value, const char *unit);

/* ---- clocks (clock.c) ------------------------------------------------ */

/* CLOCK_MONOTONIC in ns: the clock frame time stamps and deadlines use. */
uint64_t cli_now_ns(void);
/* Sleeps until the monotonic deadline; -EINTR when a signal came first. */
int cli_sleep_until(uint64_t deadline_ns);
/* Sleeps for ns (interruptible, like cli_sleep_until). */
int cli_sleep_for(uint64_t ns);
/* Current UTC time as ISO 8601 with milliseconds: 2024-05-01T12:00:00.123Z. */
void cli_utc_iso8601(char *buf, size_t size);

/* ---- signals (signals.c) --------------------------------------------- */

/*
 * The number of the first SIGINT/SIGTERM received, 0 until then. The
 * library's rb_consumer_options.cancel takes a `const volatile int *`, and
 * sig_atomic_t is int on every target we build for (checked in signals.c),
 * so &cli_stop can be handed to it directly.
 */
extern volatile sig_atomic_t cli_stop;

/*
 * Installs the SIGINT/SIGTERM handler that sets cli_stop, without
 * SA_RESTART so that blocking calls return EINTR at once, and with
 * SA_RESETHAND so that a second Ctrl-C kills a program stuck in shutdown.
 * Also ignores SIGPIPE: a closed output is reported as EPIPE instead.
 */
int cli_signals_install(void);
/* cli_signals_install, saying so if it fails: returns 0 or CLI_EXIT_FAIL. */
int cli_signals_start(void);
/* "SIGINT", "SIGTERM", or "signal N". */
const char *cli_signal_name(int sig);

/* ---- truncated rings (sigbus.c) ------------------------------------- */

/* 1 once a SIGBUS on a ring mapping was turned into zero pages. */
extern volatile sig_atomic_t cli_truncated;
/*
 * Installs the SIGBUS handler that survives a ring truncated under us
 * (rb_ring_handle_sigbus): the ring is marked truncated and cli_stop is
 * set to SIGBUS so that waits end. cli_signals_install calls it.
 */
int cli_sigbus_install(void);
/*
 * True when `ring` was truncated under us; says so once ("ring 'NAME':
 * ring truncated under us ..."). Programs ask it before reporting any
 * other error on the ring and when their loop ends, then set the end
 * reason "truncated" and exit with CLI_EXIT_FAIL.
 */
bool cli_ring_lost(struct rb_ring *ring, const char *name);

/* ---- trusted ring owners (trust.c) ------------------------------------ */

/*
 * --trust-owner USER|UID: adds a ring owner to trust (a user name, or a
 * number). Returns 0, or CLI_EXIT_USAGE after reporting a bad value.
 */
int cli_trust_owner(const char *name, const char *text);
/* rb_ring_open_params trusting the owners given with --trust-owner. */
int cli_ring_open(const char *ring, struct rb_ring **out);
/* rb_strerror, except that RB_E_UNTRUSTED names the owner and the option. */
const char *cli_ring_error(const char *ring, int rc);

/* ---- status line (status.c) ------------------------------------------ */

struct cli_status {
	FILE *out;
	bool enabled;
	bool shown;       /* a line is on screen and must be cleared */
	uint64_t next_ns; /* when the next refresh is due */
};

/*
 * Enabled when `out` is a terminal. The environment variable RB_STATUS
 * overrides: "always" or "never" (for tests and for logging to files).
 */
void cli_status_init(struct cli_status *s, FILE *out);
/* True about twice a second while enabled: time to call print. */
bool cli_status_due(struct cli_status *s, uint64_t now_ns);
/* Rewrites the line in place ("\r...\033[K"). */
void cli_status_print(struct cli_status *s, const char *fmt, ...) CLI_PRINTF(2, 3);
/* Erases the line, so the summary starts on a clean one. */
void cli_status_clear(struct cli_status *s);

/* ---- JSON (json.c) --------------------------------------------------- */

#define CLI_JSON_MAX_DEPTH 16

/*
 * Builds one JSON object (with jansson) and writes it on one line to a
 * stream at cli_json_end. `key` is the member name inside objects and must
 * be NULL inside arrays. Strings are escaped, so the object never spans
 * lines; non-finite doubles are null.
 */
struct json_t;
struct cli_json {
	FILE *out;
	int depth;
	int skipped; /* containers opened past CLI_JSON_MAX_DEPTH */
	struct json_t *stack[CLI_JSON_MAX_DEPTH];
};

void cli_json_begin(struct cli_json *j, FILE *out);
/* Closes the top-level object, ends the line and flushes. */
void cli_json_end(struct cli_json *j);
void cli_json_object(struct cli_json *j, const char *key);
void cli_json_object_end(struct cli_json *j);
void cli_json_array(struct cli_json *j, const char *key);
void cli_json_array_end(struct cli_json *j);
void cli_json_u64(struct cli_json *j, const char *key, uint64_t v);
void cli_json_i64(struct cli_json *j, const char *key, int64_t v);
void cli_json_double(struct cli_json *j, const char *key, double v);
void cli_json_string(struct cli_json *j, const char *key, const char *v);
void cli_json_bool(struct cli_json *j, const char *key, bool v);
void cli_json_null(struct cli_json *j, const char *key);

/* ---- summaries (summary.c) ------------------------------------------- */

/*
 * Why a run ended ("count", "duration", "signal", or a program's own
 * reason) in words, for the one-line summary; a reason it does not know
 * comes back as it is.
 */
const char *cli_end_text(const char *end);
/* Room for cli_summary_head's text with a ring name of RB_NAME_MAX. */
#define CLI_SUMMARY_HEAD_MAX 640
/*
 * The start of a one-line summary: "<program>: ring <ring>: <what>: N
 * frames, <bytes> in <seconds> s (<frames/s>, <bytes/s>)". The caller adds
 * its own figures and ends the line.
 */
void cli_summary_head(char *buf, size_t size, const char *ring, const char *what,
		      uint64_t frames, uint64_t bytes, double seconds);
/* JSON members frames, bytes, seconds, frames_per_second, bytes_per_second. */
void cli_json_totals(struct cli_json *j, uint64_t frames, uint64_t bytes, double seconds);
/* JSON members end and, after SIGINT/SIGTERM, signal. */
void cli_json_end_reason(struct cli_json *j, const char *end);

/* ---- stream header (header.c) ---------------------------------------- */

/*
 * The stream header is key=value lines (see rb-producer). Copies the value
 * of `key` into `value` (truncated to size - 1); false if absent.
 */
bool cli_header_get(const char *text, const char *key, char *value, size_t size);
/* "1024x4" -> dims {1024, 4}, ndim 2. -EINVAL if malformed. */
int cli_parse_shape(const char *text, uint64_t dims[RB_MAX_DIMS], uint32_t *ndim);
/* The inverse: "1024x4". */
void cli_format_shape(char *buf, size_t size, const uint64_t *dims, uint32_t ndim);

/* ---- counter pattern (pattern.c) ------------------------------------- */

/*
 * The bytes of a `counter` frame, a function of its sequence number only:
 *
 *     byte i of frame seq = byte (i % 8) of the little-endian 64-bit word
 *                           seq * 0x9E3779B97F4A7C15 + i / 8
 *
 * The odd multiplier (2^64 / golden ratio) makes neighbouring frames
 * differ in every word, so a frame delivered under the wrong sequence
 * number, a stale slot or a torn write are all caught, and the per-word
 * "+ i / 8" makes a shifted or repeated word inside a frame fail too.
 * Same function as fill_pattern() in tests/test_support.cpp.
 */
void cli_counter_fill(void *data, uint64_t length, uint64_t seq);
/* Offset of the first byte that differs, or `length` if all match. */
uint64_t cli_counter_check(const void *data, uint64_t length, uint64_t seq);

/*
 * The tagged counter frame, written when the ring takes several producers
 * (their frames interleave, and each producer's must still be checkable):
 *
 *     bytes 0..7    the producer's id (its pid), little-endian
 *     bytes 8..15   the producer's frame number: 0, 1, 2, ... over the
 *                   frames it committed
 *     bytes 16..    cli_counter_fill(data + 16, length - 16, seq)
 *
 * The stream header says `counter_layout=tagged`. rb-consumer verify reads
 * it back: the bytes after the tag bind the frame to its sequence number
 * as in a plain counter frame, and the tag lets it check each producer's
 * frames for order and, when lossless, completeness.
 */
#define CLI_TAG_BYTES 16u
void cli_tagged_fill(void *data, uint64_t length, uint64_t seq, uint64_t id,
		     uint64_t number);
/* Like cli_counter_check over the whole frame (0 when it has no room for
 * a tag); the tag is read into *id and *number. */
uint64_t cli_tagged_check(const void *data, uint64_t length, uint64_t seq,
			  uint64_t *id, uint64_t *number);

#endif /* RB_CLI_H */
