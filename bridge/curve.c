/*
 * CURVE keys and the ZAP handler.
 *
 * Key files are text. NAME.key (mode 0600) holds this side's pair:
 *     public=<40 Z85 characters>
 *     secret=<40 Z85 characters>
 * NAME.pub holds the public key alone (one line of 40 Z85 characters);
 * it is what the other side is given (--curve-peer).
 *
 * Without a ZAP handler a CURVE server accepts any client key (it only
 * encrypts); the receiver therefore runs one, a REP socket bound to
 * inproc://zeromq.zap.01 before the server socket, which admits only the
 * client key it was given (ZAP, ZeroMQ RFC 27: request parts version
 * "1.0", request id, domain, address, routing id, mechanism, then the
 * 32-byte client key; reply version, request id, status "200" or "400",
 * status text, user id, metadata).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bridge.h"

int
bridge_keygen(const char *name)
{
	char pub[BRIDGE_KEY_Z85], sec[BRIDGE_KEY_Z85], path[4096];
	FILE *f;
	int fd;

	if (zmq_curve_keypair(pub, sec) != 0) {
		cli_error("zmq_curve_keypair: %s (libzmq built without CURVE?)",
			  zmq_strerror(zmq_errno()));
		return CLI_EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s.key", name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		cli_error("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return CLI_EXIT_FAIL;
	}
	fprintf(f, "public=%s\nsecret=%s\n", pub, sec);
	if (fclose(f) != 0) {
		cli_error("%s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	snprintf(path, sizeof(path), "%s.pub", name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || (f = fdopen(fd, "w")) == NULL) {
		cli_error("%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return CLI_EXIT_FAIL;
	}
	fprintf(f, "%s\n", pub);
	if (fclose(f) != 0) {
		cli_error("%s: %s", path, strerror(errno));
		return CLI_EXIT_FAIL;
	}
	printf("%s.key (secret, keep it) and %s.pub (give it to the peer)\n", name, name);
	return CLI_EXIT_OK;
}

/* 40 Z85 characters that decode to 32 bytes. */
static bool
bridge_z85_key(const char *text, size_t len)
{
	uint8_t raw[32];
	char key[BRIDGE_KEY_Z85];

	if (len != 40)
		return false;
	memcpy(key, text, 40);
	key[40] = '\0';
	return zmq_z85_decode(raw, key) != NULL;
}

/* Finds "KEY=" (or, with key NULL, the first line) in a key file. */
static int
bridge_key_field(const char *option, const char *path, const char *key,
		 char out[BRIDGE_KEY_Z85])
{
	char buf[1024], line[256];
	FILE *f = fopen(path, "r");
	size_t klen = key != NULL ? strlen(key) : 0;
	bool found = false;

	if (f == NULL) {
		cli_error("%s: %s: %s", option, path, strerror(errno));
		return CLI_EXIT_USAGE;
	}
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		const char *v = line;
		size_t len;

		if (key != NULL) {
			if (strncmp(line, key, klen) != 0 || line[klen] != '=')
				continue;
			v = line + klen + 1;
		}
		len = strcspn(v, "\r\n");
		if (bridge_z85_key(v, len)) {
			memcpy(out, v, 40);
			out[40] = '\0';
			found = true;
		} else if (key == NULL) {
			break;
		}
	}
	fclose(f);
	if (!found) {
		cli_error("%s: %s: no %s key in it (make keys with rb-bridge keygen NAME)",
			  option, path, key != NULL ? key : "public");
		return CLI_EXIT_USAGE;
	}
	return 0;
}

int
bridge_load_keypair(const char *option, const char *path, struct bridge_curve *c)
{
	int rc = bridge_key_field(option, path, "public", c->public_key);

	return rc != 0 ? rc : bridge_key_field(option, path, "secret", c->secret_key);
}

int
bridge_load_public(const char *option, const char *path, char out[BRIDGE_KEY_Z85])
{
	/* A .pub file is the key alone; a .key file has a public= line. */
	if (bridge_key_field(option, path, NULL, out) == 0)
		return 0;
	return bridge_key_field(option, path, "public", out);
}

void *
bridge_zap_start(void *ctx)
{
	void *zap = zmq_socket(ctx, ZMQ_REP);

	if (zap == NULL || zmq_bind(zap, "inproc://zeromq.zap.01") != 0) {
		cli_error("ZAP handler: %s", zmq_strerror(zmq_errno()));
		if (zap != NULL)
			zmq_close(zap);
		return NULL;
	}
	return zap;
}

void
bridge_zap_serve(void *zap, const char *allowed, uint64_t *refused)
{
	zmq_msg_t parts[8];
	uint8_t want[32];
	bool too_many;
	int n;

	zmq_z85_decode(want, allowed);
	while ((n = bridge_recv_parts(zap, parts, 8, &too_many)) > 0) {
		bool ok = n >= 7 && !too_many && zmq_msg_size(&parts[5]) == 5 &&
			  memcmp(zmq_msg_data(&parts[5]), "CURVE", 5) == 0 &&
			  zmq_msg_size(&parts[6]) == 32 &&
			  memcmp(zmq_msg_data(&parts[6]), want, 32) == 0;
		struct wire_part reply[6] = {
			{"1.0", 3},
			{n >= 2 ? zmq_msg_data(&parts[1]) : "", n >= 2 ? zmq_msg_size(&parts[1]) : 0},
			{ok ? "200" : "400", 3},
			{ok ? "OK" : "key not allowed", ok ? 2 : 15},
			{"", 0},
			{"", 0},
		};

		if (!ok)
			(*refused)++;
		bridge_send_parts(zap, reply, 6, 0);
		bridge_parts_close(parts, (unsigned)n);
	}
}
