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
 *   256                  struct rb_shm_producer     (512 bytes: ring-wide
 *                        publication, flow control and stream state)
 *   768                  struct rb_shm_producer_record[max_producers] (128 each)
 *   consumers_offset     struct rb_shm_consumer[max_consumers] (256 bytes each)
 *   groups_offset        struct rb_shm_group[max_groups] (256 bytes each)
 *   stream_header_offset stream_headers entries: struct rb_shm_stream_header
 *                        + text, each round_up(64 + stream_header_bytes, 128)
 *   descriptors_offset   struct rb_shm_descriptor[slot_count] (64 bytes each)
 *   slots_offset         slot_count slots of slot_stride bytes
 */
#ifndef RB_LAYOUT_H
#define RB_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

/* "RINGBUF1" read as a little-endian 64-bit integer. */
#define RB_MAGIC 0x31465542474e4952ULL
#define RB_LAYOUT_VERSION 4u

/*
 * Two 64-byte lines: x86 prefetches the adjacent line, so fields written by
 * different processes are kept 128 bytes apart to avoid false sharing.
 */
#define RB_LINE 128u

#define RB_HEADER_BYTES 256u
#define RB_PRODUCER_OFFSET 256u
#define RB_PRODUCER_BYTES 512u
#define RB_PRODUCER_RECORDS_OFFSET 768u
#define RB_PRODUCER_RECORD_BYTES 128u
#define RB_CONSUMER_BYTES 256u
#define RB_GROUP_BYTES 256u
#define RB_GROUP_NAME_BYTES 32u
#define RB_DESCRIPTOR_BYTES 64u
#define RB_STREAM_HEADER_FIXED 64u
#define RB_SLOTS_MIN_ALIGN 4096u

/* A descriptor's seq while its slot is being (over)written. */
#define RB_SEQ_WRITING UINT64_MAX
/* A descriptor's seq while a repairer commits it on behalf of a dead
 * producer: bit 63, the repairer's pid, the seq's low 32 bits. */
#define RB_SEQ_REPAIRING(pid, seq) \
	((1ull << 63) | ((uint64_t)(pid) << 32) | ((seq) & 0xffffffffull))
#define RB_REPAIRING_PID(v) ((uint32_t)(((v) >> 32) & 0x7fffffffu))
/* hold_from / read_seq of a participant that holds nothing. */
#define RB_SEQ_NONE UINT64_MAX
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
	RB_STREAM_ABANDONED = 3, /* every member producer died with it open */
	RB_STREAM_OPENING = 4,   /* transient: a producer is writing the header */
};

/* rb_shm_consumer.mode bits */
#define RB_MODE_LOSSY 1u

/* rb_shm_consumer.group: set while the member joins, before the group's
 * members count includes it (so a member dying there is not subtracted). */
#define RB_GROUP_JOINING 0x80000000u

/*
 * rb_shm_group.claim_lock: 0, a holder's consumer index + 1, or while a
 * dead holder's claim is recovered: bit 63, the recoverer's pid (bits
 * 16..46) and the dead holder's index + 1 (bits 0..15).
 */
#define RB_LOCK_RECOVERING(pid, holder) \
	((1ull << 63) | ((uint64_t)(pid) << 16) | ((holder) & 0xffffull))
#define RB_LOCK_IS_RECOVERING(v) (((v) >> 63) != 0)
#define RB_LOCK_RECOVERER_PID(v) ((uint32_t)(((v) >> 16) & 0x7fffffffu))
#define RB_LOCK_HOLDER(v) ((v) & 0xffffull)

/*
 * rb_shm_group.members: the count of attached members in the low 32 bits,
 * and in the high 32 a counter that every change bumps, so that a CAS
 * made from an old reading fails even when the count came back to the
 * same value (ABA: a member left and another joined meanwhile).
 */
#define RB_MEMBERS_COUNT(w) ((uint32_t)(w))
#define RB_MEMBERS_NEXT(w, count) \
	(((((w) >> 32) + 1) << 32) | (uint64_t)(uint32_t)(count))

