/*
 * What a consumer knows about the stream it reads: the producer's header
 * text, and the layout of a frame. The ring's frame type is authoritative
 * when the ring has one; a ring created untyped (say by a test, then fed by
 * `rb-producer --attach`) still gets a layout from the header's elem= and
 * shape= keys, and failing both, a frame is just bytes.
 */
#include <stdio.h>
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

void
stream_load(struct stream_info *s, struct rb_consumer *c, struct rb_ring *ring)
{
	const struct rb_frame_type *rt = rb_ring_frame_type(ring);

	s->seen = true;
	/* Our producer writes a few hundred bytes; a longer header (another
	 * producer's) is not an error, we just do without it. */
	if (rb_consumer_stream_header(c, s->header, sizeof(s->header), NULL) < 0)
		s->header[0] = '\0';
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

void
stream_json(const struct stream_info *s, struct cli_json *j)
{
	const char *line = s->header;

	cli_json_object(j, "header");
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
