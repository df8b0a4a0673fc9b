/* Subprocesses: spawn a program with optional pipes to its stdin, stdout
 * and stderr (read and written with weft's I/O calls), signal it, and await
 * its exit without blocking a worker.
 *
 * Spawning uses posix_spawnp: glibc starts the child with clone(CLONE_VM |
 * CLONE_VFORK), which is safe in a multi-threaded process (no fork of the
 * workers' state) and reports a failed exec as an error. The child gets an
 * empty signal mask and SIGPIPE at its default action, whatever weft_run
 * (which ignores SIGPIPE) or the program (which blocks the signals it
 * awaits with weft_signal_wait) did.
 *
 * Awaiting the exit parks on a pidfd (Linux 5.3+: readable once the child
 * has exited); where there is none, a blocking waitpid runs on the blocking
 * pool while the task parks. No SIGCHLD handler is installed, so other
 * code's children are never taken. (WEFT_TEST_NO_PIDFD=1 forces the second
 * path, for the tests.) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/syscall.h>
#endif

#include "sched/alloc.h"
#include "sched/park.h"
#include "weft.h"

extern char **environ;

struct weft_process {
    pid_t pid;
    int   pidfd;     /* -1: none */
    int   fds[3];    /* our ends of the pipes, -1 where not piped */
    int   reaped;
    int   status;    /* waitpid's, once reaped */
};

static int pidfd_of(pid_t pid)
{
    if (getenv("WEFT_TEST_NO_PIDFD"))
        return -1;
#if defined(__linux__) && defined(SYS_pidfd_open)
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
#else
    (void)pid;
    return -1;
#endif
}

static int pipe_cloexec(int p[2])
{
#if defined(__linux__) || defined(__FreeBSD__) || defined(__NetBSD__) || defined(__OpenBSD__)
    return pipe2(p, O_CLOEXEC);
#else
    /* macOS: no pipe2. posix_spawn cannot race this (the spawns of other
     * threads may inherit the fds for a moment: their exec closes them). */
    if (pipe(p) < 0)
        return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

static void close_quietly(int *fd)
{
    if (*fd >= 0) {
        weft_close(*fd);
        *fd = -1;
    }
}

/* Set up child stream `which` (0, 1, 2) as `mode`; for a pipe, *ours gets
 * the parent's end (non-blocking) and *theirs the child's (closed by the
 * caller after the spawn). */
static int stream(posix_spawn_file_actions_t *fa, int which, int mode,
                  int *ours, int *theirs)
{
    switch (mode) {
    case WEFT_STDIO_INHERIT:
        return 0;
    case WEFT_STDIO_NULL:
        return -posix_spawn_file_actions_addopen(fa, which, "/dev/null",
                                                 which == 0 ? O_RDONLY : O_WRONLY, 0);
    case WEFT_STDIO_PIPE: {
        int p[2];
        if (pipe_cloexec(p) < 0)
            return -errno;
        /* stdin: the child reads p[0], we write p[1]; else the reverse. */
        *ours = which == 0 ? p[1] : p[0];
        *theirs = which == 0 ? p[0] : p[1];
        if (fcntl(*ours, F_SETFL, fcntl(*ours, F_GETFL) | O_NONBLOCK) < 0)
            return -errno;
        /* dup2 onto 0/1/2 clears close-on-exec on the copy only. */
        return -posix_spawn_file_actions_adddup2(fa, *theirs, which);
    }
    default:
        return -EINVAL;
    }
}

int weft_process_spawn(const weft_process_opts_t *o, weft_process_t **out)
{
    if (!o || !out || !o->argv || !o->argv[0])
        return -EINVAL;
    weft_process_t *p = weft__calloc(1, sizeof *p);
    if (!p)
        return -ENOMEM;
    p->pidfd = -1;
    int theirs[3] = { -1, -1, -1 };
    for (int i = 0; i < 3; i++)
        p->fds[i] = -1;

    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    int rc = -posix_spawn_file_actions_init(&fa);
    if (rc < 0) {
        weft__free(p);
        return rc;
    }
    if ((rc = -posix_spawnattr_init(&attr)) < 0) {
        posix_spawn_file_actions_destroy(&fa);
        weft__free(p);
        return rc;
    }
    const int modes[3] = { o->stdin_mode, o->stdout_mode, o->stderr_mode };
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = stream(&fa, i, modes[i], &p->fds[i], &theirs[i]);
    if (rc == 0 && o->cwd)
        rc = -posix_spawn_file_actions_addchdir_np(&fa, o->cwd);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    if (rc == 0)
        rc = -posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0)
        rc = -posix_spawnattr_setsigdefault(&attr, &def);
    if (rc == 0)
        rc = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0)
        rc = -posix_spawnp(&p->pid, o->argv[0], &fa, &attr, (char *const *)o->argv,
                           o->envp ? (char *const *)o->envp : environ);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    for (int i = 0; i < 3; i++)
        if (theirs[i] >= 0)
            close(theirs[i]);
    if (rc < 0) {
        for (int i = 0; i < 3; i++)
            if (p->fds[i] >= 0)
                close(p->fds[i]);
        weft__free(p);
        return rc;
    }
    p->pidfd = pidfd_of(p->pid);
    *out = p;
    return 0;
}

