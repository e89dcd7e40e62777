// Producer and consumers in separate processes (fork): nothing lost with
// lossless consumers, exact loss counts with lossy ones, consumers joining
// and leaving mid-stream, batch waits.
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <cstring>
#include <sys/mman.h>
#include <sys/resource.h>

using namespace rbt;

namespace {

// Results children report back through a shared anonymous mapping.
struct Shared {
	uint64_t frames[8];
	uint64_t lost[8];
	uint64_t bad[8];
	uint64_t markers[8];
	uint64_t wakeups[8];
	uint64_t cpu_us[8];
	uint64_t byte_sum[8]; // keeps the slow analysis from being optimised out
};

Shared *shared_results()
{
	void *p = mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	REQUIRE(p != MAP_FAILED);
	memset(p, 0, sizeof(Shared));
	return static_cast<Shared *>(p);
}

// Produces `total` pattern frames (varying batch sizes) and ends the stream.
int produce(const std::string &name, uint64_t total, uint64_t len)
{
	rb_ring *r = nullptr;
	rb_producer *p = nullptr;
	if (rb_ring_open(name.c_str(), &r) != 0 || rb_producer_attach(r, nullptr, &p) != 0)
		return 10;
	if (rb_producer_begin_stream(p, "source=test\n") != 0)
		return 11;
	rb_frame frames[32];
	uint64_t done = 0;
	while (done < total) {
		uint32_t want = (uint32_t)(1 + done % 32);
		if (want > total - done)
			want = (uint32_t)(total - done);
		int n = rb_producer_acquire_batch(p, frames, want, 10ull * 1000000000ull);
		if (n <= 0)
			return 12;
		for (int i = 0; i < n; i++) {
			fill_pattern(frames[i].data, len, frames[i].seq);
			frames[i].length = len;
			frames[i].timestamp_ns = frames[i].seq;
		}
		if (rb_producer_commit_batch(p, frames, (uint32_t)n) != 0)
			return 13;
		done += (uint64_t)n;
	}
	if (rb_producer_detach(p, 10ull * 1000000000ull) != 0)
		return 14;
	rb_ring_close(r);
	return 0;
}

// Consumes until end of stream, checking order and bytes; `batch_min` > 1
// asks to be woken only when that many frames are ready.
int consume(const std::string &name, int lossy, uint32_t batch_min, int slot,
	    Shared *out, int slow = 0)
{
	rb_ring *r = nullptr;
	rb_consumer *c = nullptr;
	rb_consumer_options o = {};
	o.lossy = lossy;
	if (rb_ring_open(name.c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0)
		return 20;
	uint64_t expect = 0;
	rb_frame frames[64];
	uint64_t sink = 0;
	for (;;) {
		int n = rb_consumer_acquire_batch(c, frames, 64, batch_min,
						  10ull * 1000000000ull);
		if (n == RB_E_EOS) {
			out->markers[slot]++;
			break;
		}
		if (n < 0)
			return 21;
		for (int i = 0; i < n; i++) {
			if (!lossy && frames[i].seq != expect)
				out->bad[slot]++;
			if (lossy && frames[i].seq < expect)
				out->bad[slot]++;
			expect = frames[i].seq + 1;
			const uint8_t *d = static_cast<const uint8_t *>(frames[i].data);
			for (int k = 0; k < slow; k++) // a slow analysis
				for (uint64_t j = 0; j < frames[i].length; j++)
					sink += d[j];
			bool ok = check_pattern(frames[i].data, frames[i].length, frames[i].seq);
			// A lossy reader may only trust bytes it re-checked afterwards.
			if (!ok && rb_consumer_check(c, &frames[i]) == 0)
				out->bad[slot]++;
		}
		int rc = rb_consumer_release_batch(c, frames, (uint32_t)n);
		if (rc < 0)
			return 22;
	}
	out->byte_sum[slot] = sink;
	rb_consumer_stats st;
	rb_consumer_get_stats(c, &st);
	out->frames[slot] = st.frames;
	out->lost[slot] = st.lost;
	out->wakeups[slot] = st.wakeups;
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	out->cpu_us[slot] = (uint64_t)ru.ru_utime.tv_sec * 1000000 + (uint64_t)ru.ru_utime.tv_usec +
			    (uint64_t)ru.ru_stime.tv_sec * 1000000 + (uint64_t)ru.ru_stime.tv_usec;
	rb_consumer_detach(c);
	rb_ring_close(r);
	return 0;
}

// A ring for one test plus the results page its children write into; both
// are released when the test ends, pass or fail.
struct MpRing {
	RingGuard guard;
	rb_ring *r = nullptr;
	Shared *res = nullptr;
	explicit MpRing(const rb_ring_config &cfg) : guard(unique_name("mp"))
	{
		REQUIRE(rb_ring_create(guard.name.c_str(), &cfg, &r) == 0);
		res = shared_results();
	}
	~MpRing()
	{
		rb_ring_close(r);
		munmap(res, sizeof(Shared));
	}
	const std::string &name() const { return guard.name; }
};

// Waits until `n` consumers are attached to the ring.
bool consumers_attached(rb_ring *r, uint32_t n)
{
	return eventually([&] {
		rb_ring_status st;
		rb_ring_get_status(r, &st);
		return st.consumers >= n;
	}, 10000);
}

} // namespace

TEST_CASE("lossless consumers in other processes get every frame, in order, intact")
{
	MpRing ring(small_config(512, 64));
	rb_ring *r = ring.r;
	Shared *res = ring.res;
	const std::string &name = ring.name();
	const uint64_t total = 200000;
	Child c1, c2, c3, prod;
	spawn(c1, [&] { return consume(name, 0, 1, 0, res); });
	spawn(c2, [&] { return consume(name, 0, 1, 1, res); });
	spawn(c3, [&] { return consume(name, 0, 16, 2, res); }); // woken per 16
	REQUIRE(consumers_attached(r, 3));
	spawn(prod, [&] { return produce(name, total, 300); });
	CHECK(prod.wait(120000) == 0);
	CHECK(c1.wait(30000) == 0);
	CHECK(c2.wait(30000) == 0);
	CHECK(c3.wait(30000) == 0);
	for (int i = 0; i < 3; i++) {
		INFO("consumer " << i);
		CHECK(res->frames[i] == total);
		CHECK(res->lost[i] == 0);
		CHECK(res->bad[i] == 0);
		CHECK(res->markers[i] == 1);
	}
	rb_ring_status st;
	rb_ring_get_status(r, &st);
	CHECK(st.consumers == 0); // all detached cleanly
	CHECK(st.write_seq == total + 1); // frames plus the end marker
}

TEST_CASE("a slow lossy consumer beside a lossless one: exact loss accounting")
{
	MpRing ring(small_config(1024, 32));
	rb_ring *r = ring.r;
	Shared *res = ring.res;
	const std::string &name = ring.name();
	const uint64_t total = 100000;
	Child fast, slow, prod;
	spawn(fast, [&] { return consume(name, 0, 1, 0, res); });
	spawn(slow, [&] { return consume(name, 1, 1, 1, res, 20); });
	REQUIRE(consumers_attached(r, 2));
	spawn(prod, [&] { return produce(name, total, 1024); });
	CHECK(prod.wait(120000) == 0);
	CHECK(fast.wait(30000) == 0);
	CHECK(slow.wait(30000) == 0);
	CHECK(res->frames[0] == total);
	CHECK(res->bad[0] == 0);
	CHECK(res->bad[1] == 0);
	INFO("lossy frames " << res->frames[1] << " lost " << res->lost[1]);
	// Every frame is accounted for exactly once: delivered or lost. (The
	// end marker is not a frame, even when the lossy consumer skipped it.)
	CHECK(res->frames[1] + res->lost[1] == total);
	CHECK(res->markers[1] == 1); // seen via the marker or the stream state
	CHECK(res->lost[1] > 0);
}

TEST_CASE("consumers join and leave while the producer runs")
{
	MpRing ring(small_config(128, 16));
	rb_ring *r = ring.r;
	Shared *res = ring.res;
	const std::string &name = ring.name();
	const uint64_t total = 300000;
	Child steady, prod, hopper;
	spawn(steady, [&] { return consume(name, 0, 1, 0, res); });
	REQUIRE(consumers_attached(r, 1));
	spawn(prod, [&] { return produce(name, total, 128); });
	// A lossless consumer attaching and detaching repeatedly: each session
	// sees a contiguous run, and the producer is never left blocked by it.
	spawn(hopper, [&] {
		rb_ring *hr = nullptr;
		if (rb_ring_open(name.c_str(), &hr) != 0)
			return 30;
		for (int session = 0; session < 50; session++) {
			rb_consumer *c = nullptr;
			rb_consumer_options o = {};
			o.start = session % 2 ? RB_START_NEXT : RB_START_OLDEST;
			if (rb_consumer_attach(hr, &o, &c) != 0)
				return 31;
			uint64_t expect = UINT64_MAX;
			for (int i = 0; i < 200; i++) {
				rb_frame f;
				int rc = rb_consumer_acquire(c, &f, 10ull * 1000000000ull);
				if (rc == RB_E_EOS)
					break;
				if (rc != 0)
					return 32;
				if (expect != UINT64_MAX && f.seq != expect)
					return 33;
				if (!check_pattern(f.data, f.length, f.seq))
					return 34;
				expect = f.seq + 1;
				rb_consumer_release(c, &f);
			}
			rb_consumer_detach(c);
		}
		rb_ring_close(hr);
		return 0;
	});
	CHECK(hopper.wait(120000) == 0);
	CHECK(prod.wait(120000) == 0);
	CHECK(steady.wait(30000) == 0);
	CHECK(res->frames[0] == total);
	CHECK(res->bad[0] == 0);
}

TEST_CASE("an idle consumer sleeps on the futex instead of spinning")
{
	MpRing ring(small_config(64, 8));
	rb_ring *r = ring.r;
	Shared *res = ring.res;
	const std::string &name = ring.name();
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "") == 0);
	Child c;
	spawn(c, [&] { return consume(name, 0, 1, 0, res); });
	REQUIRE(consumers_attached(r, 1));
	// The consumer now waits for a frame that comes 500 ms later.
	usleep(500000);
	rb_frame f;
	REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
	f.length = 64;
	fill_pattern(f.data, 64, f.seq);
	REQUIRE(rb_producer_commit(p, &f) == 0);
	REQUIRE(rb_producer_end_stream(p, RB_FOREVER) == 0);
	CHECK(c.wait(10000) == 0);
	CHECK(res->frames[0] == 1);
	CHECK(res->wakeups[0] >= 1);
	// Half a second of waiting cost far less than half a second of CPU
	// (a spinning waiter would burn ~500000 us).
	CHECK(res->cpu_us[0] < 100000);
	rb_producer_detach(p, 0);
}

