/*
 * rb-ctl: inspect and manage the rings on this machine.
 *
 * One command per file (list.c, info.c, top.c, stat.c, create.c, remove.c,
 * clean.c, evict.c); what several commands share is here: the snapshot of a ring's
 * counters (snapshot.c), the list of ring names (rings.c), text formatting
 * (format.c) and the JSON pieces (json.c). Messages, units, JSON writing,
 * clocks and signals come from tools/cli.
 *
 * rb-ctl only reads a ring's shared memory through the library's monitor
 * calls (rb_ring_get_status, rb_ring_producers, rb_ring_groups,
 * rb_ring_consumers, rb_ring_stream_header); the only writes it makes are
 * rb_ring_evict_dead (clean), rb_ring_demote (evict, clean) and creating or
 * removing whole rings.
 */
#ifndef RB_CTL_H
#define RB_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <ringbuf/ringbuf.h>

#include "cli.h"

/* ---- commands: each gets argv[0] = its own name ---------------------- */

int ctl_list(int argc, char **argv);
int ctl_info(int argc, char **argv);
int ctl_top(int argc, char **argv);
int ctl_stat(int argc, char **argv);
int ctl_create(int argc, char **argv);
int ctl_remove(int argc, char **argv);
int ctl_clean(int argc, char **argv);
/* serve/serve.c */
int ctl_serve(int argc, char **argv);

/*
 * What rb-ctl serve (tools/ctl/serve) answers with, written to `out`:
 * the object `list --json` prints, the one `info --json NAME` prints (the
 * rb_* code, nothing written, when NAME does not open), and the
 * `stat --prometheus` exposition of every ring (`pids`: producer samples
 * carry a pid label too). 0 or -errno.
 */
int ctl_list_json(FILE *out);
int ctl_info_json(FILE *out, const char *name);
int ctl_stat_prometheus(FILE *out, bool pids);
int ctl_evict(int argc, char **argv);

/*
 * Shared getopt_long loop ending: prints usage for -h, reports what getopt
 * rejected. Commands call getopt_long themselves and hand the unusual
 * returns here. Returns -1 to go on, else the exit status.
 */
int ctl_getopt_other(int c, char **argv, const char *usage);
/* Resets getopt for a command's own argv (argv[0] = the command). */
void ctl_getopt_reset(void);
/* "rb-ctl: CMD: needs a ring name (see rb-ctl CMD --help)"; CLI_EXIT_USAGE. */
int ctl_usage_error(const char *command, const char *what);

/* ---- snapshot.c: one consistent look at a ring ----------------------- */

struct ctl_snapshot {
	struct rb_ring_status status;
	uint64_t taken_ns;  /* CLOCK_MONOTONIC, for rates */
	uint32_t max_producers; /* 1: a single-producer ring */
	uint32_t nproducers;/* entries in producers[] */
	uint32_t producers_dead; /* of those, how many are dead */
	uint32_t ngroups;   /* entries in groups[] */
	uint32_t nconsumers;/* entries in consumers[] */
	uint32_t dead;      /* of those, how many are dead */
	struct rb_producer_status producers[RB_MAX_PRODUCERS];
	struct rb_group_status groups[RB_MAX_GROUPS];
	struct rb_consumer_status consumers[RB_MAX_CONSUMERS];
};

int ctl_snapshot_take(struct rb_ring *ring, struct ctl_snapshot *s);
/*
 * write_seq - read_seq, 0 if the consumer is somehow ahead. A group
 * member's read_seq is its oldest held frame (UINT64_MAX when it holds
 * none), so its lag is the age of what it holds, 0 when it holds nothing.
 */
uint64_t ctl_consumer_lag(const struct ctl_snapshot *s,
			  const struct rb_consumer_status *c);
/* A group member that holds no frame has no position. */
bool ctl_consumer_has_position(const struct rb_consumer_status *c);
/* "dead", "stopped" (SIGSTOP or traced, from /proc), "sleeping" (waiting
 * for the producer) or "active". */
const char *ctl_consumer_state(const struct rb_consumer_status *c);
/* "lossless", "lossy" or "demoted" (lossless, demoted to lossy). */
const char *ctl_consumer_mode(const struct rb_consumer_status *c);
/* "dead", "stopped" or "alive". */
const char *ctl_producer_state(const struct rb_producer_status *p);
/* The groups[] entry of the consumer's group, NULL when in none. */
const struct rb_group_status *ctl_consumer_group(const struct ctl_snapshot *s,
						 const struct rb_consumer_status *c);
