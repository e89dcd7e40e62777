/*
 * libFuzzer target: the UDP packet checks and frame assembler
 * (producer/udp_assembler.c), driven the way the capture drives it.
 *
 * The input is a stream setup and a script of datagrams. The target plays
 * both the kernel and the ring: it builds chains of receives from the
 * assembler's guesses, scatters each datagram over the receive's buffers
 * as recvmsg would (header, the guessed place in the slot, spill), cancels
 * the rest of a chain when the assembler says so, and hands out slots from
 * a small ring whose every slot is poisoned (0xA4) when acquired.
 *
 * Payloads are honest: byte k of a payload is the pattern of the frame and
 * offset its header claims, an odd byte, so any even byte in a published
 * frame is either zero (what no packet brought, zeroed) or poison (stale).
 * It aborts (a crash for libFuzzer) when: a frame published complete has a
 * byte that is not its pattern; an incomplete frame has a byte that is
 * neither its pattern nor zero; a frame is longer than a slot; slots are
 * published out of ring order; or, at the end, the counters do not add up
 * to the datagrams fed (each in exactly one) and to the frames published.
 * Any sanitizer report or hang is a bug too: every loop must be bounded.
 *
 * Record format (all after two setup bytes), one datagram each:
 *   c: bits 0-2 kind (0-4 data relative to the last frame, 5 END, 6 a raw
 *      32-byte header follows, 7 data with an absolute 8-byte frame
 *      following); bit 3 offset off by one; bit 4 cancel the chain after
 *      it; bit 5 idle (flush) after the chain; bit 6 one payload byte more
 *      than the header says; bit 7 truncated (MSG_TRUNC)
 *   d: frame delta (signed) for kinds 0-4
 *   e: packets = 1 + (e >> 4), packet = e & 15
 *   f: length: 0 the payload size, 1 short (1 + (f >> 2)), 2 what is left
 *      of the frame, 3 twice the payload size
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "udp_assembler.h"

#define SLOTS 16u
#define CHAIN 32u
#define POISON 0xA4u

struct sim {
	uint64_t frame_bytes;
	uint8_t *slot[SLOTS];
	uint64_t acquired, published;
	bool stopped;
};

static uint8_t
pat(uint64_t frame, uint64_t k)
{
	return (uint8_t)((frame * 131u + k * 7u + 3u) | 1u);
}

static int
sim_acquire(void *ctx, struct rb_frame *f, bool wait)
{
	struct sim *s = ctx;

	if (s->acquired - s->published >= SLOTS) {
		if (wait) {
			s->stopped = true; /* as a signal would end it */
			return UDP_ASM_STOP;
		}
		return UDP_SLOT_NONE;
	}
	memset(f, 0, sizeof(*f));
	f->data = s->slot[s->acquired % SLOTS];
	f->seq = s->acquired++;
	memset(f->data, POISON, s->frame_bytes);
	return UDP_SLOT_OK;
}

static int
sim_publish(void *ctx, struct rb_frame *f, uint64_t frame)
{
	struct sim *s = ctx;
	const uint8_t *d = f->data;
	bool complete = (f->flags & RB_FRAME_INCOMPLETE) == 0;
	uint64_t k;

	if (f->seq != s->published || d != s->slot[s->published % SLOTS] ||
	    f->length > s->frame_bytes)
		abort();
	for (k = 0; k < f->length; k++)
		if (d[k] != pat(frame, k) && (complete || d[k] != 0))
			abort();
	s->published++;
	return UDP_ASM_OK;
}

/* Reads n bytes of the script, or fails at its end. */
static bool
take(const uint8_t **p, const uint8_t *end, void *out, size_t n)
{
	if ((size_t)(end - *p) < n)
		return false;
	memcpy(out, *p, n);
	*p += n;
	return true;
}

/* The next datagram of the script into buf (header + payload); its size,
 * or -1 at the end. */
static long
next_datagram(const uint8_t **p, const uint8_t *end, uint8_t *buf, uint64_t frame_bytes,
	      uint32_t payload, uint64_t *last_frame, uint8_t *control)
{
	struct udp_packet h;
	uint8_t c, r[3];
	uint32_t len, k;

	if (!take(p, end, &c, 1))
		return -1;
	*control = c;
	memset(&h, 0, sizeof(h));
	if ((c & 7) == 6) {
		if (!take(p, end, &h, sizeof(h)))
			return -1;
		len = h.length < UDP_MAX_PAYLOAD ? h.length : UDP_MAX_PAYLOAD;
	} else {
		if (!take(p, end, r, sizeof(r)))
			return -1;
		h.magic = UDP_PACKET_MAGIC;
		h.version = UDP_PACKET_VERSION;
		h.header_bytes = sizeof(h);
		if ((c & 7) == 7) {
			if (!take(p, end, &h.frame, sizeof(h.frame)))
				return -1;
		} else {
			h.frame = *last_frame + (uint64_t)(int64_t)(int8_t)r[0];
		}
		*last_frame = h.frame;
		if ((c & 7) == 5) {
			h.flags = UDP_FLAG_END;
			len = 0;
		} else {
			h.packets = 1u + (r[1] >> 4);
			h.packet = r[1] & 15u;
			h.offset = h.packet * payload + ((c & 8) ? 1u : 0u);
			switch (r[2] & 3) {
			case 0:
				len = payload;
				break;
			case 1:
				len = 1u + (r[2] >> 2);
				break;
			case 2:
				len = h.offset < frame_bytes ? (uint32_t)(frame_bytes - h.offset) : 1u;
				break;
			default:
				len = 2 * payload;
				break;
			}
			if (len > UDP_MAX_PAYLOAD)
				len = UDP_MAX_PAYLOAD;
		}
		h.length = len;
	}
	memcpy(buf, &h, sizeof(h));
	for (k = 0; k < len; k++)
		buf[sizeof(h) + k] = pat(h.frame, (uint64_t)h.offset + k);
	if (c & 64) {
		buf[sizeof(h) + len] = pat(h.frame, (uint64_t)h.offset + len);
		len++;
	}
	return (long)(sizeof(h) + len);
}

