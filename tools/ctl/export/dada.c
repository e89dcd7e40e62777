/*
 * Export to PSRDADA files: per stream, an ASCII header of HDR_SIZE bytes
 * (4096 unless the stream header needs more), then the frames' bytes in
 * order, each frame row_bytes long (a shorter one zero-padded, so that a
 * byte's offset stays proportional to its time).
 *
 * The header is PSRDADA's convention: one "KEY value" per line, keys
 * upper case, the text NUL-padded to HDR_SIZE. The keys and where each
 * value comes from are in docs/RECORDING.md, "Export". The header's
 * counts are known only at the end: a placeholder of HDR_SIZE zero bytes
 * is written first and the header over it when the stream ends.
 *
 * One stream: OUT is the .dada file. Several: OUT is a directory made for
 * them, holding stream0.dada, stream1.dada, ...
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "export.h"

#define DADA_HDR_MIN 4096u
/* Room kept in HDR_SIZE for the counts written at the end. */
#define DADA_HDR_SLACK 512u
/* Frames smaller than this are gathered before a write. */
#define DADA_BUF_BYTES (4u << 20)

struct export_writer {
	char out[4096];
	bool dir, force;
	unsigned nstreams;
	char path[4096 + 32];
	int fd;
	uint64_t hdr_size, data_bytes, row_bytes;
	uint8_t *buf;
	uint64_t buf_n;
	unsigned index;
	char why[EXPORT_WHY_MAX]; /* a flush failed in dada_slot */
};