/* write_seq - claim_seq: published frames no member has claimed yet. */
uint64_t ctl_group_lag(const struct ctl_snapshot *s, const struct rb_group_status *g);
const char *ctl_group_mode(const struct rb_group_status *g);
/* Producers whose process runs. */
uint32_t ctl_snapshot_producers_alive(const struct ctl_snapshot *s);
/* "none", "open", "ended", "abandoned". */
const char *ctl_stream_state_name(int state);
/*
 * How full the ring is for the producers: the largest lag of what holds
 * them back (a live or dead lossless consumer in no group; a lossless
 * group, at the older of its claim position and its members' oldest held
 * frame). False when nothing lossless holds the producers back.
 */
bool ctl_snapshot_fill(const struct ctl_snapshot *s, uint64_t *lag);
/*
 * While a producer sleeps for space, who it waits for: the lossless
 * consumer (consumers[] index) or group (groups[] index, when its claim
 * position is behind) furthest behind its target; `others` counts the
 * rest also behind.
 */
struct ctl_blocker {
	int consumer; /* consumers[] index or -1 */
	int group;    /* groups[] index or -1 (consumer is then -1) */
	uint32_t others;
};
/* -1: not blocked; 0: blocked, nobody behind (just reached); 1: found. */
int ctl_snapshot_blocker(const struct ctl_snapshot *s, struct ctl_blocker *b);
/*
 * Names the participants that are alive (or dead): "producer pid 12,
 * consumer #0 pid 34 \"verify\"" (several-producer rings: "producer #1
 * pid 12"). Empty when there are none.
 */
void ctl_snapshot_who(const struct ctl_snapshot *s, bool alive, char *buf,
		      size_t size);
/* True if a producer or any consumer is alive. */
bool ctl_snapshot_in_use(const struct ctl_snapshot *s);
/* Producers and consumers attached whose process is gone. */
uint32_t ctl_snapshot_dead(const struct ctl_snapshot *s);

/* ---- rings.c: which rings exist ---------------------------------------- */

struct ctl_names {
	char **names;
	size_t count;
};

/* Every ring name in /dev/shm, sorted; -errno on failure. */
int ctl_names_all(struct ctl_names *out);
void ctl_names_free(struct ctl_names *n);
/* A name rb_ring_open could accept (docs/FORMAT.md §1.1). */
bool ctl_name_valid(const char *name);
/* "rb-ctl: NAME: not a valid ring name (...)". */
void ctl_name_error(const char *name);
/* Opens NAME or prints "rb-ctl: NAME: <why>"; returns the rb_* code. */
int ctl_open(const char *name, struct rb_ring **out);

/* ---- format.c: text for people ----------------------------------------- */

/* "u16[480,640]" or "bytes". */
void ctl_format_type(char *buf, size_t size, const struct rb_frame_type *t);
/* Binary units: "512 B", "4 KiB", "37.5 MiB". */
void ctl_format_bytes(char *buf, size_t size, uint64_t bytes);
/* "hugepages" for RB_CREATE_HUGEPAGES; NULL for an unknown bit. */
const char *ctl_flag_name(uint32_t bit);
/* "hugepages,prefault" or "none". */
void ctl_format_flags(char *buf, size_t size, uint32_t flags);
/* A CLOCK_REALTIME time as ISO 8601 UTC with ms: 2024-05-01T12:00:00.123Z. */
void ctl_format_time(char *buf, size_t size, uint64_t realtime_ns);
/* A duration for people: "850ms", "42s", "3m12s", "5h04m", "2d03h". */
void ctl_format_duration(char *buf, size_t size, uint64_t ns);
/* A rate: "0", "12.5", "3000", "1.2e+06" (fits 8 columns). */
void ctl_format_rate(char *buf, size_t size, double per_second);
const char *ctl_pages_name(enum rb_pages pages);
uint64_t ctl_realtime_ns(void);

/* ---- json.c: the JSON members several commands print ----------------- */

/* Geometry, created time and flags of a ring, as members of the object. */
void ctl_json_geometry(struct cli_json *j, struct rb_ring *ring);
/* "producer": {...} (ring-wide publication state) from a snapshot. */
void ctl_json_producer(struct cli_json *j, const struct ctl_snapshot *s);
/* One producer record's members (inside an object). */
void ctl_json_producer_fields(struct cli_json *j, const struct rb_producer_status *p);
/* One group's members (inside an object). */
void ctl_json_group_fields(struct cli_json *j, const struct ctl_snapshot *s,
			   const struct rb_group_status *g);
/* One consumer object (inside an array). */
void ctl_json_consumer_fields(struct cli_json *j, const struct ctl_snapshot *s,
			      const struct rb_consumer_status *c);
/* "producers": [...] and "groups": [...] of a snapshot. */
void ctl_json_producers(struct cli_json *j, const struct ctl_snapshot *s);
void ctl_json_groups(struct cli_json *j, const struct ctl_snapshot *s);

#endif /* RB_CTL_H */
