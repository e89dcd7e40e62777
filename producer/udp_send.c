/*
 * rb-producer --source udp-send: a stand-in for a network sensor, for
 * tests and demos of --source udp. It needs no ring: it makes counter
 * frames (frame n's bytes are cli_counter_fill(n), so a receiver can check
 * every byte), cuts each into packets (udp_packet.h) and sends them with
 * io_uring sendmsg: a header and a slice of the frame, gathered by the
 * kernel, no copy in user space. --drop-every N leaves out every Nth packet
 * (counting from 1 over the whole run) so tests can inject exact losses;
 * --reorder-every N (not in --help) sends every Nth packet it sends after
 * the one that follows it in the same frame, to test reordering.
 * At the end it sends an END packet (three times: UDP may lose one)
 * carrying the number of frames sent.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "producer.h"
#include "udp_packet.h"

#define SEND_DEPTH 64u
#define SEND_BUFFERS 2u  /* frames being sent while the next is made */
#define SEND_SNDBUF (4u << 20)
#define SEND_DEFAULT_FRAME (64u << 10)
#define SEND_END_COPIES 3

struct send_slot {
	struct udp_packet hdr;
	struct iovec iov[2];
	struct msghdr msg;
	uint32_t buffer;
	bool busy;
};

struct sender {
	int fd;
	struct io_uring ring;
	struct send_slot slots[SEND_DEPTH];
	uint32_t inflight;
	uint32_t outstanding[SEND_BUFFERS]; /* sends in flight per frame buffer */
	uint64_t packets, dropped, bytes, refused;
	int error;
};

int
udp_parse_address(const char *text, struct sockaddr_in *out)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long port;
	size_t len;

	if (colon == NULL || colon == text)
		return -EINVAL;
	len = (size_t)(colon - text);
	if (len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, len);
	host[len] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port > 65535)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &out->sin_addr) != 1)
		return -EINVAL;
	return 0;
}

/* Reaps send completions; waits for at least `min`. */
static int
send_reap(struct sender *s, unsigned min)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	int rc;

	if (min > s->inflight)
		min = s->inflight;
	if (min > 0) {
		rc = io_uring_submit_and_wait(&s->ring, min);
		if (rc < 0 && rc != -EINTR)
			return rc;
	}
	io_uring_for_each_cqe(&s->ring, head, cqe) {
		struct send_slot *x = &s->slots[cqe->user_data];

		if (cqe->res >= 0)
			s->bytes += (uint64_t)cqe->res;
		else if (cqe->res == -ECONNREFUSED)
			s->refused++; /* nobody listens (yet): a sensor sends anyway */
		else if (s->error == 0)
			s->error = cqe->res;
		x->busy = false;
		s->outstanding[x->buffer]--;
		s->inflight--;
		n++;
	}
	io_uring_cq_advance(&s->ring, n);
	return 0;
}

/* Queues one datagram: the header, then `len` bytes at `data`. */
static int
send_packet(struct sender *s, const struct udp_packet *h, const void *data, uint32_t len,
	    uint32_t buffer)
{
	struct io_uring_sqe *sqe;
	struct send_slot *x = NULL;
	uint32_t i;
	int rc;

	while (s->inflight == SEND_DEPTH)
		if ((rc = send_reap(s, 1)) != 0)
			return rc;
	for (i = 0; i < SEND_DEPTH; i++) {
		if (!s->slots[i].busy) {
			x = &s->slots[i];
			break;
		}
	}
	sqe = io_uring_get_sqe(&s->ring);
	if (sqe == NULL) {
		if ((rc = io_uring_submit(&s->ring)) < 0)
			return rc;
		sqe = io_uring_get_sqe(&s->ring);
	}
	if (x == NULL || sqe == NULL)
		return -EBUSY;
	x->hdr = *h; /* little-endian on the wire (udp_packet.h) */
	x->hdr.magic = htole32(h->magic);
	x->hdr.header_bytes = htole16(h->header_bytes);
	x->hdr.frame = htole64(h->frame);
	x->hdr.packet = htole32(h->packet);
	x->hdr.packets = htole32(h->packets);
	x->hdr.offset = htole32(h->offset);
	x->hdr.length = htole32(h->length);
	x->iov[0].iov_base = &x->hdr;
	x->iov[0].iov_len = sizeof(x->hdr);
	x->iov[1].iov_base = (void *)(uintptr_t)data;
	x->iov[1].iov_len = len;
	memset(&x->msg, 0, sizeof(x->msg));
	x->msg.msg_iov = x->iov;
	x->msg.msg_iovlen = len ? 2 : 1;
	x->buffer = buffer;
	x->busy = true;
	io_uring_prep_sendmsg(sqe, s->fd, &x->msg, 0);
	io_uring_sqe_set_data64(sqe, (uint64_t)(x - s->slots));
	s->outstanding[buffer]++;
	s->inflight++;
	s->packets++;
	return 0;
}

