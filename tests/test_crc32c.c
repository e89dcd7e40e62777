/*
 * rb_rec_crc32c (recording/crc32c.c, on Intel ISA-L) is the CRC-32C that
 * docs/RECORDING.md documents: the check value of "123456789", and equal
 * to a bitwise computation written from the definition (reflected
 * polynomial 0x82F63B78, initial value and final xor 0xFFFFFFFF) for every
 * length 0..4200 from every alignment 0..15, whole and continued in two
 * pieces.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <ringbuf/recording.h>

static uint32_t
crc_bitwise(const uint8_t *p, size_t n)
{
	uint32_t c = 0xFFFFFFFFu;

	while (n--) {
		c ^= *p++;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
	}
	return c ^ 0xFFFFFFFFu;
}

int
main(void)
{
	static uint8_t buf[70000 + 16];
	static const size_t big[] = {511, 512, 513, 1023, 1024, 1025, 2047, 2048,
				      4095, 4096, 4097, 8191, 8192, 65536, 70000};
	uint32_t x = 12345;
	int bad = 0;

	if (rb_rec_crc32c(0, "123456789", 9) != 0xE3069283u) {
		fprintf(stderr, "crc32c(\"123456789\") = %08x, not e3069283\n",
			rb_rec_crc32c(0, "123456789", 9));
		return 1;
	}
	for (size_t i = 0; i < sizeof(buf); i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
	for (size_t a = 0; a < 16; a++) {
		for (size_t t = 0; t <= 300 + sizeof(big) / sizeof(big[0]); t++) {
			size_t n = t <= 300 ? t : big[t - 301];
			uint32_t want = crc_bitwise(buf + a, n);
			size_t cut = n / 3;
			uint32_t part = rb_rec_crc32c(rb_rec_crc32c(0, buf + a, cut), buf + a + cut, n - cut);

			if (rb_rec_crc32c(0, buf + a, n) != want || part != want) {
				if (bad++ < 5)
					fprintf(stderr, "align %zu length %zu: differs\n", a, n);
			}
		}
	}
	if (bad)
		fprintf(stderr, "%d mismatches\n", bad);
	else
		printf("crc32c: check value and every length x 16 alignments agree\n");
	return bad ? 1 : 0;
}
