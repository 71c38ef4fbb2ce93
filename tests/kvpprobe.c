/*
 * kvpprobe.c: struct hv_kvp_msg as the C compiler lays it out from
 * FreeBSD's hv_kvp.h, for tests/test_kvp_daemon.py to check tests/kvpd.py's
 * packing against: "NAME VALUE" lines.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "hv_kvp.h"

#define SHOW(name, value) printf("%s %zu\n", name, (size_t)(value))

int
main(void)
{
	SHOW("msg", sizeof(struct hv_kvp_msg));
	SHOW("body", offsetof(struct hv_kvp_msg, body));
	SHOW("operation", offsetof(struct hv_kvp_msg, hdr.kvp_hdr.operation));
	SHOW("pool", offsetof(struct hv_kvp_msg, hdr.kvp_hdr.pool));
	SHOW("ipaddr_value", sizeof(struct hv_kvp_ipaddr_value));
	SHOW("adapter_id", offsetof(struct hv_kvp_ipaddr_value, adapter_id));
	SHOW("addr_family", offsetof(struct hv_kvp_ipaddr_value, addr_family));
	SHOW("dhcp_enabled", offsetof(struct hv_kvp_ipaddr_value, dhcp_enabled));
	SHOW("ip_addr", offsetof(struct hv_kvp_ipaddr_value, ip_addr));
	SHOW("sub_net", offsetof(struct hv_kvp_ipaddr_value, sub_net));
	SHOW("gate_way", offsetof(struct hv_kvp_ipaddr_value, gate_way));
	SHOW("dns_addr", offsetof(struct hv_kvp_ipaddr_value, dns_addr));
	return (0);
}
