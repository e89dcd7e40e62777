// Producer and consumers in one process, one thread: order, content, batch
// forms, wrap-around, end of stream, timeouts, lossy accounting.
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <cstring>
#include <vector>

using namespace rbt;

namespace {

struct Ring {
	RingGuard guard;
	rb_ring *ring = nullptr;
	explicit Ring(const rb_ring_config &cfg, const char *tag = "sp")
	    : guard(unique_name(tag))
	{
		REQUIRE(rb_ring_create(guard.name.c_str(), &cfg, &ring) == 0);
	}
	~Ring() { rb_ring_close(ring); }
};

struct Producer {
	rb_producer *p = nullptr;
	explicit Producer(rb_ring *ring)
	{
		REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	}
	~Producer() { rb_producer_detach(p, 0); }
	void put(uint64_t len)
	{
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
		fill_pattern(f.data, len, f.seq);
		f.length = len;
		f.timestamp_ns = f.seq * 10;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
};

struct Consumer {
	rb_consumer *c = nullptr;
	Consumer(rb_ring *ring, int lossy = 0, rb_start start = RB_START_OLDEST)
	{
		rb_consumer_options o = {};
		o.lossy = lossy;
		o.start = start;
		REQUIRE(rb_consumer_attach(ring, &o, &c) == 0);
	}
	~Consumer() { rb_consumer_detach(c); }
};

} // namespace

TEST_CASE("frames arrive in order with their bytes and descriptors")
{
	Ring r(small_config(256, 8));
	Producer prod(r.ring);
	Consumer cons(r.ring);
	REQUIRE(rb_producer_begin_stream(prod.p, "source=test\n") == 0);
	for (uint64_t round = 0; round < 5; round++) {
		for (int i = 0; i < 8; i++)
			prod.put(100 + (uint64_t)i);
		for (int i = 0; i < 8; i++) {
			rb_frame f;
			REQUIRE(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == 0);
			CHECK(f.seq == round * 8 + (uint64_t)i);
			CHECK(f.length == 100 + (uint64_t)i);
			CHECK(f.timestamp_ns == f.seq * 10);
			CHECK(((f.flags & RB_FRAME_STREAM_START) != 0) == (f.seq == 0));
			CHECK(check_pattern(f.data, f.length, f.seq));
			REQUIRE(rb_consumer_release(cons.c, &f) == 0);
		}
	}
	rb_frame f;
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == -EAGAIN);
	rb_consumer_stats st;
	rb_consumer_get_stats(cons.c, &st);
	CHECK(st.frames == 40);
	CHECK(st.lost == 0);
}

