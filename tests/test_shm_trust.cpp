// Shared memory written by someone else (issue 12): a ring owned by another
// user is refused unless its owner is trusted; a ring truncated under the
// programs ends them with a clear error instead of a death by SIGBUS;
// something that is not a regular file under a ring's name is "not a
// ring"; a ring made with no group records says so to a group member.
// The library's parts are tested in this process, the programs as real
// children.
#include "program_support.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <setjmp.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

using namespace rbt;

namespace {

const uint32_t NOBODY = 65534;

std::string ctl_path() { return program("tools/ctl/rb-ctl"); }

const rb_ring_config *small_ring()
{
	static const rb_ring_config c = small_config();
	return &c;
}

bool contains(const std::string &text, const std::string &what)
{
	return text.find(what) != std::string::npos;
}

// Forks a child that becomes `uid`, creates the ring `name` (mode 0660
// with group access, so that only the owner check stands between root and
// it), signals `ready` and waits for a byte on `go` before it removes the
// ring and exits.
void spawn_foreign_ring(Child &child, const std::string &name, uint32_t uid, Ready &ready,
			int go_fd)
{
	spawn(child, [&] {
		if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
			return 10;
		rb_ring_config cfg = small_config();
		cfg.flags |= RB_CREATE_GROUP_ACCESS;
		rb_ring *ring = nullptr;
		if (rb_ring_create(name.c_str(), &cfg, &ring) != 0)
			return 11;
		ready.signal();
		char b;
		(void)!read(go_fd, &b, 1); // returns when the parent writes or dies
		rb_ring_close(ring);
		rb_ring_remove(name.c_str());
		return 0;
	});
}

} // namespace

