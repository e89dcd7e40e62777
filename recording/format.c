/*
 * The recording format's records: the file header with its close summary,
 * and the descriptor pages (docs/RECORDING.md has the byte layout; the
 * asserts below hold the structs to it).
 *
 * Each record carries its own CRC-32C, so a reader can tell a record that
 * was written whole from a torn one, a hole, or stale bytes: the header's
 * fixed part is written once and never changes; the summary, written at a
 * clean close, has a CRC of its own in a different 512-byte sector, so a
 * torn summary write leaves the fixed part readable.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <ringbuf/recording.h>

_Static_assert(sizeof(struct rb_rec_header) == 256, "header fixed part");
_Static_assert(offsetof(struct rb_rec_header, type) == 64, "header type");
_Static_assert(offsetof(struct rb_rec_header, text_bytes) == 104, "header text_bytes");
_Static_assert(offsetof(struct rb_rec_header, first_index) == 112, "header first_index");
_Static_assert(offsetof(struct rb_rec_header, anchor_mono_ns) == 128, "header anchor");
_Static_assert(offsetof(struct rb_rec_header, reserved) == 144, "header reserved");
_Static_assert(offsetof(struct rb_rec_header, crc) == 252, "header crc");
_Static_assert(sizeof(struct rb_rec_summary) == 256, "summary");
_Static_assert(offsetof(struct rb_rec_summary, end) == 72, "summary end");
_Static_assert(offsetof(struct rb_rec_summary, dropped_after) == 80, "summary dropped_after");
_Static_assert(offsetof(struct rb_rec_summary, crc) == 252, "summary crc");
_Static_assert(sizeof(struct rb_rec_entry) == 64, "entry");
_Static_assert(offsetof(struct rb_rec_entry, data_offset) == 32, "entry data_offset");
_Static_assert(offsetof(struct rb_rec_entry, data_crc) == 40, "entry data_crc");
_Static_assert(offsetof(struct rb_rec_entry, dropped_before) == 48, "entry dropped_before");
_Static_assert(offsetof(struct rb_rec_page, crc) == 60, "page crc");
_Static_assert(offsetof(struct rb_rec_page, entries) == 64, "page entries");
_Static_assert(sizeof(struct rb_rec_page) == RB_REC_PAGE, "page size");
_Static_assert(sizeof(struct rb_frame_type) == 40, "frame type");

uint32_t
rb_rec_header_bytes(uint32_t text_bytes)
{
	return (uint32_t)rb_rec_round_up((uint64_t)RB_REC_TEXT_OFFSET + text_bytes);
}

static uint32_t
rb_rec_header_crc(const struct rb_rec_header *h, const char *text)
{
	uint32_t crc = rb_rec_crc32c(0, h, offsetof(struct rb_rec_header, crc));

	return rb_rec_crc32c(crc, text, h->text_bytes);
}

void
rb_rec_header_encode(void *buf, const struct rb_rec_header *h, const char *text)
{
	struct rb_rec_header *out = buf;

	memset(buf, 0, h->header_bytes);
	*out = *h;
	memcpy(out->magic, RB_REC_MAGIC, sizeof(out->magic));
	memcpy((char *)buf + RB_REC_TEXT_OFFSET, text, h->text_bytes);
	out->crc = rb_rec_header_crc(out, text);
}

void
rb_rec_summary_encode(void *buf, const struct rb_rec_summary *s)
{
	struct rb_rec_summary *out = (struct rb_rec_summary *)((char *)buf + 256);

	*out = *s;
	memcpy(out->magic, RB_REC_SUMMARY_MAGIC, sizeof(out->magic));
	memset(out->reserved, 0, sizeof(out->reserved));
	out->crc = rb_rec_crc32c(0, out, offsetof(struct rb_rec_summary, crc));
}

static bool
rb_rec_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++ != 0)
			return false;
	return true;
}

/* The frame type as a ring would take it (docs/RECORDING.md, "Bounds"):
 * untyped is all zeros; typed has 1..4 non-zero dims, the rest zero, whose
 * elements fit in frame_bytes (checked without overflow). */
static bool
rb_rec_type_valid(const struct rb_frame_type *t, uint64_t frame_bytes)
{
	uint64_t total;

	if (t->elem == RB_ELEM_NONE)
		return t->ndim == 0 && rb_rec_zero(t->dims, sizeof(t->dims));
	if (t->elem >= RB_ELEM_COUNT_ || t->ndim < 1 || t->ndim > RB_MAX_DIMS)
		return false;
	total = rb_elem_size(t->elem);
	for (uint32_t i = 0; i < RB_MAX_DIMS; i++) {
		if (i >= t->ndim ? t->dims[i] != 0
				 : t->dims[i] == 0 || t->dims[i] > frame_bytes / total)
			return false;
		if (i < t->ndim)
			total *= t->dims[i];
	}
	return true;
}

