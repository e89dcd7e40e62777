// Several producers on one ring and consumer groups (issue 6): every seq
// exactly once and in order with producers in separate processes, a
// preempted or killed producer's claims, stream membership, work sharing in
// groups (exactly once per group, at most once when a member dies or leaves
// holding frames), and the inputs that must be refused.
//
// Children report through shared anonymous mappings and pipes; every wait
// is bounded; every ring is removed and every child killed and reaped when
// a test ends, pass or fail.
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <algorithm>
#include <cstring>
#include <poll.h>
#include <set>
#include <string>
#include <sys/mman.h>
#include <vector>

using namespace rbt;

namespace {

const uint64_t SEC = 1000000000ull;
const uint64_t MS = 1000000ull;

// ---- handles and shared memory that clean up after a failed REQUIRE ----

// The ring of one test, created here and removed at the end. Declared
// before the handles so that they are detached before it is closed.
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

struct Prod {
	rb_producer *p = nullptr;
	Prod() = default;
	explicit Prod(rb_ring *r) { REQUIRE(rb_producer_attach(r, nullptr, &p) == 0); }
	~Prod() { detach(); }
	int detach(uint64_t timeout_ns = 0)
	{
		int rc = 0;
		if (p)
			rc = rb_producer_detach(p, timeout_ns);
		p = nullptr;
		return rc;
	}
};

struct Cons {
	rb_consumer *c = nullptr;
	Cons() = default;
	// Attaches a lossless consumer, in `group` if not null.
	explicit Cons(rb_ring *r, const char *group = nullptr)
	{
		rb_consumer_options o = {};
		o.group = group;
		REQUIRE(rb_consumer_attach(r, group ? &o : nullptr, &c) == 0);
	}
	~Cons() { detach(); }
	int detach()
	{
		int rc = 0;
		if (c)
			rc = rb_consumer_detach(c);
		c = nullptr;
		return rc;
	}
};

// A zeroed MAP_SHARED anonymous mapping: children write, the parent reads.
template <typename T> struct SharedMem {
	T *p = nullptr;
	size_t bytes;
	explicit SharedMem(size_t count = 1) : bytes(sizeof(T) * count)
	{
		void *m = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			       -1, 0);
		REQUIRE(m != MAP_FAILED);
		p = static_cast<T *>(m); // anonymous mappings start zeroed
	}
	~SharedMem() { munmap(p, bytes); }
	T *operator->() { return p; }
	T &operator[](size_t i) { return p[i]; }
};

// A pipe that carries 64-bit values (sequence numbers) from a child.
struct SeqPipe {
	int fds[2];
	SeqPipe() { REQUIRE(pipe(fds) == 0); }
	~SeqPipe()
	{
		close(fds[0]);
		close(fds[1]);
	}
	void put(uint64_t v) { (void)!write(fds[1], &v, sizeof(v)); }
	bool get(uint64_t *v, int timeout_ms)
	{
		struct pollfd p = {fds[0], POLLIN, 0};
		return poll(&p, 1, timeout_ms) == 1 && read(fds[0], v, sizeof(*v)) == sizeof(*v);
	}
};

// Signals `ready` n times / waits for n signals, each bounded.
void signal_n(Ready &r, int n)
{
	for (int i = 0; i < n; i++)
		r.signal();
}

bool wait_n(Ready &r, int n, int timeout_ms)
{
	for (int i = 0; i < n; i++)
		if (!r.wait(timeout_ms))
			return false;
	return true;
}

rb_ring_status status_of(rb_ring *r)
{
	rb_ring_status st;
	memset(&st, 0, sizeof(st));
	REQUIRE(rb_ring_get_status(r, &st) == 0);
	return st;
}

bool find_group(rb_ring *r, const char *name, rb_group_status *out)
{
	rb_group_status list[RB_MAX_GROUPS];
	int n = rb_ring_groups(r, list, RB_MAX_GROUPS);
	for (int i = 0; i < n && i < RB_MAX_GROUPS; i++)
		if (strcmp(list[i].name, name) == 0) {
			*out = list[i];
			return true;
		}
	return false;
}

// A test ring of 64-byte frames with room for `producers` producers.
rb_ring_config mp_config(uint32_t slots, uint32_t producers)
{
	rb_ring_config cfg = small_config(64, slots);
	cfg.max_producers = producers;
	return cfg;
}

// Checks the ring's abandoned frames, write_seq and attached producers.
void check_ring(rb_ring *r, uint64_t abandoned, uint64_t write_seq, uint32_t producers)
{
	rb_ring_status st = status_of(r);
	CHECK(st.frames_abandoned == abandoned);
	CHECK(st.write_seq == write_seq);
	CHECK(st.producers == producers);
}

// Sums of what the attached members of `group` report in their records.
struct MemberSums {
	uint32_t members = 0;
	uint64_t frames = 0, lost = 0, held = 0;
};

MemberSums member_sums(rb_ring *r, const char *group)
{
	std::vector<rb_consumer_status> list(RB_MAX_CONSUMERS);
	int n = rb_ring_consumers(r, list.data(), RB_MAX_CONSUMERS);
	MemberSums s;
	for (int i = 0; i < n && i < RB_MAX_CONSUMERS; i++)
		if (strcmp(list[(size_t)i].group, group) == 0) {
			s.members++;
			s.frames += list[(size_t)i].frames;
			s.lost += list[(size_t)i].lost;
			s.held += list[(size_t)i].held;
		}
	return s;
}

// The group's exact accounting (docs/FORMAT.md "Consumer groups"): every
// seq the group handed out is delivered, lost, held, departed or a marker.
void check_group_identity(rb_ring *r, const char *group)
{
	rb_group_status g;
	REQUIRE(find_group(r, group, &g));
	MemberSums s = member_sums(r, group);
	INFO("group " << group << ": claim_seq " << g.claim_seq << " start_seq " << g.start_seq
		      << " lost " << g.lost << " departed " << g.frames_departed << " markers "
		      << g.markers << "; members " << s.members << " frames " << s.frames
		      << " lost " << s.lost << " held " << s.held);
	CHECK(s.members == g.members);
	CHECK(g.claim_seq - g.start_seq ==
	      s.frames + s.lost + s.held + g.lost + g.frames_departed + g.markers);
}

// ---- tagged frames: (producer id, per-producer counter) ----

struct Tagged {
	uint64_t producer;
	uint64_t counter;
	uint64_t seq;
	uint64_t check;
};

uint64_t tag_check(uint64_t id, uint64_t counter, uint64_t seq)
{
	return (id * 0x9E3779B97F4A7C15ull) ^ (counter * 0xC2B2AE3D27D4EB4Full) ^
	       (seq * 0x165667B19E3779F9ull) ^ 0x5bd1e9955bd1e995ull;
}

void tag_frame(rb_frame *f, uint64_t id, uint64_t counter)
{
	Tagged t = {id, counter, f->seq, tag_check(id, counter, f->seq)};
	memcpy(f->data, &t, sizeof(t));
	f->length = sizeof(t);
	f->timestamp_ns = f->seq;
}

bool read_tag(const rb_frame &f, Tagged *t)
{
	if (f.length != sizeof(Tagged))
		return false;
	memcpy(t, f.data, sizeof(*t));
	return t->seq == f.seq && t->check == tag_check(t->producer, t->counter, t->seq);
}

// Acquires, tags and commits `n` frames one by one, counting from *counter.
// Returns 0 or the first failing code.
int put_tagged(rb_producer *p, uint64_t id, uint64_t *counter, uint64_t n,
	       uint64_t timeout_ns = 10 * SEC)
{
	for (uint64_t i = 0; i < n; i++) {
		rb_frame f;
		int rc = rb_producer_acquire(p, &f, timeout_ns);
		if (rc != 0)
			return rc;
		tag_frame(&f, id, (*counter)++);
		rc = rb_producer_commit(p, &f);
		if (rc != 0)
			return rc;
	}
	return 0;
}

// The same with acquire_batch / commit_batch in batches of 1..7.
int put_tagged_batches(rb_producer *p, uint64_t id, uint64_t *counter, uint64_t n)
{
	rb_frame frames[8];
	uint64_t done = 0;
	while (done < n) {
		uint32_t want = (uint32_t)(1 + (done + id) % 7);
		if (want > n - done)
			want = (uint32_t)(n - done);
		int got = rb_producer_acquire_batch(p, frames, want, 10 * SEC);
		if (got <= 0)
			return got < 0 ? got : -EPROTO;
		for (int i = 0; i < got; i++)
			tag_frame(&frames[i], id, (*counter)++);
		int rc = rb_producer_commit_batch(p, frames, (uint32_t)got);
		if (rc != 0)
			return rc;
		done += (uint64_t)got;
	}
	return 0;
}

// For a child holding `n` frames: reports their count and seqs to `seqs`,
// then holds them until it is killed.
[[noreturn]] void report_and_hold(SeqPipe &seqs, const rb_frame *frames, int n)
{
	seqs.put((uint64_t)n);
	for (int i = 0; i < n; i++)
		seqs.put(frames[i].seq);
	for (;;)
		pause();
}

// A child that attaches a producer to `name` and acquires `count` frames
// (one acquire_batch) without committing them: it writes how many it got
// and their seqs to `seqs`, then waits to be killed. With `stream`, it
// first joins the stream and commits one tagged frame (id `id`).
void spawn_claiming_producer(Child &child, const std::string &name, uint32_t count, SeqPipe &seqs,
			     bool stream = false, uint64_t id = 9)
{
	spawn(child, [&, count, stream, id] {
		rb_ring *r = nullptr;
		rb_producer *p = nullptr;
		if (rb_ring_open(name.c_str(), &r) != 0 || rb_producer_attach(r, nullptr, &p) != 0)
			return 1;
		if (stream) {
			uint64_t counter = 0;
			if (rb_producer_begin_stream(p, "member=killed\n") != 0 ||
			    put_tagged(p, id, &counter, 1) != 0)
				return 2;
		}
		rb_frame frames[16];
		int n = rb_producer_acquire_batch(p, frames, count, 10 * SEC);
		if (n <= 0)
			return 3;
		report_and_hold(seqs, frames, n);
	});
}

// Kills the child and checks that SIGKILL is what ended it.
void kill_child(Child &child)
{
	child.kill_now(SIGKILL);
	CHECK(child.wait(5000) == 128 + SIGKILL);
}