/* What recvmsg does with iovecs [hdr, place, spill]. */
static void
scatter(struct udp_rx *rx, const uint8_t *buf, size_t size)
{
	size_t n = size < sizeof(rx->hdr) ? size : sizeof(rx->hdr), room;

	memcpy(&rx->hdr, buf, n);
	buf += n;
	size -= n;
	if (rx->g.place != NULL) {
		room = size < rx->g.room ? size : rx->g.room;
		memcpy(rx->g.place, buf, room);
		buf += room;
		size -= room;
	}
	memcpy(rx->spill, buf, size < UDP_DATAGRAM ? size : UDP_DATAGRAM);
}

static struct udp_rx rx[CHAIN];
static uint8_t datagram[UDP_DATAGRAM + 64];

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct udp_asm a;
	const uint8_t *p = data + 2, *end = data + size;
	struct sim s;
	struct udp_asm_ops ops = {.acquire = sim_acquire, .publish = sim_publish, .ctx = &s};
	uint64_t fed = 0, last_frame = 0, now = 1;
	uint32_t payload, i, n;
	bool more = true;

	if (size < 2)
		return 0;
	if (rx[0].spill == NULL)
		for (i = 0; i < CHAIN; i++)
			if ((rx[i].spill = malloc(UDP_DATAGRAM)) == NULL ||
			    (rx[i].bounce = malloc(UDP_DATAGRAM)) == NULL)
				abort();
	memset(&s, 0, sizeof(s));
	s.frame_bytes = 256u * (1u + (data[0] & 15u));
	payload = 64u * (1u + (data[1] & 7u));
	for (i = 0; i < SLOTS; i++)
		if ((s.slot[i] = malloc(s.frame_bytes)) == NULL)
			abort();
	if (udp_asm_init(&a, s.frame_bytes, (data[1] & 8) ? payload + 32 : payload, &ops) != 0)
		abort();
	while (more && !s.stopped && !a.end_seen) {
		bool flush = false;
		int rc;

		for (n = 0; n < CHAIN; n++) {
			if (udp_asm_guess(&a, &rx[n].g) != UDP_ASM_OK)
				abort(); /* acquiring without waiting never stops */
			if (!rx[n].g.valid)
				break;
		}
		if (n == 0) {
			memset(&rx[0].g, 0, sizeof(rx[0].g));
			n = 1;
		}
		for (i = 0; i < n; i++) {
			uint8_t c = 0;
			long len = -1;

			rx[i].moved = false;
			if (more)
				len = next_datagram(&p, end, datagram, s.frame_bytes, payload,
						    &last_frame, &c);
			if (len < 0) {
				more = false;
				(void)udp_asm_received(&a, &rx[i], -ECANCELED, false, now);
				continue;
			}
			scatter(&rx[i], datagram, (size_t)len);
			fed++;
			now += 1000;
			if (udp_asm_received(&a, &rx[i], (int)len, (c & 128) != 0, now) ||
			    (c & 16)) {
				/* The rest of the chain is cancelled. */
				for (i++; i < n; i++) {
					rx[i].moved = false;
					(void)udp_asm_received(&a, &rx[i], -ECANCELED, false, now);
				}
			}
			flush = flush || (c & 32);
		}
		rc = udp_asm_settle(&a, rx, n, now);
		if (rc == UDP_ASM_OK && flush)
			rc = udp_asm_flush(&a);
		if (rc == UDP_ASM_ERROR)
			abort();
	}
	if (!s.stopped && !a.end_seen && udp_asm_flush(&a) == UDP_ASM_ERROR)
		abort();
	if (!s.stopped) {
		const struct udp_counts *c = &a.n;

		if (c->packets + c->late + c->duplicate + c->malformed + c->conflicting +
			    c->stray + c->ends != fed ||
		    c->frames_complete + c->frames_incomplete != s.published ||
		    c->frames_missing > c->frames_incomplete)
			abort();
	}
	udp_asm_fini(&a);
	for (i = 0; i < SLOTS; i++)
		free(s.slot[i]);
	return 0;
}
