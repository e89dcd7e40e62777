// The per-frame fast paths (issue 15): a lossless consumer in no group on a
// single-producer ring takes a frame by its descriptor's seq, without
// loading write_seq (FORMAT.md §5.6), and rb_producer_acquire/commit,
// rb_consumer_acquire/release handle one frame without the batch loops.
#include "test_support.hpp"

#include "../ringbuf/rb_layout.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <vector>

using namespace rbt;

namespace {

const uint64_t SEC = 1000000000ull;

// A ring of the test, closed and removed at the end, pass or fail.
struct TestRing {
	RingGuard guard;
	rb_ring *r = nullptr;
	TestRing(const rb_ring_config &cfg, const char *tag) : guard(unique_name(tag))
	{
		REQUIRE(rb_ring_create(guard.name.c_str(), &cfg, &r) == 0);
	}
	~TestRing() { rb_ring_close(r); }
};

// write_seq through a mapping of the segment of its own, to stage what
// another CPU may show: the producer's write_seq store not visible yet.
struct WriteSeq {
	void *map = MAP_FAILED;
	size_t size = 0;
	uint64_t *word = nullptr;
	explicit WriteSeq(const std::string &name)
	{
		struct stat st;
		int fd = open(shm_path(name).c_str(), O_RDWR | O_CLOEXEC);

		REQUIRE((fd >= 0 && fstat(fd, &st) == 0));
		size = (size_t)st.st_size;
		map = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		REQUIRE(map != MAP_FAILED);
		uint64_t off = ((rb_shm_header *)map)->producer_offset;
		word = &((rb_shm_producer *)((uint8_t *)map + off))->write_seq;
	}
	~WriteSeq() { munmap(map, size); }
	void set(uint64_t v) { __atomic_store_n(word, v, __ATOMIC_SEQ_CST); }
};

void produce(rb_producer *p, uint64_t seq_expected, uint64_t length)
{
	rb_frame f;

	REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
	REQUIRE(f.seq == seq_expected);
	fill_pattern(f.data, length, f.seq);
	f.length = length;
	f.timestamp_ns = 1000 + f.seq;
	f.flags = 1u << RB_FRAME_USER_SHIFT;
	REQUIRE(rb_producer_commit(p, &f) == 0);
}

} // namespace

TEST_CASE("a frame taken by its descriptor and released before write_seq shows it: "
	  "no RB_E_CORRUPT", "[fast]")
{
	TestRing ring(small_config(64, 16), "rb-test-perf-early");
	WriteSeq ws(ring.guard.name);
	rb_producer *p;
	rb_consumer *c;
	rb_frame f;

	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	produce(p, 0, 64);
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	REQUIRE(rb_consumer_release(c, &f) == 0);
	produce(p, 1, 64);
	// As another CPU may see it: D(1).seq = 1 visible, write_seq still 1
	// (the commit of seq 1 stores write_seq = 2 right after).
	ws.set(1);
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 1);
	CHECK(check_pattern(f.data, 64, 1));
	REQUIRE(rb_consumer_release(c, &f) == 0);
	// read_seq 2 > write_seq 1 for a moment: nothing to read, not corrupt
	// (before the fix: write_seq - read_seq wrapped, RB_E_CORRUPT).
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == -EAGAIN);
	// The producer's store arrives; everything goes on.
	ws.set(2);
	produce(p, 2, 32);
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 2);
	CHECK(f.length == 32);
	REQUIRE(rb_consumer_release(c, &f) == 0);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == -EAGAIN);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
}

