/*
 * libFuzzer target: the bridge receiver's message parser
 * (bridge/message.c over bridge/wire.c) and its commit rule
 * (bridge_chain_judge), driven the way rb-bridge recv drives them.
 *
 * The input is a script of messages, each:
 *   n       parts = n % 8 (a message has at most WIRE_PARTS_MAX, 6: a
 *           PUB with its ring parts; more are dropped before parsing, as
 *           the receiver and the subscriber do)
 *   then per part: a 16-bit little-endian length (cut to what is left)
 *   and that many bytes.
 * The first byte sets the far frame size (max_frame_bytes) the receiver
 * checks payloads against.
 *
 * It aborts (a crash for libFuzzer) when: a message the parser accepted
 * does not encode back to the same bytes (head and fixed bodies); a DATA
 * or PUB accepted has a payload that is not exactly its length or is
 * larger than a far frame (a PUB's: than its ring part's frame size, and
 * the ring part names another session); a text part accepted has a NUL or is too long; or the
 * commit rule lets a seq be committed that is not larger than the last
 * one committed (a frame committed twice). Any sanitizer report or hang
 * is a bug too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"

static void
expect(int cond)
{
	if (!cond)
		abort();
}

/* What the parser accepted must be what the encoder makes. */
static void
roundtrip(const struct wire_part *parts, const struct bridge_msg *m)
{
	uint8_t head[WIRE_HEAD_BYTES], body[WIRE_HELLO_BYTES > WIRE_PUB_BYTES ?
					    WIRE_HELLO_BYTES : WIRE_PUB_BYTES];

	wire_put_head(head, m->type);
	expect(parts[0].size == WIRE_HEAD_BYTES && memcmp(head, parts[0].data, WIRE_HEAD_BYTES) == 0);
	switch (m->type) {
	case WIRE_HELLO:
		wire_put_hello(body, &m->u.hello);
		expect(memcmp(body, parts[1].data, WIRE_HELLO_BYTES) == 0);
		expect(m->origin.size >= 1 && m->origin.size <= WIRE_ORIGIN_MAX);
		expect(memchr(m->origin.data, 0, m->origin.size) == NULL);
		break;
	case WIRE_DATA:
		wire_put_data(body, &m->u.data);
		expect(memcmp(body, parts[1].data, WIRE_DATA_BYTES) == 0);
		break;
	case WIRE_PUB:
		wire_put_pub(body, &m->u.pub);
		expect(memcmp(body, parts[1].data, WIRE_PUB_BYTES) == 0);
		if (m->u.pub.pub_flags & WIRE_PUB_RING) {
			wire_put_hello(body, &m->ring);
			expect(memcmp(body, parts[2].data, WIRE_HELLO_BYTES) == 0);
			expect(m->ring.session == m->u.pub.session);
			expect(m->u.pub.length <= m->ring.frame_bytes);
			expect(m->origin.size >= 1 && m->origin.size <= WIRE_ORIGIN_MAX);
			expect(memchr(m->origin.data, 0, m->origin.size) == NULL);
		}
		expect(m->payload.size == m->u.pub.length);
		break;
	case WIRE_ACK:
		wire_put_ack(body, &m->u.ack);
		expect(memcmp(body, parts[1].data, WIRE_ACK_BYTES) == 0);
		break;
	case WIRE_NACK:
		wire_put_nack(body, &m->u.nack);
		expect(memcmp(body, parts[1].data, WIRE_NACK_BYTES) == 0);
		break;
	case WIRE_WELCOME:
		wire_put_welcome(body, &m->u.welcome);
		expect(memcmp(body, parts[1].data, WIRE_WELCOME_BYTES) == 0);
		break;
	default:
		wire_put_session(body, m->u.session);
		expect(memcmp(body, parts[1].data, WIRE_SESSION_BYTES) == 0);
		break;
	}
	if (m->has_text)
		expect(m->text.size <= WIRE_HEADER_MAX &&
		       (m->text.size == 0 || memchr(m->text.data, 0, m->text.size) == NULL));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1, *end = data + size;
	uint64_t max_frame, last = WIRE_NONE, commits = 0;

	if (size < 1)
		return 0;
	max_frame = 1u + data[0] * 64u;
	while (p < end) {
		struct wire_part parts[WIRE_PARTS_MAX];
		struct bridge_msg m;
		unsigned n = *p++ % 8, i;

		for (i = 0; i < n; i++) {
			size_t len = 0;

			if (end - p >= 2) {
				len = (size_t)p[0] | (size_t)p[1] << 8;
				p += 2;
			} else {
				p = end;
			}
			if (len > (size_t)(end - p))
				len = (size_t)(end - p);
			if (i < WIRE_PARTS_MAX) {
				parts[i].data = p;
				parts[i].size = len;
			}
			p += len;
		}
		if (n > WIRE_PARTS_MAX)
			continue; /* the receiver drops it as too many parts */
		if (bridge_msg_parse(parts, n, max_frame, &m) != 0)
			continue;
		roundtrip(parts, &m);
		if (m.type == WIRE_PUB)
			expect(m.u.pub.length <= max_frame);
		if (m.type != WIRE_DATA)
			continue;
		expect(m.payload.size == m.u.data.length && m.u.data.length <= max_frame);
		switch (bridge_chain_judge(last, &m.u.data)) {
		case CHAIN_COMMIT:
			/* Never twice: every commit is past the last one. */
			expect(last == WIRE_NONE || m.u.data.seq > last);
			expect(m.u.data.prev == last);
			last = m.u.data.seq;
			commits++;
			break;
		case CHAIN_DUPLICATE:
			expect(last != WIRE_NONE && m.u.data.seq <= last);
			break;
		case CHAIN_BROKEN:
			expect(m.u.data.prev != last);
			break;
		}
	}
	(void)commits;
	return 0;
}