// Reads the count and seqs spawn_claiming_producer reports.
std::vector<uint64_t> claimed_seqs(SeqPipe &seqs)
{
	uint64_t n = 0;
	REQUIRE(seqs.get(&n, 10000));
	REQUIRE(n >= 1);
	REQUIRE(n <= 16);
	std::vector<uint64_t> out;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t s;
		REQUIRE(seqs.get(&s, 10000));
		out.push_back(s);
	}
	return out;
}

// Acquires the next frame (bounded) and releases it, returning a copy.
rb_frame take(rb_consumer *c, int *rc, uint64_t timeout_ns = 5 * SEC, Tagged *tag = nullptr)
{
	rb_frame f;
	memset(&f, 0, sizeof(f));
	*rc = rb_consumer_acquire(c, &f, timeout_ns);
	if (*rc == 0) {
		if (tag && !read_tag(f, tag))
			memset(tag, 0xff, sizeof(*tag));
		rb_consumer_release(c, &f);
	}
	return f;
}

const uint64_t ANY_PRODUCER = UINT64_MAX;

// Takes seqs [from, to) one by one and in order, each tagged by `producer`
// unless that is ANY_PRODUCER.
void take_seqs(rb_consumer *c, uint64_t from, uint64_t to, uint64_t producer = ANY_PRODUCER,
	       uint64_t timeout_ns = 5 * SEC)
{
	int rc;
	Tagged t;
	for (uint64_t s = from; s < to; s++) {
		rb_frame f = take(c, &rc, timeout_ns, producer == ANY_PRODUCER ? nullptr : &t);
		REQUIRE(rc == 0);
		CHECK(f.seq == s);
		if (producer != ANY_PRODUCER)
			CHECK(t.producer == producer);
	}
}

} // namespace

// ---- several producers, one lossless consumer ----

TEST_CASE("several producers in other processes: every seq once, in order, each producer's frames in its order", "[mpmc][producers]")
{
	const uint32_t producers = 3;
	const uint64_t per_producer = 20000;
	int mode = 0; // 0 single frames, 1 batches, 2 mixed
	SECTION("single-frame acquire/commit") { mode = 0; }
	SECTION("batch acquire/commit") { mode = 1; }
	SECTION("mixed: one producer single, the others batches") { mode = 2; }

	rb_ring_config cfg = mp_config(64, 4);
	cfg.initial_seq = 77;
	TestRing ring(cfg, "mpmc-prod");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	CHECK(rb_ring_max_producers(r) == 4);

	Cons cons(r);

	// Each producer joins the stream, and only when all three are members
	// do they produce: the stream cannot end before the last one joined.
	Ready joined, go, ended, leave;
	// What a producer that failed was doing, for the report.
	struct Failure {
		int64_t step, rc;
		uint64_t counter;
	};
	SharedMem<Failure> failed(producers);
	Child kids[producers];
	for (uint32_t id = 0; id < producers; id++) {
		spawn(kids[id], [&, id] {
			rb_ring *cr = nullptr;
			rb_producer *p = nullptr;
			Failure &why = failed[id];
			if (rb_ring_open(name.c_str(), &cr) != 0 ||
			    rb_producer_attach(cr, nullptr, &p) != 0)
				return 1;
			char hdr[64];
			snprintf(hdr, sizeof(hdr), "producer=%u\n", id);
			if (rb_producer_begin_stream(p, hdr) != 0)
				return 2;
			joined.signal();
			if (!go.wait(30000))
				return 3;
			uint64_t counter = 0;
			bool batch = mode == 1 || (mode == 2 && id != 0);
			int rc = batch ? put_tagged_batches(p, id, &counter, per_producer)
				       : put_tagged(p, id, &counter, per_producer);
			if (rc != 0) {
				why = {4, rc, counter};
				return 4;
			}
			rc = rb_producer_end_stream(p, 10 * SEC);
			if (rc != 0) {
				why = {5, rc, counter};
				return 5;
			}
			ended.signal();
			if (!leave.wait(30000))
				return 6;
			if (rb_producer_detach(p, 0) != 0)
				return 7;
			rb_ring_close(cr);
			return 0;
		});
	}
	REQUIRE(wait_n(joined, producers, 10000));
	rb_ring_status st = status_of(r);
	CHECK(st.producers == producers);
	CHECK(st.max_producers == 4);
	CHECK(st.stream_members == producers);
	CHECK(st.stream_state == RB_STREAM_STATUS_OPEN);
	signal_n(go, producers);

	uint64_t expect_seq = cfg.initial_seq, frames = 0, bad = 0, gaps = 0;
	std::vector<uint64_t> next_counter(producers, 0);
	int rc = 0;
	rb_frame batch[32];
	// A stream that trickles (each wait ending by a timeout slice) fails
	// here instead of at the harness's timeout.
	uint64_t deadline = now_ms() + 60000;
	for (;;) {
		if (now_ms() > deadline) {
			rc = -ETIMEDOUT;
			break;
		}
		int n = rb_consumer_acquire_batch(cons.c, batch, 32, 1, 10 * SEC);
		if (n == RB_E_EOS) {
			rc = n;
			break;
		}
		if (n < 0) {
			rc = n;
			break;
		}
		for (int i = 0; i < n; i++) {
			Tagged t;
			if (batch[i].seq != expect_seq)
				gaps++;
			expect_seq = batch[i].seq + 1;
			if (!read_tag(batch[i], &t) || t.producer >= producers ||
			    (batch[i].flags & RB_FRAME_ABANDONED)) {
				bad++;
				continue;
			}
			if (t.counter != next_counter[t.producer])
				bad++;
			next_counter[t.producer] = t.counter + 1;
			frames++;
		}
		REQUIRE(rb_consumer_release_batch(cons.c, batch, (uint32_t)n) == 0);
	}
	INFO("frames " << frames << ", next seq " << expect_seq);
	CHECK(rc == RB_E_EOS);
	CHECK(gaps == 0);
	CHECK(bad == 0);
	CHECK(frames == producers * per_producer);
	for (uint32_t id = 0; id < producers; id++) {
		INFO("producer " << id);
		CHECK(next_counter[id] == per_producer);
	}
	// The end marker is the one seq after the last frame.
	CHECK(expect_seq == cfg.initial_seq + producers * per_producer);

	// Every producer has left the stream; they are still attached.
	bool all_ended = wait_n(ended, producers, 30000);
	for (uint32_t id = 0; id < producers; id++) {
		INFO("producer " << id << " failed at step " << failed[id].step << " with "
				 << failed[id].rc << " after " << failed[id].counter << " frames");
		CHECK(failed[id].step == 0);
	}
	REQUIRE(all_ended);
	st = status_of(r);
	CHECK(st.stream_state == RB_STREAM_STATUS_ENDED);
	CHECK(st.stream_members == 0);
	CHECK(st.frames_abandoned == 0);
	CHECK(st.write_seq - st.initial_seq == producers * per_producer + 1);
	CHECK(st.claim_seq == st.write_seq);
	rb_producer_status ps[8];
	int np = rb_ring_producers(r, ps, 8);
	REQUIRE(np == (int)producers);
	std::set<uint32_t> pids, want_pids;
	uint64_t committed = 0;
	for (int i = 0; i < np; i++) {
		pids.insert(ps[i].pid);
		CHECK(ps[i].alive);
		CHECK_FALSE(ps[i].in_stream);
		CHECK(ps[i].frames == per_producer);
		CHECK(ps[i].hold_from == UINT64_MAX);
		committed += ps[i].frames;
	}
	for (uint32_t id = 0; id < producers; id++)
		want_pids.insert((uint32_t)kids[id].pid);
	CHECK(pids == want_pids);
	// Accounting: committed + abandoned + end markers = write_seq advance.
	CHECK(committed + st.frames_abandoned + 1 == st.write_seq - st.initial_seq);
	// The first producer's header is the stream's.
	char hdr[256];
	REQUIRE(rb_consumer_stream_header(cons.c, hdr, sizeof(hdr), nullptr) >= 0);
	CHECK(strncmp(hdr, "producer=", 9) == 0);

	signal_n(leave, producers);
	for (uint32_t id = 0; id < producers; id++)
		CHECK(kids[id].wait(30000) == 0);
	CHECK(rb_ring_producers(r, ps, 8) == 0);
	CHECK(status_of(r).producers == 0);
}

// ---- a preempted producer ----

