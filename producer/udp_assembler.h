/*
 * The UDP frame assembler: checks sensor packets (udp_packet.h) and puts
 * them together into frames in ring slots. No I/O of its own: the ring's
 * slots come and go through udp_asm_ops, the datagrams through udp_rx, so
 * the capture (source_udp.c), the fuzz target (tests/fuzz/fuzz_udp.c) and
 * tests drive the same code.
 *
 * The rules (docs/RECORDING.md, "UDP capture", says them for users):
 *
 * Packet. A datagram is a 32-byte header and `length` payload bytes. A data
 * packet has 1 <= packets <= UDP_MAX_PACKETS, packet < packets, length >= 1,
 * offset + length <= the ring's frame size; packet 0 has offset 0; packet
 * i > 0 says the frame's payload size P = offset / i (offset a multiple of
 * i, P at most UDP_MAX_PAYLOAD) and length <= P. An END packet (flags END,
 * length 0) says the sender is done. Anything else is malformed.
 *
 * Frame. The first packet of a frame to be booked fixes its packet count n
 * and payload size P (packet 0 of a frame of several: the P of the packets
 * seen last, or --packet-size). Packet i covers bytes [i P, i P + length);
 * a later packet that disagrees on n or P is "conflicting" and dropped.
 * A packet other than the last with length < P is "short": booked, its
 * frame incomplete, the rest of its share zeroed. A frame is complete when
 * all n packets came, none short: then every byte came in this frame's
 * packets. An incomplete frame is published with RB_FRAME_INCOMPLETE and
 * every byte no packet brought zeroed.
 *
 * Window. Frames f0 .. f0 + UDP_WINDOW - 1 are assembled at once; frame
 * numbers compare modulo 2^64, so no arithmetic overflows. A packet of
 * frame f:
 *   f in the window                   booked;
 *   f0 + W <= f < f0 + W + JUMP       frames are published (oldest first,
 *                                     an empty one, missing, for each frame
 *                                     no packet reached) until f fits;
 *   f0 - W <= f < f0                  late: counted, dropped;
 *   anything else                     stray: held back. A second stray in a
 *                                     row within W frames of the first means
 *                                     the sender restarted (or jumped): the
 *                                     window's frames are published, both
 *                                     packets booked, assembly goes on from
 *                                     the lower of the two (a resync). A
 *                                     held stray followed by anything else
 *                                     is dropped and counted.
 * Every step above is bounded: at most W + JUMP frames are published for
 * one packet, and nothing loops over a frame number difference.
 *
 * Every datagram lands in exactly one counter: packets (booked), late,
 * duplicate, malformed, conflicting, stray, or ends (END packets).
 */
#ifndef RB_UDP_ASSEMBLER_H
#define RB_UDP_ASSEMBLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringbuf/ringbuf.h>

#include "udp_packet.h"

