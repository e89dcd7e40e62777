// The segment: creation options, names, permissions, and refusal of every
// corrupted, truncated, foreign or newer segment.
#include <catch2/catch.hpp>

#include "test_support.hpp"

#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>

using namespace rbt;

namespace {

// Writes `len` bytes at `off` of the ring's file (as a hostile peer would).
void poke(const std::string &name, off_t off, const void *bytes, size_t len)
{
	int fd = open(shm_path(name).c_str(), O_RDWR);
	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, bytes, len, off) == (ssize_t)len);
	close(fd);
}

template <typename T> void poke_value(const std::string &name, off_t off, T v)
{
	poke(name, off, &v, sizeof(v));
}

// Creates a ring, closes it, and returns its name (guarded by the caller).
void make_ring(const std::string &name, rb_ring_config cfg = small_config())
{
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(name.c_str(), &cfg, &r) == 0);
	rb_ring_close(r);
}

int open_rc(const std::string &name)
{
	rb_ring *r = nullptr;
	int rc = rb_ring_open(name.c_str(), &r);
	if (rc == 0)
		rb_ring_close(r);
	return rc;
}

} // namespace

TEST_CASE("create validates its configuration")
{
	RingGuard g(unique_name("cfg"));
	rb_ring *r = nullptr;
	rb_ring_config cfg = small_config(256, 12);
	CHECK(rb_ring_create(g.name.c_str(), &cfg, &r) == -EINVAL); // not a power of two
	cfg.flags = RB_CREATE_ROUND_UP;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	CHECK(rb_ring_slot_count(r) == 16);
	rb_ring_close(r);

	RingGuard g2(unique_name("cfg"));
	cfg = small_config(0, 8);
	CHECK(rb_ring_create(g2.name.c_str(), &cfg, &r) == -EINVAL);
	cfg = small_config(100, 8);
	cfg.slot_align = 96;
	CHECK(rb_ring_create(g2.name.c_str(), &cfg, &r) == -EINVAL);
	cfg.slot_align = 32;
	CHECK(rb_ring_create(g2.name.c_str(), &cfg, &r) == -EINVAL);
	cfg.slot_align = 4096;
	REQUIRE(rb_ring_create(g2.name.c_str(), &cfg, &r) == 0);
	CHECK(rb_ring_slot_stride(r) == 4096);
	CHECK(((uintptr_t)rb_ring_slots(r) % 4096) == 0);
	rb_ring_close(r);

	RingGuard g3(unique_name("cfg"));
	cfg = small_config(64, 8);
	cfg.max_consumers = RB_MAX_CONSUMERS + 1;
	CHECK(rb_ring_create(g3.name.c_str(), &cfg, &r) == -EINVAL);
	cfg.max_consumers = 0;
	cfg.type.elem = RB_ELEM_U16;
	cfg.type.ndim = 2;
	cfg.type.dims[0] = 4;
	cfg.type.dims[1] = 9; // 72 bytes > 64
	CHECK(rb_ring_create(g3.name.c_str(), &cfg, &r) == -EINVAL);
	cfg.type.dims[1] = 8;
	REQUIRE(rb_ring_create(g3.name.c_str(), &cfg, &r) == 0);
	rb_ring_close(r);
	REQUIRE(rb_ring_open(g3.name.c_str(), &r) == 0);
	const rb_frame_type *t = rb_ring_frame_type(r);
	CHECK(t->elem == RB_ELEM_U16);
	CHECK(t->ndim == 2);
	CHECK(t->dims[0] == 4);
	CHECK(t->dims[1] == 8);
	rb_ring_close(r);
}

TEST_CASE("ring names are checked")
{
	rb_ring *r = nullptr;
	rb_ring_config cfg = small_config();
	CHECK(rb_ring_create("", &cfg, &r) == -EINVAL);
	CHECK(rb_ring_create("a/b", &cfg, &r) == -EINVAL);
	CHECK(rb_ring_create("..x", &cfg, &r) == -EINVAL);
	CHECK(rb_ring_create(std::string(RB_NAME_MAX + 1, 'a').c_str(), &cfg, &r) == -EINVAL);
	CHECK(rb_ring_open("no such ring", &r) == -EINVAL);
	CHECK(rb_ring_open(unique_name("missing").c_str(), &r) == -ENOENT);
}