TEST_CASE("a producer preempted between acquire and commit holds consumers at its seq, not the other producers", "[mpmc][producers]")
{
	TestRing ring(mp_config(16, 2), "mpmc-preempt");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	Cons cons(r);
	Prod b(r);
	const uint64_t ID_A = 1, ID_B = 2;
	uint64_t b_counter = 0;
	REQUIRE(put_tagged(b.p, ID_B, &b_counter, 2) == 0); // seqs 0, 1

	// A claims seq 2 and commits only when told to.
	SeqPipe seqs;
	Ready commit_now, committed, leave;
	Child a;
	spawn(a, [&] {
		rb_ring *cr = nullptr;
		rb_producer *p = nullptr;
		if (rb_ring_open(name.c_str(), &cr) != 0 || rb_producer_attach(cr, nullptr, &p) != 0)
			return 1;
		rb_frame f;
		if (rb_producer_acquire(p, &f, 10 * SEC) != 0)
			return 2;
		tag_frame(&f, ID_A, 0);
		seqs.put(f.seq);
		if (!commit_now.wait(30000))
			return 3;
		if (rb_producer_commit(p, &f) != 0)
			return 4;
		committed.signal();
		if (!leave.wait(30000))
			return 5;
		return rb_producer_detach(p, 0) == 0 ? 0 : 6;
	});
	uint64_t a_seq = 0;
	REQUIRE(seqs.get(&a_seq, 10000));
	CHECK(a_seq == 2);

	// B goes on claiming and committing past A's seq.
	REQUIRE(put_tagged(b.p, ID_B, &b_counter, 5) == 0); // seqs 3..7
	rb_ring_status st = status_of(r);
	CHECK(st.write_seq == 2);
	CHECK(st.claim_seq == 8);
	rb_producer_status ps[4];
	REQUIRE(rb_ring_producers(r, ps, 4) == 2);
	for (int i = 0; i < 2; i++) {
		if (ps[i].pid == (uint32_t)a.pid)
			CHECK(ps[i].hold_from <= a_seq);
		else
			CHECK(ps[i].hold_from == UINT64_MAX);
	}

	// The consumer gets everything before A's seq and nothing past it.
	int rc;
	Tagged t;
	take_seqs(cons.c, 0, 2, ID_B);
	rb_frame f;
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	CHECK(rb_consumer_acquire(cons.c, &f, 300 * MS) == -ETIMEDOUT);

	// B may claim up to one ring's worth past the consumer (at A's seq):
	// 8..17, then the ring is full.
	uint64_t more = 0;
	while (put_tagged(b.p, ID_B, &b_counter, 1, RB_NO_WAIT) == 0 && more < 100)
		more++;
	CHECK(more == 10);
	CHECK(rb_producer_acquire(b.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	st = status_of(r);
	CHECK(st.claim_seq == a_seq + 16);
	CHECK(st.write_seq == a_seq);
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);

	// A commits: its frame, then all of B's, in order.
	commit_now.signal();
	REQUIRE(committed.wait(10000));
	f = take(cons.c, &rc, 5 * SEC, &t);
	REQUIRE(rc == 0);
	CHECK(f.seq == a_seq);
	CHECK(t.producer == ID_A);
	uint64_t next_b = 2;
	for (uint64_t s = a_seq + 1; s < a_seq + 16; s++) {
		f = take(cons.c, &rc, 5 * SEC, &t);
		REQUIRE(rc == 0);
		CHECK(f.seq == s);
		CHECK(t.producer == ID_B);
		CHECK(t.counter == next_b++);
	}
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	st = status_of(r);
	CHECK(st.write_seq == a_seq + 16);
	CHECK(st.frames_abandoned == 0);
	leave.signal();
	CHECK(a.wait(10000) == 0);
}

// ---- a producer killed mid-claim ----

TEST_CASE("a producer killed between acquire and commit: its seqs arrive empty and flagged, then the rest", "[mpmc][producers][kill]")
{
	uint32_t held = 1;
	bool evict_explicitly = false;
	SECTION("one frame; the waiting consumer commits it on the dead producer's behalf")
	{
		held = 1;
	}
	SECTION("a batch of 3; rb_ring_evict_dead commits them")
	{
		held = 3;
		evict_explicitly = true;
	}
	SECTION("a batch of 4; the waiting consumer commits them")
	{
		held = 4;
	}

	rb_ring_config cfg = mp_config(64, 2);
	cfg.initial_seq = 1000;
	TestRing ring(cfg, "mpmc-kill");
	rb_ring *r = ring.r;
	Cons cons(r);
	Prod b(r);
	const uint64_t ID_B = 2;
	uint64_t b_counter = 0;
	REQUIRE(put_tagged(b.p, ID_B, &b_counter, 2) == 0); // 1000, 1001

	SeqPipe seqs;
	Child a;
	spawn_claiming_producer(a, ring.name(), held, seqs);
	std::vector<uint64_t> claimed = claimed_seqs(seqs);
	REQUIRE(claimed.size() == held);
	for (uint32_t i = 0; i < held; i++)
		CHECK(claimed[i] == 1002 + i);
	REQUIRE(put_tagged(b.p, ID_B, &b_counter, 5) == 0); // after A's seqs
	CHECK(status_of(r).write_seq == 1002);

	int rc;
	Tagged t;
	take_seqs(cons.c, 1000, 1002);

	kill_child(a);
	uint64_t t0 = now_ms();
	if (evict_explicitly) {
		CHECK(rb_ring_evict_dead(r) >= 1);
		rb_ring_status st = status_of(r);
		CHECK(st.frames_abandoned == held);
		CHECK(st.write_seq == 1002 + held + 5);
	}
	for (uint32_t i = 0; i < held; i++) {
		rb_frame f;
		rc = rb_consumer_acquire(cons.c, &f, evict_explicitly ? RB_NO_WAIT : 5 * SEC);
		REQUIRE(rc == 0);
		INFO("abandoned frame " << i << " after " << now_ms() - t0 << " ms");
		CHECK(f.seq == claimed[i]);
		CHECK((f.flags & RB_FRAME_ABANDONED) != 0);
		CHECK(f.length == 0);
		REQUIRE(rb_consumer_release(cons.c, &f) == 0);
	}
	uint64_t waited = now_ms() - t0;
	INFO("the dead producer's seqs came after " << waited << " ms");
	CHECK(waited < 2000); // expected ~100-300 ms (one liveness slice)
	for (uint64_t k = 0; k < 5; k++) {
		rb_frame f = take(cons.c, &rc, 5 * SEC, &t);
		REQUIRE(rc == 0);
		CHECK(f.seq == 1002 + held + k);
		CHECK((f.flags & RB_FRAME_ABANDONED) == 0);
		CHECK(t.producer == ID_B);
		CHECK(t.counter == 2 + k);
	}
	rb_frame f;
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);

	// The dead producer's record may wait for the next liveness check.
	rb_ring_evict_dead(r);
	rb_ring_status st = status_of(r);
	CHECK(st.frames_abandoned == held);
	CHECK(st.write_seq == st.claim_seq);
	CHECK(st.producers == 1);
	rb_producer_status ps[4];
	REQUIRE(rb_ring_producers(r, ps, 4) == 1);
	CHECK(ps[0].pid == (uint32_t)getpid());
	CHECK(ps[0].frames == 7);
	// committed + abandoned + markers (none) = write_seq advance.
	CHECK(ps[0].frames + st.frames_abandoned == st.write_seq - st.initial_seq);
	rb_consumer_stats cs;
	rb_consumer_get_stats(cons.c, &cs);
	CHECK(cs.frames == 7 + held);
	CHECK(cs.abandoned == held);
	CHECK(cs.lost == 0);

	// B goes on as before.
	REQUIRE(put_tagged(b.p, ID_B, &b_counter, 1) == 0);
	f = take(cons.c, &rc, 5 * SEC, &t);
	REQUIRE(rc == 0);
	CHECK(f.seq == 1002 + held + 5);
}

TEST_CASE("a producer blocked behind a killed producer's claim commits it empty and goes on", "[mpmc][producers][kill]")
{
	TestRing ring(mp_config(8, 2), "mpmc-killblk");
	rb_ring *r = ring.r;
	Prod b(r);
	SeqPipe seqs;
	Child a;
	spawn_claiming_producer(a, ring.name(), 1, seqs);
	std::vector<uint64_t> claimed = claimed_seqs(seqs);
	REQUIRE(claimed.size() == 1);
	CHECK(claimed[0] == 0);
	// With no consumer, only A's claim at 0 holds the ring: 1..7, then full.
	uint64_t counter = 0;
	REQUIRE(put_tagged(b.p, 2, &counter, 7, RB_NO_WAIT) == 0);
	rb_frame f;
	REQUIRE(rb_producer_acquire(b.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);

	a.kill_now(SIGKILL); // reaped only at the end: a zombie is dead too
	uint64_t t0 = now_ms();
	int rc = rb_producer_acquire(b.p, &f, 5 * SEC);
	uint64_t waited = now_ms() - t0;
	REQUIRE(rc == 0);
	INFO("waited " << waited << " ms");
	CHECK(waited < 2000);
	CHECK(f.seq == 8);
	tag_frame(&f, 2, counter++);
	REQUIRE(rb_producer_commit(b.p, &f) == 0);
	rb_ring_evict_dead(r);
	check_ring(r, 1, 9, 1);
}

TEST_CASE("a producer detaching with claims it did not commit: they are published empty and flagged", "[mpmc][producers]")
{
	TestRing ring(mp_config(16, 2), "mpmc-detach");
	rb_ring *r = ring.r;
	Cons cons(r);
	Prod a(r), b(r);
	rb_frame held[2];
	REQUIRE(rb_producer_acquire_batch(a.p, held, 2, RB_NO_WAIT) == 2); // 0, 1
	// No stream may begin on top of uncommitted frames.
	CHECK(rb_producer_begin_stream(a.p, "") == -EBUSY);
	uint64_t counter = 0;
	REQUIRE(put_tagged(b.p, 2, &counter, 2) == 0); // 2, 3
	REQUIRE(a.detach() == 0);
	int rc;
	for (uint64_t s = 0; s < 2; s++) {
		rb_frame f = take(cons.c, &rc, RB_NO_WAIT);
		REQUIRE(rc == 0);
		CHECK(f.seq == s);
		CHECK(f.flags == RB_FRAME_ABANDONED);
		CHECK(f.length == 0);
	}
	take_seqs(cons.c, 2, 4, 2u, RB_NO_WAIT);
	check_ring(r, 2, 4, 1);
}

// ---- streams with several producers ----

TEST_CASE("stream membership: the stream ends when its last member ends it", "[mpmc][stream]")
{
	TestRing ring(mp_config(32, 3), "mpmc-stream");
	rb_ring *r = ring.r;
	Cons cons(r);
	Prod p1(r), p2(r);
	REQUIRE(rb_producer_begin_stream(p1.p, "first=1\n") == 0);
	REQUIRE(rb_producer_begin_stream(p2.p, "second=1\n") == 0); // joins; header ignored
	rb_ring_status st = status_of(r);
	CHECK(st.stream_members == 2);
	CHECK(st.stream_state == RB_STREAM_STATUS_OPEN);
	char hdr[128];
	REQUIRE(rb_ring_stream_header(r, hdr, sizeof(hdr), nullptr) >= 0);
	CHECK(std::string(hdr) == "first=1\n");

	uint64_t c1 = 0, c2 = 0;
	REQUIRE(put_tagged(p1.p, 1, &c1, 3) == 0);
	REQUIRE(put_tagged(p2.p, 2, &c2, 3) == 0);
	REQUIRE(rb_producer_end_stream(p1.p, 5 * SEC) == 0);
	st = status_of(r);
	CHECK(st.stream_members == 1);
	CHECK(st.stream_state == RB_STREAM_STATUS_OPEN);
	CHECK(st.write_seq == 6); // no marker yet
	REQUIRE(put_tagged(p2.p, 2, &c2, 2) == 0); // still in the stream
	// p1 left: it cannot end the stream p2 still has open.
	CHECK(rb_producer_end_stream(p1.p, 5 * SEC) == -EINVAL);
	Prod p3(r);
	CHECK(rb_producer_end_stream(p3.p, 5 * SEC) == -EINVAL);
	REQUIRE(p3.detach() == 0); // not a member: leaves the stream alone
	st = status_of(r);
	CHECK(st.stream_members == 1);
	CHECK(st.stream_state == RB_STREAM_STATUS_OPEN);
	CHECK(st.write_seq == 8);

	int rc;
	Tagged t;
	for (uint64_t s = 0; s < 8; s++) {
		rb_frame f = take(cons.c, &rc, 5 * SEC, &t);
		REQUIRE(rc == 0);
		CHECK(f.seq == s);
		CHECK(t.producer == (s < 3 ? 1u : 2u));
		if (s == 0)
			CHECK((f.flags & RB_FRAME_STREAM_START) != 0);
		else
			CHECK((f.flags & RB_FRAME_STREAM_START) == 0);
	}
	rb_frame f;
	// The first end did not end the stream for the consumer.
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);

	REQUIRE(rb_producer_end_stream(p2.p, 5 * SEC) == 0);
	st = status_of(r);
	CHECK(st.stream_members == 0);
	CHECK(st.stream_state == RB_STREAM_STATUS_ENDED);
	CHECK(st.write_seq == 9); // 8 frames and one marker
	CHECK(st.eos_seq == 9);
	CHECK(rb_consumer_acquire(cons.c, &f, 5 * SEC) == RB_E_EOS);
	rb_consumer_stats cs;
	rb_consumer_get_stats(cons.c, &cs);
	CHECK(cs.frames == 8);
	CHECK(cs.next_seq == 9);

	// The next stream starts afresh and ends once more.
	REQUIRE(rb_producer_begin_stream(p1.p, "third=1\n") == 0);
	REQUIRE(put_tagged(p1.p, 1, &c1, 1) == 0);
	REQUIRE(rb_producer_end_stream(p1.p, 5 * SEC) == 0);
	f = take(cons.c, &rc, 5 * SEC, &t);
	REQUIRE(rc == 0);
	CHECK(f.seq == 9);
	CHECK((f.flags & RB_FRAME_STREAM_START) != 0);
	CHECK(rb_consumer_acquire(cons.c, &f, 5 * SEC) == RB_E_EOS);
	st = status_of(r);
	CHECK(st.write_seq == 11);
	rb_producer_status ps[4];
	REQUIRE(rb_ring_producers(r, ps, 4) == 2);
	// 9 frames + 2 markers = write_seq advance.
	CHECK(ps[0].frames + ps[1].frames + st.frames_abandoned + 2 == st.write_seq);
}

