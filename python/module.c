/*
 * The ringbuf Python module: exceptions, helpers shared by the types, and
 * the module's initialisation.
 *
 * numpy is imported lazily, on the first `.array`, `.dtype` or similar: the
 * frames are exported through the buffer protocol, so `import ringbuf` and
 * memoryview(frame) work without it.
 */
#include <errno.h>
#include <time.h>

#include "rbpy.h"

PyObject *rbpy_ring_error;
PyObject *rbpy_end_of_stream;
PyObject *rbpy_producer_died;
PyObject *rbpy_demoted;
PyObject *rbpy_ring_not_found;
PyObject *rbpy_ring_exists;
PyObject *rbpy_ring_timeout;
PyObject *rbpy_truncated;

static PyObject *rbpy_numpy_asarray_fn;
static PyObject *rbpy_numpy_dtype_fn;

/*
 * Raises the exception for a library code, with the library's sentence and
 * the ring name: OSError(errno, rb_strerror(code), name), of the class that
 * lets callers catch what they expect (FileNotFoundError for a missing
 * ring, TimeoutError for a wait that ran out).
 */
PyObject *
rbpy_raise(int code, PyObject *name)
{
	PyObject *type = rbpy_ring_error, *exc;

	switch (code) {
	case RB_E_EOS:
		type = rbpy_end_of_stream;
		break;
	case RB_E_PRODUCER_DEAD:
		type = rbpy_producer_died;
		break;
	case RB_E_DEMOTED:
		type = rbpy_demoted;
		break;
	case -ENOENT:
		type = rbpy_ring_not_found;
		break;
	case -EEXIST:
		type = rbpy_ring_exists;
		break;
	case -ETIMEDOUT:
	case -EAGAIN: /* a wait of zero seconds that found nothing */
		type = rbpy_ring_timeout;
		break;
	case RB_E_TRUNCATED:
		type = rbpy_truncated;
		break;
	case -ENOMEM:
		return PyErr_NoMemory();
	}
	if (name != NULL)
		exc = PyObject_CallFunction(type, "isO", -code, rb_strerror(code), name);
	else
		exc = PyObject_CallFunction(type, "is", -code, rb_strerror(code));
	if (exc != NULL) {
		PyErr_SetObject(type, exc);
		Py_DECREF(exc);
	}
	return NULL;
}

/* None: wait for ever; seconds (int or float) >= 0 otherwise. */
int
rbpy_timeout_ns(PyObject *timeout, uint64_t *out)
{
	double s;

	if (timeout == NULL || timeout == Py_None) {
		*out = RB_FOREVER;
		return 0;
	}
	s = PyFloat_AsDouble(timeout);
	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (!(s >= 0)) {
		PyErr_SetString(PyExc_ValueError, "timeout must be None or >= 0 seconds");
		return -1;
	}
	/* A year is for ever as far as a wait is concerned, and keeps the
	 * conversion clear of overflow. */
	if (s > 365.0 * 86400.0)
		*out = RB_FOREVER;
	else
		*out = (uint64_t)(s * 1e9);
	return 0;
}

/* spin: seconds (> 0, at most one) to busy-wait before sleeping. */
int
rbpy_spin_ns(PyObject *spin, uint64_t *out)
{
	double s = PyFloat_AsDouble(spin);

	if (s == -1.0 && PyErr_Occurred())
		return -1;
	if (!(s > 0 && s <= 1.0)) {
		PyErr_SetString(PyExc_ValueError, "spin must be None or 0 < seconds <= 1");
		return -1;
	}
	*out = (uint64_t)(s * 1e9);
	if (*out == 0)
		*out = 1; /* 0 would mean the library's default */
	return 0;
}

