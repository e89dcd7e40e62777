/*
 * Export to HDF5 through libhdf5's C API (Debian's libhdf5-dev).
 *
 * One file; per stream a group "streamN" holding
 *   frames       (n, *shape) in the ring's element type, chunked, extended
 *                as frames come (untyped rings: (n, frame_bytes) uint8;
 *                complex types as the compound {r, i} numpy reads as complex)
 *   descriptors  (n,) compound {seq u64, timestamp u64, utc i64, length u64,
 *                flags u32}
 * and as attributes the stream header's key=value lines (strings) and
 * rb_* figures of the export (docs/RECORDING.md, "Export").
 *
 * Memory is bounded: frames are gathered into one chunk's buffer
 * (HDF5_CHUNK_BYTES, at least one frame) and written a whole chunk at a
 * time, straight to the file (the dataset has no chunk cache);
 * descriptors go out HDF5_DESC_CHUNK at a time.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hdf5.h>

#include "export.h"

/* Rows per chunk: as many frames as fit in 1 MiB, at least one (HDF5
 * allocates whole chunks: the last one costs up to this much). */
#define HDF5_CHUNK_BYTES (1ull << 20)
#define HDF5_DESC_CHUNK 4096u

struct hdf5_desc {
	uint64_t seq;
	uint64_t timestamp;
	int64_t utc;
	uint64_t length;
	uint32_t flags;
};

struct export_writer {
	hid_t file;
	char path[4096];
	int compress;
	/* the stream being written */
	hid_t group, frames, descs, elem_type, desc_mem, desc_file;
	int rank;
	hsize_t dims[1 + RB_MAX_DIMS];
	uint64_t row_bytes, chunk_rows, rows, written;     /* rows in buffer, on file */
	uint8_t *chunk;
	struct hdf5_desc *desc;
	uint64_t desc_n, desc_written;
};

/* The deepest message of HDF5's error stack (the one that says why). */
static herr_t
hdf5_error_walk(unsigned n, const H5E_error2_t *err, void *arg)
{
	(void)n;
	snprintf(arg, EXPORT_WHY_MAX, "%s", err->desc ? err->desc : "unknown error");
	return 0;
}

static int
hdf5_fail(char *why, size_t size, const char *what)
{
	char deep[EXPORT_WHY_MAX] = "";

	H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, hdf5_error_walk, deep);
	H5Eclear2(H5E_DEFAULT);
	snprintf(why, size, "HDF5: %s%s%s", what, deep[0] ? ": " : "", deep);
	return -EIO;
}

static int
hdf5_open(struct export_writer **out, const char *path, unsigned nstreams,
	  const struct export_options *o, char *why, size_t size)
{
	struct export_writer *w = calloc(1, sizeof(*w));

	(void)nstreams;
	if (w == NULL)
		return -ENOMEM;
	/* The library's own report goes to stderr unless told: we say one
	 * line of our own with its deepest message instead. */
	H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
	if (o->compress > 0 && !H5Zfilter_avail(H5Z_FILTER_DEFLATE)) {
		free(w);
		snprintf(why, size, "--compress: this HDF5 library has no gzip (deflate) filter");
		return -ENOTSUP;
	}
	snprintf(w->path, sizeof(w->path), "%s", path);
	w->compress = o->compress;
	w->group = w->frames = w->descs = w->elem_type = w->desc_mem = w->desc_file = -1;
	w->file = H5Fcreate(path, o->force ? H5F_ACC_TRUNC : H5F_ACC_EXCL, H5P_DEFAULT,
			    H5P_DEFAULT);
	if (w->file < 0) {
		free(w);
		return hdf5_fail(why, size, "cannot create the file");
	}
	*out = w;
	return 0;
}

/* The file type of the ring's elements: little-endian as the ring's are
 * (x86-64 only); complex as {r, i}, the field names numpy and h5py take
 * for complex. */