TEST_CASE("a stream member is killed, the other ends the stream: consumers get RB_E_EOS", "[mpmc][stream][kill]")
{
	TestRing ring(mp_config(32, 2), "mpmc-streamkill");
	rb_ring *r = ring.r;
	Cons cons(r);
	// A begins the stream, commits one frame and dies holding a second.
	SeqPipe seqs;
	Child a;
	spawn_claiming_producer(a, ring.name(), 1, seqs, true, 1);
	std::vector<uint64_t> claimed = claimed_seqs(seqs);
	REQUIRE(claimed.size() == 1);
	CHECK(claimed[0] == 1);
	Prod b(r);
	REQUIRE(rb_producer_begin_stream(b.p, "ignored=1\n") == 0);
	CHECK(status_of(r).stream_members == 2);
	uint64_t counter = 0;
	REQUIRE(put_tagged(b.p, 2, &counter, 2) == 0); // 2, 3
	kill_child(a);
	REQUIRE(put_tagged(b.p, 2, &counter, 1) == 0); // 4
	REQUIRE(rb_producer_end_stream(b.p, 5 * SEC) == 0);

	int rc;
	Tagged t;
	rb_frame f = take(cons.c, &rc, 5 * SEC, &t);
	REQUIRE(rc == 0);
	CHECK(f.seq == 0);
	CHECK(t.producer == 1u);
	f = take(cons.c, &rc, 5 * SEC);
	REQUIRE(rc == 0);
	CHECK(f.seq == 1);
	CHECK((f.flags & RB_FRAME_ABANDONED) != 0);
	CHECK(f.length == 0);
	take_seqs(cons.c, 2, 5, 2u);
	CHECK(rb_consumer_acquire(cons.c, &f, 5 * SEC) == RB_E_EOS);
	rb_ring_status st = status_of(r);
	CHECK(st.stream_state == RB_STREAM_STATUS_ENDED);
	CHECK(st.stream_members == 0);
	CHECK(st.frames_abandoned == 1);
	CHECK(st.write_seq == 6);
	// 4 committed + 1 abandoned + 1 marker. A's record is gone, so count
	// its one committed frame by hand.
	rb_producer_status ps[4];
	REQUIRE(rb_ring_producers(r, ps, 4) == 1);
	CHECK(ps[0].frames == 3);
	CHECK(ps[0].frames + 1 + st.frames_abandoned + 1 == st.write_seq - st.initial_seq);
}

TEST_CASE("every stream member killed: consumers read everything, then RB_E_PRODUCER_DEAD", "[mpmc][stream][kill]")
{
	TestRing ring(mp_config(32, 2), "mpmc-streamdead");
	rb_ring *r = ring.r;
	Cons cons(r);
	SeqPipe s1, s2;
	Child a1, a2;
	spawn_claiming_producer(a1, ring.name(), 1, s1, true, 1);
	std::vector<uint64_t> c1 = claimed_seqs(s1);
	spawn_claiming_producer(a2, ring.name(), 1, s2, true, 2);
	std::vector<uint64_t> c2 = claimed_seqs(s2);
	CHECK(status_of(r).stream_members == 2);
	a1.kill_now(SIGKILL);
	a2.kill_now(SIGKILL);
	CHECK(a1.wait(5000) == 128 + SIGKILL);
	CHECK(a2.wait(5000) == 128 + SIGKILL);

	// Seqs 0..3: two committed frames and two abandoned claims.
	uint64_t committed = 0, abandoned = 0;
	int rc = 0;
	uint64_t t0 = now_ms();
	for (uint64_t s = 0; s < 4; s++) {
		rb_frame f = take(cons.c, &rc, 5 * SEC);
		REQUIRE(rc == 0);
		CHECK(f.seq == s);
		if (f.flags & RB_FRAME_ABANDONED) {
			abandoned++;
			CHECK((s == c1[0] || s == c2[0]));
		} else {
			committed++;
		}
	}
	CHECK(committed == 2);
	CHECK(abandoned == 2);
	rb_frame f;
	rc = rb_consumer_acquire(cons.c, &f, 5 * SEC);
	CHECK(rc == RB_E_PRODUCER_DEAD);
	CHECK(now_ms() - t0 < 3000);
	rb_ring_status st = status_of(r);
	CHECK(st.frames_abandoned == 2);
	CHECK(st.write_seq == 4);
	CHECK(st.producer_alive == 0);
	// It stays so.
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_PRODUCER_DEAD);
	// Evicting the dead members marks the stream abandoned (consumers
	// only read the state; an evictor or a new producer writes it).
	rb_ring_evict_dead(r);
	st = status_of(r);
	CHECK(st.stream_state == RB_STREAM_STATUS_ABANDONED);
	CHECK(st.stream_members == 0);
	CHECK(st.producers == 0);
	CHECK(rb_consumer_acquire(cons.c, &f, RB_NO_WAIT) == RB_E_PRODUCER_DEAD);
}

// ---- consumer groups ----

