/*
 * ringbuf: zero-copy frame rings in shared memory.
 *
 * A producer writes fixed-shape frames straight into the slots of a named
 * ring in /dev/shm; consumers in other processes map the same ring and read
 * the frames in place. Waiting sleeps on shared futexes; the fast path makes
 * no system call while nobody sleeps.
 *
 * Conventions:
 *   - Every function that can fail returns 0 (or a count) on success and a
 *     negative errno-style code on failure. The ring-specific codes are the
 *     RB_E_* names below; rb_strerror() turns any code into a sentence.
 *   - The library never prints and never exits.
 *   - Timeouts are in nanoseconds: RB_NO_WAIT returns at once, RB_FOREVER
 *     waits until the condition, end of stream, or a dead producer.
 *   - A struct rb_ring is one mapping of a segment. Producer and consumer
 *     handles are attached to a ring and must be detached before the ring is
 *     closed. A handle is used by one thread at a time.
 *
 * The byte layout of the segment is in docs/FORMAT.md.
 */
#ifndef RINGBUF_H
#define RINGBUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define RB_VERSION_STRING "0.2.0"

/* Timeouts, in nanoseconds. */
#define RB_NO_WAIT 0ULL
#define RB_FOREVER UINT64_MAX

/* Ring-specific error codes (all negative errno values). */
#define RB_E_NOT_A_RING (-EMEDIUMTYPE)   /* segment is not a ringbuf ring */
#define RB_E_VERSION (-EPROTONOSUPPORT)  /* ring layout version unsupported */
#define RB_E_CORRUPT (-EBADMSG)          /* inconsistent or truncated ring */
#define RB_E_EOS (-ENODATA)              /* end of stream reached */
#define RB_E_PRODUCER_DEAD (-EOWNERDEAD) /* the producer died */
#define RB_E_OVERRUN (-ESTALE)           /* lossy: frame overwritten while held */
#define RB_E_EVICTED (-ENOLINK)          /* this handle was evicted as dead */
#define RB_E_TOO_MANY (-EUSERS)          /* every consumer slot is taken */
#define RB_E_BUSY (-EBUSY)               /* a live participant is attached */
#define RB_E_WOULD_BLOCK (-EAGAIN)       /* ring full and RB_NO_WAIT given */
#define RB_E_STUCK (-EDEADLK)            /* a live peer holds a lock and never lets go */

/* Longest ring name (without the "rb-" prefix used in /dev/shm). */
#define RB_NAME_MAX 200

/* Element types of a frame type. */
enum rb_elem_type {
	RB_ELEM_NONE = 0, /* untyped bytes */
	RB_ELEM_U8,
	RB_ELEM_U16,
	RB_ELEM_U32,
	RB_ELEM_U64,
	RB_ELEM_I8,
	RB_ELEM_I16,
	RB_ELEM_I32,
	RB_ELEM_I64,
	RB_ELEM_F32,
	RB_ELEM_F64,
	RB_ELEM_C64,  /* complex of two f32 */
	RB_ELEM_C128, /* complex of two f64 */
	RB_ELEM_COUNT_
};

#define RB_MAX_DIMS 4

/* What a frame holds: dims[0] is the slowest-varying (C order). */
struct rb_frame_type {
	uint32_t elem;      /* enum rb_elem_type */
	uint32_t ndim;      /* 0 when elem is RB_ELEM_NONE, else 1..4 */
	uint64_t dims[RB_MAX_DIMS];
};

/* Flags of rb_ring_config.flags. */
#define RB_CREATE_ROUND_UP (1u << 0)     /* round slot_count up to a power of 2 */
#define RB_CREATE_REPLACE (1u << 1)      /* replace an existing ring with no live participant */
#define RB_CREATE_HUGEPAGES (1u << 2)    /* ask for huge pages; falls back, see rb_ring_pages */
#define RB_CREATE_MLOCK (1u << 3)        /* lock the ring in memory (fails if refused) */
#define RB_CREATE_PREFAULT (1u << 4)     /* touch every page now */
#define RB_CREATE_GROUP_ACCESS (1u << 5) /* mode 0660 instead of 0600 */

