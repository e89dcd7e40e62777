// What an operator meets first (issue 17): a stale ring says whose it was
// and what to do, a missing ring hints at --wait-ring, Ctrl-C during
// --wait-ring says it interrupted the wait, and rb-producer's file-mode
// option is --group-access (the old --group still works, with a warning).
// The real programs run as children (fork + execv); every wait is bounded.
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <cstring>
#include <fstream>
#include <signal.h>
#include <string>
#include <sys/stat.h>

using namespace rbt;

namespace {

std::string ctl_path() { return program("tools/ctl/rb-ctl"); }

// True once the process is the program `comm` (exec done: before it, the
// forked child has this test's own handlers) and has a handler for sig
// (SigCgt in /proc/PID/status): a signal sent from then on reaches the
// program's handler, not the default action.
bool catches(pid_t pid, const char *comm, int sig)
{
	std::ifstream in("/proc/" + std::to_string(pid) + "/status");
	std::string line;
	bool named = false;
	while (std::getline(in, line)) {
		if (line.compare(0, 5, "Name:") == 0)
			named = line.find(comm) != std::string::npos;
		if (line.compare(0, 7, "SigCgt:") == 0)
			return named && ((std::stoull(line.substr(7), nullptr, 16) >> (sig - 1)) & 1);
	}
	return false;
}

mode_t ring_mode(const std::string &name)
{
	struct stat st;
	if (stat(("/dev/shm/rb-" + name).c_str(), &st) != 0)
		return 0;
	return st.st_mode & 0777;
}

} // namespace

TEST_CASE("creating over a ring whose producer died names the pid and the way out",
	  "[ops]")
{
	RingGuard guard(unique_name("ops-stale"));
	const std::string &name = guard.name;
	Proc first({producer_path(), "--rate", "100", name});
	Watch w;
	REQUIRE(w.open(name, 10000));
	REQUIRE(eventually([&] { return w.status().producers == 1; }, 10000));
	pid_t dead = first.child.pid;
	first.signal(SIGKILL);
	REQUIRE(first.wait(10000) == 128 + SIGKILL);
	REQUIRE(shm_exists(name)); // killed: nobody removed it

	Proc again({producer_path(), "--count", "1", name});
	REQUIRE(again.wait(10000) == 1);
	std::string err = again.stderr_text();
	INFO("stderr: " << err);
	CHECK(err == "rb-producer: ring '" + name + "' exists; its producer (pid " +
			     std::to_string(dead) +
			     ") is dead: use --replace, or rb-ctl clean\n");

	// And the way out it names works.
	Proc replace({producer_path(), "--replace", "--count", "1", name});
	CHECK(replace.wait(10000) == 0);
}

TEST_CASE("creating over a ring whose producer is alive says so", "[ops]")
{
	RingGuard guard(unique_name("ops-live"));
	const std::string &name = guard.name;
	Proc first({producer_path(), "--rate", "100", name});
	Watch w;
	REQUIRE(w.open(name, 10000));
	REQUIRE(eventually([&] { return w.status().producers == 1; }, 10000));

	Proc again({producer_path(), "--count", "1", name});
	REQUIRE(again.wait(10000) == 1);
	std::string err = again.stderr_text();
	INFO("stderr: " << err);
	CHECK(err.find("exists; its producer (pid " + std::to_string(first.child.pid) +
		       ") is alive: use --attach") != std::string::npos);
	first.signal(SIGTERM);
	CHECK(first.wait(10000) == 0);
}

TEST_CASE("rb-consumer on a missing ring hints at --wait-ring", "[ops]")
{
	std::string name = unique_name("ops-missing");
	Proc c({consumer_path(), name, "null"});
	REQUIRE(c.wait(10000) == 1);
	std::string err = c.stderr_text();
	INFO("stderr: " << err);
	CHECK(err.find("ring '" + name + "'") == 13); // after "rb-consumer: "
	CHECK(err.find("--wait-ring TIME waits for it to appear") != std::string::npos);
	CHECK(std::count(err.begin(), err.end(), '\n') == 1);
}

TEST_CASE("SIGINT during --wait-ring says the wait was interrupted", "[ops]")
{
	std::string name = unique_name("ops-wait");
	struct Case {
		std::vector<std::string> args;
		const char *prog;
	} cases[] = {
		{{consumer_path(), "--wait-ring", "60s", name, "null"}, "rb-consumer"},
		{{producer_path(), "--attach", "--wait-ring", "60s", name}, "rb-producer"},
	};
	for (const Case &k : cases) {
		INFO(k.prog);
		Proc p(k.args);
		REQUIRE(eventually([&] { return catches(p.child.pid, k.prog, SIGINT); }, 10000));
		p.signal(SIGINT);
		// The documented status of a signal: 0 ("stopped by a signal").
		CHECK(p.wait(10000) == 0);
		std::string err = p.stderr_text();
		INFO("stderr: " << err);
		CHECK(err.find(std::string(k.prog) + ": ring '" + name +
			       "': interrupted while waiting for it to appear (--wait-ring)\n") == 0);
		CHECK_FALSE(shm_exists(name));
	}
}

TEST_CASE("--group-access makes the ring 0660; --group still does, with a warning",
	  "[ops]")
{
	RingGuard guard(unique_name("ops-mode"));
	const std::string &name = guard.name;
	struct Case {
		std::vector<std::string> args;
		bool warns;
	} cases[] = {
		{{producer_path(), "--group-access", "--keep", "--count", "1", name}, false},
		{{producer_path(), "--group", "--keep", "--count", "1", name}, true},
		{{ctl_path(), "create", "--group-access", name}, false},
		{{ctl_path(), "create", "--group", name}, true},
	};
	for (const Case &k : cases) {
		INFO(k.args[0] << " " << k.args[1] << " " << k.args[2]);
		rb_ring_remove(name.c_str());
		Proc p(k.args);
		REQUIRE(p.wait(10000) == 0);
		CHECK(ring_mode(name) == 0660);
		std::string err = p.stderr_text();
		INFO("stderr: " << err);
		CHECK((err.find("warning: --group is deprecated: it is now --group-access") !=
		       std::string::npos) == k.warns);
	}
	// Without either: 0600.
	rb_ring_remove(name.c_str());
	Proc p({producer_path(), "--keep", "--count", "1", name});
	REQUIRE(p.wait(10000) == 0);
	CHECK(ring_mode(name) == 0600);
}
