// The UDP frame assembler (producer/udp_assembler.c) on its own, without
// sockets: packets handed over as the capture hands over a receive that
// landed in its spill buffer, slots from a small ring in memory. What the
// loopback test (test_udp.cpp) checks end to end, here step by step, with
// the frame numbers at the edges of 64 bits.
#include <catch2/catch.hpp>

#include <cerrno>
#include <cstring>
#include <vector>

#include "udp_assembler.h"

namespace {

const uint32_t kFrame = 4096, kPayload = 1024, kPackets = 4, kSlots = 16;

uint8_t pat(uint64_t f, uint64_t k)
{
	return (uint8_t)((f * 131u + k * 7u + 3u) | 1u);
}

struct Published {
	uint64_t frame, length;
	uint32_t flags;
	std::vector<uint8_t> data;
};

struct Sim {
	std::vector<std::vector<uint8_t>> slots;
	uint64_t acquired = 0, done = 0;
	std::vector<Published> out;
	udp_asm a;
	udp_rx rx;
	std::vector<uint8_t> spill, bounce;

	Sim() : slots(kSlots, std::vector<uint8_t>(kFrame)), spill(UDP_DATAGRAM), bounce(UDP_DATAGRAM)
	{
		udp_asm_ops ops = {acquire, publish, this};
		REQUIRE(udp_asm_init(&a, kFrame, kPayload, &ops) == 0);
		memset(&rx, 0, sizeof(rx));
		rx.spill = spill.data();
		rx.bounce = bounce.data();
	}
	~Sim() { udp_asm_fini(&a); }
	static int acquire(void *ctx, rb_frame *f, bool wait)
	{
		Sim *s = (Sim *)ctx;
		if (s->acquired - s->done >= kSlots)
			return wait ? UDP_ASM_STOP : UDP_SLOT_NONE;
		memset(f, 0, sizeof(*f));
		f->data = s->slots[s->acquired % kSlots].data();
		memset(f->data, 0xA4, kFrame); // stale bytes
		f->seq = s->acquired++;
		return UDP_SLOT_OK;
	}
	static int publish(void *ctx, rb_frame *f, uint64_t frame)
	{
		Sim *s = (Sim *)ctx;
		CHECK(f->seq == s->done);
		s->done++;
		s->out.push_back({frame, f->length, f->flags,
				  std::vector<uint8_t>((uint8_t *)f->data,
						       (uint8_t *)f->data + f->length)});
		return UDP_ASM_OK;
	}
	// One datagram through a receive into spill, then the settling the
	// capture does between chains.
	void packet(uint64_t f, uint32_t p, uint32_t length = kPayload)
	{
		udp_packet h = udp_packet_data(f, p, kPackets, p * kPayload, length);
		memset(&rx.g, 0, sizeof(rx.g));
		rx.hdr = h;
		for (uint32_t k = 0; k < length; k++)
			spill[k] = pat(f, h.offset + k);
		CHECK(udp_asm_received(&a, &rx, (int)(sizeof(h) + length), false, 1));
		REQUIRE(udp_asm_settle(&a, &rx, 1, 1) == UDP_ASM_OK);
	}
	void frame(uint64_t f)
	{
		for (uint32_t p = 0; p < kPackets; p++)
			packet(f, p);
	}
	void flush() { REQUIRE(udp_asm_flush(&a) == UDP_ASM_OK); }
	// The frames published, by sensor frame number, all complete and right.
	void check_whole(const std::vector<uint64_t> &frames)
	{
		REQUIRE(out.size() == frames.size());
		for (size_t i = 0; i < frames.size(); i++) {
			INFO("published " << i);
			CHECK(out[i].frame == frames[i]);
			CHECK(out[i].flags == 0);
			REQUIRE(out[i].length == kFrame);
			for (uint32_t k = 0; k < kFrame; k++)
				REQUIRE(out[i].data[k] == pat(frames[i], k));
		}
	}
};

} // namespace

TEST_CASE("UDP assembler: one packet of frame 2^64 - 1 is a stray, dropped at the next "
	  "ordinary packet", "[udp]")
{
	Sim s;
	for (uint64_t f = 100; f < 103; f++)
		s.frame(f);
	s.packet(UINT64_MAX, 0);
	CHECK(s.a.n.stray == 0); // held, undecided
	s.frame(103);
	s.flush();
	s.check_whole({100, 101, 102, 103});
	CHECK(s.a.n.stray == 1);
	CHECK(s.a.n.frames_missing == 0);
	CHECK(s.a.n.resyncs == 0);
	CHECK(s.a.n.packets == 16);

	// Modulo 2^64, frame 2^64 - 1 is just before frame 0: after frames
	// 0..2 it is late, like any packet of a frame up to 16 behind.
	Sim t;
	for (uint64_t f = 0; f < 3; f++)
		t.frame(f);
	t.packet(UINT64_MAX, 0);
	t.flush();
	t.check_whole({0, 1, 2});
	CHECK(t.a.n.late == 1);
}

TEST_CASE("UDP assembler: two packets in a row far away are a restart; frame numbers wrap "
	  "past 2^64 - 1", "[udp]")
{
	Sim s;
	s.frame(100);
	s.frame(101);
	for (uint64_t f : {UINT64_MAX - 1, UINT64_MAX, (uint64_t)0, (uint64_t)1})
		s.frame(f);
	s.flush();
	s.check_whole({100, 101, UINT64_MAX - 1, UINT64_MAX, 0, 1});
	CHECK(s.a.n.resyncs == 1);
	CHECK(s.a.n.frames_missing == 0);
	CHECK(s.a.n.stray == 0);
}

TEST_CASE("UDP assembler: a jump within reach publishes the frames in between empty; past "
	  "reach it publishes nothing for them", "[udp]")
{
	Sim s;
	s.frame(0);
	s.frame(UDP_WINDOW + UDP_JUMP - 1); // the farthest within reach of f0 = 1
	s.flush();
	REQUIRE(s.out.size() == UDP_WINDOW + UDP_JUMP);
	CHECK(s.a.n.frames_missing == UDP_WINDOW + UDP_JUMP - 2);
	for (size_t i = 1; i + 1 < s.out.size(); i++) {
		CHECK(s.out[i].length == 0);
		CHECK((s.out[i].flags & RB_FRAME_INCOMPLETE) != 0);
	}
	Sim t;
	t.frame(0);
	t.frame(UDP_WINDOW + UDP_JUMP + 1); // beyond: a restart, by two packets in a row
	t.flush();
	t.check_whole({0, UDP_WINDOW + UDP_JUMP + 1});
	CHECK(t.a.n.frames_missing == 0);
	CHECK(t.a.n.resyncs == 1);
}

TEST_CASE("UDP assembler: short packets make an incomplete frame with their shares' rest "
	  "zeroed, never stale", "[udp]")
{
	Sim s;
	s.frame(0);
	for (uint32_t p = 0; p < kPackets; p++)
		s.packet(1, p, 512);
	s.frame(2);
	s.flush();
	REQUIRE(s.out.size() == 3);
	const Published &x = s.out[1];
	CHECK((x.flags & RB_FRAME_INCOMPLETE) != 0);
	REQUIRE(x.length == 3 * kPayload + 512);
	for (uint32_t k = 0; k < x.length; k++) {
		INFO("byte " << k);
		REQUIRE(x.data[k] == (k % kPayload < 512 ? pat(1, k) : 0));
	}
	CHECK(s.a.n.short_packets == 3);
	CHECK(s.a.n.frames_incomplete == 1);
}
