// rb-producer --source udp against hostile and disordered packets, on
// 127.0.0.1 only: the test sends every datagram itself, from a plain
// socket, in a scripted order, and checks the capture's counters exactly
// and every published frame's bytes (right, or flagged RB_FRAME_INCOMPLETE
// with whatever no packet brought zeroed). The rules are those of
// producer/udp_assembler.h and docs/RECORDING.md ("UDP capture").
//
// Loopback keeps datagrams in order, so the capture sees them as sent.
// Where a count depends on what the capture has published by then (a late
// packet), the test waits for the consumer to have the frame first.
#include <catch2/catch.hpp>

#include "program_support.hpp"

#include <arpa/inet.h>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <mutex>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <thread>
#include <vector>

#include "../producer/udp_packet.h"

using namespace rbt;

namespace {

const uint32_t kFrame = 4096, kPayload = 1024, kPackets = 4;

// Byte k of sensor frame f.
uint8_t pat(uint64_t f, uint64_t k)
{
	return (uint8_t)(f * 131u + k * 7u + 3u);
}

struct Got {
	uint64_t seq, length;
	uint32_t flags;
	std::vector<uint8_t> data;
};

// A capture (rb-producer --source udp) with a consumer reading every frame
// in a thread, and a socket to send it datagrams.
struct UdpRun {
	RingGuard guard;
	Proc cap;
	Watch w;
	rb_consumer *c = nullptr;
	int fd = -1;
	sockaddr_in to{};
	std::mutex m;
	std::vector<Got> got;
	std::atomic<int> result{1};
	std::atomic<bool> reading{true};
	std::thread reader;
	uint64_t sent = 0;