TEST_CASE("a ring owned by another user is refused unless its owner is trusted")
{
	REQUIRE(geteuid() == 0); // the test changes uid in a child
	std::string name = unique_name("foreign");
	RingGuard guard(name);
	int go[2];
	REQUIRE(pipe(go) == 0);
	Ready ready;
	Child child;
	spawn_foreign_ring(child, name, NOBODY, ready, go[0]);
	REQUIRE(ready.wait(10000));
	struct stat st;
	REQUIRE(stat(shm_path(name).c_str(), &st) == 0);
	REQUIRE(st.st_uid == NOBODY);

	rb_ring *ring = nullptr;
	CHECK(rb_ring_open(name.c_str(), &ring) == RB_E_UNTRUSTED);
	CHECK(ring == nullptr);
	rb_open_params p{};
	CHECK(rb_ring_open_params(name.c_str(), &p, &ring) == RB_E_UNTRUSTED);
	uint32_t others[] = {1, 12345};
	p.trusted_uids = others;
	p.trusted_count = 2;
	CHECK(rb_ring_open_params(name.c_str(), &p, &ring) == RB_E_UNTRUSTED);

	uint32_t nobody = NOBODY;
	p.trusted_uids = &nobody;
	p.trusted_count = 1;
	REQUIRE(rb_ring_open_params(name.c_str(), &p, &ring) == 0);
	CHECK(rb_ring_owner_uid(ring) == NOBODY);
	rb_ring_close(ring);
	ring = nullptr;

	rb_open_params any{};
	any.flags = RB_OPEN_TRUST_ANY_OWNER;
	REQUIRE(rb_ring_open_params(name.c_str(), &any, &ring) == 0);
	rb_ring_close(ring);
	ring = nullptr;

	// Creating over it with RB_CREATE_REPLACE neither judges nor removes it.
	rb_ring_config cfg = small_config();
	cfg.flags |= RB_CREATE_REPLACE;
	CHECK(rb_ring_create(name.c_str(), &cfg, &ring) == RB_E_UNTRUSTED);
	CHECK(shm_exists(name));

	// Bad parameters are refused, not ignored.
	rb_open_params bad{};
	bad.reserved_[0] = 1;
	CHECK(rb_ring_open_params(name.c_str(), &bad, &ring) == -EINVAL);
	bad = rb_open_params{};
	bad.trusted_count = 1;
	CHECK(rb_ring_open_params(name.c_str(), &bad, &ring) == -EINVAL);
	bad = rb_open_params{};
	bad.flags = 1u << 7;
	CHECK(rb_ring_open_params(name.c_str(), &bad, &ring) == -EINVAL);

	// A code of its own, with a sentence that says what to do.
	std::string text = rb_strerror(RB_E_UNTRUSTED);
	CHECK(contains(text, "another user"));
	CHECK(contains(text, "--trust-owner"));
	CHECK(RB_E_UNTRUSTED != -EACCES);

	SECTION("the programs refuse it, and accept it with --trust-owner")
	{
		Proc c({consumer_path(), name, "null", "--count", "1", "--json"});
		REQUIRE(c.wait(20000) == 1);
		CHECK(contains(c.stderr_text(), "belongs to user nobody (uid 65534), who is not "
						"trusted: add --trust-owner nobody"));
		Proc p({producer_path(), name, "--attach", "--count", "1"});
		REQUIRE(p.wait(20000) == 1);
		CHECK(contains(p.stderr_text(), "--trust-owner nobody"));
		Proc i({ctl_path(), "info", name});
		REQUIRE(i.wait(20000) == 1);
		CHECK(contains(i.stderr_text(), "--trust-owner nobody"));

		Proc i2({ctl_path(), "--trust-owner", "nobody", "info", name});
		CHECK(i2.wait(20000) == 0);
		Proc i3({ctl_path(), "--trust-owner=65534", "info", name, "--json"});
		CHECK(i3.wait(20000) == 0);
		// The ring's own producer is not running: a consumer that is let in
		// waits for frames; one frame from a trusted producer ends it.
		Proc c2({consumer_path(), name, "null", "--count", "1", "--trust-owner",
			 "nobody", "--json"});
		Proc p2({producer_path(), name, "--attach", "--count", "1", "--trust-owner",
			 "65534"});
		CHECK(p2.wait(20000) == 0);
		CHECK(c2.wait(20000) == 0);
		CHECK(c2.summary()["frames"].u64() == 1);

		Proc bad_user({consumer_path(), name, "--trust-owner", "no-such-user-xyz"});
		CHECK(bad_user.wait(20000) == 2);
		CHECK(contains(bad_user.stderr_text(), "no such user"));
	}

	REQUIRE(write(go[1], "x", 1) == 1);
	CHECK(child.wait(10000) == 0);
	close(go[0]);
	close(go[1]);
}

TEST_CASE("rings owned by root or by the caller are always trusted")
{
	REQUIRE(geteuid() == 0);
	std::string name = unique_name("rootown");
	RingGuard guard(name);
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(name.c_str(), small_ring(), &ring) == 0);
	REQUIRE(chmod(shm_path(name).c_str(), 0666) == 0);
	Child child;
	spawn(child, [&] {
		if (setresgid(NOBODY, NOBODY, NOBODY) != 0 ||
		    setresuid(NOBODY, NOBODY, NOBODY) != 0)
			return 10;
		rb_ring *r = nullptr;
		if (rb_ring_open(name.c_str(), &r) != 0) // root's ring
			return 11;
		rb_ring_close(r);
		std::string own = name + "-own";
		if (rb_ring_create(own.c_str(), small_ring(), &r) != 0)
			return 12;
		rb_ring_close(r);
		int rc = rb_ring_open(own.c_str(), &r) == 0 ? 0 : 13; // its own
		rb_ring_close(r);
		rb_ring_remove(own.c_str());
		return rc;
	});
	CHECK(child.wait(10000) == 0);
	rb_ring_close(ring);
}

