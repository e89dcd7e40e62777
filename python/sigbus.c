/*
 * The truncation guard of the Python binding: a ring truncated under this
 * process (truncate -s 0 /dev/shm/rb-NAME by its owner) makes the next
 * access to its pages a SIGBUS, which would kill the interpreter. As the
 * C programs do (tools/cli/sigbus.c), a SIGBUS handler hands the faulting
 * address to the library: if it lies in a ring mapping,
 * rb_ring_handle_sigbus maps zero pages over the whole mapping and marks
 * the ring truncated, the access is retried and reads zeros, and the
 * library's calls on that ring then fail with RB_E_TRUNCATED, which the
 * binding raises as ringbuf.Truncated. Frame views read zeros from then on.
 *
 * The handler is installed when the module is imported, over whatever was
 * there (Python's faulthandler, when enabled, or the default). A SIGBUS
 * elsewhere is not ours: the previous action is put back and the handler
 * returns, so the access faults again under it (faulthandler prints its
 * traceback, the default kills), exactly as without the module. A
 * faulthandler enabled after the import replaces this guard.
 */
#include <signal.h>
#include <string.h>

#include "rbpy.h"

static struct sigaction rbpy_sigbus_previous;

static void
rbpy_on_sigbus(int sig, siginfo_t *info, void *context)
{
	(void)sig;
	(void)context;
	if (rb_ring_handle_sigbus(info->si_addr) == 1)
		return; /* zeros now: the access is retried and reads them */
	(void)sigaction(SIGBUS, &rbpy_sigbus_previous, NULL);
}

int
rbpy_sigbus_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = rbpy_on_sigbus;
	/* SA_ONSTACK: on the alternate stack faulthandler may have set up. */
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &rbpy_sigbus_previous) != 0)
		return -1;
	/* An ignored SIGBUS would fault for ever: a real one must kill. */
	if (!(rbpy_sigbus_previous.sa_flags & SA_SIGINFO) &&
	    rbpy_sigbus_previous.sa_handler == SIG_IGN)
		rbpy_sigbus_previous.sa_handler = SIG_DFL;
	return 0;
}
