/*
 * ringbuf.Producer: creates (or opens) a ring and fills its slots in place.
 *
 * acquire() reserves the next slot and hands it out as a writable Frame;
 * commit() publishes it. The library publishes reservations in order, so
 * commits are queued (rbpy.h) and the done prefix goes out in one
 * rb_producer_commit_batch: committing a later frame first publishes it
 * when the earlier ones are committed, and a frame dropped without a
 * commit is published empty, flagged FRAME_INCOMPLETE, rather than
 * blocking every frame after it.
 *
 * Waits (a full ring held back by lossless consumers, the end-of-stream
 * marker) run in slices with the GIL released, like the consumer's.
 *
 * A ring created with max_producers > 1 takes several Producers (in this
 * process or others), each its own mapping and handle. Their frames
 * interleave in sequence order. A batch is one claim of consecutive seqs,
 * but where it starts is known only once claimed: another producer may
 * claim first and move it across the end of the slot area, where
 * Batch.array refuses (arrays() still works). The stream is shared:
 * begin_stream joins it, end_stream (and close) leaves it.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "rbpy.h"

typedef struct {
	struct rbpy_endpoint e;
	int created;              /* remove the ring's name when closing */
	int several;              /* the ring takes several producers */
	int in_stream;            /* begun a stream and not ended it */
	struct rb_frame *scratch;
	uint32_t scratch_cap;
} rbpy_producer;

int
rbpy_producer_flush(struct rbpy_endpoint *e, int raise)
{
	struct rbpy_queue *q = &e->queue;
	size_t n = rbpy_queue_done_prefix(q);
	int rc;

	if (n == 0 || e->closed)
		return 0;
	/* Lengths and flags were checked at commit(): this cannot fail but
	 * for a bug, and the entries leave the queue either way. */
	rc = rb_producer_commit_batch(e->producer, &q->frames[q->head], (uint32_t)n);
	rbpy_queue_pop(q, n);
	if (rc < 0 && raise) {
		rbpy_raise(rc, e->name);
		return -1;
	}
	return 0;
}

/* Detaches (ending an open stream, with a marker if a slot is free at
 * once), unmaps, removes the name if this producer created the ring. */
void
rbpy_producer_finish(struct rbpy_endpoint *e)
{
	rbpy_producer *self = (rbpy_producer *)e;

	if (e->closed)
		return;
	e->closed = 1;
	e->closing = 1;
	if (getpid() != e->pid)
		self->created = 0; /* a forked child: leave the parent's ring be */
	else
		rb_producer_detach(e->producer, RB_NO_WAIT);
	e->producer = NULL;
	rb_ring_close(e->ring);
	e->ring = NULL;
	if (self->created)
		rb_ring_remove(e->cname);
	rbpy_queue_free(&e->queue);
}

static int
rbpy_producer_usable(rbpy_producer *self)
{
	return rbpy_endpoint_usable(&self->e, "Producer", "producer");
}

