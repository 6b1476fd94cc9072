/* version.h — hubgate's version, one place. */
#ifndef HUBGATE_VERSION_H
#define HUBGATE_VERSION_H

#define HUBGATE_VERSION "0.1.0"

#endif