	explicit UdpRun(const char *tag, std::vector<std::string> extra = {})
	    : guard(unique_name(tag)), cap(args(guard.name, extra))
	{
	}
	static std::vector<std::string> args(const std::string &ring,
					      const std::vector<std::string> &extra)
	{
		std::vector<std::string> a = {producer_path(), "--source", "udp", "--listen",
					      "127.0.0.1:0", "--frame-size", std::to_string(kFrame),
					      "--packet-size", std::to_string(kPayload), "--slots", "16",
					      "--frame-timeout", "5s", "--wait-consumers", "1",
					      "--json"};
		a.insert(a.end(), extra.begin(), extra.end());
		a.push_back(ring);
		return a;
	}
	// Opens the ring, attaches, learns the port, starts reading.
	void start(bool read = true)
	{
		REQUIRE(w.open(guard.name, 20000));
		REQUIRE(rb_consumer_attach(w.ring, nullptr, &c) == 0);
		std::string port;
		REQUIRE(eventually([&] {
			char text[4096];
			if (rb_ring_stream_header(w.ring, text, sizeof(text), nullptr) < 0)
				return false;
			const char *l = strstr(text, "listen=");
			if (l == nullptr)
				return false;
			const char *colon = strchr(l, ':');
			port = std::string(colon + 1, strcspn(colon + 1, "\n"));
			return true;
		}, 20000));
		fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		REQUIRE(fd >= 0);
		to.sin_family = AF_INET;
		to.sin_port = htons((uint16_t)std::stoi(port));
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (read)
			reader = std::thread([this] { read_all(); });
	}
	void read_all()
	{
		rb_frame f;
		int rc;
		uint64_t deadline = now_ms() + 60000;
		while (reading && (rc = rb_consumer_acquire(c, &f, 100000000ull)) != RB_E_EOS) {
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
			Got x{f.seq, f.length, f.flags,
			      std::vector<uint8_t>((uint8_t *)f.data, (uint8_t *)f.data + f.length)};
			rb_consumer_release(c, &f);
			std::lock_guard<std::mutex> l(m);
			got.push_back(std::move(x));
		}
		result = 0;
	}
	size_t frames()
	{
		std::lock_guard<std::mutex> l(m);
		return got.size();
	}
	void raw(const void *buf, size_t len)
	{
		REQUIRE(sendto(fd, buf, len, 0, (sockaddr *)&to, sizeof(to)) == (ssize_t)len);
		sent++;
	}
	// A data packet of sensor frame f: `length` bytes of its pattern at
	// `offset` (packet * kPayload unless said).
	void packet(uint64_t f, uint32_t packet, uint32_t length = kPayload,
		    uint32_t packets = kPackets, int64_t offset = -1)
	{
		std::vector<uint8_t> d(sizeof(udp_packet) + length);
		udp_packet h = udp_packet_data(f, packet, packets,
					       offset >= 0 ? (uint32_t)offset : packet * kPayload,
					       length);
		memcpy(d.data(), &h, sizeof(h));
		for (uint32_t k = 0; k < length; k++)
			d[sizeof(h) + k] = pat(f, h.offset + k);
		raw(d.data(), d.size());
	}
	void frame(uint64_t f)
	{
		for (uint32_t p = 0; p < kPackets; p++)
			packet(f, p);
	}
	void end(uint64_t frames)
	{
		udp_packet h{};
		h.magic = UDP_PACKET_MAGIC;
		h.version = UDP_PACKET_VERSION;
		h.flags = UDP_FLAG_END;
		h.header_bytes = sizeof(udp_packet);
		h.frame = frames;
		raw(&h, sizeof(h));
	}
	// Waits for the capture to have published n frames (the consumer has
	// them): what the capture does with the next packet depends on it.
	void published(size_t n) { REQUIRE(eventually([&] { return frames() >= n; }, 20000)); }
	Json finish()
	{
		int status = cap.wait(30000);
		if (reader.joinable())
			reader.join();
		if (c != nullptr)
			rb_consumer_detach(c);
		c = nullptr;
		INFO(cap.stderr_text());
		REQUIRE(status == 0);
		REQUIRE(result == 0);
		return cap.summary();
	}
	~UdpRun()
	{
		reading = false;
		if (reader.joinable())
			reader.join();
		if (c != nullptr)
			rb_consumer_detach(c);
		if (fd >= 0)
			close(fd);
	}
};

// What a published frame must be: sensor frame f with the bytes of the
// given packets (offset, length) in place and zeros elsewhere, `length`
// long; flagged incomplete unless all came whole.
struct Expect {
	uint64_t frame;
	uint64_t length;
	bool complete;
	std::vector<std::pair<uint32_t, uint32_t>> parts;
};

Expect whole(uint64_t f)
{
	Expect e{f, kFrame, true, {}};
	for (uint32_t p = 0; p < kPackets; p++)
		e.parts.push_back({p * kPayload, kPayload});
	return e;
}

Expect empty_frame(uint64_t f)
{
	return Expect{f, 0, false, {}};
}

void check_frames(const std::vector<Got> &got, const std::vector<Expect> &want)
{
	REQUIRE(got.size() == want.size());
	for (size_t i = 0; i < want.size(); i++) {
		const Expect &e = want[i];
		INFO("published frame " << i << " (sensor frame " << e.frame << ")");
		CHECK(got[i].seq == got[0].seq + i);
		REQUIRE(got[i].length == e.length);
		CHECK(((got[i].flags & RB_FRAME_INCOMPLETE) == 0) == e.complete);
		std::vector<uint8_t> x(e.length, 0);
		for (auto &p : e.parts)
			for (uint32_t k = 0; k < p.second; k++)
				x[p.first + k] = pat(e.frame, p.first + k);
		REQUIRE(got[i].data == x);
	}
}

} // namespace

