/*
 * Percentiles of latency samples. Nearest rank on the sorted samples: the
 * p-th percentile is the smallest sample with at least p% of the samples at
 * or below it. No interpolation: with 10,000 samples p99.9 is the 9,990th
 * value, a real observation, which is what a tail figure should be.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int
bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double
bench_rank(const uint64_t *sorted, uint64_t n, double p)
{
	uint64_t k = (uint64_t)ceil(p / 100.0 * (double)n);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)sorted[k - 1];
}

void
bench_percentiles(uint64_t *v, uint64_t n, struct bench_percentiles *out)
{
	long double sum = 0;
	uint64_t i;

	out->count = n;
	if (n == 0) {
		out->p50 = out->p99 = out->p999 = out->max = out->mean = NAN;
		return;
	}
	qsort(v, n, sizeof(*v), bench_cmp_u64);
	for (i = 0; i < n; i++)
		sum += v[i];
	out->p50 = bench_rank(v, n, 50.0);
	out->p99 = bench_rank(v, n, 99.0);
	out->p999 = bench_rank(v, n, 99.9);
	out->max = (double)v[n - 1];
	out->mean = (double)(sum / n);
}

int
bench_result_samples(struct bench_result *r, const uint64_t *v, uint64_t n)
{
	struct bench_percentiles pc;

	free(r->raw);
	r->raw = malloc((n ? n : 1) * sizeof(*v));
	if (r->raw == NULL)
		return -1;
	memcpy(r->raw, v, n * sizeof(*v));
	r->samples = n;
	bench_percentiles(r->raw, n, &pc);
	r->p50_ns = pc.p50;
	r->p99_ns = pc.p99;
	r->p999_ns = pc.p999;
	r->max_ns = pc.max;
	return 0;
}
