/*
 * The udp source: captures a network sensor's packets (udp_packet.h,
 * docs/RECORDING.md "UDP packets") and assembles them into frames in the
 * ring's slots, with io_uring.
 *
 * Landing payloads in place. A packet's place in its frame is in its
 * header, which arrives with it; so each receive guesses: it is a recvmsg
 * whose iovecs are [32-byte header scratch, the slot at the predicted
 * packet's offset, a spill buffer]. When packets come in order, as they
 * do from a sensor on a quiet link, the guess is right and the kernel's
 * copy out of the socket buffer is the only one. When it is wrong (a lost,
 * reordered or duplicated packet), the payload is moved to where it
 * belongs: copied aside first, then into place, because its destination
 * may hold another misplaced payload of the same chain (the two copies
 * happen only for packets that broke the order).
 *
 * Order of receives. Several receives pending on one socket are not served
 * in the order they were queued, so they would defeat the guessing. They
 * are submitted as one IOSQE_IO_LINK chain instead: each starts when the
 * previous completed, so the k-th packet to arrive lands in the k-th
 * guess, and the whole chain still costs one submission. After a wrong
 * guess the rest of the chain is cancelled (its guesses are all off by
 * now); the next chain starts from what actually arrived.
 *
 * Frames. A frame is published (committed) once all its packets are in;
 * or, marked RB_FRAME_INCOMPLETE with its missing packets' bytes zeroed,
 * once a packet of a frame UDP_REORDER later arrives, the sender's END
 * packet says it is over, or nothing arrived for --frame-timeout (default
 * UDP_IDLE_NS). Packets of
 * one frame may arrive in any order; a packet of a frame already published
 * is counted late. Frames are published in frame-number order, one ring
 * sequence number each: a frame none of whose packets arrived is published
 * empty (length 0, incomplete), so that seq - first seq is the frame
 * number - first frame number, up to UDP_MAX_GAP missing frames in a row
 * (more is a resynchronisation, counted).
 *
 * Slots are acquired ahead for the frames being guessed into; at the end
 * the ones no packet reached are never published (detaching drops them).
 * Nothing is published while a receive of the chain may still write into
 * its slot: frames are only finished between chains.
 *
 * Counting: packets received, lost (in finished frames), late, duplicate,
 * malformed, and moved (misplaced); frames complete, incomplete, missing;
 * and the kernel's own drops on a full socket buffer (SO_RXQ_OVFL), which
 * say the capture did not keep up, as opposed to losses on the way.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "producer.h"
#include "udp_packet.h"

#define UDP_CHAIN 32u               /* receives linked in one chain */
#define UDP_WINDOW 16u              /* frames being assembled at once */
#define UDP_REORDER 2u              /* frame n is over once frame n+2 shows */
#define UDP_IDLE_NS 50000000ull     /* ... or after this long with no packet */
#define UDP_MAX_GAP 256u            /* missing frames published as empty ones */
#define UDP_MAX_PACKETS 65536u      /* per frame */
#define UDP_DATAGRAM 65536u
#define UDP_RCVBUF (64u << 20)
#define UDP_DEFAULT_FRAME (64u << 10)
#define UDP_DEFAULT_PACKET (8u << 10)
/* user_data of the cancel requests (links use their index). */
#define UDP_TAG_CANCEL UINT64_MAX

/* A frame being assembled. */
struct udp_frame {
	bool acquired;      /* has a slot (f) */
	bool dropped;       /* --on-full drop found no slot */
	struct rb_frame f;
	uint32_t packets;   /* packets in the frame; 0 until one said */
	uint32_t received;
	uint64_t length;    /* end of its last packet, once that arrived */
	uint64_t first_ns;  /* arrival of its first packet: its time stamp */
	uint8_t *got;       /* a bit per packet index */
};

/* One receive of the chain. */
struct udp_link {
	struct msghdr msg;
	struct iovec iov[3];
	struct udp_packet hdr;
	char control[64];
	uint8_t *spill;     /* what does not fit the guess */
	uint8_t *bounce;    /* a misplaced payload, until it is placed */
	/* The guess. */
	bool guessed;       /* else everything lands in spill */
	uint64_t frame;
	uint32_t packet;
	uint32_t offset;
	uint32_t room;      /* bytes at the guessed place */
	/* What came. */
	bool done;
	bool moved;         /* misplaced: the payload waits in bounce */
	struct udp_packet got;
};

