/* Backend table: maps WEFT_POLLER names to the compiled-in backends. */
#include "io/poller.h"

#include <stddef.h>
#include <string.h>

static const weft__poller_ops_t *const backends[] = {
#ifdef WEFT_HAVE_EPOLL
    &weft__poller_epoll,
#endif
#ifdef WEFT_HAVE_KQUEUE
    &weft__poller_kqueue,
#endif
    &weft__poller_poll,
};

const weft__poller_ops_t *weft__poller_find(const char *name)
{
    if (name == NULL)
        return backends[0];
    for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
        if (strcmp(backends[i]->name, name) == 0)
            return backends[i];
    return NULL;
}
