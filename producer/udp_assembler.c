/*
 * The UDP frame assembler (udp_assembler.h has the rules). No I/O: slots
 * come and go through the ops, datagrams through udp_rx.
 *
 * Frame numbers are compared by their difference modulo 2^64 from the
 * window's first frame, f0: "ahead" is f - f0, "behind" is f0 - f. Every
 * loop below runs over the window (UDP_WINDOW frames), over UDP_JUMP frames
 * at most, or over one frame's packets, never over a difference of frame
 * numbers that a packet chose.
 *
 * Receives land in slots while the capture waits for them (source_udp.c),
 * so two promises hold: the window does not move and nothing is published
 * between udp_asm_guess and udp_asm_settle (only settle and flush publish);
 * and a guess only points at the share of a packet not booked yet, by the
 * P its frame has (or, for a frame with nothing booked, the P a packet 0
 * booked in place will be given), so a receive never lands on bytes booked.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "udp_assembler.h"

static struct udp_asm_frame *
asm_at(struct udp_asm *a, uint32_t i)
{
	return &a->win[(a->head + i) % UDP_WINDOW];
}

static bool
asm_got(const struct udp_asm_frame *x, uint32_t packet)
{
	return (x->got[packet / 8] & (1u << (packet % 8))) != 0;
}

/* Empties a window entry for reuse (its bitmap only as far as it was used). */
static void
asm_reset(struct udp_asm_frame *x)
{
	uint8_t *got = x->got;

	memset(got, 0, ((size_t)x->packets + 7) / 8);
	memset(x, 0, sizeof(*x));
	x->got = got;
}

/* Makes the window hold entry i (< UDP_WINDOW). */
static struct udp_asm_frame *
asm_extend(struct udp_asm *a, uint32_t i)
{
	while (a->count <= i) {
		asm_reset(asm_at(a, a->count));
		a->count++;
	}
	return asm_at(a, i);
}

int
udp_asm_init(struct udp_asm *a, uint64_t frame_bytes, uint32_t payload,
	     const struct udp_asm_ops *ops)
{
	uint32_t i;

	memset(a, 0, sizeof(*a));
	a->ops = *ops;
	a->frame_bytes = frame_bytes;
	a->payload = payload ? payload : 1;
	a->packets = (uint32_t)((frame_bytes + a->payload - 1) / a->payload);
	if (a->packets == 0 || a->packets > UDP_MAX_PACKETS)
		a->packets = 1;
	for (i = 0; i < UDP_WINDOW; i++)
		if ((a->win[i].got = calloc(1, UDP_MAX_PACKETS / 8)) == NULL)
			goto nomem;
	if ((a->held_data = malloc(UDP_DATAGRAM)) == NULL)
		goto nomem;
	return 0;
nomem:
	udp_asm_fini(a);
	return -ENOMEM;
}

void
udp_asm_fini(struct udp_asm *a)
{
	uint32_t i;

	for (i = 0; i < UDP_WINDOW; i++) {
		free(a->win[i].got);
		a->win[i].got = NULL;
	}
	free(a->held_data);
	a->held_data = NULL;
}

static void
asm_decode(struct udp_packet *h)
{
	h->magic = le32toh(h->magic);
	h->header_bytes = le16toh(h->header_bytes);
	h->frame = le64toh(h->frame);
	h->packet = le32toh(h->packet);
	h->packets = le32toh(h->packets);
	h->offset = le32toh(h->offset);
	h->length = le32toh(h->length);
}