/* rb_shm_producer_record.in_stream */
enum rb_membership {
	RB_MEMBER_NONE = 0,
	RB_MEMBER_IN = 1,      /* has the stream open */
	RB_MEMBER_OPENING = 2, /* writing the header of a new stream */
	RB_MEMBER_CLOSING = 3, /* the last member, writing the end marker */
	RB_MEMBER_RESTARTING = 4, /* a member rewriting the open stream's header */
};

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
	uint64_t consumers_offset;     /* 64  768 + 128 * max_producers */
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
	uint32_t max_producers;        /* 168 1..64; 1 = single-producer ring */
	uint32_t max_groups;           /* 172 0..64 */
	uint64_t producers_offset;     /* 176 768 */
	uint64_t groups_offset;        /* 184 */
	uint32_t producer_record_bytes;/* 192 128 */
	uint32_t group_bytes;          /* 196 256 */
	uint32_t stream_headers;       /* 200 stream-header entries, 1..256 */
	uint32_t reserved1;            /* 204 zero */
	uint8_t reserved[40];          /* 208 zero */
	uint64_t checksum;             /* 248 FNV-1a 64 of bytes 0..247 */
};

struct rb_shm_producer {
	/* Line 0: written by the producers on every claim and commit. */
	uint64_t write_seq;      /* 0   every seq below it is published */
	uint64_t frames_dropped; /* 8   counted by producers on a full ring */
	uint64_t claim_limit;    /* 16  producers may acquire seqs below it */
	uint64_t claim_seq;      /* 24  next seq to claim (max_producers > 1 only) */
	uint8_t pad0[RB_LINE - 32];
	/* Line 1: stream state, rarely written. */
	uint64_t stream_members; /* 128 producers that have the stream open */
	uint64_t frames_abandoned; /* 136 seqs committed on behalf of dead producers */
	uint64_t stream_state;   /* 144 enum rb_stream_state */
	uint64_t eos_seq;        /* 152 write_seq just after the last end marker */
	uint64_t wait_target;    /* 160 0, or read_seq the producer waits for */
	uint64_t eos_marker;     /* 168 1 if the last end wrote a marker at eos_seq - 1 */
	uint64_t stream_ordinal; /* 176 ordinal of the newest stream header, 0: none */
	uint64_t clock_offset_ns;/* 184 CLOCK_REALTIME - CLOCK_MONOTONIC (i64), 0: unknown */
	uint64_t clock_anchor_ns;/* 192 CLOCK_MONOTONIC when clock_offset_ns was measured */
	uint8_t pad1[RB_LINE - 72];
	/* Line 2: the producer's doorbell, rung by consumers. */
	uint32_t doorbell;       /* 256 ck_ec32 event count */
	uint8_t pad2[RB_LINE - 4];
	/* Line 3: one bit per consumer record, set while it sleeps. */
	uint64_t sleep_mask[4];  /* 384 */
	uint8_t pad3[RB_LINE - 32];
};

/* One per producer slot (one producer process handle each). */
struct rb_shm_producer_record {
	uint64_t owner;          /* 0   pid | gen | state */
	uint64_t start_time;     /* 8   process start time (clock ticks) */
	uint64_t hold_from;      /* 16  <= every seq it holds uncommitted, or RB_SEQ_NONE */
	uint64_t frames;         /* 24  frames it committed */
	uint32_t in_stream;      /* 32  enum rb_membership */
	uint32_t counters;       /* 36  source counters published (0..8) */
	uint64_t counter[8];     /* 40  the source's counters (FORMAT.md §3.7.1) */
	uint8_t pad[RB_PRODUCER_RECORD_BYTES - 104];
};

