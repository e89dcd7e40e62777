/*
 * Frame and Batch: slots of the ring, exported through the buffer protocol
 * so that numpy.asarray(frame) is a typed view of the slot, with no copy.
 *
 * The rules that keep a view from reading a recycled slot are in rbpy.h.
 * Here they come down to: getbuffer refuses a frame that is not held;
 * every export is counted on each frame it covers; when a frame's last
 * view goes and it was asked to end meanwhile, it ends then.
 */
#include "rbpy.h"

/* Frame.release() and Producer.commit() refuse frames whose views live. */
int
rbpy_frame_check_release(rbpy_frame *fr, const char *verb)
{
	if (fr->exports == 0)
		return 0;
	PyErr_Format(PyExc_BufferError,
		     "cannot %s frame seq %llu: %zd view%s of its memory (numpy array "
		     "or memoryview) still exist%s; delete them first (del arr), or "
		     "let a `with` block end the frame once they are gone",
		     verb, (unsigned long long)fr->f.seq, fr->exports,
		     fr->exports == 1 ? "" : "s", fr->exports == 1 ? "s" : "");
	return -1;
}

static PyObject *
rbpy_frame_gone(rbpy_frame *fr)
{
	struct rbpy_endpoint *e = fr->owner;

	if (fr->state == RBPY_HELD && (e->closing || e->closed))
		PyErr_Format(PyExc_ValueError,
			     "frame seq %llu can no longer be viewed: its %s is closed",
			     (unsigned long long)fr->f.seq,
			     e->side == RBPY_CONSUMER ? "consumer" : "producer");
	else
		PyErr_Format(PyExc_ValueError,
			     "frame seq %llu was %s: its slot may already hold "
			     "another frame", (unsigned long long)fr->f.seq,
			     e->side == RBPY_CONSUMER ? "released" : "committed");
	return NULL;
}

/*
 * Ends the use of a frame without settling the endpoint (callers ending
 * several frames settle once). With views left it only becomes
 * "releasing"; the last view's release ends it. A producer frame ended
 * without commit() is published empty, flagged incomplete: the library
 * publishes reservations in order, so one left behind would hold up every
 * later commit.
 */
static void
rbpy_frame_end_nosettle(rbpy_frame *fr)
{
	struct rbpy_endpoint *e = fr->owner;
	struct rb_frame *entry;

	if (fr->state == RBPY_DONE)
		return;
	if (fr->exports > 0) {
		fr->state = RBPY_RELEASING;
		return;
	}
	fr->state = RBPY_DONE;
	if (e->closed)
		return;
	entry = rbpy_queue_entry(&e->queue, fr->ticket);
	if (entry == NULL)
		return;
	if (e->side == RBPY_PRODUCER) {
		entry->length = 0;
		entry->timestamp_ns = rbpy_now_ns();
		entry->flags = RB_FRAME_INCOMPLETE;
	}
	rbpy_queue_mark_done(&e->queue, fr->ticket);
}

void
rbpy_frame_end(rbpy_frame *fr)
{
	rbpy_frame_end_nosettle(fr);
	rbpy_endpoint_settle(fr->owner);
}

rbpy_frame *
rbpy_frame_new(struct rbpy_endpoint *owner, const struct rb_frame *f)
{
	rbpy_frame *fr = PyObject_New(rbpy_frame, &rbpy_frame_type);

	if (fr == NULL)
		return NULL;
	Py_INCREF(owner);
	fr->owner = owner;
	fr->f = *f;
	fr->exports = 0;
	fr->shape1 = (Py_ssize_t)f->length;
	if (rbpy_queue_push(&owner->queue, f, &fr->ticket) != 0) {
		/* Not in the queue: it must not be marked done on dealloc. */
		fr->state = RBPY_DONE;
		Py_DECREF(fr);
		PyErr_NoMemory();
		return NULL;
	}
	fr->state = RBPY_HELD;
	return fr;
}

