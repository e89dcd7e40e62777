/*
 * SIGINT and SIGTERM ask a program to stop cleanly: finish the frame at
 * hand, end the stream, detach, print the summary. The handler only sets
 * cli_stop; every blocking call in the programs either returns EINTR (no
 * SA_RESTART) or wakes at least every 100 ms to look at it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

/* rb_consumer_options.cancel is a `const volatile int *`. */
_Static_assert(__builtin_types_compatible_p(sig_atomic_t, int),
	       "cli_stop is handed to the library as an int");

volatile sig_atomic_t cli_stop;

static void
cli_on_signal(int sig)
{
	if (cli_stop == 0)
		cli_stop = sig;
}

int
cli_signals_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = cli_on_signal;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: interrupted waits must return so the stop request
	 * is seen. SA_RESETHAND: the second signal gets the default action,
	 * the way out if a clean shutdown itself hangs. */
	sa.sa_flags = SA_RESETHAND;
	if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
		return -errno;
	/* A reader that goes away must show up as EPIPE on our write, which
	 * the programs report, not as a silent death by SIGPIPE. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPIPE, &sa, NULL) != 0)
		return -errno;
	return cli_sigbus_install();
}

int
cli_signals_start(void)
{
	int rc = cli_signals_install();

	if (rc != 0) {
		cli_error("installing signal handlers: %s", rb_strerror(rc));
		return CLI_EXIT_FAIL;
	}
	return 0;
}

const char *
cli_signal_name(int sig)
{
	static char buf[32];

	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	default:
		snprintf(buf, sizeof(buf), "signal %d", sig);
		return buf;
	}
}
