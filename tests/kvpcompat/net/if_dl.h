/*
 * net/if_dl.h for building FreeBSD's hv_kvp_daemon.c on Linux (tests/kvpd.py):
 * the link-level socket address as FreeBSD 12.1's sys/net/if_dl.h lays it
 * out.  FreeBSD's sockaddr begins with sa_len and sa_family, one byte each;
 * Linux's with a 16-bit sa_family: sdl_family takes both bytes, so that
 * sdl_type and the rest keep FreeBSD's offsets (4 on), where an AF_INET or
 * AF_INET6 address cast to a sockaddr_dl shows the same bytes as on FreeBSD.
 */
#ifndef _NET_IF_DL_H_
#define _NET_IF_DL_H_

#include <sys/types.h>

struct sockaddr_dl {
	unsigned short	sdl_family;	/* FreeBSD: u_char sdl_len, sdl_family */
	unsigned short	sdl_index;	/* if != 0, system given index for interface */
	u_char	sdl_type;	/* interface type */
	u_char	sdl_nlen;	/* interface name length, no trailing 0 reqd. */
	u_char	sdl_alen;	/* link level address length */
	u_char	sdl_slen;	/* link layer selector length */
	char	sdl_data[46];	/* minimum work area, can be larger;
				   contains both if name and ll address */
};

#define LLADDR(s) ((caddr_t)((s)->sdl_data + (s)->sdl_nlen))

#endif
