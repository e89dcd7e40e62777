/*
 * Which answer a request path gets (route.c). Kept apart from the server
 * and from rb-ctl so the fuzz target (tests/fuzz/fuzz_serve_route.c) links
 * it alone: the path is the part of a request that comes from outside
 * (libmicrohttpd has parsed and unescaped it, query string removed).
 */
#ifndef RB_CTL_SERVE_ROUTE_H
#define RB_CTL_SERVE_ROUTE_H

#include <ringbuf/ringbuf.h>

enum serve_route_kind {
	SERVE_NOT_FOUND,
	SERVE_BAD_NAME, /* /api/rings/X with X not a ring name */
	SERVE_METRICS,
	SERVE_LIST,     /* /api/rings */
	SERVE_INFO,     /* /api/rings/NAME */
	SERVE_FRAME,    /* /api/rings/NAME/frame */
	SERVE_FILE,     /* one of the page's files: serve_files[file] */
};

struct serve_file {
	const char *url;
	const char *file; /* its name in an installed web dir */
	const char *tree; /* its path in the source tree's web/ (npm's folder), or NULL */
	const char *type;
};

/* The page's files; ends with a NULL url. */
extern const struct serve_file serve_files[];

struct serve_route {
	enum serve_route_kind kind;
	int file;                  /* SERVE_FILE: index in serve_files */
	char name[RB_NAME_MAX + 1];/* SERVE_INFO, SERVE_FRAME: the ring */
};

void serve_route(const char *path, struct serve_route *out);

#endif /* RB_CTL_SERVE_ROUTE_H */