namespace {

// What one group member (or broadcast consumer) reports.
struct MemberResult {
	int64_t rc;
	uint64_t frames, lost, abandoned; // its rb_consumer_stats
	uint64_t delivered;               // frames acquired
	uint64_t bad, order_bad, eos, overrun;
	uint64_t first, last;
};

struct Results {
	MemberResult m[16];
	uint64_t produced;     // producers that wrote all their frames
	uint64_t hop_frames;   // summed stats of the hopper's sessions
	uint64_t hop_lost;
	uint64_t hop_sessions;
};

struct MemberArgs {
	const char *group = nullptr;
	int lossy = 0;
	uint32_t batch = 1;     // acquire up to this many at once
	int slot = 0;
	uint8_t *seen = nullptr; // per-seq delivery counts of its group
	uint64_t base = 0, limit = 0;
	unsigned work_us = 0;  // pretend to work on each frame
	Ready *attached = nullptr, *done = nullptr, *go = nullptr;
	Ready *start = nullptr; // if set: attach, then wait for it to read
};

uint64_t now_us()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

// Spins (a slow analysis) rather than sleeps: the member stays runnable.
void busy_us(unsigned us)
{
	uint64_t end = now_us() + us;
	while (now_us() < end)
		;
}

void count_seen(const MemberArgs &a, MemberResult &res, uint64_t seq)
{
	if (seq < a.base || seq - a.base >= a.limit) {
		res.bad++;
		return;
	}
	__atomic_fetch_add(&a.seen[seq - a.base], 1, __ATOMIC_RELAXED);
}

// Consumes until end of stream: counts each seq in a.seen, checks bytes and
// that its own seqs increase; then reports, signals `done` and stays
// attached until `go` (so that the parent can check the group's numbers).
int run_member(const std::string &name, const MemberArgs &a, Results *out)
{
	MemberResult &res = out->m[a.slot];
	res.first = UINT64_MAX;
	rb_ring *r = nullptr;
	rb_consumer *c = nullptr;
	rb_consumer_options o = {};
	o.group = a.group;
	o.lossy = a.lossy;
	o.label = "mpmc-member";
	if (rb_ring_open(name.c_str(), &r) != 0)
		return 20;
	int rc = rb_consumer_attach(r, &o, &c);
	if (rc != 0) {
		res.rc = rc;
		return 21;
	}
	if (a.attached)
		a.attached->signal();
	if (a.start && !a.start->wait(60000))
		return 26;
	rb_frame frames[16];
	uint64_t last = UINT64_MAX;
	for (;;) {
		int n = rb_consumer_acquire_batch(c, frames, a.batch, 1, 20 * SEC);
		if (n == RB_E_EOS) {
			res.eos++;
			break;
		}
		if (n < 0) {
			res.rc = n;
			return 22;
		}
		for (int i = 0; i < n; i++) {
			uint64_t seq = frames[i].seq;
			res.delivered++;
			count_seen(a, res, seq);
			if (last != UINT64_MAX && seq <= last)
				res.order_bad++;
			last = seq;
			if (res.first == UINT64_MAX)
				res.first = seq;
			bool ok = check_pattern(frames[i].data, frames[i].length, seq) &&
				  frames[i].length == 16;
			if (!ok && (!a.lossy || rb_consumer_check(c, &frames[i]) == 0))
				res.bad++;
			if (a.work_us)
				busy_us(a.work_us);
		}
		rc = rb_consumer_release_batch(c, frames, (uint32_t)n);
		if (rc < 0) {
			res.rc = rc;
			return 23;
		}
		res.overrun += (uint64_t)rc;
	}
	res.last = last;
	rb_consumer_stats st;
	rb_consumer_get_stats(c, &st);
	res.frames = st.frames;
	res.lost = st.lost;
	res.abandoned = st.abandoned;
	if (a.done)
		a.done->signal();
	if (a.go && !a.go->wait(120000))
		return 24;
	if (rb_consumer_detach(c) != 0)
		return 25;
	rb_ring_close(r);
	return 0;
}

// Produces `total` 16-byte pattern frames in one stream (batches of 1..8).
// With `end_gate`, waits for it before ending the stream. With `joined`
// and `go` (several producers), signals once in the stream and waits for
// the others before producing, so that the stream ends only with the last.
int run_pattern_producer(const std::string &name, uint64_t total, Results *out,
			 Ready *end_gate = nullptr, Ready *joined = nullptr, Ready *go = nullptr)
{
	rb_ring *r = nullptr;
	rb_producer *p = nullptr;
	if (rb_ring_open(name.c_str(), &r) != 0 || rb_producer_attach(r, nullptr, &p) != 0)
		return 10;
	if (rb_producer_begin_stream(p, "source=mpmc\n") != 0)
		return 11;
	if (joined)
		joined->signal();
	if (go && !go->wait(30000))
		return 17;
	rb_frame frames[8];
	uint64_t done = 0;
	while (done < total) {
		uint32_t want = (uint32_t)(1 + done % 8);
		if (want > total - done)
			want = (uint32_t)(total - done);
		int n = rb_producer_acquire_batch(p, frames, want, 20 * SEC);
		if (n <= 0)
			return 12;
		for (int i = 0; i < n; i++) {
			fill_pattern(frames[i].data, 16, frames[i].seq);
			frames[i].length = 16;
		}
		if (rb_producer_commit_batch(p, frames, (uint32_t)n) != 0)
			return 13;
		done += (uint64_t)n;
	}
	__atomic_fetch_add(&out->produced, 1, __ATOMIC_RELEASE);
	if (end_gate && !end_gate->wait(120000))
		return 14;
	if (rb_producer_end_stream(p, 20 * SEC) != 0)
		return 15;
	if (rb_producer_detach(p, 0) != 0)
		return 16;
	rb_ring_close(r);
	return 0;
}

// Counts seqs in [0, n) seen 0 times and more than once.
void tally(const uint8_t *seen, uint64_t n, uint64_t *missing, uint64_t *dups)
{
	*missing = *dups = 0;
	for (uint64_t i = 0; i < n; i++) {
		if (seen[i] == 0)
			(*missing)++;
		else if (seen[i] > 1)
			(*dups)++;
	}
}

void report_member(const MemberResult &m, int slot)
{
	INFO("member " << slot << ": rc " << m.rc << " frames " << m.frames << " delivered "
		       << m.delivered << " lost " << m.lost << " bad " << m.bad << " order_bad "
		       << m.order_bad << " eos " << m.eos << " overrun " << m.overrun);
	CHECK(m.rc == 0);
	CHECK(m.bad == 0);
	CHECK(m.order_bad == 0);
	CHECK(m.eos == 1);
}

bool consumers_attached(rb_ring *r, uint32_t n)
{
	return eventually([&] { return status_of(r).consumers >= n; }, 10000);
}

// Spawns a member for each of the n args, each attached before the next.
void spawn_members(Child *kids, const MemberArgs *args, int n, const std::string &name,
		   Ready &attached, Results *res)
{
	for (int i = 0; i < n; i++) {
		spawn(kids[i], [&, i] { return run_member(name, args[i], res); });
		REQUIRE(attached.wait(10000));
	}
}

// Waits for the n members to be done and the producers to exit, then
// reports each member.
void finish_members(Ready &done, int n, int timeout_ms, const Results &res,
		    Child *prods = nullptr, uint32_t nprods = 0)
{
	bool all_done = wait_n(done, n, timeout_ms);
	for (uint32_t i = 0; i < nprods; i++)
		CHECK(prods[i].wait(30000) == 0);
	for (int i = 0; i < n; i++)
		report_member(res.m[i], i);
	REQUIRE(all_done);
}

// Lets the n members detach and checks that they exit cleanly.
void release_members(Ready &go, Child *kids, int n)
{
	signal_n(go, n);
	for (int i = 0; i < n; i++)
		CHECK(kids[i].wait(30000) == 0);
}

// Checks that each of the n seqs in `seen` was delivered exactly once.
void check_once(const uint8_t *seen, uint64_t n, const char *what)
{
	uint64_t missing, dups;
	tally(seen, n, &missing, &dups);
	INFO(what << ": missing " << missing << " duplicated " << dups);
	CHECK(missing == 0);
	CHECK(dups == 0);
}

// Checks the group's members, lost frames and accounting; returns its status.
rb_group_status check_group(rb_ring *r, const char *group, uint32_t members, uint64_t lost)
{
	rb_group_status g;
	REQUIRE(find_group(r, group, &g));
	CHECK(g.members == members);
	CHECK(g.lost == lost);
	check_group_identity(r, group);
	return g;
}

} // namespace

TEST_CASE("groups share the work exactly once under load, beside a consumer in no group", "[mpmc][groups]")
{
	const uint64_t total = 200000;
	TestRing ring(small_config(64, 256), "mpmc-groups");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	SharedMem<Results> res;
	SharedMem<uint8_t> seen(3 * total); // group A, group B, broadcast
	Ready attached, done, go;

	// Slots 0-2: group "alpha" (3 members), 3: no group, 4-5: group "beta".
	const int members = 6;
	MemberArgs args[members];
	for (int i = 0; i < members; i++) {
		MemberArgs &a = args[i];
		a.slot = i;
		a.limit = total;
		a.attached = &attached;
		a.done = &done;
		a.go = &go;
		a.batch = (uint32_t)(1 + (i % 3) * 4); // 1, 5 or 9 at once
		if (i < 3) {
			a.group = "alpha";
			a.seen = &seen[0];
		} else if (i == 3) {
			a.seen = &seen[2 * total];
		} else {
			a.group = "beta";
			a.seen = &seen[total];
		}
	}
	Child kids[members], prod;
	spawn_members(kids, args, members, name, attached, res.p);
	REQUIRE(consumers_attached(r, members));
	CHECK(status_of(r).groups == 2);
	spawn(prod, [&] { return run_pattern_producer(name, total, res.p); });

	finish_members(done, members, 120000, *res.p, &prod, 1);

	// Members are still attached: the groups' numbers are complete.
	for (int g = 0; g < 3; g++)
		check_once(&seen[(size_t)g * total], total,
			   g == 0 ? "alpha" : g == 1 ? "beta" : "broadcast");
	// How the work was shared depends on scheduling; that it was shared
	// exactly once does not.
	uint64_t alpha = 0, beta = 0;
	for (int i = 0; i < 3; i++) {
		alpha += res->m[i].frames;
		CHECK(res->m[i].lost == 0);
	}
	for (int i = 4; i < 6; i++) {
		beta += res->m[i].frames;
		CHECK(res->m[i].lost == 0);
	}
	CHECK(alpha == total);
	CHECK(beta == total);
	CHECK(res->m[3].frames == total);

	rb_group_status gs[8];
	REQUIRE(rb_ring_groups(r, gs, 8) == 2);
	for (const char *gname : {"alpha", "beta"}) {
		rb_group_status g;
		REQUIRE(find_group(r, gname, &g));
		INFO("group " << gname);
		CHECK(g.lossy == 0);
		CHECK(g.members == (strcmp(gname, "alpha") == 0 ? 3u : 2u));
		CHECK(g.start_seq == 0);
		CHECK(g.claim_seq == total + 1); // every frame and the marker
		CHECK(g.markers == 1);
		CHECK(g.lost == 0);
		CHECK(g.frames_departed == 0);
		check_group_identity(r, gname);
		MemberSums s = member_sums(r, gname);
		CHECK(s.held == 0);
		CHECK(s.frames == total);
	}
	rb_ring_status st = status_of(r);
	CHECK(st.write_seq == total + 1);
	CHECK(st.groups == 2);

	release_members(go, kids, members);
	// The last member out frees its group's record.
	CHECK(rb_ring_groups(r, gs, 8) == 0);
	st = status_of(r);
	CHECK(st.groups == 0);
	CHECK(st.consumers == 0);
}

TEST_CASE("several producers feeding groups: every frame once per group, all of them to a consumer in no group", "[mpmc][groups][producers]")
{
	const uint32_t producers = 2;
	const uint64_t per_producer = 50000, total = producers * per_producer;
	TestRing ring(mp_config(128, producers), "mpmc-mpgroups");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	SharedMem<Results> res;
	SharedMem<uint8_t> seen(2 * total); // the group, the broadcast consumer
	Ready attached, done, go, joined, start;
	const int members = 3;
	MemberArgs args[members];
	for (int i = 0; i < members; i++) {
		args[i].slot = i;
		args[i].limit = total;
		args[i].attached = &attached;
		args[i].done = &done;
		args[i].go = &go;
		args[i].batch = i == 0 ? 1 : 6;
		args[i].group = i < 2 ? "pool" : nullptr;
		args[i].seen = i < 2 ? &seen[0] : &seen[total];
	}
	Child kids[members], prods[producers];
	spawn_members(kids, args, members, name, attached, res.p);
	for (uint32_t i = 0; i < producers; i++)
		spawn(prods[i], [&] {
			return run_pattern_producer(name, per_producer, res.p, nullptr, &joined, &start);
		});
	REQUIRE(wait_n(joined, producers, 10000));
	CHECK(status_of(r).stream_members == producers);
	signal_n(start, producers);

	finish_members(done, members, 120000, *res.p, prods, producers);
	for (int g = 0; g < 2; g++)
		check_once(&seen[(size_t)g * total], total, g == 0 ? "group" : "broadcast");
	CHECK(res->m[0].frames + res->m[1].frames == total);
	CHECK(res->m[2].frames == total);
	rb_group_status g;
	REQUIRE(find_group(r, "pool", &g));
	CHECK(g.claim_seq == total + 1);
	CHECK(g.markers == 1);
	CHECK(g.lost == 0);
	check_group_identity(r, "pool");
	rb_ring_status st = status_of(r);
	CHECK(st.write_seq == total + 1);
	CHECK(st.frames_abandoned == 0);
	CHECK(st.stream_state == RB_STREAM_STATUS_ENDED);
	release_members(go, kids, members);
}