struct rb_shm_consumer {
	/* Line 0: written by this consumer on every release. */
	uint64_t read_seq;       /* 0   every seq below it is released (group
				  *     member: its oldest held seq, or RB_SEQ_NONE) */
	uint64_t frames;         /* 8   frames delivered */
	uint64_t lost;           /* 16  sequence numbers lost (lossy) */
	/* Group members only (zero otherwise): */
	uint64_t claimed;        /* 24  seqs claimed from the group, cumulative:
				  *     claimed = frames + lost + held */
	uint64_t intent_claim_seq; /* 32 group claim_seq after the claim being
				  *     made under the claim lock; 0 = none */
	uint64_t intent_claimed; /* 40  claimed after that claim */
	uint64_t intent_lost;    /* 48  lost after that claim (lossy: lapped seqs) */
	uint64_t intent_markers; /* 56  the group's markers after that claim */
	uint8_t pad0[RB_LINE - 64];
	/* Line 1: ownership and sleeping. */
	uint64_t owner;          /* 128 pid | gen | state */
	uint64_t start_time;     /* 136 process start time (clock ticks) */
	uint64_t wake_target;    /* 144 while asleep: wake when write_seq >= it */
	uint32_t doorbell;       /* 152 ck_ec32 event count */
	uint32_t mode;           /* 156 RB_MODE_* */
	char label[32];          /* 160 NUL-terminated */
	uint32_t group;          /* 192 group record index + 1, or 0;
				  *     | RB_GROUP_JOINING while joining */
	uint32_t reserved1;      /* 196 */
	uint64_t demoted;        /* 200 the owner word it was demoted to lossy
				  *     under (stall.c), else anything else */
	uint64_t stalled_ns;     /* 208 how long it had stalled the producers
				  *     when demoted; 0 = demoted by hand */
	uint8_t pad1[RB_LINE - 88];
};

/* A work-sharing consumer group: each seq goes to exactly one member. */
struct rb_shm_group {
	/* Line 0: written by members on every claim. */
	uint64_t claim_seq;      /* 0   next seq to hand to a member */
	uint64_t claim_lock;     /* 8   0, or consumer index + 1 of the claimer */
	uint64_t lost;           /* 16  seqs lost by the group (lapped, or held
				  *     by a member that died or left) */
	uint64_t frames_departed;/* 24  frames released by members that left */
	uint64_t markers;        /* 32  end-of-stream markers claimed */
	uint8_t pad0[RB_LINE - 40];
	/* Line 1: identity and membership, rarely written. */
	uint64_t owner;          /* 128 creator pid | gen | state */
	uint64_t members;        /* 136 attached members (low 32 bits) and a
				  *     change count (high 32), see below */
	uint32_t mode;           /* 144 RB_MODE_* */
	uint32_t reserved0;      /* 148 */
	uint64_t start_seq;      /* 152 claim_seq when the group was created */
	char name[RB_GROUP_NAME_BYTES]; /* 160 NUL-terminated */
	uint8_t pad1[RB_LINE - 64];
};

struct rb_shm_descriptor {
	uint64_t seq;            /* 0   frame's seq, or RB_SEQ_WRITING */
	uint64_t length;         /* 8   bytes used */
	uint64_t timestamp_ns;   /* 16 */
	uint32_t flags;          /* 24  RB_FRAME_* */
	uint32_t reserved0;      /* 28 */
	uint64_t dropped;        /* 32  frames its producer dropped since its
				  *     previous commit (--on-full drop) */
	uint64_t reserved[3];    /* 40 */
};