/* The clock rb-producer stamps frames with. */
uint64_t
rbpy_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int
rbpy_numpy_load(void)
{
	PyObject *np;

	if (rbpy_numpy_asarray_fn != NULL)
		return 0;
	np = PyImport_ImportModule("numpy");
	if (np == NULL)
		return -1;
	rbpy_numpy_asarray_fn = PyObject_GetAttrString(np, "asarray");
	rbpy_numpy_dtype_fn = PyObject_GetAttrString(np, "dtype");
	Py_DECREF(np);
	if (rbpy_numpy_asarray_fn == NULL || rbpy_numpy_dtype_fn == NULL) {
		Py_CLEAR(rbpy_numpy_asarray_fn);
		Py_CLEAR(rbpy_numpy_dtype_fn);
		return -1;
	}
	return 0;
}

PyObject *
rbpy_numpy_asarray(PyObject *obj)
{
	if (rbpy_numpy_load() != 0)
		return NULL;
	return PyObject_CallOneArg(rbpy_numpy_asarray_fn, obj);
}

PyObject *
rbpy_numpy_dtype_of_obj(PyObject *obj)
{
	if (rbpy_numpy_load() != 0)
		return NULL;
	return PyObject_CallOneArg(rbpy_numpy_dtype_fn, obj);
}

PyObject *
rbpy_numpy_dtype(const char *name)
{
	if (rbpy_numpy_load() != 0)
		return NULL;
	return PyObject_CallFunction(rbpy_numpy_dtype_fn, "s", name);
}

/* Per element type: the buffer-protocol format and the numpy name. */
static const struct {
	const char *format;
	const char *numpy;
} rbpy_elems[RB_ELEM_COUNT_] = {
	[RB_ELEM_NONE] = {"B", "uint8"},
	[RB_ELEM_U8] = {"B", "uint8"},     [RB_ELEM_U16] = {"H", "uint16"},
	[RB_ELEM_U32] = {"I", "uint32"},   [RB_ELEM_U64] = {"Q", "uint64"},
	[RB_ELEM_I8] = {"b", "int8"},      [RB_ELEM_I16] = {"h", "int16"},
	[RB_ELEM_I32] = {"i", "int32"},    [RB_ELEM_I64] = {"q", "int64"},
	[RB_ELEM_F32] = {"f", "float32"},  [RB_ELEM_F64] = {"d", "float64"},
	[RB_ELEM_C64] = {"Zf", "complex64"}, [RB_ELEM_C128] = {"Zd", "complex128"},
};

/*
 * Reads the frame layout from the ring's frame type. The ring validated
 * the type against frame_bytes when it was opened, so the products below
 * cannot overflow; the check against PY_SSIZE_T_MAX is for 32-bit builds
 * of the future, not for x86-64.
 */
int
rbpy_layout_init(struct rbpy_endpoint *e, struct rb_ring *ring)
{
	const struct rb_frame_type *t = rb_ring_frame_type(ring);
	Py_ssize_t bytes;
	int i;

	e->ring = ring;
	e->frame_bytes = rb_ring_frame_bytes(ring);
	e->slot_count = rb_ring_slot_count(ring);
	e->slot_stride = rb_ring_slot_stride(ring);
	e->slots = rb_ring_slots(ring);
	if ((uint64_t)e->slot_count * e->slot_stride > (uint64_t)PY_SSIZE_T_MAX) {
		PyErr_SetString(PyExc_OverflowError, "ring too large to map");
		return -1;
	}
	e->typed = t->elem != RB_ELEM_NONE && t->elem < RB_ELEM_COUNT_;
	strcpy(e->format, rbpy_elems[e->typed ? t->elem : RB_ELEM_NONE].format);
	if (!e->typed) {
		e->itemsize = 1;
		e->ndim = 1;
		e->shape[0] = (Py_ssize_t)e->frame_bytes;
		e->strides[0] = 1;
		e->type_bytes = (Py_ssize_t)e->frame_bytes;
		return 0;
	}
	e->itemsize = (Py_ssize_t)rb_elem_size(t->elem);
	e->ndim = (int)t->ndim;
	bytes = e->itemsize;
	for (i = e->ndim - 1; i >= 0; i--) { /* C order: the last dim is fastest */
		e->shape[i] = (Py_ssize_t)t->dims[i];
		e->strides[i] = bytes;
		bytes *= e->shape[i];
	}
	e->type_bytes = bytes;
	return 0;
}

