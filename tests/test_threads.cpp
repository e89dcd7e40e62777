// Producer and consumers as threads sharing one mapping: the configuration
// ThreadSanitizer can check (it cannot follow other processes).
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <algorithm>
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

// Several producers and a work-sharing group, as threads: exactly once
// within the group, every frame to the broadcast consumer, in order.
TEST_CASE("threads: three producers, a group of two, one broadcast consumer")
{
	RingGuard g(unique_name("thrmp"));
	rb_ring_config cfg = small_config(128, 64);
	cfg.max_producers = 4;
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	const uint64_t per_producer = 20000;
	const uint64_t total = 3 * per_producer;
	rb_consumer *all = nullptr, *members[2] = {nullptr, nullptr};
	REQUIRE(rb_consumer_attach(r, nullptr, &all) == 0);
	rb_consumer_options mo = {};
	mo.group = "workers";
	for (auto &m : members)
		REQUIRE(rb_consumer_attach(r, &mo, &m) == 0);
	std::vector<std::atomic<uint8_t>> seen(total + 1);
	std::atomic<uint64_t> bad{0}, member_frames[2] = {{0}, {0}}, all_frames{0};
	std::atomic<int> producers_left{3};

	auto member = [&](int id) {
		rb_frame frames[8];
		uint64_t last = 0;
		for (;;) {
			int n = rb_consumer_acquire_batch(members[id], frames, 8, 1,
							  10ull * 1000000000ull);
			if (n == RB_E_EOS)
				return;
			if (n < 0) {
				bad++;
				return;
			}
			for (int i = 0; i < n; i++) {
				uint64_t s = frames[i].seq;
				if (s <= last && last != 0)
					bad++; // a member gets increasing seqs
				last = s;
				if (s >= seen.size() || seen[s]++ != 0 ||
				    !check_pattern(frames[i].data, frames[i].length, s))
					bad++;
			}
			rb_consumer_release_batch(members[id], frames, (uint32_t)n);
			member_frames[id] += (uint64_t)n;
		}
	};
	auto broadcast = [&] {
		rb_frame frames[16];
		uint64_t expect = 0;
		for (;;) {
			int n = rb_consumer_acquire_batch(all, frames, 16, 1, 10ull * 1000000000ull);
			if (n == RB_E_EOS)
				return;
			if (n < 0) {
				bad++;
				return;
			}
			for (int i = 0; i < n; i++)
				if (frames[i].seq != expect++ ||
				    !check_pattern(frames[i].data, frames[i].length, frames[i].seq))
					bad++;
			rb_consumer_release_batch(all, frames, (uint32_t)n);
			all_frames += (uint64_t)n;
		}
	};
	auto producer = [&] {
		rb_producer *p = nullptr;
		if (rb_producer_attach(r, nullptr, &p) != 0) {
			bad++;
			return;
		}
		rb_producer_begin_stream(p, "threads=3\n");
		for (uint64_t i = 0; i < per_producer;) {
			rb_frame f[4];
			uint32_t want = (uint32_t)std::min<uint64_t>(4, per_producer - i);
			int n = rb_producer_acquire_batch(p, f, want, 10ull * 1000000000ull);
			if (n < 0) {
				bad++;
				break;
			}
			for (int k = 0; k < n; k++) {
				f[k].length = 16 + f[k].seq % 48;
				fill_pattern(f[k].data, f[k].length, f[k].seq);
			}
			rb_producer_commit_batch(p, f, (uint32_t)n);
			i += (uint64_t)n;
		}
		if (rb_producer_end_stream(p, 10ull * 1000000000ull) != 0)
			bad++;
		producers_left--;
		rb_producer_detach(p, RB_FOREVER);
	};
	std::thread m0(member, 0), m1(member, 1), b(broadcast);
	std::thread p0(producer), p1(producer), p2(producer);
	p0.join();
	p1.join();
	p2.join();
	m0.join();
	m1.join();
	b.join();
	CHECK(bad == 0);
	CHECK(all_frames == total);
	CHECK(member_frames[0] + member_frames[1] == total);
	uint64_t once = 0;
	for (uint64_t s = 0; s < total; s++)
		once += seen[s] == 1;
	CHECK(once == total);
	rb_group_status gs[2];
	REQUIRE(rb_ring_groups(r, gs, 2) == 1);
	CHECK(gs[0].markers == 1);
	CHECK(gs[0].claim_seq - gs[0].start_seq == total + 1);
	CHECK(gs[0].lost == 0);
	rb_ring_status st;
	rb_ring_get_status(r, &st);
	CHECK(st.write_seq == total + 1); // frames and one end marker
	CHECK(st.frames_abandoned == 0);
	for (auto m : members)
		rb_consumer_detach(m);
	rb_consumer_detach(all);
	rb_ring_close(r);
}
