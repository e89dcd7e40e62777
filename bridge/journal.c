/*
 * The receiver's journal. One page, mapped shared:
 *
 *   0    8    magic "RBBRJNL1"
 *   8    8    near_created_ns of the origin
 *   16   4    origin length (0 ... 255)
 *   20   256  origin text
 *   512  8    intent_near   the near seq of the commit in progress
 *   520  8    intent_far    its far seq (WIRE_NONE: none)
 *   528  8    done_near     the near seq of the last finished commit
 *   536  8    done_far
 *
 * The receiver stores the intent, commits the far frame, then stores done.
 * The far ring's write_seq decides after a kill -9 whether the intent's
 * commit happened (docs/BRIDGE.md). The file is written only by the one
 * receiver that is the far ring's producer; a restarted receiver reads it
 * before it writes. Stores go through ck_pr with a store fence between the
 * intent and the ring commit that follows it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ck_pr.h>

#include "journal.h"

#define JOURNAL_BYTES 4096
static const char journal_magic[8] = {'R', 'B', 'B', 'R', 'J', 'N', 'L', '1'};

struct journal_file {
	char magic[8];
	uint64_t near_created_ns;
	uint32_t origin_len;
	char origin[WIRE_ORIGIN_MAX + 1];
	char pad_[512 - 20 - (WIRE_ORIGIN_MAX + 1)];
	uint64_t intent_near;
	uint64_t intent_far;
	uint64_t done_near;
	uint64_t done_far;
};

_Static_assert(sizeof(struct journal_file) <= JOURNAL_BYTES, "journal fits a page");

static void
journal_path(char *buf, size_t size, const char *ring)
{
	/* Not "rb-...": rb-ctl list takes every rb-* entry for a ring. */
	snprintf(buf, size, "/dev/shm/rbbridge-%s.journal", ring);
}

int
journal_open(const char *ring, bool create, bool *existed, struct journal *j)
{
	char path[RB_NAME_MAX + 64];
	struct stat st;
	void *map;
	int fd, rc = 0;

	journal_path(path, sizeof(path), ring);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	*existed = st.st_size == JOURNAL_BYTES;
	if (create || !*existed) {
		if (ftruncate(fd, 0) != 0 || ftruncate(fd, JOURNAL_BYTES) != 0)
			rc = -errno;
		*existed = false;
	}
	if (rc != 0) {
		close(fd);
		return rc;
	}
	map = mmap(NULL, JOURNAL_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return -errno;
	j->f = map;
	if (*existed && memcmp(j->f->magic, journal_magic, 8) != 0)
		*existed = false;
	if (!*existed)
		journal_reset(j, "", 0, 0);
	return 0;
}

void
journal_close(struct journal *j)
{
	if (j->f != NULL)
		munmap(j->f, JOURNAL_BYTES);
	j->f = NULL;
}

void
journal_remove(const char *ring)
{
	char path[RB_NAME_MAX + 64];

	journal_path(path, sizeof(path), ring);
	unlink(path);
}

bool
journal_matches(const struct journal *j, const char *origin, size_t len,
		uint64_t near_created_ns)
{
	return j->f->origin_len == len && memcmp(j->f->origin, origin, len) == 0 &&
	       j->f->near_created_ns == near_created_ns;
}

void
journal_reset(struct journal *j, const char *origin, size_t len,
	      uint64_t near_created_ns)
{
	struct journal_file *f = j->f;

	if (len > WIRE_ORIGIN_MAX)
		len = WIRE_ORIGIN_MAX;
	memset(f->origin, 0, sizeof(f->origin));
	memcpy(f->origin, origin, len);
	f->origin_len = (uint32_t)len;
	f->near_created_ns = near_created_ns;
	ck_pr_store_64(&f->intent_near, WIRE_NONE);
	ck_pr_store_64(&f->intent_far, WIRE_NONE);
	ck_pr_store_64(&f->done_near, WIRE_NONE);
	ck_pr_store_64(&f->done_far, WIRE_NONE);
	memcpy(f->magic, journal_magic, 8);
	ck_pr_fence_store();
}

const char *
journal_origin(const struct journal *j)
{
	j->f->origin[WIRE_ORIGIN_MAX] = '\0';
	return j->f->origin;
}

uint64_t
journal_resume(const struct journal *j, uint64_t far_write_seq)
{
	uint64_t far = ck_pr_load_64(&j->f->intent_far);

	if (far != WIRE_NONE && far < far_write_seq)
		return ck_pr_load_64(&j->f->intent_near);
	return ck_pr_load_64(&j->f->done_near);
}

void
journal_intent(struct journal *j, uint64_t near, uint64_t far)
{
	/* The pair must be whole before the commit can be seen: far is
	 * cleared first (a kill between the stores must not pair the new
	 * near with the old far), then near, then far (the field
	 * journal_resume tests), then a fence before the ring's commit. */
	ck_pr_store_64(&j->f->intent_far, WIRE_NONE);
	ck_pr_fence_store();
	ck_pr_store_64(&j->f->intent_near, near);
	ck_pr_fence_store();
	ck_pr_store_64(&j->f->intent_far, far);
	ck_pr_fence_store();
}

void
journal_done(struct journal *j, uint64_t near, uint64_t far)
{
	ck_pr_store_64(&j->f->done_near, near);
	ck_pr_store_64(&j->f->done_far, far);
	ck_pr_fence_store();
}
