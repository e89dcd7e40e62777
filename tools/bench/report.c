/*
 * The results of a run and the three ways out: a table for people (with the
 * ratio columns that make figures from a noisy machine comparable), CSV for
 * tools/plot-bench and spreadsheets, JSON for programs.
 *
 * Ratios are computed between rows of the same run, never against numbers
 * from elsewhere: ringbuf's throughput over the two-thread ring's, the
 * ck_ring's and the pipe's at the same frame size and mode; ringbuf's median
 * latency over the matching ping-pong floor; a scaling row's frames/s over
 * its block's single-process row (one producer on the fast path, or one
 * consumer in no group).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

static struct bench_result **results;
static size_t nresults, capacity;

struct bench_result *
bench_result_add(const char *suite, const char *system, const char *mode)
{
	struct bench_result *r;
	unsigned i;

	if (nresults == capacity) {
		size_t n = capacity ? capacity * 2 : 64;
		struct bench_result **p = realloc(results, n * sizeof(*p));

		if (p == NULL)
			return NULL;
		results = p;
		capacity = n;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->suite = suite;
	snprintf(r->system, sizeof(r->system), "%s", system);
	snprintf(r->mode, sizeof(r->mode), "%s", mode);
	r->frames_per_s = r->bytes_per_s = r->lost_ratio = NAN;
	r->p50_ns = r->p99_ns = r->p999_ns = r->max_ns = NAN;
	r->cpu_pct = r->syscalls_per_frame = NAN;
	r->min_bytes_per_s = r->median_bytes_per_s = NAN;
	r->base_ratio = r->cpu_ns_per_frame = r->cpu_cores = NAN;
	r->worst_cpu_ns_per_frame = r->run_ratio = r->longest_gap_ns = NAN;
	r->repeats = 1;
	for (i = 0; i < 3; i++)
		r->ratio[i] = NAN;
	r->median_ratio = NAN;
	results[nresults++] = r;
	return r;
}

size_t
bench_result_count(void)
{
	return nresults;
}

struct bench_result *
bench_result_at(size_t i)
{
	return i < nresults ? results[i] : NULL;
}

bool
bench_any_failure(void)
{
	size_t i;

	for (i = 0; i < nresults; i++)
		if (results[i]->failed || results[i]->verified < 0)
			return true;
	return false;
}

char *
bench_format_size(char *buf, size_t size, uint64_t bytes)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	unsigned u = 0;

	while (u < 4 && bytes >= 1024 && bytes % 1024 == 0) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, "%llu%s", (unsigned long long)bytes, units[u]);
	return buf;
}

/*
 * The first good row of `system` in `mode` at `frame_bytes` (any size if
 * 0) and `gap_ns` (any gap if 0).
 */
static const struct bench_result *
bench_find(const char *system, const char *mode, uint64_t frame_bytes,
	   uint64_t gap_ns)
{
	size_t i;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		if (r == NULL || r->failed || strcmp(r->system, system) != 0 ||
		    strcmp(r->mode, mode) != 0 || r->consumers > 1 || r->lossy)
			continue;
		if (frame_bytes != 0 && r->frame_bytes != frame_bytes)
			continue;
		if (gap_ns != 0 && r->gap_ns != gap_ns)
			continue;
		return r;
	}
	return NULL;
}

static double
bench_div(double a, const struct bench_result *b, bool latency)
{
	double d;

	if (b == NULL)
		return NAN;
	d = latency ? b->p50_ns : b->bytes_per_s;
	return d > 0 ? a / d : NAN;
}

static bool bench_is_memory(const struct bench_result *r);
static bool bench_is_stream(const struct bench_result *r);
static bool bench_is_latency(const struct bench_result *r);
static bool bench_is_scaling(const struct bench_result *r);

static bool
bench_same_point(const struct bench_result *a, const struct bench_result *b)
{
	return strcmp(a->suite, b->suite) == 0 && strcmp(a->system, b->system) == 0 &&
	       strcmp(a->mode, b->mode) == 0 && strcmp(a->api, b->api) == 0 &&
	       a->consumers == b->consumers && a->lossy == b->lossy &&
	       a->frame_bytes == b->frame_bytes && a->slots == b->slots &&
	       strcmp(a->speed, b->speed) == 0 && a->producers == b->producers &&
	       a->max_producers == b->max_producers && a->members == b->members;
}

static int
bench_cmp_rate(const void *x, const void *y)
{
	const struct bench_result *a = *(struct bench_result *const *)x;
	const struct bench_result *b = *(struct bench_result *const *)y;
	/* Failed rows (NAN) sort first, so they are never picked as the best
	 * round unless every round failed. */
	double u = isnan(a->bytes_per_s) ? -1 : a->bytes_per_s;
	double v = isnan(b->bytes_per_s) ? -1 : b->bytes_per_s;

	return u < v ? -1 : u > v;
}

