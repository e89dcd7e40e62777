// Issue 13 end to end, with the real programs: every frame with its own
// stream's header, and drops at the producer visible in every consumer's
// summary (layout 4: FORMAT.md §5.13, §5.22, §5.23).
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

using namespace rbt;

TEST_CASE("a lagging consumer across three streams gets each frame's own header",
	  "[programs]")
{
	RingGuard guard(unique_name("meta-streams"));
	const std::string &name = guard.name;
	// Three streams of 5 frames, each with its own rate= in its header,
	// written before anyone reads (the consumer lags across all three).
	const char *rates[] = {"100", "200", "300"};
	for (int k = 0; k < 3; k++) {
		std::vector<std::string> args = {producer_path(), "--keep", "--count", "5",
						 "--rate", std::string(rates[k]) + "Hz", "--json"};
		if (k == 0) {
			args.insert(args.end(), {"--frame-size", "64", "--slots", "64"});
		} else {
			args.push_back("--attach");
		}
		args.push_back(name);
		Proc prod(args);
		REQUIRE(prod.wait(30000) == 0);
	}
	for (const char *analysis : {"verify", "stats"}) {
		Proc cons({consumer_path(), "--lossy", "--streams", "3", "--json", name,
			   analysis});
		REQUIRE(cons.wait(30000) == 0);
		Json s = cons.summary();
		CHECK(s["frames"].u64() == 15);
		CHECK(s["lost"].u64() == 0);
		CHECK(s["streams"].u64() == 3);
		CHECK(s["headers_gone"].u64() == 0);
		CHECK(s["dropped_at_producer"].u64() == 0);
		const Json &seen = s["streams_seen"];
		REQUIRE(seen.arr.size() == 3);
		for (uint64_t k = 0; k < 3; k++) {
			CHECK(seen.at(k)["ordinal"].u64() == k + 1);
			CHECK(seen.at(k)["first_seq"].u64() == 6 * k); // 5 frames + a marker
			CHECK(seen.at(k)["start_seq"].u64() == 6 * k);
			CHECK(seen.at(k)["header"]["rate"].s() == rates[k]);
		}
		if (std::string(analysis) == "verify") {
			CHECK(s["gaps"].u64() == 0);
			CHECK(s["errors"].u64() == 0);
		}
	}
	// stats --per-frame: each frame's UTC from the ring's clock anchor.
	Proc lines({consumer_path(), "--lossy", "--per-frame", "--json", name, "stats"});
	REQUIRE(lines.wait(30000) == 0);
	Json f = parse_json(lines.stdout_text().substr(0, lines.stdout_text().find('\n')));
	CHECK(f["seq"].u64() == 0);
	CHECK(f["utc"].s().size() == 30); // 2026-12-02T06:46:56.061240583Z
	CHECK(f["utc_ns"].u64() > 1700000000ull * 1000000000ull);
	CHECK(f["dropped_before"].u64() == 0);
}

