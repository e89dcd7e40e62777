/*
 * rb-ctl serve: the rings of this machine over HTTP, read-only.
 *
 *   /                    the live page (web/: index.html, monitor.js, ...)
 *   /metrics             `rb-ctl stat --prometheus` (no pid labels unless
 *                        --pid-labels: a label that changes at every restart
 *                        starts a new series each time)
 *   /api/rings           `rb-ctl list --json`
 *   /api/rings/NAME      `rb-ctl info --json NAME`
 *   /api/rings/NAME/frame  the newest frame's bytes, its type in headers
 *
 * libmicrohttpd parses HTTP and runs every request on one internal thread,
 * so the rb-ctl code the answers come from (which keeps no locks) runs as
 * it does on the command line. Nothing served changes a ring: only GET
 * and HEAD are answered; the frame snapshot attaches a lossy consumer for
 * the time of one copy (frame.c). Bounds: MHD's memory limit per
 * connection turns an oversized request line or header into 414/431, a
 * connection count above SERVE_BUSY is answered 503, and MHD drops
 * connections beyond its own limit and idle ones after a timeout.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "route.h"
#include "serve.h"

static const char serve_usage[] =
	"Usage: rb-ctl serve [--listen ADDR:PORT] [--web-dir DIR] [--pid-labels]\n"
	"Serve a read-only live monitor of every ring over HTTP:\n"
	"  /                 a page: rings, fill, rates, consumers' lag and losses,\n"
	"                    who blocks whom, and plots of a ring's newest frame\n"
	"  /metrics          the Prometheus exposition (as rb-ctl stat --prometheus)\n"
	"  /api/rings        the JSON of rb-ctl list --json\n"
	"  /api/rings/NAME   the JSON of rb-ctl info --json NAME\n"
	"  /api/rings/NAME/frame  a lossy copy of the newest frame (raw bytes)\n"
	"Options:\n"
	"  -l, --listen ADDR:PORT  where to listen (default 127.0.0.1:9464, loopback)\n"
	"  -w, --web-dir DIR       the page's files (default: the installed ones)\n"
	"  -p, --pid-labels        add the pid label to producer samples in /metrics\n"
	"  -h, --help\n"
	"Runs until SIGINT or SIGTERM. Nothing over HTTP can change a ring.\n";

static const struct option serve_options[] = {
	{"listen", required_argument, NULL, 'l'},
	{"web-dir", required_argument, NULL, 'w'},
	{"pid-labels", no_argument, NULL, 'p'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Connections MHD keeps at most; above SERVE_BUSY requests get 503. */
#define SERVE_CONNECTIONS 64
#define SERVE_BUSY 48
/* Request line and headers must fit in this (else 414 or 431). */
#define SERVE_CONNECTION_MEMORY (32u << 10)
#define SERVE_IDLE_SECONDS 10
/* How long a frame request waits for a frame (a slow producer). */
#define SERVE_FRAME_WAIT_NS (250ull * 1000 * 1000)
/* The page's files are small; a bigger one is not ours. */
#define SERVE_FILE_MAX (4u << 20)

struct serve {
	const char *web_dirs[2];
	bool pid_labels;
	unsigned connections; /* only the MHD thread touches it */
};

static enum MHD_Result
serve_send(struct MHD_Connection *conn, unsigned status, const char *type, void *body,
	   size_t size, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(size, body, mode);
	enum MHD_Result ok;

	if (r == NULL) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, "1");
	ok = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ok;
}

/* {"error": "...", "status": N} and the status. */
static enum MHD_Result
serve_error(struct MHD_Connection *conn, unsigned status, const char *what, const char *detail)
{
	char *body = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&body, &size);
	struct cli_json j;

	if (out == NULL)
		return MHD_NO;
	cli_json_begin(&j, out);
	cli_json_string(&j, "error", what);
	if (detail != NULL)
		cli_json_string(&j, "detail", detail);
	cli_json_u64(&j, "status", status);
	cli_json_end(&j);
	fclose(out);
	return serve_send(conn, status, "application/json", body, size, MHD_RESPMEM_MUST_FREE);
}

/* An rb_* code of opening a ring as an HTTP answer. */
static enum MHD_Result
serve_ring_error(struct MHD_Connection *conn, const char *name, int rc)
{
	if (rc == -ENOENT)
		return serve_error(conn, MHD_HTTP_NOT_FOUND, "no such ring", name);
	if (rc == -EACCES || rc == -EPERM)
		return serve_error(conn, MHD_HTTP_FORBIDDEN, rb_strerror(rc), name);
	if (rc == -EAGAIN || rc == RB_E_TOO_MANY)
		return serve_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, rb_strerror(rc), name);
	return serve_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, rb_strerror(rc), name);
}

