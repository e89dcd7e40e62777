// Every option value a program cannot honour exactly is refused before
// anything runs: exit 2, one line naming the option and the text. These
// are the cases that used to slip through (a list with an empty item ran
// the benchmark without it; a ring too small for 4 slots was silently
// enlarged and reported at the size asked for).
#include "program_support.hpp"

#include <catch2/catch.hpp>

#include <cstring>

#include <unistd.h>

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

// --start and --group are parsed by one function each (tools/cli/options.c:
// cli_parse_start, cli_group_name_valid via cli_option_group), for
// rb-consumer and rb-bridge send alike: the same refusals, word for word.
TEST_CASE("rb-consumer and rb-bridge send refuse the same --start and --group values",
	  "[options]")
{
	const std::string long_group(RB_GROUP_NAME_MAX + 1, 'g');
	const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
		{{"--start", "first"}, "--start: 'first'"},
		{{"--start", ""}, "--start: ''"},
		{{"--start", "Oldest"}, "--start: 'Oldest'"},
		{{"--group", ".hidden"}, "--group: '.hidden': not a valid group name"},
		{{"--group", "a/b"}, "--group: 'a/b': not a valid group name"},
		{{"--group", ""}, "--group: '': not a valid group name"},
		{{"-g", long_group}, "-g: '" + long_group + "': not a valid group name"},
	};
	std::vector<std::pair<std::string, std::vector<std::string>>> programs = {
		{"rb-consumer", {program("consumer/rb-consumer")}},
	};
	const std::string bridge = program("bridge/rb-bridge");
	if (access(bridge.c_str(), X_OK) == 0)
		programs.push_back({"rb-bridge", {bridge, "send"}});
	else
		WARN("rb-bridge not built (no libzmq): only rb-consumer checked");
	for (const auto &prog : programs) {
		for (const auto &c : cases) {
			std::vector<std::string> args = prog.second;
			args.insert(args.end(), c.first.begin(), c.first.end());
			args.push_back("rb-test-options-ring");
			args.push_back(prog.first == "rb-bridge" ? ":5999" : "null");
			INFO(prog.first << " " << c.first[0] << " '" << c.first[1] << "'");
			Proc p(args);
			REQUIRE(p.wait(10000) == 2);
			check_usage_error(p, prog.first.c_str(), c.second.c_str());
		}
	}
	// The accepted words reach the ring: a missing ring, not bad usage.
	for (const char *word : {"oldest", "newest", "next"}) {
		Proc p({program("consumer/rb-consumer"), "--start", word, "-g", "share.1_x-",
			"rb-test-options-no-such-ring", "null"});
		CHECK(p.wait(10000) == 1);
	}
}
