// Every option value a program cannot honour exactly is refused before
// anything runs: exit 2, one line naming the option and the text. These
// are the cases that used to slip through (a list with an empty item ran
// the benchmark without it; a ring too small for 4 slots was silently
// enlarged and reported at the size asked for).
#include "program_support.hpp"

#include <catch2/catch.hpp>

#include <cstring>

using namespace rbt;

namespace {

void check_usage_error(Proc &p, const char *prog, const char *needle)
{
	std::string err = p.stderr_text();
	INFO("stderr: " << err);
	CHECK(p.status == 2);
	CHECK(p.stdout_text().empty());
	REQUIRE(!err.empty());
	CHECK(err.find('\n') == err.size() - 1);
	CHECK(err.compare(0, strlen(prog) + 2, std::string(prog) + ": ") == 0);
	CHECK(err.find(needle) != std::string::npos);
}

} // namespace

TEST_CASE("rb-bench refuses lists with empty items and rings that cannot hold 4 slots",
	  "[options]")
{
	const std::string bench = program("tools/bench/rb-bench");
	const std::vector<std::pair<std::vector<std::string>, const char *>> cases = {
		{{"-z", "64B,,4KiB"}, "--sizes: '64B,,4KiB'"},
		{{"-z", ",64"}, "--sizes: ',64'"},
		{{"-z", "64,"}, "--sizes: '64,'"},
		{{"--scale-sizes", "64,,1MiB"}, "--scale-sizes: '64,,1MiB'"},
		{{"--modes", "touch,"}, "--modes: 'touch,'"},
		{{"--suite", ",cost"}, "--suite: ',cost'"},
		{{"--api", "frame,,batch"}, "--api: 'frame,,batch'"},
		{{"-r", "1B"}, "--ring-bytes: '1B' holds fewer than 4 slots"},
		{{"-r", "1MiB", "-z", "1MiB"}, "--ring-bytes: '1MiB' holds fewer than 4 slots"},
		{{"-z", "16MiB", "-r", "32MiB"}, "--ring-bytes: '32MiB' holds fewer than 4 slots"},
		{{"-r", "100GiB"}, "--ring-bytes: '100GiB'"},
		{{"-r", "0"}, "--ring-bytes: '0'"},
	};
	for (const auto &c : cases) {
		std::vector<std::string> args = {bench, "--quick"};
		args.insert(args.end(), c.first.begin(), c.first.end());
		INFO("args: " << c.first[0] << " " << c.first[1]);
		Proc p(args);
		REQUIRE(p.wait(10000) == 2);
		check_usage_error(p, "rb-bench", c.second);
	}
	// The boundary: exactly 4 slots of the largest frame is a ring. The
	// cost suite alone, for 1 ms, keeps this a parse check.
	Proc ok({bench, "--quick", "--suite", "cost", "--cost-time", "1ms", "-z", "64",
		 "--scale-sizes", "64", "-r", "256B"});
	CHECK(ok.wait(60000) == 0);
	INFO("stderr: " << ok.stderr_text());
}
