// Liveness: kill -9 of a consumer or of the producer, take-over by a new
// producer, and clean detaches that leave nothing behind.
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <atomic>
#include <cstring>
#include <thread>

using namespace rbt;

namespace {

// A 4-slot ring whose producer (this process) has filled every slot while a
// lossless consumer in a child never reads: the producer's next acquire
// waits for that consumer. The child is killed and reaped, and the ring
// removed, when the test ends.
struct HeldProducer {
	RingGuard g;
	rb_ring *r = nullptr;
	rb_producer *p = nullptr;
	Ready ready;
	Child c;
	HeldProducer() : g(unique_name("live"))
	{
		rb_ring_config cfg = small_config(64, 4);
		REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
		REQUIRE(rb_producer_attach(r, nullptr, &p) == 0);
		spawn_idle_consumer(c, g.name, ready, 5000);
		rb_frame f;
		for (int i = 0; i < 4; i++) {
			REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
			REQUIRE(rb_producer_commit(p, &f) == 0);
		}
	}
};

} // namespace

TEST_CASE("a killed lossless consumer is evicted and the blocked producer goes on")
{
	HeldProducer h;
	rb_frame f;
	CHECK(rb_producer_acquire(h.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	// Kill the consumer while the producer sleeps waiting for it.
	std::thread killer([&] { usleep(50000); h.c.kill_now(SIGKILL); });
	uint64_t t0 = now_ms();
	int rc = rb_producer_acquire(h.p, &f, 5ull * 1000000000ull);
	uint64_t waited = now_ms() - t0;
	killer.join();
	CHECK(rc == 0);
	CHECK(waited < 2000); // eviction runs every 100 ms slice
	rb_ring_status st;
	rb_ring_get_status(h.r, &st);
	CHECK(st.consumers == 0);
	REQUIRE(rb_producer_commit(h.p, &f) == 0);
	rb_producer_detach(h.p, 0);
	rb_ring_close(h.r);
}

TEST_CASE("a consumer waiting on a producer that died gets a distinct status")
{
	RingGuard g(unique_name("live"));
	rb_ring_config cfg = small_config(64, 8);
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	rb_consumer *c = nullptr;
	REQUIRE(rb_consumer_attach(r, nullptr, &c) == 0);
	Ready ready;
	Child prod;
	spawn(prod, [&] {
		rb_ring *pr = nullptr;
		rb_producer *pp = nullptr;
		if (rb_ring_open(g.name.c_str(), &pr) != 0 ||
		    rb_producer_attach(pr, nullptr, &pp) != 0 ||
		    rb_producer_begin_stream(pp, "") != 0)
			return 1;
		for (int i = 0; i < 3; i++) {
			rb_frame f;
			if (rb_producer_acquire(pp, &f, RB_NO_WAIT) != 0)
				return 2;
			f.length = 8;
			rb_producer_commit(pp, &f);
		}
		ready.signal();
		pause();
		return 0;
	});
	REQUIRE(ready.wait(5000));
	rb_frame f;
	// The frames it committed are still delivered.
	for (int i = 0; i < 3; i++) {
		REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
		rb_consumer_release(c, &f);
	}
	// Then, with the consumer asleep, the producer dies.
	std::thread killer([&] { usleep(50000); prod.kill_now(SIGKILL); });
	uint64_t t0 = now_ms();
	int rc = rb_consumer_acquire(c, &f, RB_FOREVER);
	killer.join();
	CHECK(rc == RB_E_PRODUCER_DEAD);
	CHECK(now_ms() - t0 < 2000);
	prod.wait(5000);

	// A new producer takes over the dead one's place and the stream goes on.
	rb_producer *p2 = nullptr;
	REQUIRE(rb_producer_attach(r, nullptr, &p2) == 0);
	REQUIRE(rb_producer_begin_stream(p2, "") == 0);
	REQUIRE(rb_producer_acquire(p2, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 3);
	REQUIRE(rb_producer_commit(p2, &f) == 0);
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 3);
	rb_consumer_release(c, &f);
	rb_producer_detach(p2, 0);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_EOS);
	rb_consumer_detach(c);
	rb_ring_close(r);
}

TEST_CASE("only one live producer at a time")
{
	RingGuard g(unique_name("live"));
	rb_ring_config cfg = small_config();
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	rb_producer *p = nullptr, *q = nullptr;
	REQUIRE(rb_producer_attach(r, nullptr, &p) == 0);
	CHECK(rb_producer_attach(r, nullptr, &q) == RB_E_BUSY);
	Child other;
	spawn(other, [&] {
		rb_ring *o = nullptr;
		rb_producer *op = nullptr;
		if (rb_ring_open(g.name.c_str(), &o) != 0)
			return 1;
		return rb_producer_attach(o, nullptr, &op) == RB_E_BUSY ? 0 : 2;
	});
	CHECK(other.wait(10000) == 0);
	rb_producer_detach(p, 0);
	REQUIRE(rb_producer_attach(r, nullptr, &q) == 0);
	rb_producer_detach(q, 0);
	rb_ring_close(r);
}

TEST_CASE("a killed consumer's record is reclaimed for the next consumer")
{
	RingGuard g(unique_name("live"));
	rb_ring_config cfg = small_config();
	cfg.max_consumers = 2;
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	Ready ready;
	Child a, b;
	spawn_idle_consumer(a, g.name, ready, 5000);
	spawn_idle_consumer(b, g.name, ready, 5000);
	rb_consumer *c = nullptr;
	CHECK(rb_consumer_attach(r, nullptr, &c) == RB_E_TOO_MANY);
	a.kill_now(SIGKILL);
	CHECK(a.wait(5000) == 128 + SIGKILL);
	REQUIRE(rb_consumer_attach(r, nullptr, &c) == 0);
	rb_consumer_status list[4];
	CHECK(rb_ring_consumers(r, list, 4) == 2);
	CHECK(rb_ring_evict_dead(r) == 0);
	b.kill_now(SIGKILL);
	CHECK(b.wait(5000) == 128 + SIGKILL);
	CHECK(rb_ring_evict_dead(r) == 1);
	CHECK(rb_ring_consumers(r, list, 4) == 1);
	CHECK(list[0].pid == (uint32_t)getpid());
	rb_consumer_detach(c);
	CHECK(rb_ring_consumers(r, list, 4) == 0);
	rb_ring_close(r);
}

TEST_CASE("clean detach and remove leave nothing behind")
{
	std::string name = unique_name("live");
	{
		RingGuard g(name);
		rb_ring_config cfg = small_config();
		rb_ring *r = nullptr;
		REQUIRE(rb_ring_create(name.c_str(), &cfg, &r) == 0);
		rb_producer *p = nullptr;
		rb_consumer *c = nullptr;
		REQUIRE(rb_producer_attach(r, nullptr, &p) == 0);
		REQUIRE(rb_consumer_attach(r, nullptr, &c) == 0);
		REQUIRE(rb_consumer_detach(c) == 0);
		REQUIRE(rb_producer_detach(p, 0) == 0);
		rb_ring_status st;
		rb_ring_get_status(r, &st);
		CHECK(st.consumers == 0);
		CHECK(st.producer_pid == 0);
		rb_ring_close(r);
		REQUIRE(rb_ring_remove(name.c_str()) == 0);
		CHECK(rb_ring_remove(name.c_str()) == -ENOENT);
	}
	CHECK(access(shm_path(name).c_str(), F_OK) != 0);
}

TEST_CASE("a producer waiting in short timeouts still evicts a killed consumer")
{
	// Programs wait in slices (to notice their own signals): the liveness
	// check must run every 100 ms across such calls, not restart with each.
	HeldProducer h;
	rb_frame f;
	h.c.kill_now(SIGKILL); // not reaped until the test's end: a zombie
	uint64_t t0 = now_ms();
	int rc = -ETIMEDOUT;
	while (rc == -ETIMEDOUT && now_ms() - t0 < 5000)
		rc = rb_producer_acquire(h.p, &f, 50ull * 1000000ull);
	CHECK(rc == 0);
	CHECK(now_ms() - t0 < 2000);
	REQUIRE(rb_producer_commit(h.p, &f) == 0);
	rb_producer_detach(h.p, 0);
	rb_ring_close(h.r);
}
