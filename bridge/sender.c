/*
 * rb-bridge send: a consumer of the near ring that sends each frame as one
 * DATA and releases it only once the receiver has committed it
 * (docs/BRIDGE.md).
 *
 * The window. Frames acquired and not yet released are kept in a circular
 * array of `cap` entries in seq order: held[head .. head + n). The first
 * ones are acknowledged (seq <= acked_to) and wait only for ZeroMQ to let
 * go of their payload; then come frames sent and not acknowledged; from
 * index `next` on, frames not sent yet (in this epoch). A rewind moves
 * `next` back to the first frame after the receiver's resume point.
 *
 * Zero copy. The payload part of a DATA is zmq_msg_init_data over the slot
 * itself; its free function, run by ZeroMQ's I/O thread once the bytes are
 * on their way to the kernel, decrements the entry's `refs` (ck_pr, the
 * only memory this process shares between threads). An entry is released
 * when acknowledged and refs is 0, so a slot is never handed back to the
 * producer while ZeroMQ may still read it, even when a retransmitted copy
 * is still queued after the first copy was acknowledged.
 *
 * Lossy: the copy is checked. A lossy consumer's slot may be overwritten
 * by the producer while ZeroMQ still sends from it, and the far side would
 * commit a torn frame. So with --lossy the payload is copied into a ZeroMQ
 * message of its own and then checked with rb_consumer_check: a frame
 * overwritten before the copy was done is not sent (counted `torn`; the
 * receiver counts it lost from the seq gap), and what is sent is the
 * checked copy, whatever the producer writes later. Zero copy stays the
 * lossless path, where the slot cannot change until it is released.
 *
 * One thread. It waits in the ring (at most 200 us while frames are held,
 * so ACKs are read soon) or in zmq_poll; neither wait is unbounded, and
 * cli_stop (SIGINT/SIGTERM) ends them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ck_pr.h>

#include "bridge.h"

#define SENDER_HELLO_EVERY_NS 1000000000ull
#define SENDER_RING_WAIT_NS 200000ull
#define SENDER_POLL_MS 10
#define SENDER_LINGER_NS 3000000000ull /* waiting for the last ACKs at a stop */
#define SENDER_WINDOW_MAX 4096u

enum sender_state { SENDER_HANDSHAKE, SENDER_RUN };

struct sender {
	const struct bridge_options *o;
	struct rb_ring *ring;
	struct rb_consumer *c;
	void *ctx, *sock, *mon;
	char origin[WIRE_ORIGIN_MAX + 1];
	char *header;          /* stream header text buffer */
	size_t header_cap;
	/* the window */
	struct rb_frame *frames;
	uint32_t *refs;        /* ZeroMQ messages alive over each entry */
	bool *sent;            /* sent at least once */
	bool *torn;            /* lossy: found overwritten, never sent */
	uint32_t cap, head, n, next;
	uint64_t acked_to;     /* near seq the receiver has committed up to */
	uint64_t prev_sent;    /* `prev` of the next DATA */
	uint64_t session;
	uint32_t epoch;
	enum sender_state state;
	uint64_t hello_due;
	uint64_t last_progress;
	bool eos_taken;        /* the end marker is in the window */
	bool eos_acked;
	bool producer_dead;
	bool stopping;
	uint64_t stop_deadline;
	const char *end;
	/* counts */
	uint64_t frames_done, bytes_done, sent_msgs, retransmits, rewinds, hellos;
	uint64_t skipped, gap_lost, bad, timeouts, resets, torn_frames;
	uint64_t rtt_ns, rtt_min_ns, rtt_max_ns, rtt_samples;
	struct bridge_events ev;
	uint64_t first_ns, end_ns;
	struct cli_status status;
	uint64_t shown_ns, shown_bytes;
};

static void
sender_payload_free(void *data, void *hint)
{
	(void)data;
	ck_pr_dec_32((uint32_t *)hint);
}

static uint32_t
sender_idx(const struct sender *s, uint32_t i)
{
	return (s->head + i) % s->cap;
}

static bool
sender_is_acked(const struct sender *s, uint64_t seq)
{
	return s->acked_to != WIRE_NONE && seq <= s->acked_to;
}

