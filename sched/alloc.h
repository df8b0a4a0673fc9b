/* Internal allocation: mimalloc when built WEFT_WITH_MIMALLOC (task structs
 * and scheduler internals are small, short-lived and freed on other threads,
 * which is mimalloc's strength), the C library otherwise. */
#ifndef WEFT_SCHED_ALLOC_H
#define WEFT_SCHED_ALLOC_H

#include <stddef.h>

#ifdef WEFT_WITH_MIMALLOC
#include <mimalloc.h>
#define weft__malloc(n)      mi_malloc(n)
#define weft__calloc(n, s)   mi_calloc((n), (s))
#define weft__realloc(p, n)  mi_realloc((p), (n))
#define weft__free(p)        mi_free(p)
#else
#include <stdlib.h>
#define weft__malloc(n)      malloc(n)
#define weft__calloc(n, s)   calloc((n), (s))
#define weft__realloc(p, n)  realloc((p), (n))
#define weft__free(p)        free(p)
#endif

#endif
