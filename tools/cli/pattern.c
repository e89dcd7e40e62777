/*
 * The counter pattern (see cli.h for the definition and why it is built
 * that way). Producer and consumer both call these two functions, so the
 * definition lives in exactly one place.
 *
 * Each 8-byte group of the frame is one little-endian 64-bit word, which
 * lets fill and check work a word at a time; only a tail shorter than 8
 * bytes is done bytewise.
 */
#include <string.h>

#include "cli.h"

#define CLI_COUNTER_MUL 0x9E3779B97F4A7C15ull

static inline uint64_t
cli_counter_word(uint64_t seq, uint64_t word)
{
	return seq * CLI_COUNTER_MUL + word;
}

void
cli_counter_fill(void *data, uint64_t length, uint64_t seq)
{
	uint8_t *p = data;
	uint64_t words = length / 8, w;

	for (w = 0; w < words; w++) {
		uint64_t v = cli_counter_word(seq, w);

		memcpy(p + w * 8, &v, 8); /* x86-64: the stored bytes are LE */
	}
	if (length % 8 != 0) {
		uint64_t v = cli_counter_word(seq, words);

		memcpy(p + words * 8, &v, length % 8);
	}
}

uint64_t
cli_counter_check(const void *data, uint64_t length, uint64_t seq)
{
	const uint8_t *p = data;
	uint64_t words = length / 8, w, i;

	for (w = 0; w < words; w++) {
		uint64_t v = cli_counter_word(seq, w), got;

		memcpy(&got, p + w * 8, 8);
		if (got != v) {
			for (i = 0; i < 8; i++)
				if (p[w * 8 + i] != (uint8_t)(v >> (8 * i)))
					return w * 8 + i;
		}
	}
	for (i = words * 8; i < length; i++)
		if (p[i] != (uint8_t)(cli_counter_word(seq, words) >> (8 * (i % 8))))
			return i;
	return length;
}

void
cli_tagged_fill(void *data, uint64_t length, uint64_t seq, uint64_t id,
		uint64_t number)
{
	uint8_t *p = data;

	memcpy(p, &id, 8); /* x86-64: the stored bytes are little-endian */
	memcpy(p + 8, &number, 8);
	cli_counter_fill(p + CLI_TAG_BYTES, length - CLI_TAG_BYTES, seq);
}

uint64_t
cli_tagged_check(const void *data, uint64_t length, uint64_t seq, uint64_t *id,
		 uint64_t *number)
{
	const uint8_t *p = data;

	if (length < CLI_TAG_BYTES)
		return 0; /* no room for a tag: wrong from its first byte */
	memcpy(id, p, 8);
	memcpy(number, p + 8, 8);
	return CLI_TAG_BYTES + cli_counter_check(p + CLI_TAG_BYTES, length - CLI_TAG_BYTES, seq);
}
