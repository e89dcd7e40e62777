/*
 * ringbuf.Recording: a recording (docs/RECORDING.md) read from Python
 * through the recording module (<ringbuf/recording.h>), the reader that
 * replay and --check use: nothing here knows the format beyond the
 * module's structs.
 *
 * Opening walks every descriptor once (rb_rec_reader_next: one 4 KiB page
 * per 63 frames, no frame bytes) and keeps the kept descriptors in an
 * array; each part file is mapped read-only with Python's mmap, and a
 * frame's view is numpy.frombuffer over that mapping at its data_offset:
 * no copy, and the mapping lives as long as any view (the array holds the
 * mmap object).
 *
 * Checksums: a frame's bytes are checked against its data_crc (version 2
 * on) the first time they are handed out, and the verdict is kept: a
 * damaged frame's bytes are never handed out, its descriptor is
 * (intact False), and taking its array raises RecordingDamaged.
 *
 * The reader's verdict on the walk (complete, and why it stopped) is the
 * one --check prints: the same code decides.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <ringbuf/recording.h>

#include "rbpy.h"

PyObject *rbpy_recording_damaged;

/* A frame's checksum verdict. */
enum { CRC_UNKNOWN = 0, CRC_OK, CRC_BAD, CRC_NONE /* version 1 */ };

typedef struct {
	PyObject_HEAD
	PyObject *path;            /* as given */
	struct rb_rec_header h;    /* of the first part */
	PyObject *text;            /* the stream header text, str */
	PyObject *header;          /* dict */
	PyObject *dtype;           /* numpy dtype of an element */
	PyObject *shape;           /* tuple: a whole frame */
	Py_ssize_t type_bytes;     /* bytes of a whole frame */
	Py_ssize_t itemsize;       /* bytes of an element */
	int typed;
	Py_ssize_t n, cap;         /* kept descriptors */
	struct rb_rec_entry *e;
	uint32_t *part;            /* each descriptor's part */
	uint8_t *crc;              /* CRC_* per descriptor */
	Py_ssize_t nparts;
	PyObject **maps;           /* mmap objects */
	Py_buffer *bufs;           /* their bytes, for the checksums */
	PyObject *paths;           /* list of the parts' paths */
	uint64_t discarded;        /* descriptors skipped */
	uint64_t dropped;          /* at the producer: every dropped_before and
				    * the last part's dropped_after */
	uint64_t dropped_after;    /* after the last frame (the summary's) */
	int complete;
	PyObject *stop;            /* why the walk ended, str */
	PyObject *stop_path;       /* the part it ended in */
	int error;                 /* -errno of a read error, 0 */
} rbpy_recording;

typedef struct {
	PyObject_HEAD
	rbpy_recording *rec;       /* strong reference */
	Py_ssize_t i;
} rbpy_recframe;

typedef struct {
	PyObject_HEAD
	rbpy_recording *rec;
	Py_ssize_t next;
} rbpy_reciter;

/* Maps part `k` (the reader's file rd->fd) read-only: mmap.mmap(fd, 0). */
static int
rec_map_part(rbpy_recording *r, struct rb_rec_reader *rd)
{
	PyObject *mod, *mm, *p, **maps;
	Py_buffer *bufs;

	maps = PyMem_Realloc(r->maps, sizeof(*maps) * (size_t)(r->nparts + 1));
	if (maps == NULL)
		return PyErr_NoMemory(), -1;
	r->maps = maps;
	bufs = PyMem_Realloc(r->bufs, sizeof(*bufs) * (size_t)(r->nparts + 1));
	if (bufs == NULL)
		return PyErr_NoMemory(), -1;
	r->bufs = bufs;
	mod = PyImport_ImportModule("mmap");
	if (mod == NULL)
		return -1;
	/* mmap.mmap(fd, 0, MAP_SHARED, PROT_READ): read-only, so are its views */
	mm = PyObject_CallMethod(mod, "mmap", "iiii", rd->fd, 0, MAP_SHARED, PROT_READ);
	Py_DECREF(mod);
	if (mm == NULL)
		return -1;
	if (PyObject_GetBuffer(mm, &r->bufs[r->nparts], PyBUF_SIMPLE) != 0) {
		Py_DECREF(mm);
		return -1;
	}
	r->maps[r->nparts++] = mm;
	p = PyUnicode_DecodeFSDefault(rd->path);
	if (p == NULL || PyList_Append(r->paths, p) != 0) {
		Py_XDECREF(p);
		return -1;
	}
	Py_DECREF(p);
	return 0;
}