struct rb_ring_config {
	uint64_t frame_bytes;        /* largest frame, > 0 */
	uint32_t slot_count;         /* power of two (or RB_CREATE_ROUND_UP) */
	uint32_t slot_align;         /* 0 means 64; power of two >= 64; 4096 for O_DIRECT */
	uint32_t max_consumers;      /* 0 means 64; at most RB_MAX_CONSUMERS */
	uint32_t stream_header_bytes;/* 0 means 16 KiB; at least 4096 */
	uint64_t initial_seq;        /* sequence number of the first frame */
	struct rb_frame_type type;   /* zeroes for untyped bytes */
	uint32_t flags;              /* RB_CREATE_* */
	uint32_t max_producers;      /* 0 means 1 (single-producer fast path); up to RB_MAX_PRODUCERS */
	uint32_t max_groups;         /* consumer groups; 0 means 8; up to RB_MAX_GROUPS */
};

#define RB_MAX_CONSUMERS 256
#define RB_MAX_PRODUCERS 64
#define RB_MAX_GROUPS 64
/* Longest group name, without its terminating NUL. */
#define RB_GROUP_NAME_MAX 31

/* How the ring's pages are backed (rb_ring_pages). */
enum rb_pages {
	RB_PAGES_NORMAL = 0,
	RB_PAGES_THP = 1, /* transparent huge pages advised and allowed by the kernel */
};

struct rb_ring;
struct rb_producer;
struct rb_consumer;

/* One frame, in place in the ring. */
struct rb_frame {
	void *data;            /* the slot's memory: frame_bytes long */
	uint64_t seq;          /* sequence number */
	uint64_t length;       /* bytes used, <= frame_bytes */
	uint64_t timestamp_ns; /* producer's time stamp */
	uint32_t flags;        /* RB_FRAME_* */
	uint32_t reserved_;
};

/* Frame flags. Bits 0-15 belong to the library, 16-31 to the application. */
#define RB_FRAME_STREAM_START (1u << 0) /* first frame of a stream */
#define RB_FRAME_EOS (1u << 1)          /* internal: end-of-stream marker */
#define RB_FRAME_INCOMPLETE (1u << 2)   /* the source could not fill it all */
#define RB_FRAME_ABANDONED (1u << 3)    /* its producer died before committing it:
					 * length 0, no data; counted, not a gap */
#define RB_FRAME_USER_SHIFT 16

/* ---- rings -------------------------------------------------------------- */

/*
 * Creates the ring `name` and maps it. Fails with -EEXIST when it exists
 * (unless RB_CREATE_REPLACE and no live participant), -EINVAL for a bad
 * configuration, -ENOSPC when /dev/shm cannot hold it.
 */
int rb_ring_create(const char *name, const struct rb_ring_config *config,
		   struct rb_ring **out);

/* Maps an existing ring after validating every field (see RB_E_*). */
int rb_ring_open(const char *name, struct rb_ring **out);

/* Unmaps the ring. Every handle attached to it must be detached first. */
void rb_ring_close(struct rb_ring *ring);

/* 0 if `name` is a valid ring name (1..200 of [A-Za-z0-9._-], not starting
 * with '.'), else -EINVAL. */
int rb_ring_name_check(const char *name);

/* Removes the name; attached processes keep their mapping until they close. */
int rb_ring_remove(const char *name);

/* Geometry, as validated at create or open time. */
const char *rb_ring_name(const struct rb_ring *ring);
uint64_t rb_ring_frame_bytes(const struct rb_ring *ring);
uint32_t rb_ring_slot_count(const struct rb_ring *ring);
uint64_t rb_ring_slot_stride(const struct rb_ring *ring);
uint32_t rb_ring_max_consumers(const struct rb_ring *ring);
uint64_t rb_ring_segment_bytes(const struct rb_ring *ring);
const struct rb_frame_type *rb_ring_frame_type(const struct rb_ring *ring);
enum rb_pages rb_ring_pages(const struct rb_ring *ring);
uint32_t rb_ring_slot_align(const struct rb_ring *ring);
uint64_t rb_ring_initial_seq(const struct rb_ring *ring);
uint32_t rb_ring_stream_header_capacity(const struct rb_ring *ring);
/* CLOCK_REALTIME at creation, in nanoseconds. */
uint64_t rb_ring_created_ns(const struct rb_ring *ring);
/* The RB_CREATE_* flags the ring was created with. */
uint32_t rb_ring_create_flags(const struct rb_ring *ring);
/* How many producers may attach at once (1: single-producer ring). */
uint32_t rb_ring_max_producers(const struct rb_ring *ring);
/* How many consumer groups the ring can hold. */
uint32_t rb_ring_max_groups(const struct rb_ring *ring);
/* Start of the slot area (slot_count * slot_stride bytes), for registering
 * I/O buffers. */
