// Helpers shared by the tests that run the programs (rb-producer,
// rb-consumer, rb-ctl) as real processes: a reader for their JSON
// summaries, output captured in unlinked temporary files, a program run
// with bounded waits, and a watch on the ring a run uses.
#pragma once

#include "test_support.hpp"

#include <map>
#include <string>
#include <vector>

namespace rbt {

// ---- the summaries, parsed with jansson -----------------------------------

// A parsed value; the accessors throw on the wrong kind, so a summary that
// lacks a member or has the wrong type fails the test that reads it.
struct Json {
	enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
	bool b = false;
	double num = 0;
	std::string str;
	std::vector<Json> arr;
	std::map<std::string, Json> obj;

	bool has(const char *key) const { return kind == Object && obj.count(key) != 0; }
	const Json &operator[](const char *key) const;
	const Json &at(size_t i) const;
	uint64_t u64() const;
	double d() const;
	const std::string &s() const;
};

// Any JSON text (one value, nothing after it); throws when it is not.
Json parse_json(const std::string &text);
// The summary must be exactly one line holding one JSON object (and
// nothing else): REQUIREs that and returns the object.
Json parse_summary(const std::string &text);

// ---- running the programs -------------------------------------------------

// A child's output: a temporary file unlinked at once (nothing to clean
// up), read back by fd.
struct Capture {
	int fd = -1;
	Capture();
	~Capture();
	Capture(const Capture &) = delete;
	Capture &operator=(const Capture &) = delete;
	std::string text() const;
};

// What a child does to itself after its redirections and before exec (a
// seccomp filter, a resource limit); false makes it exit with status 125.
typedef bool (*PreExec)();

// A program run (args[0] is the program's path): stdout and stderr
// captured, stdin from /dev/null. Killed at scope exit if still running.
struct Proc {
	Capture out, err;
	Child child;
	int status = -2;

	// stdout_fd: where the child's stdout goes instead of the capture.
	explicit Proc(const std::vector<std::string> &args, int stdout_fd = -1,
		      PreExec pre_exec = nullptr);
	Proc(const std::vector<std::string> &args, PreExec pre_exec)
	    : Proc(args, -1, pre_exec)
	{
	}
	// Exit status (0-255), 128+signal, or -1 after a timeout (killed).
	int wait(int timeout_ms)
	{
		status = child.wait(timeout_ms);
		return status;
	}
	void signal(int sig) { child.kill_now(sig); }
	std::string stdout_text() const { return out.text(); }
	std::string stderr_text() const { return err.text(); }
	Json summary() const { return parse_summary(stdout_text()); }
};

std::string producer_path();
std::string consumer_path();

// An open mapping of a ring the test watches; closed at scope exit.
struct Watch {
	rb_ring *ring = nullptr;
	~Watch() { rb_ring_close(ring); }
	// Waits for the ring to exist.
	bool open(const std::string &name, int timeout_ms);
	rb_ring_status status();
	// Waits for at least n consumers.
	bool consumers(uint32_t n, int timeout_ms);
	// Waits for at least n frames written since the ring's first.
	bool frames(uint64_t n, int timeout_ms);
};

} // namespace rbt
