// Helpers shared by the tests: unique ring names, cleanup guards, the
// rings' files, and forked children with bounded waits.
#pragma once

#include <ringbuf/ringbuf.h>

#include <signal.h>
#include <string>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <vector>

namespace rbt {

// A ring name no other test (or concurrent run) uses.
std::string unique_name(const char *tag);

// Removes the ring when the test leaves its scope, pass or fail.
struct RingGuard {
	std::string name;
	explicit RingGuard(std::string n) : name(std::move(n)) {}
	~RingGuard() { rb_ring_remove(name.c_str()); }
};

// The file that holds a ring in /dev/shm, and whether it is there.
std::string shm_path(const std::string &name);
bool shm_exists(const std::string &name);

// Default test ring: small frames, few slots.
rb_ring_config small_config(uint64_t frame_bytes = 256, uint32_t slots = 16);

// Fills a frame's bytes from its sequence number; check_pattern verifies.
void fill_pattern(void *data, uint64_t length, uint64_t seq);
bool check_pattern(const void *data, uint64_t length, uint64_t seq);

// Forks; the child runs fn and _exit()s with its return value. Children are
// killed when the Child object goes out of scope (a failing test leaves no
// process behind).
struct Child {
	pid_t pid = -1;
	~Child();
	// Waits up to timeout_ms; returns the exit status (0-255), 128+signal,
	// or -1 on timeout (the child is then killed).
	int wait(int timeout_ms);
	void kill_now(int sig = SIGKILL);
};
template <typename F> void spawn(Child &c, F fn)
{
	pid_t pid = fork();
	if (pid == 0) {
		int rc = 1;
		try {
			rc = fn();
		} catch (...) {
			rc = 99;
		}
		_exit(rc);
	}
	c.pid = pid;
}

// A pipe a child writes one byte to once it is ready.
struct Ready {
	int fds[2];
	Ready();
	~Ready();
	void signal();
	// Waits for the byte, at most timeout_ms; a negative timeout waits
	// without a bound.
	bool wait(int timeout_ms);
};

// Forks a child that attaches a lossless consumer (labelled `label`, if
// not null) to the ring `name`, signals `ready`, and then never reads: a
// consumer that holds the producer up until it is killed. REQUIREs the
// signal within ready_ms (negative: no bound).
void spawn_idle_consumer(Child &child, const std::string &name, Ready &ready, int ready_ms,
			 const char *label = nullptr);

uint64_t now_ms();

// Polls cond every millisecond for at most timeout_ms.
template <typename F> bool eventually(F cond, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	while (!cond()) {
		if (now_ms() > end)
			return false;
		usleep(1000);
	}
	return true;
}

// Path of a built program (from the RB_BUILD_DIR environment variable).
std::string program(const char *name);

} // namespace rbt
