"""Boot agrees with live: what hv_set_ifconfig wrote to rc.conf configures,
at the next boot, exactly what it configured live.

The live run is hv_set_ifconfig on the simulated FreeBSD.  The boot is
FreeBSD's own rc.d/netif start, rc.d/routing start and, for each interface,
what devd does on its LINK_UP (devd.conf: `service dhclient quietstart
$subsystem`, which starts dhclient on the DHCP interfaces only), run by
tests/freebsdsh.py on a freshly booted simulator (the same NICs, no
addresses, no routes) holding the live root's rc.conf, rc.conf.local and
rc.conf.d.  dhclient, live and at boot, runs FreeBSD's dhclient-script.
The leases are the same in both.

Only the end states are compared: every NIC's addresses (IPv6 link-local
ones aside: the kernel makes those) and the default routes, per family,
with their interfaces.

Each case boots with the rc(8) files of both releases in
tests/freebsdsh.py's RELEASES: 12.1's and the current tree's (FreeBSD
14/15: ipv6_up before ipv4_up, no ifdisabled on IPv4-only interfaces, rtsol
whenever it is installed, dhclient-script's /32 interface route).  The live
VM boots once, with 12.1's.  No case here configures differently under the
two; a case that did would say which release gives what.
"""

import os

import pytest

import fakebsd
import freebsdsh
from conftest import Runner, hv_env

HN0_MAC = "00:0d:3a:00:00:10"
HN1_MAC = "00:0d:3a:00:00:11"
NICS = {"hn0": HN0_MAC, "hn1": HN1_MAC}
REQUEST = "/var/db/hypervhv_set_ip_data"


def make_root(top, rc_conf, leases, release="12.1"):
    """A FreeBSD root at top: the release's rc(8) files and dhclient-script,
    the NICs down and bare, the leases; rc_conf: {path below etc/: text}."""
    (top / "etc").mkdir(parents=True)
    sim = fakebsd.FakeBSD(top).install()
    freebsdsh.install_rc(top, release=release)
    freebsdsh.install(top, "sbin/dhclient-script", release=release)
    for name, text in rc_conf.items():
        path = top / "etc" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for ifname, mac in NICS.items():
        sim.add_interface(ifname, ether=mac, up=False)
    for ifname, lease in leases.items():
        sim.set_lease(ifname, *lease)
    return sim


def rc_files(top):
    """{path below etc/: text} of what rc(8) reads for netif and routing."""
    found = {}
    for name in ("rc.conf", "rc.conf.local"):
        if (top / "etc" / name).is_file():
            found[name] = (top / "etc" / name).read_text()
    confd = top / "etc/rc.conf.d"
    for path in sorted(confd.rglob("*")) if confd.is_dir() else ():
        if path.is_file():
            found[str(path.relative_to(top / "etc"))] = path.read_text()
    return found


def boot(top):
    """Run FreeBSD's boot of the network on the root at top, with the rc(8)
    files it has (make_root installs a release's)."""
    commands = ["/etc/rc.d/netif start", "/etc/rc.d/routing start"]
    # devd's LINK_UP for each NIC; rc.d/dhclient refuses non-DHCP ones
    # (dhclient_pre_check: exit 1, quietly).
    commands += [f"/etc/rc.d/dhclient quietstart {n}" for n in NICS]
    # One shell for all (one namespace to set up); each exit status noted.
    script = "".join(f'{c}; echo "rc-status $?" >&3\n' for c in commands)
    done = freebsdsh.run(top, ["/bin/sh", "-c", f"{{\n{script}}} 3>/var/run/rc-status"])
    assert done.returncode == 0, done.stderr
    statuses = (top / "var/run/rc-status").read_text().split()[1::2]
    assert len(statuses) == len(commands), done.stderr
    assert set(statuses) <= {"0", "1"}, done.stderr