TEST_CASE("something not a regular file under a ring's name is not a ring")
{
	std::string name = unique_name("notring");
	std::string path = shm_path(name);
	rb_ring *ring = nullptr;

	SECTION("a directory")
	{
		REQUIRE(mkdir(path.c_str(), 0700) == 0);
		CHECK(rb_ring_open(name.c_str(), &ring) == RB_E_NOT_A_RING);
		Proc c({consumer_path(), name});
		CHECK(c.wait(20000) == 1);
		CHECK(c.stderr_text() == "rb-consumer: ring '" + name + "': not a ringbuf ring "
					 "(not a regular file, or wrong magic number)\n");
		Proc p({producer_path(), name, "--attach"});
		CHECK(p.wait(20000) == 1);
		CHECK(contains(p.stderr_text(), "not a ringbuf ring"));
		Proc i({ctl_path(), "info", name});
		CHECK(i.wait(20000) == 1);
		CHECK(contains(i.stderr_text(), "not a ringbuf ring"));
		rmdir(path.c_str());
	}
	SECTION("a symbolic link to a ring")
	{
		std::string real = unique_name("real");
		RingGuard g(real);
		REQUIRE(rb_ring_create(real.c_str(), small_ring(), &ring) == 0);
		rb_ring_close(ring);
		ring = nullptr;
		REQUIRE(symlink(shm_path(real).c_str(), path.c_str()) == 0);
		CHECK(rb_ring_open(name.c_str(), &ring) == RB_E_NOT_A_RING);
		unlink(path.c_str());
	}
	SECTION("a FIFO and a socket")
	{
		REQUIRE(mkfifo(path.c_str(), 0600) == 0);
		CHECK(rb_ring_open(name.c_str(), &ring) == RB_E_NOT_A_RING);
		unlink(path.c_str());
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		REQUIRE(s >= 0);
		sockaddr_un a{};
		a.sun_family = AF_UNIX;
		REQUIRE(path.size() < sizeof(a.sun_path));
		memcpy(a.sun_path, path.c_str(), path.size() + 1);
		REQUIRE(bind(s, (sockaddr *)&a, sizeof(a)) == 0);
		CHECK(rb_ring_open(name.c_str(), &ring) == RB_E_NOT_A_RING);
		close(s);
		unlink(path.c_str());
	}
	CHECK(ring == nullptr);
}

TEST_CASE("a ring made with no group records refuses group members clearly")
{
	std::string name = unique_name("nogroups");
	RingGuard guard(name);
	rb_ring *ring = nullptr;
	rb_ring_config cfg = small_config();

	cfg.flags = RB_CREATE_NO_GROUPS;
	cfg.max_groups = 3; // contradicts the flag
	CHECK(rb_ring_create(name.c_str(), &cfg, &ring) == -EINVAL);
	cfg.max_groups = 0;
	REQUIRE(rb_ring_create(name.c_str(), &cfg, &ring) == 0);
	CHECK(rb_ring_max_groups(ring) == 0);
	rb_consumer_options o{};
	o.group = "g";
	rb_consumer *c = nullptr;
	CHECK(rb_consumer_attach(ring, &o, &c) == RB_E_NO_GROUPS);
	CHECK(c == nullptr);
	CHECK(contains(rb_strerror(RB_E_NO_GROUPS), "no room for consumer groups"));
	o.group = nullptr; // a plain consumer is fine
	REQUIRE(rb_consumer_attach(ring, &o, &c) == 0);
	rb_consumer_detach(c);
	rb_ring_close(ring);
	rb_ring_remove(name.c_str());

	// The programs: rb-ctl create --max-groups 0, then a --group member.
	Proc mk({ctl_path(), "create", name, "--frame-size", "256", "--slots", "16",
		 "--max-groups", "0"});
	REQUIRE(mk.wait(20000) == 0);
	Watch w;
	REQUIRE(w.open(name, 5000));
	CHECK(rb_ring_max_groups(w.ring) == 0);
	Proc c1({consumer_path(), name, "null", "--group", "g", "--count", "1"});
	CHECK(c1.wait(20000) == 1);
	CHECK(c1.stderr_text() == "rb-consumer: ring '" + name + "': this ring has no room for "
				  "consumer groups (it was made with none)\n");
	Proc info({ctl_path(), "info", name, "--json"});
	CHECK(info.wait(20000) == 0);
	CHECK(parse_summary(info.stdout_text())["max_groups"].u64() == 0);

	// rb-producer --max-groups 0 makes the same kind of ring.
	RingGuard guard2(name + "-p");
	Proc prod({producer_path(), guard2.name, "--max-groups", "0", "--count", "1", "--keep"});
	REQUIRE(prod.wait(20000) == 0);
	Watch w2;
	REQUIRE(w2.open(guard2.name, 5000));
	CHECK(rb_ring_max_groups(w2.ring) == 0);
	CHECK((rb_ring_create_flags(w2.ring) & RB_CREATE_NO_GROUPS) != 0);
}

