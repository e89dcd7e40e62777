/*
 * The udp source: captures a network sensor's packets (udp_packet.h,
 * docs/RECORDING.md "UDP capture") into the ring's slots, with io_uring.
 * What a packet may say and how frames are put together is the
 * assembler's (udp_assembler.c, no I/O); this file receives.
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
 * now); the next chain starts from what actually arrived. With nothing to
 * guess into (no free slot, or the window's frames all in) the chain is
 * one receive into the spill buffer: there is always a receive out.
 *
 * Frames are published (udp_asm_settle, udp_asm_flush) only between
 * chains, never while a receive may still write into their slots.
 * Waiting is in slices of at most PRODUCER_WAIT_SLICE_NS, so a signal ends
 * the capture within one slice plus the cancellation.
 *
 * Counting: the assembler's counters (udp_counts), and the kernel's own
 * drops on a full socket buffer (SO_RXQ_OVFL), which say the capture did
 * not keep up, as opposed to losses on the way.
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
#include "udp_assembler.h"

#define UDP_CHAIN 32u               /* receives linked in one chain */
#define UDP_IDLE_NS 50000000ull     /* a frame is over after this long with no packet */
#define UDP_RCVBUF (64u << 20)
#define UDP_DEFAULT_FRAME (64u << 10)
#define UDP_DEFAULT_PACKET (8u << 10)
/* How long a signalled capture waits for its cancelled receives. */
#define UDP_CANCEL_NS 500000000ull
/* user_data of the cancel requests (links use their index). */
#define UDP_TAG_CANCEL UINT64_MAX

/* One receive of the chain: the message; its buffers and guess are rx. */
struct udp_link {
	struct msghdr msg;
	struct iovec iov[3];
	char control[64];
	bool done;
};

struct udp_source {
	int fd;
	struct sockaddr_in addr;
	struct io_uring ring;
	bool ring_ok;
	struct udp_link links[UDP_CHAIN];
	struct udp_rx rx[UDP_CHAIN];
	uint32_t nlinks;    /* in the chain being received */
	uint32_t ndone;
	uint32_t next_link; /* first link without a completion */
	bool cancelling;
	bool abandoned;     /* receives may still be out: publish nothing more */
	struct udp_asm a;
	bool asm_ok;
	struct producer_run *run; /* for the assembler's ops */
	int status;         /* the exit status of a failed op */
	uint64_t idle_ns;   /* --frame-timeout */
	uint64_t datagrams;
	uint64_t first_packet_ns, last_packet_ns;
	uint64_t chains;
	uint32_t kernel_drops;
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
		free(u->rx[i].spill);
		free(u->rx[i].bounce);
	}
	if (u->asm_ok)
		udp_asm_fini(&u->a);
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

/* ---- the assembler's slots ------------------------------------------------ */

/* The next slot: at most one wait slice (signals are looked at between). */
static int
udp_acquire(void *ctx, struct rb_frame *f, bool wait)
{
	struct udp_source *u = ctx;
	struct producer_run *r = u->run;
	int rc;

	rc = rb_producer_acquire(r->prod, f, wait && !r->o->drop ? PRODUCER_WAIT_SLICE_NS
								 : RB_NO_WAIT);
	if (rc == 0)
		return UDP_SLOT_OK;
	/* -ENOBUFS: every slot is ours already (acquired for frames being
	 * assembled); one frees up when the oldest is published. */
	if (rc == RB_E_WOULD_BLOCK || rc == -ETIMEDOUT || rc == -EINTR || (rc == -ENOBUFS && !wait)) {
		if (r->o->drop) {
			rb_producer_count_dropped(r->prod, 1);
			r->dropped++;
			r->index++;
			return UDP_SLOT_DROPPED;
		}
		return wait && cli_stop ? UDP_ASM_STOP : UDP_SLOT_NONE;
	}
	cli_error("ring '%s': acquiring a slot: %s", r->o->ring, rb_strerror(rc));
	r->end = "error";
	u->status = CLI_EXIT_FAIL;
	return UDP_ASM_ERROR;
}

static int
udp_publish(void *ctx, struct rb_frame *f, uint64_t frame)
{
	struct udp_source *u = ctx;
	struct producer_run *r = u->run;
	int rc;

	(void)frame;
	rc = rb_producer_commit(r->prod, f);
	if (rc != 0) {
		cli_error("ring '%s': committing frame: %s", r->o->ring, rb_strerror(rc));
		r->end = "error";
		u->status = CLI_EXIT_FAIL;
		return UDP_ASM_ERROR;
	}
	r->frames++;
	r->bytes += f->length;
	r->index++;
	return UDP_ASM_OK;
}

