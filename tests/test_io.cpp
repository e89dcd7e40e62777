// End-to-end tests of the io_uring I/O of the programs (docs/RECORDING.md):
// rb-consumer record, rb-producer --source file (replay and --check),
// --source udp and udp-send. Real programs, forked and exec'd.
//
// Recordings are read back by an independent reader written from
// docs/RECORDING.md (read_recording below), not by the programs' own code,
// so a format mistake shows up as a disagreement.
//
// Rules, as in test_programs.cpp: unique ring names with a RingGuard
// declared before any child; every file in a temporary directory removed
// at scope exit (a TempDir declared before the children); a tmpfs mount
// unmounted at scope exit in every path; bounded waits on the thing itself,
// never a sleep.
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdexcept>
#include <string>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <vector>

using namespace rbt;

namespace {

// Jails: what a child does to itself before exec (Proc's pre-exec hook),
// to take the preferred I/O paths away from the programs.

// seccomp: io_uring_setup fails with ENOSYS.
bool deny_io_uring()
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
	       prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// No CAP_IPC_LOCK, RLIMIT_MEMLOCK 64 KiB. Root gets every capability of
// the bounding set back at exec: drop CAP_IPC_LOCK from it, so that
// io_uring charges registered buffers to RLIMIT_MEMLOCK as it does for an
// ordinary user.
bool limit_memlock()
{
	struct rlimit rl = {65536, 65536};
	return prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) == 0 &&
	       setrlimit(RLIMIT_MEMLOCK, &rl) == 0;
}

// A directory for the test's files, removed with them at scope exit.
struct TempDir {
	std::string path;
	explicit TempDir(const char *base = "/tmp")
	{
		std::string t = std::string(base) + "/rb-io-test-XXXXXX";
		std::vector<char> buf(t.begin(), t.end());
		buf.push_back('\0');
		REQUIRE(mkdtemp(buf.data()) != nullptr);
		path = buf.data();
	}
	~TempDir() { remove_tree(path); }
	static void remove_tree(const std::string &dir)
	{
		DIR *d = opendir(dir.c_str());
		if (d != nullptr) {
			struct dirent *e;
			while ((e = readdir(d)) != nullptr) {
				std::string n = e->d_name;
				if (n == "." || n == "..")
					continue;
				std::string p = dir + "/" + n;
				struct stat st;
				if (lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
					remove_tree(p);
				else
					unlink(p.c_str());
			}
			closedir(d);
		}
		rmdir(dir.c_str());
	}
	std::string operator/(const std::string &name) const { return path + "/" + name; }
};

// A small tmpfs, unmounted (lazily, so a file still open cannot keep it)
// at scope exit, whatever happened.
struct Mount {
	std::string dir;
	bool mounted = false;
	Mount(const std::string &d, const char *size) : dir(d)
	{
		if (mkdir(dir.c_str(), 0700) != 0)
			return;
		std::string opts = std::string("size=") + size;
		mounted = mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
	}
	~Mount()
	{
		if (mounted)
			umount2(dir.c_str(), MNT_DETACH);
		rmdir(dir.c_str());
	}
};

// ---- an independent reader of recordings (docs/RECORDING.md) ------------

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
	static uint32_t table[256];
	static bool ready = false;
	if (!ready) {
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;
			for (int k = 0; k < 8; k++)
				c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
			table[i] = c;
		}
		ready = true;
	}
	const uint8_t *p = static_cast<const uint8_t *>(data);
	uint32_t c = ~crc;
	while (n--)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

template <typename T> T get(const std::vector<uint8_t> &b, size_t off)
{
	T v{};
	if (off + sizeof(T) > b.size())
		throw std::runtime_error("read past the end");
	memcpy(&v, b.data() + off, sizeof(T));
	return v;
}

struct RecFrame {
	uint64_t seq, length, timestamp;
	uint32_t flags, rflags;
	std::vector<uint8_t> data;
	std::string file;        // the part holding it
	uint64_t data_offset;    // where its bytes are in that file
	uint64_t page_offset;    // where its descriptor page is
	uint32_t entry;          // its index in that page
};

struct Recording {
	uint32_t version = 0;
	std::string text;
	uint32_t elem = 0, ndim = 0;
	uint64_t dims[4] = {0, 0, 0, 0};
	uint64_t frame_bytes = 0;
	uint32_t parts = 0;
	bool closed = true;      // every part has its summary
	uint32_t last_end = 0;   // the last part's summary end code
	uint32_t last_error = 0;
	std::vector<RecFrame> frames;
};

// Files the recorder writes with O_DIRECT are read with O_DIRECT too: a
// buffered read racing a direct write can leave a stale page in the page
// cache (the kernel's "page cache invalidation failure"), and a reader
// would then see an old descriptor page for good.
int open_direct(const std::string &path)
{
	int fd = open(path.c_str(), O_RDONLY | O_DIRECT);
	if (fd < 0 && errno == EINVAL)
		fd = open(path.c_str(), O_RDONLY);
	return fd;
}

// An aligned buffer for O_DIRECT.
struct Aligned {
	void *p = nullptr;
	explicit Aligned(size_t n) { REQUIRE(posix_memalign(&p, 4096, n) == 0); }
	~Aligned() { free(p); }
	uint8_t *data() { return static_cast<uint8_t *>(p); }
};

std::vector<uint8_t> slurp(const std::string &path)
{
	std::vector<uint8_t> out;
	int fd = open_direct(path);
	if (fd < 0)
		throw std::runtime_error("cannot open " + path);
	Aligned buf(1 << 20);
	ssize_t n;
	while ((n = read(fd, buf.data(), 1 << 20)) > 0)
		out.insert(out.end(), buf.data(), buf.data() + n);
	close(fd);
	return out;
}

