/*
 * rb-bench: throughput, latency and cost of ringbuf across processes, with
 * the baselines (memory bandwidth, a raw two-thread ring, a pipe, a Unix
 * socket, a ck_ring of slot indices, futex and spin ping-pongs) measured in
 * the same run, so that every figure can be read as a ratio that survives a
 * noisy machine.
 *
 * One concept per .c file; this header declares them all, grouped by file.
 * Every measurement becomes one struct bench_result; report.c prints them.
 */
#ifndef RB_BENCH_H
#define RB_BENCH_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>

#include "cli.h"

struct rb_ring;
struct rb_producer;
struct rb_consumer;
struct rb_frame;
struct rb_ring_config;

#define BENCH_EXIT_OK 0
#define BENCH_EXIT_FAIL 1   /* a point failed or its data did not verify */
#define BENCH_EXIT_USAGE 2
#define BENCH_EXIT_SIGNAL 130

/* ---- options (options.c) ---------------------------------------------- */

#define BENCH_SUITE_THROUGHPUT (1u << 0)
#define BENCH_SUITE_LATENCY (1u << 1)
#define BENCH_SUITE_COST (1u << 2)
#define BENCH_SUITE_BASELINES (1u << 3)
#define BENCH_SUITE_ALL 0xfu

/* Which kinds of throughput point run (--modes). */
#define BENCH_MODE_TOUCH (1u << 0)
#define BENCH_MODE_NOTOUCH (1u << 1)
#define BENCH_MODE_BROADCAST (1u << 2)
#define BENCH_MODE_LOSSY (1u << 3)
#define BENCH_MODE_PRODUCERS (1u << 4) /* 1..--scale producers, one consumer */
#define BENCH_MODE_GROUP (1u << 5)     /* one producer, a group of 1..--scale */
#define BENCH_MODE_ALL 0x3fu

/* Which ringbuf APIs (--api). */
#define BENCH_API_FRAME (1u << 0)
#define BENCH_API_BATCH (1u << 1)

#define BENCH_MAX_SIZES 32
/* --ring-bytes above this is a typo, not a ring this machine can map. */
#define BENCH_MAX_RING_BYTES (64ull << 30)
#define BENCH_MAX_CONSUMERS 16
/* Most producers or group members of a scaling point (--scale). */
#define BENCH_MAX_SCALE 8

struct bench_options {
	uint32_t suites;
	uint32_t modes;            /* BENCH_MODE_* */
	uint32_t apis;             /* BENCH_API_* */
	uint64_t sizes[BENCH_MAX_SIZES];
	uint32_t nsizes;
	uint64_t scale_sizes[BENCH_MAX_SIZES]; /* of the producers/group points */
	uint32_t nscale_sizes;
	uint32_t scale;            /* those points go from 1 to `scale` processes */
	uint32_t consumers;        /* N for the broadcast points */
	uint64_t ring_bytes;       /* per ring, when slots is 0 */
	uint32_t slots;            /* 0: ring_bytes / frame size */
	uint32_t batch;            /* frames per batch call */
	uint64_t duration_ns;      /* per throughput point */
	uint64_t spin_samples;     /* latency samples, spinning consumer */
	uint64_t sleep_samples;    /* latency samples, sleeping consumer */
	uint64_t sleep_gap_ns;     /* gap between frames, sleeping consumer */
	uint64_t cost_ns;          /* how long the idle/blocked cost points last */
	uint32_t repeat;           /* rounds of the per-size points (medians) */
	uint64_t spin_ns;          /* spin_ns of throughput producers and consumers;
				    * 0: the library's default */
	uint64_t calm_ns;          /* longest wait for a calm machine per point */
	bool quick;
	bool pin;
	const char *csv_path;      /* "-": stdout instead of the table */
	const char *json_path;     /* likewise */
};

/*
 * Fills *o from argv. Returns 0 to run, -1 when --help or --version was
 * printed (exit 0), or BENCH_EXIT_USAGE after saying what was wrong.
 */
int bench_parse_options(int argc, char **argv, struct bench_options *o);

/* Latency samples per round, so that `total` are pooled over --repeat. */
uint64_t bench_per_round(const struct bench_options *o, uint64_t total);

/* Slots of a ring (and of every baseline ring) for frames of `bytes`. */
uint32_t bench_slots_for(const struct bench_options *o, uint64_t bytes);

/* ---- results and output (report.c) ------------------------------------ */