TEST_CASE("--on-full drop with slow lossless consumers: frames + dropped = produced",
	  "[programs]")
{
	RingGuard guard(unique_name("meta-drop"));
	const std::string &name = guard.name;
	const uint64_t total = 3000;

	Proc verify({consumer_path(), "--wait-ring", "20s", "--batch", "4",
		     "--delay-per-frame", "200us", "--json", name, "verify"});
	Proc stats({consumer_path(), "--wait-ring", "20s", "--batch", "4",
		    "--delay-per-frame", "100us", "--json", name, "stats"});
	Proc prod({producer_path(), "--frame-size", "64", "--slots", "16", "--on-full",
		   "drop", "--count", std::to_string(total), "--wait-consumers", "2",
		   "--json", name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(verify.wait(60000) == 0);
	REQUIRE(stats.wait(60000) == 0);
	Json p = prod.summary();
	const uint64_t dropped = p["dropped"].u64();
	CHECK(p["frames"].u64() + dropped == total);
	REQUIRE(dropped > 0); // the consumers are far slower than the producer
	for (Proc *c : {&verify, &stats}) {
		Json s = c->summary();
		CHECK(s["lost"].u64() == 0);
		CHECK(s["frames"].u64() == p["frames"].u64());
		CHECK(s["dropped_at_producer"].u64() == dropped);
		CHECK(s["frames"].u64() + s["dropped_at_producer"].u64() == total);
		CHECK(s["end"].s() == "eos");
		if (s["analysis"].s() == "verify") {
			// Dropped frames never took a seq: no gap, no error.
			CHECK(s["gaps"].u64() == 0);
			CHECK(s["errors"].u64() == 0);
		}
	}
}

TEST_CASE("a UDP capture publishes its counters for rb-ctl info and Prometheus",
	  "[programs]")
{
	RingGuard guard(unique_name("meta-udpctr"));
	const std::string &name = guard.name;
	Proc cap({producer_path(), "--source", "udp", "--listen", "127.0.0.1:0",
		  "--frame-size", "32768", "--packet-size", "4096", "--json", name});
	// Idle (nobody sends): the capture publishes its counters, all zero.
	Json info;
	bool seen = eventually([&] {
		Proc ctl({program("tools/ctl/rb-ctl"), "info", "--json", name});
		if (ctl.wait(20000) != 0)
			return false;
		info = parse_json(ctl.stdout_text());
		return info["producers"].arr.size() == 1 &&
		       info["producers"].at(0)["counters"].obj.size() == 8;
	}, 20000);
	REQUIRE(seen);
	const Json &ctr = info["producers"].at(0)["counters"];
	for (const char *k : {"packets", "packets_lost", "packets_late", "packets_duplicate",
			      "packets_malformed", "kernel_drops", "frames_incomplete",
			      "frames_missing"})
		CHECK(ctr[k].u64() == 0);
	Proc prom({program("tools/ctl/rb-ctl"), "stat", "--prometheus", name});
	REQUIRE(prom.wait(20000) == 0);
	CHECK(prom.stdout_text().find("ringbuf_producer_frames_incomplete_total{ring=\"" + name +
				      "\",producer=\"0\"") != std::string::npos);
	CHECK(prom.stdout_text().find("ringbuf_producer_kernel_drops_total{") !=
	      std::string::npos);
	cap.signal(SIGINT);
	CHECK(cap.wait(30000) == 0);
}

// ---- replay, recording and their metadata ----------------------------------

namespace {

// A directory of the test's files (the few it names), removed at scope exit.
struct Dir {
	std::string path;
	std::vector<std::string> files;
	Dir()
	{
		char t[] = "/tmp/rb-issue13-XXXXXX";
		REQUIRE(mkdtemp(t) != nullptr);
		path = t;
	}
	~Dir()
	{
		for (const std::string &f : files)
			unlink(f.c_str());
		rmdir(path.c_str());
	}
	std::string file(const std::string &name)
	{
		files.push_back(path + "/" + name);
		return files.back();
	}
};

// Records `count` counter frames of 4096 bytes into `file`.
void make_recording(const std::string &file, uint64_t count)
{
	RingGuard g(unique_name("meta-mkrec"));
	Proc rec({consumer_path(), "--wait-ring", "20s", "--json", g.name, "record", "--output",
		  file});
	Proc prod({producer_path(), "--frame-size", "4096", "--slots", "64", "--count",
		   std::to_string(count), "-W", "1", "--json", g.name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(rec.wait(60000) == 0);
	REQUIRE(rec.summary()["recorded_frames"].u64() == count);
}

Json check_recording(const std::string &file)
{
	Proc check({producer_path(), "--source", "file", "--check", "--input", file, "--json"});
	REQUIRE(check.wait(60000) == 0);
	return check.summary();
}

// An integer member of one JSON object's text, exactly: Json holds numbers
// as doubles, and UTC in ns (~1.8e18) has more digits than a double.
uint64_t exact_u64(const std::string &text, const char *key)
{
	std::string k = std::string("\"") + key + "\":";
	size_t at = text.find(k);
	REQUIRE(at != std::string::npos);
	return strtoull(text.c_str() + at + k.size(), nullptr, 10);
}

// JSON Lines of stats --per-frame, then its summary: the per-frame lines.
std::vector<std::string> per_frame_lines(const std::string &out)
{
	std::vector<std::string> v;
	size_t at = 0;
	while (at < out.size()) {
		size_t nl = out.find('\n', at);
		if (nl == std::string::npos)
			nl = out.size();
		std::string line = out.substr(at, nl - at);
		Json j = parse_json(line);
		if (j.has("timestamp_ns") && !j.has("program"))
			v.push_back(line);
		at = nl + 1;
	}
	return v;
}

Json check_recording_text(const std::string &file, std::string *text)
{
	Proc check({producer_path(), "--source", "file", "--check", "--input", file, "--json"});
	REQUIRE(check.wait(60000) == 0);
	*text = check.stdout_text();
	return check.summary();
}

// The summary after stats --per-frame's JSON Lines: the last line.
Json last_line(const std::string &out)
{
	size_t end = out.size() && out.back() == '\n' ? out.size() - 1 : out.size();
	size_t nl = out.rfind('\n', end - 1);
	return parse_json(out.substr(nl == std::string::npos ? 0 : nl + 1,
				     end - (nl == std::string::npos ? 0 : nl + 1)));
}

uint64_t monotonic_ns()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

} // namespace

TEST_CASE("a paced replay that falls behind its rate says so: behind_schedule",
	  "[programs][replay]")
{
	Dir dir;
	const std::string file = dir.file("r.rec");
	make_recording(file, 300);

	SECTION("a lossless consumer of 1 ms a frame under 10 kHz asked")
	{
		RingGuard g(unique_name("meta-rbehind"));
		Proc slow({consumer_path(), "--wait-ring", "20s", "--batch", "1",
			   "--delay-per-frame", "1ms", "--json", g.name, "null"});
		Proc rep({producer_path(), "--source", "file", "--input", file, "--rate", "10kHz",
			  "--slots", "16", "-W", "1", "--json", g.name});
		REQUIRE(rep.wait(60000) == 0);
		REQUIRE(slow.wait(60000) == 0);
		Json s = rep.summary();
		CHECK(s["frames"].u64() == 300);
		CHECK(s["end"].s() == "eof");
		CHECK(s["rate_asked"].d() == 10000);
		// Its last frame waited for the consumer's frame 284 (16 slots),
		// at least 284 ms after the start: 2,840 frames were due by then.
		const Json &b = s["behind_schedule"];
		INFO("behind: " << b["frames"].u64() << " frames");
		CHECK(b["behind"].b);
		CHECK(b["frames"].u64() >= 2840 - 300);
		CHECK(b["seconds"].d() == Approx((double)b["frames"].u64() / 10000).epsilon(1e-6));
		// What was published and what is missing add up to what was due
		// by the last frame, within the run's end.
		CHECK((double)(s["frames"].u64() + b["frames"].u64()) <= 10000 * s["seconds"].d() + 2);
		CHECK(slow.summary()["frames"].u64() == 300);
	}
	SECTION("stopped by --duration while held up: the frames due and not made")
	{
		RingGuard g(unique_name("meta-rbehind2"));
		Proc slow({consumer_path(), "--wait-ring", "20s", "--batch", "1",
			   "--delay-per-frame", "5ms", "--json", g.name, "null"});
		Proc rep({producer_path(), "--source", "file", "--input", file, "--rate", "10kHz",
			  "--slots", "16", "--loop", "--duration", "1s", "-W", "1", g.name});
		REQUIRE(rep.wait(60000) == 0);
		REQUIRE(slow.wait(60000) == 0);
		// 10,000 due in 1 s, at most ~220 made (16 + 1 s / 5 ms).
		std::string err = rep.stderr_text();
		INFO(err);
		CHECK(err.find("BEHIND SCHEDULE: ") != std::string::npos);
		CHECK(err.find("frames/s) short of the rate asked") != std::string::npos);
	}
	SECTION("--rate recorded: frames published late against the recording's time line")
	{
		// The recording was made flat out (300 frames within ms); a
		// consumer of 1 ms a frame holds 16 slots: most frames go out
		// hundreds of ms after their recorded time.
		RingGuard g(unique_name("meta-rbehind3"));
		Proc slow({consumer_path(), "--wait-ring", "20s", "--batch", "1",
			   "--delay-per-frame", "1ms", "--json", g.name, "null"});
		Proc rep({producer_path(), "--source", "file", "--input", file, "--rate", "recorded",
			  "--slots", "16", "-W", "1", "--json", g.name});
		REQUIRE(rep.wait(60000) == 0);
		REQUIRE(slow.wait(60000) == 0);
		Json s = rep.summary();
		CHECK(s["frames"].u64() == 300);
		CHECK(s["rate_asked"].s() == "recorded");
		const Json &b = s["behind_schedule"];
		CHECK(b["behind"].b);
		// Frames 17.. wait for the consumer's frame n-16, >= (n-16) ms.
		CHECK(b["frames"].u64() >= 250);
		CHECK(b["frames"].u64() <= 300);
		CHECK(b["seconds"].d() >= 0.25);
	}
	SECTION("a replay that keeps its rate is not behind")
	{
		RingGuard g(unique_name("meta-rontime"));
		Proc fast({consumer_path(), "--wait-ring", "20s", "--json", g.name, "null"});
		Proc rep({producer_path(), "--source", "file", "--input", file, "--rate", "50Hz",
			  "--count", "10", "-W", "1", "--json", g.name});
		REQUIRE(rep.wait(60000) == 0);
		REQUIRE(fast.wait(60000) == 0);
		Json s = rep.summary();
		CHECK(s["frames"].u64() == 10);
		CHECK_FALSE(s["behind_schedule"]["behind"].b);
	}
}

TEST_CASE("a recording's UTC is the ring's: anchor = the ring's clock offset, frame UTC = "
	  "what a live consumer computed",
	  "[programs][record]")
{
	Dir dir;

	SECTION("rb-producer, across its clock refreshes (1.5 s)")
	{
		RingGuard g(unique_name("meta-utc"));
		const std::string file = dir.file("u.rec");
		Proc rec({consumer_path(), "--wait-ring", "20s", "--json", g.name, "record",
			  "--output", file});
		Proc stats({consumer_path(), "--wait-ring", "20s", "--per-frame", "--json", g.name,
			    "stats"});
		Proc prod({producer_path(), "--frame-size", "4096", "--rate", "1kHz", "--count",
			   "1500", "-W", "2", "--json", g.name});
		REQUIRE(prod.wait(60000) == 0);
		REQUIRE(rec.wait(60000) == 0);
		REQUIRE(stats.wait(60000) == 0);
		std::string text;
		Json c = check_recording_text(file, &text);
		REQUIRE(c["frames"].u64() == 1500);
		const uint64_t offset =
			exact_u64(text, "anchor_real_ns") - exact_u64(text, "anchor_mono_ns");
		std::vector<std::string> lines = per_frame_lines(stats.stdout_text());
		REQUIRE(lines.size() == 1500);
		uint64_t differ = 0;
		for (const std::string &f : lines)
			if (exact_u64(f, "utc_ns") - exact_u64(f, "timestamp_ns") != offset)
				differ++;
		CHECK(differ == 0);
	}
	SECTION("a ring whose anchor is not this machine's sampling of the clocks")
	{
		// The ring says UTC = t + its clock_offset_ns; a realtime clock
		// stepped since it was measured (here: 777 us) must not make the
		// recording disagree with the ring's consumers.
		RingGuard g(unique_name("meta-utc2"));
		const std::string file = dir.file("v.rec");
		rb_ring_config cfg{};
		cfg.frame_bytes = 4096;
		cfg.slot_count = 16;
		rb_ring *ring = nullptr;
		REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
		rb_producer *p = nullptr;
		REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
		REQUIRE(rb_producer_begin_stream(p, "source=test\n") == 0);
		const int64_t moved = rb_ring_clock_offset(ring, nullptr) + 777000;
		{
			// P.clock_offset_ns, byte 440 of the ring (FORMAT.md §3.2).
			int fd = open(shm_path(g.name).c_str(), O_RDWR);
			REQUIRE(fd >= 0);
			void *m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			close(fd);
			REQUIRE(m != MAP_FAILED);
			__atomic_store_n((int64_t *)((char *)m + 440), moved, __ATOMIC_RELAXED);
			munmap(m, 4096);
		}
		REQUIRE(rb_ring_clock_offset(ring, nullptr) == moved);
		Proc rec({consumer_path(), "--json", g.name, "record", "--output", file});
		Proc stats({consumer_path(), "--per-frame", "--json", g.name, "stats"});
		REQUIRE(rb_ring_wait_consumers(ring, 2, 20000000000ull) == 0);
		for (int i = 0; i < 20; i++) {
			rb_frame f;
			REQUIRE(rb_producer_acquire(p, &f, 5000000000ull) == 0);
			memset(f.data, i, 4096);
			f.length = 4096;
			f.timestamp_ns = monotonic_ns();
			f.flags = 0;
			REQUIRE(rb_producer_commit(p, &f) == 0);
		}
		REQUIRE(rb_producer_end_stream(p, 5000000000ull) == 0);
		REQUIRE(rec.wait(60000) == 0);
		REQUIRE(stats.wait(60000) == 0);
		REQUIRE(rb_producer_detach(p, 0) == 0);
		rb_ring_close(ring);
		std::string text;
		Json c = check_recording_text(file, &text);
		REQUIRE(c["frames"].u64() == 20);
		CHECK((int64_t)(exact_u64(text, "anchor_real_ns") - exact_u64(text, "anchor_mono_ns")) ==
		      moved);
		std::vector<std::string> lines = per_frame_lines(stats.stdout_text());
		REQUIRE(lines.size() == 20);
		for (const std::string &f : lines)
			CHECK((int64_t)(exact_u64(f, "utc_ns") - exact_u64(f, "timestamp_ns")) == moved);
	}
	SECTION("a replay carries the recording's anchor: the replayed frames' UTC is the recorded "
		"one, even from another machine's clocks")
	{
		// Recorded on a "machine" whose clocks are three hours off this
		// one's: the frames keep their recorded time stamps in the
		// replay, so only the recording's anchor gives their UTC.
		RingGuard g(unique_name("meta-utc3"));
		const std::string file = dir.file("w.rec");
		rb_ring_config cfg{};
		cfg.frame_bytes = 4096;
		cfg.slot_count = 16;
		rb_ring *ring = nullptr;
		REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
		rb_producer *p = nullptr;
		REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
		const int64_t theirs = rb_ring_clock_offset(ring, nullptr) - 10800000000000ll;
		REQUIRE(rb_producer_set_clock_offset(p, theirs, 1) == 0);
		REQUIRE(rb_producer_begin_stream(p, "source=test\n") == 0);
		Proc rec({consumer_path(), "--json", g.name, "record", "--output", file});
		REQUIRE(rb_ring_wait_consumers(ring, 1, 20000000000ull) == 0);
		std::vector<uint64_t> stamps;
		for (int i = 0; i < 20; i++) {
			rb_frame f;
			REQUIRE(rb_producer_acquire(p, &f, 5000000000ull) == 0);
			memset(f.data, i, 4096);
			f.length = 4096;
			f.timestamp_ns = monotonic_ns();
			f.flags = 0;
			stamps.push_back(f.timestamp_ns);
			REQUIRE(rb_producer_commit(p, &f) == 0);
		}
		REQUIRE(rb_producer_end_stream(p, 5000000000ull) == 0);
		REQUIRE(rec.wait(60000) == 0);
		REQUIRE(rb_producer_detach(p, 0) == 0);
		rb_ring_close(ring);
		std::string text;
		Json c = check_recording_text(file, &text);
		REQUIRE(c["frames"].u64() == 20);
		REQUIRE((int64_t)(exact_u64(text, "anchor_real_ns") - exact_u64(text, "anchor_mono_ns")) ==
			theirs);

		RingGuard g2(unique_name("meta-utc4"));
		Proc stats({consumer_path(), "--wait-ring", "20s", "--per-frame", "--json", g2.name,
			    "stats"});
		Proc rep({producer_path(), "--source", "file", "--input", file, "-W", "1", "--json",
			  g2.name});
		REQUIRE(rep.wait(60000) == 0);
		REQUIRE(stats.wait(60000) == 0);
		std::vector<std::string> lines = per_frame_lines(stats.stdout_text());
		REQUIRE(lines.size() == 20);
		for (size_t i = 0; i < lines.size(); i++) {
			CHECK(exact_u64(lines[i], "timestamp_ns") == stamps[i]);
			CHECK((int64_t)(exact_u64(lines[i], "utc_ns") - stamps[i]) == theirs);
		}
		// --restamp: this machine's time stamps and anchor.
		RingGuard g3(unique_name("meta-utc5"));
		Proc stats2({consumer_path(), "--wait-ring", "20s", "--per-frame", "--json", g3.name,
			     "stats"});
		Proc rep2({producer_path(), "--source", "file", "--input", file, "--restamp", "-W", "1",
			   "--json", g3.name});
		REQUIRE(rep2.wait(60000) == 0);
		REQUIRE(stats2.wait(60000) == 0);
		lines = per_frame_lines(stats2.stdout_text());
		REQUIRE(lines.size() == 20);
		const int64_t ours = theirs + 10800000000000ll;
		for (const std::string &f : lines)
			CHECK(llabs((int64_t)(exact_u64(f, "utc_ns") - exact_u64(f, "timestamp_ns")) - ours) <
			      1000000ll);
	}
}

TEST_CASE("--on-full drop into a slow lossless recorder: the recording's frames and drops add "
	  "up to what was produced, and a replay publishes the drops again",
	  "[programs][record][replay]")
{
	Dir dir;
	const std::string file = dir.file("d.rec");
	const uint64_t total = 3000;
	RingGuard g(unique_name("meta-recdrop"));
	Proc rec({consumer_path(), "--wait-ring", "20s", "--batch", "4", "--delay-per-frame",
		  "200us", "--json", g.name, "record", "--output", file});
	Proc orig({consumer_path(), "--wait-ring", "20s", "--per-frame", "--json", g.name,
		   "stats"});
	Proc prod({producer_path(), "--frame-size", "4096", "--slots", "16", "--on-full", "drop",
		   "--count", std::to_string(total), "-W", "2", "--json", g.name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(rec.wait(60000) == 0);
	REQUIRE(orig.wait(60000) == 0);
	Json p = prod.summary();
	const uint64_t made = p["frames"].u64(), dropped = p["dropped"].u64();
	REQUIRE(made + dropped == total);
	REQUIRE(dropped > 0); // a recorder of 200 us a frame, a producer of none
	Json rs = rec.summary();
	CHECK(rs["recorded_frames"].u64() == made);
	CHECK(rs["dropped_at_producer"].u64() == dropped);
	CHECK(rs["lost"].u64() == 0);

	Json c = check_recording(file);
	CHECK(c["valid"].b);
	CHECK(c["frames"].u64() == made);
	CHECK(c["seq_gaps"].u64() == 0); // drops never took a seq
	CHECK(c["dropped_at_producer"].u64() == dropped);
	CHECK(c["frames"].u64() + c["dropped_at_producer"].u64() == total);

	// The replay: its consumers see the same drops, frame by frame.
	RingGuard g2(unique_name("meta-repdrop"));
	Proc verify({consumer_path(), "--wait-ring", "20s", "--json", g2.name, "verify"});
	Proc lines({consumer_path(), "--wait-ring", "20s", "--per-frame", "--json", g2.name,
		    "stats"});
	Proc rep({producer_path(), "--source", "file", "--input", file, "-W", "2", "--json",
		  g2.name});
	REQUIRE(rep.wait(60000) == 0);
	REQUIRE(verify.wait(60000) == 0);
	REQUIRE(lines.wait(60000) == 0);
	Json r = rep.summary();
	CHECK(r["frames"].u64() == made);
	CHECK(r["dropped"].u64() == 0); // its own: none
	CHECK(r["recorded_dropped"].u64() == dropped);
	Json v = verify.summary();
	CHECK(v["frames"].u64() == made);
	CHECK(v["dropped_at_producer"].u64() == dropped);
	CHECK(v["gaps"].u64() == 0);
	CHECK(v["errors"].u64() == 0);
	std::vector<std::string> a = per_frame_lines(orig.stdout_text());
	std::vector<std::string> b = per_frame_lines(lines.stdout_text());
	REQUIRE(a.size() == made);
	REQUIRE(b.size() == made);
	uint64_t differ = 0, sum = 0;
	for (size_t i = 0; i < a.size(); i++) {
		sum += exact_u64(a[i], "dropped_before");
		if (exact_u64(a[i], "seq") != exact_u64(b[i], "seq") ||
		    exact_u64(a[i], "dropped_before") != exact_u64(b[i], "dropped_before"))
			differ++;
	}
	// The drops after the last frame are the end marker's.
	CHECK(sum + c["dropped_after"].u64() == dropped);
	CHECK(differ == 0);
	CHECK(last_line(lines.stdout_text())["dropped_at_producer"].u64() == dropped);
}

TEST_CASE("a recorder lagging behind a stream boundary records the old stream with its own "
	  "header",
	  "[programs][record]")
{
	Dir dir;
	const std::string file = dir.file("h.rec");
	RingGuard g(unique_name("meta-rechdr"));
	// Two streams of 5 frames (rate=100, then rate=200), written before
	// the recorder attaches: it reads stream 1 when stream 2's header is
	// the ring's newest.
	for (const char *rate : {"100", "200"}) {
		std::vector<std::string> args = {producer_path(), "--keep", "--count", "5",
						 "--rate", std::string(rate) + "Hz"};
		if (std::string(rate) == "100")
			args.insert(args.end(), {"--frame-size", "4096", "--slots", "64"});
		else
			args.push_back("--attach");
		args.push_back(g.name);
		Proc prod(args);
		REQUIRE(prod.wait(30000) == 0);
	}
	Proc rec({consumer_path(), "--lossy", "--json", g.name, "record", "--output", file});
	REQUIRE(rec.wait(30000) == 0);
	CHECK(rec.summary()["recorded_frames"].u64() == 5);
	// The recording's stream header text: header bytes 104 (length) and
	// 512 on (docs/RECORDING.md, "File header").
	FILE *fp = fopen(file.c_str(), "rb");
	REQUIRE(fp != nullptr);
	std::vector<char> head(4096);
	size_t got = fread(head.data(), 1, head.size(), fp);
	fclose(fp);
	REQUIRE(got == head.size());
	uint32_t text_bytes;
	uint64_t start_seq;
	memcpy(&text_bytes, head.data() + 104, 4);
	memcpy(&start_seq, head.data() + 120, 8);
	REQUIRE(512 + text_bytes <= head.size());
	std::string text(head.data() + 512, text_bytes);
	INFO(text);
	CHECK(text.find("\nrate=100\n") != std::string::npos);
	CHECK(text.find("rate=200") == std::string::npos);
	CHECK(start_seq == 0);
	Json c = check_recording(file);
	CHECK(c["first_seq"].u64() == 0);
	CHECK(c["last_seq"].u64() == 4);
}

TEST_CASE("rb_ring_wait_consumers: waits for N consumers, bounded", "[programs]")
{
	RingGuard g(unique_name("meta-waitc"));
	rb_ring_config cfg{};
	cfg.frame_bytes = 64;
	cfg.slot_count = 8;
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
	CHECK(rb_ring_wait_consumers(ring, 0, 0) == 0); // nobody needed: at once
	uint64_t t0 = monotonic_ns();
	CHECK(rb_ring_wait_consumers(ring, 1, 50000000ull) == -ETIMEDOUT);
	CHECK(monotonic_ns() - t0 >= 50000000ull);
	Proc a({consumer_path(), "--json", g.name, "null"});
	Proc b({consumer_path(), "--json", g.name, "null"});
	CHECK(rb_ring_wait_consumers(ring, 2, 20000000000ull) == 0);
	rb_ring_status st;
	REQUIRE(rb_ring_get_status(ring, &st) == 0);
	CHECK(st.consumers >= 2);
	a.signal(SIGINT);
	b.signal(SIGINT);
	CHECK(a.wait(20000) == 0);
	CHECK(b.wait(20000) == 0);
	rb_ring_close(ring);
}

TEST_CASE("a lossy consumer whose frames' headers were overwritten says so, never hands over "
	  "another stream's",
	  "[programs]")
{
	RingGuard g(unique_name("meta-gone"));
	// Ten streams of one frame: the ring keeps the newest 8 headers, so
	// streams 1 and 2 have lost theirs by the time anyone reads.
	for (int k = 1; k <= 10; k++) {
		std::vector<std::string> args = {producer_path(), "--keep", "--count", "1",
						 "--rate", std::to_string(k) + "Hz"};
		if (k == 1)
			args.insert(args.end(), {"--frame-size", "64", "--slots", "64"});
		else
			args.push_back("--attach");
		args.push_back(g.name);
		Proc prod(args);
		REQUIRE(prod.wait(30000) == 0);
	}
	Proc cons({consumer_path(), "--lossy", "--streams", "10", "--json", g.name, "verify"});
	REQUIRE(cons.wait(30000) == 0);
	Json s = cons.summary();
	CHECK(s["frames"].u64() == 10);
	CHECK(s["streams"].u64() == 10);
	CHECK(s["headers_gone"].u64() == 2);
	const Json &seen = s["streams_seen"];
	REQUIRE(seen.arr.size() == 10);
	for (uint64_t k = 0; k < 10; k++) {
		INFO("stream " << k + 1);
		CHECK(seen.at(k)["header_gone"].b == (k < 2));
		if (k < 2)
			CHECK(seen.at(k)["header"].kind == Json::Null);
		else
			CHECK(seen.at(k)["header"]["rate"].s() == std::to_string(k + 1));
	}
}

TEST_CASE("a producer that starts with nobody reading says so once, on stderr", "[programs]")
{
	Dir dir;
	const std::string file = dir.file("n.rec");
	make_recording(file, 20);
	RingGuard g1(unique_name("meta-unread")), g2(unique_name("meta-unread2"));
	const std::string note = "rb-producer: note: no consumer is attached to ring '";
	const std::string rest = "': frames made before one attaches may be overwritten unread "
				 "(--wait-consumers N waits for N)\n";
	Proc counter({producer_path(), "--count", "10", "--frame-size", "64", "--json", g1.name});
	REQUIRE(counter.wait(30000) == 0);
	CHECK(counter.stderr_text() == note + g1.name + rest);
	// The replay of the issue: a recording into a ring nobody reads.
	Proc replay({producer_path(), "--source", "file", "--input", file, "--json", g2.name});
	REQUIRE(replay.wait(30000) == 0);
	CHECK(replay.stderr_text() == note + g2.name + rest);
	CHECK(replay.summary()["frames"].u64() == 20);
}

TEST_CASE("a lossy recorder lapped across a stream boundary (the new stream's start frame "
	  "lost) ends the recording at the boundary",
	  "[programs][record]")
{
	Dir dir;
	const std::string file = dir.file("x.rec");
	RingGuard g(unique_name("meta-reclap"));
	rb_ring_config cfg{};
	cfg.frame_bytes = 4096;
	cfg.slot_count = 8;
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	auto put = [&](int n) {
		for (int i = 0; i < n; i++) {
			rb_frame f;
			REQUIRE(rb_producer_acquire(p, &f, 5000000000ull) == 0);
			memset(f.data, i, 4096);
			f.length = 4096;
			f.timestamp_ns = monotonic_ns();
			f.flags = 0;
			REQUIRE(rb_producer_commit(p, &f) == 0);
		}
	};
	Proc rec({consumer_path(), "--lossy", "--json", g.name, "record", "--output", file});
	REQUIRE(rb_ring_wait_consumers(ring, 1, 20000000000ull) == 0);
	REQUIRE(rb_producer_begin_stream(p, "source=test\nrun=1\n") == 0);
	put(4); // seqs 0..3
	// The recorder has taken (and released) all four, and is stopped.
	auto released = [&](uint64_t n) {
		rb_consumer_status cs[4];
		int k = rb_ring_consumers(ring, cs, 4);
		return k == 1 && cs[0].read_seq >= n;
	};
	REQUIRE(eventually([&] { return released(4); }, 20000));
	rec.signal(SIGSTOP);
	REQUIRE(eventually([&] {
		rb_consumer_status cs[4];
		return rb_ring_consumers(ring, cs, 4) == 1 && cs[0].stopped;
	}, 20000));
	// Stream 1 ends (marker at seq 4); stream 2 starts at seq 5 and laps
	// the 8 slots: the recorder will never see its start frame.
	REQUIRE(rb_producer_end_stream(p, 5000000000ull) == 0);
	REQUIRE(rb_producer_begin_stream(p, "source=test\nrun=2\n") == 0);
	put(20); // seqs 5..24
	rec.signal(SIGCONT);
	REQUIRE(rec.wait(30000) == 0);
	REQUIRE(rb_producer_end_stream(p, 5000000000ull) == 0);
	REQUIRE(rb_producer_detach(p, 0) == 0);
	rb_ring_close(ring);
	Json s = rec.summary();
	CHECK(s["end"].s() == "new_stream");
	CHECK(s["recorded_frames"].u64() == 4);
	Json c = check_recording(file);
	CHECK(c["frames"].u64() == 4);
	CHECK(c["last_seq"].u64() == 3);
}
