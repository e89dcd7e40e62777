/*
 * The processes of a point, the shared memory they report through, the
 * rings they use, and what must happen to all of them when the bench stops
 * early.
 *
 * Every child is forked by bench_spawn and remembered until it is reaped;
 * every ring is named by bench_ring_name and remembered until it is removed.
 * On a failure, a timeout or SIGINT/SIGTERM the parent kills and reaps the
 * children it knows and removes the rings it knows, so neither a process
 * nor a /dev/shm segment outlives the run. A child also dies with its
 * parent (PR_SET_PDEATHSIG), which covers the parent being SIGKILLed; only
 * the rings are left behind in that one case, under the recognisable
 * name bench-PID-N.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ringbuf/ringbuf.h>

#include "bench.h"

#define BENCH_MAX_CHILDREN (BENCH_MAX_CONSUMERS + 4)
#define BENCH_MAX_RINGS 8
/* How long children may take to attach before the point is abandoned. */
#define BENCH_READY_TIMEOUT_NS (30ull * 1000000000ull)

struct bench_child {
	pid_t pid;
	int pidfd; /* -1 when pidfd_open is refused: then we poll waitpid */
	int status;
};

static struct bench_child children[BENCH_MAX_CHILDREN];
static unsigned nchildren;
static char rings[BENCH_MAX_RINGS][64];
static unsigned ring_counter;

uint64_t
bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void *
bench_shared_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void
bench_shared_free(void *p, size_t bytes)
{
	if (p != NULL)
		munmap(p, bytes);
}

void
bench_futex_wait(uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts = {
		.tv_sec = (time_t)(timeout_ns / 1000000000ull),
		.tv_nsec = (long)(timeout_ns % 1000000000ull),
	};

	/* Shared futex: the word lives in a MAP_SHARED mapping and the waker
	 * is another process. EINTR, EAGAIN and ETIMEDOUT: callers re-check. */
	(void)syscall(SYS_futex, word, FUTEX_WAIT, expected,
		      timeout_ns ? &ts : NULL, NULL, 0);
}

void
bench_futex_wake(uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
}

void
bench_gate_arrive(struct bench_gate *g)
{
	atomic_fetch_add_explicit((_Atomic uint32_t *)&g->ready, 1,
				  memory_order_acq_rel);
	bench_futex_wake(&g->ready);
	/* Sleep, do not spin: on two cores a spinning child would steal the
	 * CPU its siblings need to get ready. */
	while (atomic_load_explicit((_Atomic uint32_t *)&g->go,
				    memory_order_acquire) == 0)
		bench_futex_wait(&g->go, 0, 100000000ull);
}

/* Whether child i has exited (without reaping it). */
static bool
bench_child_exited(const struct bench_child *c)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c->pid, &si, WEXITED | WNOHANG | WNOWAIT) != 0)
		return true;
	return si.si_pid == c->pid;
}

int
bench_gate_wait_ready(struct bench_gate *g, uint32_t n)
{
	uint64_t deadline = bench_now_ns() + BENCH_READY_TIMEOUT_NS;

	for (;;) {
		uint32_t cur = atomic_load_explicit((_Atomic uint32_t *)&g->ready,
						    memory_order_acquire);
		unsigned i;

		if (cur >= n)
			return 0;
		if (cli_stop)
			return -EINTR;
		for (i = 0; i < nchildren; i++)
			if (bench_child_exited(&children[i]))
				return -ECHILD;
		if (bench_now_ns() > deadline)
			return -ETIMEDOUT;
		bench_futex_wait(&g->ready, cur, 10000000ull);
	}
}

void
bench_gate_open(struct bench_gate *g)
{
	atomic_store_explicit((_Atomic uint32_t *)&g->go, 1, memory_order_release);
	bench_futex_wake(&g->go);
}

int
bench_pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return 0;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	return 0;
}