TEST_CASE("per-frame fast paths: three laps, every field, the stream's start and end", "[fast]")
{
	TestRing ring(small_config(64, 16), "rb-test-perf-laps");
	rb_producer *p;
	rb_consumer *c, *lossy;
	rb_consumer_options lo = {};
	rb_consumer_stats st;
	rb_frame f;

	lo.lossy = 1;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	REQUIRE(rb_consumer_attach(ring.r, &lo, &lossy) == 0);
	REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
	for (uint64_t s = 0; s < 48; s++) {
		produce(p, s, 1 + s % 64);
		REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
		CHECK(f.seq == s);
		CHECK(f.length == 1 + s % 64);
		CHECK(f.timestamp_ns == 1000 + s);
		CHECK(f.flags == ((1u << RB_FRAME_USER_SHIFT) | (s == 0 ? RB_FRAME_STREAM_START : 0)));
		CHECK(check_pattern(f.data, f.length, s));
		REQUIRE(rb_consumer_release(c, &f) == 0);
	}
	// The lossy consumer read nothing: three laps, 32 of 48 overwritten.
	uint64_t got = 0;
	int rc;
	while ((rc = rb_consumer_acquire(lossy, &f, RB_NO_WAIT)) == 0) {
		CHECK(f.seq == 32 + got);
		CHECK(rb_consumer_release(lossy, &f) == 0);
		got++;
	}
	CHECK(rc == -EAGAIN);
	CHECK(got == 16);
	rb_consumer_get_stats(lossy, &st);
	CHECK(st.lost == 32);
	CHECK(st.frames == 16);
	REQUIRE(rb_producer_end_stream(p, SEC) == 0);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_EOS);
	rb_consumer_get_stats(c, &st);
	CHECK(st.frames == 48);
	CHECK(st.lost == 0);
	CHECK(st.next_seq == 49);
	rb_consumer_detach(lossy);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
}

TEST_CASE("per-frame fast paths across threads: a 16-slot ring, sleepers woken, "
	  "every frame once", "[fast]")
{
	const uint64_t frames = 200000;
	TestRing ring(small_config(64, 16), "rb-test-perf-threads");
	rb_producer_options po = {};
	rb_consumer_options co = {};
	rb_producer *p;
	rb_consumer *c;
	std::atomic<int> prc{1};
	std::atomic<uint64_t> bad{0}, got{0};

	po.spin_ns = 200; // sleep often: the wake-ups are what is tested
	co.spin_ns = 200;
	REQUIRE(rb_producer_attach(ring.r, &po, &p) == 0);
	REQUIRE(rb_consumer_attach(ring.r, &co, &c) == 0);
	std::thread consumer([&] {
		rb_frame f;
		for (uint64_t s = 0; s < frames; s++) {
			// Bounded: a lost wake-up fails the test instead of hanging.
			if (rb_consumer_acquire(c, &f, 30 * SEC) != 0 || f.seq != s ||
			    !check_pattern(f.data, f.length, s))
				bad++;
			if (rb_consumer_release(c, &f) != 0)
				bad++;
			got++;
		}
	});
	std::thread producer([&] {
		rb_frame f;
		for (uint64_t s = 0; s < frames; s++) {
			if (rb_producer_acquire(p, &f, 30 * SEC) != 0 || f.seq != s)
				return;
			f.length = 8 + s % 57;
			fill_pattern(f.data, f.length, s);
			if (rb_producer_commit(p, &f) != 0)
				return;
		}
		prc = 0;
	});
	producer.join();
	consumer.join();
	CHECK(prc == 0);
	CHECK(bad == 0);
	CHECK(got == frames);
	rb_consumer_stats st;
	rb_consumer_get_stats(c, &st);
	CHECK(st.frames == frames);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
}

