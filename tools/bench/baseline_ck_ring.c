/*
 * The do-it-yourself zero-copy approach: frame data in slots of a shared
 * mapping, slot indices passed through a concurrencykit SPSC ring
 * (ck_ring_enqueue_spsc / ck_ring_dequeue_spsc), and free slots handed back
 * through a second ck_ring, between two processes. Waiting is spinning:
 * ck_ring has no notification, which is the usual reason such designs burn
 * a core when idle.
 *
 * ck_ring keeps no pointers in its struct (the buffer is passed to every
 * call), so the rings themselves can live in the shared mapping; each
 * process passes its own address of the buffers. Each entry carries the
 * slot index in its low 24 bits and the frame's sequence number above, so
 * the consumer can verify what it reads.
 */
#include <ck_pr.h>
#include <ck_ring.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "bench.h"

#define CKR_INDEX_BITS 24
#define CKR_INDEX_MASK ((1ull << CKR_INDEX_BITS) - 1)
#define CKR_END UINTPTR_MAX

struct ckr_shared {
	struct bench_gate gate;
	uint8_t pad0[120];
	struct ck_ring full; /* producer -> consumer: filled slots */
	struct ck_ring free; /* consumer -> producer: slots to reuse */
	/* Results. */
	struct bench_pair_counts counts;
	/* Then: full buffer, free buffer (capacity entries each), slots. */
};

struct ckr_ctx {
	struct ckr_shared *sh;
	struct ck_ring_buffer *full_buf;
	struct ck_ring_buffer *free_buf;
	uint8_t *slots;
	uint64_t stride;
	uint64_t frame_bytes;
	uint64_t slot_bytes;
	uint64_t duration_ns;
	bool touch;
};

/* Maps the pages into this process before the clock starts (as for
 * ringbuf: page faults are set-up, not streaming). */
static void
ckr_map_pages(const struct ckr_ctx *x)
{
	const volatile uint8_t *p = x->slots;
	uint64_t off;

	for (off = 0; off < x->slot_bytes; off += 4096)
		(void)p[off];
}

static int
ckr_producer(void *arg)
{
	struct ckr_ctx *x = arg;
	struct ckr_shared *sh = x->sh;
	uint64_t n = 0, t0, deadline, every = 65536 / x->frame_bytes, until = 1;
	void *entry;

	if (every == 0)
		every = 1;
	ckr_map_pages(x);
	bench_gate_arrive(&sh->gate);
	t0 = bench_now_ns();
	deadline = t0 + x->duration_ns;
	for (;;) {
		uintptr_t idx;

		if (--until == 0) {
			if (bench_now_ns() >= deadline)
				break;
			until = every;
		}
		while (!ck_ring_dequeue_spsc(&sh->free, x->free_buf, &entry))
			ck_pr_stall();
		idx = (uintptr_t)entry;
		if (x->touch)
			bench_fill(x->slots + idx * x->stride, x->frame_bytes, n);
		entry = (void *)((n << CKR_INDEX_BITS) | idx);
		/* The full ring holds every slot, so this never spins. */
		while (!ck_ring_enqueue_spsc(&sh->full, x->full_buf, entry))
			ck_pr_stall();
		n++;
	}
	sh->counts.t_start = t0;
	sh->counts.produced = n;
	while (!ck_ring_enqueue_spsc(&sh->full, x->full_buf, (void *)CKR_END))
		ck_pr_stall();
	return 0;
}

static int
ckr_consumer(void *arg)
{
	struct ckr_ctx *x = arg;
	struct ckr_shared *sh = x->sh;
	uint64_t n = 0, bad = 0;
	void *entry;

	ckr_map_pages(x);
	bench_gate_arrive(&sh->gate);
	for (;;) {
		uintptr_t v, idx;
		uint64_t seq;

		while (!ck_ring_dequeue_spsc(&sh->full, x->full_buf, &entry))
			ck_pr_stall();
		v = (uintptr_t)entry;
		if (v == CKR_END)
			break;
		idx = v & CKR_INDEX_MASK;
		seq = v >> CKR_INDEX_BITS;
		if (seq != n)
			bad++;
		if (x->touch && bench_sum(x->slots + idx * x->stride, x->frame_bytes) !=
					bench_expected_sum(x->frame_bytes, seq))
			bad++;
		n++;
		while (!ck_ring_enqueue_spsc(&sh->free, x->free_buf, (void *)idx))
			ck_pr_stall();
	}
	sh->counts.t_end = bench_now_ns();
	sh->counts.consumed = n;
	sh->counts.bad = bad;
	return 0;
}

