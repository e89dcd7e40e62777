/*
 * The stats analysis: min, max, mean, RMS and a histogram of the frame's
 * elements, per frame and over the whole run, read with the stream's frame
 * type (u8 ... f64; complex types as their real and imaginary parts). For
 * adc streams ([samples, channels] int16) the figures are kept per channel
 * too, the element at position i belonging to channel i % channels.
 *
 * Accumulation: one frame's figures are gathered in doubles (exact for
 * the sums of any frame of 8- and 16-bit samples), then, once the frame is
 * known to be intact, added to the run's long double totals. A lossy
 * consumer's frame that was overwritten while we read it is dropped whole
 * (it is counted lost), so its bytes never mix into the totals. "Known
 * intact" is the release's verdict, not only our check after reading: a
 * frame can be lapped between the two, and the library then counts it
 * lost. So a batch's figures wait, frame by frame, until the batch is
 * released (stats_released), and only frames the library counted as
 * received reach the totals and the per-frame lines.
 *
 * Histogram: 16 bins, over a range that must hold values we have not seen
 * yet. 8- and 16-bit integer types use their full range from the start
 * (bins of 16 or 4096: round numbers that read well). Wider types start
 * from the first value and double the range towards whichever side a new
 * value falls out of, merging bins pairwise: no value is ever lost or
 * counted twice, and the range stays within 2x of the data's spread.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "consumer.h"

#define STATS_BINS 16

/* One frame, one channel. */
struct stats_frame_acc {
	uint64_t n;
	double min, max, sum, sumsq;
};

/* The whole run, one channel (or everything). */
struct stats_acc {
	uint64_t n;
	double min, max;
	long double sum, sumsq;
};

struct stats {
	struct rb_ring *ring; /* per-frame UTC from its clock anchor */
	bool lossy;
	bool per_frame;
	bool json;            /* per-frame records as JSON lines */
	bool ready;           /* the layout is known */
	struct rb_frame_type type;
	const char *type_from;
	uint32_t scan_elem;   /* the element type actually scanned */
	bool integer;         /* scan_elem is an integer type */
	uint64_t per_element; /* scalars per element: 2 for complex */
	uint32_t channels;
	struct stats_acc *chan;        /* run totals per channel */
	/* The batch's frames until released: per frame, its channels'
	 * figures, histogram counts and NaN count. */
	uint32_t batch, npend;
	struct stats_frame_acc *pend_chan; /* [batch][channels] */
	uint64_t (*pend_hist)[STATS_BINS];
	uint64_t *pend_nonfinite;
	bool *pend_ok;                 /* scanned and, lossy, checked intact */
	struct stats_frame_acc *fchan; /* the frame being scanned, per channel */
	uint64_t *fhist;
	uint64_t *fnonfinite;
	/* Histogram over [lo, lo + 16 * width). */
	bool hist_ready;
	double lo, width, inv_width;
	uint64_t hist[STATS_BINS];
	uint64_t nonfinite; /* NaN and infinities: not counted */
	uint64_t frames;
	bool have_last;
	uint64_t last_seq;
	struct stats_acc last;      /* the last intact frame, all channels */
};

/* Points the scan at pending frame k, emptied. */
static void
stats_frame_reset(struct stats *s, uint32_t k)
{
	uint32_t c;

	s->fchan = &s->pend_chan[(size_t)k * s->channels];
	s->fhist = s->pend_hist[k];
	s->fnonfinite = &s->pend_nonfinite[k];
	for (c = 0; c < s->channels; c++) {
		s->fchan[c].n = 0;
		s->fchan[c].min = INFINITY;
		s->fchan[c].max = -INFINITY;
		s->fchan[c].sum = 0;
		s->fchan[c].sumsq = 0;
	}
	memset(s->fhist, 0, STATS_BINS * sizeof(*s->fhist));
	*s->fnonfinite = 0;
}

static void
stats_acc_reset(struct stats_acc *a)
{
	a->n = 0;
	a->min = INFINITY;
	a->max = -INFINITY;
	a->sum = 0;
	a->sumsq = 0;
}