static int
rbpy_producer_init(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"name", "frame_type", "shape", "slots", "create",
				 "frame_bytes", "replace", "slot_align", "spin",
				 "max_producers", "max_groups", "max_consumers", "trust_owner",
				 "stall_timeout", NULL};
	struct rbpy_endpoint *e = &self->e;
	struct rbpy_ring_spec spec = {Py_None, Py_None, Py_None, 256, 0, 0,
				      Py_None, Py_None, Py_None, NULL};
	PyObject *name, *spin = Py_None, *stall = Py_None;
	struct rb_producer_options po = {0};
	int create = 1, rc;
	struct rb_ring *ring = NULL;
	const char *cname;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|OOnp$OpIOOOOOO", kwlist, &name,
					 &spec.frame_type, &spec.shape, &spec.slots, &create,
					 &spec.frame_bytes, &spec.replace, &spec.slot_align,
					 &spin, &spec.max_producers, &spec.max_groups,
					 &spec.max_consumers, &spec.trust_owner, &stall))
		return -1;
	if (spin != Py_None && rbpy_spin_ns(spin, &po.spin_ns) != 0)
		return -1;
	/* None: off (wait for lossless consumers as long as they take). */
	if (stall != Py_None && (rbpy_timeout_ns(stall, &po.stall_timeout_ns) != 0 ||
				 po.stall_timeout_ns == 0 ||
				 po.stall_timeout_ns == RB_FOREVER)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_ValueError,
					"stall_timeout must be None or 0 < seconds <= a year");
		return -1;
	}
	if (e->ring != NULL || e->closed) {
		PyErr_SetString(PyExc_RuntimeError, "Producer is already initialised");
		return -1;
	}
	cname = rbpy_ring_cname(name);
	if (cname == NULL || rbpy_ring_open_spec(name, cname, &spec, create, &ring) != 0)
		return -1;
	if (rbpy_layout_init(e, ring) != 0)
		goto fail;
	rc = rb_producer_attach(ring, &po, &e->producer);
	if (rc != 0) {
		rbpy_raise(rc, name);
		goto fail;
	}
	rbpy_endpoint_bind(e, RBPY_PRODUCER, name, cname);
	self->created = create;
	self->several = rb_ring_max_producers(ring) > 1;
	return 0;
fail:
	rb_ring_close(ring);
	e->ring = NULL;
	if (create)
		rb_ring_remove(cname);
	return -1;
}