TEST_CASE("create never clobbers unless asked, and not a live ring even then")
{
	RingGuard g(unique_name("clobber"));
	rb_ring_config cfg = small_config();
	rb_ring *a = nullptr, *b = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &a) == 0);
	CHECK(rb_ring_create(g.name.c_str(), &cfg, &b) == -EEXIST);
	rb_producer *p = nullptr;
	REQUIRE(rb_producer_attach(a, nullptr, &p) == 0);
	cfg.flags = RB_CREATE_REPLACE;
	CHECK(rb_ring_create(g.name.c_str(), &cfg, &b) == -EBUSY);
	rb_producer_detach(p, 0);
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &b) == 0);
	rb_ring_close(a);
	rb_ring_close(b);
}

TEST_CASE("permissions are 0600 by default and 0660 with group access")
{
	RingGuard g(unique_name("perm"));
	mode_t old = umask(077);
	rb_ring_config cfg = small_config();
	make_ring(g.name, cfg);
	struct stat st;
	REQUIRE(stat(shm_path(g.name).c_str(), &st) == 0);
	CHECK((st.st_mode & 0777) == 0600);

	RingGuard g2(unique_name("perm"));
	cfg.flags = RB_CREATE_GROUP_ACCESS;
	make_ring(g2.name, cfg);
	REQUIRE(stat(shm_path(g2.name).c_str(), &st) == 0);
	CHECK((st.st_mode & 0777) == 0660);
	umask(old);
}

TEST_CASE("a ring owned by another user is refused with permission denied")
{
	RingGuard g(unique_name("perm"));
	make_ring(g.name);
	Child child;
	spawn(child, [&] {
		// An unprivileged user with no capabilities (we run as root).
		if (setgid(65534) != 0 || setuid(65534) != 0)
			return 2;
		rb_ring *r = nullptr;
		return rb_ring_open(g.name.c_str(), &r) == -EACCES ? 0 : 1;
	});
	CHECK(child.wait(10000) == 0);
	CHECK(std::string(rb_strerror(-EACCES)).find("permission denied") != std::string::npos);
}

TEST_CASE("huge pages, mlock and prefault options")
{
	RingGuard g(unique_name("opts"));
	rb_ring_config cfg = small_config(4096, 16);
	cfg.flags = RB_CREATE_HUGEPAGES | RB_CREATE_MLOCK | RB_CREATE_PREFAULT;
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	// Which backing was obtained depends on the kernel's shmem THP policy;
	// either way it is reported, and the ring works and reopens.
	enum rb_pages pages = rb_ring_pages(r);
	CHECK((pages == RB_PAGES_NORMAL || pages == RB_PAGES_THP));
	if (pages == RB_PAGES_THP)
		CHECK(rb_ring_segment_bytes(r) % (2u << 20) == 0);
	rb_ring_close(r);
	REQUIRE(rb_ring_open(g.name.c_str(), &r) == 0);
	CHECK(rb_ring_pages(r) == pages);
	rb_ring_close(r);
}

TEST_CASE("a ring too large for /dev/shm fails cleanly with ENOSPC")
{
	RingGuard g(unique_name("big"));
	rb_ring_config cfg = small_config(1ull << 30, 1024); // 1 TiB
	rb_ring *r = nullptr;
	int rc = rb_ring_create(g.name.c_str(), &cfg, &r);
	CHECK((rc == -ENOSPC || rc == -EFBIG || rc == -ENOMEM));
	CHECK(access(shm_path(g.name).c_str(), F_OK) != 0);
	// No temporary file is left either.
	CHECK(system("ls /dev/shm | grep -q '^rb-.tmp-' && exit 1 || exit 0") == 0);
}