struct bench_result {
	const char *suite;      /* "throughput", "latency", "cost", "baselines" */
	char system[24];        /* "ringbuf", "thread-ring", "ck_ring", "pipe",... */
	char mode[24];          /* "touch", "notouch", "spin", "sleep", ... */
	char api[8];            /* "frame", "batch" or "" */
	uint32_t consumers;
	bool lossy;
	uint64_t frame_bytes;
	uint32_t slots;
	double rate_limit;      /* producer pacing in frames/s; 0: full speed */
	char speed[8];          /* lossy points: "max", "1x", "1/2x" of lossless */
	double seconds;         /* measured window */
	uint64_t frames;        /* delivered to the slowest consumer */
	uint64_t produced;      /* committed by the producer */
	double frames_per_s;    /* per consumer */
	double bytes_per_s;     /* per consumer */
	double lost_ratio;      /* lost / produced, lossy consumers; NAN otherwise */
	uint64_t samples;       /* latency samples */
	uint64_t *raw;          /* latency: the samples, pooled over rounds */
	uint64_t gap_ns;        /* latency: time between two messages */
	double p50_ns, p99_ns, p999_ns, max_ns;
	double cpu_pct;         /* of one core */
	double syscalls_per_frame; /* NAN when not counted */
	uint64_t wakeups;       /* futex sleeps of the consumers */
	int verified;           /* 1 checked and good, 0 not checked, -1 bad */
	bool failed;
	bool slow_host;         /* taken while the host was still slow (calm.c) */
	double ratio[3];        /* ringbuf rows: vs thread-ring, ck_ring, pipe */
	double median_ratio;    /* ringbuf rows: median round / thread-ring's
				 * median round (the issue 15 targets use it) */
	uint32_t repeats;       /* measurements (rounds) behind this row */
	double min_bytes_per_s; /* the slowest of those rounds */
	double median_bytes_per_s; /* and their median */
	/* Scaling rows (suite "scaling", scaling.c); zero or NAN elsewhere. */
	uint32_t producers;     /* producer processes */
	uint32_t max_producers; /* the ring's max_producers (1: fast path) */
	uint32_t members;       /* group members; 0: one consumer in no group */
	uint64_t per_proc[BENCH_MAX_SCALE]; /* frames of each producer or member */
	double base_ratio;      /* frames/s over the block's baseline row */
	double cpu_ns_per_frame;/* user + system of every process, per frame */
	double cpu_cores;       /* that CPU time over the window: busy cores */
	double worst_cpu_ns_per_frame; /* the worst round's */
	double run_ratio;       /* window / --duration, the worst round's */
	double longest_gap_ns;  /* longest a process went without progress,
				 * worst round */
	char note[160];
};

/* A new row, zeroed, with NANs where "not measured" must show as "-". */
struct bench_result *bench_result_add(const char *suite, const char *system,
				      const char *mode);
size_t bench_result_count(void);
struct bench_result *bench_result_at(size_t i);
/*
 * Replaces the rows of repeated points by one row each: for throughput the
 * round with the best rate (lossy points: the median loss), keeping the
 * slowest and the median rate; for latency the percentiles of all the
 * rounds' samples pooled.
 */
void bench_collapse_repeats(void);
/* Fills the ratio columns of the ringbuf rows from the baseline rows. */
void bench_compute_ratios(void);
void bench_print_table(FILE *out, const struct bench_options *o);
void bench_print_csv(FILE *out);
void bench_print_json(FILE *out, const struct bench_options *o);
/* Whether any point failed or did not verify. */
bool bench_any_failure(void);
/* "64B", "4KiB", "16MiB": exact binary units when they fit. */
char *bench_format_size(char *buf, size_t size, uint64_t bytes);

/* ---- targets (targets.c) ---------------------------------------------- */

/* Prints the targets with the figures of this run, met or not. */
void bench_print_targets(FILE *out);
void bench_json_targets(struct cli_json *j);

/* ---- calm (calm.c) ---------------------------------------------------- */

/*
 * Waits (up to --calm-wait) until every CPU runs a short probe at no less
 * than 60% of the best speed seen; false if the machine stayed slow.
 */
bool bench_wait_calm(const struct bench_options *o);
/* Waits for calm before the point of r; flags r if it stayed slow. */
void bench_calm_before(const struct bench_options *o, struct bench_result *r);

/* ---- statistics (stats.c) --------------------------------------------- */

struct bench_percentiles {
	uint64_t count;
	double p50, p99, p999, max, mean;
};

/* Sorts `v` in place and computes the percentiles (nearest rank). */
void bench_percentiles(uint64_t *v, uint64_t n, struct bench_percentiles *out);
/* Keeps a copy of the samples in r and fills its percentiles. */
int bench_result_samples(struct bench_result *r, const uint64_t *v, uint64_t n);

/* ---- processes, shared memory, rings, clocks (proc.c) ----------------- */

