/*
 * Encoding and decoding of the bridge's messages (docs/BRIDGE.md). Every
 * field is little-endian at a fixed offset; decoders copy bytes out with
 * memcpy-like loads so that no part needs to be aligned, and refuse a
 * part of the wrong size before reading it.
 */
#include <errno.h>
#include <string.h>

#include "wire.h"

static const uint8_t wire_magic[4] = {'R', 'B', 'B', 'R'};

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v = 0;

	for (int i = 3; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

void
wire_put_head(uint8_t out[WIRE_HEAD_BYTES], enum wire_type type)
{
	memcpy(out, wire_magic, 4);
	out[4] = WIRE_VERSION;
	out[5] = (uint8_t)type;
	out[6] = 0;
	out[7] = 0;
}

unsigned
wire_parts(enum wire_type type)
{
	switch (type) {
	case WIRE_HELLO:
		return 4;
	case WIRE_DATA:
	case WIRE_REFUSE:
	case WIRE_PUB:
		return 3;
	case WIRE_WELCOME:
	case WIRE_ACK:
	case WIRE_NACK:
	case WIRE_RESET:
	case WIRE_BYE:
		return 2;
	}
	return 0;
}

int
wire_get_head(const struct wire_part *head)
{
	const uint8_t *p = head->data;

	if (head->size != WIRE_HEAD_BYTES || memcmp(p, wire_magic, 4) != 0 ||
	    p[4] != WIRE_VERSION || p[6] != 0 || p[7] != 0 ||
	    wire_parts((enum wire_type)p[5]) == 0)
		return -EPROTO;
	return p[5];
}

void
wire_put_hello(uint8_t out[WIRE_HELLO_BYTES], const struct wire_hello *h)
{
	memset(out, 0, WIRE_HELLO_BYTES);
	put64(out + 0, h->session);
	put64(out + 8, h->first_seq);
	put64(out + 16, h->frame_bytes);
	put32(out + 24, h->type.elem);
	put32(out + 28, h->type.ndim);
	for (int i = 0; i < RB_MAX_DIMS; i++)
		put64(out + 32 + 8 * i, h->type.dims[i]);
	put64(out + 64, h->near_created_ns);
	put32(out + 72, h->flags);
	put32(out + 76, h->slot_count);
}

int
wire_get_hello(const struct wire_part *body, struct wire_hello *h)
{
	const uint8_t *p = body->data;

	if (body->size != WIRE_HELLO_BYTES || !all_zero(p + 80, 16))
		return -EPROTO;
	h->session = get64(p + 0);
	h->first_seq = get64(p + 8);
	h->frame_bytes = get64(p + 16);
	h->type.elem = get32(p + 24);
	h->type.ndim = get32(p + 28);
	for (int i = 0; i < RB_MAX_DIMS; i++)
		h->type.dims[i] = get64(p + 32 + 8 * i);
	h->near_created_ns = get64(p + 64);
	h->flags = get32(p + 72);
	h->slot_count = get32(p + 76);
	if (h->session == 0 || h->frame_bytes == 0 ||
	    h->frame_bytes > WIRE_FRAME_BYTES_MAX ||
	    h->type.elem >= RB_ELEM_COUNT_ || h->type.ndim > RB_MAX_DIMS ||
	    (h->flags & ~(WIRE_HELLO_LOSSY | WIRE_HELLO_GROUP | WIRE_HELLO_STREAM_OPEN)) ||
	    h->first_seq >= (1ull << 62))
		return -EPROTO;
	for (uint32_t i = h->type.ndim; i < RB_MAX_DIMS; i++)
		if (h->type.dims[i] != 0)
			return -EPROTO;
	return 0;
}

void
wire_put_welcome(uint8_t out[WIRE_WELCOME_BYTES], const struct wire_welcome *w)
{
	memset(out, 0, WIRE_WELCOME_BYTES);
	put64(out + 0, w->session);
	put64(out + 8, w->resume_after);
	put64(out + 16, w->flags);
}

int
wire_get_welcome(const struct wire_part *body, struct wire_welcome *w)
{
	const uint8_t *p = body->data;

	if (body->size != WIRE_WELCOME_BYTES || !all_zero(p + 24, 8))
		return -EPROTO;
	w->session = get64(p + 0);
	w->resume_after = get64(p + 8);
	w->flags = get64(p + 16);
	if (w->flags & ~(uint64_t)WIRE_WELCOME_CREATED)
		return -EPROTO;
	return 0;
}

void
wire_put_data(uint8_t out[WIRE_DATA_BYTES], const struct wire_data *d)
{
	put64(out + 0, d->session);
	put64(out + 8, d->seq);
	put64(out + 16, d->prev);
	put64(out + 24, d->length);
	put64(out + 32, d->timestamp_ns);
	put32(out + 40, d->flags);
	put32(out + 44, d->epoch);
	put64(out + 48, d->sent_ns);
}

int
wire_get_data(const struct wire_part *body, struct wire_data *d)
{
	const uint8_t *p = body->data;

	if (body->size != WIRE_DATA_BYTES)
		return -EPROTO;
	d->session = get64(p + 0);
	d->seq = get64(p + 8);
	d->prev = get64(p + 16);
	d->length = get64(p + 24);
	d->timestamp_ns = get64(p + 32);
	d->flags = get32(p + 40);
	d->epoch = get32(p + 44);
	d->sent_ns = get64(p + 48);
	if (d->session == 0 || d->seq == WIRE_NONE ||
	    (d->prev != WIRE_NONE && d->prev >= d->seq) ||
	    d->length > WIRE_FRAME_BYTES_MAX ||
	    ((d->flags & (RB_FRAME_EOS | RB_FRAME_ABANDONED)) && d->length != 0) ||
	    ((d->flags & RB_FRAME_EOS) && (d->flags & RB_FRAME_STREAM_START)))
		return -EPROTO;
	return 0;
}

void
wire_put_ack(uint8_t out[WIRE_ACK_BYTES], const struct wire_ack *a)
{
	put64(out + 0, a->session);
	put64(out + 8, a->committed);
	put64(out + 16, a->echo_ns);
	put64(out + 24, a->count);
}

int
wire_get_ack(const struct wire_part *body, struct wire_ack *a)
{
	const uint8_t *p = body->data;

	if (body->size != WIRE_ACK_BYTES)
		return -EPROTO;
	a->session = get64(p + 0);
	a->committed = get64(p + 8);
	a->echo_ns = get64(p + 16);
	a->count = get64(p + 24);
	return a->session == 0 ? -EPROTO : 0;
}

void
wire_put_nack(uint8_t out[WIRE_NACK_BYTES], const struct wire_nack *n)
{
	memset(out, 0, WIRE_NACK_BYTES);
	put64(out + 0, n->session);
	put64(out + 8, n->resume_after);
	put32(out + 16, n->epoch);
}

int
wire_get_nack(const struct wire_part *body, struct wire_nack *n)
{
	const uint8_t *p = body->data;

	if (body->size != WIRE_NACK_BYTES || !all_zero(p + 20, 4))
		return -EPROTO;
	n->session = get64(p + 0);
	n->resume_after = get64(p + 8);
	n->epoch = get32(p + 16);
	return n->session == 0 ? -EPROTO : 0;
}

void
wire_put_session(uint8_t out[WIRE_SESSION_BYTES], uint64_t session)
{
	put64(out, session);
}

int
wire_get_session(const struct wire_part *body, uint64_t *out)
{
	if (body->size != WIRE_SESSION_BYTES)
		return -EPROTO;
	*out = get64(body->data);
	return *out == 0 ? -EPROTO : 0;
}

void
wire_put_pub(uint8_t out[WIRE_PUB_BYTES], const struct wire_pub *d)
{
	memset(out, 0, WIRE_PUB_BYTES);
	put64(out + 0, d->session);
	put64(out + 8, d->seq);
	put64(out + 16, d->index);
	put64(out + 24, d->length);
	put64(out + 32, d->timestamp_ns);
	put32(out + 40, d->flags);
	put32(out + 44, d->pub_flags);
	put64(out + 48, d->near_lost);
}

int
wire_get_pub(const struct wire_part *body, struct wire_pub *d)
{
	const uint8_t *p = body->data;
	bool ring;

	if (body->size != WIRE_PUB_BYTES || !all_zero(p + 56, 8))
		return -EPROTO;
	d->session = get64(p + 0);
	d->seq = get64(p + 8);
	d->index = get64(p + 16);
	d->length = get64(p + 24);
	d->timestamp_ns = get64(p + 32);
	d->flags = get32(p + 40);
	d->pub_flags = get32(p + 44);
	d->near_lost = get64(p + 48);
	ring = (d->pub_flags & WIRE_PUB_RING) != 0;
	/* A stream's first frame brings its header (the ring parts); an end
	 * marker brings none. */
	if (d->session == 0 || d->seq >= (1ull << 62) || d->index >= (1ull << 62) ||
	    d->near_lost >= (1ull << 62) || (d->pub_flags & ~WIRE_PUB_RING) ||
	    d->length > WIRE_FRAME_BYTES_MAX ||
	    ((d->flags & (RB_FRAME_EOS | RB_FRAME_ABANDONED)) && d->length != 0) ||
	    ((d->flags & RB_FRAME_EOS) && (d->flags & RB_FRAME_STREAM_START)) ||
	    ((d->flags & RB_FRAME_STREAM_START) && !ring) ||
	    ((d->flags & RB_FRAME_EOS) && ring))
		return -EPROTO;
	return 0;
}

int
wire_check_text(const struct wire_part *text, size_t min, size_t max)
{
	if (text->size < min || text->size > max ||
	    (text->size > 0 && memchr(text->data, '\0', text->size) != NULL))
		return -EPROTO;
	return 0;
}

enum chain_verdict
bridge_chain_judge(uint64_t last, const struct wire_data *d)
{
	if (last != WIRE_NONE && d->seq <= last)
		return CHAIN_DUPLICATE;
	/* With nothing committed, only a first frame (prev none) starts the
	 * chain: a DATA naming a predecessor we never saw lost it. */
	if (d->prev == last)
		return CHAIN_COMMIT;
	return CHAIN_BROKEN;
}
