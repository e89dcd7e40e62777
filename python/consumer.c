/*
 * ringbuf.Consumer: attaches to a ring and hands out its frames in place.
 *
 * Waiting: a first attempt without waiting (the GIL held: on a busy stream
 * the frame is there and releasing the GIL would cost more than the
 * look), then waits of at most RBPY_SLICE_NS with the GIL released.
 * Between slices the GIL is taken back to run signal handlers, so Ctrl-C
 * raises KeyboardInterrupt within a slice, and to pass on frames other
 * threads finished with. `cancel` (rb_consumer_options.cancel) lets
 * close() from another thread cut a wait short.
 *
 * Batches never wrap around the end of the slot area, so a lossless
 * consumer's batch is always one strided array (Batch.array). The price:
 * a batch that would have crossed the end stops there, with fewer frames
 * than `min` if need be; the next call goes on from slot 0.
 *
 * A member of a consumer group (group="name") gets only the frames the
 * library hands it: runs of seqs claimed from the group, so what it holds
 * is not consecutive. It must release them in the order it got them,
 * which the queue does anyway. Its batch stays
 * clear of the end of the slot area as far as the group's claim position
 * (its next_seq) tells; another member claiming first can still move it
 * across (Batch.array then refuses; arrays() works).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "rbpy.h"

typedef struct {
	struct rbpy_endpoint e;
	int lossy;
	PyObject *group;          /* str, or NULL: in no group */
	int eos_pending;          /* end of stream reached behind frames handed out */
	struct rb_frame *scratch; /* what the library fills, before wrapping */
	uint32_t scratch_cap;
} rbpy_consumer;

/*
 * Passes the done prefix of the queue to the library, one call per run of
 * consecutive sequence numbers: a lossless consumer's held frames are
 * consecutive but for an end-of-stream marker between two streams, and
 * the library releases exactly the oldest held frames (the marker goes
 * with the frame before it). Lossy consumers may skip: one call.
 */
int
rbpy_consumer_flush(struct rbpy_endpoint *e, int raise)
{
	rbpy_consumer *self = (rbpy_consumer *)e;
	struct rbpy_queue *q = &e->queue;
	size_t n = rbpy_queue_done_prefix(q);
	int rc, err = 0;

	if (e->closed)
		return 0;
	while (n > 0) {
		const struct rb_frame *f = &q->frames[q->head];
		size_t run = 1;

		while (run < n && (self->lossy || f[run].seq == f[run - 1].seq + 1))
			run++;
		rc = rb_consumer_release_batch(e->consumer, f, (uint32_t)run);
		/* They leave the queue whatever the outcome: a failure means
		 * the consumer was evicted, and it will not get them back. */
		rbpy_queue_pop(q, run);
		n -= run;
		if (rc < 0 && err == 0)
			err = rc;
	}
	if (err != 0 && raise) {
		rbpy_raise(err, e->name);
		return -1;
	}
	return 0;
}

/* Detaches (handing back whatever is held) and unmaps: no view is left. */
void
rbpy_consumer_finish(struct rbpy_endpoint *e)
{
	if (e->closed)
		return;
	e->closed = 1;
	e->closing = 1;
	e->iter_prev = NULL;
	/* A child forked after the attach must not detach its parent's
	 * handle: it only drops its copy of the mapping. */
	if (getpid() == e->pid)
		rb_consumer_detach(e->consumer);
	e->consumer = NULL;
	rb_ring_close(e->ring);
	e->ring = NULL;
	rbpy_queue_free(&e->queue);
}

static int
rbpy_consumer_usable(rbpy_consumer *self)
{
	return rbpy_endpoint_usable(&self->e, "Consumer", "consumer");
}

/* Sleeps about 10 ms with the GIL released; -1 if a signal handler raised. */
static int
rbpy_nap(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000000};

	Py_BEGIN_ALLOW_THREADS
	nanosleep(&ts, NULL);
	Py_END_ALLOW_THREADS
	return PyErr_CheckSignals();
}

/*
 * A member asking for the other mode than its group's gets -EINVAL from
 * the library; if that is why, raises ValueError saying so and returns 1.
 */
