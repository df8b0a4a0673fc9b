/* TCP echo server, one task per connection, written like gevent's echo
 * server: blocking-looking reads and writes, no callbacks. SIGINT or SIGTERM
 * stops it gracefully (weft_signal_wait): the listener closes, weft_run
 * cancels the connection tasks and waits for them.
 *
 *   echo [--host ADDR] [--port N]      (defaults: 127.0.0.1, 7000)
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weft.h>

static const char *host = "127.0.0.1";
static int port = 7000;
static int listener = -1;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: echo [--host ADDR] [--port N]\n"
            "TCP echo server: one weft task per connection, on every core.\n"
            "  --host ADDR  address to listen on (default 127.0.0.1; \"*\": all)\n"
            "  --port N     port (default 7000; 0: any free port)\n"
            "Prints \"listening on ADDR:PORT\"; stops on SIGINT or SIGTERM.\n"
            "Environment: WEFT_WORKERS, WEFT_POLLER, ... (see weft.h).\n");
}

/* One connection: read what comes, write it back, until the peer closes. */
static void *serve(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[16384];
    ssize_t n;
    while ((n = weft_read(fd, buf, sizeof buf)) > 0)
        if (weft_write_all(fd, buf, (size_t)n) < 0)
            break;
    weft_close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    (void)arg;
    for (;;) {
        int fd = weft_accept(listener, NULL, NULL);
        if (fd == -ECANCELED)
            return NULL;
        if (fd == -EMFILE || fd == -ENFILE) {
            weft_sleep(10 * 1000000ull);  /* out of fds: let some close */
            continue;
        }
        if (fd < 0) {
            fprintf(stderr, "echo: accept: %s\n", weft_strerror(fd));
            continue;
        }
        if (weft_go(serve, (void *)(intptr_t)fd) < 0)
            weft_close(fd);
    }
}

static void *main_task(void *arg)
{
    sigset_t *stop = arg;
    listener = weft_tcp_listen(host, (uint16_t)port, 0);
    if (listener < 0) {
        fprintf(stderr, "echo: listen on %s:%d: %s\n", host, port, weft_strerror(listener));
        return (void *)1;
    }
    printf("listening on %s:%d\n", host, weft_local_port(listener));
    fflush(stdout);
    weft_task_t *acc = weft_spawn(accept_loop, NULL);
    int sig = weft_signal_wait(stop);
    fprintf(stderr, "echo: %s, shutting down\n", sig > 0 ? strsignal(sig) : weft_strerror(sig));
    weft_cancel(acc);
    weft_join(acc, NULL);
    weft_close(listener);
    return NULL;  /* weft_run cancels and awaits the connection tasks */
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--host") && i + 1 < argc) {
            host = argv[++i];
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            char *end;
            long p = strtol(argv[++i], &end, 10);
            if (*end || p < 0 || p > 65535) {
                fprintf(stderr, "echo: bad port '%s'\n", argv[i]);
                return 2;
            }
            port = (int)p;
        } else {
            usage(stderr);
            return 2;
        }
    }
    /* Blocked here, before the workers exist, so that they inherit the
     * mask and weft_signal_wait's signalfd receives the signals. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    void *res = NULL;
    int rc = weft_run(NULL, main_task, &stop, &res);
    if (rc < 0) {
        fprintf(stderr, "echo: weft_run: %s\n", weft_strerror(rc));
        return 1;
    }
    return res ? 1 : 0;
}