TEST_CASE("UDP capture: reordered, duplicated, late, short, lost, far-jumping, malformed "
	  "and restarted packets are counted exactly and no frame passes off wrong bytes",
	  "[udp]")
{
	UdpRun u("udp-hostile");
	u.start();
	std::vector<Expect> want;

	// In order.
	for (uint64_t f = 100; f < 110; f++) {
		u.frame(f);
		want.push_back(whole(f));
	}
	// Reordered within a frame: complete.
	for (uint32_t p : {2u, 0u, 3u, 1u})
		u.packet(110, p);
	want.push_back(whole(110));
	// A duplicate while its frame is still open.
	for (uint32_t p : {0u, 1u, 1u, 2u, 3u})
		u.packet(111, p);
	want.push_back(whole(111));
	// The last packet of frame 112 after frame 113: still in time.
	for (uint32_t p : {0u, 1u, 2u})
		u.packet(112, p);
	u.frame(113);
	u.packet(112, 3);
	want.push_back(whole(112));
	want.push_back(whole(113));
	for (uint64_t f = 114; f < 117; f++) {
		u.frame(f);
		want.push_back(whole(f));
	}
	// Late: frame 113 is published by now.
	u.published(want.size());
	u.packet(113, 0);
	// Short: each packet brings 512 of its 1024 bytes. The rest of each
	// share must come out zero, not an older frame's bytes.
	for (uint32_t p = 0; p < kPackets; p++)
		u.packet(117, p, 512);
	want.push_back(Expect{117, 3 * kPayload + 512, false,
			      {{0, 512}, {1024, 512}, {2048, 512}, {3072, 512}}});
	// Lost: packet 2 of frame 118 never comes.
	for (uint32_t p : {0u, 1u, 3u})
		u.packet(118, p);
	want.push_back(Expect{118, kFrame, false, {{0, 1024}, {1024, 1024}, {3072, 1024}}});
	u.frame(119);
	u.frame(120);
	want.push_back(whole(119));
	want.push_back(whole(120));
	// A jump within reach: frames 121..146 come out empty, counted missing.
	u.frame(147);
	for (uint64_t f = 121; f < 147; f++)
		want.push_back(empty_frame(f));
	want.push_back(whole(147));
	// Lone packets far away (the frame numbers of the issue), each
	// followed by ordinary ones: held, then dropped as strays.
	u.packet(UINT64_MAX, 0);
	u.frame(148);
	u.packet(UINT64_C(1) << 62, 1);
	u.frame(149);
	u.packet(UINT64_MAX - 15, 2);
	u.frame(150);
	for (uint64_t f = 148; f < 151; f++)
		want.push_back(whole(f));
	// The sender restarts at frame 0: two packets in a row far behind,
	// close together, are a new beginning.
	for (uint64_t f = 0; f < 3; f++) {
		u.frame(f);
		want.push_back(whole(f));
	}
	// Malformed datagrams, one of each kind, and a conflicting packet.
	{
		uint8_t tiny[10] = {0};
		u.raw(tiny, sizeof(tiny)); // shorter than a header
	}
	u.packet(3, 0, kPayload, kPackets, 0);
	{
		// bad magic
		std::vector<uint8_t> d(sizeof(udp_packet) + 16, 0);
		udp_packet h{};
		h.magic = 0x12345678;
		h.version = UDP_PACKET_VERSION;
		h.header_bytes = sizeof(udp_packet);
		h.packets = 1;
		h.length = 16;
		memcpy(d.data(), &h, sizeof(h));
		u.raw(d.data(), d.size());
		// length says more than the datagram has
		h.magic = UDP_PACKET_MAGIC;
		h.length = 17;
		memcpy(d.data(), &h, sizeof(h));
		u.raw(d.data(), d.size());
	}
	u.packet(3, 4, kPayload, kPackets);      // packet >= packets
	u.packet(3, 3, kPayload, kPackets, 3000); // offset not packet * P
	u.packet(3, 1, kPayload, 2);              // valid alone; frame 3 has 4 packets
	u.packet(3, 1);
	u.packet(3, 2);
	u.packet(3, 3);
	want.push_back(whole(3));
	u.end(4);

	Json j = u.finish();
	std::lock_guard<std::mutex> l(u.m);
	check_frames(u.got, want);
	CHECK(j["end"].s() == "sender_end");
	CHECK(j["kernel_drops"].u64() == 0);
	CHECK(j["datagrams"].u64() == u.sent);
	CHECK(j["packets"].u64() == 115);
	CHECK(j["packets_duplicate"].u64() == 1);
	CHECK(j["packets_late"].u64() == 1);
	CHECK(j["packets_short"].u64() == 3);
	CHECK(j["packets_malformed"].u64() == 5);
	CHECK(j["packets_conflicting"].u64() == 1);
	CHECK(j["packets_stray"].u64() == 3);
	CHECK(j["end_packets"].u64() == 1);
	CHECK(j["datagrams"].u64() ==
	      j["packets"].u64() + j["packets_duplicate"].u64() + j["packets_late"].u64() +
		      j["packets_malformed"].u64() + j["packets_conflicting"].u64() +
		      j["packets_stray"].u64() + j["end_packets"].u64());
	CHECK(j["frames"].u64() == want.size());
	CHECK(j["frames_complete"].u64() == 27);
	CHECK(j["frames_incomplete"].u64() == 28);
	CHECK(j["frames_missing"].u64() == 26);
	CHECK(j["packets_lost"].u64() == 1 + 26 * kPackets);
	CHECK(j["resyncs"].u64() == 1);
}