enum udp_kind
udp_packet_check(const struct udp_packet *h, size_t bytes, bool truncated, uint64_t frame_bytes)
{
	uint64_t p;

	if (truncated || bytes < sizeof(*h) || h->magic != UDP_PACKET_MAGIC ||
	    h->version != UDP_PACKET_VERSION || h->header_bytes != sizeof(*h) ||
	    bytes - sizeof(*h) != h->length)
		return UDP_KIND_MALFORMED;
	if (h->flags == UDP_FLAG_END)
		return h->length == 0 ? UDP_KIND_END : UDP_KIND_MALFORMED;
	if (h->flags != 0 || h->packets == 0 || h->packets > UDP_MAX_PACKETS ||
	    h->packet >= h->packets || h->length == 0 ||
	    (uint64_t)h->offset + h->length > frame_bytes)
		return UDP_KIND_MALFORMED;
	if (h->packet == 0)
		return h->offset == 0 ? UDP_KIND_DATA : UDP_KIND_MALFORMED;
	/* Packet i > 0 says P; the frame's n packets of P (the last up to P)
	 * must fit a slot. */
	if (h->offset % h->packet != 0)
		return UDP_KIND_MALFORMED;
	p = h->offset / h->packet;
	if (p == 0 || p > UDP_MAX_PAYLOAD || h->length > p ||
	    (uint64_t)(h->packets - 1) * p >= frame_bytes)
		return UDP_KIND_MALFORMED;
	return UDP_KIND_DATA;
}

/* ---- slots and publishing ---------------------------------------------- */

/* Gives entries 0 .. i their slots, in order. Waits (a slice at a time,
 * until the ops say stop) only if `wait`; else UDP_SLOT_NONE when one has
 * none yet. */
static int
asm_slots(struct udp_asm *a, uint32_t i, bool wait)
{
	uint32_t j;
	int rc;

	for (j = 0; j <= i; j++) {
		struct udp_asm_frame *x = asm_extend(a, j);

		while (!x->acquired && !x->dropped) {
			rc = a->ops.acquire(a->ops.ctx, &x->f, wait);
			if (rc == UDP_SLOT_OK)
				x->acquired = true;
			else if (rc == UDP_SLOT_DROPPED)
				x->dropped = true;
			else if (rc != UDP_SLOT_NONE)
				return rc;
			else if (!wait)
				return UDP_SLOT_NONE;
		}
	}
	return UDP_ASM_OK;
}

/* An incomplete frame's length: its last packet's end if that came, else
 * the last full frame's length if this frame's geometry allows it, else all
 * its packets' shares (within a slot). */
static uint64_t
asm_length(const struct udp_asm *a, const struct udp_asm_frame *x)
{
	uint64_t lo, hi;

	if (x->length != 0)
		return x->length;
	lo = (uint64_t)(x->packets - 1) * x->payload;
	hi = lo + x->payload;
	if (hi > a->frame_bytes)
		hi = a->frame_bytes;
	return a->full_length > lo && a->full_length <= hi ? a->full_length : hi;
}

/* Publishes the oldest frame of the window (complete or not) and drops it
 * from the window. */
static int
asm_finish_oldest(struct udp_asm *a)
{
	struct udp_asm_frame *x = asm_extend(a, 0);
	uint32_t n = x->packets ? x->packets : a->packets;
	int rc;

	if ((rc = asm_slots(a, 0, true)) != UDP_ASM_OK)
		return rc;
	if (!x->dropped) {
		bool complete = x->packets != 0 && x->received == x->packets &&
				x->short_packets == 0;

		a->n.lost += n > x->received ? n - x->received : 0;
		x->f.flags = complete ? 0 : RB_FRAME_INCOMPLETE;
		x->f.timestamp_ns = x->first_ns ? x->first_ns : a->now;
		if (x->received == 0) {
			a->n.frames_missing++;
			a->n.frames_incomplete++;
			x->f.length = 0;
		} else {
			x->f.length = asm_length(a, x);
			if (complete) {
				a->n.frames_complete++;
			} else {
				uint32_t i;

				a->n.frames_incomplete++;
				/* Shares no packet brought hold what the
				 * slot held before: zero them. */
				for (i = 0; i < x->packets; i++) {
					uint64_t off = (uint64_t)i * x->payload, len = x->payload;

					if (off >= x->f.length)
						break;
					if (asm_got(x, i))
						continue;
					if (off + len > x->f.length)
						len = x->f.length - off;
					memset((uint8_t *)x->f.data + off, 0, len);
				}
			}
		}
		if ((rc = a->ops.publish(a->ops.ctx, &x->f, a->f0)) != UDP_ASM_OK)
			return rc;
	}
	asm_reset(x);
	a->head = (a->head + 1) % UDP_WINDOW;
	a->count--;
	a->f0++;
	if (a->span > 0)
		a->span--;
	return UDP_ASM_OK;
}