static void
sender_send_hello(struct sender *s)
{
	struct rb_ring_status rs;
	struct wire_hello h = {0};
	uint8_t head[WIRE_HEAD_BYTES], body[WIRE_HELLO_BYTES];
	struct rb_consumer_stats st;
	int len;

	rb_consumer_get_stats(s->c, &st);
	rb_ring_get_status(s->ring, &rs);
	h.session = s->session;
	h.first_seq = s->n > 0 ? s->frames[s->head].seq : st.next_seq;
	if (h.first_seq >= (1ull << 62))
		h.first_seq = 0;
	h.frame_bytes = rb_ring_frame_bytes(s->ring);
	h.type = *rb_ring_frame_type(s->ring);
	h.near_created_ns = rb_ring_created_ns(s->ring);
	h.flags = (s->o->lossy ? WIRE_HELLO_LOSSY : 0) |
		  (s->o->group != NULL ? WIRE_HELLO_GROUP : 0) |
		  (rs.stream_state == RB_STREAM_STATUS_OPEN ? WIRE_HELLO_STREAM_OPEN : 0);
	h.slot_count = rb_ring_slot_count(s->ring);
	len = rb_consumer_stream_header(s->c, s->header, s->header_cap, NULL);
	if (len < 0)
		len = 0;
	wire_put_head(head, WIRE_HELLO);
	wire_put_hello(body, &h);
	struct wire_part parts[4] = {
		{head, sizeof(head)}, {body, sizeof(body)},
		{s->header, (size_t)len}, {s->origin, strlen(s->origin)},
	};
	if (bridge_send_parts(s->sock, parts, 4, ZMQ_DONTWAIT) == 0)
		s->hellos++;
}

static void
sender_send_bye(struct sender *s)
{
	uint8_t head[WIRE_HEAD_BYTES], body[WIRE_SESSION_BYTES];
	struct wire_part parts[2] = {{head, sizeof(head)}, {body, sizeof(body)}};

	wire_put_head(head, WIRE_BYE);
	wire_put_session(body, s->session);
	bridge_send_parts(s->sock, parts, 2, ZMQ_DONTWAIT);
}

