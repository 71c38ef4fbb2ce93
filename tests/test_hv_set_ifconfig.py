"""hv_set_ifconfig: the host's IP request, checked, planned and applied."""

import difflib
import os
import pathlib
import random
import shutil
import socket
import tempfile
import time

import pytest

import fakebsd
import freebsdsh
import hvtools
from conftest import Runner, run_sim

HN1_MAC = "00:0d:3a:ab:cd:ef"


def request_text(**fields):
    """A request as hv_kvp_daemon writes it; a field set to None is left out."""
    base = {
        "HWADDR": HN1_MAC,
        "IF_NAME": "hn1",
        "IP_ADDR": "10.1.0.4",
        "SUBNET": "255.255.255.0",
        "GATEWAY": "10.1.0.1",
        "DNS": "10.1.0.2",
        "DHCP": "0",
    }
    base.update(fields)
    return "".join(f"{k}={v}\n" for k, v in base.items() if v is not None)


def parse(**fields):
    return hvtools.parse_request(request_text(**fields))


# The reader


@pytest.mark.parametrize(
    ("fields", "attribute", "expected"),
    [
        ({}, "inet", [("10.1.0.4", 24)]),
        ({}, "hwaddr", HN1_MAC),
        ({"HWADDR": "0:D:3A:AB:CD:EF"}, "hwaddr", HN1_MAC),
        ({"IF_NAME": None}, "ifname", None),
        ({"IF_NAME": ""}, "ifname", None),
        ({"SUBNET": "24"}, "inet", [("10.1.0.4", 24)]),
        ({"SUBNET": "/24"}, "inet", [("10.1.0.4", 24)]),
        (
            {"IP_ADDR": "10.1.0.5", "SUBNET": "255.255.255.252"},
            "inet",
            [("10.1.0.5", 30)],
        ),
        ({"IP_ADDR": "10.1.0.4;", "SUBNET": "24;"}, "inet", [("10.1.0.4", 24)]),
        (
            {"IP_ADDR": "10.1.0.4;10.1.0.5", "SUBNET": "255.255.255.0;255.255.0.0"},
            "inet",
            [("10.1.0.4", 24), ("10.1.0.5", 16)],
        ),
        (
            {"IP_ADDR": "10.1.0.4;10.2.0.5;10.1.0.6", "SUBNET": "24;16;24"},
            "inet",
            [("10.1.0.4", 24), ("10.2.0.5", 16), ("10.1.0.6", 24)],
        ),
        (
            {"IP_ADDR": "10.1.0.5;10.1.0.4", "SUBNET": "32;24"},
            "inet",
            [("10.1.0.5", 32), ("10.1.0.4", 24)],
        ),
        (
            {"IP_ADDR": "10.1.0.4;2001:DB8:1:0::4", "SUBNET": "255.255.255.0;64"},
            "inet6",
            [("2001:db8:1::4", 64)],
        ),
        ({"IP_ADDR": "10.1.0.0", "SUBNET": "31"}, "inet", [("10.1.0.0", 31)]),
        ({"IP_ADDR": "10.1.0.7", "SUBNET": "32"}, "inet", [("10.1.0.7", 32)]),
        ({"GATEWAY": "2001:db8::1;10.1.0.1;10.1.0.9"}, "gateway", "10.1.0.1"),
        ({"GATEWAY": "2001:db8::1;10.1.0.1;fe80::1"}, "gateway6", "2001:db8::1"),
        ({"GATEWAY": ""}, "gateway", None),
        ({"DNS": "10.1.0.2;2001:db8::53;"}, "dns", ["10.1.0.2", "2001:db8::53"]),
        ({"DNS": ""}, "dns", None),
        ({"DNS": None}, "dns", None),
        ({"DHCP": "1", "IP_ADDR": "", "SUBNET": ""}, "dhcp", True),
        ({"DHCP": "1", "IP_ADDR": "", "SUBNET": ""}, "inet", []),
        ({"COLOR": "blue"}, "unknown", ["COLOR"]),
    ],
)
def test_reader_accepts(fields, attribute, expected):
    assert getattr(parse(**fields), attribute) == expected


def test_reader_allows_blank_lines_and_no_final_newline():
    text = "\n" + request_text().replace("\n", "\n\n").rstrip("\n")
    assert hvtools.parse_request(text).inet == [("10.1.0.4", 24)]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (request_text(HWADDR="00:0d:3a:ab:cd"), "HWADDR"),
        (request_text(HWADDR=None), "HWADDR"),
        (request_text(IF_NAME="hn1;reboot"), "IF_NAME"),
        (request_text(IF_NAME="../etc"), "IF_NAME"),
        (request_text(DHCP="yes"), "DHCP"),
        (request_text(DHCP=None), "DHCP"),
        (request_text(IP_ADDR="10.1.0.4;10.1.0.5"), "2 IP_ADDR entries but 1"),
        (request_text(IP_ADDR="$(reboot)"), "not an IP address"),
        (request_text(IP_ADDR="`reboot`"), "not an IP address"),
        (request_text(IP_ADDR="10.1.0.4;;", SUBNET="24;;"), "empty entry"),
        (request_text(IP_ADDR="10.1.0.4 ", SUBNET="24"), "not an IP address"),
        (request_text(IP_ADDR="010.1.0.4"), "not an IP address"),
        (request_text(IP_ADDR="10.1.0.4/24"), "not an IP address"),
        (request_text(IP_ADDR="fe80::4%hn1", SUBNET="64"), "not an IP address"),
        (request_text(IP_ADDR="127.0.0.1"), "loopback"),
        (request_text(IP_ADDR="::1", SUBNET="128"), "loopback"),
        (request_text(IP_ADDR="224.0.0.1"), "multicast"),
        (request_text(IP_ADDR="0.0.0.0"), "unspecified"),  # noqa: S104
        (request_text(IP_ADDR="10.1.0.0"), "network address"),
        (request_text(IP_ADDR="10.1.0.255"), "broadcast address"),
        (request_text(IP_ADDR="2001:db8::", SUBNET="64"), "network address"),
        (request_text(IP_ADDR="fe80::4", SUBNET="64"), "link-local"),
        (request_text(SUBNET="255.0.255.0"), "SUBNET"),
        (request_text(SUBNET="0.0.0.255"), "SUBNET"),
        (request_text(SUBNET="33"), "SUBNET"),
        (request_text(SUBNET="024"), "SUBNET"),
        (request_text(IP_ADDR="2001:db8::4", SUBNET="255.255.255.0"), "SUBNET"),
        (request_text(IP_ADDR="2001:db8::4", SUBNET="129"), "SUBNET"),
        (request_text(IP_ADDR="10.1.0.4;10.1.0.4", SUBNET="24;24"), "twice"),
        (request_text(IP_ADDR="", SUBNET=""), "without an IP_ADDR"),
        (request_text(GATEWAY="10.1.0.1;ff02::1"), "multicast"),
        (request_text(DNS="10.1.0.2;localhost"), "not an IP address"),
        (request_text() + "DNS=10.1.0.3\n", "DNS repeated"),
        (request_text() + "just words\n", "no '='"),
        (request_text() + "=10.1.0.3\n", "bad key"),
        (request_text() + "A B=1\n", "bad key"),
        (request_text(DNS="10.1.0.2\x00"), "'\\x00'"),
        (request_text().replace("\n", "\r\n"), "'\\r'"),
        (request_text(DNS="10.1.0.2\t"), "'\\t'"),
        (request_text(IF_NAME="hn\xe91"), "'\\xe9'"),
    ],
)
def test_reader_rejects(text, reason):
    with pytest.raises(hvtools.Failure) as caught:
        hvtools.parse_request(text)
    assert caught.value.status == hvtools.EX_DATAERR
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)


def test_reader_keeps_messages_short():
    with pytest.raises(hvtools.Failure) as caught:
        hvtools.parse_request(request_text(IP_ADDR="x" * 60000))
    assert len(str(caught.value)) < 120


# Choosing the interface

IFCONFIG = """\
hn0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 00:0d:3a:12:34:56
\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255
hn1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 00:0d:3a:ab:cd:ef
\tinet 10.1.0.4 netmask 0xffffff00 broadcast 10.1.0.255
\tinet6 fe80::20d:3aff:feab:cdef%hn1 prefixlen 64 scopeid 0x3
\tinet6 2001:db8:1::4 prefixlen 64
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384
\tinet 127.0.0.1 netmask 0xff000000
"""

LAGG = """\
hn0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 00:0d:3a:12:34:56
mce0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 00:0d:3a:12:34:56
lagg0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
\tether 00:0d:3a:12:34:56
\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255
\tlaggproto failover lagghash l2,l3,l4
\tlaggport: mce0 flags=5<MASTER,ACTIVE>
\tlaggport: hn0 flags=0<>
"""


@pytest.mark.parametrize(
    ("ifconfig", "fields", "expected"),
    [
        (IFCONFIG, {}, ("hn1", "hn1")),
        (IFCONFIG, {"IF_NAME": None}, ("hn1", "hn1")),
        (IFCONFIG, {"IF_NAME": None, "HWADDR": "00:0D:3A:AB:CD:EF"}, ("hn1", "hn1")),
        (LAGG, {"IF_NAME": None, "HWADDR": "00:0d:3a:12:34:56"}, ("hn0", "lagg0")),
        (LAGG, {"IF_NAME": "hn0", "HWADDR": "00:0d:3a:12:34:56"}, ("hn0", "lagg0")),
    ],
)
def test_choose_interface(ifconfig, fields, expected):
    interfaces = hvtools.parse_ifconfig(ifconfig)
    assert hvtools.choose_interface(parse(**fields), interfaces) == expected


@pytest.mark.parametrize(
    ("ifconfig", "fields", "reason"),
    [
        (IFCONFIG, {"IF_NAME": "hn7"}, "hn7: no such interface"),
        (IFCONFIG, {"IF_NAME": "hn0"}, "is not HWADDR"),
        (IFCONFIG, {"IF_NAME": None, "HWADDR": "00:0d:3a:00:00:01"}, "set IF_NAME"),
        (
            IFCONFIG + IFCONFIG.replace("hn0", "hn5").replace("hn1", "hn6"),
            {"IF_NAME": None},
            "set IF_NAME",
        ),
    ],
)
def test_choose_interface_refuses(ifconfig, fields, reason):
    interfaces = hvtools.parse_ifconfig(ifconfig)
    with pytest.raises(hvtools.Failure) as caught:
        hvtools.choose_interface(parse(**fields), interfaces)
    assert caught.value.status == hvtools.EX_UNAVAILABLE
    assert reason in str(caught.value)


# Editing rc.conf