/* Runs fn into memory and answers with what it wrote. */
static enum MHD_Result
serve_generated(struct MHD_Connection *conn, const char *type,
		int (*fn)(FILE *out, const void *arg), const void *arg, const char *name)
{
	char *body = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&body, &size);
	int rc;

	if (out == NULL)
		return serve_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL);
	rc = fn(out, arg);
	if (fclose(out) != 0 && rc == 0)
		rc = -ENOMEM;
	if (rc != 0) {
		free(body);
		return serve_ring_error(conn, name, rc);
	}
	return serve_send(conn, MHD_HTTP_OK, type, body, size, MHD_RESPMEM_MUST_FREE);
}

static int
serve_list(FILE *out, const void *arg)
{
	(void)arg;
	return ctl_list_json(out);
}

static int
serve_info(FILE *out, const void *arg)
{
	return ctl_info_json(out, arg);
}

static int
serve_metrics(FILE *out, const void *arg)
{
	return ctl_stat_prometheus(out, *(const bool *)arg);
}

static enum MHD_Result
serve_frame(struct MHD_Connection *conn, const char *name)
{
	struct serve_frame f;
	struct MHD_Response *r;
	enum MHD_Result ok;
	char text[160];
	size_t used = 0;
	uint32_t i;
	int rc = serve_frame_take(name, SERVE_FRAME_WAIT_NS, &f);

	if (rc == -EAGAIN)
		return serve_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE,
				   "no frame to show (the producer is idle or gone)", name);
	if (rc != 0)
		return serve_ring_error(conn, name, rc);
	r = MHD_create_response_from_buffer(f.copied, f.data, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(f.data);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/octet-stream");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	MHD_add_response_header(r, "X-Ring-Elem",
				rb_elem_name(f.type.elem) ? rb_elem_name(f.type.elem) : "bytes");
	text[0] = '\0';
	for (i = 0; i < f.type.ndim && i < RB_MAX_DIMS && used < sizeof(text); i++)
		used += (size_t)snprintf(text + used, sizeof(text) - used, "%s%llu", i ? "," : "",
					 (unsigned long long)f.type.dims[i]);
	MHD_add_response_header(r, "X-Ring-Shape", text);
	snprintf(text, sizeof(text), "%llu", (unsigned long long)f.seq);
	MHD_add_response_header(r, "X-Ring-Seq", text);
	snprintf(text, sizeof(text), "%llu", (unsigned long long)f.timestamp_ns);
	MHD_add_response_header(r, "X-Ring-Timestamp-Ns", text);
	snprintf(text, sizeof(text), "%llu", (unsigned long long)f.length);
	MHD_add_response_header(r, "X-Ring-Length", text);
	ok = MHD_queue_response(conn, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* A page file from the first web dir that has it. */
static enum MHD_Result
serve_static(struct MHD_Connection *conn, const struct serve *sv, const struct serve_file *sf)
{
	char path[PATH_MAX];
	struct stat st;
	size_t d;

	for (d = 0; d < 2; d++) {
		FILE *in;
		char *body;

		if (sv->web_dirs[d] == NULL)
			continue;
		/* Installed flat, or as npm left it in the source tree. */
		snprintf(path, sizeof(path), "%s/%s", sv->web_dirs[d], sf->file);
		if ((in = fopen(path, "rb")) == NULL) {
			if (sf->tree == NULL)
				continue;
			snprintf(path, sizeof(path), "%s/%s", sv->web_dirs[d], sf->tree);
			if ((in = fopen(path, "rb")) == NULL)
				continue;
		}
		if (fstat(fileno(in), &st) != 0 || st.st_size > SERVE_FILE_MAX ||
		    (body = malloc((size_t)st.st_size + 1)) == NULL) {
			fclose(in);
			return serve_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read", path);
		}
		if (fread(body, 1, (size_t)st.st_size, in) != (size_t)st.st_size) {
			fclose(in);
			free(body);
			return serve_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot read", path);
		}
		fclose(in);
		return serve_send(conn, MHD_HTTP_OK, sf->type, body, (size_t)st.st_size,
				  MHD_RESPMEM_MUST_FREE);
	}
	return serve_error(conn, MHD_HTTP_NOT_FOUND, "page file not installed", sf->file);
}

static enum MHD_Result
serve_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	      const char *version, const char *upload, size_t *upload_size, void **req)
{
	struct serve *sv = cls;
	struct serve_route route;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req;
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return serve_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "read-only: GET and HEAD only",
				   method);
	if (sv->connections > SERVE_BUSY)
		return serve_error(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "too many connections", NULL);
	serve_route(url, &route);
	switch (route.kind) {
	case SERVE_METRICS:
		return serve_generated(conn, "text/plain; version=0.0.4; charset=utf-8",
				       serve_metrics, &sv->pid_labels, NULL);
	case SERVE_LIST:
		return serve_generated(conn, "application/json", serve_list, NULL, NULL);
	case SERVE_INFO:
		return serve_generated(conn, "application/json", serve_info, route.name,
				       route.name);
	case SERVE_FRAME:
		return serve_frame(conn, route.name);
	case SERVE_FILE:
		return serve_static(conn, sv, &serve_files[route.file]);
	case SERVE_BAD_NAME:
		return serve_error(conn, MHD_HTTP_BAD_REQUEST, "not a valid ring name",
				   route.name[0] ? route.name : NULL);
	case SERVE_NOT_FOUND:
		break;
	}
	return serve_error(conn, MHD_HTTP_NOT_FOUND, "no such page", url);
}