// Reads what a recording holds, stopping quietly at a torn tail.
Recording read_recording(const std::string &path)
{
	Recording r;
	struct stat st;
	bool series = stat(path.c_str(), &st) != 0;
	uint64_t id = 0, index = 0;

	for (uint32_t part = 0;; part++) {
		char suffix[16];
		snprintf(suffix, sizeof(suffix), ".%03u", part);
		std::string p = series ? path + suffix : path;
		if (part > 0 && stat(p.c_str(), &st) != 0)
			break;
		std::vector<uint8_t> b = slurp(p);
		if (b.size() < 4096 || memcmp(b.data(), "RBRECORD", 8) != 0)
			throw std::runtime_error(p + ": not a recording");
		uint32_t hbytes = get<uint32_t>(b, 12), text = get<uint32_t>(b, 104);
		uint32_t version = get<uint32_t>(b, 8);
		if (version < 1 || version > 3 || get<uint32_t>(b, 16) != 4096 ||
		    get<uint32_t>(b, 20) != 63 || hbytes < 512 + text || hbytes % 4096 != 0)
			throw std::runtime_error(p + ": bad header fields");
		uint32_t crc = crc32c(0, b.data(), 252);
		crc = crc32c(crc, b.data() + 512, text);
		if (crc != get<uint32_t>(b, 252))
			throw std::runtime_error(p + ": header crc");
		if (part == 0) {
			r.version = version;
			id = get<uint64_t>(b, 24);
			index = get<uint64_t>(b, 112);
			r.text.assign((const char *)b.data() + 512, text);
			r.frame_bytes = get<uint64_t>(b, 48);
			r.elem = get<uint32_t>(b, 64);
			r.ndim = get<uint32_t>(b, 68);
			for (int i = 0; i < 4; i++)
				r.dims[i] = get<uint64_t>(b, 72 + 8 * i);
		} else if (get<uint64_t>(b, 24) != id || get<uint32_t>(b, 32) != part ||
			   get<uint64_t>(b, 112) != index) {
			throw std::runtime_error(p + ": not the next part");
		}
		r.parts++;
		bool summary = memcmp(b.data() + 256, "RBRECEND", 8) == 0 &&
			       crc32c(0, b.data() + 256, 252) == get<uint32_t>(b, 508);
		uint64_t entries = 0;
		uint64_t off = hbytes;
		for (uint64_t group = 0;; group++) {
			if (off + 4096 > b.size())
				break;
			std::vector<uint8_t> page(b.begin() + (long)off, b.begin() + (long)off + 4096);
			uint32_t want = get<uint32_t>(page, 60);
			memset(page.data() + 60, 0, 4);
			if (memcmp(page.data(), "RBRECIDX", 8) != 0 || crc32c(0, page.data(), 4096) != want ||
			    get<uint64_t>(page, 8) != id || get<uint32_t>(page, 16) != part ||
			    get<uint64_t>(page, 24) != group || get<uint64_t>(page, 32) != off ||
			    get<uint64_t>(page, 48) != index)
				break;
			uint32_t count = get<uint32_t>(page, 20);
			if (count > 63)
				throw std::runtime_error(p + ": page count");
			for (uint32_t k = 0; k < count; k++) {
				size_t e = 64 + 64 * k;
				RecFrame f;
				f.seq = get<uint64_t>(page, e);
				f.length = get<uint64_t>(page, e + 8);
				f.timestamp = get<uint64_t>(page, e + 16);
				f.flags = get<uint32_t>(page, e + 24);
				f.rflags = get<uint32_t>(page, e + 28);
				uint64_t at = get<uint64_t>(page, e + 32);
				if (at % 4096 != 0 || at + f.length > b.size())
					throw std::runtime_error(p + ": frame outside the file");
				f.data.assign(b.begin() + (long)at, b.begin() + (long)(at + f.length));
				// Version 2: each kept frame's bytes carry a CRC-32C
				// in the descriptor's bytes 40..43.
				if (version >= 2 && !(f.rflags & 1) &&
				    crc32c(0, f.data.data(), f.length) != get<uint32_t>(page, e + 40))
					throw std::runtime_error(p + ": frame data crc");
				f.file = p;
				f.data_offset = at;
				f.page_offset = off;
				f.entry = k;
				r.frames.push_back(std::move(f));
				entries++;
				index++;
			}
			if (count < 63)
				break;
			off = get<uint64_t>(page, 40);
		}
		if (!summary) {
			r.closed = false;
			break;
		}
		if (get<uint64_t>(b, 264) != entries)
			throw std::runtime_error(p + ": summary disagrees with the pages");
		r.last_end = get<uint32_t>(b, 328);
		r.last_error = get<uint32_t>(b, 332);
		if (!series || r.last_end != 1)
			break;
	}
	return r;
}

// How many descriptors a single-file recording being written holds so far:
// reads only the header and the pages (cheap enough to poll).
uint64_t count_descriptors(const std::string &path)
{
	int fd = open_direct(path);
	if (fd < 0)
		return 0;
	Aligned buf(4096);
	std::vector<uint8_t> page(4096);
	uint64_t n = 0;
	auto read_page = [&](uint64_t off) {
		if (pread(fd, buf.data(), 4096, (off_t)off) != 4096)
			return false;
		memcpy(page.data(), buf.data(), 4096);
		return true;
	};
	if (read_page(0) && memcmp(page.data(), "RBRECORD", 8) == 0) {
		uint64_t off = get<uint32_t>(page, 12);
		for (;;) {
			if (!read_page(off) ||
			    memcmp(page.data(), "RBRECIDX", 8) != 0 || get<uint64_t>(page, 32) != off)
				break;
			uint32_t count = get<uint32_t>(page, 20);
			n += count > 63 ? 0 : count;
			if (count != 63)
				break;
			off = get<uint64_t>(page, 40);
		}
	}
	close(fd);
	return n;
}

// Frames with consecutive seqs whose bytes are the counter pattern.
void check_counter_frames(const Recording &r, uint64_t length)
{
	for (size_t i = 0; i < r.frames.size(); i++) {
		const RecFrame &f = r.frames[i];
		INFO("frame " << i << " seq " << f.seq);
		REQUIRE(f.rflags == 0);
		REQUIRE(f.length == length);
		if (i > 0)
			REQUIRE(f.seq == r.frames[i - 1].seq + 1);
		REQUIRE(check_pattern(f.data.data(), f.length, f.seq));
	}
}

// Records a counter stream of `count` frames of `frame_size` from the ring
// `ring` (made by the producer) into `file`; the recorder runs jailed by
// pre_exec, if given. Returns the recorder's summary.
Json record_counter(const std::string &ring, const std::string &file, const char *frame_size,
		    const char *count, PreExec pre_exec = nullptr)
{
	Proc rec({consumer_path(), "--wait-ring", "20s", "--json", "--output", file, ring,
		  "record"}, pre_exec);
	Proc prod({producer_path(), "--frame-size", frame_size, "--count", count,
		   "--wait-consumers", "1", ring});
	REQUIRE(prod.wait(20000) == 0);
	REQUIRE(rec.wait(20000) == 0);
	return rec.summary();
}