TEST_CASE("segments that are not rings, or damaged rings, are refused")
{
	RingGuard g(unique_name("bad"));

	SECTION("foreign file") {
		int fd = open(shm_path(g.name).c_str(), O_CREAT | O_RDWR, 0600);
		REQUIRE(fd >= 0);
		const char junk[] = "this is somebody else's shared memory, not a ring";
		REQUIRE(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
		REQUIRE(ftruncate(fd, 1 << 20) == 0);
		close(fd);
		CHECK(open_rc(g.name) == RB_E_NOT_A_RING);
	}
	SECTION("empty file") {
		int fd = open(shm_path(g.name).c_str(), O_CREAT | O_RDWR, 0600);
		close(fd);
		CHECK(open_rc(g.name) == RB_E_NOT_A_RING);
	}
	SECTION("truncated ring") {
		make_ring(g.name);
		REQUIRE(truncate(shm_path(g.name).c_str(), 8192) == 0);
		CHECK(open_rc(g.name) == RB_E_CORRUPT);
		REQUIRE(truncate(shm_path(g.name).c_str(), 100) == 0);
		CHECK(open_rc(g.name) == RB_E_CORRUPT);
	}
	SECTION("extended ring") {
		make_ring(g.name);
		struct stat st;
		REQUIRE(stat(shm_path(g.name).c_str(), &st) == 0);
		REQUIRE(truncate(shm_path(g.name).c_str(), st.st_size + 4096) == 0);
		CHECK(open_rc(g.name) == RB_E_CORRUPT);
	}
	SECTION("newer layout version") {
		make_ring(g.name);
		poke_value<uint32_t>(g.name, 8, 5);
		CHECK(open_rc(g.name) == RB_E_VERSION);
		// Layout 3 rings (one stream header, no per-frame drops) too.
		poke_value<uint32_t>(g.name, 8, 3);
		CHECK(open_rc(g.name) == RB_E_VERSION);
		// Layout 2 rings (before stalled consumers could be demoted) too.
		poke_value<uint32_t>(g.name, 8, 2);
		CHECK(open_rc(g.name) == RB_E_VERSION);
		// Layout 1 rings (before several producers) are refused too.
		poke_value<uint32_t>(g.name, 8, 1);
		CHECK(open_rc(g.name) == RB_E_VERSION);
	}
	SECTION("any flipped header byte") {
		make_ring(g.name);
		// Every byte of the immutable header is covered: flip each in turn.
		for (off_t off = 8; off < 256; off++) {
			uint8_t b;
			int fd = open(shm_path(g.name).c_str(), O_RDWR);
			REQUIRE(pread(fd, &b, 1, off) == 1);
			uint8_t flipped = (uint8_t)(b ^ 0x40);
			REQUIRE(pwrite(fd, &flipped, 1, off) == 1);
			int rc = open_rc(g.name);
			REQUIRE(pwrite(fd, &b, 1, off) == 1);
			close(fd);
			INFO("offset " << off);
			CHECK(rc != 0);
		}
		CHECK(open_rc(g.name) == 0);
	}
}

#include "../ringbuf/rb_layout.h"

TEST_CASE("a hostile header with a valid checksum is still refused")
{
	RingGuard g(unique_name("hostile"));
	make_ring(g.name);
	int fd = open(shm_path(g.name).c_str(), O_RDWR);
	REQUIRE(fd >= 0);
	rb_shm_header h;
	REQUIRE(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	const rb_shm_header good = h;
	auto rewrite = [&](const rb_shm_header &x) {
		rb_shm_header y = x;
		// Recompute FNV-1a over bytes 0..247, as an attacker would.
		uint64_t sum = 0xcbf29ce484222325ull;
		const uint8_t *p = reinterpret_cast<const uint8_t *>(&y);
		for (size_t i = 0; i < offsetof(rb_shm_header, checksum); i++) {
			sum ^= p[i];
			sum *= 0x100000001b3ull;
		}
		y.checksum = sum;
		REQUIRE(pwrite(fd, &y, sizeof(y), 0) == (ssize_t)sizeof(y));
		return open_rc(g.name);
	};
	h.slots_offset += 4096; // slots past the end
	CHECK(rewrite(h) == RB_E_CORRUPT);
	h = good;
	h.slot_count = 12; // not a power of two
	CHECK(rewrite(h) == RB_E_CORRUPT);
	h = good;
	h.frame_bytes = h.slot_stride * 2; // frames overlapping the next slot
	CHECK(rewrite(h) == RB_E_CORRUPT);
	h = good;
	h.max_consumers = 1000;
	CHECK(rewrite(h) == RB_E_CORRUPT);
	h = good;
	h.elem_type = 77;
	CHECK(rewrite(h) == RB_E_CORRUPT);
	h = good;
	h.elem_type = RB_ELEM_U64;
	h.ndim = 1;
	h.dims[0] = ~0ull / 4; // overflowing shape
	CHECK(rewrite(h) == RB_E_CORRUPT);
	h = good;
	CHECK(rewrite(h) == 0);
	close(fd);
}

TEST_CASE("a hostile peer rewriting shared fields cannot make a consumer read out of bounds")
{
	RingGuard g(unique_name("hostile"));
	rb_ring_config cfg = small_config(64, 8);
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_create(g.name.c_str(), &cfg, &r) == 0);
	rb_producer *p = nullptr;
	rb_consumer *c = nullptr;
	REQUIRE(rb_producer_attach(r, nullptr, &p) == 0);
	REQUIRE(rb_consumer_attach(r, nullptr, &c) == 0);
	rb_frame f;
	REQUIRE(rb_producer_acquire(p, &f, RB_NO_WAIT) == 0);
	f.length = 64;
	REQUIRE(rb_producer_commit(p, &f) == 0);

	// Read the descriptor offset from the header and corrupt the length.
	rb_shm_header h;
	int fd = open(shm_path(g.name).c_str(), O_RDWR);
	REQUIRE(pread(fd, &h, sizeof(h), 0) == (ssize_t)sizeof(h));
	uint64_t huge = 1ull << 40;
	REQUIRE(pwrite(fd, &huge, 8, (off_t)h.descriptors_offset + 8) == 8);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_CORRUPT);
	// A descriptor naming the wrong sequence is refused as well.
	uint64_t len = 64, wrong = 5;
	REQUIRE(pwrite(fd, &len, 8, (off_t)h.descriptors_offset + 8) == 8);
	REQUIRE(pwrite(fd, &wrong, 8, (off_t)h.descriptors_offset) == 8);
	CHECK(rb_consumer_acquire(c, &f, RB_NO_WAIT) == RB_E_CORRUPT);
	close(fd);
	rb_consumer_detach(c);
	rb_producer_detach(p, 0);
	rb_ring_close(r);
}