static void
rbpy_frame_dealloc(rbpy_frame *fr)
{
	struct rbpy_endpoint *e = fr->owner;

	/* Views hold a reference: none can be left here. */
	if (e->iter_prev == fr)
		e->iter_prev = NULL;
	rbpy_frame_end(fr);
	Py_DECREF(e);
	PyObject_Free(fr);
}

/*
 * Fills a Py_buffer the way the requester asked (PEP 3118): no format, no
 * shape or no strides unless requested, which is only allowed when the
 * memory is C-contiguous.
 */
static int
rbpy_fill_view(Py_buffer *view, PyObject *obj, void *buf, Py_ssize_t len,
	       int readonly, struct rbpy_endpoint *e, int ndim, Py_ssize_t *shape,
	       Py_ssize_t *strides, int contiguous, int flags)
{
	if ((flags & PyBUF_WRITABLE) && readonly) {
		PyErr_SetString(PyExc_BufferError,
				"frames of a consumer are read-only (the producer owns them)");
		return -1;
	}
	if (!contiguous && (flags & PyBUF_STRIDES) != PyBUF_STRIDES) {
		PyErr_SetString(PyExc_BufferError,
				"this batch's slots are not contiguous: the requester "
				"must accept strides");
		return -1;
	}
	if (PyBUF_ANY_CONTIGUOUS == (flags & PyBUF_ANY_CONTIGUOUS) && !contiguous) {
		PyErr_SetString(PyExc_BufferError, "this batch's slots are not contiguous");
		return -1;
	}
	view->obj = Py_NewRef(obj);
	view->buf = buf;
	view->len = len;
	view->readonly = readonly;
	view->itemsize = e->itemsize;
	view->format = (flags & PyBUF_FORMAT) ? e->format : NULL;
	view->ndim = ndim;
	view->shape = (flags & PyBUF_ND) == PyBUF_ND ? shape : NULL;
	view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? strides : NULL;
	view->suboffsets = NULL;
	view->internal = NULL;
	if (view->shape == NULL) {
		/* A plain byte buffer, as PyBuffer_FillInfo gives. */
		view->ndim = 1;
		if (view->format == NULL)
			view->itemsize = 1;
	}
	return 0;
}

static int
rbpy_frame_getbuffer(rbpy_frame *fr, Py_buffer *view, int flags)
{
	struct rbpy_endpoint *e = fr->owner;
	Py_ssize_t *shape = e->typed ? e->shape : &fr->shape1;
	Py_ssize_t len = e->typed ? e->type_bytes : fr->shape1;

	if (fr->state != RBPY_HELD || e->closing || e->closed) {
		view->obj = NULL;
		rbpy_frame_gone(fr);
		return -1;
	}
	if (rbpy_fill_view(view, (PyObject *)fr, fr->f.data, len,
			   e->side == RBPY_CONSUMER, e, e->ndim, shape, e->strides,
			   1, flags) != 0) {
		view->obj = NULL;
		return -1;
	}
	fr->exports++;
	e->exports++;
	return 0;
}

static void
rbpy_frame_releasebuffer(rbpy_frame *fr, Py_buffer *view)
{
	struct rbpy_endpoint *e = fr->owner;

	(void)view;
	fr->exports--;
	e->exports--;
	if (fr->exports == 0 && fr->state == RBPY_RELEASING)
		rbpy_frame_end(fr); /* asked to end meanwhile: ends now */
	else if (e->exports == 0 && e->closing) {
		rbpy_endpoint_settle(e);
	}
}

static PyBufferProcs rbpy_frame_as_buffer = {
	.bf_getbuffer = (getbufferproc)rbpy_frame_getbuffer,
	.bf_releasebuffer = (releasebufferproc)rbpy_frame_releasebuffer,
};

static PyObject *
rbpy_frame_array(rbpy_frame *fr, void *closure)
{
	(void)closure;
	if (fr->state != RBPY_HELD || fr->owner->closing || fr->owner->closed)
		return rbpy_frame_gone(fr);
	return rbpy_numpy_asarray((PyObject *)fr);
}