// ---- truncation ------------------------------------------------------------

namespace {

void on_sigbus(int, siginfo_t *info, void *)
{
	if (rb_ring_handle_sigbus(info->si_addr) != 1)
		signal(SIGBUS, SIG_DFL);
}

} // namespace

TEST_CASE("the library's SIGBUS helper turns a truncated ring into zero pages")
{
	std::string name = unique_name("trunc-lib");
	RingGuard guard(name);
	rb_ring *ring = nullptr;
	REQUIRE(rb_ring_create(name.c_str(), small_ring(), &ring) == 0);
	int dummy = 0;
	CHECK(rb_ring_handle_sigbus(&dummy) == 0); // not a ring mapping
	CHECK(rb_ring_truncated(ring) == 0);
	rb_ring_status st;
	REQUIRE(rb_ring_get_status(ring, &st) == 0);
	// A consumer that has seen frames: after the truncation its ring
	// reads as zeros, which must come out as "truncated", not "corrupt".
	rb_producer *p = nullptr;
	rb_consumer *c = nullptr;
	REQUIRE(rb_consumer_attach(ring, nullptr, &c) == 0);
	REQUIRE(rb_producer_attach(ring, nullptr, &p) == 0);
	REQUIRE(rb_producer_begin_stream(p, "source=test\n") == 0);
	for (int k = 0; k < 2; k++) {
		rb_frame f;
		REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
		f.length = 8;
		REQUIRE(rb_producer_commit(p, &f) == 0);
	}
	rb_frame got[2];
	REQUIRE(rb_consumer_acquire_batch(c, got, 2, 2, RB_NO_WAIT) == 2);
	REQUIRE(rb_consumer_release_batch(c, got, 2) == 0);

	struct sigaction sa{}, old{};
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	REQUIRE(sigaction(SIGBUS, &sa, &old) == 0);
	REQUIRE(truncate(shm_path(name).c_str(), 0) == 0);
	// The first touch faults; the helper maps zeros over the whole ring.
	volatile uint8_t *slots = (volatile uint8_t *)rb_ring_slots(ring);
	CHECK(slots[0] == 0);
	slots[1] = 7; // writable, private
	CHECK(rb_ring_truncated(ring) == 1);
	CHECK(rb_ring_get_status(ring, &st) == RB_E_TRUNCATED);
	rb_consumer_status cs[4];
	CHECK(rb_ring_consumers(ring, cs, 4) == RB_E_TRUNCATED);
	CHECK(contains(rb_strerror(RB_E_TRUNCATED), "truncated under us"));
	CHECK(rb_consumer_acquire_batch(c, got, 2, 1, RB_NO_WAIT) == RB_E_TRUNCATED);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
	rb_ring_close(ring);
	REQUIRE(sigaction(SIGBUS, &old, nullptr) == 0);

	// The registry forgets closed rings: a new ring is not truncated.
	rb_ring_remove(name.c_str());
	REQUIRE(rb_ring_create(name.c_str(), small_ring(), &ring) == 0);
	CHECK(rb_ring_truncated(ring) == 0);
	rb_ring_close(ring);
}