void *rb_ring_slots(const struct rb_ring *ring);

/*
 * Calls fn(name, arg) for every ring on this machine (every /dev/shm entry
 * named like a ring; it may still fail to open). Stops early and returns
 * fn's value if it is non-zero; returns 0 or -errno otherwise.
 */
int rb_ring_foreach(int (*fn)(const char *name, void *arg), void *arg);

/* rb_ring_status.stream_state */
enum rb_stream_status {
	RB_STREAM_STATUS_NONE = 0,      /* no stream begun yet */
	RB_STREAM_STATUS_OPEN = 1,
	RB_STREAM_STATUS_ENDED = 2,
	RB_STREAM_STATUS_ABANDONED = 3, /* its producers died with it open */
};

/* A snapshot of the counters, for monitors. */
struct rb_ring_status {
	uint64_t write_seq;      /* next sequence number to be published */
	uint64_t initial_seq;
	uint64_t frames_dropped; /* dropped by the producer on a full ring */
	uint32_t producer_pid;   /* first attached producer, 0 when none */
	int producer_alive;      /* at least one attached producer is alive */
	int stream_open;         /* 1 between begin and end of stream */
	int stream_state;        /* enum rb_stream_status */
	uint64_t eos_seq;        /* write_seq just after the last end marker */
	int producer_blocked;    /* the producer sleeps waiting for space */
	uint64_t producer_waits_for; /* read_seq it needs, when blocked */
	uint32_t consumers;      /* attached consumers */
	uint32_t producers;      /* attached producers */
	uint32_t max_producers;
	uint32_t stream_members; /* producers that have the stream open */
	uint32_t groups;         /* consumer groups with members */
	uint64_t claim_seq;      /* next seq to claim (several-producer rings;
				  * write_seq in single-producer rings) */
	uint64_t frames_abandoned; /* seqs of dead producers committed empty */
};
int rb_ring_get_status(struct rb_ring *ring, struct rb_ring_status *out);

struct rb_producer_status {
	uint32_t index;
	uint32_t pid;
	int alive;
	int in_stream;        /* a member of the open stream */
	uint64_t frames;      /* frames it committed */
	uint64_t hold_from;   /* oldest seq it may hold uncommitted, UINT64_MAX: none */
};
/* Fills up to `max` entries, returns how many producers are attached. */
int rb_ring_producers(struct rb_ring *ring, struct rb_producer_status *out,
		      uint32_t max);

struct rb_group_status {
	uint32_t index;
	char name[RB_GROUP_NAME_MAX + 1];
	int lossy;
	uint32_t members;
	uint64_t claim_seq;       /* next seq to be handed to a member */
	uint64_t start_seq;       /* claim_seq when the group was created */
	uint64_t lost;            /* seqs lost by members that have left: frames they
				   * still held, and (lossy) seqs lapped while they
				   * claimed, which attached members count in their
				   * own lost until they leave */
	uint64_t frames_departed; /* frames released by members that have left */
	uint64_t markers;         /* end-of-stream markers passed */
};
/* Fills up to `max` entries, returns how many groups exist. */
int rb_ring_groups(struct rb_ring *ring, struct rb_group_status *out,
		   uint32_t max);

struct rb_consumer_status {
	uint32_t index;
	uint32_t pid;
	int alive;
	int lossy;
	uint64_t read_seq;
	uint64_t frames;
	uint64_t lost;
	int sleeping;         /* asleep waiting for frames */
	uint64_t wakes_at;    /* write_seq it waits for, when sleeping */
	char label[32];
	char group[RB_GROUP_NAME_MAX + 1]; /* "" when in no group */
	uint64_t held;        /* group member: seqs claimed, not released */
};
/* Fills up to `max` entries, returns how many consumers are attached. */
int rb_ring_consumers(struct rb_ring *ring, struct rb_consumer_status *out,
		      uint32_t max);

/* Evicts consumers and the producer whose process died; returns how many. */
int rb_ring_evict_dead(struct rb_ring *ring);