/*
 * numpy.asarray(obj) tries the buffer protocol first and, when that fails,
 * silently goes on to wrap obj in a 0-d object array. It calls __array__
 * only after the buffer protocol failed, so this costs nothing when a view
 * is possible, and otherwise turns the silent wrap into the buffer's error
 * (for example "frame seq 5 was released").
 */
static PyObject *
rbpy_array_via_buffer(PyObject *self, PyObject *args, PyObject *kwds)
{
	PyObject *mv, *arr;

	(void)args;
	(void)kwds;
	mv = PyMemoryView_FromObject(self);
	if (mv == NULL)
		return NULL;
	arr = rbpy_numpy_asarray(mv);
	Py_DECREF(mv);
	return arr;
}

static PyObject *
rbpy_frame_release(rbpy_frame *fr, PyObject *unused)
{
	struct rbpy_endpoint *e = fr->owner;

	(void)unused;
	if (e->side != RBPY_CONSUMER) {
		PyErr_SetString(PyExc_TypeError,
				"a producer's frame is published with Producer.commit(frame)");
		return NULL;
	}
	if (fr->state == RBPY_DONE)
		Py_RETURN_NONE; /* like file.close(): a second call does nothing */
	if (rbpy_frame_check_release(fr, "release") != 0)
		return NULL;
	rbpy_frame_end_nosettle(fr);
	if (!e->busy && !e->closed && rbpy_consumer_flush(e, 1) != 0)
		return NULL;
	rbpy_endpoint_settle(e);
	Py_RETURN_NONE;
}

static PyObject *
rbpy_frame_enter(rbpy_frame *fr, PyObject *unused)
{
	(void)unused;
	if (fr->state != RBPY_HELD)
		return rbpy_frame_gone(fr);
	return Py_NewRef(fr);
}

/* Consumer frames: released at the end of the block (when its views are
 * gone). Producer frames: committed, or, when the block raised, published
 * empty and flagged incomplete. */
static PyObject *
rbpy_frame_exit(rbpy_frame *fr, PyObject *args)
{
	PyObject *exc_type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;

	if (fr->owner->side == RBPY_PRODUCER && exc_type == Py_None &&
	    fr->state == RBPY_HELD)
		return rbpy_producer_commit_frames(fr->owner, &fr, 1, NULL, NULL, NULL);
	rbpy_frame_end(fr);
	Py_RETURN_FALSE;
}

static PyObject *
rbpy_frame_repr(rbpy_frame *fr)
{
	static const char *const states[] = {"held", "releasing", "released"};

	return PyUnicode_FromFormat("<ringbuf.Frame seq=%llu length=%llu %s%s>",
				    (unsigned long long)fr->f.seq,
				    (unsigned long long)fr->f.length,
				    fr->owner->side == RBPY_PRODUCER && fr->state == RBPY_DONE ?
				    "committed" : states[fr->state],
				    (fr->f.flags & RB_FRAME_ABANDONED) ? " abandoned" : "");
}

static PyObject *
rbpy_frame_get_seq(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(fr->f.seq);
}

static PyObject *
rbpy_frame_get_timestamp(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(fr->f.timestamp_ns);
}

static PyObject *
rbpy_frame_get_length(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLongLong(fr->f.length);
}

static PyObject *
rbpy_frame_get_flags(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(fr->f.flags);
}

/*
 * Layout 4 (docs/FORMAT.md §5.13): the header of this frame's own stream,
 * not the newest one: `frame.header` (a dict) and `frame.header_text`.
 * A header overwritten by newer streams raises RingError with errno
 * ENOMSG (RB_E_HEADER_GONE), never another stream's header.
 */
static PyObject *
rbpy_frame_header_text(rbpy_frame *fr, struct rb_stream_info *info)
{
	struct rbpy_endpoint *e = fr->owner;
	uint32_t cap;
	PyObject *text;
	char *buf;
	int rc;

	if (e->closing || e->closed || e->ring == NULL) {
		PyErr_SetString(PyExc_ValueError, "the ring is closed");
		return NULL;
	}
	cap = rb_ring_stream_header_capacity(e->ring) + 1;
	if ((buf = PyMem_Malloc(cap)) == NULL)
		return PyErr_NoMemory();
	rc = rb_ring_stream_header_at(e->ring, fr->f.seq, buf, cap, info);
	if (rc < 0) {
		PyMem_Free(buf);
		return rbpy_raise(rc, e->name);
	}
	text = PyUnicode_DecodeUTF8(buf, rc, "replace");
	PyMem_Free(buf);
	return text;
}

