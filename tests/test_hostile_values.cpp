// Hostile values written into a live ring's shared memory (issue 12,
// "Shared memory written by someone else"): a claim lock that names a
// recoverer or member that never lets go, write_seq moved backwards, a
// group's claim_seq past write_seq, a member's read_seq moved back. Each
// must end in a bounded time with a clear error or the right frames: no
// spin (the child's CPU time stays low), no wrapped count, no "end of
// stream" with frames never handed out, and programs end on SIGTERM.
//
// The test maps the ring's file a second time and writes the fields as a
// hostile process would. Children report through a shared anonymous
// mapping; every wait is bounded; every child is killed and reaped, and
// every ring removed, pass or fail.
#include <catch2/catch.hpp>

#include "program_support.hpp"
#include "test_support.hpp"

#include "../ringbuf/rb_layout.h"

#include <atomic>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

using namespace rbt;

namespace {

const uint64_t SEC = 1000000000ull;
const uint32_t SLOTS = 16;

// The ring of one test, removed at the end.
struct TestRing {
	RingGuard guard;
	rb_ring *r = nullptr;
	TestRing(const rb_ring_config &cfg, const char *tag) : guard(unique_name(tag))
	{
		REQUIRE(rb_ring_create(guard.name.c_str(), &cfg, &r) == 0);
	}
	~TestRing()
	{
		if (r)
			rb_ring_close(r);
	}
	const std::string &name() const { return guard.name; }
};

// The ring's segment as a hostile process sees it: its own mapping.
struct Hostile {
	uint8_t *base = nullptr;
	size_t size = 0;
	explicit Hostile(const std::string &name)
	{
		int fd = open(shm_path(name).c_str(), O_RDWR | O_CLOEXEC);
		struct stat st;

		REQUIRE(fd >= 0);
		REQUIRE(fstat(fd, &st) == 0);
		size = (size_t)st.st_size;
		base = (uint8_t *)mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		close(fd);
		REQUIRE(base != MAP_FAILED);
	}
	~Hostile() { munmap(base, size); }
	rb_shm_header *header() { return (rb_shm_header *)base; }
	rb_shm_producer *producer() { return (rb_shm_producer *)(base + header()->producer_offset); }
	rb_shm_consumer *consumer(uint32_t i)
	{
		return (rb_shm_consumer *)(base + header()->consumers_offset) + i;
	}
	rb_shm_group *group(uint32_t i) { return (rb_shm_group *)(base + header()->groups_offset) + i; }
	// The consumer record a process owns (the first one), or -1.
	int record_of(pid_t pid)
	{
		for (uint32_t i = 0; i < header()->max_consumers; i++) {
			uint64_t owner = __atomic_load_n(&consumer(i)->owner, __ATOMIC_ACQUIRE);
			if (RB_OWNER_STATE(owner) == RB_OWNER_ACTIVE && RB_OWNER_PID(owner) == (uint32_t)pid)
				return (int)i;
		}
		return -1;
	}
	void store(uint64_t *field, uint64_t v) { __atomic_store_n(field, v, __ATOMIC_SEQ_CST); }
	uint64_t load(uint64_t *field) { return __atomic_load_n(field, __ATOMIC_ACQUIRE); }
};

// What a child reports.
struct Report {
	std::atomic<int> rc;
	std::atomic<int> frames;
	std::atomic<uint64_t> first_seq;
	std::atomic<uint64_t> lost;
	std::atomic<uint64_t> elapsed_ns;
	std::atomic<uint64_t> cpu_ns;
};

struct SharedReport {
	Report *r;
	SharedReport()
	{
		void *p = mmap(nullptr, sizeof(Report), PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		REQUIRE(p != MAP_FAILED);
		r = new (p) Report();
		r->rc = 1;
	}
	~SharedReport() { munmap(r, sizeof(Report)); }
	Report *operator->() { return r; }
};

uint64_t mono_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

uint64_t cpu_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * SEC + (uint64_t)ts.tv_nsec;
}

rb_ring_config group_config(uint32_t max_producers = 1)
{
	rb_ring_config cfg = small_config(64, SLOTS);
	cfg.max_producers = max_producers;
	return cfg;
}

// Produces up to n frames, each acquire waiting up to timeout_ns; the
// first acquire's error, or 0 when all n went through.
int produce_until_error(rb_producer *p, uint32_t n, uint64_t timeout_ns)
{
	for (uint32_t i = 0; i < n; i++) {
		rb_frame f;
		int rc = rb_producer_acquire(p, &f, timeout_ns);
		if (rc != 0)
			return rc;
		f.length = 8;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
	return 0;
}

void produce(rb_producer *p, uint32_t n) { REQUIRE(produce_until_error(p, n, 2 * SEC) == 0); }

// Acquires and releases `count` frames (each wait bounded); false if one
// did not come.
bool take_and_release(rb_consumer *c, int count)
{
	rb_frame f[SLOTS];

	for (int got = 0; got < count;) {
		int n = rb_consumer_acquire_batch(c, f, SLOTS, 1, 2 * SEC);
		if (n <= 0)
			return false;
		rb_consumer_release_batch(c, f, (uint32_t)n);
		got += n;
	}
	return true;
}

// A child member of group "g": attaches, signals `ready`, waits for `go`,
// then acquires once with `timeout_ns` and reports what came back.
int member_acquire_once(const std::string &name, Ready &ready, Ready &go, bool lossy,
			uint64_t timeout_ns, Report *out)
{
	rb_ring *r = nullptr;
	rb_consumer *c = nullptr;
	rb_consumer_options o = {};
	rb_frame f[4];

	o.group = "g";
	o.lossy = lossy;
	if (rb_ring_open(name.c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0)
		return 2;
	ready.signal();
	if (!go.wait(10000))
		return 3;
	uint64_t t0 = mono_ns(), c0 = cpu_ns();
	int rc = rb_consumer_acquire_batch(c, f, 4, 1, timeout_ns);
	out->elapsed_ns = mono_ns() - t0;
	out->cpu_ns = cpu_ns() - c0;
	out->rc = rc;
	if (rc > 0) {
		out->frames = rc;
		out->first_seq = f[0].seq;
		rb_consumer_release_batch(c, f, (uint32_t)rc);
	}
	rb_consumer_stats st;
	rb_consumer_get_stats(c, &st);
	out->lost = st.lost;
	rb_consumer_detach(c);
	rb_ring_close(r);
	return 0;
}

} // namespace

TEST_CASE("claim lock with a recovering tag naming a live non-participant is recovered",
	  "[hostile]")
{
	TestRing ring(group_config(), "hl-rec");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	SharedReport rep;
	Ready ready, go, sleeper_ready;
	Child sleeper, member;

	// A live process that is no participant of the ring.
	spawn(sleeper, [&] {
		sleeper_ready.signal();
		pause();
		return 0;
	});
	REQUIRE(sleeper_ready.wait(5000));
	spawn(member, [&] { return member_acquire_once(ring.name(), ready, go, false, 8 * SEC, rep.r); });
	REQUIRE(ready.wait(5000));
	produce(p, 3);
	h.store(&h.group(0)->claim_lock, RB_LOCK_RECOVERING((uint32_t)sleeper.pid, 1));
	go.signal();
	REQUIRE(member.wait(15000) == 0);
	// Recovered after the hold bound (2 s) and the frames handed out,
	// sleeping (not spinning) while it waited.
	CHECK(rep->rc == 3);
	CHECK(rep->first_seq == 0);
	CHECK(rep->elapsed_ns < 4 * SEC);
	CHECK(rep->cpu_ns < 400000000ull);
	rb_producer_detach(p, 0);
}

TEST_CASE("claim lock naming a live member that never claims: RB_E_STUCK, and that member clears it",
	  "[hostile]")
{
	TestRing ring(group_config(), "hl-stuck");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	rb_consumer_options o = {};
	o.group = "g";
	rb_consumer *mine = nullptr;
	REQUIRE(rb_consumer_attach(ring.r, &o, &mine) == 0);
	int idx = h.record_of(getpid());
	REQUIRE(idx >= 0);
	SharedReport rep;
	Ready ready, go;
	Child member;

	spawn(member, [&] { return member_acquire_once(ring.name(), ready, go, false, 8 * SEC, rep.r); });
	REQUIRE(ready.wait(5000));
	produce(p, 3);
	h.store(&h.group(0)->claim_lock, (uint64_t)idx + 1);
	go.signal();
	REQUIRE(member.wait(15000) == 0);
	CHECK(rep->rc == RB_E_STUCK);
	CHECK(rep->elapsed_ns >= 1500000000ull);
	CHECK(rep->elapsed_ns < 4 * SEC);
	CHECK(rep->cpu_ns < 400000000ull);
	// The member named knows it does not hold the lock: it clears it at
	// once and claims.
	rb_frame f[4];
	uint64_t t0 = mono_ns();
	int n = rb_consumer_acquire_batch(mine, f, 4, 1, 2 * SEC);
	CHECK(mono_ns() - t0 < SEC / 2);
	REQUIRE(n == 3);
	CHECK(f[0].seq == 0);
	CHECK(rb_consumer_release_batch(mine, f, 3) == 0);
	rb_consumer_detach(mine);
	rb_producer_detach(p, 0);
}

TEST_CASE("a waiting claim-lock acquire ends at its timeout and on cancel", "[hostile]")
{
	TestRing ring(group_config(), "hl-timeout");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	rb_consumer_options o = {};
	o.group = "g";
	rb_consumer *a = nullptr, *b = nullptr;
	REQUIRE(rb_consumer_attach(ring.r, &o, &a) == 0);
	int ia = h.record_of(getpid());
	REQUIRE(ia >= 0);
	REQUIRE(rb_consumer_attach(ring.r, &o, &b) == 0);
	produce(p, 2);
	// `a` holds it (as far as `b` can tell): b's wait is the caller's.
	h.store(&h.group(0)->claim_lock, (uint64_t)ia + 1);
	rb_frame f[2];
	uint64_t t0 = mono_ns();
	CHECK(rb_consumer_acquire_batch(b, f, 2, 1, SEC / 5) == -ETIMEDOUT);
	uint64_t took = mono_ns() - t0;
	CHECK(took >= SEC / 5);
	CHECK(took < SEC);
	t0 = mono_ns();
	CHECK(rb_consumer_acquire_batch(b, f, 2, 1, RB_NO_WAIT) == -EAGAIN);
	CHECK(mono_ns() - t0 < SEC / 10);
	h.store(&h.group(0)->claim_lock, 0);
	rb_consumer_detach(b);
	rb_consumer_detach(a);
	rb_producer_detach(p, 0);
}

TEST_CASE("rb-consumer --group blocked on a hostile claim lock ends on SIGTERM within 1 s",
	  "[hostile][programs]")
{
	TestRing ring(group_config(), "hl-sig");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	// A live participant (this process, the producer) as the recoverer:
	// plausible, so nobody clears it for the hold bound.
	Proc cons({consumer_path(), "--group", "g", "--json", ring.name(), "null"});
	REQUIRE(eventually([&] { return h.record_of(cons.child.pid) >= 0 &&
				     RB_OWNER_STATE(h.load(&h.group(0)->owner)) == RB_OWNER_ACTIVE; },
			   10000));
	h.store(&h.group(0)->claim_lock, RB_LOCK_RECOVERING((uint32_t)getpid(), 1));
	produce(p, 2);
	// It spins or sleeps on the lock now; give it a moment to get there.
	usleep(300000);
	uint64_t t0 = mono_ns();
	cons.signal(SIGTERM);
	int status = cons.wait(3000);
	CHECK(status != -1);
	CHECK(mono_ns() - t0 < SEC);
	h.store(&h.group(0)->claim_lock, 0);
	rb_producer_detach(p, 0);
}

TEST_CASE("write_seq moved backwards under a sleeping lossy consumer: RB_E_CORRUPT, no wrapped lost",
	  "[hostile]")
{
	TestRing ring(small_config(64, SLOTS), "hl-wsback");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	SharedReport rep;
	Ready ready;
	Child cons;

	produce(p, 40);
	spawn(cons, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options o = {};
		rb_frame f[SLOTS];
		o.lossy = 1;
		o.start = RB_START_OLDEST;
		if (rb_ring_open(ring.name().c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0)
			return 2;
		int n = rb_consumer_acquire_batch(c, f, SLOTS, 1, RB_NO_WAIT);
		if (n <= 0)
			return 3;
		rb_consumer_release_batch(c, f, (uint32_t)n);
		ready.signal();
		// Caught up: this sleeps, and write_seq goes back meanwhile.
		int rc = rb_consumer_acquire_batch(c, f, SLOTS, 1, SEC);
		rep->rc = rc;
		rb_consumer_stats st;
		rb_consumer_get_stats(c, &st);
		rep->lost = st.lost;
		if (rc > 0)
			rb_consumer_release_batch(c, f, (uint32_t)rc);
		rb_consumer_detach(c);
		rb_ring_close(r);
		return 0;
	});
	REQUIRE(ready.wait(5000));
	// Wait until it sleeps (its bit in the sleep mask), then move
	// write_seq back.
	REQUIRE(eventually([&] { return h.load(&h.producer()->sleep_mask[0]) != 0; }, 5000));
	h.store(&h.producer()->write_seq, 0);
	REQUIRE(cons.wait(10000) == 0);
	CHECK(rep->rc == RB_E_CORRUPT);
	CHECK(rep->lost <= 40);
	h.store(&h.producer()->write_seq, 40);
	rb_producer_detach(p, 0);
}

TEST_CASE("write_seq moved backwards under a group member (several producers): RB_E_CORRUPT, not a wait for ever",
	  "[hostile]")
{
	TestRing ring(group_config(2), "hl-wsmulti");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	SharedReport rep;
	Ready ready, go;
	Child member;

	spawn(member, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options o = {};
		rb_frame f[SLOTS];
		o.group = "g";
		if (rb_ring_open(ring.name().c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0)
			return 2;
		ready.signal();
		if (!take_and_release(c, 20))
			return 3;
		ready.signal();
		if (!go.wait(10000))
			return 4;
		uint64_t t0 = mono_ns();
		rep->rc = rb_consumer_acquire_batch(c, f, SLOTS, 1, 3 * SEC);
		rep->elapsed_ns = mono_ns() - t0;
		rb_consumer_detach(c);
		rb_ring_close(r);
		return 0;
	});
	REQUIRE(ready.wait(5000));
	produce(p, 20);
	REQUIRE(ready.wait(5000));
	// More than a lap on, slot 0 no longer holds seq 0: write_seq
	// cannot move on from 0 over the next commit.
	h.store(&h.producer()->write_seq, 0);
	// The producer, held up by the group's gate that now looks a lap
	// ahead of write_seq, finds write_seq went back.
	uint64_t t0 = mono_ns();
	int rc = produce_until_error(p, SLOTS + 1, 3 * SEC);
	CHECK(rc == RB_E_CORRUPT);
	CHECK(mono_ns() - t0 < SEC);
	go.signal();
	REQUIRE(member.wait(10000) == 0);
	CHECK(rep->rc == RB_E_CORRUPT);
	CHECK(rep->elapsed_ns < SEC);
	// Nothing was "repaired" over the committed frames.
	CHECK(h.load(&h.producer()->frames_abandoned) == 0);
	rb_producer_detach(p, 0);
}

TEST_CASE("a group's claim_seq set past write_seq: RB_E_CORRUPT, not end of stream", "[hostile]")
{
	TestRing ring(group_config(), "hl-claim");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
	SharedReport rep;
	Ready ready, go;
	Child member;

	spawn(member, [&] { return member_acquire_once(ring.name(), ready, go, false, 3 * SEC, rep.r); });
	REQUIRE(ready.wait(5000));
	produce(p, 4);
	h.store(&h.group(0)->claim_seq, RB_SEQ_LIMIT - 1);
	REQUIRE(rb_producer_end_stream(p, SEC) == 0);
	go.signal();
	REQUIRE(member.wait(10000) == 0);
	CHECK(rep->rc == RB_E_CORRUPT);
	CHECK(rep->frames == 0);
	rb_producer_detach(p, 0);
}

TEST_CASE("a member's read_seq moved back: the blocked producer gets RB_E_CORRUPT, not a stall",
	  "[hostile]")
{
	TestRing ring(group_config(), "hl-readseq");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	Ready ready, drained, go;
	Child member;

	spawn(member, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options o = {};
		o.group = "g";
		if (rb_ring_open(ring.name().c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0)
			return 2;
		ready.signal();
		if (!take_and_release(c, 2 * (int)SLOTS))
			return 3;
		drained.signal();
		// Holds nothing from here on, until told to leave.
		go.wait(20000);
		rb_consumer_detach(c);
		rb_ring_close(r);
		return 0;
	});
	REQUIRE(ready.wait(5000));
	produce(p, 2 * SLOTS);
	REQUIRE(drained.wait(5000));
	int idx = h.record_of(member.pid);
	REQUIRE(idx >= 0);
	h.store(&h.consumer((uint32_t)idx)->read_seq, 0);
	uint64_t t0 = mono_ns();
	int rc = produce_until_error(p, SLOTS + 1, 3 * SEC);
	CHECK(rc == RB_E_CORRUPT);
	CHECK(mono_ns() - t0 < 2 * SEC);
	h.store(&h.consumer((uint32_t)idx)->read_seq, RB_SEQ_NONE);
	go.signal();
	CHECK(member.wait(5000) == 0);
	rb_producer_detach(p, 0);
}

TEST_CASE("a sleeping lossless consumer whose read_seq is rewritten reports RB_E_CORRUPT",
	  "[hostile]")
{
	TestRing ring(small_config(64, SLOTS), "hl-ownread");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	SharedReport rep;
	Ready ready;
	Child cons;

	spawn(cons, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_frame f[SLOTS];
		if (rb_ring_open(ring.name().c_str(), &r) != 0 || rb_consumer_attach(r, nullptr, &c) != 0)
			return 2;
		ready.signal();
		if (!take_and_release(c, (int)SLOTS + 4))
			return 3;
		ready.signal();
		uint64_t t0 = mono_ns();
		rep->rc = rb_consumer_acquire_batch(c, f, SLOTS, 1, 3 * SEC);
		rep->elapsed_ns = mono_ns() - t0;
		rb_consumer_detach(c);
		rb_ring_close(r);
		return 0;
	});
	REQUIRE(ready.wait(5000));
	produce(p, SLOTS + 4);
	REQUIRE(ready.wait(5000));
	int idx = h.record_of(cons.pid);
	REQUIRE(idx >= 0);
	REQUIRE(eventually([&] { return h.load(&h.producer()->sleep_mask[0]) != 0; }, 5000));
	// Held back a lap: the producer would stall on it, and the consumer
	// has nothing left to release.
	h.store(&h.consumer((uint32_t)idx)->read_seq, 4);
	REQUIRE(cons.wait(10000) == 0);
	CHECK(rep->rc == RB_E_CORRUPT);
	CHECK(rep->elapsed_ns < SEC);
	rb_producer_detach(p, 0);
}

TEST_CASE("a data frame whose descriptor says end of stream is corruption, not the end",
	  "[hostile]")
{
	// The end marker is empty (FORMAT.md §7, invariant 6): an EOS or
	// ABANDONED flag on a frame with bytes is a hostile descriptor, and
	// taking it for the end would be a silent short stream.
	for (uint32_t flag : {RB_FRAME_EOS, RB_FRAME_ABANDONED}) {
		for (bool lossy : {false, true}) {
			TestRing ring(small_config(256, SLOTS), "hv-eosflag");
			rb_consumer_options co = {};
			co.lossy = lossy;
			rb_consumer *c = nullptr;
			REQUIRE(rb_consumer_attach(ring.r, &co, &c) == 0);
			rb_producer *p = nullptr;
			REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
			REQUIRE(rb_producer_begin_stream(p, "source=test\n") == 0);
			produce(p, 4);
			Hostile h(ring.name());
			rb_shm_descriptor *d =
				(rb_shm_descriptor *)(h.base + h.header()->descriptors_offset) + 2;
			REQUIRE(d->seq == 2);
			__atomic_store_n(&d->flags, flag, __ATOMIC_RELEASE);
			INFO("flag " << flag << (lossy ? ", lossy" : ", lossless"));
			rb_frame f[8];
			int n = rb_consumer_acquire_batch(c, f, 8, 1, SEC);
			CHECK(n == 2); // the frames before it
			REQUIRE(n > 0);
			REQUIRE(rb_consumer_release_batch(c, f, (uint32_t)n) >= 0);
			CHECK(rb_consumer_acquire_batch(c, f, 8, 1, SEC) == RB_E_CORRUPT);
			rb_consumer_detach(c);
			rb_producer_detach(p, 0);
		}
	}
}

TEST_CASE("counters no seq count can reach are reported as corruption, never shown",
	  "[hostile]")
{
	TestRing ring(group_config(), "hv-counters");
	rb_consumer_options co = {};
	co.group = "g";
	rb_consumer *m = nullptr;
	REQUIRE(rb_consumer_attach(ring.r, &co, &m) == 0);
	Hostile h(ring.name());
	rb_ring_status st;
	rb_group_status gs[8];
	rb_consumer_status cs[8];
	REQUIRE(rb_ring_get_status(ring.r, &st) == 0);
	REQUIRE(rb_ring_groups(ring.r, gs, 8) == 1);
	REQUIRE(rb_ring_consumers(ring.r, cs, 8) == 1);

	__atomic_store_n(&h.producer()->frames_dropped, 1ull << 62, __ATOMIC_RELEASE);
	CHECK(rb_ring_get_status(ring.r, &st) == RB_E_CORRUPT);
	__atomic_store_n(&h.producer()->frames_dropped, 0, __ATOMIC_RELEASE);
	CHECK(rb_ring_get_status(ring.r, &st) == 0);

	__atomic_store_n(&h.group(0)->frames_departed, ~0ull, __ATOMIC_RELEASE);
	CHECK(rb_ring_groups(ring.r, gs, 8) == RB_E_CORRUPT);
	__atomic_store_n(&h.consumer(0)->claimed, 1ull << 63, __ATOMIC_RELEASE);
	CHECK(rb_ring_consumers(ring.r, cs, 8) == RB_E_CORRUPT);
	__atomic_store_n(&h.consumer(0)->claimed, 0, __ATOMIC_RELEASE);
	// The member leaving adds its frames to frames_departed: not to a
	// hostile value, which would wrap back to a plausible count.
	rb_consumer_detach(m);
	CHECK(__atomic_load_n(&h.group(0)->frames_departed, __ATOMIC_ACQUIRE) >= (1ull << 62));
}

// F5 and F11 of tests/hostile/FINDINGS.md: a group's claim_seq moved by
// no claim, within [what was claimed, write_seq] where the position checks
// cannot see it. Two members in this process claim in turn; the hostile
// store moves claim_seq, and the next claim of the member that did not
// move it last must be RB_E_CORRUPT (the group's accounting, §5.19), not
// frames from the wrong place nor the end of the stream.
namespace {

struct TwoMembers {
	rb_consumer *a = nullptr, *b = nullptr;
	explicit TwoMembers(rb_ring *r)
	{
		rb_consumer_options o = {};
		o.group = "g";
		REQUIRE(rb_consumer_attach(r, &o, &a) == 0);
		REQUIRE(rb_consumer_attach(r, &o, &b) == 0);
	}
	~TwoMembers()
	{
		rb_consumer_detach(a);
		rb_consumer_detach(b);
	}
};

// Acquires exactly `count` frames (one claim) and releases them; their seqs.
std::vector<uint64_t> claim(rb_consumer *c, uint32_t count)
{
	rb_frame f[SLOTS];
	std::vector<uint64_t> seqs;
	int n = rb_consumer_acquire_batch(c, f, count, count, SEC);

	REQUIRE(n == (int)count);
	for (int i = 0; i < n; i++)
		seqs.push_back(f[i].seq);
	rb_consumer_release_batch(c, f, (uint32_t)n);
	return seqs;
}

} // namespace

TEST_CASE("a group's claim_seq moved ahead or back within write_seq: RB_E_CORRUPT, never a gap or a duplicate",
	  "[hostile]")
{
	struct Move {
		const char *what;
		int64_t by;    // added to claim_seq after a's and b's claims
		bool end;      // the stream ended before the store
	};
	const Move moves[] = {{"ahead by one", 1, false},
			      {"back by one", -1, false},
			      {"ahead to write_seq after the end", 0, true}};

	for (const Move &m : moves) {
		SECTION(m.what)
		{
			TestRing ring(group_config(), "hl-account");
			Hostile h(ring.name());
			rb_producer *p = nullptr;
			REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
			REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
			{
				TwoMembers g(ring.r);
				produce(p, 8);
				if (m.end)
					REQUIRE(rb_producer_end_stream(p, SEC) == 0);
				CHECK(claim(g.a, 2) == std::vector<uint64_t>{0, 1});
				CHECK(claim(g.b, 2) == std::vector<uint64_t>{2, 3});
				uint64_t cur = h.load(&h.group(0)->claim_seq);
				REQUIRE(cur == 4);
				h.store(&h.group(0)->claim_seq,
					m.end ? h.load(&h.producer()->write_seq) : cur + m.by);
				rb_frame f[SLOTS];
				// a did not move claim_seq last: only the accounting tells.
				CHECK(rb_consumer_acquire_batch(g.a, f, SLOTS, 1, SEC) == RB_E_CORRUPT);
				CHECK(rb_consumer_acquire_batch(g.a, f, SLOTS, 1, RB_NO_WAIT) ==
				      RB_E_CORRUPT);
			}
			rb_producer_detach(p, 0);
		}
	}
}

TEST_CASE("the group accounting check sees no corruption in members that claim, leave and join",
	  "[hostile]")
{
	// Three members claim in turn from one thread while a fourth leaves
	// holding frames and joins again, 200 times: every claim passes the
	// accounting check, and the seqs handed out are each seq once.
	TestRing ring(group_config(), "hl-account-ok");
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
	TwoMembers g(ring.r);
	rb_consumer_options o = {};
	o.group = "g";
	std::vector<uint64_t> seen;
	uint64_t left_held = 0;

	for (int round = 0; round < 200; round++) {
		rb_consumer *c = nullptr;
		rb_frame f[SLOTS];

		REQUIRE(rb_consumer_attach(ring.r, &o, &c) == 0);
		produce(p, 6);
		for (uint64_t s : claim(g.a, 2))
			seen.push_back(s);
		REQUIRE(rb_consumer_acquire_batch(c, f, 2, 2, SEC) == 2);
		left_held += 2; // detached holding them: the group's lost
		rb_consumer_detach(c);
		for (uint64_t s : claim(g.b, 2))
			seen.push_back(s);
	}
	CHECK(seen.size() == 800);
	for (size_t i = 1; i < seen.size(); i++)
		CHECK(seen[i] > seen[i - 1]);
	rb_group_status gs[2] = {};
	rb_frame f[SLOTS];
	CHECK(rb_consumer_acquire_batch(g.a, f, SLOTS, 1, RB_NO_WAIT) == -EAGAIN);
	REQUIRE(rb_ring_groups(ring.r, gs, 2) == 1);
	CHECK(gs[0].lost == left_held);
	CHECK(gs[0].claim_seq == 1200);
	rb_producer_detach(p, 0);
}

// ---- a producer on a ring truncated under it (docs/FAULTS.md) -------------

namespace {

void on_sigbus(int, siginfo_t *info, void *)
{
	if (rb_ring_handle_sigbus(info->si_addr) != 1)
		signal(SIGBUS, SIG_DFL);
}

} // namespace

TEST_CASE("a producer's calls on a ring truncated under it return RB_E_TRUNCATED", "[hostile]")
{
	struct Ring {
		uint32_t producers;
		const char *what;
	};
	for (const Ring &k : {Ring{1, "one producer"}, Ring{2, "several producers"}}) {
		SECTION(k.what)
		{
			TestRing ring(group_config(k.producers), "hl-trunc-prod");
			rb_producer *p = nullptr;
			rb_consumer *c = nullptr;
			REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
			REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
			REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
			produce(p, 4);

			struct sigaction sa{}, old{};
			sa.sa_sigaction = on_sigbus;
			sa.sa_flags = SA_SIGINFO;
			sigemptyset(&sa.sa_mask);
			REQUIRE(sigaction(SIGBUS, &sa, &old) == 0);
			REQUIRE(truncate(shm_path(ring.name()).c_str(), 0) == 0);
			// The producer's next acquire is the first touch: it faults and
			// the helper maps zeros. From then on every call either
			// succeeds (into zero pages nobody else sees) or fails with
			// RB_E_TRUNCATED, never "corrupt" or another code. With
			// several producers the zeros read as claim_seq gone back:
			// the acquire fails, so.
			rb_frame f[SLOTS];
			auto ok_or_truncated = [](int rc) { return rc >= 0 || rc == RB_E_TRUNCATED; };
			int rc = 0;
			for (int i = 0; i < 3 * (int)SLOTS && rc >= 0; i++) {
				rc = rb_producer_acquire_batch(p, f, 1, RB_NO_WAIT);
				if (rc > 0)
					CHECK(rb_producer_commit_batch(p, f, (uint32_t)rc) == 0);
			}
			CHECK(rb_ring_truncated(ring.r) == 1);
			if (k.producers > 1) {
				CHECK(rc == RB_E_TRUNCATED);
				CHECK(rb_producer_acquire(p, f, SEC) == RB_E_TRUNCATED);
			} else {
				CHECK(rc == 1); // a single producer claims privately
			}
			CHECK(ok_or_truncated(rb_producer_end_stream(p, RB_NO_WAIT)));
			CHECK(ok_or_truncated(rb_producer_begin_stream(p, "k=w")));
			rb_consumer_detach(c);
			CHECK(ok_or_truncated(rb_producer_detach(p, 0)));
			rb_ring_close(ring.r);
			ring.r = nullptr;
			REQUIRE(sigaction(SIGBUS, &old, nullptr) == 0);
		}
	}
}

TEST_CASE("rb-producer on a ring for several producers whose write_seq moved back exits 1, not at SIGTERM",
	  "[hostile][programs]")
{
	// FINDINGS.md F8: the library found the corruption, but rb-producer
	// took its acquire error for "go round again" and printed it every
	// slice until SIGTERM, then exited 0.
	TestRing ring(group_config(2), "hl-mp-ws");
	Hostile h(ring.name());
	rb_consumer *c = nullptr;
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	Proc prod({producer_path(), "--attach", "--frame-size", "64", "--count", "100000", "--rate", "2kHz",
		   ring.name()});
	rb_frame f[SLOTS];
	for (int got = 0; got < 20;) {
		int n = rb_consumer_acquire_batch(c, f, 20 - got < (int)SLOTS ? 20 - got : SLOTS, 1,
						  5 * SEC);
		INFO("acquire: " << n << "; rb-producer: " << prod.stderr_text());
		REQUIRE(n > 0);
		rb_consumer_release_batch(c, f, (uint32_t)n);
		got += n;
	}
	// It fills the ring behind our read position, then waits for us.
	REQUIRE(eventually([&] { return h.load(&h.producer()->claim_seq) == 20 + SLOTS; }, 10000));
	h.store(&h.producer()->write_seq, 0);
	uint64_t t0 = mono_ns();
	int status = prod.wait(6000);
	CHECK(status == 1);
	CHECK(mono_ns() - t0 < 6 * SEC);
	CHECK(prod.stderr_text().find("ring segment is corrupted") != std::string::npos);
	rb_consumer_detach(c);
}

TEST_CASE("a stream ended with write_seq moved back short of its end: the consumer gets RB_E_CORRUPT, not a wait for ever",
	  "[hostile]")
{
	// The producer finds write_seq moved back (not what it published),
	// stops, and its detach ends the stream by its state at its own next
	// seq. write_seq, as moved, never reaches that end, and no producer is
	// left to move it: a consumer that had seen no higher write_seq used
	// to wait for ever (hostile.py producer.write_seq:cur-lap:once).
	TestRing ring(small_config(64, SLOTS), "hl-ws-end");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	rb_consumer *c = nullptr;
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
	produce(p, 4);
	REQUIRE(take_and_release(c, 4));
	produce(p, SLOTS); // the ring is full behind read_seq 4
	h.store(&h.producer()->write_seq, 4);
	CHECK(produce_until_error(p, 1, SEC) == RB_E_CORRUPT);
	rb_producer_detach(p, 0);
	REQUIRE(h.load(&h.producer()->stream_state) == RB_STREAM_ENDED);
	rb_frame f[SLOTS];
	uint64_t t0 = mono_ns(), next = 4;
	int n;
	// A consumer reading by descriptor (FORMAT.md §5.6) may first be
	// handed the frames really committed (seqs 4 .. 4+SLOTS-1, in order):
	// correct data. What must follow, within the bound, is the error.
	while ((n = rb_consumer_acquire_batch(c, f, SLOTS, 1, 5 * SEC)) > 0) {
		for (int i = 0; i < n; i++)
			REQUIRE(f[i].seq == next++);
		rb_consumer_release_batch(c, f, (uint32_t)n);
		REQUIRE(next <= 4 + SLOTS);
	}
	CHECK(n == RB_E_CORRUPT);
	CHECK(mono_ns() - t0 < 2 * SEC);
	rb_consumer_detach(c);
}

TEST_CASE("a demoted consumer lagging more than a lap is no corrupt gate: a blocked producer times out",
	  "[hostile]")
{
	// The position check of a blocked producer took a demoted consumer's
	// read_seq, a lap or more behind write_seq, for a hostile gate and
	// returned RB_E_CORRUPT (seen as tests/test_stall.cpp "--stall-timeout
	// ..." failing under load, once rb-producer stopped at an acquire
	// error instead of retrying it).
	TestRing ring(small_config(64, SLOTS), "hl-demoted");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	rb_consumer *stuck = nullptr, *good = nullptr;
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &stuck) == 0);
	REQUIRE(rb_consumer_attach(ring.r, nullptr, &good) == 0);
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
	int idx = h.record_of(getpid()); // the first record: `stuck`'s
	REQUIRE(idx == 0);
	REQUIRE(rb_ring_demote(ring.r, (uint32_t)idx) == 0);
	// `good` reads three laps; the demoted one reads nothing.
	for (int lap = 0; lap < 3; lap++) {
		produce(p, SLOTS);
		REQUIRE(take_and_release(good, SLOTS));
	}
	// Full behind `good` now: the producer waits for it, slice after
	// slice, and must time out, not find the ring corrupt.
	produce(p, SLOTS);
	rb_frame f;
	CHECK(rb_producer_acquire(p, &f, SEC) == -ETIMEDOUT);
	rb_consumer_detach(good);
	rb_consumer_detach(stuck);
	rb_producer_detach(p, 0);
}