static void
stats_acc_add(struct stats_acc *a, const struct stats_frame_acc *f)
{
	a->n += f->n;
	if (f->min < a->min)
		a->min = f->min;
	if (f->max > a->max)
		a->max = f->max;
	a->sum += f->sum;
	a->sumsq += f->sumsq;
}

static void
stats_acc_merge(struct stats_acc *a, const struct stats_acc *b)
{
	a->n += b->n;
	if (b->min < a->min)
		a->min = b->min;
	if (b->max > a->max)
		a->max = b->max;
	a->sum += b->sum;
	a->sumsq += b->sumsq;
}

static double
stats_mean(const struct stats_acc *a)
{
	return a->n ? (double)(a->sum / a->n) : NAN;
}

static double
stats_rms(const struct stats_acc *a)
{
	return a->n ? sqrt((double)(a->sumsq / a->n)) : NAN;
}

static void
stats_set_range(struct stats *s, double lo, double width)
{
	s->lo = lo;
	s->width = width;
	s->inv_width = 1.0 / width;
	s->hist_ready = true;
}

/* Merges a histogram's bins pairwise into the doubled range. */
static void
stats_rebin(uint64_t *counts, bool down)
{
	uint64_t merged[STATS_BINS] = {0};
	int i;

	for (i = 0; i < STATS_BINS; i++)
		merged[(down ? STATS_BINS / 2 : 0) + i / 2] += counts[i];
	memcpy(counts, merged, sizeof(merged));
}

/* Doubles the range towards x until it holds x (see the top of file):
 * the run's counts and every pending frame's, the one being scanned
 * included, keep one range. */
static void
stats_widen(struct stats *s, double x)
{
	while (!(x >= s->lo && x < s->lo + STATS_BINS * s->width) && isfinite(s->width)) {
		bool down = x < s->lo;
		uint32_t k;

		stats_rebin(s->hist, down);
		for (k = 0; k <= s->npend && k < s->batch; k++)
			stats_rebin(s->pend_hist[k], down);
		stats_set_range(s, down ? s->lo - STATS_BINS * s->width : s->lo,
				2 * s->width);
	}
}

static inline void
stats_add(struct stats *s, uint32_t ch, double x)
{
	struct stats_frame_acc *a = &s->fchan[ch];
	double b;
	int bin;

	if (!isfinite(x)) {
		(*s->fnonfinite)++;
		return;
	}
	a->n++;
	if (x < a->min)
		a->min = x;
	if (x > a->max)
		a->max = x;
	a->sum += x;
	a->sumsq += x * x;
	if (!s->hist_ready)
		stats_set_range(s, floor(x),
				s->integer ? 1.0 : fmax(fabs(x), 1.0) / 1024.0);
	b = (x - s->lo) * s->inv_width;
	if (!(b >= 0 && b < STATS_BINS)) {
		stats_widen(s, x);
		b = (x - s->lo) * s->inv_width;
	}
	/* Rounding at a bin edge can land one past either end. */
	bin = b < 0 ? 0 : b >= STATS_BINS ? STATS_BINS - 1 : (int)b;
	s->fhist[bin]++;
}

/* One loop per element type: the conversion to double is the only
 * difference, and keeping it out of a per-element switch lets the
 * compiler unroll the common cases. */
#define STATS_SCAN(suffix, T)                                              \
	static void                                                        \
	stats_scan_##suffix(struct stats *s, const void *data, uint64_t count) \
	{                                                                  \
		const T *p = data;                                         \
		uint32_t ch = 0;                                           \
		uint64_t i;                                                \
                                                                           \
		for (i = 0; i < count; i++) {                              \
			stats_add(s, ch, (double)p[i]);                    \
			if (++ch == s->channels)                           \
				ch = 0;                                    \
		}                                                          \
	}

STATS_SCAN(u8, uint8_t)
STATS_SCAN(i8, int8_t)
STATS_SCAN(u16, uint16_t)
STATS_SCAN(i16, int16_t)
STATS_SCAN(u32, uint32_t)
STATS_SCAN(i32, int32_t)
STATS_SCAN(u64, uint64_t)
STATS_SCAN(i64, int64_t)
STATS_SCAN(f32, float)
STATS_SCAN(f64, double)

