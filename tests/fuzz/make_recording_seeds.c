/*
 * Seed corpus for fuzz_recording: small, valid recordings made with the
 * format's own encoders (tools/cli/recording.c), each prefixed with the
 * control byte that has the harness keep every CRC right (0x0f).
 *
 *   DIR/closed    3 frames of an untyped stream, closed with a summary
 *   DIR/pages     70 frames (two descriptor pages), typed u16 [4, 8], one
 *                 discarded descriptor, closed
 *   DIR/torn      5 frames, no summary (a killed recorder)
 *   DIR/v1        version 1: no frame checksums
 *
 * Usage: make_recording_seeds DIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <ringbuf/recording.h>

static const char text[] = "source=counter\nframe_bytes=100\n";

static int
seed(const char *dir, const char *name, uint32_t version, uint32_t frames, bool typed,
     bool closed)
{
	size_t cap = 64 * RB_REC_PAGE + (size_t)frames * RB_REC_PAGE;
	uint8_t ctl = 0x0f, *b = aligned_alloc(RB_REC_PAGE, cap);
	struct rb_rec_header h;
	struct rb_rec_summary s;
	uint64_t pos, page = 0;
	char path[4096];
	FILE *out;

	if (b == NULL)
		return -1;
	memset(b, 0, cap);
	memset(&h, 0, sizeof(h));
	h.version = version;
	h.text_bytes = sizeof(text) - 1;
	h.header_bytes = rb_rec_header_bytes(h.text_bytes);
	h.page_bytes = RB_REC_PAGE;
	h.page_entries = RB_REC_PAGE_ENTRIES;
	h.recording_id = 0x1234567887654321ull;
	h.frame_bytes = typed ? 64 : 100;
	h.slot_stride = 4096;
	if (typed) {
		h.type.elem = RB_ELEM_U16;
		h.type.ndim = 2;
		h.type.dims[0] = 4;
		h.type.dims[1] = 8;
	}
	rb_rec_header_encode(b, &h, text);
	memset(&s, 0, sizeof(s));
	pos = h.header_bytes;
	for (uint32_t i = 0; i < frames; i++) {
		struct rb_rec_page *p;
		struct rb_rec_entry *e;
		uint64_t len = i % 7 == 3 ? 0 : h.frame_bytes - i % 5;

		if (i % RB_REC_PAGE_ENTRIES == 0) {
			page = pos;
			pos += RB_REC_PAGE;
			p = (struct rb_rec_page *)(b + page);
			p->recording_id = h.recording_id;
			p->group = i / RB_REC_PAGE_ENTRIES;
			p->page_offset = page;
			p->first_index = i;
		}
		p = (struct rb_rec_page *)(b + page);
		e = &p->entries[p->count++];
		e->seq = 100 + i;
		e->length = len;
		e->timestamp_ns = 1000000ull * i;
		e->data_offset = pos;
		if (typed && i == 9)
			e->rflags = RB_REC_ENTRY_DISCARDED;
		for (uint64_t k = 0; k < len; k++)
			b[pos + k] = (uint8_t)(i * 31 + k);
		if (version >= 2)
			e->data_crc = rb_rec_crc32c(0, b + pos, len);
		pos += rb_rec_region_bytes(len);
		p->next_offset = pos;
		rb_rec_page_seal(p);
		s.entries++;
	}
	if (closed) {
		s.end_offset = pos;
		s.last_seq = 100 + frames - 1;
		s.first_seq = 100;
		rb_rec_summary_encode(b, &s);
	}
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	out = fopen(path, "wb");
	if (out == NULL || fwrite(&ctl, 1, 1, out) != 1 || fwrite(b, 1, pos, out) != pos ||
	    fclose(out) != 0) {
		perror(path);
		free(b);
		return -1;
	}
	free(b);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: make_recording_seeds DIR\n");
		return 2;
	}
	if (mkdir(argv[1], 0700) != 0 && errno != EEXIST) {
		perror(argv[1]);
		return 1;
	}
	if (seed(argv[1], "closed", RB_REC_VERSION, 3, false, true) != 0 ||
	    seed(argv[1], "pages", RB_REC_VERSION, 70, true, true) != 0 ||
	    seed(argv[1], "torn", RB_REC_VERSION, 5, false, false) != 0 ||
	    seed(argv[1], "v1", 1, 4, false, true) != 0)
		return 1;
	return 0;
}