TEST_CASE("a consumer asking for k frames is woken about once per k frames")
{
	MpRing ring(small_config(64, 256));
	rb_ring *r = ring.r;
	Shared *res = ring.res;
	const std::string &name = ring.name();
	const uint64_t total = 3200, k = 64;
	Child c;
	spawn(c, [&] { return consume(name, 0, (uint32_t)k, 0, res); });
	REQUIRE(consumers_attached(r, 1));
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(r, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "") == 0);
	// A slow stream (a frame every ~100 us): a consumer woken per frame
	// would sleep and wake ~3200 times.
	for (uint64_t i = 0; i < total; i++) {
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, 10ull * 1000000000ull) == 0);
		f.length = 64;
		fill_pattern(f.data, 64, f.seq);
		REQUIRE(rb_producer_commit(p, &f) == 0);
		usleep(100);
	}
	REQUIRE(rb_producer_detach(p, RB_FOREVER) == 0);
	CHECK(c.wait(30000) == 0);
	CHECK(res->frames[0] == total);
	CHECK(res->bad[0] == 0);
	INFO("wakeups " << res->wakeups[0]);
	// One sleep per k frames, plus one per 100 ms wait slice it sleeps
	// through (the run takes well under 5 s).
	CHECK(res->wakeups[0] <= total / k + 50);
}