/* Merges into results[first] the samples of the later rows of its point. */
static void
bench_pool_latency(size_t first, struct bench_result **group)
{
	struct bench_result *r = results[first];
	uint64_t total = 0, *all, off = 0;
	size_t j, n = 0;

	for (j = first; j < nresults; j++) {
		struct bench_result *q = results[j];

		if (q != NULL && bench_same_point(r, q) && q->gap_ns == r->gap_ns) {
			group[n++] = q;
			total += q->samples;
		}
	}
	if (n < 2)
		return;
	all = malloc((total ? total : 1) * sizeof(*all));
	if (all == NULL)
		return; /* the first round's figures stand */
	for (j = 0; j < n; j++) {
		struct bench_result *q = group[j];

		if (q->raw != NULL)
			memcpy(all + off, q->raw, q->samples * sizeof(*all));
		off += q->raw != NULL ? q->samples : 0;
		if (q != r) {
			r->failed |= q->failed;
			r->slow_host |= q->slow_host;
			r->wakeups += q->wakeups;
			if (q->verified < r->verified)
				r->verified = q->verified;
		}
	}
	(void)bench_result_samples(r, all, off);
	r->repeats = (uint32_t)n;
	free(all);
	for (j = 0; j < n; j++) {
		if (group[j] == r)
			continue;
		for (size_t k = first + 1; k < nresults; k++) {
			if (results[k] == group[j]) {
				results[k] = NULL;
				break;
			}
		}
		free(group[j]->raw);
		free(group[j]);
	}
}

static int
bench_cmp_loss(const void *x, const void *y)
{
	const struct bench_result *a = *(struct bench_result *const *)x;
	const struct bench_result *b = *(struct bench_result *const *)y;
	double u = isnan(a->lost_ratio) ? 2 : a->lost_ratio;
	double v = isnan(b->lost_ratio) ? 2 : b->lost_ratio;

	return u < v ? -1 : u > v;
}

void
bench_collapse_repeats(void)
{
	struct bench_result **group, **kept;
	size_t i, j, n, nkept = 0;

	group = calloc(nresults ? nresults : 1, sizeof(*group));
	kept = calloc(nresults ? nresults : 1, sizeof(*kept));
	if (group == NULL || kept == NULL) {
		free(group);
		free(kept);
		return; /* keep every row: more lines, nothing wrong */
	}
	for (i = 0; i < nresults; i++) {
		struct bench_result *r = results[i], *m, *failed_note = NULL;
		bool any_failed = false;
		unsigned nfailed = 0;
		double median, slowest;
		int worst = 1;

		if (r == NULL)
			continue;
		if (bench_is_latency(r)) {
			bench_pool_latency(i, group);
			kept[nkept++] = r;
			results[i] = NULL;
			continue;
		}
		if (!bench_is_stream(r) && !bench_is_memory(r) && !bench_is_scaling(r)) {
			kept[nkept++] = r;
			results[i] = NULL;
			continue;
		}
		for (n = 0, j = i; j < nresults; j++) {
			if (results[j] != NULL && bench_same_point(r, results[j])) {
				group[n++] = results[j];
				results[j] = NULL;
			}
		}
		/*
		 * The best round, not the median: on this shared VM the noise
		 * only ever slows a round down (the host takes the CPU or the
		 * memory bandwidth away for a while, by a factor of up to 20),
		 * so the fastest round is the best estimate of what the code
		 * can do, and every system gets the same number of tries.
		 * Lossy points are about loss: the round with the median loss.
		 */
		qsort(group, n, sizeof(*group), bench_cmp_rate);
		median = group[n / 2]->bytes_per_s;
		slowest = group[0]->bytes_per_s;
		if (r->lossy) {
			qsort(group, n, sizeof(*group), bench_cmp_loss);
			m = group[n / 2];
		} else {
			m = group[n - 1];
		}
		m->repeats = (uint32_t)n;
		m->min_bytes_per_s = slowest;
		m->median_bytes_per_s = median;
		for (j = 0; j < n; j++) {
			if (group[j]->failed && !any_failed)
				failed_note = group[j];
			any_failed |= group[j]->failed;
			nfailed += group[j]->failed;
			if (group[j]->verified < worst)
				worst = group[j]->verified;
		}
		/* A bad or failed round taints the point, and says why. */
		if (any_failed && !m->failed) {
			char why[sizeof(m->note)];

			memcpy(why, failed_note->note, sizeof(why));
			m->failed = true;
			snprintf(m->note, sizeof(m->note), "%u of %u rounds failed: %.96s",
				 nfailed % 1000, (unsigned)(n % 1000), why);
		}
		if (worst < 0)
			m->verified = -1;
		/* A stall or a spin in any round must show, not only the best
		 * round's calm figures (fmax skips the NANs of failed rounds). */
		for (j = 0; bench_is_scaling(m) && j < n; j++) {
			m->run_ratio = fmax(m->run_ratio, group[j]->run_ratio);
			m->longest_gap_ns = fmax(m->longest_gap_ns, group[j]->longest_gap_ns);
			m->worst_cpu_ns_per_frame = fmax(m->worst_cpu_ns_per_frame,
							 group[j]->worst_cpu_ns_per_frame);
		}
		for (j = 0; j < n; j++) {
			if (group[j] != m) {
				free(group[j]->raw);
				free(group[j]);
			}
		}
		kept[nkept++] = m;
	}
	memcpy(results, kept, nkept * sizeof(*kept));
	nresults = nkept;
	free(group);
	free(kept);
}

