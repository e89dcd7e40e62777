/*
 * rb-bridge recv: the producer of the far ring. It answers one sender at a
 * time (one session: a routing id and a session id), commits each DATA
 * that follows the last thing it committed, and acknowledges
 * (docs/BRIDGE.md, "The protocol").
 *
 * The far ring and its journal are set up at the first HELLO, since only
 * the sender knows the frame type and size. Every commit is bracketed by
 * journal_intent/journal_done so that a restarted receiver knows exactly
 * which near seq the far ring ends with.
 *
 * Copies: the payload arrives in a ZeroMQ message and is copied once, into
 * the far slot (the one copy of the path; the sender sends from its slot).
 *
 * --sub: a subscriber of an rb-bridge send --pub. No session, no ACK, no
 * journal: it commits what arrives and counts what did not from the gaps
 * in the publication's `index` (docs/BRIDGE.md, "Fan-out"). It begins its
 * far stream at the first message that carries the ring parts (the frame
 * type and the stream header); what came before is counted lost.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"
#include "journal.h"

#define RECV_POLL_MS 100
#define RECV_RESET_EVERY_NS 100000000ull
#define RECV_ACK_EVERY 64u
#define RECV_WAIT_SLICE_NS 100000000ull
#define RECV_ROUTING_MAX 256
#define RECV_END_TIMEOUT_NS 2000000000ull

struct receiver {
	const struct bridge_options *o;
	void *ctx, *sock, *mon, *zap;
	struct rb_ring *ring;
	struct rb_producer *prod;
	struct journal j;
	bool created;          /* this process created the far ring */
	bool ours;             /* a bridge ring of this origin: removed at exit */
	bool far_open;         /* we have a far stream open */
	/* the session */
	bool have_session;
	uint64_t session;
	uint8_t rid[RECV_ROUTING_MAX];
	size_t rid_len;
	struct wire_hello hello;
	char *header;          /* the session's stream header text */
	size_t header_len;
	char origin[WIRE_ORIGIN_MAX + 1];
	uint64_t last;         /* near seq of the last commit (WIRE_NONE: none) */
	uint64_t resumed_after;
	uint64_t session_count;
	uint32_t unacked;      /* commits not acknowledged yet */
	bool ack_due;
	uint64_t echo_ns;
	bool nacked;
	uint32_t nacked_epoch;
	uint64_t reset_at;
	bool ended;            /* end of stream or BYE: about to exit */
	bool fatal;            /* --sub: the far ring cannot take the frames */
	bool bye;              /* the sender said BYE */
	uint64_t close_at;     /* exit by then even without a BYE */
	const char *end;
	/* counts */
	uint64_t frames, bytes, markers, dups, breaks, nacks, resets, sessions;
	uint64_t bad, lost, others, abandoned, refusals;
	/* --sub */
	bool session_done;     /* its end marker came: repeats are ignored */
	uint64_t next_index;   /* the index the next PUB should have */
	uint64_t near_lost;    /* the publisher's near_lost so far */
	uint64_t published;    /* frames published, as far as we know */
	uint64_t upstream;     /* seqs the publisher did not publish */
	uint64_t waiting;      /* frames passed over waiting for the ring parts */
	uint64_t pending_dropped; /* for the next far frame's `dropped` */
	struct bridge_events ev;
	uint64_t zap_refused;
	uint64_t first_ns, end_ns;
	struct cli_status status;
	uint64_t shown_ns, shown_bytes;
};

static int
recv_send(struct receiver *r, const uint8_t *rid, size_t rid_len,
	  enum wire_type type, const void *body, size_t size, const char *text)
{
	uint8_t head[WIRE_HEAD_BYTES];
	struct wire_part parts[4] = {
		{rid, rid_len}, {head, sizeof(head)}, {body, size},
		{text, text != NULL ? strlen(text) : 0},
	};

	wire_put_head(head, type);
	return bridge_send_parts(r->sock, parts, text != NULL ? 4 : 3, ZMQ_DONTWAIT);
}

static void
recv_refuse(struct receiver *r, const uint8_t *rid, size_t rid_len, uint64_t session,
	    const char *fmt, ...) CLI_PRINTF(5, 6);