/* ---- booking ------------------------------------------------------------ */

/*
 * Books packet h into window entry i: its payload is in place already, or
 * (from not NULL) copied there. `p` is the P a frame with nothing booked
 * gets from a packet 0. The window entry has a slot, or was dropped, when
 * `from` is NULL.
 */
static void
asm_book(struct udp_asm *a, uint32_t i, const struct udp_packet *h, const uint8_t *from,
	 uint32_t p, uint64_t now)
{
	struct udp_asm_frame *x = asm_at(a, i);

	if (x->packets == 0) {
		if (h->packets == 1)
			p = h->length;
		else if (h->packet > 0)
			p = h->offset / h->packet;
		if (p == 0 || (h->packets > 1 &&
			       (h->length > p || (uint64_t)(h->packets - 1) * p >= a->frame_bytes))) {
			a->n.conflicting++;
			return;
		}
		x->packets = h->packets;
		x->payload = p;
	} else if (h->packets != x->packets ||
		   (h->packets > 1 && ((uint64_t)h->packet * x->payload != h->offset ||
				       h->length > x->payload))) {
		a->n.conflicting++;
		return;
	}
	if (asm_got(x, h->packet)) {
		a->n.duplicate++;
		return;
	}
	if (from != NULL) {
		if (x->acquired)
			memcpy((uint8_t *)x->f.data + h->offset, from, h->length);
		a->n.moved++;
	}
	x->got[h->packet / 8] |= (uint8_t)(1u << (h->packet % 8));
	x->received++;
	if (x->first_ns == 0)
		x->first_ns = now;
	if (h->packet + 1 == x->packets) {
		x->length = (uint64_t)h->offset + h->length;
		a->full_length = x->length;
	} else if (h->length < x->payload) {
		/* Short: the rest of its share is this packet's and nobody
		 * else's (no receive is guessed into it), so zero it now. */
		x->short_packets++;
		a->n.short_packets++;
		if (x->acquired)
			memset((uint8_t *)x->f.data + h->offset + h->length, 0,
			       x->payload - h->length);
	}
	if (x->packets > 1)
		a->payload = x->payload;
	a->packets = x->packets;
	if (i + 1 > a->span)
		a->span = i + 1;
	a->n.packets++;
	a->n.payload_bytes += h->length;
}

/* Books a set-aside packet into entry i, after giving it a slot. */
static int
asm_book_copy(struct udp_asm *a, uint32_t i, const struct udp_packet *h, const uint8_t *from,
	      uint64_t now)
{
	int rc = asm_slots(a, i, true);

	if (rc != UDP_ASM_OK)
		return rc;
	asm_book(a, i, h, from, a->payload, now);
	return UDP_ASM_OK;
}

static void
asm_drop_held(struct udp_asm *a)
{
	if (a->held) {
		a->held = false;
		a->n.stray++;
	}
}

/* Two strays in a row, within a window of each other: the sender started
 * over (or jumped). Publish what the window has, start at the lower. */
static int
asm_resync(struct udp_asm *a, const struct udp_packet *h, const uint8_t *from, uint64_t now)
{
	struct udp_packet first = a->held_hdr;
	uint64_t base = h->frame - first.frame < UDP_WINDOW ? first.frame : h->frame;
	int rc;

	a->held = false;
	while (a->span > 0)
		if ((rc = asm_finish_oldest(a)) != UDP_ASM_OK)
			return rc;
	/* The entries left have nothing booked: they keep their slots, in
	 * ring order, for the frames from `base` on. */
	a->f0 = base;
	a->guess_frame = base;
	a->guess_packet = 0;
	a->n.resyncs++;
	if ((rc = asm_book_copy(a, (uint32_t)(first.frame - base), &first, a->held_data,
				a->held_ns)) != UDP_ASM_OK)
		return rc;
	return asm_book_copy(a, (uint32_t)(h->frame - base), h, from, now);
}

/* Places a checked data packet whose payload is at `from` (between
 * receives only: this may publish). */
