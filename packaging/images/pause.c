/*
 * cubelet pause: the process that holds a pod sandbox's namespaces open.
 *
 * - blocks in sigsuspend() until a signal arrives;
 * - reaps every zombie on SIGCHLD (it may be PID 1 of a shared PID namespace);
 * - exits 0 on SIGINT / SIGTERM;
 * - "-v" prints the version and exits.
 *
 * Build: gcc -std=gnu11 -Wall -Wextra -Werror -O2 -static -o pause pause.c
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CUBELET_PAUSE_VERSION
#define CUBELET_PAUSE_VERSION "1.0"
#endif

static volatile sig_atomic_t got_term;
static volatile sig_atomic_t got_chld;

static void on_term(int sig)
{
	(void)sig;
	got_term = 1;
}

static void on_chld(int sig)
{
	(void)sig;
	got_chld = 1;
}

static void reap_children(void)
{
	for (;;) {
		pid_t pid = waitpid(-1, NULL, WNOHANG);
		if (pid > 0)
			continue;
		if (pid < 0 && errno == EINTR)
			continue;
		break; /* 0: children left but none exited; -1/ECHILD: none */
	}
}

static int install(int sig, void (*handler)(int))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sigfillset(&sa.sa_mask);
	sa.sa_flags = (sig == SIGCHLD) ? SA_NOCLDSTOP : 0;
	if (sigaction(sig, &sa, NULL) < 0) {
		fprintf(stderr, "pause: sigaction(%d): %s\n", sig, strerror(errno));
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	sigset_t block, wait_mask;

	if (argc > 1) {
		if (strcmp(argv[1], "-v") == 0) {
			printf("pause.c %s (cubelet)\n", CUBELET_PAUSE_VERSION);
			return 0;
		}
		fprintf(stderr, "usage: %s [-v]\n", argv[0]);
		return 2;
	}

	if (getpid() != 1)
		fprintf(stderr, "pause: warning: not running as PID 1\n");

	/* Block the signals we handle so they can only arrive inside sigsuspend:
	 * no wake-up can be lost between checking the flags and sleeping. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask) < 0) {
		fprintf(stderr, "pause: sigprocmask: %s\n", strerror(errno));
		return 1;
	}
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	sigdelset(&wait_mask, SIGCHLD);

	if (install(SIGINT, on_term) < 0 || install(SIGTERM, on_term) < 0 ||
	    install(SIGCHLD, on_chld) < 0)
		return 1;

	/* Children may have been inherited before the handler was installed. */
	reap_children();

	for (;;) {
		sigsuspend(&wait_mask); /* always returns -1/EINTR */
		if (got_chld) {
			got_chld = 0;
			reap_children();
		}
		if (got_term)
			break;
	}
	return 0;
}
