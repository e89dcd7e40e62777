// The library side of stalled consumers (docs/FORMAT.md §5.21): a
// producer's stall timeout and rb_ring_demote demote a lossless consumer
// to lossy; the consumer learns it once (RB_E_DEMOTED), frames it held are
// re-checked, and frames + lost add up to what was published, also for a
// reader racing the demotion.
#include <catch2/catch.hpp>

#include "test_support.hpp"


using namespace rbt;

namespace {

const uint32_t slots = 8;

struct Ring {
	RingGuard g;
	rb_ring *r = nullptr;
	explicit Ring(const char *tag) : g(unique_name(tag))
	{
		rb_ring_config cfg = small_config(64, slots);
		REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	}
	~Ring() { rb_ring_close(r); }
};

void publish(rb_producer *p, uint64_t count)
{
	for (uint64_t i = 0; i < count; i++) {
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, 10000000000ull) == 0);
		fill_pattern(f.data, 64, f.seq);
		f.length = 64;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
}

// Reads to the end of the stream; every frame handed out that is still
// intact at its release must have the right bytes.
void drain(rb_consumer *c)
{
	for (;;) {
		rb_frame f;
		int rc = rb_consumer_acquire(c, &f, 5000000000ull);
		if (rc == RB_E_EOS)
			return;
		REQUIRE(rc == 0);
		bool ok = check_pattern(f.data, f.length, f.seq);
		if (rb_consumer_release(c, &f) == 0)
			CHECK(ok);
	}
}

} // namespace

TEST_CASE("a stall timeout demotes a lossless consumer that holds a frame and reads "
	  "nothing; it learns once and counts exactly",
	  "[demote]")
{
	Ring ring("demote-auto");
	rb_producer_options po = {};
	po.stall_timeout_ns = 200000000ull;
	rb_producer *p;
	REQUIRE(rb_producer_attach(ring.r, &po, &p) == 0);
	rb_consumer *c;
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	publish(p, 1);
	rb_frame held;
	REQUIRE(rb_consumer_acquire(c, &held, RB_NO_WAIT) == 0);

	const uint64_t total = 5 * slots;
	uint64_t t0 = now_ms();
	publish(p, total - 1); // blocks on the consumer until it is demoted
	CHECK(now_ms() - t0 >= 200);
	REQUIRE(rb_producer_end_stream(p, 1000000000ull) == 0);

	rb_consumer_status st[4];
	REQUIRE(rb_ring_consumers(ring.r, st, 4) == 1);
	CHECK(st[0].demoted);
	CHECK(st[0].lossy);
	CHECK(st[0].stalled_ns >= 200000000ull);
	// The frame it held was overwritten: its release says so.
	CHECK(rb_consumer_release(c, &held) == RB_E_OVERRUN);
	rb_frame f;
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_DEMOTED);
	drain(c);
	rb_consumer_stats cs;
	rb_consumer_get_stats(c, &cs);
	CHECK(cs.demoted);
	CHECK(cs.stalled_ns >= 200000000ull);
	CHECK(cs.frames + cs.lost == total);
	CHECK(cs.lost >= total - slots);
	CHECK(rb_ring_demote(ring.r, st[0].index) == -EALREADY);
	CHECK(rb_consumer_detach(c) == 0);
	CHECK(rb_producer_detach(p, 0) == 0);
}

