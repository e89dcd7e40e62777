/*
 * ZeroMQ sockets as both sides use them. The options chosen here:
 *   ZMQ_LINGER 1 s        a last ACK or BYE gets a chance to leave at close
 *   ZMQ_RECONNECT_IVL     100 ms (ZeroMQ's default), up to 1 s
 *   ZMQ_HEARTBEAT_IVL 1 s, ZMQ_HEARTBEAT_TIMEOUT 3 s: a peer that vanished
 *                         (link down, kill -9 without FIN) is dropped and
 *                         the connection remade, instead of waiting on TCP
 *   ZMQ_SNDHWM/RCVHWM     0 (unlimited): the bridge's window bounds what is
 *                         queued, and a HWM drop would only cost a rewind;
 *                         PUB/SUB: --hwm (lossy fan-out)
 *   ZMQ_IMMEDIATE 1       on the connecting side: no queueing to a peer
 *                         that is not connected, so a rewind after a
 *                         reconnect does not find the old window queued
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bridge.h"

static bool
bridge_any_host(const char *host, size_t len)
{
	return (len == 1 && host[0] == '*') || (len == 7 && memcmp(host, "0.0.0.0", 7) == 0) ||
	       (len == 2 && memcmp(host, "::", 2) == 0) ||
	       (len == 4 && memcmp(host, "[::]", 4) == 0);
}

int
bridge_endpoint(const char *option, const char *text, bool bind, bool any_address,
		char *out, size_t size)
{
	const char *rest = text, *colon;
	char *end;
	unsigned long port;
	size_t hostlen;

	if (strncmp(rest, "tcp://", 6) == 0)
		rest += 6;
	else if (strstr(rest, "://") != NULL) {
		cli_error("%s: '%s': only tcp:// endpoints", option, text);
		return CLI_EXIT_USAGE;
	}
	colon = strrchr(rest, ':');
	if (colon == NULL) {
		colon = rest - 1; /* "5555": a port alone, on loopback */
		hostlen = 0;
	} else {
		hostlen = (size_t)(colon - rest);
	}
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port == 0 || port > 65535) {
		cli_error("%s: '%s': not an endpoint (tcp://HOST:PORT, HOST:PORT or :PORT)",
			  option, text);
		return CLI_EXIT_USAGE;
	}
	if (hostlen == 0) {
		snprintf(out, size, "tcp://127.0.0.1:%lu", port);
		return 0;
	}
	if (bind && bridge_any_host(rest, hostlen) && !any_address) {
		cli_error("%s: '%s': binding to every address needs --any-address "
			  "(the default is loopback only)", option, text);
		return CLI_EXIT_USAGE;
	}
	if ((size_t)snprintf(out, size, "tcp://%.*s:%lu", (int)hostlen, rest, port) >= size) {
		cli_error("%s: '%s': too long", option, text);
		return CLI_EXIT_USAGE;
	}
	return 0;
}

static int
bridge_setopt_int(void *sock, int name, int value)
{
	return zmq_setsockopt(sock, name, &value, sizeof(value));
}

void *
bridge_socket(void *ctx, int type, const struct bridge_options *o, bool curve_server)
{
	void *sock = zmq_socket(ctx, type);
	int rc = 0;

	if (sock == NULL) {
		cli_error("zmq_socket: %s", zmq_strerror(zmq_errno()));
		return NULL;
	}
	rc |= bridge_setopt_int(sock, ZMQ_LINGER, 1000);
	rc |= bridge_setopt_int(sock, ZMQ_RECONNECT_IVL, 100);
	rc |= bridge_setopt_int(sock, ZMQ_RECONNECT_IVL_MAX, 1000);
	rc |= bridge_setopt_int(sock, ZMQ_HEARTBEAT_IVL, 1000);
	rc |= bridge_setopt_int(sock, ZMQ_HEARTBEAT_TIMEOUT, 3000);
	if (type == ZMQ_XPUB)
		rc |= bridge_setopt_int(sock, ZMQ_XPUB_VERBOSE, 1);
	if (type == ZMQ_XPUB || type == ZMQ_SUB) {
		/* Fan-out is lossy: a subscriber that falls --hwm messages
		 * behind loses messages instead of growing the queue. */
		rc |= bridge_setopt_int(sock, ZMQ_SNDHWM, o->hwm);
		rc |= bridge_setopt_int(sock, ZMQ_RCVHWM, o->hwm);
	} else {
		rc |= bridge_setopt_int(sock, ZMQ_SNDHWM, 0);
		rc |= bridge_setopt_int(sock, ZMQ_RCVHWM, 0);
	}
	if (type == ZMQ_SUB)
		rc |= zmq_setsockopt(sock, ZMQ_SUBSCRIBE, "", 0);
	if (!o->bind && type == ZMQ_DEALER)
		rc |= bridge_setopt_int(sock, ZMQ_IMMEDIATE, 1);
	if (o->curve.on) {
		if (curve_server) {
			rc |= bridge_setopt_int(sock, ZMQ_CURVE_SERVER, 1);
			rc |= zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, o->curve.secret_key, 40);
		} else {
			rc |= zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, o->curve.peer_key, 40);
			rc |= zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, o->curve.public_key, 40);
			rc |= zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, o->curve.secret_key, 40);
		}
	}
	if (rc != 0) {
		cli_error("zmq_setsockopt: %s", zmq_strerror(zmq_errno()));
		zmq_close(sock);
		return NULL;
	}
	rc = o->bind ? zmq_bind(sock, o->endpoint) : zmq_connect(sock, o->endpoint);
	if (rc != 0) {
		cli_error("%s %s: %s", o->bind ? "bind" : "connect", o->endpoint,
			  zmq_strerror(zmq_errno()));
		zmq_close(sock);
		return NULL;
	}
	return sock;
}

