/*
 * kvpcompat.c: the FreeBSD library functions and the kernel device that
 * FreeBSD 12.1's hv_kvp_daemon.c needs, for running it unmodified on Linux
 * as a test oracle (tests/kvpd.py builds and starts it, chroot(8)ed into a
 * test root by tests/freebsdsh.py).  Each function cites what it imitates.
 * Defined here, they take the place of glibc's for the daemon's calls.
 *
 * The environment variable KVPCOMPAT_DEV_FD names the descriptor of a
 * SOCK_SEQPACKET socket, the test's end of which plays the kernel's
 * hv_kvp(4) driver and the Hyper-V host: open("/dev/hv_kvp_dev") returns
 * it, pread(2)/pwrite(2) on it receive and send one message each.
 */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>

#include <net/ethernet.h>
#include <net/if_dl.h>
#include <net/if_types.h>

#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

/* lib/libc/string/strlcpy.c */
size_t
strlcpy(char *dst, const char *src, size_t dsize)
{
	const char *osrc = src;
	size_t nleft = dsize;

	if (nleft != 0) {
		while (--nleft != 0) {
			if ((*dst++ = *src++) == '\0')
				break;
		}
	}
	if (nleft == 0) {
		if (dsize != 0)
			*dst = '\0';
		while (*src++)
			;
	}
	return (src - osrc - 1);
}

/* lib/libc/string/strlcat.c */
size_t
strlcat(char *dst, const char *src, size_t dsize)
{
	const char *odst = dst;
	const char *osrc = src;
	size_t n = dsize;
	size_t dlen;

	while (n-- != 0 && *dst != '\0')
		dst++;
	dlen = dst - odst;
	n = dsize - dlen;
	if (n-- == 0)
		return (dlen + strlen(src));
	while (*src != '\0') {
		if (n != 0) {
			*dst++ = *src;
			n--;
		}
		src++;
	}
	*dst = '\0';
	return (dlen + (src - osrc));
}

/*
 * lib/libc/net/ether_addr.c ether_ntoa_r(), ether_ntoa(): zero-padded
 * "%02x", where glibc's prints "0:15:5d:..." (the daemon compares it,
 * upper-cased, with the MAC the host sends).
 */
char *
ether_ntoa(const struct ether_addr *n)
{
	static char a[18];
	if (sprintf(a, "%02x:%02x:%02x:%02x:%02x:%02x", n->octet[0],
	    n->octet[1], n->octet[2], n->octet[3], n->octet[4],
	    n->octet[5]) < 17)
		return (NULL);
	return (a);
}

/*
 * lib/libc/gen/daemon.c daemon(3), without its fork(2) and setsid(2): the
 * test keeps the daemon as its own child, to end it.  The rest as there:
 * chdir("/") unless nochdir, stdin, stdout and stderr on /dev/null unless
 * noclose (so the helpers' stderr goes nowhere, as on FreeBSD).
 */
int
daemon(int nochdir, int noclose)
{
	int fd;

	if (!nochdir)
		(void)chdir("/");
	if (!noclose && (fd = open("/dev/null", O_RDWR, 0)) != -1) {
		(void)dup2(fd, STDIN_FILENO);
		(void)dup2(fd, STDOUT_FILENO);
		(void)dup2(fd, STDERR_FILENO);
		if (fd > 2)
			(void)close(fd);
	}
	return (0);
}

/*
 * lib/libc/gen/syslog.c: datagrams to syslogd's socket _PATH_LOG,
 * "/var/run/log" (the test root's), as "<PRI>Mmm dd hh:mm:ss TAG: MESSAGE";
 * the facility openlog(3) set when the priority has none.
 */
static const char *log_tag = "syslog";
static int log_facility = LOG_USER;

void
openlog(const char *ident, int logopt, int facility)
{
	(void)logopt;
	if (ident != NULL)
		log_tag = ident;
	if (facility != 0)
		log_facility = facility;
}

void
closelog(void)
{
}

