/*
 * Request paths to answers. A ring name is whatever rb_ring_name_check
 * accepts, cut at the next '/', never longer than RB_NAME_MAX.
 */
#include <string.h>

#include "route.h"

const struct serve_file serve_files[] = {
	{"/", "index.html", NULL, "text/html; charset=utf-8"},
	{"/index.html", "index.html", NULL, "text/html; charset=utf-8"},
	{"/monitor.js", "monitor.js", NULL, "text/javascript; charset=utf-8"},
	{"/monitor.css", "monitor.css", NULL, "text/css; charset=utf-8"},
	{"/uPlot.iife.min.js", "uPlot.iife.min.js", "node_modules/uplot/dist/uPlot.iife.min.js",
	 "text/javascript; charset=utf-8"},
	{"/uPlot.min.css", "uPlot.min.css", "node_modules/uplot/dist/uPlot.min.css",
	 "text/css; charset=utf-8"},
	{NULL, NULL, NULL, NULL},
};

void
serve_route(const char *path, struct serve_route *out)
{
	static const char rings[] = "/api/rings/";
	const char *rest;
	size_t len;
	int i;

	memset(out, 0, sizeof(*out));
	out->kind = SERVE_NOT_FOUND;
	if (strcmp(path, "/metrics") == 0) {
		out->kind = SERVE_METRICS;
	} else if (strcmp(path, "/api/rings") == 0 || strcmp(path, "/api/rings/") == 0) {
		out->kind = SERVE_LIST;
	} else if (strncmp(path, rings, sizeof(rings) - 1) == 0) {
		rest = path + sizeof(rings) - 1;
		len = strcspn(rest, "/");
		if (len == 0 || len > RB_NAME_MAX) {
			out->kind = SERVE_BAD_NAME;
			return;
		}
		memcpy(out->name, rest, len);
		out->name[len] = '\0';
		if (rb_ring_name_check(out->name) != 0) {
			out->kind = SERVE_BAD_NAME;
			return;
		}
		rest += len;
		if (*rest == '\0')
			out->kind = SERVE_INFO;
		else if (strcmp(rest, "/frame") == 0)
			out->kind = SERVE_FRAME;
	} else {
		for (i = 0; serve_files[i].url != NULL; i++)
			if (strcmp(path, serve_files[i].url) == 0) {
				out->kind = SERVE_FILE;
				out->file = i;
			}
	}
}
