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
	CHECK(r.err == "rb-ctl: " + foreign.name + ": not a ringbuf ring (not a regular file, or wrong magic number)\n");
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

TEST_CASE("several producers and a consumer group: info, list, stat and top show them")
{
	RingGuard g(unique_name("ctl"));
	const std::string &name = g.name;
	Result r = ctl({"create", name, "--frame-size", "64", "--slots", "16",
			"--max-producers", "4", "--max-groups", "2"});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "for up to 4 producers at once, 2 consumer groups"));

	// Two producers, both in the stream (this process), with 3 and 2
	// frames; a group "work" whose members got seq 0 (still held) and
	// seq 1 (released); a plain consumer that read nothing.
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_open(name.c_str(), &ring) == 0);
	CHECK(rb_ring_max_producers(ring) == 4);
	CHECK(rb_ring_max_groups(ring) == 2);
	rb_producer *p0 = nullptr, *p1 = nullptr;
	REQUIRE(rb_producer_attach(ring, nullptr, &p0) == 0);
	REQUIRE(rb_producer_attach(ring, nullptr, &p1) == 0);
	rb_consumer *plain = nullptr, *m0 = nullptr, *m1 = nullptr;
	rb_consumer_options co = {};
	co.label = "plain";
	REQUIRE(rb_consumer_attach(ring, &co, &plain) == 0);
	co.group = "work";
	co.label = "m0";
	REQUIRE(rb_consumer_attach(ring, &co, &m0) == 0);
	co.label = "m1";
	REQUIRE(rb_consumer_attach(ring, &co, &m1) == 0);
	REQUIRE(rb_producer_begin_stream(p0, "source=two") == 0);
	REQUIRE(rb_producer_begin_stream(p1, "ignored=yes") == 0);
	write_frames(p0, 3);
	write_frames(p1, 2);
	rb_frame held, f;
	REQUIRE(rb_consumer_acquire(m0, &held, RB_NO_WAIT) == 0);
	CHECK(held.seq == 0);
	REQUIRE(rb_consumer_acquire(m1, &f, RB_NO_WAIT) == 0);
	CHECK(f.seq == 1);
	REQUIRE(rb_consumer_release(m1, &f) == 0);
	std::string me = std::to_string(getpid());

	r = ctl({"info", "--json", name});
	REQUIRE(r.status == 0);
	Json info = parse_summary(r.out);
	CHECK(info["max_producers"].u64() == 4);
	CHECK(info["max_groups"].u64() == 2);
	const Json &prod = info["producer"];
	CHECK(prod["write_seq"].u64() == 5);
	CHECK(prod["claim_seq"].u64() == 5);
	CHECK(prod["max_producers"].u64() == 4);
	CHECK(prod["producers_attached"].u64() == 2);
	CHECK(prod["producers_alive"].u64() == 2);
	CHECK(prod["stream_state"].s() == "open");
	CHECK(prod["stream_members"].u64() == 2);
	CHECK(prod["frames_abandoned"].u64() == 0);
	REQUIRE(info["producers"].arr.size() == 2);
	uint64_t frames_sum = 0;
	for (const auto &pr : info["producers"].arr) {
		CHECK(pr["pid"].u64() == (uint64_t)getpid());
		CHECK(pr["alive"].b);
		CHECK(pr["in_stream"].b);
		CHECK(pr["hold_from"].kind == Json::Null);
		frames_sum += pr["frames"].u64();
	}
	CHECK(frames_sum == 5);
	std::set<uint64_t> pframes = {info["producers"].at(0)["frames"].u64(),
				      info["producers"].at(1)["frames"].u64()};
	CHECK(pframes == std::set<uint64_t>{2, 3});
	CHECK(info["stream_header"]["text"].s() == "source=two");
	REQUIRE(info["groups"].arr.size() == 1);
	const Json &grp = info["groups"].at(0);
	CHECK(grp["name"].s() == "work");
	CHECK(grp["mode"].s() == "lossless");
	CHECK(grp["members"].u64() == 2);
	CHECK(grp["claim_seq"].u64() == 2);
	CHECK(grp["start_seq"].u64() == 0);
	CHECK(grp["lag"].u64() == 3);
	CHECK(grp["held"].u64() == 1);
	CHECK(grp["lost"].u64() == 0);
	CHECK(grp["frames_departed"].u64() == 0);
	CHECK(grp["markers"].u64() == 0);
	REQUIRE(info["consumers"].arr.size() == 3);
	for (const auto &c : info["consumers"].arr) {
		INFO("consumer " << c["label"].s());
		if (c["label"].s() == "plain") {
			CHECK(c["group"].kind == Json::Null);
			CHECK(c["read_seq"].u64() == 0);
			CHECK(c["lag"].u64() == 5);
			CHECK(c["held"].u64() == 0);
		} else if (c["label"].s() == "m0") {
			CHECK(c["group"].s() == "work");
			CHECK(c["held"].u64() == 1);
			CHECK(c["read_seq"].u64() == 0); // its oldest held frame
			CHECK(c["frames"].u64() == 0);
		} else {
			CHECK(c["label"].s() == "m1");
			CHECK(c["group"].s() == "work");
			CHECK(c["held"].u64() == 0);
			CHECK(c["read_seq"].kind == Json::Null); // holds nothing
			CHECK(c["frames"].u64() == 1);
		}
	}
	// The fill is what holds the producers back: the plain consumer (5).
	r = ctl({"top", "--json", "--interval", "10ms", name});
	REQUIRE(r.status == 0);
	Json top = parse_summary(r.out);
	CHECK(top["fill_frames"].u64() == 5);
	REQUIRE(top["producers"].arr.size() == 2);
	CHECK(top["producers"].at(0).has("frames_per_s"));
	REQUIRE(top["groups"].arr.size() == 1);
	CHECK(top["groups"].at(0)["lag"].u64() == 3);
	CHECK(top["groups"].at(0).has("frames_per_s"));
	CHECK(top["groups"].at(0).has("lost_per_s"));

	r = ctl({"info", name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "max producers  4\n"));
	CHECK(contains(r.out, "producers      2 attached (of 4), 2 alive\n"));
	CHECK(contains(r.out, "stream         open, 2 producers in it\n"));
	CHECK(contains(r.out, "claim_seq      5 (0 claimed, not yet published)\n"));
	CHECK(contains(r.out, "abandoned      0 frames"));
	static const std::regex prow("^ +[01] +" + me + "  alive  in +[23] +-$");
	static const std::regex grow("^ +0 work +lossless +2 +2 +3 +0 +0 +0$");
	static const std::regex mrow("^ +[0-9]+ +" + me + " .* work +1  m0$");
	int prows = 0, grows = 0, mrows = 0;
	for (const auto &l : lines(r.out)) {
		prows += std::regex_match(l, prow);
		grows += std::regex_match(l, grow);
		mrows += std::regex_match(l, mrow);
	}
	CHECK(prows == 2);
	CHECK(grows == 1);
	CHECK(mrows == 1);

	r = ctl({"list"});
	REQUIRE(r.status == 0);
	std::string line = list_line(r.out, name);
	INFO("list line: " << line);
	CHECK(contains(line, " 2/2 alive "));
	CHECK(contains(line, " 3, 2 in 1 grp"));
	r = ctl({"list", "--json"});
	REQUIRE(r.status == 0);
	Json list = parse_summary(r.out);
	bool listed = false;
	for (const auto &ring_json : list["rings"].arr) {
		if (ring_json["name"].s() != name)
			continue;
		listed = true;
		CHECK(ring_json["producers"].arr.size() == 2);
		CHECK(ring_json["groups"].at(0)["name"].s() == "work");
	}
	CHECK(listed);

	r = ctl({"stat", name, "--prometheus"});
	REQUIRE(r.status == 0);
	auto samples = prometheus_samples(r.out);
	std::string ring_label = "{ring=\"" + name + "\"}";
	std::string grp_label = "{ring=\"" + name + "\",group=\"work\",mode=\"lossless\"}";
	CHECK(sample_value(samples, "ringbuf_producers" + ring_label) == "2");
	CHECK(sample_value(samples, "ringbuf_max_producers" + ring_label) == "4");
	CHECK(sample_value(samples, "ringbuf_frames_abandoned_total" + ring_label) == "0");
	CHECK(sample_value(samples, "ringbuf_stream_members" + ring_label) == "2");
	CHECK(sample_value(samples, "ringbuf_groups" + ring_label) == "1");
	const Json &first = info["producers"].at(0);
	std::string p0_label = "{ring=\"" + name + "\",producer=\"" +
			       std::to_string(first["index"].u64()) + "\",pid=\"" + me + "\"}";
	CHECK(sample_value(samples, "ringbuf_producer_frames_total" + p0_label) ==
	      std::to_string(first["frames"].u64()));
	CHECK(sample_value(samples, "ringbuf_producer_up" + p0_label) == "1");
	CHECK(sample_value(samples, "ringbuf_producer_in_stream" + p0_label) == "1");
	CHECK(sample_value(samples, "ringbuf_group_members" + grp_label) == "2");
	CHECK(sample_value(samples, "ringbuf_group_claim_seq" + grp_label) == "2");
	CHECK(sample_value(samples, "ringbuf_group_lag_frames" + grp_label) == "3");
	CHECK(sample_value(samples, "ringbuf_group_lost_total" + grp_label) == "0");
	CHECK(sample_value(samples, "ringbuf_group_frames_departed_total" + grp_label) == "0");
	CHECK(sample_value(samples, "ringbuf_group_markers_total" + grp_label) == "0");
	int members_info = 0;
	for (const auto &kv : samples)
		if (kv.first.compare(0, 27, "ringbuf_consumer_group_info") == 0) {
			CHECK(contains(kv.first, "group=\"work\""));
			members_info++;
		}
	CHECK(members_info == 2);

	r = ctl({"stat", name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "\nproducers 2\n"));
	CHECK(contains(r.out, "\ngroup.0.name work\n"));
	CHECK(contains(r.out, "\ngroup.0.lag 3\n"));

	// top stays within 80 columns with producers and groups shown.
	r = ctl({"top", "--count", "1", "--interval", "10ms", name});
	REQUIRE(r.status == 0);
	CHECK(contains(r.out, "producers  2/2 alive (max 4), stream open (2 in it)"));
	CHECK(contains(r.out, " @work "));
	for (const auto &l : lines(r.out)) {
		INFO("line: " << l);
		CHECK(l.size() <= 80);
	}

	// The members are done; the producers alone still keep rm away.
	REQUIRE(rb_consumer_release(m0, &held) == 0);
	rb_consumer_detach(m0);
	rb_consumer_detach(m1);
	rb_consumer_detach(plain);
	r = ctl({"rm", name});
	CHECK(r.status == 1);
	CHECK(contains(r.err, "in use by producer #"));
	CHECK(contains(r.err, "pid " + me + ", producer #"));
	CHECK(shm_exists(name));

	rb_producer_detach(p1, 0);
	rb_producer_detach(p0, 0);
	rb_ring_close(ring);
	r = ctl({"rm", name});
	CHECK(r.status == 0);
}

