// rb-ctl end to end: the real program runs as a child (fork + execv) with
// its stdout and stderr captured, against rings this test makes and drives
// with the library.
//
// Rules every test keeps: a unique ring name with a RingGuard declared
// before any child (the ring goes after the children are killed, pass or
// fail); every wait is bounded; `clean` is only ever run on this test's
// own rings by name (or with --dry-run), since other rings on the machine
// belong to someone else.
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

using namespace rbt;

namespace {

struct Result {
	int status = -1; // exit status, 128 + signal, or -1 on timeout
	std::string out, err;
};

// Runs rb-ctl with args; bounded by timeout_ms (then killed).
Result ctl(const std::vector<std::string> &args, int timeout_ms = 10000)
{
	std::vector<std::string> argv = {program("tools/ctl/rb-ctl")};
	argv.insert(argv.end(), args.begin(), args.end());
	Proc p(argv);
	Result r;
	r.status = p.wait(timeout_ms);
	r.out = p.stdout_text();
	r.err = p.stderr_text();
	// Shown with the next assertion if it fails.
	std::string cmd;
	for (const auto &a : args)
		cmd += " " + a;
	UNSCOPED_INFO("rb-ctl" << cmd << " -> " << r.status << "\nstdout:\n"
			       << r.out << "stderr:\n" << r.err);
	return r;
}

std::vector<std::string> lines(const std::string &text)
{
	std::vector<std::string> v;
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line))
		v.push_back(line);
	return v;
}

bool contains(const std::string &hay, const std::string &needle)
{
	return hay.find(needle) != std::string::npos;
}

// The line of `list` output that starts with the ring's name.
std::string list_line(const std::string &out, const std::string &name)
{
	for (const auto &l : lines(out))
		if (l.compare(0, name.size() + 1, name + " ") == 0)
			return l;
	return "";
}

// Entries in /dev/shm this test process made (its rings' names contain
// "test-ctl-PID-"), whatever state they are in.
std::vector<std::string> leftovers()
{
	std::vector<std::string> found;
	std::string tag = "test-ctl-" + std::to_string(getpid()) + "-";
	DIR *d = opendir("/dev/shm");
	if (d == nullptr)
		return found;
	while (struct dirent *e = readdir(d))
		if (strstr(e->d_name, tag.c_str()) != nullptr)
			found.push_back(e->d_name);
	closedir(d);
	return found;
}

void write_frames(rb_producer *p, int n)
{
	for (int i = 0; i < n; i++) {
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
		f.length = 16;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
}

// Every non-comment line is a valid sample, every sample's family has its
// TYPE line first; returns the samples as "name{labels}" -> value text.
std::vector<std::pair<std::string, std::string>> prometheus_samples(const std::string &out)
{
	static const std::regex sample("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})? ([0-9.eE+-]+)$");
	static const std::regex type("^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$");
	std::set<std::string> typed;
	std::vector<std::pair<std::string, std::string>> samples;
	for (const auto &l : lines(out)) {
		std::smatch m;
		INFO("line: " << l);
		if (l.compare(0, 1, "#") == 0) {
			if (std::regex_match(l, m, type))
				typed.insert(m[1]);
			continue;
		}
		REQUIRE(std::regex_match(l, m, sample));
		CHECK(typed.count(m[1]) == 1);
		samples.emplace_back(m[1].str() + m[2].str(), m[3].str());
	}
	return samples;
}

std::string sample_value(const std::vector<std::pair<std::string, std::string>> &s,
			 const std::string &key)
{
	for (const auto &kv : s)
		if (kv.first == key)
			return kv.second;
	return "<missing " + key + ">";
}

} // namespace

