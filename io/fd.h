/* The fd table: which task waits to read or write which fd, and in which
 * worker's poller the fd is registered. See docs/io.md. */
#ifndef WEFT_IO_FD_H
#define WEFT_IO_FD_H

#include "io/poller.h"

/* Park the calling task until fd is ready for `events` (WEFT__IO_IN and/or
 * WEFT__IO_OUT), i.e. until the caller should retry its syscall. 0, or
 * -EBADF (weft_close'd meanwhile), -ECANCELED, -ETIMEDOUT, -ENOMEM, or the
 * poller's registration error. On a plain thread it blocks the thread in
 * poll(2) instead. Any task or thread. */
int weft__fd_wait(int fd, int events);

/* A new fd was made with this number (socket, accept): forget whatever the
 * table knew of a previous fd that had it, and wake its waiters with
 * -EBADF. Any thread. */
void weft__fd_fresh(int fd);

/* Forget fd before it is closed: unregister it and wake its waiters with
 * -EBADF. Any thread. */
void weft__fd_forget(int fd);

#endif