void
vsyslog(int pri, const char *fmt, va_list ap)
{
	struct sockaddr_un sun;
	char line[2048];
	char stamp[32];
	time_t now;
	int fd, n;

	if ((pri & LOG_FACMASK) == 0)
		pri |= log_facility;
	now = time(NULL);
	strftime(stamp, sizeof(stamp), "%b %e %T", localtime(&now));
	n = snprintf(line, sizeof(line), "<%d>%s %s: ", pri, stamp, log_tag);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	strlcpy(sun.sun_path, "/var/run/log", sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	(void)sendto(fd, line, strlen(line), 0, (struct sockaddr *)&sun,
	    sizeof(sun));
	close(fd);
}

void
syslog(int pri, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsyslog(pri, fmt, ap);
	va_end(ap);
}

/* sys/sys/fcntl.h: see kvpcompat.h. */
struct freebsd_flock {
	off_t	l_start;
	off_t	l_len;
	pid_t	l_pid;
	short	l_type;
	short	l_whence;
	int	l_sysid;
};

int
freebsd_fcntl(int fd, int cmd, ...)
{
	struct freebsd_flock *ffl;
	struct flock fl;
	va_list ap;
	long arg;
	int r;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (cmd != F_SETLK && cmd != F_SETLKW && cmd != F_GETLK)
		return (fcntl(fd, cmd, arg));
	ffl = (struct freebsd_flock *)arg;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = ffl->l_type;
	fl.l_whence = ffl->l_whence;
	fl.l_start = ffl->l_start;
	fl.l_len = ffl->l_len;
	fl.l_pid = ffl->l_pid;
	r = fcntl(fd, cmd, &fl);
	ffl->l_type = fl.l_type;
	ffl->l_whence = fl.l_whence;
	ffl->l_start = fl.l_start;
	ffl->l_len = fl.l_len;
	ffl->l_pid = fl.l_pid;
	return (r);
}

/* The kernel's hv_kvp(4) device: sys/dev/hyperv/utilities/hv_kvp.c. */
#define KVP_DEV "/dev/hv_kvp_dev"
static int kvp_dev_fd = -1;

__attribute__((constructor)) static void
kvp_dev_init(void)
{
	const char *fd = getenv("KVPCOMPAT_DEV_FD");

	if (fd != NULL) {
		kvp_dev_fd = atoi(fd);
		/* Not the helpers' business: they run with the daemon's env. */
		unsetenv("KVPCOMPAT_DEV_FD");
	}
}

int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode = 0;

	if (strcmp(path, KVP_DEV) == 0) {
		if (kvp_dev_fd == -1) {
			errno = ENOENT;
			return (-1);
		}
		return (kvp_dev_fd);
	}
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
		va_start(ap, flags);
		mode = va_arg(ap, int);
		va_end(ap);
	}
	return (syscall(SYS_openat, AT_FDCWD, path, flags, mode));
}

/*
 * hv_kvp_dev_daemon_read() and hv_kvp_dev_daemon_write(): one whole
 * struct hv_kvp_msg each; the offset is ignored.
 */
ssize_t
pread(int fd, void *buf, size_t nbytes, off_t offset)
{
	if (fd == kvp_dev_fd)
		return (recv(fd, buf, nbytes, 0));
	return (syscall(SYS_pread64, fd, buf, nbytes, offset));
}

ssize_t
pwrite(int fd, const void *buf, size_t nbytes, off_t offset)
{
	if (fd == kvp_dev_fd)
		return (send(fd, buf, nbytes, MSG_NOSIGNAL));
	return (syscall(SYS_pwrite64, fd, buf, nbytes, offset));
}

/*
 * getifaddrs(3) (lib/libc/net/getifaddrs.c over the kernel's
 * sys/net/rtsock.c sysctl_iflist()): for each interface in index order, its
 * AF_LINK entry, then its addresses in the order they were added.  Read
 * from the simulator's `ifconfig`, which prints them in that order.
 *
 * The AF_LINK entry's sdl_type is the type the interface was attached
 * with (sys/net/if.c if_attach_internal() fills the sockaddr_dl once):
 * lagg_port_create() changes a port's if_type, not that sockaddr, so a
 * lagg port keeps IFT_ETHER.  ifconfig prints "ether" for IFT_ETHER,
 * IFT_L2VLAN and IFT_BRIDGE (sbin/ifconfig/af_link.c link_status()); a
 * vlan(4) is IFT_L2VLAN (sys/net/if_vlan.c vlan_clone_create()), lo(4)
 * IFT_LOOP.
 */
struct kvpcompat_ifaddr {
	struct ifaddrs ifa;
	union {
		struct sockaddr_dl dl;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} addr, mask;
	char name[IFNAMSIZ];
};