static hid_t
hdf5_elem_type(uint32_t elem)
{
	hid_t part, t;

	switch (elem) {
	case RB_ELEM_U8: return H5Tcopy(H5T_STD_U8LE);
	case RB_ELEM_U16: return H5Tcopy(H5T_STD_U16LE);
	case RB_ELEM_U32: return H5Tcopy(H5T_STD_U32LE);
	case RB_ELEM_U64: return H5Tcopy(H5T_STD_U64LE);
	case RB_ELEM_I8: return H5Tcopy(H5T_STD_I8LE);
	case RB_ELEM_I16: return H5Tcopy(H5T_STD_I16LE);
	case RB_ELEM_I32: return H5Tcopy(H5T_STD_I32LE);
	case RB_ELEM_I64: return H5Tcopy(H5T_STD_I64LE);
	case RB_ELEM_F32: return H5Tcopy(H5T_IEEE_F32LE);
	case RB_ELEM_F64: return H5Tcopy(H5T_IEEE_F64LE);
	case RB_ELEM_C64:
	case RB_ELEM_C128:
		part = elem == RB_ELEM_C64 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
		t = H5Tcreate(H5T_COMPOUND, 2 * H5Tget_size(part));
		if (t >= 0) {
			H5Tinsert(t, "r", 0, part);
			H5Tinsert(t, "i", H5Tget_size(part), part);
		}
		return t;
	default: /* untyped bytes */
		return H5Tcopy(H5T_STD_U8LE);
	}
}

/* A string attribute (variable-length UTF-8: h5py reads it as str). */
static int
hdf5_attr_string(hid_t obj, const char *name, const char *value)
{
	hid_t t = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), a = -1;
	herr_t rc = -1;

	if (t >= 0 && space >= 0 && H5Tset_size(t, H5T_VARIABLE) >= 0 &&
	    H5Tset_cset(t, H5T_CSET_UTF8) >= 0 &&
	    (a = H5Acreate2(obj, name, t, space, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
		rc = H5Awrite(a, t, &value);
	if (a >= 0)
		H5Aclose(a);
	if (space >= 0)
		H5Sclose(space);
	if (t >= 0)
		H5Tclose(t);
	return rc < 0 ? -1 : 0;
}

static int
hdf5_attr_scalar(hid_t obj, const char *name, hid_t type, const void *value)
{
	hid_t space = H5Screate(H5S_SCALAR), a = -1;
	herr_t rc = -1;

	if (space >= 0 && (a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT)) >= 0)
		rc = H5Awrite(a, type, value);
	if (a >= 0)
		H5Aclose(a);
	if (space >= 0)
		H5Sclose(space);
	return rc < 0 ? -1 : 0;
}

static int
hdf5_attr_u64(hid_t obj, const char *name, uint64_t v)
{
	return hdf5_attr_scalar(obj, name, H5T_NATIVE_UINT64, &v);
}

/* A stream header line as an attribute. rb_* names are the export's own,
 * and a name HDF5 refuses is left out (the line is still in
 * rb_stream_header); a repeated key keeps its first value, as the
 * programs read it (cli_header_get). */
static int
hdf5_header_attr(void *arg, const char *key, const char *value)
{
	hid_t group = *(hid_t *)arg;

	if (strncmp(key, "rb_", 3) == 0 || H5Aexists(group, key) != 0)
		return 0;
	if (hdf5_attr_string(group, key, value) != 0)
		H5Eclear2(H5E_DEFAULT);
	return 0;
}

static int
hdf5_make_descriptors(struct export_writer *w, hid_t lcpl)
{
	hsize_t zero = 0, unlimited = H5S_UNLIMITED, chunk = HDF5_DESC_CHUNK;
	hid_t space, dcpl;

	w->desc_mem = H5Tcreate(H5T_COMPOUND, sizeof(struct hdf5_desc));
	if (w->desc_mem < 0)
		return -1;
	H5Tinsert(w->desc_mem, "seq", HOFFSET(struct hdf5_desc, seq), H5T_NATIVE_UINT64);
	H5Tinsert(w->desc_mem, "timestamp", HOFFSET(struct hdf5_desc, timestamp),
		  H5T_NATIVE_UINT64);
	H5Tinsert(w->desc_mem, "utc", HOFFSET(struct hdf5_desc, utc), H5T_NATIVE_INT64);
	H5Tinsert(w->desc_mem, "length", HOFFSET(struct hdf5_desc, length), H5T_NATIVE_UINT64);
	H5Tinsert(w->desc_mem, "flags", HOFFSET(struct hdf5_desc, flags), H5T_NATIVE_UINT32);
	/* On file without the struct's tail padding. */
	w->desc_file = H5Tcopy(w->desc_mem);
	if (w->desc_file < 0 || H5Tpack(w->desc_file) < 0)
		return -1;
	space = H5Screate_simple(1, &zero, &unlimited);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, 1, &chunk) >= 0 &&
	    (w->compress == 0 || H5Pset_deflate(dcpl, (unsigned)w->compress) >= 0))
		w->descs = H5Dcreate2(w->group, "descriptors", w->desc_file, space, lcpl, dcpl,
				      H5P_DEFAULT);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	return w->descs < 0 ? -1 : 0;
}