/*
 * The capture's counters, published in our producer record for consumers
 * and rb-ctl (FORMAT.md §3.7.1: the index says which), after every chain
 * of datagrams and at the end; and the ring's UTC anchor once a second
 * (this loop does not go through producer_acquire).
 */
static void
udp_publish_counters(struct producer_run *r, const struct udp_source *u, uint64_t now)
{
	const struct udp_counts *c = &u->a.n;
	const uint64_t v[RB_COUNTERS_MAX] = {
		c->packets, c->lost, c->late, c->duplicate, c->malformed,
		u->kernel_drops, c->frames_incomplete, c->frames_missing,
	};

	(void)rb_producer_publish_counters(r->prod, v, RB_COUNTERS_MAX);
	if (now >= r->clock_due) {
		(void)rb_producer_refresh_clock(r->prod);
		r->clock_due = now + 1000000000ull;
	}
}

/* An assembler result as an exit status; *stop when the capture ends. */
static int
udp_status(struct udp_source *u, int rc, bool *stop)
{
	if (rc == UDP_ASM_STOP) {
		u->run->end = "signal";
		*stop = true;
		return CLI_EXIT_OK;
	}
	if (rc == UDP_ASM_ERROR) {
		*stop = true;
		return u->status;
	}
	return CLI_EXIT_OK;
}

/* ---- the chain of receives ------------------------------------------------ */

static void
udp_link_prepare(struct udp_link *l, struct udp_rx *rx)
{
	memset(&l->msg, 0, sizeof(l->msg));
	l->iov[0].iov_base = &rx->hdr;
	l->iov[0].iov_len = sizeof(rx->hdr);
	if (rx->g.place != NULL) {
		l->iov[1].iov_base = rx->g.place;
		l->iov[1].iov_len = rx->g.room;
		l->iov[2].iov_base = rx->spill;
		l->iov[2].iov_len = UDP_DATAGRAM;
		l->msg.msg_iovlen = 3;
	} else {
		l->iov[1].iov_base = rx->spill;
		l->iov[1].iov_len = UDP_DATAGRAM;
		l->msg.msg_iovlen = 2;
	}
	l->msg.msg_iov = l->iov;
	l->msg.msg_control = l->control;
	l->msg.msg_controllen = sizeof(l->control);
	l->done = false;
	rx->moved = false;
}

/*
 * Builds the next chain from the assembler's guesses, as far as the window
 * and the free slots go; with no guess, one receive into spill. Returns
 * the number of links, or an assembler result (UDP_ASM_STOP/ERROR) as a
 * negative number.
 */