TEST_CASE("a member killed holding frames while the stream runs: the others go on, its frames are lost once", "[mpmc][groups][kill]")
{
	const uint64_t total = 50000;
	TestRing ring(small_config(64, 64), "mpmc-killload");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	SharedMem<Results> res;
	SharedMem<uint8_t> seen(total);
	Ready attached, done, go, end_gate;
	Child kids[2], victim, prod;

	// The victim creates the group and is its only member at first (so it
	// cannot starve): it takes 20 frames (counted, released), then holds up
	// to 4 more, says which, and waits to be killed.
	SeqPipe seqs;
	spawn(victim, [&] {
		rb_ring *vr = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options o = {};
		o.group = "work";
		if (rb_ring_open(name.c_str(), &vr) != 0 || rb_consumer_attach(vr, &o, &c) != 0)
			return 1;
		attached.signal();
		MemberArgs a;
		a.seen = seen.p;
		a.limit = total;
		rb_frame frames[4];
		for (uint64_t got = 0; got < 20; got++) {
			int rc = rb_consumer_acquire(c, &frames[0], 20 * SEC);
			if (rc != 0) {
				res->m[2].rc = rc;
				res->m[2].delivered = got;
				return 2;
			}
			count_seen(a, res->m[2], frames[0].seq);
			if (rb_consumer_release(c, &frames[0]) != 0)
				return 3;
		}
		int n = rb_consumer_acquire_batch(c, frames, 4, 1, 20 * SEC);
		if (n <= 0)
			return 4;
		rb_consumer_stats st;
		rb_consumer_get_stats(c, &st);
		seqs.put(st.frames);
		report_and_hold(seqs, frames, n);
	});
	REQUIRE(attached.wait(10000));
	// The producer ends the stream only once the victim is dead.
	spawn(prod, [&] { return run_pattern_producer(name, total, res.p, &end_gate); });
	uint64_t released = 0;
	bool reported = seqs.get(&released, 60000);
	INFO("victim: rc " << res->m[2].rc << " after " << res->m[2].delivered << " frames, exit "
			   << (reported ? 0 : victim.wait(0)));
	REQUIRE(reported);
	std::vector<uint64_t> held = claimed_seqs(seqs);
	CHECK(released == 20);
	CHECK(held[0] == 20);

	// Two members join the running stream; they take everything up to a
	// ring's worth past the victim's oldest held frame, and the producer
	// then waits for the victim.
	MemberArgs args[2];
	for (int i = 0; i < 2; i++) {
		args[i].group = "work";
		args[i].slot = i;
		args[i].seen = seen.p;
		args[i].limit = total;
		args[i].batch = i == 0 ? 1 : 4;
		args[i].attached = &attached;
		args[i].done = &done;
		args[i].go = &go;
	}
	spawn_members(kids, args, 2, name, attached, res.p);
	CHECK(eventually([&] { return status_of(r).producer_blocked != 0; }, 10000));
	rb_ring_status st = status_of(r);
	CHECK(st.write_seq == held[0] + 64);
	// Its record says what it holds.
	rb_consumer_status cs[8];
	int nc = rb_ring_consumers(r, cs, 8);
	bool found = false;
	for (int i = 0; i < nc; i++)
		if (cs[i].pid == (uint32_t)victim.pid) {
			found = true;
			CHECK(cs[i].held == held.size());
			CHECK(cs[i].frames == released);
			CHECK(cs[i].read_seq == held[0]);
		}
	CHECK(found);
	kill_child(victim);
	end_gate.signal();

	// Nobody calls rb_ring_evict_dead: the members' and the producer's
	// waits evict it, and the stream runs to its end.
	finish_members(done, 2, 120000, *res.p, &prod, 1);
	std::set<uint64_t> held_set(held.begin(), held.end());
	uint64_t redelivered = 0, wrong = 0;
	for (uint64_t seq = 0; seq < total; seq++) {
		if (held_set.count(seq))
			redelivered += seen[seq];
		else if (seen[seq] != 1)
			wrong++;
	}
	CHECK(redelivered == 0);
	CHECK(wrong == 0);
	rb_group_status g = check_group(r, "work", 2, held.size());
	CHECK(g.frames_departed == released);
	CHECK(g.start_seq == 0);
	CHECK(g.claim_seq == total + 1);
	CHECK(res->m[0].frames + res->m[1].frames + released + held.size() == total);
	release_members(go, kids, 2);
}

TEST_CASE("group members join and leave while the stream runs: still exactly once", "[mpmc][groups]")
{
	const uint64_t total = 100000;
	TestRing ring(small_config(64, 64), "mpmc-groupjoin");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	SharedMem<Results> res;
	SharedMem<uint8_t> seen(total);
	Ready attached, done, go, end_gate, steady_start;

	MemberArgs steady, late;
	steady.group = late.group = "work";
	steady.seen = late.seen = seen.p;
	steady.limit = late.limit = total;
	steady.attached = late.attached = &attached;
	steady.done = late.done = &done;
	steady.go = late.go = &go;
	steady.slot = 0;
	late.slot = 1;
	late.batch = 4;
	// The steady member creates the group (start_seq 0) and stays in it
	// throughout, but reads only once the hopper has had 5 sessions alone
	// (so that the hopper cannot starve).
	steady.start = &steady_start;

	Child steady_kid, late_kid, hopper, prod;
	spawn(steady_kid, [&] { return run_member(name, steady, res.p); });
	REQUIRE(attached.wait(10000));
	spawn(prod, [&] { return run_pattern_producer(name, total, res.p, &end_gate); });

	// A member that joins, takes up to 300 frames, releases them all and
	// leaves, again and again while the producer runs.
	spawn(hopper, [&] {
		rb_ring *hr = nullptr;
		if (rb_ring_open(name.c_str(), &hr) != 0)
			return 30;
		MemberArgs a;
		a.seen = seen.p;
		a.limit = total;
		MemberResult &m = res->m[2];
		while (res->hop_sessions < 40 && !__atomic_load_n(&res->produced, __ATOMIC_ACQUIRE)) {
			rb_consumer *c = nullptr;
			rb_consumer_options o = {};
			o.group = "work";
			o.label = "hopper";
			if (rb_consumer_attach(hr, &o, &c) != 0)
				return 31;
			uint64_t last = UINT64_MAX;
			for (int i = 0; i < 300; i++) {
				rb_frame f;
				int rc = rb_consumer_acquire(c, &f, 200 * MS);
				if (rc == -ETIMEDOUT &&
				    __atomic_load_n(&res->produced, __ATOMIC_ACQUIRE))
					break;
				if (rc == -ETIMEDOUT)
					continue;
				if (rc != 0)
					return 32;
				count_seen(a, m, f.seq);
				if (last != UINT64_MAX && f.seq <= last)
					m.order_bad++;
				last = f.seq;
				if (!check_pattern(f.data, f.length, f.seq))
					m.bad++;
				if (rb_consumer_release(c, &f) != 0)
					return 33;
			}
			rb_consumer_stats st;
			rb_consumer_get_stats(c, &st);
			res->hop_frames += st.frames;
			res->hop_lost += st.lost;
			__atomic_fetch_add(&res->hop_sessions, 1, __ATOMIC_RELAXED);
			if (rb_consumer_detach(c) != 0)
				return 34;
		}
		rb_ring_close(hr);
		return 0;
	});

	REQUIRE(eventually([&] {
		return __atomic_load_n(&res->hop_sessions, __ATOMIC_RELAXED) >= 5;
	}, 30000));
	steady_start.signal();
	// Another member joins once the stream is well under way.
	REQUIRE(eventually([&] { return status_of(r).write_seq >= total / 3; }, 60000));
	spawn(late_kid, [&] { return run_member(name, late, res.p); });
	REQUIRE(attached.wait(10000));
	CHECK(hopper.wait(60000) == 0);
	INFO("hopper: " << res->hop_sessions << " sessions, " << res->hop_frames << " frames");
	CHECK(res->hop_sessions >= 5);
	CHECK(res->hop_frames > 0);
	CHECK(res->hop_lost == 0);
	CHECK(res->m[2].bad == 0);
	CHECK(res->m[2].order_bad == 0);
	end_gate.signal();

	finish_members(done, 2, 60000, *res.p, &prod, 1);
	check_once(seen.p, total, "work");
	CHECK(res->m[0].frames + res->m[1].frames + res->hop_frames == total);
	CHECK(res->m[1].first > total / 4); // it joined mid-stream

	rb_group_status g = check_group(r, "work", 2, 0);
	CHECK(g.frames_departed == res->hop_frames);
	CHECK(g.markers == 1);
	CHECK(g.claim_seq == total + 1);
	signal_n(go, 2);
	CHECK(steady_kid.wait(30000) == 0);
	CHECK(late_kid.wait(30000) == 0);
	CHECK(rb_ring_groups(r, &g, 1) == 0);
}