TEST_CASE("rb_ring_demote: its errors, and a demotion never outlives its consumer",
	  "[demote]")
{
	Ring ring("demote-hand");
	rb_producer *p;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	CHECK(rb_ring_demote(ring.r, 100000) == -EINVAL);
	CHECK(rb_ring_demote(ring.r, 0) == -ENOENT);
	rb_consumer_options lossy = {};
	lossy.lossy = 1;
	rb_consumer *l, *c;
	REQUIRE(rb_consumer_attach(ring.r, &lossy, &l) == 0);
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	rb_consumer_status st[4];
	REQUIRE(rb_ring_consumers(ring.r, st, 4) == 2);
	uint32_t li = st[0].lossy ? st[0].index : st[1].index;
	uint32_t ci = st[0].lossy ? st[1].index : st[0].index;
	CHECK(rb_ring_demote(ring.r, li) == -EALREADY);
	rb_consumer_options member = {};
	member.group = "g";
	rb_consumer *m;
	REQUIRE(rb_consumer_attach(ring.r, &member, &m) == 0);
	REQUIRE(rb_ring_consumers(ring.r, st, 4) == 3);
	for (int i = 0; i < 3; i++)
		if (st[i].group[0] != '\0')
			CHECK(rb_ring_demote(ring.r, st[i].index) == -EOPNOTSUPP);
	CHECK(rb_consumer_detach(m) == 0);

	// Demoted by hand: the producer stops waiting for it at once.
	publish(p, slots);
	rb_frame f;
	CHECK(rb_producer_acquire(p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	REQUIRE(rb_ring_demote(ring.r, ci) == 0);
	publish(p, 2 * slots);
	rb_consumer_stats cs;
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_DEMOTED);
	rb_consumer_get_stats(c, &cs);
	CHECK(cs.demoted);
	CHECK(cs.stalled_ns == 0);
	CHECK(rb_consumer_detach(c) == 0);
	// The next consumer in that record is lossless again.
	rb_consumer_options next = {};
	next.start = RB_START_NEXT;
	REQUIRE(rb_consumer_attach(ring.r, &next, &c) == 0);
	REQUIRE(rb_ring_consumers(ring.r, st, 4) == 2);
	for (int i = 0; i < 2; i++)
		CHECK_FALSE(st[i].demoted);
	publish(p, slots);
	CHECK(rb_producer_acquire(p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	CHECK(rb_consumer_detach(c) == 0);
	CHECK(rb_consumer_detach(l) == 0);
	CHECK(rb_producer_detach(p, 0) == 0);
}

TEST_CASE("a consumer reading in another process while it is demoted: every "
	  "frame it keeps is intact, and the counts add up",
	  "[demote]")
{
	Ring ring("demote-race");
	rb_producer *p;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	const uint64_t total = 20000;
	const std::string name = ring.g.name;
	Ready ready;
	Child reader;
	// A process, not a thread: once demoted it reads bytes the producer
	// may be overwriting, the lossy sequence-lock read that the re-check
	// catches (a race by design, which TSan would report in one process).
	spawn(reader, [&] {
		rb_ring *r;
		rb_consumer *c;
		if (rb_ring_open(name.c_str(), &r) != 0 || rb_consumer_attach(r, nullptr, &c) != 0)
			return 10;
		ready.signal();
		bool demoted = false;
		for (;;) {
			rb_frame f[4];
			int n = rb_consumer_acquire_batch(c, f, 4, 1, 10000000000ull);
			if (n == RB_E_DEMOTED) {
				demoted = true;
				continue;
			}
			if (n == RB_E_EOS)
				break;
			if (n < 0)
				return 11;
			bool ok[4];
			for (int i = 0; i < n; i++)
				ok[i] = check_pattern(f[i].data, f[i].length, f[i].seq);
			for (int i = 0; i < n; i++)
				if (rb_consumer_check(c, &f[i]) == 0 && !ok[i])
					return 12; /* a torn frame kept */
			if (rb_consumer_release_batch(c, f, (uint32_t)n) < 0)
				return 13;
		}
		rb_consumer_stats cs;
		rb_consumer_get_stats(c, &cs);
		if (!demoted || !cs.demoted)
			return 14;
		if (cs.frames + cs.lost != total)
			return 15;
		return rb_consumer_detach(c) == 0 ? 0 : 16;
	});
	REQUIRE(ready.wait(10000));
	rb_consumer_status st[2];
	REQUIRE(rb_ring_consumers(ring.r, st, 2) == 1);
	publish(p, total / 2);
	REQUIRE(rb_ring_demote(ring.r, st[0].index) == 0);
	publish(p, total / 2);
	REQUIRE(rb_producer_end_stream(p, 1000000000ull) == 0);
	CHECK(reader.wait(30000) == 0);
	CHECK(rb_producer_detach(p, 0) == 0);
}