static int
asm_place(struct udp_asm *a, const struct udp_packet *h, const uint8_t *from, uint64_t now)
{
	uint64_t ahead, behind;
	int rc;

	if (h->packet > 0)
		a->payload = h->offset / h->packet; /* what the sender sends now */
	if (!a->based) {
		a->based = true;
		a->f0 = a->guess_frame = h->frame;
		a->guess_packet = 0;
	}
	ahead = h->frame - a->f0;
	behind = a->f0 - h->frame;
	if (ahead < UDP_WINDOW + UDP_JUMP) {
		asm_drop_held(a);
		/* Room in the window: older frames are over, frames skipped
		 * entirely are published empty. At most UDP_JUMP + 1 rounds. */
		while (h->frame - a->f0 >= UDP_WINDOW)
			if ((rc = asm_finish_oldest(a)) != UDP_ASM_OK)
				return rc;
		return asm_book_copy(a, (uint32_t)(h->frame - a->f0), h, from, now);
	}
	if (behind <= UDP_WINDOW) {
		a->n.late++;
		return UDP_ASM_OK;
	}
	if (a->held && (h->frame - a->held_hdr.frame < UDP_WINDOW ||
			a->held_hdr.frame - h->frame < UDP_WINDOW))
		return asm_resync(a, h, from, now);
	asm_drop_held(a);
	a->held = true;
	a->held_hdr = *h;
	a->held_ns = now;
	memcpy(a->held_data, from, h->length);
	return UDP_ASM_OK;
}

/* ---- receives ------------------------------------------------------------ */

static void
asm_next(struct udp_asm *a, uint64_t *frame, uint32_t *packet)
{
	uint64_t i = *frame - a->f0;
	uint32_t n = a->packets;

	if (i < a->count && asm_at(a, (uint32_t)i)->packets != 0)
		n = asm_at(a, (uint32_t)i)->packets;
	if (*packet + 1 < n) {
		(*packet)++;
	} else {
		(*frame)++;
		*packet = 0;
	}
}

int
udp_asm_guess(struct udp_asm *a, struct udp_guess *g)
{
	memset(g, 0, sizeof(*g));
	if (!a->based)
		return UDP_ASM_OK;
	for (;;) {
		uint64_t i = a->guess_frame - a->f0, off;
		struct udp_asm_frame *x;
		uint32_t n, p;
		int rc;

		if (i >= (UINT64_C(1) << 63)) { /* behind the window */
			a->guess_frame = a->f0;
			a->guess_packet = 0;
			i = 0;
		}
		if (i >= UDP_WINDOW)
			return UDP_ASM_OK;
		x = asm_extend(a, (uint32_t)i);
		n = x->packets ? x->packets : a->packets;
		p = x->packets ? x->payload : a->payload;
		off = (uint64_t)a->guess_packet * p;
		if (a->guess_packet >= n || (x->packets != 0 && x->received == x->packets) ||
		    off >= a->frame_bytes) {
			a->guess_frame++;
			a->guess_packet = 0;
			continue;
		}
		if (x->packets != 0 && asm_got(x, a->guess_packet)) {
			a->guess_packet++;
			continue;
		}
		rc = asm_slots(a, (uint32_t)i, false);
		if (rc == UDP_SLOT_NONE)
			return UDP_ASM_OK;
		if (rc != UDP_ASM_OK)
			return rc;
		g->valid = true;
		g->frame = a->guess_frame;
		g->packet = a->guess_packet;
		g->offset = (uint32_t)off;
		g->payload = p;
		g->room = (uint32_t)(a->frame_bytes - off < p ? a->frame_bytes - off : p);
		g->place = x->acquired ? (uint8_t *)x->f.data + off : NULL;
		asm_next(a, &a->guess_frame, &a->guess_packet);
		return UDP_ASM_OK;
	}
}