/*
 * The baseline of a scaling row: the row of its block with one producer
 * on the single-producer fast path (mode producers) or with one consumer
 * in no group (mode group), at the same size and API.
 */
static const struct bench_result *
bench_find_scaling_base(const struct bench_result *r)
{
	size_t i;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *b = results[i];

		if (b->failed || !bench_is_scaling(b) || strcmp(b->mode, r->mode) != 0 ||
		    strcmp(b->api, r->api) != 0 || b->frame_bytes != r->frame_bytes)
			continue;
		if (strcmp(b->mode, "producers") == 0 ? b->max_producers == 1 : b->members == 0)
			return b;
	}
	return NULL;
}

void
bench_compute_ratios(void)
{
	size_t i;

	for (i = 0; i < nresults; i++) {
		struct bench_result *r = results[i];

		if (bench_is_scaling(r)) {
			const struct bench_result *b = bench_find_scaling_base(r);

			if (b != NULL && b->frames_per_s > 0)
				r->base_ratio = r->frames_per_s / b->frames_per_s;
			continue;
		}

		/* A point with a failed round still shows its best good round's
		 * ratios (its data column says FAIL). */
		if (strcmp(r->system, "ringbuf") != 0 ||
		    (isnan(r->bytes_per_s) && isnan(r->p50_ns)))
			continue;
		if (strcmp(r->suite, "throughput") == 0 && !r->lossy) {
			const struct bench_result *t =
				bench_find("thread-ring", r->mode, r->frame_bytes, 0);

			r->ratio[0] = bench_div(r->bytes_per_s, t, false);
			if (t != NULL && t->median_bytes_per_s > 0)
				r->median_ratio = r->median_bytes_per_s / t->median_bytes_per_s;
			r->ratio[1] = bench_div(r->bytes_per_s,
						bench_find("ck_ring", r->mode, r->frame_bytes, 0), false);
			if (strcmp(r->mode, "touch") == 0)
				r->ratio[2] = bench_div(r->bytes_per_s,
							bench_find("pipe", "touch", r->frame_bytes, 0), false);
		} else if (strcmp(r->suite, "latency") == 0) {
			if (strcmp(r->mode, "sleep") == 0) {
				r->ratio[0] = bench_div(r->p50_ns,
							bench_find("futex-pingpong", "sleep", 0, 0), true);
				r->ratio[1] = bench_div(r->p50_ns,
							bench_find("futex-wake", "sleep", 0, r->gap_ns), true);
			} else {
				r->ratio[0] = bench_div(r->p50_ns,
							bench_find("spin-pingpong", "spin", 0, 0), true);
			}
		}
	}
}

/* ---- the table ---------------------------------------------------------- */

/* A number in `width` columns, or "-" when it was not measured. */
static const char *
fmt(char *buf, size_t size, double v, int width, int prec)
{
	if (isnan(v))
		snprintf(buf, size, "%*s", width, "-");
	else
		snprintf(buf, size, "%*.*f", width, prec, v);
	return buf;
}

/* The median round's rate in percent of the row's (best) one. */
static double
bench_median_pct(const struct bench_result *r)
{
	/* Lossy rows are the median loss, not the best rate. */
	if (r->repeats < 2 || r->lossy || !(r->bytes_per_s > 0))
		return NAN;
	return 100.0 * r->median_bytes_per_s / r->bytes_per_s;
}

/* A round's rate in million frames/s (the row's bytes per frame). Lossy
 * rows are the median-loss round: no rate order to show. */
static double
bench_rate_frames(const struct bench_result *r, double bytes_per_s)
{
	if (r->repeats < 2 || r->lossy || !(r->bytes_per_s > 0))
		return NAN;
	return r->frames_per_s * (bytes_per_s / r->bytes_per_s) / 1e6;
}

