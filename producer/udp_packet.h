/*
 * The UDP sensor packet (docs/RECORDING.md, "UDP packets"): what
 * rb-producer --source udp-send sends and --source udp assembles into
 * frames. A frame is cut into packets of `length` payload bytes at
 * `offset = packet * payload size`, the last one possibly shorter; each
 * datagram is this 32-byte header, then the payload. Little-endian.
 */
#ifndef RB_UDP_PACKET_H
#define RB_UDP_PACKET_H

#include <stdint.h>

#define UDP_PACKET_MAGIC 0x50554252u /* the bytes "RBUP" */
#define UDP_PACKET_VERSION 1u
#define UDP_FLAG_END 0x01u           /* the sender is done; `frame` = frames sent */
/* Largest UDP payload over IPv4, less our header. */
#define UDP_MAX_PAYLOAD (65507u - 32u)

struct udp_packet {
	uint32_t magic;        /* UDP_PACKET_MAGIC */
	uint8_t version;       /* UDP_PACKET_VERSION */
	uint8_t flags;         /* UDP_FLAG_* */
	uint16_t header_bytes; /* 32 */
	uint64_t frame;        /* frame number, +1 per frame */
	uint32_t packet;       /* index in the frame, 0 .. packets - 1 */
	uint32_t packets;      /* packets in this frame */
	uint32_t offset;       /* of this payload in the frame */
	uint32_t length;       /* payload bytes after the header */
};

/* A data packet's header, in host byte order. */
static inline struct udp_packet
udp_packet_data(uint64_t frame, uint32_t packet, uint32_t packets, uint32_t offset,
		uint32_t length)
{
	struct udp_packet h = {UDP_PACKET_MAGIC, UDP_PACKET_VERSION, 0, 32, frame, packet,
			       packets, offset, length};
	return h;
}

#ifdef __cplusplus
static_assert(sizeof(struct udp_packet) == 32, "the UDP packet header is 32 bytes");
#else
_Static_assert(sizeof(struct udp_packet) == 32, "the UDP packet header is 32 bytes");
#endif

#endif /* RB_UDP_PACKET_H */