static int
hdf5_make_frames(struct export_writer *w, const struct export_source *s, hid_t lcpl)
{
	hsize_t maxdims[1 + RB_MAX_DIMS], chunk[1 + RB_MAX_DIMS];
	hid_t space, dcpl, dapl;
	int i;

	w->row_bytes = s->row_bytes;
	w->chunk_rows = HDF5_CHUNK_BYTES / w->row_bytes ? HDF5_CHUNK_BYTES / w->row_bytes : 1;
	w->dims[0] = 0;
	if (s->type.elem != RB_ELEM_NONE) {
		w->rank = 1 + (int)s->type.ndim;
		for (i = 1; i < w->rank; i++)
			w->dims[i] = s->type.dims[i - 1];
	} else {
		w->rank = 2;
		w->dims[1] = s->frame_bytes;
	}
	for (i = 0; i < w->rank; i++) {
		maxdims[i] = i == 0 ? H5S_UNLIMITED : w->dims[i];
		chunk[i] = i == 0 ? w->chunk_rows : w->dims[i];
	}
	w->chunk = malloc(w->chunk_rows * w->row_bytes);
	w->desc = malloc(HDF5_DESC_CHUNK * sizeof(*w->desc));
	if (w->chunk == NULL || w->desc == NULL)
		return -ENOMEM;
	w->elem_type = hdf5_elem_type(s->type.elem);
	space = H5Screate_simple(w->rank, w->dims, maxdims);
	dcpl = H5Pcreate(H5P_DATASET_CREATE);
	/* No chunk cache: every write is whole chunks, which go straight
	 * to the file (through the filter), not through a cache copy. */
	dapl = H5Pcreate(H5P_DATASET_ACCESS);
	if (w->elem_type >= 0 && space >= 0 && dcpl >= 0 && dapl >= 0 &&
	    H5Pset_chunk(dcpl, w->rank, chunk) >= 0 &&
	    H5Pset_chunk_cache(dapl, 0, 0, H5D_CHUNK_CACHE_W0_DEFAULT) >= 0 &&
	    (w->compress == 0 || H5Pset_deflate(dcpl, (unsigned)w->compress) >= 0))
		w->frames = H5Dcreate2(w->group, "frames", w->elem_type, space, lcpl, dcpl, dapl);
	if (dapl >= 0)
		H5Pclose(dapl);
	if (dcpl >= 0)
		H5Pclose(dcpl);
	if (space >= 0)
		H5Sclose(space);
	return w->frames < 0 ? -1 : 0;
}

