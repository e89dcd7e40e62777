/*
 * The targets of issue 5, checked against the figures of this run. They are
 * printed, never asserted: a smoke run on a loaded CI machine must not fail
 * because of timing, and a missed target is a finding to explain (see
 * docs/PERFORMANCE.md), not a number to hide.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define TARGET_MAX 24

struct target {
	char what[80];
	char value[256];
	int met; /* 1 met, 0 missed, -1 not measured in this run */
};

static struct target targets[TARGET_MAX];
static unsigned ntargets;

static struct target *
target_new(const char *what)
{
	struct target *t = &targets[ntargets < TARGET_MAX ? ntargets++ : TARGET_MAX - 1];

	snprintf(t->what, sizeof(t->what), "%s", what);
	t->value[0] = '\0';
	t->met = -1;
	return t;
}

static void
target_append(struct target *t, const char *fmt_text, double v)
{
	size_t len = strlen(t->value);

	snprintf(t->value + len, sizeof(t->value) - len, "%s", len ? ", " : "");
	len = strlen(t->value);
	snprintf(t->value + len, sizeof(t->value) - len, fmt_text, v);
}

/* Adds a measured value to t; `ok` says whether it meets the target. */
static void
target_value(struct target *t, const char *fmt_text, double v, bool ok)
{
	target_append(t, fmt_text, v);
	if (t->met != 0)
		t->met = ok ? 1 : 0;
}

static bool
is_rb(const struct bench_result *r, const char *suite, const char *mode)
{
	return !r->failed && strcmp(r->system, "ringbuf") == 0 &&
	       strcmp(r->suite, suite) == 0 && strcmp(r->mode, mode) == 0 &&
	       !r->lossy && r->consumers <= 1;
}

static void
targets_ratio_large(const char *api)
{
	char what[80], sz[32], f[48];
	struct target *t;
	size_t i;

	snprintf(what, sizeof(what), "touch >= 64KiB, %s API: >= 0.90 x thread-ring", api);
	t = target_new(what);
	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (!is_rb(r, "throughput", "touch") || strcmp(r->api, api) != 0 ||
		    r->frame_bytes < 65536 || isnan(r->ratio[0]))
			continue;
		snprintf(f, sizeof(f), "%s %%.2f", bench_format_size(sz, sizeof(sz), r->frame_bytes));
		target_value(t, f, r->ratio[0], r->ratio[0] >= 0.90);
	}
}

static void
targets_small(const char *api, double min_rate)
{
	char what[80];
	struct target *t;
	size_t i;

	snprintf(what, sizeof(what), "64B frames, %s API: >= %.0f Mframes/s", api, min_rate / 1e6);
	t = target_new(what);
	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (r->failed || strcmp(r->system, "ringbuf") != 0 ||
		    strcmp(r->suite, "throughput") != 0 || r->lossy || r->consumers > 1 ||
		    strcmp(r->api, api) != 0 || r->frame_bytes != 64)
			continue;
		target_value(t, strcmp(r->mode, "touch") == 0 ? "touch %.1f" : "notouch %.1f",
			     r->frames_per_s / 1e6, r->frames_per_s >= min_rate);
	}
}

/*
 * Issue 15's targets: small and medium frames against the two-thread ring,
 * judged on the median round (med/thr), not the best.
 */
static double
issue15_floor(const char *api, uint64_t bytes)
{
	if (bytes < 1024)
		return strcmp(api, "frame") == 0 ? 0.6 : 0.8;
	if (strcmp(api, "frame") == 0 && bytes > 4096)
		return NAN; /* large frames: issue 5's target above */
	return 0.9;
}

static void
targets_ratio_small(const char *api)
{
	char what[80], sz[32], f[48];
	struct target *t;
	size_t i;

	snprintf(what, sizeof(what), "touch, %s API, median: %s x thread-ring", api,
		 strcmp(api, "frame") == 0 ? ">= 0.6 at 64B, 0.9 at 1-4KiB"
					   : ">= 0.8 at 64B, 0.9 from 1KiB");
	t = target_new(what);
	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);
		double floor = issue15_floor(api, r->frame_bytes);

		if (!is_rb(r, "throughput", "touch") || strcmp(r->api, api) != 0 ||
		    isnan(floor) || isnan(r->median_ratio))
			continue;
		snprintf(f, sizeof(f), "%s %%.2f", bench_format_size(sz, sizeof(sz), r->frame_bytes));
		target_value(t, f, r->median_ratio, r->median_ratio >= floor);
	}
}

/* No size where the batch API's median round is slower than the frame API's. */
static void
targets_batch_not_slower(void)
{
	struct target *t = target_new("touch, batch API median >= frame API median, every size");
	char sz[32], f[48];
	size_t i, j;

	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *b = bench_result_at(i);

		if (!is_rb(b, "throughput", "touch") || strcmp(b->api, "batch") != 0 ||
		    !(b->median_bytes_per_s > 0))
			continue;
		for (j = 0; j < bench_result_count(); j++) {
			const struct bench_result *fr = bench_result_at(j);

			if (!is_rb(fr, "throughput", "touch") || strcmp(fr->api, "frame") != 0 ||
			    fr->frame_bytes != b->frame_bytes || !(fr->median_bytes_per_s > 0))
				continue;
			snprintf(f, sizeof(f), "%s %%.2f", bench_format_size(sz, sizeof(sz), b->frame_bytes));
			target_value(t, f, b->median_bytes_per_s / fr->median_bytes_per_s,
				     b->median_bytes_per_s >= fr->median_bytes_per_s);
		}
	}
}