TEST_CASE("a producers' claim_seq far past write_seq: a waiting consumer's repair does not run to it",
	  "[hostile]")
{
	// FINDINGS.md F9: the abandoned-seq repair walked from write_seq to
	// claim_seq (2^62 seqs) and the consumers running it never returned,
	// not even on SIGTERM. claim_seq more than a lap past write_seq is
	// no claim (FORMAT.md §7 invariant 9): nothing is repaired.
	TestRing ring(group_config(2), "hl-mp-claim");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "k=v") == 0);
	SharedReport rep;
	Ready ready, go;
	Child cons;

	spawn(cons, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_frame f[SLOTS];
		if (rb_ring_open(ring.name().c_str(), &r) != 0 ||
		    rb_consumer_attach(r, nullptr, &c) != 0)
			return 2;
		ready.signal();
		if (!go.wait(10000))
			return 3;
		uint64_t t0 = mono_ns();
		rep->rc = rb_consumer_acquire_batch(c, f, SLOTS, SLOTS, 500000000ull);
		rep->elapsed_ns = mono_ns() - t0;
		rb_consumer_detach(c);
		rb_ring_close(r);
		return 0;
	});
	REQUIRE(ready.wait(5000));
	produce(p, 4);
	h.store(&h.producer()->claim_seq, RB_SEQ_LIMIT);
	go.signal();
	REQUIRE(cons.wait(10000) == 0);
	CHECK(rep->elapsed_ns < 2 * SEC);
	CHECK(h.load(&h.producer()->frames_abandoned) == 0);
	CHECK(h.load(&h.producer()->write_seq) == 4);
	h.store(&h.producer()->claim_seq, 4);
	rb_producer_detach(p, 0);
}