// What the programs' own reader (rb-producer --check) says of the
// recording in `file`.
Json check_summary(const std::string &file)
{
	Proc check({producer_path(), "--source", "file", "--check", "--json", "--input", file});
	REQUIRE(check.wait(20000) == 0);
	return check.summary();
}

// The recording in `file` holds `count` counter frames of `length` bytes.
void check_counter_recording(const std::string &file, size_t count, uint64_t length)
{
	Recording r = read_recording(file);
	REQUIRE(r.frames.size() == count);
	check_counter_frames(r, length);
}

// The stream header value of `key`.
std::string header_value(const std::string &text, const std::string &key)
{
	size_t at = 0;
	while (at < text.size()) {
		size_t end = text.find('\n', at);
		std::string line = text.substr(at, end == std::string::npos ? end : end - at);
		if (line.compare(0, key.size() + 1, key + "=") == 0)
			return line.substr(key.size() + 1);
		if (end == std::string::npos)
			break;
		at = end + 1;
	}
	return "";
}

const std::vector<std::string> io_paths = {"direct+fixed", "direct", "buffered+fixed",
					   "buffered", "pwrite+direct", "pwrite"};

} // namespace

TEST_CASE("record, replay, record again: identical frames and descriptors", "[io]")
{
	TempDir dir;
	RingGuard g1(unique_name("io-rec")), g2(unique_name("io-replay"));
	const uint64_t frames = 300, size = 20000;

	// 1. A counter stream, recorded into 1 MiB files.
	{
		Proc rec({consumer_path(), "--wait-ring", "20s", "--json", "--output", dir / "a",
			  "--max-file-size", "1MiB", g1.name, "record"});
		Proc prod({producer_path(), "--frame-size", std::to_string(size), "--align", "4096",
			   "--slots", "64", "--count", std::to_string(frames), "--wait-consumers",
			   "1", "--json", g1.name});
		REQUIRE(prod.wait(30000) == 0);
		REQUIRE(rec.wait(30000) == 0);
		Json j = rec.summary();
		INFO(rec.stderr_text());
		CHECK(j["end"].s() == "eos");
		CHECK(j["recorded_frames"].u64() == frames);
		CHECK(j["recorded_bytes"].u64() == frames * size);
		CHECK(j["files"].u64() >= 5);
		CHECK(j["lost"].u64() == 0);
		// /tmp is a disk file system here: the intended path.
		CHECK(j["io_path"].s() == "direct+fixed");
		CHECK(j["io_fallback"].kind == Json::Null);
	}
	Recording a = read_recording(dir / "a");
	REQUIRE(a.frames.size() == frames);
	CHECK(a.closed);
	CHECK(a.parts >= 5);
	CHECK(a.frame_bytes == size);
	CHECK(header_value(a.text, "source") == "counter");
	check_counter_frames(a, size);

	// 2. Replayed into a new ring and recorded again, as one file.
	{
		Proc rec({consumer_path(), "--wait-ring", "20s", "--json", "--output", dir / "b",
			  g2.name, "record"});
		Proc prod({producer_path(), "--source", "file", "--input", dir / "a",
			   "--wait-consumers", "1", "--json", g2.name});
		REQUIRE(prod.wait(30000) == 0);
		REQUIRE(rec.wait(30000) == 0);
		Json p = prod.summary();
		CHECK(p["frames"].u64() == frames);
		CHECK(p["end"].s() == "eof");
		CHECK(p["files"].u64() == a.parts);
		CHECK(p["io_path"].s() == "direct+fixed");
		CHECK(p["seq_gaps"].u64() == 0);
		CHECK(rec.summary()["recorded_frames"].u64() == frames);
	}
	Recording b = read_recording(dir / "b");
	CHECK(b.parts == 1);
	CHECK(b.closed);
	// Identity, as docs/RECORDING.md defines it.
	CHECK(b.text == a.text);
	CHECK(b.frame_bytes == a.frame_bytes);
	CHECK(b.elem == a.elem);
	CHECK(b.ndim == a.ndim);
	REQUIRE(b.frames.size() == a.frames.size());
	for (size_t i = 0; i < a.frames.size(); i++) {
		INFO("frame " << i);
		CHECK(b.frames[i].seq == a.frames[i].seq);
		CHECK(b.frames[i].length == a.frames[i].length);
		CHECK(b.frames[i].timestamp == a.frames[i].timestamp);
		CHECK(b.frames[i].flags == a.frames[i].flags);
		REQUIRE(b.frames[i].data == a.frames[i].data);
	}
	CHECK((a.frames[0].flags & RB_FRAME_STREAM_START) != 0);

	// 3. --check agrees, digests included.
	Json ja = check_summary(dir / "a"), jb = check_summary(dir / "b");
	CHECK(ja["valid"].b);
	CHECK(ja["complete"].b);
	CHECK(ja["frames"].u64() == frames);
	CHECK(ja["files"].u64() == a.parts);
	CHECK(ja["digest"].s() == jb["digest"].s());
	CHECK(ja["data_digest"].s() == jb["data_digest"].s());
	CHECK(ja["first_seq"].u64() == jb["first_seq"].u64());
}

TEST_CASE("a recorder killed with SIGKILL leaves a file readable to its last complete frame",
	  "[io]")
{
	TempDir dir;
	RingGuard guard(unique_name("io-kill"));
	const uint64_t size = 16384;
	std::string file = dir / "k";

	// 10 s of frames at most: killed long before the stream ends.
	Proc rec({consumer_path(), "--wait-ring", "20s", "--json", "--output", file,
		  guard.name, "record"});
	Proc prod({producer_path(), "--frame-size", std::to_string(size), "--slots", "64",
		   "--rate", "2000fps", "--count", "20000", "--wait-consumers", "1", "--json",
		   guard.name});
	// Frames reach the file while the stream goes on.
	REQUIRE(eventually([&] { return count_descriptors(file) >= 200; }, 20000));
	rec.signal(SIGKILL);
	REQUIRE(rec.wait(10000) == 128 + SIGKILL);

	Recording r = read_recording(file);
	CHECK_FALSE(r.closed);
	REQUIRE(r.frames.size() >= 200);
	check_counter_frames(r, size);

	// The programs' own reader agrees, and replays exactly those frames.
	Json c = check_summary(file);
	CHECK(c["valid"].b);
	CHECK_FALSE(c["complete"].b);
	CHECK(c["frames"].u64() == r.frames.size());
	CHECK(c["last_seq"].u64() == r.frames.back().seq);

	RingGuard replay(unique_name("io-kill-replay"));
	Proc ver({consumer_path(), "--wait-ring", "20s", "--json", replay.name, "verify"});
	Proc rp({producer_path(), "--source", "file", "--input", file, "--wait-consumers", "1",
		 "--json", replay.name});
	REQUIRE(rp.wait(20000) == 0);
	REQUIRE(ver.wait(20000) == 0);
	Json v = ver.summary();
	CHECK(v["frames"].u64() == r.frames.size());
	CHECK(v["checked_frames"].u64() == r.frames.size());
	CHECK(v["errors"].u64() == 0);
	CHECK(v["gaps"].u64() == 0);
	CHECK(rp.summary()["recording_complete"].b == false);

	prod.signal(SIGTERM);
	CHECK(prod.wait(20000) == 0);
}