int weft_process_pid(const weft_process_t *p)
{
    return p ? (int)p->pid : -EINVAL;
}

int weft_process_fd(const weft_process_t *p, int which)
{
    if (!p || which < 0 || which > 2)
        return -EINVAL;
    return p->fds[which] >= 0 ? p->fds[which] : -EBADF;
}

int weft_process_close_fd(weft_process_t *p, int which)
{
    if (!p || which < 0 || which > 2)
        return -EINVAL;
    if (p->fds[which] < 0)
        return -EBADF;
    int rc = weft_close(p->fds[which]);
    p->fds[which] = -1;
    return rc;
}

int weft_process_kill(weft_process_t *p, int sig)
{
    if (!p || sig < 0)
        return -EINVAL;
    if (p->reaped)
        return -ESRCH;
#if defined(__linux__) && defined(SYS_pidfd_send_signal)
    /* Through the pidfd: never a recycled pid's process. */
    if (p->pidfd >= 0)
        return syscall(SYS_pidfd_send_signal, p->pidfd, sig, NULL, 0) < 0 ? -weft__errno() : 0;
#endif
    return kill(p->pid, sig) < 0 ? -weft__errno() : 0;
}

/* Reap if it has exited: 1 when reaped, 0 when still running, or -errno. */
static int try_reap(weft_process_t *p, int flags)
{
    for (;;) {
        int st;
        pid_t r = waitpid(p->pid, &st, flags);
        if (r == p->pid) {
            p->reaped = 1;
            p->status = st;
            return 1;
        }
        if (r == 0)
            return 0;
        /* weft__errno: called after waits, maybe on another worker. */
        int e = weft__errno();
        if (e != EINTR)
            return -e;  /* ECHILD: reaped elsewhere (SIGCHLD ignored?) */
    }
}

/* The awaiting task gave up: the child must not outlive the wait. SIGKILL
 * ends it within moments (unless it sleeps uninterruptibly in the kernel),
 * so the reap blocks this thread only that long. */
static void kill_and_reap(weft_process_t *p)
{
    weft_process_kill(p, SIGKILL);
    try_reap(p, 0);
}

/* Without a pidfd: a blocking waitpid on the blocking pool (asyncio's
 * ThreadedChildWatcher), so no worker blocks and no SIGCHLD handler takes
 * other code's children. */
typedef struct reap_job {
    pid_t pid;
    int   rc, status;
} reap_job_t;

static void *reap_run(void *arg)
{
    reap_job_t *j = arg;
    pid_t r;
    while ((r = waitpid(j->pid, &j->status, 0)) < 0 && errno == EINTR) {
    }
    j->rc = r == j->pid ? 0 : -errno;
    return j;
}

static void reap_discard(void *arg, void *result)
{
    (void)result;
    weft__free(arg);
}

static int wait_on_pool(weft_process_t *p)
{
    reap_job_t *j = weft__calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    j->pid = p->pid;
    void *r;
    int rc = weft__blocking_ex(reap_run, j, &r, reap_discard);
    if (rc < 0) {
        /* The pool thread (if the call started) reaps the child once the
         * SIGKILL ends it, and frees j; it is ours no more. */
        weft_process_kill(p, SIGKILL);
        p->reaped = 1;
        p->status = SIGKILL;  /* what waitpid will report: killed by it */
        return rc;
    }
    rc = j->rc;
    if (rc == 0) {
        p->reaped = 1;
        p->status = j->status;
    }
    weft__free(j);
    return rc;
}

int weft_process_wait(weft_process_t *p, int *status)
{
    if (!p)
        return -EINVAL;
    while (!p->reaped) {
        int rc = try_reap(p, WNOHANG);
        if (rc < 0)
            return rc;
        if (rc > 0)
            break;
        if (p->pidfd < 0) {
            rc = wait_on_pool(p);
            if (rc < 0)
                return rc;
            continue;  /* reaped */
        }
        rc = weft_wait_fd(p->pidfd, WEFT_READABLE);
        if (rc < 0) {
            kill_and_reap(p);
            return rc;
        }
    }
    if (status)
        *status = p->status;
    return 0;
}

void weft_process_free(weft_process_t *p)
{
    if (!p)
        return;
    for (int i = 0; i < 3; i++)
        close_quietly(&p->fds[i]);
    if (!p->reaped)
        kill_and_reap(p);
    close_quietly(&p->pidfd);
    weft__free(p);
}