TEST_CASE("several producers committing out of order: a consumer reading by descriptor "
	  "takes no seq before the ones below it", "[fast]")
{
	rb_ring_config cfg = small_config(64, 16);
	cfg.max_producers = 2;
	TestRing ring(cfg, "rb-test-perf-order");
	rb_producer *p1, *p2;
	rb_consumer *c;
	rb_frame a, b, f[4];

	REQUIRE(rb_producer_attach(ring.r, nullptr, &p1) == 0);
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p2) == 0);
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	REQUIRE(rb_producer_acquire(p1, &a, RB_NO_WAIT) == 0);
	REQUIRE(rb_producer_acquire(p2, &b, RB_NO_WAIT) == 0);
	REQUIRE(a.seq == 0);
	REQUIRE(b.seq == 1);
	b.length = 8;
	REQUIRE(rb_producer_commit(p2, &b) == 0); // D(1).seq = 1, seq 0 still open
	CHECK(rb_consumer_acquire(c, &f[0], RB_NO_WAIT) == -EAGAIN);
	CHECK(rb_consumer_acquire_batch(c, f, 4, 1, RB_NO_WAIT) == -EAGAIN);
	a.length = 4;
	REQUIRE(rb_producer_commit(p1, &a) == 0);
	REQUIRE(rb_consumer_acquire(c, &f[0], RB_NO_WAIT) == 0);
	CHECK(f[0].seq == 0);
	CHECK(f[0].length == 4);
	REQUIRE(rb_consumer_release(c, &f[0]) == 0);
	REQUIRE(rb_consumer_acquire(c, &f[0], RB_NO_WAIT) == 0);
	CHECK(f[0].seq == 1);
	CHECK(f[0].length == 8);
	REQUIRE(rb_consumer_release(c, &f[0]) == 0);
	CHECK(rb_consumer_acquire(c, &f[0], RB_NO_WAIT) == -EAGAIN);
	rb_consumer_detach(c);
	rb_producer_detach(p2, 0);
	rb_producer_detach(p1, 0);
}

// ---- a group member's one-frame claim and release (issue 15) ----

namespace {

// Sums of the group's accounting (docs/FORMAT.md §5.19): every seq below
// claim_seq counted once, in a member's frames, lost or held, or in the
// group's lost, frames_departed or markers.
void check_group_accounting(rb_ring *r, uint64_t *claim_seq)
{
	rb_group_status g;
	rb_consumer_status cs[16];

	REQUIRE(rb_ring_groups(r, &g, 1) == 1);
	int n = rb_ring_consumers(r, cs, 16);
	REQUIRE(n >= 0);
	uint64_t sum = g.lost + g.frames_departed + g.markers;
	for (int i = 0; i < n; i++)
		if (strcmp(cs[i].group, g.name) == 0)
			sum += cs[i].frames + cs[i].lost + cs[i].held;
	CHECK(g.claim_seq - g.start_seq == sum);
	*claim_seq = g.claim_seq;
}

} // namespace

TEST_CASE("a group of one, frame by frame: held frames, nothing to take, the end marker, "
	  "the accounting exact", "[fast][groups]")
{
	TestRing ring(small_config(64, 16), "rb-test-perf-group1");
	rb_producer *p;
	rb_consumer *c;
	rb_consumer_options o = {};
	rb_consumer_stats st;
	rb_frame f, g2;
	uint64_t claim_seq = 0;

	o.group = "one";
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_consumer_attach(ring.r, &o, &c) == 0);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == -EAGAIN);
	for (uint64_t s = 0; s < 40; s += 2) {
		produce(p, s, 1 + s % 64);
		produce(p, s + 1, 1 + (s + 1) % 64);
		// Two held at once: the second claim holds a frame already.
		REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
		REQUIRE(rb_consumer_acquire(c, &g2, RB_NO_WAIT) == 0);
		CHECK(f.seq == s);
		CHECK(g2.seq == s + 1);
		CHECK(f.length == 1 + s % 64);
		CHECK(f.timestamp_ns == 1000 + s);
		CHECK(check_pattern(g2.data, g2.length, s + 1));
		rb_consumer_status cs;
		REQUIRE(rb_ring_consumers(ring.r, &cs, 1) == 1);
		CHECK(cs.held == 2);
		CHECK(cs.read_seq == s); // the group's gate at the oldest held
		check_group_accounting(ring.r, &claim_seq);
		CHECK(claim_seq == s + 2);
		// Out of order: refused, nothing changes.
		CHECK(rb_consumer_release(c, &g2) == -EINVAL);
		REQUIRE(rb_consumer_release(c, &f) == 0);
		REQUIRE(rb_ring_consumers(ring.r, &cs, 1) == 1);
		CHECK(cs.read_seq == s + 1);
		REQUIRE(rb_consumer_release(c, &g2) == 0);
		CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == -EAGAIN);
	}
	REQUIRE(rb_producer_end_stream(p, SEC) == 0);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_EOS);
	rb_consumer_get_stats(c, &st);
	CHECK(st.frames == 40);
	CHECK(st.lost == 0);
	check_group_accounting(ring.r, &claim_seq);
	CHECK(claim_seq == 41);
	rb_group_status g;
	REQUIRE(rb_ring_groups(ring.r, &g, 1) == 1);
	CHECK(g.markers == 1);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
}