TEST_CASE("a full disk ends the recording with a clear error and a valid file", "[io]")
{
	TempDir dir;
	Mount mnt(dir / "small", "2m");
	if (!mnt.mounted) {
		WARN("cannot mount a tmpfs here (not root?): full-disk test skipped");
		return;
	}
	RingGuard guard(unique_name("io-full"));
	const uint64_t size = 65536;
	std::string file = mnt.dir + "/rec";

	Proc rec({consumer_path(), "--wait-ring", "20s", "--json", "--output", file,
		  guard.name, "record"});
	Proc prod({producer_path(), "--frame-size", std::to_string(size), "--slots", "64",
		   "--count", "200", "--wait-consumers", "1", "--json", guard.name});
	REQUIRE(rec.wait(30000) == 1);
	// The producer goes on without it.
	REQUIRE(prod.wait(30000) == 0);
	std::string err = rec.stderr_text();
	INFO("stderr: " << err);
	CHECK(err.find("rb-consumer: " + file + ": No space left on device\n") == 0);
	Json j = rec.summary();
	CHECK(j["end"].s() == "error");
	CHECK(j["io_error"].s() == "No space left on device");

	Recording r = read_recording(file);
	CHECK(r.closed);            // the summary made it: it overwrites its own block
	CHECK(r.last_end == 2);     // REC_END_ERROR
	CHECK(r.last_error == ENOSPC);
	REQUIRE(r.frames.size() > 10);
	REQUIRE(r.frames.size() < 200);
	check_counter_frames(r, size);
	CHECK(r.frames.size() == j["recorded_frames"].u64());

	Json c = check_summary(file);
	CHECK(c["valid"].b);
	CHECK_FALSE(c["complete"].b);
	CHECK(c["frames"].u64() == r.frames.size());
}

namespace {

// A UDP capture run: the receiver, an in-process consumer reading every
// frame, and the sender with `extra` options. The receiver waits 2 s, not
// 50 ms, before it gives up on a frame's missing packets: a sender paused
// by a busy machine must not turn into losses. Fills the receiver's and the
// sender's JSON summaries and the frames as the consumer saw them.
// The port the kernel chose for a capture's --listen 127.0.0.1:0, from
// its stream header (waits for the header, bounded).
std::string capture_port(Watch &w)
{
	std::string port;
	REQUIRE(eventually([&] {
		char text[4096];
		if (rb_ring_stream_header(w.ring, text, sizeof(text), nullptr) < 0)
			return false;
		std::string l = header_value(text, "listen");
		if (l.empty())
			return false;
		port = l.substr(l.rfind(':') + 1);
		return true;
	}, 20000));
	return port;
}

void udp_capture(uint64_t frames, uint64_t frame_bytes, uint64_t payload,
		 const std::vector<std::string> &extra, Json &rx, Json &tx,
		 std::vector<RecFrame> &got)
{
	RingGuard guard(unique_name("io-udp"));
	Proc cap({producer_path(), "--source", "udp", "--listen", "127.0.0.1:0", "--frame-size",
		  std::to_string(frame_bytes), "--packet-size", std::to_string(payload),
		  "--frame-timeout", "2s", "--wait-consumers", "1", "--json", guard.name});
	Watch w;
	REQUIRE(w.open(guard.name, 20000));
	rb_consumer *c = nullptr;
	REQUIRE(rb_consumer_attach(w.ring, nullptr, &c) == 0);
	std::string port = capture_port(w);

	// Read every frame while the sender runs.
	std::atomic<int> result{1};
	std::thread reader([&] {
		rb_frame f;
		int rc;
		uint64_t deadline = now_ms() + 30000;
		while ((rc = rb_consumer_acquire(c, &f, 100000000ull)) != RB_E_EOS) {
			if (now_ms() > deadline) {
				result = 2;
				return;
			}
			if (rc == -ETIMEDOUT)
				continue;
			if (rc != 0) {
				result = 3;
				return;
			}
			RecFrame x;
			x.seq = f.seq;
			x.length = f.length;
			x.flags = f.flags;
			x.data.assign((uint8_t *)f.data, (uint8_t *)f.data + f.length);
			got.push_back(std::move(x));
			rb_consumer_release(c, &f);
		}
		result = 0;
	});
	std::vector<std::string> args = {producer_path(), "--source", "udp-send", "--target",
					 "127.0.0.1:" + port, "--frame-size",
					 std::to_string(frame_bytes), "--packet-size",
					 std::to_string(payload), "--count", std::to_string(frames),
					 "--json"};
	args.insert(args.end(), extra.begin(), extra.end());
	Proc send(args);
	int send_status = send.wait(30000);
	int cap_status = cap.wait(30000);
	reader.join();
	rb_consumer_detach(c);
	INFO(cap.stderr_text());
	REQUIRE(send_status == 0);
	REQUIRE(cap_status == 0);
	REQUIRE(result == 0);
	rx = cap.summary();
	tx = send.summary();
}

} // namespace