static const char *
bench_data_word(const struct bench_result *r)
{
	if (r->failed)
		return "FAIL";
	if (r->verified < 0)
		return "BAD";
	return r->verified > 0 ? "ok" : "-";
}

static void
bench_machine(char *buf, size_t size)
{
	char model[128] = "unknown CPU", line[256];
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "re");

	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			char *colon = strchr(line, ':');

			if (strncmp(line, "model name", 10) == 0 && colon != NULL) {
				snprintf(model, sizeof(model), "%s", colon + 2);
				model[strcspn(model, "\n")] = '\0';
				break;
			}
		}
		fclose(f);
	}
	if (uname(&u) != 0)
		snprintf(u.release, sizeof(u.release), "?");
	snprintf(buf, size, "%s, %ld CPUs, Linux %s", model,
		 sysconf(_SC_NPROCESSORS_ONLN), u.release);
}

static bool
bench_is_memory(const struct bench_result *r)
{
	return strcmp(r->system, "memory") == 0;
}

static bool
bench_is_stream(const struct bench_result *r)
{
	return strcmp(r->suite, "throughput") == 0 ||
	       (strcmp(r->suite, "baselines") == 0 && !bench_is_memory(r) &&
		r->frame_bytes > 0);
}

static bool
bench_is_scaling(const struct bench_result *r)
{
	return strcmp(r->suite, "scaling") == 0;
}

static bool
bench_is_latency(const struct bench_result *r)
{
	return strcmp(r->suite, "latency") == 0 ||
	       (strcmp(r->suite, "baselines") == 0 && r->frame_bytes == 0 &&
		!bench_is_memory(r));
}

static void
bench_table_memory(FILE *out)
{
	char a[32], sz[32];
	size_t i;
	bool head = false;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		if (!bench_is_memory(r))
			continue;
		if (!head) {
			fprintf(out, "\nMemory bandwidth, one thread (baselines)\n");
			fprintf(out, "  %-8s %8s %9s  %s\n", "op", "buffer", "GB/s", "note");
			head = true;
		}
		fprintf(out, "  %-8s %8s %s  %s\n", r->mode,
			bench_format_size(sz, sizeof(sz), r->frame_bytes),
			fmt(a, sizeof(a), r->bytes_per_s / 1e9, 9, 2), r->note);
	}
}

static void
bench_stream_note(const struct bench_result *r, char *buf, size_t size)
{
	if (r->lossy) {
		double produced = r->seconds > 0 ? (double)r->produced / r->seconds : NAN;

		if (r->rate_limit > 0)
			snprintf(buf, size, "lossy, producer paced at %s lossless rate: %.3g Mfr/s",
				 r->speed, produced / 1e6);
		else
			snprintf(buf, size, "lossy, producer at full speed: %.3g Mfr/s",
				 produced / 1e6);
	} else if (r->consumers > 1) {
		snprintf(buf, size, "broadcast, %u consumers, each reads all", r->consumers);
	} else {
		buf[0] = '\0';
	}
	if (r->note[0] != '\0') {
		size_t len = strlen(buf);

		snprintf(buf + len, size - len, "%s%s", len ? "; " : "", r->note);
	}
	if (r->slow_host) {
		size_t len = strlen(buf);

		snprintf(buf + len, size - len, "%sslow host", len ? "; " : "");
	}
}

static void
bench_table_streams(FILE *out)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32], k[32], m[32];
	char sz[32], note[320], slots[16];
	size_t i;
	bool head = false;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		if (!bench_is_stream(r))
			continue;
		if (!head) {
			fprintf(out, "\nThroughput across processes (per consumer; Mfr/s and GB/s: the best of\n"
				"the rounds, med and min: the median and the slowest round's Mfr/s; ratios:\n"
				"ringbuf / baseline, best rounds, except med/thr: median round over the\n"
				"thread-ring's median round, which the issue 15 targets use)\n");
			fprintf(out, "  %-6s %-12s %-7s %-5s %4s %6s %9s %7s %9s %9s %6s %7s %4s %7s %7s %7s %7s  %s\n",
				"size", "system", "mode", "api", "cons", "slots", "Mfr/s",
				"GB/s", "med", "min", "lost%", "sys/fr", "data", "/thread",
				"med/thr", "/ck_ring", "/pipe", "note");
			head = true;
		}
		bench_stream_note(r, note, sizeof(note));
		if (r->slots)
			snprintf(slots, sizeof(slots), "%u", r->slots);
		else
			snprintf(slots, sizeof(slots), "-");
		fprintf(out, "  %-6s %-12s %-7s %-5s %4u %6s %s %s %s %s %s %s %4s %s %s %s %s  %s\n",
			bench_format_size(sz, sizeof(sz), r->frame_bytes), r->system,
			r->mode, r->api[0] ? r->api : "-", r->consumers, slots,
			fmt(a, sizeof(a), r->frames_per_s / 1e6, 9, 3),
			fmt(b, sizeof(b), r->bytes_per_s / 1e9, 7, 2),
			fmt(h, sizeof(h), bench_rate_frames(r, r->median_bytes_per_s), 9, 3),
			fmt(m, sizeof(m), bench_rate_frames(r, r->min_bytes_per_s), 9, 3),
			fmt(c, sizeof(c), r->lost_ratio * 100.0, 6, 2),
			fmt(d, sizeof(d), r->syscalls_per_frame, 7, 4),
			bench_data_word(r),
			fmt(e, sizeof(e), r->ratio[0], 7, 2),
			fmt(k, sizeof(k), r->median_ratio, 7, 2),
			fmt(f, sizeof(f), r->ratio[1], 7, 2),
			fmt(g, sizeof(g), r->ratio[2], 7, 1), note);
	}
}

