/*
 * Which rings exist: the names rb_ring_foreach finds, sorted so that
 * every listing comes out in the same order (readdir order is arbitrary).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

struct ctl_names_builder {
	struct ctl_names *n;
	size_t capacity;
};

static int
ctl_names_add(const char *name, void *arg)
{
	struct ctl_names_builder *b = arg;
	char *copy;

	if (b->n->count == b->capacity) {
		size_t cap = b->capacity ? 2 * b->capacity : 16;
		char **grown = realloc(b->n->names, cap * sizeof(*grown));

		if (grown == NULL)
			return -ENOMEM;
		b->n->names = grown;
		b->capacity = cap;
	}
	if ((copy = strdup(name)) == NULL)
		return -ENOMEM;
	b->n->names[b->n->count++] = copy;
	return 0;
}

static int
ctl_names_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int
ctl_names_all(struct ctl_names *out)
{
	struct ctl_names_builder b = {out, 0};
	int rc;

	out->names = NULL;
	out->count = 0;
	rc = rb_ring_foreach(ctl_names_add, &b);
	if (rc != 0) {
		ctl_names_free(out);
		return rc;
	}
	if (out->count > 1)
		qsort(out->names, out->count, sizeof(*out->names), ctl_names_compare);
	return 0;
}

void
ctl_names_free(struct ctl_names *n)
{
	size_t i;

	for (i = 0; i < n->count; i++)
		free(n->names[i]);
	free(n->names);
	n->names = NULL;
	n->count = 0;
}

/* docs/FORMAT.md §1.1; the library checks the same but can only say
 * -EINVAL, which from rb_ring_create could mean anything. */
bool
ctl_name_valid(const char *name)
{
	size_t len = strlen(name), i;

	if (len == 0 || len > RB_NAME_MAX || name[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

void
ctl_name_error(const char *name)
{
	cli_error("%s: not a valid ring name (1 to %d of A-Z a-z 0-9 . _ -, "
		  "not starting with '.')", name, RB_NAME_MAX);
}

int
ctl_open(const char *name, struct rb_ring **out)
{
	int rc;

	*out = NULL;
	if (!ctl_name_valid(name)) {
		ctl_name_error(name);
		return -EINVAL;
	}
	if ((rc = cli_ring_open(name, out)) != 0)
		cli_error("%s: %s", name, cli_ring_error(name, rc));
	return rc;
}