TEST_CASE("UDP capture lands packets in place and counts injected losses exactly", "[io]")
{
	const uint64_t frames = 400, frame_bytes = 32768, payload = 4096, every = 13;
	const uint64_t per_frame = frame_bytes / payload;
	Json j, s;
	std::vector<RecFrame> got;

	// Paced: the whole run fits the socket buffer, so the kernel drops
	// nothing and every loss is one the sender injected.
	udp_capture(frames, frame_bytes, payload,
		    {"--rate", "4000fps", "--drop-every", std::to_string(every)}, j, s, got);

	// What the sender left out, packet by packet (numbered from 1).
	auto dropped = [&](uint64_t frame, uint64_t packet) {
		return (frame * per_frame + packet + 1) % every == 0;
	};
	uint64_t lost = 0, incomplete = 0;
	for (uint64_t n = 0; n < frames; n++) {
		bool any = false;
		for (uint64_t p = 0; p < per_frame; p++)
			if (dropped(n, p)) {
				lost++;
				any = true;
			}
		incomplete += any;
	}
	REQUIRE(lost == frames * per_frame / every);

	CHECK(s["packets_dropped"].u64() == lost);
	INFO("receiver: " << j["packets"].u64() << " packets, " << j["packets_moved"].u64()
			  << " moved");
	CHECK(j["kernel_drops"].u64() == 0);
	CHECK(j["end"].s() == "sender_end");
	CHECK(j["frames"].u64() == frames);
	CHECK(j["packets"].u64() == frames * per_frame - lost);
	CHECK(j["packets_lost"].u64() == lost);
	CHECK(j["frames_incomplete"].u64() == incomplete);
	CHECK(j["frames_complete"].u64() == frames - incomplete);
	CHECK(j["frames_missing"].u64() == 0);
	CHECK(j["packets_late"].u64() == 0);
	CHECK(j["packets_duplicate"].u64() == 0);
	CHECK(j["packets_malformed"].u64() == 0);

	// Every byte: the sender's counter pattern of frame n (seq counts
	// frames from the first), zeros where a packet was left out.
	REQUIRE(got.size() == frames);
	std::vector<uint8_t> expect(frame_bytes);
	for (uint64_t n = 0; n < frames; n++) {
		const RecFrame &f = got[n];
		INFO("frame " << n);
		REQUIRE(f.seq == got[0].seq + n);
		REQUIRE(f.length == frame_bytes);
		fill_pattern(expect.data(), frame_bytes, n);
		bool any = false;
		for (uint64_t p = 0; p < per_frame; p++) {
			if (dropped(n, p)) {
				any = true;
				std::fill(expect.begin() + (long)(p * payload),
					  expect.begin() + (long)((p + 1) * payload), 0);
			}
		}
		CHECK(((f.flags & RB_FRAME_INCOMPLETE) != 0) == any);
		REQUIRE(f.data == expect);
	}
}

TEST_CASE("UDP capture with injected loss: every analysis counts the capture's incomplete "
	  "frames",
	  "[io]")
{
	const uint64_t frames = 400, frame_bytes = 32768, payload = 4096;
	RingGuard guard(unique_name("io-udpinc"));
	Proc cap({producer_path(), "--source", "udp", "--listen", "127.0.0.1:0", "--frame-size",
		  std::to_string(frame_bytes), "--packet-size", std::to_string(payload),
		  "--frame-timeout", "2s", "--wait-consumers", "2", "--json", guard.name});
	Watch w;
	REQUIRE(w.open(guard.name, 20000));
	Proc stats({consumer_path(), "--json", guard.name, "stats"});
	Proc verify({consumer_path(), "--json", guard.name, "verify"});
	std::string port = capture_port(w);
	// Paced: the kernel drops nothing, so every loss is the sender's.
	Proc send({producer_path(), "--source", "udp-send", "--target", "127.0.0.1:" + port,
		   "--frame-size", std::to_string(frame_bytes), "--packet-size",
		   std::to_string(payload), "--count", std::to_string(frames), "--rate",
		   "4000fps", "--drop-every", "13", "--json"});
	REQUIRE(send.wait(30000) == 0);
	REQUIRE(cap.wait(30000) == 0);
	REQUIRE(stats.wait(30000) == 0);
	REQUIRE(verify.wait(30000) == 0);
	Json rx = cap.summary();
	REQUIRE(rx["frames_incomplete"].u64() > 0);
	for (Proc *c : {&stats, &verify}) {
		Json j = c->summary();
		INFO(j["analysis"].s());
		CHECK(j["frames"].u64() == rx["frames"].u64());
		CHECK(j["incomplete"].u64() == rx["frames_incomplete"].u64());
	}
}

TEST_CASE("UDP capture puts packets that arrive out of order in their place", "[io]")
{
	const uint64_t frames = 300, frame_bytes = 32768 + 1000, payload = 4096;
	Json j, s;
	std::vector<RecFrame> got;

	// Every 5th packet swaps places with the next one of its frame; the
	// frames are 9 packets, the last one short.
	udp_capture(frames, frame_bytes, payload, {"--rate", "4000fps", "--reorder-every", "5"},
		    j, s, got);
	CHECK(j["kernel_drops"].u64() == 0);
	CHECK(j["packets"].u64() == frames * 9);
	CHECK(j["packets_lost"].u64() == 0);
	CHECK(j["frames_complete"].u64() == frames);
	CHECK(j["frames_incomplete"].u64() == 0);
	CHECK(j["packets_moved"].u64() > frames / 2); // each swap moves packets
	REQUIRE(got.size() == frames);
	std::vector<uint8_t> expect(frame_bytes);
	for (uint64_t n = 0; n < frames; n++) {
		INFO("frame " << n);
		CHECK(got[n].flags == (n == 0 ? RB_FRAME_STREAM_START : 0u));
		REQUIRE(got[n].length == frame_bytes);
		fill_pattern(expect.data(), frame_bytes, n);
		REQUIRE(got[n].data == expect);
	}
}

