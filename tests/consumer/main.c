/* A program that uses the installed weft, as a user's project would: it only
 * sees <weft.h> and the library found by find_package or pkg-config. */
#include <stdint.h>
#include <stdio.h>

#include <weft.h>

static void *child(void *arg)
{
    return (void *)((intptr_t)arg * 2);
}

static void *main_task(void *arg)
{
    weft_task_t *t = weft_spawn(child, (void *)(intptr_t)21);
    if (t == NULL)
        return (void *)(intptr_t)1;
    void *res = NULL;
    int rc = weft_join(t, &res);
    if (rc != 0) {
        fprintf(stderr, "weft_join: %s\n", weft_strerror(rc));
        return (void *)(intptr_t)2;
    }
    if ((intptr_t)res != 42) {
        fprintf(stderr, "joined task returned %ld, not 42\n", (long)(intptr_t)res);
        return (void *)(intptr_t)3;
    }
    return (void *)(intptr_t)0;
}

int main(void)
{
    void *res = (void *)(intptr_t)-1;
    int rc = weft_run(NULL, main_task, NULL, &res);
    if (rc != 0) {
        fprintf(stderr, "weft_run: %s\n", weft_strerror(rc));
        return 1;
    }
    if (res != NULL) {
        fprintf(stderr, "main task failed (%ld)\n", (long)(intptr_t)res);
        return 1;
    }
    printf("weft %d.%d.%d: ok\n", WEFT_VERSION_MAJOR, WEFT_VERSION_MINOR,
           WEFT_VERSION_PATCH);
    return 0;
}