static int
rec_push(rbpy_recording *r, const struct rb_rec_entry *e)
{
	if (r->n == r->cap) {
		Py_ssize_t cap = r->cap ? r->cap * 2 : 1024;
		void *a = PyMem_Realloc(r->e, sizeof(*r->e) * (size_t)cap);

		if (a == NULL)
			return PyErr_NoMemory(), -1;
		r->e = a;
		a = PyMem_Realloc(r->part, sizeof(*r->part) * (size_t)cap);
		if (a == NULL)
			return PyErr_NoMemory(), -1;
		r->part = a;
		a = PyMem_Realloc(r->crc, (size_t)cap);
		if (a == NULL)
			return PyErr_NoMemory(), -1;
		r->crc = a;
		r->cap = cap;
	}
	r->e[r->n] = *e;
	r->part[r->n] = (uint32_t)(r->nparts - 1);
	r->crc[r->n] = rb_rec_has_frame_crc(&r->h) ? CRC_UNKNOWN : CRC_NONE;
	r->n++;
	return 0;
}

/* Raises the reader's open error as an OSError naming the file. */
static void
rec_raise_open(int rc, PyObject *path)
{
	const char *why = strerror(-rc);

	if (rc == -EMEDIUMTYPE)
		why = "not a recording";
	else if (rc == -EPROTONOSUPPORT)
		why = "recording format version not supported";
	else if (rc == -EBADMSG)
		why = "damaged recording header";
	PyErr_SetObject(rc == -ENOENT ? PyExc_FileNotFoundError : PyExc_OSError,
			Py_BuildValue("(isO)", -rc, why, path));
}

/* The element dtype and frame shape from the recorded frame type. */
static int
rec_layout(rbpy_recording *r)
{
	const struct rb_frame_type *t = &r->h.type;
	static const char *names[RB_ELEM_COUNT_] = {
		[RB_ELEM_NONE] = "uint8", [RB_ELEM_U8] = "uint8", [RB_ELEM_U16] = "uint16",
		[RB_ELEM_U32] = "uint32", [RB_ELEM_U64] = "uint64", [RB_ELEM_I8] = "int8",
		[RB_ELEM_I16] = "int16", [RB_ELEM_I32] = "int32", [RB_ELEM_I64] = "int64",
		[RB_ELEM_F32] = "float32", [RB_ELEM_F64] = "float64",
		[RB_ELEM_C64] = "complex64", [RB_ELEM_C128] = "complex128",
	};
	uint32_t i;

	/* The module's header check bounded the type (known elem, 1..4
	 * dims whose product fits frame_bytes <= 1 GiB). */
	r->typed = t->elem != RB_ELEM_NONE;
	r->dtype = rbpy_numpy_dtype(names[r->typed ? t->elem : RB_ELEM_NONE]);
	if (r->dtype == NULL)
		return -1;
	r->itemsize = r->typed ? (Py_ssize_t)rb_elem_size(t->elem) : 1;
	if (!r->typed) {
		r->type_bytes = (Py_ssize_t)r->h.frame_bytes;
		r->shape = Py_BuildValue("(n)", r->type_bytes);
		return r->shape == NULL ? -1 : 0;
	}
	r->shape = PyTuple_New(t->ndim);
	if (r->shape == NULL)
		return -1;
	r->type_bytes = (Py_ssize_t)rb_elem_size(t->elem);
	for (i = 0; i < t->ndim; i++) {
		PyTuple_SET_ITEM(r->shape, i, PyLong_FromUnsignedLongLong(t->dims[i]));
		r->type_bytes *= (Py_ssize_t)t->dims[i];
	}
	return 0;
}

static int
recording_init(rbpy_recording *r, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"path", NULL};
	PyObject *path_obj, *bytes = NULL;
	struct rb_rec_reader rd;
	struct rb_rec_entry e;
	uint32_t parts = 0;
	int rc, ret = -1;

	if (r->paths != NULL) {
		PyErr_SetString(PyExc_RuntimeError, "Recording is already open");
		return -1;
	}
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O:Recording", kwlist, &path_obj))
		return -1;
	if (!PyUnicode_FSConverter(path_obj, &bytes))
		return -1;
	r->path = PyOS_FSPath(path_obj);
	r->paths = PyList_New(0);
	if (r->path == NULL || r->paths == NULL)
		goto out;
	Py_BEGIN_ALLOW_THREADS
	rc = rb_rec_reader_open(&rd, PyBytes_AS_STRING(bytes), false);
	Py_END_ALLOW_THREADS
	if (rc != 0) {
		rb_rec_reader_close(&rd);
		rec_raise_open(rc, r->path);
		goto out;
	}
	r->h = rd.h;
	r->text = PyUnicode_DecodeUTF8(rd.text, (Py_ssize_t)strlen(rd.text), "replace");
	if (r->text == NULL || (r->header = rbpy_parse_header(rd.text)) == NULL ||
	    rec_layout(r) != 0)
		goto close;
	for (;;) {
		Py_BEGIN_ALLOW_THREADS
		rc = rb_rec_reader_next(&rd, &e);
		Py_END_ALLOW_THREADS
		if (rc <= 0)
			break;
		if (rd.parts != parts) { /* a new part: map it */
			parts = rd.parts;
			if (rec_map_part(r, &rd) != 0)
				goto close;
		}
		r->dropped += e.dropped_before;
		if (e.rflags & RB_REC_ENTRY_DISCARDED) {
			r->discarded++; /* its bytes are not the frame's */
			continue;
		}
		if (rec_push(r, &e) != 0)
			goto close;
	}
	r->error = rc < 0 ? rc : 0;
	r->complete = rc == 0 && rd.complete;
	if (rc == 0 && rd.summary_ok) {
		r->dropped_after = rd.sum.dropped_after;
		r->dropped += rd.sum.dropped_after;
	}
	r->stop = PyUnicode_FromString(rd.stop);
	r->stop_path = PyUnicode_DecodeFSDefault(rd.path);
	if (r->stop != NULL && r->stop_path != NULL)
		ret = 0;