TEST_CASE("create, then list, info and stat show the ring and its counters")
{
	RingGuard g(unique_name("ctl"));
	const std::string &name = g.name;

	Result r = ctl({"create", name, "--type", "i16", "--shape", "1024x4", "--slots", "8",
			"--consumers", "4"});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "created " + name));
	REQUIRE(shm_exists(name));

	r = ctl({"list"});
	REQUIRE(r.status == 0);
	std::string line = list_line(r.out, name);
	INFO("list line: " << line);
	CHECK(contains(line, "8 KiB"));
	CHECK(contains(line, "i16[1024,4]"));
	CHECK(contains(line, " 8 "));
	CHECK(contains(line, "none"));

	r = ctl({"list", "--json"});
	REQUIRE(r.status == 0);
	CHECK(lines(r.out).size() == 1);
	CHECK(r.out[0] == '{');
	CHECK(contains(r.out, "\"name\":\"" + name + "\""));

	// A producer (this process) with a stream header and five frames, and a
	// consumer (also here) that has read two of them.
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_open(name.c_str(), &ring) == 0);
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	rb_consumer *c = nullptr;
	rb_consumer_options co = {};
	co.label = "verify";
	REQUIRE(rb_consumer_attach(ring, &co, &c) == 0);
	REQUIRE(rb_producer_begin_stream(p, "source=test\nrate=5") == 0);
	write_frames(p, 5);
	for (int i = 0; i < 2; i++) {
		rb_frame f;
		REQUIRE(rb_consumer_acquire(c, &f, RB_NO_WAIT) == 0);
		REQUIRE(rb_consumer_release(c, &f) == 0);
	}
	std::string me = std::to_string(getpid());

	r = ctl({"info", name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "frame          8192 B (8 KiB), i16[1024,4]"));
	CHECK(contains(r.out, "slots          8, stride 8192 B, align 64"));
	CHECK(contains(r.out, "max consumers  4"));
	CHECK(contains(r.out, "created        20"));
	CHECK(contains(r.out, "producer       pid " + me + ", alive"));
	CHECK(contains(r.out, "stream         open"));
	CHECK(contains(r.out, "write_seq      5"));
	CHECK(contains(r.out, "  source=test\n  rate=5\n"));
	CHECK(contains(r.out, "lossless"));
	CHECK(contains(r.out, "verify"));

	r = ctl({"info", "--json", name});
	REQUIRE(r.status == 0);
	CHECK(lines(r.out).size() == 1);
	CHECK(contains(r.out, "\"frame_bytes\":8192"));
	CHECK(contains(r.out, "\"write_seq\":5"));
	CHECK(contains(r.out, "\"text\":\"source=test\\nrate=5\""));
	CHECK(contains(r.out, "\"label\":\"verify\",\"read_seq\":2,\"lag\":3"));

	r = ctl({"stat", name, "--prometheus"});
	REQUIRE(r.status == 0);
	auto samples = prometheus_samples(r.out);
	std::string ring_label = "{ring=\"" + name + "\"}";
	std::string cons_label =
		"{ring=\"" + name + "\",consumer=\"0\",label=\"verify\",mode=\"lossless\"}";
	CHECK(sample_value(samples, "ringbuf_write_seq" + ring_label) == "5");
	CHECK(sample_value(samples, "ringbuf_frames_dropped_total" + ring_label) == "0");
	CHECK(sample_value(samples, "ringbuf_producer_alive" + ring_label) == "1");
	CHECK(sample_value(samples, "ringbuf_slots" + ring_label) == "8");
	CHECK(sample_value(samples, "ringbuf_frame_bytes" + ring_label) == "8192");
	CHECK(sample_value(samples, "ringbuf_consumer_frames_total" + cons_label) == "2");
	CHECK(sample_value(samples, "ringbuf_consumer_lost_total" + cons_label) == "0");
	CHECK(sample_value(samples, "ringbuf_consumer_lag_frames" + cons_label) == "3");

	r = ctl({"stat", name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "ring " + name + "\n"));
	CHECK(contains(r.out, "\nwrite_seq 5\n"));
	CHECK(contains(r.out, "\nconsumer.0.frames 2\n"));

	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
	rb_ring_close(ring);

	r = ctl({"rm", name});
	CHECK(r.status == 0);
	CHECK(r.out == "removed " + name + "\n");
	CHECK_FALSE(shm_exists(name));
}

TEST_CASE("rm refuses a ring with a live consumer and says who; --force removes it")
{
	RingGuard g(unique_name("ctl"));
	rb_ring_config cfg = small_config();
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
	rb_ring_close(ring);
	Ready ready;
	Child holder;
	spawn_idle_consumer(holder, g.name, ready, 5000, "holder");

	Result r = ctl({"rm", g.name});
	CHECK(r.status == 1);
	CHECK(r.out.empty());
	CHECK(contains(r.err, "rb-ctl: " + g.name + ": in use by consumer #0 pid " +
				      std::to_string(holder.pid) + " \"holder\""));
	CHECK(contains(r.err, "--force"));
	CHECK(lines(r.err).size() == 1);
	CHECK(shm_exists(g.name));

	r = ctl({"rm", "--force", g.name});
	CHECK(r.status == 0);
	CHECK(contains(r.out, "removed " + g.name));
	CHECK_FALSE(shm_exists(g.name));
}