@pytest.mark.parametrize(
    ("files", "name", "value", "expected"),
    [
        (  # changed in place: quotes, comment and every other byte kept
            {"/etc/rc.conf": 'a=1\nifconfig_hn1="DHCP"\t# dhcp\nb=2'},
            "ifconfig_hn1",
            "inet 10.1.0.4/24",
            {"/etc/rc.conf": 'a=1\nifconfig_hn1="inet 10.1.0.4/24"\t# dhcp\nb=2'},
        ),
        (  # the last file that sets it wins, as sysrc(8) does
            {
                "/etc/rc.conf": "ifconfig_hn1=DHCP\n",
                "/etc/rc.conf.local": "x=1; ifconfig_hn1=SYNCDHCP\n",
            },
            "ifconfig_hn1",
            "up",
            {
                "/etc/rc.conf": "ifconfig_hn1=DHCP\n",
                "/etc/rc.conf.local": 'x=1; ifconfig_hn1="up"\n',
            },
        ),
        (  # the last assignment within that file
            {"/etc/rc.conf": "v=1\nv=2\n"},
            "v",
            "3",
            {"/etc/rc.conf": 'v=1\nv="3"\n'},
        ),
        (  # else appended to /etc/rc.conf, after a missing final newline
            {"/etc/rc.conf": "a=1", "/etc/rc.conf.local": None},
            "v",
            "x y",
            {"/etc/rc.conf": 'a=1\nv="x y"\n', "/etc/rc.conf.local": None},
        ),
        (  # a value sh would expand is single-quoted
            {"/etc/rc.conf": ""},
            "v",
            "a $b 'c'",
            {"/etc/rc.conf": "v='a $b '\\''c'\\'''\n"},
        ),
    ],
)
def test_rc_set(files, name, value, expected):
    texts = dict(files)
    hvtools.rc_set(texts, list(files), name, value)
    assert texts == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1\nv=2\nb=3\n", "a=1\nb=3\n"),
        ("a=1\n  v='x y'  # old\nb=3\n", "a=1\nb=3\n"),
        ("v=1\nv=2", ""),
        ("a=1; v=2 # c\n", "a=1; # c\n"),
        ("v=2; a=1\n", "a=1\n"),
        ("a=1 v=2\n", "a=1 \n"),
        ('v="multi\nline"\na=1\n', "a=1\n"),
        ("# v=1\nvv=1\n", "# v=1\nvv=1\n"),
    ],
)
def test_rc_unset(text, expected):
    texts = {"/etc/rc.conf": text}
    hvtools.rc_unset(texts, ["/etc/rc.conf"], "v")
    assert texts["/etc/rc.conf"] == expected
    assert "v" not in hvtools.rc_evaluate(hvtools.parse_rc(expected)[0], {})


# The planner

DEFAULTS = 'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\ndefaultrouter=""\n'
RESOLV = "search example.net\nnameserver 10.1.0.2\noptions edns0\n"
ROUTE_HN1 = {"inet": ("10.1.0.1", "hn1")}


def plan(
    fields=None, rc=None, ifconfig=IFCONFIG, resolv=RESOLV, routes=None, dh=None,
    leases=None, **kw
):  # fmt: skip
    """The plan on a running system; ifconfig None: on an image."""
    texts = {
        "/etc/defaults/rc.conf": DEFAULTS,
        "/etc/rc.conf": 'ifconfig_hn1="inet 10.1.0.4/24"\n'
        'ifconfig_hn1_ipv6="inet6 2001:db8:1::4/64"\n',
        "/etc/rc.conf.local": None,
        "/etc/rc.conf.d/netif": None,
        "/etc/rc.conf.d/routing": None,
    }
    texts.update(rc or {})
    machine = hvtools.Machine(texts, resolv=resolv, **kw)
    if ifconfig is not None:
        machine.interfaces = hvtools.parse_ifconfig(ifconfig)
        machine.routes = ROUTE_HN1 if routes is None else routes
        machine.dhclients = dh or {}
        machine.leases = leases or {}
    return hvtools.plan_set_ifconfig(parse(**(fields or {})), machine)


def commands(p):
    """The commands, then the route commands, without their directories."""
    return [
        " ".join(argv).replace("/sbin/", "").replace("/bin/", "")
        for argv in p.commands + p.routes
    ]


def new_text(p, path="/etc/rc.conf"):
    return p.files[path][1]


def test_plan_same_state_is_empty():
    p = plan(
        {
            "IP_ADDR": "10.1.0.4;2001:db8:1::4",
            "SUBNET": "24;64",
            "GATEWAY": "",
        }
    )
    assert (p.commands, p.files) == ([], {})
    assert p.summary == "hn1: static 10.1.0.4/24 2001:db8:1::4/64 dns 1 (unchanged)"


def test_plan_one_ipv4_drops_the_old_ipv6_and_sets_the_router():
    p = plan({"IP_ADDR": "10.1.0.9"}, routes={})
    assert commands(p) == [
        "ifconfig hn1 inet 10.1.0.9/24 alias",
        "ifconfig hn1 inet 10.1.0.4 -alias",
        "ifconfig hn1 inet6 2001:db8:1::4 -alias",
        "route add default 10.1.0.1",
    ]
    assert new_text(p) == 'ifconfig_hn1="inet 10.1.0.9/24"\ndefaultrouter="10.1.0.1"\n'
    assert p.summary == "hn1: static 10.1.0.9/24 gw 10.1.0.1 dns 1"


def test_plan_several_addresses_become_aliases_without_gaps():
    rc = {
        "/etc/rc.conf": 'ifconfig_hn1="inet 10.1.0.4/24"\n'
        'ifconfig_hn1_alias0="inet 10.1.0.20/24"\n'
        'ifconfig_hn1_alias1="inet 10.1.0.21/24"\n'
        'ifconfig_hn1_alias5="inet 10.1.0.25/24"\n'
        'defaultrouter="10.1.0.1"\n'
    }
    p = plan(
        {
            "IP_ADDR": "10.1.0.4;10.1.0.5;2001:db8:1::4;2001:db8:1::5",
            "SUBNET": "24;24;64;64",
        },
        rc=rc,
    )
    assert new_text(p) == (
        'ifconfig_hn1="inet 10.1.0.4/24"\n'
        'ifconfig_hn1_alias0="inet 10.1.0.5/24"\n'
        'ifconfig_hn1_alias1="inet6 2001:db8:1::5/64"\n'
        'defaultrouter="10.1.0.1"\n'
        'ifconfig_hn1_ipv6="inet6 2001:db8:1::4/64"\n'
    )
    assert commands(p) == [
        "ifconfig hn1 inet 10.1.0.5/24 alias",
        "ifconfig hn1 inet6 2001:db8:1::5/64 alias",
    ]


def test_plan_dhcp_to_static_stops_dhclient_and_replaces_the_route():
    rc = {"/etc/rc.conf": 'ifconfig_hn1="SYNCDHCP"\n'}
    pidfile = "/var/run/dhclient/dhclient.hn1.pid"
    # 10.1.0.4 is the lease of the dhclient running: it goes, and with it
    # the default route it was the source of
    p = plan(
        {
            "IP_ADDR": "10.1.0.9;2001:db8:1::4",
            "SUBNET": "24;64",
            "GATEWAY": "10.1.0.254",
        },
        rc=rc,
        dh={"hn1": pidfile},
        leases={"hn1": "10.1.0.4"},
    )
    assert commands(p) == [
        f"pkill -F {pidfile} -x dhclient",
        "ifconfig hn1 inet 10.1.0.9/24 alias",
        "ifconfig hn1 inet 10.1.0.4 -alias",
        "route add default 10.1.0.254",
    ]
    assert new_text(p) == (
        'ifconfig_hn1="inet 10.1.0.9/24"\n'
        'ifconfig_hn1_ipv6="inet6 2001:db8:1::4/64"\n'
        'defaultrouter="10.1.0.254"\n'
    )


def test_plan_static_to_dhcp():
    rc = {
        "/etc/rc.conf": 'ifconfig_hn1="inet 10.1.0.4/24"\n'
        'ifconfig_hn1_alias0="inet 10.1.0.5/32"\n'
        'ifconfig_hn1_ipv6="inet6 2001:db8:1::4/64 accept_rtadv"\n'
        'defaultrouter="10.1.0.1"\n'
        'ipv6_defaultrouter="2001:db8:9::1"\n'
    }
    p = plan({"DHCP": "1", "IP_ADDR": "", "SUBNET": "", "DNS": ""}, rc=rc)
    assert commands(p) == [
        "ifconfig hn1 inet 10.1.0.4 -alias",
        "ifconfig hn1 inet6 2001:db8:1::4 -alias",
        "dhclient -b hn1",
    ]
    assert new_text(p) == (
        'ifconfig_hn1="DHCP"\n'
        'ifconfig_hn1_ipv6="inet6 accept_rtadv"\n'
        'ipv6_defaultrouter="2001:db8:9::1"\n'
    )
    assert p.summary == "hn1: DHCP"


def test_plan_dhcp_again_keeps_the_lease_and_the_mode():
    rc = {"/etc/rc.conf": 'ifconfig_hn1="SYNCDHCP"\n'}
    pidfile = "/var/run/dhclient/dhclient.hn1.pid"
    p = plan({"DHCP": "1", "DNS": ""}, rc=rc, dh={"hn1": pidfile})
    assert (p.commands, p.files) == ([], {})


def test_plan_dhclient_as_rc_d_dhclient_starts_it_in_the_background():
    # rc.d/dhclient's command line (dhclient_prestart; tested against it
    # below), always with -b, once: hv_kvp_daemon waits for hv_set_ifconfig.
    rc = {"/etc/rc.conf": 'ifconfig_hn1="SYNCDHCP"\nsynchronous_dhclient=YES\n'}
    assert commands(plan({"DHCP": "1"}, rc=rc))[-1] == "dhclient -b hn1"
    rc = {
        "/etc/rc.conf": 'ifconfig_hn1="inet 10.1.0.4/24"\n'
        'background_dhclient_hn1="YES"\ndhclient_flags="-q"\n'
    }
    assert commands(plan({"DHCP": "1"}, rc=rc))[-1] == "dhclient -q -b hn1"


def test_plan_no_dhclient_on_an_interface_without_carrier():
    # dhclient, -b or not, would wait 11 s for the link (dhclient.c main())
    # while the host waits 5 s; devd's LINK_UP rule starts it later.
    no_carrier = IFCONFIG.replace(
        "\tinet6 2001:db8:1::4 prefixlen 64\n",
        "\tinet6 2001:db8:1::4 prefixlen 64\n\tstatus: no carrier\n",
    )
    p = plan({"DHCP": "1", "DNS": ""}, ifconfig=no_carrier)
    assert "dhclient -b hn1" not in commands(p)
    assert new_text(p).startswith('ifconfig_hn1="DHCP"\n')
    assert p.warnings == [
        "hn1: no carrier: dhclient not started now; devd starts it when the"
        " link comes up"
    ]
    # a failover lagg has no such rule: its dhclient starts all the same
    lagg = LAGG.replace("\tlaggproto", "\tstatus: no carrier\n\tlaggproto")
    fields = {"IF_NAME": "hn0", "HWADDR": "00:0d:3a:12:34:56", "DHCP": "1"}
    assert commands(plan(fields, ifconfig=lagg))[-1] == "dhclient -b lagg0"


def test_plan_rc_conf_local_holds_the_variable():
    rc = {
        "/etc/rc.conf": 'ifconfig_hn1="DHCP"\n',
        "/etc/rc.conf.local": '# local\nifconfig_hn1="inet 10.1.0.4/24" # here\n',
    }
    p = plan({"IP_ADDR": "10.1.0.9", "GATEWAY": ""}, rc=rc)
    assert new_text(p, "/etc/rc.conf.local") == (
        '# local\nifconfig_hn1="inet 10.1.0.9/24" # here\n'
    )
    assert "/etc/rc.conf" not in p.files


def test_plan_rc_conf_d_netif_wins():
    rc = {
        "/etc/rc.conf": "",
        "/etc/rc.conf.local": 'ifconfig_hn1="DHCP"\n',
        "/etc/rc.conf.d/netif": 'ifconfig_hn1="inet 10.1.0.4/24"\n',
    }
    p = plan({"IP_ADDR": "10.1.0.9", "GATEWAY": ""}, rc=rc)
    assert new_text(p, "/etc/rc.conf.d/netif") == 'ifconfig_hn1="inet 10.1.0.9/24"\n'
    assert set(p.files) == {"/etc/rc.conf.d/netif"}


def test_plan_dns_only():
    p = plan(
        {
            "IP_ADDR": "10.1.0.4;2001:db8:1::4",
            "SUBNET": "24;64",
            "GATEWAY": "",
            "DNS": "10.1.0.3;10.1.0.2",
        }
    )
    assert p.commands == []
    assert set(p.files) == {"/etc/resolv.conf"}
    assert new_text(p, "/etc/resolv.conf") == (
        "search example.net\nnameserver 10.1.0.3\nnameserver 10.1.0.2\noptions edns0\n"
    )