struct udp_source {
	int fd;
	struct sockaddr_in addr;
	struct io_uring ring;
	bool ring_ok;
	struct udp_link links[UDP_CHAIN];
	uint32_t nlinks;    /* in the chain being received */
	uint32_t ndone;
	uint32_t next_link; /* first link without a completion */
	bool cancelling;
	/* Frames f0 .. f0 + count - 1, in win[(head + i) % UDP_WINDOW]. */
	struct udp_frame win[UDP_WINDOW];
	uint32_t head, count;
	bool based;         /* f0 is known (a packet arrived) */
	uint64_t f0;
	/* Where the next guess goes, and what guesses are made of. */
	uint64_t guess_frame;
	uint32_t guess_packet;
	uint32_t payload;   /* bytes per packet but the last */
	uint32_t packets;   /* per frame, as last seen */
	uint64_t full_length; /* of the last frame whose last packet came */
	uint64_t highest;   /* highest frame number seen */
	uint64_t idle_ns;   /* --frame-timeout */
	uint64_t last_packet_ns;
	bool end_seen;
	uint64_t end_frame;
	uint64_t frame_bytes; /* the ring's */
	/* Counters. */
	uint64_t packets_in, packets_lost, late, duplicate, malformed, moved;
	uint64_t frames_complete, frames_incomplete, frames_missing, resyncs;
	uint64_t payload_bytes, chains;
	uint32_t kernel_drops;
	uint64_t first_packet_ns;
};

static struct udp_source *
udp_state(const struct source *s)
{
	return s->io;
}