TEST_CASE("a lossless consumer holds back the producer")
{
	Ring r(small_config(64, 4));
	Producer prod(r.ring);
	Consumer cons(r.ring);
	for (int i = 0; i < 4; i++)
		prod.put(64);
	rb_frame f;
	CHECK(rb_producer_acquire(prod.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	uint64_t t0 = now_ms();
	CHECK(rb_producer_acquire(prod.p, &f, 50 * 1000000ull) == -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 49);
	rb_producer_count_dropped(prod.p, 2);
	rb_ring_status st;
	rb_ring_get_status(r.ring, &st);
	CHECK(st.frames_dropped == 2);
	REQUIRE(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == 0);
	REQUIRE(rb_consumer_release(cons.c, &f) == 0);
	REQUIRE(rb_producer_acquire(prod.p, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 4);
}

TEST_CASE("a consumer with nothing to read times out")
{
	Ring r(small_config());
	Producer prod(r.ring);
	Consumer cons(r.ring);
	rb_frame f;
	uint64_t t0 = now_ms();
	CHECK(rb_consumer_acquire(cons.c, &f, 30 * 1000000ull) == -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 29);
}

TEST_CASE("batch acquire and release, producer and consumer")
{
	Ring r(small_config(128, 16));
	Producer prod(r.ring);
	Consumer cons(r.ring);
	rb_frame frames[16];
	uint64_t expect = 0;
	for (int round = 0; round < 20; round++) {
		int n = rb_producer_acquire_batch(prod.p, frames, 10, RB_NO_WAIT);
		REQUIRE(n == 10);
		for (int i = 0; i < n; i++) {
			fill_pattern(frames[i].data, 128, frames[i].seq);
			frames[i].length = 128;
		}
		REQUIRE(rb_producer_commit_batch(prod.p, frames, (uint32_t)n) == 0);
		rb_frame got[16];
		int m = rb_consumer_acquire_batch(cons.c, got, 16, 10, RB_NO_WAIT);
		REQUIRE(m == 10);
		for (int i = 0; i < m; i++) {
			CHECK(got[i].seq == expect++);
			CHECK(check_pattern(got[i].data, got[i].length, got[i].seq));
		}
		REQUIRE(rb_consumer_release_batch(cons.c, got, (uint32_t)m) == 0);
	}
}

TEST_CASE("sequence numbers past 2^32 wrap the ring correctly")
{
	rb_ring_config cfg = small_config(64, 8);
	cfg.initial_seq = (1ull << 32) - 5;
	Ring r(cfg);
	Producer prod(r.ring);
	Consumer cons(r.ring);
	for (uint64_t i = 0; i < 100; i++) {
		prod.put(64);
		rb_frame f;
		REQUIRE(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == 0);
		CHECK(f.seq == cfg.initial_seq + i);
		CHECK(check_pattern(f.data, 64, f.seq));
		REQUIRE(rb_consumer_release(cons.c, &f) == 0);
	}
}

TEST_CASE("end of stream is seen after the last frame, and a new stream can follow")
{
	Ring r(small_config());
	Producer prod(r.ring);
	Consumer cons(r.ring);
	REQUIRE(rb_producer_begin_stream(prod.p, "n=1\n") == 0);
	prod.put(10);
	prod.put(10);
	REQUIRE(rb_producer_end_stream(prod.p, RB_NO_WAIT) == 0);
	rb_frame f;
	for (int i = 0; i < 2; i++) {
		REQUIRE(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == 0);
		REQUIRE(rb_consumer_release(cons.c, &f) == 0);
	}
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_EOS);
	CHECK(rb_consumer_acquire(cons.c, &f, RB_FOREVER) == RB_E_EOS);

	REQUIRE(rb_producer_begin_stream(prod.p, "n=2\n") == 0);
	prod.put(10);
	REQUIRE(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 3);
	CHECK((f.flags & RB_FRAME_STREAM_START) != 0);
	char buf[64];
	uint64_t start = 0;
	CHECK(rb_consumer_stream_header(cons.c, buf, sizeof(buf), &start) == 4);
	CHECK(std::string(buf) == "n=2\n");
	CHECK(start == 3);
	REQUIRE(rb_consumer_release(cons.c, &f) == 0);
}

TEST_CASE("a lossy consumer never slows the producer and counts every loss")
{
	Ring r(small_config(64, 8));
	Producer prod(r.ring);
	Consumer lossy(r.ring, 1);
	const uint64_t total = 1000;
	uint64_t frames = 0;
	for (uint64_t i = 0; i < total; i++) {
		prod.put(64);
		if (i % 37 == 0) { // read now and then, too slowly to keep up
			rb_frame f;
			if (rb_consumer_acquire(lossy.c, &f, RB_NO_WAIT) == 0) {
				CHECK(check_pattern(f.data, 64, f.seq));
				if (rb_consumer_release(lossy.c, &f) == 0)
					frames++;
			}
		}
	}
	rb_frame f;
	while (rb_consumer_acquire(lossy.c, &f, RB_NO_WAIT) == 0) {
		CHECK(check_pattern(f.data, 64, f.seq));
		REQUIRE(rb_consumer_release(lossy.c, &f) == 0);
		frames++;
	}
	rb_consumer_stats st;
	rb_consumer_get_stats(lossy.c, &st);
	CHECK(st.frames == frames);
	CHECK(st.frames + st.lost == total);
	CHECK(st.lost > 0);
}

TEST_CASE("a lossy frame overwritten while held is reported, not delivered")
{
	Ring r(small_config(64, 4));
	Producer prod(r.ring);
	Consumer lossy(r.ring, 1);
	prod.put(64);
	rb_frame f;
	REQUIRE(rb_consumer_acquire(lossy.c, &f, RB_NO_WAIT) == 0);
	CHECK(rb_consumer_check(lossy.c, &f) == 0);
	for (int i = 0; i < 4; i++) // laps the slot lossy holds
		prod.put(64);
	CHECK(rb_consumer_check(lossy.c, &f) == RB_E_OVERRUN);
	CHECK(rb_consumer_release(lossy.c, &f) == RB_E_OVERRUN);
	rb_consumer_stats st;
	rb_consumer_get_stats(lossy.c, &st);
	CHECK(st.frames == 0);
	CHECK(st.lost == 1);
}

TEST_CASE("start positions: oldest, newest, next")
{
	Ring r(small_config(64, 8));
	Producer prod(r.ring);
	for (int i = 0; i < 5; i++)
		prod.put(64);
	rb_frame f;
	{
		Consumer c(r.ring, 1, RB_START_OLDEST);
		REQUIRE(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == 0);
		CHECK(f.seq == 0);
		rb_consumer_release(c.c, &f);
	}
	{
		Consumer c(r.ring, 1, RB_START_NEWEST);
		REQUIRE(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == 0);
		CHECK(f.seq == 4);
		rb_consumer_release(c.c, &f);
	}
	{
		Consumer c(r.ring, 0, RB_START_NEXT);
		CHECK(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == -EAGAIN);
		prod.put(64);
		REQUIRE(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == 0);
		CHECK(f.seq == 5);
		rb_consumer_release(c.c, &f);
	}
}

TEST_CASE("a lossless consumer joining late starts where the producer may not overwrite")
{
	Ring r(small_config(64, 8));
	Producer prod(r.ring);
	for (int i = 0; i < 20; i++)
		prod.put(64);
	Consumer c(r.ring, 0, RB_START_OLDEST);
	rb_frame f;
	REQUIRE(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == 0);
	uint64_t first = f.seq;
	CHECK(first >= 12);
	CHECK(check_pattern(f.data, 64, f.seq));
	rb_consumer_release(c.c, &f);
	// From here on nothing is lost: fill the ring and drain it in order.
	for (uint64_t expect = first + 1; expect < 20; expect++) {
		REQUIRE(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == 0);
		CHECK(f.seq == expect);
		rb_consumer_release(c.c, &f);
	}
	int put = 0;
	rb_frame pf;
	while (rb_producer_acquire(prod.p, &pf, RB_NO_WAIT) == 0) {
		fill_pattern(pf.data, 64, pf.seq);
		pf.length = 64;
		REQUIRE(rb_producer_commit(prod.p, &pf) == 0);
		put++;
	}
	CHECK(put == 8);
}

TEST_CASE("64 consumers on one ring all see every frame")
{
	rb_ring_config cfg = small_config(64, 16);
	cfg.max_consumers = 64;
	Ring r(cfg);
	Producer prod(r.ring);
	std::vector<rb_consumer *> cs(64);
	for (auto &c : cs)
		REQUIRE(rb_consumer_attach(r.ring, nullptr, &c) == 0);
	rb_consumer *extra;
	CHECK(rb_consumer_attach(r.ring, nullptr, &extra) == RB_E_TOO_MANY);
	for (int i = 0; i < 40; i++) {
		prod.put(64);
		for (auto c : cs) {
			rb_frame f;
			REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
			REQUIRE(f.seq == (uint64_t)i);
			REQUIRE(rb_consumer_release(c, &f) == 0);
		}
	}
	for (auto c : cs)
		REQUIRE(rb_consumer_detach(c) == 0);
}

TEST_CASE("a consumer attached after a stream ended waits for the next stream")
{
	Ring r(small_config(64, 8));
	Producer prod(r.ring);
	REQUIRE(rb_producer_begin_stream(prod.p, "n=1\n") == 0);
	prod.put(64);
	REQUIRE(rb_producer_end_stream(prod.p, RB_NO_WAIT) == 0);
	Consumer late(r.ring, 0, RB_START_NEXT);
	rb_frame f;
	CHECK(rb_consumer_acquire(late.c, &f, 20 * 1000000ull) == -ETIMEDOUT);
	REQUIRE(rb_producer_begin_stream(prod.p, "n=2\n") == 0);
	prod.put(64);
	REQUIRE(rb_consumer_acquire(late.c, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 2);
	CHECK((f.flags & RB_FRAME_STREAM_START) != 0);
	rb_consumer_release(late.c, &f);
	REQUIRE(rb_producer_end_stream(prod.p, RB_NO_WAIT) == 0);
	CHECK(rb_consumer_acquire(late.c, &f, RB_NO_WAIT) == RB_E_EOS);
}

TEST_CASE("a producer detaching with no room for the end marker still ends the stream")
{
	Ring r(small_config(64, 4));
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(r.ring, nullptr, &p) == 0);
	Consumer stuck(r.ring);
	REQUIRE(rb_producer_begin_stream(p, "") == 0);
	for (int i = 0; i < 4; i++) {
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
		f.length = 8;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
	CHECK(rb_producer_detach(p, 10 * 1000000ull) == -ETIMEDOUT);
	rb_frame f;
	for (int i = 0; i < 4; i++) {
		REQUIRE(rb_consumer_acquire(stuck.c, &f, RB_NO_WAIT) == 0);
		rb_consumer_release(stuck.c, &f);
	}
	// Not "the producer died": it left, and the stream is over.
	CHECK(rb_consumer_acquire(stuck.c, &f, RB_FOREVER) == RB_E_EOS);
	rb_ring_status st;
	rb_ring_get_status(r.ring, &st);
	CHECK(st.stream_state == RB_STREAM_STATUS_ENDED);
	CHECK(st.eos_seq == 4);
}

TEST_CASE("the end marker taken while frames are held does not release them")
{
	// A recorder holds frames while their writes are in flight; seeing the
	// end of the stream must not hand those slots back to the producer.
	Ring r(small_config(64, 4));
	Producer prod(r.ring);
	Consumer cons(r.ring);
	prod.put(64);
	prod.put(64);
	REQUIRE(rb_producer_end_stream(prod.p, RB_NO_WAIT) == 0);
	rb_frame held[4];
	REQUIRE(rb_consumer_acquire_batch(cons.c, held, 4, 1, RB_NO_WAIT) == 2);
	rb_frame f;
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_EOS);
	// Still held: the producer has room for one frame only (4 slots:
	// 2 held frames + the marker are not released).
	REQUIRE(rb_producer_begin_stream(prod.p, "") == 0);
	prod.put(64);
	CHECK(rb_producer_acquire(prod.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	CHECK(check_pattern(held[0].data, 64, held[0].seq));
	REQUIRE(rb_consumer_release_batch(cons.c, held, 2) == 0);
	// Releasing them releases the marker too: three slots free again.
	for (int i = 0; i < 3; i++) {
		REQUIRE(rb_producer_acquire(prod.p, &f, RB_NO_WAIT) == 0);
		REQUIRE(rb_producer_commit(prod.p, &f) == 0);
	}
}
