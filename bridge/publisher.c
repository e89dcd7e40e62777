/*
 * rb-bridge send --pub: a lossy consumer of the near ring that publishes
 * every frame it reads on a ZeroMQ PUB socket, to as many subscribers
 * (rb-bridge recv --sub) as connect (docs/BRIDGE.md, "Fan-out").
 *
 * Nothing is acknowledged and nothing waits for a subscriber: a PUB
 * socket drops a message for a subscriber whose queue is full (--hwm), and
 * the subscriber counts what it missed from the gaps in `index`, the
 * publication's own sequence (frames published before this one).
 *
 * Copy, then check. The consumer is lossy, so the producer may overwrite
 * a slot while it is read. Each payload is copied into a ZeroMQ message of
 * its own and only then checked with rb_consumer_check: a frame overwritten
 * during the copy is dropped (counted `torn`, a seq not published), never
 * sent. The slot goes back to the ring at once, so ZeroMQ never reads the
 * ring (the zero-copy path of the lossless sender would publish whatever
 * the producer wrote over the slot while the message was queued).
 *
 * Joining. The socket is an XPUB (ZMQ_XPUB_VERBOSE): each subscription
 * that arrives is read, and the next message carries the ring parts, so a
 * subscriber that joins begins its far stream at once; the ring parts also
 * go out every PUB_RING_EVERY_NS whatever happens.
 *
 * One thread; every wait is bounded (the ring wait, the end repeats) and
 * ends on SIGINT/SIGTERM.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

#define PUB_BATCH 64u
#define PUB_RING_WAIT_NS 100000000ull
#define PUB_RING_EVERY_NS 100000000ull  /* the ring parts at least this often */
#define PUB_END_REPEAT_NS 100000000ull  /* the end marker again after this */
#define PUB_END_REPEATS 10u             /* ... so many times (1 s) */

struct publisher {
	const struct bridge_options *o;
	struct rb_ring *ring;
	struct rb_consumer *c;
	void *ctx, *sock, *mon;
	char origin[WIRE_ORIGIN_MAX + 1];
	char *header;
	size_t header_cap;
	uint64_t session;
	bool have_first;
	uint64_t first_seq;    /* the seq of the first frame published */
	uint64_t next_seq;     /* the seq after the last one read */
	uint64_t ring_due;     /* next time the ring parts go out */
	struct bridge_events ev;
	struct rb_frame frames[PUB_BATCH];
	const char *end;
	/* counts */
	uint64_t published, bytes, torn, abandoned, send_errors, subscriptions;
	uint64_t first_ns, end_ns;
	struct cli_status status;
	uint64_t shown_ns, shown_bytes;
};

/* Seqs from the first published one up to `seq` that were not published. */
static uint64_t
pub_near_lost(const struct publisher *p, uint64_t seq)
{
	if (!p->have_first || seq < p->first_seq + p->published)
		return 0;
	return seq - p->first_seq - p->published;
}

/*
 * Publishes one message: descriptor, the ring parts when `ring` (the near
 * ring's frame type and current stream header), and the payload (`msg`,
 * taken over; NULL: an empty one). Returns 0 or -errno.
 */