static int
hdf5_begin(struct export_writer *w, unsigned index, const struct export_source *s, char *why,
	   size_t size)
{
	char name[32];
	hid_t lcpl;
	int rc;

	snprintf(name, sizeof(name), "stream%u", index);
	w->group = H5Gcreate2(w->file, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
	if (w->group < 0)
		return hdf5_fail(why, size, "cannot create the stream's group");
	w->rows = w->written = w->desc_n = w->desc_written = 0;
	lcpl = H5P_DEFAULT;
	rc = hdf5_make_frames(w, s, lcpl);
	if (rc == -ENOMEM) {
		snprintf(why, size, "%" PRIu64 "-row chunk of %" PRIu64 "-byte frames: out of "
			 "memory", w->chunk_rows, w->row_bytes);
		return rc;
	}
	if (rc != 0)
		return hdf5_fail(why, size, "cannot create the frames dataset");
	if (hdf5_make_descriptors(w, lcpl) != 0)
		return hdf5_fail(why, size, "cannot create the descriptors dataset");
	if (export_header_each(s->text, hdf5_header_attr, &w->group) != 0 ||
	    hdf5_attr_string(w->group, "rb_stream_header", s->text) != 0 ||
	    hdf5_attr_string(w->group, "rb_recording", s->path) != 0 ||
	    hdf5_attr_string(w->group, "rb_elem", s->type.elem != RB_ELEM_NONE
					      ? rb_elem_name(s->type.elem) : "bytes") != 0 ||
	    hdf5_attr_u64(w->group, "rb_frame_bytes", s->frame_bytes) != 0 ||
	    hdf5_attr_u64(w->group, "rb_row_bytes", s->row_bytes) != 0 ||
	    hdf5_attr_u64(w->group, "rb_stream_start_seq", s->stream_start_seq) != 0)
		return hdf5_fail(why, size, "cannot write the stream header attributes");
	return 0;
}

/* Writes rows [written, written + n) of `data` (n rows, or n descriptors)
 * into `dset`, extending it first. */
static int
hdf5_append(hid_t dset, hid_t type, int rank, const hsize_t *dims, uint64_t at, uint64_t n,
	    const void *data)
{
	hsize_t size[1 + RB_MAX_DIMS], start[1 + RB_MAX_DIMS] = {0};
	hid_t fspace, mspace;
	herr_t rc = -1;
	int i;

	for (i = 0; i < rank; i++)
		size[i] = dims[i];
	size[0] = at + n;
	if (H5Dset_extent(dset, size) < 0)
		return -1;
	start[0] = at;
	size[0] = n;
	fspace = H5Dget_space(dset);
	mspace = H5Screate_simple(rank, size, NULL);
	if (fspace >= 0 && mspace >= 0 &&
	    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, size, NULL) >= 0)
		rc = H5Dwrite(dset, type, mspace, fspace, H5P_DEFAULT, data);
	if (mspace >= 0)
		H5Sclose(mspace);
	if (fspace >= 0)
		H5Sclose(fspace);
	return rc < 0 ? -1 : 0;
}

static int
hdf5_flush_rows(struct export_writer *w, char *why, size_t size)
{
	if (w->rows == 0)
		return 0;
	if (hdf5_append(w->frames, w->elem_type, w->rank, w->dims, w->written, w->rows,
			w->chunk) != 0)
		return hdf5_fail(why, size, "writing frames failed");
	w->written += w->rows;
	w->rows = 0;
	return 0;
}

static int
hdf5_flush_descs(struct export_writer *w, char *why, size_t size)
{
	hsize_t one = 0;

	if (w->desc_n == 0)
		return 0;
	if (hdf5_append(w->descs, w->desc_mem, 1, &one, w->desc_written, w->desc_n, w->desc) != 0)
		return hdf5_fail(why, size, "writing descriptors failed");
	w->desc_written += w->desc_n;
	w->desc_n = 0;
	return 0;
}

/* The next row of the chunk buffer: frames are read straight into it. */
static uint8_t *
hdf5_slot(struct export_writer *w)
{
	return w->chunk + w->rows * w->row_bytes;
}