close:
	rb_rec_reader_close(&rd);
out:
	Py_XDECREF(bytes);
	return ret;
}

static void
rbpy_recording_dealloc(rbpy_recording *r)
{
	Py_ssize_t k;

	for (k = 0; k < r->nparts; k++) {
		PyBuffer_Release(&r->bufs[k]);
		Py_DECREF(r->maps[k]);
	}
	PyMem_Free(r->maps);
	PyMem_Free(r->bufs);
	PyMem_Free(r->e);
	PyMem_Free(r->part);
	PyMem_Free(r->crc);
	Py_XDECREF(r->path);
	Py_XDECREF(r->text);
	Py_XDECREF(r->header);
	Py_XDECREF(r->dtype);
	Py_XDECREF(r->shape);
	Py_XDECREF(r->paths);
	Py_XDECREF(r->stop);
	Py_XDECREF(r->stop_path);
	Py_TYPE(r)->tp_free((PyObject *)r);
}

static int
rec_usable(rbpy_recording *r)
{
	if (r->paths == NULL) {
		PyErr_SetString(PyExc_ValueError, "Recording is not open");
		return -1;
	}
	return 0;
}

/* Checks frame i's bytes against its checksum once; 0 if they may be
 * handed out, else -1 with RecordingDamaged. */
static int
rec_check(rbpy_recording *r, Py_ssize_t i)
{
	const struct rb_rec_entry *e = &r->e[i];

	if (r->crc[i] == CRC_UNKNOWN) {
		const uint8_t *base = r->bufs[r->part[i]].buf;

		r->crc[i] = rb_rec_frame_intact(&r->h, e, base + e->data_offset) ? CRC_OK : CRC_BAD;
	}
	if (r->crc[i] != CRC_BAD)
		return 0;
	PyErr_Format(rbpy_recording_damaged,
		     "frame %zd (seq %llu) of %S: its bytes fail their checksum (damaged "
		     "recording)", i, (unsigned long long)e->seq,
		     PyList_GET_ITEM(r->paths, r->part[i]));
	return -1;
}

/* numpy.ndarray(shape, dtype, buffer=part map, offset, strides): a view
 * of the mapping, read-only as the map is (mmap.ACCESS_READ). strides
 * NULL: C order. */
static PyObject *
rec_view(rbpy_recording *r, uint32_t part, uint64_t offset, PyObject *dtype,
	 PyObject *shape, PyObject *strides)
{
	PyObject *np, *nd, *args, *kw, *a = NULL;

	np = PyImport_ImportModule("numpy");
	if (np == NULL)
		return NULL;
	nd = PyObject_GetAttrString(np, "ndarray");
	Py_DECREF(np);
	if (nd == NULL)
		return NULL;
	args = PyTuple_Pack(2, shape, dtype);
	kw = Py_BuildValue("{s:O,s:K,s:O}", "buffer", r->maps[part], "offset",
			   (unsigned long long)offset, "strides", strides ? strides : Py_None);
	if (args != NULL && kw != NULL)
		a = PyObject_Call(nd, args, kw);
	Py_XDECREF(args);
	Py_XDECREF(kw);
	Py_DECREF(nd);
	return a;
}

/* Frame i's bytes as a read-only array: a whole typed frame in the frame's
 * shape, anything else (untyped, shorter) as (length,) uint8. */
