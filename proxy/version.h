/* version.h — hubgate's version. The Makefile passes it as
 * -DHUBGATE_VERSION="..." from debian/changelog, where it is written; this
 * fallback is for builds that bypass the Makefile (fuzzers, clang-tidy). */
#ifndef HUBGATE_VERSION_H
#define HUBGATE_VERSION_H

#ifndef HUBGATE_VERSION
#define HUBGATE_VERSION "unknown"
#endif

#endif
