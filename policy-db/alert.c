/* alert_command: run detached, with one event as JSON on its stdin. */
#include "policydb-private.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void pdb_alert_spawn(struct policydb *db, const struct clientid_event *ev)
{
	char json[2048];
	int n = policydb_event_json(ev, json, sizeof(json) - 1);
	if (n < 0)
		return;
	json[n++] = '\n';
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0)
		return;
	/* Fill the pipe before forking: it holds far more than one event, and
	 * with our read end open no write can raise SIGPIPE here. */
	ssize_t w = write(fds[1], json, (size_t)n);
	close(fds[1]);
	if (w != n) {
		close(fds[0]);
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* Double fork: the command belongs to init, never to the login
		 * process, which neither waits for it nor reaps it. */
		setsid();
		if (fork() != 0)
			_exit(0);
		int null = open("/dev/null", O_RDWR);
		dup2(fds[0], 0);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		close_range(3, ~0u, 0);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGCHLD, SIG_DFL);
		execl(db->cfg.alert_command, db->cfg.alert_command, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	if (pid > 0) {
		/* The middle child exits at once. */
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
}