static void
rbpy_producer_dealloc(rbpy_producer *self)
{
	if (self->e.ring != NULL)
		rbpy_producer_finish(&self->e);
	Py_XDECREF(self->e.name);
	PyMem_Free(self->scratch);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

/*
 * Runs op(self, arg, timeout) first without waiting, then in slices with
 * the GIL released until it returns something else than -EAGAIN or
 * -ETIMEDOUT, or until the deadline (then -ETIMEDOUT). -EINTR (and an
 * exception set) when a signal handler raised between slices.
 */
typedef int (*rbpy_wait_op)(rbpy_producer *self, void *arg, uint64_t timeout_ns);

static int
rbpy_producer_wait(rbpy_producer *self, rbpy_wait_op op, void *arg, uint64_t timeout_ns)
{
	struct rbpy_endpoint *e = &self->e;
	uint64_t deadline, now;
	int rc;

	rc = op(self, arg, RB_NO_WAIT);
	if (rc != -EAGAIN && rc != -ETIMEDOUT)
		return rc;
	deadline = timeout_ns == RB_FOREVER ? RB_FOREVER : rbpy_now_ns() + timeout_ns;
	while ((now = rbpy_now_ns()) < deadline) {
		uint64_t slice = deadline - now < RBPY_SLICE_NS ? deadline - now : RBPY_SLICE_NS;

		e->busy = 1;
		Py_BEGIN_ALLOW_THREADS
		rc = op(self, arg, slice);
		Py_END_ALLOW_THREADS
		e->busy = 0;
		/* -EINTR: a signal ended the wait; its handler runs below. */
		if (rc != -EAGAIN && rc != -ETIMEDOUT && rc != -EINTR)
			return rc;
		if (e->closing)
			return -ECANCELED; /* close() from another thread */
		/* Commits other threads made meanwhile, Ctrl-C. */
		rbpy_producer_flush(e, 0);
		if (PyErr_CheckSignals() != 0)
			return -EINTR;
	}
	return -ETIMEDOUT;
}

static int
rbpy_op_acquire(rbpy_producer *self, void *arg, uint64_t timeout_ns)
{
	uint32_t max = *(uint32_t *)arg;

	return rb_producer_acquire_batch(self->e.producer, self->scratch, max, timeout_ns);
}

static int
rbpy_op_end_stream(rbpy_producer *self, void *arg, uint64_t timeout_ns)
{
	(void)arg;
	return rb_producer_end_stream(self->e.producer, timeout_ns);
}

/* Reserves 1..max slots (never wrapping around the end of the slot area)
 * into out[]; returns how many, or -1 with an exception set. */
static Py_ssize_t
rbpy_producer_take(rbpy_producer *self, uint32_t max, uint64_t timeout_ns,
		   rbpy_frame **out)
{
	struct rbpy_endpoint *e = &self->e;
	uint32_t room;
	Py_ssize_t i;
	int rc;

	if (rbpy_producer_usable(self) != 0 || rbpy_producer_flush(e, 1) != 0)
		return -1;
	room = e->slot_count -
	       (uint32_t)(rb_producer_next_seq(e->producer) % e->slot_count);
	if (max > room)
		max = room;
	if (self->scratch_cap < max) {
		struct rb_frame *s = PyMem_Realloc(self->scratch, max * sizeof(*s));

		if (s == NULL) {
			PyErr_NoMemory();
			return -1;
		}
		self->scratch = s;
		self->scratch_cap = max;
	}
	rc = rbpy_producer_wait(self, rbpy_op_acquire, &max, timeout_ns);
	if (e->closing) {
		/* Closed by another thread meanwhile: detaching drops what
		 * was just reserved. */
		rbpy_endpoint_settle(e);
		PyErr_SetString(PyExc_ValueError, "the producer was closed while waiting");
		return -1;
	}
	if (rc == -EINTR)
		return -1;
	if (rc < 0) {
		rbpy_raise(rc, e->name);
		return -1;
	}
	for (i = 0; i < rc; i++) {
		/* Acquire preset the length to the slot size; a typed frame's
		 * default length is the type's size. */
		if (e->typed)
			self->scratch[i].length = (uint64_t)e->type_bytes;
		out[i] = rbpy_frame_new(e, &self->scratch[i]);
		if (out[i] == NULL) {
			/* Out of memory. Publish them all empty, in order, so
			 * nothing is stuck: the frames made so far through the
			 * queue (dropping them does it), the rest directly. */
			uint32_t k, from = (uint32_t)i;

			for (k = from; k < (uint32_t)rc; k++) {
				self->scratch[k].length = 0;
				self->scratch[k].flags = RB_FRAME_INCOMPLETE;
			}
			while (i > 0)
				Py_DECREF(out[--i]);
			rbpy_producer_flush(e, 0);
			rb_producer_commit_batch(e->producer, &self->scratch[from],
						 (uint32_t)rc - from);
			return -1;
		}
	}
	return rc;
}

/* Waits in slices with the GIL released, as rbpy_producer_wait does, so
 * Ctrl-C (KeyboardInterrupt) and close() from another thread end it. */
static PyObject *
rbpy_producer_wait_consumers(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"count", "timeout", NULL};
	PyObject *timeout = Py_None;
	struct rbpy_endpoint *e = &self->e;
	Py_ssize_t count;
	uint64_t ns, deadline, now;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|O", kwlist, &count, &timeout) ||
	    rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	if (count < 0 || count > UINT32_MAX) {
		PyErr_SetString(PyExc_ValueError, "count must be 0 to 2**32-1");
		return NULL;
	}
	if (rbpy_producer_usable(self) != 0)
		return NULL;
	deadline = ns == RB_FOREVER ? RB_FOREVER : rbpy_now_ns() + ns;
	for (;;) {
		uint64_t slice;

		now = rbpy_now_ns();
		slice = deadline <= now ? 0 : deadline - now;
		if (slice > RBPY_SLICE_NS)
			slice = RBPY_SLICE_NS;
		e->busy = 1;
		Py_BEGIN_ALLOW_THREADS
		rc = rb_ring_wait_consumers(e->ring, (uint32_t)count, slice);
		Py_END_ALLOW_THREADS
		e->busy = 0;
		if (rc == 0)
			Py_RETURN_NONE;
		if (rc != -ETIMEDOUT && rc != -EINTR)
			return rbpy_raise(rc, e->name);
		if (e->closing) {
			PyErr_SetString(PyExc_ValueError, "the producer was closed while waiting");
			return NULL;
		}
		if (PyErr_CheckSignals() != 0)
			return NULL;
		if (rbpy_now_ns() >= deadline)
			return rbpy_raise(-ETIMEDOUT, e->name);
	}
}

