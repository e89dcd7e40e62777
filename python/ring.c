/*
 * ringbuf.Ring, and what describes a ring to create.
 *
 * A Ring is a mapping of a ring with no producer or consumer handle on it.
 * It is what creates a ring that several producers attach to (each with
 * Producer(name, create=False)), and what a monitor holds to read the
 * counters: status(), producers(), groups(), consumers(). It never has
 * frames. Like a Producer, a Ring that created its ring removes the name
 * when it is closed (unless keep=True): the ring then lives as long as
 * the program that set it up.
 *
 * Producer(..., create=True) and Ring(..., create=True) take the same
 * description of the ring (rbpy_ring_spec): frame type and shape (or
 * untyped frame_bytes), slots, alignment, and the record counts
 * max_producers, max_groups and max_consumers.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "rbpy.h"

/*
 * frame_type: a ringbuf name ("u8", "i16", "f32", "c64"...: sizes in
 * bits, as in rb-producer's headers), or anything numpy.dtype() accepts
 * (numpy.int16, "float32", "<i2"; note that for numpy "u8" would mean an
 * 8-byte integer, which is why ringbuf names are tried first). Returns the
 * element type, or -1 with an exception set.
 */
static int
rbpy_parse_elem(PyObject *frame_type)
{
	static const struct {
		const char *code; /* numpy dtype.str without the byte order */
		int elem;
	} codes[] = {
		{"u1", RB_ELEM_U8},   {"u2", RB_ELEM_U16}, {"u4", RB_ELEM_U32},
		{"u8", RB_ELEM_U64},  {"i1", RB_ELEM_I8},  {"i2", RB_ELEM_I16},
		{"i4", RB_ELEM_I32},  {"i8", RB_ELEM_I64}, {"f4", RB_ELEM_F32},
		{"f8", RB_ELEM_F64},  {"c8", RB_ELEM_C64}, {"c16", RB_ELEM_C128},
	};
	PyObject *dtype, *str;
	const char *s;
	size_t i;
	int elem = -1;

	if (PyUnicode_Check(frame_type)) {
		s = PyUnicode_AsUTF8(frame_type);
		if (s == NULL)
			return -1;
		elem = rb_elem_parse(s);
		if (elem >= 0)
			return elem;
	}
	dtype = rbpy_numpy_dtype_of_obj(frame_type);
	if (dtype == NULL) {
		if (PyErr_ExceptionMatches(PyExc_ImportError))
			return -1;
		PyErr_Clear();
		goto bad;
	}
	str = PyObject_GetAttrString(dtype, "str");
	Py_DECREF(dtype);
	if (str == NULL)
		return -1;
	s = PyUnicode_AsUTF8(str);
	/* Native little-endian ('<') or byte-order free ('|') only. */
	if (s != NULL && (s[0] == '<' || s[0] == '|')) {
		for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			if (strcmp(s + 1, codes[i].code) == 0)
				elem = codes[i].elem;
	}
	Py_DECREF(str);
	if (elem >= 0)
		return elem;
bad:
	PyErr_Format(PyExc_ValueError,
		     "frame_type %R: not a ring element type (u8 u16 u32 u64 i8 i16 "
		     "i32 i64 f32 f64 c64 c128, or the matching native numpy dtype)",
		     frame_type);
	return -1;
}

/* shape: an int or a sequence of 1 to 4 positive ints. */
static int
rbpy_parse_shape(PyObject *shape, struct rb_frame_type *t)
{
	PyObject *seq;
	Py_ssize_t n, i;

	if (PyLong_Check(shape)) {
		t->ndim = 1;
		t->dims[0] = PyLong_AsUnsignedLongLong(shape);
		if (PyErr_Occurred() || t->dims[0] == 0)
			goto bad;
		return 0;
	}
	seq = PySequence_Fast(shape, "shape must be an int or a tuple of ints");
	if (seq == NULL)
		return -1;
	n = PySequence_Fast_GET_SIZE(seq);
	if (n < 1 || n > RB_MAX_DIMS) {
		Py_DECREF(seq);
		goto bad;
	}
	t->ndim = (uint32_t)n;
	for (i = 0; i < n; i++) {
		t->dims[i] = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
		if (PyErr_Occurred() || t->dims[i] == 0) {
			Py_DECREF(seq);
			goto bad;
		}
	}
	Py_DECREF(seq);
	return 0;
bad:
	PyErr_Clear();
	PyErr_Format(PyExc_ValueError,
		     "shape %R: need 1 to %d dimensions, each a positive int",
		     shape, RB_MAX_DIMS);
	return -1;
}