static PyObject *
rec_frame_array(rbpy_recording *r, Py_ssize_t i)
{
	const struct rb_rec_entry *e = &r->e[i];
	PyObject *u8, *shape, *a;

	if (rec_check(r, i) != 0)
		return NULL;
	if (r->typed && (Py_ssize_t)e->length == r->type_bytes)
		return rec_view(r, r->part[i], e->data_offset, r->dtype, r->shape, NULL);
	u8 = rbpy_numpy_dtype("uint8");
	shape = Py_BuildValue("(K)", (unsigned long long)e->length);
	a = u8 && shape ? rec_view(r, r->part[i], e->data_offset, u8, shape, NULL) : NULL;
	Py_XDECREF(u8);
	Py_XDECREF(shape);
	return a;
}

/* Position from a Python index (negative from the end); -1 with IndexError. */
static Py_ssize_t
rec_index(rbpy_recording *r, Py_ssize_t i)
{
	if (i < 0)
		i += r->n;
	if (i < 0 || i >= r->n) {
		PyErr_SetString(PyExc_IndexError, "recording frame index out of range");
		return -1;
	}
	return i;
}

static PyObject *
recframe_new(rbpy_recording *r, Py_ssize_t i)
{
	rbpy_recframe *f = PyObject_New(rbpy_recframe, &rbpy_recframe_type);

	if (f == NULL)
		return NULL;
	Py_INCREF(r);
	f->rec = r;
	f->i = i;
	return (PyObject *)f;
}

static Py_ssize_t
recording_len(rbpy_recording *r)
{
	return r->n;
}

static PyObject *
recording_item(rbpy_recording *r, Py_ssize_t i)
{
	if (rec_usable(r) != 0 || (i = rec_index(r, i)) < 0)
		return NULL;
	return recframe_new(r, i);
}

/* The position of `seq`, or -1 (seqs go strictly up: rb_rec_reader_next
 * refuses a walk where they do not). */
