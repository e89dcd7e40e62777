// Issue 13, layout 4: a header per stream, the UTC clock anchor, and drops
// at the producer carried by the frames (FORMAT.md §3.4, §3.5, §5.13, §5.22).
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <cstring>
#include <string>
#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

using namespace rbt;

namespace {

struct Ring {
	RingGuard guard;
	rb_ring *ring = nullptr;
	explicit Ring(const rb_ring_config &cfg) : guard(unique_name("meta"))
	{
		REQUIRE(rb_ring_create(guard.name.c_str(), &cfg, &ring) == 0);
	}
	~Ring() { rb_ring_close(ring); }
};

// A ring with one producer and one lossless consumer attached.
struct Pair {
	Ring r;
	rb_producer *p = nullptr;
	rb_consumer *c = nullptr;
	explicit Pair(const rb_ring_config &cfg) : r(cfg)
	{
		REQUIRE(rb_producer_attach(r.ring, nullptr, &p) == 0);
		rb_consumer_options o = {};
		REQUIRE(rb_consumer_attach(r.ring, &o, &c) == 0);
	}
	~Pair()
	{
		rb_consumer_detach(c);
		rb_producer_detach(p, 0);
	}
};

void
put(rb_producer *p, uint64_t ts = 0)
{
	rb_frame f;
	REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
	f.length = 8;
	memcpy(f.data, &f.seq, 8);
	f.timestamp_ns = ts;
	REQUIRE(rb_producer_commit(p, &f) == 0);
}

std::string
header_of(rb_consumer *c, const rb_frame &f, int *rc, rb_stream_info *info = nullptr)
{
	char buf[256];
	rb_stream_info tmp;
	*rc = rb_consumer_frame_header(c, &f, buf, sizeof(buf), info ? info : &tmp);
	return *rc >= 0 ? std::string(buf) : std::string();
}

uint64_t
clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

} // namespace

TEST_CASE("a consumer lagging across three streams gets each frame's own header")
{
	rb_ring_config cfg = small_config(64, 32);
	Pair pc(cfg);
	rb_producer *p = pc.p;
	rb_consumer *c = pc.c;
	for (int run = 1; run <= 3; run++) {
		std::string h = "run=" + std::to_string(run) + "\n";
		REQUIRE(rb_producer_begin_stream(p, h.c_str()) == 0);
		for (int i = 0; i < 5; i++)
			put(p);
		if (run < 3)
			REQUIRE(rb_producer_end_stream(p, RB_NO_WAIT) == 0);
	}
	// The current header is the newest stream's, as before.
	char cur[64];
	uint64_t start = 99;
	REQUIRE(rb_consumer_stream_header(c, cur, sizeof(cur), &start) == 6);
	CHECK(std::string(cur) == "run=3\n");
	CHECK(start == 12); // 5 frames and a marker per stream before it
	int run = 1, got = 0;
	for (;;) {
		rb_frame f;
		int rc = rb_consumer_acquire(c, &f, RB_NO_WAIT);
		if (rc == RB_E_EOS) {
			run++;
			continue;
		}
		if (rc == -EAGAIN)
			break;
		REQUIRE(rc == 0);
		rb_stream_info info;
		int hrc;
		std::string h = header_of(c, f, &hrc, &info);
		CHECK(hrc == 6);
		CHECK(h == "run=" + std::to_string(run) + "\n");
		CHECK(info.ordinal == (uint64_t)run);
		CHECK(info.start_seq == (uint64_t)(run - 1) * 6);
		CHECK(info.clock_offset_ns != 0);
		REQUIRE(rb_consumer_release(c, &f) == 0);
		got++;
	}
	CHECK(got == 15);
	CHECK(run == 3);
}

TEST_CASE("a frame whose stream header was overwritten gets RB_E_HEADER_GONE")
{
	rb_ring_config cfg = small_config(64, 64);
	cfg.stream_headers = 2;
	Pair pc(cfg);
	rb_producer *p = pc.p;
	rb_consumer *c = pc.c;
	rb_ring *ring = pc.r.ring;
	put(p); // before any stream, but stream 1's start is gone with it
	for (int run = 1; run <= 3; run++) {
		std::string h = "run=" + std::to_string(run) + "\n";
		REQUIRE(rb_producer_begin_stream(p, h.c_str()) == 0);
		put(p);
	}
	rb_frame f;
	rb_stream_info info;
	int rc;
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	header_of(c, f, &rc, &info);
	CHECK(rc == RB_E_HEADER_GONE);
	REQUIRE(rb_consumer_release(c, &f) == 0);
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 1);
	header_of(c, f, &rc);
	CHECK(rc == RB_E_HEADER_GONE); // run=1 was replaced by run=3 (2 entries)
	CHECK(std::string(rb_strerror(rc)).find("overwritten") != std::string::npos);
	REQUIRE(rb_consumer_release(c, &f) == 0);
	for (int run = 2; run <= 3; run++) {
		REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
		CHECK(header_of(c, f, &rc, &info) == "run=" + std::to_string(run) + "\n");
		CHECK(info.ordinal == (uint64_t)run);
		REQUIRE(rb_consumer_release(c, &f) == 0);
	}
	// Without a buffer: only the info.
	CHECK(rb_ring_stream_header_at(ring, 3, nullptr, 0, &info) == 6);
	CHECK(info.ordinal == 3);
	char small[4];
	CHECK(rb_ring_stream_header_at(ring, 3, small, sizeof(small), &info) == -ENOBUFS);
}