/* A time in 7 columns: "35ns", "41.2us", "1.2ms", "10s". */
static const char *
fmt_ns(char *buf, size_t size, double ns)
{
	if (isnan(ns))
		snprintf(buf, size, "%7s", "-");
	else if (ns < 1e3)
		snprintf(buf, size, "%5.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, size, "%5.3gus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, size, "%5.3gms", ns / 1e6);
	else
		snprintf(buf, size, "%6.3gs", ns / 1e9);
	return buf;
}

/* Who runs in a scaling point: "1P fast path", "3P of 4", "plain", "3 members". */
static void
bench_scaling_who(const struct bench_result *r, char *buf, size_t size)
{
	if (strcmp(r->mode, "producers") == 0) {
		if (r->max_producers == 1)
			snprintf(buf, size, "1P fast path");
		else
			snprintf(buf, size, "%uP of %u", r->producers, r->max_producers);
	} else if (r->members == 0) {
		snprintf(buf, size, "no group");
	} else {
		snprintf(buf, size, "%u member%s", r->members, r->members > 1 ? "s" : "");
	}
}

/* The note of a scaling row: each process's share of the frames, then
 * what went wrong. */
static void
bench_scaling_note(const struct bench_result *r, char *buf, size_t size)
{
	uint32_t n = r->members ? r->members : r->producers, i;
	uint64_t total = 0;
	size_t len;

	buf[0] = '\0';
	for (i = 0; i < n && i < BENCH_MAX_SCALE; i++)
		total += r->per_proc[i];
	if (n > 1 && total > 0) {
		snprintf(buf, size, "shares");
		for (i = 0; i < n && i < BENCH_MAX_SCALE; i++) {
			len = strlen(buf);
			snprintf(buf + len, size - len, "%s%.0f", i ? "/" : " ",
				 100.0 * (double)r->per_proc[i] / (double)total);
		}
		len = strlen(buf);
		snprintf(buf + len, size - len, "%%");
	}
	if (r->longest_gap_ns >= (double)BENCH_STALL_NS) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%sSTALL %.0f ms", len ? "; " : "",
			 r->longest_gap_ns / 1e6);
	}
	if (r->note[0] != '\0') {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%s%s", len ? "; " : "", r->note);
	}
	if (r->slow_host) {
		len = strlen(buf);
		snprintf(buf + len, size - len, "%sslow host", len ? "; " : "");
	}
}

static void
bench_table_scaling(FILE *out)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32], k[32], sz[32];
	char who[32], note[320];
	size_t i;
	bool head = false;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		if (!bench_is_scaling(r))
			continue;
		if (!head) {
			fprintf(out, "\nScaling: producers into one consumer, one producer into a lossless group\n"
				"(touch; totals over the processes, best of the rounds; xbase: frames/s over\n"
				"the block's first row; CPU: user+system of all processes per frame, cores:\n"
				"the same over the window; run: window / duration and stall: longest time a\n"
				"process made no progress, both the worst round's)\n");
			fprintf(out, "  %-6s %-9s %-12s %6s %-5s %9s %7s %4s %6s %7s %5s %7s %5s %7s %4s  %s\n",
				"size", "mode", "processes", "slots", "api", "Mfr/s", "GB/s", "med%",
				"xbase", "CPU/fr", "cores", "sys/fr", "run", "stall", "data", "note");
			head = true;
		}
		bench_scaling_who(r, who, sizeof(who));
		bench_scaling_note(r, note, sizeof(note));
		/* %g: 1 MiB frames come in thousands per second, 64 B ones in
		 * tens of millions. */
		if (isnan(r->frames_per_s))
			snprintf(a, sizeof(a), "%9s", "-");
		else
			snprintf(a, sizeof(a), "%9.4g", r->frames_per_s / 1e6);
		fprintf(out, "  %-6s %-9s %-12s %6u %-5s %s %s %s %s %s %s %s %s %s %4s  %s\n",
			bench_format_size(sz, sizeof(sz), r->frame_bytes), r->mode, who,
			r->slots, r->api, a,
			fmt(b, sizeof(b), r->bytes_per_s / 1e9, 7, 2),
			fmt(c, sizeof(c), bench_median_pct(r), 4, 0),
			fmt(d, sizeof(d), r->base_ratio, 6, 2),
			fmt_ns(e, sizeof(e), r->cpu_ns_per_frame),
			fmt(f, sizeof(f), r->cpu_cores, 5, 2),
			fmt(g, sizeof(g), r->syscalls_per_frame, 7, 4),
			fmt(h, sizeof(h), r->run_ratio, 5, 2),
			fmt_ns(k, sizeof(k), r->longest_gap_ns),
			bench_data_word(r), note);
	}
}