static void
stats_scan(struct stats *s, const void *data, uint64_t count)
{
	switch (s->scan_elem) {
	case RB_ELEM_U8: stats_scan_u8(s, data, count); break;
	case RB_ELEM_I8: stats_scan_i8(s, data, count); break;
	case RB_ELEM_U16: stats_scan_u16(s, data, count); break;
	case RB_ELEM_I16: stats_scan_i16(s, data, count); break;
	case RB_ELEM_U32: stats_scan_u32(s, data, count); break;
	case RB_ELEM_I32: stats_scan_i32(s, data, count); break;
	case RB_ELEM_U64: stats_scan_u64(s, data, count); break;
	case RB_ELEM_I64: stats_scan_i64(s, data, count); break;
	case RB_ELEM_F32: stats_scan_f32(s, data, count); break;
	case RB_ELEM_F64: stats_scan_f64(s, data, count); break;
	default: break;
	}
}

static int
stats_init(void *state, const struct consumer_options *o)
{
	struct stats *s = state;

	s->lossy = o->lossy;
	s->per_frame = o->per_frame;
	s->json = o->json;
	s->batch = o->batch;
	return 0;
}

static void
stats_stream(void *state, const struct stream_info *si)
{
	struct stats *s = state;
	uint32_t c;

	/* The layout of the first stream holds for the run: the figures of
	 * two differently shaped streams could not be added up anyway. */
	if (s->ready)
		return;
	s->type = si->type;
	s->type_from = si->type_from;
	s->channels = si->channels ? si->channels : 1;
	s->scan_elem = si->type.elem;
	s->per_element = 1;
	if (s->scan_elem == RB_ELEM_C64 || s->scan_elem == RB_ELEM_C128) {
		s->scan_elem = s->scan_elem == RB_ELEM_C64 ? RB_ELEM_F32 : RB_ELEM_F64;
		s->per_element = 2;
	}
	s->integer = s->scan_elem != RB_ELEM_F32 && s->scan_elem != RB_ELEM_F64;
	s->pend_hist = calloc(s->batch, sizeof(*s->pend_hist));
	s->pend_nonfinite = calloc(s->batch, sizeof(*s->pend_nonfinite));
	s->pend_ok = calloc(s->batch, sizeof(*s->pend_ok));
	if (s->pend_hist == NULL || s->pend_nonfinite == NULL || s->pend_ok == NULL)
		return;
	s->chan = calloc(s->channels, sizeof(*s->chan));
	s->pend_chan = calloc((size_t)s->batch * s->channels, sizeof(*s->pend_chan));
	if (s->chan == NULL || s->pend_chan == NULL) {
		/* Fall back to one channel rather than fail the run. */
		free(s->chan);
		free(s->pend_chan);
		s->channels = 1;
		s->chan = calloc(1, sizeof(*s->chan));
		s->pend_chan = calloc(s->batch, sizeof(*s->pend_chan));
		if (s->chan == NULL || s->pend_chan == NULL)
			return;
	}
	for (c = 0; c < s->channels; c++)
		stats_acc_reset(&s->chan[c]);
	stats_acc_reset(&s->last);
	switch (s->scan_elem) {
	case RB_ELEM_U8: stats_set_range(s, 0, 16); break;
	case RB_ELEM_I8: stats_set_range(s, -128, 16); break;
	case RB_ELEM_U16: stats_set_range(s, 0, 4096); break;
	case RB_ELEM_I16: stats_set_range(s, -32768, 4096); break;
	default: break; /* from the first value */
	}
	s->ready = true;
}

/* Elements (scalars) of a frame: what its length holds, at most its type. */
static uint64_t
stats_count(const struct stats *s, const struct rb_frame *f)
{
	uint64_t total = s->per_element, i;

	for (i = 0; i < s->type.ndim; i++)
		total *= s->type.dims[i];
	return f->length / rb_elem_size(s->scan_elem) < total
		       ? f->length / rb_elem_size(s->scan_elem)
		       : total;
}

static void
stats_json_figures(struct cli_json *j, const struct stats_acc *a)
{
	cli_json_u64(j, "values", a->n);
	cli_json_double(j, "min", a->min);
	cli_json_double(j, "max", a->max);
	cli_json_double(j, "mean", stats_mean(a));
	cli_json_double(j, "rms", stats_rms(a));
}