def end_state(sim):
    """Addresses of each NIC and the default routes."""
    state = {}
    for ifname in NICS:
        iface = sim.interface(ifname)
        found = [f"{a['address']}/{a['prefixlen']}" for a in iface["inet"]]
        found += [
            f"{a['address']}/{a['prefixlen']}"
            for a in iface["inet6"]
            if not a["address"].startswith("fe80:")
        ]
        state[ifname] = sorted(found)
    state["default"] = sorted(
        ("inet6" if r["inet6"] else "inet", r["gateway"], r["interface"])
        for r in sim.routes()
        if r["destination"] == "default"
    )
    return state


def request(run, top, **fields):
    text = "".join(f"{k}={v}\n" for k, v in fields.items())
    (top / REQUEST.lstrip("/")).write_text(text)
    done = run("hv_set_ifconfig", REQUEST, via="sh")
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def live(dist, tmp_path):
    """start(rc_conf, leases) boots the live VM from rc_conf (FreeBSD's own
    boot, as booted() does) and returns (sim, run)."""

    def start(rc_conf, leases=None):
        top = tmp_path / "live"
        sim = make_root(top, rc_conf, leases or {})
        boot(top)
        return sim, Runner(dist, top)

    return start


def booted(tmp_path, leases=None, release="12.1"):
    """The live root's rc.conf files, booted on fresh NICs by release."""
    live_top = tmp_path / "live"
    top = tmp_path / f"boot-{release}"
    sim = make_root(top, rc_files(live_top), leases or {}, release)
    boot(top)
    return sim


def check_boot_agrees(tmp_path, live_sim, leases=None):
    """Boot by each release agrees with live; returns live's end state."""
    live_state = end_state(live_sim)
    for release in freebsdsh.RELEASES:
        boot_state = end_state(booted(tmp_path, leases, release))
        assert (release, boot_state) == (release, live_state)
    return live_state


def test_static_ipv4(live, tmp_path):
    sim, run = live({})
    request(run, tmp_path / "live", HWADDR=HN0_MAC, IF_NAME="hn0", DHCP="0",
            IP_ADDR="10.0.0.4;10.0.0.5;10.0.2.4", SUBNET="24;24;24",
            GATEWAY="10.0.0.1")  # fmt: skip
    state = check_boot_agrees(tmp_path, sim)
    # each with its own /24, live and at boot (in_addprefix())
    assert state["hn0"] == ["10.0.0.4/24", "10.0.0.5/24", "10.0.2.4/24"]
    assert state["default"] == [("inet", "10.0.0.1", "hn0")]


def test_static_ipv4_and_ipv6(live, tmp_path):
    sim, run = live({})
    request(run, tmp_path / "live", HWADDR=HN0_MAC, IF_NAME="hn0", DHCP="0",
            IP_ADDR="10.0.0.4;2001:db8::4;2001:db8:1::4", SUBNET="24;64;64",
            GATEWAY="10.0.0.1;2001:db8::1")  # fmt: skip
    state = check_boot_agrees(tmp_path, sim)
    assert state["hn0"] == ["10.0.0.4/24", "2001:db8:1::4/64", "2001:db8::4/64"]
    assert state["default"] == [
        ("inet", "10.0.0.1", "hn0"),
        ("inet6", "2001:db8::1", "hn0"),
    ]


def test_dhcp_after_static(live, tmp_path):
    leases = {"hn0": ("10.0.0.7/24", "10.0.0.1")}
    sim, run = live(
        {"rc.conf": 'ifconfig_hn0="inet 10.0.0.4/24"\ndefaultrouter="10.0.0.1"\n'},
        leases,
    )
    assert end_state(sim)["hn0"] == ["10.0.0.4/24"]
    request(run, tmp_path / "live", HWADDR=HN0_MAC, IF_NAME="hn0", DHCP="1")
    state = check_boot_agrees(tmp_path, sim, leases)
    assert state["hn0"] == ["10.0.0.7/24"]
    assert state["default"] == [("inet", "10.0.0.1", "hn0")]