/* Size of one element of `elem`, 0 for RB_ELEM_NONE or an invalid type. */
size_t rb_elem_size(uint32_t elem);
/* "u8", "f32", ... ; NULL for an invalid type. */
const char *rb_elem_name(uint32_t elem);
/* Parses "u8", "i16", "f32", "c64", ...; returns the type or -EINVAL. */
int rb_elem_parse(const char *text);

/* Turns any code returned by this library into a sentence. */
const char *rb_strerror(int code);

/* ---- producer ----------------------------------------------------------- */

struct rb_producer_options {
	uint64_t spin_ns; /* busy-wait this long before sleeping; 0 means 5 us */
};

/*
 * Attaches a producer. A single-producer ring (max_producers 1) takes one:
 * RB_E_BUSY when a live one is attached. A ring made for several takes up
 * to max_producers at once (RB_E_BUSY beyond that); each frame gets a
 * unique sequence number and consumers see them in sequence order.
 *
 * A dead producer is replaced: its committed frames stay readable, and a
 * stream it left open (as its last live member) is marked abandoned
 * (consumers that reach its end get RB_E_PRODUCER_DEAD until a producer
 * begins a stream). In a several-producer ring the slots a dead producer
 * had acquired and not committed are committed on its behalf, empty, with
 * RB_FRAME_ABANDONED, so that the others' frames after them flow on.
 */
int rb_producer_attach(struct rb_ring *ring,
		       const struct rb_producer_options *options,
		       struct rb_producer **out);

/*
 * Detaches. An open stream is ended first (several producers: this one
 * leaves it): with a marker if a slot frees up within timeout_ns
 * (returning -ETIMEDOUT otherwise, when the stream is ended by its state
 * alone, after the last committed frame). Frames acquired and not
 * committed are lost: a single-producer ring reuses their slots; a
 * several-producer ring publishes them empty with RB_FRAME_ABANDONED.
 */
int rb_producer_detach(struct rb_producer *producer, uint64_t timeout_ns);

/*
 * Reserves the next slot. frame->data points into the ring; frame->seq is
 * set; length is preset to the frame size. Waits for lossless consumers up
 * to timeout_ns: -EAGAIN (RB_NO_WAIT) or -ETIMEDOUT when the ring stays full.
 */
int rb_producer_acquire(struct rb_producer *producer, struct rb_frame *frame,
			uint64_t timeout_ns);

/* Reserves up to `max` slots; returns how many (>= 1) or a negative code. */
int rb_producer_acquire_batch(struct rb_producer *producer,
			      struct rb_frame *frames, uint32_t max,
			      uint64_t timeout_ns);

/* Publishes the oldest reserved frame with frame->length/timestamp/flags. */
int rb_producer_commit(struct rb_producer *producer,
		       const struct rb_frame *frame);

/* Publishes the `count` oldest reserved frames with one store. */
int rb_producer_commit_batch(struct rb_producer *producer,
			     const struct rb_frame *frames, uint32_t count);

/* Counts frames the producer dropped because the ring was full. */
void rb_producer_count_dropped(struct rb_producer *producer, uint64_t n);

/*
 * Starts a stream: replaces the stream header (key=value lines) and marks
 * the next frame RB_FRAME_STREAM_START. -EMSGSIZE if the text is too long.
 * Several producers: the first to begin opens the stream and writes the
 * header; the others join it (their header_text is ignored); -EAGAIN if
 * its last member is ending it at that moment (begin again). -EBUSY while
 * this producer holds acquired, uncommitted frames.
 */
int rb_producer_begin_stream(struct rb_producer *producer,
			     const char *header_text);

/*
 * Ends the stream with a marker that consumers see after the last frame
 * (also when no stream was begun: consumers then end too). A consumer that
 * attached after a stream ended waits for the next stream instead of
 * seeing that end. Several producers: this producer leaves the stream;
 * the marker is written when the last live member leaves (members found
 * dead are evicted first); -EINVAL if others have a stream open that this
 * producer is not in.
 */
int rb_producer_end_stream(struct rb_producer *producer, uint64_t timeout_ns);

/* Sequence number the next acquired frame will get (several producers:
 * the next one to be claimed by anyone, at the time of the call). */
uint64_t rb_producer_next_seq(const struct rb_producer *producer);

