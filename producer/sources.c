/*
 * Frame sources: what rb-producer writes into each slot.
 *
 *   counter  untyped bytes; every byte a function of the frame's sequence
 *            number (cli_counter_fill), so rb-consumer verify can check
 *            them all. On a ring for several producers each frame starts
 *            with a tag, the producer's id and frame number (producer.h,
 *            COUNTER_TAG_BYTES), so that verify can also check each
 *            producer's frames for order and completeness.
 *   adc      a simulated multi-channel ADC: int16, dims [samples, channels]
 *            (interleaved, channel fastest). Channel c carries a sine of
 *            ADC_AMPLITUDE counts at (c + 1) / 1000 of the sample rate plus
 *            uniform noise in [-ADC_NOISE, ADC_NOISE].
 *   camera   a simulated camera: uint16, dims [height, width], a diagonal
 *            ramp that moves one pixel per frame, with the frame number
 *            stamped into the first four pixels.
 *
 * Everything is a pure function of (frame index, sample or pixel
 * position): no state carries from frame to frame, so runs are
 * reproducible, a dropped frame does not disturb the ones after it, and
 * tests can predict exact values.
 *
 * The I/O sources fill slots from outside, with io_uring, and have their
 * own streaming loops: file (a recording, source_file.c) and udp (sensor
 * packets, source_udp.c). Here they are only set up and torn down.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "producer.h"

/*
 * Channel c advances (c + 1) thousandths of a period per sample, so sample
 * k of channel c is at phase ((c + 1) * k mod 1000) / 1000: one table of
 * 1000 entries serves every channel, exactly, for any k, with no drift of
 * a floating-point phase over a long run.
 */
#define ADC_TABLE 1000u

/* splitmix64's finaliser: a well-mixed hash of a counter, for the noise. */
static uint64_t
source_mix(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ull;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
	return x ^ (x >> 31);
}

static int
source_fail(const char *option, const char *why)
{
	cli_error("%s: %s", option, why);
	return CLI_EXIT_USAGE;
}

int
source_init(struct source *s, const char *name, const struct source_params *p)
{
	uint32_t i;

	memset(s, 0, sizeof(*s));
	s->p = *p;
	if (strcmp(name, "counter") == 0) {
		s->kind = SOURCE_COUNTER;
		s->name = "counter";
		s->frame_bytes = p->frame_bytes;
		/* Untyped: the type stays zero (RB_ELEM_NONE). */
		return 0;
	}
	if (strcmp(name, "adc") == 0) {
		if (p->channels == 0 || p->channels > ADC_MAX_CHANNELS)
			return source_fail("--channels", "must be 1 to 256");
		if (p->samples == 0 || p->samples > (1ull << 32))
			return source_fail("--samples", "must be 1 to 2^32");
		if (!(p->sample_rate > 0))
			return source_fail("--sample-rate", "must be positive");
		s->kind = SOURCE_ADC;
		s->name = "adc";
		s->frame_bytes = p->samples * p->channels * sizeof(int16_t);
		s->type.elem = RB_ELEM_I16;
		s->type.ndim = 2;
		s->type.dims[0] = p->samples;
		s->type.dims[1] = p->channels;
		s->sine = malloc(ADC_TABLE * sizeof(*s->sine));
		if (s->sine == NULL) {
			cli_error("adc: out of memory");
			return CLI_EXIT_FAIL;
		}
		for (i = 0; i < ADC_TABLE; i++)
			s->sine[i] = (int16_t)lrint(ADC_AMPLITUDE *
						    sin(2.0 * M_PI * i / ADC_TABLE));
		return 0;
	}
	if (strcmp(name, "camera") == 0) {
		if (p->width < 4 || p->width > 65536 || p->height == 0 ||
		    p->height > 65536)
			return source_fail("--width/--height",
					   "width must be 4 to 65536, height 1 to 65536");
		s->kind = SOURCE_CAMERA;
		s->name = "camera";
		s->frame_bytes = p->width * p->height * sizeof(uint16_t);
		s->type.elem = RB_ELEM_U16;
		s->type.ndim = 2;
		s->type.dims[0] = p->height;
		s->type.dims[1] = p->width;
		return 0;
	}
	if (strcmp(name, "file") == 0) {
		s->kind = SOURCE_FILE;
		s->name = "file";
		return file_source_init(s);
	}
	if (strcmp(name, "udp") == 0) {
		s->kind = SOURCE_UDP;
		s->name = "udp";
		return udp_source_init(s);
	}
	cli_error("--source: '%s': not a source (counter, adc, camera, file, udp, "
		  "udp-send)", name);
	return CLI_EXIT_USAGE;
}