static struct kvpcompat_ifaddr *
new_entry(struct ifaddrs ***tail, const char *name)
{
	struct kvpcompat_ifaddr *e = calloc(1, sizeof(*e));

	if (e == NULL)
		return (NULL);
	strlcpy(e->name, name, sizeof(e->name));
	e->ifa.ifa_name = e->name;
	e->ifa.ifa_addr = (struct sockaddr *)&e->addr;
	**tail = &e->ifa;
	*tail = &e->ifa.ifa_next;
	return (e);
}

static FILE *
ifconfig_output(pid_t *pid)
{
	int fds[2];

	if (pipe(fds) == -1)
		return (NULL);
	if ((*pid = fork()) == -1) {
		close(fds[0]);
		close(fds[1]);
		return (NULL);
	}
	if (*pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execl("/sbin/ifconfig", "ifconfig", (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	return (fdopen(fds[0], "r"));
}

void
freeifaddrs(struct ifaddrs *ifp)
{
	struct ifaddrs *next;

	for (; ifp != NULL; ifp = next) {
		next = ifp->ifa_next;
		free(ifp);
	}
}

int
getifaddrs(struct ifaddrs **pif)
{
	struct ifaddrs *head = NULL, **tail = &head;
	struct kvpcompat_ifaddr *link = NULL, *e;
	char line[512], word[64], addr[64], *p;
	unsigned int mask, plen, mac[6];
	unsigned short index = 0;
	int status, i;
	pid_t pid;
	FILE *f;

	if ((f = ifconfig_output(&pid)) == NULL)
		return (-1);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (line[0] != '\t') {
			if ((p = strchr(line, ':')) == NULL)
				continue;
			*p = '\0';
			if ((link = new_entry(&tail, line)) == NULL)
				break;
			link->addr.dl.sdl_family = AF_PACKET;
			link->addr.dl.sdl_index = ++index;
			link->addr.dl.sdl_type = strstr(p + 1, "LOOPBACK") ?
			    IFT_LOOP : IFT_OTHER;
			link->addr.dl.sdl_nlen = strlen(line);
			memcpy(link->addr.dl.sdl_data, line, strlen(line));
			continue;
		}
		if (link == NULL || sscanf(line, "%63s", word) != 1)
			continue;
		if (strcmp(word, "ether") == 0 && sscanf(line,
		    " ether %x:%x:%x:%x:%x:%x", &mac[0], &mac[1], &mac[2],
		    &mac[3], &mac[4], &mac[5]) == 6) {
			if (link->addr.dl.sdl_type != IFT_L2VLAN)
				link->addr.dl.sdl_type = IFT_ETHER;
			link->addr.dl.sdl_alen = 6;
			for (i = 0; i < 6; i++)
				LLADDR(&link->addr.dl)[i] = mac[i];
		} else if (strcmp(word, "groups:") == 0 &&
		    strstr(line, " vlan") != NULL) {
			link->addr.dl.sdl_type = IFT_L2VLAN;
		} else if (strcmp(word, "inet") == 0 && sscanf(line,
		    " inet %63s netmask %x", addr, &mask) == 2) {
			if ((e = new_entry(&tail, link->name)) == NULL)
				break;
			e->addr.in.sin_family = AF_INET;
			inet_pton(AF_INET, addr, &e->addr.in.sin_addr);
			e->mask.in.sin_family = AF_INET;
			e->mask.in.sin_addr.s_addr = htonl(mask);
			e->ifa.ifa_netmask = (struct sockaddr *)&e->mask;
		} else if (strcmp(word, "inet6") == 0 && sscanf(line,
		    " inet6 %63s prefixlen %u", addr, &plen) == 2) {
			if ((e = new_entry(&tail, link->name)) == NULL)
				break;
			/* net.route.deembed_scopeid: the scope in sin6_scope_id. */
			if ((p = strchr(addr, '%')) != NULL) {
				*p = '\0';
				e->addr.in6.sin6_scope_id = link->addr.dl.sdl_index;
			}
			e->addr.in6.sin6_family = AF_INET6;
			inet_pton(AF_INET6, addr, &e->addr.in6.sin6_addr);
			e->mask.in6.sin6_family = AF_INET6;
			for (i = 0; i < 128 && i < (int)plen; i++)
				e->mask.in6.sin6_addr.s6_addr[i / 8] |=
				    0x80 >> (i % 8);
			e->ifa.ifa_netmask = (struct sockaddr *)&e->mask;
		}
	}
	fclose(f);
	if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		freeifaddrs(head);
		errno = EIO;
		return (-1);
	}
	*pif = head;
	return (0);
}