/* ---- consumer ----------------------------------------------------------- */

enum rb_start {
	RB_START_OLDEST = 0, /* oldest frame still in the ring */
	RB_START_NEWEST = 1, /* the last frame published */
	RB_START_NEXT = 2,   /* the next frame to be published */
};

struct rb_consumer_options {
	int lossy;            /* never slow the producer; skip and count losses */
	enum rb_start start;
	uint64_t spin_ns;     /* busy-wait this long before sleeping; 0 means 5 us */
	const char *label;    /* shown by rb-ctl; up to 31 bytes */
	const volatile int *cancel; /* waits return -EINTR soon after *cancel != 0 */
	/*
	 * Join (or create) the work-sharing group of this name: each frame goes
	 * to exactly one member of the group. NULL: no group (sees every frame).
	 * Name rules as for rings, at most RB_GROUP_NAME_MAX bytes. A group is
	 * lossless or lossy as its first member asked; a member asking the other
	 * mode gets -EINVAL. `start` applies only when the group is created.
	 * Members release their frames in the order they got them. Frames held
	 * by a member that dies or detaches are counted as the group's lost (not
	 * handed to another member): see docs/FORMAT.md "Consumer groups".
	 */
	const char *group;
};

int rb_consumer_attach(struct rb_ring *ring,
		       const struct rb_consumer_options *options,
		       struct rb_consumer **out);

/* Releases what it holds and frees its slot in the ring. */
int rb_consumer_detach(struct rb_consumer *consumer);

/*
 * Waits up to timeout_ns for the next frame and returns it in place.
 * -ETIMEDOUT (or -EAGAIN for RB_NO_WAIT) when none came, RB_E_EOS at the end
 * of a stream, RB_E_PRODUCER_DEAD when the producer died and nothing is left,
 * RB_E_EVICTED when this consumer was evicted, -EINTR when cancelled.
 */
int rb_consumer_acquire(struct rb_consumer *consumer, struct rb_frame *frame,
			uint64_t timeout_ns);

/*
 * Waits until at least `min` frames are ready (sleeping until then, so a
 * fast stream wakes the consumer once per `min` frames), then returns up to
 * `max` of them. Returns fewer than `min` only at end of stream, on timeout
 * or when the producer died, and a negative code when it has none to give.
 */
int rb_consumer_acquire_batch(struct rb_consumer *consumer,
			      struct rb_frame *frames, uint32_t max,
			      uint32_t min, uint64_t timeout_ns);

/*
 * Lossy consumers: 0 if the frame is still intact, RB_E_OVERRUN if the
 * producer has started to overwrite it (discard what was read from it).
 * Lossless consumers: always 0.
 */
int rb_consumer_check(struct rb_consumer *consumer, const struct rb_frame *frame);

/* Hands back the oldest held frame. Lossy: RB_E_OVERRUN if it was overrun
 * while held (it is then counted as lost, not consumed). */
int rb_consumer_release(struct rb_consumer *consumer, const struct rb_frame *frame);

/* Hands back the `count` oldest held frames with one store; returns how many
 * of them were overrun while held (lossy), or a negative code. */
int rb_consumer_release_batch(struct rb_consumer *consumer,
			      const struct rb_frame *frames, uint32_t count);

/*
 * Copies the current stream header (NUL-terminated) into buf; returns its
 * length, or -ENOBUFS when buf is too small. *start_seq (if not NULL) gets
 * the sequence number of the stream's first frame.
 */
int rb_consumer_stream_header(struct rb_consumer *consumer, char *buf,
			      size_t size, uint64_t *start_seq);
/* The same, without a consumer handle (for monitors). */
int rb_ring_stream_header(struct rb_ring *ring, char *buf, size_t size,
			  uint64_t *start_seq);

struct rb_consumer_stats {
	uint64_t frames;  /* frames delivered and released */
	uint64_t lost;    /* sequence numbers skipped or overrun (lossy) */
	uint64_t next_seq;/* sequence number it will read next */
	uint64_t wakeups; /* times it slept on the futex */
	uint64_t abandoned; /* of frames, how many were RB_FRAME_ABANDONED (empty) */
};
void rb_consumer_get_stats(const struct rb_consumer *consumer,
		       struct rb_consumer_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* RINGBUF_H */
