/*
 * kvpcompat.h: included before anything else (gcc -include) when
 * tests/kvpd.py builds FreeBSD 12.1's hv_kvp_daemon.c, unmodified, on Linux.
 * What FreeBSD's headers give and glibc's do not; the functions are in
 * kvpcompat.c, the headers FreeBSD has and Linux lacks in kvpcompat/net/.
 */
#ifndef _KVPCOMPAT_H_
#define _KVPCOMPAT_H_

#include <fcntl.h>
#include <stddef.h>
/* sys/sys/types.h: FreeBSD's declares uintptr_t (sys/_stdint.h). */
#include <stdint.h>

/* sys/sys/cdefs.h */
#define __unused	__attribute__((__unused__))
#define __packed	__attribute__((__packed__))

/* sys/sys/poll.h */
#define INFTIM		(-1)

/* lib/libc/string/strlcpy.c, strlcat.c: glibc 2.36 has neither. */
size_t strlcpy(char *dst, const char *src, size_t dsize);
size_t strlcat(char *dst, const char *src, size_t dsize);

/*
 * sys/sys/fcntl.h: FreeBSD's struct flock, whose member order the daemon's
 * initialisers ({ 0, 0, 0, F_WRLCK, SEEK_SET, 0 }) follow; Linux's starts
 * with l_type.  fcntl() takes FreeBSD's and hands Linux its own.
 */
struct freebsd_flock {
	off_t	l_start;
	off_t	l_len;
	pid_t	l_pid;
	short	l_type;
	short	l_whence;
	int	l_sysid;
};
#define flock	freebsd_flock
#define fcntl	freebsd_fcntl
int freebsd_fcntl(int fd, int cmd, ...);

#endif