static int
dada_open(struct export_writer **out, const char *path, unsigned nstreams,
	  const struct export_options *o, char *why, size_t size)
{
	struct export_writer *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	snprintf(w->out, sizeof(w->out), "%s", path);
	w->dir = nstreams > 1;
	w->force = o->force;
	w->nstreams = nstreams;
	w->fd = -1;
	w->buf = malloc(DADA_BUF_BYTES);
	if (w->buf == NULL) {
		free(w);
		return -ENOMEM;
	}
	if (w->dir && mkdir(path, 0777) != 0) {
		struct stat st;
		int e = errno;

		if (!(e == EEXIST && o->force && stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
			snprintf(why, size, "cannot make the directory for %u streams: %s",
				 nstreams, strerror(e));
			free(w->buf);
			free(w);
			return -e;
		}
	}
	*out = w;
	return 0;
}

/* Appends "KEY value\n" to the header text; a line that does not fit
 * whole is left out (HDR_SIZE is sized so that none is). */
static void CLI_PRINTF(4, 5)
dada_key(char *h, size_t size, const char *key, const char *fmt, ...)
{
	size_t used = strlen(h), start = used;
	va_list ap;
	int n;

	n = snprintf(h + used, size - used, "%-16s ", key);
	if (n < 0 || (size_t)n >= size - used) {
		h[start] = '\0';
		return;
	}
	used += (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(h + used, size - used, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n + 1 >= size - used) {
		h[start] = '\0';
		return;
	}
	strcat(h + used, "\n");
}

struct dada_text {
	char *h;
	size_t size;
};

/* A stream header line as RB_<KEY> (upper case, [A-Z0-9_] only): prefixed
 * so that source=counter is not PSRDADA's SOURCE (the observed object). */
static int
dada_header_key(void *arg, const char *key, const char *value)
{
	struct dada_text *t = arg;
	char name[300], probe[304];
	size_t i;

	if (value[0] == '\0')
		return 0; /* PSRDADA has no empty value */
	snprintf(name, sizeof(name), "RB_%s", key);
	for (i = 3; name[i] != '\0'; i++)
		name[i] = isalnum((unsigned char)name[i]) ? (char)toupper((unsigned char)name[i])
							  : '_';
	/* A repeated key keeps its first value, as the programs read it. */
	snprintf(probe, sizeof(probe), "\n%s ", name);
	if (strstr(t->h, probe) != NULL)
		return 0;
	dada_key(t->h, t->size, name, "%s", value);
	return 0;
}

/* The frame type's layout as PSRDADA sees it; false: it implies none. */
static bool
dada_layout(const struct export_source *s, unsigned *nchan)
{
	char value[32];

	if (s->type.elem == RB_ELEM_NONE)
		return false;
	if (s->type.ndim == 1) {
		*nchan = 1;
		return true;
	}
	/* The adc source's (samples, channels): time-major, channels fastest
	 * (PSRDADA's "TF" order), when the header says channels=dims[1]. */
	if (s->type.ndim == 2 && cli_header_get(s->text, "channels", value, sizeof(value)) &&
	    strtoull(value, NULL, 10) == s->type.dims[1]) {
		*nchan = (unsigned)s->type.dims[1];
		return true;
	}
	return false;
}

/* The header text for `s` (NUL-terminated, at most size - 1 bytes). */
static void
dada_header_text(char *h, size_t size, uint64_t hdr_size, const struct export_source *s,
		 uint64_t data_bytes)
{
	bool complex = s->type.elem == RB_ELEM_C64 || s->type.elem == RB_ELEM_C128;
	unsigned ndim = complex ? 2 : 1, nchan;
	struct dada_text t = {h, size};
	char utc[64];
	double hz;

	h[0] = '\0';
	dada_key(h, size, "HDR_VERSION", "1.0");
	dada_key(h, size, "HDR_SIZE", "%" PRIu64, hdr_size);
	dada_key(h, size, "NBIT", "%zu", export_elem_bytes(s) * 8 / ndim);
	dada_key(h, size, "NDIM", "%u", ndim);
	if (dada_layout(s, &nchan)) {
		dada_key(h, size, "NCHAN", "%u", nchan);
		dada_key(h, size, "NPOL", "1");
	}
	if (export_sample_rate(s, &hz)) {
		dada_key(h, size, "TSAMP", "%.12g", 1e6 / hz);
		/* Real samples cover half their rate (Nyquist), complex
		 * ones all of it. */
		dada_key(h, size, "BW", "%.12g", (complex ? hz : hz / 2) / 1e6);
	}
	if (s->utc.start_known) {
		time_t sec = (time_t)(s->utc.start_ns / 1000000000);
		struct tm tm;

		gmtime_r(&sec, &tm);
		strftime(utc, sizeof(utc), "%Y-%m-%d-%H:%M:%S", &tm);
		dada_key(h, size, "UTC_START", "%s", utc);
		export_format_utc(utc, sizeof(utc), s->utc.start_ns);
		dada_key(h, size, "RB_UTC_START", "%s", utc);
	}
	dada_key(h, size, "OBS_OFFSET", "%" PRIu64,
		 s->frames && s->first_seq > s->stream_start_seq
			 ? (s->first_seq - s->stream_start_seq) * s->row_bytes : 0);
	dada_key(h, size, "FILE_SIZE", "%" PRIu64, data_bytes);
	dada_key(h, size, "RB_TYPE", "%s",
		 s->type.elem != RB_ELEM_NONE ? rb_elem_name(s->type.elem) : "bytes");
	dada_key(h, size, "RB_ROW_BYTES", "%" PRIu64, s->row_bytes);
	dada_key(h, size, "RB_FRAMES", "%" PRIu64, s->frames);
	dada_key(h, size, "RB_FIRST_SEQ", "%" PRIu64, s->first_seq);
	dada_key(h, size, "RB_LAST_SEQ", "%" PRIu64, s->last_seq);
	dada_key(h, size, "RB_INCOMPLETE_FRAMES", "%" PRIu64, s->incomplete);
	dada_key(h, size, "RB_ABANDONED_FRAMES", "%" PRIu64, s->abandoned);
	dada_key(h, size, "RB_SHORT_FRAMES", "%" PRIu64, s->short_frames);
	dada_key(h, size, "RB_SEQ_GAPS", "%" PRIu64, s->seq_gaps);
	dada_key(h, size, "RB_DISCARDED", "%" PRIu64, s->discarded);
	dada_key(h, size, "RB_COMPLETE", "%d", s->complete ? 1 : 0);
	export_header_each(s->text, dada_header_key, &t);
}

static int
dada_write_all(int fd, const void *data, uint64_t n, off_t off, bool at)
{
	const uint8_t *p = data;

	while (n > 0) {
		ssize_t w = at ? pwrite(fd, p, n, off) : write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		p += w;
		n -= (uint64_t)w;
		off += w;
	}
	return 0;
}

static int
dada_begin(struct export_writer *w, unsigned index, const struct export_source *s, char *why,
	   size_t size)
{
	/* Room for every line: a stream header line of n bytes ("k=v")
	 * becomes at most 3 + 16 + 1 + n + 1 (RB_, the padding, space,
	 * newline), at most 11n for n >= 2; the keys of our own are less
	 * than 64 KiB. */
	size_t room = 11 * strlen(s->text) + 65536;
	char *h = calloc(1, room);
	int rc;

	if (h == NULL)
		return -ENOMEM;
	w->index = index;
	if (w->dir)
		snprintf(w->path, sizeof(w->path), "%s/stream%u.dada", w->out, index);
	else
		snprintf(w->path, sizeof(w->path), "%s", w->out);
	/* HDR_SIZE: 4096, or the power of two above a longer header (the
	 * convention of PSRDADA's readers that resize it). */
	dada_header_text(h, room, 0, s, 0);
	for (w->hdr_size = DADA_HDR_MIN; w->hdr_size < strlen(h) + DADA_HDR_SLACK;)
		w->hdr_size *= 2;
	free(h);
	w->fd = open(w->path, O_WRONLY | O_CREAT | O_CLOEXEC | (w->force ? O_TRUNC : O_EXCL), 0666);
	if (w->fd < 0) {
		rc = -errno;
		snprintf(why, size, "%s: %s", w->path, strerror(errno));
		return rc;
	}
	w->data_bytes = w->buf_n = 0;
	w->row_bytes = s->row_bytes;
	h = calloc(1, w->hdr_size);
	if (h == NULL)
		return -ENOMEM;
	rc = dada_write_all(w->fd, h, w->hdr_size, 0, false);
	free(h);
	if (rc != 0)
		snprintf(why, size, "%s: %s", w->path, strerror(-rc));
	return rc;
}

static int
dada_flush(struct export_writer *w, char *why, size_t size)
{
	int rc = dada_write_all(w->fd, w->buf, w->buf_n, 0, false);

	if (rc != 0)
		snprintf(why, size, "%s: %s", w->path, strerror(-rc));
	w->buf_n = 0;
	return rc;
}

/* Small frames are read straight into the gathering buffer (flushed
 * first when full); large ones are written from where they were read. */
static uint8_t *
dada_slot(struct export_writer *w)
{
	if (w->row_bytes >= DADA_BUF_BYTES / 4)
		return NULL;
	if (w->buf_n + w->row_bytes > DADA_BUF_BYTES && dada_flush(w, w->why, sizeof(w->why)) != 0)
		return NULL;
	return w->buf + w->buf_n;
}

static int
dada_frame(struct export_writer *w, const struct export_frame *f, char *why, size_t size)
{
	int rc;

	/* Large frames go out as they are; small ones are gathered. */
	if (w->row_bytes >= DADA_BUF_BYTES / 4) {
		if ((rc = dada_flush(w, why, size)) != 0)
			return rc;
		rc = dada_write_all(w->fd, f->row, w->row_bytes, 0, false);
		if (rc != 0)
			snprintf(why, size, "%s: %s", w->path, strerror(-rc));
	} else {
		/* A flush in dada_slot may have failed: say so now. */
		if (w->why[0] != '\0') {
			snprintf(why, size, "%s", w->why);
			return -EIO;
		}
		if (w->buf_n + w->row_bytes > DADA_BUF_BYTES && (rc = dada_flush(w, why, size)) != 0)
			return rc;
		if (f->row != w->buf + w->buf_n)
			memcpy(w->buf + w->buf_n, f->row, w->row_bytes);
		w->buf_n += w->row_bytes;
		rc = 0;
	}
	if (rc == 0)
		w->data_bytes += w->row_bytes;
	return rc;
}

static int
dada_end(struct export_writer *w, const struct export_source *s, char *why, size_t size)
{
	char *h;
	int rc;

	if ((rc = dada_flush(w, why, size)) != 0)
		return rc;
	h = calloc(1, w->hdr_size);
	if (h == NULL)
		return -ENOMEM;
	dada_header_text(h, w->hdr_size, w->hdr_size, s, w->data_bytes);
	rc = dada_write_all(w->fd, h, w->hdr_size, 0, true);
	free(h);
	if (rc == 0 && close(w->fd) != 0)
		rc = -errno;
	else if (rc != 0)
		close(w->fd);
	w->fd = -1;
	if (rc != 0)
		snprintf(why, size, "%s: %s", w->path, strerror(-rc));
	return rc;
}

static int
dada_close(struct export_writer *w, char *why, size_t size)
{
	(void)why;
	(void)size;
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	free(w);
	return 0;
}

static const char *
dada_path(const struct export_writer *w, unsigned index)
{
	(void)index;
	return w->path;
}

const struct export_format export_dada = {
	.name = "dada",
	.open = dada_open,
	.begin = dada_begin,
	.slot = dada_slot,
	.frame = dada_frame,
	.end = dada_end,
	.close = dada_close,
	.path = dada_path,
};