TEST_CASE("UDP capture: ordinary disorder (reordered, duplicated, a packet after the next "
	  "frame's) loses nothing and never stalls", "[udp]")
{
	UdpRun u("udp-disorder");
	u.start();
	const uint64_t frames = 400;
	uint64_t dups = 0;
	std::vector<Expect> want;
	for (uint64_t f = 0; f < frames; f++) {
		if (f % 5 == 1 && f + 1 < frames) {
			// Packet 1 of f comes after all of f + 1.
			for (uint32_t p : {0u, 2u, 3u})
				u.packet(f, p);
			u.frame(f + 1);
			u.packet(f, 1);
			want.push_back(whole(f));
			want.push_back(whole(f + 1));
			f++;
			continue;
		}
		for (uint32_t p : {2u, 0u, 3u, 1u}) {
			u.packet(f, p);
			if (f % 7 == 3 && p == 0) {
				u.packet(f, p);
				dups++;
			}
		}
		want.push_back(whole(f));
	}
	u.end(frames);
	Json j = u.finish();
	std::lock_guard<std::mutex> l(u.m);
	check_frames(u.got, want);
	CHECK(j["end"].s() == "sender_end");
	CHECK(j["packets"].u64() == frames * kPackets);
	CHECK(j["packets_duplicate"].u64() == dups);
	CHECK(j["packets_late"].u64() == 0);
	CHECK(j["frames_complete"].u64() == frames);
	CHECK(j["packets_lost"].u64() == 0);
}

TEST_CASE("UDP capture: packets shorter than their share make their frame incomplete, the "
	  "rest of the share zeroed", "[udp]")
{
	UdpRun u("udp-short");
	u.start();
	std::vector<Expect> want;
	// Slots are reused every 16 frames: the short frames land where whole
	// ones were, so stale bytes would show.
	for (uint64_t f = 0; f < 40; f++) {
		if (f % 8 == 5) {
			for (uint32_t p = 0; p < kPackets; p++)
				u.packet(f, p, 512);
			want.push_back(Expect{f, 3 * kPayload + 512, false,
					      {{0, 512}, {1024, 512}, {2048, 512}, {3072, 512}}});
		} else {
			u.frame(f);
			want.push_back(whole(f));
		}
	}
	u.end(40);
	Json j = u.finish();
	std::lock_guard<std::mutex> l(u.m);
	check_frames(u.got, want);
	CHECK(j["packets_short"].u64() == 5 * 3);
	CHECK(j["frames_incomplete"].u64() == 5);
	CHECK(j["frames_complete"].u64() == 35);
}