static int
send_setup(struct sender *s, const struct source_params *p)
{
	struct sockaddr_in to;
	int one = SEND_SNDBUF, rc;

	if (p->target == NULL) {
		cli_error("--source udp-send: missing --target ADDR:PORT");
		return CLI_EXIT_USAGE;
	}
	if (udp_parse_address(p->target, &to) != 0 || to.sin_port == 0) {
		cli_error("--target: '%s': not an IPv4 address and port (127.0.0.1:9000)",
			  p->target);
		return CLI_EXIT_USAGE;
	}
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		cli_error("socket: %s", strerror(errno));
		return CLI_EXIT_FAIL;
	}
	(void)setsockopt(s->fd, SOL_SOCKET, SO_SNDBUF, &one, sizeof(one));
	if (connect(s->fd, (struct sockaddr *)&to, sizeof(to)) != 0) {
		cli_error("%s: %s", p->target, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	rc = io_uring_queue_init(SEND_DEPTH * 2, &s->ring, 0);
	if (rc < 0) {
		cli_error("udp-send: io_uring: %s", strerror(-rc));
		close(s->fd);
		s->fd = -1;
		return CLI_EXIT_FAIL;
	}
	return 0;
}

static void
send_summary(const struct sender *s, const struct source_params *p, uint64_t frames,
	     double secs, bool json)
{
	double pps = secs > 0 ? (double)s->packets / secs : 0;
	double bps = secs > 0 ? (double)s->bytes / secs : 0;
	char a[32], b[32];

	if (json) {
		struct cli_json j;

		cli_json_begin(&j, stdout);
		cli_json_string(&j, "program", "rb-producer");
		cli_json_string(&j, "source", "udp-send");
		cli_json_string(&j, "target", p->target);
		cli_json_u64(&j, "frames", frames);
		cli_json_u64(&j, "packets", s->packets);
		cli_json_u64(&j, "packets_dropped", s->dropped);
		cli_json_u64(&j, "bytes", s->bytes);
		cli_json_u64(&j, "refused", s->refused);
		cli_json_double(&j, "seconds", secs);
		cli_json_double(&j, "packets_per_second", pps);
		cli_json_double(&j, "bytes_per_second", bps);
		cli_json_end(&j);
		return;
	}
	fprintf(stderr, "%s: udp-send to %s: %" PRIu64 " frames, %" PRIu64 " packets "
		"(%" PRIu64 " left out) in %.3f s (%s, %s)%s\n", cli_program(), p->target,
		frames, s->packets, s->dropped, secs,
		cli_format_si(a, sizeof(a), pps, "packets/s"),
		cli_format_si(b, sizeof(b), bps, "B/s"),
		s->refused ? "; nobody was listening for some" : "");
}

int
udp_send_run(const struct source_params *p, const struct cli_rate *rate, uint64_t count,
	     uint64_t duration_ns, bool json)
{
	uint64_t frame_bytes = p->frame_size_set ? p->frame_bytes : SEND_DEFAULT_FRAME;
	uint64_t payload = p->packet_bytes, packets, f, k = 0, m = 0, start, stop_at = 0;
	double fps = 0;
	struct sender s;
	struct pacer pacer;
	uint8_t *buf[SEND_BUFFERS] = {NULL};
	uint32_t i;
	int rc, status = CLI_EXIT_FAIL;

	memset(&s, 0, sizeof(s));
	s.fd = -1;
	if (payload == 0 || payload > UDP_MAX_PAYLOAD) {
		cli_error("--packet-size: %" PRIu64 ": must be 1 to %u bytes", payload,
			  UDP_MAX_PAYLOAD);
		return CLI_EXIT_USAGE;
	}
	if (frame_bytes > UINT32_MAX) {
		cli_error("--frame-size: at most 4GiB - 1 for UDP frames");
		return CLI_EXIT_USAGE;
	}
	packets = (frame_bytes + payload - 1) / payload;
	if ((status = send_setup(&s, p)) != 0)
		return status;
	status = CLI_EXIT_FAIL;
	for (i = 0; i < SEND_BUFFERS; i++) {
		if ((buf[i] = malloc(frame_bytes)) == NULL) {
			cli_error("out of memory");
			goto out;
		}
	}
	if (rate->unit == CLI_RATE_FRAMES)
		fps = rate->per_second;
	else if (rate->unit == CLI_RATE_BYTES)
		fps = rate->per_second / (double)frame_bytes;
	start = cli_now_ns();
	if (duration_ns != 0)
		stop_at = start + duration_ns;
	pacer_init(&pacer, fps, start);
	for (f = 0; (count == 0 || f < count) && !cli_stop; f++) {
		uint32_t b = (uint32_t)(f % SEND_BUFFERS);
		uint64_t due = pacer_deadline(&pacer, f), pk;
		struct udp_packet held;
		bool holding;

		/* Sleep to the frame's time; a signal cuts the sleep short. */
		while (pacer.enabled && !cli_stop && cli_now_ns() < due &&
		       (stop_at == 0 || cli_now_ns() < stop_at)) {
			if ((rc = send_reap(&s, 0)) != 0)
				goto failed;
			cli_sleep_until(stop_at != 0 && stop_at < due ? stop_at : due);
		}
		if (cli_stop || (stop_at != 0 && cli_now_ns() >= stop_at))
			break;
		/* The buffer is reused once the kernel has sent it. */
		while (s.outstanding[b] > 0)
			if ((rc = send_reap(&s, 1)) != 0)
				goto failed;
		cli_counter_fill(buf[b], frame_bytes, f);
		holding = false;
		for (pk = 0; pk < packets; pk++) {
			struct udp_packet h = {
				.magic = UDP_PACKET_MAGIC,
				.version = UDP_PACKET_VERSION,
				.header_bytes = sizeof(struct udp_packet),
				.frame = f,
				.packet = (uint32_t)pk,
				.packets = (uint32_t)packets,
				.offset = (uint32_t)(pk * payload),
			};

			h.length = (uint32_t)(pk + 1 < packets ? payload
							      : frame_bytes - pk * payload);
			if (p->drop_every != 0 && ++k % p->drop_every == 0) {
				s.dropped++;
				continue;
			}
			if (p->reorder_every != 0 && ++m % p->reorder_every == 0 &&
			    pk + 1 < packets && !holding) {
				held = h;
				holding = true;
				continue;
			}
			if ((rc = send_packet(&s, &h, buf[b] + h.offset, h.length, b)) != 0)
				goto failed;
			if (holding) {
				holding = false;
				if ((rc = send_packet(&s, &held, buf[b] + held.offset, held.length,
						      b)) != 0)
					goto failed;
			}
		}
		if (holding &&
		    (rc = send_packet(&s, &held, buf[b] + held.offset, held.length, b)) != 0)
			goto failed;
		if ((rc = io_uring_submit(&s.ring)) < 0)
			goto failed;
		if (s.error != 0)
			break;
	}
	while (s.inflight > 0)
		if ((rc = send_reap(&s, 1)) != 0)
			goto failed;
	for (i = 0; i < SEND_END_COPIES && s.error == 0; i++) {
		struct udp_packet h = {
			.magic = UDP_PACKET_MAGIC,
			.version = UDP_PACKET_VERSION,
			.flags = UDP_FLAG_END,
			.header_bytes = sizeof(struct udp_packet),
			.frame = f,
		};

		if ((rc = send_packet(&s, &h, NULL, 0, 0)) != 0 ||
		    (rc = send_reap(&s, 1)) != 0)
			goto failed;
	}
	s.packets -= i; /* END packets are not data */
	if (s.error != 0) {
		rc = s.error;
		goto failed;
	}
	send_summary(&s, p, f, (double)(cli_now_ns() - start) / 1e9, json);
	status = CLI_EXIT_OK;
	goto out;
failed:
	cli_error("udp-send to %s: %s", p->target, strerror(-rc));
out:
	for (i = 0; i < SEND_BUFFERS; i++)
		free(buf[i]);
	io_uring_queue_exit(&s.ring);
	if (s.fd >= 0)
		close(s.fd);
	return status;
}