static void
bench_table_latency(FILE *out)
{
	char a[32], b[32], c[32], d[32], e[32], f[32], gap[32], note[256];
	size_t i;
	bool head = false;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		if (!bench_is_latency(r))
			continue;
		if (!head) {
			fprintf(out, "\nLatency, one-way between two processes (us; ratios: p50 / floor)\n");
			fprintf(out, "  %-15s %-6s %6s %8s %8s %8s %8s %9s %7s %7s  %s\n",
				"system", "mode", "gap", "samples", "p50", "p99", "p99.9", "max",
				"/pp", "/wake", "note");
			head = true;
		}
		if (strcmp(r->system, "ringbuf") == 0 && strcmp(r->mode, "sleep") == 0)
			snprintf(note, sizeof(note), "%llu futex sleeps%s%s",
				 (unsigned long long)r->wakeups, r->note[0] ? "; " : "", r->note);
		else
			snprintf(note, sizeof(note), "%s", r->note);
		if (r->slow_host)
			snprintf(note + strlen(note), sizeof(note) - strlen(note), "%sslow host",
				 note[0] ? "; " : "");
		if (r->gap_ns == 0)
			snprintf(gap, sizeof(gap), "-");
		else if (r->gap_ns >= 1000000)
			snprintf(gap, sizeof(gap), "%.3gms", (double)r->gap_ns / 1e6);
		else
			snprintf(gap, sizeof(gap), "%.3gus", (double)r->gap_ns / 1e3);
		fprintf(out, "  %-15s %-6s %6s %8llu %s %s %s %s %s %s  %s\n", r->system, r->mode,
			gap, (unsigned long long)r->samples,
			fmt(a, sizeof(a), r->p50_ns / 1e3, 8, 2),
			fmt(b, sizeof(b), r->p99_ns / 1e3, 8, 2),
			fmt(c, sizeof(c), r->p999_ns / 1e3, 8, 2),
			fmt(d, sizeof(d), r->max_ns / 1e3, 9, 1),
			fmt(e, sizeof(e), r->ratio[0], 7, 2),
			fmt(f, sizeof(f), r->ratio[1], 7, 2), note);
	}
}

static void
bench_table_cost(FILE *out)
{
	char a[32], b[32], c[32], sz[32];
	size_t i;
	bool head = false;

	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		if (strcmp(r->suite, "cost") != 0)
			continue;
		if (!head) {
			fprintf(out, "\nCost (ringbuf)\n");
			fprintf(out, "  %-18s %-6s %-5s %8s %9s %10s  %s\n", "what", "size",
				"api", "%core", "sys/frame", "Mfr/s", "note");
			head = true;
		}
		fprintf(out, "  %-18s %-6s %-5s %s %s %s  %s\n", r->mode,
			bench_format_size(sz, sizeof(sz), r->frame_bytes),
			r->api[0] ? r->api : "-",
			fmt(a, sizeof(a), r->cpu_pct, 8, 3),
			fmt(b, sizeof(b), r->syscalls_per_frame, 9, 4),
			fmt(c, sizeof(c), r->frames_per_s / 1e6, 10, 3), r->note);
	}
}

void
bench_print_table(FILE *out, const struct bench_options *o)
{
	char machine[256], ring[32];

	bench_machine(machine, sizeof(machine));
	if (o->slots)
		snprintf(ring, sizeof(ring), "%u slots", o->slots);
	else
		bench_format_size(ring, sizeof(ring), o->ring_bytes);
	fprintf(out, "rb-bench %s on %s\n", RB_VERSION_STRING, machine);
	fprintf(out, "throughput points of %.3g s, best of %u rounds; ring %s%s, batch %u; %s\n",
		(double)o->duration_ns / 1e9, o->repeat, ring,
		o->slots ? "" : " (4..65536 slots)", o->batch,
		o->pin ? "pinned (producer CPU 0, consumers CPU 1..)" : "not pinned");
	if (o->spin_ns)
		fprintf(out, "producers and consumers spin %.3g us before sleeping (--spin)\n",
			(double)o->spin_ns / 1e3);
	bench_table_memory(out);
	bench_table_streams(out);
	bench_table_scaling(out);
	bench_table_latency(out);
	bench_table_cost(out);
	bench_print_targets(out);
	fflush(out);
}