/* UTC of a frame's time stamp, ISO 8601 with ns ("" without an anchor or a
 * stamp); the ring's clock anchor converts it (FORMAT.md §5.22). */
static bool
stats_utc(const struct stats *s, const struct rb_frame *f, int64_t *ns,
	  char *buf, size_t size)
{
	struct tm tm;
	time_t sec;
	char date[32];

	buf[0] = '\0';
	if (s->ring == NULL || rb_ring_utc_ns(s->ring, f->timestamp_ns, ns) != 0 ||
	    *ns < 0)
		return false;
	sec = (time_t)(*ns / 1000000000);
	gmtime_r(&sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf, size, "%s.%09lldZ", date, (long long)(*ns % 1000000000));
	return true;
}

/* Adds pending frame k (frame f) to the run's figures. */
static void
stats_commit_frame(struct stats *s, uint32_t k, const struct rb_frame *f)
{
	const struct stats_frame_acc *fchan = &s->pend_chan[(size_t)k * s->channels];
	struct stats_acc frame;
	uint32_t c;
	int i;

	stats_acc_reset(&frame);
	for (c = 0; c < s->channels; c++) {
		stats_acc_add(&s->chan[c], &fchan[c]);
		stats_acc_add(&frame, &fchan[c]);
	}
	for (i = 0; i < STATS_BINS; i++)
		s->hist[i] += s->pend_hist[k][i];
	s->nonfinite += s->pend_nonfinite[k];
	s->frames++;
	s->last = frame;
	s->last_seq = f->seq;
	s->have_last = true;
	if (s->per_frame) {
		char utc[48];
		int64_t utc_ns = 0;
		bool have_utc = stats_utc(s, f, &utc_ns, utc, sizeof(utc));

		if (s->json) {
			struct cli_json j;

			/* JSON Lines: one object per frame, then the summary's. */
			cli_json_begin(&j, stdout);
			cli_json_u64(&j, "seq", f->seq);
			cli_json_u64(&j, "timestamp_ns", f->timestamp_ns);
			if (have_utc) {
				cli_json_u64(&j, "utc_ns", (uint64_t)utc_ns);
				cli_json_string(&j, "utc", utc);
			} else {
				cli_json_null(&j, "utc_ns");
				cli_json_null(&j, "utc");
			}
			cli_json_u64(&j, "dropped_before", f->dropped);
			stats_json_figures(&j, &frame);
			cli_json_end(&j);
		} else {
			printf("seq=%" PRIu64 " utc=%s values=%" PRIu64 " min=%.10g "
			       "max=%.10g mean=%.10g rms=%.10g\n",
			       f->seq, have_utc ? utc : "-", frame.n, frame.min,
			       frame.max, stats_mean(&frame), stats_rms(&frame));
		}
	}
}

static int
stats_frames(void *state, struct rb_consumer *c, const struct rb_frame *frames,
	     uint32_t n)
{
	struct stats *s = state;
	uint32_t i;

	s->npend = 0;
	if (!s->ready || s->pend_chan == NULL || s->pend_ok == NULL)
		return 0;
	for (i = 0; i < n && i < s->batch; i++) {
		s->npend = i;
		s->pend_ok[i] = false;
		if (frame_abandoned(&frames[i]))
			continue; /* an empty placeholder: no values */
		stats_frame_reset(s, i);
		stats_scan(s, frames[i].data, stats_count(s, &frames[i]));
		/* Overwritten while we read it: its figures are garbage. */
		s->pend_ok[i] = !s->lossy || rb_consumer_check(c, &frames[i]) == 0;
	}
	s->npend = i;
	return 0;
}

static int
stats_released(void *state, const struct rb_frame *frames, uint32_t n, const bool *lost)
{
	struct stats *s = state;
	uint32_t i;

	for (i = 0; i < n && i < s->npend; i++)
		if (s->pend_ok[i] && (lost == NULL || !lost[i]))
			stats_commit_frame(s, i, &frames[i]);
	s->npend = 0;
	if (s->per_frame)
		fflush(stdout);
	return 0;
}