/* 64 B, per-frame API, payload not touched: the median round's rate. */
static void
targets_notouch_frame(double min_rate)
{
	struct target *t = target_new("64B notouch, frame API, median: >= 20 Mframes/s");
	size_t i;

	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);
		double med;

		if (!is_rb(r, "throughput", "notouch") || strcmp(r->api, "frame") != 0 ||
		    r->frame_bytes != 64 || !(r->bytes_per_s > 0) || isnan(r->median_bytes_per_s))
			continue;
		med = r->frames_per_s * r->median_bytes_per_s / r->bytes_per_s;
		target_value(t, "%.1f", med / 1e6, med >= min_rate);
	}
}

static void
targets_latency(void)
{
	struct target *woken = target_new("woken consumer p50 <= 1.5 x futex ping-pong one-way");
	struct target *spin = target_new("spinning consumer (spin_ns 1 s) p50 < 1 us");
	struct target *poll = target_new("polling consumer (RB_NO_WAIT) p50 < 1 us");
	size_t i;

	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);
		char f[64];

		if (isnan(r->p50_ns) || strcmp(r->system, "ringbuf") != 0 ||
		    strcmp(r->suite, "latency") != 0)
			continue;
		if (strcmp(r->mode, "sleep") == 0 && !isnan(r->ratio[0])) {
			/* The issue's pattern is the long gap (--gap, 1 ms); the
			 * 100 us one is shown for what it explains, not judged. */
			snprintf(f, sizeof(f), "gap %.0f us: p50 %%.1f us", (double)r->gap_ns / 1e3);
			if (r->gap_ns == BENCH_SHORT_GAP_NS && woken->met >= 0)
				target_append(woken, f, r->p50_ns / 1e3);
			else
				target_value(woken, f, r->p50_ns / 1e3, !r->failed && r->ratio[0] <= 1.5);
			target_append(woken, "x%.2f ping-pong", r->ratio[0]);
			if (!isnan(r->ratio[1]))
				target_append(woken, "x%.2f futex-wake", r->ratio[1]);
		} else if (strcmp(r->mode, "spin") == 0) {
			target_value(spin, "p50 %.3f us", r->p50_ns / 1e3,
				     !r->failed && r->p50_ns < 1000.0);
		} else if (strcmp(r->mode, "poll") == 0) {
			target_value(poll, "p50 %.3f us", r->p50_ns / 1e3,
				     !r->failed && r->p50_ns < 1000.0);
		}
	}
}

static void
targets_cost(void)
{
	struct target *idle = target_new("idle consumer < 1% of a core");
	struct target *blocked = target_new("blocked producer < 1% of a core");
	size_t i;

	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (r->failed || strcmp(r->suite, "cost") != 0 || isnan(r->cpu_pct))
			continue;
		if (strcmp(r->mode, "idle-consumer") == 0)
			target_value(idle, "%.3f%%", r->cpu_pct, r->cpu_pct < 1.0);
		else if (strcmp(r->mode, "blocked-producer") == 0)
			target_value(blocked, "%.3f%%", r->cpu_pct, r->cpu_pct < 1.0);
	}
}

static void
targets_pipe(void)
{
	struct target *t = target_new("1MiB frames, touch: >= 10 x pipe");
	size_t i;

	for (i = 0; i < bench_result_count(); i++) {
		const struct bench_result *r = bench_result_at(i);

		if (!is_rb(r, "throughput", "touch") || r->frame_bytes != (1u << 20) ||
		    isnan(r->ratio[2]))
			continue;
		target_value(t, strcmp(r->api, "batch") == 0 ? "batch x%.1f" : "frame x%.1f",
			     r->ratio[2], r->ratio[2] >= 10.0);
	}
}

static void
targets_compute(void)
{
	ntargets = 0;
	targets_ratio_large("frame");
	targets_ratio_large("batch");
	targets_small("batch", 50e6);
	targets_small("frame", 20e6);
	targets_latency();
	targets_cost();
	targets_pipe();
	/* Issue 15 (medians of the rounds). */
	targets_ratio_small("frame");
	targets_ratio_small("batch");
	targets_batch_not_slower();
	targets_notouch_frame(20e6);
}

void
bench_print_targets(FILE *out)
{
	unsigned i;

	targets_compute();
	fprintf(out, "\nTargets (issue 5: best round; issue 15: median round), figures of this run\n");
	for (i = 0; i < ntargets; i++) {
		const struct target *t = &targets[i];

		fprintf(out, "  %-7s %-54s %s\n",
			t->met < 0 ? "n/a" : t->met ? "met" : "MISSED", t->what,
			t->met < 0 ? "not measured in this run" : t->value);
	}
}

void
bench_json_targets(struct cli_json *j)
{
	unsigned i;

	targets_compute();
	cli_json_array(j, "targets");
	for (i = 0; i < ntargets; i++) {
		cli_json_object(j, NULL);
		cli_json_string(j, "target", targets[i].what);
		cli_json_string(j, "value", targets[i].value);
		if (targets[i].met < 0)
			cli_json_null(j, "met");
		else
			cli_json_bool(j, "met", targets[i].met > 0);
		cli_json_object_end(j);
	}
	cli_json_array_end(j);
}