static int
rbpy_group_mode_error(struct rb_ring *ring, const char *group, int lossy)
{
	struct rb_group_status groups[RB_MAX_GROUPS];
	int n = rb_ring_groups(ring, groups, RB_MAX_GROUPS), i;

	for (i = 0; i < n && i < RB_MAX_GROUPS; i++) {
		if (strcmp(groups[i].name, group) != 0 || !groups[i].lossy == !lossy)
			continue;
		PyErr_Format(PyExc_ValueError,
			     "group '%s' is %s: a %s consumer cannot join it (a group "
			     "keeps the mode its first member asked for)", group,
			     groups[i].lossy ? "lossy" : "lossless",
			     lossy ? "lossy" : "lossless");
		return 1;
	}
	return 0;
}

static int
rbpy_consumer_init(rbpy_consumer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"name", "lossy", "group", "start", "label",
				 "open_timeout", "spin", "trust_owner", NULL};
	struct rbpy_endpoint *e = &self->e;
	PyObject *name, *group = Py_None, *open_timeout = NULL, *spin = Py_None;
	PyObject *trust = Py_None;
	struct rb_open_params op;
	uint32_t uids[RBPY_TRUST_MAX];
	const char *start = "oldest", *label = "python", *cname;
	struct rb_consumer_options o;
	struct rb_ring *ring = NULL;
	uint64_t wait_ns, deadline;
	int lossy = 0, rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|p$OszOOO", kwlist, &name, &lossy,
					 &group, &start, &label, &open_timeout, &spin, &trust))
		return -1;
	if (rbpy_trust_params(trust, &op, uids) != 0)
		return -1;
	if (e->ring != NULL || e->closed) {
		PyErr_SetString(PyExc_RuntimeError, "Consumer is already initialised");
		return -1;
	}
	memset(&o, 0, sizeof(o));
	if (group != Py_None) {
		if (!PyUnicode_Check(group)) {
			PyErr_SetString(PyExc_TypeError, "group must be a str or None");
			return -1;
		}
		o.group = PyUnicode_AsUTF8(group);
		if (o.group == NULL)
			return -1;
		/* The library can only say -EINVAL: say which rule. */
		if (rb_ring_name_check(o.group) != 0 || strlen(o.group) > RB_GROUP_NAME_MAX) {
			PyErr_Format(PyExc_ValueError,
				     "invalid group name %R: 1 to %d of A-Z a-z 0-9 . _ -, "
				     "not starting with '.'", group, RB_GROUP_NAME_MAX);
			return -1;
		}
	}
	if (strcmp(start, "oldest") == 0)
		o.start = RB_START_OLDEST;
	else if (strcmp(start, "newest") == 0)
		o.start = RB_START_NEWEST;
	else if (strcmp(start, "next") == 0)
		o.start = RB_START_NEXT;
	else {
		PyErr_Format(PyExc_ValueError,
			     "start must be 'oldest', 'newest' or 'next', not '%s'", start);
		return -1;
	}
	cname = rbpy_ring_cname(name);
	if (cname == NULL)
		return -1;
	if (rbpy_timeout_ns(open_timeout, &wait_ns) != 0)
		return -1;
	if (open_timeout == NULL)
		wait_ns = 0;
	deadline = wait_ns == RB_FOREVER ? RB_FOREVER : rbpy_now_ns() + wait_ns;
	/* The producer may not have created the ring yet: look again until
	 * open_timeout has passed. */
	while ((rc = rb_ring_open_params(cname, &op, &ring)) == -ENOENT &&
	       rbpy_now_ns() < deadline)
		if (rbpy_nap() != 0)
			return -1;
	if (rc != 0) {
		rbpy_raise(rc, name);
		return -1;
	}
	if (rbpy_layout_init(e, ring) != 0) {
		rb_ring_close(ring);
		e->ring = NULL;
		return -1;
	}
	o.lossy = lossy;
	o.label = label;
	o.cancel = &e->cancel;
	if (spin != Py_None && rbpy_spin_ns(spin, &o.spin_ns) != 0) {
		rb_ring_close(ring);
		e->ring = NULL;
		return -1;
	}
	rc = rb_consumer_attach(ring, &o, &e->consumer);
	if (rc != 0) {
		if (!(rc == -EINVAL && o.group != NULL &&
		      rbpy_group_mode_error(ring, o.group, lossy)))
			rbpy_raise(rc, name);
		rb_ring_close(ring);
		e->ring = NULL;
		return -1;
	}
	rbpy_endpoint_bind(e, RBPY_CONSUMER, name, cname);
	self->lossy = lossy;
	self->group = o.group != NULL ? Py_NewRef(group) : NULL;
	return 0;
}

