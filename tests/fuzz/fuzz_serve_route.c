/*
 * libFuzzer target: request paths into rb-ctl serve's router
 * (tools/ctl/serve/route.c). Whatever the path, the route is one of the
 * known kinds, a ring name it hands on is one rb_ring_name_check accepts
 * and is exactly the path's segment after /api/rings/, and nothing reads
 * or writes out of bounds (ASan).
 *
 * Built with -DRB_ROUTE_STANDALONE (the plain build's suite monitor) it
 * has its own main: the paths below and a few hundred thousand random
 * mutations of them, so the property is checked in every test run, not
 * only in the fuzz build.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static void
route_check(const char *path)
{
	struct serve_route r;
	static const char rings[] = "/api/rings/";
	size_t n;

	serve_route(path, &r);
	switch (r.kind) {
	case SERVE_INFO:
	case SERVE_FRAME:
		n = strlen(r.name);
		if (rb_ring_name_check(r.name) != 0 || n == 0 || n > RB_NAME_MAX ||
		    strncmp(path, rings, sizeof(rings) - 1) != 0 ||
		    strncmp(path + sizeof(rings) - 1, r.name, n) != 0 ||
		    strcmp(path + sizeof(rings) - 1 + n, r.kind == SERVE_INFO ? "" : "/frame") != 0)
			abort();
		break;
	case SERVE_FILE:
		if (strcmp(serve_files[r.file].url, path) != 0)
			abort();
		break;
	case SERVE_METRICS:
	case SERVE_LIST:
	case SERVE_BAD_NAME:
	case SERVE_NOT_FOUND:
		break;
	default:
		abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *path = malloc(size + 1);

	if (path == NULL)
		return 0;
	memcpy(path, data, size);
	path[size] = '\0';
	route_check(path);
	free(path);
	return 0;
}

#ifdef RB_ROUTE_STANDALONE
static const char *const route_seeds[] = {
	"/", "/index.html", "/metrics", "/api/rings", "/api/rings/", "/api/rings/adc0",
	"/api/rings/adc0/frame", "/api/rings/adc0/frame/", "/api/rings/.hidden",
	"/api/rings//frame", "/api/rings/a b", "/uPlot.iife.min.js", "/api/ringsX",
};

int
main(void)
{
	char buf[512];
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t s, i, len;
	unsigned long runs = 0;

	for (s = 0; s < sizeof(route_seeds) / sizeof(route_seeds[0]); s++) {
		route_check(route_seeds[s]);
		for (i = 0; i < 20000; i++, runs++) {
			/* xorshift64: random edits of the seed (bytes replaced,
			 * the length changed, long runs of name characters). */
			len = strlen(route_seeds[s]);
			memcpy(buf, route_seeds[s], len);
			for (int e = 0; e < 4; e++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				size_t at = (size_t)(x % (sizeof(buf) - 1));
				switch ((x >> 32) % 3) {
				case 0:
					if (at < len)
						buf[at] = (char)(x >> 40);
					break;
				case 1:
					len = at;
					break;
				default:
					while (len < at)
						buf[len++] = "a/.-_Z9"[(x >> 48) % 7];
				}
			}
			buf[len] = '\0';
			route_check(buf);
		}
	}
	printf("serve route: %lu paths checked\n", runs);
	return 0;
}
#endif
