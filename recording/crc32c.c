/*
 * CRC-32C (Castagnoli), the checksum of the recording format's file
 * header, descriptor pages and frames (docs/RECORDING.md), and of
 * rb-producer --check's digests over whole recordings.
 *
 * Same function as the kernel's crc32c, iSCSI and ext4 metadata: reflected
 * polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF, so
 * crc32c("123456789") = 0xE3069283. Incremental: pass the previous result
 * as `crc` (0 to start).
 *
 * The work is Intel ISA-L's crc32_iscsi (Debian's libisal), which picks
 * the fastest code for the CPU at run time (three interleaved streams of
 * the SSE4.2 crc32 instruction folded with PCLMULQDQ, or a table). It
 * neither inverts its input nor its result: crc32_iscsi(buf, len,
 * 0xFFFFFFFF) ^ 0xFFFFFFFF is the standard CRC-32C, and continuing means
 * handing back the uninverted value. Its length is an int: longer inputs
 * go in pieces.
 */
#include <isa-l/crc.h>
#include <limits.h>

#include <ringbuf/recording.h>

/* A multiple of 8 well below INT_MAX. */
#define CRC_PIECE (1u << 30)

uint32_t
rb_rec_crc32c(uint32_t crc, const void *data, size_t n)
{
	unsigned char *p = (unsigned char *)data; /* ISA-L takes it non-const; it only reads */
	unsigned int c = ~crc;

	while (n > 0) {
		size_t k = n < CRC_PIECE ? n : CRC_PIECE;

		c = crc32_iscsi(p, (int)k, c);
		p += k;
		n -= k;
	}
	return ~c;
}