TEST_CASE("UDP capture: a jump past reach publishes nothing in between and counts no "
	  "missing frames", "[udp]")
{
	UdpRun u("udp-jump");
	u.start();
	std::vector<Expect> want;
	for (uint64_t f = 0; f < 5; f++) {
		u.frame(f);
		want.push_back(whole(f));
	}
	// The stream moves to 2^62 (two packets in a row confirm it), then to
	// 2^64 - 16, and wraps past 2^64 - 1 to 0 and 1.
	const uint64_t far = UINT64_C(1) << 62, top = UINT64_MAX - 15;
	for (uint64_t f = far; f < far + 3; f++) {
		u.frame(f);
		want.push_back(whole(f));
	}
	for (uint64_t k = 0; k < 18; k++) {
		u.frame(top + k); // top + 16 is frame 0 again
		want.push_back(whole(top + k));
	}
	u.end(top + 18);
	Json j = u.finish();
	std::lock_guard<std::mutex> l(u.m);
	check_frames(u.got, want);
	CHECK(j["end"].s() == "sender_end");
	CHECK(j["frames_missing"].u64() == 0);
	CHECK(j["packets_lost"].u64() == 0);
	CHECK(j["resyncs"].u64() == 2);
	CHECK(j["frames_complete"].u64() == want.size());
	CHECK(j["packets_stray"].u64() == 0);
	CHECK(j["packets"].u64() == want.size() * kPackets);
}

TEST_CASE("UDP capture ends within a second of SIGINT or SIGTERM, in every state", "[udp]")
{
	for (int sig : {SIGINT, SIGTERM}) {
		SECTION(std::string("after a frame number of 2^64 - 1, ") + strsignal(sig))
		{
			UdpRun u("udp-signal");
			u.start();
			for (uint64_t f = 0; f < 20; f++)
				u.frame(f);
			u.packet(UINT64_MAX, 0);
			u.packet(UINT64_MAX, 1);
			u.packet(UINT64_MAX, 2);
			u.published(19);
			u.cap.signal(sig);
			uint64_t t0 = now_ms();
			REQUIRE(u.cap.wait(5000) == 0);
			CHECK(now_ms() - t0 < 1000);
			Json j = u.cap.summary();
			CHECK(j["end"].s() == "signal");
			CHECK(j["resyncs"].u64() == 1);
			CHECK(j["frames_missing"].u64() == 0);
		}
		SECTION(std::string("with the ring full and packets waiting, ") + strsignal(sig))
		{
			UdpRun u("udp-signal-full");
			u.start(false); // attached, never reading: 16 slots fill up
			for (uint64_t f = 0; f < 40; f++)
				u.frame(f);
			REQUIRE(u.w.frames(16, 20000));
			// The capture waits for a slot, one slice at a time. After
			// the signal the consumer lets go, so that the end of the
			// stream finds room (with a consumer that never reads,
			// ending the stream waits PRODUCER_END_TIMEOUT_NS, main.c).
			u.cap.signal(sig);
			uint64_t t0 = now_ms();
			rb_consumer_detach(u.c);
			u.c = nullptr;
			int status = u.cap.wait(5000);
			uint64_t took = now_ms() - t0;
			INFO(u.cap.stderr_text() << " after " << took << " ms");
			REQUIRE(status == 0);
			CHECK(took < 1000);
			CHECK(u.cap.summary()["end"].s() == "signal");
		}
	}
}

TEST_CASE("UDP capture's summary counts its time from its start, also when it fails early",
	  "[udp]")
{
	// No io_uring (io_uring_setup fails, by a seccomp filter): the
	// capture refuses to start, and its summary's seconds are the few it
	// ran, not the time since the clock's epoch (the machine's uptime).
	RingGuard guard(unique_name("udp-early"));
	Proc cap({producer_path(), "--source", "udp", "--listen", "127.0.0.1:0", "--json",
		  guard.name},
		 [] {
			 struct sock_filter f[] = {
				 BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
				 BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
				 BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
				 BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
			 };
			 struct sock_fprog prog = {(unsigned short)(sizeof(f) / sizeof(f[0])), f};
			 return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
				prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
		 });
	int status = cap.wait(20000);
	INFO(cap.stderr_text());
	CHECK(status == 1);
	Json j = cap.summary();
	CHECK(j["end"].s() == "error");
	CHECK(j["seconds"].d() < 10.0);
}