/* ---- CSV ---------------------------------------------------------------- */

static void
csv_num(FILE *out, double v)
{
	if (isnan(v) || isinf(v))
		fputs(",", out);
	else
		fprintf(out, ",%.6g", v);
}

static void
csv_text(FILE *out, const char *s)
{
	fputs(",\"", out);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', out);
		fputc(*s, out);
	}
	fputc('"', out);
}

void
bench_print_csv(FILE *out)
{
	size_t i;

	fputs("suite,system,mode,api,consumers,lossy,frame_bytes,slots,rate_limit,"
	      "seconds,frames,produced,frames_per_s,bytes_per_s,gbytes_per_s,"
	      "lost_ratio,samples,p50_ns,p99_ns,p999_ns,max_ns,cpu_pct,"
	      "syscalls_per_frame,wakeups,verified,failed,ratio_thread_ring,"
	      "ratio_ck_ring,ratio_pipe_or_wake,repeats,min_bytes_per_s,"
	      "median_bytes_per_s,speed,gap_ns,slow_host,producers,max_producers,"
	      "members,ratio_baseline,cpu_ns_per_frame,cpu_cores,run_ratio,"
	      "longest_gap_ns,median_ratio_thread_ring,note\n", out);
	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		fprintf(out, "%s,%s,%s,%s,%u,%d,%llu,%u", r->suite, r->system, r->mode,
			r->api, r->consumers, r->lossy ? 1 : 0,
			(unsigned long long)r->frame_bytes, r->slots);
		csv_num(out, r->rate_limit);
		csv_num(out, r->seconds);
		fprintf(out, ",%llu,%llu", (unsigned long long)r->frames,
			(unsigned long long)r->produced);
		csv_num(out, r->frames_per_s);
		csv_num(out, r->bytes_per_s);
		csv_num(out, r->bytes_per_s / 1e9);
		csv_num(out, r->lost_ratio);
		fprintf(out, ",%llu", (unsigned long long)r->samples);
		csv_num(out, r->p50_ns);
		csv_num(out, r->p99_ns);
		csv_num(out, r->p999_ns);
		csv_num(out, r->max_ns);
		csv_num(out, r->cpu_pct);
		csv_num(out, r->syscalls_per_frame);
		fprintf(out, ",%llu,%d,%d", (unsigned long long)r->wakeups, r->verified,
			r->failed ? 1 : 0);
		/* Latency rows keep the futex-wake ratio in the second column. */
		csv_num(out, r->ratio[0]);
		csv_num(out, strcmp(r->suite, "latency") == 0 ? NAN : r->ratio[1]);
		csv_num(out, strcmp(r->suite, "latency") == 0 ? r->ratio[1] : r->ratio[2]);
		fprintf(out, ",%u", r->repeats);
		csv_num(out, r->min_bytes_per_s);
		csv_num(out, r->median_bytes_per_s);
		fprintf(out, ",%s,%llu,%d", r->speed, (unsigned long long)r->gap_ns,
			r->slow_host ? 1 : 0);
		fprintf(out, ",%u,%u,%u", r->producers, r->max_producers, r->members);
		csv_num(out, r->base_ratio);
		csv_num(out, r->cpu_ns_per_frame);
		csv_num(out, r->cpu_cores);
		csv_num(out, r->run_ratio);
		csv_num(out, r->longest_gap_ns);
		csv_num(out, r->median_ratio);
		csv_text(out, r->note);
		fputc('\n', out);
	}
	fflush(out);
}

/* ---- JSON --------------------------------------------------------------- */