/* Header text (a new reference, or NULL with an exception) to a dict;
 * consumes the text. */
PyObject *
rbpy_header_dict(PyObject *text)
{
	PyObject *dict;
	const char *s;

	if (text == NULL)
		return NULL;
	s = PyUnicode_AsUTF8(text);
	dict = s ? rbpy_parse_header(s) : NULL;
	Py_DECREF(text);
	return dict;
}

static PyObject *
rbpy_frame_get_header_text(rbpy_frame *fr, void *closure)
{
	struct rb_stream_info info;

	(void)closure;
	return rbpy_frame_header_text(fr, &info);
}

static PyObject *
rbpy_frame_get_header(rbpy_frame *fr, void *closure)
{
	return rbpy_header_dict(rbpy_frame_get_header_text(fr, closure));
}

static PyObject *
rbpy_frame_get_stream(rbpy_frame *fr, void *closure)
{
	struct rb_stream_info info;
	struct rbpy_endpoint *e = fr->owner;
	int rc;

	(void)closure;
	if (e->closing || e->closed || e->ring == NULL) {
		PyErr_SetString(PyExc_ValueError, "the ring is closed");
		return NULL;
	}
	rc = rb_ring_stream_header_at(e->ring, fr->f.seq, NULL, 0, &info);
	if (rc < 0)
		return rbpy_raise(rc, e->name);
	return PyLong_FromUnsignedLongLong(info.ordinal);
}

/* UTC of the time stamp through the ring's clock anchor (§5.22), or None. */
static PyObject *
rbpy_frame_get_utc_ns(rbpy_frame *fr, void *closure)
{
	struct rbpy_endpoint *e = fr->owner;
	int64_t utc;

	(void)closure;
	if (e->ring == NULL || e->closed ||
	    rb_ring_utc_ns(e->ring, fr->f.timestamp_ns, &utc) != 0)
		Py_RETURN_NONE;
	return PyLong_FromLongLong(utc);
}

/* The same as a timezone-aware datetime (microseconds), or None. */
static PyObject *
rbpy_frame_get_utc(rbpy_frame *fr, void *closure)
{
	PyObject *ns = rbpy_frame_get_utc_ns(fr, closure), *mod, *dt = NULL;

	if (ns == NULL || ns == Py_None)
		return ns;
	mod = PyImport_ImportModule("datetime");
	if (mod != NULL) {
		PyObject *cls = PyObject_GetAttrString(mod, "datetime");
		PyObject *tz = PyObject_GetAttrString(mod, "timezone");
		PyObject *utc = tz ? PyObject_GetAttrString(tz, "utc") : NULL;

		if (cls != NULL && utc != NULL)
			dt = PyObject_CallMethod(cls, "fromtimestamp", "dO",
						 (double)PyLong_AsLongLong(ns) / 1e9, utc);
		Py_XDECREF(utc);
		Py_XDECREF(tz);
		Py_XDECREF(cls);
		Py_DECREF(mod);
	}
	Py_DECREF(ns);
	return dt;
}

static PyObject *
rbpy_frame_get_dropped(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyLong_FromUnsignedLong(fr->f.dropped);
}

/* A several-producer ring's seq whose producer died before committing it:
 * published empty on its behalf, so the frames after it could flow on. */
static PyObject *
rbpy_frame_get_abandoned(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyBool_FromLong((fr->f.flags & RB_FRAME_ABANDONED) != 0);
}

static PyObject *
rbpy_frame_get_released(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyBool_FromLong(fr->state != RBPY_HELD || fr->owner->closing ||
			       fr->owner->closed);
}

static PyObject *
rbpy_frame_get_views(rbpy_frame *fr, void *closure)
{
	(void)closure;
	return PyLong_FromSsize_t(fr->exports);
}

