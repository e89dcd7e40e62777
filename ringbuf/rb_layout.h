/*
 * The shared-memory layout of a ring, byte for byte. docs/FORMAT.md is the
 * prose version of this file; the static assertions at the bottom pin every
 * offset it names, so the two cannot drift apart silently.
 *
 * Shared memory holds only integers and offsets, never pointers. All fields
 * are little-endian (x86-64 only).
 *
 * Segment:
 *   0                    struct rb_shm_header       (immutable after create)
 *   256                  struct rb_shm_producer     (512 bytes)
 *   768                  struct rb_shm_consumer[max_consumers] (256 bytes each)
 *   stream_header_offset struct rb_shm_stream_header + text
 *   descriptors_offset   struct rb_shm_descriptor[slot_count] (64 bytes each)
 *   slots_offset         slot_count slots of slot_stride bytes
 */
#ifndef RB_LAYOUT_H
#define RB_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* "RINGBUF1" read as a little-endian 64-bit integer. */
#define RB_MAGIC 0x31465542474e4952ULL
#define RB_LAYOUT_VERSION 1u

/*
 * Two 64-byte lines: x86 prefetches the adjacent line, so fields written by
 * different processes are kept 128 bytes apart to avoid false sharing.
 */
#define RB_LINE 128u

#define RB_HEADER_BYTES 256u
#define RB_PRODUCER_OFFSET 256u
#define RB_PRODUCER_BYTES 512u
#define RB_CONSUMERS_OFFSET 768u
#define RB_CONSUMER_BYTES 256u
#define RB_DESCRIPTOR_BYTES 64u
#define RB_STREAM_HEADER_FIXED 64u
#define RB_SLOTS_MIN_ALIGN 4096u

/* A descriptor's seq while its slot is being (over)written. */
#define RB_SEQ_WRITING UINT64_MAX
/* Sequence numbers stay below this bound (documented limit). */
#define RB_SEQ_LIMIT (1ULL << 62)

/* Owner word: pid << 32 | generation << 8 | state. */
enum rb_owner_state {
	RB_OWNER_FREE = 0,
	RB_OWNER_CLAIMING = 1,
	RB_OWNER_ACTIVE = 2,
	RB_OWNER_EVICTING = 3,
};
#define RB_OWNER_STATE(w) ((uint32_t)((w) & 0xffu))
#define RB_OWNER_GEN(w) ((uint32_t)(((w) >> 8) & 0xffffffu))
#define RB_OWNER_PID(w) ((uint32_t)((w) >> 32))
#define RB_OWNER_MAKE(pid, gen, state)                                  \
	(((uint64_t)(pid) << 32) | ((uint64_t)((gen) & 0xffffffu) << 8) | \
	 (uint64_t)(state))

/* rb_shm_producer.stream_state (same values as enum rb_stream_status) */
enum rb_stream_state {
	RB_STREAM_NONE = 0,  /* no stream begun yet */
	RB_STREAM_OPEN = 1,
	RB_STREAM_ENDED = 2,
	RB_STREAM_ABANDONED = 3, /* the producer died with the stream open */
};

/* rb_shm_consumer.mode bits */
#define RB_MODE_LOSSY 1u

/* Immutable after creation; covered by checksum. */
struct rb_shm_header {
	uint64_t magic;                /* 0   RB_MAGIC */
	uint32_t layout_version;       /* 8   RB_LAYOUT_VERSION */
	uint32_t header_bytes;         /* 12  256 */
	uint64_t segment_bytes;        /* 16  size of the whole segment */
	uint64_t frame_bytes;          /* 24  largest frame */
	uint64_t slot_stride;          /* 32  distance between slots */
	uint32_t slot_count;           /* 40  power of two */
	uint32_t slot_align;           /* 44  power of two >= 64 */
	uint32_t max_consumers;        /* 48  1..256 */
	uint32_t stream_header_bytes;  /* 52  text capacity, >= 4096 */
	uint64_t producer_offset;      /* 56  256 */
	uint64_t consumers_offset;     /* 64  768 */
	uint64_t descriptors_offset;   /* 72 */
	uint64_t stream_header_offset; /* 80 */
	uint64_t slots_offset;         /* 88 */
	uint32_t elem_type;            /* 96  enum rb_elem_type */
	uint32_t ndim;                 /* 100 */
	uint64_t dims[4];              /* 104 */
	uint64_t initial_seq;          /* 136 */
	uint64_t created_ns;           /* 144 CLOCK_REALTIME at creation */
	uint32_t create_flags;         /* 152 RB_CREATE_* given */
	uint32_t pages;                /* 156 enum rb_pages obtained */
	uint32_t consumer_bytes;       /* 160 256 */
	uint32_t descriptor_bytes;     /* 164 64 */
	uint8_t reserved[80];          /* 168 zero */
	uint64_t checksum;             /* 248 FNV-1a 64 of bytes 0..247 */
};

