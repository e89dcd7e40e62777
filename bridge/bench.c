/*
 * rb-bridge-bench: the baselines rb-bridge is measured against
 * (tools/bench-bridge, docs/PERFORMANCE.md), and the far-side latency.
 *
 *   rb-bridge-bench raw-recv ENDPOINT            ROUTER, binds; copies each
 *                                                 payload once (as recv does)
 *   rb-bridge-bench raw-send ENDPOINT SIZE COUNT  DEALER; COUNT messages of
 *                                                 SIZE from one buffer, zero copy
 *   rb-bridge-bench pong ENDPOINT                 ROUTER, echoes 8 bytes
 *   rb-bridge-bench ping ENDPOINT SIZE COUNT      DEALER; round trips, p50/p99
 *   rb-bridge-bench latency RING COUNT            far consumer: commit (near
 *                                                 time stamp) to acquire, p50/p99
 *
 * Same socket types and options as the bridge (bridge_socket), so the
 * difference is the bridge's own work. Each prints one JSON line.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bridge.h"

static void
bench_nofree(void *data, void *hint)
{
	(void)data;
	(void)hint;
}

static int
bench_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
bench_percentiles(const char *what, uint64_t *v, uint64_t n, double scale)
{
	qsort(v, n, sizeof(*v), bench_cmp);
	printf("{\"%s\":true,\"count\":%" PRIu64 ",\"p50_us\":%.2f,\"p99_us\":%.2f,"
	       "\"max_us\":%.2f}\n", what, n, (double)v[n / 2] * scale / 1e3,
	       (double)v[n * 99 / 100] * scale / 1e3, (double)v[n - 1] * scale / 1e3);
}

static void *
bench_socket(void *ctx, int type, const char *ep, bool bind)
{
	static struct bridge_options o;

	memset(&o, 0, sizeof(o));
	o.bind = bind;
	if (bridge_endpoint("ENDPOINT", ep, bind, true, o.endpoint, sizeof(o.endpoint)) != 0)
		return NULL;
	return bridge_socket(ctx, type, &o, false);
}

static int
bench_raw_recv(void *ctx, const char *ep, bool echo)
{
	void *s = bench_socket(ctx, ZMQ_ROUTER, ep, true);
	char *buf = NULL;
	size_t cap = 0;
	uint64_t bytes = 0, msgs = 0;
	double cpu0 = bridge_cpu_seconds();

	if (s == NULL)
		return 1;
	for (;;) {
		zmq_msg_t parts[2];
		bool too_many;
		zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
		int n;

		if (zmq_poll(&it, 1, 100) < 0 || cli_stop)
			break;
		while ((n = bridge_recv_parts(s, parts, 2, &too_many)) == 2) {
			size_t size = zmq_msg_size(&parts[1]);
			struct wire_part reply[2] = {
				{zmq_msg_data(&parts[0]), zmq_msg_size(&parts[0])}, {"pong0000", 8}};

			if (echo || size == 0) {
				bridge_send_parts(s, reply, 2, 0);
				if (size == 0 && !echo) {
					printf("{\"raw_recv\":true,\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64
					       ",\"cpu_seconds\":%.4f}\n", msgs, bytes,
					       bridge_cpu_seconds() - cpu0);
					fflush(stdout);
					bytes = msgs = 0;
					cpu0 = bridge_cpu_seconds();
				}
			} else {
				if (size > cap) {
					free(buf);
					cap = size;
					buf = malloc(cap);
					if (buf == NULL)
						return 1;
				}
				/* The one copy the bridge's receiver makes too. */
				memcpy(buf, zmq_msg_data(&parts[1]), size);
				bytes += size;
				msgs++;
			}
			bridge_parts_close(parts, 2);
		}
	}
	free(buf);
	zmq_close(s);
	return 0;
}