uint64_t bench_now_ns(void);
/* MAP_SHARED | MAP_ANONYMOUS, zeroed, inherited by children; NULL on failure. */
void *bench_shared_alloc(size_t bytes);
void bench_shared_free(void *p, size_t bytes);

/* A start line for the processes of one point: each child says it is ready
 * and then sleeps on a shared futex until the parent opens the gate. */
struct bench_gate {
	uint32_t ready;
	uint32_t go;
};
void bench_gate_arrive(struct bench_gate *g);
/* Waits for n arrivals (or a child's death, a signal, or 10 s). */
int bench_gate_wait_ready(struct bench_gate *g, uint32_t n);
void bench_gate_open(struct bench_gate *g);

/*
 * Forks a child that runs fn(arg) and exits with its return value (0 on
 * success). The child dies with the parent (PR_SET_PDEATHSIG), takes the
 * default action on SIGINT/SIGTERM, and is pinned to `cpu` if cpu >= 0.
 * Returns the pid, or -errno.
 */
pid_t bench_spawn(int (*fn)(void *), void *arg, int cpu);
/*
 * Waits for every child spawned and not yet reaped, up to timeout_ns.
 * On timeout or on SIGINT/SIGTERM, kills them all and reaps them. Returns
 * 0 if each exited with status 0, -ETIMEDOUT, -EINTR, or -ECHILD when one
 * failed. `progress` (may be NULL) is called about twice a second.
 */
int bench_wait_all(uint64_t timeout_ns, void (*progress)(void *), void *arg);
/* Kills and reaps every child still running (cleanup paths). */
void bench_kill_all(void);

/* Pins the calling thread to cpu (no-op when cpu < 0). */
int bench_pin(int cpu);
/* The CPU for role r (0 = producer, 1.. = consumers) under --pin, else -1. */
int bench_cpu_for(const struct bench_options *o, int role);

/* "bench-PID-N", remembered so that bench_rings_cleanup can remove it. */
void bench_ring_name(char *buf, size_t size);
void bench_ring_forget(const char *name);
/* Removes every ring named and not yet forgotten (exit and signal paths). */
void bench_rings_cleanup(void);
/* Removes rings left by an earlier run that was SIGKILLed (bench-PID-N with
 * PID gone); returns how many. */
unsigned bench_rings_sweep_stale(void);

/* Futex wait/wake on a shared word (no FUTEX_PRIVATE_FLAG). */
void bench_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns);
void bench_futex_wake(uint32_t *word);

/*
 * Counts the calling process's system calls from now on with perf's
 * raw_syscalls:sys_enter tracepoint. Returns an fd, or -errno when the
 * kernel refuses (then the column says "-").
 */
int bench_syscalls_open(void);
/* The count so far, or -1. Closes nothing. */
int64_t bench_syscalls_read(int fd);

/* CPU time (user + system) of the calling process, in ns. */
uint64_t bench_cpu_ns(void);

/* ---- frame bytes (touch.c) -------------------------------------------- */

/* Writes every byte of a frame; the content is a function of seq. */
void bench_fill(void *data, uint64_t length, uint64_t seq);
/* Reads every byte; returns their checksum. */
uint64_t bench_sum(const void *data, uint64_t length);
/* What bench_sum returns for a frame bench_fill wrote. */
uint64_t bench_expected_sum(uint64_t length, uint64_t seq);

/* ---- the suites ------------------------------------------------------- */

/* A progress line on stderr (only on a terminal). */
void bench_progress(const char *fmt, ...) CLI_PRINTF(1, 2);
void bench_progress_clear(void);

/* throughput.c: ringbuf across processes (lossless, broadcast, lossy), for
 * frames of `size` bytes. */
int bench_throughput(const struct bench_options *o, uint64_t size);

/* Waits that should never last this long end the point with an error
 * instead of hanging it (the parent's own deadline is the last resort). */
#define BENCH_WAIT_NS (10ull * 1000000000ull)
#define BENCH_MAX_BATCH 1024

/* Maps every page of the slot area into the calling process before the
 * clock starts (first-touch faults are set-up, not streaming). */
void bench_map_pages(struct rb_ring *ring);
/* How many frames of `frame_bytes` between two looks at the clock. */
uint64_t bench_check_every(uint64_t frame_bytes);
/* Frames per batch call: `batch` (--batch), but at most a quarter of the
 * ring's `slots` and BENCH_MAX_BATCH. */
uint32_t bench_batch_for(uint32_t batch, uint32_t slots);
/* Acquires up to `want` frames with one acquire_batch (batched) or one
 * frame with rb_producer_acquire, waiting at most BENCH_WAIT_NS: how many,
 * or a negative code with *what naming the call that failed. */
int bench_producer_take(struct rb_producer *p, struct rb_frame *frames, bool batched,
			uint32_t want, const char **what);
