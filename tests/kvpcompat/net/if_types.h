/*
 * net/if_types.h for building FreeBSD's hv_kvp_daemon.c on Linux
 * (tests/kvpd.py): the interface types the shim's getifaddrs() gives, with
 * FreeBSD 12.1's values (sys/net/if_types.h, enum ifType).
 */
#ifndef _NET_IF_TYPES_H_
#define _NET_IF_TYPES_H_

#define IFT_OTHER	0x1
#define IFT_ETHER	0x6
#define IFT_LOOP	0x18
#define IFT_L2VLAN	0x87
#define IFT_IEEE8023ADLAG	0xa1

#endif