static int
hdf5_frame(struct export_writer *w, const struct export_frame *f, char *why, size_t size)
{
	struct hdf5_desc *d = &w->desc[w->desc_n++];
	int rc;

	uint8_t *slot = w->chunk + w->rows * w->row_bytes;

	if (f->row != slot)
		memcpy(slot, f->row, w->row_bytes);
	d->seq = f->seq;
	d->timestamp = f->timestamp_ns;
	d->utc = f->utc_ns;
	d->length = f->length;
	d->flags = f->flags;
	if (++w->rows == w->chunk_rows && (rc = hdf5_flush_rows(w, why, size)) != 0)
		return rc;
	if (w->desc_n == HDF5_DESC_CHUNK && (rc = hdf5_flush_descs(w, why, size)) != 0)
		return rc;
	return 0;
}

/* Closes the stream's objects (after an error too). */
static void
hdf5_stream_close(struct export_writer *w)
{
	hid_t *ids[] = {&w->frames, &w->descs};
	unsigned i;

	for (i = 0; i < 2; i++)
		if (*ids[i] >= 0)
			H5Dclose(*ids[i]);
	if (w->elem_type >= 0)
		H5Tclose(w->elem_type);
	if (w->desc_mem >= 0)
		H5Tclose(w->desc_mem);
	if (w->desc_file >= 0)
		H5Tclose(w->desc_file);
	if (w->group >= 0)
		H5Gclose(w->group);
	w->group = w->frames = w->descs = w->elem_type = w->desc_mem = w->desc_file = -1;
	free(w->chunk);
	free(w->desc);
	w->chunk = NULL;
	w->desc = NULL;
}

static int
hdf5_end(struct export_writer *w, const struct export_source *s, char *why, size_t size)
{
	uint8_t complete = s->complete;
	char utc[64];
	int rc;

	if ((rc = hdf5_flush_rows(w, why, size)) != 0 || (rc = hdf5_flush_descs(w, why, size)) != 0)
		return rc;
	export_format_utc(utc, sizeof(utc), s->utc.start_ns);
	if (hdf5_attr_u64(w->group, "rb_frames", s->frames) != 0 ||
	    hdf5_attr_u64(w->group, "rb_incomplete_frames", s->incomplete) != 0 ||
	    hdf5_attr_u64(w->group, "rb_abandoned_frames", s->abandoned) != 0 ||
	    hdf5_attr_u64(w->group, "rb_discarded", s->discarded) != 0 ||
	    hdf5_attr_u64(w->group, "rb_seq_gaps", s->seq_gaps) != 0 ||
	    hdf5_attr_scalar(w->group, "rb_complete", H5T_NATIVE_UINT8, &complete) != 0 ||
	    hdf5_attr_string(w->group, "rb_end", s->stop) != 0 ||
	    hdf5_attr_string(w->group, "rb_utc_source", s->utc.source) != 0 ||
	    (s->utc.start_known &&
	     (hdf5_attr_string(w->group, "rb_utc_start", utc) != 0 ||
	      hdf5_attr_scalar(w->group, "rb_utc_start_ns", H5T_NATIVE_INT64,
			       &s->utc.start_ns) != 0)))
		return hdf5_fail(why, size, "cannot write the stream's attributes");
	hdf5_stream_close(w);
	return 0;
}

static int
hdf5_close(struct export_writer *w, char *why, size_t size)
{
	int rc = 0;

	hdf5_stream_close(w);
	if (H5Fclose(w->file) < 0)
		rc = hdf5_fail(why, size, "closing the file failed");
	free(w);
	return rc;
}

static const char *
hdf5_path(const struct export_writer *w, unsigned index)
{
	(void)index;
	return w->path;
}

const struct export_format export_hdf5 = {
	.name = "hdf5",
	.open = hdf5_open,
	.begin = hdf5_begin,
	.slot = hdf5_slot,
	.frame = hdf5_frame,
	.end = hdf5_end,
	.close = hdf5_close,
	.path = hdf5_path,
};
