/*
 * Surviving a ring truncated under us. Whoever owns a ring's file (or
 * root) can cut it short while we have it mapped; the next access to a
 * lost page raises SIGBUS, which would kill the program with its output
 * half-written. The handler asks the library whether the address lies in
 * a ring mapping: if so, the library has mapped zero pages over it and
 * marked the ring truncated, execution goes on, and the handler sets
 * cli_stop so that every wait ends (the consumer's cancel flag is
 * cli_stop) and the program's loop stops at its next look. The program
 * then sees cli_ring_truncated, says so and exits non-zero after its
 * usual clean-up (the recorder closes its file, summaries are printed).
 * Any other SIGBUS is a real fault: the default action is restored and
 * the faulting access, when it runs again, kills the program as before.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>

#include "cli.h"

volatile sig_atomic_t cli_truncated;

static void
cli_on_sigbus(int sig, siginfo_t *info, void *context)
{
	struct sigaction dfl;

	(void)context;
	if (rb_ring_handle_sigbus(info->si_addr) == 1) {
		cli_truncated = 1;
		if (cli_stop == 0)
			cli_stop = sig;
		return;
	}
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	(void)sigaction(SIGBUS, &dfl, NULL);
}

int
cli_sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = cli_on_sigbus;
	sigemptyset(&sa.sa_mask);
	/* The handler touches no ring memory itself, so SIGBUS stays blocked
	 * while it runs; no SA_RESTART, as for SIGINT (signals.c). */
	sa.sa_flags = SA_SIGINFO;
	return sigaction(SIGBUS, &sa, NULL) == 0 ? 0 : -errno;
}

bool
cli_ring_lost(struct rb_ring *ring, const char *name)
{
	static bool said;

	if (ring == NULL || !rb_ring_truncated(ring))
		return false;
	if (!said) {
		said = true;
		cli_error("ring '%s': %s", name, rb_strerror(RB_E_TRUNCATED));
	}
	return true;
}
