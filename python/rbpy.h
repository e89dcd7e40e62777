/*
 * The Python binding of ringbuf: what the module's files share.
 *
 * Objects and who refers to whom:
 *
 *   Consumer, Producer   an "endpoint": one mapping of a ring and one
 *                        handle on it (struct rbpy_endpoint comes first in
 *                        both, so frames can refer to either).
 *   Ring                 an endpoint with no handle: a mapping to create
 *                        a ring (for several producers, say) and to watch
 *                        its counters; it never has frames.
 *   Frame                one slot, held by a consumer or reserved by a
 *                        producer; holds a strong reference to its
 *                        endpoint, so the mapping outlives every frame.
 *   Batch                several frames acquired together; holds its
 *                        frames.
 *
 * A buffer export (a memoryview, hence a numpy array) holds its Frame or
 * Batch, which holds the endpoint: as long as any view exists the ring
 * stays mapped. Exports are counted per frame (a batch export counts on
 * each of its frames), because the one thing a view must never do is read
 * a slot after it was handed back to the producer:
 *
 *   - an explicit release() or commit() while views exist raises
 *     BufferError and changes nothing;
 *   - an implicit end of use (a `with` block ending, a loop moving on to
 *     the next frame, the consumer being closed, the frame being garbage
 *     collected) marks the frame "releasing": new views are refused at
 *     once, and the slot is handed back when the last view goes away.
 *
 * The C library wants frames handed back in order (lossless consumers
 * release exactly the oldest held frames; a producer commits its oldest
 * reservation first), while Python code may finish with them in any order.
 * So each endpoint keeps its frames in a queue in acquisition order; a
 * frame that is done is only flagged, and the longest done prefix of the
 * queue goes to the library with one batch call.
 *
 * Threads: a handle is used by one thread at a time. Waits run with the
 * GIL released, so while one thread waits (endpoint.busy) others may still
 * drop frames and views: their hand-backs stay flagged in the queue and
 * the waiting thread passes them on between wait slices.
 */
#ifndef RBPY_H
#define RBPY_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <sys/types.h>

#include <ringbuf/ringbuf.h>

/*
 * Waits are cut into slices this long: between slices the GIL is taken
 * back to run signal handlers (Ctrl-C raises KeyboardInterrupt within a
 * slice) and to pass on frames other threads finished with.
 */
#define RBPY_SLICE_NS (50ull * 1000000ull)

/* How long close() waits for a slot for the end-of-stream marker. */
#define RBPY_CLOSE_TIMEOUT_NS (1000ull * 1000000ull)

/* Frame.state */
enum rbpy_frame_state {
	RBPY_HELD = 0,   /* usable: its memory may be viewed */
	RBPY_RELEASING,  /* done, but views remain: handed back when they go */
	RBPY_DONE,       /* handed back (or flagged in the queue to be) */
};

/* Queue entry state */
enum rbpy_entry_state {
	RBPY_ENTRY_HELD = 0, /* still the user's */
	RBPY_ENTRY_DONE,     /* consumer: release it; producer: commit it */
};

/* Frames held (consumer) or reserved (producer), oldest first. Tickets
 * number the entries from the first ever pushed, so a frame finds its
 * entry in O(1) even as the head moves. */
struct rbpy_queue {
	struct rb_frame *frames;
	uint8_t *state;
	size_t head, len, cap;
	uint64_t first_ticket; /* ticket of frames[head] */
};

enum rbpy_side {
	RBPY_CONSUMER = 0,
	RBPY_PRODUCER = 1,
	RBPY_RING = 2,  /* no handle, no frames */
};

typedef struct rbpy_frame_s *rbpy_frame_ptr;