PyObject *
rbpy_dtype_of(struct rbpy_endpoint *e)
{
	const struct rb_frame_type *t = rb_ring_frame_type(e->ring);

	return rbpy_numpy_dtype(rbpy_elems[e->typed ? t->elem : RB_ELEM_NONE].numpy);
}

/* The shape of a whole frame; untyped frames are (frame_bytes,) at most. */
PyObject *
rbpy_shape_of(struct rbpy_endpoint *e)
{
	PyObject *shape = PyTuple_New(e->ndim);
	int i;

	if (shape == NULL)
		return NULL;
	for (i = 0; i < e->ndim; i++) {
		PyObject *d = PyLong_FromSsize_t(e->shape[i]);

		if (d == NULL) {
			Py_DECREF(shape);
			return NULL;
		}
		PyTuple_SET_ITEM(shape, i, d);
	}
	return shape;
}

int
rbpy_endpoint_usable(struct rbpy_endpoint *e, const char *cls, const char *role)
{
	if (e->ring == NULL && !e->closed) {
		PyErr_Format(PyExc_ValueError, "%s.__init__ was not called", cls);
		return -1;
	}
	if (e->closing || e->closed) {
		PyErr_Format(PyExc_ValueError, "the %s is closed", role);
		return -1;
	}
	if (e->busy) {
		PyErr_Format(PyExc_RuntimeError,
			     "the %s is waiting in another thread (one thread "
			     "at a time may use a %s)", role, role);
		return -1;
	}
	return 0;
}

int
rbpy_endpoint_open(struct rbpy_endpoint *e)
{
	if (e->ring == NULL) {
		PyErr_SetString(PyExc_ValueError, "the ring is closed");
		return -1;
	}
	return 0;
}

#define RBPY_GETTER(fn, expr)                                            \
	PyObject *fn(struct rbpy_endpoint *e, void *closure)     \
	{                                                                \
		(void)closure;                                           \
		if (rbpy_endpoint_open(e) != 0)                          \
			return NULL;                                     \
		return (expr);                                           \
	}

RBPY_GETTER(rbpy_ep_dtype, rbpy_dtype_of(e))
RBPY_GETTER(rbpy_ep_shape, rbpy_shape_of(e))
RBPY_GETTER(rbpy_ep_frame_bytes, PyLong_FromUnsignedLongLong(e->frame_bytes))
RBPY_GETTER(rbpy_ep_slot_count, PyLong_FromUnsignedLong(e->slot_count))
RBPY_GETTER(rbpy_ep_slot_stride, PyLong_FromUnsignedLongLong(e->slot_stride))
RBPY_GETTER(rbpy_ep_ring_address, PyLong_FromVoidPtr(e->slots))
RBPY_GETTER(rbpy_ep_ring_size,
	    PyLong_FromUnsignedLongLong((uint64_t)e->slot_count * e->slot_stride))
RBPY_GETTER(rbpy_ep_frame_type,
	    e->typed ? PyUnicode_FromString(rb_elem_name(rb_ring_frame_type(e->ring)->elem))
		     : Py_NewRef(Py_None))

PyObject *
rbpy_ep_name(struct rbpy_endpoint *e, void *closure)
{
	(void)closure;
	return Py_NewRef(e->name ? e->name : Py_None);
}

PyObject *
rbpy_ep_closed(struct rbpy_endpoint *e, void *closure)
{
	(void)closure;
	return PyBool_FromLong(e->closing || e->closed);
}
/* dict[key] = value, stealing the reference to value; -1 on failure. */
static int
rbpy_dict_put(PyObject *dict, const char *key, PyObject *value)
{
	int rc;

	if (value == NULL)
		return -1;
	rc = PyDict_SetItemString(dict, key, value);
	Py_DECREF(value);
	return rc;
}

#define RBPY_U64(v) PyLong_FromUnsignedLongLong((unsigned long long)(v))
#define RBPY_BOOL(v) PyBool_FromLong((v) != 0)
/* UINT64_MAX ("none") as None. */
#define RBPY_SEQ_OR_NONE(v) ((v) == UINT64_MAX ? Py_NewRef(Py_None) : RBPY_U64(v))