static void
rbpy_consumer_dealloc(rbpy_consumer *self)
{
	/* Frames hold a reference: none is left, nor any view. */
	if (self->e.ring != NULL)
		rbpy_consumer_finish(&self->e);
	Py_XDECREF(self->e.name);
	Py_XDECREF(self->group);
	PyMem_Free(self->scratch);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/*
 * Takes up to `max` frames, waiting up to timeout_ns for at least `min`:
 * fewer only when waiting ended early (deadline, end of stream, dead
 * producer) or at the end of the slot area. Stores new Frame references
 * in out[] and returns how many, or -1 with an exception set.
 */
static Py_ssize_t
rbpy_consumer_take(rbpy_consumer *self, uint32_t max, uint32_t min,
		   uint64_t timeout_ns, rbpy_frame **out)
{
	struct rbpy_endpoint *e = &self->e;
	struct rb_consumer_stats st;
	uint64_t deadline, now;
	uint32_t room, i, rest_from = 0, rest_n = 0;
	Py_ssize_t got = 0;
	int rc, first = 1;

	if (rbpy_consumer_usable(self) != 0)
		return -1;
	if (self->eos_pending) {
		self->eos_pending = 0;
		rbpy_raise(RB_E_EOS, e->name);
		return -1;
	}
	if (rbpy_consumer_flush(e, 1) != 0)
		return -1;
	rb_consumer_get_stats(e->consumer, &st);
	room = e->slot_count - (uint32_t)(st.next_seq % e->slot_count);
	if (max > room)
		max = room;
	if (min > max)
		min = max;
	if (self->scratch_cap < max) {
		struct rb_frame *s = PyMem_Realloc(self->scratch, max * sizeof(*s));

		if (s == NULL) {
			PyErr_NoMemory();
			return -1;
		}
		self->scratch = s;
		self->scratch_cap = max;
	}
	deadline = timeout_ns == RB_FOREVER ? RB_FOREVER : rbpy_now_ns() + timeout_ns;
	for (;;) {
		uint32_t want = max - (uint32_t)got;
		uint32_t need = min > got ? min - (uint32_t)got : 1;

		if (first) {
			rc = rb_consumer_acquire_batch(e->consumer, self->scratch, want,
						       need, RB_NO_WAIT);
			first = 0;
		} else if ((now = rbpy_now_ns()) >= deadline) {
			rc = -ETIMEDOUT;
		} else {
			uint64_t slice = deadline - now < RBPY_SLICE_NS ?
					 deadline - now : RBPY_SLICE_NS;

			e->busy = 1;
			Py_BEGIN_ALLOW_THREADS
			rc = rb_consumer_acquire_batch(e->consumer, self->scratch,
						       want, need, slice);
			Py_END_ALLOW_THREADS
			e->busy = 0;
			if (rc == -ETIMEDOUT && rbpy_now_ns() < deadline)
				rc = -EAGAIN; /* only the slice ran out */
		}
		for (i = 0; rc > 0 && i < (uint32_t)rc; i++) {
			out[got] = rbpy_frame_new(e, &self->scratch[i]);
			if (out[got] == NULL) {
				/* Out of memory: the rest are not in the queue;
				 * they go back after those that are. */
				rest_from = i;
				rest_n = (uint32_t)rc - i;
				goto fail;
			}
			got++;
		}
		if (e->closing) {
			PyErr_SetString(PyExc_ValueError,
					"the consumer was closed (by another thread) while waiting");
			goto fail;
		}
		if (rc > 0) {
			if ((uint32_t)got >= min || timeout_ns == RB_NO_WAIT)
				return got;
		} else if (rc == RB_E_EOS) {
			/* Frames still held keep their slots: the library
			 * releases the end marker with the last of them. */
			if (got > 0) {
				self->eos_pending = 1;
				return got;
			}
			rbpy_raise(rc, e->name);
			goto fail;
		} else if (rc == -ETIMEDOUT) {
			if (got > 0)
				return got;
			rbpy_raise(rc, e->name);
			goto fail;
		} else if (rc == -ENOBUFS) {
			PyErr_Format(PyExc_BufferError,
				     "this lossless consumer already holds %zu frames of "
				     "the ring's %u slots: release some (or delete the "
				     "views that keep them) before acquiring more",
				     e->queue.len, e->slot_count);
			goto fail;
		} else if (rc != -EAGAIN && rc != -EINTR) {
			/* -EINTR: a signal ended the wait; its handler runs
			 * below (KeyboardInterrupt for Ctrl-C). */
			if (got > 0)
				return got; /* the error comes again next time */
			rbpy_raise(rc, e->name);
			goto fail;
		}
		/* Between slices: frames other threads dropped, Ctrl-C. */
		rbpy_endpoint_settle(e);
		if (PyErr_CheckSignals() != 0)
			goto fail;
	}
fail:
	while (got > 0)
		Py_DECREF(out[--got]);
	rbpy_endpoint_settle(e);
	if (rest_n > 0 && !e->closed)
		rb_consumer_release_batch(e->consumer, &self->scratch[rest_from], rest_n);
	return -1;
}

static int
rbpy_parse_counts(PyObject *max_o, PyObject *min_o, uint32_t *max, uint32_t *min)
{
	long mx = PyLong_AsLong(max_o), mn = min_o ? PyLong_AsLong(min_o) : 1;

	if ((mx == -1 || mn == -1) && PyErr_Occurred())
		return -1;
	if (mx < 1 || mx > (1l << 30) || mn < 0 || mn > mx) {
		PyErr_SetString(PyExc_ValueError, "need 1 <= max <= 2**30 and 0 <= min <= max");
		return -1;
	}
	*max = (uint32_t)mx;
	*min = mn ? (uint32_t)mn : 1;
	return 0;
}

static PyObject *
rbpy_consumer_acquire(rbpy_consumer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"timeout", NULL};
	PyObject *timeout = Py_None;
	rbpy_frame *fr;
	uint64_t ns;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &timeout))
		return NULL;
	if (rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	if (rbpy_consumer_take(self, 1, 1, ns, &fr) < 0)
		return NULL;
	return (PyObject *)fr;
}

