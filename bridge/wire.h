/*
 * The bridge's wire format (docs/BRIDGE.md, "Wire format"): encoders that
 * fill fixed-size buffers and decoders that check every size and field
 * before anything is read. No socket here: the fuzz target drives these
 * functions and bridge_chain_judge directly.
 */
#ifndef RB_BRIDGE_WIRE_H
#define RB_BRIDGE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ringbuf/ringbuf.h>

#define WIRE_VERSION 1
#define WIRE_HEAD_BYTES 8
#define WIRE_HELLO_BYTES 96
#define WIRE_WELCOME_BYTES 32
#define WIRE_DATA_BYTES 56
#define WIRE_ACK_BYTES 32
#define WIRE_NACK_BYTES 24
#define WIRE_PUB_BYTES 64
#define WIRE_SESSION_BYTES 8
#define WIRE_HEADER_MAX (1u << 20) /* a stream header's text */
#define WIRE_ORIGIN_MAX 255
#define WIRE_REASON_MAX 255
#define WIRE_FRAME_BYTES_MAX (1ull << 40)
#define WIRE_NONE UINT64_MAX /* "no seq" in prev and resume_after */

/* Largest number of parts of any message (PUB with the ring parts). */
#define WIRE_PARTS_MAX 6

enum wire_type {
	WIRE_HELLO = 1,
	WIRE_WELCOME = 2,
	WIRE_DATA = 3,
	WIRE_ACK = 4,
	WIRE_NACK = 5,
	WIRE_REFUSE = 6,
	WIRE_RESET = 7,
	WIRE_BYE = 8,
	WIRE_PUB = 9,
};

#define WIRE_HELLO_LOSSY (1u << 0)
#define WIRE_HELLO_GROUP (1u << 1)
#define WIRE_HELLO_STREAM_OPEN (1u << 2)
#define WIRE_WELCOME_CREATED (1u << 0)
#define WIRE_PUB_RING (1u << 0) /* the ring parts follow the descriptor */

struct wire_hello {
	uint64_t session;
	uint64_t first_seq;
	uint64_t frame_bytes;
	struct rb_frame_type type;
	uint64_t near_created_ns;
	uint32_t flags;
	uint32_t slot_count;
};

struct wire_welcome {
	uint64_t session;
	uint64_t resume_after;
	uint64_t flags;
};

struct wire_data {
	uint64_t session;
	uint64_t seq;
	uint64_t prev;
	uint64_t length;
	uint64_t timestamp_ns;
	uint32_t flags;
	uint32_t epoch;
	uint64_t sent_ns;
};

struct wire_ack {
	uint64_t session;
	uint64_t committed;
	uint64_t echo_ns;
	uint64_t count;
};

struct wire_nack {
	uint64_t session;
	uint64_t resume_after;
	uint32_t epoch;
};

/* The descriptor of a PUB (publisher to subscribers, docs/BRIDGE.md). */
struct wire_pub {
	uint64_t session;
	uint64_t seq;          /* the frame's near seq */
	uint64_t index;        /* frames published before it in this session */
	uint64_t length;
	uint64_t timestamp_ns;
	uint32_t flags;        /* RB_FRAME_* of the near frame */
	uint32_t pub_flags;    /* WIRE_PUB_RING */
	uint64_t near_lost;    /* seqs the publisher did not publish, so far */
};

/* One received part, as the decoders see it. */
struct wire_part {
	const void *data;
	size_t size;
};

/* The head of every message. */
void wire_put_head(uint8_t out[WIRE_HEAD_BYTES], enum wire_type type);
/* The type of a valid head, or -EPROTO. */
int wire_get_head(const struct wire_part *head);
/* The number of parts a message of this type has (DATA: without the
 * optional stream header part), 0 for an unknown type. */
unsigned wire_parts(enum wire_type type);

void wire_put_hello(uint8_t out[WIRE_HELLO_BYTES], const struct wire_hello *h);
void wire_put_welcome(uint8_t out[WIRE_WELCOME_BYTES], const struct wire_welcome *w);
void wire_put_data(uint8_t out[WIRE_DATA_BYTES], const struct wire_data *d);
void wire_put_ack(uint8_t out[WIRE_ACK_BYTES], const struct wire_ack *a);
void wire_put_nack(uint8_t out[WIRE_NACK_BYTES], const struct wire_nack *n);
void wire_put_session(uint8_t out[WIRE_SESSION_BYTES], uint64_t session);
void wire_put_pub(uint8_t out[WIRE_PUB_BYTES], const struct wire_pub *p);

/*
 * Decoders: 0 and *out filled when the part has the exact size and every
 * field is within the rules of docs/BRIDGE.md, else -EPROTO (out is then
 * undefined). Text parts (header, origin, reason) are checked by
 * wire_check_text.
 */
int wire_get_hello(const struct wire_part *body, struct wire_hello *out);
int wire_get_welcome(const struct wire_part *body, struct wire_welcome *out);
int wire_get_data(const struct wire_part *body, struct wire_data *out);
int wire_get_ack(const struct wire_part *body, struct wire_ack *out);
int wire_get_nack(const struct wire_part *body, struct wire_nack *out);
int wire_get_session(const struct wire_part *body, uint64_t *out);
int wire_get_pub(const struct wire_part *body, struct wire_pub *out);
/* 0 if the part is text of min..max bytes with no NUL, else -EPROTO. */
int wire_check_text(const struct wire_part *text, size_t min, size_t max);

/*
 * What the receiver does with a DATA (docs/BRIDGE.md, "Commit"), from the
 * near seq of the last thing it committed (`last`, WIRE_NONE: nothing yet).
 */
enum chain_verdict {
	CHAIN_COMMIT,    /* the successor of `last`: commit it */
	CHAIN_DUPLICATE, /* seq <= last: already committed */
	CHAIN_BROKEN,    /* something between was lost: NACK */
};
enum chain_verdict bridge_chain_judge(uint64_t last, const struct wire_data *d);

#endif /* RB_BRIDGE_WIRE_H */