static int
ckr_point(const struct bench_options *o, uint64_t size, bool touch)
{
	struct bench_result *res;
	struct ckr_ctx x;
	uint32_t slots = bench_slots_for(o, size), cap = slots * 2, i;
	uint64_t stride = (size + 63) & ~63ull;
	size_t head = (sizeof(struct ckr_shared) + 4095) & ~(size_t)4095;
	size_t bufs = ((size_t)cap * 2 * sizeof(struct ck_ring_buffer) + 4095) & ~(size_t)4095;
	size_t total = head + bufs + (size_t)(stride * slots);
	char sz[32];
	int rc;

	res = bench_result_add("baselines", "ck_ring", touch ? "touch" : "notouch");
	if (res == NULL)
		return -ENOMEM;
	bench_format_size(sz, sizeof(sz), size);
	bench_progress("baseline ck_ring %s %s", sz, touch ? "touch" : "notouch");
	bench_calm_before(o, res);
	snprintf(res->api, sizeof(res->api), "frame");
	res->consumers = 1;
	res->slots = slots;
	if (slots - 1 > CKR_INDEX_MASK) {
		res->failed = true;
		snprintf(res->note, sizeof(res->note), "too many slots");
		return -EINVAL;
	}
	memset(&x, 0, sizeof(x));
	x.sh = bench_shared_alloc(total);
	if (x.sh == NULL) {
		res->failed = true;
		snprintf(res->note, sizeof(res->note), "no memory for %zu bytes", total);
		return -ENOMEM;
	}
	/* Allocate every page now, as rb_ring_create does for a ring. */
	memset(x.sh, 0, total);
	x.full_buf = (struct ck_ring_buffer *)((uint8_t *)x.sh + head);
	x.free_buf = x.full_buf + cap;
	x.slots = (uint8_t *)x.sh + head + bufs;
	x.stride = stride;
	x.frame_bytes = size;
	x.slot_bytes = stride * slots;
	x.duration_ns = o->duration_ns;
	x.touch = touch;
	/* ck_ring holds size - 1 entries: twice the slots is room for all. */
	ck_ring_init(&x.sh->full, cap);
	ck_ring_init(&x.sh->free, cap);
	for (i = 0; i < slots; i++)
		(void)ck_ring_enqueue_spsc(&x.sh->free, x.free_buf, (void *)(uintptr_t)i);

	if ((rc = (int)bench_spawn(ckr_consumer, &x, bench_cpu_for(o, 1))) < 0 ||
	    (rc = (int)bench_spawn(ckr_producer, &x, bench_cpu_for(o, 0))) < 0) {
		bench_kill_all();
		goto out;
	}
	rc = bench_run_gated(&x.sh->gate, 2, o);
	if (rc != 0)
		goto out;
	bench_result_pair(res, size, &x.sh->counts);
out:
	if (rc != 0) {
		res->failed = true;
		snprintf(res->note, sizeof(res->note), "%s", strerror(-rc));
	}
	bench_shared_free(x.sh, total);
	return rc;
}

int
bench_baseline_ck_ring(const struct bench_options *o, uint64_t size)
{
	int rc = 0, touch;

	for (touch = 1; touch >= 0; touch--) {
		if (!(o->modes & (touch ? BENCH_MODE_TOUCH : BENCH_MODE_NOTOUCH)))
			continue;
		rc = ckr_point(o, size, touch) ? -ECHILD : rc;
		if (cli_stop)
			return -EINTR;
	}
	return rc;
}