/* Lossy consumers: whether the producer has not yet overwritten the frame
 * (read the data, then check, then trust it). */
static PyObject *
rbpy_frame_check(rbpy_frame *fr, PyObject *unused)
{
	struct rbpy_endpoint *e = fr->owner;

	(void)unused;
	if (fr->state == RBPY_DONE || e->closed)
		return rbpy_frame_gone(fr);
	if (e->side != RBPY_CONSUMER)
		Py_RETURN_TRUE;
	return PyBool_FromLong(rb_consumer_check(e->consumer, &fr->f) == 0);
}

static PyGetSetDef rbpy_frame_getset[] = {
	{"array", (getter)rbpy_frame_array, NULL,
	 "numpy.asarray(frame): the slot itself, typed and shaped (read-only for "
	 "a consumer, writable for a producer).", NULL},
	{"seq", (getter)rbpy_frame_get_seq, NULL, "sequence number", NULL},
	{"timestamp", (getter)rbpy_frame_get_timestamp, NULL,
	 "producer's time stamp, ns (CLOCK_MONOTONIC unless the producer chose)", NULL},
	{"length", (getter)rbpy_frame_get_length, NULL, "bytes used", NULL},
	{"header", (getter)rbpy_frame_get_header, NULL,
	 "the header (dict) of this frame's own stream; RingError (errno ENOMSG) "
	 "if newer streams overwrote it", NULL},
	{"header_text", (getter)rbpy_frame_get_header_text, NULL,
	 "the same as text", NULL},
	{"stream", (getter)rbpy_frame_get_stream, NULL,
	 "ordinal of this frame's stream (1, 2, ...; 0 before every stream)", NULL},
	{"utc_ns", (getter)rbpy_frame_get_utc_ns, NULL,
	 "the time stamp as UTC ns since the epoch (ring's clock anchor), or None",
	 NULL},
	{"utc", (getter)rbpy_frame_get_utc, NULL,
	 "the time stamp as a UTC datetime, or None", NULL},
	{"dropped_before", (getter)rbpy_frame_get_dropped, NULL,
	 "frames the producer dropped (ring full) just before this one", NULL},
	{"flags", (getter)rbpy_frame_get_flags, NULL, "FRAME_* flags", NULL},
	{"abandoned", (getter)rbpy_frame_get_abandoned, NULL,
	 "True if the producer that claimed this seq died before committing it "
	 "(flags & FRAME_ABANDONED): length 0, its memory holds nothing of it", NULL},
	{"released", (getter)rbpy_frame_get_released, NULL,
	 "True once released or committed (its memory can no longer be viewed)", NULL},
	{"views", (getter)rbpy_frame_get_views, NULL,
	 "live buffer exports (numpy arrays, memoryviews) of this frame", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef rbpy_frame_methods[] = {
	{"release", (PyCFunction)rbpy_frame_release, METH_NOARGS,
	 "release()\n--\n\nHands the slot back to the producer. Raises BufferError "
	 "while views of it exist; afterwards its memory can no longer be viewed."},
	{"check", (PyCFunction)rbpy_frame_check, METH_NOARGS,
	 "check()\n--\n\nFalse if the producer has started to overwrite the frame "
	 "(lossy consumers: read, then check, then trust); always True otherwise."},
	RBPY_CONTEXT_METHODS(rbpy_frame),
	{"__array__", (PyCFunction)(void (*)(void))rbpy_array_via_buffer,
	 METH_VARARGS | METH_KEYWORDS, NULL},
	{NULL, NULL, 0, NULL},
};

PyTypeObject rbpy_frame_type = {
	RBPY_TYPE_HEAD("ringbuf.Frame", rbpy_frame),
	.tp_repr = (reprfunc)rbpy_frame_repr,
	.tp_as_buffer = &rbpy_frame_as_buffer,
	.tp_doc = "One frame in place in the ring. numpy.asarray(frame) views its "
		  "memory; release() (consumer) or Producer.commit() hands it on; "
		  "`with frame:` does so at the end of the block.",
	.tp_methods = rbpy_frame_methods,
	.tp_getset = rbpy_frame_getset,
};

/* ---- Batch ---------------------------------------------------------------- */

rbpy_batch *
rbpy_batch_new(struct rbpy_endpoint *owner, Py_ssize_t n)
{
	rbpy_batch *b = PyObject_NewVar(rbpy_batch, &rbpy_batch_type, n);
	Py_ssize_t i;

	if (b == NULL)
		return NULL;
	Py_INCREF(owner);
	b->owner = owner;
	b->exports = 0;
	for (i = 0; i < n; i++)
		b->frames[i] = NULL;
	return b;
}

static void
rbpy_batch_dealloc(rbpy_batch *b)
{
	Py_ssize_t i;

	for (i = 0; i < Py_SIZE(b); i++)
		Py_XDECREF(b->frames[i]);
	Py_DECREF(b->owner);
	PyObject_Free(b);
}

static Py_ssize_t
rbpy_batch_len(rbpy_batch *b)
{
	return Py_SIZE(b);
}

static PyObject *
rbpy_batch_item(rbpy_batch *b, Py_ssize_t i)
{
	if (i < 0 || i >= Py_SIZE(b)) {
		PyErr_SetString(PyExc_IndexError, "batch index out of range");
		return NULL;
	}
	return Py_NewRef(b->frames[i]);
}

static PyObject *
rbpy_batch_slice(rbpy_batch *b, Py_ssize_t start, Py_ssize_t n)
{
	rbpy_batch *s = rbpy_batch_new(b->owner, n);
	Py_ssize_t i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		s->frames[i] = (rbpy_frame *)Py_NewRef(b->frames[start + i]);
	return (PyObject *)s;
}

static PyObject *
rbpy_batch_subscript(rbpy_batch *b, PyObject *key)
{
	Py_ssize_t start, stop, step, n;

	if (PyIndex_Check(key)) {
		Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);

		if (i == -1 && PyErr_Occurred())
			return NULL;
		if (i < 0)
			i += Py_SIZE(b);
		return rbpy_batch_item(b, i);
	}
	if (!PySlice_Check(key)) {
		PyErr_SetString(PyExc_TypeError, "batch indices must be integers or slices");
		return NULL;
	}
	if (PySlice_Unpack(key, &start, &stop, &step) != 0)
		return NULL;
	n = PySlice_AdjustIndices(Py_SIZE(b), &start, &stop, step);
	if (step != 1) {
		PyErr_SetString(PyExc_ValueError, "batch slices must have step 1");
		return NULL;
	}
	return rbpy_batch_slice(b, start, n);
}

/*
 * Whether frames [i, j) lie in consecutive slots with one length (so one
 * strided array covers them): frames of consecutive sequence numbers that
 * do not wrap around the end of the slot area.
 */
static int
rbpy_batch_one_run(rbpy_batch *b, Py_ssize_t i, Py_ssize_t j)
{
	struct rbpy_endpoint *e = b->owner;
	Py_ssize_t k;

	for (k = i + 1; k < j; k++) {
		const struct rb_frame *p = &b->frames[k - 1]->f, *f = &b->frames[k]->f;

		if ((char *)f->data != (char *)p->data + e->slot_stride)
			return 0;
		if (!e->typed && f->length != p->length)
			return 0;
	}
	return 1;
}

static int
rbpy_batch_getbuffer(rbpy_batch *b, Py_buffer *view, int flags)
{
	struct rbpy_endpoint *e = b->owner;
	Py_ssize_t n = Py_SIZE(b), i, frame_len;
	int contiguous, k;

	view->obj = NULL;
	for (i = 0; i < n; i++) {
		if (b->frames[i]->state != RBPY_HELD || e->closing || e->closed) {
			rbpy_frame_gone(b->frames[i]);
			return -1;
		}
	}
	if (!rbpy_batch_one_run(b, 0, n)) {
		PyErr_SetString(PyExc_BufferError,
				"the batch's frames are not in one run of slots (it wraps "
				"around the ring, a lossy consumer skipped frames, or untyped "
				"frames differ in length): use batch.arrays() or per-frame views");
		return -1;
	}
	b->shape[0] = n;
	b->strides[0] = (Py_ssize_t)e->slot_stride;
	for (k = 0; k < e->ndim; k++) {
		b->shape[k + 1] = e->typed ? e->shape[k] : (n ? b->frames[0]->shape1 : 0);
		b->strides[k + 1] = e->strides[k];
	}
	frame_len = e->typed ? e->type_bytes : (n ? b->frames[0]->shape1 : 0);
	contiguous = n <= 1 || (Py_ssize_t)e->slot_stride == frame_len;
	if (rbpy_fill_view(view, (PyObject *)b, n ? b->frames[0]->f.data : e->slots,
			   n * frame_len, e->side == RBPY_CONSUMER, e, e->ndim + 1,
			   b->shape, b->strides, contiguous, flags) != 0) {
		view->obj = NULL;
		return -1;
	}
	b->exports++;
	e->exports++;
	for (i = 0; i < n; i++)
		b->frames[i]->exports++;
	return 0;
}

static void
rbpy_batch_releasebuffer(rbpy_batch *b, Py_buffer *view)
{
	struct rbpy_endpoint *e = b->owner;
	Py_ssize_t i;

	(void)view;
	b->exports--;
	e->exports--;
	for (i = 0; i < Py_SIZE(b); i++) {
		rbpy_frame *fr = b->frames[i];

		fr->exports--;
		if (fr->exports == 0 && fr->state == RBPY_RELEASING)
			rbpy_frame_end_nosettle(fr);
	}
	rbpy_endpoint_settle(e);
}

static PyBufferProcs rbpy_batch_as_buffer = {
	.bf_getbuffer = (getbufferproc)rbpy_batch_getbuffer,
	.bf_releasebuffer = (releasebufferproc)rbpy_batch_releasebuffer,
};

static PyObject *
rbpy_batch_array(rbpy_batch *b, void *closure)
{
	(void)closure;
	return rbpy_numpy_asarray((PyObject *)b);
}

/* One array per run of consecutive slots: one for a batch of a lossless
 * consumer (acquire_batch never wraps), more if a lossy one skipped. */
static PyObject *
rbpy_batch_arrays(rbpy_batch *b, PyObject *unused)
{
	PyObject *list = PyList_New(0);
	Py_ssize_t i = 0, n = Py_SIZE(b);

	(void)unused;
	if (list == NULL)
		return NULL;
	while (i < n) {
		Py_ssize_t j = i + 1;
		PyObject *sub, *arr;
		int rc;

		while (j < n && rbpy_batch_one_run(b, j - 1, j + 1))
			j++;
		sub = rbpy_batch_slice(b, i, j - i);
		arr = sub ? rbpy_numpy_asarray(sub) : NULL;
		Py_XDECREF(sub);
		rc = arr ? PyList_Append(list, arr) : -1;
		Py_XDECREF(arr);
		if (rc != 0) {
			Py_DECREF(list);
			return NULL;
		}
		i = j;
	}
	return list;
}

static PyObject *
rbpy_batch_release(rbpy_batch *b, PyObject *unused)
{
	struct rbpy_endpoint *e = b->owner;
	Py_ssize_t i;

	(void)unused;
	if (e->side != RBPY_CONSUMER) {
		PyErr_SetString(PyExc_TypeError,
				"a producer's batch is published with Producer.commit(batch)");
		return NULL;
	}
	for (i = 0; i < Py_SIZE(b); i++)
		if (b->frames[i]->state != RBPY_DONE &&
		    rbpy_frame_check_release(b->frames[i], "release") != 0)
			return NULL;
	for (i = 0; i < Py_SIZE(b); i++)
		rbpy_frame_end_nosettle(b->frames[i]);
	if (!e->busy && !e->closed && rbpy_consumer_flush(e, 1) != 0)
		return NULL;
	rbpy_endpoint_settle(e);
	Py_RETURN_NONE;
}

static PyObject *
rbpy_batch_enter(rbpy_batch *b, PyObject *unused)
{
	(void)unused;
	return Py_NewRef(b);
}

static PyObject *
rbpy_batch_exit(rbpy_batch *b, PyObject *args)
{
	PyObject *exc_type = PyTuple_GET_SIZE(args) > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None;
	struct rbpy_endpoint *e = b->owner;
	Py_ssize_t i;

	if (e->side == RBPY_PRODUCER && exc_type == Py_None) {
		/* Commit what the block did not commit itself. */
		rbpy_frame *stack[64], **held = stack;
		Py_ssize_t n = 0;
		PyObject *r;

		if (Py_SIZE(b) > 64) {
			held = PyMem_Malloc((size_t)Py_SIZE(b) * sizeof(*held));
			if (held == NULL)
				return PyErr_NoMemory();
		}
		for (i = 0; i < Py_SIZE(b); i++)
			if (b->frames[i]->state == RBPY_HELD)
				held[n++] = b->frames[i];
		r = rbpy_producer_commit_frames(e, held, n, NULL, NULL, NULL);
		if (held != stack)
			PyMem_Free(held);
		if (r == NULL)
			return NULL;
		Py_DECREF(r);
		Py_RETURN_FALSE;
	}
	for (i = 0; i < Py_SIZE(b); i++)
		rbpy_frame_end_nosettle(b->frames[i]);
	rbpy_endpoint_settle(e);
	Py_RETURN_FALSE;
}

static PyObject *
rbpy_batch_repr(rbpy_batch *b)
{
	if (Py_SIZE(b) == 0)
		return PyUnicode_FromString("<ringbuf.Batch of 0 frames>");
	return PyUnicode_FromFormat("<ringbuf.Batch of %zd frames, seq %llu..%llu>",
				    Py_SIZE(b), (unsigned long long)b->frames[0]->f.seq,
				    (unsigned long long)b->frames[Py_SIZE(b) - 1]->f.seq);
}

static PySequenceMethods rbpy_batch_as_sequence = {
	.sq_length = (lenfunc)rbpy_batch_len,
	.sq_item = (ssizeargfunc)rbpy_batch_item,
};

static PyMappingMethods rbpy_batch_as_mapping = {
	.mp_length = (lenfunc)rbpy_batch_len,
	.mp_subscript = (binaryfunc)rbpy_batch_subscript,
};

static PyGetSetDef rbpy_batch_getset[] = {
	{"array", (getter)rbpy_batch_array, NULL,
	 "numpy.asarray(batch): one view of shape (len(batch), *frame_shape) over "
	 "the slots, strided by the slot stride. Raises BufferError if the frames "
	 "are not in one run of slots (see arrays()).", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef rbpy_batch_methods[] = {
	{"arrays", (PyCFunction)rbpy_batch_arrays, METH_NOARGS,
	 "arrays()\n--\n\nA list of views, one per run of consecutive slots "
	 "(always one for a lossless consumer's batch)."},
	{"release", (PyCFunction)rbpy_batch_release, METH_NOARGS,
	 "release()\n--\n\nReleases every frame (BufferError while views exist)."},
	RBPY_CONTEXT_METHODS(rbpy_batch),
	{"__array__", (PyCFunction)(void (*)(void))rbpy_array_via_buffer,
	 METH_VARARGS | METH_KEYWORDS, NULL},
	{NULL, NULL, 0, NULL},
};

PyTypeObject rbpy_batch_type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "ringbuf.Batch",
	.tp_basicsize = offsetof(rbpy_batch, frames),
	.tp_itemsize = sizeof(rbpy_frame *),
	.tp_dealloc = (destructor)rbpy_batch_dealloc,
	.tp_repr = (reprfunc)rbpy_batch_repr,
	.tp_as_sequence = &rbpy_batch_as_sequence,
	.tp_as_mapping = &rbpy_batch_as_mapping,
	.tp_as_buffer = &rbpy_batch_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "Frames acquired together: a sequence of Frame, and one strided "
		  "view of all of them (numpy.asarray(batch), batch.array).",
	.tp_methods = rbpy_batch_methods,
	.tp_getset = rbpy_batch_getset,
};
