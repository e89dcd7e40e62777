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

/* RB_VERSION_STRING, RB_VERSION_MAJOR/MINOR/PATCH: from meson.build. */
#include "rb_version.h"

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
#define RB_E_UNTRUSTED (-EKEYREJECTED)   /* ring owned by a user not trusted */
#define RB_E_TRUNCATED (-EIDRM)          /* ring truncated under us (SIGBUS) */
#define RB_E_NO_GROUPS (-ECHRNG)         /* ring made with no group records */
#define RB_E_DEMOTED (-ECONNRESET)       /* lossless consumer demoted to lossy
					  * (it stalled the producer): once */
/* Stream headers per stream (layout 4): */
#define RB_E_HEADER_GONE (-ENOMSG)       /* the header of this frame's stream was
					  * overwritten by newer streams' headers */

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
#define RB_CREATE_NO_GROUPS (1u << 6)    /* no group records (max_groups must be 0):
					  * a group attach gets RB_E_NO_GROUPS */

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
	uint32_t max_groups;         /* consumer groups; 0 means 8 (see
				      * RB_CREATE_NO_GROUPS); up to RB_MAX_GROUPS */
	uint32_t stream_headers;     /* stream headers kept (one per stream, the
				      * newest ones); 0 means 8; up to 256 */
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
	uint32_t dropped;      /* consumer side: frames its producer dropped
				* (ring full) since its previous frame, at most
				* UINT32_MAX (rb_consumer_stats has the total) */
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

/* Maps an existing ring after validating every field (see RB_E_*).
 * The same as rb_ring_open_params(name, NULL, out). */
int rb_ring_open(const char *name, struct rb_ring **out);

/*
 * Whose rings to trust. A ring is a file in /dev/shm that its owner can
 * truncate, rewrite or replace at any time; a process that maps a ring
 * owned by someone else is exposed to them (a truncation kills it with
 * SIGBUS unless it guards with rb_ring_handle_sigbus, below). So opening
 * checks the owner of the file (fstat st_uid): rings owned by the caller
 * (its effective uid) or by root are always trusted; a ring owned by
 * anyone else is refused with RB_E_UNTRUSTED unless its owner is among
 * trusted_uids or RB_OPEN_TRUST_ANY_OWNER is set. In the shared-group
 * setup, where a `daq` user produces and other users consume, consumers
 * name daq:
 *
 *     uint32_t daq = pw->pw_uid;              (from getpwnam("daq"))
 *     struct rb_open_params p = { .trusted_uids = &daq, .trusted_count = 1 };
 *     rc = rb_ring_open_params("cam0", &p, &ring);
 *
 * Zero-initialise the struct: fields added later keep their meaning at 0.
 */
#define RB_OPEN_TRUST_ANY_OWNER (1u << 0) /* accept a ring whoever owns it */

struct rb_open_params {
	uint32_t flags;              /* RB_OPEN_* */
	uint32_t trusted_count;      /* entries in trusted_uids */
	const uint32_t *trusted_uids;/* owners trusted besides the caller and root */
	uint64_t reserved_[4];       /* must be 0 */
};

/*
 * rb_ring_open with parameters (NULL: the defaults). Fails with
 * RB_E_UNTRUSTED for a ring owned by a user not trusted (see above),
 * RB_E_NOT_A_RING when /dev/shm/rb-NAME is not a regular file (a
 * directory, a FIFO, a socket, a symbolic link), -EINVAL for a bad name
 * or non-zero reserved_ fields.
 */
int rb_ring_open_params(const char *name, const struct rb_open_params *params,
			struct rb_ring **out);

/* The user id owning the ring's file when it was opened or created. */
uint32_t rb_ring_owner_uid(const struct rb_ring *ring);

/*
 * Truncation guard. A ring's owner (or root) can truncate its file while
 * it is mapped; the next access to the lost pages raises SIGBUS. The
 * library installs no signal handler: a program that wants to survive
 * this installs one (SA_SIGINFO) that calls
 *
 *     rb_ring_handle_sigbus(info->si_addr)
 *
 * which returns 1 when the address lies in a mapping of a ring open in
 * this process: it has then mapped private zero pages over that whole
 * mapping (MAP_FIXED), so the faulting access and every later one read
 * zeros instead of faulting, and marked the ring truncated. It returns 0
 * for any other address (the handler should then restore the default
 * action and return, so the fault recurs and kills as usual) and a
 * negative code if the zero pages could not be mapped. It is
 * async-signal-safe (it walks a lock-free list and calls mmap only).
 *
 * After a truncation, calls on the ring and its handles read zeros: they
 * may return any error (or time out) until the caller notices. Programs
 * check rb_ring_truncated() whenever a call fails or a wait ends, and
 * report RB_E_TRUNCATED; they should also make their waits end (e.g. set
 * the flag rb_consumer_options.cancel points to). Close the ring as usual.
 */
