/*
 * What a consumer knows about the stream it reads: the producer's header
 * text, and the layout of a frame. The ring's frame type is authoritative
 * when the ring has one; a ring created untyped (say by a test, then fed by
 * `rb-producer --attach`) still gets a layout from the header's elem= and
 * shape= keys, and failing both, a frame is just bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "consumer.h"

/* The header's elem= and shape=, if they describe a valid type that fits
 * the ring's slots. */
static bool
stream_type_from_header(struct stream_info *s, struct rb_ring *ring)
{
	char elem[32], shape[128];
	struct rb_frame_type t;
	uint64_t bytes;
	uint32_t i;
	int e;

	memset(&t, 0, sizeof(t));
	if (!cli_header_get(s->header, "elem", elem, sizeof(elem)) ||
	    !cli_header_get(s->header, "shape", shape, sizeof(shape)))
		return false;
	e = rb_elem_parse(elem);
	if (e <= RB_ELEM_NONE || cli_parse_shape(shape, t.dims, &t.ndim) != 0)
		return false;
	t.elem = (uint32_t)e;
	bytes = rb_elem_size(t.elem);
	for (i = 0; i < t.ndim; i++) {
		if (t.dims[i] > rb_ring_frame_bytes(ring) / bytes)
			return false;
		bytes *= t.dims[i];
	}
	if (bytes > rb_ring_frame_bytes(ring))
		return false;
	s->type = t;
	return true;
}

bool
stream_changed(const struct stream_info *s, struct rb_ring *ring,
	       const struct rb_frame *frame)
{
	struct rb_stream_info info;
	int rc = rb_ring_stream_header_at(ring, frame->seq, NULL, 0, &info);

	if (rc == RB_E_HEADER_GONE)
		return !s->gone;
	return rc >= 0 && info.ordinal != s->ordinal;
}

void
stream_load(struct stream_info *s, struct rb_consumer *c, struct rb_ring *ring,
	    const struct rb_frame *frame)
{
	const struct rb_frame_type *rt = rb_ring_frame_type(ring);
	struct rb_stream_info info;
	int rc;

	s->seen = true;
	s->loads++;
	/* The header of this frame's own stream (layout 4), not the newest:
	 * a consumer lagging behind a stream boundary reads the old stream's
	 * frames with the old header. Our producer writes a few hundred
	 * bytes; a longer header (another producer's) is not an error, we
	 * just do without it. */
	rc = rb_consumer_frame_header(c, frame, s->header, sizeof(s->header), &info);
	s->gone = rc == RB_E_HEADER_GONE;
	if (s->gone)
		s->headers_gone++;
	if (rc < 0) {
		s->header[0] = '\0';
		memset(&info, 0, sizeof(info));
	}
	s->ordinal = info.ordinal;
	s->start_seq = info.start_seq;
	if (s->nseen < STREAM_SEEN_MAX) {
		struct stream_seen *e = &s->seen_list[s->nseen++];

		e->ordinal = info.ordinal;
		e->start_seq = info.start_seq;
		e->first_seq = frame->seq;
		e->gone = s->gone;
		e->header = s->gone ? NULL : strdup(s->header);
	}
	if (!cli_header_get(s->header, "source", s->source, sizeof(s->source)))
		s->source[0] = '\0';
	if (rt->elem != RB_ELEM_NONE) {
		s->type = *rt;
		s->type_from = "ring";
	} else if (stream_type_from_header(s, ring)) {
		s->type_from = "header";
	} else {
		memset(&s->type, 0, sizeof(s->type));
		s->type.elem = RB_ELEM_U8;
		s->type.ndim = 1;
		s->type.dims[0] = rb_ring_frame_bytes(ring);
		s->type_from = "bytes";
	}
	/* An ADC frame is [samples, channels]: the last dimension. */
	s->channels = 1;
	if (strcmp(s->source, "adc") == 0 && s->type.ndim == 2)
		s->channels = (uint32_t)s->type.dims[1];
}

static void
stream_json_header(struct cli_json *j, const char *name, const char *line)
{
	cli_json_object(j, name);
	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		const char *eq = memchr(line, '=', len);

		if (eq != NULL && eq > line) {
			char key[64], value[1024];
			size_t klen = (size_t)(eq - line), vlen = len - klen - 1;

			if (klen >= sizeof(key))
				klen = sizeof(key) - 1;
			if (vlen >= sizeof(value))
				vlen = sizeof(value) - 1;
			memcpy(key, line, klen);
			key[klen] = '\0';
			memcpy(value, eq + 1, vlen);
			value[vlen] = '\0';
			cli_json_string(j, key, value);
		}
		if (end == NULL)
			break;
		line = end + 1;
	}
	cli_json_object_end(j);
}

void
stream_json(const struct stream_info *s, struct cli_json *j)
{
	stream_json_header(j, "header", s->header);
	cli_json_array(j, "streams_seen");
	for (uint32_t i = 0; i < s->nseen; i++) {
		const struct stream_seen *e = &s->seen_list[i];

		cli_json_object(j, NULL);
		cli_json_u64(j, "ordinal", e->ordinal);
		cli_json_u64(j, "start_seq", e->start_seq);
		cli_json_u64(j, "first_seq", e->first_seq);
		cli_json_bool(j, "header_gone", e->gone);
		if (e->header != NULL)
			stream_json_header(j, "header", e->header);
		else
			cli_json_null(j, "header");
		cli_json_object_end(j);
	}
	cli_json_array_end(j);
}

void
stream_free(struct stream_info *s)
{
	for (uint32_t i = 0; i < s->nseen; i++)
		free(s->seen_list[i].header);
	free(s);
}

void
stream_oneline(const struct stream_info *s, char *buf, size_t size)
{
	size_t i, n = 0;

	if (size == 0)
		return;
	for (i = 0; s->header[i] != '\0' && n + 1 < size; i++)
		buf[n++] = s->header[i] == '\n' ? ' ' : s->header[i];
	while (n > 0 && buf[n - 1] == ' ')
		n--;
	buf[n] = '\0';
}