TEST_CASE("group members frame by frame across threads: a 16-slot ring, the producer and "
	  "the members sleeping often, every seq once", "[fast][groups]")
{
	const uint64_t frames = 60000;
	const int members = 3;
	TestRing ring(small_config(64, 16), "rb-test-perf-groupt");
	rb_producer_options po = {};
	rb_producer *p;
	rb_consumer *c[members];
	std::vector<uint8_t> seen(frames, 0);
	std::atomic<uint64_t> bad{0}, got{0};
	std::atomic<int> prc{1};

	po.spin_ns = 200; // sleep often: the wake-ups are what is tested
	REQUIRE(rb_producer_attach(ring.r, &po, &p) == 0);
	for (int i = 0; i < members; i++) {
		rb_consumer_options o = {};
		o.group = "work";
		o.spin_ns = 200;
		REQUIRE(rb_consumer_attach(ring.r, &o, &c[i]) == 0);
	}
	std::vector<std::thread> ts;
	for (int i = 0; i < members; i++)
		ts.emplace_back([&, i] {
			rb_frame f[2];
			uint64_t last = 0;
			for (uint64_t n = 0;; n++) {
				// Member 1 holds two frames at a time when it can,
				// member 2 mixes in a batch: the fast claim with a
				// frame held, and the full path beside it.
				int rc;
				if (i == 2 && n % 5 == 0) {
					rc = rb_consumer_acquire_batch(c[i], f, 2, 1, 30 * SEC);
				} else {
					rc = rb_consumer_acquire(c[i], &f[0], 30 * SEC);
					rc = rc == 0 ? 1 : rc;
				}
				// A second one only if there: waiting for it while
				// holding the first could wait for ever (the held
				// frame is the producer's gate on a full ring).
				if (rc == 1 && i == 1) {
					int rc2 = rb_consumer_acquire(c[i], &f[1], RB_NO_WAIT);
					if (rc2 == 0)
						rc = 2;
					else if (rc2 != -EAGAIN && rc2 != RB_E_EOS)
						bad++;
				}
				if (rc <= 0) {
					if (rc != RB_E_EOS)
						bad++;
					return;
				}
				for (int k = 0; k < rc; k++) {
					if (f[k].seq >= frames ||
					    __atomic_fetch_add(&seen[f[k].seq], 1, __ATOMIC_RELAXED) != 0 ||
					    (last != 0 && f[k].seq <= last) ||
					    !check_pattern(f[k].data, f[k].length, f[k].seq))
						bad++;
					last = f[k].seq;
					got++;
				}
				if (rb_consumer_release_batch(c[i], f, (uint32_t)rc) != 0)
					bad++;
			}
		});
	std::thread producer([&] {
		rb_frame f;
		for (uint64_t s = 0; s < frames; s++) {
			if (rb_producer_acquire(p, &f, 30 * SEC) != 0 || f.seq != s)
				return;
			f.length = 8 + s % 57;
			fill_pattern(f.data, f.length, s);
			if (rb_producer_commit(p, &f) != 0)
				return;
		}
		prc = rb_producer_end_stream(p, 30 * SEC);
	});
	producer.join();
	for (auto &t : ts)
		t.join();
	CHECK(prc == 0);
	CHECK(bad == 0);
	CHECK(got == frames);
	uint64_t once = 0, sum = 0;
	for (uint64_t s = 0; s < frames; s++)
		once += __atomic_load_n(&seen[s], __ATOMIC_RELAXED) == 1;
	CHECK(once == frames);
	uint64_t claim_seq = 0;
	check_group_accounting(ring.r, &claim_seq);
	CHECK(claim_seq == frames + 1);
	for (int i = 0; i < members; i++) {
		rb_consumer_stats st;
		rb_consumer_get_stats(c[i], &st);
		CHECK(st.lost == 0);
		sum += st.frames;
		rb_consumer_detach(c[i]);
	}
	CHECK(sum == frames);
	rb_producer_detach(p, 0);
}