/* Sends held entry i (relative to head). -EAGAIN when ZeroMQ cannot take it now. */
static int
sender_send_one(struct sender *s, uint32_t i)
{
	uint32_t k = sender_idx(s, i);
	const struct rb_frame *f = &s->frames[k];
	struct wire_data d = {0};
	uint8_t head[WIRE_HEAD_BYTES], desc[WIRE_DATA_BYTES];
	zmq_msg_t payload;
	bool copied = false;
	int len = 0;

	if (s->o->lossy && f->length > 0) {
		/* Copy, then check (see the top of the file). */
		if (zmq_msg_init_size(&payload, f->length) != 0)
			return -ENOMEM;
		memcpy(zmq_msg_data(&payload), f->data, f->length);
		if (rb_consumer_check(s->c, f) != 0) {
			zmq_msg_close(&payload);
			if (!s->torn[k])
				s->torn_frames++;
			s->torn[k] = true;
			return -ESTALE;
		}
		copied = true;
	}
	d.session = s->session;
	d.seq = f->seq;
	d.prev = s->prev_sent;
	d.length = f->length;
	d.timestamp_ns = f->timestamp_ns;
	d.flags = f->flags;
	d.epoch = s->epoch;
	d.sent_ns = cli_now_ns();
	wire_put_head(head, WIRE_DATA);
	wire_put_data(desc, &d);
	if (zmq_send(s->sock, head, sizeof(head), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
		int e = zmq_errno();

		if (copied)
			zmq_msg_close(&payload);
		return -e;
	}
	/* The rest of a message whose first part was taken is taken too
	 * (ZeroMQ checks its high-water mark per message). */
	zmq_send(s->sock, desc, sizeof(desc), ZMQ_SNDMORE);
	if (f->flags & RB_FRAME_STREAM_START) {
		len = rb_consumer_stream_header(s->c, s->header, s->header_cap, NULL);
		zmq_send(s->sock, s->header, len > 0 ? (size_t)len : 0, ZMQ_SNDMORE);
	}
	if (copied) {
		if (zmq_msg_send(&payload, s->sock, 0) < 0)
			zmq_msg_close(&payload);
	} else if (f->length > 0) {
		ck_pr_inc_32(&s->refs[k]);
		zmq_msg_init_data(&payload, f->data, f->length, sender_payload_free,
				  &s->refs[k]);
		if (zmq_msg_send(&payload, s->sock, 0) < 0)
			zmq_msg_close(&payload); /* runs the free function */
	} else {
		zmq_send(s->sock, "", 0, 0);
	}
	/* A lossless frame following a seq the sender never saw: those seqs
	 * left the near ring before it attached (a sender restart too
	 * slow for the ring). Counted once, at the first sending. */
	if (!s->sent[k] && !s->o->lossy && s->o->group == NULL &&
	    s->prev_sent != WIRE_NONE && f->seq > s->prev_sent + 1) {
		uint64_t gap = f->seq - s->prev_sent - 1;

		s->gap_lost += gap;
		cli_status_clear(&s->status);
		cli_warning("seqs %" PRIu64 " to %" PRIu64 " were gone from ring '%s' "
			    "before this sender reached them: %" PRIu64 " frames lost",
			    s->prev_sent + 1, f->seq - 1, s->o->ring, gap);
	}
	if (s->sent[k])
		s->retransmits++;
	s->sent[k] = true;
	s->sent_msgs++;
	s->prev_sent = f->seq;
	if (s->first_ns == 0)
		s->first_ns = d.sent_ns;
	return 0;
}

/* Sends what the window has not sent yet; true if it sent anything. */
static bool
sender_send_pending(struct sender *s, bool *blocked)
{
	bool worked = false;

	*blocked = false;
	while (s->state == SENDER_RUN && s->next < s->n) {
		uint32_t k = sender_idx(s, s->next);

		if (sender_is_acked(s, s->frames[k].seq)) {
			s->next++;
			continue;
		}
		int rc = sender_send_one(s, s->next);

		if (rc == -ESTALE) {
			/* Torn: not sent; the receiver sees the seq gap. */
			s->next++;
			continue;
		}
		if (rc != 0) {
			*blocked = true;
			break;
		}
		s->next++;
		worked = true;
	}
	return worked;
}

/* From the receiver's resume point on, everything is to be sent again. */
static void
sender_rewind(struct sender *s, uint64_t resume_after)
{
	if (resume_after != WIRE_NONE &&
	    (s->acked_to == WIRE_NONE || resume_after > s->acked_to))
		s->acked_to = resume_after;
	s->prev_sent = resume_after;
	s->next = 0;
	while (s->next < s->n && sender_is_acked(s, s->frames[sender_idx(s, s->next)].seq))
		s->next++;
	s->epoch++;
	s->rewinds++;
	s->last_progress = cli_now_ns();
}

/* Releases the acknowledged frames ZeroMQ no longer reads. */
static int
sender_release(struct sender *s)
{
	while (s->n > 0) {
		uint32_t k = s->head, run = 0;

		while (run < s->n && k + run < s->cap) {
			const struct rb_frame *f = &s->frames[k + run];

			/* A torn frame was never sent: nothing to wait for (the
			 * receiver learns of it from the seq gap), and waiting
			 * for an ACK the next frame may never bring would hold
			 * the end marker back for ever. */
			if ((!sender_is_acked(s, f->seq) && !s->torn[k + run]) ||
			    ck_pr_load_32(&s->refs[k + run]) != 0)
				break;
			if (f->flags & RB_FRAME_EOS)
				break;
			if (!s->torn[k + run]) {
				s->frames_done++;
				s->bytes_done += f->length;
			}
			run++;
		}
		if (run == 0) {
			const struct rb_frame *f = &s->frames[k];

			/* The end marker has no slot: the library took it. */
			if ((f->flags & RB_FRAME_EOS) && sender_is_acked(s, f->seq)) {
				s->eos_acked = true;
				s->head = (s->head + 1) % s->cap;
				s->n--;
				s->next = s->next > 0 ? s->next - 1 : 0;
				continue;
			}
			return 0;
		}
		int rc = rb_consumer_release_batch(s->c, &s->frames[k], run);

		if (rc < 0 && rc != RB_E_OVERRUN)
			return rc;
		for (uint32_t i = 0; i < run; i++)
			s->sent[k + i] = s->torn[k + i] = false;
		s->head = (s->head + run) % s->cap;
		s->n -= run;
		s->next = s->next > run ? s->next - run : 0;
	}
	return 0;
}

static void
sender_ack(struct sender *s, const struct wire_ack *a, uint64_t now)
{
	if (a->committed != WIRE_NONE &&
	    (s->acked_to == WIRE_NONE || a->committed > s->acked_to)) {
		s->acked_to = a->committed;
		s->last_progress = now;
		/* Frames being sent again that the receiver now has. */
		while (s->next < s->n &&
		       sender_is_acked(s, s->frames[sender_idx(s, s->next)].seq)) {
			s->next++;
			s->prev_sent = a->committed;
		}
	}
	if (a->echo_ns != 0 && a->echo_ns <= now) {
		uint64_t rtt = now - a->echo_ns;

		s->rtt_ns = s->rtt_samples == 0 ? rtt : (s->rtt_ns * 7 + rtt) / 8;
		if (s->rtt_samples == 0 || rtt < s->rtt_min_ns)
			s->rtt_min_ns = rtt;
		if (rtt > s->rtt_max_ns)
			s->rtt_max_ns = rtt;
		s->rtt_samples++;
	}
}

/* Reads every waiting message. Returns 0, or an exit status. */
static int
sender_read(struct sender *s, bool *worked)
{
	zmq_msg_t msgs[WIRE_PARTS_MAX];
	struct wire_part parts[WIRE_PARTS_MAX];
	struct bridge_msg m;
	bool too_many;
	int n;

	while ((n = bridge_recv_parts(s->sock, msgs, WIRE_PARTS_MAX, &too_many)) > 0) {
		uint64_t now = cli_now_ns();
		int rc = 0;

		*worked = true;
		for (int i = 0; i < n; i++) {
			parts[i].data = zmq_msg_data(&msgs[i]);
			parts[i].size = zmq_msg_size(&msgs[i]);
		}
		if (too_many || bridge_msg_parse(parts, (unsigned)n, 0, &m) != 0) {
			s->bad++;
			bridge_parts_close(msgs, (unsigned)n);
			continue;
		}
		switch (m.type) {
		case WIRE_WELCOME:
			if (m.u.welcome.session == s->session && s->state == SENDER_HANDSHAKE) {
				sender_rewind(s, m.u.welcome.resume_after);
				s->state = SENDER_RUN;
			}
			break;
		case WIRE_ACK:
			if (m.u.ack.session == s->session)
				sender_ack(s, &m.u.ack, now);
			break;
		case WIRE_NACK:
			if (m.u.nack.session == s->session && m.u.nack.epoch == s->epoch &&
			    s->state == SENDER_RUN)
				sender_rewind(s, m.u.nack.resume_after);
			break;
		case WIRE_RESET:
			if (m.u.session == s->session && s->state == SENDER_RUN) {
				s->resets++;
				s->state = SENDER_HANDSHAKE;
				s->hello_due = now;
			}
			break;
		case WIRE_REFUSE:
			if (m.u.session == s->session) {
				cli_status_clear(&s->status);
				cli_error("%s refused ring '%s': %.*s", s->o->endpoint, s->o->ring,
					  (int)m.text.size, (const char *)m.text.data);
				s->end = "refused";
				rc = CLI_EXIT_FAIL;
			}
			break;
		default:
			s->bad++;
			break;
		}
		bridge_parts_close(msgs, (unsigned)n);
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* Takes new frames into the window; true if it took any. */
static int
sender_acquire(struct sender *s, uint64_t timeout, bool *worked)
{
	struct rb_ring_status rs;
	uint32_t tail = (s->head + s->n) % s->cap, room = s->cap - s->n, i;
	int got;

	if (room > s->cap - tail)
		room = s->cap - tail;
	/* The end marker hands every held frame back to the ring at once:
	 * take it only with the window empty. */
	if (s->n > 0 && (rb_ring_get_status(s->ring, &rs) != 0 ||
			 rs.stream_state != RB_STREAM_STATUS_OPEN))
		return 0;
	got = rb_consumer_acquire_batch(s->c, &s->frames[tail], room, 1, timeout);
	if (got == -ETIMEDOUT || got == -EAGAIN || got == -EINTR)
		return 0;
	if (got == RB_E_DEMOTED) {
		cli_status_clear(&s->status);
		cli_warning("ring '%s': demoted to lossy (it stalled the producer); "
			    "frames it misses are lost", s->o->ring);
		return 0;
	}
	if (got == RB_E_EOS) {
		rb_ring_get_status(s->ring, &rs);
		memset(&s->frames[tail], 0, sizeof(s->frames[tail]));
		s->frames[tail].seq = rs.eos_seq - 1;
		s->frames[tail].flags = RB_FRAME_EOS;
		s->refs[tail] = 0;
		s->sent[tail] = s->torn[tail] = false;
		s->n++;
		s->eos_taken = true;
		*worked = true;
		return 0;
	}
	if (got == RB_E_PRODUCER_DEAD) {
		s->producer_dead = true;
		return 0;
	}
	if (got < 0) {
		if (cli_ring_lost(s->ring, s->o->ring)) {
			s->end = "truncated";
			return CLI_EXIT_FAIL;
		}
		cli_error("ring '%s': %s", s->o->ring, rb_strerror(got));
		s->end = "error";
		return CLI_EXIT_FAIL;
	}
	for (i = 0; i < (uint32_t)got; i++) {
		s->refs[tail + i] = 0;
		s->sent[tail + i] = s->torn[tail + i] = false;
		/* Already on the far ring (a restarted sender): not sent. */
		if (sender_is_acked(s, s->frames[tail + i].seq))
			s->skipped++;
	}
	s->n += (uint32_t)got;
	*worked = true;
	return 0;
}

static void
sender_show(struct sender *s, uint64_t now)
{
	char rate[32], rtt[32];
	double dt = (double)(now - s->shown_ns) / 1e9;
	double bps = dt > 0 ? (double)(s->bytes_done - s->shown_bytes) / dt : 0;

	if (s->rtt_samples)
		snprintf(rtt, sizeof(rtt), "%.2f ms", (double)s->rtt_ns / 1e6);
	else
		snprintf(rtt, sizeof(rtt), "-");
	cli_status_print(&s->status,
			 "%" PRIu64 " frames  %s  window %" PRIu32 "/%" PRIu32
			 "  retransmits %" PRIu64 "  rtt %s%s",
			 s->frames_done, cli_format_si(rate, sizeof(rate), bps, "B/s"),
			 s->n, s->cap, s->retransmits, rtt,
			 s->state == SENDER_HANDSHAKE ? "  (connecting)" : "");
	s->shown_ns = now;
	s->shown_bytes = s->bytes_done;
}

static bool
sender_has_unacked_sent(const struct sender *s)
{
	for (uint32_t i = 0; i < s->next && i < s->n; i++) {
		uint32_t k = sender_idx(s, i);

		if (!sender_is_acked(s, s->frames[k].seq) && !s->torn[k])
			return true;
	}
	return false;
}

static int
sender_loop(struct sender *s)
{
	uint64_t now = cli_now_ns(), stop_at = 0;
	int rc;

	s->shown_ns = now;
	s->hello_due = now;
	s->last_progress = now;
	if (s->o->duration_ns)
		stop_at = now + s->o->duration_ns;
	for (;;) {
		bool worked = false, blocked = false;
		zmq_pollitem_t item = {s->sock, 0, ZMQ_POLLIN, 0};

		now = cli_now_ns();
		if (!s->stopping) {
			const char *why = NULL;

			if (cli_stop)
				why = "signal";
			else if (stop_at && now >= stop_at)
				why = "duration";
			else if (s->o->count && s->frames_done >= s->o->count)
				why = "count";
			else if (s->producer_dead && s->n == 0)
				why = "producer_dead";
			if (why != NULL) {
				s->stopping = true;
				s->end = why;
				s->stop_deadline = now + SENDER_LINGER_NS;
			}
		}
		if (s->eos_acked && s->n == 0) {
			/* The receiver waits for this before it closes, so that
			 * its last ACK is not dropped with the connection. */
			sender_send_bye(s);
			s->end = "eos";
			return CLI_EXIT_OK;
		}
		if (s->stopping && (s->n == 0 || !sender_has_unacked_sent(s) ||
				    now >= s->stop_deadline)) {
			sender_send_bye(s);
			return strcmp(s->end, "producer_dead") == 0 ? CLI_EXIT_FAIL : CLI_EXIT_OK;
		}
		if (s->state == SENDER_HANDSHAKE && now >= s->hello_due) {
			sender_send_hello(s);
			s->hello_due = now + SENDER_HELLO_EVERY_NS;
		}
		if (s->state == SENDER_RUN && now - s->last_progress > s->o->ack_timeout_ns &&
		    sender_has_unacked_sent(s)) {
			/* Nothing acknowledged for a while: ask where we are. */
			s->timeouts++;
			s->state = SENDER_HANDSHAKE;
			s->hello_due = now;
			s->last_progress = now;
		}
		if ((rc = sender_read(s, &worked)) != 0)
			return rc;
		if ((rc = sender_release(s)) != 0) {
			cli_error("ring '%s': releasing frames: %s", s->o->ring, rb_strerror(rc));
			s->end = "error";
			return CLI_EXIT_FAIL;
		}
		if (sender_send_pending(s, &blocked))
			worked = true;
		if (cli_status_due(&s->status, now))
			sender_show(s, now);
		if (!s->stopping && !s->eos_taken && !s->producer_dead && s->n < s->cap &&
		    s->state == SENDER_RUN) {
			uint64_t t = worked ? RB_NO_WAIT : SENDER_RING_WAIT_NS;

			if ((rc = sender_acquire(s, t, &worked)) != 0)
				return rc;
			if (worked)
				continue;
		}
		if (blocked)
			item.events |= ZMQ_POLLOUT;
		if (s->mon != NULL)
			bridge_monitor_drain(s->mon, &s->ev);
		zmq_poll(&item, 1, worked ? 0 : (s->n < s->cap && s->state == SENDER_RUN &&
						  !s->eos_taken && !s->stopping ? 0 : SENDER_POLL_MS));
	}
}

static void
sender_summary(struct sender *s, int status)
{
	double secs = s->first_ns ? (double)(s->end_ns - s->first_ns) / 1e9 : 0;
	struct rb_consumer_stats st;
	char head[CLI_SUMMARY_HEAD_MAX];

	rb_consumer_get_stats(s->c, &st);
	cli_status_clear(&s->status);
	if (s->o->json) {
		struct cli_json j;

		cli_json_begin(&j, stdout);
		cli_json_string(&j, "program", "rb-bridge send");
		cli_json_string(&j, "ring", s->o->ring);
		cli_json_string(&j, "endpoint", s->o->endpoint);
		cli_json_bool(&j, "lossy", s->o->lossy);
		cli_json_string(&j, "group", s->o->group != NULL ? s->o->group : "");
		cli_json_totals(&j, s->frames_done, s->bytes_done, secs);
		cli_json_u64(&j, "sent", s->sent_msgs);
		cli_json_u64(&j, "retransmits", s->retransmits);
		cli_json_u64(&j, "rewinds", s->rewinds);
		cli_json_u64(&j, "ack_timeouts", s->timeouts);
		cli_json_u64(&j, "resets", s->resets);
		cli_json_u64(&j, "hellos", s->hellos);
		cli_json_u64(&j, "skipped", s->skipped);
		cli_json_u64(&j, "lost", st.lost + s->gap_lost);
		cli_json_u64(&j, "torn", s->torn_frames);
		cli_json_u64(&j, "bad_messages", s->bad);
		cli_json_u64(&j, "window", s->cap);
		cli_json_u64(&j, "unacknowledged", s->n);
		cli_json_double(&j, "rtt_ms", (double)s->rtt_ns / 1e6);
		cli_json_double(&j, "rtt_min_ms", (double)s->rtt_min_ns / 1e6);
		cli_json_double(&j, "rtt_max_ms", (double)s->rtt_max_ns / 1e6);
		cli_json_double(&j, "cpu_seconds", bridge_cpu_seconds());
		cli_json_end_reason(&j, s->end);
		cli_json_end(&j);
	}
	cli_summary_head(head, sizeof(head), s->o->ring, "sent", s->frames_done,
			 s->bytes_done, secs);
	fprintf(s->o->json ? stderr : stdout,
		"%s to %s: %" PRIu64 " retransmits, %" PRIu64 " lost, %" PRIu64
		" skipped, rtt %.2f ms; %s%s\n", head, s->o->endpoint, s->retransmits,
		st.lost + s->gap_lost, s->skipped, (double)s->rtt_ns / 1e6,
		cli_end_text(s->end), status == 0 ? "" : " (failed)");
}

int
bridge_open_near(const struct bridge_options *o, struct rb_ring **ring)
{
	uint64_t deadline = cli_now_ns() + o->wait_ring_ns;
	int rc;

	for (;;) {
		rc = cli_ring_open(o->ring, ring);
		if (rc != -ENOENT || o->wait_ring_ns == 0 || cli_stop || cli_now_ns() >= deadline)
			break;
		cli_sleep_for(10000000ull);
	}
	if (rc != 0) {
		cli_error("ring '%s': %s", o->ring, cli_ring_error(o->ring, rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

uint64_t
bridge_new_session(void)
{
	/* A session id that differs from every other sender's: time and pid. */
	uint64_t session = (cli_now_ns() * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)getpid() << 32) ^ 1;

	return session != 0 ? session : 1;
}

static int
sender_setup(struct sender *s)
{
	const struct bridge_options *o = s->o;
	struct rb_consumer_options co = {0};
	char host[128] = "localhost";
	int rc;

	if ((rc = bridge_open_near(o, &s->ring)) != 0)
		return rc;
	co.lossy = o->lossy;
	co.start = o->start;
	co.label = o->label;
	co.cancel = &cli_stop;
	co.group = o->group;
	rc = rb_consumer_attach(s->ring, &co, &s->c);
	if (rc != 0) {
		cli_error("ring '%s': attaching: %s", o->ring, rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	s->cap = o->window;
	if (s->cap == 0)
		s->cap = rb_ring_slot_count(s->ring) / 2;
	if (s->cap > rb_ring_slot_count(s->ring))
		s->cap = rb_ring_slot_count(s->ring);
	if (s->cap > SENDER_WINDOW_MAX)
		s->cap = SENDER_WINDOW_MAX;
	if (s->cap == 0)
		s->cap = 1;
	s->frames = calloc(s->cap, sizeof(*s->frames));
	s->refs = calloc(s->cap, sizeof(*s->refs));
	s->sent = calloc(s->cap, sizeof(*s->sent));
	s->torn = calloc(s->cap, sizeof(*s->torn));
	s->header_cap = rb_ring_stream_header_capacity(s->ring) + 1;
	s->header = malloc(s->header_cap);
	if (s->frames == NULL || s->refs == NULL || s->sent == NULL || s->torn == NULL || s->header == NULL) {
		cli_error("out of memory");
		return CLI_EXIT_FAIL;
	}
	gethostname(host, sizeof(host) - 1);
	snprintf(s->origin, sizeof(s->origin), "%s:%s", host, o->ring);
	s->session = bridge_new_session();
	s->acked_to = WIRE_NONE;
	s->prev_sent = WIRE_NONE;
	s->ctx = zmq_ctx_new();
	if (s->ctx == NULL) {
		cli_error("zmq_ctx_new: %s", zmq_strerror(zmq_errno()));
		return CLI_EXIT_FAIL;
	}
	s->sock = bridge_socket(s->ctx, ZMQ_DEALER, o, false);
	if (s->sock == NULL)
		return CLI_EXIT_FAIL;
	s->mon = bridge_monitor(s->ctx, s->sock, "send");
	return s->mon == NULL ? CLI_EXIT_FAIL : 0;
}

int
bridge_send(const struct bridge_options *o)
{
	struct sender s = {0};
	int status;

	s.o = o;
	s.end = "error";
	cli_status_init(&s.status, stderr);
	status = sender_setup(&s);
	if (status == 0) {
		status = sender_loop(&s);
		s.end_ns = cli_now_ns();
		sender_summary(&s, status);
	}
	if (s.mon != NULL)
		zmq_close(s.mon);
	if (s.sock != NULL)
		zmq_close(s.sock);
	/* ZeroMQ has let go of every payload once its context is gone:
	 * only then may the slots go back to the ring. */
	if (s.ctx != NULL)
		zmq_ctx_term(s.ctx);
	if (s.c != NULL)
		rb_consumer_detach(s.c);
	if (s.ring != NULL)
		rb_ring_close(s.ring);
	free(s.frames);
	free(s.refs);
	free(s.sent);
	free(s.torn);
	free(s.header);
	return status;
}
