/*
 * The segment: create, open (validate), close, remove, and what a monitor
 * may read of a ring.
 *
 * A ring named NAME lives in /dev/shm/rb-NAME. Creation builds the segment
 * under a temporary name and publishes it with link(2), which fails if the
 * name exists: a reader can never open a half-initialised ring, and two
 * creators cannot clobber each other. (glibc's shm_open keeps its objects in
 * /dev/shm, so the link and shm_open see the same files.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rb_internal.h"
#include "sigbus.h"

#define RB_SHM_DIR "/dev/shm"
#define RB_SHM_PREFIX "rb-"
#define RB_DEFAULT_STREAM_HEADER (16u * 1024u)
#define RB_MIN_STREAM_HEADER 4096u
#define RB_MAX_STREAM_HEADER (1u << 20)
#define RB_DEFAULT_CONSUMERS 64u
#define RB_DEFAULT_GROUPS 8u
/* Stream-header entries (FORMAT.md §3.5): 0 in a config means 8. */
#define RB_DEFAULT_STREAM_HEADERS 8u
#define RB_MAX_STREAM_HEADERS 256u

static uint32_t
rb_config_stream_headers(const struct rb_ring_config *c)
{
	return c->stream_headers ? c->stream_headers : RB_DEFAULT_STREAM_HEADERS;
}

/* Group records a configuration asks for: 0 means the default, unless
 * RB_CREATE_NO_GROUPS asks for none. */
static uint32_t
rb_config_groups(const struct rb_ring_config *c)
{
	if (c->flags & RB_CREATE_NO_GROUPS)
		return 0;
	return c->max_groups ? c->max_groups : RB_DEFAULT_GROUPS;
}