static PyObject *
rbpy_consumer_batch(rbpy_consumer *self, uint32_t max, uint32_t min, uint64_t ns)
{
	rbpy_frame *stack[64], **frames = stack;
	rbpy_batch *b = NULL;
	Py_ssize_t n, i;

	if (max > 64) {
		frames = PyMem_Malloc(max * sizeof(*frames));
		if (frames == NULL)
			return PyErr_NoMemory();
	}
	n = rbpy_consumer_take(self, max, min, ns, frames);
	if (n >= 0) {
		b = rbpy_batch_new(&self->e, n);
		for (i = 0; i < n; i++) {
			if (b != NULL)
				b->frames[i] = frames[i]; /* the reference moves */
			else
				Py_DECREF(frames[i]);
		}
	}
	if (frames != stack)
		PyMem_Free(frames);
	return (PyObject *)b;
}

static PyObject *
rbpy_consumer_acquire_batch(rbpy_consumer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"max", "min", "timeout", NULL};
	PyObject *max_o, *min_o = NULL, *timeout = Py_None;
	uint32_t max, min;
	uint64_t ns;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OO", kwlist, &max_o, &min_o,
					 &timeout))
		return NULL;
	if (rbpy_parse_counts(max_o, min_o, &max, &min) != 0 ||
	    rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	return rbpy_consumer_batch(self, max, min, ns);
}