struct rb_shm_producer {
	/* Line 0: written by the producer on every commit. */
	uint64_t write_seq;      /* 0   every seq below it is published */
	uint64_t frames_dropped; /* 8   counted by the producer on a full ring */
	uint64_t claim_limit;    /* 16  producer may acquire seqs below it */
	uint8_t pad0[RB_LINE - 24];
	/* Line 1: ownership and stream state, rarely written. */
	uint64_t owner;          /* 128 pid | gen | state */
	uint64_t start_time;     /* 136 process start time (clock ticks) */
	uint64_t stream_state;   /* 144 enum rb_stream_state */
	uint64_t eos_seq;        /* 152 write_seq just after the last end marker */
	uint64_t wait_target;    /* 160 0, or read_seq the producer waits for */
	uint64_t eos_marker;     /* 168 1 if the last end wrote a marker at eos_seq - 1 */
	uint8_t pad1[RB_LINE - 48];
	/* Line 2: the producer's doorbell, rung by consumers. */
	uint32_t doorbell;       /* 256 ck_ec32 event count */
	uint8_t pad2[RB_LINE - 4];
	/* Line 3: one bit per consumer record, set while it sleeps. */
	uint64_t sleep_mask[4];  /* 384 */
	uint8_t pad3[RB_LINE - 32];
};

struct rb_shm_consumer {
	/* Line 0: written by this consumer on every release. */
	uint64_t read_seq;       /* 0   every seq below it is released */
	uint64_t frames;         /* 8   frames delivered */
	uint64_t lost;           /* 16  sequence numbers lost (lossy) */
	uint8_t pad0[RB_LINE - 24];
	/* Line 1: ownership and sleeping. */
	uint64_t owner;          /* 128 pid | gen | state */
	uint64_t start_time;     /* 136 process start time (clock ticks) */
	uint64_t wake_target;    /* 144 while asleep: wake when write_seq >= it */
	uint32_t doorbell;       /* 152 ck_ec32 event count */
	uint32_t mode;           /* 156 RB_MODE_* */
	char label[32];          /* 160 NUL-terminated */
	uint8_t pad1[RB_LINE - 64];
};

struct rb_shm_descriptor {
	uint64_t seq;            /* 0   frame's seq, or RB_SEQ_WRITING */
	uint64_t length;         /* 8   bytes used */
	uint64_t timestamp_ns;   /* 16 */
	uint32_t flags;          /* 24  RB_FRAME_* */
	uint32_t reserved0;      /* 28 */
	uint64_t reserved[4];    /* 32 */
};

struct rb_shm_stream_header {
	uint64_t generation;     /* 0  seqlock: odd while being rewritten */
	uint64_t start_seq;      /* 8  seq of the stream's first frame */
	uint64_t length;         /* 16 text bytes, < capacity */
	uint8_t pad[RB_STREAM_HEADER_FIXED - 24];
	char text[];             /* 64 */
};

#ifdef __cplusplus
#define RB_STATIC_ASSERT static_assert
#else
#define RB_STATIC_ASSERT _Static_assert
#endif
#define RB_ASSERT_AT(type, field, off) \
	RB_STATIC_ASSERT(offsetof(struct type, field) == (off), #type "." #field)

RB_ASSERT_AT(rb_shm_header, layout_version, 8);
RB_ASSERT_AT(rb_shm_header, segment_bytes, 16);
RB_ASSERT_AT(rb_shm_header, slot_count, 40);
RB_ASSERT_AT(rb_shm_header, producer_offset, 56);
RB_ASSERT_AT(rb_shm_header, slots_offset, 88);
RB_ASSERT_AT(rb_shm_header, elem_type, 96);
RB_ASSERT_AT(rb_shm_header, dims, 104);
RB_ASSERT_AT(rb_shm_header, initial_seq, 136);
RB_ASSERT_AT(rb_shm_header, pages, 156);
RB_ASSERT_AT(rb_shm_header, descriptor_bytes, 164);
RB_ASSERT_AT(rb_shm_header, checksum, 248);
RB_STATIC_ASSERT(sizeof(struct rb_shm_header) == RB_HEADER_BYTES, "header size");

RB_ASSERT_AT(rb_shm_producer, claim_limit, 16);
RB_ASSERT_AT(rb_shm_producer, owner, 128);
RB_ASSERT_AT(rb_shm_producer, wait_target, 160);
RB_ASSERT_AT(rb_shm_producer, eos_marker, 168);
RB_ASSERT_AT(rb_shm_producer, doorbell, 256);
RB_ASSERT_AT(rb_shm_producer, sleep_mask, 384);
RB_STATIC_ASSERT(sizeof(struct rb_shm_producer) == RB_PRODUCER_BYTES, "producer size");

RB_ASSERT_AT(rb_shm_consumer, lost, 16);
RB_ASSERT_AT(rb_shm_consumer, owner, 128);
RB_ASSERT_AT(rb_shm_consumer, wake_target, 144);
RB_ASSERT_AT(rb_shm_consumer, doorbell, 152);
RB_ASSERT_AT(rb_shm_consumer, label, 160);
RB_STATIC_ASSERT(sizeof(struct rb_shm_consumer) == RB_CONSUMER_BYTES, "consumer size");

RB_ASSERT_AT(rb_shm_descriptor, flags, 24);
RB_STATIC_ASSERT(sizeof(struct rb_shm_descriptor) == RB_DESCRIPTOR_BYTES, "descriptor size");

RB_ASSERT_AT(rb_shm_stream_header, length, 16);
RB_ASSERT_AT(rb_shm_stream_header, text, 64);

#endif /* RB_LAYOUT_H */
