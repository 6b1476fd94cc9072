/* cache_cmd.h — `hubgate cache ls|rm|verify|gc|import`: the blob cache
 * from the command line. */
#ifndef HUBGATE_CACHE_CMD_H
#define HUBGATE_CACHE_CMD_H

/* Runs verb (ls, rm, verify, gc, import) on the cache of the configuration
 * at config_path; arg is rm's REF|DIGEST or import's LAYOUT, NULL for the
 * others. Prints "OK   ..." or "FAIL ..." lines with a fix (ls prints the
 * images, the blobs and the bytes kept). Blocking: for the command line.
 * Returns the exit status: 0 when all went well, 1 when something failed,
 * 2 for a usage error. */
int cache_cmd_run(const char *config_path, const char *verb, const char *arg);

#endif