static PyObject *
rbpy_consumer_iter(rbpy_consumer *self)
{
	return Py_NewRef(self);
}

/* The previous frame of the loop ends (once its views are gone), then the
 * next one comes; the end of the stream ends the loop. */
static PyObject *
rbpy_consumer_next(rbpy_consumer *self)
{
	struct rbpy_endpoint *e = &self->e;
	rbpy_frame *fr;

	if (e->iter_prev != NULL) {
		rbpy_frame *prev = e->iter_prev;

		e->iter_prev = NULL;
		rbpy_frame_end(prev);
	}
	if (rbpy_consumer_take(self, 1, 1, RB_FOREVER, &fr) < 0) {
		if (PyErr_ExceptionMatches(rbpy_end_of_stream))
			PyErr_Clear(); /* StopIteration */
		return NULL;
	}
	e->iter_prev = fr;
	return (PyObject *)fr;
}

static PyObject *
rbpy_consumer_close(rbpy_consumer *self, PyObject *unused)
{
	struct rbpy_endpoint *e = &self->e;

	(void)unused;
	if (e->closing || e->closed || e->ring == NULL)
		Py_RETURN_NONE;
	e->closing = 1;
	e->iter_prev = NULL;
	if (e->busy) {
		e->cancel = 1; /* the waiting thread finishes the close */
		Py_RETURN_NONE;
	}
	rbpy_endpoint_settle(e);
	Py_RETURN_NONE;
}

static PyObject *
rbpy_consumer_enter(rbpy_consumer *self, PyObject *unused)
{
	(void)unused;
	if (rbpy_consumer_usable(self) != 0)
		return NULL;
	return Py_NewRef(self);
}

static PyObject *
rbpy_consumer_exit(rbpy_consumer *self, PyObject *args)
{
	PyObject *r = rbpy_consumer_close(self, NULL);

	(void)args;
	Py_XDECREF(r);
	if (r == NULL)
		return NULL;
	Py_RETURN_FALSE;
}

static PyObject *
rbpy_consumer_stats(rbpy_consumer *self, PyObject *unused)
{
	struct rbpy_queue *q = &self->e.queue;
	struct rb_consumer_stats st;
	Py_ssize_t held = 0;
	size_t i;

	(void)unused;
	if (self->e.closing || self->e.closed || self->e.consumer == NULL) {
		PyErr_SetString(PyExc_ValueError, "the consumer is closed");
		return NULL;
	}
	rb_consumer_get_stats(self->e.consumer, &st);
	/* Frames the program still holds; those it is done with may wait in
	 * the queue behind an older one, and are not counted. */
	for (i = 0; i < q->len; i++)
		held += q->state[q->head + i] == RBPY_ENTRY_HELD;
	return Py_BuildValue("{sKsKsKsKsnsKsOsdsK}", "frames", (unsigned long long)st.frames,
			     "lost", (unsigned long long)st.lost,
			     "next_seq", (unsigned long long)st.next_seq,
			     "wakeups", (unsigned long long)st.wakeups,
			     "held", held,
			     "abandoned", (unsigned long long)st.abandoned,
			     "demoted", st.demoted ? Py_True : Py_False,
			     "stalled", (double)st.stalled_ns / 1e9,
			     "dropped_at_producer",
			     (unsigned long long)st.dropped_at_producer);
}

/* The stream header as text, or NULL with an exception set. */
static PyObject *
rbpy_consumer_header_text_get(rbpy_consumer *self, void *closure)
{
	struct rbpy_endpoint *e = &self->e;
	uint32_t cap;
	PyObject *text;
	char *buf;
	int rc;

	(void)closure;
	if (e->closing || e->closed || e->ring == NULL) {
		PyErr_SetString(PyExc_ValueError, "the consumer is closed");
		return NULL;
	}
	cap = rb_ring_stream_header_capacity(e->ring) + 1;
	buf = PyMem_Malloc(cap);
	if (buf == NULL)
		return PyErr_NoMemory();
	rc = rb_ring_stream_header(e->ring, buf, cap, NULL);
	if (rc < 0) {
		PyMem_Free(buf);
		return rbpy_raise(rc, e->name);
	}
	text = PyUnicode_DecodeUTF8(buf, rc, "replace");
	PyMem_Free(buf);
	return text;
}