int rb_ring_handle_sigbus(const void *addr);

/* 1 once rb_ring_handle_sigbus has found this ring truncated, else 0. */
int rb_ring_truncated(const struct rb_ring *ring);

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
/* Stream headers the ring keeps (one per stream, the newest ones). */
uint32_t rb_ring_stream_headers(const struct rb_ring *ring);
/* CLOCK_REALTIME at creation, in nanoseconds. */
uint64_t rb_ring_created_ns(const struct rb_ring *ring);
/* The RB_CREATE_* flags the ring was created with. */
uint32_t rb_ring_create_flags(const struct rb_ring *ring);
/* How many producers may attach at once (1: single-producer ring). */
uint32_t rb_ring_max_producers(const struct rb_ring *ring);
/* How many consumer groups the ring can hold (0: none, RB_CREATE_NO_GROUPS). */
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

/*
 * Waits until at least `count` consumers are attached to the ring (a
 * producer's wait before its first frame: frames made while nobody reads
 * are overwritten unread). Returns 0, -ETIMEDOUT after timeout_ns, or
 * -EINTR when a signal handler ran meanwhile. Polls every 2 ms.
 */
int rb_ring_wait_consumers(struct rb_ring *ring, uint32_t count, uint64_t timeout_ns);

struct rb_producer_status {
	uint32_t index;
	uint32_t pid;
	int alive;
	int in_stream;        /* a member of the open stream */
	uint64_t frames;      /* frames it committed */
	uint64_t hold_from;   /* oldest seq it may hold uncommitted, UINT64_MAX: none */
	int stopped;          /* its process is stopped or traced (/proc state T, t) */
	uint32_t ncounters;   /* source counters it publishes (udp capture) */
	uint64_t counters[8]; /* RB_COUNTERS_MAX; names: rb_counter_name(i) */
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
	int stopped;          /* its process is stopped or traced (/proc state T, t) */
	int demoted;          /* lossless, demoted to lossy (lossy is then 1) */
	uint64_t stalled_ns;  /* demoted: how long it had stalled the producer
			       * (0: demoted by hand, rb_ring_demote) */
};
/* Fills up to `max` entries, returns how many consumers are attached. */
int rb_ring_consumers(struct rb_ring *ring, struct rb_consumer_status *out,
		      uint32_t max);

/* Evicts consumers and the producer whose process died; returns how many. */
int rb_ring_evict_dead(struct rb_ring *ring);

/*
 * Demotes the lossless consumer in record `index` (rb_consumer_status.index)
 * to lossy, as a producer's stall timeout does: the producers stop waiting
 * for it; it keeps reading, counts what it missed in `lost` and gets
 * RB_E_DEMOTED once from its next acquire. -ENOENT: no consumer there;
 * -EALREADY: it is lossy already; -EOPNOTSUPP: a group member (groups are
 * not demoted); -EINVAL: index out of range.
 */
int rb_ring_demote(struct rb_ring *ring, uint32_t index);

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
	/*
	 * 0: wait for lossless consumers as long as they take (the default).
	 * Otherwise a lossless consumer (in no group) whose read position does
	 * not move for this long while this producer waits for it is demoted
	 * to lossy (rb_ring_demote). Measured in the producer's wait slices
	 * (100 ms): it acts within about one slice after the timeout.
	 */
	uint64_t stall_timeout_ns;
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

/* Counts frames the producer dropped because the ring was full. The next
 * frame it commits carries the count since its previous one (consumers
 * report it as dropped_at_producer). */
void rb_producer_count_dropped(struct rb_producer *producer, uint64_t n);

/*
 * Source counters in the producer's record (FORMAT.md §3.7.1), for
 * consumers and monitors (rb_ring_producers): counter i means
 * rb_counter_name(i): "packets", "packets_lost", "packets_late",
 * "packets_duplicate", "packets_malformed", "kernel_drops",
 * "frames_incomplete", "frames_missing". Publishes values[0..count).
 */