/* The part shared by Consumer and Producer objects. */
struct rbpy_endpoint {
	PyObject_HEAD
	int side;                   /* enum rbpy_side */
	int busy;                   /* a wait runs with the GIL released */
	int closing;                /* close() asked; waits for the views */
	int closed;                 /* detached and unmapped */
	volatile int cancel;        /* makes a consumer's wait return -EINTR */
	pid_t pid;                  /* the process that attached */
	struct rb_ring *ring;
	struct rb_consumer *consumer; /* the handle: one of these two (none
				       * for a Ring) */
	struct rb_producer *producer;
	PyObject *name;             /* str */
	char cname[RB_NAME_MAX + 1];
	rbpy_frame_ptr iter_prev;   /* consumer: the frame the loop handed out
				     * last (borrowed: its dealloc clears it) */
	Py_ssize_t exports;         /* live buffer exports of all its frames */
	struct rbpy_queue queue;
	/* The frame layout, from the ring's frame type. */
	int typed;                  /* 0: untyped bytes, 1-D uint8 of length */
	char format[4];             /* struct-module format of one element */
	Py_ssize_t itemsize;
	int ndim;
	Py_ssize_t shape[RB_MAX_DIMS];
	Py_ssize_t strides[RB_MAX_DIMS];
	Py_ssize_t type_bytes;      /* bytes of one typed frame */
	uint64_t frame_bytes;
	uint32_t slot_count;
	uint64_t slot_stride;
	char *slots;                /* start of the slot area */
};

typedef struct rbpy_frame_s {
	PyObject_HEAD
	struct rbpy_endpoint *owner; /* strong reference */
	struct rb_frame f;
	uint64_t ticket;             /* its entry in owner->queue */
	Py_ssize_t exports;          /* live views (its own and its batches') */
	int state;                   /* enum rbpy_frame_state */
	Py_ssize_t shape1;           /* untyped: the 1-D shape (length) */
} rbpy_frame;

typedef struct {
	PyObject_VAR_HEAD
	struct rbpy_endpoint *owner; /* strong reference */
	Py_ssize_t exports;          /* live views of the whole batch */
	Py_ssize_t shape[RB_MAX_DIMS + 1];
	Py_ssize_t strides[RB_MAX_DIMS + 1];
	rbpy_frame *frames[1];       /* ob_size of them, strong references */
} rbpy_batch;

extern PyTypeObject rbpy_frame_type;
extern PyTypeObject rbpy_batch_type;
extern PyTypeObject rbpy_consumer_type;
extern PyTypeObject rbpy_producer_type;
extern PyTypeObject rbpy_batch_iter_type;
extern PyTypeObject rbpy_ring_type;

/* Exceptions (module.c). */
extern PyObject *rbpy_ring_error;
extern PyObject *rbpy_end_of_stream;
extern PyObject *rbpy_producer_died;
extern PyObject *rbpy_demoted;
extern PyObject *rbpy_ring_not_found;
extern PyObject *rbpy_ring_exists;
extern PyObject *rbpy_ring_timeout;

/* module.c */
PyObject *rbpy_raise(int code, PyObject *name);
/* ringbuf.Truncated (module.c), and the SIGBUS guard that makes a
 * truncated ring raise it instead of killing the process (sigbus.c). */
extern PyObject *rbpy_truncated;
int rbpy_sigbus_install(void);
int rbpy_timeout_ns(PyObject *timeout, uint64_t *out);
int rbpy_spin_ns(PyObject *spin, uint64_t *out);
uint64_t rbpy_now_ns(void);
PyObject *rbpy_numpy_asarray(PyObject *obj);
PyObject *rbpy_numpy_dtype(const char *name);
PyObject *rbpy_numpy_dtype_of_obj(PyObject *obj);
int rbpy_layout_init(struct rbpy_endpoint *e, struct rb_ring *ring);
PyObject *rbpy_parse_header(const char *text);
/* Consumes a header text (NULL passes through) and returns it as a dict. */
PyObject *rbpy_header_dict(PyObject *text);
PyObject *rbpy_dtype_of(struct rbpy_endpoint *e);
PyObject *rbpy_shape_of(struct rbpy_endpoint *e);

/* Endpoint properties shared by Consumer and Producer (module.c). */
int rbpy_endpoint_open(struct rbpy_endpoint *e);
/* 0 if the handle may be used now, else -1 with ValueError (not initialised,
 * closed) or RuntimeError (waiting in another thread). `cls` and `role` name
 * it in the message: "Consumer"/"consumer". */