static int
pub_send(struct publisher *p, const struct wire_pub *d, zmq_msg_t *msg)
{
	uint8_t head[WIRE_HEAD_BYTES], desc[WIRE_PUB_BYTES], info[WIRE_HELLO_BYTES];
	int rc = 0;

	wire_put_head(head, WIRE_PUB);
	wire_put_pub(desc, d);
	/* A PUB socket never blocks: the parts of a message are all taken
	 * or all dropped for a subscriber whose queue is full. */
	if (zmq_send(p->sock, head, sizeof(head), ZMQ_SNDMORE) < 0 ||
	    zmq_send(p->sock, desc, sizeof(desc), ZMQ_SNDMORE) < 0)
		rc = -zmq_errno();
	if (rc == 0 && (d->pub_flags & WIRE_PUB_RING)) {
		struct wire_hello h = {0};
		int len = rb_consumer_stream_header(p->c, p->header, p->header_cap, NULL);

		h.session = p->session;
		h.first_seq = d->seq;
		h.frame_bytes = rb_ring_frame_bytes(p->ring);
		h.type = *rb_ring_frame_type(p->ring);
		h.near_created_ns = rb_ring_created_ns(p->ring);
		h.flags = WIRE_HELLO_LOSSY | WIRE_HELLO_STREAM_OPEN;
		h.slot_count = rb_ring_slot_count(p->ring);
		wire_put_hello(info, &h);
		if (zmq_send(p->sock, info, sizeof(info), ZMQ_SNDMORE) < 0 ||
		    zmq_send(p->sock, p->header, len > 0 ? (size_t)len : 0, ZMQ_SNDMORE) < 0 ||
		    zmq_send(p->sock, p->origin, strlen(p->origin), ZMQ_SNDMORE) < 0)
			rc = -zmq_errno();
	}
	if (rc == 0) {
		if (msg != NULL) {
			if (zmq_msg_send(msg, p->sock, 0) < 0)
				rc = -zmq_errno();
		} else if (zmq_send(p->sock, "", 0, 0) < 0) {
			rc = -zmq_errno();
		}
	}
	if (msg != NULL && rc != 0)
		zmq_msg_close(msg);
	if (rc != 0)
		p->send_errors++;
	return rc;
}

/* Copies, checks and publishes one frame. */
static void
pub_frame(struct publisher *p, const struct rb_frame *f, uint64_t now)
{
	struct wire_pub d = {0};
	zmq_msg_t msg;

	if (f->flags & RB_FRAME_ABANDONED) {
		p->abandoned++; /* nothing to carry: a seq not published */
		return;
	}
	if (zmq_msg_init_size(&msg, f->length) != 0) {
		p->send_errors++;
		return;
	}
	memcpy(zmq_msg_data(&msg), f->data, f->length);
	if (rb_consumer_check(p->c, f) != 0) {
		/* Overwritten while copied: the copy proves nothing. */
		zmq_msg_close(&msg);
		p->torn++;
		return;
	}
	if (!p->have_first) {
		p->have_first = true;
		p->first_seq = f->seq;
	}
	d.session = p->session;
	d.seq = f->seq;
	d.index = p->published;
	d.length = f->length;
	d.timestamp_ns = f->timestamp_ns;
	d.flags = f->flags & ~(uint32_t)RB_FRAME_EOS;
	d.near_lost = pub_near_lost(p, f->seq);
	if ((d.flags & RB_FRAME_STREAM_START) || d.index == 0 || now >= p->ring_due) {
		d.pub_flags = WIRE_PUB_RING;
		p->ring_due = now + PUB_RING_EVERY_NS;
	}
	if (pub_send(p, &d, &msg) != 0)
		return;
	p->published++;
	p->bytes += f->length;
	if (p->first_ns == 0)
		p->first_ns = now;
}

/* Reads the subscriptions that came (XPUB): a new subscriber needs the
 * ring parts, so the next message carries them. */
static void
pub_subscriptions(struct publisher *p, uint64_t now)
{
	zmq_msg_t msg;

	for (;;) {
		zmq_msg_init(&msg);
		if (zmq_msg_recv(&msg, p->sock, ZMQ_DONTWAIT) < 0) {
			zmq_msg_close(&msg);
			return;
		}
		/* 1 then the topic: a subscription; 0: one going away. */
		if (zmq_msg_size(&msg) >= 1 && ((const uint8_t *)zmq_msg_data(&msg))[0] == 1) {
			p->subscriptions++;
			p->ring_due = now;
		}
		zmq_msg_close(&msg);
	}
}

