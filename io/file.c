/* Files. Regular files are always "ready" to poll(2) and epoll refuses
 * them, yet a read can wait for the disk: so file calls run on the
 * blocking pool and park only the calling task. Each call gives the pool
 * thread memory of its own (a copy of what is written, a buffer for what is
 * read), so a caller that is cancelled can return at once while the thread
 * finishes with memory nobody else uses (weft__blocking_ex frees it).
 *
 * weft_sendfile is different: the file side is the page cache (as nginx
 * without aio), the socket side is non-blocking and waited for with the
 * poller like any write. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/sendfile.h>
#endif

#include "sched/alloc.h"
#include "sched/park.h"
#include "weft.h"

typedef struct file_op {
    int         fd;
    const char *path;     /* whole-file calls; points into the struct */
    char       *data;     /* read: filled by the pool; write: our copy */
    size_t      n;
    off_t       off;
    ssize_t     rc;       /* bytes, or -errno */
    char        path_buf[];
} file_op_t;

static file_op_t *op_new(int fd, const char *path, size_t data_len, off_t off)
{
    size_t pl = path ? strlen(path) + 1 : 0;
    file_op_t *o = weft__calloc(1, sizeof *o + pl);
    if (!o)
        return NULL;
    o->fd = fd;
    o->off = off;
    o->n = data_len;
    if (path) {
        memcpy(o->path_buf, path, pl);
        o->path = o->path_buf;
    }
    if (data_len) {
        o->data = malloc(data_len);
        if (!o->data) {
            weft__free(o);
            return NULL;
        }
    }
    return o;
}

static void op_free(void *arg, void *result)
{
    (void)result;  /* always the op itself */
    file_op_t *o = arg;
    free(o->data);
    weft__free(o);
}

/* Run fn(o) on the pool; o is the caller's again on 0. */
static int run(void *(*fn)(void *), file_op_t *o)
{
    void *r = NULL;
    return weft__blocking_ex(fn, o, &r, op_free);
}

/* ---- pread / pwrite ---------------------------------------------------- */

static void *do_pread(void *arg)
{
    file_op_t *o = arg;
    ssize_t r;
    while ((r = pread(o->fd, o->data, o->n, o->off)) < 0 && errno == EINTR) {
    }
    o->rc = r < 0 ? -errno : r;
    return o;
}

static void *do_pwrite(void *arg)
{
    file_op_t *o = arg;
    size_t done = 0;
    o->rc = 0;
    while (done < o->n) {
        ssize_t r = pwrite(o->fd, o->data + done, o->n - done, o->off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (done == 0)
                o->rc = r < 0 ? -errno : -EIO;
            break;
        }
        done += (size_t)r;
    }
    if (done)
        o->rc = (ssize_t)done;
    return o;
}

/* pread or pwrite through a copy the pool thread owns. */
static ssize_t positional(int fd, void *buf, size_t n, off_t off, int writing)
{
    if (fd < 0)
        return -EBADF;
    if (n > SSIZE_MAX || off < 0 || (n && !buf))
        return -EINVAL;
    if (n == 0)
        return 0;
    file_op_t *o = op_new(fd, NULL, n, off);
    if (!o)
        return -ENOMEM;
    if (writing)
        memcpy(o->data, buf, n);
    int rc = run(writing ? do_pwrite : do_pread, o);
    if (rc < 0)
        return rc;  /* the pool frees o */
    ssize_t r = o->rc;
    if (!writing && r > 0)
        memcpy(buf, o->data, (size_t)r);
    op_free(o, NULL);
    return r;
}

ssize_t weft_pread(int fd, void *buf, size_t n, off_t off)
{
    return positional(fd, buf, n, off, 0);
}

ssize_t weft_pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return positional(fd, (void *)(uintptr_t)buf, n, off, 1);
}

/* ---- whole files ------------------------------------------------------- */

static void *do_read_file(void *arg)
{
    file_op_t *o = arg;
    int fd = open(o->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        o->rc = -errno;
        return o;
    }
    /* The size when it has one, plus a byte to see the end at once. */
    size_t cap = 4096, len = 0;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size < SIZE_MAX / 2)
        cap = (size_t)st.st_size + 1;
    o->rc = 0;
    for (;;) {
        if (len == cap || !o->data) {
            size_t ncap = o->data ? cap * 2 : cap;
            char *nd = realloc(o->data, ncap);
            if (!nd) {
                o->rc = -ENOMEM;
                break;
            }
            o->data = nd;
            cap = ncap;
        }
        ssize_t r = read(fd, o->data + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            o->rc = -errno;
            break;
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    o->n = len;
    return o;
}

int weft_file_read(const char *path, void **data, size_t *len)
{
    if (!path || !data || !len)
        return -EINVAL;
    *data = NULL;
    *len = 0;
    file_op_t *o = op_new(-1, path, 0, 0);
    if (!o)
        return -ENOMEM;
    int rc = run(do_read_file, o);
    if (rc < 0)
        return rc;
    rc = (int)o->rc;
    if (rc == 0) {
        *data = o->data ? o->data : malloc(1);
        *len = o->n;
        o->data = NULL;
        if (!*data)
            rc = -ENOMEM;
    }
    op_free(o, NULL);
    return rc;
}

static void *do_write_file(void *arg)
{
    file_op_t *o = arg;
    int fd = open(o->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        o->rc = -errno;
        return o;
    }
    o->fd = fd;
    o->off = 0;
    do_pwrite(o);
    if (o->rc >= 0 && (size_t)o->rc != o->n)
        o->rc = -EIO;  /* a short write that stopped: the disk is full? */
    if (close(fd) < 0 && o->rc >= 0)
        o->rc = -errno;  /* NFS and friends report late */
    if (o->rc > 0)
        o->rc = 0;
    return o;
}

int weft_file_write(const char *path, const void *data, size_t len)
{
    if (!path || (len && !data))
        return -EINVAL;
    file_op_t *o = op_new(-1, path, len, 0);
    if (!o)
        return -ENOMEM;
    if (len)
        memcpy(o->data, data, len);
    int rc = run(do_write_file, o);
    if (rc < 0)
        return rc;
    rc = (int)o->rc;
    op_free(o, NULL);
    return rc;
}

/* ---- sendfile ---------------------------------------------------------- */

ssize_t weft_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    if (out_fd < 0 || in_fd < 0)
        return -EBADF;
    if (!offset || *offset < 0 || count > SSIZE_MAX)
        return -EINVAL;
    size_t done = 0;
    while (done < count) {
#ifdef __linux__
        ssize_t r = sendfile(out_fd, in_fd, offset, count - done);
#else
        /* Elsewhere: through a buffer (not exercised on Linux CI). */
        char buf[65536];
        size_t want = count - done < sizeof buf ? count - done : sizeof buf;
        ssize_t r = pread(in_fd, buf, want, *offset);
        if (r > 0) {
            ssize_t w = weft_write_all(out_fd, buf, (size_t)r);
            if (w < 0)
                return done ? (ssize_t)done : w;
            *offset += r;
        }
#endif
        if (r > 0) {
            done += (size_t)r;
            continue;
        }
        if (r == 0)
            break;  /* the file ended early */
        int e = weft__errno();
        if (e == EINTR)
            continue;
        if (e != EAGAIN && e != EWOULDBLOCK)
            return done ? (ssize_t)done : -e;
        int w = weft_wait_fd(out_fd, WEFT_WRITABLE);
        if (w < 0)
            return done ? (ssize_t)done : w;
    }
    return (ssize_t)done;
}