def test_re_ip_to_another_subnet(live, tmp_path):
    sim, run = live(
        {
            "rc.conf": 'ifconfig_hn0="inet 10.0.0.4/24"\n'
            'ifconfig_hn0_alias0="inet 10.0.0.5/32"\n'
            'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n',
            "rc.conf.local": 'defaultrouter="10.0.0.1"\n'
            'ipv6_defaultrouter="2001:db8::1"\n',
        }
    )
    assert end_state(sim)["default"] == [
        ("inet", "10.0.0.1", "hn0"),
        ("inet6", "2001:db8::1", "hn0"),
    ]
    request(run, tmp_path / "live", HWADDR=HN0_MAC, IF_NAME="hn0", DHCP="0",
            IP_ADDR="10.9.0.4;2001:db8:9::4", SUBNET="16;64",
            GATEWAY="10.9.0.1;2001:db8:9::1")  # fmt: skip
    state = check_boot_agrees(tmp_path, sim)
    assert state["hn0"] == ["10.9.0.4/16", "2001:db8:9::4/64"]
    assert state["default"] == [
        ("inet", "10.9.0.1", "hn0"),
        ("inet6", "2001:db8:9::1", "hn0"),
    ]


def test_second_nic_static_beside_a_dhcp_primary(live, tmp_path):
    # Azure's two NICs: hn0's lease owns the default route, which hn1's
    # gateway must not take, live or at boot.
    leases = {"hn0": ("10.0.0.4/24", "10.0.0.1")}
    sim, run = live({"rc.conf": 'ifconfig_hn0="DHCP"\n'}, leases)
    request(run, tmp_path / "live", HWADDR=HN1_MAC, IF_NAME="hn1", DHCP="0",
            IP_ADDR="10.1.0.4", SUBNET="24", GATEWAY="10.1.0.1")  # fmt: skip
    state = check_boot_agrees(tmp_path, sim, leases)
    assert state["hn0"] == ["10.0.0.4/24"]
    assert state["hn1"] == ["10.1.0.4/24"]
    assert state["default"] == [("inet", "10.0.0.1", "hn0")]


@pytest.mark.parametrize("release", freebsdsh.RELEASES)
def test_boot_runs_freebsds_scripts_on_the_simulator(tmp_path, release):
    # The boot half alone, on a known rc.conf: FreeBSD's rc(8) and
    # dhclient-script configure the simulator as a FreeBSD would.
    leases = {"hn1": ("10.1.0.4/24", "10.1.0.1")}
    top = tmp_path / "boot"
    rc = {
        "rc.conf": 'ifconfig_hn0="inet 10.0.0.4/24"\n'
        'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
        'ifconfig_hn1="DHCP"\n'
        'ipv6_defaultrouter="2001:db8::1"\n'
    }
    sim = make_root(top, rc, leases, release)
    boot(top)
    assert end_state(sim) == {
        "hn0": ["10.0.0.4/24", "2001:db8::4/64"],
        "hn1": ["10.1.0.4/24"],
        "default": [("inet", "10.1.0.1", "hn1"), ("inet6", "2001:db8::1", "hn0")],
    }
    argvs = [c["argv"] for c in sim.calls()]
    assert ["ifconfig", "hn0", "inet", "10.0.0.4/24"] in argvs  # network.subr
    assert ["dhclient", "hn1"] in argvs  # rc.d/dhclient, devd's LINK_UP
    assert ["dhclient", "hn0"] not in argvs


# An image: hv_set_ifconfig on a mounted disk (no devfs on its /dev) writes
# the files and runs nothing; the boot that follows configures the request.

POISON = '#!/bin/sh\necho "$0 $*" >> {marker}\nexit 99\n'
HOST_PROGRAMS = ("ifconfig", "route", "netstat", "pgrep", "pkill", "kill",
                 "dhclient", "dhclient-script", "resolvconf", "sysctl")  # fmt: skip


def poison(path, marker):
    path.write_text(POISON.format(marker=marker))
    path.chmod(0o755)