/* The end, published PUB_END_REPEATS times, PUB_END_REPEAT_NS apart, so
 * that a subscriber whose queue was full at the first one still sees it
 * (it ignores the repeats). */
static void
pub_end(struct publisher *p, uint64_t marker_seq)
{
	struct wire_pub d = {0};

	d.session = p->session;
	d.seq = marker_seq;
	d.index = p->published;
	d.flags = RB_FRAME_EOS;
	d.near_lost = pub_near_lost(p, marker_seq);
	for (unsigned i = 0; i < PUB_END_REPEATS; i++) {
		pub_send(p, &d, NULL);
		if (i + 1 < PUB_END_REPEATS && cli_sleep_for(PUB_END_REPEAT_NS) != 0)
			break; /* a second signal: go now */
	}
}

static void
pub_show(struct publisher *p, uint64_t now)
{
	char rate[32];
	double dt = (double)(now - p->shown_ns) / 1e9;
	double bps = dt > 0 ? (double)(p->bytes - p->shown_bytes) / dt : 0;
	struct rb_consumer_stats st;

	rb_consumer_get_stats(p->c, &st);
	cli_status_print(&p->status, "%" PRIu64 " frames published  %s  lost %" PRIu64
			 "  torn %" PRIu64, p->published,
			 cli_format_si(rate, sizeof(rate), bps, "B/s"), st.lost, p->torn);
	p->shown_ns = now;
	p->shown_bytes = p->bytes;
}

static int
pub_loop(struct publisher *p)
{
	uint64_t now = cli_now_ns(), stop_at = 0;
	struct rb_ring_status rs;
	int got, rc;

	p->shown_ns = now;
	if (p->o->duration_ns)
		stop_at = now + p->o->duration_ns;
	for (;;) {
		now = cli_now_ns();
		if (cli_stop || (stop_at && now >= stop_at) ||
		    (p->o->count && p->published >= p->o->count)) {
			p->end = cli_stop ? "signal" : stop_at && now >= stop_at ? "duration" : "count";
			/* The far streams end with ours: the seq after the
			 * last one read stands for the marker. */
			pub_end(p, p->next_seq);
			return CLI_EXIT_OK;
		}
		if (cli_status_due(&p->status, now))
			pub_show(p, now);
		if (p->mon != NULL)
			bridge_monitor_drain(p->mon, &p->ev);
		pub_subscriptions(p, now);
		got = rb_consumer_acquire_batch(p->c, p->frames, PUB_BATCH, 1, PUB_RING_WAIT_NS);
		if (got == -ETIMEDOUT || got == -EAGAIN || got == -EINTR || got == 0)
			continue;
		if (got == RB_E_EOS) {
			rb_ring_get_status(p->ring, &rs);
			pub_end(p, rs.eos_seq - 1);
			p->end = "eos";
			return CLI_EXIT_OK;
		}
		if (got == RB_E_PRODUCER_DEAD) {
			p->end = "producer_dead";
			pub_end(p, p->next_seq);
			return CLI_EXIT_FAIL;
		}
		if (got < 0) {
			if (cli_ring_lost(p->ring, p->o->ring)) {
				p->end = "truncated";
				return CLI_EXIT_FAIL;
			}
			cli_error("ring '%s': %s", p->o->ring, rb_strerror(got));
			p->end = "error";
			return CLI_EXIT_FAIL;
		}
		for (int i = 0; i < got; i++) {
			p->next_seq = p->frames[i].seq + 1;
			if (p->o->count && p->published >= p->o->count)
				continue;
			pub_frame(p, &p->frames[i], now);
		}
		/* Overruns while held were dropped above (rb_consumer_check)
		 * and are counted lost by the library here. */
		rc = rb_consumer_release_batch(p->c, p->frames, (uint32_t)got);
		if (rc < 0 && rc != RB_E_OVERRUN) {
			cli_error("ring '%s': releasing frames: %s", p->o->ring, rb_strerror(rc));
			p->end = "error";
			return CLI_EXIT_FAIL;
		}
	}
}