bool
udp_asm_received(struct udp_asm *a, struct udp_rx *rx, int res, bool truncated, uint64_t now)
{
	struct udp_packet *h = &rx->hdr;
	const struct udp_guess *g = &rx->g;

	rx->moved = false;
	a->now = now;
	if (res < 0)
		return true; /* cancelled or failed: no datagram */
	asm_decode(h);
	switch (udp_packet_check(h, (size_t)res, truncated, a->frame_bytes)) {
	case UDP_KIND_MALFORMED:
		a->n.malformed++;
		return g->place != NULL; /* the guessed place got it: start over */
	case UDP_KIND_END:
		a->n.ends++;
		a->end_seen = true;
		a->end_frame = h->frame;
		return true;
	case UDP_KIND_DATA:
		break;
	}
	if (g->place != NULL && !a->set_aside && h->frame == g->frame && h->packet == g->packet &&
	    h->offset == g->offset && h->length <= g->room) {
		/* In place: the common case, no copy. A guessed frame is in
		 * the window, which does not move while receives are out. */
		uint64_t before = a->n.packets;

		asm_drop_held(a);
		asm_book(a, (uint32_t)(h->frame - a->f0), h, NULL, g->payload, now);
		return a->n.packets == before;
	}
	/* Set aside: where it landed may be another packet's place. After
	 * one outside the window (late, a jump or a stray), every later packet
	 * of these receives is set aside too, so that it is decided in the
	 * order the packets came (inside the window the order of booking
	 * changes nothing but which of two conflicting packets wins). */
	if (!a->based || h->frame - a->f0 >= UDP_WINDOW)
		a->set_aside = true;
	if (g->place != NULL) {
		uint32_t first = h->length < g->room ? h->length : g->room;

		memcpy(rx->bounce, g->place, first);
		memcpy(rx->bounce + first, rx->spill, h->length - first);
	} else {
		memcpy(rx->bounce, rx->spill, h->length);
	}
	rx->got = *h;
	rx->moved = true;
	return true;
}

/* The sender's END: frames up to its last one, missing ones included if
 * they are within reach (UDP_WINDOW + UDP_JUMP), else only what came. */
static int
asm_end(struct udp_asm *a)
{
	uint64_t last, k;
	int rc;

	asm_drop_held(a);
	if (!a->based)
		return UDP_ASM_OK;
	last = a->end_frame - 1 - a->f0;
	k = a->span;
	if (last < UDP_WINDOW + UDP_JUMP && last + 1 > k)
		k = last + 1;
	while (k-- > 0)
		if ((rc = asm_finish_oldest(a)) != UDP_ASM_OK)
			return rc;
	a->based = false; /* done: a repeated END publishes nothing more */
	return UDP_ASM_OK;
}

int
udp_asm_settle(struct udp_asm *a, struct udp_rx *rx, uint32_t n, uint64_t now)
{
	const struct udp_packet *last = NULL;
	uint32_t i;
	int rc;

	a->now = now;
	a->set_aside = false;
	for (i = 0; i < n; i++) {
		if (!rx[i].moved)
			continue;
		rx[i].moved = false;
		if ((rc = asm_place(a, &rx[i].got, rx[i].bounce, now)) != UDP_ASM_OK)
			return rc;
		last = &rx[i].got;
	}
	if (last != NULL && a->based && last->frame - a->f0 < UDP_WINDOW) {
		/* Guess on from what came, not from what was guessed. */
		a->guess_frame = last->frame;
		a->guess_packet = last->packet;
		asm_next(a, &a->guess_frame, &a->guess_packet);
	}
	/* Frames at the front with all their packets go at once. */
	while (a->span > 0 && asm_at(a, 0)->packets != 0 &&
	       asm_at(a, 0)->received == asm_at(a, 0)->packets)
		if ((rc = asm_finish_oldest(a)) != UDP_ASM_OK)
			return rc;
	/* A frame is over once a frame UDP_REORDER later has shown up. */
	while (a->span > UDP_REORDER)
		if ((rc = asm_finish_oldest(a)) != UDP_ASM_OK)
			return rc;
	if (a->end_seen)
		return asm_end(a);
	return UDP_ASM_OK;
}

int
udp_asm_flush(struct udp_asm *a)
{
	int rc;

	asm_drop_held(a);
	while (a->span > 0)
		if ((rc = asm_finish_oldest(a)) != UDP_ASM_OK)
			return rc;
	return UDP_ASM_OK;
}

bool
udp_asm_waiting(const struct udp_asm *a)
{
	return a->span > 0 || a->held;
}