/* A snapshot of the ring's counters, for any endpoint. */
PyObject *
rbpy_ep_status(struct rbpy_endpoint *e, PyObject *unused)
{
	struct rb_ring_status st;
	PyObject *d;
	int rc;

	(void)unused;
	if (rbpy_endpoint_open(e) != 0)
		return NULL;
	rc = rb_ring_get_status(e->ring, &st);
	if (rc != 0)
		return rbpy_raise(rc, e->name);
	if ((d = PyDict_New()) == NULL)
		return NULL;
	if (rbpy_dict_put(d, "write_seq", RBPY_U64(st.write_seq)) ||
	    rbpy_dict_put(d, "initial_seq", RBPY_U64(st.initial_seq)) ||
	    rbpy_dict_put(d, "frames_dropped", RBPY_U64(st.frames_dropped)) ||
	    rbpy_dict_put(d, "producer_pid", RBPY_U64(st.producer_pid)) ||
	    rbpy_dict_put(d, "producer_alive", RBPY_BOOL(st.producer_alive)) ||
	    rbpy_dict_put(d, "stream_state", PyLong_FromLong(st.stream_state)) ||
	    rbpy_dict_put(d, "eos_seq", RBPY_U64(st.eos_seq)) ||
	    rbpy_dict_put(d, "producer_blocked", RBPY_BOOL(st.producer_blocked)) ||
	    rbpy_dict_put(d, "consumers", RBPY_U64(st.consumers)) ||
	    rbpy_dict_put(d, "producers", RBPY_U64(st.producers)) ||
	    rbpy_dict_put(d, "max_producers", RBPY_U64(st.max_producers)) ||
	    rbpy_dict_put(d, "stream_members", RBPY_U64(st.stream_members)) ||
	    rbpy_dict_put(d, "groups", RBPY_U64(st.groups)) ||
	    rbpy_dict_put(d, "claim_seq", RBPY_U64(st.claim_seq)) ||
	    rbpy_dict_put(d, "frames_abandoned", RBPY_U64(st.frames_abandoned))) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

/* A list of n dicts, one per entry, made by one(entry). */
static PyObject *
rbpy_list_of(const void *entries, size_t size, int n,
	     PyObject *(*one)(const void *entry))
{
	PyObject *list = PyList_New(n);
	int i;

	if (list == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		PyObject *d = one((const char *)entries + (size_t)i * size);

		if (d == NULL) {
			Py_DECREF(list);
			return NULL;
		}
		PyList_SET_ITEM(list, i, d);
	}
	return list;
}

static PyObject *
rbpy_producer_dict(const void *entry)
{
	const struct rb_producer_status *p = entry;
	PyObject *d = PyDict_New();

	if (d == NULL)
		return NULL;
	if (rbpy_dict_put(d, "index", RBPY_U64(p->index)) ||
	    rbpy_dict_put(d, "pid", RBPY_U64(p->pid)) ||
	    rbpy_dict_put(d, "alive", RBPY_BOOL(p->alive)) ||
	    rbpy_dict_put(d, "stopped", RBPY_BOOL(p->stopped)) ||
	    rbpy_dict_put(d, "in_stream", RBPY_BOOL(p->in_stream)) ||
	    rbpy_dict_put(d, "frames", RBPY_U64(p->frames)) ||
	    rbpy_dict_put(d, "hold_from", RBPY_SEQ_OR_NONE(p->hold_from))) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

static PyObject *
rbpy_group_dict(const void *entry)
{
	const struct rb_group_status *g = entry;
	PyObject *d = PyDict_New();

	if (d == NULL)
		return NULL;
	if (rbpy_dict_put(d, "index", RBPY_U64(g->index)) ||
	    rbpy_dict_put(d, "name", PyUnicode_DecodeUTF8(g->name, strnlen(g->name,
				  sizeof(g->name)), "replace")) ||
	    rbpy_dict_put(d, "lossy", RBPY_BOOL(g->lossy)) ||
	    rbpy_dict_put(d, "members", RBPY_U64(g->members)) ||
	    rbpy_dict_put(d, "claim_seq", RBPY_U64(g->claim_seq)) ||
	    rbpy_dict_put(d, "start_seq", RBPY_U64(g->start_seq)) ||
	    rbpy_dict_put(d, "lost", RBPY_U64(g->lost)) ||
	    rbpy_dict_put(d, "frames_departed", RBPY_U64(g->frames_departed)) ||
	    rbpy_dict_put(d, "markers", RBPY_U64(g->markers))) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

static PyObject *
rbpy_consumer_dict(const void *entry)
{
	const struct rb_consumer_status *c = entry;
	PyObject *d = PyDict_New(), *group;

	if (d == NULL)
		return NULL;
	group = c->group[0] ? PyUnicode_DecodeUTF8(c->group, strnlen(c->group,
						   sizeof(c->group)), "replace")
			    : Py_NewRef(Py_None);
	/* A group member holding nothing has no read position. */
	if (rbpy_dict_put(d, "index", RBPY_U64(c->index)) ||
	    rbpy_dict_put(d, "pid", RBPY_U64(c->pid)) ||
	    rbpy_dict_put(d, "alive", RBPY_BOOL(c->alive)) ||
	    rbpy_dict_put(d, "lossy", RBPY_BOOL(c->lossy)) ||
	    rbpy_dict_put(d, "label", PyUnicode_DecodeUTF8(c->label, strnlen(c->label,
				  sizeof(c->label)), "replace")) ||
	    rbpy_dict_put(d, "group", group) ||
	    rbpy_dict_put(d, "read_seq", RBPY_SEQ_OR_NONE(c->read_seq)) ||
	    rbpy_dict_put(d, "held", RBPY_U64(c->held)) ||
	    rbpy_dict_put(d, "frames", RBPY_U64(c->frames)) ||
	    rbpy_dict_put(d, "lost", RBPY_U64(c->lost)) ||
	    rbpy_dict_put(d, "sleeping", RBPY_BOOL(c->sleeping)) ||
	    rbpy_dict_put(d, "stopped", RBPY_BOOL(c->stopped)) ||
	    rbpy_dict_put(d, "demoted", RBPY_BOOL(c->demoted))) {
		Py_DECREF(d);
		return NULL;
	}
	return d;
}

PyObject *
rbpy_ep_producers(struct rbpy_endpoint *e, PyObject *unused)
{
	struct rb_producer_status out[RB_MAX_PRODUCERS];
	int n;

	(void)unused;
	if (rbpy_endpoint_open(e) != 0)
		return NULL;
	if ((n = rb_ring_producers(e->ring, out, RB_MAX_PRODUCERS)) < 0)
		return rbpy_raise(n, e->name);
	return rbpy_list_of(out, sizeof(out[0]), n < RB_MAX_PRODUCERS ? n : RB_MAX_PRODUCERS,
			    rbpy_producer_dict);
}

PyObject *
rbpy_ep_groups(struct rbpy_endpoint *e, PyObject *unused)
{
	struct rb_group_status out[RB_MAX_GROUPS];
	int n;

	(void)unused;
	if (rbpy_endpoint_open(e) != 0)
		return NULL;
	if ((n = rb_ring_groups(e->ring, out, RB_MAX_GROUPS)) < 0)
		return rbpy_raise(n, e->name);
	return rbpy_list_of(out, sizeof(out[0]), n < RB_MAX_GROUPS ? n : RB_MAX_GROUPS,
			    rbpy_group_dict);
}

PyObject *
rbpy_ep_consumers(struct rbpy_endpoint *e, PyObject *unused)
{
	struct rb_consumer_status *out;
	PyObject *list;
	int n;

	(void)unused;
	if (rbpy_endpoint_open(e) != 0)
		return NULL;
	/* 256 records of ~150 bytes: too much for the stack. */
	out = PyMem_Malloc(RB_MAX_CONSUMERS * sizeof(*out));
	if (out == NULL)
		return PyErr_NoMemory();
	n = rb_ring_consumers(e->ring, out, RB_MAX_CONSUMERS);
	if (n < 0) {
		PyMem_Free(out);
		return rbpy_raise(n, e->name);
	}
	list = rbpy_list_of(out, sizeof(out[0]), n < RB_MAX_CONSUMERS ? n : RB_MAX_CONSUMERS,
			    rbpy_consumer_dict);
	PyMem_Free(out);
	return list;
}

/* key=value lines to a dict (lines without '=' are skipped, as rb-consumer
 * does); a key given twice keeps its last value. */
PyObject *
rbpy_parse_header(const char *text)
{
	PyObject *dict = PyDict_New();
	const char *line = text;

	if (dict == NULL)
		return NULL;
	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *eq = memchr(line, '=', len);

		if (eq != NULL && eq > line) {
			PyObject *k, *v;
			int rc;

			k = PyUnicode_DecodeUTF8(line, eq - line, "replace");
			v = PyUnicode_DecodeUTF8(eq + 1, (Py_ssize_t)(len - (size_t)(eq - line) - 1),
						 "replace");
			rc = (k && v) ? PyDict_SetItem(dict, k, v) : -1;
			Py_XDECREF(k);
			Py_XDECREF(v);
			if (rc != 0) {
				Py_DECREF(dict);
				return NULL;
			}
		}
		if (end == NULL)
			break;
		line = end + 1;
	}
	return dict;
}

/* A frame ended, a view went away, a wait finished: pass what is done to
 * the library, and finish a close that waited for the views. */
void
rbpy_endpoint_settle(struct rbpy_endpoint *e)
{
	if (e->busy || e->closed || e->ring == NULL || e->side == RBPY_RING)
		return;
	if (e->side == RBPY_CONSUMER)
		rbpy_consumer_flush(e, 0);
	else
		rbpy_producer_flush(e, 0);
	if (e->closing && e->exports == 0) {
		if (e->side == RBPY_CONSUMER)
			rbpy_consumer_finish(e);
		else
			rbpy_producer_finish(e);
	}
}

static PyObject *
rbpy_remove(PyObject *self, PyObject *arg)
{
	const char *name = PyUnicode_AsUTF8(arg);
	int rc;

	(void)self;
	if (name == NULL)
		return NULL;
	rc = rb_ring_remove(name);
	if (rc != 0)
		return rbpy_raise(rc, arg);
	Py_RETURN_NONE;
}

static PyObject *
rbpy_strerror(PyObject *self, PyObject *arg)
{
	long code = PyLong_AsLong(arg);

	(void)self;
	if (code == -1 && PyErr_Occurred())
		return NULL;
	return PyUnicode_FromString(rb_strerror((int)code));
}

static PyMethodDef rbpy_methods[] = {
	{"remove", rbpy_remove, METH_O,
	 "remove(name)\n--\n\nRemoves the ring's name (attached processes keep "
	 "their mapping)."},
	{"strerror", rbpy_strerror, METH_O,
	 "strerror(code)\n--\n\nThe library's sentence for an error code "
	 "(a negative errno value)."},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef rbpy_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "ringbuf",
	.m_doc = "Zero-copy frame rings in shared memory (binding of the ringbuf C library).\n\n"
		 "Consumer(name) attaches to a ring and yields frames whose memory\n"
		 "numpy.asarray(frame) views in place; Producer(name, frame_type, shape)\n"
		 "creates one and fills frames in place; Ring(name) watches one (and\n"
		 "Ring.create(..., max_producers=N) makes one for several producers).",
	.m_size = -1,
	.m_methods = rbpy_methods,
};

/* Adds an exception class; `bases` is a class or a tuple of them. */
static PyObject *
rbpy_add_exception(PyObject *m, const char *name, PyObject *bases, const char *doc)
{
	char qualified[64];
	PyObject *exc;

	snprintf(qualified, sizeof(qualified), "ringbuf.%s", name);
	exc = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
	if (exc == NULL)
		return NULL;
	if (PyModule_AddObjectRef(m, name, exc) != 0) {
		Py_DECREF(exc);
		return NULL;
	}
	return exc;
}

static PyObject *
rbpy_add_exception2(PyObject *m, const char *name, PyObject *base2, const char *doc)
{
	PyObject *bases = PyTuple_Pack(2, rbpy_ring_error, base2), *exc;

	if (bases == NULL)
		return NULL;
	exc = rbpy_add_exception(m, name, bases, doc);
	Py_DECREF(bases);
	return exc;
}

PyMODINIT_FUNC
PyInit_ringbuf(void)
{
	PyTypeObject *types[] = {&rbpy_frame_type, &rbpy_batch_type,
				 &rbpy_consumer_type, &rbpy_producer_type,
				 &rbpy_batch_iter_type, &rbpy_ring_type};
	PyObject *m;
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (PyType_Ready(types[i]) != 0)
			return NULL;
	m = PyModule_Create(&rbpy_module);
	if (m == NULL)
		return NULL;
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		const char *dot = strrchr(types[i]->tp_name, '.');

		if (PyModule_AddObjectRef(m, dot + 1, (PyObject *)types[i]) != 0)
			goto fail;
	}
	rbpy_ring_error = rbpy_add_exception(m, "RingError", PyExc_OSError,
		"An error of the ring library: errno, strerror (its sentence) and "
		"filename (the ring's name).");
	if (rbpy_ring_error == NULL)
		goto fail;
	rbpy_end_of_stream = rbpy_add_exception(m, "EndOfStream", rbpy_ring_error,
		"The producer ended the stream (iteration just stops).");
	rbpy_producer_died = rbpy_add_exception(m, "ProducerDied", rbpy_ring_error,
		"The producer died and nothing is left to read.");
	rbpy_demoted = rbpy_add_exception(m, "Demoted", rbpy_ring_error,
		"This lossless consumer stalled the producer (a stall timeout, or "
		"rb-ctl evict) and was demoted to lossy: raised once, then it reads on "
		"as lossy and stats() counts what it missed in 'lost'.");
	rbpy_ring_not_found = rbpy_add_exception2(m, "RingNotFound", PyExc_FileNotFoundError,
		"No ring of that name.");
	rbpy_ring_exists = rbpy_add_exception2(m, "RingExists", PyExc_FileExistsError,
		"A ring of that name already exists.");
	rbpy_ring_timeout = rbpy_add_exception2(m, "RingTimeout", PyExc_TimeoutError,
		"A wait ran out of time.");
	rbpy_truncated = rbpy_add_exception(m, "Truncated", rbpy_ring_error,
		"The ring's file was truncated under this process: its memory reads "
		"as zeros and nothing more comes from it (errno EIDRM).");
	if (!rbpy_end_of_stream || !rbpy_producer_died || !rbpy_demoted || !rbpy_ring_not_found ||
	    !rbpy_ring_exists || !rbpy_ring_timeout || !rbpy_truncated)
		goto fail;
	if (rbpy_sigbus_install() != 0) {
		PyErr_SetFromErrno(PyExc_OSError);
		goto fail;
	}
	if (PyModule_AddStringConstant(m, "__version__", RB_VERSION_STRING) != 0 ||
	    PyModule_AddIntConstant(m, "FRAME_STREAM_START", RB_FRAME_STREAM_START) != 0 ||
	    PyModule_AddIntConstant(m, "FRAME_INCOMPLETE", RB_FRAME_INCOMPLETE) != 0 ||
	    PyModule_AddIntConstant(m, "FRAME_ABANDONED", RB_FRAME_ABANDONED) != 0 ||
	    PyModule_AddIntConstant(m, "MAX_PRODUCERS", RB_MAX_PRODUCERS) != 0 ||
	    PyModule_AddIntConstant(m, "MAX_GROUPS", RB_MAX_GROUPS) != 0 ||
	    PyModule_AddIntConstant(m, "FRAME_USER_SHIFT", RB_FRAME_USER_SHIFT) != 0)
		goto fail;
	if (rbpy_recording_init(m) != 0) /* ringbuf.Recording (recording.c) */
		goto fail;
	return m;
fail:
	Py_DECREF(m);
	return NULL;
}
