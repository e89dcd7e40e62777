/*
 * CRC-32C (Castagnoli), the checksum of the recording format's file
 * header and descriptor pages (docs/RECORDING.md), and of rb-producer
 * --check's digests over whole recordings.
 *
 * Same function as the kernel's crc32c, iSCSI and ext4 metadata: reflected
 * polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF, so
 * crc32c("123456789") = 0xE3069283. Incremental: pass the previous result
 * as `crc` (0 to start).
 *
 * The SSE4.2 crc32 instruction does 8 bytes per instruction, which makes
 * digests of multi-gigabyte recordings cost little next to reading them;
 * a table serves CPUs without it (the build is x86-64 only, but not every
 * x86-64 has SSE4.2).
 */
#include <stdbool.h>
#include <string.h>

#include "recording.h"

static uint32_t crc32c_table[256];
static bool crc32c_table_ready;

static void
crc32c_make_table(void)
{
	uint32_t i, k, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		crc32c_table[i] = c;
	}
	crc32c_table_ready = true;
}

static uint32_t
crc32c_soft(uint32_t c, const uint8_t *p, size_t n)
{
	if (!crc32c_table_ready)
		crc32c_make_table();
	while (n--)
		c = crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

__attribute__((target("sse4.2"))) static uint32_t
crc32c_hard(uint32_t c, const uint8_t *p, size_t n)
{
	uint64_t c64 = c;

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w);
		p += 8;
		n -= 8;
	}
	c = (uint32_t)c64;
	while (n--)
		c = __builtin_ia32_crc32qi(c, *p++);
	return c;
}

uint32_t
rec_crc32c(uint32_t crc, const void *data, size_t n)
{
	static int hard = -1;
	uint32_t c = ~crc;

	if (hard < 0)
		hard = __builtin_cpu_supports("sse4.2") ? 1 : 0;
	c = hard ? crc32c_hard(c, data, n) : crc32c_soft(c, data, n);
	return ~c;
}
