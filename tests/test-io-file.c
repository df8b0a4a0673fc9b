/* weft-test: labels=unit;io */
/* File helpers on the blocking pool, and sendfile to a socket. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "t.h"

static char dir[64];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/weft-test-file-XXXXXX");
    CHECK(mkdtemp(dir) != NULL);
}

static char *path_in(const char *name)
{
    static char p[128];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

static void *m_whole(void *arg)
{
    /* Round trip, including a size that is not a page multiple. */
    size_t n = 3 * 4096 + 17;
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7);
    CHECK_EQ(weft_file_write(path_in("a"), b, n), 0);
    void *got;
    size_t len;
    CHECK_EQ(weft_file_read(path_in("a"), &got, &len), 0);
    CHECK_EQ(len, n);
    CHECK(memcmp(got, b, n) == 0);
    free(got);
    /* Empty files, and truncation by a shorter write. */
    CHECK_EQ(weft_file_write(path_in("a"), "xy", 2), 0);
    CHECK_EQ(weft_file_read(path_in("a"), &got, &len), 0);
    CHECK_EQ(len, 2);
    CHECK(memcmp(got, "xy", 2) == 0);
    free(got);
    CHECK_EQ(weft_file_write(path_in("empty"), NULL, 0), 0);
    CHECK_EQ(weft_file_read(path_in("empty"), &got, &len), 0);
    CHECK_EQ(len, 0);
    free(got);
    /* A file whose size stat cannot tell (procfs). */
    CHECK_EQ(weft_file_read("/proc/self/status", &got, &len), 0);
    CHECK(len > 0 && memcmp(got, "Name:", 5) == 0);
    free(got);
    /* Errors. */
    CHECK_EQ(weft_file_read(path_in("missing"), &got, &len), -ENOENT);
    CHECK(got == NULL && len == 0);
    CHECK_EQ(weft_file_read(dir, &got, &len), -EISDIR);
    CHECK_EQ(weft_file_write("/nonexistent-dir/x", "a", 1), -ENOENT);
    CHECK_EQ(weft_file_read(NULL, &got, &len), -EINVAL);
    free(b);
    return NULL;
}

static void whole_files(void)
{
    make_dir();
    t_run(2, m_whole, NULL);
}

static void *m_positional(void *arg)
{
    int fd = open(path_in("p"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    CHECK_EQ(weft_pwrite(fd, "hello", 5, 0), 5);
    CHECK_EQ(weft_pwrite(fd, "world", 5, 10), 5);  /* a hole at 5..9 */
    char buf[32];
    memset(buf, 'z', sizeof buf);
    CHECK_EQ(weft_pread(fd, buf, sizeof buf, 0), 15);
    CHECK(memcmp(buf, "hello\0\0\0\0\0world", 15) == 0);
    CHECK_EQ(buf[15], 'z');  /* nothing past what was read */
    CHECK_EQ(weft_pread(fd, buf, 4, 11), 4);
    CHECK(memcmp(buf, "orld", 4) == 0);
    CHECK_EQ(weft_pread(fd, buf, 4, 100), 0);  /* past the end */
    CHECK_EQ(weft_pread(fd, buf, 0, 0), 0);
    CHECK_EQ(weft_pread(-1, buf, 4, 0), -EBADF);
    CHECK_EQ(weft_pread(fd, buf, 4, -1), -EINVAL);
    close(fd);
    CHECK_EQ(weft_pread(fd, buf, 4, 0), -EBADF);  /* closed now */
    return NULL;
}

static void positional(void)
{
    make_dir();
    t_run(1, m_positional, NULL);
}

/* A caller past its deadline returns at once; the call it gave up on
 * frees its own memory when it ends (ASan and LSan check). */
static void *m_cancel(void *arg)
{
    /* A FIFO nobody writes: opening it blocks the pool thread. */
    CHECK_EQ(mkfifo(path_in("fifo"), 0600), 0);
    static void *data;
    static size_t len;
    weft_deadline_push(MS(50));
    uint64_t t0 = weft_now();
    CHECK_EQ(weft_file_read(path_in("fifo"), &data, &len), -ETIMEDOUT);
    weft_deadline_pop();
    CHECK(weft_now() - t0 < MS(2000));
    CHECK(data == NULL);
    /* Unblock the pool thread (open for writing, write, close): the call
     * it finishes is discarded and frees its own memory (ASan checks). */
    int w = open(path_in("fifo"), O_WRONLY | O_CLOEXEC);
    CHECK(w >= 0);
    CHECK_EQ(write(w, "late", 4), 4);
    close(w);
    weft_sleep(MS(50));
    CHECK(data == NULL);
    return NULL;
}

static void cancelled(void)
{
    make_dir();
    t_run(2, m_cancel, NULL);
}

/* ---- sendfile into a socket whose buffer fills ------------------------- */

typedef struct { int fd; size_t file, n; } drain_t;

static void *drain(void *arg)
{
    drain_t *d = arg;
    char buf[8192];
    size_t got = 0;
    weft_sleep(MS(20));  /* let the sender fill the socket first */
    for (;;) {
        ssize_t r = weft_read(d->fd, buf, sizeof buf);
        CHECK(r >= 0);
        if (r == 0)
            break;
        /* The stream: the whole file, then its last 10 bytes again. */
        for (ssize_t i = 0; i < r; i++) {
            size_t p = got + (size_t)i;
            size_t at = p < d->file ? p : p - 10;
            CHECK_EQ((unsigned char)buf[i], (unsigned char)(at * 13));
        }
        got += (size_t)r;
    }
    d->n = got;
    return NULL;
}

static void *m_sendfile(void *arg)
{
    size_t n = 4u << 20;
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 13);
    CHECK_EQ(weft_file_write(path_in("big"), b, n), 0);
    free(b);
    int sv[2];
    CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    drain_t d = { sv[1], n, 0 };
    weft_task_t *t = weft_spawn(drain, &d);
    int in = open(path_in("big"), O_RDONLY | O_CLOEXEC);
    CHECK(in >= 0);
    off_t off = 0;
    CHECK_EQ(weft_sendfile(sv[0], in, &off, n), (ssize_t)n);
    CHECK_EQ(off, (off_t)n);
    /* Asking for more than the file has: what is there. */
    off = (off_t)n - 10;
    CHECK_EQ(weft_sendfile(sv[0], in, &off, 100), 10);
    weft_close(sv[0]);
    CHECK_EQ(weft_join(t, NULL), 0);
    CHECK_EQ(d.n, n + 10);
    close(in);
    CHECK_EQ(weft_sendfile(-1, in, &off, 1), -EBADF);
    CHECK_EQ(weft_sendfile(sv[1], 0, NULL, 1), -EINVAL);
    weft_close(sv[1]);
    return NULL;
}

static void sendfile_socket(void)
{
    make_dir();
    t_run(2, m_sendfile, NULL);
}

T_MAIN(
    T_CASE(whole_files),
    T_CASE(positional),
    T_CASE(cancelled),
    T_CASE(sendfile_socket),
)