static void
serve_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
	     enum MHD_ConnectionNotificationCode code)
{
	struct serve *sv = cls;

	(void)conn;
	(void)socket_context;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		sv->connections++;
	else if (code == MHD_CONNECTION_NOTIFY_CLOSED && sv->connections > 0)
		sv->connections--;
}

/* libmicrohttpd's own messages, as one of ours: "rb-ctl: serve: ...". */
static void
serve_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	fputs("rb-ctl: serve: ", stderr);
	vfprintf(stderr, fmt, ap);
}

/* "127.0.0.1:9464", "[::1]:9464", ":9464" (loopback) into a socket address. */
static bool
serve_parse_listen(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(text, ':');
	char *end;
	unsigned long port;
	size_t hlen;

	if (colon == NULL)
		return false;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || port > 65535)
		return false;
	hlen = (size_t)(colon - text);
	if (hlen >= sizeof(host))
		return false;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hlen - 1] = '\0';
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host + 1, &a->sin6_addr) == 1;
	}
	{
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*len = sizeof(*a);
		if (hlen == 0) {
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			return true;
		}
		return inet_pton(AF_INET, host, &a->sin_addr) == 1;
	}
}

int
ctl_serve(int argc, char **argv)
{
	struct serve sv = {{NULL, RB_WEB_SOURCE_DIR}, false, 0};
	const char *listen = "127.0.0.1:9464";
	struct sockaddr_storage ss;
	struct MHD_Daemon *d;
	socklen_t sslen;
	unsigned flags;
	int c, rc;

	sv.web_dirs[0] = RB_WEB_DIR;
	ctl_getopt_reset();
	while ((c = getopt_long(argc, argv, ":l:w:ph", serve_options, NULL)) != -1) {
		if (c == 'l')
			listen = optarg;
		else if (c == 'w')
			sv.web_dirs[0] = sv.web_dirs[1] = optarg;
		else if (c == 'p')
			sv.pid_labels = true;
		else if ((rc = ctl_getopt_other(c, argv, serve_usage)) >= 0)
			return rc;
	}
	if (optind < argc)
		return ctl_usage_error("serve", "takes no ring name (it serves every ring)");
	if (!serve_parse_listen(listen, &ss, &sslen))
		return ctl_usage_error("serve", "--listen wants ADDR:PORT (127.0.0.1:9464, [::1]:9464)");
	if ((rc = cli_signals_start()) != 0)
		return rc;
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_AUTO;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, 0, NULL, NULL, serve_request, &sv,
			     MHD_OPTION_EXTERNAL_LOGGER, serve_log, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_CONNECTION_LIMIT, (unsigned)SERVE_CONNECTIONS,
			     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)SERVE_IDLE_SECONDS,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)SERVE_CONNECTION_MEMORY,
			     MHD_OPTION_NOTIFY_CONNECTION, serve_notify, &sv,
			     MHD_OPTION_END);
	if (d == NULL) {
		cli_error("serve: cannot listen on %s (in use, or not an address of this machine)",
			  listen);
		return CLI_EXIT_FAIL;
	}
	(void)sslen;
	{
		/* The port MHD bound (--listen ADDR:0 picks a free one). */
		const union MHD_DaemonInfo *info =
			MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		int hlen = (int)(strrchr(listen, ':') - listen);
		const char *host = hlen > 0 ? listen : "127.0.0.1";

		if (hlen == 0)
			hlen = (int)strlen(host);
		fprintf(stderr, "rb-ctl: serving http://%.*s:%u/ (Ctrl-C stops)\n", hlen, host,
			info != NULL ? (unsigned)info->port : 0u);
	}
	/* The MHD thread answers; this one only waits for the stop signal. */
	while (!cli_stop) {
		struct timespec ts = {0, 100 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(d);
	return CLI_EXIT_OK;
}