struct rb_shm_stream_header {
	uint64_t generation;     /* 0  seqlock: odd while being rewritten */
	uint64_t start_seq;      /* 8  seq of the stream's first frame */
	uint64_t length;         /* 16 text bytes, < capacity */
	uint64_t ordinal;        /* 24 the stream's ordinal (1, 2, ...), 0: never written */
	uint64_t clock_offset_ns;/* 32 CLOCK_REALTIME - CLOCK_MONOTONIC at the stream's start */
	uint8_t pad[RB_STREAM_HEADER_FIXED - 40];
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
RB_ASSERT_AT(rb_shm_header, max_producers, 168);
RB_ASSERT_AT(rb_shm_header, max_groups, 172);
RB_ASSERT_AT(rb_shm_header, producers_offset, 176);
RB_ASSERT_AT(rb_shm_header, groups_offset, 184);
RB_ASSERT_AT(rb_shm_header, producer_record_bytes, 192);
RB_ASSERT_AT(rb_shm_header, group_bytes, 196);
RB_ASSERT_AT(rb_shm_header, stream_headers, 200);
RB_ASSERT_AT(rb_shm_header, reserved, 208);
RB_ASSERT_AT(rb_shm_header, checksum, 248);
RB_STATIC_ASSERT(sizeof(struct rb_shm_header) == RB_HEADER_BYTES, "header size");

RB_ASSERT_AT(rb_shm_producer, claim_limit, 16);
RB_ASSERT_AT(rb_shm_producer, claim_seq, 24);
RB_ASSERT_AT(rb_shm_producer, stream_members, 128);
RB_ASSERT_AT(rb_shm_producer, frames_abandoned, 136);
RB_ASSERT_AT(rb_shm_producer, stream_state, 144);
RB_ASSERT_AT(rb_shm_producer, wait_target, 160);
RB_ASSERT_AT(rb_shm_producer, eos_marker, 168);
RB_ASSERT_AT(rb_shm_producer, stream_ordinal, 176);
RB_ASSERT_AT(rb_shm_producer, clock_offset_ns, 184);
RB_ASSERT_AT(rb_shm_producer, clock_anchor_ns, 192);
RB_ASSERT_AT(rb_shm_producer, doorbell, 256);
RB_ASSERT_AT(rb_shm_producer, sleep_mask, 384);
RB_STATIC_ASSERT(sizeof(struct rb_shm_producer) == RB_PRODUCER_BYTES, "producer size");

RB_ASSERT_AT(rb_shm_producer_record, start_time, 8);
RB_ASSERT_AT(rb_shm_producer_record, hold_from, 16);
RB_ASSERT_AT(rb_shm_producer_record, frames, 24);
RB_ASSERT_AT(rb_shm_producer_record, in_stream, 32);
RB_ASSERT_AT(rb_shm_producer_record, counters, 36);
RB_ASSERT_AT(rb_shm_producer_record, counter, 40);
RB_STATIC_ASSERT(sizeof(struct rb_shm_producer_record) == RB_PRODUCER_RECORD_BYTES,
		 "producer record size");

RB_ASSERT_AT(rb_shm_consumer, lost, 16);
RB_ASSERT_AT(rb_shm_consumer, claimed, 24);
RB_ASSERT_AT(rb_shm_consumer, intent_claim_seq, 32);
RB_ASSERT_AT(rb_shm_consumer, intent_markers, 56);
RB_ASSERT_AT(rb_shm_consumer, group, 192);
RB_ASSERT_AT(rb_shm_consumer, owner, 128);
RB_ASSERT_AT(rb_shm_consumer, wake_target, 144);
RB_ASSERT_AT(rb_shm_consumer, doorbell, 152);
RB_ASSERT_AT(rb_shm_consumer, label, 160);
RB_ASSERT_AT(rb_shm_consumer, demoted, 200);
RB_ASSERT_AT(rb_shm_consumer, stalled_ns, 208);
RB_STATIC_ASSERT(sizeof(struct rb_shm_consumer) == RB_CONSUMER_BYTES, "consumer size");

RB_ASSERT_AT(rb_shm_group, claim_lock, 8);
RB_ASSERT_AT(rb_shm_group, markers, 32);
RB_ASSERT_AT(rb_shm_group, owner, 128);
RB_ASSERT_AT(rb_shm_group, members, 136);
RB_ASSERT_AT(rb_shm_group, mode, 144);
RB_ASSERT_AT(rb_shm_group, start_seq, 152);
RB_ASSERT_AT(rb_shm_group, name, 160);
RB_STATIC_ASSERT(sizeof(struct rb_shm_group) == RB_GROUP_BYTES, "group size");

RB_ASSERT_AT(rb_shm_descriptor, flags, 24);
RB_ASSERT_AT(rb_shm_descriptor, dropped, 32);
RB_STATIC_ASSERT(sizeof(struct rb_shm_descriptor) == RB_DESCRIPTOR_BYTES, "descriptor size");

RB_ASSERT_AT(rb_shm_stream_header, length, 16);
RB_ASSERT_AT(rb_shm_stream_header, ordinal, 24);
RB_ASSERT_AT(rb_shm_stream_header, clock_offset_ns, 32);
RB_ASSERT_AT(rb_shm_stream_header, text, 64);

#endif /* RB_LAYOUT_H */