int rbpy_endpoint_usable(struct rbpy_endpoint *e, const char *cls, const char *role);
PyObject *rbpy_ep_dtype(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_shape(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_frame_bytes(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_slot_count(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_slot_stride(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_ring_address(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_ring_size(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_frame_type(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_name(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_closed(struct rbpy_endpoint *e, void *closure);
PyObject *rbpy_ep_status(struct rbpy_endpoint *e, PyObject *unused);
PyObject *rbpy_ep_producers(struct rbpy_endpoint *e, PyObject *unused);
PyObject *rbpy_ep_groups(struct rbpy_endpoint *e, PyObject *unused);
PyObject *rbpy_ep_consumers(struct rbpy_endpoint *e, PyObject *unused);

/* Properties both Consumer and Producer have . */
#define RBPY_ENDPOINT_GETSET                                                       \
	{"name", (getter)rbpy_ep_name, NULL, "the ring's name", NULL},             \
	{"closed", (getter)rbpy_ep_closed, NULL, "True once close() was called", NULL}, \
	{"frame_type", (getter)rbpy_ep_frame_type, NULL,                           \
	 "element type ('i16', 'f32', ...), None for untyped bytes", NULL},        \
	{"dtype", (getter)rbpy_ep_dtype, NULL, "numpy dtype of a frame's elements", NULL}, \
	{"shape", (getter)rbpy_ep_shape, NULL,                                     \
	 "shape of a frame's view (untyped: (frame_bytes,); a frame's own view "   \
	 "is (length,))", NULL},                                                   \
	{"frame_bytes", (getter)rbpy_ep_frame_bytes, NULL, "slot size", NULL},     \
	{"slot_count", (getter)rbpy_ep_slot_count, NULL, "slots in the ring", NULL}, \
	{"slot_stride", (getter)rbpy_ep_slot_stride, NULL,                         \
	 "bytes from one slot to the next", NULL},                                 \
	{"ring_address", (getter)rbpy_ep_ring_address, NULL,                       \
	 "address of the slot area in this process (frames' views point into "    \
	 "[ring_address, ring_address + ring_size))", NULL},                       \
	{"ring_size", (getter)rbpy_ep_ring_size, NULL, "bytes of the slot area", NULL}

/* A method table's context-manager pair: prefix_enter and prefix_exit. */
#define RBPY_CONTEXT_METHODS(prefix)                                            \
	{"__enter__", (PyCFunction)prefix##_enter, METH_NOARGS, NULL},          \
	{"__exit__", (PyCFunction)prefix##_exit, METH_VARARGS, NULL}

/* The start of a type object: its Python name, and `type`, the C struct of
 * an instance (freed by type_dealloc). */
#define RBPY_TYPE_HEAD(pyname, type)                                            \
	PyVarObject_HEAD_INIT(NULL, 0)                                          \
	.tp_name = pyname,                                                      \
	.tp_basicsize = sizeof(type),                                           \
	.tp_dealloc = (destructor)type##_dealloc,                               \
	.tp_flags = Py_TPFLAGS_DEFAULT

/* status(), producers(), groups(), consumers(): for Consumer, Producer, Ring. */
#define RBPY_MONITOR_METHODS                                                    \
	{"status", (PyCFunction)rbpy_ep_status, METH_NOARGS,                  \
	 "status()\n--\n\nA snapshot of the ring's counters: write_seq, "    \
	 "initial_seq, frames_dropped, frames_abandoned, producer_pid, "       \
	 "producer_alive, producers, max_producers, stream_state, "           \
	 "stream_members, eos_seq, claim_seq, producer_blocked, consumers, "   \
	 "groups."},                                                          \
	{"producers", (PyCFunction)rbpy_ep_producers, METH_NOARGS,            \
	 "producers()\n--\n\nThe attached producers, one dict each: index, " \
	 "pid, alive, in_stream, frames (committed), hold_from (oldest seq it " \
	 "may hold uncommitted; None: none)."},                                \
	{"groups", (PyCFunction)rbpy_ep_groups, METH_NOARGS,                  \
	 "groups()\n--\n\nThe consumer groups, one dict each: index, name, " \
	 "lossy, members, claim_seq, start_seq, lost, frames_departed, "       \
	 "markers."},                                                         \
	{"consumers", (PyCFunction)rbpy_ep_consumers, METH_NOARGS,            \
	 "consumers()\n--\n\nThe attached consumers, one dict each: index, " \
	 "pid, alive, lossy, label, group (None: in no group), read_seq (a "   \
	 "member's oldest held seq; None when it holds none), held, frames, "  \
	 "lost, sleeping."}

/* What describes a ring to create (Producer, Ring): the arguments as
 * given, Py_None where not given. */
struct rbpy_ring_spec {
	PyObject *frame_type, *shape, *frame_bytes;
	Py_ssize_t slots;
	int replace;
	unsigned int slot_align;
	PyObject *max_producers, *max_groups, *max_consumers;
	PyObject *trust_owner; /* opening: owners to trust (NULL or None: none) */
};

/* trust.c: trust_owner= (a user name, a uid, or a list of them) into open
 * parameters; uids is their storage. -1 with an exception set. */
#define RBPY_TRUST_MAX 16
int rbpy_trust_params(PyObject *trust, struct rb_open_params *p,
		      uint32_t uids[RBPY_TRUST_MAX]);

/* ring.c: checks the spec; fills the configuration to create the ring
 * with (create != 0), or the frame type an existing ring must have
 * (*typed: whether one was asked for). -1 with an exception set. */
int rbpy_ring_spec_config(const struct rbpy_ring_spec *spec, int create,
			  struct rb_ring_config *cfg, int *typed);
/* ring.c: the UTF-8 text of a ring name given to a constructor, or NULL
 * with ValueError if it is not a valid name. */
const char *rbpy_ring_cname(PyObject *name);
/* ring.c: creates the ring `cname` from spec (create != 0) or opens it,
 * checking its frame type when spec names one. 0, or -1 with an exception
 * set and nothing left open. */
int rbpy_ring_open_spec(PyObject *name, const char *cname, const struct rbpy_ring_spec *spec,
			int create, struct rb_ring **ring);
/* ring.c: records an attached endpoint's side, process and ring name. */
void rbpy_endpoint_bind(struct rbpy_endpoint *e, int side, PyObject *name, const char *cname);
/* ring.c: 0 if the ring's frame type is the one cfg asks for, else -1 with
 * ValueError. */
int rbpy_ring_check_type(struct rb_ring *ring, const struct rb_ring_config *cfg,
			 PyObject *name);

/* queue.c */
int rbpy_queue_push(struct rbpy_queue *q, const struct rb_frame *f,
		    uint64_t *ticket);
struct rb_frame *rbpy_queue_entry(struct rbpy_queue *q, uint64_t ticket);
void rbpy_queue_mark_done(struct rbpy_queue *q, uint64_t ticket);
size_t rbpy_queue_done_prefix(const struct rbpy_queue *q);
void rbpy_queue_pop(struct rbpy_queue *q, size_t n);
void rbpy_queue_free(struct rbpy_queue *q);

/* frame.c */
rbpy_frame *rbpy_frame_new(struct rbpy_endpoint *owner,
			   const struct rb_frame *f);
rbpy_batch *rbpy_batch_new(struct rbpy_endpoint *owner, Py_ssize_t n);
void rbpy_frame_end(rbpy_frame *fr);
int rbpy_frame_check_release(rbpy_frame *fr, const char *verb);

/* consumer.c / producer.c: pass done frames on to the library; close when
 * close() was asked and the last view is gone. Return -1 with an
 * exception set only when `raise` is non-zero. */
int rbpy_consumer_flush(struct rbpy_endpoint *e, int raise);
int rbpy_producer_flush(struct rbpy_endpoint *e, int raise);
void rbpy_consumer_finish(struct rbpy_endpoint *e);
void rbpy_producer_finish(struct rbpy_endpoint *e);
void rbpy_endpoint_settle(struct rbpy_endpoint *e);
PyObject *rbpy_producer_commit_frames(struct rbpy_endpoint *e, rbpy_frame **frames,
				      Py_ssize_t n, PyObject *length,
				      PyObject *timestamp, PyObject *flags);

/* recording.c: ringbuf.Recording (issue 16), over <ringbuf/recording.h>. */
extern PyTypeObject rbpy_recording_type;
extern PyTypeObject rbpy_recframe_type;
extern PyTypeObject rbpy_reciter_type;
int rbpy_recording_init(PyObject *m);

#endif /* RBPY_H */