static int
bench_raw_send(void *ctx, const char *ep, uint64_t size, uint64_t count, bool ping)
{
	void *s = bench_socket(ctx, ZMQ_DEALER, ep, false);
	char *buf = calloc(1, size ? size : 1);
	uint64_t *rtt = ping ? calloc(count, sizeof(*rtt)) : NULL;
	uint64_t t0, t1;
	double cpu0;
	char pong[16];

	if (s == NULL || buf == NULL || (ping && rtt == NULL))
		return 1;
	/* Warm up: one round trip, so the connection exists. */
	zmq_send(s, "", 0, 0);
	if (zmq_recv(s, pong, sizeof(pong), 0) < 0)
		return 1;
	cpu0 = bridge_cpu_seconds();
	t0 = cli_now_ns();
	for (uint64_t i = 0; i < count && !cli_stop; i++) {
		zmq_msg_t m;
		uint64_t a = cli_now_ns();

		zmq_msg_init_data(&m, buf, size, bench_nofree, NULL);
		if (zmq_msg_send(&m, s, 0) < 0)
			return 1;
		if (ping) {
			if (zmq_recv(s, pong, sizeof(pong), 0) < 0)
				return 1;
			rtt[i] = cli_now_ns() - a;
		}
	}
	if (ping) {
		bench_percentiles("ping", rtt, count, 1.0);
		zmq_close(s);
		free(buf);
		free(rtt);
		return 0;
	}
	zmq_send(s, "", 0, 0);
	if (zmq_recv(s, pong, sizeof(pong), 0) < 0)
		return 1;
	t1 = cli_now_ns();
	printf("{\"raw_send\":true,\"size\":%" PRIu64 ",\"messages\":%" PRIu64
	       ",\"seconds\":%.6f,\"bytes_per_second\":%.1f,\"cpu_seconds\":%.4f}\n",
	       size, count, (double)(t1 - t0) / 1e9,
	       (double)(size * count) / ((double)(t1 - t0) / 1e9), bridge_cpu_seconds() - cpu0);
	zmq_close(s);
	free(buf);
	return 0;
}

static int
bench_latency(const char *ring_name, uint64_t count)
{
	struct rb_consumer_options co = {.start = RB_START_NEXT, .label = "bench latency",
					 .cancel = &cli_stop};
	struct rb_ring *ring;
	struct rb_consumer *c;
	uint64_t *lat = calloc(count, sizeof(*lat)), n = 0;
	uint64_t deadline = cli_now_ns() + 60000000000ull;
	int rc;

	while ((rc = cli_ring_open(ring_name, &ring)) == -ENOENT && cli_now_ns() < deadline)
		cli_sleep_for(1000000);
	if (rc != 0 || lat == NULL || rb_consumer_attach(ring, &co, &c) != 0)
		return 1;
	while (n < count && !cli_stop) {
		struct rb_frame f;

		rc = rb_consumer_acquire(c, &f, 100000000ull);
		if (rc == -ETIMEDOUT)
			continue;
		if (rc != 0)
			break;
		/* Both rings' machines share CLOCK_MONOTONIC here (namespaces
		 * of one kernel): commit on the near side to acquire here. */
		lat[n++] = cli_now_ns() - f.timestamp_ns;
		rb_consumer_release(c, &f);
	}
	rb_consumer_detach(c);
	rb_ring_close(ring);
	if (n == 0)
		return 1;
	bench_percentiles("latency", lat, n, 1.0);
	return 0;
}

int
main(int argc, char **argv)
{
	uint64_t size = 0, count = 0;
	void *ctx;
	int rc = 2;

	cli_set_program("rb-bridge-bench");
	cli_signals_start();
	if (argc >= 5 && (cli_parse_size(argv[3], &size) != 0 ||
			  cli_parse_count(argv[4], &count) != 0 || count == 0)) {
		cli_error("bad SIZE or COUNT");
		return 2;
	}
	if (argc == 4 && strcmp(argv[1], "latency") == 0)
		return cli_parse_count(argv[3], &count) == 0 && count > 0
			       ? bench_latency(argv[2], count) : 2;
	ctx = zmq_ctx_new();
	if (argc == 3 && strcmp(argv[1], "raw-recv") == 0)
		rc = bench_raw_recv(ctx, argv[2], false);
	else if (argc == 3 && strcmp(argv[1], "pong") == 0)
		rc = bench_raw_recv(ctx, argv[2], true);
	else if (argc == 5 && strcmp(argv[1], "raw-send") == 0)
		rc = bench_raw_send(ctx, argv[2], size, count, false);
	else if (argc == 5 && strcmp(argv[1], "ping") == 0)
		rc = bench_raw_send(ctx, argv[2], size, count, true);
	else
		fputs("usage: rb-bridge-bench raw-recv|pong ENDPOINT | raw-send|ping ENDPOINT "
		      "SIZE COUNT | latency RING COUNT\n", stderr);
	zmq_ctx_term(ctx);
	return rc;
}