/* None: 0 (the library's default); else an int from 1 to max. */
static int
rbpy_parse_record_count(PyObject *obj, const char *what, unsigned long max,
			uint32_t *out)
{
	unsigned long v;

	*out = 0;
	if (obj == Py_None)
		return 0;
	v = PyLong_AsUnsignedLong(obj);
	if (v == (unsigned long)-1 && PyErr_Occurred()) {
		if (!PyErr_ExceptionMatches(PyExc_OverflowError) &&
		    !PyErr_ExceptionMatches(PyExc_ValueError))
			return -1;
		PyErr_Clear();
		v = 0;
	}
	if (v < 1 || v > max) {
		PyErr_Format(PyExc_ValueError, "%s must be None or 1 to %lu, not %R", what,
			     max, obj);
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

int
rbpy_ring_spec_config(const struct rbpy_ring_spec *spec, int create,
		      struct rb_ring_config *cfg, int *typed)
{
	int elem = RB_ELEM_NONE;
	uint64_t bytes = 0;
	uint32_t i;

	memset(cfg, 0, sizeof(*cfg));
	*typed = 0;
	if (spec->frame_type != Py_None) {
		elem = rbpy_parse_elem(spec->frame_type);
		if (elem < 0)
			return -1;
	} else if (spec->shape != Py_None) {
		elem = RB_ELEM_U8;
	}
	if (elem != RB_ELEM_NONE) {
		if (spec->shape == Py_None) {
			PyErr_SetString(PyExc_TypeError, "a frame_type needs a shape");
			return -1;
		}
		if (rbpy_parse_shape(spec->shape, &cfg->type) != 0)
			return -1;
		cfg->type.elem = (uint32_t)elem;
		bytes = rb_elem_size((uint32_t)elem);
		for (i = 0; i < cfg->type.ndim; i++) {
			if (cfg->type.dims[i] > (1ull << 40) / bytes) {
				PyErr_SetString(PyExc_ValueError, "frame too large");
				return -1;
			}
			bytes *= cfg->type.dims[i];
		}
		*typed = 1;
	}
	if (spec->frame_bytes != Py_None) {
		uint64_t fb = PyLong_AsUnsignedLongLong(spec->frame_bytes);

		if (PyErr_Occurred())
			return -1;
		if (fb == 0 || fb < bytes) {
			PyErr_Format(PyExc_ValueError,
				     "frame_bytes must be positive and hold a frame of "
				     "the type (%llu bytes)", (unsigned long long)bytes);
			return -1;
		}
		bytes = fb;
	}
	if (create && bytes == 0) {
		PyErr_SetString(PyExc_TypeError,
				"give frame_type and shape (or frame_bytes for untyped "
				"frames) to create a ring");
		return -1;
	}
	if (spec->slots < 1 || spec->slots > (1l << 30)) {
		PyErr_SetString(PyExc_ValueError, "slots must be 1 to 2**30");
		return -1;
	}
	if (rbpy_parse_record_count(spec->max_producers, "max_producers", RB_MAX_PRODUCERS,
				    &cfg->max_producers) != 0 ||
	    rbpy_parse_record_count(spec->max_groups, "max_groups", RB_MAX_GROUPS,
				    &cfg->max_groups) != 0 ||
	    rbpy_parse_record_count(spec->max_consumers, "max_consumers", RB_MAX_CONSUMERS,
				    &cfg->max_consumers) != 0)
		return -1;
	/* The record counts are fixed when the ring is made: asking for them
	 * when attaching to an existing ring would be silently ignored. */
	if (!create && (cfg->max_producers || cfg->max_groups || cfg->max_consumers)) {
		PyErr_SetString(PyExc_ValueError,
				"max_producers, max_groups and max_consumers apply when "
				"creating the ring (create=True)");
		return -1;
	}
	cfg->frame_bytes = bytes;
	cfg->slot_count = (uint32_t)spec->slots;
	cfg->slot_align = spec->slot_align;
	cfg->flags = RB_CREATE_ROUND_UP | (spec->replace ? RB_CREATE_REPLACE : 0);
	return 0;
}

int
rbpy_ring_check_type(struct rb_ring *ring, const struct rb_ring_config *cfg,
		     PyObject *name)
{
	const struct rb_frame_type *t = rb_ring_frame_type(ring);

	if (t->elem != cfg->type.elem || t->ndim != cfg->type.ndim ||
	    memcmp(t->dims, cfg->type.dims, sizeof(t->dims)) != 0) {
		PyErr_Format(PyExc_ValueError, "ring %R holds frames of another type or shape",
			     name);
		return -1;
	}
	return 0;
}

/* The UTF-8 text of the ring name a constructor was given, once checked;
 * NULL with an exception set if it is not a valid name. */
const char *
rbpy_ring_cname(PyObject *name)
{
	const char *cname = PyUnicode_AsUTF8(name);

	if (cname == NULL)
		return NULL;
	if (rb_ring_name_check(cname) != 0) {
		PyErr_Format(PyExc_ValueError,
			     "invalid ring name %R: 1 to %d of A-Z a-z 0-9 . _ -, "
			     "not starting with '.'", name, RB_NAME_MAX);
		return NULL;
	}
	return cname;
}

int
rbpy_ring_open_spec(PyObject *name, const char *cname, const struct rbpy_ring_spec *spec,
		    int create, struct rb_ring **ring)
{
	struct rb_ring_config cfg;
	struct rb_open_params op;
	uint32_t uids[RBPY_TRUST_MAX];
	int typed, rc;

	if (rbpy_ring_spec_config(spec, create, &cfg, &typed) != 0 ||
	    rbpy_trust_params(spec->trust_owner, &op, uids) != 0)
		return -1;
	rc = create ? rb_ring_create(cname, &cfg, ring) : rb_ring_open_params(cname, &op, ring);
	if (rc != 0) {
		rbpy_raise(rc, name);
		return -1;
	}
	if (!create && typed && rbpy_ring_check_type(*ring, &cfg, name) != 0) {
		rb_ring_close(*ring);
		*ring = NULL;
		return -1;
	}
	return 0;
}

void
rbpy_endpoint_bind(struct rbpy_endpoint *e, int side, PyObject *name, const char *cname)
{
	e->side = side;
	e->pid = getpid();
	e->name = Py_NewRef(name);
	strcpy(e->cname, cname);
}

/* ---- Ring ------------------------------------------------------------------ */

typedef struct {
	struct rbpy_endpoint e;
	int created; /* this Ring made it: close() removes the name */
} rbpy_ring;

static int
rbpy_ring_init(rbpy_ring *self, PyObject *args, PyObject *kwds)
{
	static char *kwlist[] = {"name", "frame_type", "shape", "slots", "create",
				 "frame_bytes", "replace", "slot_align", "max_producers",
				 "max_groups", "max_consumers", "keep", "trust_owner", NULL};
	struct rbpy_endpoint *e = &self->e;
	struct rbpy_ring_spec spec = {Py_None, Py_None, Py_None, 256, 0, 0,
				      Py_None, Py_None, Py_None, NULL};
	struct rb_ring *ring = NULL;
	PyObject *name;
	const char *cname;
	int create = 0, keep = 0;

	if (!PyArg_ParseTupleAndKeywords(args, kwds, "U|OOnp$OpIOOOpO", kwlist, &name,
					 &spec.frame_type, &spec.shape, &spec.slots, &create,
					 &spec.frame_bytes, &spec.replace, &spec.slot_align,
					 &spec.max_producers, &spec.max_groups,
					 &spec.max_consumers, &keep, &spec.trust_owner))
		return -1;
	if (e->ring != NULL || e->closed) {
		PyErr_SetString(PyExc_RuntimeError, "Ring is already initialised");
		return -1;
	}
	cname = rbpy_ring_cname(name);
	if (cname == NULL || rbpy_ring_open_spec(name, cname, &spec, create, &ring) != 0)
		return -1;
	if (rbpy_layout_init(e, ring) != 0) {
		rb_ring_close(ring);
		e->ring = NULL;
		if (create)
			rb_ring_remove(cname);
		return -1;
	}
	rbpy_endpoint_bind(e, RBPY_RING, name, cname);
	self->created = create && !keep;
	return 0;
}

static void
rbpy_ring_finish(rbpy_ring *self)
{
	struct rbpy_endpoint *e = &self->e;

	if (e->closed || e->ring == NULL)
		return;
	e->closed = 1;
	e->closing = 1;
	rb_ring_close(e->ring);
	e->ring = NULL;
	/* A forked child leaves its parent's ring be. */
	if (self->created && getpid() == e->pid)
		rb_ring_remove(e->cname);
}

static void
rbpy_ring_dealloc(rbpy_ring *self)
{
	rbpy_ring_finish(self);
	Py_XDECREF(self->e.name);
	Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
rbpy_ring_close(rbpy_ring *self, PyObject *unused)
{
	(void)unused;
	rbpy_ring_finish(self);
	Py_RETURN_NONE;
}

static PyObject *
rbpy_ring_enter(rbpy_ring *self, PyObject *unused)
{
	(void)unused;
	if (rbpy_endpoint_open(&self->e) != 0)
		return NULL;
	return Py_NewRef(self);
}

static PyObject *
rbpy_ring_exit(rbpy_ring *self, PyObject *args)
{
	(void)args;
	rbpy_ring_finish(self);
	Py_RETURN_FALSE;
}

/* Ring.create(name, ...): Ring(name, ..., create=True). */
static PyObject *
rbpy_ring_create(PyObject *cls, PyObject *args, PyObject *kwds)
{
	PyObject *kw = kwds ? PyDict_Copy(kwds) : PyDict_New(), *ring;

	if (kw == NULL)
		return NULL;
	if (PyDict_GetItemString(kw, "create") != NULL) {
		Py_DECREF(kw);
		PyErr_SetString(PyExc_TypeError, "Ring.create() takes no 'create' argument");
		return NULL;
	}
	if (PyDict_SetItemString(kw, "create", Py_True) != 0) {
		Py_DECREF(kw);
		return NULL;
	}
	ring = PyObject_Call(cls, args, kw);
	Py_DECREF(kw);
	return ring;
}

#define RBPY_RING_GETTER(fn, expr)                                     \
	static PyObject *fn(rbpy_ring *self, void *closure)            \
	{                                                              \
		(void)closure;                                         \
		if (rbpy_endpoint_open(&self->e) != 0)                 \
			return NULL;                                   \
		return (expr);                                         \
	}

RBPY_RING_GETTER(rbpy_ring_max_producers,
		 PyLong_FromUnsignedLong(rb_ring_max_producers(self->e.ring)))
RBPY_RING_GETTER(rbpy_ring_max_groups,
		 PyLong_FromUnsignedLong(rb_ring_max_groups(self->e.ring)))
RBPY_RING_GETTER(rbpy_ring_max_consumers,
		 PyLong_FromUnsignedLong(rb_ring_max_consumers(self->e.ring)))

static PyObject *
rbpy_ring_created(rbpy_ring *self, void *closure)
{
	(void)closure;
	return PyBool_FromLong(self->created);
}

static PyGetSetDef rbpy_ring_getset[] = {
	RBPY_ENDPOINT_GETSET,
	{"max_producers", (getter)rbpy_ring_max_producers, NULL,
	 "producers that may attach at once (1: a single-producer ring)", NULL},
	{"max_groups", (getter)rbpy_ring_max_groups, NULL, "consumer group records", NULL},
	{"max_consumers", (getter)rbpy_ring_max_consumers, NULL, "consumer records", NULL},
	{"created", (getter)rbpy_ring_created, NULL,
	 "True if this Ring created the ring and removes it when closed", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef rbpy_ring_methods[] = {
	{"create", (PyCFunction)(void (*)(void))rbpy_ring_create,
	 METH_VARARGS | METH_KEYWORDS | METH_CLASS,
	 "create(name, frame_type=None, shape=None, slots=256, *, frame_bytes=None, "
	 "replace=False, slot_align=0, max_producers=None, max_groups=None, "
	 "max_consumers=None, keep=False)\n--\n\nCreates the ring: Ring(name, ..., "
	 "create=True)."},
	RBPY_MONITOR_METHODS,
	{"close", (PyCFunction)rbpy_ring_close, METH_NOARGS,
	 "close()\n--\n\nUnmaps the ring; removes its name if this Ring created it "
	 "(and keep was not given). Producers and consumers attached meanwhile keep "
	 "their own mappings."},
	RBPY_CONTEXT_METHODS(rbpy_ring),
	{NULL, NULL, 0, NULL},
};

PyTypeObject rbpy_ring_type = {
	RBPY_TYPE_HEAD("ringbuf.Ring", rbpy_ring),
	.tp_doc = "Ring(name, frame_type=None, shape=None, slots=256, create=False, *, "
		  "frame_bytes=None, replace=False, slot_align=0, max_producers=None, "
		  "max_groups=None, max_consumers=None, keep=False, trust_owner=None)\n--\n\n"
		  "A mapping of the ring `name` with no producer or consumer on it: to "
		  "create a ring (create=True, or Ring.create(...)) that several "
		  "producers then attach to with Producer(name, create=False), and to "
		  "read its counters (status(), producers(), groups(), consumers()). "
		  "A Ring that created its ring removes the name when closed, unless "
		  "keep=True. max_producers: 1 (default) is the single-producer fast "
		  "path; max_groups defaults to 8, max_consumers to 64."
		  " trust_owner: a user name, a uid or a list of them whose rings may be opened besides your own and root's (others are refused: their owner can truncate the ring under you).",
	.tp_methods = rbpy_ring_methods,
	.tp_getset = rbpy_ring_getset,
	.tp_init = (initproc)rbpy_ring_init,
	.tp_new = PyType_GenericNew,
};
