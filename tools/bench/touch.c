/*
 * The work a real pipeline does on a frame, in its cheapest honest form:
 * the producer writes every byte, the consumer reads every byte. Every
 * system in the bench (ringbuf, the two-thread ring, ck_ring, pipe, socket)
 * calls these same two functions, so that the ratios compare transports,
 * not loops.
 *
 * Content: 64-bit word i of frame seq is seq * K + i (K odd), and the
 * checksum is the wrapping sum of the words, which has a closed form. So the
 * consumer verifies every frame without a second pass: a stale slot, a
 * frame under the wrong sequence number or a torn write changes the sum.
 * Both loops are plain enough for the compiler to vectorise; with
 * target_clones they use AVX2 where the CPU has it (this machine does),
 * like memcpy does.
 */
#include <stdint.h>
#include <string.h>

#include "bench.h"

#define BENCH_K 0x9E3779B97F4A7C15ull

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && \
	!defined(__SANITIZE_ADDRESS__)
#define BENCH_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define BENCH_CLONES
#endif

BENCH_CLONES void
bench_fill(void *data, uint64_t length, uint64_t seq)
{
	uint64_t *w = data;
	uint64_t base = seq * BENCH_K, n = length / 8, i;
	uint8_t *tail = (uint8_t *)data + n * 8;

	for (i = 0; i < n; i++)
		w[i] = base + i;
	for (i = 0; i < length % 8; i++)
		tail[i] = (uint8_t)seq;
}

BENCH_CLONES uint64_t
bench_sum(const void *data, uint64_t length)
{
	const uint64_t *w = data;
	const uint8_t *tail = (const uint8_t *)data + (length / 8) * 8;
	uint64_t sum = 0, n = length / 8, i;

	for (i = 0; i < n; i++)
		sum += w[i];
	for (i = 0; i < length % 8; i++)
		sum += tail[i];
	return sum;
}

uint64_t
bench_expected_sum(uint64_t length, uint64_t seq)
{
	uint64_t n = length / 8;
	/* n * (n - 1) / 2 without overflow before the wrap we want anyway:
	 * one of n, n - 1 is even. */
	uint64_t tri = (n % 2 == 0) ? (n / 2) * (n - 1) : n * ((n - 1) / 2);

	if (n == 0)
		tri = 0;
	return n * (seq * BENCH_K) + tri + (length % 8) * (uint64_t)(uint8_t)seq;
}