#define RB_COUNTERS_MAX 8
int rb_producer_publish_counters(struct rb_producer *producer,
				 const uint64_t *values, uint32_t count);
/* The name of source counter `index`, NULL beyond RB_COUNTERS_MAX. */
const char *rb_counter_name(uint32_t index);

/* Measures the realtime clock against CLOCK_MONOTONIC and publishes the
 * difference in the ring (begin_stream does it too) when it moved by more
 * than 1 ms from the published one (a step of the realtime clock; smaller
 * differences are the measurement's own error): call it about once a
 * second so UTC times follow clock steps. Returns the offset in force. */
int64_t rb_producer_refresh_clock(struct rb_producer *producer);
/*
 * Publishes a given clock anchor instead of this machine's (a replay of a
 * recording, whose frames keep the recording machine's time stamps:
 * offset_ns = the recording's anchor_real_ns - anchor_mono_ns) and keeps it:
 * later begin-streams and refreshes through this ring handle leave it as it
 * is. -EINVAL for 0 (which means "no anchor").
 */
int rb_producer_set_clock_offset(struct rb_producer *producer,
				 int64_t offset_ns, uint64_t measured_at_ns);

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
 * RB_E_DEMOTED, once, when this lossless consumer was demoted to lossy
 * (see rb_producer_options.stall_timeout_ns): from then on it reads as a
 * lossy consumer, and rb_consumer_get_stats says demoted.
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

/*
 * Stream headers and UTC per frame (layout 4, docs/FORMAT.md §5.13, §5.22).
 * The ring keeps the headers of the newest stream_headers streams; a frame
 * belongs to the newest stream whose start_seq is <= its seq.
 */
struct rb_stream_info {
	uint64_t ordinal;         /* 1 for the ring's first stream, 2, ...;
				   * 0: the frame precedes every stream */
	uint64_t start_seq;       /* seq of the stream's first frame */
	int64_t clock_offset_ns;  /* CLOCK_REALTIME - CLOCK_MONOTONIC at its
				   * start (0: unknown) */
	uint64_t length;          /* header text bytes */
};
/*
 * Copies the header of the stream that the frame with sequence number `seq`
 * belongs to into buf (NUL-terminated; buf may be NULL with size 0 to get
 * only *info). Returns the text length; RB_E_HEADER_GONE when newer streams
 * have overwritten it (never another stream's header), -ENOBUFS when buf is
 * too small, -EAGAIN when its writer died mid-write. A seq before every
 * stream gets "" and ordinal 0.
 */
int rb_ring_stream_header_at(struct rb_ring *ring, uint64_t seq, char *buf,
			     size_t size, struct rb_stream_info *info);
/* The same for the frame in hand. */
int rb_consumer_frame_header(struct rb_consumer *consumer,
			     const struct rb_frame *frame, char *buf,
			     size_t size, struct rb_stream_info *info);
/*
 * The frame's time stamp (CLOCK_MONOTONIC ns, as rb-producer and the Python
 * Producer set it) as UTC, ns since the epoch, with the ring's newest clock
 * anchor. -ENODATA when the frame has no time stamp or the ring no anchor.
 */
int rb_ring_utc_ns(struct rb_ring *ring, uint64_t timestamp_ns, int64_t *utc_ns);
int rb_consumer_frame_utc_ns(struct rb_consumer *consumer,
			     const struct rb_frame *frame, int64_t *utc_ns);
/* The ring's clock anchor: CLOCK_REALTIME - CLOCK_MONOTONIC (0: none) and
 * the CLOCK_MONOTONIC instant it was measured at (may be NULL). */
int64_t rb_ring_clock_offset(struct rb_ring *ring, uint64_t *measured_at_ns);

struct rb_consumer_stats {
	uint64_t dropped_at_producer; /* frames the producer said it dropped
				       * (ring full) before the frames delivered */
	uint64_t frames;  /* frames delivered and released */
	uint64_t lost;    /* sequence numbers skipped or overrun (lossy) */
	uint64_t next_seq;/* sequence number it will read next */
	uint64_t wakeups; /* times it slept on the futex */
	uint64_t abandoned; /* of frames, how many were RB_FRAME_ABANDONED (empty) */
	int demoted;      /* it was lossless and has been demoted to lossy */
	uint64_t stalled_ns; /* demoted: how long it had stalled the producer
			      * (0: demoted by hand) */
};
void rb_consumer_get_stats(const struct rb_consumer *consumer,
		       struct rb_consumer_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* RINGBUF_H */