TEST_CASE("clean removes an abandoned ring, evicts the dead from a live one, keeps a new one")
{
	RingGuard abandoned(unique_name("ctl"));
	RingGuard live(unique_name("ctl"));
	RingGuard fresh(unique_name("ctl"));
	rb_ring_config cfg = small_config();
	rb_ring *r = nullptr;
	for (const RingGuard *g : {&abandoned, &fresh}) {
		REQUIRE(rb_ring_create(g->name.c_str(), &cfg, &r) == 0);
		rb_ring_close(r);
	}

	// Abandoned: its producer and its consumer are killed with SIGKILL.
	Ready pready, cready;
	Child prod, cons;
	spawn(prod, [&] {
		rb_ring *pr = nullptr;
		rb_producer *pp = nullptr;
		if (rb_ring_open(abandoned.name.c_str(), &pr) != 0 ||
		    rb_producer_attach(pr, nullptr, &pp) != 0 ||
		    rb_producer_begin_stream(pp, "source=doomed") != 0)
			return 1;
		pready.signal();
		for (;;)
			pause();
	});
	REQUIRE(pready.wait(5000));
	spawn_idle_consumer(cons, abandoned.name, cready, 5000, "doomed");
	pid_t dead_producer = prod.pid;
	prod.kill_now(SIGKILL);
	cons.kill_now(SIGKILL);
	REQUIRE(prod.wait(5000) == 128 + SIGKILL);
	REQUIRE(cons.wait(5000) == 128 + SIGKILL);

	// Live: the producer is this process; its consumer is killed.
	rb_ring *lr = nullptr;
	REQUIRE(rb_ring_create(live.name.c_str(), &cfg, &lr) == 0);
	rb_producer *lp = nullptr;
	REQUIRE(rb_producer_attach(lr, nullptr, &lp) == 0);
	Ready lready;
	Child lcons;
	spawn_idle_consumer(lcons, live.name, lready, 5000, "victim");
	pid_t victim = lcons.pid;
	lcons.kill_now(SIGKILL);
	REQUIRE(lcons.wait(5000) == 128 + SIGKILL);
	rb_ring_status st;
	REQUIRE(rb_ring_get_status(lr, &st) == 0);
	REQUIRE(st.consumers == 1);

	// A dry run says what it would do and does nothing.
	Result res = ctl({"clean", "--dry-run", "--min-age", "0", abandoned.name, live.name});
	CHECK(res.status == 0);
	CHECK(contains(res.out, "would remove " + abandoned.name + ": no live participant"));
	CHECK(contains(res.out, "producer pid " + std::to_string(dead_producer)));
	CHECK(contains(res.out, "would evict from " + live.name + ": consumer #0 pid " +
					std::to_string(victim)));
	CHECK(shm_exists(abandoned.name));
	REQUIRE(rb_ring_get_status(lr, &st) == 0);
	CHECK(st.consumers == 1);

	// The default --min-age (10s) keeps all three young rings' names.
	res = ctl({"clean", fresh.name, abandoned.name});
	CHECK(res.status == 0);
	CHECK(contains(res.out, "kept " + fresh.name + ": no live participant, but created"));
	CHECK(contains(res.out, "kept " + abandoned.name));
	CHECK(shm_exists(fresh.name));
	CHECK(shm_exists(abandoned.name));

	// A machine-wide dry run is safe to run here and sees our rings too.
	res = ctl({"clean", "--dry-run"});
	CHECK(res.status == 0);
	CHECK(contains(res.out, "kept " + fresh.name));

	res = ctl({"clean", "--min-age", "0", abandoned.name, live.name});
	CHECK(res.status == 0);
	CHECK(contains(res.out, "removed " + abandoned.name));
	CHECK(contains(res.out, "evicted from " + live.name));
	CHECK_FALSE(shm_exists(abandoned.name));
	CHECK(shm_exists(live.name));
	REQUIRE(rb_ring_get_status(lr, &st) == 0);
	CHECK(st.consumers == 0);
	CHECK(st.producer_alive == 1);

	rb_producer_detach(lp, 0);
	rb_ring_close(lr);
}