int
bench_cpu_for(const struct bench_options *o, int role)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (!o->pin || n < 1)
		return -1;
	/* Producer on CPU 0, consumers from CPU 1 on, wrapping around: on
	 * two cores a second consumer shares a core with the producer. */
	return (int)(role % n);
}

pid_t
bench_spawn(int (*fn)(void *), void *arg, int cpu)
{
	struct bench_child *c;
	pid_t parent = getpid(), pid;
	int rc;

	if (nchildren == BENCH_MAX_CHILDREN)
		return -EMFILE;
	/* Whatever is buffered would otherwise be written twice. */
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(BENCH_EXIT_FAIL); /* the parent died before prctl */
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		if (bench_pin(cpu) != 0)
			_exit(BENCH_EXIT_FAIL);
		rc = fn(arg);
		/* _exit: no atexit handlers (those belong to the parent, which
		 * removes the rings) and no second flush of inherited buffers. */
		_exit(rc == 0 ? 0 : BENCH_EXIT_FAIL);
	}
	c = &children[nchildren++];
	c->pid = pid;
	c->status = -1;
	c->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return pid;
}

/* Reaps child i if it has exited; true when it has. */
static bool
bench_reap(unsigned i, bool block)
{
	struct bench_child *c = &children[i];
	int status;
	pid_t r;

	do
		r = waitpid(c->pid, &status, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return false;
	c->status = r == c->pid ? status : -1;
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
	return true;
}

/* Empties the table once all are reaped; true if all exited with 0. */
static bool
bench_forget_reaped(void)
{
	bool ok = true;
	unsigned i;

	for (i = 0; i < nchildren; i++)
		if (!WIFEXITED(children[i].status) || WEXITSTATUS(children[i].status) != 0)
			ok = false;
	nchildren = 0;
	return ok;
}

void
bench_kill_all(void)
{
	unsigned i;

	for (i = 0; i < nchildren; i++)
		if (children[i].pid > 0 && children[i].status == -1)
			kill(children[i].pid, SIGKILL);
	for (i = 0; i < nchildren; i++)
		if (children[i].pid > 0 && children[i].status == -1)
			(void)bench_reap(i, true);
	nchildren = 0;
}

int
bench_run_gated(struct bench_gate *g, uint32_t ready, const struct bench_options *o)
{
	int rc = bench_gate_wait_ready(g, ready);

	if (rc != 0) {
		bench_kill_all();
		return rc;
	}
	bench_gate_open(g);
	return bench_wait_all(o->duration_ns + 60ull * 1000000000ull, NULL, NULL);
}

int
bench_wait_all(uint64_t timeout_ns, void (*progress)(void *), void *arg)
{
	uint64_t deadline = bench_now_ns() + timeout_ns;

	for (;;) {
		struct pollfd fds[BENCH_MAX_CHILDREN];
		unsigned i, waiting = 0, nfds = 0;
		uint64_t now;
		int ms;

		for (i = 0; i < nchildren; i++) {
			if (children[i].status != -1 || bench_reap(i, false))
				continue;
			waiting++;
			if (children[i].pidfd >= 0) {
				fds[nfds].fd = children[i].pidfd;
				fds[nfds].events = POLLIN;
				nfds++;
			}
		}
		if (waiting == 0)
			return bench_forget_reaped() ? 0 : -ECHILD;
		if (cli_stop) {
			bench_kill_all();
			return -EINTR;
		}
		now = bench_now_ns();
		if (now >= deadline) {
			bench_kill_all();
			return -ETIMEDOUT;
		}
		if (progress != NULL)
			progress(arg);
		/* Half a second keeps the progress line live; without pidfds,
		 * 10 ms keeps the reaping prompt. SIGINT interrupts poll. */
		ms = nfds == waiting ? 500 : 10;
		if ((deadline - now) / 1000000 < (uint64_t)ms)
			ms = (int)((deadline - now) / 1000000) + 1;
		(void)poll(fds, nfds, ms);
	}
}

void
bench_ring_name(char *buf, size_t size)
{
	unsigned i;

	snprintf(buf, size, "bench-%d-%u", (int)getpid(), ring_counter++);
	for (i = 0; i < BENCH_MAX_RINGS; i++) {
		if (rings[i][0] == '\0') {
			snprintf(rings[i], sizeof(rings[i]), "%s", buf);
			return;
		}
	}
}

void
bench_ring_forget(const char *name)
{
	unsigned i;

	for (i = 0; i < BENCH_MAX_RINGS; i++)
		if (strcmp(rings[i], name) == 0)
			rings[i][0] = '\0';
}

void
bench_rings_cleanup(void)
{
	unsigned i;

	for (i = 0; i < BENCH_MAX_RINGS; i++) {
		if (rings[i][0] != '\0') {
			(void)rb_ring_remove(rings[i]);
			rings[i][0] = '\0';
		}
	}
}

/* rb_ring_foreach callback: removes bench-PID-N when PID is gone. */
static int
bench_sweep_one(const char *name, void *arg)
{
	unsigned *removed = arg;
	unsigned n;
	int pid, end = 0;

	if (sscanf(name, "bench-%d-%u%n", &pid, &n, &end) != 2 || name[end] != '\0')
		return 0; /* not one of ours */
	if (pid <= 0 || (kill(pid, 0) != 0 && errno == ESRCH)) {
		if (rb_ring_remove(name) == 0)
			(*removed)++;
	}
	return 0;
}

unsigned
bench_rings_sweep_stale(void)
{
	unsigned removed = 0;

	(void)rb_ring_foreach(bench_sweep_one, &removed);
	return removed;
}

/* The tracepoint id of raw_syscalls:sys_enter, or -errno. */
static long
bench_sys_enter_id(void)
{
	static const char *const paths[] = {
		"/sys/kernel/tracing/events/raw_syscalls/sys_enter/id",
		"/sys/kernel/debug/tracing/events/raw_syscalls/sys_enter/id",
	};
	unsigned i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		FILE *f = fopen(paths[i], "re");
		long id;

		if (f == NULL)
			continue;
		if (fscanf(f, "%ld", &id) != 1)
			id = -EINVAL;
		fclose(f);
		return id;
	}
	return -ENOENT;
}

