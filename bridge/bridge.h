/*
 * rb-bridge: carries a ring's frames to a ring on another machine over
 * ZeroMQ (docs/BRIDGE.md). One concept per file:
 *   wire.c      the wire format, field by field, with bounds checks
 *   message.c   a received message checked whole
 *   journal.c   the receiver's record of what it committed
 *   socket.c    ZeroMQ sockets: endpoints, options, monitor, receiving parts
 *   curve.c     CURVE key files, keygen and the ZAP handler
 *   sender.c    rb-bridge send
 *   publisher.c rb-bridge send --pub
 *   receiver.c  rb-bridge recv (and recv --sub)
 *   options.c   the command lines
 *   main.c      the subcommands
 */
#ifndef RB_BRIDGE_H
#define RB_BRIDGE_H

#include <stdbool.h>
#include <stdint.h>

#include "cli.h"
#include "message.h"

#include <zmq.h>

#define BRIDGE_KEY_Z85 41 /* 40 characters and a NUL */

struct bridge_curve {
	bool on;
	char public_key[BRIDGE_KEY_Z85]; /* this side's key pair */
	char secret_key[BRIDGE_KEY_Z85];
	char peer_key[BRIDGE_KEY_Z85];   /* the other side's public key */
};

struct bridge_options {
	const char *ring;
	char endpoint[300];  /* normalised: tcp://HOST:PORT */
	bool bind;           /* bind (default: recv) or connect (default: send) */
	bool any_address;
	bool json;
	uint64_t duration_ns;
	struct bridge_curve curve;
	/* send */
	bool lossy;
	const char *group;
	enum rb_start start;
	char label[32];
	uint32_t window;     /* 0: the ring's slot count / 2, at most 4096 */
	uint64_t ack_timeout_ns;
	uint64_t wait_ring_ns;
	uint64_t count;      /* stop after this many frames acknowledged; 0: no */
	bool pub;            /* --pub: publish to subscribers (publisher.c) */
	int hwm;             /* --hwm: PUB/SUB messages queued per peer */
	/* recv */
	bool attach;
	bool keep;
	bool keep_going;     /* wait for the next sender after an end */
	uint32_t slots;      /* far ring's slot count; 0: the near ring's */
	bool sub;            /* --sub: subscribe to a publisher */
};

/* options.c: return -1 to run, or an exit status. */
int bridge_parse_send(int argc, char **argv, struct bridge_options *o);
int bridge_parse_recv(int argc, char **argv, struct bridge_options *o);
int bridge_parse_keygen(int argc, char **argv, const char **name);

int bridge_send(const struct bridge_options *o);
int bridge_publish(const struct bridge_options *o);
/* sender.c: opens the near ring, waiting --wait-ring for it. 0 or
 * CLI_EXIT_FAIL after saying why. */
int bridge_open_near(const struct bridge_options *o, struct rb_ring **ring);
/* A session id, non-zero, unlike any other process's. */
uint64_t bridge_new_session(void);
int bridge_recv(const struct bridge_options *o);

/* ---- socket.c ---------------------------------------------------------- */

/*
 * "tcp://HOST:PORT", "HOST:PORT" or ":PORT"/"PORT" (loopback) into
 * tcp://HOST:PORT. A bind to every address (*, 0.0.0.0, ::) needs
 * any_address. Returns 0 or CLI_EXIT_USAGE after saying why.
 */
int bridge_endpoint(const char *option, const char *text, bool bind,
		    bool any_address, char *out, size_t size);

/* A socket of `type` with the bridge's options (heartbeats, reconnect,
 * linger, CURVE as client or server), bound or connected. NULL after
 * saying why. */
void *bridge_socket(void *ctx, int type, const struct bridge_options *o,
		    bool curve_server);

/* Monitors handshake failures of `sock`; returns the PAIR that reads
 * them (NULL after saying why). */
void *bridge_monitor(void *ctx, void *sock, const char *name);
/*
 * What the monitor saw. Every connection ends its ZMTP handshake in
 * success, a refused key (ZAP said 400), or neither: bytes that are no
 * ZMTP, a wrong server key, a peer that hung up half way. The last kind
 * is `garbage`: connections less the other two (a connection still in
 * its handshake counts until it is done).
 */
struct bridge_events {
	uint64_t connections; /* accepted or connected */
	uint64_t handshakes;  /* ZMTP handshakes done */
	uint64_t refused;     /* CURVE client keys refused */
};
void bridge_monitor_drain(void *mon, struct bridge_events *ev);
uint64_t bridge_events_garbage(const struct bridge_events *ev);

/* Up to `max` parts of one message, non-blocking: returns the number of
 * parts (the extra ones dropped, *too_many set), 0 when none is waiting,
 * or -errno. msgs must be closed with bridge_parts_close. */

int bridge_recv_parts(void *sock, zmq_msg_t *msgs, unsigned max,
		      bool *too_many);
void bridge_parts_close(zmq_msg_t *msgs, unsigned n);
/* Sends parts (copied: they are small) as one message; -errno. */
int bridge_send_parts(void *sock, const struct wire_part *parts, unsigned n,
		      int flags);

/* Process CPU time (user + system) in seconds. */
double bridge_cpu_seconds(void);

/* ---- curve.c ----------------------------------------------------------- */

/* rb-bridge keygen NAME: NAME.key and NAME.pub. */
int bridge_keygen(const char *name);
/* Reads a key pair (NAME.key) or a public key (NAME.pub, or the public=
 * line of a .key). 0 or CLI_EXIT_USAGE after saying why. */
int bridge_load_keypair(const char *option, const char *path, struct bridge_curve *c);
int bridge_load_public(const char *option, const char *path, char out[BRIDGE_KEY_Z85]);
/* The ZAP handler: a REP socket on inproc://zeromq.zap.01 that admits only
 * the client key `allowed` (Z85). Bind it before the CURVE server socket. */
void *bridge_zap_start(void *ctx);
/* Answers every waiting ZAP request; counts the refused ones. */
void bridge_zap_serve(void *zap, const char *allowed, uint64_t *refused);

#endif /* RB_BRIDGE_H */