TEST_CASE("clean evicts a dead producer and a dead group member from a ring in use")
{
	RingGuard g(unique_name("ctl"));
	rb_ring_config cfg = small_config(64, 16);
	cfg.max_producers = 2;
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &ring) == 0);
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	rb_consumer *member = nullptr;
	rb_consumer_options co = {};
	co.group = "work";
	co.label = "stays";
	REQUIRE(rb_consumer_attach(ring, &co, &member) == 0);
	write_frames(p, 1); // seq 0: the doomed member takes it

	// A member that holds seq 0 and a producer that claimed seq 1, both
	// killed before they hand them on.
	Ready mready, pready;
	Child doomed_member, doomed_producer;
	spawn(doomed_member, [&] {
		rb_ring *r = nullptr;
		rb_consumer *c = nullptr;
		rb_consumer_options o = {};
		o.group = "work";
		o.label = "doomed";
		rb_frame f;
		if (rb_ring_open(g.name.c_str(), &r) != 0 || rb_consumer_attach(r, &o, &c) != 0 ||
		    rb_consumer_acquire(c, &f, 2000000000ull) != 0 || f.seq != 0)
			return 1;
		mready.signal();
		for (;;)
			pause();
	});
	REQUIRE(mready.wait(5000));
	spawn(doomed_producer, [&] {
		rb_ring *r = nullptr;
		rb_producer *pp = nullptr;
		rb_frame f;
		if (rb_ring_open(g.name.c_str(), &r) != 0 || rb_producer_attach(r, nullptr, &pp) != 0 ||
		    rb_producer_acquire(pp, &f, RB_NO_WAIT) != 0 || f.seq != 1)
			return 1;
		pready.signal();
		for (;;)
			pause();
	});
	REQUIRE(pready.wait(5000));
	pid_t dead_producer = doomed_producer.pid, dead_member = doomed_member.pid;
	doomed_member.kill_now(SIGKILL);
	doomed_producer.kill_now(SIGKILL);
	REQUIRE(doomed_member.wait(5000) == 128 + SIGKILL);
	REQUIRE(doomed_producer.wait(5000) == 128 + SIGKILL);
	write_frames(p, 1); // seq 2, behind the dead producer's seq 1

	Result r = ctl({"info", "--json", g.name});
	REQUIRE(r.status == 0);
	Json info = parse_summary(r.out);
	CHECK(info["producer"]["producers_attached"].u64() == 2);
	CHECK(info["producer"]["producers_alive"].u64() == 1);
	CHECK(info["producer"]["claim_seq"].u64() == 3);
	bool saw_dead = false;
	for (const auto &pr : info["producers"].arr)
		if (pr["pid"].u64() == (uint64_t)dead_producer) {
			saw_dead = true;
			CHECK_FALSE(pr["alive"].b);
			CHECK(pr["hold_from"].u64() <= 1);
		}
	CHECK(saw_dead);

	r = ctl({"clean", "--dry-run", g.name});
	CHECK(r.status == 0);
	CHECK(contains(r.out, "would evict from " + g.name + ": producer #"));
	CHECK(contains(r.out, " pid " + std::to_string(dead_producer)));
	CHECK(contains(r.out, " pid " + std::to_string(dead_member) +
				      " \"doomed\" of group work"));

	r = ctl({"clean", g.name});
	CHECK(r.status == 0);
	CHECK(contains(r.out, "evicted from " + g.name));
	rb_ring_status st;
	REQUIRE(rb_ring_get_status(ring, &st) == 0);
	CHECK(st.producers == 1);
	CHECK(st.consumers == 1);
	CHECK(st.frames_abandoned == 1);
	CHECK(st.write_seq == 3);
	rb_group_status gs[RB_MAX_GROUPS];
	REQUIRE(rb_ring_groups(ring, gs, RB_MAX_GROUPS) == 1);
	CHECK(gs[0].members == 1);
	CHECK(gs[0].lost == 1); // what the dead member held: counted, not redelivered

	// The remaining member gets the dead producer's seq, flagged, then ours.
	rb_frame f;
	REQUIRE(rb_consumer_acquire(member, &f, 1000000000ull) == 0);
	CHECK(f.seq == 1);
	CHECK((f.flags & RB_FRAME_ABANDONED) != 0);
	CHECK(f.length == 0);
	REQUIRE(rb_consumer_release(member, &f) == 0);
	REQUIRE(rb_consumer_acquire(member, &f, 1000000000ull) == 0);
	CHECK(f.seq == 2);
	CHECK((f.flags & RB_FRAME_ABANDONED) == 0);
	REQUIRE(rb_consumer_release(member, &f) == 0);

	r = ctl({"stat", "--prometheus", g.name});
	REQUIRE(r.status == 0);
	auto samples = prometheus_samples(r.out);
	CHECK(sample_value(samples, "ringbuf_frames_abandoned_total{ring=\"" + g.name + "\"}") ==
	      "1");
	CHECK(sample_value(samples, "ringbuf_group_lost_total{ring=\"" + g.name +
					    "\",group=\"work\",mode=\"lossless\"}") == "1");

	rb_consumer_detach(member);
	rb_producer_detach(p, 0);
	rb_ring_close(ring);
}

TEST_CASE("nothing is left behind in /dev/shm")
{
	CHECK(leftovers().empty());
}