# resolvconf(8) in use: FreeBSD's /etc/resolvconf.conf as installed.
RESOLVCONF_CONF = (
    "# Configuration for resolvconf(8)\n"
    "# See resolvconf.conf(5) for details\n"
    "\n"
    "resolv_conf=/etc/resolv.conf\n"
    "# If you run a local name server, you should uncomment the below line and\n"
    "# configure your subscribers configuration files below.\n"
    "#name_servers=127.0.0.1\n"
)
DNS_ONLY = {
    "IP_ADDR": "10.1.0.4;2001:db8:1::4",
    "SUBNET": "24;64",
    "GATEWAY": "",
    "DNS": "10.1.0.3;2001:db8:1::53",
}


def test_plan_dns_with_resolvconf_goes_to_resolvconf_conf():
    p = plan(DNS_ONLY, resolvconf=True, resolvconf_conf=RESOLVCONF_CONF)
    assert set(p.files) == {"/etc/resolvconf.conf"}
    assert new_text(p, "/etc/resolvconf.conf") == (
        RESOLVCONF_CONF + 'name_servers="10.1.0.3 2001:db8:1::53"\n'
    )
    assert commands(p) == ["resolvconf -u"]
    assert p.commands == [["/sbin/resolvconf", "-u"]]


def test_plan_dns_with_resolvconf_replaces_name_servers_in_place():
    text = '# mine\nname_servers="10.9.9.9" # old\nsearch_domains=x.example\n'
    p = plan(DNS_ONLY, resolvconf=True, resolvconf_conf=text)
    assert new_text(p, "/etc/resolvconf.conf") == (
        '# mine\nname_servers="10.1.0.3 2001:db8:1::53" # old\n'
        "search_domains=x.example\n"
    )


def test_plan_dns_with_resolvconf_creates_the_file():
    p = plan(DNS_ONLY, resolvconf=True, resolvconf_conf=None)
    assert p.files["/etc/resolvconf.conf"] == (
        None,
        'name_servers="10.1.0.3 2001:db8:1::53"\n',
    )


def test_plan_dns_with_resolvconf_twice_is_unchanged():
    text = RESOLVCONF_CONF + 'name_servers="10.1.0.3 2001:db8:1::53"\n'
    generated = (
        "# Generated by resolvconf\nnameserver 10.1.0.3\nnameserver 2001:db8:1::53\n"
        "nameserver 168.63.129.16\n"
    )
    p = plan(DNS_ONLY, resolv=generated, resolvconf=True, resolvconf_conf=text)
    assert (p.files, p.commands) == ({}, [])
    assert p.summary.endswith("(unchanged)")
    # resolv.conf lagging behind (a run stopped before -u): -u alone.
    p = plan(DNS_ONLY, resolv=RESOLV, resolvconf=True, resolvconf_conf=text)
    assert (p.files, commands(p)) == ({}, ["resolvconf -u"])


@pytest.mark.parametrize("value", ["NO", "no", "False", "off", "0", "'NO'"])
def test_plan_dns_with_resolvconf_disabled_edits_resolv_conf(value):
    # openresolv's resolvconf: case "${resolvconf:-YES}" in
    # [Yy][Ee][Ss]|[Tt][Rr][Uu][Ee]|[Oo][Nn]|1) ;; *) exit 0;; before any
    # subscriber: resolv.conf is not regenerated.
    conf = f"{RESOLVCONF_CONF}resolvconf={value}\n"
    p = plan(DNS_ONLY, resolvconf=True, resolvconf_conf=conf)
    assert set(p.files) == {"/etc/resolv.conf"}
    assert p.commands == []


@pytest.mark.parametrize("value", ["YES", "yes", "1", "On", '""'])
def test_plan_dns_with_resolvconf_enabled_values(value):
    conf = f"{RESOLVCONF_CONF}resolvconf={value}\n"
    p = plan(DNS_ONLY, resolvconf=True, resolvconf_conf=conf)
    assert set(p.files) == {"/etc/resolvconf.conf"}


def test_plan_dns_without_resolvconf_program_edits_resolv_conf():
    p = plan(DNS_ONLY, resolvconf=False, resolvconf_conf=RESOLVCONF_CONF)
    assert set(p.files) == {"/etc/resolv.conf"}
    assert p.commands == []


def test_plan_dns_with_an_unreadable_resolvconf_conf_is_refused():
    conf = RESOLVCONF_CONF + "name_servers=$(cat /etc/ns)\n"
    with pytest.raises(hvtools.Failure) as e:
        plan(DNS_ONLY, resolvconf=True, resolvconf_conf=conf)
    assert e.value.status == hvtools.EX_DATAERR
    assert str(e.value).startswith("/etc/resolvconf.conf:8: ")


@pytest.mark.parametrize(
    ("text", "servers", "expected"),
    [
        (None, ["10.0.0.2"], "nameserver 10.0.0.2\n"),
        ("# c\nsearch x", ["10.0.0.2"], "# c\nsearch x\nnameserver 10.0.0.2\n"),
        (
            "nameserver 1.1.1.1\n# keep\nnameserver 8.8.8.8 # old\ndomain x\n",
            ["10.0.0.2", "10.0.0.3"],
            "nameserver 10.0.0.2\nnameserver 10.0.0.3\n# keep\ndomain x\n",
        ),
    ],
)
def test_replace_nameservers(text, servers, expected):
    assert hvtools.replace_nameservers(text, servers) == expected


def test_plan_another_interfaces_default_route_is_left_alone():
    p = plan(
        {"IP_ADDR": "10.1.0.4", "GATEWAY": "10.1.0.1"},
        routes={"inet": ("10.0.0.1", "hn0")},
    )
    assert not any(argv[0] == "/sbin/route" for argv in p.commands)
    assert "defaultrouter" not in new_text(p)
    assert p.warnings == [
        "gateway 10.1.0.1 not used: the default route via 10.0.0.1 belongs to hn0"
    ]


def test_plan_ipv6_gateway_link_local_gets_the_scope():
    p = plan(
        {"IP_ADDR": "10.1.0.4;2001:db8:1::4", "SUBNET": "24;64", "GATEWAY": "fe80::1"},
        routes={"inet6": ("fe80::2%hn1", "hn1")},
    )
    assert commands(p) == ["route change -inet6 default fe80::1%hn1"]
    assert new_text(p).endswith('ipv6_defaultrouter="fe80::1%hn1"\n')


def test_plan_ipv4_link_local_gateway_gets_no_scope():
    p = plan(
        {"IP_ADDR": "169.254.10.4", "SUBNET": "16", "GATEWAY": "169.254.0.1"},
        routes={"inet": ("169.254.0.2", "hn1")},
    )
    assert commands(p)[-1:] == ["route change default 169.254.0.1"]
    assert new_text(p).endswith('defaultrouter="169.254.0.1"\n')


def test_plan_vf_lagg_takes_the_live_changes():
    rc = {"/etc/rc.conf": 'ifconfig_hn0="inet 10.0.0.4/24"\n'}
    p = plan(
        {
            "HWADDR": "00:0d:3a:12:34:56",
            "IF_NAME": "hn0",
            "IP_ADDR": "10.0.0.5",
            "GATEWAY": "",
        },
        rc=rc,
        ifconfig=LAGG.replace(
            "\tether 00:0d:3a:12:34:56\nmce0",
            "\tether 00:0d:3a:12:34:56\n\tinet6 2001:db8::4 prefixlen 64\nmce0",
        ),
    )
    assert commands(p) == [
        "ifconfig hn0 inet6 2001:db8::4 -alias",
        "ifconfig lagg0 inet 10.0.0.5/24 alias",
        "ifconfig lagg0 inet 10.0.0.4 -alias",
    ]
    assert new_text(p) == 'ifconfig_hn0="inet 10.0.0.5/24"\n'
    assert p.summary == "hn0: static 10.0.0.5/24 dns 1 via lagg0"


def test_format_plan_prints_commands_then_diffs():
    p = plan(
        {
            "IP_ADDR": "10.1.0.4;2001:db8:1::4",
            "SUBNET": "24;64",
            "GATEWAY": "",
            "DNS": "10.1.0.3",
        }
    )
    out = hvtools.format_plan(p)
    assert out.startswith("--- /etc/resolv.conf\n+++ /etc/resolv.conf\n")
    assert "-nameserver 10.1.0.2\n+nameserver 10.1.0.3\n" in out


# unified_diff: difflib's output without importing difflib.  Pairs of texts
# are generated from a seed; each kind is a way texts change.


def rc_lines(rng, count):
    """rc.conf-like lines: mostly unique, with repeated blanks and comments."""
    lines = []
    for n in range(count):
        roll = rng.random()
        if roll < 0.1:
            lines.append("\n")
        elif roll < 0.15:
            lines.append("# ----\n")
        else:
            lines.append(f'var{n}_{rng.randrange(10**6)}="value {n}"\n')
    return lines


def edited(rng, lines, edits, vocabulary):
    """lines after random replacements, insertions, deletions and appends."""
    lines = list(lines)
    for _ in range(edits):
        roll = rng.random()
        where = rng.randrange(len(lines) + 1)
        if roll < 0.3 and where < len(lines):
            lines[where] = rng.choice(vocabulary)
        elif roll < 0.55:
            lines.insert(where, rng.choice(vocabulary))
        elif roll < 0.8 and where < len(lines):
            del lines[where]
        else:
            lines.extend(rng.choices(vocabulary, k=rng.randint(1, 3)))
    return lines


def without_final_newline(rng, lines):
    if lines and rng.random() < 0.5:
        lines[-1] = lines[-1].rstrip("\n")
    return lines


def diff_pair(kind, seed):
    rng = random.Random(f"{kind}:{seed}")
    if kind == "few distinct lines":  # difflib may align repeats otherwise
        vocabulary = [f"line {n}\n" for n in range(rng.choice((2, 4, 8)))]
        old = rng.choices(vocabulary, k=rng.randint(0, 30))
        new = edited(rng, old, rng.randint(0, 6), vocabulary)
    elif kind == "edits":
        old = rc_lines(rng, rng.randint(0, 60))
        new = edited(rng, old, rng.randint(0, 8), rc_lines(rng, 20))
    elif kind == "no final newline":
        old = without_final_newline(rng, rc_lines(rng, rng.randint(0, 20)))
        new = edited(rng, old, rng.randint(0, 3), rc_lines(rng, 5))
        new = without_final_newline(rng, new)
    elif kind == "large, far-apart edits":  # past 200 lines difflib skips
        old = rc_lines(rng, rng.randint(200, 3000))  # the frequent lines
        new = list(old)
        for _ in range(rng.randint(1, 4)):
            where = rng.randrange(len(new))
            new[where : where + rng.randint(0, 2)] = rc_lines(rng, rng.randint(0, 2))
    else:  # "hvtools plans": how rc_set, rc_unset and replace_nameservers edit
        text = "".join(rc_lines(rng, rng.choice((5, 50, 400))))
        texts = {"/etc/rc.conf": text}
        names = [a[0] for a in hvtools.parse_rc(text)[0]]
        for _ in range(rng.randint(1, 5)):
            name = rng.choice([*names, "ifconfig_hn1_alias0", "defaultrouter"])
            if rng.random() < 0.3:
                hvtools.rc_unset(texts, ["/etc/rc.conf"], name)
            else:
                hvtools.rc_set(texts, ["/etc/rc.conf"], name, f"10.{seed}.0.1")
        old, new = text, texts["/etc/rc.conf"]
        if rng.random() < 0.3:
            servers = [f"10.0.0.{n}" for n in range(4)]
            old = "".join(f"nameserver {s}\n" for s in rng.sample(servers, 3))
            new = hvtools.replace_nameservers(old, rng.sample(servers, 2))
        old, new = old.splitlines(keepends=True), new.splitlines(keepends=True)
    return old, new


