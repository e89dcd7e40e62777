/*
 * rb-bench: runs the selected suites and prints what they measured.
 *
 * Order matters on a noisy machine: for each frame size the baselines run
 * right before the ringbuf points they are compared with, so that a ratio
 * compares figures taken seconds apart, not minutes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

static void
bench_cleanup(void)
{
	bench_kill_all();
	bench_rings_cleanup();
}

/* Opens an output named by --csv/--json; "-" is stdout. */
static FILE *
bench_open_output(const char *path, const char *option)
{
	FILE *f;

	if (path == NULL)
		return NULL;
	if (strcmp(path, "-") == 0)
		return stdout;
	f = fopen(path, "we");
	if (f == NULL)
		cli_error("%s=%s: %s", option, path, strerror(errno));
	return f;
}

static int
bench_run(const struct bench_options *o)
{
	uint32_t i, round;

	if (o->suites & BENCH_SUITE_BASELINES) {
		if (bench_baseline_memory(o) == -EINTR || cli_stop)
			return -EINTR;
	}
	/*
	 * Rounds, not back-to-back repetitions: a slow minute on the host then
	 * spoils one measurement of each point, not every measurement of one.
	 * Throughput rows keep the best round, latency samples are pooled.
	 */
	for (round = 0; round < o->repeat; round++) {
		for (i = 0; i < o->nsizes; i++) {
			uint64_t size = o->sizes[i];

			if (o->suites & BENCH_SUITE_BASELINES) {
				if (bench_baseline_thread_ring(o, size) == -EINTR || cli_stop)
					return -EINTR;
				if (bench_baseline_ck_ring(o, size) == -EINTR || cli_stop)
					return -EINTR;
				if (bench_baseline_pipe(o, size) == -EINTR || cli_stop)
					return -EINTR;
			}
			if (o->suites & BENCH_SUITE_THROUGHPUT) {
				if (bench_throughput(o, size) == -EINTR || cli_stop)
					return -EINTR;
			}
		}
		/* Scaling points carry their own baseline (one producer, one
		 * consumer), measured right before them. */
		for (i = 0; (o->suites & BENCH_SUITE_THROUGHPUT) && i < o->nscale_sizes; i++) {
			if (bench_scaling(o, o->scale_sizes[i]) == -EINTR || cli_stop)
				return -EINTR;
		}
		if (o->suites & BENCH_SUITE_BASELINES) {
			if (bench_baseline_futex(o) == -EINTR || cli_stop)
				return -EINTR;
		}
		if (o->suites & BENCH_SUITE_LATENCY) {
			if (bench_latency(o) == -EINTR || cli_stop)
				return -EINTR;
		}
	}
	if (o->suites & BENCH_SUITE_COST) {
		if (bench_cost(o) == -EINTR || cli_stop)
			return -EINTR;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct bench_options o;
	FILE *csv, *json;
	bool table;
	int rc;

	cli_set_program("rb-bench");
	rc = bench_parse_options(argc, argv, &o);
	if (rc != 0)
		return rc < 0 ? BENCH_EXIT_OK : rc;
	if ((rc = cli_signals_install()) != 0) {
		cli_error("cannot install signal handlers: %s", strerror(-rc));
		return BENCH_EXIT_FAIL;
	}
	csv = bench_open_output(o.csv_path, "--csv");
	json = bench_open_output(o.json_path, "--json");
	if ((o.csv_path && csv == NULL) || (o.json_path && json == NULL))
		return BENCH_EXIT_USAGE;
	/* Children and rings go away on every way out of main; rings of a run
	 * that was SIGKILLed (the one case we cannot catch) go now. */
	atexit(bench_cleanup);
	if ((rc = (int)bench_rings_sweep_stale()) > 0)
		cli_note("removed %d ring(s) left by an earlier run that was killed", rc);

	rc = bench_run(&o);
	bench_progress_clear();
	if (rc == -EINTR || cli_stop) {
		bench_cleanup();
		cli_error("interrupted by %s; rings removed, children reaped",
			  cli_signal_name(cli_stop ? cli_stop : SIGINT));
		return BENCH_EXIT_SIGNAL;
	}

	bench_collapse_repeats();
	bench_compute_ratios();
	table = csv != stdout && json != stdout;
	if (table)
		bench_print_table(stdout, &o);
	if (csv != NULL) {
		bench_print_csv(csv);
		if (csv != stdout && fclose(csv) != 0)
			cli_error("--csv: %s", strerror(errno));
	}
	if (json != NULL) {
		bench_print_json(json, &o);
		if (json != stdout && fclose(json) != 0)
			cli_error("--json: %s", strerror(errno));
	}
	if (bench_any_failure()) {
		cli_error("some points failed or did not verify (see FAIL/BAD above)");
		return BENCH_EXIT_FAIL;
	}
	return BENCH_EXIT_OK;
}
