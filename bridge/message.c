/*
 * Checking a whole received message (message.h). The part count comes
 * first: each type has a fixed one (DATA one more when it starts a
 * stream), so no part is ever looked up past the end of the array.
 */
#include <errno.h>
#include <string.h>

#include "message.h"

int
bridge_msg_parse(const struct wire_part *parts, unsigned n,
		 uint64_t max_frame_bytes, struct bridge_msg *m)
{
	int type;

	memset(m, 0, sizeof(*m));
	if (n < 2)
		return -EPROTO;
	type = wire_get_head(&parts[0]);
	if (type < 0)
		return -EPROTO;
	m->type = (enum wire_type)type;
	switch (m->type) {
	case WIRE_HELLO:
		if (n != 4 || wire_get_hello(&parts[1], &m->u.hello) != 0 ||
		    wire_check_text(&parts[2], 0, WIRE_HEADER_MAX) != 0 ||
		    wire_check_text(&parts[3], 1, WIRE_ORIGIN_MAX) != 0)
			return -EPROTO;
		m->text = parts[2];
		m->has_text = true;
		m->origin = parts[3];
		return 0;
	case WIRE_WELCOME:
		return n == 2 ? wire_get_welcome(&parts[1], &m->u.welcome) : -EPROTO;
	case WIRE_DATA: {
		const struct wire_data *d = &m->u.data;
		bool start;

		if (n != 3 && n != 4)
			return -EPROTO;
		if (wire_get_data(&parts[1], &m->u.data) != 0)
			return -EPROTO;
		start = (d->flags & RB_FRAME_STREAM_START) != 0;
		/* The header part is there exactly when the frame starts a
		 * stream. */
		if (start != (n == 4))
			return -EPROTO;
		if (start) {
			if (wire_check_text(&parts[2], 0, WIRE_HEADER_MAX) != 0)
				return -EPROTO;
			m->text = parts[2];
			m->has_text = true;
		}
		m->payload = parts[n - 1];
		if (d->length > max_frame_bytes || m->payload.size != d->length)
			return -EPROTO;
		return 0;
	}
	case WIRE_PUB: {
		const struct wire_pub *d = &m->u.pub;
		bool ring;

		if ((n != 3 && n != 6) || wire_get_pub(&parts[1], &m->u.pub) != 0)
			return -EPROTO;
		ring = (d->pub_flags & WIRE_PUB_RING) != 0;
		if (ring != (n == 6))
			return -EPROTO;
		if (ring) {
			if (wire_get_hello(&parts[2], &m->ring) != 0 ||
			    m->ring.session != d->session || d->length > m->ring.frame_bytes ||
			    wire_check_text(&parts[3], 0, WIRE_HEADER_MAX) != 0 ||
			    wire_check_text(&parts[4], 1, WIRE_ORIGIN_MAX) != 0)
				return -EPROTO;
			m->text = parts[3];
			m->has_text = true;
			m->origin = parts[4];
		}
		m->payload = parts[n - 1];
		if (d->length > max_frame_bytes || m->payload.size != d->length)
			return -EPROTO;
		return 0;
	}
	case WIRE_ACK:
		return n == 2 ? wire_get_ack(&parts[1], &m->u.ack) : -EPROTO;
	case WIRE_NACK:
		return n == 2 ? wire_get_nack(&parts[1], &m->u.nack) : -EPROTO;
	case WIRE_REFUSE:
		if (n != 3 || wire_get_session(&parts[1], &m->u.session) != 0 ||
		    wire_check_text(&parts[2], 1, WIRE_REASON_MAX) != 0)
			return -EPROTO;
		m->text = parts[2];
		m->has_text = true;
		return 0;
	case WIRE_RESET:
	case WIRE_BYE:
		return n == 2 ? wire_get_session(&parts[1], &m->u.session) : -EPROTO;
	}
	return -EPROTO;
}