namespace {

// Waits for a program to end; it must exit 1 (not die by a signal) and
// say that the ring was truncated.
void check_truncated_exit(Proc &p, const std::string &name, const char *program)
{
	int status = p.wait(20000);
	INFO(program << " stderr: " << p.stderr_text());
	CHECK(status == 1);
	CHECK(contains(p.stderr_text(), std::string(program) + ": ring '" + name +
						"': ring truncated under us"));
}

} // namespace

TEST_CASE("the programs survive a ring truncated under them")
{
	std::string name = unique_name("trunc");
	RingGuard guard(name);
	Proc prod({producer_path(), name, "--rate", "2kHz", "--duration", "60s", "--json"});
	Watch w;
	REQUIRE(w.open(name, 10000));
	Proc cons({consumer_path(), name, "verify", "--json"});
	Proc lossy({consumer_path(), name, "null", "--lossy", "--json"});
	Proc top({ctl_path(), "top", name, "--interval", "100ms"});
	REQUIRE(w.consumers(2, 10000));
	REQUIRE(w.frames(200, 10000));
	// top has the ring mapped once it has shown a view.
	REQUIRE(eventually([&] { return !top.stdout_text().empty(); }, 20000));
	rb_ring_close(w.ring); // the test itself has no handler
	w.ring = nullptr;

	REQUIRE(truncate(shm_path(name).c_str(), 0) == 0);

	check_truncated_exit(prod, name, "rb-producer");
	check_truncated_exit(cons, name, "rb-consumer");
	check_truncated_exit(lossy, name, "rb-consumer");
	check_truncated_exit(top, name, "rb-ctl");
	// Summaries are still printed, saying why the run ended.
	Json ps = prod.summary();
	CHECK(ps["end"].s() == "truncated");
	CHECK(!ps.has("signal"));
	CHECK(ps["frames"].u64() >= 200);
	Json cs = parse_summary(cons.stdout_text());
	CHECK(cs["end"].s() == "truncated");
	CHECK(cs["frames"].u64() >= 1);
}

TEST_CASE("the recorder closes its recording when the ring is truncated")
{
	std::string name = unique_name("trunc-rec");
	RingGuard guard(name);
	char dir[] = "/tmp/rb-trunc-XXXXXX";
	REQUIRE(mkdtemp(dir) != nullptr);
	std::string file = std::string(dir) + "/rec";
	struct DirGuard {
		std::string dir, file;
		~DirGuard()
		{
			unlink(file.c_str());
			rmdir(dir.c_str());
		}
	} dir_guard{dir, file};
	Proc prod({producer_path(), name, "--rate", "2kHz", "--duration", "60s"});
	Watch w;
	REQUIRE(w.open(name, 10000));
	Proc rec({consumer_path(), name, "record", "--output", file, "--buffered", "--json"});
	REQUIRE(w.consumers(1, 10000));
	REQUIRE(w.frames(200, 10000));
	rb_ring_close(w.ring);
	w.ring = nullptr;
	REQUIRE(truncate(shm_path(name).c_str(), 0) == 0);
	check_truncated_exit(rec, name, "rb-consumer");
	check_truncated_exit(prod, name, "rb-producer");
	Json s = parse_summary(rec.stdout_text());
	CHECK(s["end"].s() == "truncated");
	// The file is a closed, readable recording.
	Proc check({producer_path(), "--source", "file", "--input", file, "--check", "--json"});
	int st = check.wait(30000);
	INFO("check: " << check.stdout_text() << check.stderr_text());
	CHECK(st == 0);
	Json k = parse_summary(check.stdout_text());
	CHECK(k["frames"].u64() == s["recorded_frames"].u64());
}
