"""parse_netstat_routes() and default_routes(): the default routes of both
families from one `netstat -rn` (FreeBSD's usr.bin/netstat/route.c)."""

import pytest

import hvtools

HEADER4 = "Destination        Gateway            Flags     Netif Expire"
HEADER6 = (
    "Destination                       Gateway                       "
    "Flags     Netif Expire"
)
INET = f"""
Internet:
{HEADER4}
default            10.0.0.1           UGS         hn0
10.0.0.0/24        link#2             U           hn0
10.0.0.4           link#2             UHS         lo0
127.0.0.1          link#1             UH          lo0
"""
INET6 = f"""
Internet6:
{HEADER6}
::1                               link#1                        UHS         lo0
default                           fe80::1%hn0                   UGS         hn0
fe80::%hn0/64                     link#2                        U           hn0
"""
NO_DEFAULT6 = f"""
Internet6:
{HEADER6}
::1                               link#1                        UHS         lo0
"""
# -W adds Use and Mtu between Flags and Netif.
WIDE = """
Internet:
Destination        Gateway            Flags         Use    Mtu      Netif Expire
default            10.1.0.1           UGS          1234   1500        hn1
"""
# A destination wider than its column pushes the rest along (p_sockaddr).
PROTRUDING = f"""
Internet6:
{HEADER6}
fe80::215:5dff:fe0a:b0c%lagg0123  link#5                        UHS         lo0
default                           fe80::215:5dff:fe0a:b0d%lagg0 UGS      lagg0
"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {"inet": None, "inet6": None}),
        ("Routing tables\n", {"inet": None, "inet6": None}),
        (
            "Routing tables\n" + INET + INET6,
            {"inet": ("10.0.0.1", "hn0"), "inet6": ("fe80::1%hn0", "hn0")},
        ),
        # a family without routes prints no section at all
        ("Routing tables\n" + INET6, {"inet": None, "inet6": ("fe80::1%hn0", "hn0")}),
        (
            "Routing tables\n" + INET + NO_DEFAULT6,
            {"inet": ("10.0.0.1", "hn0"), "inet6": None},
        ),
        (
            "Routing tables (fib: 1)\n" + WIDE,
            {"inet": ("10.1.0.1", "hn1"), "inet6": None},
        ),
        (
            PROTRUDING,
            {"inet": None, "inet6": ("fe80::215:5dff:fe0a:b0d%lagg0", "lagg0")},
        ),
        # the first default route of a family counts (multipath: one row each)
        (
            INET.replace("10.0.0.0/24", "default    10.0.0.2  UGS  hn1\n10.0.0.0/24"),
            {"inet": ("10.0.0.1", "hn0"), "inet6": None},
        ),
        # CRLF, tabs
        (
            (INET + INET6).replace("\n", "\r\n").replace("  ", "\t"),
            {"inet": ("10.0.0.1", "hn0"), "inet6": ("fe80::1%hn0", "hn0")},
        ),
        # another family's section, even with a "default" row, is not read
        (
            "\nNetgraph:\n" + HEADER4 + "\ndefault  x  U  ng0\n" + INET6,
            {"inet": None, "inet6": ("fe80::1%hn0", "hn0")},
        ),
        # a section without a header this parser knows is skipped
        (
            "\nInternet:\ndefault 10.0.0.1 UGS hn0\n" + INET6,
            {"inet": None, "inet6": ("fe80::1%hn0", "hn0")},
        ),
        (
            "\nInternet:\nGateway Destination Netif\n10.0.0.1 default hn0\n",
            {"inet": None, "inet6": None},
        ),
        # a row cut short: the gateway without its interface
        (
            f"\nInternet:\n{HEADER4}\ndefault            10.0.0.1\n",
            {"inet": ("10.0.0.1", None), "inet6": None},
        ),
        (f"\nInternet:\n{HEADER4}\ndefault\n", {"inet": None, "inet6": None}),
        # "default" elsewhere than in the Destination column
        (
            f"\nInternet:\n{HEADER4}\n10.9.0.0/16  default  UGS  hn0\n",
            {"inet": None, "inet6": None},
        ),
    ],
)
def test_parse_netstat_routes(text, expected):
    assert hvtools.parse_netstat_routes(text) == expected


@pytest.fixture
def system(root, sim, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    sim.add_interface("hn0", ether="00:15:5d:0a:0b:0c", inet=["10.0.0.4/24"])
    sim.add_interface("hn1", inet6=["2001:db8::4/64"])
    return sim


def test_default_routes_one_run_for_both_families(system):
    assert hvtools.default_routes() == {"inet": None, "inet6": None}
    system.add_route("default", "10.0.0.1", "hn0")
    system.add_route("default", "fe80::1%hn1", "hn1", inet6=True)
    mark = len(system.calls())
    assert hvtools.default_routes() == {
        "inet": ("10.0.0.1", "hn0"),
        "inet6": ("fe80::1%hn1", "hn1"),
    }
    assert [c["argv"] for c in system.calls()[mark:]] == [["netstat", "-rn"]]


def test_default_routes_when_netstat_fails(system, capsys, monkeypatch):
    monkeypatch.setattr(hvtools, "_applet", "hyperv_vfup")
    system.add_route("default", "10.0.0.1", "hn0")
    system.fail(["netstat"], "netstat: sysctl: net.route.0.0.dump.0: boom")
    assert hvtools.default_routes() == {"inet": None, "inet6": None}
    assert capsys.readouterr().err == (
        "hyperv_vfup: warning: netstat -rn: "
        "netstat: sysctl: net.route.0.0.dump.0: boom\n"
    )