TEST_CASE("fallbacks say which I/O path they took and still record valid files", "[io]")
{
	TempDir dir;

	SECTION("slots not 4096-aligned: through the page cache, exact lengths")
	{
		RingGuard guard(unique_name("io-unaligned"));
		Json j = record_counter(guard.name, dir / "u", "1000", "500");
		CHECK(j["io_path"].s() == "buffered+fixed");
		CHECK(j["io_fallback"].s().find("slot stride 1024") != std::string::npos);
		check_counter_recording(dir / "u", 500, 1000);
	}
	SECTION("io_uring refused: pwrite and pread, from and into the slots")
	{
		RingGuard g1(unique_name("io-nouring")), g2(unique_name("io-nouring-replay"));
		Json j = record_counter(g1.name, dir / "n", "16KiB", "300", deny_io_uring);
		CHECK(j["io_path"].s() == "pwrite+direct");
		CHECK(j["io_fallback"].s().find("io_uring refused") != std::string::npos);
		check_counter_recording(dir / "n", 300, 16384);

		Proc ver({consumer_path(), "--wait-ring", "20s", "--json", g2.name, "verify"});
		Proc rp({producer_path(), "--source", "file", "--input", dir / "n",
			 "--wait-consumers", "1", "--json", g2.name}, deny_io_uring);
		REQUIRE(rp.wait(20000) == 0);
		REQUIRE(ver.wait(20000) == 0);
		CHECK(rp.summary()["io_path"].s() == "pread+direct");
		CHECK(ver.summary()["checked_frames"].u64() == 300);
	}
	SECTION("registered buffers refused (RLIMIT_MEMLOCK): O_DIRECT without them")
	{
		if (geteuid() != 0) {
			WARN("not root: cannot drop CAP_IPC_LOCK from the bounding set; skipped");
			return;
		}
		RingGuard guard(unique_name("io-memlock"));
		Json j = record_counter(guard.name, dir / "m", "64KiB", "200", limit_memlock);
		CHECK(j["io_path"].s() == "direct");
		CHECK(j["io_fallback"].s().find("RLIMIT_MEMLOCK") != std::string::npos);
		check_counter_recording(dir / "m", 200, 65536);
	}
	SECTION("a tmpfs: whichever path it allows, a valid recording")
	{
		RingGuard guard(unique_name("io-tmpfs"));
		TempDir shm("/dev/shm");
		Json j = record_counter(guard.name, shm / "t", "64KiB", "200");
		// tmpfs takes O_DIRECT since Linux 6.6; older kernels refuse
		// it at open and the recorder says so.
		INFO(j["io_path"].s());
		CHECK(std::find(io_paths.begin(), io_paths.end(), j["io_path"].s()) != io_paths.end());
		if (j["io_path"].s() == "buffered+fixed")
			CHECK(j["io_fallback"].s().find("O_DIRECT") != std::string::npos);
		check_counter_recording(shm / "t", 200, 65536);
	}
}

TEST_CASE("replay paces by the recorded time stamps and loops", "[io]")
{
	TempDir dir;
	RingGuard g1(unique_name("io-paced")), g2(unique_name("io-paced-replay"));
	std::string file = dir / "p";
	{
		Proc rec({consumer_path(), "--wait-ring", "20s", "--output", file, g1.name, "record"});
		Proc prod({producer_path(), "--frame-size", "4KiB", "--count", "50", "--rate",
			   "200fps", "--wait-consumers", "1", g1.name});
		REQUIRE(prod.wait(20000) == 0);
		REQUIRE(rec.wait(20000) == 0);
	}
	Recording r = read_recording(file);
	REQUIRE(r.frames.size() == 50);
	double span = (double)(r.frames.back().timestamp - r.frames.front().timestamp) / 1e9;
	CHECK(span > 0.2);

	// Three passes at the recorded pace: about three spans, time stamps
	// moving on with each pass.
	Proc rec({consumer_path(), "--wait-ring", "20s", "--output", dir / "q", g2.name, "record"});
	Proc rp({producer_path(), "--source", "file", "--input", file, "--rate", "recorded",
		 "--loop", "--count", "150", "--wait-consumers", "1", "--json", g2.name});
	REQUIRE(rp.wait(20000) == 0);
	REQUIRE(rec.wait(20000) == 0);
	Json j = rp.summary();
	CHECK(j["frames"].u64() == 150);
	CHECK(j["passes"].u64() == 3);
	CHECK(j["seconds"].d() >= 3 * span * 0.95);
	CHECK(j["seconds"].d() < 3 * span + 5.0);
	Recording q = read_recording(dir / "q");
	REQUIRE(q.frames.size() == 150);
	for (size_t i = 1; i < q.frames.size(); i++) {
		INFO("frame " << i);
		CHECK(q.frames[i].timestamp > q.frames[i - 1].timestamp);
		CHECK(q.frames[i].data == r.frames[i % 50].data);
	}
	CHECK(q.frames[50].timestamp - q.frames[0].timestamp >=
	      r.frames.back().timestamp - r.frames.front().timestamp);

	// --restamp: the time of publishing, not the recorded one.
	RingGuard g3(unique_name("io-restamp"));
	Proc rec3({consumer_path(), "--wait-ring", "20s", "--output", dir / "s", g3.name,
		   "record"});
	Proc rp3({producer_path(), "--source", "file", "--input", file, "--restamp",
		  "--wait-consumers", "1", g3.name});
	REQUIRE(rp3.wait(20000) == 0);
	REQUIRE(rec3.wait(20000) == 0);
	Recording t = read_recording(dir / "s");
	REQUIRE(t.frames.size() == 50);
	for (size_t i = 0; i < 50; i++) {
		CHECK(t.frames[i].timestamp > r.frames.back().timestamp);
		CHECK(t.frames[i].data == r.frames[i].data);
	}
}