static int
udp_chain_build(struct udp_source *u)
{
	uint32_t n = 0;
	int rc;

	while (n < UDP_CHAIN) {
		if ((rc = udp_asm_guess(&u->a, &u->rx[n].g)) != UDP_ASM_OK)
			return -rc;
		if (!u->rx[n].g.valid)
			break;
		udp_link_prepare(&u->links[n], &u->rx[n]);
		n++;
	}
	if (n == 0) {
		memset(&u->rx[0].g, 0, sizeof(u->rx[0].g));
		udp_link_prepare(&u->links[0], &u->rx[0]);
		n = 1;
	}
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

/* A receive completed: hand it to the assembler. True if the chain should
 * stop. */
static bool
udp_link_done(struct udp_source *u, uint32_t i, int res)
{
	struct udp_link *l = &u->links[i];

	l->done = true;
	u->ndone++;
	while (u->next_link < u->nlinks && u->links[u->next_link].done)
		u->next_link++;
	if (res >= 0) {
		u->datagrams++;
		u->last_packet_ns = cli_now_ns();
		if (u->first_packet_ns == 0)
			u->first_packet_ns = u->last_packet_ns;
		udp_kernel_drops(u, l);
	}
	return udp_asm_received(&u->a, &u->rx[i], res, (l->msg.msg_flags & MSG_TRUNC) != 0,
				cli_now_ns());
}

/* Frames wait for packets, and none came for --frame-timeout. */
static bool
udp_idle(const struct udp_source *u, uint64_t now)
{
	return udp_asm_waiting(&u->a) && now - u->last_packet_ns >= u->idle_ns;
}

/*
 * Waits for the chain to complete, cancelling it on a wrong guess, the
 * END packet, a stop request, or idleness with frames waiting. Every wait
 * is one slice at most. Returns 0 or an exit status.
 */
static int
udp_chain_wait(struct producer_run *r, struct udp_source *u, uint64_t stop_at)
{
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	uint64_t now, limit, stop_seen = 0;
	int rc;

	while (u->ndone < u->nlinks) {
		now = cli_now_ns();
		limit = PRODUCER_WAIT_SLICE_NS;
		if (u->cancelling)
			limit = 1000000ull; /* look again soon: see udp_chain_cancel */
		else if (udp_asm_waiting(&u->a) && u->idle_ns < limit)
			limit = u->idle_ns;
		ts.tv_sec = (long long)(limit / 1000000000ull);
		ts.tv_nsec = (long long)(limit % 1000000000ull);
		rc = io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts);
		if (rc == -ETIME || rc == -EINTR) {
			now = cli_now_ns();
			if (cli_stop && stop_seen == 0)
				stop_seen = now;
			if (stop_seen != 0 && now - stop_seen >= UDP_CANCEL_NS) {
				/* The cancel did not take: leave the receives
				 * to io_uring's teardown and publish nothing
				 * more, since they may still land in slots. */
				u->abandoned = true;
				return CLI_EXIT_OK;
			}
			if (u->cancelling || cli_stop || (stop_at != 0 && now >= stop_at) ||
			    udp_idle(u, now))
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
		if (cqe->user_data >= u->nlinks) {
			io_uring_cqe_seen(&u->ring, cqe);
			continue;
		}
		{
			uint32_t i = (uint32_t)cqe->user_data;
			int res = cqe->res;

			io_uring_cqe_seen(&u->ring, cqe);
			if (udp_link_done(u, i, res) && !u->cancelling)
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

int
udp_stream(struct producer_run *r)
{
	struct udp_source *u = udp_state(r->src);
	struct udp_asm_ops ops = {.acquire = udp_acquire, .publish = udp_publish, .ctx = u};
	uint64_t stop_at = 0, payload, now;
	bool stop = false;
	uint32_t i;
	int rc, n, status = CLI_EXIT_OK;

	/* First, so that the summary's time is right on every path. */
	r->start_ns = r->shown_ns = cli_now_ns();
	if (r->o->duration_ns != 0)
		stop_at = r->start_ns + r->o->duration_ns;
	u->run = r;
	udp_publish_counters(r, u, r->start_ns); /* zeros: monitors see the names */
	if (rb_ring_slot_count(r->ring) < UDP_WINDOW) {
		/* The window's frames each hold a slot while assembled. */
		cli_error("ring '%s': --source udp needs a ring of at least %u slots (it "
			  "assembles %u frames at once)", r->o->ring, UDP_WINDOW, UDP_WINDOW);
		return CLI_EXIT_FAIL;
	}
	u->idle_ns = r->src->p.frame_timeout_ns ? r->src->p.frame_timeout_ns : UDP_IDLE_NS;
	/* Until packets say otherwise, guess the configured packet size. */
	payload = r->src->p.packet_bytes ? r->src->p.packet_bytes : UDP_DEFAULT_PACKET;
	if (udp_asm_init(&u->a, rb_ring_frame_bytes(r->ring), (uint32_t)payload, &ops) != 0)
		goto nomem;
	u->asm_ok = true;
	for (i = 0; i < UDP_CHAIN; i++) {
		u->rx[i].spill = malloc(UDP_DATAGRAM);
		u->rx[i].bounce = malloc(UDP_DATAGRAM);
		if (u->rx[i].spill == NULL || u->rx[i].bounce == NULL)
			goto nomem;
	}
	rc = io_uring_queue_init(UDP_CHAIN * 2, &u->ring, 0);
	if (rc < 0) {
		/* No fallback here: a capture that cannot keep up is worse
		 * than a clear refusal. */
		cli_error("%s: io_uring: %s (udp capture needs io_uring)", r->src->p.listen,
			  strerror(-rc));
		return CLI_EXIT_FAIL;
	}
	u->ring_ok = true;
	while (!stop) {
		if (producer_should_stop(r, stop_at))
			break;
		if (u->a.end_seen) {
			r->end = "sender_end";
			break;
		}
		n = udp_chain_build(u);
		if (n < 0) {
			status = udp_status(u, -n, &stop);
			break;
		}
		if ((rc = udp_chain_submit(u, (uint32_t)n)) != 0) {
			cli_error("%s: io_uring: %s", r->src->p.listen, strerror(-rc));
			return CLI_EXIT_FAIL;
		}
		if ((rc = udp_chain_wait(r, u, stop_at)) != 0)
			return rc;
		if (u->abandoned) {
			r->end = "signal";
			return CLI_EXIT_OK;
		}
		now = cli_now_ns();
		status = udp_status(u, udp_asm_settle(&u->a, u->rx, u->nlinks, now), &stop);
		udp_publish_counters(r, u, now);
		if (stop)
			break;
		/* Idle, or stopping: everything up to the highest frame
		 * booked is over. */
		if (udp_asm_waiting(&u->a) &&
		    (cli_stop || (stop_at != 0 && now >= stop_at) || udp_idle(u, now)))
			status = udp_status(u, udp_asm_flush(&u->a), &stop);
		if (r->o->count != 0 && r->index >= r->o->count) {
			r->end = "count";
			break;
		}
	}
	/* What has packets is published; slots acquired ahead for frames no
	 * packet reached are dropped when the producer detaches. */
	if (status == CLI_EXIT_OK && !u->abandoned && !u->a.end_seen &&
	    (r->o->count == 0 || r->index < r->o->count))
		status = udp_status(u, udp_asm_flush(&u->a), &stop);
	udp_publish_counters(r, u, cli_now_ns());
	return status;
nomem:
	cli_error("out of memory");
	return CLI_EXIT_FAIL;
}

void
udp_source_summary(const struct source *s, FILE *out)
{
	const struct udp_source *u = udp_state(s);
	const struct udp_counts *c = &u->a.n;
	char host[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &u->addr.sin_addr, host, sizeof(host));
	fprintf(out, "  udp %s:%u: %" PRIu64 " datagrams: %" PRIu64 " packets booked (%" PRIu64
		" short, %" PRIu64 " moved), %" PRIu64 " late, %" PRIu64 " duplicate, %" PRIu64
		" malformed, %" PRIu64 " conflicting, %" PRIu64 " stray, %" PRIu64 " end\n",
		host, ntohs(u->addr.sin_port), u->datagrams, c->packets, c->short_packets,
		c->moved, c->late, c->duplicate, c->malformed, c->conflicting, c->stray, c->ends);
	fprintf(out, "  frames %" PRIu64 " complete, %" PRIu64 " incomplete (%" PRIu64
		" missing), %" PRIu64 " packets lost, %" PRIu64 " resyncs", c->frames_complete,
		c->frames_incomplete, c->frames_missing, c->lost, c->resyncs);
	if (u->kernel_drops)
		fprintf(out, "; %" PRIu32 " dropped by the kernel (socket buffer full)",
			u->kernel_drops);
	fputc('\n', out);
}

void
udp_source_json(const struct source *s, struct cli_json *j)
{
	const struct udp_source *u = udp_state(s);
	const struct udp_counts *c = &u->a.n;
	char host[INET_ADDRSTRLEN + 8];
	double secs = u->last_packet_ns > u->first_packet_ns
			      ? (double)(u->last_packet_ns - u->first_packet_ns) / 1e9 : 0;

	inet_ntop(AF_INET, &u->addr.sin_addr, host, INET_ADDRSTRLEN);
	snprintf(host + strlen(host), sizeof(host) - strlen(host), ":%u",
		 ntohs(u->addr.sin_port));
	cli_json_string(j, "listen", host);
	cli_json_u64(j, "datagrams", u->datagrams);
	cli_json_u64(j, "packets", c->packets);
	cli_json_u64(j, "packets_lost", c->lost);
	cli_json_u64(j, "packets_late", c->late);
	cli_json_u64(j, "packets_duplicate", c->duplicate);
	cli_json_u64(j, "packets_malformed", c->malformed);
	cli_json_u64(j, "packets_conflicting", c->conflicting);
	cli_json_u64(j, "packets_stray", c->stray);
	cli_json_u64(j, "packets_short", c->short_packets);
	cli_json_u64(j, "packets_moved", c->moved);
	cli_json_u64(j, "end_packets", c->ends);
	cli_json_u64(j, "kernel_drops", u->kernel_drops);
	cli_json_u64(j, "frames_complete", c->frames_complete);
	cli_json_u64(j, "frames_incomplete", c->frames_incomplete);
	cli_json_u64(j, "frames_missing", c->frames_missing);
	cli_json_u64(j, "resyncs", c->resyncs);
	cli_json_u64(j, "receive_chains", u->chains);
	cli_json_double(j, "capture_seconds", secs);
	cli_json_double(j, "packets_per_second", secs > 0 ? (double)c->packets / secs : 0);
	cli_json_double(j, "payload_bytes_per_second",
			secs > 0 ? (double)c->payload_bytes / secs : 0);
	cli_json_bool(j, "end_seen", u->a.end_seen);
}