TEST_CASE("a member that leaves holding frames: they count as the group's lost, not redelivered", "[mpmc][groups]")
{
	TestRing ring(small_config(64, 8), "mpmc-groupleave");
	rb_ring *r = ring.r;
	Prod p(r);
	Cons x(r, "work"), y(r, "work");
	uint64_t counter = 0;
	REQUIRE(put_tagged(p.p, 1, &counter, 8, RB_NO_WAIT) == 0); // 0..7, ring full

	rb_frame held[3];
	REQUIRE(rb_consumer_acquire_batch(x.c, held, 3, 3, RB_NO_WAIT) == 3);
	for (int i = 0; i < 3; i++)
		CHECK(held[i].seq == (uint64_t)i);
	int rc;
	rb_frame f = take(y.c, &rc, RB_NO_WAIT);
	REQUIRE(rc == 0);
	CHECK(f.seq == 3);
	rb_consumer_status cs[4];
	REQUIRE(rb_ring_consumers(r, cs, 4) == 2);
	CHECK(cs[0].held + cs[1].held == 3);
	CHECK(std::string(cs[0].group) == "work");
	check_group_identity(r, "work");

	SECTION("release everything, then leave: nothing lost")
	{
		REQUIRE(rb_consumer_release_batch(x.c, held, 3) == 0);
		REQUIRE(x.detach() == 0);
		rb_group_status g = check_group(r, "work", 1, 0);
		CHECK(g.frames_departed == 3);
	}
	SECTION("leave holding 3 frames: lost grows by 3")
	{
		REQUIRE(rb_producer_acquire(p.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
		REQUIRE(x.detach() == 0);
		rb_group_status g = check_group(r, "work", 1, 3);
		CHECK(g.frames_departed == 0);
	}
	// The survivor gets 4..7, never 0..2; the producer is free again.
	take_seqs(y.c, 4, 8, ANY_PRODUCER, RB_NO_WAIT);
	CHECK(rb_consumer_acquire(y.c, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	REQUIRE(put_tagged(p.p, 1, &counter, 8, RB_NO_WAIT) == 0);
	f = take(y.c, &rc, RB_NO_WAIT);
	REQUIRE(rc == 0);
	CHECK(f.seq == 8);
	check_group_identity(r, "work");
	REQUIRE(y.detach() == 0);
	CHECK(rb_ring_groups(r, nullptr, 0) == 0);
}

TEST_CASE("a member killed holding frames: at most once, lost grows by what it held, the producer resumes", "[mpmc][groups][kill]")
{
	int how = 0;
	SECTION("evicted by rb_ring_evict_dead") { how = 0; }
	SECTION("evicted by a member waiting for frames") { how = 1; }
	SECTION("evicted by the producer it blocks") { how = 2; }

	const uint32_t k = 3;
	TestRing ring(small_config(64, 16), "mpmc-groupkill");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	Prod p(r);
	Cons s(r, "work");

	SeqPipe seqs;
	Ready attached;
	Child victim;
	spawn(victim, [&] {
		rb_ring *vr = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options vo = {};
		vo.group = "work";
		if (rb_ring_open(name.c_str(), &vr) != 0 || rb_consumer_attach(vr, &vo, &c) != 0)
			return 1;
		attached.signal();
		rb_frame frames[k];
		int n = rb_consumer_acquire_batch(c, frames, k, k, 10 * SEC);
		if (n <= 0)
			return 2;
		report_and_hold(seqs, frames, n);
	});
	REQUIRE(attached.wait(10000));
	rb_frame batch[k];
	REQUIRE(rb_producer_acquire_batch(p.p, batch, k, RB_NO_WAIT) == (int)k);
	uint64_t counter = 0;
	for (uint32_t i = 0; i < k; i++)
		tag_frame(&batch[i], 1, counter++);
	REQUIRE(rb_producer_commit_batch(p.p, batch, k) == 0);
	std::vector<uint64_t> held = claimed_seqs(seqs);
	REQUIRE(held.size() == k);
	std::set<uint64_t> held_set(held.begin(), held.end());

	// The ring fills up behind the victim's oldest held frame.
	REQUIRE(put_tagged(p.p, 1, &counter, 16 - k, RB_NO_WAIT) == 0);
	rb_frame f;
	REQUIRE(rb_producer_acquire(p.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	std::vector<uint64_t> got;
	int rc;
	for (;;) {
		f = take(s.c, &rc, RB_NO_WAIT);
		if (rc != 0)
			break;
		got.push_back(f.seq);
	}
	CHECK(rc == RB_E_WOULD_BLOCK);
	CHECK(got.size() == 16 - k);
	CHECK(rb_producer_acquire(p.p, &f, RB_NO_WAIT) == RB_E_WOULD_BLOCK);
	rb_group_status g = check_group(r, "work", 2, 0);

	kill_child(victim);
	uint64_t t0 = now_ms();
	if (how == 0) {
		CHECK(rb_ring_evict_dead(r) == 1);
	} else if (how == 1) {
		// The survivor waits in short slices, as programs do.
		bool evicted = false;
		while (!evicted && now_ms() - t0 < 5000) {
			rc = rb_consumer_acquire(s.c, &f, 50 * MS);
			REQUIRE(rc == -ETIMEDOUT);
			evicted = find_group(r, "work", &g) && g.lost == k;
		}
		CHECK(evicted);
	} else {
		rc = rb_producer_acquire(p.p, &f, 5 * SEC);
		REQUIRE(rc == 0);
		CHECK(f.seq == 16);
		tag_frame(&f, 1, counter++);
		REQUIRE(rb_producer_commit(p.p, &f) == 0);
	}
	INFO("evicted after " << now_ms() - t0 << " ms");
	CHECK(now_ms() - t0 < 2000);
	g = check_group(r, "work", 1, k);
	CHECK(status_of(r).consumers == 1);

	// The producer goes on; the survivor gets the new frames and never the
	// dead member's.
	uint64_t more = how == 2 ? 15 : 16;
	REQUIRE(put_tagged(p.p, 1, &counter, more, 5 * SEC) == 0);
	for (;;) {
		f = take(s.c, &rc, RB_NO_WAIT);
		if (rc != 0)
			break;
		got.push_back(f.seq);
	}
	CHECK(got.size() == 16 - k + 16);
	for (size_t i = 0; i < got.size(); i++) {
		CHECK(held_set.count(got[i]) == 0);
		if (i > 0)
			CHECK(got[i] == got[i - 1] + 1);
	}
	REQUIRE(find_group(r, "work", &g));
	CHECK(g.claim_seq == 32);
	CHECK(g.lost == k);
	check_group_identity(r, "work");
}

TEST_CASE("a group member gets a dead producer's seqs as abandoned frames, counted in its stats", "[mpmc][groups][kill]")
{
	TestRing ring(mp_config(16, 2), "mpmc-groupabandon");
	rb_ring *r = ring.r;
	Cons m(r, "work");
	Prod b(r);
	uint64_t counter = 0;
	REQUIRE(put_tagged(b.p, 2, &counter, 1) == 0); // 0
	SeqPipe seqs;
	Child a;
	spawn_claiming_producer(a, ring.name(), 2, seqs);
	std::vector<uint64_t> claimed = claimed_seqs(seqs);
	REQUIRE(claimed.size() == 2); // 1, 2
	REQUIRE(put_tagged(b.p, 2, &counter, 2) == 0); // 3, 4
	kill_child(a);
	int rc;
	uint64_t abandoned = 0;
	for (uint64_t s = 0; s < 5; s++) {
		rb_frame f = take(m.c, &rc, 5 * SEC);
		REQUIRE(rc == 0);
		CHECK(f.seq == s);
		bool dead = s == claimed[0] || s == claimed[1];
		CHECK(((f.flags & RB_FRAME_ABANDONED) != 0) == dead);
		if (f.flags & RB_FRAME_ABANDONED) {
			abandoned++;
			CHECK(f.length == 0);
		}
	}
	CHECK(abandoned == 2);
	rb_consumer_stats cs;
	rb_consumer_get_stats(m.c, &cs);
	CHECK(cs.frames == 5); // abandoned ones included
	CHECK(cs.abandoned == 2);
	CHECK(cs.lost == 0);
	CHECK(status_of(r).frames_abandoned == 2);
	check_group_identity(r, "work");
}

// ---- bad input and limits ----

TEST_CASE("group names and modes that must be refused", "[mpmc][groups][input]")
{
	rb_ring_config cfg = small_config(64, 16);
	cfg.max_groups = 2;
	TestRing ring(cfg, "mpmc-badgroup");
	rb_ring *r = ring.r;
	CHECK(rb_ring_max_groups(r) == 2);
	rb_consumer_options o = {};
	rb_consumer *c = nullptr;
	std::string longest(RB_GROUP_NAME_MAX, 'g');
	std::string too_long(RB_GROUP_NAME_MAX + 1, 'g');
	for (const char *bad : {too_long.c_str(), "", "a b", "a/b", ".hidden", "tab\t", "caf\xc3\xa9"}) {
		INFO("group name '" << bad << "'");
		o.group = bad;
		CHECK(rb_consumer_attach(r, &o, &c) == -EINVAL);
		CHECK(c == nullptr);
	}
	CHECK(status_of(r).consumers == 0);
	CHECK(rb_ring_groups(r, nullptr, 0) == 0);

	Cons a, b, lossy_a, d;
	o.group = longest.c_str();
	REQUIRE(rb_consumer_attach(r, &o, &a.c) == 0);
	o.lossy = 1; // the group is lossless
	CHECK(rb_consumer_attach(r, &o, &c) == -EINVAL);
	o.group = "Lossy_group-1.x";
	REQUIRE(rb_consumer_attach(r, &o, &lossy_a.c) == 0);
	o.lossy = 0; // the group is lossy
	CHECK(rb_consumer_attach(r, &o, &c) == -EINVAL);
	o.lossy = 1;
	REQUIRE(rb_consumer_attach(r, &o, &b.c) == 0);
	// A third group does not fit (max_groups 2); joining existing ones does.
	o.group = "third";
	CHECK(rb_consumer_attach(r, &o, &c) < 0);
	CHECK(c == nullptr);
	rb_group_status gs[4];
	REQUIRE(rb_ring_groups(r, gs, 4) == 2);
	rb_group_status g;
	REQUIRE(find_group(r, longest.c_str(), &g));
	CHECK(g.lossy == 0);
	CHECK(g.members == 1);
	REQUIRE(find_group(r, "Lossy_group-1.x", &g));
	CHECK(g.lossy == 1);
	CHECK(g.members == 2);
	CHECK(status_of(r).consumers == 3);
	rb_consumer_status cs[4];
	REQUIRE(rb_ring_consumers(r, cs, 4) == 3);
	for (int i = 0; i < 3; i++)
		CHECK((std::string(cs[i].group) == longest ||
		       std::string(cs[i].group) == "Lossy_group-1.x"));
	// A consumer in no group is not affected by any of this.
	REQUIRE(rb_consumer_attach(r, nullptr, &d.c) == 0);
	REQUIRE(rb_ring_consumers(r, cs, 4) == 4);
	// The last member out frees the group; its name can then take the
	// other mode.
	REQUIRE(a.detach() == 0);
	REQUIRE(rb_ring_groups(r, gs, 4) == 1);
	o.group = longest.c_str();
	o.lossy = 1;
	REQUIRE(rb_consumer_attach(r, &o, &a.c) == 0);
	REQUIRE(find_group(r, longest.c_str(), &g));
	CHECK(g.lossy == 1);
}

TEST_CASE("ring configurations and producer limits", "[mpmc][producers][input]")
{
	SECTION("max_producers and max_groups beyond the limits are refused")
	{
		std::string name = unique_name("mpmc-cfg");
		RingGuard guard(name);
		rb_ring *r = nullptr;
		rb_ring_config cfg = small_config(64, 16);
		cfg.max_producers = RB_MAX_PRODUCERS + 1;
		CHECK(rb_ring_create(name.c_str(), &cfg, &r) == -EINVAL);
		cfg.max_producers = 2;
		cfg.max_groups = RB_MAX_GROUPS + 1;
		CHECK(rb_ring_create(name.c_str(), &cfg, &r) == -EINVAL);
		CHECK_FALSE(shm_exists(name));
		cfg.max_producers = RB_MAX_PRODUCERS;
		cfg.max_groups = RB_MAX_GROUPS;
		REQUIRE(rb_ring_create(name.c_str(), &cfg, &r) == 0);
		CHECK(rb_ring_max_producers(r) == RB_MAX_PRODUCERS);
		CHECK(rb_ring_max_groups(r) == RB_MAX_GROUPS);
		rb_ring_close(r);
		// The numbers survive a fresh open (they are in the header).
		REQUIRE(rb_ring_open(name.c_str(), &r) == 0);
		CHECK(rb_ring_max_producers(r) == RB_MAX_PRODUCERS);
		CHECK(rb_ring_max_groups(r) == RB_MAX_GROUPS);
		rb_ring_close(r);
	}
	SECTION("defaults: one producer, 8 groups")
	{
		TestRing ring(small_config(64, 16), "mpmc-cfg");
		CHECK(rb_ring_max_producers(ring.r) == 1);
		CHECK(rb_ring_max_groups(ring.r) == 8);
	}
	SECTION("more producers than max_producers: RB_E_BUSY, also from another process")
	{
		rb_ring_config cfg = small_config(64, 16);
		cfg.max_producers = 3;
		TestRing ring(cfg, "mpmc-busy");
		rb_ring *r = ring.r;
		Prod p[3];
		for (int i = 0; i < 3; i++)
			REQUIRE(rb_producer_attach(r, nullptr, &p[i].p) == 0);
		rb_producer *extra = nullptr;
		CHECK(rb_producer_attach(r, nullptr, &extra) == RB_E_BUSY);
		CHECK(extra == nullptr);
		Child other;
		spawn(other, [&] {
			rb_ring *o = nullptr;
			rb_producer *op = nullptr;
			if (rb_ring_open(ring.name().c_str(), &o) != 0)
				return 1;
			return rb_producer_attach(o, nullptr, &op) == RB_E_BUSY ? 0 : 2;
		});
		CHECK(other.wait(10000) == 0);
		rb_ring_status st = status_of(r);
		CHECK(st.producers == 3);
		CHECK(st.max_producers == 3);
		// Every handle gets its own seqs.
		rb_frame f[3];
		std::set<uint64_t> seqs;
		for (int i = 0; i < 3; i++) {
			REQUIRE(rb_producer_acquire(p[i].p, &f[i], RB_NO_WAIT) == 0);
			seqs.insert(f[i].seq);
		}
		CHECK(seqs.size() == 3);
		for (int i = 2; i >= 0; i--)
			REQUIRE(rb_producer_commit(p[i].p, &f[i]) == 0);
		CHECK(status_of(r).write_seq == 3);
		// A place freed is taken again.
		REQUIRE(p[1].detach() == 0);
		REQUIRE(rb_producer_attach(r, nullptr, &p[1].p) == 0);
		CHECK(rb_producer_attach(r, nullptr, &extra) == RB_E_BUSY);
	}
	SECTION("max_producers 1 keeps the single-producer ring")
	{
		rb_ring_config cfg = small_config(64, 16);
		cfg.max_producers = 1;
		TestRing ring(cfg, "mpmc-single");
		rb_ring *r = ring.r;
		Prod p;
		REQUIRE(rb_producer_attach(r, nullptr, &p.p) == 0);
		rb_producer *q = nullptr;
		CHECK(rb_producer_attach(r, nullptr, &q) == RB_E_BUSY);
		Cons c;
		REQUIRE(rb_consumer_attach(r, nullptr, &c.c) == 0);
		uint64_t counter = 0;
		REQUIRE(rb_producer_begin_stream(p.p, "") == 0);
		REQUIRE(put_tagged(p.p, 1, &counter, 5) == 0);
		rb_ring_status st = status_of(r);
		CHECK(st.max_producers == 1);
		CHECK(st.producers == 1);
		CHECK(st.producer_pid == (uint32_t)getpid());
		CHECK(st.producer_alive);
		CHECK(st.stream_members == 1);
		CHECK(st.claim_seq == st.write_seq);
		CHECK(st.write_seq == 5);
		REQUIRE(rb_producer_end_stream(p.p, 5 * SEC) == 0);
		take_seqs(c.c, 0, 5, ANY_PRODUCER, RB_NO_WAIT);
		rb_frame f;
		CHECK(rb_consumer_acquire(c.c, &f, RB_NO_WAIT) == RB_E_EOS);
		rb_producer_status ps[2];
		REQUIRE(rb_ring_producers(r, ps, 2) == 1);
		CHECK(ps[0].frames == 5);
		REQUIRE(p.detach() == 0);
		REQUIRE(rb_producer_attach(r, nullptr, &q) == 0);
		rb_producer_detach(q, 0);
	}
}

TEST_CASE("a lossy group under a fast producer: lapped seqs counted as lost, no duplicates", "[mpmc][groups][lossy]")
{
	const uint64_t total = 100000;
	TestRing ring(small_config(64, 64), "mpmc-lossygroup");
	rb_ring *r = ring.r;
	const std::string &name = ring.name();
	SharedMem<Results> res;
	SharedMem<uint8_t> seen(total);
	Ready attached, done, go;
	const int members = 2;
	MemberArgs args[members];
	for (int i = 0; i < members; i++) {
		args[i].group = "sampler";
		args[i].lossy = 1;
		args[i].slot = i;
		args[i].seen = seen.p;
		args[i].limit = total;
		args[i].batch = i == 0 ? 1 : 8;
		args[i].work_us = 20; // far slower than the producer
		args[i].attached = &attached;
		args[i].done = &done;
		args[i].go = &go;
	}
	Child kids[members], prod;
	spawn_members(kids, args, members, name, attached, res.p);
	spawn(prod, [&] { return run_pattern_producer(name, total, res.p); });
	CHECK(prod.wait(60000) == 0); // never held up by a lossy group
	finish_members(done, members, 60000, *res.p);

	uint64_t missing, dups;
	tally(seen.p, total, &missing, &dups);
	uint64_t delivered = res->m[0].delivered + res->m[1].delivered;
	INFO("delivered " << delivered << " missing " << missing << " duplicated " << dups);
	CHECK(dups == 0);
	CHECK(delivered == total - missing);
	rb_group_status g;
	REQUIRE(find_group(r, "sampler", &g));
	INFO("group lost " << g.lost << " claim_seq " << g.claim_seq << " markers " << g.markers);
	CHECK(g.lossy == 1);
	CHECK(g.markers <= 1);
	check_group_identity(r, "sampler");
	MemberSums s = member_sums(r, "sampler");
	uint64_t overrun = res->m[0].overrun + res->m[1].overrun;
	INFO("members: frames " << s.frames << " lost " << s.lost << " (overrun while held "
				<< overrun << ")");
	CHECK(s.frames == res->m[0].frames + res->m[1].frames);
	CHECK(s.held == 0);
	// Frames delivered were either consumed or overrun while held.
	CHECK(delivered == s.frames + overrun);
	// Every frame never delivered was lapped and counted so, exactly once
	// (by the group or by the member whose claim skipped it).
	uint64_t lapped = s.lost - overrun + g.lost;
	CHECK(lapped > 0);
	CHECK(lapped == missing);
	CHECK(g.claim_seq - g.start_seq == delivered + lapped + g.markers);
	release_members(go, kids, members);
}

TEST_CASE("a member restarting the open stream: the new start is flagged by whoever commits it", "[mpmc][stream]")
{
	TestRing ring(mp_config(16, 2), "mpmc-restart");
	Cons c(ring.r);
	Prod a(ring.r), b(ring.r);
	REQUIRE(rb_producer_begin_stream(a.p, "run=1\n") == 0);
	REQUIRE(rb_producer_begin_stream(b.p, nullptr) == 0); // joins
	rb_frame f;
	REQUIRE(rb_producer_acquire(a.p, &f, RB_NO_WAIT) == 0);
	REQUIRE(rb_producer_commit(a.p, &f) == 0); // seq 0: the first start
	// b restarts the stream it is a member of; a commits the next seq.
	REQUIRE(rb_producer_begin_stream(b.p, "run=2\n") == 0);
	uint64_t start = 0;
	char text[64];
	REQUIRE(rb_ring_stream_header(ring.r, text, sizeof(text), &start) > 0);
	CHECK(std::string(text) == "run=2\n");
	CHECK(start == 1);
	REQUIRE(rb_producer_acquire(a.p, &f, RB_NO_WAIT) == 0);
	REQUIRE(f.seq == 1);
	REQUIRE(rb_producer_commit(a.p, &f) == 0);
	for (uint64_t want = 0; want < 2; want++) {
		rb_frame g;
		REQUIRE(rb_consumer_acquire(c.c, &g, 1000000000ull) == 0);
		CHECK(g.seq == want);
		CHECK((g.flags & RB_FRAME_STREAM_START) != 0);
		rb_consumer_release(c.c, &g);
	}
	rb_ring_status st;
	rb_ring_get_status(ring.r, &st);
	CHECK(st.stream_state == RB_STREAM_STATUS_OPEN);
	CHECK(st.stream_members == 2);
}