static PyObject *
rbpy_producer_acquire(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"timeout", NULL};
	PyObject *timeout = Py_None;
	rbpy_frame *fr;
	uint64_t ns;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &timeout) ||
	    rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	if (rbpy_producer_take(self, 1, ns, &fr) < 0)
		return NULL;
	return (PyObject *)fr;
}

static PyObject *
rbpy_producer_acquire_batch(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"max", "timeout", NULL};
	PyObject *timeout = Py_None;
	rbpy_frame *stack[64], **frames = stack;
	rbpy_batch *b = NULL;
	Py_ssize_t max, n, i;
	uint64_t ns;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "n|O", kwlist, &max, &timeout) ||
	    rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	if (max < 1 || max > (1l << 30)) {
		PyErr_SetString(PyExc_ValueError, "max must be 1 to 2**30");
		return NULL;
	}
	if (max > 64) {
		frames = PyMem_Malloc((size_t)max * sizeof(*frames));
		if (frames == NULL)
			return PyErr_NoMemory();
	}
	n = rbpy_producer_take(self, (uint32_t)max, ns, frames);
	if (n >= 0) {
		b = rbpy_batch_new(&self->e, n);
		for (i = 0; i < n; i++) {
			if (b != NULL)
				b->frames[i] = frames[i];
			else
				Py_DECREF(frames[i]);
		}
	}
	if (frames != stack)
		PyMem_Free(frames);
	return (PyObject *)b;
}

/* Commits frames (all checked first, so that nothing is committed when
 * one of them is refused). */
PyObject *
rbpy_producer_commit_frames(struct rbpy_endpoint *e, rbpy_frame **frames, Py_ssize_t n,
			    PyObject *length, PyObject *timestamp, PyObject *flags)
{
	uint64_t len = 0, ts = 0;
	unsigned long fl = 0;
	Py_ssize_t i;

	if (e->closing || e->closed) {
		PyErr_SetString(PyExc_ValueError, "the producer is closed");
		return NULL;
	}
	if (length != NULL && length != Py_None) {
		len = PyLong_AsUnsignedLongLong(length);
		if (PyErr_Occurred())
			return NULL;
		if (len > e->frame_bytes) {
			PyErr_Format(PyExc_ValueError, "length %llu is larger than the "
				     "slot (%llu bytes)", (unsigned long long)len,
				     (unsigned long long)e->frame_bytes);
			return NULL;
		}
	}
	if (timestamp != NULL && timestamp != Py_None) {
		ts = PyLong_AsUnsignedLongLong(timestamp);
		if (PyErr_Occurred())
			return NULL;
	}
	if (flags != NULL && flags != Py_None) {
		fl = PyLong_AsUnsignedLong(flags);
		if (PyErr_Occurred())
			return NULL;
		/* Bits 0-15 are the library's; of those only INCOMPLETE is
		 * the producer's to set. */
		if (fl > UINT32_MAX ||
		    (fl & ((1ul << RB_FRAME_USER_SHIFT) - 1) & ~(unsigned long)RB_FRAME_INCOMPLETE)) {
			PyErr_SetString(PyExc_ValueError,
					"flags: FRAME_INCOMPLETE and bits FRAME_USER_SHIFT "
					"to 31 only");
			return NULL;
		}
	}
	for (i = 0; i < n; i++) {
		rbpy_frame *fr = frames[i];

		if (fr->owner != e) {
			PyErr_SetString(PyExc_ValueError,
					"the frame belongs to another producer or a consumer");
			return NULL;
		}
		if (fr->state != RBPY_HELD) {
			PyErr_Format(PyExc_ValueError, "frame seq %llu was already committed",
				     (unsigned long long)fr->f.seq);
			return NULL;
		}
		if (rbpy_frame_check_release(fr, "commit") != 0)
			return NULL;
	}
	if (timestamp == NULL || timestamp == Py_None)
		ts = rbpy_now_ns();
	for (i = 0; i < n; i++) {
		rbpy_frame *fr = frames[i];
		struct rb_frame *entry = rbpy_queue_entry(&e->queue, fr->ticket);

		if (entry != NULL) {
			if (length != NULL && length != Py_None)
				entry->length = len;
			entry->timestamp_ns = ts;
			entry->flags = (uint32_t)fl;
			rbpy_queue_mark_done(&e->queue, fr->ticket);
		}
		fr->f.length = entry ? entry->length : fr->f.length;
		fr->f.timestamp_ns = ts;
		fr->f.flags = (uint32_t)fl;
		fr->state = RBPY_DONE;
	}
	if (!e->busy && rbpy_producer_flush(e, 1) != 0)
		return NULL;
	Py_RETURN_NONE;
}