static void
recv_refuse(struct receiver *r, const uint8_t *rid, size_t rid_len, uint64_t session,
	    const char *fmt, ...)
{
	char reason[WIRE_REASON_MAX + 1];
	uint8_t body[WIRE_SESSION_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	if (reason[0] == '\0')
		snprintf(reason, sizeof(reason), "refused");
	cli_status_clear(&r->status);
	r->refusals++;
	if (r->o->sub) {
		/* Nobody to tell: the subscriber cannot go on. */
		cli_error("%s", reason);
		r->fatal = true;
		return;
	}
	wire_put_session(body, session);
	recv_send(r, rid, rid_len, WIRE_REFUSE, body, sizeof(body), reason);
	cli_error("refused a sender: %s", reason);
}

static void
recv_ack(struct receiver *r)
{
	struct wire_ack a = {r->session, r->last, r->echo_ns, r->frames};
	uint8_t body[WIRE_ACK_BYTES];

	wire_put_ack(body, &a);
	recv_send(r, r->rid, r->rid_len, WIRE_ACK, body, sizeof(body), NULL);
	r->unacked = 0;
	r->ack_due = false;
}

/* The far ring's geometry must take the near frames. NULL if it does,
 * else why not (into buf). */
static const char *
recv_incompatible(struct receiver *r, const struct wire_hello *h, char *buf, size_t size)
{
	const struct rb_frame_type *t = rb_ring_frame_type(r->ring);
	char a[64], b[64];

	if (t->elem != h->type.elem || t->ndim != h->type.ndim ||
	    memcmp(t->dims, h->type.dims, sizeof(t->dims)) != 0) {
		cli_format_shape(a, sizeof(a), t->dims, t->ndim);
		cli_format_shape(b, sizeof(b), h->type.dims, h->type.ndim);
		snprintf(buf, size, "far ring '%s' holds %s %s frames, the near ring %s %s",
			 r->o->ring, rb_elem_name(t->elem) ? rb_elem_name(t->elem) : "?",
			 t->ndim ? a : "bytes", rb_elem_name(h->type.elem) ?
			 rb_elem_name(h->type.elem) : "?", h->type.ndim ? b : "bytes");
		return buf;
	}
	if (rb_ring_frame_bytes(r->ring) < h->frame_bytes) {
		snprintf(buf, size, "far ring '%s' has %" PRIu64 "-byte slots, the near "
			 "frames are %" PRIu64 " bytes", r->o->ring,
			 rb_ring_frame_bytes(r->ring), h->frame_bytes);
		return buf;
	}
	return NULL;
}

/* Opens or creates the far ring for this HELLO. 0, or -1 after refusing. */
static int
recv_far_ring(struct receiver *r, const struct wire_hello *h, size_t header_len,
	      const uint8_t *rid, size_t rid_len)
{
	struct rb_ring_config cfg = {0};
	char why[WIRE_REASON_MAX + 1];
	bool existed;
	int rc = -ENOENT;

	if (r->ring == NULL && r->o->attach)
		rc = cli_ring_open(r->o->ring, &r->ring);
	if (r->ring == NULL && rc == -ENOENT) {
		uint64_t hb = header_len + 4096;

		cfg.frame_bytes = h->frame_bytes;
		cfg.slot_count = r->o->slots ? r->o->slots : h->slot_count;
		if (cfg.slot_count < 2)
			cfg.slot_count = 2;
		cfg.flags = RB_CREATE_ROUND_UP;
		cfg.type = h->type;
		cfg.initial_seq = h->first_seq;
		cfg.stream_header_bytes = hb < 16384 ? 16384 : (uint32_t)((hb + 4095) & ~4095ull);
		rc = rb_ring_create(r->o->ring, &cfg, &r->ring);
		r->created = rc == 0;
	}
	if (rc != 0 && r->ring == NULL) {
		recv_refuse(r, rid, rid_len, h->session, "far ring '%s': %s", r->o->ring,
			    cli_ring_error(r->o->ring, rc));
		return -1;
	}
	if (recv_incompatible(r, h, why, sizeof(why)) != NULL) {
		recv_refuse(r, rid, rid_len, h->session, "%s", why);
		return -1;
	}
	if (r->prod == NULL) {
		rc = rb_producer_attach(r->ring, NULL, &r->prod);
		if (rc != 0) {
			recv_refuse(r, rid, rid_len, h->session, "far ring '%s': attaching "
				    "as its producer: %s", r->o->ring, rb_strerror(rc));
			return -1;
		}
		rc = r->o->sub ? 0 : journal_open(r->o->ring, r->created, &existed, &r->j);
		if (rc != 0) {
			recv_refuse(r, rid, rid_len, h->session, "far ring '%s': journal: %s",
				    r->o->ring, strerror(-rc));
			return -1;
		}
	}
	return 0;
}

static void
recv_hello(struct receiver *r, const struct bridge_msg *m, const uint8_t *rid, size_t rid_len)
{
	const struct wire_hello *h = &m->u.hello;
	struct wire_welcome w = {0};
	struct rb_ring_status rs;
	uint8_t body[WIRE_WELCOME_BYTES];
	char *copy;

	if (recv_far_ring(r, h, m->text.size, rid, rid_len) != 0)
		return;
	if (journal_origin(&r->j)[0] == '\0') {
		journal_reset(&r->j, m->origin.data, m->origin.size, h->near_created_ns);
		w.flags = r->created ? WIRE_WELCOME_CREATED : 0;
		r->last = WIRE_NONE;
	} else if (!journal_matches(&r->j, m->origin.data, m->origin.size,
				    h->near_created_ns)) {
		recv_refuse(r, rid, rid_len, h->session, "far ring '%s' is fed from %s "
			    "(another ring, or that ring made again): remove it or use "
			    "another name", r->o->ring, journal_origin(&r->j));
		return;
	} else {
		rb_ring_get_status(r->ring, &rs);
		r->last = journal_resume(&r->j, rs.write_seq);
	}
	r->ours = r->created || journal_origin(&r->j)[0] != '\0';
	copy = malloc(m->text.size + 1);
	if (copy == NULL)
		return;
	memcpy(copy, m->text.data, m->text.size);
	copy[m->text.size] = '\0';
	free(r->header);
	r->header = copy;
	r->header_len = m->text.size;
	snprintf(r->origin, sizeof(r->origin), "%.*s", (int)m->origin.size,
		 (const char *)m->origin.data);
	if (!r->have_session || r->session != h->session)
		r->sessions++;
	r->have_session = true;
	r->session = h->session;
	r->hello = *h;
	memcpy(r->rid, rid, rid_len);
	r->rid_len = rid_len;
	r->resumed_after = r->last;
	r->nacked = false;
	r->unacked = 0;
	w.session = h->session;
	w.resume_after = r->last;
	wire_put_welcome(body, &w);
	recv_send(r, rid, rid_len, WIRE_WELCOME, body, sizeof(body), NULL);
}

/* Begins a far stream with the near header and the origin line. */
static int
recv_begin(struct receiver *r, const char *text, size_t len)
{
	size_t size = len + strlen(r->origin) + 32;
	char *h = malloc(size);
	int rc;

	if (h == NULL)
		return -ENOMEM;
	snprintf(h, size, "%.*s%sbridge_origin=%s\n", (int)len, text,
		 len > 0 && text[len - 1] != '\n' ? "\n" : "", r->origin);
	rc = rb_producer_begin_stream(r->prod, h);
	free(h);
	if (rc == 0)
		r->far_open = true;
	return rc;
}

/* Waits for a far slot, in slices, until cli_stop. */
static int
recv_acquire(struct receiver *r, struct rb_frame *f)
{
	int rc;

	do
		rc = rb_producer_acquire(r->prod, f, RECV_WAIT_SLICE_NS);
	while (rc == -ETIMEDOUT && !cli_stop);
	return rc;
}

/* Commits one DATA that follows the chain. 0, or an exit status. */
static int
recv_commit(struct receiver *r, const struct bridge_msg *m)
{
	const struct wire_data *d = &m->u.data;
	struct rb_frame f;
	uint64_t far;
	int rc;

	if (d->prev != WIRE_NONE && d->seq > d->prev + 1) {
		if (r->hello.flags & WIRE_HELLO_GROUP)
			r->others += d->seq - d->prev - 1;
		else
			r->lost += d->seq - d->prev - 1;
	}
	if (d->flags & RB_FRAME_EOS) {
		far = rb_producer_next_seq(r->prod);
		journal_intent(&r->j, d->seq, far);
		rc = rb_producer_end_stream(r->prod, RECV_END_TIMEOUT_NS);
		if (rc != 0 && rc != -ETIMEDOUT) {
			cli_error("far ring '%s': ending the stream: %s", r->o->ring,
				  rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
		journal_done(&r->j, d->seq, far);
		r->far_open = false;
		r->markers++;
		r->ended = true;
		r->end = "eos";
	} else if (d->flags & RB_FRAME_ABANDONED) {
		/* A dead near producer's placeholder: nothing to carry, and the
		 * library takes no such commit. Passed over, counted. */
		r->abandoned++;
	} else {
		if (!r->far_open || (d->flags & RB_FRAME_STREAM_START)) {
			rc = m->has_text ? recv_begin(r, m->text.data, m->text.size)
					 : recv_begin(r, r->header, r->header_len);
			if (rc != 0) {
				cli_error("far ring '%s': beginning a stream: %s", r->o->ring,
					  rb_strerror(rc));
				r->end = "error";
				return CLI_EXIT_FAIL;
			}
		}
		rc = recv_acquire(r, &f);
		if (rc == -ETIMEDOUT && cli_stop)
			return 0; /* not committed: the sender keeps it */
		if (rc != 0) {
			cli_error("far ring '%s': %s", r->o->ring, rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
		memcpy(f.data, m->payload.data, d->length);
		f.length = d->length;
		f.timestamp_ns = d->timestamp_ns;
		f.flags = d->flags & ~(RB_FRAME_STREAM_START | RB_FRAME_EOS | RB_FRAME_ABANDONED);
		journal_intent(&r->j, d->seq, f.seq);
		rc = rb_producer_commit(r->prod, &f);
		if (rc != 0) {
			cli_error("far ring '%s': commit: %s", r->o->ring, rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
		journal_done(&r->j, d->seq, f.seq);
		r->frames++;
		r->bytes += d->length;
		if (r->first_ns == 0)
			r->first_ns = cli_now_ns();
	}
	r->last = d->seq;
	r->echo_ns = d->sent_ns;
	r->unacked++;
	return 0;
}

static int
recv_data(struct receiver *r, const struct bridge_msg *m, const uint8_t *rid, size_t rid_len)
{
	const struct wire_data *d = &m->u.data;
	uint64_t now;

	if (!r->have_session || d->session != r->session || rid_len != r->rid_len ||
	    memcmp(rid, r->rid, rid_len) != 0) {
		/* A sender we have no session with (we restarted, or it
		 * reconnected): tell it to say HELLO, now and then. */
		now = cli_now_ns();
		if (now - r->reset_at >= RECV_RESET_EVERY_NS) {
			uint8_t body[WIRE_SESSION_BYTES];

			wire_put_session(body, d->session);
			recv_send(r, rid, rid_len, WIRE_RESET, body, sizeof(body), NULL);
			r->reset_at = now;
			r->resets++;
		}
		return 0;
	}
	switch (bridge_chain_judge(r->last, d)) {
	case CHAIN_COMMIT:
		return recv_commit(r, m);
	case CHAIN_DUPLICATE:
		r->dups++;
		r->ack_due = true;
		return 0;
	case CHAIN_BROKEN:
		r->breaks++;
		if (!r->nacked || d->epoch > r->nacked_epoch) {
			struct wire_nack n = {r->session, r->last, d->epoch};
			uint8_t body[WIRE_NACK_BYTES];

			wire_put_nack(body, &n);
			recv_send(r, r->rid, r->rid_len, WIRE_NACK, body, sizeof(body), NULL);
			r->nacked = true;
			r->nacked_epoch = d->epoch;
			r->nacks++;
		}
		return 0;
	}
	return 0;
}

/* --sub: a publisher session we have not followed yet. */
static void
recv_pub_session(struct receiver *r, uint64_t session)
{
	if (r->have_session && r->far_open) {
		/* The one we followed went without its end reaching us. */
		(void)rb_producer_end_stream(r->prod, RECV_END_TIMEOUT_NS);
		r->far_open = false;
	}
	r->have_session = true;
	r->session = session;
	r->sessions++;
	r->session_done = false;
	r->next_index = 0;
	r->near_lost = 0;
}

/* --sub: the end of the published stream. */
static int
recv_pub_end(struct receiver *r, const struct wire_pub *d)
{
	int rc;

	r->lost += d->index - r->next_index;
	r->upstream += d->near_lost - r->near_lost;
	r->pending_dropped += d->index - r->next_index + d->near_lost - r->near_lost;
	r->published += d->index - r->next_index;
	r->next_index = d->index;
	r->near_lost = d->near_lost;
	r->session_done = true;
	r->markers++;
	if (r->prod != NULL) {
		/* The marker carries the drops after the last frame. */
		rb_producer_count_dropped(r->prod, r->pending_dropped);
		r->pending_dropped = 0;
		rc = rb_producer_end_stream(r->prod, RECV_END_TIMEOUT_NS);
		if (rc != 0 && rc != -ETIMEDOUT) {
			cli_error("far ring '%s': ending the stream: %s", r->o->ring,
				  rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
	}
	r->far_open = false;
	r->ended = true;
	r->bye = true; /* no ACK to flush: close at once */
	r->end = "eos";
	return 0;
}

/* --sub: one PUB. 0, or an exit status. */
static int
recv_pub(struct receiver *r, const struct bridge_msg *m)
{
	const struct wire_pub *d = &m->u.pub;
	struct rb_frame f;
	int rc;

	if (!r->have_session || d->session != r->session)
		recv_pub_session(r, d->session);
	if (r->session_done || d->index < r->next_index ||
	    d->near_lost < r->near_lost) {
		r->dups++; /* the end marker again (or a stale message) */
		return 0;
	}
	if (d->flags & RB_FRAME_EOS)
		return recv_pub_end(r, d);
	/* Published and not here; not published (the publisher's losses). */
	r->lost += d->index - r->next_index;
	r->upstream += d->near_lost - r->near_lost;
	r->pending_dropped += d->index - r->next_index + d->near_lost - r->near_lost;
	r->published += d->index - r->next_index + 1;
	r->next_index = d->index + 1;
	r->near_lost = d->near_lost;
	if (!r->far_open && !(d->pub_flags & WIRE_PUB_RING)) {
		/* No stream header yet: the far stream cannot begin. */
		r->lost++;
		r->waiting++;
		r->pending_dropped++;
		return 0;
	}
	if (d->pub_flags & WIRE_PUB_RING) {
		if (recv_far_ring(r, &m->ring, m->text.size, NULL, 0) != 0) {
			r->end = "refused";
			return CLI_EXIT_FAIL;
		}
		snprintf(r->origin, sizeof(r->origin), "%.*s", (int)m->origin.size,
			 (const char *)m->origin.data);
		r->ours = r->created;
	}
	if (!r->far_open || (d->flags & RB_FRAME_STREAM_START)) {
		if ((rc = recv_begin(r, m->text.data, m->text.size)) != 0) {
			cli_error("far ring '%s': beginning a stream: %s", r->o->ring,
				  rb_strerror(rc));
			r->end = "error";
			return CLI_EXIT_FAIL;
		}
	}
	rc = recv_acquire(r, &f);
	if (rc == -ETIMEDOUT && cli_stop) {
		r->lost++; /* stopped while waiting for a far slot */
		r->pending_dropped++;
		return 0;
	}
	if (rc != 0) {
		cli_error("far ring '%s': %s", r->o->ring, rb_strerror(rc));
		r->end = "error";
		return CLI_EXIT_FAIL;
	}
	memcpy(f.data, m->payload.data, d->length);
	f.length = d->length;
	f.timestamp_ns = d->timestamp_ns;
	f.flags = d->flags & ~(RB_FRAME_STREAM_START | RB_FRAME_EOS | RB_FRAME_ABANDONED);
	if (r->pending_dropped > 0) {
		/* The far ring's consumers see the gap as frames dropped at
		 * its producer (dropped_at_producer). */
		rb_producer_count_dropped(r->prod, r->pending_dropped);
		r->pending_dropped = 0;
	}
	if ((rc = rb_producer_commit(r->prod, &f)) != 0) {
		cli_error("far ring '%s': commit: %s", r->o->ring, rb_strerror(rc));
		r->end = "error";
		return CLI_EXIT_FAIL;
	}
	r->frames++;
	r->bytes += d->length;
	if (r->first_ns == 0)
		r->first_ns = cli_now_ns();
	return 0;
}

/* --sub: reads every waiting message. 0, or an exit status. */
static int
recv_read_sub(struct receiver *r)
{
	zmq_msg_t msgs[WIRE_PARTS_MAX];
	struct wire_part parts[WIRE_PARTS_MAX];
	struct bridge_msg m;
	bool too_many;
	int n, rc = 0;

	while (rc == 0 && !r->ended &&
	       (n = bridge_recv_parts(r->sock, msgs, WIRE_PARTS_MAX, &too_many)) > 0) {
		uint64_t limit = r->ring != NULL ? rb_ring_frame_bytes(r->ring) : WIRE_FRAME_BYTES_MAX;

		for (int i = 0; i < n; i++) {
			parts[i].data = zmq_msg_data(&msgs[i]);
			parts[i].size = zmq_msg_size(&msgs[i]);
		}
		if (too_many || bridge_msg_parse(parts, (unsigned)n, limit, &m) != 0 ||
		    m.type != WIRE_PUB)
			r->bad++;
		else
			rc = recv_pub(r, &m);
		bridge_parts_close(msgs, (unsigned)n);
		if (rc == 0 && r->fatal) {
			r->end = "refused";
			rc = CLI_EXIT_FAIL;
		}
	}
	return rc;
}

/* Reads every waiting message. 0, or an exit status. */
static int
recv_read(struct receiver *r)
{
	zmq_msg_t msgs[WIRE_PARTS_MAX + 1];
	struct wire_part parts[WIRE_PARTS_MAX];
	struct bridge_msg m;
	bool too_many;
	int n, rc = 0;

	while (rc == 0 && !r->bye &&
	       (n = bridge_recv_parts(r->sock, msgs, WIRE_PARTS_MAX + 1, &too_many)) > 0) {
		const uint8_t *rid = zmq_msg_data(&msgs[0]);
		size_t rid_len = zmq_msg_size(&msgs[0]);
		uint64_t limit = r->ring != NULL ? rb_ring_frame_bytes(r->ring) : WIRE_FRAME_BYTES_MAX;

		for (int i = 1; i < n; i++) {
			parts[i - 1].data = zmq_msg_data(&msgs[i]);
			parts[i - 1].size = zmq_msg_size(&msgs[i]);
		}
		if (too_many || n < 2 || rid_len > RECV_ROUTING_MAX ||
		    bridge_msg_parse(parts, (unsigned)n - 1, limit, &m) != 0) {
			r->bad++;
			bridge_parts_close(msgs, (unsigned)n);
			continue;
		}
		switch (m.type) {
		case WIRE_HELLO:
			recv_hello(r, &m, rid, rid_len);
			break;
		case WIRE_DATA:
			rc = recv_data(r, &m, rid, rid_len);
			if (r->unacked >= RECV_ACK_EVERY)
				recv_ack(r);
			break;
		case WIRE_BYE:
			if (r->have_session && m.u.session == r->session) {
				if (!r->ended)
					r->end = "bye";
				r->ended = true;
				r->bye = true;
			}
			break;
		default:
			r->bad++; /* a sender's message type sent to us */
			break;
		}
		bridge_parts_close(msgs, (unsigned)n);
	}
	if (r->have_session && (r->unacked > 0 || r->ack_due))
		recv_ack(r);
	return rc;
}

static void
recv_show(struct receiver *r, uint64_t now)
{
	char rate[32];
	double dt = (double)(now - r->shown_ns) / 1e9;
	double bps = dt > 0 ? (double)(r->bytes - r->shown_bytes) / dt : 0;

	cli_status_print(&r->status,
			 "%" PRIu64 " frames  %s  duplicates %" PRIu64 "  chain breaks %" PRIu64
			 "  bad %" PRIu64 "  refused %" PRIu64 "%s",
			 r->frames, cli_format_si(rate, sizeof(rate), bps, "B/s"), r->dups,
			 r->breaks, r->bad + bridge_events_garbage(&r->ev), r->ev.refused,
			 r->have_session ? "" : "  (waiting for a sender)");
	r->shown_ns = now;
	r->shown_bytes = r->bytes;
}

static int
recv_loop(struct receiver *r)
{
	uint64_t now = cli_now_ns(), stop_at = 0;
	int rc;

	r->shown_ns = now;
	if (r->o->duration_ns)
		stop_at = now + r->o->duration_ns;
	for (;;) {
		zmq_pollitem_t items[3] = {
			{r->sock, 0, ZMQ_POLLIN, 0},
			{r->mon, 0, ZMQ_POLLIN, 0},
			{r->zap, 0, ZMQ_POLLIN, 0},
		};

		if (cli_stop) {
			r->end = "signal";
			return CLI_EXIT_OK;
		}
		now = cli_now_ns();
		if (stop_at && now >= stop_at) {
			r->end = "duration";
			return CLI_EXIT_OK;
		}
		/* After the end, wait (bounded) for the sender's BYE: closing
		 * at once could drop our last ACK with the connection. */
		if (r->ended && r->close_at == 0)
			r->close_at = now + RECV_END_TIMEOUT_NS;
		if (r->ended && (r->bye || now >= r->close_at)) {
			if (strcmp(r->end, "error") == 0)
				r->end = "eos";
			if (!r->o->keep_going)
				return CLI_EXIT_OK;
			r->ended = r->bye = false;
			r->close_at = 0;
			r->have_session = false;
		}
		if (cli_status_due(&r->status, now))
			recv_show(r, now);
		zmq_poll(items, r->zap != NULL ? 3 : 2, RECV_POLL_MS);
		if (r->zap != NULL)
			bridge_zap_serve(r->zap, r->o->curve.peer_key, &r->zap_refused);
		bridge_monitor_drain(r->mon, &r->ev);
		if ((rc = r->o->sub ? recv_read_sub(r) : recv_read(r)) != 0)
			return rc;
	}
}

static void
recv_summary(struct receiver *r, int status)
{
	double secs = r->first_ns ? (double)(r->end_ns - r->first_ns) / 1e9 : 0;
	char head[CLI_SUMMARY_HEAD_MAX];

	cli_status_clear(&r->status);
	if (r->o->json) {
		struct cli_json j;

		cli_json_begin(&j, stdout);
		cli_json_string(&j, "program", "rb-bridge recv");
		cli_json_string(&j, "ring", r->o->ring);
		cli_json_string(&j, "endpoint", r->o->endpoint);
		cli_json_string(&j, "origin", r->origin);
		cli_json_bool(&j, "sub", r->o->sub);
		cli_json_totals(&j, r->frames, r->bytes, secs);
		cli_json_u64(&j, "markers", r->markers);
		cli_json_u64(&j, "duplicates", r->dups);
		cli_json_u64(&j, "chain_breaks", r->breaks);
		cli_json_u64(&j, "nacks", r->nacks);
		cli_json_u64(&j, "resets", r->resets);
		cli_json_u64(&j, "sessions", r->sessions);
		cli_json_u64(&j, "refusals", r->refusals);
		cli_json_u64(&j, "bad_messages", r->bad);
		cli_json_u64(&j, "garbage", bridge_events_garbage(&r->ev));
		cli_json_u64(&j, "connections", r->ev.connections);
		cli_json_u64(&j, "refused", r->ev.refused);
		cli_json_u64(&j, "lost", r->lost);
		cli_json_u64(&j, "others", r->others);
		cli_json_u64(&j, "abandoned", r->abandoned);
		if (r->o->sub) {
			cli_json_u64(&j, "published", r->published);
			cli_json_u64(&j, "upstream_lost", r->upstream);
			cli_json_u64(&j, "waiting_for_header", r->waiting);
		}
		if (r->last == WIRE_NONE)
			cli_json_null(&j, "last_seq");
		else
			cli_json_u64(&j, "last_seq", r->last);
		if (r->resumed_after == WIRE_NONE)
			cli_json_null(&j, "resumed_after");
		else
			cli_json_u64(&j, "resumed_after", r->resumed_after);
		cli_json_bool(&j, "created", r->created);
		cli_json_double(&j, "cpu_seconds", bridge_cpu_seconds());
		cli_json_end_reason(&j, r->end);
		cli_json_end(&j);
	}
	cli_summary_head(head, sizeof(head), r->o->ring, "received", r->frames, r->bytes, secs);
	if (r->o->sub) {
		fprintf(r->o->json ? stderr : stdout,
			"%s from %s: %" PRIu64 " of %" PRIu64 " published lost, %" PRIu64
			" not published (lost at the publisher), %" PRIu64 " bad; %s%s\n", head,
			r->origin[0] ? r->origin : r->o->endpoint, r->lost, r->published,
			r->upstream, r->bad, cli_end_text(r->end), status == 0 ? "" : " (failed)");
		return;
	}
	fprintf(r->o->json ? stderr : stdout,
		"%s from %s: %" PRIu64 " duplicates, %" PRIu64 " chain breaks, %" PRIu64
		" lost, %" PRIu64 " bad, %" PRIu64 " refused; %s%s\n", head,
		r->origin[0] ? r->origin : r->o->endpoint, r->dups, r->breaks, r->lost,
		r->bad + bridge_events_garbage(&r->ev), r->ev.refused, cli_end_text(r->end),
		status == 0 ? "" : " (failed)");
}

static int
recv_setup(struct receiver *r)
{
	const struct bridge_options *o = r->o;
	struct rb_ring *probe;
	int rc;

	if (!o->attach) {
		rc = cli_ring_open(o->ring, &probe);
		if (rc == 0) {
			rb_ring_close(probe);
			cli_error("ring '%s' exists (--attach resumes into it)", o->ring);
			return CLI_EXIT_FAIL;
		}
	}
	r->last = WIRE_NONE;
	r->resumed_after = WIRE_NONE;
	r->ctx = zmq_ctx_new();
	if (r->ctx == NULL) {
		cli_error("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
		return CLI_EXIT_FAIL;
	}
	if (o->curve.on && (r->zap = bridge_zap_start(r->ctx)) == NULL)
		return CLI_EXIT_FAIL;
	r->sock = bridge_socket(r->ctx, o->sub ? ZMQ_SUB : ZMQ_ROUTER, o, true);
	if (r->sock == NULL)
		return CLI_EXIT_FAIL;
	r->mon = bridge_monitor(r->ctx, r->sock, "recv");
	return r->mon == NULL ? CLI_EXIT_FAIL : 0;
}

int
bridge_recv(const struct bridge_options *o)
{
	struct receiver r = {0};
	int status;

	r.o = o;
	r.end = "error";
	cli_status_init(&r.status, stderr);
	status = recv_setup(&r);
	if (status == 0) {
		status = recv_loop(&r);
		/* Say where we are before going. */
		if (r.have_session && (r.unacked > 0 || r.ack_due))
			recv_ack(&r);
	}
	if (r.prod != NULL) {
		/* Ends an open far stream with its marker. */
		(void)rb_producer_detach(r.prod, RECV_END_TIMEOUT_NS);
	}
	r.end_ns = cli_now_ns();
	if (status == 0 || r.ring != NULL)
		recv_summary(&r, status);
	if (r.mon != NULL)
		zmq_close(r.mon);
	if (r.zap != NULL)
		zmq_close(r.zap);
	if (r.sock != NULL)
		zmq_close(r.sock);
	if (r.ctx != NULL)
		zmq_ctx_term(r.ctx);
	journal_close(&r.j);
	if (r.ring != NULL) {
		rb_ring_close(r.ring);
		if (r.ours && !o->keep) {
			rb_ring_remove(o->ring);
			if (!o->sub)
				journal_remove(o->ring);
		}
	}
	free(r.header);
	return status;
}
