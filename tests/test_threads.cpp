// Producer and consumers as threads sharing one mapping: the configuration
// ThreadSanitizer can check (it cannot follow other processes).
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <atomic>
#include <thread>
#include <vector>

using namespace rbt;

TEST_CASE("threads: one producer, three lossless consumers, per-frame and batch")
{
	RingGuard g(unique_name("thr"));
	rb_ring_config cfg = small_config(256, 32);
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	const uint64_t total = 50000;
	std::vector<rb_consumer *> cs(3);
	for (auto &c : cs)
		REQUIRE(rb_consumer_attach(r, nullptr, &c) == 0);
	std::atomic<uint64_t> bad{0}, got[3] = {{0}, {0}, {0}};

	auto consumer = [&](int id, uint32_t batch_min) {
		rb_frame frames[16];
		uint64_t expect = 0;
		for (;;) {
			int n = rb_consumer_acquire_batch(cs[(size_t)id], frames, 16, batch_min,
							  10ull * 1000000000ull);
			if (n == RB_E_EOS)
				return;
			if (n < 0) {
				UNSCOPED_INFO("consumer " << id << " got " << n << " ("
					      << rb_strerror(n) << ") at seq " << expect);
				bad++;
				return;
			}
			for (int i = 0; i < n; i++) {
				if (frames[i].seq != expect++ ||
				    !check_pattern(frames[i].data, frames[i].length, frames[i].seq))
					bad++;
			}
			rb_consumer_release_batch(cs[(size_t)id], frames, (uint32_t)n);
			got[id] += (uint64_t)n;
		}
	};
	std::thread t0(consumer, 0, 1), t1(consumer, 1, 1), t2(consumer, 2, 8);
	std::thread prod([&] {
		rb_producer *p = nullptr;
		if (rb_producer_attach(r, nullptr, &p) != 0) {
			bad++;
			return;
		}
		rb_producer_begin_stream(p, "threads=1\n");
		for (uint64_t i = 0; i < total; i++) {
			rb_frame f;
			if (rb_producer_acquire(p, &f, 10ull * 1000000000ull) != 0) {
				bad++;
				break;
			}
			f.length = 64 + f.seq % 192;
			fill_pattern(f.data, f.length, f.seq);
			rb_producer_commit(p, &f);
		}
		rb_producer_detach(p, RB_FOREVER);
	});
	prod.join();
	t0.join();
	t1.join();
	t2.join();
	CHECK(bad == 0);
	for (int i = 0; i < 3; i++)
		CHECK(got[i] == total);
	for (auto c : cs)
		rb_consumer_detach(c);
	rb_ring_close(r);
}
