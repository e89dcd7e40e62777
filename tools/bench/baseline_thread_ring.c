/*
 * The practical limit for touch mode: a raw single-producer single-consumer
 * ring between two threads of one process, nothing but plain C11 atomics
 * and spinning. No shared-memory segment, no descriptors, no futex, no
 * liveness: the producer writes every byte of a slot and publishes it with
 * one release store of its head; the consumer reads every byte and hands
 * the slot back with one release store of its tail. Each side keeps a
 * private copy of the other's index and reloads it only when the copy says
 * full (or empty), and the two indices live 128 bytes apart (adjacent-line
 * prefetch), which is what a careful hand-written ring does.
 *
 * Same frame size, slot count and slot stride as the ringbuf point it is
 * compared with, same fill and checksum functions (touch.c).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "bench.h"

#define TR_LINE 128

struct tr_ring {
	_Alignas(TR_LINE) _Atomic uint64_t head; /* written by the producer */
	_Alignas(TR_LINE) _Atomic uint64_t tail; /* written by the consumer */
	_Alignas(TR_LINE) _Atomic uint64_t stop; /* final head, or UINT64_MAX */
	_Alignas(TR_LINE) uint8_t *slots;
	uint64_t stride;
	uint64_t mask;
	uint64_t frame_bytes;
	uint64_t duration_ns;
	bool touch;
	int consumer_cpu;
	/* Results. */
	uint64_t t_start;
	uint64_t t_end;
	uint64_t produced;
	uint64_t consumed;
	uint64_t bad;
};

static void
tr_pause(void)
{
	__builtin_ia32_pause();
}

static void *
tr_consumer(void *arg)
{
	struct tr_ring *r = arg;
	uint64_t t = 0, head = 0, bad = 0;

	(void)bench_pin(r->consumer_cpu);
	for (;;) {
		while (t == head) {
			head = atomic_load_explicit(&r->head, memory_order_acquire);
			if (t != head)
				break;
			if (atomic_load_explicit(&r->stop, memory_order_acquire) == t)
				goto done;
			tr_pause();
		}
		if (r->touch) {
			const uint8_t *slot = r->slots + (t & r->mask) * r->stride;

			if (bench_sum(slot, r->frame_bytes) != bench_expected_sum(r->frame_bytes, t))
				bad++;
		}
		t++;
		atomic_store_explicit(&r->tail, t, memory_order_release);
	}
done:
	r->t_end = bench_now_ns();
	r->consumed = t;
	r->bad = bad;
	return NULL;
}

static void
tr_producer(struct tr_ring *r)
{
	uint64_t n = 0, tail = 0, slots = r->mask + 1, t0, deadline;
	uint64_t every = 65536 / r->frame_bytes, until = 1;

	if (every == 0)
		every = 1;
	t0 = bench_now_ns();
	deadline = t0 + r->duration_ns;
	for (;;) {
		if (--until == 0) {
			if (bench_now_ns() >= deadline)
				break;
			until = every;
		}
		while (n - tail >= slots) {
			tail = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (n - tail < slots)
				break;
			tr_pause();
		}
		if (r->touch)
			bench_fill(r->slots + (n & r->mask) * r->stride, r->frame_bytes, n);
		n++;
		atomic_store_explicit(&r->head, n, memory_order_release);
	}
	r->t_start = t0;
	r->produced = n;
	atomic_store_explicit(&r->stop, n, memory_order_release);
}

static int
tr_point(const struct bench_options *o, uint64_t size, bool touch)
{
	struct bench_result *res;
	struct tr_ring *r;
	pthread_t thread;
	uint32_t slots = bench_slots_for(o, size);
	uint64_t stride = (size + 63) & ~63ull, bytes = stride * slots;
	char sz[32];
	int rc;

	res = bench_result_add("baselines", "thread-ring", touch ? "touch" : "notouch");
	if (res == NULL)
		return -ENOMEM;
	bench_format_size(sz, sizeof(sz), size);
	bench_progress("baseline thread-ring %s %s", sz, touch ? "touch" : "notouch");
	bench_calm_before(o, res);
	snprintf(res->api, sizeof(res->api), "frame");
	res->consumers = 1;
	res->slots = slots;
	r = aligned_alloc(TR_LINE, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	memset(r, 0, sizeof(*r));
	r->slots = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (r->slots == MAP_FAILED) {
		free(r);
		res->failed = true;
		snprintf(res->note, sizeof(res->note), "mmap: %s", strerror(errno));
		return -ENOMEM;
	}
	/* Allocate the pages now, as the ring segment's are at create. */
	memset(r->slots, 0, bytes);
	r->stride = stride;
	r->mask = slots - 1;
	r->frame_bytes = size;
	r->duration_ns = o->duration_ns;
	r->touch = touch;
	r->consumer_cpu = bench_cpu_for(o, 1);
	atomic_store(&r->stop, UINT64_MAX);
	rc = pthread_create(&thread, NULL, tr_consumer, r);
	if (rc != 0) {
		munmap(r->slots, bytes);
		free(r);
		res->failed = true;
		return -rc;
	}
	/* The producer is this thread, pinned like ringbuf's producer and put
	 * back afterwards. */
	{
		cpu_set_t saved;

		(void)sched_getaffinity(0, sizeof(saved), &saved);
		(void)bench_pin(bench_cpu_for(o, 0));
		tr_producer(r);
		(void)sched_setaffinity(0, sizeof(saved), &saved);
	}
	pthread_join(thread, NULL);
	bench_result_throughput(res, size, r->consumed,
				(double)(r->t_end - r->t_start) / 1e9);
	res->produced = r->produced;
	res->verified = (r->bad == 0 && r->consumed == r->produced) ? 1 : -1;
	if (res->verified < 0)
		snprintf(res->note, sizeof(res->note), "%llu frames did not verify",
			 (unsigned long long)r->bad);
	munmap(r->slots, bytes);
	free(r);
	return 0;
}

int
bench_baseline_thread_ring(const struct bench_options *o, uint64_t size)
{
	int rc = 0, touch;

	for (touch = 1; touch >= 0; touch--) {
		if (!(o->modes & (touch ? BENCH_MODE_TOUCH : BENCH_MODE_NOTOUCH)))
			continue;
		rc = tr_point(o, size, touch) ? -ECHILD : rc;
		if (cli_stop)
			return -EINTR;
	}
	return rc;
}