#ifdef __cplusplus
extern "C" {
#endif

#define UDP_WINDOW 16u           /* frames being assembled at once */
#define UDP_JUMP 256u            /* frames a packet may skip past the window */
#define UDP_REORDER 2u           /* frame n is over once frame n + 2 shows */
#define UDP_MAX_PACKETS 65536u   /* per frame */
#define UDP_DATAGRAM 65536u      /* receive buffer: any UDP datagram fits */

/* What the assembler's ops and calls return. */
#define UDP_ASM_OK 0
#define UDP_ASM_STOP 1   /* the ops said stop (a signal): end the capture */
#define UDP_ASM_ERROR 2  /* the ops failed and said why */

/* What acquire returns besides UDP_ASM_STOP and UDP_ASM_ERROR. */
#define UDP_SLOT_OK 0
#define UDP_SLOT_NONE 3     /* none free (yet): try again or do without */
#define UDP_SLOT_DROPPED 4  /* none, and the frame is dropped (--on-full drop) */

struct udp_asm_ops {
	/* The next slot, in ring order. `wait`: a bounded wait (one slice),
	 * else none. Returns UDP_SLOT_* or UDP_ASM_STOP/ERROR. */
	int (*acquire)(void *ctx, struct rb_frame *f, bool wait);
	/* Publishes a filled slot; `frame` is its frame number. 0 or
	 * UDP_ASM_STOP/ERROR. */
	int (*publish)(void *ctx, struct rb_frame *f, uint64_t frame);
	void *ctx;
};

/* The counters: every datagram is in one of the first seven. */
struct udp_counts {
	uint64_t packets;      /* booked into a frame */
	uint64_t late;         /* of a frame already published */
	uint64_t duplicate;    /* a packet already booked */
	uint64_t malformed;    /* not a valid packet on its own */
	uint64_t conflicting;  /* valid, but not the geometry its frame has */
	uint64_t stray;        /* far outside the window, not confirmed */
	uint64_t ends;         /* END packets */
	uint64_t short_packets; /* booked with less than their share (in packets) */
	uint64_t moved;        /* booked by a copy: not where guessed */
	uint64_t lost;         /* packets missing from published frames */
	uint64_t frames_complete, frames_incomplete, frames_missing, resyncs;
	uint64_t payload_bytes;
};

/* A frame being assembled. */
struct udp_asm_frame {
	bool acquired;      /* has a slot (f) */
	bool dropped;       /* no slot: --on-full drop */
	struct rb_frame f;
	uint32_t packets;   /* n; 0 until a packet was booked */
	uint32_t payload;   /* P */
	uint32_t received;
	uint32_t short_packets;
	uint64_t length;    /* end of its last packet, once that came */
	uint64_t first_ns;  /* arrival of its first packet: its time stamp */
	uint8_t *got;       /* a bit per packet */
};

/* Where one receive lands: a guess at the next packet. */
struct udp_guess {
	bool valid;         /* a guess was made */
	uint8_t *place;     /* in the slot; NULL: everything goes to spill */
	uint64_t frame;
	uint32_t packet;
	uint32_t offset;
	uint32_t room;      /* bytes at place */
	uint32_t payload;   /* the P guessed with */
};

/* One receive: its guess, its buffers, and what came. */
struct udp_rx {
	struct udp_guess g;
	struct udp_packet hdr; /* the header, as received */
	uint8_t *spill;        /* UDP_DATAGRAM bytes: what does not fit place */
	uint8_t *bounce;       /* UDP_DATAGRAM bytes: a payload set aside */
	bool moved;            /* `got` waits in bounce, to be booked */
	struct udp_packet got;
};

struct udp_asm {
	struct udp_asm_ops ops;
	uint64_t frame_bytes;
	/* Frames f0 .. f0 + count - 1 in win[(head + i) % UDP_WINDOW]; the
	 * first `span` of them reach up to the highest frame booked. */
	struct udp_asm_frame win[UDP_WINDOW];
	uint32_t head, count, span;
	bool based;         /* f0 is known (a packet was booked) */
	uint64_t f0;
	/* The next guess, and what guesses are made of. */
	uint64_t guess_frame;
	uint32_t guess_packet;
	uint32_t payload;   /* P, as last seen */
	uint32_t packets;   /* n, as last seen */
	uint64_t full_length; /* of the last frame whose last packet came */
	/* A stray, until the next packet says what it is. */
	bool held;
	struct udp_packet held_hdr;
	uint64_t held_ns;
	uint8_t *held_data;
	bool end_seen;
	uint64_t end_frame;
	uint64_t now;       /* the latest time told: empty frames' time stamp */
	bool set_aside;     /* one of these receives got a packet off the window */
	struct udp_counts n;
};

/* 0, or -ENOMEM. `payload`: the P to guess until packets say. */
int udp_asm_init(struct udp_asm *a, uint64_t frame_bytes, uint32_t payload,
		 const struct udp_asm_ops *ops);
void udp_asm_fini(struct udp_asm *a);

/* Checks a datagram of `bytes` bytes whose first 32 are `hdr` (its
 * payload elsewhere) against the rules above. */
enum udp_kind { UDP_KIND_DATA, UDP_KIND_END, UDP_KIND_MALFORMED };
enum udp_kind udp_packet_check(const struct udp_packet *hdr, size_t bytes, bool truncated,
			       uint64_t frame_bytes);

/* Makes the next guess into g (g->valid false: none, receive into spill
 * only). Never waits for a slot. UDP_ASM_*. */
int udp_asm_guess(struct udp_asm *a, struct udp_guess *g);
/* A receive of rx completed with `res` (bytes or -errno). Books it if it
 * landed where guessed, else sets it aside in rx->bounce. Returns true if
 * the receives guessed after it are off now (or the END came). */
bool udp_asm_received(struct udp_asm *a, struct udp_rx *rx, int res, bool truncated,
		      uint64_t now);
/* After receives rx[0 .. n-1] all completed: books the ones set aside,
 * guesses on after the last packet that came, publishes the frames that
 * are over, and at the END everything up to the sender's last frame.
 * UDP_ASM_*. */
int udp_asm_settle(struct udp_asm *a, struct udp_rx *rx, uint32_t n, uint64_t now);
/* Nothing came for a while, or the capture ends: publishes every frame up
 * to the highest booked; drops a held stray. UDP_ASM_*. */
int udp_asm_flush(struct udp_asm *a);
/* Frames wait for packets that may still come. */
bool udp_asm_waiting(const struct udp_asm *a);

#ifdef __cplusplus
}
#endif

#endif /* RB_UDP_ASSEMBLER_H */