/* Every field of the fixed part in its bounds, before any of them sizes
 * anything. */
static bool
rb_rec_header_bounded(const struct rb_rec_header *h)
{
	return h->page_bytes == RB_REC_PAGE && h->page_entries == RB_REC_PAGE_ENTRIES &&
	       h->text_bytes <= RB_REC_TEXT_MAX &&
	       h->header_bytes == rb_rec_header_bytes(h->text_bytes) &&
	       h->recording_id != 0 && (h->flags & ~RB_REC_FLAGS_KNOWN) == 0 &&
	       (h->part == 0 || (h->flags & RB_REC_FLAG_SERIES)) &&
	       h->frame_bytes >= 1 && h->frame_bytes <= RB_REC_FRAME_MAX &&
	       h->slot_stride >= h->frame_bytes && h->slot_stride <= RB_REC_STRIDE_MAX &&
	       rb_rec_type_valid(&h->type, h->frame_bytes) &&
	       h->first_index <= RB_REC_INDEX_MAX && (h->part != 0 || h->first_index == 0) &&
	       (h->version >= 3 || (h->anchor_mono_ns == 0 && h->anchor_real_ns == 0)) &&
	       h->reserved0 == 0 && rb_rec_zero(h->reserved, sizeof(h->reserved));
}

int
rb_rec_header_decode(const void *buf, size_t have, struct rb_rec_header *h)
{
	const char *text = (const char *)buf + RB_REC_TEXT_OFFSET;

	if (have < RB_REC_PAGE)
		return -EBADMSG;
	memcpy(h, buf, sizeof(*h));
	if (memcmp(h->magic, RB_REC_MAGIC, sizeof(h->magic)) != 0)
		return -EMEDIUMTYPE;
	if (h->version < RB_REC_VERSION_MIN || h->version > RB_REC_VERSION)
		return -EPROTONOSUPPORT;
	if (!rb_rec_header_bounded(h))
		return -EBADMSG;
	if (h->header_bytes > have)
		return -EAGAIN;
	if (rb_rec_header_crc(h, text) != h->crc)
		return -EBADMSG;
	return 0;
}

bool
rb_rec_summary_decode(const void *buf, struct rb_rec_summary *s)
{
	memcpy(s, (const char *)buf + 256, sizeof(*s));
	return memcmp(s->magic, RB_REC_SUMMARY_MAGIC, sizeof(s->magic)) == 0 &&
	       rb_rec_crc32c(0, s, offsetof(struct rb_rec_summary, crc)) == s->crc &&
	       s->end <= RB_REC_END_ERROR && s->discarded <= s->entries &&
	       rb_rec_zero(s->reserved, sizeof(s->reserved));
}

bool
rb_rec_frame_intact(const struct rb_rec_header *h, const struct rb_rec_entry *e, const void *data)
{
	return !rb_rec_has_frame_crc(h) || rb_rec_crc32c(0, data, e->length) == e->data_crc;
}

void
rb_rec_page_seal(struct rb_rec_page *p)
{
	memcpy(p->magic, RB_REC_PAGE_MAGIC, sizeof(p->magic));
	p->crc = 0;
	p->crc = rb_rec_crc32c(0, p, sizeof(*p));
}

bool
rb_rec_page_valid(const struct rb_rec_page *p, uint64_t recording_id, uint32_t part,
	       uint64_t group, uint64_t offset)
{
	/* The crc is computed with its own field zero: check on a copy of
	 * the head, then continue over the entries in place. */
	struct rb_rec_page head;
	uint32_t crc;

	if (memcmp(p->magic, RB_REC_PAGE_MAGIC, sizeof(p->magic)) != 0)
		return false;
	memcpy(&head, p, offsetof(struct rb_rec_page, entries));
	head.crc = 0;
	crc = rb_rec_crc32c(0, &head, offsetof(struct rb_rec_page, entries));
	crc = rb_rec_crc32c(crc, p->entries, sizeof(p->entries));
	return crc == p->crc && p->recording_id == recording_id && p->part == part &&
	       p->group == group && p->page_offset == offset &&
	       p->count <= RB_REC_PAGE_ENTRIES && offset <= RB_REC_OFFSET_MAX &&
	       p->next_offset >= offset + RB_REC_PAGE && p->next_offset <= RB_REC_OFFSET_MAX &&
	       p->next_offset % RB_REC_PAGE == 0;
}

int
rb_rec_part_path(char *buf, size_t size, const char *base, bool series, uint32_t part)
{
	int n;

	if (series)
		n = snprintf(buf, size, "%s.%03u", base, part);
	else
		n = snprintf(buf, size, "%s", base);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}
