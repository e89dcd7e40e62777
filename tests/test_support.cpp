#include "test_support.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <errno.h>
#include <poll.h>
#include <sys/stat.h>

namespace rbt {

std::string unique_name(const char *tag)
{
	static std::atomic<unsigned> counter{0};
	char buf[128];
	snprintf(buf, sizeof(buf), "test-%s-%d-%u", tag, (int)getpid(), counter++);
	return buf;
}

std::string shm_path(const std::string &name) { return "/dev/shm/rb-" + name; }

bool shm_exists(const std::string &name)
{
	struct stat st;
	return stat(shm_path(name).c_str(), &st) == 0;
}

rb_ring_config small_config(uint64_t frame_bytes, uint32_t slots)
{
	rb_ring_config c = {};
	c.frame_bytes = frame_bytes;
	c.slot_count = slots;
	return c;
}

static uint8_t pattern_byte(uint64_t seq, uint64_t i)
{
	uint64_t x = seq * 0x9E3779B97F4A7C15ull + (i >> 3);
	return (uint8_t)(x >> (8 * (i & 7)));
}

void fill_pattern(void *data, uint64_t length, uint64_t seq)
{
	uint8_t *p = static_cast<uint8_t *>(data);
	for (uint64_t i = 0; i < length; i++)
		p[i] = pattern_byte(seq, i);
}

bool check_pattern(const void *data, uint64_t length, uint64_t seq)
{
	const uint8_t *p = static_cast<const uint8_t *>(data);
	for (uint64_t i = 0; i < length; i++)
		if (p[i] != pattern_byte(seq, i))
			return false;
	return true;
}

Child::~Child()
{
	if (pid > 0) {
		::kill(pid, SIGKILL);
		waitpid(pid, nullptr, 0);
	}
}

void Child::kill_now(int sig)
{
	if (pid > 0)
		::kill(pid, sig);
}

int Child::wait(int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;
	for (;;) {
		int status;
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			pid = -1;
			if (WIFEXITED(status))
				return WEXITSTATUS(status);
			return 128 + WTERMSIG(status);
		}
		if (now_ms() > end) {
			::kill(pid, SIGKILL);
			waitpid(pid, nullptr, 0);
			pid = -1;
			return -1;
		}
		usleep(1000);
	}
}

Ready::Ready()
{
	REQUIRE(pipe(fds) == 0);
}

Ready::~Ready()
{
	close(fds[0]);
	close(fds[1]);
}

void Ready::signal()
{
	char b = 1;
	(void)!write(fds[1], &b, 1);
}

bool Ready::wait(int timeout_ms)
{
	struct pollfd p = {fds[0], POLLIN, 0};
	char b;
	return poll(&p, 1, timeout_ms < 0 ? -1 : timeout_ms) == 1 && read(fds[0], &b, 1) == 1;
}

void spawn_idle_consumer(Child &child, const std::string &name, Ready &ready, int ready_ms,
			 const char *label)
{
	spawn(child, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options o = {};
		o.label = label;
		if (rb_ring_open(name.c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0)
			return 1;
		ready.signal();
		// pause() returns after any signal handler ran (Catch2 installs
		// some): the consumer stays attached until the child is killed.
		for (;;)
			pause();
	});
	REQUIRE(ready.wait(ready_ms));
}

uint64_t now_ms()
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

std::string program(const char *name)
{
	const char *dir = getenv("RB_BUILD_DIR");
	return std::string(dir ? dir : ".") + "/" + name;
}

} // namespace rbt
