/* doctor.h — `hubgate doctor -c FILE`: checks an installation end to end
 * and says how to fix what is wrong. */
#ifndef HUBGATE_DOCTOR_H
#define HUBGATE_DOCTOR_H

/* Runs every check for the configuration at config_path and prints one
 * line per check to stdout, "OK   <check>" or "FAIL <check>: <why>"
 * followed by "     fix: <command>" (green/red only when stdout is a
 * terminal). Blocking, with short timeouts: for the command line only,
 * never from the event loop. Returns the exit status: 0 when every check
 * passed, else 1. */
int doctor_run(const char *config_path);

#endif