TEST_CASE("top shows the write rate, per view and as JSON")
{
	RingGuard g(unique_name("ctl"));
	rb_ring_config cfg = small_config(64, 16);
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	std::atomic<bool> stop{false};
	// About 1000 frames/s; no consumer, so the ring never fills.
	std::thread writer([&] {
		while (!stop) {
			rb_frame f;
			if (rb_producer_acquire(p, &f, RB_NO_WAIT) == 0) {
				f.length = 8;
				rb_producer_commit(p, &f);
			}
			usleep(1000);
		}
	});
	struct Join {
		std::atomic<bool> &stop;
		std::thread &t;
		~Join()
		{
			stop = true;
			if (t.joinable())
				t.join();
		}
	} join{stop, writer};

	Result r = ctl({"top", g.name, "--count", "2", "--interval", "200ms"});
	REQUIRE(r.status == 0);
	static const std::regex rate("^write +([0-9.e+]+) frames/s, .*B/s at 64 B per frame$");
	std::vector<double> rates;
	for (const auto &l : lines(r.out)) {
		std::smatch m;
		if (std::regex_match(l, m, rate))
			rates.push_back(std::stod(m[1]));
	}
	REQUIRE(rates.size() == 2); // two views, one after the other (not a tty)
	CHECK(rates[1] > 50);
	CHECK(contains(r.out, "fill       - (no lossless consumer"));
	CHECK_FALSE(contains(r.out, "\033["));

	r = ctl({"top", "--json", "--interval", "200ms", g.name});
	REQUIRE(r.status == 0);
	REQUIRE(lines(r.out).size() == 1);
	std::smatch m;
	static const std::regex json_rate("\"frames_per_s\":([0-9.e+]+)");
	REQUIRE(std::regex_search(r.out, m, json_rate));
	CHECK(std::stod(m[1]) > 50);

	stop = true;
	writer.join();
	rb_producer_detach(p, 0);
	rb_ring_close(ring);
}

TEST_CASE("info and top name the consumer that blocks the producer")
{
	RingGuard g(unique_name("ctl"));
	rb_ring_config cfg = small_config(64, 4);
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	Ready ready;
	Child stuck;
	spawn_idle_consumer(stuck, g.name, ready, 5000, "slow"); // attached, never reads
	write_frames(p, 4);
	int rc = 1;
	std::thread blocked([&] {
		rb_frame f;
		rc = rb_producer_acquire(p, &f, 5ull * 1000000000ull);
		if (rc == 0)
			rb_producer_commit(p, &f);
	});
	struct Join {
		Child &c;
		std::thread &t;
		~Join()
		{
			c.kill_now(SIGKILL); // unblocks the producer
			if (t.joinable())
				t.join();
		}
	} join{stuck, blocked};
	REQUIRE(eventually([&] {
		rb_ring_status st;
		return rb_ring_get_status(ring, &st) == 0 && st.producer_blocked;
	}, 3000));

	Result r = ctl({"info", g.name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "blocked        by consumer #0 (pid " + std::to_string(stuck.pid) +
				      "), needs read_seq 1"));
	r = ctl({"top", "--json", "--interval", "10ms", g.name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "\"blocked\":true,\"waits_for_read_seq\":1,\"blocked_by\":0"));
	CHECK(contains(r.out, "\"fill_frames\":4,\"fill_ratio\":1"));

	// Once the consumer dies the producer evicts it and goes on.
	stuck.kill_now(SIGKILL);
	blocked.join();
	CHECK(rc == 0);
	rb_producer_detach(p, 0);
	rb_ring_close(ring);
}