static PyObject *
rbpy_consumer_header_get(rbpy_consumer *self, void *closure)
{
	return rbpy_header_dict(rbpy_consumer_header_text_get(self, closure));
}

static PyObject *
rbpy_consumer_lossy_get(rbpy_consumer *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->lossy);
}


static PyObject *
rbpy_consumer_group_get(rbpy_consumer *self, void *closure)
{
	(void)closure;
	return Py_NewRef(self->group != NULL ? self->group : Py_None);
}

static PyGetSetDef rbpy_consumer_getset[] = {
	RBPY_ENDPOINT_GETSET,
	{"lossy", (getter)rbpy_consumer_lossy_get, NULL, "never slows the producer", NULL},
	{"group", (getter)rbpy_consumer_group_get, NULL,
	 "the name of the consumer group it is a member of, None when in none", NULL},
	{"header", (getter)rbpy_consumer_header_get, NULL,
	 "the newest stream's header as a dict (key=value lines); frame.header "
	 "is the header of that frame's own stream", NULL},
	{"header_text", (getter)rbpy_consumer_header_text_get, NULL,
	 "the current stream header as text", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyObject *rbpy_consumer_batches(rbpy_consumer *self, PyObject *args,
				       PyObject *kwds);

static PyMethodDef rbpy_consumer_methods[] = {
	{"acquire", (PyCFunction)(void (*)(void))rbpy_consumer_acquire,
	 METH_VARARGS | METH_KEYWORDS,
	 "acquire(timeout=None)\n--\n\nThe next frame (a Frame: numpy.asarray(frame) "
	 "views it in place). Waits up to timeout seconds (None: for ever). Raises "
	 "EndOfStream, ProducerDied, RingTimeout (a TimeoutError)."},
	{"acquire_batch", (PyCFunction)(void (*)(void))rbpy_consumer_acquire_batch,
	 METH_VARARGS | METH_KEYWORDS,
	 "acquire_batch(max, min=1, timeout=None)\n--\n\nUp to max frames as a Batch, "
	 "waiting for at least min (sleeping until then: one wake-up per min frames). "
	 "Fewer than min on timeout, at the end of the stream, or where the batch "
	 "would wrap around the end of the ring."},
	{"batches", (PyCFunction)(void (*)(void))rbpy_consumer_batches,
	 METH_VARARGS | METH_KEYWORDS,
	 "batches(max=64, min=1, timeout=None)\n--\n\nIterates over batches until the "
	 "end of the stream; each batch is released when the next is asked for (or "
	 "when its views are gone)."},
	{"stats", (PyCFunction)rbpy_consumer_stats, METH_NOARGS,
	 "stats()\n--\n\n{'frames', 'lost', 'next_seq', 'wakeups', 'held', "
	 "'abandoned', 'demoted', 'stalled'}: frames released (abandoned ones included), seqs lost, where "
	 "it reads next (a group member: its group's claim position), futex sleeps, "
	 "frames the program holds, how many of frames were FRAME_ABANDONED, "
	 "'demoted' (a lossless consumer demoted to lossy, see Demoted) and "
	 "'stalled' (seconds it had stalled the producer then; 0: by hand)."},
	RBPY_MONITOR_METHODS,
	{"close", (PyCFunction)rbpy_consumer_close, METH_NOARGS,
	 "close()\n--\n\nDetaches from the ring. Frames can no longer be viewed; views "
	 "that still exist keep the ring attached (and their slots held) until they "
	 "are gone."},
	RBPY_CONTEXT_METHODS(rbpy_consumer),
	{NULL, NULL, 0, NULL},
};

PyTypeObject rbpy_consumer_type = {
	RBPY_TYPE_HEAD("ringbuf.Consumer", rbpy_consumer),
	.tp_doc = "Consumer(name, lossy=False, *, group=None, start='oldest', "
		  "label='python', open_timeout=0, spin=None, trust_owner=None)\n--\n\n"
		  "Attaches to the ring `name`. Iterating yields frames until the end "
		  "of the stream (each released when the loop moves on); start is "
		  "'oldest', 'newest' or 'next'; open_timeout waits that many seconds "
		  "for the ring to appear; spin: seconds to busy-wait before sleeping "
		  "(None: the library's 5 us). group='name' joins (or creates) that "
		  "consumer group: each frame goes to exactly one of its members; the "
		  "group is lossless or lossy as its first member asked, and start "
		  "applies only to the member that creates it. Frames a member holds "
		  "when it dies or closes are counted as the group's lost, not handed "
		  "to another member."
		  " trust_owner: a user name, a uid or a list of them whose rings may be opened besides your own and root's (others are refused: their owner can truncate the ring under you).",
	.tp_iter = (getiterfunc)rbpy_consumer_iter,
	.tp_iternext = (iternextfunc)rbpy_consumer_next,
	.tp_methods = rbpy_consumer_methods,
	.tp_getset = rbpy_consumer_getset,
	.tp_init = (initproc)rbpy_consumer_init,
	.tp_new = PyType_GenericNew,
};

/* ---- Consumer.batches() --------------------------------------------------- */

typedef struct {
	PyObject_HEAD
	rbpy_consumer *consumer;
	rbpy_batch *prev;
	uint32_t max, min;
	uint64_t timeout_ns;
} rbpy_batch_iter;

static PyObject *
rbpy_consumer_batches(rbpy_consumer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"max", "min", "timeout", NULL};
	PyObject *max_o = NULL, *min_o = NULL, *timeout = Py_None;
	rbpy_batch_iter *it;
	uint32_t max, min;
	uint64_t ns;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OOO", kwlist, &max_o, &min_o,
					 &timeout))
		return NULL;
	if (max_o == NULL)
		max_o = PyLong_FromLong(64);
	else
		Py_INCREF(max_o);
	if (max_o == NULL)
		return NULL;
	if (rbpy_parse_counts(max_o, min_o, &max, &min) != 0 ||
	    rbpy_timeout_ns(timeout, &ns) != 0) {
		Py_DECREF(max_o);
		return NULL;
	}
	Py_DECREF(max_o);
	it = PyObject_New(rbpy_batch_iter, &rbpy_batch_iter_type);
	if (it == NULL)
		return NULL;
	it->consumer = (rbpy_consumer *)Py_NewRef(self);
	it->prev = NULL;
	it->max = max;
	it->min = min;
	it->timeout_ns = ns;
	return (PyObject *)it;
}