static PyObject *
rbpy_producer_commit(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"frame", "length", "timestamp", "flags", NULL};
	PyObject *obj, *length = Py_None, *timestamp = Py_None, *flags = Py_None;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|OOO", kwlist, &obj, &length,
					 &timestamp, &flags))
		return NULL;
	if (Py_IS_TYPE(obj, &rbpy_frame_type))
		return rbpy_producer_commit_frames(&self->e, (rbpy_frame **)&obj, 1,
						   length, timestamp, flags);
	if (Py_IS_TYPE(obj, &rbpy_batch_type)) {
		rbpy_batch *b = (rbpy_batch *)obj;

		return rbpy_producer_commit_frames(&self->e, b->frames, Py_SIZE(b),
						   length, timestamp, flags);
	}
	PyErr_SetString(PyExc_TypeError, "commit() takes a Frame or a Batch");
	return NULL;
}

/* Queued commits go out first; frames still reserved are in the way of
 * the stream's boundaries (the library wants them committed first). */
static int
rbpy_producer_no_reserved(rbpy_producer *self, const char *what)
{
	struct rbpy_endpoint *e = &self->e;

	if (rbpy_producer_usable(self) != 0 || rbpy_producer_flush(e, 1) != 0)
		return -1;
	if (e->queue.len != 0) {
		PyErr_Format(PyExc_ValueError,
			     "%s: commit the %zu acquired frame%s first", what,
			     e->queue.len, e->queue.len == 1 ? "" : "s");
		return -1;
	}
	return 0;
}

/* A dict becomes key=value lines (str() of each key and value). */
static PyObject *
rbpy_header_text(PyObject *header)
{
	PyObject *parts, *key, *value, *text, *sep;
	Py_ssize_t pos = 0;

	if (header == Py_None)
		return PyUnicode_FromString("");
	if (PyUnicode_Check(header))
		return Py_NewRef(header);
	if (!PyDict_Check(header)) {
		PyErr_SetString(PyExc_TypeError, "header must be a dict, a str or None");
		return NULL;
	}
	parts = PyList_New(0);
	if (parts == NULL)
		return NULL;
	while (PyDict_Next(header, &pos, &key, &value)) {
		PyObject *line = PyUnicode_FromFormat("%S=%S\n", key, value);
		const char *k, *s;
		int bad;

		if (line == NULL || PyList_Append(parts, line) != 0) {
			Py_XDECREF(line);
			Py_DECREF(parts);
			return NULL;
		}
		/* One line per item, the key before the first '='. */
		s = PyUnicode_AsUTF8(line);
		k = s ? strchr(s, '=') : NULL;
		bad = s == NULL || k == s || memchr(s, '\n', strlen(s) - 1) != NULL;
		if (!bad) {
			PyObject *ks = PyObject_Str(key);
			const char *kc = ks ? PyUnicode_AsUTF8(ks) : NULL;

			bad = kc == NULL || strchr(kc, '=') != NULL;
			Py_XDECREF(ks);
		}
		Py_DECREF(line);
		if (bad) {
			Py_DECREF(parts);
			if (!PyErr_Occurred())
				PyErr_Format(PyExc_ValueError,
					     "header item %R: keys must be non-empty without "
					     "'=' or newlines, values without newlines", key);
			return NULL;
		}
	}
	sep = PyUnicode_FromString("");
	text = sep ? PyUnicode_Join(sep, parts) : NULL;
	Py_XDECREF(sep);
	Py_DECREF(parts);
	return text;
}