TEST_CASE("lossless consumers joining a fast producer on a tiny ring never see overwritten frames")
{
	// The join handshake (docs/FORMAT.md 5.4): claim_limit only grows, so a
	// joiner that reads it starts no lower than anything the producer has
	// been allowed to overwrite.
	MpRing ring(small_config(64, 8));
	Shared *res = ring.res;
	const std::string &name = ring.name();
	Child prod, joiner;
	spawn(prod, [&] { return produce(name, 2000000, 64); });
	spawn(joiner, [&] {
		rb_ring *jr = nullptr;
		if (rb_ring_open(name.c_str(), &jr) != 0)
			return 40;
		for (int join = 0; join < 300; join++) {
			rb_consumer *c = nullptr;
			if (rb_consumer_attach(jr, nullptr, &c) != 0)
				return 41;
			uint64_t expect = UINT64_MAX;
			for (int i = 0; i < 20; i++) {
				rb_frame f;
				int rc = rb_consumer_acquire(c, &f, 10ull * 1000000000ull);
				if (rc == RB_E_EOS)
					break;
				if (rc != 0 || (expect != UINT64_MAX && f.seq != expect) ||
				    !check_pattern(f.data, f.length, f.seq)) {
					// Keep the first failure's details for the report.
					if (res->bad[0]++ == 0) {
						res->lost[1] = (uint64_t)(int64_t)rc;
						res->frames[1] = f.seq;
						res->markers[1] = expect;
						res->wakeups[1] = (uint64_t)i;
					}
					break;
				}
				expect = f.seq + 1;
				rb_consumer_release(c, &f);
			}
			res->frames[0]++;
			rb_consumer_detach(c);
		}
		rb_ring_close(jr);
		return 0;
	});
	CHECK(joiner.wait(120000) == 0);
	prod.kill_now(SIGKILL);
	prod.wait(5000);
	CHECK(res->frames[0] == 300);
	INFO("first failure: rc " << (int64_t)res->lost[1] << " seq " << res->frames[1]
	     << " expected " << res->markers[1] << " at frame " << res->wakeups[1]);
	CHECK(res->bad[0] == 0);
}