TEST_CASE("stream_headers is validated at creation")
{
	rb_ring_config cfg = small_config(64, 8);
	cfg.stream_headers = 257;
	RingGuard g(unique_name("meta"));
	rb_ring *ring = nullptr;
	CHECK(rb_ring_create(g.name.c_str(), &cfg, &ring) == -EINVAL);
}

TEST_CASE("the clock anchor turns a CLOCK_MONOTONIC time stamp into UTC")
{
	Pair pc(small_config(64, 8));
	rb_producer *p = pc.p;
	rb_consumer *c = pc.c;
	uint64_t at = 0;
	int64_t off = rb_ring_clock_offset(pc.r.ring, &at);
	CHECK(off != 0); // measured at creation
	CHECK(at != 0);
	CHECK(rb_producer_refresh_clock(p) != 0);
	uint64_t mono = clock_ns(CLOCK_MONOTONIC);
	uint64_t real = clock_ns(CLOCK_REALTIME);
	put(p, mono);
	put(p, 0);
	rb_frame f;
	int64_t utc = 0;
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	rb_stream_info info;
	int rc;
	CHECK(header_of(c, f, &rc, &info) == ""); // before any stream
	CHECK(rc == 0);
	CHECK(info.ordinal == 0);
	REQUIRE(rb_consumer_frame_utc_ns(c, &f, &utc) == 0);
	// Within 50 ms of the realtime clock read beside the stamp.
	CHECK(llabs(utc - (int64_t)real) < 50000000ll);
	REQUIRE(rb_consumer_release(c, &f) == 0);
	REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
	CHECK(rb_consumer_frame_utc_ns(c, &f, &utc) == -ENODATA); // no stamp
	REQUIRE(rb_consumer_release(c, &f) == 0);
}

TEST_CASE("frames carry the drops at the producer: frames + dropped = produced")
{
	Pair pc(small_config(64, 8));
	rb_producer *p = pc.p;
	rb_consumer *c = pc.c;
	rb_ring *ring = pc.r.ring;
	uint64_t produced = 0, committed = 0;
	rb_frame f;
	// A drop-on-full producer: 100 frames made, the ring holds 8, the
	// consumer reads now and then.
	for (int i = 0; i < 100; i++) {
		produced++;
		if (rb_producer_acquire(p, &f, RB_NO_WAIT) != 0) {
			rb_producer_count_dropped(p, 1);
		} else {
			f.length = 0;
			REQUIRE(rb_producer_commit(p, &f) == 0);
			committed++;
		}
		if (i % 20 == 19) {
			for (int k = 0; k < 3; k++) {
				REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
				REQUIRE(rb_consumer_release(c, &f) == 0);
			}
		}
	}
	rb_producer_count_dropped(p, 2); // dropped last: the end marker carries them
	produced += 2;
	REQUIRE(rb_producer_end_stream(p, RB_FOREVER) != -1);
	uint64_t sum_dropped = 0;
	for (;;) {
		int rc = rb_consumer_acquire(c, &f, RB_NO_WAIT);
		if (rc == RB_E_EOS)
			break;
		REQUIRE(rc == 0);
		sum_dropped += f.dropped;
		REQUIRE(rb_consumer_release(c, &f) == 0);
	}
	rb_consumer_stats st;
	rb_consumer_get_stats(c, &st);
	CHECK(st.frames == committed);
	CHECK(st.lost == 0);
	CHECK(st.frames + st.dropped_at_producer == produced);
	rb_ring_status rs;
	REQUIRE(rb_ring_get_status(ring, &rs) == 0);
	CHECK(rs.frames_dropped == st.dropped_at_producer);
	CHECK(sum_dropped <= st.dropped_at_producer);
}