static PyObject *
rbpy_producer_begin_stream(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"header", NULL};
	PyObject *header = Py_None, *text;
	const char *s;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &header))
		return NULL;
	if (rbpy_producer_no_reserved(self, "begin_stream") != 0)
		return NULL;
	text = rbpy_header_text(header);
	if (text == NULL)
		return NULL;
	s = PyUnicode_AsUTF8(text);
	rc = s ? rb_producer_begin_stream(self->e.producer, s) : 0;
	Py_DECREF(text);
	if (s == NULL)
		return NULL;
	if (rc == -EMSGSIZE) {
		PyErr_Format(PyExc_ValueError, "stream header too long (the ring holds %u bytes)",
			     rb_ring_stream_header_capacity(self->e.ring));
		return NULL;
	}
	if (rc != 0)
		return rbpy_raise(rc, self->e.name);
	self->in_stream = 1;
	Py_RETURN_NONE;
}

/*
 * Several producers: leaves the stream with one call given the whole
 * timeout, the GIL released (so Ctrl-C waits for it). Leaving a shared
 * stream cannot be retried: the last member leaves first and, if no slot
 * frees up for the marker in time, ends the stream by its state; a first
 * attempt without waiting, as sliced waits make, would end it that way
 * whenever the ring is full, and a second attempt would then add a marker
 * to a stream already ended. Whatever the outcome this producer is no
 * longer in the stream.
 */
static int
rbpy_producer_leave_stream(rbpy_producer *self, uint64_t timeout_ns)
{
	struct rb_producer *producer = self->e.producer;
	int rc;

	self->e.busy = 1;
	Py_BEGIN_ALLOW_THREADS
	rc = rb_producer_end_stream(producer, timeout_ns);
	Py_END_ALLOW_THREADS
	self->e.busy = 0;
	if (rc != -EINVAL)
		self->in_stream = 0;
	return rc;
}

static PyObject *
rbpy_producer_end_stream(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"timeout", NULL};
	PyObject *timeout = Py_None;
	uint64_t ns;
	int rc;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &timeout) ||
	    rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	if (rbpy_producer_no_reserved(self, "end_stream") != 0)
		return NULL;
	if (self->several) {
		rc = rbpy_producer_leave_stream(self, ns);
		if (self->e.closing)
			rbpy_endpoint_settle(&self->e); /* close() came meanwhile */
		if (rc == -EINVAL) {
			PyErr_SetString(PyExc_ValueError,
					"end_stream: this producer is not in the open stream "
					"(the producers that began it end it)");
			return NULL;
		}
		if (rc != 0)
			return rbpy_raise(rc, self->e.name);
		Py_RETURN_NONE;
	}
	rc = rbpy_producer_wait(self, rbpy_op_end_stream, NULL, ns);
	if (rc == -ECANCELED) {
		rbpy_endpoint_settle(&self->e);
		PyErr_SetString(PyExc_ValueError, "the producer was closed while waiting");
		return NULL;
	}
	if (rc == -EINTR)
		return NULL;
	if (rc != 0)
		return rbpy_raise(rc, self->e.name);
	self->in_stream = 0;
	Py_RETURN_NONE;
}

/*
 * Whether close() ends a stream: in a single-producer ring an open stream
 * is this producer's; in a ring of several it is everyone's, and this
 * producer only leaves it if it joined it (ending it otherwise would
 * end the others' stream).
 */
