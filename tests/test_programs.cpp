// End-to-end tests of the programs: rb-producer and rb-consumer run as real
// processes (fork + execv), their summaries read back as JSON.
//
// Rules every test keeps: a unique ring name and a RingGuard declared before
// any child (so the ring is removed after the children are killed, pass or
// fail); children's output goes to temporary files unlinked as soon as they
// are created (nothing to clean up); every wait is bounded and synchronises
// on the thing itself (the ring appearing, consumers attaching, frames
// flowing), never on a sleep.
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <memory>
#include <vector>

using namespace rbt;

namespace {

// The failure contract: a non-zero exit, nothing on stdout, and exactly one
// line on stderr that starts with the program's name.
void check_one_error_line(Proc &p, const char *prog, const char *needle)
{
	std::string err = p.stderr_text();
	INFO("stderr: " << err);
	CHECK(p.status > 0);
	CHECK(p.status < 128); // an exit, not a crash
	CHECK(p.stdout_text().empty());
	REQUIRE(!err.empty());
	CHECK(err.find('\n') == err.size() - 1);
	CHECK(err.compare(0, strlen(prog) + 2, std::string(prog) + ": ") == 0);
	CHECK(err.find(needle) != std::string::npos);
}

// What rb-producer's camera source puts in pixel (x, y) of frame n.
uint16_t camera_pixel(uint64_t x, uint64_t y, uint64_t n)
{
	if (y == 0 && x < 4)
		return (uint16_t)(n >> (16 * x));
	return (uint16_t)(((x + y + n) & 0xff) * 257);
}

} // namespace

TEST_CASE("--help fits a screen and --version answers", "[programs]")
{
	for (const std::string &prog : {producer_path(), consumer_path()}) {
		Proc help({prog, "--help"});
		REQUIRE(help.wait(5000) == 0);
		std::string text = help.stdout_text();
		size_t lines = (size_t)std::count(text.begin(), text.end(), '\n');
		CHECK(lines > 5);
		CHECK(lines <= 24);
		for (size_t pos = 0, next; (next = text.find('\n', pos)) != std::string::npos; pos = next + 1)
			CHECK(next - pos <= 80);
		Proc version({prog, "--version"});
		REQUIRE(version.wait(5000) == 0);
		CHECK(version.stdout_text().find(RB_VERSION_STRING) != std::string::npos);
	}
}