void *
bridge_monitor(void *ctx, void *sock, const char *name)
{
	char ep[64];
	void *mon;

	snprintf(ep, sizeof(ep), "inproc://rb-bridge-monitor-%s", name);
	if (zmq_socket_monitor(sock, ep, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_CONNECTED |
				      ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
				      ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
				      ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
				      ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0) {
		cli_error("zmq_socket_monitor: %s", zmq_strerror(zmq_errno()));
		return NULL;
	}
	mon = zmq_socket(ctx, ZMQ_PAIR);
	if (mon == NULL || zmq_connect(mon, ep) != 0) {
		cli_error("monitor %s: %s", ep, zmq_strerror(zmq_errno()));
		if (mon != NULL)
			zmq_close(mon);
		return NULL;
	}
	return mon;
}

void
bridge_monitor_drain(void *mon, struct bridge_events *ev)
{
	zmq_msg_t parts[2];
	bool too_many;
	int n;

	/* Each event is two parts: 16-bit event and 32-bit value in the
	 * host's byte order, then the endpoint. */
	while ((n = bridge_recv_parts(mon, parts, 2, &too_many)) > 0) {
		if (zmq_msg_size(&parts[0]) >= 6) {
			uint16_t event;

			memcpy(&event, zmq_msg_data(&parts[0]), sizeof(event));
			if (event == ZMQ_EVENT_ACCEPTED || event == ZMQ_EVENT_CONNECTED)
				ev->connections++;
			else if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
				ev->handshakes++;
			else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
				ev->refused++;
		}
		bridge_parts_close(parts, (unsigned)n);
	}
}

uint64_t
bridge_events_garbage(const struct bridge_events *ev)
{
	uint64_t ok = ev->handshakes + ev->refused;

	return ev->connections > ok ? ev->connections - ok : 0;
}

int
bridge_recv_parts(void *sock, zmq_msg_t *msgs, unsigned max, bool *too_many)
{
	unsigned n = 0;
	int more;

	*too_many = false;
	for (;;) {
		zmq_msg_t scratch, *m = n < max ? &msgs[n] : &scratch;

		zmq_msg_init(m);
		/* The first part decides: later parts of a message are
		 * already here (ZeroMQ delivers a message whole). */
		if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
			int e = zmq_errno();

			zmq_msg_close(m);
			bridge_parts_close(msgs, n < max ? n : max);
			return e == EAGAIN && n == 0 ? 0 : -e;
		}
		more = zmq_msg_more(m);
		if (n < max)
			n++;
		else {
			*too_many = true;
			zmq_msg_close(m);
		}
		if (!more)
			return (int)n;
	}
}

void
bridge_parts_close(zmq_msg_t *msgs, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		zmq_msg_close(&msgs[i]);
}

int
bridge_send_parts(void *sock, const struct wire_part *parts, unsigned n, int flags)
{
	for (unsigned i = 0; i < n; i++) {
		int f = (i + 1 < n ? ZMQ_SNDMORE : 0) | (i == 0 ? flags : 0);

		if (zmq_send(sock, parts[i].data, parts[i].size, f) < 0)
			return -zmq_errno();
	}
	return 0;
}

double
bridge_cpu_seconds(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}
