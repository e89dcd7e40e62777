/*
 * --trust-owner USER|UID: whose rings a program may attach to besides its
 * own and root's (struct rb_open_params in ringbuf.h says why). The
 * programs collect the option's values here, once per process, and open
 * every ring through cli_ring_open so that the same owners are trusted
 * wherever a ring is opened.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

#define CLI_TRUST_MAX 16

static uint32_t cli_trusted[CLI_TRUST_MAX];
static uint32_t cli_trusted_count;

int
cli_trust_owner(const char *name, const char *text)
{
	struct passwd *pw;
	uint32_t uid;
	char *end;

	if (text[0] == '\0')
		return cli_bad_value(name, text, -EINVAL, "a user name or uid");
	/* A name first: a user may be called "1000". */
	pw = getpwnam(text);
	if (pw != NULL) {
		uid = (uint32_t)pw->pw_uid;
	} else {
		unsigned long v;

		errno = 0;
		v = strtoul(text, &end, 10);
		if (text[0] < '0' || text[0] > '9' || *end != '\0' || errno != 0 ||
		    v >= UINT32_MAX) {
			cli_error("%s: '%s': no such user (give a user name or a uid)",
				  name, text);
			return CLI_EXIT_USAGE;
		}
		uid = (uint32_t)v;
	}
	if (cli_trusted_count == CLI_TRUST_MAX) {
		cli_error("%s: at most %d owners can be trusted", name, CLI_TRUST_MAX);
		return CLI_EXIT_USAGE;
	}
	cli_trusted[cli_trusted_count++] = uid;
	return 0;
}

int
cli_ring_open(const char *ring, struct rb_ring **out)
{
	struct rb_open_params p;

	memset(&p, 0, sizeof(p));
	p.trusted_uids = cli_trusted;
	p.trusted_count = cli_trusted_count;
	return rb_ring_open_params(ring, &p, out);
}

const char *
cli_ring_error(const char *ring, int rc)
{
	static char buf[512];
	char path[RB_NAME_MAX + 16];
	struct passwd *pw;
	struct stat st;

	snprintf(path, sizeof(path), "/dev/shm/rb-%s", ring);
	if (rc != RB_E_UNTRUSTED || stat(path, &st) != 0)
		return rb_strerror(rc);
	pw = getpwuid(st.st_uid);
	if (pw != NULL)
		snprintf(buf, sizeof(buf), "the ring belongs to user %s (uid %lu), who is not "
			 "trusted: add --trust-owner %s to attach", pw->pw_name,
			 (unsigned long)st.st_uid, pw->pw_name);
	else
		snprintf(buf, sizeof(buf), "the ring belongs to uid %lu, who is not trusted: "
			 "add --trust-owner %lu to attach", (unsigned long)st.st_uid,
			 (unsigned long)st.st_uid);
	return buf;
}