TEST_CASE("a lossy consumer of a several-producer ring: write_seq far past claim_seq is RB_E_CORRUPT, not lost",
	  "[hostile]")
{
	// The consumer's half of the same: even with claim_limit raised to
	// cover it, a write_seq past claim_seq was committed by nobody.
	TestRing ring(group_config(2), "hl-mp-wslossy");
	Hostile h(ring.name());
	rb_producer *p = nullptr;
	rb_consumer *c = nullptr;
	rb_consumer_options o = {};
	o.lossy = 1;
	REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
	REQUIRE(rb_consumer_attach(ring.r, &o, &c) == 0);
	produce(p, 4);
	REQUIRE(take_and_release(c, 4));
	h.store(&h.producer()->claim_limit, RB_SEQ_LIMIT + SLOTS);
	h.store(&h.producer()->write_seq, RB_SEQ_LIMIT - 1);
	rb_frame f[SLOTS];
	CHECK(rb_consumer_acquire_batch(c, f, SLOTS, 1, RB_NO_WAIT) == RB_E_CORRUPT);
	rb_consumer_stats st;
	rb_consumer_get_stats(c, &st);
	CHECK(st.lost == 0);
	h.store(&h.producer()->write_seq, 4);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
}

TEST_CASE("a write_seq no producer wrote is corruption to a monitor: no absurd lag", "[hostile]")
{
	// rb-ctl info showed a consumer lag of 18446744073709550770 from a
	// write_seq of all ones, and ~2^62 from 2^62 - 1.
	for (uint32_t producers : {1u, 2u}) {
		TestRing ring(group_config(producers), "hl-ws-status");
		Hostile h(ring.name());
		rb_producer *p = nullptr;
		rb_consumer *c = nullptr;
		REQUIRE(rb_producer_attach(ring.r, nullptr, &p) == 0);
		REQUIRE(rb_consumer_attach(ring.r, nullptr, &c) == 0);
		produce(p, 4);
		rb_ring_status st;
		REQUIRE(rb_ring_get_status(ring.r, &st) == 0);
		for (uint64_t v : {~0ull, RB_SEQ_LIMIT, RB_SEQ_LIMIT - 1, 4ull + 2 * SLOTS}) {
			INFO("producers " << producers << " write_seq " << v);
			h.store(&h.producer()->write_seq, v);
			CHECK(rb_ring_get_status(ring.r, &st) == RB_E_CORRUPT);
		}
		h.store(&h.producer()->write_seq, 4);
		CHECK(rb_ring_get_status(ring.r, &st) == 0);
		CHECK(st.write_seq == 4);
		rb_consumer_detach(c);
		rb_producer_detach(p, 0);
	}
}