static void
pub_summary(struct publisher *p, int status)
{
	double secs = p->first_ns ? (double)(p->end_ns - p->first_ns) / 1e9 : 0;
	struct rb_consumer_stats st;
	char head[CLI_SUMMARY_HEAD_MAX];

	rb_consumer_get_stats(p->c, &st);
	cli_status_clear(&p->status);
	if (p->o->json) {
		struct cli_json j;

		cli_json_begin(&j, stdout);
		cli_json_string(&j, "program", "rb-bridge send");
		cli_json_string(&j, "ring", p->o->ring);
		cli_json_string(&j, "endpoint", p->o->endpoint);
		cli_json_bool(&j, "pub", true);
		cli_json_bool(&j, "lossy", true);
		cli_json_totals(&j, p->published, p->bytes, secs);
		cli_json_u64(&j, "published", p->published);
		cli_json_u64(&j, "lost", st.lost);
		cli_json_u64(&j, "torn", p->torn);
		cli_json_u64(&j, "abandoned", p->abandoned);
		cli_json_u64(&j, "send_errors", p->send_errors);
		cli_json_u64(&j, "connections", p->ev.connections);
		cli_json_u64(&j, "subscriptions", p->subscriptions);
		cli_json_double(&j, "cpu_seconds", bridge_cpu_seconds());
		cli_json_end_reason(&j, p->end);
		cli_json_end(&j);
	}
	cli_summary_head(head, sizeof(head), p->o->ring, "published", p->published,
			 p->bytes, secs);
	fprintf(p->o->json ? stderr : stdout,
		"%s on %s: %" PRIu64 " lost (%" PRIu64 " of them torn); %s%s\n", head,
		p->o->endpoint, st.lost, p->torn, cli_end_text(p->end),
		status == 0 ? "" : " (failed)");
}

static int
pub_setup(struct publisher *p)
{
	const struct bridge_options *o = p->o;
	struct rb_consumer_options co = {0};
	char host[128] = "localhost";
	int rc;

	if ((rc = bridge_open_near(o, &p->ring)) != 0)
		return rc;
	co.lossy = true;
	co.start = o->start;
	co.label = o->label;
	co.cancel = &cli_stop;
	rc = rb_consumer_attach(p->ring, &co, &p->c);
	if (rc != 0) {
		cli_error("ring '%s': attaching: %s", o->ring, rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	p->header_cap = rb_ring_stream_header_capacity(p->ring) + 1;
	p->header = malloc(p->header_cap);
	if (p->header == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(p->origin, sizeof(p->origin), "%s:%s", host, o->ring);
	p->session = bridge_new_session();
	p->ctx = zmq_ctx_new();
	if (p->ctx == NULL) {
		cli_error("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
		return CLI_EXIT_FAIL;
	}
	p->sock = bridge_socket(p->ctx, ZMQ_XPUB, o, false);
	if (p->sock == NULL)
		return CLI_EXIT_FAIL;
	p->mon = bridge_monitor(p->ctx, p->sock, "pub");
	return p->mon == NULL ? CLI_EXIT_FAIL : 0;
}

int
bridge_publish(const struct bridge_options *o)
{
	struct publisher p = {0};
	int status;

	p.o = o;
	p.end = "error";
	cli_status_init(&p.status, stderr);
	status = pub_setup(&p);
	if (status == 0) {
		status = pub_loop(&p);
		p.end_ns = cli_now_ns();
		pub_summary(&p, status);
	}
	if (p.mon != NULL)
		zmq_close(p.mon);
	if (p.sock != NULL)
		zmq_close(p.sock);
	if (p.ctx != NULL)
		zmq_ctx_term(p.ctx);
	if (p.c != NULL)
		rb_consumer_detach(p.c);
	if (p.ring != NULL)
		rb_ring_close(p.ring);
	free(p.header);
	return status;
}