def set_ifconfig_on_image(dist, top, tmp_path, **fields):
    """hv_set_ifconfig on the root at top as an image: its /dev emptied, its
    every program, and the host's on PATH, replaced by one that records its
    run; all put back afterwards.  Returns the run and what was run."""
    marker = tmp_path / "ran"
    stash = tmp_path / "stash"
    host = tmp_path / "host-bin"
    host.mkdir()
    for name in HOST_PROGRAMS:
        poison(host / name, marker)
    moved = [p for p in top.rglob("*") if p.is_file() and os.access(p, os.X_OK)]
    moved += list((top / "dev").iterdir())
    for path in moved:
        (stash / path.relative_to(top)).parent.mkdir(parents=True, exist_ok=True)
        path.rename(stash / path.relative_to(top))
        if path.parent.name != "dev":
            poison(path, marker)
    text = "".join(f"{k}={v}\n" for k, v in fields.items())
    (top / REQUEST.lstrip("/")).write_text(text)
    done = Runner(dist, top)(
        "hv_set_ifconfig", REQUEST, via="sh", env=hv_env(top, PATH=str(host))
    )
    for path in moved:
        (stash / path.relative_to(top)).replace(path)
    return done, marker.read_text() if marker.exists() else ""


def nameservers(top):
    text = (top / "etc/resolv.conf").read_text()
    return [
        line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")
    ]


@pytest.mark.parametrize(
    "rc_conf, fields, state, dns",
    [
        (
            'ifconfig_hn0="DHCP"\n',
            {
                "IP_ADDR": "10.0.0.4",
                "SUBNET": "24",
                "GATEWAY": "10.0.0.1",
                "DNS": "10.0.0.2",
            },
            {"hn0": ["10.0.0.4/24"], "default": [("inet", "10.0.0.1", "hn0")]},
            ["10.0.0.2"],
        ),
        (
            'ifconfig_hn0="inet 10.9.0.4/16"\ndefaultrouter="10.9.0.1"\n',
            {
                "IP_ADDR": "10.0.0.4;10.0.0.5;2001:db8::4;2001:db8:1::4",
                "SUBNET": "24;24;64;64",
                "GATEWAY": "10.0.0.1;2001:db8::1",
                "DNS": "10.0.0.2;2001:db8::53",
            },
            {
                "hn0": [
                    "10.0.0.4/24",
                    "10.0.0.5/24",
                    "2001:db8:1::4/64",
                    "2001:db8::4/64",
                ],
                "default": [
                    ("inet", "10.0.0.1", "hn0"),
                    ("inet6", "2001:db8::1", "hn0"),
                ],
            },
            ["10.0.0.2", "2001:db8::53"],
        ),
        (
            'ifconfig_hn0="inet 10.0.0.4/24"\ndefaultrouter="10.0.0.1"\n',
            {"DHCP": "1", "DNS": "10.0.0.2"},
            {"hn0": ["10.0.0.7/24"], "default": [("inet", "10.0.0.1", "hn0")]},
            ["10.0.0.2", "168.63.129.16"],  # name_servers first, then the lease's
        ),
    ],
    ids=["static-ipv4", "ipv4-ipv6-aliases", "dhcp"],
)
@pytest.mark.parametrize("release", freebsdsh.RELEASES)
def test_image_boots_as_requested_and_nothing_ran(dist, tmp_path, rc_conf, fields,
                                                  state, dns, release):  # fmt: skip
    top = tmp_path / "image"
    leases = {"hn0": ("10.0.0.7/24", "10.0.0.1", ["168.63.129.16"])}
    sim = make_root(top, {"rc.conf": rc_conf}, leases, release)
    freebsdsh.install_resolvconf(top)
    (top / "etc/resolv.conf").write_text("nameserver 168.63.129.16\n")
    fields = {"HWADDR": HN0_MAC, "IF_NAME": "hn0", "DHCP": "0", **fields}
    done, ran = set_ifconfig_on_image(dist, top, tmp_path, **fields)
    assert (done.returncode, ran) == (0, ""), done.stderr
    assert done.stdout.endswith(" (image: written for the next boot)\n")
    assert sim.calls() == []
    boot(top)
    got = end_state(sim)
    assert {"hn0": got["hn0"], "default": got["default"]} == state
    assert got["hn1"] == []
    assert nameservers(top) == dns