def patched(old, diff):
    """A tiny patch(1): old with the hunks of diff applied, each one checked."""
    assert diff[:2] == ["--- a\n", "+++ b\n"]
    heads = [n for n, line in enumerate(diff) if line.startswith("@@ ")]
    assert heads[0] == 2
    out = []
    at = 0
    for head, end in zip(heads, [*heads[1:], len(diff)]):
        assert diff[head].startswith("@@ -") and diff[head].endswith(" @@\n")
        (a_start, a_len), (b_start, b_len) = (
            (int(r.partition(",")[0]), int(r.partition(",")[2] or 1))
            for r in diff[head][4:-4].split(" +")
        )
        start = a_start - 1 if a_len else a_start  # -N,0: after line N
        assert start >= at
        out.extend(old[at:start])
        assert len(out) == (b_start - 1 if b_len else b_start)
        at, added = start, len(out)
        for line in diff[head + 1 : end]:
            assert line[0] in " -+"
            if line[0] in " -":
                assert old[at] == line[1:]
                at += 1
            if line[0] in " +":
                out.append(line[1:])
        assert (at - start, len(out) - added) == (a_len, b_len)
    return out + old[at:]


DIFF_KINDS = (
    "edits",
    "no final newline",
    "large, far-apart edits",
    "hvtools plans",
    "few distinct lines",
)


@pytest.mark.parametrize("kind", DIFF_KINDS)
def test_unified_diff_is_difflibs(kind):
    # Where a line repeats, difflib may align it with another copy: the diff
    # may differ then, and must still be correct.
    pairs = [diff_pair(kind, seed) for seed in range(400 if "large" in kind else 2000)]
    differ = 0
    for old, new in pairs:
        diff = hvtools.unified_diff(old, new, "a", "b")
        assert patched(old, diff) == new if diff else old == new, (old, new, diff)
        if diff != list(difflib.unified_diff(old, new, "a", "b")):
            differ += 1
            repeats = len(set(old)) < len(old) or len(set(new)) < len(new)
            assert repeats and kind != "hvtools plans", (old, new, diff)
    assert differ <= len(pairs) * (0.4 if kind == "few distinct lines" else 0.02)


def test_unified_diff_of_100000_lines():
    rng = random.Random(5)
    old = rc_lines(rng, 100_000)
    new = list(old)
    new[10] = "hostname=x\n"
    new[90_000:90_001] = []
    new.append('ifconfig_hn1="DHCP"\n')
    diff = hvtools.unified_diff(old, new, "a", "b")
    assert diff == list(difflib.unified_diff(old, new, "a", "b"))
    other = rc_lines(rng, 100_000)
    assert patched(old, hvtools.unified_diff(old, other, "a", "b")) == other


def test_unified_diff_gives_up_searching_past_its_budget():
    # 150 lines repeated, reordered: every line matches 666 others, the
    # quadratic case; the search stops and the rest is one correct change
    # (after the common first line).
    old = [f"{n % 150}\n" for n in range(100_000)]
    new = [f"{n * 7 % 150}\n" for n in range(100_000)]
    assert hvtools._diff_changes(old, new) == [(1, 100_000, 1, 100_000)]
    assert patched(old, hvtools.unified_diff(old, new, "a", "b")) == new


# The applet, run as hv_kvp_daemon runs it (sh FILE) on the simulated FreeBSD

HN0_MAC = "00:0d:3a:12:34:56"
REQUEST = "/var/db/hypervhv_set_ip_data"
RC_CONF = (
    '# the VM\nhostname="vm"\n'
    'ifconfig_hn0="inet 10.0.0.4/24"\t# primary\n'
    'defaultrouter="10.0.0.1"\n'
    'sshd_enable="YES"\n'
)
RESOLV_CONF = "# resolvers\nsearch example.net\nnameserver 10.0.0.2\noptions edns0\n"


@pytest.fixture
def vm(root, sim):
    return make_vm(root, sim)


def make_vm(root, sim):
    """A VM with hn0 static at 10.0.0.4/24 behind 10.0.0.1; hn1 unused."""
    (root / "etc/defaults/rc.conf").write_text(DEFAULTS)
    (root / "etc/rc.conf").write_text(RC_CONF)
    (root / "etc/resolv.conf").write_text(RESOLV_CONF)
    sim.add_interface("hn0", ether=HN0_MAC, inet=["10.0.0.4/24"])
    sim.add_interface("hn1", ether=HN1_MAC)
    sim.add_route("default", "10.0.0.1", "hn0")
    return sim


def hn0_request(**fields):
    base = {
        "HWADDR": HN0_MAC,
        "IF_NAME": "hn0",
        "IP_ADDR": "10.0.0.4",
        "SUBNET": "255.255.255.0",
        "GATEWAY": "10.0.0.1",
        "DNS": "10.0.0.2",
    }
    base.update(fields)
    return request_text(**base)


def set_ip(run, root, text, *options):
    path = root / REQUEST.lstrip("/")
    path.write_bytes(text.encode("latin-1") if isinstance(text, str) else text)
    return run("hv_set_ifconfig", *options, REQUEST, via="sh")


def files(root):
    """Every file of the root with its bytes, but the simulator's state, the
    request and the lock."""
    found = {}
    skip = (REQUEST.lstrip("/"), "var/run/hvtools.hv_set_ifconfig.lock")
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root))
        if path.is_file() and "fakebsd" not in path.parts and name not in skip:
            found[name] = path.read_bytes()
    return found


def addresses(sim, name):
    state = sim.interface(name)
    found = [f"{a['address']}/{a['prefixlen']}" for a in state["inet"]]
    found += [
        f"{a['address']}/{a['prefixlen']}"
        for a in state["inet6"]
        if not a["address"].startswith("fe80:")
    ]
    return sorted(found)


def default_routes(sim):
    return sorted(
        (r["inet6"], r["gateway"], r["interface"])
        for r in sim.routes()
        if r["destination"] == "default"
    )


def rc_env(root):
    texts = [(root / "etc/defaults/rc.conf").read_text()]
    texts += [
        (root / p).read_text()
        for p in ("etc/rc.conf", "etc/rc.conf.local", "etc/rc.conf.d/netif")
        if (root / p).exists()
    ]
    env = {}
    for text in texts:
        hvtools.rc_evaluate(hvtools.parse_rc(text)[0], env)
    return env


def test_one_ipv4_address(run, root, vm):
    (root / "etc/rc.conf").chmod(0o640)
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5"))
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "hn0: static 10.0.0.5/24 gw 10.0.0.1 dns 1\n"
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]
    assert default_routes(vm) == [(False, "10.0.0.1", "hn0")]
    assert (root / "etc/rc.conf").read_text() == RC_CONF.replace(
        "10.0.0.4/24", "10.0.0.5/24"
    )
    assert (root / "etc/rc.conf.bak").read_text() == RC_CONF
    assert (root / "etc/rc.conf").stat().st_mode & 0o777 == 0o640
    assert (root / "etc/rc.conf.bak").stat().st_mode & 0o777 == 0o640
    assert (root / "etc/resolv.conf").read_text() == RESOLV_CONF
    assert not (root / "etc/resolv.conf.bak").exists()
    # 10.0.0.4 took its default route with it: added again, once
    assert [c["argv"] for c in vm.mutating_calls()] == [
        ["ifconfig", "hn0", "inet", "10.0.0.5/24", "alias"],
        ["ifconfig", "hn0", "inet", "10.0.0.4", "-alias"],
        ["route", "add", "default", "10.0.0.1"],
    ]