TEST_CASE("bad input: unknown ring, foreign and corrupted files, bad units and usage")
{
	RingGuard missing(unique_name("ctl"));
	RingGuard foreign(unique_name("ctl"));
	RingGuard corrupt(unique_name("ctl"));

	Result r = ctl({"info", missing.name});
	CHECK(r.status == 1);
	CHECK(r.err == "rb-ctl: " + missing.name + ": no such ring\n");
	CHECK(r.out.empty());
	r = ctl({"top", missing.name, "--count", "1"});
	CHECK(r.status == 1);
	CHECK(r.err == "rb-ctl: " + missing.name + ": no such ring\n");
	r = ctl({"stat", "--prometheus", missing.name});
	CHECK(r.status == 1);
	CHECK(r.out.empty());
	r = ctl({"rm", missing.name});
	CHECK(r.status == 1);
	CHECK(r.err == "rb-ctl: " + missing.name + ": no such ring\n");
	r = ctl({"clean", missing.name});
	CHECK(r.status == 1);

	// A file of someone else's under the ring prefix.
	int fd = open(shm_path(foreign.name).c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	const char junk[] = "this is not a ring, just a file that happens to be here";
	REQUIRE(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	close(fd);
	// A real ring whose header was damaged after creation.
	rb_ring_config cfg = small_config();
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(corrupt.name.c_str(), &cfg, &ring) == 0);
	rb_ring_close(ring);
	fd = open(shm_path(corrupt.name).c_str(), O_WRONLY);
	REQUIRE(fd >= 0);
	const char byte = 0x5a;
	REQUIRE(pwrite(fd, &byte, 1, 24) == 1); // frame_bytes: breaks the checksum
	close(fd);

	r = ctl({"list"});
	REQUIRE(r.status == 0);
	CHECK(contains(list_line(r.out, foreign.name), "error: not a ringbuf ring"));
	CHECK(contains(list_line(r.out, corrupt.name), "error: ring segment is corrupted"));
	r = ctl({"list", "--json"});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "{\"name\":\"" + foreign.name + "\",\"ok\":false,\"error\":\"not a ringbuf ring"));
	r = ctl({"info", foreign.name});
	CHECK(r.status == 1);
	CHECK(r.err == "rb-ctl: " + foreign.name + ": not a ringbuf ring (wrong magic number)\n");
	r = ctl({"info", corrupt.name});
	CHECK(r.status == 1);
	CHECK(contains(r.err, "corrupted"));
	r = ctl({"clean", "--min-age", "0", foreign.name});
	CHECK(r.status == 0);
	CHECK(contains(r.out, "skipped " + foreign.name + ": not a ringbuf ring"));
	r = ctl({"rm", foreign.name});
	CHECK(r.status == 1);
	CHECK(contains(r.err, "not removed (--force removes it anyway)"));
	CHECK(shm_exists(foreign.name));
	r = ctl({"rm", "-f", foreign.name, corrupt.name});
	CHECK(r.status == 0);
	CHECK_FALSE(shm_exists(foreign.name));
	CHECK_FALSE(shm_exists(corrupt.name));

	// Units that do not parse, out-of-range values, and usage mistakes:
	// exit 2, one line naming the option and the text.
	struct Bad {
		std::vector<std::string> args;
		const char *message;
	} bad[] = {
		{{"create", missing.name, "--frame-size", "4parsecs"}, "--frame-size: '4parsecs'"},
		{{"create", missing.name, "--slots", "lots"}, "--slots: 'lots'"},
		{{"create", missing.name, "--align", "100"}, "--align: '100'"},
		{{"create", missing.name, "--consumers", "1000"}, "--consumers: '1000'"},
		{{"create", missing.name, "--type", "u12", "--shape", "4"}, "--type: 'u12'"},
		{{"create", missing.name, "--type", "u16"}, "--type needs --shape"},
		{{"create", missing.name, "--type", "u16", "--shape", "1024", "--frame-size", "1KiB"},
		 "smaller than one u16[1024] frame"},
		{{"top", missing.name, "--interval", "10parsecs"}, "--interval: '10parsecs'"},
		{{"clean", "--min-age", "soon"}, "--min-age: 'soon'"},
		{{"create", "../etc/passwd"}, "not a valid ring name"},
		{{"info"}, "info: needs a ring name"},
		{{"list", "--bogus"}, "--bogus: unknown option"},
		{{"frobnicate"}, "frobnicate: unknown command"},
	};
	for (const auto &b : bad) {
		r = ctl(b.args);
		INFO("args: " << b.args[0] << " ... expecting: " << b.message);
		CHECK(r.status == 2);
		CHECK(lines(r.err).size() == 1);
		CHECK(contains(r.err, "rb-ctl: "));
		CHECK(contains(r.err, b.message));
	}
	CHECK_FALSE(shm_exists(missing.name));

	// An existing name is refused, and so is --replace while in use.
	r = ctl({"create", corrupt.name, "--slots", "8"});
	REQUIRE(r.status == 0);
	r = ctl({"create", corrupt.name});
	CHECK(r.status == 1);
	CHECK(contains(r.err, "ring already exists"));
	r = ctl({"rm", corrupt.name});
	CHECK(r.status == 0);

	// Every command's --help fits a screen.
	for (const char *cmd : {"list", "info", "top", "stat", "create", "rm", "clean"}) {
		r = ctl({cmd, "--help"});
		INFO("command: " << cmd);
		CHECK(r.status == 0);
		CHECK(lines(r.out).size() <= 24);
		for (const auto &l : lines(r.out))
			CHECK(l.size() <= 80);
	}
}

TEST_CASE("nothing is left behind in /dev/shm")
{
	CHECK(leftovers().empty());
}