static int
rbpy_producer_owns_stream(rbpy_producer *self)
{
	struct rb_ring_status st;

	if (self->several)
		return self->in_stream;
	return rb_ring_get_status(self->e.ring, &st) == 0 &&
	       st.stream_state == RB_STREAM_STATUS_OPEN;
}

/*
 * Ends an open stream (waiting up to `timeout` for a slot for the marker;
 * failing that the stream ends by its state), detaches, unmaps, removes
 * the ring if this producer created it. Views of reserved frames that
 * still exist defer all of this until they are gone.
 */
static PyObject *
rbpy_producer_close(rbpy_producer *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"timeout", NULL};
	struct rbpy_endpoint *e = &self->e;
	PyObject *timeout = NULL;
	uint64_t ns;
	int rc = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "|O", kwlist, &timeout))
		return NULL;
	if (timeout == NULL)
		ns = RBPY_CLOSE_TIMEOUT_NS;
	else if (rbpy_timeout_ns(timeout, &ns) != 0)
		return NULL;
	if (e->closing || e->closed || e->ring == NULL)
		Py_RETURN_NONE;
	if (e->busy) {
		/* The waiting thread sees it after its slice and gives up. */
		e->closing = 1;
		Py_RETURN_NONE;
	}
	rbpy_producer_flush(e, 0);
	if (e->exports == 0 && e->queue.len == 0 && rbpy_producer_owns_stream(self))
		rc = self->several ? rbpy_producer_leave_stream(self, ns)
				   : rbpy_producer_wait(self, rbpy_op_end_stream, NULL, ns);
	e->closing = 1;
	rbpy_endpoint_settle(e);
	if (rc == -EINTR)
		return NULL; /* closed all the same; the signal's exception */
	Py_RETURN_NONE;
}

static PyObject *
rbpy_producer_enter(rbpy_producer *self, PyObject *unused)
{
	(void)unused;
	if (rbpy_producer_usable(self) != 0)
		return NULL;
	return Py_NewRef(self);
}

static PyObject *
rbpy_producer_exit(rbpy_producer *self, PyObject *args)
{
	PyObject *empty = PyTuple_New(0), *r;

	(void)args;
	if (empty == NULL)
		return NULL;
	r = rbpy_producer_close(self, empty, NULL);
	Py_DECREF(empty);
	if (r == NULL)
		return NULL;
	Py_DECREF(r);
	Py_RETURN_FALSE;
}

static PyObject *
rbpy_producer_next_seq(rbpy_producer *self, void *closure)
{
	(void)closure;
	if (self->e.producer == NULL || self->e.closing) {
		PyErr_SetString(PyExc_ValueError, "the producer is closed");
		return NULL;
	}
	return PyLong_FromUnsignedLongLong(rb_producer_next_seq(self->e.producer));
}

static PyObject *
rbpy_producer_created(rbpy_producer *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->created);
}