TEST_CASE("a producer's source counters are published in its record")
{
	Pair pc(small_config(64, 8));
	rb_producer_status st[2];
	REQUIRE(rb_ring_producers(pc.r.ring, st, 2) == 1);
	CHECK(st[0].ncounters == 0);
	const uint64_t v[RB_COUNTERS_MAX] = {1000, 7, 2, 1, 3, 5, 4, 1};
	CHECK(rb_producer_publish_counters(pc.p, v, RB_COUNTERS_MAX + 1) == -EINVAL);
	REQUIRE(rb_producer_publish_counters(pc.p, v, RB_COUNTERS_MAX) == 0);
	REQUIRE(rb_ring_producers(pc.r.ring, st, 2) == 1);
	REQUIRE(st[0].ncounters == RB_COUNTERS_MAX);
	for (uint32_t k = 0; k < RB_COUNTERS_MAX; k++)
		CHECK(st[0].counters[k] == v[k]);
	CHECK(std::string(rb_counter_name(6)) == "frames_incomplete");
	CHECK(std::string(rb_counter_name(5)) == "kernel_drops");
	CHECK(rb_counter_name(RB_COUNTERS_MAX) == nullptr);
}

namespace {

// Writes P.clock_offset_ns (byte 440 of the ring, FORMAT.md §3.2) as another
// process could: a ring anchored on another machine's clocks, or a stepped clock.
void
write_clock_offset(const std::string &name, int64_t offset)
{
	int fd = open(shm_path(name).c_str(), O_RDWR);
	REQUIRE(fd >= 0);
	void *m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	REQUIRE(m != MAP_FAILED);
	__atomic_store_n((int64_t *)((char *)m + 440), offset, __ATOMIC_RELAXED);
	munmap(m, 4096);
}

} // namespace

TEST_CASE("the clock anchor moves only on a clock step: a refresh or a begin-stream keeps an "
	  "offset within 1 ms, replaces one further off")
{
	Pair pc(small_config(64, 8));
	const int64_t real = rb_ring_clock_offset(pc.r.ring, nullptr);
	REQUIRE(real != 0);
	// Within a step: each measurement differs by some ns from the last;
	// republishing them would give one frame two UTC times.
	write_clock_offset(pc.r.guard.name, real + 777000);
	CHECK(rb_producer_refresh_clock(pc.p) == real + 777000);
	REQUIRE(rb_producer_begin_stream(pc.p, "run=1\n") == 0);
	CHECK(rb_ring_clock_offset(pc.r.ring, nullptr) == real + 777000);
	rb_stream_info info;
	REQUIRE(rb_ring_stream_header_at(pc.r.ring, rb_producer_next_seq(pc.p), nullptr, 0, &info) == 6);
	CHECK(info.clock_offset_ns == real + 777000);
	// A step (an hour): the next refresh publishes the measured offset.
	write_clock_offset(pc.r.guard.name, real + 3600000000000ll);
	int64_t now = rb_producer_refresh_clock(pc.p);
	CHECK(llabs(now - real) < 1000000ll);
	CHECK(rb_ring_clock_offset(pc.r.ring, nullptr) == now);
}

TEST_CASE("rb_producer_set_clock_offset pins a recording's anchor: begin-stream and refreshes "
	  "keep it, and frames convert with it")
{
	Pair pc(small_config(64, 8));
	const int64_t real = rb_ring_clock_offset(pc.r.ring, nullptr);
	// Another machine's anchor: three hours off this one's.
	const int64_t theirs = real - 10800000000000ll;
	CHECK(rb_producer_set_clock_offset(pc.p, 0, 0) == -EINVAL);
	REQUIRE(rb_producer_set_clock_offset(pc.p, theirs, 12345) == 0);
	uint64_t at = 0;
	CHECK(rb_ring_clock_offset(pc.r.ring, &at) == theirs);
	CHECK(at == 12345);
	CHECK(rb_producer_refresh_clock(pc.p) == theirs);
	REQUIRE(rb_producer_begin_stream(pc.p, "run=1\n") == 0);
	CHECK(rb_ring_clock_offset(pc.r.ring, nullptr) == theirs);
	put(pc.p, 1000);
	rb_frame f;
	REQUIRE(rb_consumer_acquire(pc.c, &f, RB_NO_WAIT) == 0);
	rb_stream_info info;
	int rc;
	CHECK(header_of(pc.c, f, &rc, &info) == "run=1\n");
	CHECK(info.clock_offset_ns == theirs);
	int64_t utc = 0;
	REQUIRE(rb_consumer_frame_utc_ns(pc.c, &f, &utc) == 0);
	CHECK(utc == 1000 + theirs);
	REQUIRE(rb_consumer_release(pc.c, &f) == 0);
}