/* Commits the `k` frames bench_producer_take gave (batched the same). */
int bench_producer_put(struct rb_producer *p, struct rb_frame *frames, bool batched,
		       uint32_t k);
/* The same for a consumer: at least one frame, up to `batch`; RB_E_EOS at
 * the end of the stream. */
int bench_consumer_take(struct rb_consumer *c, struct rb_frame *frames, bool batched,
			uint32_t batch, const char **what);
/* 1 if `seq` breaks the order, else 0: it must be *expect itself
 * (contiguous) or, with `increasing`, at least *expect. Moves *expect past
 * seq. */
int bench_seq_bad(uint64_t seq, uint64_t *expect, bool increasing);
/* Creates a ring from cfg under a fresh name (bench_ring_name) in `name`;
 * on failure marks r failed, with the reason in its note. 0 or -errno. */
int bench_ring_create(const struct rb_ring_config *cfg, char *name, size_t size,
		      struct rb_ring **ring, struct bench_result *r);

/* What one ringbuf throughput point does (also used by cost.c). */
struct bench_tp_spec {
	uint64_t frame_bytes;
	uint32_t slots;
	bool touch;
	bool batch;
	uint32_t consumers;
	bool lossy;
	double rate;           /* producer frames/s; 0: as fast as it can */
	uint64_t duration_ns;
	bool count_syscalls;
};
/* Runs one point and fills r (frames, rates, lost, verified, syscalls). */
int bench_tp_run(const struct bench_options *o, const struct bench_tp_spec *s,
		 struct bench_result *r);

/* Gap between frames (and ping-pong round trips) for spinning latency. */
#define BENCH_SPIN_GAP_NS 20000ull
/*
 * A second, short gap for the sleeping consumer: after ~100 us of sleep the
 * hypervisor still polls for the vCPU's wake-up (KVM halt polling), after
 * 1 ms it has descheduled it, which doubles a wake-up on this VM. Both are
 * measured, for ringbuf and for the raw futex.
 */
#define BENCH_SHORT_GAP_NS 100000ull

/* latency.c: producer commit to consumer acquire. */
int bench_latency(const struct bench_options *o);

/*
 * scaling.c: for frames of `size` bytes, 1..--scale producer processes
 * into one consumer (against the single-producer fast path) and one
 * producer into a lossless group of 1..--scale members (against one
 * consumer in no group), as --modes producers,group select.
 */
int bench_scaling(const struct bench_options *o, uint64_t size);
/* A scaling process without progress this long stalled: it is told on
 * stderr and the table says STALL. 100 ms is no scheduling hiccup but
 * the library's wait slice, after which sleepers look for dead peers. */
#define BENCH_STALL_NS 100000000ull

/* cost.c: idle consumer, blocked producer, system calls per frame. */
int bench_cost(const struct bench_options *o);

/* The baselines, one file each; the frame-carrying ones for one size. */
int bench_baseline_memory(const struct bench_options *o);
int bench_baseline_thread_ring(const struct bench_options *o, uint64_t size);
int bench_baseline_pipe(const struct bench_options *o, uint64_t size);
int bench_baseline_ck_ring(const struct bench_options *o, uint64_t size);
int bench_baseline_futex(const struct bench_options *o);

/* Fills the common fields of a throughput row. */
void bench_result_throughput(struct bench_result *r, uint64_t frame_bytes,
			     uint64_t frames, double seconds);

/* What the two children of a producer/consumer baseline report through
 * their shared memory. */
struct bench_pair_counts {
	uint64_t t_start;  /* producer: when it started */
	uint64_t t_end;    /* consumer: when it saw the last frame */
	uint64_t produced;
	uint64_t consumed;
	uint64_t bad;      /* frames whose bytes did not verify */
};

/* Fills a throughput row from a pair's counts: rate, produced, verified
 * (and the note when frames did not verify). */
void bench_result_pair(struct bench_result *r, uint64_t frame_bytes,
		       const struct bench_pair_counts *c);

/*
 * Waits until `ready` children wait at the gate (killing them all if they
 * never do), opens it, and waits for every child, allowing the point's
 * duration plus a minute.
 */
int bench_run_gated(struct bench_gate *g, uint32_t ready,
		    const struct bench_options *o);

/*
 * Folds the result of one measurement point into *failed (a failed point
 * does not stop the run). Returns true when the run was interrupted
 * (SIGINT/SIGTERM): the caller then returns -EINTR.
 */
static inline bool
bench_fold(int rc, int *failed)
{
	if (rc == -EINTR || cli_stop)
		return true;
	*failed |= rc != 0;
	return false;
}

#endif /* RB_BENCH_H */