static PyGetSetDef rbpy_producer_getset[] = {
	RBPY_ENDPOINT_GETSET,
	{"next_seq", (getter)rbpy_producer_next_seq, NULL,
	 "sequence number the next acquired frame gets", NULL},
	{"created", (getter)rbpy_producer_created, NULL,
	 "True if this producer created the ring (close() removes it)", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef rbpy_producer_methods[] = {
	{"acquire", (PyCFunction)(void (*)(void))rbpy_producer_acquire,
	 METH_VARARGS | METH_KEYWORDS,
	 "acquire(timeout=None)\n--\n\nReserves the next slot: a Frame whose .array "
	 "is a writable view of it. Waits while lossless consumers hold the ring "
	 "full (RingTimeout after timeout seconds)."},
	{"acquire_batch", (PyCFunction)(void (*)(void))rbpy_producer_acquire_batch,
	 METH_VARARGS | METH_KEYWORDS,
	 "acquire_batch(max, timeout=None)\n--\n\nReserves 1 to max slots (never "
	 "wrapping around the end of the ring): a Batch whose .array is a writable "
	 "(n, *shape) view."},
	{"commit", (PyCFunction)(void (*)(void))rbpy_producer_commit,
	 METH_VARARGS | METH_KEYWORDS,
	 "commit(frame, length=None, timestamp=None, flags=None)\n--\n\nPublishes a "
	 "Frame or a Batch (frames go out in the order they were acquired). "
	 "length: bytes used (default: the whole frame); timestamp: ns (default: "
	 "CLOCK_MONOTONIC now); flags: FRAME_INCOMPLETE or bits from "
	 "FRAME_USER_SHIFT. Raises BufferError while views of the frame exist."},
	{"wait_consumers", (PyCFunction)(void (*)(void))rbpy_producer_wait_consumers,
	 METH_VARARGS | METH_KEYWORDS,
	 "wait_consumers(count, timeout=None)\n--\n\nWaits until at least count "
	 "consumers are attached to the ring (frames made while nobody reads are "
	 "overwritten unread), as rb-producer --wait-consumers does. RingTimeout "
	 "after timeout seconds; Ctrl-C raises KeyboardInterrupt."},
	{"begin_stream", (PyCFunction)(void (*)(void))rbpy_producer_begin_stream,
	 METH_VARARGS | METH_KEYWORDS,
	 "begin_stream(header=None)\n--\n\nStarts a stream with a header (a dict of "
	 "key=value items, or the text itself). In a ring of several producers the "
	 "first to begin opens the stream and sets its header; the others join it "
	 "(their header is ignored)."},
	{"end_stream", (PyCFunction)(void (*)(void))rbpy_producer_end_stream,
	 METH_VARARGS | METH_KEYWORDS,
	 "end_stream(timeout=None)\n--\n\nEnds the stream: consumers see EndOfStream "
	 "after its last frame. In a ring of several producers this producer leaves "
	 "the stream; it ends when the last one still in it leaves (waiting up to "
	 "timeout for a slot for the marker, without a marker after that; this wait "
	 "is not cut short by Ctrl-C)."},
	{"close", (PyCFunction)(void (*)(void))rbpy_producer_close,
	 METH_VARARGS | METH_KEYWORDS,
	 "close(timeout=1.0)\n--\n\nEnds an open stream (several producers: leaves "
	 "the stream if this one joined it), detaches, and removes the ring if this "
	 "producer created it."},
	RBPY_MONITOR_METHODS,
	RBPY_CONTEXT_METHODS(rbpy_producer),
	{NULL, NULL, 0, NULL},
};

PyTypeObject rbpy_producer_type = {
	RBPY_TYPE_HEAD("ringbuf.Producer", rbpy_producer),
	.tp_doc = "Producer(name, frame_type=None, shape=None, slots=256, create=True, "
		  "*, frame_bytes=None, replace=False, slot_align=0, spin=None, "
		  "max_producers=None, max_groups=None, max_consumers=None, "
		  "trust_owner=None, stall_timeout=None)\n--\n\n"
		  "Creates the ring `name` for frames of frame_type ('i16', 'f32', ... "
		  "or a numpy dtype) and shape (or untyped frames of frame_bytes), or "
		  "with create=False attaches to an existing one, as its producer. "
		  "A ring created with max_producers=N takes up to N producers at once "
		  "(the others attach with create=False); each frame gets a unique "
		  "sequence number. max_groups and max_consumers size the consumer "
		  "records (defaults 8 and 64). "
		  "spin: seconds to busy-wait for room before sleeping (None: 5 us). "
		  "trust_owner: a user name, a uid or a list of them whose rings may be opened besides your own and root's (others are refused: their owner can truncate the ring under you). "
		  "stall_timeout: seconds after which a lossless consumer that holds "
		  "this producer back without releasing anything is demoted to lossy "
		  "(None: never; see ringbuf.Demoted).",
	.tp_methods = rbpy_producer_methods,
	.tp_getset = rbpy_producer_getset,
	.tp_init = (initproc)rbpy_producer_init,
	.tp_new = PyType_GenericNew,
};