TEST_CASE("a million counter frames reach a lossless verify consumer intact", "[programs]")
{
	RingGuard guard(unique_name("prog-million"));
	const std::string &name = guard.name;
	rb_ring_config cfg = small_config(64, 4096);
	Watch w;
	REQUIRE(rb_ring_create(name.c_str(), &cfg, &w.ring) == 0);

	// The consumer attaches first, so that it is owed every frame.
	Proc cons({consumer_path(), "--json", name, "verify"});
	REQUIRE(w.consumers(1, 10000));
	Proc prod({producer_path(), "--attach", "--count", "1000000", "--on-full", "block",
		   "--json", name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(cons.wait(30000) == 0);

	Json p = prod.summary();
	CHECK(p["frames"].u64() == 1000000);
	CHECK(p["bytes"].u64() == 64000000);
	CHECK(p["dropped"].u64() == 0);
	CHECK(p["end"].s() == "count");
	CHECK(p["created"].b == false);
	CHECK(p["seconds"].d() > 0);
	CHECK(p["frames_per_second"].d() > 0);
	CHECK(p["bytes_per_second"].d() > 0);

	Json c = cons.summary();
	CHECK(c["analysis"].s() == "verify");
	CHECK(c["frames"].u64() == 1000000);
	CHECK(c["bytes"].u64() == 64000000);
	CHECK(c["gaps"].u64() == 0);
	CHECK(c["errors"].u64() == 0);
	CHECK(c["lost"].u64() == 0);
	CHECK(c["end"].s() == "eos");
	CHECK(c["content_checked"].b);
	CHECK(c["checked_frames"].u64() == 1000000);
	CHECK(c["header"]["source"].s() == "counter");
	CHECK(c["header"]["frame_bytes"].s() == "64");
	CHECK(c["header"]["shape"].s() == "64");
	CHECK(c["header"].has("start_time"));
	CHECK(c["header"].has("host"));
	CHECK(prod.stderr_text().empty());
	CHECK(cons.stderr_text().empty());
	// --attach: the ring is the test's, so the producer leaves it.
	CHECK(shm_exists(name));
}

TEST_CASE("a slowed lossy consumer accounts for every frame beside a lossless one",
	  "[programs]")
{
	RingGuard guard(unique_name("prog-lossy"));
	const std::string &name = guard.name;
	const uint64_t total = 100000;

	Proc lossless({consumer_path(), "--wait-ring", "20s", "--json", name});
	Proc lossy({consumer_path(), "--wait-ring", "20s", "--lossy", "--batch", "16",
		    "--delay-per-frame", "100us", "--label", "slow", "--json", name, "verify"});
	Proc prod({producer_path(), "--frame-size", "64", "--slots", "256", "--count",
		   std::to_string(total), "--wait-consumers", "2", "--json", name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(lossless.wait(30000) == 0);
	REQUIRE(lossy.wait(30000) == 0);

	Json p = prod.summary();
	REQUIRE(p["frames"].u64() == total);
	CHECK(p["created"].b);

	Json a = lossless.summary();
	CHECK(a["frames"].u64() == total);
	CHECK(a["gaps"].u64() == 0);
	CHECK(a["errors"].u64() == 0);
	CHECK(a["lost"].u64() == 0);

	Json b = lossy.summary();
	CHECK(b["lossy"].b);
	CHECK(b["label"].s() == "slow");
	CHECK(b["frames"].u64() + b["lost"].u64() == total);
	CHECK(b["lost"].u64() > 0);
	CHECK(b["frames"].u64() > 0);
	CHECK(b["errors"].u64() == 0);
	CHECK(b["gaps"].u64() == 0);
	CHECK(b["end"].s() == "eos");
	// The producer created the ring, so it removed it.
	CHECK_FALSE(shm_exists(name));
}

TEST_CASE("--on-full drop never waits and counts what it drops", "[programs]")
{
	RingGuard guard(unique_name("prog-drop"));
	const std::string &name = guard.name;

	Proc cons({consumer_path(), "--wait-ring", "20s", "--delay-per-frame", "200us",
		   "--json", name});
	Proc prod({producer_path(), "--frame-size", "64", "--slots", "64", "--count", "5000",
		   "--rate", "50kHz", "--on-full", "drop", "--wait-consumers", "1", "--json", name});
	REQUIRE(prod.wait(30000) == 0);
	REQUIRE(cons.wait(30000) == 0);
	Json p = prod.summary();
	Json c = cons.summary();
	CHECK(p["dropped"].u64() > 0);
	CHECK(p["frames"].u64() + p["dropped"].u64() == 5000);
	// Dropped frames take no sequence number: the consumer sees no gap.
	CHECK(c["frames"].u64() == p["frames"].u64());
	CHECK(c["gaps"].u64() == 0);
	CHECK(c["errors"].u64() == 0);
}

TEST_CASE("adc frames through stats: per-channel figures as generated", "[programs]")
{
	RingGuard guard(unique_name("prog-adc"));
	const std::string &name = guard.name;

	Proc cons({consumer_path(), "--wait-ring", "20s", "--json", name, "stats"});
	Proc prod({producer_path(), "--source", "adc", "--channels", "4", "--samples", "256",
		   "--sample-rate", "1MHz", "--count", "400", "--slots", "64",
		   "--wait-consumers", "1", "--json", name});
	REQUIRE(prod.wait(30000) == 0);
	REQUIRE(cons.wait(30000) == 0);

	Json p = prod.summary();
	CHECK(p["frame_bytes"].u64() == 256 * 4 * 2);
	Json c = cons.summary();
	CHECK(c["frames"].u64() == 400);
	CHECK(c["header"]["source"].s() == "adc");
	CHECK(c["header"]["sample_rate"].s() == "1000000");
	CHECK(c["header"]["freqs"].s() == "1000,2000,3000,4000");
	const Json &s = c["stats"];
	CHECK(s["elem"].s() == "i16");
	REQUIRE(s["shape"].arr.size() == 2);
	CHECK(s["shape"].at(0).u64() == 256);
	CHECK(s["shape"].at(1).u64() == 4);
	CHECK(s["type_from"].s() == "ring");
	CHECK(s["values"].u64() == 400 * 256 * 4);
	// Amplitude 10000, noise within +-100: the extremes are reached to
	// within the noise, never passed.
	CHECK(s["max"].d() <= 10100);
	CHECK(s["min"].d() >= -10100);
	uint64_t binned = 0;
	for (const Json &n : s["histogram"]["counts"].arr)
		binned += n.u64();
	CHECK(binned == s["values"].u64());
	CHECK(s["histogram"]["lo"].d() == -32768);
	CHECK(s["histogram"]["width"].d() == 4096);
	REQUIRE(s["channel_count"].u64() == 4);
	REQUIRE(s["channels"].arr.size() == 4);
	for (size_t ch = 0; ch < 4; ch++) {
		const Json &x = s["channels"].at(ch);
		INFO("channel " << ch);
		CHECK(x["values"].u64() == 400 * 256);
		CHECK(x["max"].d() <= 10100);
		CHECK(x["max"].d() >= 9899);
		CHECK(x["min"].d() >= -10100);
		CHECK(x["min"].d() <= -9899);
		// 102.4 periods or more: the partial period moves the mean by
		// at most ~30 counts.
		CHECK(std::fabs(x["mean"].d()) < 50);
		// A sine's RMS is its amplitude / sqrt(2); the noise adds ~0.5.
		CHECK(std::fabs(x["rms"].d() - 10000 / std::sqrt(2.0)) < 20);
	}
}

TEST_CASE("adc: the sample rate paces the source, --rate overrides it and the header "
	  "says so, a producer that cannot keep its rate says so",
	  "[programs]")
{
	RingGuard g1(unique_name("prog-adcpace")), g2(unique_name("prog-adcrate")),
		g3(unique_name("prog-behind"));
	// 1 MS/s in frames of 1000 samples: 1000 frames/s, with no --rate.
	Proc paced({producer_path(), "--source", "adc", "--channels", "2", "--samples", "1000",
		    "--sample-rate", "1MHz", "--duration", "10s", "--slots", "64", "--json",
		    g1.name});
	// --rate wins over --sample-rate: 500 frames/s of 1000 samples is
	// 500 kS/s per channel, and the header states that.
	Proc over({producer_path(), "--source", "adc", "--channels", "2", "--samples", "1000",
		   "--sample-rate", "1MHz", "--rate", "500", "--count", "20", "--slots", "64",
		   "--wait-consumers", "1", "--json", g2.name});
	Proc reader({consumer_path(), "--wait-ring", "20s", "--json", g2.name, "null"});
	// 10 kHz asked, a lossless consumer that takes ~1 ms a frame: the
	// producer falls behind and must say by how much.
	Proc slow({producer_path(), "--frame-size", "64", "--slots", "16", "--rate", "10kHz",
		   "--duration", "2s", "--wait-consumers", "1", "--json", g3.name});
	Proc lag({consumer_path(), "--wait-ring", "20s", "--batch", "1", "--delay-per-frame",
		  "1ms", "--json", g3.name, "null"});

	REQUIRE(over.wait(30000) == 0);
	REQUIRE(reader.wait(30000) == 0);
	std::string note = over.stderr_text();
	CHECK(note.find("rb-producer: note: --rate gives 500 frames/s of 1000 samples: "
			"500000 samples/s per channel, not the --sample-rate 1000000") == 0);
	Json rs = reader.summary();
	const Json &h = rs["header"];
	CHECK(h["rate"].s() == "500");
	CHECK(h["sample_rate"].s() == "500000");
	CHECK(h["freqs"].s() == "500,1000");

	REQUIRE(slow.wait(30000) == 0);
	REQUIRE(lag.wait(30000) == 0);
	Json s = slow.summary();
	INFO("behind: " << s["behind_schedule"]["frames"].u64() << " frames");
	CHECK(s["behind_schedule"]["behind"].b);
	CHECK(s["frames"].u64() < 10000); // a 1 ms consumer makes ~2,000 in 2 s
	// What was made and what is missing add up to what was due.
	double due = 10000 * s["seconds"].d();
	double made = (double)(s["frames"].u64() + s["behind_schedule"]["frames"].u64());
	CHECK(std::fabs(made - due) <= 0.01 * due + 2);
	CHECK(s["behind_schedule"]["seconds"].d() ==
	      Approx((double)s["behind_schedule"]["frames"].u64() / 10000).epsilon(1e-6));
	CHECK(slow.stderr_text().empty()); // --json: nothing else on stderr

	REQUIRE(paced.wait(30000) == 0);
	Json p = paced.summary();
	// Deadlines are absolute: over 10 s the count is the rate's, within 1%.
	CHECK(std::fabs((double)p["frames"].u64() - 10000) <= 100);
	CHECK(p["rate_asked"].d() == 1000);
	CHECK_FALSE(p["behind_schedule"]["behind"].b);
}

TEST_CASE("camera frames through stats and stdout: exact values", "[programs]")
{
	const uint64_t W = 64, H = 48;

	SECTION("stats")
	{
		RingGuard guard(unique_name("prog-cam"));
		const std::string &name = guard.name;
		const uint64_t frames = 300;
		Proc cons({consumer_path(), "--wait-ring", "20s", "--json", name, "stats"});
		Proc prod({producer_path(), "--source", "camera", "--width", std::to_string(W),
			   "--height", std::to_string(H), "--count", std::to_string(frames),
			   "--slots", "32", "--wait-consumers", "1", name});
		REQUIRE(prod.wait(30000) == 0);
		REQUIRE(cons.wait(30000) == 0);
		// Without --json: the human summary goes to stderr, nothing to stdout.
		CHECK(prod.stdout_text().empty());
		CHECK(prod.stderr_text().find("rb-producer: ring ") == 0);

		double sum = 0;
		for (uint64_t n = 0; n < frames; n++)
			for (uint64_t y = 0; y < H; y++)
				for (uint64_t x = 0; x < W; x++)
					sum += camera_pixel(x, y, n);
		Json c = cons.summary();
		const Json &s = c["stats"];
		CHECK(s["elem"].s() == "u16");
		CHECK(s["shape"].at(0).u64() == H);
		CHECK(s["shape"].at(1).u64() == W);
		CHECK(s["values"].u64() == frames * W * H);
		CHECK(s["min"].d() == 0);
		CHECK(s["max"].d() == 65535);
		CHECK(s["mean"].d() == Approx(sum / (double)(frames * W * H)).epsilon(1e-9));
		CHECK(s["channels"].arr.empty());
		CHECK(s["last_frame"]["seq"].u64() == frames - 1);
	}
	SECTION("stats --per-frame: a JSON line per frame, then the summary")
	{
		RingGuard guard(unique_name("prog-camlines"));
		const std::string &name = guard.name;
		Proc cons({consumer_path(), "--wait-ring", "20s", "--per-frame", "--json", name,
			   "stats"});
		Proc prod({producer_path(), "--source", "camera", "--width", std::to_string(W),
			   "--height", std::to_string(H), "--count", "3", "--wait-consumers", "1",
			   name});
		REQUIRE(prod.wait(30000) == 0);
		REQUIRE(cons.wait(30000) == 0);
		std::string text = cons.stdout_text();
		std::vector<std::string> lines;
		for (size_t pos = 0, next; (next = text.find('\n', pos)) != std::string::npos;
		     pos = next + 1)
			lines.push_back(text.substr(pos, next - pos + 1));
		REQUIRE(lines.size() == 4);
		for (uint64_t n = 0; n < 3; n++) {
			Json f = parse_summary(lines[n]);
			double sum = 0, mx = 0;
			for (uint64_t y = 0; y < H; y++)
				for (uint64_t x = 0; x < W; x++) {
					sum += camera_pixel(x, y, n);
					mx = std::max(mx, (double)camera_pixel(x, y, n));
				}
			CHECK(f["seq"].u64() == n);
			CHECK(f["values"].u64() == W * H);
			CHECK(f["max"].d() == mx);
			CHECK(f["mean"].d() == Approx(sum / (double)(W * H)).epsilon(1e-9));
		}
		CHECK(parse_summary(lines[3])["stats"]["frames"].u64() == 3);
	}
	SECTION("stdout: the raw frames, stamped with their number")
	{
		RingGuard guard(unique_name("prog-camout"));
		const std::string &name = guard.name;
		const uint64_t frames = 10;
		Proc cons({consumer_path(), "--wait-ring", "20s", name, "stdout"});
		Proc prod({producer_path(), "--source", "camera", "--width", std::to_string(W),
			   "--height", std::to_string(H), "--count", std::to_string(frames),
			   "--wait-consumers", "1", name});
		REQUIRE(prod.wait(30000) == 0);
		REQUIRE(cons.wait(30000) == 0);
		std::string raw = cons.stdout_text();
		REQUIRE(raw.size() == frames * W * H * 2);
		uint64_t bad = 0;
		for (uint64_t n = 0; n < frames; n++)
			for (uint64_t y = 0; y < H; y++)
				for (uint64_t x = 0; x < W; x++) {
					uint16_t v;
					memcpy(&v, raw.data() + ((n * H + y) * W + x) * 2, 2);
					if (v != camera_pixel(x, y, n))
						bad++;
				}
		CHECK(bad == 0);
		// The summary went to stderr, since stdout carries the frames.
		CHECK(cons.stderr_text().find("rb-consumer: ring ") == 0);
	}
}

TEST_CASE("counter frames through stdout arrive in order, byte for byte", "[programs]")
{
	RingGuard guard(unique_name("prog-out"));
	const std::string &name = guard.name;
	const uint64_t frames = 3000, size = 100; // not a multiple of 8

	Proc cons({consumer_path(), "--wait-ring", "20s", "--batch", "32", "--json", name,
		   "stdout"});
	Proc prod({producer_path(), "--frame-size", std::to_string(size), "--slots", "64",
		   "--count", std::to_string(frames), "--wait-consumers", "1", name});
	REQUIRE(prod.wait(30000) == 0);
	REQUIRE(cons.wait(30000) == 0);
	std::string raw = cons.stdout_text();
	REQUIRE(raw.size() == frames * size);
	uint64_t bad = 0;
	for (uint64_t i = 0; i < frames; i++)
		if (!check_pattern(raw.data() + i * size, size, i))
			bad++;
	CHECK(bad == 0);
	// --json with stdout: the summary is on stderr, still one JSON line.
	Json c = parse_summary(cons.stderr_text());
	CHECK(c["frames"].u64() == frames);
	CHECK(c["bytes_written"].u64() == frames * size);
	CHECK(c["output_closed"].b == false);
}

TEST_CASE("lossy stdout under a fast producer: every frame written is intact, and "
	  "the summary counts exactly those",
	  "[programs]")
{
	RingGuard guard(unique_name("prog-lossyout"));
	const std::string &name = guard.name;
	const uint64_t total = 20000, size = 64 * 1024;

	// Four slots and a producer at full speed: it laps the consumer all
	// the time, so slots change while (before the fix) their bytes were
	// being written out.
	Proc cons({consumer_path(), "--wait-ring", "20s", "--lossy", "--batch", "4", "--json",
		   name, "stdout"});
	Proc prod({producer_path(), "--frame-size", std::to_string(size), "--slots", "4",
		   "--count", std::to_string(total), "--wait-consumers", "1", "--json", name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(cons.wait(60000) == 0);
	std::string raw = cons.stdout_text();
	Json c = parse_summary(cons.stderr_text());
	REQUIRE(raw.size() % size == 0);
	uint64_t n = raw.size() / size, bad = 0, prev = 0;
	// word 0 of frame s is s * M (mod 2^64): s = word0 * M^-1. Newton's
	// iteration for the inverse of an odd number mod 2^64.
	const uint64_t M = 0x9E3779B97F4A7C15ull;
	uint64_t inv = M;
	for (int i = 0; i < 6; i++)
		inv *= 2 - M * inv;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t w0;
		memcpy(&w0, raw.data() + i * size, 8);
		uint64_t seq = w0 * inv;
		if (seq >= total || (i > 0 && seq <= prev) ||
		    !check_pattern(raw.data() + i * size, size, seq))
			bad++;
		prev = seq;
	}
	INFO("frames written " << n << ", summary frames " << c["frames"].u64() << ", lost "
			       << c["lost"].u64());
	CHECK(bad == 0);
	CHECK(n == c["frames"].u64());
	CHECK(c["frames_written"].u64() == n);
	CHECK(c["bytes_written"].u64() == raw.size());
	CHECK(c["frames"].u64() + c["lost"].u64() == total);
	CHECK(n > 0);
}

TEST_CASE("frames flagged incomplete are counted by every analysis", "[programs]")
{
	RingGuard guard(unique_name("prog-incomplete"));
	const std::string &name = guard.name;
	const uint64_t total = 300;
	rb_ring_config cfg = small_config(256, 512);
	Watch w;
	REQUIRE(rb_ring_create(name.c_str(), &cfg, &w.ring) == 0);
	std::vector<std::unique_ptr<Proc>> cons;
	for (const char *analysis : {"verify", "stats", "null"})
		cons.emplace_back(new Proc({consumer_path(), "--json", name, analysis}));
	cons.emplace_back(new Proc({consumer_path(), "--lossy", "--json", name, "stats"}));
	REQUIRE(w.consumers(4, 10000));
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(w.ring, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "source=test\n") == 0);
	uint64_t flagged = 0;
	for (uint64_t i = 0; i < total; i++) {
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, 5000000000ull) == 0);
		memset(f.data, (int)i, 256);
		f.length = 256;
		f.flags = i % 7 == 3 ? RB_FRAME_INCOMPLETE : 0;
		flagged += i % 7 == 3;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
	REQUIRE(rb_producer_end_stream(p, 5000000000ull) == 0);
	REQUIRE(rb_producer_detach(p, 0) == 0);
	for (auto &c : cons) {
		REQUIRE(c->wait(30000) == 0);
		Json j = c->summary();
		INFO("analysis " << j["analysis"].s() << (j["lossy"].b ? " (lossy)" : ""));
		CHECK(j["frames"].u64() == total);
		CHECK(j["incomplete"].u64() == flagged);
	}
}

TEST_CASE("stdout whose reader went away: the consumer stops cleanly", "[programs]")
{
	RingGuard guard(unique_name("prog-pipe"));
	const std::string &name = guard.name;
	int fds[2];
	REQUIRE(pipe(fds) == 0);
	close(fds[0]); // no reader: the first write fails with EPIPE

	Proc cons({consumer_path(), "--wait-ring", "20s", "--json", name, "stdout"}, fds[1]);
	close(fds[1]);
	Proc prod({producer_path(), "--frame-size", "1KiB", "--slots", "16", "--count", "1000",
		   "--wait-consumers", "1", "--json", name});
	REQUIRE(cons.wait(30000) == 0);
	REQUIRE(prod.wait(30000) == 0); // not held up by the consumer that left
	Json c = parse_summary(cons.stderr_text());
	CHECK(c["end"].s() == "output_closed");
	CHECK(c["output_closed"].b);
	CHECK(c["bytes_written"].u64() == 0);
	CHECK(prod.summary()["frames"].u64() == 1000);
}

// A paced producer and one consumer on `name`, 100 frames into the stream
// once constructed.
struct PacedPair {
	Proc prod, cons;
	Watch w;
	explicit PacedPair(const std::string &name)
	    : prod({producer_path(), "--frame-size", "64", "--slots", "64", "--rate",
		    "2kHz", "--wait-consumers", "1", "--json", name}),
	      cons({consumer_path(), "--wait-ring", "20s", "--json", name})
	{
		REQUIRE(w.open(name, 10000));
		REQUIRE(w.consumers(1, 10000));
		REQUIRE(w.frames(100, 10000));
	}
};

TEST_CASE("SIGINT stops each program cleanly mid-stream", "[programs]")
{
	RingGuard guard(unique_name("prog-sig"));
	const std::string &name = guard.name;

	SECTION("consumer first, then producer")
	{
		PacedPair pair(name);
		Proc &prod = pair.prod, &cons = pair.cons;
		Watch &w = pair.w;

		cons.signal(SIGINT);
		REQUIRE(cons.wait(5000) == 0);
		Json c = cons.summary();
		CHECK(c["end"].s() == "signal");
		CHECK(c["signal"].s() == "SIGINT");
		CHECK(c["frames"].u64() > 0);
		CHECK(c["gaps"].u64() == 0);
		CHECK(c["errors"].u64() == 0);
		CHECK(w.status().consumers == 0); // it detached

		prod.signal(SIGINT);
		REQUIRE(prod.wait(5000) == 0);
		Json p = prod.summary();
		CHECK(p["end"].s() == "signal");
		CHECK(p["frames"].u64() >= 100);
		CHECK(w.status().producer_pid == 0);
		CHECK(w.status().stream_open == 0);
		CHECK_FALSE(shm_exists(name));
	}
	SECTION("producer first: the consumer sees the end of the stream")
	{
		PacedPair pair(name);
		Proc &prod = pair.prod, &cons = pair.cons;

		prod.signal(SIGTERM);
		REQUIRE(prod.wait(5000) == 0);
		REQUIRE(cons.wait(5000) == 0);
		Json p = prod.summary();
		Json c = cons.summary();
		CHECK(p["signal"].s() == "SIGTERM");
		CHECK(c["end"].s() == "eos");
		CHECK(c["frames"].u64() == p["frames"].u64());
		CHECK(c["gaps"].u64() == 0);
		CHECK(c["errors"].u64() == 0);
		CHECK_FALSE(shm_exists(name));
	}
	SECTION("a consumer asleep on an idle ring wakes at once")
	{
		rb_ring_config cfg = small_config(64, 16);
		Watch w;
		REQUIRE(rb_ring_create(name.c_str(), &cfg, &w.ring) == 0);
		Proc cons({consumer_path(), "--json", name});
		REQUIRE(w.consumers(1, 10000));
		uint64_t t0 = now_ms();
		cons.signal(SIGINT);
		REQUIRE(cons.wait(5000) == 0);
		CHECK(now_ms() - t0 < 1000);
		Json c = cons.summary();
		CHECK(c["end"].s() == "signal");
		CHECK(c["frames"].u64() == 0);
		CHECK(w.status().consumers == 0);
	}
	SECTION("a producer blocked on a full ring stops promptly")
	{
		Proc prod({producer_path(), "--frame-size", "64", "--slots", "16",
			   "--wait-consumers", "1", "--json", name});
		Watch w;
		REQUIRE(w.open(name, 10000));
		// A lossless consumer that never reads holds the producer up.
		rb_consumer *stuck = nullptr;
		REQUIRE(rb_consumer_attach(w.ring, nullptr, &stuck) == 0);
		REQUIRE(w.frames(16, 10000));
		uint64_t t0 = now_ms();
		prod.signal(SIGINT);
		int rc = prod.wait(10000);
		rb_consumer_detach(stuck);
		// The stream could not be ended (no slot for the end marker
		// within its 2 s): that is reported, and the ring still goes.
		CHECK(rc == 1);
		CHECK(now_ms() - t0 < 5000);
		CHECK(prod.stderr_text().find("rb-producer: ring '" + name +
					      "': ending the stream") == 0);
		Json p = prod.summary();
		CHECK(p["frames"].u64() == 16);
		CHECK(p["end"].s() == "signal");
		CHECK_FALSE(shm_exists(name));
	}
}

TEST_CASE("a consumer whose producer dies says so and fails", "[programs]")
{
	RingGuard guard(unique_name("prog-dead"));
	const std::string &name = guard.name;

	Proc prod({producer_path(), "--frame-size", "64", "--slots", "64", "--rate", "2kHz",
		   "--wait-consumers", "1", name});
	Proc cons({consumer_path(), "--wait-ring", "20s", "--json", name});
	Watch w;
	REQUIRE(w.open(name, 10000));
	REQUIRE(w.frames(100, 10000));
	prod.signal(SIGKILL);
	REQUIRE(prod.wait(5000) == 128 + SIGKILL);
	REQUIRE(cons.wait(5000) == 1);
	std::string err = cons.stderr_text();
	CHECK(err == "rb-consumer: ring '" + name + "': " + rb_strerror(RB_E_PRODUCER_DEAD) +
			     "; the stream is incomplete\n");
	Json c = cons.summary();
	CHECK(c["end"].s() == "producer_dead");
	CHECK(c["frames"].u64() >= 100);
	CHECK(c["gaps"].u64() == 0);
	CHECK(w.status().consumers == 0);
}

// ---- several producers and consumer groups (issue 6) -----------------------

namespace {

// The producer entry of a verify summary with this id, or null.
const Json *verified_producer(const Json &c, uint64_t id)
{
	for (const Json &p : c["producers"].arr)
		if (p["id"].u64() == id)
			return &p;
	return nullptr;
}

} // namespace

TEST_CASE("two producers, one creating and one attached, into one ring: verify sees "
	  "every frame of each, in order",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-mp"));
	const std::string &name = guard.name;
	const uint64_t each = 30000;

	Proc a({producer_path(), "--max-producers", "2", "--frame-size", "256", "--slots", "64",
		"--count", std::to_string(each), "--wait-consumers", "1", "--json", name});
	Watch w;
	REQUIRE(w.open(name, 10000));
	Proc b({producer_path(), "--attach", "--count", std::to_string(each),
		"--wait-consumers", "1", "--json", name});
	// Both attached before a consumer lets them start: it is owed every frame.
	REQUIRE(eventually([&] { return w.status().producers == 2; }, 10000));
	Proc cons({consumer_path(), "--json", name, "verify"});
	REQUIRE(a.wait(60000) == 0);
	REQUIRE(b.wait(60000) == 0);
	REQUIRE(cons.wait(30000) == 0);

	Json pa = a.summary(), pb = b.summary();
	CHECK(pa["created"].b);
	CHECK_FALSE(pb["created"].b);
	CHECK(pa["max_producers"].u64() == 2);
	CHECK(pb["max_producers"].u64() == 2);
	CHECK(pa["frames"].u64() == each);
	CHECK(pb["frames"].u64() == each);
	CHECK(pb["frame_bytes"].u64() == 256); // an attached counter fills the slots
	CHECK(a.stderr_text().empty());
	CHECK(b.stderr_text().empty());

	Json c = cons.summary();
	INFO(cons.stdout_text());
	CHECK(c["frames"].u64() == 2 * each);
	CHECK(c["checked_frames"].u64() == 2 * each);
	CHECK(c["gaps"].u64() == 0);
	CHECK(c["errors"].u64() == 0);
	CHECK(c["abandoned"].u64() == 0);
	CHECK(c["end"].s() == "eos");
	CHECK(c["header"]["counter_layout"].s() == "tagged");
	CHECK(c["tagged"].b);
	REQUIRE(c["producers"].arr.size() == 2);
	for (const Json *p : {&pa, &pb}) {
		const Json *v = verified_producer(c, (*p)["pid"].u64());
		REQUIRE(v != nullptr);
		CHECK((*v)["frames"].u64() == each);
		CHECK((*v)["first_number"].u64() == 0);
		CHECK((*v)["last_number"].u64() == each - 1);
		CHECK((*v)["gaps"].u64() == 0);
	}
	// Frames of both producers and one end marker: every seq accounted for.
	rb_ring_status st = w.status();
	CHECK(st.write_seq - st.initial_seq == 2 * each + 1);
	CHECK(st.frames_abandoned == 0);
	CHECK(c["next_seq"].u64() == st.write_seq);
	// The creator removed the name; the watch still maps the ring.
	CHECK_FALSE(shm_exists(name));
}

TEST_CASE("a producer that dies holding frames: they are reported abandoned, the "
	  "other producer's stream flows on and ends",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-abandon"));
	const std::string &name = guard.name;
	const uint64_t total = 3000, frame = 256;

	Proc cons({consumer_path(), "--wait-ring", "20s", "--json", name, "verify"});
	Proc prod({producer_path(), "--max-producers", "2", "--frame-size", std::to_string(frame),
		   "--slots", "64", "--rate", "5kHz", "--count", std::to_string(total),
		   "--wait-consumers", "1", "--json", name});
	Watch w;
	REQUIRE(w.open(name, 10000));
	REQUIRE(w.frames(10, 10000)); // the stream is open and flowing

	// A second producer joins the stream, commits one tagged counter frame
	// (written by the layout rb-producer documents), acquires two more and
	// dies without committing them.
	Child dying;
	spawn(dying, [&] {
		rb_ring *ring = nullptr;
		rb_producer *p = nullptr;
		rb_frame f;
		if (rb_ring_open(name.c_str(), &ring) != 0 ||
		    rb_producer_attach(ring, nullptr, &p) != 0 ||
		    rb_producer_begin_stream(p, "source=counter\n") != 0 ||
		    rb_producer_acquire(p, &f, 5000000000ull) != 0)
			return 1;
		uint64_t id = (uint64_t)getpid(), number = 0;
		memcpy(f.data, &id, 8);
		memcpy((char *)f.data + 8, &number, 8);
		fill_pattern((char *)f.data + 16, frame - 16, f.seq);
		f.length = frame;
		f.flags = 0;
		if (rb_producer_commit(p, &f) != 0)
			return 2;
		for (int i = 0; i < 2; i++)
			if (rb_producer_acquire(p, &f, 5000000000ull) != 0)
				return 3;
		return 0; // _exit: dies holding two slots
	});
	const uint64_t dying_pid = (uint64_t)dying.pid;
	REQUIRE(dying.wait(10000) == 0);
	REQUIRE(prod.wait(30000) == 0);
	REQUIRE(cons.wait(30000) == 0);

	Json p = prod.summary();
	CHECK(p["frames"].u64() == total);
	Json c = cons.summary();
	INFO(cons.stdout_text() << cons.stderr_text());
	CHECK(c["frames"].u64() == total + 1);
	CHECK(c["abandoned"].u64() == 2);
	CHECK(c["gaps"].u64() == 0);
	CHECK(c["errors"].u64() == 0);
	CHECK(c["end"].s() == "eos");
	REQUIRE(c["producers"].arr.size() == 2);
	const Json *mine = verified_producer(c, p["pid"].u64());
	const Json *theirs = verified_producer(c, dying_pid);
	REQUIRE(mine != nullptr);
	REQUIRE(theirs != nullptr);
	CHECK((*mine)["frames"].u64() == total);
	CHECK((*mine)["gaps"].u64() == 0);
	CHECK((*theirs)["frames"].u64() == 1);
	// frames + abandoned + the end marker = every seq the ring handed out.
	rb_ring_status st = w.status();
	CHECK(st.frames_abandoned == 2);
	CHECK(st.write_seq - st.initial_seq == total + 1 + 2 + 1);
	CHECK(c["next_seq"].u64() == st.write_seq);
}

TEST_CASE("--attach refuses frames that do not match the ring or its stream",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-mpbad"));
	const std::string &name = guard.name;
	const char *P = "rb-producer";

	SECTION("a tagged counter frame needs room for its tag")
	{
		Proc small({producer_path(), "--max-producers", "2", "--frame-size", "8", name});
		REQUIRE(small.wait(5000) == 2);
		check_one_error_line(small, P, "too small");
		CHECK_FALSE(shm_exists(name));
	}
	SECTION("a typed ring takes frames of its type only")
	{
		Proc adc({producer_path(), "--max-producers", "2", "--source", "adc", "--channels",
			  "2", "--samples", "16", "--slots", "16", "--keep", "--count", "1", name});
		REQUIRE(adc.wait(10000) == 0);
		Proc counter({producer_path(), "--attach", "--frame-size", "64", name});
		REQUIRE(counter.wait(5000) == 1);
		check_one_error_line(counter, P, "the ring's frames are i16 16x2");
		Proc wide({producer_path(), "--attach", "--source", "adc", "--channels", "1",
			   "--samples", "16", name});
		REQUIRE(wide.wait(5000) == 1);
		check_one_error_line(wide, P, "i16 16x1");
	}
	SECTION("an untyped ring's open stream sets the source and frame size")
	{
		// 4096 slots at 1 kHz and no consumer: nothing waits, the stream
		// stays open until the signal.
		Proc a({producer_path(), "--max-producers", "3", "--frame-size", "256", "--slots",
			"4096", "--rate", "1kHz", name});
		Watch w;
		REQUIRE(w.open(name, 10000));
		REQUIRE(w.frames(1, 10000));
		Proc size({producer_path(), "--attach", "--frame-size", "128", name});
		REQUIRE(size.wait(5000) == 1);
		// An untyped frame's shape is its size.
		check_one_error_line(size, P, "shape=256, this producer's frames shape=128");
		Proc cam({producer_path(), "--attach", "--source", "camera", "--width", "8",
			  "--height", "8", name});
		REQUIRE(cam.wait(5000) == 1);
		check_one_error_line(cam, P, "source=counter");
		CHECK(w.status().producers == 1); // neither stayed attached
		a.signal(SIGINT);
		REQUIRE(a.wait(5000) == 0);
	}
	SECTION("a ring for one producer says how to make one for several")
	{
		Proc a({producer_path(), "--frame-size", "64", "--slots", "4096", "--rate", "1kHz",
			name});
		Watch w;
		REQUIRE(w.open(name, 10000));
		REQUIRE(w.frames(1, 10000));
		Proc b({producer_path(), "--attach", name});
		REQUIRE(b.wait(5000) == 1);
		check_one_error_line(b, P, "--max-producers");
		a.signal(SIGINT);
		REQUIRE(a.wait(5000) == 0);
	}
	SECTION("--attach --wait-ring waits for the ring to appear")
	{
		Proc late({producer_path(), "--attach", "--wait-ring", "100ms", name});
		REQUIRE(late.wait(5000) == 1);
		check_one_error_line(late, P, "waited");
		Proc bad({producer_path(), "--wait-ring", "1s", name});
		REQUIRE(bad.wait(5000) == 2);
		check_one_error_line(bad, P, "only with --attach");
	}
}

TEST_CASE("two group members and a plain consumer: the members share the frames, "
	  "the plain one sees them all",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-group"));
	const std::string &name = guard.name;
	const uint64_t total = 20000;

	// Small batches and a little work per frame, so that both members get
	// a share while the other is busy.
	std::vector<std::string> member = {consumer_path(), "--wait-ring", "20s", "--group",
					   "workers", "--batch", "8", "--delay-per-frame",
					   "10us", "--json", name};
	std::vector<std::string> m1 = member, m2 = member;
	m1.push_back("verify");
	m2.push_back("stats");
	Proc one(m1), two(m2);
	Proc plain({consumer_path(), "--wait-ring", "20s", "--json", name, "verify"});
	Proc prod({producer_path(), "--frame-size", "256", "--slots", "64", "--count",
		   std::to_string(total), "--wait-consumers", "3", "--json", name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(one.wait(30000) == 0);
	REQUIRE(two.wait(30000) == 0);
	REQUIRE(plain.wait(30000) == 0);

	Json a = one.summary(), b = two.summary(), c = plain.summary();
	INFO(one.stdout_text() << two.stdout_text());
	CHECK(a["frames"].u64() + b["frames"].u64() == total);
	CHECK(a["frames"].u64() > 0);
	CHECK(b["frames"].u64() > 0);
	CHECK(c["frames"].u64() == total);
	CHECK(c["gaps"].u64() == 0);
	CHECK(c["errors"].u64() == 0);
	CHECK(c["group"].kind == Json::Null);
	// A member's verify: intact and in order, not contiguous.
	CHECK(a["errors"].u64() == 0);
	CHECK(a["gaps"].u64() == 0);
	CHECK(a["checked_frames"].u64() == a["frames"].u64());
	CHECK(b["stats"]["frames"].u64() == b["frames"].u64());
	for (const Json *j : {&a, &b}) {
		const Json &g = (*j)["group"];
		CHECK(g["name"].s() == "workers");
		CHECK_FALSE(g["lossy"].b);
		CHECK((*j)["end"].s() == "eos");
		CHECK((*j)["lost"].u64() == 0);
		// Every seq handed out once: frames, then the end marker.
		CHECK(g["claim_seq"].u64() - g["start_seq"].u64() == total + 1);
		CHECK(g["markers"].u64() == 1);
		CHECK(g["lost"].u64() == 0);
	}
	// Each took its snapshot before leaving, so it counts itself (1 or 2
	// members). Both may look before either leaves (2 + 2: seen under
	// load); both seeing 1 is impossible, since the first to look had not
	// left yet when the second left. A member that saw itself alone saw
	// the other's frames as departed.
	uint64_t ma = a["group"]["members"].u64(), mb = b["group"]["members"].u64();
	CHECK(ma >= 1);
	CHECK(ma <= 2);
	CHECK(mb >= 1);
	CHECK(mb <= 2);
	CHECK(ma + mb >= 3);
	if (ma == 1)
		CHECK(a["group"]["frames_departed"].u64() == b["frames"].u64());
	if (mb == 1)
		CHECK(b["group"]["frames_departed"].u64() == a["frames"].u64());
}

TEST_CASE("lossy stats --per-frame: a line for each frame counted received, none for "
	  "the lost",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-lossylines"));
	const std::string &name = guard.name;
	const uint64_t total = 20000;

	// The delay runs between the analysis and the release, so frames the
	// stats check found intact are lapped before the release counts them:
	// those must not be reported.
	std::vector<std::string> plain = {consumer_path(), "--wait-ring", "20s", "--lossy",
					  "--batch", "8", "--delay-per-frame", "20us",
					  "--per-frame", "--json", name, "stats"};
	std::vector<std::string> member = plain;
	member.insert(member.begin() + 1, {"--group", "g"});
	Proc a(plain), b(member);
	Proc prod({producer_path(), "--frame-size", "64", "--slots", "16", "--count",
		   std::to_string(total), "--wait-consumers", "2", "--json", name});
	REQUIRE(prod.wait(60000) == 0);
	REQUIRE(a.wait(30000) == 0);
	REQUIRE(b.wait(30000) == 0);
	for (Proc *p : {&a, &b}) {
		std::string text = p->stdout_text();
		std::vector<std::string> lines;
		for (size_t pos = 0, next; (next = text.find('\n', pos)) != std::string::npos;
		     pos = next + 1)
			lines.push_back(text.substr(pos, next - pos + 1));
		REQUIRE(!lines.empty());
		Json sum = parse_summary(lines.back());
		lines.pop_back();
		INFO("summary: " << sum["frames"].u64() << " frames, " << sum["lost"].u64()
				 << " lost, " << lines.size() << " per-frame lines");
		CHECK(lines.size() == sum["frames"].u64());
		CHECK(sum["stats"]["frames"].u64() == sum["frames"].u64());
		CHECK(sum["frames"].u64() + sum["lost"].u64() == total);
		uint64_t prev = 0;
		bool first = true;
		for (const std::string &l : lines) {
			uint64_t seq = parse_summary(l)["seq"].u64();
			CHECK((first || seq > prev));
			prev = seq;
			first = false;
		}
	}
}

TEST_CASE("group members verify a stream of two producers: each frame once, intact, "
	  "in each producer's order",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-mpgroup"));
	const std::string &name = guard.name;
	const uint64_t each = 10000;

	std::vector<std::string> member = {consumer_path(), "--wait-ring", "20s", "--group",
					   "share", "--batch", "4", "--delay-per-frame", "5us",
					   "--json", name, "verify"};
	Proc one(member), two(member);
	Proc a({producer_path(), "--max-producers", "2", "--frame-size", "128", "--slots", "32",
		"--count", std::to_string(each), "--wait-consumers", "2", "--json", name});
	Watch w;
	REQUIRE(w.open(name, 10000));
	Proc b({producer_path(), "--attach", "--count", std::to_string(each),
		"--wait-consumers", "2", "--json", name});
	REQUIRE(a.wait(60000) == 0);
	REQUIRE(b.wait(60000) == 0);
	REQUIRE(one.wait(30000) == 0);
	REQUIRE(two.wait(30000) == 0);

	Json pa = a.summary(), pb = b.summary(), m1 = one.summary(), m2 = two.summary();
	INFO(one.stdout_text() << two.stdout_text());
	CHECK(m1["frames"].u64() + m2["frames"].u64() == 2 * each);
	for (const Json *m : {&m1, &m2}) {
		CHECK((*m)["errors"].u64() == 0);
		CHECK((*m)["gaps"].u64() == 0);
		CHECK((*m)["end"].s() == "eos");
		CHECK((*m)["checked_frames"].u64() == (*m)["frames"].u64());
	}
	// Between them the members got every frame of each producer once.
	for (const Json *p : {&pa, &pb}) {
		uint64_t got = 0;
		for (const Json *m : {&m1, &m2}) {
			const Json *v = verified_producer(*m, (*p)["pid"].u64());
			if (v != nullptr) {
				got += (*v)["frames"].u64();
				CHECK((*v)["last_number"].u64() < each);
			}
		}
		CHECK(got == each);
	}
}

TEST_CASE("a group is joined in its own mode; bad group names are refused",
	  "[programs][mpmc]")
{
	RingGuard guard(unique_name("prog-gmode"));
	const std::string &name = guard.name;
	rb_ring_config cfg = small_config(64, 16);
	Watch w;
	REQUIRE(rb_ring_create(name.c_str(), &cfg, &w.ring) == 0);

	Proc member({consumer_path(), "--group", "g1", "--duration", "20s", "--json", name});
	REQUIRE(w.consumers(1, 10000));
	Proc lossy({consumer_path(), "--group", "g1", "--lossy", name});
	REQUIRE(lossy.wait(5000) == 1);
	check_one_error_line(lossy, "rb-consumer", "group 'g1'");
	member.signal(SIGINT);
	REQUIRE(member.wait(5000) == 0);
	Json m = member.summary();
	CHECK(m["group"]["name"].s() == "g1");
	CHECK(m["frames"].u64() == 0);

	for (const char *bad : {"", ".hidden", "a/b", "a-name-much-longer-than-31-bytes"}) {
		INFO(bad);
		Proc p({consumer_path(), "--group", bad, name});
		REQUIRE(p.wait(5000) == 2);
		check_one_error_line(p, "rb-consumer", "not a valid group name");
	}
}

TEST_CASE("stop conditions: --duration, --count, --start", "[programs]")
{
	RingGuard guard(unique_name("prog-stop"));
	const std::string &name = guard.name;

	SECTION("a paced producer runs for its duration; a consumer stops at its count")
	{
		Proc cons({consumer_path(), "--wait-ring", "20s", "--count", "100", "--json", name});
		Proc prod({producer_path(), "--frame-size", "64", "--rate", "1kHz", "--duration",
			   "300ms", "--wait-consumers", "1", "--json", name});
		REQUIRE(prod.wait(10000) == 0);
		REQUIRE(cons.wait(10000) == 0);
		Json p = prod.summary();
		CHECK(p["end"].s() == "duration");
		// Deadlines at 0, 1, ... 299 ms: at most 300 frames, fewer only
		// if the machine stalled us at the very end.
		CHECK(p["frames"].u64() <= 300);
		CHECK(p["frames"].u64() >= 100);
		CHECK(p["seconds"].d() >= 0.3);
		CHECK(p["seconds"].d() < 2.0); // generous: a loaded machine

		Json c = cons.summary();
		CHECK(c["end"].s() == "count");
		CHECK(c["frames"].u64() == 100);
	}
	SECTION("a consumer's duration ends a wait on an idle ring")
	{
		rb_ring_config cfg = small_config(64, 16);
		Watch w;
		REQUIRE(rb_ring_create(name.c_str(), &cfg, &w.ring) == 0);
		uint64_t t0 = now_ms();
		Proc cons({consumer_path(), "--duration", "200ms", "--json", name});
		REQUIRE(cons.wait(5000) == 0);
		CHECK(now_ms() - t0 >= 200);
		CHECK(cons.summary()["end"].s() == "duration");
	}
	SECTION("--start next and newest skip what is already in the ring")
	{
		// 4096 slots at 1 kHz: nothing is overwritten during the test.
		Proc prod({producer_path(), "--frame-size", "64", "--slots", "4096", "--rate",
			   "1kHz", name});
		Watch w;
		REQUIRE(w.open(name, 10000));
		REQUIRE(w.frames(50, 10000));
		Proc next({consumer_path(), "--start", "next", "--count", "20", "--json", name});
		Proc newest({consumer_path(), "--start", "newest", "--count", "20", "--json",
			     name});
		Proc oldest({consumer_path(), "--start", "oldest", "--count", "20", "--json",
			     name});
		REQUIRE(next.wait(10000) == 0);
		REQUIRE(newest.wait(10000) == 0);
		REQUIRE(oldest.wait(10000) == 0);
		prod.signal(SIGINT);
		REQUIRE(prod.wait(5000) == 0);
		Json a = next.summary(), b = newest.summary(), c = oldest.summary();
		CHECK(a["first_seq"].u64() >= 50);
		CHECK(b["first_seq"].u64() >= 49);
		CHECK(c["first_seq"].u64() == 0); // the ring's first frame is still there
		for (const Json *j : {&a, &b, &c}) {
			CHECK((*j)["frames"].u64() == 20);
			CHECK((*j)["last_seq"].u64() == (*j)["first_seq"].u64() + 19);
			CHECK((*j)["gaps"].u64() == 0);
		}
	}
}

TEST_CASE("units people write are accepted", "[programs]")
{
	RingGuard guard(unique_name("prog-units"));
	const std::string &name = guard.name;
	const std::vector<std::vector<std::string>> cases = {
		{"--frame-size", "4KiB", "--rate", "10kHz"},
		{"--frame-size", "1MB", "--slots", "4", "--rate", "50GB/s"},
		{"--frame-size", "64", "--rate", "500MiB/s"},
		{"--frame-size", "1KiB", "--rate", "2GB/s"},
		{"--frame-size", "64", "--rate", "5000fps"},
		{"--frame-size", "64", "--rate", "5000"},
		{"--frame-size", "1.5KiB", "--rate", "max", "--duration", "2m"},
		{"--frame-size", "64", "--duration", "30s", "--rate", "1MHz"},
	};
	for (const auto &extra : cases) {
		std::vector<std::string> args = {producer_path(), "--count", "1k", "--json"};
		args.insert(args.end(), extra.begin(), extra.end());
		args.push_back(name);
		Proc p(args);
		std::string shown;
		for (const std::string &a : extra)
			shown += a + " ";
		INFO(shown);
		REQUIRE(p.wait(20000) == 0);
		Json j = p.summary();
		CHECK(j["frames"].u64() == 1000);
		if (extra[1] == "1.5KiB")
			CHECK(j["frame_bytes"].u64() == 1536);
		if (extra[1] == "1MB")
			CHECK(j["frame_bytes"].u64() == 1000000);
	}
	// A rate in bytes/s paces frames: 64 KiB/s of 1 KiB frames is 64/s.
	Proc paced({producer_path(), "--frame-size", "1KiB", "--rate", "64KiB/s", "--count",
		    "9", "--json", name});
	REQUIRE(paced.wait(10000) == 0);
	// Frame 8 is due 8/64 s after the first; a loaded machine only adds.
	double secs = paced.summary()["seconds"].d();
	CHECK(secs >= 8.0 / 64);
	CHECK(secs < 2.0);
	CHECK_FALSE(shm_exists(name));
}

TEST_CASE("bad inputs: one clear line, a non-zero exit, nothing left behind",
	  "[programs]")
{
	RingGuard guard(unique_name("prog-bad"));
	const std::string &name = guard.name;
	const char *P = "rb-producer", *C = "rb-consumer";

	SECTION("unknown ring")
	{
		Proc c({consumer_path(), name});
		REQUIRE(c.wait(5000) == 1);
		check_one_error_line(c, C, "no such ring");
		Proc w({consumer_path(), "--wait-ring", "100ms", name});
		REQUIRE(w.wait(5000) == 1);
		check_one_error_line(w, C, "no such ring");
		Proc a({producer_path(), "--attach", name});
		REQUIRE(a.wait(5000) == 1);
		check_one_error_line(a, P, "no such ring");
	}
	SECTION("bad units and options")
	{
		const std::vector<std::pair<std::vector<std::string>, const char *>> cases = {
			{{producer_path(), "--rate", "10parsecs", name}, "10parsecs"},
			{{producer_path(), "--frame-size", "4KB/s", name}, "--frame-size"},
			{{producer_path(), "--duration", "soon", name}, "--duration"},
			{{producer_path(), "--count", "1.5", name}, "--count"},
			{{producer_path(), "--on-full", "explode", name}, "--on-full"},
			{{producer_path(), "--source", "telescope", name}, "telescope"},
			{{producer_path(), "--bogus", name}, "--bogus"},
			{{producer_path(), "--rate"}, "--rate"},
			{{producer_path()}, "RING"},
			{{producer_path(), "--attach", "--slots", "16", name}, "--slots"},
			{{consumer_path(), "--duration", "5parsecs", name}, "5parsecs"},
			{{consumer_path(), "--start", "middle", name}, "--start"},
			{{consumer_path(), name, "astrology"}, "astrology"},
			{{consumer_path(), "--batch", "0", name}, "--batch"},
			{{consumer_path()}, "RING"},
			{{consumer_path(), "no/slashes"}, "not a valid ring name"},
			{{producer_path(), ".hidden"}, "not a valid ring name"},
		};
		for (const auto &c : cases) {
			Proc p(c.first);
			INFO((c.first.size() > 1 ? c.first[1] : std::string("(no arguments)")));
			REQUIRE(p.wait(5000) == 2);
			bool producer = c.first[0] == producer_path();
			check_one_error_line(p, producer ? P : C, c.second);
		}
		CHECK_FALSE(shm_exists(name));
	}
	SECTION("bad ring geometry and a frame too big for the ring")
	{
		Proc zero({producer_path(), "--slots", "0", name});
		REQUIRE(zero.wait(5000) == 2);
		check_one_error_line(zero, P, "--slots");
		Proc huge({producer_path(), "--slots", "2G", name});
		REQUIRE(huge.wait(5000) == 2);
		check_one_error_line(huge, P, "--slots");
		Proc small({producer_path(), "--source", "adc", "--frame-size", "1KiB", name});
		REQUIRE(small.wait(5000) == 2);
		check_one_error_line(small, P, "frame too big");
		CHECK_FALSE(shm_exists(name));

		rb_ring_config cfg = small_config(64, 16);
		Watch w;
		REQUIRE(rb_ring_create(name.c_str(), &cfg, &w.ring) == 0);
		Proc big({producer_path(), "--attach", "--frame-size", "128", name});
		REQUIRE(big.wait(5000) == 1);
		check_one_error_line(big, P, "frame too big");
		Proc cam({producer_path(), "--attach", "--source", "camera", "--width", "8",
			  "--height", "8", name});
		REQUIRE(cam.wait(5000) == 1);
		check_one_error_line(cam, P, "frame too big");
		Proc exists({producer_path(), name});
		REQUIRE(exists.wait(5000) == 1);
		check_one_error_line(exists, P, "exists with no producer attached: use --attach");
		CHECK(w.status().producer_pid == 0); // nobody stayed attached
	}
	SECTION("a slot count that is not a power of two is rounded up, with a note")
	{
		Proc p({producer_path(), "--slots", "100", "--count", "1", "--json", name});
		REQUIRE(p.wait(5000) == 0);
		CHECK(p.summary()["slots"].u64() == 128);
		CHECK(p.stderr_text().find("rb-producer: note: --slots 100 rounded up to 128") == 0);
	}
	SECTION("a foreign segment is not taken for a ring")
	{
		int fd = open(shm_path(name).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
		REQUIRE(fd >= 0);
		std::vector<char> junk(8192);
		for (size_t i = 0; i < junk.size(); i++)
			junk[i] = (char)(i * 131 + 7);
		REQUIRE(write(fd, junk.data(), junk.size()) == (ssize_t)junk.size());
		close(fd);
		Proc c({consumer_path(), name});
		REQUIRE(c.wait(5000) == 1);
		check_one_error_line(c, C, "not a ringbuf ring");
		Proc p({producer_path(), "--attach", name});
		REQUIRE(p.wait(5000) == 1);
		check_one_error_line(p, P, "not a ringbuf ring");
		Proc s({consumer_path(), "--wait-ring", "1s", name, "stats"});
		REQUIRE(s.wait(5000) == 1);
		check_one_error_line(s, C, "not a ringbuf ring");
	}
	SECTION("a corrupted ring header is reported as such")
	{
		rb_ring_config cfg = small_config(64, 16);
		rb_ring *ring = nullptr;
		REQUIRE(rb_ring_create(name.c_str(), &cfg, &ring) == 0);
		rb_ring_close(ring);
		int fd = open(shm_path(name).c_str(), O_RDWR);
		REQUIRE(fd >= 0);
		uint64_t frame_bytes = 65; // offset 24: covered by the checksum
		REQUIRE(pwrite(fd, &frame_bytes, sizeof(frame_bytes), 24) == 8);
		close(fd);
		Proc c({consumer_path(), name});
		REQUIRE(c.wait(5000) == 1);
		check_one_error_line(c, C, "corrupt");
	}
}