void
source_fini(struct source *s)
{
	if (s->kind == SOURCE_FILE)
		file_source_fini(s);
	if (s->kind == SOURCE_UDP)
		udp_source_fini(s);
	free(s->sine);
	s->sine = NULL;
}

void
source_summary(const struct source *s, FILE *out)
{
	if (s->kind == SOURCE_FILE)
		file_source_summary(s, out);
	if (s->kind == SOURCE_UDP)
		udp_source_summary(s, out);
}

void
source_json(const struct source *s, struct cli_json *j)
{
	if (s->kind == SOURCE_FILE)
		file_source_json(s, j);
	if (s->kind == SOURCE_UDP)
		udp_source_json(s, j);
}

void
source_header(const struct source *s, char *buf, size_t size)
{
	size_t used;
	uint64_t c;

	buf[0] = '\0';
	switch (s->kind) {
	case SOURCE_COUNTER:
		if (s->tagged)
			snprintf(buf, size, "counter_layout=tagged\n");
		break;
	case SOURCE_ADC:
		used = (size_t)snprintf(buf, size,
					"channels=%" PRIu64 "\nsamples=%" PRIu64
					"\nsample_rate=%.9g\namplitude=%d\nnoise=%d\nfreqs=",
					s->p.channels, s->p.samples, s->p.sample_rate,
					ADC_AMPLITUDE, ADC_NOISE);
		for (c = 0; c < s->p.channels && used < size; c++)
			used += (size_t)snprintf(buf + used, size - used, "%s%.9g",
						 c ? "," : "",
						 s->p.sample_rate * (double)(c + 1) / ADC_TABLE);
		if (used < size)
			snprintf(buf + used, size - used, "\n");
		break;
	case SOURCE_CAMERA:
		snprintf(buf, size, "width=%" PRIu64 "\nheight=%" PRIu64 "\n",
			 s->p.width, s->p.height);
		break;
	case SOURCE_UDP:
		udp_source_header(s, buf, size);
		break;
	case SOURCE_FILE:
	case SOURCE_UDP_SEND:
		break;
	}
}

static void
source_adc(const struct source *s, int16_t *out, uint64_t index)
{
	uint64_t channels = s->p.channels, samples = s->p.samples;
	uint64_t k = index * samples, i, c;

	for (i = 0; i < samples; i++, k++) {
		for (c = 0; c < channels; c++) {
			uint64_t phase = ((c + 1) * (k % ADC_TABLE)) % ADC_TABLE;
			uint64_t h = source_mix(k * ADC_MAX_CHANNELS + c);
			int noise = (int)(h % (2 * ADC_NOISE + 1)) - ADC_NOISE;

			*out++ = (int16_t)(s->sine[phase] + noise);
		}
	}
}

static void
source_camera(const struct source *s, uint16_t *out, uint64_t index)
{
	uint64_t w = s->p.width, h = s->p.height, x, y;

	/* A ramp along x + y, 256 grey levels spread over the full 16 bits
	 * (v * 257 maps 0..255 onto 0..65535), one pixel further each frame. */
	for (y = 0; y < h; y++)
		for (x = 0; x < w; x++)
			*out++ = (uint16_t)(((x + y + index) & 0xff) * 257);
	/* The frame number, little-endian 16-bit words in pixels 0..3 of
	 * row 0, so that a viewer or test can tell frames apart. */
	out -= w * h;
	for (x = 0; x < 4; x++)
		out[x] = (uint16_t)(index >> (16 * x));
}

/* The tagged counter frame (producer.h). */
static void
source_counter_tagged(const struct source *s, uint8_t *data, uint64_t seq, uint64_t number)
{
	cli_tagged_fill(data, s->frame_bytes, seq, s->tag_id, number);
}

void
source_fill(const struct source *s, void *data, uint64_t seq, uint64_t index,
	    uint64_t number)
{
	switch (s->kind) {
	case SOURCE_COUNTER:
		if (s->tagged)
			source_counter_tagged(s, data, seq, number);
		else
			cli_counter_fill(data, s->frame_bytes, seq);
		break;
	case SOURCE_ADC:
		source_adc(s, data, index);
		break;
	case SOURCE_CAMERA:
		source_camera(s, data, index);
		break;
	case SOURCE_FILE:
	case SOURCE_UDP:
	case SOURCE_UDP_SEND:
		break; /* filled by their own loops */
	}
}