int
udp_source_init(struct source *s)
{
	struct udp_source *u;
	socklen_t len = sizeof(struct sockaddr_in);
	int one = 1, size = UDP_RCVBUF;

	if (s->p.listen == NULL) {
		cli_error("--source udp: missing --listen ADDR:PORT");
		return CLI_EXIT_USAGE;
	}
	u = calloc(1, sizeof(*u));
	if (u == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	s->io = u;
	u->fd = -1;
	if (udp_parse_address(s->p.listen, &u->addr) != 0) {
		cli_error("--listen: '%s': not an IPv4 address and port (127.0.0.1:9000; "
			  "port 0: any free one)", s->p.listen);
		return CLI_EXIT_USAGE;
	}
	s->frame_bytes = s->p.frame_size_set ? s->p.frame_bytes : UDP_DEFAULT_FRAME;
	if (s->frame_bytes > UINT32_MAX) {
		cli_error("--frame-size: at most 4GiB - 1 for UDP frames");
		return CLI_EXIT_USAGE;
	}
	/* Bound now, before the ring exists: once the ring is there, a
	 * sender may start, and the port (maybe chosen by the kernel) is in
	 * the stream header. */
	u->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (u->fd < 0) {
		cli_error("socket: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	/* A big socket buffer rides out the moments the ring is full; past
	 * rmem_max only with CAP_NET_ADMIN (FORCE), else what is allowed. */
	if (setsockopt(u->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0)
		(void)setsockopt(u->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	(void)setsockopt(u->fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one));
	if (bind(u->fd, (struct sockaddr *)&u->addr, sizeof(u->addr)) != 0 ||
	    getsockname(u->fd, (struct sockaddr *)&u->addr, &len) != 0) {
		cli_error("%s: %s", s->p.listen, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

void
udp_source_fini(struct source *s)
{
	struct udp_source *u = udp_state(s);
	uint32_t i;

	if (u == NULL)
		return;
	if (u->ring_ok)
		io_uring_queue_exit(&u->ring);
	if (u->fd >= 0)
		close(u->fd);
	for (i = 0; i < UDP_CHAIN; i++) {
		free(u->links[i].spill);
		free(u->links[i].bounce);
	}
	for (i = 0; i < UDP_WINDOW; i++)
		free(u->win[i].got);
	free(u);
	s->io = NULL;
}

void
udp_source_header(const struct source *s, char *buf, size_t size)
{
	const struct udp_source *u = udp_state(s);
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &u->addr.sin_addr, host, sizeof(host));
	snprintf(buf, size, "listen=%s:%u\npacket_bytes=%" PRIu64 "\n", host,
		 ntohs(u->addr.sin_port),
		 s->p.packet_bytes ? s->p.packet_bytes : UDP_DEFAULT_PACKET);
}

/* ---- the frame window --------------------------------------------------- */

static struct udp_frame *
udp_frame_at(struct udp_source *u, uint64_t frame)
{
	if (!u->based || frame < u->f0 || frame - u->f0 >= u->count)
		return NULL;
	return &u->win[(u->head + (frame - u->f0)) % UDP_WINDOW];
}

/* Grows the window to hold `frame` (the caller made room). */
static struct udp_frame *
udp_frame_add(struct udp_source *u, uint64_t frame)
{
	while (u->f0 + u->count <= frame) {
		struct udp_frame *x = &u->win[(u->head + u->count) % UDP_WINDOW];
		uint8_t *got = x->got;

		memset(x, 0, sizeof(*x));
		x->got = got;
		memset(x->got, 0, UDP_MAX_PACKETS / 8);
		u->count++;
	}
	return udp_frame_at(u, frame);
}

/*
 * Gives the window's frames up to `frame` their slots, in order. Waits for
 * a slot only if `wait`; returns 0 (check x->acquired), or an exit status.
 */
static int
udp_slots_upto(struct producer_run *r, struct udp_source *u, uint64_t frame, bool wait)
{
	uint64_t n;
	int rc;

	for (n = u->f0; n <= frame; n++) {
		struct udp_frame *x = udp_frame_at(u, n);

		if (x == NULL)
			return 0;
		while (!x->acquired && !x->dropped) {
			rc = producer_acquire(r, &x->f, 0, !wait);
			if (rc > 1)
				return rc;
			if (rc == 0) {
				x->acquired = true;
			} else if (r->o->drop) {
				x->dropped = true; /* counted by producer_acquire */
			} else if (!wait || cli_stop) {
				return 0;
			}
		}
	}
	return 0;
}

/* The bytes of a frame's packet `i`, as guessed from the usual layout. */
static void
udp_packet_span(const struct udp_source *u, uint32_t i, uint64_t *off, uint64_t *len)
{
	*off = (uint64_t)i * u->payload;
	*len = *off < u->frame_bytes ? u->frame_bytes - *off : 0;
	if (*len > u->payload)
		*len = u->payload;
}

/* Publishes the oldest frame of the window (complete or not). */
static int
udp_finish_oldest(struct producer_run *r, struct udp_source *u)
{
	struct udp_frame *x = &u->win[u->head];
	uint32_t packets = x->packets ? x->packets : u->packets;
	int rc;

	if (u->count == 0)
		return 0;
	if (!x->acquired && !x->dropped) {
		while (!x->acquired && !x->dropped) {
			if ((rc = udp_slots_upto(r, u, u->f0, true)) != 0)
				return rc;
			if (cli_stop && !x->acquired && !x->dropped)
				return CLI_EXIT_OK; /* no slot, and told to stop */
		}
	}
	if (x->dropped)
		goto pop; /* no slot (--on-full drop): counted as dropped */
	u->packets_lost += packets > x->received ? packets - x->received : 0;
	if (x->received == 0) {
		u->frames_missing++;
		u->frames_incomplete++;
	} else if (x->received < packets) {
		u->frames_incomplete++;
	} else {
		u->frames_complete++;
	}
	{
		x->f.flags = x->received < packets ? RB_FRAME_INCOMPLETE : 0;
		x->f.timestamp_ns = x->first_ns ? x->first_ns : cli_now_ns();
		if (x->received == 0) {
			x->f.length = 0;
		} else {
			uint32_t i;

			x->f.length = x->length ? x->length
						: (u->full_length ? u->full_length : u->frame_bytes);
			if (x->f.length > u->frame_bytes)
				x->f.length = u->frame_bytes;
			/* Missing packets leave an older frame's bytes in the
			 * slot: zero them, never pass them off as data. */
			for (i = 0; i < packets && x->received < packets; i++) {
				uint64_t off, len;

				if (x->got[i / 8] & (1u << (i % 8)))
					continue;
				udp_packet_span(u, i, &off, &len);
				if (off >= x->f.length)
					break;
				if (off + len > x->f.length)
					len = x->f.length - off;
				memset((uint8_t *)x->f.data + off, 0, len);
			}
		}
		rc = rb_producer_commit(r->prod, &x->f);
		if (rc != 0) {
			cli_error("ring '%s': committing frame: %s", r->o->ring, rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
		r->frames++;
		r->bytes += x->f.length;
		r->index++;
	}
pop:
	u->head = (u->head + 1) % UDP_WINDOW;
	u->count--;
	u->f0++;
	if (u->guess_frame < u->f0) {
		u->guess_frame = u->f0;
		u->guess_packet = 0;
	}
	return 0;
}

/* Publishes every frame up to and including `last`. */
static int
udp_finish_upto(struct producer_run *r, struct udp_source *u, uint64_t last)
{
	int rc;

	while (u->based && u->count > 0 && u->f0 <= last) {
		if ((rc = udp_finish_oldest(r, u)) != 0)
			return rc;
		if (cli_stop && u->count > 0 && !u->win[u->head].acquired &&
		    !u->win[u->head].dropped)
			return 0;
	}
	return 0;
}

/*
 * Books a packet whose payload is in place (or, `from` not NULL, copies it
 * there first). Runs between chains only, except for guessed packets,
 * which need no window change.
 */
static int
udp_place(struct producer_run *r, struct udp_source *u, const struct udp_packet *h,
	  const uint8_t *from)
{
	struct udp_frame *x;
	int rc;

	if (!u->based) {
		u->based = true;
		u->f0 = h->frame;
		u->guess_frame = h->frame;
		u->guess_packet = 0;
		u->highest = h->frame;
	}
	if (h->frame < u->f0) {
		/* Already published; a sender that started over (frame
		 * numbers far behind) is a new beginning. */
		if (u->f0 - h->frame <= UDP_MAX_GAP) {
			u->late++;
			return 0;
		}
		goto resync;
	}
	if (h->frame - u->f0 >= UDP_WINDOW + UDP_MAX_GAP)
		goto resync;
	/* Room in the window: older frames are over, and frames skipped
	 * over entirely are published as missing. */
	while (h->frame - u->f0 >= UDP_WINDOW) {
		if (u->count == 0)
			udp_frame_add(u, u->f0);
		if ((rc = udp_finish_oldest(r, u)) != 0 || cli_stop)
			return rc;
	}
	goto place;
resync:
	if ((rc = udp_finish_upto(r, u, u->f0 + u->count - 1)) != 0)
		return rc;
	/* A jump forward: the frames in between are lost, and counted as
	 * such (a sensor's frames all have the same number of packets). */
	if (h->frame > u->f0) {
		u->frames_missing += h->frame - u->f0;
		u->frames_incomplete += h->frame - u->f0;
		u->packets_lost += (h->frame - u->f0) * u->packets;
	}
	u->resyncs++;
	u->f0 = u->highest = h->frame;
	u->count = 0;
	u->guess_frame = h->frame;
	u->guess_packet = 0;
place:
	x = udp_frame_add(u, h->frame);
	if (x->packets == 0)
		x->packets = h->packets;
	if (h->packets != x->packets || h->packet >= x->packets) {
		u->malformed++;
		return 0;
	}
	if (x->got[h->packet / 8] & (1u << (h->packet % 8))) {
		u->duplicate++;
		return 0;
	}
	if (from != NULL) {
		if ((rc = udp_slots_upto(r, u, h->frame, true)) != 0)
			return rc;
		if (x->acquired)
			memcpy((uint8_t *)x->f.data + h->offset, from, h->length);
		u->moved++;
	}
	x->got[h->packet / 8] |= (uint8_t)(1u << (h->packet % 8));
	x->received++;
	if (x->first_ns == 0)
		x->first_ns = cli_now_ns();
	if (h->packet + 1 == h->packets) {
		x->length = (uint64_t)h->offset + h->length;
		u->full_length = x->length;
	} else {
		u->payload = h->length;
	}
	u->packets = h->packets;
	if (h->frame > u->highest)
		u->highest = h->frame;
	u->packets_in++;
	u->payload_bytes += h->length;
	return 0;
}

/* Frames up to the highest seen are waiting to be published. */
static bool
udp_waiting(const struct udp_source *u)
{
	return u->based && u->count > 0 && u->f0 <= u->highest;
}

/* ---- the chain of receives ------------------------------------------------ */

/* The packet after (frame, packet), by the frame's own count. */
static void
udp_next_guess(struct udp_source *u, uint64_t *frame, uint32_t *packet)
{
	struct udp_frame *x = udp_frame_at(u, *frame);
	uint32_t n = x && x->packets ? x->packets : u->packets;

	if (*packet + 1 < n) {
		(*packet)++;
	} else {
		(*frame)++;
		*packet = 0;
	}
}

static void
udp_link_prepare(struct udp_link *l, uint8_t *place)
{
	memset(&l->msg, 0, sizeof(l->msg));
	l->iov[0].iov_base = &l->hdr;
	l->iov[0].iov_len = sizeof(l->hdr);
	if (place != NULL) {
		l->iov[1].iov_base = place;
		l->iov[1].iov_len = l->room;
		l->iov[2].iov_base = l->spill;
		l->iov[2].iov_len = UDP_DATAGRAM;
		l->msg.msg_iovlen = 3;
	} else {
		l->iov[1].iov_base = l->spill;
		l->iov[1].iov_len = UDP_DATAGRAM;
		l->msg.msg_iovlen = 2;
	}
	l->msg.msg_iov = l->iov;
	l->msg.msg_control = l->control;
	l->msg.msg_controllen = sizeof(l->control);
	l->done = false;
	l->moved = false;
}

/*
 * Builds the next chain: guesses from (guess_frame, guess_packet) on,
 * skipping packets already in, as far as the window and the slots go.
 * Before the first packet there is nothing to guess from: one receive,
 * into spill. Returns the number of links (0: no slot to guess into yet),
 * or an exit status as a negative number.
 */
static int
udp_chain_build(struct producer_run *r, struct udp_source *u)
{
	uint64_t frame = u->guess_frame;
	uint32_t packet = u->guess_packet, n = 0;
	int rc;

	if (!u->based) {
		u->links[0].guessed = false;
		udp_link_prepare(&u->links[0], NULL);
		return 1;
	}
	while (n < UDP_CHAIN) {
		struct udp_link *l = &u->links[n];
		struct udp_frame *x;
		uint64_t off, len;

		if (frame < u->f0) {
			frame = u->f0;
			packet = 0;
		}
		if (frame - u->f0 >= UDP_WINDOW)
			break;
		x = udp_frame_add(u, frame);
		if (x->packets != 0 && packet >= x->packets) {
			udp_next_guess(u, &frame, &packet);
			continue;
		}
		if (x->got[packet / 8] & (1u << (packet % 8))) {
			udp_next_guess(u, &frame, &packet);
			continue;
		}
		/* Wait for a slot only when there is no receive at all. */
		if ((rc = udp_slots_upto(r, u, frame, n == 0)) != 0)
			return -rc;
		if (!x->acquired && !x->dropped)
			break;
		udp_packet_span(u, packet, &off, &len);
		l->guessed = x->acquired && len > 0;
		l->frame = frame;
		l->packet = packet;
		l->offset = (uint32_t)off;
		l->room = (uint32_t)len;
		udp_link_prepare(l, l->guessed ? (uint8_t *)x->f.data + off : NULL);
		n++;
		udp_next_guess(u, &frame, &packet);
	}
	u->guess_frame = frame;
	u->guess_packet = packet;
	return (int)n;
}

static int
udp_chain_submit(struct udp_source *u, uint32_t n)
{
	uint32_t i;
	int rc;

	for (i = 0; i < n; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

		if (sqe == NULL)
			return -EBUSY;
		io_uring_prep_recvmsg(sqe, u->fd, &u->links[i].msg, 0);
		io_uring_sqe_set_data64(sqe, i);
		/* Each receive waits for the one before: arrival order is
		 * chain order (see the top of the file). */
		if (i + 1 < n)
			io_uring_sqe_set_flags(sqe, IOSQE_IO_LINK);
	}
	u->nlinks = n;
	u->ndone = 0;
	u->next_link = 0;
	u->cancelling = false;
	u->chains++;
	do
		rc = io_uring_submit(&u->ring);
	while (rc == -EINTR);
	return rc < 0 ? rc : 0;
}

/* Cancels what is left of the chain: the receive now waiting (its linked
 * successors then complete with -ECANCELED). Repeated on a timeout, in
 * case that receive completed just before the cancel reached it. */
static void
udp_chain_cancel(struct udp_source *u)
{
	struct io_uring_sqe *sqe;

	if (u->ndone == u->nlinks)
		return;
	sqe = io_uring_get_sqe(&u->ring);
	if (sqe == NULL)
		return;
	io_uring_prep_cancel64(sqe, u->next_link, 0);
	io_uring_sqe_set_data64(sqe, UDP_TAG_CANCEL);
	(void)io_uring_submit(&u->ring);
	u->cancelling = true;
}

/* The socket's drop counter, from SO_RXQ_OVFL's control message. */
static void
udp_kernel_drops(struct udp_source *u, struct udp_link *l)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(&l->msg); c != NULL; c = CMSG_NXTHDR(&l->msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
			uint32_t v;

			memcpy(&v, CMSG_DATA(c), sizeof(v));
			u->kernel_drops = v;
		}
	}
}

/* A receive completed: check the packet; book it if it landed where
 * guessed, else set it aside. Returns true if the chain should stop. */
static bool
udp_link_done(struct producer_run *r, struct udp_source *u, struct udp_link *l, int res)
{
	const struct udp_packet *h = &l->hdr;
	uint32_t payload;

	l->done = true;
	u->ndone++;
	while (u->next_link < u->nlinks && u->links[u->next_link].done)
		u->next_link++;
	if (res == -ECANCELED)
		return true;
	if (res < 0) {
		u->malformed++;
		return true;
	}
	u->last_packet_ns = cli_now_ns();
	if (u->first_packet_ns == 0)
		u->first_packet_ns = u->last_packet_ns;
	udp_kernel_drops(u, l);
	payload = (uint32_t)res >= sizeof(*h) ? (uint32_t)res - (uint32_t)sizeof(*h) : 0;
	if ((uint32_t)res < sizeof(*h) || (l->msg.msg_flags & MSG_TRUNC) ||
	    h->magic != UDP_PACKET_MAGIC || h->version != UDP_PACKET_VERSION ||
	    h->header_bytes != sizeof(*h) || h->length != payload) {
		u->malformed++;
		return l->guessed; /* the guessed place got garbage: start over */
	}
	if (h->flags & UDP_FLAG_END) {
		u->end_seen = true;
		u->end_frame = h->frame;
		return true;
	}
	if (h->packets == 0 || h->packets > UDP_MAX_PACKETS || h->packet >= h->packets ||
	    (uint64_t)h->offset + h->length > u->frame_bytes) {
		u->malformed++;
		return l->guessed;
	}
	l->got = *h;
	if (l->guessed && u->based && h->frame == l->frame && h->packet == l->packet &&
	    h->offset == l->offset && h->length <= l->room) {
		/* In place: the common case, no copy. */
		(void)udp_place(r, u, h, NULL);
		return false;
	}
	/* Set aside: where it landed may be where another packet of this
	 * chain goes (see the top of the file). */
	if (l->guessed) {
		uint32_t first = h->length < l->room ? h->length : l->room;

		memcpy(l->bounce, (uint8_t *)l->iov[1].iov_base, first);
		memcpy(l->bounce + first, l->spill, h->length - first);
	} else {
		memcpy(l->bounce, l->spill, h->length);
	}
	l->moved = true;
	return true;
}

/*
 * Waits for the chain to complete, cancelling it on a wrong guess, the
 * END packet, a stop request, or idleness with frames waiting. Returns 0
 * or an exit status.
 */
static int
udp_chain_wait(struct producer_run *r, struct udp_source *u, uint64_t stop_at)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	uint64_t now, limit;
	int rc;

	while (u->ndone < u->nlinks) {
		now = cli_now_ns();
		limit = PRODUCER_WAIT_SLICE_NS;
		if (u->cancelling)
			limit = 1000000ull; /* look again soon: see udp_chain_cancel */
		else if (udp_waiting(u))
			limit = u->idle_ns;
		ts.tv_sec = (long long)(limit / 1000000000ull);
		ts.tv_nsec = (long long)(limit % 1000000000ull);
		rc = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		if (rc == -ETIME || rc == -EINTR) {
			now = cli_now_ns();
			if (u->cancelling || cli_stop || (stop_at != 0 && now >= stop_at) ||
			    (udp_waiting(u) && now - u->last_packet_ns >= u->idle_ns))
				udp_chain_cancel(u);
			if (cli_status_due(&r->status, now))
				producer_show(r, now);
			continue;
		}
		if (rc < 0) {
			cli_error("%s: io_uring: %s", r->src->p.listen, strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		if (cqe->user_data == UDP_TAG_CANCEL || cqe->user_data == LIBURING_UDATA_TIMEOUT) {
			/* The cancel missed: the receive it aimed at had just
			 * completed and the next one was not waiting yet. Aim
			 * at the one waiting now. */
			bool missed = cqe->user_data == UDP_TAG_CANCEL &&
				      (cqe->res == -ENOENT || cqe->res == -EALREADY);

			io_uring_cqe_seen(&u->ring, cqe);
			if (missed)
				udp_chain_cancel(u);
			continue;
		}
		{
			struct udp_link *l = &u->links[cqe->user_data];
			int res = cqe->res;

			io_uring_cqe_seen(&u->ring, cqe);
			if (udp_link_done(r, u, l, res) && !u->cancelling)
				udp_chain_cancel(u);
		}
	}
	/* Collect cancel completions still queued, so they never mix with
	 * the next chain's. */
	while (io_uring_peek_cqe(&u->ring, &cqe) == 0) {
		if (cqe->user_data != UDP_TAG_CANCEL && cqe->user_data != LIBURING_UDATA_TIMEOUT)
			break;
		io_uring_cqe_seen(&u->ring, cqe);
	}
	return 0;
}

/* Between chains: place the set-aside packets, publish what is over, and
 * start guessing after the last packet that arrived. */
static int
udp_chain_after(struct producer_run *r, struct udp_source *u, uint64_t stop_at)
{
	struct udp_link *last = NULL;
	uint32_t i;
	int rc;

	for (i = 0; i < u->nlinks; i++) {
		struct udp_link *l = &u->links[i];

		if (!l->moved)
			continue;
		if ((rc = udp_place(r, u, &l->got, l->bounce)) != 0)
			return rc;
		last = l;
	}
	if (last != NULL && last->got.frame >= u->f0) {
		/* Guess on from what came, not from what was guessed. */
		u->guess_frame = last->got.frame;
		u->guess_packet = last->got.packet;
		udp_next_guess(u, &u->guess_frame, &u->guess_packet);
	}
	/* Complete frames at the front go at once. */
	while (u->count > 0 && u->win[u->head].packets != 0 &&
	       u->win[u->head].received == u->win[u->head].packets)
		if ((rc = udp_finish_oldest(r, u)) != 0)
			return rc;
	/* A frame is over once a frame UDP_REORDER later has shown up. */
	if (u->based && u->highest >= u->f0 + UDP_REORDER &&
	    (rc = udp_finish_upto(r, u, u->highest - UDP_REORDER)) != 0)
		return rc;
	if (u->end_seen) {
		/* Frames up to the sender's last, missing ones included. */
		if (u->based && u->end_frame > u->f0) {
			uint64_t last_frame = u->end_frame - 1;

			/* Too many missing to publish one by one: counted. */
			if (last_frame > u->highest && last_frame - u->highest > UDP_MAX_GAP) {
				u->frames_missing += last_frame - u->highest;
				u->frames_incomplete += last_frame - u->highest;
				u->packets_lost += (last_frame - u->highest) * u->packets;
				last_frame = u->highest;
			}
			while (u->f0 <= last_frame) {
				if (u->count == 0)
					udp_frame_add(u, u->f0);
				if ((rc = udp_finish_oldest(r, u)) != 0 || cli_stop)
					return rc;
			}
		}
		return 0;
	}
	/* Idle, stopping: everything up to the highest frame seen is over. */
	if (udp_waiting(u) &&
	    (cli_stop || (stop_at != 0 && cli_now_ns() >= stop_at) ||
	     cli_now_ns() - u->last_packet_ns >= u->idle_ns))
		return udp_finish_upto(r, u, u->highest);
	return 0;
}

int
udp_stream(struct producer_run *r)
{
	struct udp_source *u = udp_state(r->src);
	uint64_t stop_at = 0;
	uint32_t i;
	int rc, n;

	u->frame_bytes = rb_ring_frame_bytes(r->ring);
	u->idle_ns = r->src->p.frame_timeout_ns ? r->src->p.frame_timeout_ns : UDP_IDLE_NS;
	/* Until packets say otherwise, guess the configured packet size. */
	u->payload = (uint32_t)(r->src->p.packet_bytes ? r->src->p.packet_bytes
						       : UDP_DEFAULT_PACKET);
	u->packets = (uint32_t)((u->frame_bytes + u->payload - 1) / u->payload);
	rc = io_uring_queue_init(UDP_CHAIN * 2, &u->ring, 0);
	if (rc < 0) {
		/* No fallback here: a capture that cannot keep up is worse
		 * than a clear refusal. */
		cli_error("%s: io_uring: %s (udp capture needs io_uring)", r->src->p.listen,
			  strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	u->ring_ok = true;
	for (i = 0; i < UDP_CHAIN; i++) {
		u->links[i].spill = malloc(UDP_DATAGRAM);
		u->links[i].bounce = malloc(UDP_DATAGRAM);
		if (u->links[i].spill == NULL || u->links[i].bounce == NULL)
			goto nomem;
	}
	for (i = 0; i < UDP_WINDOW; i++)
		if ((u->win[i].got = malloc(UDP_MAX_PACKETS / 8)) == NULL)
			goto nomem;
	r->start_ns = r->shown_ns = cli_now_ns();
	if (r->o->duration_ns != 0)
		stop_at = r->start_ns + r->o->duration_ns;
	for (;;) {
		if (producer_should_stop(r, stop_at))
			break;
		if (u->end_seen) {
			r->end = "sender_end";
			break;
		}
		n = udp_chain_build(r, u);
		if (n < 0)
			return -n;
		if (n == 0)
			continue; /* no slot within a slice: look at signals */
		if ((rc = udp_chain_submit(u, (uint32_t)n)) != 0) {
			cli_error("%s: io_uring: %s", r->src->p.listen, strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		if ((rc = udp_chain_wait(r, u, stop_at)) != 0)
			return rc;
		if ((rc = udp_chain_after(r, u, stop_at)) != 0)
			return rc;
		if (r->o->count != 0 && r->index >= r->o->count) {
			r->end = "count";
			break;
		}
	}
	/* What has packets is published; slots acquired ahead for frames no
	 * packet reached are dropped when the producer detaches. */
	if (udp_waiting(u) && (r->o->count == 0 || r->index < r->o->count))
		if ((rc = udp_finish_upto(r, u, u->highest)) != 0)
			return rc;
	return CLI_EXIT_OK;
nomem:
	cli_error("out of memory");
	return CLI_EXIT_FAIL;
}

void
udp_source_summary(const struct source *s, FILE *out)
{
	const struct udp_source *u = udp_state(s);
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &u->addr.sin_addr, host, sizeof(host));
	fprintf(out, "  udp %s:%u: %" PRIu64 " packets, %" PRIu64 " lost, %" PRIu64
		" moved; frames %" PRIu64 " complete, %" PRIu64 " incomplete (%" PRIu64
		" missing)", host, ntohs(u->addr.sin_port), u->packets_in, u->packets_lost,
		u->moved, u->frames_complete, u->frames_incomplete, u->frames_missing);
	if (u->late || u->duplicate || u->malformed)
		fprintf(out, "; %" PRIu64 " late, %" PRIu64 " duplicate, %" PRIu64 " malformed",
			u->late, u->duplicate, u->malformed);
	if (u->kernel_drops)
		fprintf(out, "; %" PRIu32 " dropped by the kernel (socket buffer full)",
			u->kernel_drops);
	fputc('\n', out);
}

void
udp_source_json(const struct source *s, struct cli_json *j)
{
	const struct udp_source *u = udp_state(s);
	char host[INET_ADDRSTRLEN + 8];
	double secs = u->last_packet_ns > u->first_packet_ns
			      ? (double)(u->last_packet_ns - u->first_packet_ns) / 1e9 : 0;

	inet_ntop(AF_INET, &u->addr.sin_addr, host, INET_ADDRSTRLEN);
	snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%u",
		 ntohs(u->addr.sin_port));
	cli_json_string(j, "listen", host);
	cli_json_u64(j, "packets", u->packets_in);
	cli_json_u64(j, "packets_lost", u->packets_lost);
	cli_json_u64(j, "packets_late", u->late);
	cli_json_u64(j, "packets_duplicate", u->duplicate);
	cli_json_u64(j, "packets_malformed", u->malformed);
	cli_json_u64(j, "packets_moved", u->moved);
	cli_json_u64(j, "kernel_drops", u->kernel_drops);
	cli_json_u64(j, "frames_complete", u->frames_complete);
	cli_json_u64(j, "frames_incomplete", u->frames_incomplete);
	cli_json_u64(j, "frames_missing", u->frames_missing);
	cli_json_u64(j, "resyncs", u->resyncs);
	cli_json_u64(j, "receive_chains", u->chains);
	cli_json_double(j, "capture_seconds", secs);
	cli_json_double(j, "packets_per_second", secs > 0 ? (double)u->packets_in / secs : 0);
	cli_json_double(j, "payload_bytes_per_second",
			secs > 0 ? (double)u->payload_bytes / secs : 0);
	cli_json_bool(j, "end_seen", u->end_seen);
}