int
bench_syscalls_open(void)
{
	struct perf_event_attr a;
	long id = bench_sys_enter_id();
	int fd;

	if (id < 0)
		return (int)id;
	memset(&a, 0, sizeof(a));
	a.type = PERF_TYPE_TRACEPOINT;
	a.size = sizeof(a);
	a.config = (uint64_t)id;
	/* This thread only, any CPU: the children are single-threaded. */
	fd = (int)syscall(SYS_perf_event_open, &a, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int64_t
bench_syscalls_read(int fd)
{
	uint64_t v;

	if (fd < 0 || read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return -1;
	return (int64_t)v;
}

uint64_t
bench_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)ru.ru_utime.tv_sec * 1000000000ull +
	       (uint64_t)ru.ru_utime.tv_usec * 1000ull +
	       (uint64_t)ru.ru_stime.tv_sec * 1000000000ull +
	       (uint64_t)ru.ru_stime.tv_usec * 1000ull;
}

static struct cli_status progress_line;
static bool progress_ready;
static uint64_t progress_start;

void
bench_progress(const char *fmt, ...)
{
	char line[200];
	va_list ap;

	if (!progress_ready) {
		cli_status_init(&progress_line, stderr);
		progress_ready = true;
		progress_start = bench_now_ns();
	}
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cli_status_print(&progress_line, "%3us  %s",
			 (unsigned)((bench_now_ns() - progress_start) / 1000000000ull), line);
}

void
bench_progress_clear(void)
{
	if (progress_ready)
		cli_status_clear(&progress_line);
}