static Py_ssize_t
rec_find_seq(rbpy_recording *r, uint64_t seq)
{
	Py_ssize_t lo = 0, hi = r->n;

	while (lo < hi) {
		Py_ssize_t mid = lo + (hi - lo) / 2;

		if (r->e[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < r->n && r->e[lo].seq == seq ? lo : -1;
}

static PyObject *
recording_by_seq(rbpy_recording *r, PyObject *arg)
{
	unsigned long long seq;
	Py_ssize_t i;

	if (rec_usable(r) != 0)
		return NULL;
	seq = PyLong_AsUnsignedLongLong(arg);
	if (seq == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	if ((i = rec_find_seq(r, seq)) < 0) {
		PyErr_Format(PyExc_KeyError, "no frame of seq %llu in the recording", seq);
		return NULL;
	}
	return recframe_new(r, i);
}

/*
 * frames(start, stop): frames [start, stop) as one (n, *shape) array over
 * the file, where they are evenly strided: whole typed (or full-size
 * untyped) frames in one part, one group (a descriptor page every 63
 * frames breaks the stride). Else ValueError, or with copy=True a copy
 * (a new array, said by its being writable and owning its data).
 */
static PyObject *
recording_frames(rbpy_recording *r, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = {"start", "stop", "copy", NULL};
	Py_ssize_t start = 0, stop = PY_SSIZE_T_MAX, n, i, j;
	int copy = 0, even = 1;
	uint64_t stride = 0;
	PyObject *shape, *a;

	if (rec_usable(r) != 0)
		return NULL;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|nn$p:frames", kwlist, &start, &stop, &copy))
		return NULL;
	if (PySlice_AdjustIndices(r->n, &start, &stop, 1) <= 0) {
		PyErr_SetString(PyExc_ValueError, "frames(start, stop): no frames in that range");
		return NULL;
	}
	n = stop - start;
	for (i = start; i < stop; i++) {
		if ((Py_ssize_t)r->e[i].length != r->type_bytes || r->part[i] != r->part[start])
			even = 0;
		if (i > start) {
			uint64_t d = r->e[i].data_offset - r->e[i - 1].data_offset;

			if (i == start + 1)
				stride = d;
			else if (d != stride)
				even = 0;
		}
	}
	for (i = start; i < stop; i++)
		if (rec_check(r, i) != 0)
			return NULL;
	if (!even && !copy) {
		PyErr_Format(PyExc_ValueError,
			     "frames %zd..%zd are not evenly strided in the file (a descriptor "
			     "page every 63 frames, a part boundary, or a frame shorter than the "
			     "frame type): take them by group (runs()), or pass copy=True",
			     start, stop);
		return NULL;
	}
	shape = PyTuple_New(PyTuple_GET_SIZE(r->shape) + 1);
	if (shape == NULL)
		return NULL;
	PyTuple_SET_ITEM(shape, 0, PyLong_FromSsize_t(n));
	for (j = 0; j < PyTuple_GET_SIZE(r->shape); j++) {
		PyObject *d = PyTuple_GET_ITEM(r->shape, j);

		Py_INCREF(d);
		PyTuple_SET_ITEM(shape, j + 1, d);
	}
	if (even) {
		/* (stride, *the frame's C-order strides) */
		PyObject *strides = PyTuple_New(PyTuple_GET_SIZE(shape));
		Py_ssize_t bytes = r->itemsize;

		if (strides == NULL) {
			Py_DECREF(shape);
			return NULL;
		}
		PyTuple_SET_ITEM(strides, 0, PyLong_FromUnsignedLongLong(n > 1 ? stride : (uint64_t)r->type_bytes));
		for (j = PyTuple_GET_SIZE(r->shape) - 1; j >= 0; j--) {
			PyTuple_SET_ITEM(strides, j + 1, PyLong_FromSsize_t(bytes));
			bytes *= PyLong_AsSsize_t(PyTuple_GET_ITEM(r->shape, j));
		}
		a = rec_view(r, r->part[start], r->e[start].data_offset, r->dtype, shape, strides);
		Py_DECREF(strides);
		Py_DECREF(shape);
		return a;
	}
	/* The copy: every frame must be whole for one (n, *shape) array. */
	for (i = start; i < stop; i++)
		if ((Py_ssize_t)r->e[i].length != r->type_bytes) {
			Py_DECREF(shape);
			PyErr_Format(PyExc_ValueError,
				     "frame %zd (seq %llu) is %llu bytes, not a whole frame "
				     "(%zd): no (n, *shape) array holds it", i,
				     (unsigned long long)r->e[i].seq,
				     (unsigned long long)r->e[i].length, r->type_bytes);
			return NULL;
		}
	{
		PyObject *np = PyImport_ImportModule("numpy");
		PyObject *dst = np ? PyObject_CallMethod(np, "empty", "OO", shape, r->dtype) : NULL;
		Py_buffer b;

		Py_XDECREF(np);
		Py_DECREF(shape);
		if (dst == NULL)
			return NULL;
		if (PyObject_GetBuffer(dst, &b, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0) {
			Py_DECREF(dst);
			return NULL;
		}
		for (i = start; i < stop; i++)
			memcpy((uint8_t *)b.buf + (size_t)(i - start) * (size_t)r->type_bytes,
			       (const uint8_t *)r->bufs[r->part[i]].buf + r->e[i].data_offset,
			       (size_t)r->type_bytes);
		PyBuffer_Release(&b);
		return dst;
	}
}

/* runs(): the maximal evenly strided runs, as (start, stop) pairs: each
 * frames(start, stop) of them is one view. */
static PyObject *
recording_runs(rbpy_recording *r, PyObject *unused)
{
	PyObject *list;
	Py_ssize_t i = 0;

	(void)unused;
	if (rec_usable(r) != 0 || (list = PyList_New(0)) == NULL)
		return NULL;
	while (i < r->n) {
		Py_ssize_t j = i + 1;
		uint64_t stride = 0;

		if ((Py_ssize_t)r->e[i].length == r->type_bytes) {
			while (j < r->n && (Py_ssize_t)r->e[j].length == r->type_bytes &&
			       r->part[j] == r->part[i]) {
				uint64_t d = r->e[j].data_offset - r->e[j - 1].data_offset;

				if (j == i + 1)
					stride = d;
				else if (d != stride)
					break;
				j++;
			}
		}
		PyObject *pair = Py_BuildValue("(nn)", i, j);

		if (pair == NULL || PyList_Append(list, pair) != 0) {
			Py_XDECREF(pair);
			Py_DECREF(list);
			return NULL;
		}
		Py_DECREF(pair);
		i = j;
	}
	return list;
}

/* verify(): checks every frame's bytes; the positions of the damaged. */
static PyObject *
recording_verify(rbpy_recording *r, PyObject *unused)
{
	PyObject *list;
	Py_ssize_t i;

	(void)unused;
	if (rec_usable(r) != 0 || (list = PyList_New(0)) == NULL)
		return NULL;
	for (i = 0; i < r->n; i++) {
		if (rec_check(r, i) == 0)
			continue;
		PyErr_Clear();
		PyObject *k = PyLong_FromSsize_t(i);

		if (k == NULL || PyList_Append(list, k) != 0) {
			Py_XDECREF(k);
			Py_DECREF(list);
			return NULL;
		}
		Py_DECREF(k);
	}
	return list;
}

/* utc(timestamp_ns): the UTC ns of a recorded time stamp, None without an
 * anchor. */
static PyObject *
rec_utc_of(rbpy_recording *r, uint64_t ts)
{
	if (!rb_rec_has_utc(&r->h))
		Py_RETURN_NONE;
	return PyLong_FromUnsignedLongLong(rb_rec_utc_ns(&r->h, ts));
}

static PyObject *
recording_utc(rbpy_recording *r, PyObject *arg)
{
	unsigned long long ts = PyLong_AsUnsignedLongLong(arg);

	if (ts == (unsigned long long)-1 && PyErr_Occurred())
		return NULL;
	return rec_utc_of(r, ts);
}

/* streams: one dict per stream (a recording holds one). */
static PyObject *
recording_streams(rbpy_recording *r, void *closure)
{
	PyObject *anchor, *d;

	(void)closure;
	if (rec_usable(r) != 0)
		return NULL;
	if (rb_rec_has_utc(&r->h))
		anchor = Py_BuildValue("(KK)", (unsigned long long)r->h.anchor_mono_ns,
				       (unsigned long long)r->h.anchor_real_ns);
	else
		anchor = Py_NewRef(Py_None);
	if (anchor == NULL)
		return NULL;
	d = Py_BuildValue("[{s:O,s:O,s:K,s:n,s:n,s:N}]", "header", r->header, "text", r->text,
			  "start_seq", (unsigned long long)r->h.stream_start_seq, "first", (Py_ssize_t)0,
			  "frames", r->n, "utc_anchor", anchor);
	return d;
}

static PyObject *
recording_iter(rbpy_recording *r)
{
	rbpy_reciter *it;

	if (rec_usable(r) != 0)
		return NULL;
	it = PyObject_New(rbpy_reciter, &rbpy_reciter_type);
	if (it == NULL)
		return NULL;
	Py_INCREF(r);
	it->rec = r;
	it->next = 0;
	return (PyObject *)it;
}

static PyObject *
recording_enter(rbpy_recording *r, PyObject *unused)
{
	(void)unused;
	return Py_NewRef((PyObject *)r);
}

static PyObject *
recording_exit(rbpy_recording *r, PyObject *args)
{
	(void)r;
	(void)args;
	Py_RETURN_FALSE;
}

#define REC_GET(fn, expr)                                                       \
	static PyObject *fn(rbpy_recording *r, void *closure)                   \
	{                                                                       \
		(void)closure;                                                  \
		if (rec_usable(r) != 0)                                         \
			return NULL;                                            \
		return expr;                                                    \
	}
REC_GET(recording_dtype, Py_NewRef(r->dtype))
REC_GET(recording_shape, Py_NewRef(r->shape))
REC_GET(recording_header, Py_NewRef(r->header))
REC_GET(recording_complete, PyBool_FromLong(r->complete))
REC_GET(recording_stop, Py_NewRef(r->stop))
REC_GET(recording_stop_path, Py_NewRef(r->stop_path))
REC_GET(recording_paths, PyList_GetSlice(r->paths, 0, PY_SSIZE_T_MAX))
REC_GET(recording_discarded, PyLong_FromUnsignedLongLong(r->discarded))
REC_GET(recording_version, PyLong_FromUnsignedLong(r->h.version))
REC_GET(recording_dropped_after, PyLong_FromUnsignedLongLong(r->dropped_after))
REC_GET(recording_dropped_at_producer, PyLong_FromUnsignedLongLong(r->dropped))
REC_GET(recording_frame_bytes, PyLong_FromUnsignedLongLong(r->h.frame_bytes))
REC_GET(recording_recording_id, PyLong_FromUnsignedLongLong(r->h.recording_id))
REC_GET(recording_path, Py_NewRef(r->path))

static PyGetSetDef recording_getset[] = {
	{"path", (getter)recording_path, NULL, "the path given", NULL},
	{"paths", (getter)recording_paths, NULL, "the part files read, in order", NULL},
	{"dtype", (getter)recording_dtype, NULL, "numpy dtype of a frame's elements", NULL},
	{"shape", (getter)recording_shape, NULL,
	 "shape of a whole frame (untyped: (frame_bytes,))", NULL},
	{"frame_bytes", (getter)recording_frame_bytes, NULL, "the ring's largest frame", NULL},
	{"header", (getter)recording_header, NULL, "the stream header as a dict", NULL},
	{"streams", (getter)recording_streams, NULL,
	 "the streams, one dict each: header (dict), text, start_seq, first (position), "
	 "frames, utc_anchor ((monotonic_ns, realtime_ns) or None)", NULL},
	{"complete", (getter)recording_complete, NULL,
	 "True if every part was closed cleanly and read to its end", NULL},
	{"stop", (getter)recording_stop, NULL,
	 "why the walk ended, as --check says it ('end', 'not closed; ends at a torn or "
	 "unwritten page', 'damaged: ...')", NULL},
	{"stop_path", (getter)recording_stop_path, NULL, "the part the walk ended in", NULL},
	{"discarded", (getter)recording_discarded, NULL,
	 "descriptors skipped (frames a lossy recorder saw overwritten)", NULL},
	{"version", (getter)recording_version, NULL, "the recording format version", NULL},
	{"dropped_after", (getter)recording_dropped_after, NULL,
	 "frames the producer dropped after the last frame (its end of stream said so)",
	 NULL},
	{"dropped_at_producer", (getter)recording_dropped_at_producer, NULL,
	 "frames the producer dropped: every frame's dropped_before (discarded "
	 "descriptors' too) and dropped_after", NULL},
	{"recording_id", (getter)recording_recording_id, NULL, "the recording's id", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef recording_methods[] = {
	{"by_seq", (PyCFunction)recording_by_seq, METH_O,
	 "by_seq(seq)\n--\n\nThe frame of sequence number seq (KeyError if none)."},
	{"frames", (PyCFunction)(void (*)(void))recording_frames, METH_VARARGS | METH_KEYWORDS,
	 "frames(start=0, stop=len, *, copy=False)\n--\n\nFrames [start, stop) as one "
	 "read-only (n, *shape) view of the file, where they are evenly strided (see runs()); "
	 "else ValueError, or with copy=True a new writable array. Damaged frames raise "
	 "RecordingDamaged."},
	{"runs", (PyCFunction)recording_runs, METH_NOARGS,
	 "runs()\n--\n\nThe maximal evenly strided runs of frames, as (start, stop) pairs."},
	{"verify", (PyCFunction)recording_verify, METH_NOARGS,
	 "verify()\n--\n\nChecks every frame's checksum; the positions of damaged frames."},
	{"utc", (PyCFunction)recording_utc, METH_O,
	 "utc(timestamp_ns)\n--\n\nUTC (ns since 1970) of a recorded time stamp; None "
	 "without a UTC anchor (format version 3 on)."},
	RBPY_CONTEXT_METHODS(recording),
	{NULL, NULL, 0, NULL},
};

static PySequenceMethods recording_seq = {
	.sq_length = (lenfunc)recording_len,
	.sq_item = (ssizeargfunc)recording_item,
};

PyTypeObject rbpy_recording_type = {
	RBPY_TYPE_HEAD("ringbuf.Recording", rbpy_recording),
	.tp_doc = "Recording(path)\n--\n\nA recording made by rb-consumer record (one file, "
		  "or FILE.000, FILE.001, ... of a rotated one), read through the recording "
		  "module. len(), iteration, rec[i] and rec.by_seq(seq) give RecordedFrame "
		  "objects; frames() gives many at once. See docs/RECORDING.md.",
	.tp_new = PyType_GenericNew,
	.tp_init = (initproc)recording_init,
	.tp_as_sequence = &recording_seq,
	.tp_iter = (getiterfunc)recording_iter,
	.tp_methods = recording_methods,
	.tp_getset = recording_getset,
};

/* ---- RecordedFrame ------------------------------------------------------ */

static void
rbpy_recframe_dealloc(rbpy_recframe *f)
{
	Py_XDECREF(f->rec);
	PyObject_Free(f);
}

#define RF(f) (&(f)->rec->e[(f)->i])
#define RF_GET(fn, expr)                                                        \
	static PyObject *fn(rbpy_recframe *f, void *closure)                    \
	{                                                                       \
		(void)closure;                                                  \
		return expr;                                                    \
	}
RF_GET(recframe_seq, PyLong_FromUnsignedLongLong(RF(f)->seq))
RF_GET(recframe_timestamp, PyLong_FromUnsignedLongLong(RF(f)->timestamp_ns))
RF_GET(recframe_utc_ns, rec_utc_of(f->rec, RF(f)->timestamp_ns))
RF_GET(recframe_length, PyLong_FromUnsignedLongLong(RF(f)->length))
RF_GET(recframe_flags, PyLong_FromUnsignedLong(RF(f)->flags))
RF_GET(recframe_incomplete, PyBool_FromLong(!!(RF(f)->flags & RB_FRAME_INCOMPLETE)))
RF_GET(recframe_abandoned, PyBool_FromLong(!!(RF(f)->flags & RB_FRAME_ABANDONED)))
RF_GET(recframe_dropped_before, PyLong_FromUnsignedLongLong(RF(f)->dropped_before))
RF_GET(recframe_index, PyLong_FromSsize_t(f->i))
RF_GET(recframe_offset, PyLong_FromUnsignedLongLong(RF(f)->data_offset))
RF_GET(recframe_path, Py_NewRef(PyList_GET_ITEM(f->rec->paths, f->rec->part[f->i])))
RF_GET(recframe_array, rec_frame_array(f->rec, f->i))

static PyObject *
recframe_intact(rbpy_recframe *f, void *closure)
{
	(void)closure;
	if (f->rec->crc[f->i] == CRC_NONE)
		Py_RETURN_NONE;
	if (rec_check(f->rec, f->i) != 0) {
		PyErr_Clear();
		Py_RETURN_FALSE;
	}
	Py_RETURN_TRUE;
}

static PyObject *
recframe_array_method(rbpy_recframe *f, PyObject *args, PyObject *kw)
{
	(void)args; /* numpy's dtype/copy arguments: the view is what it is */
	(void)kw;
	return rec_frame_array(f->rec, f->i);
}

static PyObject *
recframe_repr(rbpy_recframe *f)
{
	return PyUnicode_FromFormat("<ringbuf.RecordedFrame seq=%llu length=%llu flags=0x%x>",
				    (unsigned long long)RF(f)->seq,
				    (unsigned long long)RF(f)->length, RF(f)->flags);
}

static PyGetSetDef recframe_getset[] = {
	{"seq", (getter)recframe_seq, NULL, "sequence number in the recorded ring", NULL},
	{"timestamp", (getter)recframe_timestamp, NULL, "the producer's time stamp, ns", NULL},
	{"utc_ns", (getter)recframe_utc_ns, NULL,
	 "the time stamp in UTC (ns since 1970), None without a UTC anchor", NULL},
	{"length", (getter)recframe_length, NULL, "bytes of frame data", NULL},
	{"flags", (getter)recframe_flags, NULL, "the frame's RB_FRAME_* flags", NULL},
	{"incomplete", (getter)recframe_incomplete, NULL, "FRAME_INCOMPLETE is set", NULL},
	{"abandoned", (getter)recframe_abandoned, NULL,
	 "its producer died before committing it (length 0)", NULL},
	{"dropped_before", (getter)recframe_dropped_before, NULL,
	 "frames the producer dropped just before this one", NULL},
	{"index", (getter)recframe_index, NULL, "position in the recording", NULL},
	{"offset", (getter)recframe_offset, NULL, "where its bytes are in its file", NULL},
	{"path", (getter)recframe_path, NULL, "the part file holding it", NULL},
	{"intact", (getter)recframe_intact, NULL,
	 "True if its bytes match their checksum, False if not (then .array raises "
	 "RecordingDamaged), None for format version 1 (no checksums)", NULL},
	{"array", (getter)recframe_array, NULL,
	 "its bytes as a read-only numpy view of the file (no copy)", NULL},
	{NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef recframe_methods[] = {
	{"__array__", (PyCFunction)(void (*)(void))recframe_array_method,
	 METH_VARARGS | METH_KEYWORDS, NULL},
	{NULL, NULL, 0, NULL},
};

PyTypeObject rbpy_recframe_type = {
	RBPY_TYPE_HEAD("ringbuf.RecordedFrame", rbpy_recframe),
	.tp_doc = "One frame of a Recording: its descriptor, and .array, its bytes.",
	.tp_repr = (reprfunc)recframe_repr,
	.tp_getset = recframe_getset,
	.tp_methods = recframe_methods,
};

/* ---- iteration ------------------------------------------------------------ */

static void
rbpy_reciter_dealloc(rbpy_reciter *it)
{
	Py_XDECREF(it->rec);
	PyObject_Free(it);
}

static PyObject *
reciter_next(rbpy_reciter *it)
{
	if (it->next >= it->rec->n)
		return NULL;
	return recframe_new(it->rec, it->next++);
}

PyTypeObject rbpy_reciter_type = {
	RBPY_TYPE_HEAD("ringbuf._RecordingIterator", rbpy_reciter),
	.tp_iter = PyObject_SelfIter,
	.tp_iternext = (iternextfunc)reciter_next,
};

/* Adds the types and RecordingDamaged to the module (module.c). */
int
rbpy_recording_init(PyObject *m)
{
	PyTypeObject *types[] = {&rbpy_recording_type, &rbpy_recframe_type, &rbpy_reciter_type};
	size_t i;

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (PyType_Ready(types[i]) != 0)
			return -1;
	if (PyModule_AddObjectRef(m, "Recording", (PyObject *)&rbpy_recording_type) != 0 ||
	    PyModule_AddObjectRef(m, "RecordedFrame", (PyObject *)&rbpy_recframe_type) != 0)
		return -1;
	rbpy_recording_damaged = PyErr_NewExceptionWithDoc(
		"ringbuf.RecordingDamaged",
		"A recorded frame's bytes fail their checksum: they are not the bytes "
		"recorded, and are not handed out.", PyExc_ValueError, NULL);
	if (rbpy_recording_damaged == NULL)
		return -1;
	return PyModule_AddObjectRef(m, "RecordingDamaged", rbpy_recording_damaged);
}
