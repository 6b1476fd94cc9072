/* arena.h — test inputs placed right before a PROT_NONE page, so that a
 * parser reading one byte too far crashes instead of passing
 * (picohttpparser's habit). Include once per test file after defining
 * ARENA_SIZE; use arena_up/arena_down as the group setup and teardown. */
#ifndef HUBGATE_TEST_ARENA_H
#define HUBGATE_TEST_ARENA_H

#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef ARENA_SIZE
#define ARENA_SIZE (64u * 1024u)
#endif

static char *arena_map;
static size_t arena_maplen;
static char *arena_end;  /* first byte of the PROT_NONE page */

static int arena_up(void **state)
{
    size_t pg = (size_t)sysconf(_SC_PAGESIZE);

    (void)state;
    arena_maplen = ARENA_SIZE + pg;
    arena_map = mmap(NULL, arena_maplen, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (arena_map == MAP_FAILED)
        return -1;
    arena_end = arena_map + ARENA_SIZE;
    return mprotect(arena_end, pg, PROT_NONE);
}

static int arena_down(void **state)
{
    (void)state;
    munmap(arena_map, arena_maplen);
    return 0;
}

#endif