static bool
rb_is_pow2_64(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* Rounds v up to a multiple of the power of two `align`; false on overflow. */
static bool
rb_round_up(uint64_t v, uint64_t align, uint64_t *out)
{
	if (v > UINT64_MAX - (align - 1))
		return false;
	*out = (v + align - 1) & ~(align - 1);
	return true;
}

int
rb_ring_name_check(const char *name)
{
	size_t i, len;

	if (name == NULL)
		return -EINVAL;
	len = strlen(name);
	if (len == 0 || len > RB_NAME_MAX || name[0] == '.')
		return -EINVAL;
	for (i = 0; i < len; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

uint64_t
rb_header_checksum(const struct rb_shm_header *header)
{
	const uint8_t *p = (const uint8_t *)header;
	uint64_t h = 0xcbf29ce484222325ull;
	size_t i;

	for (i = 0; i < offsetof(struct rb_shm_header, checksum); i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

/* The offsets every ring of this layout version has, from its parameters. */
struct rb_geometry {
	uint64_t consumers_offset;
	uint64_t groups_offset;
	uint64_t stream_header_offset;
	uint64_t stream_header_stride;
	uint64_t descriptors_offset;
	uint64_t slots_offset;
	uint64_t slot_stride;
	uint64_t segment_bytes;
};

static bool
rb_geometry_compute(uint64_t frame_bytes, uint32_t slot_count,
		    uint32_t slot_align, uint32_t max_producers,
		    uint32_t max_consumers, uint32_t max_groups,
		    uint32_t stream_header_bytes, uint32_t stream_headers,
		    uint64_t page_bytes, struct rb_geometry *g)
{
	uint64_t end, slots_bytes;
	uint64_t slots_align = slot_align > RB_SLOTS_MIN_ALIGN ? slot_align
							       : RB_SLOTS_MIN_ALIGN;

	if (!rb_round_up(frame_bytes, slot_align, &g->slot_stride))
		return false;
	g->consumers_offset = RB_PRODUCER_RECORDS_OFFSET +
			      (uint64_t)max_producers * RB_PRODUCER_RECORD_BYTES;
	g->groups_offset = g->consumers_offset +
			   (uint64_t)max_consumers * RB_CONSUMER_BYTES;
	end = g->groups_offset + (uint64_t)max_groups * RB_GROUP_BYTES;
	if (!rb_round_up(end, RB_LINE, &g->stream_header_offset))
		return false;
	/* Each entry is whole lines, so every entry's fields stay aligned. */
	g->stream_header_stride = ((uint64_t)RB_STREAM_HEADER_FIXED + stream_header_bytes +
				   RB_LINE - 1) & ~(uint64_t)(RB_LINE - 1);
	end = g->stream_header_offset + (uint64_t)stream_headers * g->stream_header_stride;
	if (!rb_round_up(end, RB_LINE, &g->descriptors_offset))
		return false;
	end = g->descriptors_offset + (uint64_t)slot_count * RB_DESCRIPTOR_BYTES;
	if (!rb_round_up(end, slots_align, &g->slots_offset))
		return false;
	if (g->slot_stride != 0 && slot_count > UINT64_MAX / g->slot_stride)
		return false;
	slots_bytes = (uint64_t)slot_count * g->slot_stride;
	if (g->slots_offset > UINT64_MAX - slots_bytes)
		return false;
	return rb_round_up(g->slots_offset + slots_bytes, page_bytes,
			   &g->segment_bytes);
}

static int
rb_frame_type_check(const struct rb_frame_type *t, uint64_t frame_bytes)
{
	uint64_t total;
	uint32_t i;

	if (t->elem == RB_ELEM_NONE) {
		if (t->ndim != 0)
			return -EINVAL;
		for (i = 0; i < RB_MAX_DIMS; i++)
			if (t->dims[i] != 0)
				return -EINVAL;
		return 0;
	}
	if (t->elem >= RB_ELEM_COUNT_ || t->ndim < 1 || t->ndim > RB_MAX_DIMS)
		return -EINVAL;
	total = rb_elem_size(t->elem);
	for (i = 0; i < RB_MAX_DIMS; i++) {
		if (i >= t->ndim) {
			if (t->dims[i] != 0)
				return -EINVAL;
			continue;
		}
		if (t->dims[i] == 0 || total > UINT64_MAX / t->dims[i])
			return -EINVAL;
		total *= t->dims[i];
	}
	return total <= frame_bytes ? 0 : -EINVAL;
}

int
rb_header_validate(const struct rb_shm_header *h, uint64_t segment_bytes,
		   struct rb_ring *ring)
{
	struct rb_geometry g;
	struct rb_frame_type t;
	uint64_t page = h->pages == RB_PAGES_THP ? (2u << 20) : 4096u;

	if (h->magic != RB_MAGIC)
		return RB_E_NOT_A_RING;
	if (h->layout_version != RB_LAYOUT_VERSION)
		return RB_E_VERSION;
	if (h->checksum != rb_header_checksum(h))
		return RB_E_CORRUPT;
	if (h->header_bytes != RB_HEADER_BYTES ||
	    h->consumer_bytes != RB_CONSUMER_BYTES ||
	    h->descriptor_bytes != RB_DESCRIPTOR_BYTES ||
	    h->producer_record_bytes != RB_PRODUCER_RECORD_BYTES ||
	    h->group_bytes != RB_GROUP_BYTES ||
	    h->producer_offset != RB_PRODUCER_OFFSET ||
	    h->producers_offset != RB_PRODUCER_RECORDS_OFFSET)
		return RB_E_CORRUPT;
	if (h->max_producers == 0 || h->max_producers > RB_MAX_PRODUCERS ||
	    h->max_groups > RB_MAX_GROUPS)
		return RB_E_CORRUPT;
	if (h->frame_bytes == 0 || !rb_is_pow2_64(h->slot_count) ||
	    h->slot_count > (1u << 30) || !rb_is_pow2_64(h->slot_align) ||
	    h->slot_align < 64 || h->max_consumers == 0 ||
	    h->max_consumers > RB_MAX_CONSUMERS ||
	    h->stream_header_bytes < RB_MIN_STREAM_HEADER ||
	    h->stream_header_bytes > RB_MAX_STREAM_HEADER ||
	    h->initial_seq >= RB_SEQ_LIMIT || h->pages > RB_PAGES_THP)
		return RB_E_CORRUPT;
	if (h->stream_headers == 0 || h->stream_headers > RB_MAX_STREAM_HEADERS ||
	    h->reserved1 != 0)
		return RB_E_CORRUPT;
	for (size_t i = 0; i < sizeof(h->reserved); i++)
		if (h->reserved[i] != 0)
			return RB_E_CORRUPT;
	if (!rb_geometry_compute(h->frame_bytes, h->slot_count, h->slot_align,
				 h->max_producers, h->max_consumers, h->max_groups,
				 h->stream_header_bytes, h->stream_headers, page, &g))
		return RB_E_CORRUPT;
	/* Offsets are not free parameters: they must be exactly those the
	 * format prescribes, which rules out overlaps and out-of-range areas. */
	if (h->slot_stride != g.slot_stride ||
	    h->consumers_offset != g.consumers_offset ||
	    h->groups_offset != g.groups_offset ||
	    h->stream_header_offset != g.stream_header_offset ||
	    h->descriptors_offset != g.descriptors_offset ||
	    h->slots_offset != g.slots_offset ||
	    h->segment_bytes != g.segment_bytes)
		return RB_E_CORRUPT;
	if (segment_bytes != h->segment_bytes)
		return RB_E_CORRUPT; /* truncated or extended behind our back */
	t.elem = h->elem_type;
	t.ndim = h->ndim;
	memcpy(t.dims, h->dims, sizeof(t.dims));
	if (rb_frame_type_check(&t, h->frame_bytes) != 0)
		return RB_E_CORRUPT;

	ring->segment_bytes = h->segment_bytes;
	ring->frame_bytes = h->frame_bytes;
	ring->slot_stride = h->slot_stride;
	ring->slot_count = h->slot_count;
	ring->slot_mask = h->slot_count - 1;
	ring->max_consumers = h->max_consumers;
	ring->max_producers = h->max_producers;
	ring->max_groups = h->max_groups;
	ring->stream_header_bytes = h->stream_header_bytes;
	ring->stream_headers = h->stream_headers;
	ring->stream_header_stride = g.stream_header_stride;
	ring->initial_seq = h->initial_seq;
	ring->slot_align = h->slot_align;
	ring->created_ns = h->created_ns;
	ring->create_flags = h->create_flags;
	ring->type = t;
	ring->pages = (enum rb_pages)h->pages;
	return 0;
}

static void
rb_ring_bind(struct rb_ring *ring, uint8_t *base, const struct rb_shm_header *h)
{
	ring->base = base;
	ring->header = (struct rb_shm_header *)base;
	ring->producer = (struct rb_shm_producer *)(base + RB_PRODUCER_OFFSET);
	ring->producer_records =
		(struct rb_shm_producer_record *)(base + h->producers_offset);
	ring->consumers = (struct rb_shm_consumer *)(base + h->consumers_offset);
	ring->groups = (struct rb_shm_group *)(base + h->groups_offset);
	ring->stream_header =
		(struct rb_shm_stream_header *)(base + h->stream_header_offset);
	ring->descriptors =
		(struct rb_shm_descriptor *)(base + h->descriptors_offset);
	ring->slots = base + h->slots_offset;
}

static void
rb_shm_name(char *out, size_t size, const char *name)
{
	snprintf(out, size, "/" RB_SHM_PREFIX "%s", name);
}

/* Whether the kernel will back shared memory with transparent huge pages
 * when asked with madvise: /sys/.../shmem_enabled shows the policy in []. */
static bool
rb_shmem_thp_allowed(void)
{
	char buf[256];
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "re");
	bool ok = false;

	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL)
		ok = strstr(buf, "[always]") || strstr(buf, "[within_size]") ||
		     strstr(buf, "[advise]") || strstr(buf, "[force]");
	fclose(f);
	return ok;
}

static int
rb_config_check(const struct rb_ring_config *c, uint32_t *slot_count)
{
	uint64_t n = c->slot_count;
	uint32_t align = c->slot_align ? c->slot_align : 64;
	uint32_t consumers = c->max_consumers ? c->max_consumers : RB_DEFAULT_CONSUMERS;
	uint32_t producers = c->max_producers ? c->max_producers : 1;
	uint32_t groups = rb_config_groups(c);
	uint32_t sh = c->stream_header_bytes ? c->stream_header_bytes
					     : RB_DEFAULT_STREAM_HEADER;

	if (c->frame_bytes == 0 || n == 0 || n > (1u << 30))
		return -EINVAL;
	if (!rb_is_pow2_64(n)) {
		if (!(c->flags & RB_CREATE_ROUND_UP))
			return -EINVAL;
		while (!rb_is_pow2_64(n))
			n = (n | (n - 1)) + 1;
		if (n > (1u << 30))
			return -EINVAL;
	}
	if (!rb_is_pow2_64(align) || align < 64 || align > (1u << 21))
		return -EINVAL;
	if (producers > RB_MAX_PRODUCERS || groups > RB_MAX_GROUPS)
		return -EINVAL;
	if ((c->flags & RB_CREATE_NO_GROUPS) && c->max_groups != 0)
		return -EINVAL;
	if (c->stream_headers > RB_MAX_STREAM_HEADERS)
		return -EINVAL;
	if (consumers > RB_MAX_CONSUMERS || sh < RB_MIN_STREAM_HEADER ||
	    sh > RB_MAX_STREAM_HEADER || c->initial_seq >= RB_SEQ_LIMIT)
		return -EINVAL;
	if (rb_frame_type_check(&c->type, c->frame_bytes) != 0)
		return -EINVAL;
	*slot_count = (uint32_t)n;
	return 0;
}

static void
rb_segment_init(uint8_t *base, const struct rb_ring_config *c,
		uint32_t slot_count, const struct rb_geometry *g,
		enum rb_pages pages)
{
	struct rb_shm_header *h = (struct rb_shm_header *)base;
	struct rb_shm_producer *p = (struct rb_shm_producer *)(base + RB_PRODUCER_OFFSET);
	struct rb_shm_descriptor *d =
		(struct rb_shm_descriptor *)(base + g->descriptors_offset);
	struct rb_shm_producer_record *pr =
		(struct rb_shm_producer_record *)(base + RB_PRODUCER_RECORDS_OFFSET);
	struct timespec now;
	uint32_t i;

	/* The file is fresh from fallocate, so every other byte is zero. */
	h->layout_version = RB_LAYOUT_VERSION;
	h->header_bytes = RB_HEADER_BYTES;
	h->segment_bytes = g->segment_bytes;
	h->frame_bytes = c->frame_bytes;
	h->slot_stride = g->slot_stride;
	h->slot_count = slot_count;
	h->slot_align = c->slot_align ? c->slot_align : 64;
	h->max_consumers = c->max_consumers ? c->max_consumers : RB_DEFAULT_CONSUMERS;
	h->stream_header_bytes = c->stream_header_bytes ? c->stream_header_bytes
						       : RB_DEFAULT_STREAM_HEADER;
	h->stream_headers = rb_config_stream_headers(c);
	h->producer_offset = RB_PRODUCER_OFFSET;
	h->max_producers = c->max_producers ? c->max_producers : 1;
	h->max_groups = rb_config_groups(c);
	h->producers_offset = RB_PRODUCER_RECORDS_OFFSET;
	h->producer_record_bytes = RB_PRODUCER_RECORD_BYTES;
	h->group_bytes = RB_GROUP_BYTES;
	h->consumers_offset = g->consumers_offset;
	h->groups_offset = g->groups_offset;
	h->descriptors_offset = g->descriptors_offset;
	h->stream_header_offset = g->stream_header_offset;
	h->slots_offset = g->slots_offset;
	h->elem_type = c->type.elem;
	h->ndim = c->type.ndim;
	memcpy(h->dims, c->type.dims, sizeof(h->dims));
	h->initial_seq = c->initial_seq;
	clock_gettime(CLOCK_REALTIME, &now);
	h->created_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	h->create_flags = c->flags;
	h->pages = pages;
	h->consumer_bytes = RB_CONSUMER_BYTES;
	h->descriptor_bytes = RB_DESCRIPTOR_BYTES;

	p->write_seq = c->initial_seq;
	p->claim_limit = c->initial_seq;
	p->claim_seq = c->initial_seq;
	for (i = 0; i < h->max_producers; i++)
		pr[i].hold_from = RB_SEQ_NONE;
	p->eos_seq = c->initial_seq;
	(void)rb_clock_anchor_refresh(p); /* UTC of frames before any stream */
	for (i = 0; i < slot_count; i++)
		d[i].seq = RB_SEQ_WRITING; /* no frame yet */

	h->magic = RB_MAGIC;
	h->checksum = rb_header_checksum(h);
	/* Everything above must be visible before the name is published. */
	ck_pr_fence_store();
}

/* Whether an existing ring has a live producer or consumer. */
static bool
rb_ring_has_live(struct rb_ring *ring)
{
	uint32_t i;

	for (i = 0; i < ring->max_producers; i++) {
		struct rb_shm_producer_record *rec = &ring->producer_records[i];
		if (rb_owner_alive(rb_load_acquire_64(&rec->owner),
				   ck_pr_load_64(&rec->start_time)))
			return true;
	}
	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		if (rb_owner_alive(rb_load_acquire_64(&rec->owner),
				   ck_pr_load_64(&rec->start_time)))
			return true;
	}
	return false;
}

static int
rb_map(int fd, uint64_t bytes, int extra_flags, uint8_t **out)
{
	void *p;

	if (bytes > SIZE_MAX)
		return -ENOMEM;
	p = mmap(NULL, (size_t)bytes, PROT_READ | PROT_WRITE,
		 MAP_SHARED | extra_flags, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/* Removes an existing ring for RB_CREATE_REPLACE, unless someone uses it. */
static int
rb_replace_existing(const char *name)
{
	struct rb_ring *old;
	int rc = rb_ring_open(name, &old);

	if (rc == -ENOENT)
		return 0;
	if (rc == 0) {
		bool live = rb_ring_has_live(old);
		rb_ring_close(old);
		if (live)
			return -EBUSY;
	} else if (rc == -EACCES || rc == RB_E_UNTRUSTED) {
		/* Another user's ring: not ours to judge or remove. */
		return rc;
	}
	/* A dead, corrupt or foreign file under our prefix: replace it. */
	rc = rb_ring_remove(name);
	return rc == -ENOENT ? 0 : rc;
}

int
rb_ring_create(const char *name, const struct rb_ring_config *config,
	       struct rb_ring **out)
{
	char tmp_name[RB_NAME_MAX + 64], tmp_path[RB_NAME_MAX + 80];
	char final_path[RB_NAME_MAX + 80];
	struct rb_geometry g;
	struct rb_ring *ring;
	enum rb_pages pages = RB_PAGES_NORMAL;
	uint32_t slot_count, align, consumers, sh, producers, groups;
	mode_t mode;
	uint8_t *base = NULL;
	int fd, rc, map_flags = 0;

	*out = NULL;
	if ((rc = rb_ring_name_check(name)) != 0 || config == NULL)
		return -EINVAL;
	if ((rc = rb_config_check(config, &slot_count)) != 0)
		return rc;
	align = config->slot_align ? config->slot_align : 64;
	consumers = config->max_consumers ? config->max_consumers : RB_DEFAULT_CONSUMERS;
	producers = config->max_producers ? config->max_producers : 1;
	groups = rb_config_groups(config);
	sh = config->stream_header_bytes ? config->stream_header_bytes
					 : RB_DEFAULT_STREAM_HEADER;
	if ((config->flags & RB_CREATE_HUGEPAGES) && rb_shmem_thp_allowed())
		pages = RB_PAGES_THP;
	if (!rb_geometry_compute(config->frame_bytes, slot_count, align, producers,
				 consumers, groups, sh, rb_config_stream_headers(config),
				 pages == RB_PAGES_THP ? (2u << 20) : 4096u, &g))
		return -EINVAL;

	ring = calloc(1, sizeof(*ring));
	if (ring == NULL)
		return -ENOMEM;
	snprintf(tmp_name, sizeof(tmp_name), "/" RB_SHM_PREFIX ".tmp-%u-%lx-%s",
		 rb_self_pid(), (unsigned long)rb_now_ns(), name);
	snprintf(tmp_path, sizeof(tmp_path), RB_SHM_DIR "%s", tmp_name);
	snprintf(final_path, sizeof(final_path), RB_SHM_DIR "/" RB_SHM_PREFIX "%s", name);
	mode = (config->flags & RB_CREATE_GROUP_ACCESS) ? 0660 : 0600;

	fd = shm_open(tmp_name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0) {
		rc = -errno;
		free(ring);
		return rc;
	}
	/* shm_open applies the umask; the caller's choice is what counts. */
	if (fchmod(fd, mode) != 0 || (rc = posix_fallocate(fd, 0, (off_t)g.segment_bytes)) != 0) {
		rc = rc ? -rc : -errno;
		goto fail_unlink;
	}
	if (config->flags & RB_CREATE_PREFAULT)
		map_flags |= MAP_POPULATE;
	if ((rc = rb_map(fd, g.segment_bytes, map_flags, &base)) != 0)
		goto fail_unlink;
	if (pages == RB_PAGES_THP && madvise(base, g.segment_bytes, MADV_HUGEPAGE) != 0) {
		/* Refused after all: shrink back to the normal-page geometry,
		 * which validation expects for pages == RB_PAGES_NORMAL. */
		munmap(base, g.segment_bytes);
		pages = RB_PAGES_NORMAL;
		if (!rb_geometry_compute(config->frame_bytes, slot_count, align,
					 producers, consumers, groups, sh,
					 rb_config_stream_headers(config), 4096u, &g) ||
		    ftruncate(fd, (off_t)g.segment_bytes) != 0) {
			rc = -EINVAL;
			goto fail_unlink;
		}
		if ((rc = rb_map(fd, g.segment_bytes, map_flags, &base)) != 0)
			goto fail_unlink;
	}
	if ((config->flags & RB_CREATE_MLOCK) && mlock(base, g.segment_bytes) != 0) {
		rc = -errno;
		goto fail_unmap;
	}
	rb_segment_init(base, config, slot_count, &g, pages);
	if ((ring->mapping = rb_mapping_register(base, g.segment_bytes)) == NULL) {
		rc = -ENOMEM;
		goto fail_unmap;
	}

	for (;;) {
		if (link(tmp_path, final_path) == 0)
			break;
		rc = -errno;
		if (rc != -EEXIST || !(config->flags & RB_CREATE_REPLACE))
			goto fail_unmap;
		if ((rc = rb_replace_existing(name)) != 0)
			goto fail_unmap;
	}
	(void)shm_unlink(tmp_name);
	close(fd);

	snprintf(ring->name, sizeof(ring->name), "%s", name);
	rc = rb_header_validate((struct rb_shm_header *)base, g.segment_bytes, ring);
	if (rc != 0) { /* cannot happen: we just wrote it */
		rb_mapping_unregister(ring->mapping);
		munmap(base, g.segment_bytes);
		free(ring);
		return rc;
	}
	rb_ring_bind(ring, base, (struct rb_shm_header *)base);
	ring->owner_uid = (uint32_t)geteuid();
	*out = ring;
	return 0;

fail_unmap:
	rb_mapping_unregister(ring->mapping);
	munmap(base, g.segment_bytes);
fail_unlink:
	(void)shm_unlink(tmp_name);
	close(fd);
	free(ring);
	return rc;
}

/*
 * Step 2 of docs/FORMAT.md §4.1 failed with `rc`: when something that is not
 * a regular file has the ring's name (glibc's shm_open says EINVAL for a
 * directory, O_NOFOLLOW ELOOP for a symbolic link, ENXIO for a socket),
 * that is "not a ring", not a bad argument.
 */
static int
rb_open_error(const char *name, int rc)
{
	char path[RB_NAME_MAX + 80];
	struct stat st;

	if (rc == -ENOENT)
		return rc;
	snprintf(path, sizeof(path), RB_SHM_DIR "/" RB_SHM_PREFIX "%s", name);
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
		return RB_E_NOT_A_RING;
	return rc;
}

/*
 * Whether the caller may map a file owned by `uid` (the caller's own
 * rings and root's always; see struct rb_open_params in ringbuf.h).
 */
static bool
rb_owner_trusted(uint32_t uid, const struct rb_open_params *p)
{
	uint32_t i;

	if (uid == (uint32_t)geteuid() || uid == 0)
		return true;
	if (p == NULL)
		return false;
	if (p->flags & RB_OPEN_TRUST_ANY_OWNER)
		return true;
	for (i = 0; i < p->trusted_count; i++)
		if (p->trusted_uids[i] == uid)
			return true;
	return false;
}

static int
rb_open_params_check(const struct rb_open_params *p)
{
	size_t i;

	if (p == NULL)
		return 0;
	if ((p->flags & ~RB_OPEN_TRUST_ANY_OWNER) != 0 ||
	    (p->trusted_count != 0 && p->trusted_uids == NULL))
		return -EINVAL;
	for (i = 0; i < sizeof(p->reserved_) / sizeof(p->reserved_[0]); i++)
		if (p->reserved_[i] != 0)
			return -EINVAL;
	return 0;
}

int
rb_ring_open(const char *name, struct rb_ring **out)
{
	return rb_ring_open_params(name, NULL, out);
}

int
rb_ring_open_params(const char *name, const struct rb_open_params *params,
		    struct rb_ring **out)
{
	char shm_name[RB_NAME_MAX + 8];
	struct rb_shm_header copy;
	struct rb_ring *ring;
	struct stat st;
	uint8_t *base = NULL;
	int fd, rc;

	*out = NULL;
	if (rb_ring_name_check(name) != 0 || rb_open_params_check(params) != 0)
		return -EINVAL;
	rb_shm_name(shm_name, sizeof(shm_name), name);
	fd = shm_open(shm_name, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return rb_open_error(name, -errno);
	if (fstat(fd, &st) != 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(uint64_t)) {
		close(fd);
		return RB_E_NOT_A_RING;
	}
	/* Before reading a byte of it: whoever owns the file can truncate it
	 * under our mapping (SIGBUS) or rewrite it at will. */
	if (!rb_owner_trusted((uint32_t)st.st_uid, params)) {
		close(fd);
		return RB_E_UNTRUSTED;
	}
	if (pread(fd, &copy, sizeof(copy), 0) != (ssize_t)sizeof(copy)) {
		uint64_t magic = 0;
		rc = pread(fd, &magic, sizeof(magic), 0) == sizeof(magic) &&
				     magic == RB_MAGIC
			     ? RB_E_CORRUPT
			     : RB_E_NOT_A_RING;
		close(fd);
		return rc;
	}
	ring = calloc(1, sizeof(*ring));
	if (ring == NULL) {
		close(fd);
		return -ENOMEM;
	}
	/* Validate a private copy: the shared header could change under us. */
	rc = rb_header_validate(&copy, (uint64_t)st.st_size, ring);
	if (rc != 0) {
		close(fd);
		free(ring);
		return rc;
	}
	rc = rb_map(fd, ring->segment_bytes, 0, &base);
	close(fd);
	if (rc != 0) {
		free(ring);
		return rc;
	}
	if ((ring->mapping = rb_mapping_register(base, ring->segment_bytes)) == NULL) {
		munmap(base, ring->segment_bytes);
		free(ring);
		return -ENOMEM;
	}
	ring->owner_uid = (uint32_t)st.st_uid;
	snprintf(ring->name, sizeof(ring->name), "%s", name);
	rb_ring_bind(ring, base, &copy);
	*out = ring;
	return 0;
}

void
rb_ring_close(struct rb_ring *ring)
{
	if (ring == NULL)
		return;
	/* Out of the SIGBUS guard's sight before the range can be reused. */
	rb_mapping_unregister(ring->mapping);
	munmap(ring->base, ring->segment_bytes);
	free(ring);
}

int
rb_ring_remove(const char *name)
{
	char shm_name[RB_NAME_MAX + 8];

	if (rb_ring_name_check(name) != 0)
		return -EINVAL;
	rb_shm_name(shm_name, sizeof(shm_name), name);
	return shm_unlink(shm_name) == 0 ? 0 : -errno;
}

const char *rb_ring_name(const struct rb_ring *r) { return r->name; }
uint64_t rb_ring_frame_bytes(const struct rb_ring *r) { return r->frame_bytes; }
uint32_t rb_ring_slot_count(const struct rb_ring *r) { return r->slot_count; }
uint64_t rb_ring_slot_stride(const struct rb_ring *r) { return r->slot_stride; }
uint32_t rb_ring_max_consumers(const struct rb_ring *r) { return r->max_consumers; }
uint64_t rb_ring_segment_bytes(const struct rb_ring *r) { return r->segment_bytes; }
const struct rb_frame_type *rb_ring_frame_type(const struct rb_ring *r) { return &r->type; }
enum rb_pages rb_ring_pages(const struct rb_ring *r) { return r->pages; }
void *rb_ring_slots(const struct rb_ring *r) { return r->slots; }
uint32_t rb_ring_slot_align(const struct rb_ring *r) { return r->slot_align; }
uint64_t rb_ring_initial_seq(const struct rb_ring *r) { return r->initial_seq; }
uint32_t rb_ring_stream_header_capacity(const struct rb_ring *r) { return r->stream_header_bytes; }
uint32_t rb_ring_stream_headers(const struct rb_ring *r) { return r->stream_headers; }
uint64_t rb_ring_created_ns(const struct rb_ring *r) { return r->created_ns; }
uint32_t rb_ring_create_flags(const struct rb_ring *r) { return r->create_flags; }
uint32_t rb_ring_max_producers(const struct rb_ring *r) { return r->max_producers; }
uint32_t rb_ring_max_groups(const struct rb_ring *r) { return r->max_groups; }
uint32_t rb_ring_owner_uid(const struct rb_ring *r) { return r->owner_uid; }

int
rb_ring_foreach(int (*fn)(const char *name, void *arg), void *arg)
{
	DIR *dir = opendir(RB_SHM_DIR);
	struct dirent *e;
	int rc = 0;

	if (dir == NULL)
		return -errno;
	while (rc == 0 && (e = readdir(dir)) != NULL) {
		const char *name = e->d_name + strlen(RB_SHM_PREFIX);

		if (strncmp(e->d_name, RB_SHM_PREFIX, strlen(RB_SHM_PREFIX)) != 0 ||
		    rb_ring_name_check(name) != 0)
			continue; /* not ours, or a ring still being created */
		rc = fn(name, arg);
	}
	closedir(dir);
	return rc;
}

/*
 * Counters in shared memory count seqs, and no seq reaches 2^62 (§7): a
 * monitor that finds a larger one has found a hostile or corrupt ring and
 * says so (RB_E_CORRUPT) rather than show, or let anyone add to, a number
 * that cannot be.
 */
static bool
rb_counter_plausible(uint64_t v)
{
	return v < RB_SEQ_LIMIT;
}

int
rb_ring_get_status(struct rb_ring *ring, struct rb_ring_status *out)
{
	struct rb_shm_producer *p = ring->producer;
	uint32_t i;

	memset(out, 0, sizeof(*out));
	if (rb_ring_truncated(ring))
		return RB_E_TRUNCATED;
	out->write_seq = rb_load_acquire_64(&p->write_seq);
	out->initial_seq = ring->initial_seq;
	out->frames_dropped = ck_pr_load_64(&p->frames_dropped);
	out->max_producers = ring->max_producers;
	out->claim_seq = rb_ring_multi_producer(ring) ? rb_load_acquire_64(&p->claim_seq)
						      : out->write_seq;
	out->frames_abandoned = ck_pr_load_64(&p->frames_abandoned);
	if (!rb_counter_plausible(out->frames_dropped) ||
	    !rb_counter_plausible(out->frames_abandoned))
		return RB_E_CORRUPT;
	/* write_seq was loaded first, and claim_seq and claim_limit only grow:
	 * a write_seq past either (or past 2^62) is no producer's, and every
	 * lag computed from it would be absurd (FINDINGS.md F8). */
	if (!rb_counter_plausible(out->write_seq) ||
	    out->write_seq > rb_load_acquire_64(&p->claim_limit) ||
	    (rb_ring_multi_producer(ring) && out->write_seq > out->claim_seq))
		return RB_E_CORRUPT;
	out->stream_members = (uint32_t)ck_pr_load_64(&p->stream_members);
	for (i = 0; i < ring->max_producers; i++) {
		struct rb_shm_producer_record *rec = &ring->producer_records[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
			continue;
		if (out->producers++ == 0)
			out->producer_pid = RB_OWNER_PID(owner);
		if (rb_owner_alive(owner, ck_pr_load_64(&rec->start_time)))
			out->producer_alive = 1;
	}
	out->stream_state = (int)ck_pr_load_64(&p->stream_state);
	if (out->stream_state == RB_STREAM_OPENING)
		out->stream_state = RB_STREAM_OPEN;
	out->stream_open = out->stream_state == RB_STREAM_OPEN;
	out->eos_seq = ck_pr_load_64(&p->eos_seq);
	out->producer_waits_for = ck_pr_load_64(&p->wait_target);
	out->producer_blocked = out->producer_waits_for != 0;
	for (i = 0; i < ring->max_consumers; i++)
		if (RB_OWNER_STATE(rb_load_acquire_64(&ring->consumers[i].owner)) ==
		    RB_OWNER_ACTIVE)
			out->consumers++;
	for (i = 0; i < ring->max_groups; i++)
		if (RB_OWNER_STATE(rb_load_acquire_64(&ring->groups[i].owner)) ==
		    RB_OWNER_ACTIVE)
			out->groups++;
	return 0;
}

int
rb_ring_producers(struct rb_ring *ring, struct rb_producer_status *out,
		  uint32_t max)
{
	uint32_t i, n = 0;

	if (rb_ring_truncated(ring))
		return RB_E_TRUNCATED;

	for (i = 0; i < ring->max_producers; i++) {
		struct rb_shm_producer_record *rec = &ring->producer_records[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
			continue;
		if (n < max) {
			struct rb_producer_status *s = &out[n];

			memset(s, 0, sizeof(*s));
			s->index = i;
			s->pid = RB_OWNER_PID(owner);
			s->alive = rb_owner_alive(owner, ck_pr_load_64(&rec->start_time));
			s->in_stream = ck_pr_load_32(&rec->in_stream) != 0;
			s->frames = ck_pr_load_64(&rec->frames);
			s->hold_from = ck_pr_load_64(&rec->hold_from);
			s->stopped = rb_process_stopped(s->pid);
			s->ncounters = ck_pr_load_32(&rec->counters);
			ck_pr_fence_acquire();
			RB_TSAN_ACQUIRE(&rec->counters);
			if (s->ncounters > RB_COUNTERS_MAX)
				s->ncounters = 0; /* hostile: show none */
			for (uint32_t k = 0; k < s->ncounters; k++)
				s->counters[k] = ck_pr_load_64(&rec->counter[k]);
			if (!rb_counter_plausible(s->frames))
				return RB_E_CORRUPT;
		}
		n++;
	}
	return (int)n;
}

/* Copies a peer-written name and terminates it. */
static void
rb_copy_name(char *dst, const char *src, size_t size)
{
	memcpy(dst, src, size);
	dst[size - 1] = '\0';
}

int
rb_ring_groups(struct rb_ring *ring, struct rb_group_status *out, uint32_t max)
{
	uint32_t i, n = 0;

	if (rb_ring_truncated(ring))
		return RB_E_TRUNCATED;

	for (i = 0; i < ring->max_groups; i++) {
		struct rb_shm_group *g = &ring->groups[i];
		uint64_t owner = rb_load_acquire_64(&g->owner);

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
			continue;
		if (n < max) {
			struct rb_group_status *s = &out[n];

			memset(s, 0, sizeof(*s));
			s->index = i;
			rb_copy_name(s->name, g->name, sizeof(s->name));
			s->lossy = (ck_pr_load_32(&g->mode) & RB_MODE_LOSSY) != 0;
			s->members = RB_MEMBERS_COUNT(ck_pr_load_64(&g->members));
			s->claim_seq = ck_pr_load_64(&g->claim_seq);
			s->start_seq = ck_pr_load_64(&g->start_seq);
			s->lost = ck_pr_load_64(&g->lost);
			s->frames_departed = ck_pr_load_64(&g->frames_departed);
			s->markers = ck_pr_load_64(&g->markers);
			if (!rb_counter_plausible(s->lost) ||
			    !rb_counter_plausible(s->frames_departed) ||
			    !rb_counter_plausible(s->markers))
				return RB_E_CORRUPT;
		}
		n++;
	}
	return (int)n;
}

int
rb_ring_consumers(struct rb_ring *ring, struct rb_consumer_status *out,
		  uint32_t max)
{
	uint32_t i, g, n = 0;

	if (rb_ring_truncated(ring))
		return RB_E_TRUNCATED;

	for (i = 0; i < ring->max_consumers; i++) {
		struct rb_shm_consumer *rec = &ring->consumers[i];
		uint64_t owner = rb_load_acquire_64(&rec->owner);

		if (RB_OWNER_STATE(owner) != RB_OWNER_ACTIVE)
			continue;
		if (n < max) {
			struct rb_consumer_status *s = &out[n];
			memset(s, 0, sizeof(*s));
			s->index = i;
			s->pid = RB_OWNER_PID(owner);
			s->alive = rb_owner_alive(owner, ck_pr_load_64(&rec->start_time));
			s->lossy = (ck_pr_load_32(&rec->mode) & RB_MODE_LOSSY) != 0;
			s->read_seq = ck_pr_load_64(&rec->read_seq);
			s->frames = ck_pr_load_64(&rec->frames);
			s->lost = ck_pr_load_64(&rec->lost);
			if (!rb_counter_plausible(s->frames) || !rb_counter_plausible(s->lost))
				return RB_E_CORRUPT;
			s->wakes_at = ck_pr_load_64(&rec->wake_target);
			s->sleeping = s->wakes_at != 0;
			rb_copy_name(s->label, rec->label, sizeof(s->label));
			rb_stall_consumer_status(rec, owner, s);
			g = ck_pr_load_32(&rec->group);
			if (g != 0) {
				uint64_t claimed = ck_pr_load_64(&rec->claimed);
				uint64_t settled = s->frames + s->lost;

				if (!rb_counter_plausible(claimed))
					return RB_E_CORRUPT;

				s->held = claimed > settled ? claimed - settled : 0;
			}
			g = ck_pr_load_32(&rec->group);
			if (g != 0 && g <= ring->max_groups)
				rb_copy_name(s->group, ring->groups[g - 1].name,
					     sizeof(s->group));
		}
		n++;
	}
	return (int)n;
}