TEST_CASE("recording and replay refuse what they cannot do, in one line", "[io]")
{
	TempDir dir;
	auto one_line = [](Proc &p, int status, const std::string &needle) {
		std::string err = p.stderr_text();
		INFO("stderr: " << err);
		CHECK(p.status == status);
		CHECK(p.stdout_text().empty());
		CHECK(std::count(err.begin(), err.end(), '\n') == 1);
		CHECK(err.find(needle) != std::string::npos);
	};
	Proc a({consumer_path(), "some-ring", "record"});
	a.wait(5000);
	one_line(a, 2, "rb-consumer: record: missing --output FILE");
	Proc b({consumer_path(), "--output", dir / "x", "some-ring", "verify"});
	b.wait(5000);
	one_line(b, 2, "rb-consumer: --output: only with the record analysis");

	std::string junk = dir / "junk";
	int fd = open(junk.c_str(), O_CREAT | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	std::vector<char> zeros(8192, 'x');
	REQUIRE(write(fd, zeros.data(), zeros.size()) == (ssize_t)zeros.size());
	close(fd);
	Proc c({producer_path(), "--source", "file", "--check", "--input", junk});
	c.wait(5000);
	one_line(c, 1, "rb-producer: " + junk + ": not a ringbuf recording");
	Proc d({producer_path(), "--source", "file", "--input", dir / "missing", "r"});
	d.wait(5000);
	one_line(d, 1, "No such file or directory");
	Proc e({producer_path(), "--source", "udp-send", "--target", "127.0.0.1:9", "ring"});
	e.wait(5000);
	one_line(e, 2, "unexpected operand");
	CHECK_FALSE(shm_exists("r"));
}

// ---- hostile and damaged recordings ----------------------------------------

namespace {

// Writes `n` bytes at `off` of `path` (the programs read with O_DIRECT; the
// kernel writes dirty cached pages back before a direct read).
void patch(const std::string &path, uint64_t off, const void *bytes, size_t n)
{
	int fd = open(path.c_str(), O_WRONLY);
	REQUIRE(fd >= 0);
	REQUIRE(pwrite(fd, bytes, n, (off_t)off) == (ssize_t)n);
	close(fd);
}

template <typename T> void patch_value(const std::string &path, uint64_t off, T v)
{
	patch(path, off, &v, sizeof(v));
}

std::vector<uint8_t> read_at(const std::string &path, uint64_t off, size_t n)
{
	std::vector<uint8_t> b(n);
	int fd = open(path.c_str(), O_RDONLY);
	REQUIRE(fd >= 0);
	REQUIRE(pread(fd, b.data(), n, (off_t)off) == (ssize_t)n);
	close(fd);
	return b;
}

// Recomputes the header's CRC (docs/RECORDING.md: bytes [0, 252), then the
// text), so that a changed field is judged on its own.
void reseal_header(const std::string &path)
{
	std::vector<uint8_t> b = read_at(path, 0, 4096);
	uint32_t text = get<uint32_t>(b, 104);
	if (text > 4096 - 512)
		text = 0; // a hostile length: the CRC covers what is there
	uint32_t crc = crc32c(crc32c(0, b.data(), 252), b.data() + 512, text);
	patch_value(path, 252, crc);
}

// Recomputes a descriptor page's CRC (the page with its crc field 0).
void reseal_page(const std::string &path, uint64_t off)
{
	std::vector<uint8_t> page = read_at(path, off, 4096);
	memset(page.data() + 60, 0, 4);
	patch_value(path, off + 60, crc32c(0, page.data(), 4096));
}

void copy_file(const std::string &from, const std::string &to)
{
	std::vector<uint8_t> b = slurp(from);
	int fd = open(to.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
	REQUIRE(fd >= 0);
	REQUIRE(write(fd, b.data(), b.size()) == (ssize_t)b.size());
	close(fd);
}

// No CAP_IPC_LOCK, RLIMIT_MEMLOCK 0: io_uring cannot even set up its rings.
bool no_memlock()
{
	struct rlimit rl = {0, 0};
	return prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0) == 0 &&
	       setrlimit(RLIMIT_MEMLOCK, &rl) == 0;
}

} // namespace

TEST_CASE("a flipped bit in a frame's bytes fails --check and stops the replay at its seq",
	  "[io]")
{
	TempDir dir;
	RingGuard g1(unique_name("io-flip")), g2(unique_name("io-flip-replay"));
	std::string file = dir / "f";
	record_counter(g1.name, file, "16KiB", "200");
	Recording r = read_recording(file);
	REQUIRE(r.version == 3);
	REQUIRE(r.frames.size() == 200);
	const size_t bad = 77;
	const RecFrame &f = r.frames[bad];

	// One bit of frame 77's bytes, well inside its length.
	std::vector<uint8_t> byte = read_at(file, f.data_offset + 1000, 1);
	byte[0] ^= 0x08;
	patch(file, f.data_offset + 1000, byte.data(), 1);

	Proc check({producer_path(), "--source", "file", "--check", "--json", "--input", file});
	REQUIRE(check.wait(20000) == 1);
	Json c = check.summary();
	CHECK_FALSE(c["valid"].b);
	CHECK(c["frame_checksums"].b);
	CHECK(c["damaged_frames"].u64() == 1);
	CHECK(c["first_damaged_seq"].u64() == f.seq);
	CHECK(c["frames"].u64() == 200);

	// Replay publishes the 77 frames before it, intact, and stops, naming it.
	Proc ver({consumer_path(), "--wait-ring", "20s", "--json", g2.name, "verify"});
	Proc rp({producer_path(), "--source", "file", "--input", file, "--wait-consumers", "1",
		 "--json", g2.name});
	REQUIRE(rp.wait(20000) == 1);
	REQUIRE(ver.wait(20000) == 0);
	std::string err = rp.stderr_text();
	INFO("stderr: " << err);
	CHECK(err.find(file + ": frame seq " + std::to_string(f.seq) +
		       ": its bytes fail their checksum") != std::string::npos);
	CHECK(rp.summary()["end"].s() == "damaged");
	Json v = ver.summary();
	CHECK(v["frames"].u64() == bad);
	CHECK(v["checked_frames"].u64() == bad);
	CHECK(v["errors"].u64() == 0);
}

TEST_CASE("version 2 and 1 recordings (no UTC anchor; no frame checksums) still read and replay", "[io]")
{
	TempDir dir;
	RingGuard g1(unique_name("io-v1")), g2(unique_name("io-v1-replay"));
	std::string file = dir / "v";
	record_counter(g1.name, file, "8KiB", "150");
	Json v2 = check_summary(file);
	Recording r = read_recording(file);
	REQUIRE(r.frames.size() == 150);

	// What a version 2 recorder wrote: no UTC anchor (header bytes
	// 128..143 zero), descriptors' bytes 48..55 zero (they are already:
	// no drops).
	patch_value<uint32_t>(file, 8, 2);
	patch_value<uint64_t>(file, 128, 0);
	patch_value<uint64_t>(file, 136, 0);
	reseal_header(file);
	Json c2 = check_summary(file);
	CHECK(c2["valid"].b);
	CHECK(c2["format_version"].u64() == 2);
	CHECK(c2["frame_checksums"].b);
	CHECK(c2["digest"].s() == v2["digest"].s());

	// What a version 1 recorder wrote: version 1, descriptors' bytes 40..63
	// zero, the CRCs over that.
	patch_value<uint32_t>(file, 8, 1);
	reseal_header(file);
	std::vector<uint64_t> pages;
	for (const RecFrame &f : r.frames) {
		patch_value<uint32_t>(file, f.page_offset + 64 + 64 * f.entry + 40, 0);
		if (pages.empty() || pages.back() != f.page_offset)
			pages.push_back(f.page_offset);
	}
	for (uint64_t off : pages)
		reseal_page(file, off);

	Json c = check_summary(file);
	CHECK(c["valid"].b);
	CHECK(c["complete"].b);
	CHECK(c["format_version"].u64() == 1);
	CHECK_FALSE(c["frame_checksums"].b);
	CHECK(c["frames"].u64() == 150);
	CHECK(c["digest"].s() == v2["digest"].s());

	Proc ver({consumer_path(), "--wait-ring", "20s", "--json", g2.name, "verify"});
	Proc rp({producer_path(), "--source", "file", "--input", file, "--wait-consumers", "1",
		 g2.name});
	REQUIRE(rp.wait(20000) == 0);
	REQUIRE(ver.wait(20000) == 0);
	CHECK(ver.summary()["checked_frames"].u64() == 150);

	// A version from the future is refused, saying so.
	patch_value<uint32_t>(file, 8, 4);
	reseal_header(file);
	Proc fut({producer_path(), "--source", "file", "--check", "--input", file});
	REQUIRE(fut.wait(20000) == 1);
	CHECK(fut.stderr_text() == "rb-producer: " + file + ": recording format version not "
				   "supported (this rb-producer reads versions 1 to 3)\n");
}

TEST_CASE("hostile header fields with a valid CRC are refused before anything is sized",
	  "[io]")
{
	TempDir dir;
	RingGuard g(unique_name("io-hostile"));
	std::string good = dir / "good";
	record_counter(g.name, good, "4KiB", "70");
	struct Field {
		const char *what;
		uint64_t off;
		int size;
		uint64_t value;
	};
	const std::vector<Field> fields = {
		{"frame_bytes 2^62", 48, 8, 1ull << 62},
		{"frame_bytes 0", 48, 8, 0},
		{"frame_bytes 1 GiB + 1", 48, 8, (1ull << 30) + 1},
		{"frame_bytes 2^64-1", 48, 8, ~0ull},
		{"slot_stride 2^62", 56, 8, 1ull << 62},
		{"slot_stride below frame_bytes", 56, 8, 1},
		{"elem unknown", 64, 4, 1000},
		{"ndim 5", 68, 4, 5},
		{"dims on an untyped frame", 72, 8, 4096},
		{"header_bytes 4 GiB - 4096", 12, 4, 0xfffff000u},
		{"text_bytes 2^32-1", 104, 4, 0xffffffffu},
		{"page_bytes 8192", 16, 4, 8192},
		{"page_entries 64", 20, 4, 64},
		{"recording_id 0", 24, 8, 0},
		{"part 5 of no series", 32, 4, 5},
		{"unknown flag", 36, 4, 0x80},
		{"first_index 7 in part 0", 112, 8, 7},
		{"reserved byte set", 200, 1, 1},
		{"reserved0 set", 108, 4, 1},
	};
	for (const Field &x : fields) {
		INFO(x.what);
		std::string bad = dir / "bad";
		copy_file(good, bad);
		patch(bad, x.off, &x.value, (size_t)x.size);
		reseal_header(bad);
		Proc check({producer_path(), "--source", "file", "--check", "--input", bad});
		REQUIRE(check.wait(20000) == 1);
		CHECK(check.stderr_text() == "rb-producer: " + bad + ": damaged recording header\n");
	}
	// A typed frame whose dims overflow 64 bits when multiplied.
	{
		std::string bad = dir / "dims";
		copy_file(good, bad);
		patch_value<uint32_t>(bad, 64, RB_ELEM_U16);
		patch_value<uint32_t>(bad, 68, 2);
		patch_value<uint64_t>(bad, 72, 1ull << 40);
		patch_value<uint64_t>(bad, 80, 1ull << 40);
		reseal_header(bad);
		Proc check({producer_path(), "--source", "file", "--check", "--input", bad});
		REQUIRE(check.wait(20000) == 1);
		CHECK(check.stderr_text() == "rb-producer: " + bad + ": damaged recording header\n");
		// Replay refuses it the same way, before making a ring.
		RingGuard rg(unique_name("io-hostile-replay"));
		Proc rp({producer_path(), "--source", "file", "--input", bad, rg.name});
		REQUIRE(rp.wait(20000) == 1);
		CHECK(rp.stderr_text() == "rb-producer: " + bad + ": damaged recording header\n");
		CHECK_FALSE(shm_exists(rg.name));
	}
	// A descriptor whose offset plus length wraps around 2^64.
	{
		std::string bad = dir / "wrap";
		copy_file(good, bad);
		Recording r = read_recording(good);
		const RecFrame &f = r.frames[5];
		uint64_t e = f.page_offset + 64 + 64 * f.entry;
		patch_value<uint64_t>(bad, e + 32, ~0ull - 4095);
		patch_value<uint64_t>(bad, e + 8, 4096);
		reseal_page(bad, f.page_offset);
		Proc check({producer_path(), "--source", "file", "--check", "--json", "--input",
			    bad});
		REQUIRE(check.wait(20000) == 1);
		Json c = check.summary();
		CHECK_FALSE(c["valid"].b);
		CHECK(c["end"].s() == "damaged: a descriptor points outside the file");
		CHECK(c["frames"].u64() == 5);
	}
}

TEST_CASE("with RLIMIT_MEMLOCK 0 the recorder and the replay say which limit refused",
	  "[io]")
{
	if (geteuid() != 0) {
		WARN("not root: cannot drop CAP_IPC_LOCK from the bounding set; skipped");
		return;
	}
	TempDir dir;
	RingGuard g(unique_name("io-memlock0")), g2(unique_name("io-memlock0-replay"));
	std::string file = dir / "m";
	record_counter(g.name, file, "4KiB", "10");

	Proc prod({producer_path(), "--frame-size", "4KiB", "--wait-consumers", "1",
		   "--count", "10", g.name});
	Proc rec({consumer_path(), "--wait-ring", "20s", "--output", dir / "n", g.name,
		  "record"}, no_memlock);
	REQUIRE(rec.wait(20000) == 1);
	std::string err = rec.stderr_text();
	INFO("stderr: " << err);
	CHECK(std::count(err.begin(), err.end(), '\n') == 1);
	CHECK(err.find("rb-consumer: record: io_uring refused to set up its rings: "
		       "RLIMIT_MEMLOCK is 0 bytes") == 0);
	CHECK(err.find("ulimit -l") != std::string::npos);
	prod.signal(SIGTERM);
	prod.wait(20000);

	Proc rp({producer_path(), "--source", "file", "--input", file, g2.name}, no_memlock);
	REQUIRE(rp.wait(20000) == 1);
	std::string err2 = rp.stderr_text();
	INFO("stderr: " << err2);
	CHECK(std::count(err2.begin(), err2.end(), '\n') == 1);
	CHECK(err2.find("RLIMIT_MEMLOCK is 0 bytes") != std::string::npos);
}