void
bench_print_json(FILE *out, const struct bench_options *o)
{
	struct cli_json j;
	char machine[256];
	size_t i;

	bench_machine(machine, sizeof(machine));
	cli_json_begin(&j, out);
	cli_json_string(&j, "tool", "rb-bench");
	cli_json_string(&j, "version", RB_VERSION_STRING);
	cli_json_string(&j, "machine", machine);
	cli_json_object(&j, "options");
	cli_json_double(&j, "duration_s", (double)o->duration_ns / 1e9);
	cli_json_u64(&j, "repeat", o->repeat);
	cli_json_u64(&j, "ring_bytes", o->ring_bytes);
	cli_json_u64(&j, "slots", o->slots);
	cli_json_u64(&j, "batch", o->batch);
	cli_json_u64(&j, "consumers", o->consumers);
	cli_json_u64(&j, "scale", o->scale);
	cli_json_array(&j, "scale_sizes");
	for (i = 0; i < o->nscale_sizes; i++)
		cli_json_u64(&j, NULL, o->scale_sizes[i]);
	cli_json_array_end(&j);
	cli_json_bool(&j, "pinned", o->pin);
	cli_json_u64(&j, "spin_ns", o->spin_ns);
	cli_json_u64(&j, "calm_wait_ns", o->calm_ns);
	cli_json_bool(&j, "quick", o->quick);
	cli_json_object_end(&j);
	cli_json_array(&j, "results");
	for (i = 0; i < nresults; i++) {
		const struct bench_result *r = results[i];

		cli_json_object(&j, NULL);
		cli_json_string(&j, "suite", r->suite);
		cli_json_string(&j, "system", r->system);
		cli_json_string(&j, "mode", r->mode);
		cli_json_string(&j, "api", r->api);
		cli_json_u64(&j, "consumers", r->consumers);
		cli_json_bool(&j, "lossy", r->lossy);
		cli_json_u64(&j, "frame_bytes", r->frame_bytes);
		cli_json_u64(&j, "slots", r->slots);
		cli_json_double(&j, "rate_limit", r->rate_limit);
		cli_json_double(&j, "seconds", r->seconds);
		cli_json_u64(&j, "frames", r->frames);
		cli_json_u64(&j, "produced", r->produced);
		cli_json_double(&j, "frames_per_s", r->frames_per_s);
		cli_json_double(&j, "bytes_per_s", r->bytes_per_s);
		cli_json_double(&j, "lost_ratio", r->lost_ratio);
		cli_json_u64(&j, "samples", r->samples);
		cli_json_u64(&j, "gap_ns", r->gap_ns);
		cli_json_double(&j, "p50_ns", r->p50_ns);
		cli_json_double(&j, "p99_ns", r->p99_ns);
		cli_json_double(&j, "p999_ns", r->p999_ns);
		cli_json_double(&j, "max_ns", r->max_ns);
		cli_json_double(&j, "cpu_pct", r->cpu_pct);
		cli_json_double(&j, "syscalls_per_frame", r->syscalls_per_frame);
		cli_json_u64(&j, "wakeups", r->wakeups);
		if (r->verified == 0)
			cli_json_null(&j, "verified");
		else
			cli_json_bool(&j, "verified", r->verified > 0);
		cli_json_bool(&j, "failed", r->failed);
		cli_json_bool(&j, "slow_host", r->slow_host);
		if (strcmp(r->suite, "latency") == 0) {
			cli_json_double(&j, "ratio_pingpong", r->ratio[0]);
			cli_json_double(&j, "ratio_futex_wake", r->ratio[1]);
		} else if (bench_is_scaling(r)) {
			uint32_t k, n = r->members ? r->members : r->producers;

			cli_json_u64(&j, "producers", r->producers);
			cli_json_u64(&j, "max_producers", r->max_producers);
			cli_json_u64(&j, "group_members", r->members);
			/* Frames committed by each producer (mode producers) or
			 * received by each member (mode group). */
			cli_json_array(&j, "per_process_frames");
			for (k = 0; k < n && k < BENCH_MAX_SCALE; k++)
				cli_json_u64(&j, NULL, r->per_proc[k]);
			cli_json_array_end(&j);
			cli_json_double(&j, "ratio_baseline", r->base_ratio);
			cli_json_double(&j, "cpu_ns_per_frame", r->cpu_ns_per_frame);
			cli_json_double(&j, "worst_cpu_ns_per_frame", r->worst_cpu_ns_per_frame);
			cli_json_double(&j, "cpu_cores", r->cpu_cores);
			cli_json_double(&j, "expected_s", (double)o->duration_ns / 1e9);
			cli_json_double(&j, "run_over_expected", r->run_ratio);
			cli_json_double(&j, "longest_gap_ns", r->longest_gap_ns);
		} else {
			cli_json_double(&j, "ratio_thread_ring", r->ratio[0]);
			cli_json_double(&j, "median_ratio_thread_ring", r->median_ratio);
			cli_json_double(&j, "ratio_ck_ring", r->ratio[1]);
			cli_json_double(&j, "ratio_pipe", r->ratio[2]);
		}
		cli_json_u64(&j, "repeats", r->repeats);
		cli_json_double(&j, "min_bytes_per_s", r->min_bytes_per_s);
		cli_json_double(&j, "median_bytes_per_s", r->median_bytes_per_s);
		cli_json_string(&j, "speed", r->speed);
		cli_json_string(&j, "note", r->note);
		cli_json_object_end(&j);
	}
	cli_json_array_end(&j);
	bench_json_targets(&j);
	cli_json_end(&j);
}
