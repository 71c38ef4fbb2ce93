/*
 * net/ethernet.h for building FreeBSD's hv_kvp_daemon.c on Linux
 * (tests/kvpd.py): the part the daemon uses of FreeBSD 12.1's
 * sys/net/ethernet.h.  glibc's own pulls in linux/types.h, whose __u64 is
 * not the daemon's, and does not declare ether_ntoa(3).
 */
#ifndef _NET_ETHERNET_H_
#define _NET_ETHERNET_H_

#include <sys/types.h>

#define ETHER_ADDR_LEN	6

struct ether_addr {
	u_char octet[ETHER_ADDR_LEN];
} __attribute__((__packed__));

char *ether_ntoa(const struct ether_addr *);

#endif