def test_both_default_routes_come_from_one_netstat(run, root, vm):
    result = set_ip(run, root, hn0_request(GATEWAY="10.0.0.9;2001:db8::1"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "/sbin/route change default 10.0.0.9",
        "/sbin/route add -inet6 default 2001:db8::1",
    ]
    assert [c["argv"] for c in vm.calls()] == [["ifconfig"], ["netstat", "-rn"]]
    # Without a gateway to set, or with DHCP, no route is read.
    for request in (hn0_request(GATEWAY=""), hn0_request(DHCP="1")):
        mark = len(vm.calls())
        assert set_ip(run, root, request, "--dry-run").returncode == 0
        assert [c["argv"] for c in vm.calls()[mark:]] == [["ifconfig"]]


def test_several_ipv4_addresses(run, root, vm):
    result = set_ip(
        run,
        root,
        hn0_request(IP_ADDR="10.0.0.4;10.0.0.6;10.0.1.7", SUBNET="24;24;255.255.255.0"),
    )
    assert result.returncode == 0, result.stderr
    # Each with the prefix the host gave, a further one of a subnet too
    # (in_addprefix(): net.inet.ip.no_same_prefix=0).
    assert addresses(vm, "hn0") == ["10.0.0.4/24", "10.0.0.6/24", "10.0.1.7/24"]
    lines = vm.ifconfig_text("hn0").splitlines()
    assert [line for line in lines if line.startswith("\tinet ")] == [
        "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255",
        "\tinet 10.0.0.6 netmask 0xffffff00 broadcast 10.0.0.255",
        "\tinet 10.0.1.7 netmask 0xffffff00 broadcast 10.0.1.255",
    ]
    env = rc_env(root)
    assert env["ifconfig_hn0"] == "inet 10.0.0.4/24"
    assert env["ifconfig_hn0_alias0"] == "inet 10.0.0.6/24"
    assert env["ifconfig_hn0_alias1"] == "inet 10.0.1.7/24"
    assert "ifconfig_hn0_alias2" not in env


def test_mixed_ipv4_and_ipv6(run, root, vm):
    result = set_ip(
        run,
        root,
        hn0_request(
            IP_ADDR="10.0.0.5;2001:db8::5;10.0.0.6;2001:db8::6",
            SUBNET="255.255.255.0;64;255.255.255.0;64",
            GATEWAY="10.0.0.254;2001:db8::1",
            DNS="2001:db8::53;10.0.0.53",
        ),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "hn0: static 10.0.0.5/24 10.0.0.6/24 2001:db8::5/64 2001:db8::6/64"
        " gw 10.0.0.254 2001:db8::1 dns 2\n"
    )
    assert addresses(vm, "hn0") == [
        "10.0.0.5/24",
        "10.0.0.6/24",
        "2001:db8::5/64",
        "2001:db8::6/64",
    ]
    assert default_routes(vm) == [
        (False, "10.0.0.254", "hn0"),
        (True, "2001:db8::1", "hn0"),
    ]
    env = rc_env(root)
    assert (env["ifconfig_hn0"], env["ifconfig_hn0_ipv6"]) == (
        "inet 10.0.0.5/24",
        "inet6 2001:db8::5/64",
    )
    assert env["ifconfig_hn0_alias0"] == "inet 10.0.0.6/24"
    assert env["ifconfig_hn0_alias1"] == "inet6 2001:db8::6/64"
    assert (env["defaultrouter"], env["ipv6_defaultrouter"]) == (
        "10.0.0.254",
        "2001:db8::1",
    )
    assert run("hv_get_dns_info", via="sh").stdout == "2001:db8::53\n10.0.0.53\n"
    assert run("hv_get_dhcp_info", "hn0", via="sh").stdout == "Disabled\n"
    assert not any("flush" in c["argv"] for c in vm.calls())
    inet6 = [a["address"] for a in vm.interface("hn0")["inet6"]]
    assert any(a.startswith("fe80:") for a in inet6), "link-local kept"


def test_repeat_run_changes_nothing(run, root, vm):
    text = hn0_request(
        IP_ADDR="10.0.0.5;2001:db8::5;10.0.0.6",
        SUBNET="24;64;24",
        GATEWAY="10.0.0.254;2001:db8::1",
        DNS="10.0.0.53",
    )
    assert set_ip(run, root, text).returncode == 0
    before = files(root)
    mutations = len(vm.mutating_calls())
    result = set_ip(run, root, text)
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith(" (unchanged)\n")
    assert files(root) == before
    assert len(vm.mutating_calls()) == mutations


def test_dhcp_to_static(run, root, vm):
    (root / "etc/rc.conf").write_text('ifconfig_hn1="SYNCDHCP"\n')
    vm.set_lease("hn1", "10.1.0.50/24", router="10.1.0.1")
    assert run_sim(root, "/sbin/dhclient", "hn1") == 0
    assert addresses(vm, "hn1") == ["10.1.0.50/24"]
    result = set_ip(
        run,
        root,
        request_text(IP_ADDR="10.1.0.9", SUBNET="24", GATEWAY="10.1.0.254", DNS=""),
    )
    assert result.returncode == 0, result.stderr
    assert vm.dhclients() == {}
    assert addresses(vm, "hn1") == ["10.1.0.9/24"]
    assert run("hv_get_dhcp_info", "hn1", via="sh").stdout == "Disabled\n"
    assert (root / "etc/rc.conf").read_text() == 'ifconfig_hn1="inet 10.1.0.9/24"\n'
    # hn0 owns the default route: it is neither replaced nor persisted.
    assert default_routes(vm) == [(False, "10.0.0.1", "hn0")]
    assert "gateway 10.1.0.254 not used" in result.stderr
    # dhclient's pid file outlives it; the next run must not signal anything.
    assert (root / "var/run/dhclient/dhclient.hn1.pid").exists()
    mutations = len(vm.mutating_calls())
    again = set_ip(
        run,
        root,
        request_text(IP_ADDR="10.1.0.9", SUBNET="24", GATEWAY="10.1.0.254", DNS=""),
    )
    assert again.stdout == "hn1: static 10.1.0.9/24 gw 10.1.0.254 (unchanged)\n"
    assert len(vm.mutating_calls()) == mutations


def test_static_to_dhcp(run, root, vm):
    (root / "etc/rc.conf").write_text(
        RC_CONF + 'ifconfig_hn0_alias0="inet 10.0.0.44/24"\n'
        'ifconfig_hn0_ipv6="inet6 2001:db8::4/64 accept_rtadv"\n'
    )
    run_sim(root, "/sbin/ifconfig", "hn0", "inet", "10.0.0.44/24", "alias")
    run_sim(root, "/sbin/ifconfig", "hn0", "inet6", "2001:db8::4/64", "alias")
    vm.set_lease("hn0", "10.0.0.77/24", router="10.0.0.1")
    result = set_ip(
        run, root, hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hn0: DHCP\n"
    assert list(vm.dhclients()) == ["hn0"]
    assert addresses(vm, "hn0") == ["10.0.0.77/24"]
    assert run("hv_get_dhcp_info", "hn0", via="sh").stdout == "Enabled\n"
    assert (root / "etc/rc.conf").read_text() == (
        '# the VM\nhostname="vm"\n'
        'ifconfig_hn0="DHCP"\t# primary\n'
        'sshd_enable="YES"\n'
        'ifconfig_hn0_ipv6="inet6 accept_rtadv"\n'
    )
    before = files(root)
    mutations = len(vm.mutating_calls())
    again = set_ip(
        run, root, hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    )
    assert again.stdout == "hn0: DHCP (unchanged)\n"
    assert (files(root), len(vm.mutating_calls())) == (before, mutations)


def test_dhcp_is_answered_at_once_with_no_dhcp_server(run, root, vm):
    # hv_kvp_daemon answers the host only when hv_set_ifconfig returns, and
    # the host gives up after 5 s (hv_kvp.c); a foreground dhclient with no
    # server would wait for its dhclient.conf timeout (60 s by default).
    vm.set_dhcp_timeout(10)
    request = hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    start = time.monotonic()
    result = set_ip(run, root, request)
    elapsed = time.monotonic() - start
    assert (result.returncode, result.stdout) == (0, "hn0: DHCP\n"), result.stderr
    assert elapsed < 2
    assert ["dhclient", "-b", "hn0"] in [c["argv"] for c in vm.calls()]
    assert list(vm.dhclients()) == ["hn0"]


def test_dhcp_without_carrier_leaves_dhclient_to_devd(run, root, vm):
    # dhclient would wait for the link past the host's 5 s, then give up.
    vm.set_link_wait(10)
    vm.set_carrier("hn0", False)
    request = hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    result = set_ip(run, root, request)
    assert (result.returncode, result.stdout) == (0, "hn0: DHCP\n")
    assert result.stderr == (
        "hv_set_ifconfig: warning: hn0: no carrier: dhclient not started now;"
        " devd starts it when the link comes up\n"
    )
    assert "dhclient" not in [c["argv"][0] for c in vm.calls()]
    assert (root / "etc/rc.conf").read_text().count('ifconfig_hn0="DHCP"') == 1
    # The link comes up: devd's LINK_UP action, FreeBSD's own rc.d/dhclient,
    # starts dhclient from the rc.conf written.
    freebsdsh.install_rc(root)
    vm.set_lease("hn0", "10.0.0.77/24", router="10.0.0.1")
    vm.set_carrier("hn0", True)
    done = freebsdsh.run(root, ["/etc/rc.d/dhclient", "quietstart", "hn0"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(vm.dhclients()) == ["hn0"]
    assert addresses(vm, "hn0") == ["10.0.0.77/24"]


def test_static_replaces_the_lease_of_a_dhclient_that_died(run, root, vm):
    # Its address stays on the interface and its lease database names it:
    # DHCP's, not someone else's, whether dhclient runs or not.
    (root / "etc/rc.conf").write_text('ifconfig_hn1="DHCP"\n')
    vm.set_lease("hn1", "10.1.0.50/24")
    assert run_sim(root, "/sbin/dhclient", "hn1") == 0
    pidfile = "/var/run/dhclient/dhclient.hn1.pid"
    assert run_sim(root, "/bin/pkill", "-F", pidfile, "dhclient") == 0
    assert (vm.dhclients(), addresses(vm, "hn1")) == ({}, ["10.1.0.50/24"])
    result = set_ip(run, root, request_text(IP_ADDR="10.1.0.9", GATEWAY="", DNS=""))
    assert result.returncode == 0, result.stderr
    assert addresses(vm, "hn1") == ["10.1.0.9/24"]
    assert (root / "etc/rc.conf").read_text() == 'ifconfig_hn1="inet 10.1.0.9/24"\n'


def test_dns_change_only(run, root, vm):
    before = files(root)
    result = set_ip(run, root, hn0_request(DNS="10.0.0.3;10.0.0.2;"))
    assert result.returncode == 0, result.stderr
    after = files(root)
    assert after.pop("etc/resolv.conf") == (
        b"# resolvers\nsearch example.net\nnameserver 10.0.0.3\nnameserver 10.0.0.2\n"
        b"options edns0\n"
    )
    assert after.pop("etc/resolv.conf.bak") == RESOLV_CONF.encode()
    before.pop("etc/resolv.conf")
    assert after == before
    assert vm.mutating_calls() == []
    assert run("hv_get_dns_info", via="sh").stdout == "10.0.0.3\n10.0.0.2\n"


# Symbolic links: an administrator's rc.conf or resolv.conf may be a link
# (into a configuration repository, a shared directory).  rename(2) would
# replace the link; write_file() replaces the file it leads to instead.


def link(root, path, target):
    where = root / path.lstrip("/")
    where.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, where)


def test_symlinked_files_are_written_through(run, root, vm):
    (root / "etc/conf").mkdir()
    (root / "etc/rc.conf").rename(root / "etc/conf/rc.conf")
    (root / "etc/conf/rc.conf").chmod(0o640)
    link(root, "/etc/rc.conf", "conf/rc.conf")
    # An absolute target is inside the root, here through a linked directory.
    (root / "var/shared").mkdir()
    (root / "etc/resolv.conf").rename(root / "var/shared/resolv.conf")
    link(root, "/shared", "var/./shared")
    link(root, "/etc/resolv.conf", "/etc/../shared/resolv.conf")
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5", DNS="10.0.0.3"))
    assert (result.returncode, result.stderr) == (0, "")
    assert os.readlink(root / "etc/rc.conf") == "conf/rc.conf"
    assert os.readlink(root / "etc/resolv.conf") == "/etc/../shared/resolv.conf"
    assert (root / "etc/conf/rc.conf").read_text() == RC_CONF.replace(
        "10.0.0.4/24", "10.0.0.5/24"
    )
    assert (root / "etc/conf/rc.conf").stat().st_mode & 0o777 == 0o640
    assert "nameserver 10.0.0.3\n" in (root / "var/shared/resolv.conf").read_text()
    # The backups are where they always are, the previous texts.
    assert (root / "etc/rc.conf.bak").read_text() == RC_CONF
    assert (root / "etc/resolv.conf.bak").read_text() == RESOLV_CONF
    assert not [p for p in root.rglob("*") if ".hvtools-" in p.name]
    assert run("hv_get_dns_info", via="sh").stdout == "10.0.0.3\n"


@pytest.mark.parametrize(
    ("links", "path", "real"),
    [
        ({}, "/etc/rc.conf", "etc/rc.conf"),
        ({"/etc/rc.conf": "rc.conf.real"}, "/etc/rc.conf", "etc/rc.conf.real"),
        ({"/etc/rc.conf": "/cfg/rc.conf"}, "/etc/rc.conf", "cfg/rc.conf"),
        ({"/etc/rc.conf": "../../../../x"}, "/etc/rc.conf", "x"),
        ({"/etc/rc.conf": "/../x"}, "/etc/rc.conf", "x"),
        ({"/etc/rc.conf": "a", "/etc/a": "b/c", "/etc/b": "/d"}, "/etc/rc.conf", "d/c"),
        ({"/etc/rc.conf": "d/../e"}, "/etc/rc.conf", "etc/e"),
        ({"/etc": "var/etc"}, "/etc/rc.conf", "var/etc/rc.conf"),
    ],
)
def test_real_path_follows_links_inside_the_root(root, monkeypatch, links, path, real):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    if "/etc" in links:
        shutil.rmtree(root / "etc")
    for where, target in links.items():
        link(root, where, target)
    assert hvtools.real_path(path) == os.path.join(root, real)


def test_the_backup_follows_a_linked_directory_inside_the_root(root, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    (root / "var/etc").mkdir()
    (root / "var/etc/rc.conf").write_text("a=1\n")
    shutil.rmtree(root / "etc")
    link(root, "/etc", "/var/etc")
    hvtools.write_file("/etc/rc.conf", b"a=2\n", backup=True)
    assert (root / "var/etc/rc.conf").read_text() == "a=2\n"
    assert (root / "var/etc/rc.conf.bak").read_text() == "a=1\n"
    assert hvtools.read_text("/etc/rc.conf.bak") == "a=1\n"


def test_rc_conf_d_links_are_followed_inside_the_root(root, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    (root / "etc/defaults/rc.conf").write_text(DEFAULTS)
    (root / "var/conf/netif").mkdir(parents=True)
    (root / "var/conf/netif/hn0").write_text("ifconfig_hn0=DHCP\n")
    (root / "var/conf/routing").write_text("defaultrouter=10.0.0.1\n")
    link(root, "/etc/rc.conf.d/netif", "/var/conf/netif")
    link(root, "/etc/rc.conf.d/routing", "/var/conf/routing")
    env = hvtools.load_rc_conf(("netif", "routing"))
    assert (env["ifconfig_hn0"], env["defaultrouter"]) == ("DHCP", "10.0.0.1")


def test_a_dangling_link_gets_its_file(root, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    link(root, "/etc/resolv.conf", "/var/db/resolv.conf")
    hvtools.write_file("/etc/resolv.conf", b"nameserver 10.0.0.2\n", backup=True)
    assert os.readlink(root / "etc/resolv.conf") == "/var/db/resolv.conf"
    written = root / "var/db/resolv.conf"
    assert written.read_bytes() == b"nameserver 10.0.0.2\n"
    assert written.stat().st_mode & 0o777 == 0o644
    assert not (root / "etc/resolv.conf.bak").exists()


def test_a_link_loop_is_refused(root, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    link(root, "/etc/rc.conf", "rc.conf.2")
    link(root, "/etc/rc.conf.2", "/etc/rc.conf")
    with pytest.raises(hvtools.Failure) as failed:
        hvtools.write_file("/etc/rc.conf", b"x=1\n")
    assert (failed.value.status, str(failed.value)) == (
        hvtools.EX_CANTCREAT,
        "/etc/rc.conf: cannot write: Too many levels of symbolic links",
    )
    assert sorted(p.name for p in (root / "etc").iterdir()) == [
        "defaults", "rc.conf", "rc.conf.2", "rc.conf.d",
    ]  # fmt: skip


def test_a_link_loop_is_a_clear_error(run, root, vm):
    (root / "etc/resolv.conf").unlink()
    link(root, "/etc/resolv.conf", "/etc/resolv.conf")
    before = files(root)
    result = set_ip(run, root, hn0_request(DNS="10.0.0.3"))
    assert result.returncode == hvtools.EX_IOERR
    assert result.stderr == (
        "hv_set_ifconfig: /etc/resolv.conf: Too many levels of symbolic links\n"
    )
    assert files(root) == before
    assert vm.mutating_calls() == []


# dhclient as rc(8) starts it: FreeBSD's own rc.d/dhclient (run by
# tests/freebsdsh.py) and hv_set_ifconfig run the same logging dhclient.

LOGGING_DHCLIENT = """\
#!/bin/sh
# Logs its command line, one call a line, each word in [ ].
printf '[%s]' "${0#${HVTOOLS_ROOT:-}}" "$@" >> "${HVTOOLS_ROOT:-}/var/log/dhclient"
echo >> "${HVTOOLS_ROOT:-}/var/log/dhclient"
"""


def logged_dhclients(root):
    path = root / "var/log/dhclient"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(
    ("rc_conf", "argv"),
    [
        ("", "[/sbin/dhclient][hn0]"),
        ('background_dhclient="YES"\n', "[/sbin/dhclient][-b][hn0]"),
        (
            'background_dhclient="YES"\nbackground_dhclient_hn0="NO"\n',
            "[/sbin/dhclient][hn0]",
        ),
        ('background_dhclient_hn0="yes"\n', "[/sbin/dhclient][-b][hn0]"),
        ("background_dhclient=\"'YES'\"\n", "[/sbin/dhclient][-b][hn0]"),
        (
            'dhclient_flags="-q  -c /etc/dhclient.conf"\n',
            "[/sbin/dhclient][-q][-c][/etc/dhclient.conf][hn0]",
        ),
        ('dhclient_flags_hn0="-l /var/db/l"\n', "[/sbin/dhclient][-l][/var/db/l][hn0]"),
        ('dhclient_flags="-q"\ndhclient_flags_hn0="-d"\n', "[/sbin/dhclient][-d][hn0]"),
        ('dhclient_flags="-q"\ndhclient_flags_hn0=""\n', "[/sbin/dhclient][-q][hn0]"),
        ('flags="-u"\ndhclient_flags_hn0="-d"\n', "[/sbin/dhclient][-u][hn0]"),
        (
            "dhclient_flags=\"-c '/etc/my  dhclient.conf'\"\n",
            "[/sbin/dhclient][-c][/etc/my  dhclient.conf][hn0]",
        ),
        (
            'dhclient_program="/usr/local/sbin/dhclient"\nbackground_dhclient=YES\n',
            "[/usr/local/sbin/dhclient][-b][hn0]",
        ),
    ],
)
def test_dhclient_starts_as_rc_d_dhclient_starts_it(run, root, vm, rc_conf, argv):
    dhclient_both_ways(run, root, {"etc/rc.conf": rc_conf}, argv)


def test_dhclient_reads_what_rc_d_dhclient_reads(run, root, vm):
    # load_rc_config dhclient, then network: not rc.conf.d/netif.
    files = {
        "etc/rc.conf": 'dhclient_flags="-d"\n',
        "etc/rc.conf.d/netif": 'background_dhclient="YES"\n',
        "etc/rc.conf.d/dhclient": 'dhclient_flags="-q"\n',
        "usr/local/etc/rc.conf.d/network": 'dhclient_flags="$dhclient_flags -u"\n',
    }
    dhclient_both_ways(run, root, files, "[/sbin/dhclient][-q][-u][hn0]")


def dhclient_both_ways(run, root, files, argv):
    """Start dhclient on hn0 with hv_set_ifconfig, then with rc.d/dhclient:
    rc.d/dhclient must run argv (the logged words), hv_set_ifconfig the
    same in the background (-b, once)."""
    freebsdsh.install_rc(root)
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        with open(root / path, "a") as f:
            f.write(text)
    (root / "var/log").mkdir()
    for path in ("sbin/dhclient", "usr/local/sbin/dhclient"):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(LOGGING_DHCLIENT)
        (root / path).chmod(0o755)
    request = hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    result = set_ip(run, root, request)
    assert result.returncode == 0, result.stderr
    background = argv if "[-b]" in argv else argv.replace("[hn0]", "[-b][hn0]")
    assert logged_dhclients(root) == [background]
    # What devd's LINK_UP (and rc.d/netif for SYNCDHCP) runs.
    done = freebsdsh.run(root, ["/etc/rc.d/dhclient", "start", "hn0"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert logged_dhclients(root) == [background, argv]


def install_logging_resolvconf(root):
    """A stand-in /sbin/resolvconf that only logs its arguments (FreeBSD's
    own runs in tests/test_dns_resolvconf.py, chroot(8)ed: run here it would
    rewrite this machine's /etc/resolv.conf)."""
    log = root / "var/log/resolvconf.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    script = root / "sbin/resolvconf"
    script.write_text(f'#!/bin/sh\necho "$*" >> {log}\n')
    script.chmod(0o755)
    (root / "etc/resolvconf.conf").write_text("resolv_conf=/etc/resolv.conf\n")
    (root / "etc/resolvconf.conf").chmod(0o600)
    return log


def test_dns_with_resolvconf_persists_in_resolvconf_conf(run, root, vm):
    log = install_logging_resolvconf(root)
    before = files(root)
    result = set_ip(run, root, hn0_request(DNS="10.0.0.3;2001:db8::53"))
    assert result.returncode == 0, result.stderr
    after = files(root)
    assert after.pop("etc/resolvconf.conf") == (
        b'resolv_conf=/etc/resolv.conf\nname_servers="10.0.0.3 2001:db8::53"\n'
    )
    assert after.pop("etc/resolvconf.conf.bak") == before.pop("etc/resolvconf.conf")
    assert after.pop("var/log/resolvconf.log") == b"-u\n"
    assert after == before  # resolv.conf is resolvconf's to write
    assert (root / "etc/resolvconf.conf").stat().st_mode & 0o777 == 0o600
    assert vm.mutating_calls() == []
    again = set_ip(run, root, hn0_request(DNS="10.0.0.3;2001:db8::53"))
    assert again.returncode == 0, again.stderr
    # The stand-in did not regenerate resolv.conf: -u again, nothing else.
    assert log.read_text() == "-u\n-u\n"
    assert files(root)["etc/resolvconf.conf"] == (
        b'resolv_conf=/etc/resolv.conf\nname_servers="10.0.0.3 2001:db8::53"\n'
    )


def test_dns_with_resolvconf_failing_keeps_the_file_and_says_so(run, root, vm):
    install_logging_resolvconf(root)
    (root / "sbin/resolvconf").write_text("#!/bin/sh\necho locked >&2\nexit 1\n")
    result = set_ip(run, root, hn0_request(DNS="10.0.0.3"))
    assert result.returncode == hvtools.EX_OSERR
    assert result.stderr == (
        "hv_set_ifconfig: /sbin/resolvconf -u: locked"
        " (the files hold the new configuration)\n"
    )
    assert 'name_servers="10.0.0.3"' in (root / "etc/resolvconf.conf").read_text()


def test_vf_lagg_takes_the_live_changes(run, root, vm):
    vm.add_vf("hn0", "mce0")
    for argv in (
        ["mce0", "up"],
        ["lagg0", "create", "laggproto", "failover", "laggport", "hn0"],
        ["lagg0", "laggport", "mce0"],
        ["hn0", "inet", "10.0.0.4", "-alias"],
        ["lagg0", "inet", "10.0.0.4/24", "up"],
    ):
        assert run_sim(root, "/sbin/ifconfig", *argv) == 0
    result = set_ip(run, root, hn0_request(IF_NAME=None, IP_ADDR="10.0.0.5"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hn0: static 10.0.0.5/24 gw 10.0.0.1 dns 1 via lagg0\n"
    assert addresses(vm, "lagg0") == ["10.0.0.5/24"]
    assert addresses(vm, "hn0") == []
    assert rc_env(root)["ifconfig_hn0"] == "inet 10.0.0.5/24"
    assert "ifconfig_lagg0" not in rc_env(root)


def test_rc_conf_local_holds_the_variable(run, root, vm):
    local = '# local overrides\nifconfig_hn0="inet 10.0.0.4/24" # moved here\n'
    (root / "etc/rc.conf.local").write_text(local)
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5"))
    assert result.returncode == 0, result.stderr
    assert (root / "etc/rc.conf.local").read_text() == local.replace(".4/", ".5/")
    assert (root / "etc/rc.conf").read_text() == RC_CONF
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]


HOSTILE = [
    pytest.param(hn0_request(IP_ADDR="$(touch pwned)"), id="command-substitution"),
    pytest.param(hn0_request(IP_ADDR="`touch pwned`"), id="backticks"),
    pytest.param(hn0_request(IF_NAME="hn0;touch pwned"), id="semicolon"),
    pytest.param(hn0_request(DNS="10.0.0.2\ntouch pwned"), id="newline-in-value"),
    pytest.param(hn0_request(DNS="10.0.0.2\n$(touch pwned)=1"), id="newline-then-key"),
    pytest.param(hn0_request(GATEWAY="10.0.0.1\x00;touch pwned"), id="nul-byte"),
    pytest.param(b"A=" + b"x" * (1 << 20) + b"\n", id="1-MiB-of-junk"),
    pytest.param(hn0_request() + "IP_ADDR=10.0.0.66\n", id="duplicate-key"),
    pytest.param(hn0_request(DNS="10.0.0.2 $(reboot)"), id="space-in-value"),
    pytest.param(hn0_request(IF_NAME="hn0\xff"), id="non-ascii"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_files_change_nothing_and_run_nothing(run, root, vm, text):
    before = files(root)
    result = set_ip(run, root, text)
    assert result.returncode == 65
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("hv_set_ifconfig: bad request: ")
    assert vm.calls() == []
    assert files(root) == before
    assert not (root / "pwned").exists()


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"IF_NAME": "hn7"}, 69, "hn7: no such interface"),
        ({"IF_NAME": "hn1"}, 69, "hn1: its MAC 00:0d:3a:ab:cd:ef is not HWADDR"),
        ({"IF_NAME": None, "HWADDR": "00:0d:3a:00:00:99"}, 69, "set IF_NAME"),
    ],
)
def test_wrong_interface_changes_nothing(run, root, vm, fields, status, message):
    before = files(root)
    result = set_ip(run, root, hn0_request(**fields))
    assert (result.returncode, result.stdout) == (status, "")
    assert message in result.stderr
    assert vm.mutating_calls() == []
    assert files(root) == before


def test_missing_file_and_usage(run, root, vm):
    result = run("hv_set_ifconfig", "/var/db/nosuch", via="sh")
    assert result.returncode == 66
    assert result.stderr.startswith("hv_set_ifconfig: /var/db/nosuch: ")
    assert run("hv_set_ifconfig", "var/db/x", via="sh").returncode == 64
    assert run("hv_set_ifconfig", via="sh").returncode == 64
    assert run("hv_set_ifconfig", "/var/db", via="sh").returncode == 66
    assert vm.calls() == []


def test_dry_run_prints_the_plan_and_changes_nothing(run, root, vm):
    before = files(root)
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "/sbin/ifconfig hn0 inet 10.0.0.5/24 alias\n"
        "/sbin/ifconfig hn0 inet 10.0.0.4 -alias\n"
        "/sbin/route add default 10.0.0.1\n"
        "--- /etc/rc.conf\n+++ /etc/rc.conf\n"
    )
    assert '-ifconfig_hn0="inet 10.0.0.4/24"\t# primary\n' in result.stdout
    assert vm.mutating_calls() == []
    assert files(root) == before


def test_failed_live_command_leaves_the_files_new(run, root, vm):
    vm.fail(["ifconfig", "hn0", "inet", "10.0.0.5/24"], "ifconfig: ioctl: Busy")
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5", DNS="10.0.0.3"))
    assert result.returncode == 71
    assert result.stderr == (
        "hv_set_ifconfig: /sbin/ifconfig hn0 inet 10.0.0.5/24 alias:"
        " ifconfig: ioctl: Busy (the files hold the new configuration)\n"
    )
    assert rc_env(root)["ifconfig_hn0"] == "inet 10.0.0.5/24"
    assert "nameserver 10.0.0.3\n" in (root / "etc/resolv.conf").read_text()
    vm.clear_failures()
    retry = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5", DNS="10.0.0.3"))
    assert retry.returncode == 0, retry.stderr
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]
    assert (root / "etc/rc.conf.bak").read_text() == RC_CONF


def test_unknown_keys_are_one_warning(run, root, vm):
    text = hn0_request() + "".join(f"KEY{n}=x\n" for n in range(500))
    result = set_ip(run, root, text)
    assert result.returncode == 0
    assert result.stderr.startswith(
        "hv_set_ifconfig: warning: /var/db/hypervhv_set_ip_data:"
        " unknown keys ignored: 'KEY0 KEY1 KEY2"
    )
    assert len(result.stderr.splitlines()) == 1


def test_a_fifo_is_refused_at_once(run, root, vm):
    os.mkfifo(root / REQUEST.lstrip("/"))
    result = run("hv_set_ifconfig", REQUEST, via="sh")
    assert result.returncode == 66
    assert "not a regular file" in result.stderr
    assert vm.calls() == []


def test_static_to_dhcp_with_odd_rc_conf_prefixes(run, root, vm):
    (root / "etc/rc.conf").write_text(
        'ifconfig_hn0="inet 10.0.0.4/999"\n'
        'ifconfig_hn0_alias0="inet 10.0.0.44 netmask 0xffffff00"\n'
        'ifconfig_hn0_alias1="inet 10.9.0.4 netmask 255.255.0.0"\n'
        'defaultrouter="10.9.1.1"\n'
    )
    result = set_ip(
        run, root, hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    )
    assert result.returncode == 0, result.stderr
    # 10.9.1.1 lay in 10.9.0.0/16, a subnet hn0 gave up.
    assert (root / "etc/rc.conf").read_text() == 'ifconfig_hn0="DHCP"\n'


def test_commands_and_summary_reach_syslog(dist):
    # A short root: AF_UNIX socket paths are short (104 bytes on FreeBSD).
    top = pathlib.Path(tempfile.mkdtemp(prefix="hv", dir="/tmp"))
    try:
        for d in ("etc/defaults", "var/run", "var/db"):
            (top / d).mkdir(parents=True)
        vm = make_vm(top, fakebsd.FakeBSD(str(top)).install())
        log = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        log.bind(str(top / "var/run/log"))
        log.settimeout(10)
        with log:
            result = set_ip(Runner(dist, top), top, hn0_request(IP_ADDR="10.0.0.5"))
            assert result.returncode == 0, result.stderr
            messages = [log.recv(65536).decode() for _ in range(5)]
        assert [m.partition("]: ")[2] for m in messages] == [
            "hv_set_ifconfig: /etc/rc.conf rewritten,"
            " the previous version kept as /etc/rc.conf.bak",
            "hv_set_ifconfig: /sbin/ifconfig hn0 inet 10.0.0.5/24 alias",
            "hv_set_ifconfig: /sbin/ifconfig hn0 inet 10.0.0.4 -alias",
            "hv_set_ifconfig: /sbin/route add default 10.0.0.1",
            "hv_set_ifconfig: hn0: static 10.0.0.5/24 gw 10.0.0.1 dns 1",
        ]
        assert all(m.startswith("<30>hvtools[") for m in messages)  # daemon.info
        assert addresses(vm, "hn0") == ["10.0.0.5/24"]
    finally:
        shutil.rmtree(top)


# Re-IP: the default route survives (issue 11).  FreeBSD deletes the routes
# of an IPv4 address with it (in_ifadown); each case ends with the default
# route through the requested gateway, and a second run changes nothing.


def reip_twice(run, root, vm, text, routes):
    """Run the dry run, the request, and the request again; returns the
    first run.  The dry run predicts what the first run does, which leaves
    the default routes [(inet6, gateway, interface)]."""
    dry = set_ip(run, root, text, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    predicted = [line for line in dry.stdout.splitlines() if line.startswith("/")]
    mark = len(vm.mutating_calls())
    first = set_ip(run, root, text)
    assert (first.returncode, first.stderr) == (0, "")
    assert default_routes(vm) == routes
    done = [c["argv"] for c in vm.mutating_calls()[mark:]]
    assert [" ".join(a).split(" ", 1)[1] for a in done] == [
        p.split(" ", 1)[1] for p in predicted
    ]
    assert [os.path.basename(p.split()[0]) for p in predicted] == [a[0] for a in done]
    before = files(root)
    mark = len(vm.mutating_calls())
    second = set_ip(run, root, text)
    assert second.returncode == 0, second.stderr
    assert second.stdout.endswith(" (unchanged)\n")
    assert vm.mutating_calls()[mark:] == []
    assert files(root) == before
    return first


def test_reip_with_a_new_gateway(run, root, vm):
    text = hn0_request(IP_ADDR="10.0.0.5", GATEWAY="10.0.0.254")
    reip_twice(run, root, vm, text, [(False, "10.0.0.254", "hn0")])
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]
    assert rc_env(root)["defaultrouter"] == "10.0.0.254"


def test_reip_from_a_dhcp_lease_with_the_same_gateway(run, root, vm):
    (root / "etc/rc.conf").write_text('ifconfig_hn0="DHCP"\n')
    vm.set_lease("hn0", "10.0.0.4/24", router="10.0.0.1")
    assert run_sim(root, "/sbin/dhclient", "hn0") == 0
    assert default_routes(vm) == [(False, "10.0.0.1", "hn0")]
    text = hn0_request(IP_ADDR="10.0.0.5", GATEWAY="10.0.0.1")
    reip_twice(run, root, vm, text, [(False, "10.0.0.1", "hn0")])
    assert vm.dhclients() == {}
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]
    assert rc_env(root)["defaultrouter"] == "10.0.0.1"


def lagg_vm(root, vm):
    """hn0 and its VF mce0 in lagg0, which has hn0's address and route."""
    vm.add_vf("hn0", "mce0")
    for argv in (
        ["ifconfig", "mce0", "up"],
        ["ifconfig", "lagg0", "create", "laggproto", "failover", "laggport", "hn0"],
        ["ifconfig", "lagg0", "laggport", "mce0"],
        ["ifconfig", "hn0", "inet", "10.0.0.4", "-alias"],
        ["ifconfig", "lagg0", "inet", "10.0.0.4/24", "up"],
        ["route", "add", "default", "10.0.0.1"],
    ):
        assert run_sim(root, "/sbin/" + argv[0], *argv[1:]) == 0
    assert default_routes(vm) == [(False, "10.0.0.1", "lagg0")]
    return vm


@pytest.mark.parametrize("gateway", ["10.0.0.1", "10.0.0.254"])
def test_reip_on_a_lagg(run, root, vm, gateway):
    lagg_vm(root, vm)
    text = hn0_request(IP_ADDR="10.0.0.5", GATEWAY=gateway)
    result = reip_twice(run, root, vm, text, [(False, gateway, "lagg0")])
    assert result.stdout.endswith(" via lagg0\n")
    assert addresses(vm, "lagg0") == ["10.0.0.5/24"]


@pytest.mark.parametrize("gateway", ["10.0.0.1", "10.0.0.254"])
def test_reip_of_an_interface_found_by_its_mac(run, root, vm, gateway):
    text = hn0_request(IF_NAME=None, IP_ADDR="10.0.0.5", GATEWAY=gateway)
    reip_twice(run, root, vm, text, [(False, gateway, "hn0")])
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]


def test_reip_keeps_an_ipv6_default_route(run, root, vm):
    (root / "etc/rc.conf").write_text(
        RC_CONF + 'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
    )
    assert run_sim(root, "/sbin/ifconfig", "hn0", "inet6", "2001:db8::4/64") == 0
    assert run_sim(root, "/sbin/route", "add", "-inet6", "default", "2001:db8::1") == 0
    text = hn0_request(
        IP_ADDR="10.0.0.5;2001:db8::5", SUBNET="24;64", GATEWAY="10.0.0.1;2001:db8::1"
    )
    routes = [(False, "10.0.0.1", "hn0"), (True, "2001:db8::1", "hn0")]
    reip_twice(run, root, vm, text, routes)
    assert addresses(vm, "hn0") == ["10.0.0.5/24", "2001:db8::5/64"]


def test_an_off_link_gateway_is_refused_by_route(run, root, vm):
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5", GATEWAY="192.168.9.1"))
    assert result.returncode == 71
    assert result.stderr == (
        "hv_set_ifconfig: /sbin/route add default 192.168.9.1: route: writing to"
        " routing socket: Network is unreachable (the files hold the new"
        " configuration)\n"
    )
    assert addresses(vm, "hn0") == ["10.0.0.5/24"]


def test_route_change_failure_quotes_routes_verdict(run, root, vm):
    # route(8) may say why on stdout only (EEXIST; netlink's route(8)).
    vm.fail(["route", "change"], "")
    result = set_ip(run, root, hn0_request(GATEWAY="10.0.0.254"))
    assert result.returncode == 71
    assert "/sbin/route change default 10.0.0.254: exit status 1" in result.stderr


# Only what is ours is removed.


def test_plan_keeps_what_is_not_ours():
    ifconfig = IFCONFIG.replace(
        "\tinet6 2001:db8:1::4 prefixlen 64\n",
        "\tinet6 2001:db8:1::4 prefixlen 64\n"
        "\tinet 10.1.0.100 netmask 0xffffff00 broadcast 10.1.0.255 vhid 1\n"
        "\tinet 10.1.0.50 netmask 0xffffffff broadcast 10.1.0.50\n"
        "\tinet6 2001:db8:1:0:20d:3aff:feab:cdef prefixlen 64 autoconf\n",
    )
    same = {"IP_ADDR": "10.1.0.4;2001:db8:1::4", "SUBNET": "24;64", "GATEWAY": ""}
    p = plan(same, ifconfig=ifconfig)
    assert (p.commands, p.routes, p.files) == ([], [], {})
    p = plan({"IP_ADDR": "10.1.0.9", "GATEWAY": ""}, ifconfig=ifconfig)
    assert commands(p) == [
        "ifconfig hn1 inet 10.1.0.9/24 alias",
        "ifconfig hn1 inet 10.1.0.4 -alias",
        "ifconfig hn1 inet6 2001:db8:1::4 -alias",
    ]
    # a CARP address rc.conf knows is still carp(4)'s
    rc = {"/etc/rc.conf": 'ifconfig_hn1_alias0="inet vhid 1 10.1.0.100/24"\n'}
    assert commands(plan({"DHCP": "1", "IP_ADDR": "", "SUBNET": ""}, rc=rc,
                         ifconfig=ifconfig)) == ["dhclient -b hn1"]  # fmt: skip


def test_plan_dhcp_without_dhclient_removes_only_rc_conf_addresses():
    ifconfig = IFCONFIG.replace(
        "\tinet 10.1.0.4 netmask 0xffffff00 broadcast 10.1.0.255\n",
        "\tinet 10.1.0.4 netmask 0xffffff00 broadcast 10.1.0.255\n"
        "\tinet 10.1.0.50 netmask 0xffffffff broadcast 10.1.0.50\n",
    )
    p = plan({"DHCP": "1", "IP_ADDR": "", "SUBNET": ""}, ifconfig=ifconfig)
    assert commands(p) == [
        "ifconfig hn1 inet 10.1.0.4 -alias",
        "ifconfig hn1 inet6 2001:db8:1::4 -alias",
        "dhclient -b hn1",
    ]


def test_plan_an_earlier_configuration_is_ours():
    # rc.conf already has the new address (an earlier run failed half way):
    # the address its backup gave is ours, one nobody gave is not.
    rc = {"/etc/rc.conf": 'ifconfig_hn1="inet 10.1.0.9/24"\n'}
    ifconfig = IFCONFIG.replace("\tinet6 2001:db8:1::4 prefixlen 64\n", "")
    fields = {"IP_ADDR": "10.1.0.9", "GATEWAY": ""}
    assert commands(plan(fields, rc=rc, ifconfig=ifconfig)) == [
        "ifconfig hn1 inet 10.1.0.9/24 alias"
    ]
    earlier = {"/etc/rc.conf": 'ifconfig_hn1="inet 10.1.0.4/24"\n'}
    assert commands(plan(fields, rc=rc, ifconfig=ifconfig, earlier=earlier)) == [
        "ifconfig hn1 inet 10.1.0.9/24 alias",
        "ifconfig hn1 inet 10.1.0.4 -alias",
    ]


def test_identical_request_keeps_carp_jail_and_slaac_addresses(run, root, vm):
    (root / "etc/rc.conf").write_text(
        RC_CONF + 'ifconfig_hn0_ipv6="inet6 accept_rtadv"\n'
    )
    vm.add_carp("hn0", "10.0.0.100/24", vhid=1)
    assert run_sim(root, "/sbin/ifconfig", "hn0", "inet", "10.0.0.50/32", "alias") == 0
    assert run_sim(root, "/sbin/ifconfig", "hn0", "inet6", "-ifdisabled") == 0
    vm.add_slaac("hn0", "2001:db8::20d:3aff:fe12:3456/64")
    theirs = ["10.0.0.100/24", "10.0.0.50/32", "2001:db8::20d:3aff:fe12:3456/64"]
    mark = len(vm.mutating_calls())
    result = set_ip(run, root, hn0_request())
    assert result.stdout == "hn0: static 10.0.0.4/24 gw 10.0.0.1 dns 1 (unchanged)\n"
    assert vm.mutating_calls()[mark:] == []
    result = set_ip(run, root, hn0_request(IP_ADDR="10.0.0.5"))
    assert result.returncode == 0, result.stderr
    assert addresses(vm, "hn0") == sorted(["10.0.0.5/24", *theirs])
    assert default_routes(vm) == [(False, "10.0.0.1", "hn0")]
    assert rc_env(root)["ifconfig_hn0_ipv6"] == "inet6 accept_rtadv"
    inet6 = [a["address"] for a in vm.interface("hn0")["inet6"]]
    assert any(a.startswith("fe80:") for a in inet6), "link-local kept"


def test_dhcp_without_dhclient_keeps_what_is_not_ours(run, root, vm):
    vm.add_carp("hn0", "10.0.0.100/24", vhid=1)
    assert run_sim(root, "/sbin/ifconfig", "hn0", "inet", "10.0.0.50/32", "alias") == 0
    request = hn0_request(DHCP="1", IP_ADDR="", SUBNET="", GATEWAY="", DNS="")
    mark = len(vm.mutating_calls())
    result = set_ip(run, root, request)
    assert result.returncode == 0, result.stderr
    assert list(vm.dhclients()) == ["hn0"]
    # (no lease yet: dhclient-script's `ifconfig hn0 inet A` would replace
    # whatever address is first, FreeBSD's doing, not ours)
    assert addresses(vm, "hn0") == ["10.0.0.100/24", "10.0.0.50/32"]
    assert [c["argv"] for c in vm.mutating_calls()[mark:]] == [
        ["ifconfig", "hn0", "inet", "10.0.0.4", "-alias"],
        ["dhclient", "-b", "hn0"],
    ]


def test_parse_ifconfig_flags_carp_and_slaac():
    interface = hvtools.parse_ifconfig(
        "hn0: flags=8843<UP> metric 0 mtu 1500\n"
        "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n"
        "\tinet 10.0.0.100 netmask 0xffffff00 broadcast 10.0.0.255 vhid 3\n"
        "\tinet6 2001:db8::100 prefixlen 64 vhid 3\n"
        "\tinet6 2001:db8::4 prefixlen 64 autoconf\n"
        "\tinet6 2001:db8::5 prefixlen 64\n"
    )["hn0"]
    assert interface.carp == {"10.0.0.100", "2001:db8::100"}
    assert interface.autoconf == {"2001:db8::4"}
    assert not interface.no_carrier


@pytest.mark.parametrize(
    ("status", "no_carrier"),
    [("\tstatus: no carrier\n", True), ("\tstatus: active\n", False), ("", False)],
)
def test_parse_ifconfig_carrier(status, no_carrier):
    # No status line (no media: dhclient's interface_link_status() then
    # assumes a link) is not "no carrier".
    text = "hn0: flags=8843<UP> metric 0 mtu 1500\n\tmedia: Ethernet autoselect\n"
    interface = hvtools.parse_ifconfig(text + status)["hn0"]
    assert interface.no_carrier is no_carrier


def test_parse_lease_address():
    lease = 'lease {\n  interface "hn0";\n  fixed-address %s;\n}\n'
    text = lease % "10.0.0.4" + lease % "10.0.0.9"
    assert hvtools.parse_lease_address(text) == "10.0.0.9"
    assert hvtools.parse_lease_address("") is None
    assert hvtools.parse_lease_address(lease % "x; reboot") is None


def test_routes_after_predicts_the_kernel():
    interfaces = hvtools.parse_ifconfig(
        IFCONFIG.replace(
            "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n",
            "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n"
            "\tinet 10.0.0.5 netmask 0xffffff00 broadcast 10.0.0.255\n"
            "\tinet 10.0.0.6 netmask 0xfffffff0 broadcast 10.0.0.15\n",
        )
    )
    routes = {"inet": ("10.0.0.1", "hn0"), "inet6": ("2001:db8::1", "hn0")}
    after = hvtools.routes_after
    # the source is the most specific prefix holding the gateway
    assert after(routes, interfaces, {("hn0", "10.0.0.6")})["inet"] is None
    assert after(routes, interfaces, {("hn0", "10.0.0.4")}) == routes
    routes["inet"] = ("10.0.0.200", "hn0")
    # the first of equals
    assert after(routes, interfaces, {("hn0", "10.0.0.5")}) == routes
    assert after(routes, interfaces, {("hn0", "10.0.0.4")}) == dict(routes, inet=None)
    assert after(routes, interfaces, {("hn1", "10.0.0.4")}) == routes
    assert after({"inet": ("link#2", "hn0")}, interfaces, {("hn0", "10.0.0.4")}) == {
        "inet": ("link#2", "hn0")
    }


# On an image (no devfs on its /dev): the files, and nothing run.

IMAGE_NOTE = "hv_set_ifconfig: warning: hn0: HWADDR 00:0d:3a:12:34:56 not checked: an image has no interfaces, IF_NAME names it\n"  # noqa: E501


def test_plan_on_an_image_writes_the_files_and_has_no_commands():
    for fields in ({"IP_ADDR": "10.1.0.9", "DNS": "10.1.0.3"}, {"DHCP": "1"}):
        p = plan({"IF_NAME": "hn1", **fields}, ifconfig=None)
        assert (p.commands, p.routes) == ([], [])
        assert p.files
        assert p.warnings == [
            f"hn1: HWADDR {HN1_MAC} not checked: an image has no interfaces,"
            " IF_NAME names it"
        ]
        assert p.summary.endswith(" (image: written for the next boot)")
    p = plan({"IF_NAME": "hn1", "IP_ADDR": "10.1.0.9", "DNS": "10.1.0.3"},
             ifconfig=None, resolvconf=True)  # fmt: skip
    # resolvconf(8) cannot run; boot would not run it for a static interface
    assert p.commands == []
    assert 'name_servers="10.1.0.3"' in new_text(p, "/etc/resolvconf.conf")
    assert "nameserver 10.1.0.3\n" in new_text(p, "/etc/resolv.conf")


def test_plan_on_an_image_needs_if_name():
    with pytest.raises(hvtools.Failure) as caught:
        plan({"IF_NAME": ""}, ifconfig=None)
    assert caught.value.status == hvtools.EX_DATAERR


@pytest.fixture
def image(root, vm):
    """The VM's disk mounted elsewhere: no devfs on its /dev."""
    (root / "dev/null").unlink()
    return root


def test_an_image_gets_the_files_and_nothing_runs(run, image, vm):
    result = set_ip(run, image, hn0_request(IP_ADDR="10.0.0.5", DNS="10.0.0.3"))
    assert result.returncode == 0, result.stderr
    assert result.stderr == IMAGE_NOTE
    assert result.stdout == (
        "hn0: static 10.0.0.5/24 gw 10.0.0.1 dns 1 (image: written for the next boot)\n"
    )
    assert vm.calls() == []
    assert addresses(vm, "hn0") == ["10.0.0.4/24"]
    assert rc_env(image)["ifconfig_hn0"] == "inet 10.0.0.5/24"
    assert (image / "etc/resolv.conf").read_text() == RESOLV_CONF.replace(
        "10.0.0.2", "10.0.0.3"
    )


def test_an_image_request_without_if_name_is_bad_data(run, image, vm):
    before = files(image)
    result = set_ip(run, image, hn0_request(IF_NAME=""))
    assert result.returncode == 65
    assert result.stderr == (
        "hv_set_ifconfig: bad request: no IF_NAME: an image has no interfaces to"
        " match HWADDR\n"
    )
    assert vm.calls() == []
    assert files(image) == before


def test_an_image_dry_run_shows_the_diffs_only(run, image, vm):
    before = files(image)
    result = set_ip(run, image, hn0_request(IP_ADDR="10.0.0.5"), "--dry-run")
    assert (result.returncode, result.stderr) == (0, IMAGE_NOTE)
    assert result.stdout.startswith("--- /etc/rc.conf\n+++ /etc/rc.conf\n")
    assert '+ifconfig_hn0="inet 10.0.0.5/24"\t# primary\n' in result.stdout
    assert vm.calls() == []
    assert files(image) == before