TEST_CASE("error codes have sentences")
{
	CHECK(std::string(rb_strerror(RB_E_NOT_A_RING)).find("not a ringbuf ring") != std::string::npos);
	CHECK(std::string(rb_strerror(RB_E_PRODUCER_DEAD)).find("producer died") != std::string::npos);
	CHECK(std::string(rb_strerror(-ENOENT)) == "no such ring");
	CHECK(rb_elem_parse("f32") == RB_ELEM_F32);
	CHECK(rb_elem_parse("f33") == -EINVAL);
	CHECK(rb_elem_size(RB_ELEM_C128) == 16);
}

TEST_CASE("rings are listed, and monitors see their geometry")
{
	RingGuard g(unique_name("list"));
	rb_ring_config cfg = small_config(100, 8);
	cfg.slot_align = 128;
	cfg.initial_seq = 7;
	make_ring(g.name, cfg);
	struct Found {
		std::string want;
		bool seen = false;
	} found{g.name};
	int rc = rb_ring_foreach([](const char *name, void *arg) {
		auto *f = static_cast<Found *>(arg);
		if (f->want == name)
			f->seen = true;
		return 0;
	}, &found);
	CHECK(rc == 0);
	CHECK(found.seen);
	rb_ring *r = nullptr;
	REQUIRE(rb_ring_open(g.name.c_str(), &r) == 0);
	CHECK(rb_ring_slot_align(r) == 128);
	CHECK(rb_ring_slot_stride(r) == 128);
	CHECK(rb_ring_initial_seq(r) == 7);
	CHECK(rb_ring_stream_header_capacity(r) == 16384);
	CHECK(rb_ring_created_ns(r) > 0);
	rb_ring_close(r);
}
