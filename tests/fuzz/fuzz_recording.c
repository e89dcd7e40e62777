/*
 * libFuzzer target: a recording file of arbitrary bytes, walked as replay
 * and --check walk it (recording/reader.c).
 *
 * The input is one control byte and then the file. The reader opens the
 * file (header and its bounds, the summary), walks every descriptor page,
 * and each kept frame's bytes are read and checked against their CRC as
 * --check does. Any crash, sanitizer report, hang or allocation beyond
 * the file's size is a bug: every field is hostile.
 *
 * CRCs would stop nearly every mutation at the door, so the control byte
 * lets the harness write the right ones first, for the checks behind them
 * to be fuzzed too:
 *   bit 0  the header's CRC (docs/RECORDING.md: [0, 252) and the text)
 *   bit 1  the CRC of every descriptor page on the walk from header_bytes
 *          (each at the previous one's next_offset, at most 64)
 *   bit 2  the data_crc of each descriptor on those pages whose frame lies
 *          inside the file
 *   bit 3  the summary's CRC
 * Seeds (make_recording_seeds.c) are real recordings with all bits set.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ringbuf/recording.h>

#include "rio.h"

static char path[128];

static void
fix_crcs(uint8_t *b, size_t size, uint8_t ctl)
{
	struct rb_rec_header h;
	uint64_t off;

	if (size < RB_REC_PAGE)
		return;
	memcpy(&h, b, sizeof(h));
	if (ctl & 1) {
		uint32_t text = h.text_bytes <= size - RB_REC_TEXT_OFFSET ? h.text_bytes : 0;
		uint32_t crc = rb_rec_crc32c(0, b, offsetof(struct rb_rec_header, crc));

		crc = rb_rec_crc32c(crc, b + RB_REC_TEXT_OFFSET, text);
		memcpy(b + offsetof(struct rb_rec_header, crc), &crc, 4);
	}
	if (ctl & 8) {
		uint32_t crc = rb_rec_crc32c(0, b + 256, offsetof(struct rb_rec_summary, crc));

		memcpy(b + 256 + offsetof(struct rb_rec_summary, crc), &crc, 4);
	}
	off = h.header_bytes;
	for (int n = 0; n < 64 && (ctl & 6) && off <= size && size - off >= RB_REC_PAGE; n++) {
		/* A hostile next_offset need not be aligned: work on a copy. */
		struct rb_rec_page p;

		memcpy(&p, b + off, sizeof(p));
		if (ctl & 4) {
			for (uint32_t i = 0; i < RB_REC_PAGE_ENTRIES; i++) {
				struct rb_rec_entry *e = &p.entries[i];

				if (e->data_offset <= size && e->length <= size - e->data_offset)
					e->data_crc = rb_rec_crc32c(0, b + e->data_offset, e->length);
			}
		}
		if (ctl & 2) {
			p.crc = 0;
			p.crc = rb_rec_crc32c(0, &p, sizeof(p));
		}
		memcpy(b + off, &p, sizeof(p));
		if (p.next_offset <= off)
			break;
		off = p.next_offset;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rb_rec_reader rd;
	struct rb_rec_entry e;
	uint8_t *file, *buf = NULL;
	uint64_t buf_bytes = 0, limit;
	int fd, rc, n = 0;
	volatile uint32_t sink = 0;

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "/dev/shm/fuzz-recording-%d", (int)getpid());
	if (size < 1 || size > (16u << 20))
		return 0;
	file = aligned_alloc(RB_REC_PAGE, rb_rec_round_up(size));
	if (file == NULL)
		abort();
	memcpy(file, data + 1, size - 1);
	fix_crcs(file, size - 1, data[0]);
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	if (fd < 0)
		abort();
	if (size > 1 && write(fd, file, size - 1) != (ssize_t)(size - 1))
		abort();
	close(fd);
	free(file);

	/* Nothing may be sized beyond what the file holds (plus a header's
	 * page and the reader's fixed buffers). */
	limit = size + 2 * RB_REC_PAGE;
	rc = rb_rec_reader_open(&rd, path, data[0] & 16);
	if (rc == 0) {
		if (rd.h.header_bytes > limit || rd.h.text_bytes > limit)
			abort();
		while (n++ < 4096 && (rc = rb_rec_reader_next(&rd, &e)) == 1) {
			uint32_t len = (uint32_t)(rd.direct ? rb_rec_region_bytes(e.length) : e.length);

			if (e.rflags & RB_REC_ENTRY_DISCARDED)
				continue;
			if (e.data_offset + e.length > rd.file_bytes)
				abort(); /* the reader let a frame outside the file through */
			if (len > buf_bytes) {
				free(buf);
				buf_bytes = rb_rec_region_bytes(len);
				if (buf_bytes > limit + RB_REC_PAGE)
					abort();
				buf = aligned_alloc(RB_REC_PAGE, buf_bytes);
				if (buf == NULL)
					abort();
			}
			if (len == 0)
				continue;
			rc = rio_read_sync(rd.meta, rd.fd, buf, len, e.data_offset);
			if (rc < 0 || (uint64_t)rc < e.length)
				break;
			sink ^= rb_rec_frame_intact(&rd.ph, &e, buf);
		}
	}
	rb_rec_reader_close(&rd);
	free(buf);
	unlink(path);
	(void)sink;
	return 0;
}