static void
rbpy_batch_iter_end_prev(rbpy_batch_iter *it)
{
	rbpy_batch *prev = it->prev;
	Py_ssize_t i;

	if (prev == NULL)
		return;
	it->prev = NULL;
	for (i = 0; i < Py_SIZE(prev); i++)
		rbpy_frame_end(prev->frames[i]);
	Py_DECREF(prev);
}

static void
rbpy_batch_iter_dealloc(rbpy_batch_iter *it)
{
	rbpy_batch_iter_end_prev(it);
	Py_DECREF(it->consumer);
	PyObject_Free(it);
}

static PyObject *
rbpy_batch_iter_next(rbpy_batch_iter *it)
{
	PyObject *b;

	rbpy_batch_iter_end_prev(it);
	b = rbpy_consumer_batch(it->consumer, it->max, it->min, it->timeout_ns);
	if (b == NULL) {
		if (PyErr_ExceptionMatches(rbpy_end_of_stream))
			PyErr_Clear();
		return NULL;
	}
	it->prev = (rbpy_batch *)Py_NewRef(b);
	return b;
}

PyTypeObject rbpy_batch_iter_type = {
	RBPY_TYPE_HEAD("ringbuf.BatchIterator", rbpy_batch_iter),
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)rbpy_batch_iter_next,
};
