// Issue 13 end to end, with the real programs: every frame with its own
// stream's header, and drops at the producer visible in every consumer's
// summary (layout 4: FORMAT.md §5.13, §5.22, §5.23).
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <csignal>
#include <string>

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