static void
stats_total(const struct stats *s, struct stats_acc *all)
{
	uint32_t c;

	stats_acc_reset(all);
	for (c = 0; s->chan != NULL && c < s->channels; c++)
		stats_acc_merge(all, &s->chan[c]);
}

static void
stats_summary(void *state, FILE *out)
{
	struct stats *s = state;
	struct stats_acc all;
	char shape[128];
	uint32_t c;
	int i;

	if (!s->ready) {
		fprintf(out, "  stats: no frames\n");
		return;
	}
	stats_total(s, &all);
	cli_format_shape(shape, sizeof(shape), s->type.dims, s->type.ndim);
	fprintf(out, "  stats: %s [%s] (type from the %s), %" PRIu64 " values: "
		"min %.10g max %.10g mean %.6g rms %.6g\n",
		rb_elem_name(s->type.elem), shape, s->type_from, all.n, all.min,
		all.max, stats_mean(&all), stats_rms(&all));
	if (s->hist_ready) {
		fprintf(out, "  histogram [%.6g, %.6g) in %d bins of %.6g:", s->lo,
			s->lo + STATS_BINS * s->width, STATS_BINS, s->width);
		for (i = 0; i < STATS_BINS; i++)
			fprintf(out, " %" PRIu64, s->hist[i]);
		fputc('\n', out);
	}
	if (s->nonfinite)
		fprintf(out, "  %" PRIu64 " NaN or infinite values left out\n", s->nonfinite);
	for (c = 0; s->channels > 1 && c < s->channels; c++)
		fprintf(out, "  channel %" PRIu32 ": min %.10g max %.10g mean %.6g rms %.6g\n",
			c, s->chan[c].min, s->chan[c].max, stats_mean(&s->chan[c]),
			stats_rms(&s->chan[c]));
}

static void
stats_json(void *state, struct cli_json *j)
{
	struct stats *s = state;
	struct stats_acc all;
	uint32_t c, d;
	int i;

	cli_json_object(j, "stats");
	if (!s->ready) {
		cli_json_u64(j, "values", 0);
		cli_json_object_end(j);
		return;
	}
	stats_total(s, &all);
	cli_json_string(j, "elem", rb_elem_name(s->type.elem));
	cli_json_array(j, "shape");
	for (d = 0; d < s->type.ndim; d++)
		cli_json_u64(j, NULL, s->type.dims[d]);
	cli_json_array_end(j);
	cli_json_string(j, "type_from", s->type_from);
	cli_json_u64(j, "frames", s->frames);
	stats_json_figures(j, &all);
	cli_json_u64(j, "nonfinite", s->nonfinite);
	cli_json_object(j, "histogram");
	cli_json_double(j, "lo", s->hist_ready ? s->lo : NAN);
	cli_json_double(j, "width", s->hist_ready ? s->width : NAN);
	cli_json_array(j, "counts");
	for (i = 0; i < STATS_BINS; i++)
		cli_json_u64(j, NULL, s->hist[i]);
	cli_json_array_end(j);
	cli_json_object_end(j);
	cli_json_u64(j, "channel_count", s->channels);
	cli_json_array(j, "channels");
	for (c = 0; s->channels > 1 && c < s->channels; c++) {
		cli_json_object(j, NULL);
		stats_json_figures(j, &s->chan[c]);
		cli_json_object_end(j);
	}
	cli_json_array_end(j);
	if (s->have_last) {
		cli_json_object(j, "last_frame");
		cli_json_u64(j, "seq", s->last_seq);
		stats_json_figures(j, &s->last);
		cli_json_object_end(j);
	}
	cli_json_object_end(j);
}

static void
stats_fini(void *state)
{
	struct stats *s = state;

	free(s->chan);
	free(s->pend_chan);
	free(s->pend_hist);
	free(s->pend_nonfinite);
	free(s->pend_ok);
}

static int
stats_ring(void *state, struct rb_ring *ring)
{
	((struct stats *)state)->ring = ring;
	return 0;
}

const struct analysis analysis_stats = {
	.name = "stats",
	.state_size = sizeof(struct stats),
	.init = stats_init,
	.ring = stats_ring,
	.stream = stats_stream,
	.frames = stats_frames,
	.released = stats_released,
	.summary = stats_summary,
	.json = stats_json,
	.fini = stats_fini,
};
