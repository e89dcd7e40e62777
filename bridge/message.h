/*
 * A received message, whole: its parts checked against the wire format
 * (wire.h) and sorted into one struct. Pure: no socket, no ring, so the
 * fuzz target (tests/fuzz/fuzz_bridge.c) runs exactly what the programs
 * run on every message they receive.
 */
#ifndef RB_BRIDGE_MESSAGE_H
#define RB_BRIDGE_MESSAGE_H

#include "wire.h"

struct bridge_msg {
	enum wire_type type;
	union {
		struct wire_hello hello;
		struct wire_welcome welcome;
		struct wire_data data;
		struct wire_ack ack;
		struct wire_nack nack;
		struct wire_pub pub;
		uint64_t session; /* REFUSE, RESET, BYE */
	} u;
	struct wire_hello ring;   /* PUB with WIRE_PUB_RING: the near ring */
	struct wire_part text;    /* HELLO: stream header; DATA: the new
				   * stream's header (has_text); REFUSE: reason;
				   * PUB with WIRE_PUB_RING: the stream header */
	bool has_text;
	struct wire_part origin;  /* HELLO, PUB with WIRE_PUB_RING */
	struct wire_part payload; /* DATA, PUB */
};

/*
 * Checks the `n` parts of one message (without the ROUTER's routing id)
 * and fills *out. A DATA's or PUB's payload must be exactly its length and
 * at most max_frame_bytes; a PUB's ring part must name the PUB's session
 * and a frame size its length fits in. Returns 0, or -EPROTO for a bad message (the caller
 * counts it and drops it).
 */
int bridge_msg_parse(const struct wire_part *parts, unsigned n,
		     uint64_t max_frame_bytes, struct bridge_msg *out);

#endif /* RB_BRIDGE_MESSAGE_H */
