"""Tests of the simulated FreeBSD (tests/fakebsd.py).

The programs are run as hvtools runs them: installed into a root, executed
directly as subprocesses.  Expected texts are FreeBSD's (see fakebsd.py).
"""

import os
import subprocess
import sys
import time

import pytest

import fakebsd
import hvtools

HN0_MAC = "00:15:5d:0a:0b:0c"


def run(root, program, *args):
    """Run an installed program: (status, stdout, stderr)."""
    path = None
    for d in ("sbin", "bin", "usr/bin"):
        candidate = os.path.join(str(root), d, program)
        if os.path.exists(candidate):
            path = candidate
    assert path is not None, program
    done = subprocess.run(
        [path, *args], capture_output=True, text=True, timeout=60, env={}
    )
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def hn0(sim):
    """A Hyper-V NIC hn0 with a static address and a default route."""
    sim.add_interface("hn0", ether=HN0_MAC, inet=["10.0.0.4/24"])
    sim.add_route("default", "10.0.0.1", "hn0")
    sim.pop_events()
    return sim


# ---------------------------------------------------------------------------
# Installation and the default kernel


def test_install_writes_executable_wrappers(sim, root):
    for rel in fakebsd.PROGRAMS:
        path = root / rel
        assert path.is_file()
        assert os.access(path, os.X_OK)
        text = path.read_text()
        assert text.startswith("#!/bin/sh\nexec ")
        assert sys.executable in text
        assert os.path.abspath(fakebsd.__file__) in text
    assert (root / "var/db/fakebsd/state.json").is_file()


def test_install_mounts_a_devfs(sim, root, monkeypatch):
    # A running system, not an image, to whoever tells them apart by /dev.
    assert [p.name for p in (root / "dev").iterdir()] == ["null"]
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    assert hvtools.is_image() is False


def test_programs_do_not_depend_on_hvtools_root(sim, root, tmp_path):
    env = {"HVTOOLS_ROOT": str(tmp_path / "elsewhere"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [str(root / "sbin/ifconfig"), "-l"], capture_output=True, text=True, env=env
    )
    assert done.stdout == "lo0\n"
    assert sim.calls() == [{"argv": ["ifconfig", "-l"], "status": 0}]


def test_default_kernel(sim, root):
    assert run(root, "ifconfig", "-l") == (0, "lo0\n", "")
    assert run(root, "sysctl", "-n", "kern.vm_guest") == (0, "hv\n", "")
    assert run(root, "sysctl", "-n", "hw.hn.vf_transparent") == (0, "0\n", "")
    assert run(root, "sysctl", "-n", "hw.hn.vflist") == (0, "\n", "")
    assert run(root, "sysctl", "hw.hn.vfmap") == (0, "hw.hn.vfmap: \n", "")
    # FEATURE(inet), FEATURE(inet6): network.subr's afexists() reads them.
    assert run(root, "sysctl", "-n", "kern.features.inet") == (0, "1\n", "")
    assert run(root, "sysctl", "-n", "kern.features.inet6") == (0, "1\n", "")
    assert run(root, "sysctl", "kern.features.inet6=0")[0] == 1
    assert sim.routes() == []
    assert sim.events() == []
    assert sim.processes() == {}


def test_loopback_output(sim, root):
    assert run(root, "ifconfig", "lo0")[1] == (
        "lo0: flags=1008049<UP,LOOPBACK,RUNNING,MULTICAST,LOWER_UP> metric 0 "
        "mtu 16384\n"
        "\toptions=680003<RXCSUM,TXCSUM,LINKSTATE,RXCSUM_IPV6,TXCSUM_IPV6>\n"
        "\tinet 127.0.0.1 netmask 0xff000000\n"
        "\tinet6 ::1 prefixlen 128\n"
        "\tinet6 fe80::1%lo0 prefixlen 64 scopeid 0x1\n"
        "\tgroups: lo\n"
        "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n"
    )


# ---------------------------------------------------------------------------
# ifconfig: showing


def test_show_nic(hn0, root):
    status, out, err = run(root, "ifconfig", "hn0")
    assert (status, err) == (0, "")
    assert out == (
        "hn0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> "
        "metric 0 mtu 1500\n"
        "\toptions=80018<VLAN_MTU,VLAN_HWTAGGING,LINKSTATE>\n"
        f"\tether {HN0_MAC}\n"
        "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n"
        "\tmedia: Ethernet autoselect (10Gbase-T <full-duplex>)\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"
    )
    assert out == hn0.ifconfig_text("hn0")


def test_show_all_in_creation_order(hn0, root):
    hn0.add_interface("hn1")
    status, out, _ = run(root, "ifconfig")
    assert status == 0
    heads = [line.split(":")[0] for line in out.splitlines() if line[0] != "\t"]
    assert heads == ["lo0", "hn0", "hn1"]
    assert out == hn0.ifconfig_text()
    assert run(root, "ifconfig", "-l") == (0, "lo0 hn0 hn1\n", "")
    assert run(root, "ifconfig", "-a") == (0, out, "")


def test_ipv6_enabled_nic_gets_eui64_link_local(sim, root):
    sim.add_interface("hn0", ether=HN0_MAC, inet6=["2001:db8::4/64"])
    out = run(root, "ifconfig", "hn0")[1]
    assert "\tinet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2\n" in out
    assert "\tinet6 2001:db8::4 prefixlen 64\n" in out
    assert "\tnd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>\n" in out


def test_missing_interface(sim, root):
    err = "ifconfig: interface hn7 does not exist\n"
    assert run(root, "ifconfig", "hn7") == (1, "", err)
    assert run(root, "ifconfig", "hn7", "up") == (1, "", err)
    assert sim.mutating_calls() == [{"argv": ["ifconfig", "hn7", "up"], "status": 1}]


def test_down_interface_flags(sim, root):
    sim.add_interface("hn0", up=False)
    out = run(root, "ifconfig", "hn0")[1]
    # hn(4) reports the host's link whether or not it is up
    assert out.startswith(
        "hn0: flags=1008802<BROADCAST,SIMPLEX,MULTICAST,LOWER_UP> metric 0"
    )
    assert "\tstatus: active\n" in out
    sim.set_carrier("hn0", False)
    out = run(root, "ifconfig", "hn0")[1]
    assert out.startswith("hn0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0")
    assert "\tmedia: Ethernet autoselect (none)\n\tstatus: no carrier\n" in out
    assert run(root, "ifconfig", "-l", "-u") == (0, "lo0\n", "")
    assert run(root, "ifconfig", "-l", "-d") == (0, "hn0\n", "")


# ---------------------------------------------------------------------------
# ifconfig: addresses


def inet_lines(sim, name):
    return [
        line.strip()
        for line in sim.ifconfig_text(name).splitlines()
        if line.startswith(("\tinet ", "\tinet6 "))
    ]


def test_inet_without_alias_replaces_primary(hn0, root):
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.9/24", "alias")[0] == 0
    assert run(root, "ifconfig", "hn0", "inet", "192.168.5.5/16")[0] == 0
    assert inet_lines(hn0, "hn0") == [
        "inet 10.0.0.9 netmask 0xffffff00 broadcast 10.0.0.255",
        "inet 192.168.5.5 netmask 0xffff0000 broadcast 192.168.255.255",
    ]


def test_inet_without_alias_takes_the_first_address_s_routes(hn0, root):
    # ifconfig.c: `inet A` without alias is SIOCDIFADDR of a blank address
    # (in_difaddr_ioctl deletes the first one), then SIOCAIFADDR of A.
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.9/24", "alias")[0] == 0
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.5/24")[0] == 0
    assert inet_lines(hn0, "hn0") == [
        "inet 10.0.0.9 netmask 0xffffff00 broadcast 10.0.0.255",
        "inet 10.0.0.5 netmask 0xffffff00 broadcast 10.0.0.255",
    ]
    # the default route had 10.0.0.4 as its source: in_ifadown() took it
    assert hn0.routes() == []


def test_deleting_an_ipv4_address_deletes_its_routes(hn0, root):
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.5/24", "alias")[0] == 0
    assert run(root, "route", "add", "-net", "172.16.0.0/12", "10.0.0.254")[0] == 0
    sim = hn0
    sim.add_interface("hn1", inet=["192.168.1.4/24"])
    assert run(root, "route", "add", "-net", "10.99.0.0/16", "192.168.1.1")[0] == 0
    assert [r["ifa"] for r in sim.routes()] == ["10.0.0.4", "10.0.0.4", "192.168.1.4"]
    # an address no route uses: nothing else changes
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.5", "-alias")[0] == 0
    assert len(sim.routes()) == 3
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.5/24", "alias")[0] == 0
    # static routes too (in_ifadown(ifa, 1)), but only those of the address
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.4", "-alias")[0] == 0
    assert [r["gateway"] for r in sim.routes()] == ["192.168.1.1"]
    # added again, the route takes the address that is left
    assert run(root, "route", "add", "default", "10.0.0.1")[0] == 0
    assert sim.routes()[-1]["ifa"] == "10.0.0.5"


def test_deleting_an_ipv6_address_keeps_the_default_route(sim, root):
    # in6_purgeaddr() has no in6_ifadown(): a static route outlives its source
    sim.add_interface("hn0", inet6=["2001:db8::4/64"])
    assert run(root, "route", "add", "-inet6", "default", "2001:db8::1")[0] == 0
    assert sim.routes()[0]["ifa"] == "2001:db8::4"
    assert run(root, "ifconfig", "hn0", "inet6", "2001:db8::4", "-alias")[0] == 0
    assert [r["gateway"] for r in sim.routes()] == ["2001:db8::1"]


def test_route_source_is_the_most_specific_address(sim, root):
    # ifa_ifwithnet(): the longest prefix holding the gateway, first of equals
    sim.add_interface("hn0", inet=["10.0.0.4/16", "10.0.0.5/16"])
    sim.add_interface("hn1", inet=["10.0.0.7/24"], up=False)
    assert run(root, "route", "add", "default", "10.0.0.1") == (
        0,
        "add net default: gateway 10.0.0.1\n",
        "",
    )
    route = sim.routes()[0]
    assert (route["interface"], route["ifa"]) == ("hn1", "10.0.0.7")
    assert run(root, "route", "add", "-net", "10.1.0.0/16", "10.0.200.1")[0] == 0
    route = sim.routes()[1]
    assert (route["interface"], route["ifa"]) == ("hn0", "10.0.0.4")


def test_route_change(hn0, root):
    hn0.add_interface("hn1", inet=["192.168.1.4/24"])
    assert run(root, "route", "change", "default", "192.168.1.1") == (
        0,
        "change net default: gateway 192.168.1.1\n",
        "",
    )
    route = hn0.routes()[0]
    assert (route["gateway"], route["interface"], route["ifa"]) == (
        "192.168.1.1",
        "hn1",
        "192.168.1.4",
    )
    # an off-link gateway: rt_getifa_fib() finds no address
    assert run(root, "route", "change", "default", "172.16.0.1") == (
        1,
        "change net default: gateway 172.16.0.1 fib 0: Network is unreachable\n",
        "route: writing to routing socket: Network is unreachable\n",
    )
    assert hn0.routes()[0]["gateway"] == "192.168.1.1"
    # no route to change: ESRCH
    assert run(root, "route", "change", "-inet6", "default", "2001:db8::1") == (
        1,
        "change net default: gateway 2001:db8::1 fib 0: not in table\n",
        "route: route has not been found\n",
    )
    assert run(root, "route", "add", "default", "172.16.0.1") == (
        1,
        "add net default: gateway 172.16.0.1 fib 0: route already in table\n",
        "",
    )
    assert run(root, "route", "delete", "default")[0] == 0
    assert run(root, "route", "add", "default", "172.16.0.1") == (
        1,
        "add net default: gateway 172.16.0.1 fib 0: Network is unreachable\n",
        "route: writing to routing socket: Network is unreachable\n",
    )
    assert hn0.routes() == []


def test_carp_and_slaac_addresses_show_their_flags(sim, root):
    sim.add_interface("hn0", inet=["10.0.0.4/24"], inet6=["2001:db8::4/64"])
    sim.add_carp("hn0", "10.0.0.100/24", vhid=1)
    sim.add_slaac("hn0", "2001:db8:0:1:215:5dff:fe00:1/64")
    lines = inet_lines(sim, "hn0")
    assert "inet 10.0.0.100 netmask 0xffffff00 broadcast 10.0.0.255 vhid 1" in lines
    assert "inet6 2001:db8:0:1:215:5dff:fe00:1 prefixlen 64 autoconf" in lines
    assert "inet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255" in lines
    assert "inet6 2001:db8::4 prefixlen 64" in lines
    # deleted like any other address
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.100", "-alias")[0] == 0
    assert not any("vhid" in line for line in inet_lines(sim, "hn0"))


def test_inet_netmask_spellings(sim, root):
    sim.add_interface("hn0", up=False)
    assert (
        run(root, "ifconfig", "hn0", "inet", "10.1.2.3", "netmask", "0xfffffff0")[0]
        == 0
    )
    assert inet_lines(sim, "hn0") == [
        "inet 10.1.2.3 netmask 0xfffffff0 broadcast 10.1.2.15"
    ]
    args = ("inet", "10.1.2.3", "netmask", "255.255.0.0", "broadcast", "10.1.9.9")
    assert run(root, "ifconfig", "hn0", *args)[0] == 0
    assert inet_lines(sim, "hn0") == [
        "inet 10.1.2.3 netmask 0xffff0000 broadcast 10.1.9.9"
    ]
    # setting an address brings the interface up (ether_ioctl SIOCSIFADDR)
    assert sim.interface("hn0")["up"] is True


def test_inet_delete(hn0, root):
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.4", "-alias") == (0, "", "")
    assert inet_lines(hn0, "hn0") == []
    err = "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.4", "delete") == (1, "", err)


def test_inet_bad_values(hn0, root):
    before = hn0.interface("hn0")
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.300/24") == (
        1,
        "",
        "ifconfig: 10.0.0.300: bad value\n",
    )
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.3/33")[2] == (
        "ifconfig: 10.0.0.3/33: bad value (width too large)\n"
    )
    assert hn0.interface("hn0") == before


def test_inet_without_mask_warns(sim, root):
    sim.add_interface("hn0")
    status, _, err = run(root, "ifconfig", "hn0", "inet", "10.0.0.4")
    assert status == 0
    assert "setting interface address without mask is deprecated" in err
    assert inet_lines(sim, "hn0") == [
        "inet 10.0.0.4 netmask 0xff000000 broadcast 10.255.255.255"
    ]


def test_inet6_add_enables_ipv6_and_delete(hn0, root):
    assert run(root, "ifconfig", "hn0", "inet6", "2001:DB8:0::5/64", "alias")[0] == 0
    assert (
        run(root, "ifconfig", "hn0", "inet6", "2001:db8::6", "prefixlen", "48")[0] == 0
    )
    assert inet_lines(hn0, "hn0") == [
        "inet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255",
        "inet6 2001:db8::5 prefixlen 64",
        "inet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2",
        "inet6 2001:db8::6 prefixlen 48",
    ]
    assert "nd6 options=21<PERFORMNUD,AUTO_LINKLOCAL>" in hn0.ifconfig_text("hn0")
    assert run(root, "ifconfig", "hn0", "inet6", "2001:db8::5", "-alias")[0] == 0
    assert "inet6 2001:db8::5 prefixlen 64" not in inet_lines(hn0, "hn0")
    status, _, err = run(root, "ifconfig", "hn0", "inet6", "2001:db8::5", "-alias")
    assert status == 1
    assert err == "ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n"


def test_nd6_flags(hn0, root):
    assert run(root, "ifconfig", "hn0", "inet6", "no_dad") == (0, "", "")
    assert "nd6 options=129<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL,NO_DAD>" in (
        hn0.ifconfig_text("hn0")
    )
    assert run(root, "ifconfig", "hn0", "inet6", "-ifdisabled", "accept_rtadv")[0] == 0
    text = hn0.ifconfig_text("hn0")
    assert "nd6 options=123<PERFORMNUD,ACCEPT_RTADV,AUTO_LINKLOCAL,NO_DAD>" in text
    assert "inet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2" in text
    assert run(root, "ifconfig", "hn0", "inet6", "-no_dad")[0] == 0
    assert "NO_DAD" not in hn0.ifconfig_text("hn0")


def test_show_one_family(hn0, root):
    status, out, _ = run(root, "ifconfig", "hn0", "inet")
    assert status == 0
    assert "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n" in out
    assert "ether" not in out
    assert "nd6" not in out
    assert hn0.mutating_calls() == []


# ---------------------------------------------------------------------------
# ifconfig: cloning, lagg(4)


def test_create_and_exists(sim, root):
    assert run(root, "ifconfig", "lagg0", "create") == (0, "", "")
    assert sim.events() == [
        {"system": "ETHERNET", "subsystem": "lagg0", "type": "IFATTACH"}
    ]
    err = "ifconfig: SIOCIFCREATE2 (lagg0): File exists\n"
    assert run(root, "ifconfig", "lagg0", "create") == (1, "", err)
    assert run(root, "ifconfig", "lagg", "create") == (0, "lagg1\n", "")
    assert run(root, "ifconfig", "-l") == (0, "lo0 lagg0 lagg1\n", "")
    err = "ifconfig: SIOCIFCREATE2 (foo0): Invalid argument\n"
    assert run(root, "ifconfig", "foo0", "create") == (1, "", err)


def test_new_lagg_output(sim, root):
    run(root, "ifconfig", "lagg0", "create")
    out = run(root, "ifconfig", "lagg0")[1]
    lines = out.splitlines()
    assert (
        lines[0] == "lagg0: flags=8802<BROADCAST,SIMPLEX,MULTICAST> metric 0 mtu 1500"
    )
    assert lines[1].startswith("\tether 58:9c:fc:")
    assert lines[2:] == [
        "\tlaggproto failover lagghash l2,l3,l4",
        "\tgroups: lagg",
        "\tmedia: Ethernet autoselect",
        "\tstatus: no carrier",
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>",
    ]


def test_destroy(sim, root):
    sim.add_interface("hn0")
    run(root, "ifconfig", "lagg0", "create")
    run(root, "ifconfig", "lagg0", "laggport", "hn0")
    sim.pop_events()
    assert run(root, "ifconfig", "lagg0", "destroy") == (0, "", "")
    assert sim.interface("lagg0") is None
    assert sim.interface("hn0")["laggdev"] is None
    assert sim.events() == [
        {"system": "ETHERNET", "subsystem": "lagg0", "type": "IFDETACH"}
    ]
    err = "ifconfig: SIOCIFDESTROY: Invalid argument\n"
    assert run(root, "ifconfig", "hn0", "destroy") == (1, "", err)


def test_concurrent_create_exactly_one_succeeds(sim, root):
    procs = [
        subprocess.Popen(
            [str(root / "sbin/ifconfig"), "lagg0", "create"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(20)
    ]
    results = [(p.wait(timeout=60), *p.communicate()) for p in procs]
    assert sorted(r[0] for r in results) == [0] + [1] * 19
    failed = [r[2] for r in results if r[0]]
    assert set(failed) == {"ifconfig: SIOCIFCREATE2 (lagg0): File exists\n"}
    assert len(sim.calls()) == 20
    assert len(sim.events()) == 1


def test_failover_lagg_with_vf(hn0, root):
    hn0.add_vf("hn0", "mce0")
    assert run(root, "ifconfig", "mce0", "up") == (0, "", "")
    assert run(root, "ifconfig", "lagg0", "create")[0] == 0
    args = ("laggproto", "failover", "laggport", "hn0", "laggport", "mce0")
    assert run(root, "ifconfig", "lagg0", *args) == (0, "", "")
    assert run(root, "ifconfig", "lagg0", "inet", "10.0.0.4/24")[0] == 0
    out = run(root, "ifconfig", "lagg0")[1]
    assert out == (
        "lagg0: flags=1008843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST,LOWER_UP> "
        "metric 0 mtu 1500\n"
        "\toptions=80018<VLAN_MTU,VLAN_HWTAGGING,LINKSTATE>\n"
        f"\tether {HN0_MAC}\n"
        f"\thwaddr {hn0.interface('lagg0')['hwaddr']}\n"
        "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n"
        "\tlaggproto failover lagghash l2,l3,l4\n"
        "\tlaggport: hn0 flags=1<MASTER>\n"
        "\tlaggport: mce0 flags=4<ACTIVE>\n"
        "\tgroups: lagg\n"
        "\tmedia: Ethernet autoselect\n"
        "\tstatus: active\n"
        "\tnd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>\n"
    )
    # the VF leaves: hn0 gets its link back and becomes the active port
    hn0.detach_vf("mce0")
    out = run(root, "ifconfig", "lagg0")[1]
    assert "\tlaggport: hn0 flags=5<MASTER,ACTIVE>\n" in out
    assert "mce0" not in out


def test_lagg_takes_first_port_mac_and_ports_sorted_by_index(sim, root):
    sim.add_interface("hn0", ether="00:15:5d:00:00:01")
    sim.add_interface("hn1", ether="00:15:5d:00:00:02")
    run(root, "ifconfig", "lagg0", "create")
    assert run(root, "ifconfig", "lagg0", "laggport", "hn1", "laggport", "hn0")[0] == 0
    lagg = sim.interface("lagg0")
    assert lagg["ether"] == "00:15:5d:00:00:02"
    assert sim.interface("hn0")["ether"] == "00:15:5d:00:00:02"
    out = sim.ifconfig_text("lagg0")
    assert out.index("laggport: hn0 flags=0<>") < out.index(
        "laggport: hn1 flags=5<MASTER,ACTIVE>"
    )
    assert run(root, "ifconfig", "lagg0", "-laggport", "hn1") == (0, "", "")
    assert sim.interface("lagg0")["ether"] == "00:15:5d:00:00:01"
    assert sim.interface("hn1")["ether"] == "00:15:5d:00:00:02"


def test_laggport_errors_warn_and_continue(sim, root):
    sim.add_interface("hn0")
    sim.add_interface("hn1")
    run(root, "ifconfig", "lagg0", "create")
    run(root, "ifconfig", "lagg1", "create")
    run(root, "ifconfig", "lagg1", "laggport", "hn1")
    args = ("laggport", "nope0", "laggport", "hn1", "laggport", "hn0", "up")
    status, out, err = run(root, "ifconfig", "lagg0", *args)
    assert (status, out) == (1, "")
    assert err == (
        "ifconfig: lagg0 nope0: SIOCSLAGGPORT: Invalid argument\n"
        "ifconfig: lagg0 hn1: SIOCSLAGGPORT: Device busy\n"
    )
    assert sim.interface("lagg0")["lagg"]["ports"] == ["hn0"]
    assert sim.interface("lagg0")["up"] is True
    # a port already in this lagg is no error
    assert run(root, "ifconfig", "lagg0", "laggport", "hn0") == (0, "", "")
    err = "ifconfig: SIOCSLAGGDELPORT: No such file or directory\n"
    assert run(root, "ifconfig", "lagg0", "-laggport", "hn1") == (1, "", err)


def test_laggproto_errors_change_nothing(sim, root):
    run(root, "ifconfig", "lagg0", "create")
    before = sim.interface("lagg0")
    err = "ifconfig: Invalid aggregation protocol: bogus\n"
    assert run(root, "ifconfig", "lagg0", "laggproto", "bogus") == (1, "", err)
    err = "ifconfig: 'laggproto' requires argument\n"
    assert run(root, "ifconfig", "lagg0", "laggproto") == (1, "", err)
    assert sim.interface("lagg0") == before
    assert run(root, "ifconfig", "lagg0", "laggproto", "lacp")[0] == 0
    assert "\tlaggproto lacp lagghash l2,l3,l4\n" in sim.ifconfig_text("lagg0")


# ---------------------------------------------------------------------------
# hn(4) VFs and devd events


def test_add_vf(hn0, root):
    hn0.add_vf("hn0", "mce0")
    assert hn0.interface("mce0")["ether"] == HN0_MAC
    assert hn0.interface("mce0")["up"] is False
    assert run(root, "sysctl", "-n", "dev.hn.0.vf") == (0, "mce0\n", "")
    assert run(root, "sysctl", "-n", "hw.hn.vflist") == (0, "mce0\n", "")
    assert run(root, "sysctl", "-n", "hw.hn.vfmap") == (0, "mce0:hn0\n", "")
    assert hn0.pop_events() == [
        {"system": "ETHERNET", "subsystem": "mce0", "type": "IFATTACH"}
    ]
    assert hn0.events() == []


def test_vf_up_raises_vf_up_once(hn0, root):
    hn0.add_vf("hn0", "mce0")
    hn0.pop_events()
    assert run(root, "ifconfig", "mce0", "up") == (0, "", "")
    assert run(root, "ifconfig", "mce0", "up") == (0, "", "")
    # hn(4) pretends its link is down while the VF carries the traffic,
    # and says so to devd (hn_rxvf_change(), if_link_state_change())
    assert hn0.pop_events() == [
        {"system": "HYPERV_NIC_VF", "subsystem": "hn0", "type": "VF_UP"},
        {"system": "IFNET", "subsystem": "hn0", "type": "LINK_DOWN"},
    ]
    assert "\tstatus: no carrier\n" in hn0.ifconfig_text("hn0")
    assert "LOWER_UP" not in hn0.ifconfig_text("hn0").splitlines()[0]
    run(root, "ifconfig", "mce0", "down")
    assert hn0.events() == [
        {"system": "HYPERV_NIC_VF", "subsystem": "hn0", "type": "VF_DOWN"},
        {"system": "IFNET", "subsystem": "hn0", "type": "LINK_UP"},
    ]
    assert "\tstatus: active\n" in hn0.ifconfig_text("hn0")


def test_hn_link_events_follow_the_hosts_link(hn0, root):
    # hn_link_status() -> if_link_state_change(): devd hears of a change only
    hn0.pop_events()
    hn0.set_carrier("hn0", False)
    hn0.set_carrier("hn0", False)
    hn0.set_carrier("hn0", True)
    assert hn0.pop_events() == [
        {"system": "IFNET", "subsystem": "hn0", "type": "LINK_DOWN"},
        {"system": "IFNET", "subsystem": "hn0", "type": "LINK_UP"},
    ]
    # while the VF carries the traffic hn's link stays down for devd
    hn0.add_vf("hn0", "mce0")
    run(root, "ifconfig", "mce0", "up")
    hn0.pop_events()
    hn0.set_carrier("hn0", False)
    assert hn0.events() == []


def test_transparent_vf_raises_no_vf_up(hn0, root):
    hn0.set_transparent(1)
    hn0.add_vf("hn0", "mce0")
    run(root, "ifconfig", "mce0", "down")
    run(root, "ifconfig", "mce0", "up")
    assert [e["type"] for e in hn0.events()] == ["IFATTACH"]
    assert run(root, "sysctl", "-n", "hw.hn.vf_transparent") == (0, "1\n", "")


def test_non_vf_up_raises_nothing(hn0, root):
    hn0.add_interface("hn1", up=False)
    hn0.pop_events()
    run(root, "ifconfig", "hn1", "up")
    assert hn0.events() == []


def test_detach_vf(hn0, root):
    hn0.add_vf("hn0", "mce0")
    run(root, "ifconfig", "mce0", "up")
    run(root, "ifconfig", "lagg0", "create")
    run(root, "ifconfig", "lagg0", "laggport", "hn0", "laggport", "mce0")
    hn0.pop_events()
    hn0.detach_vf("mce0")
    assert hn0.interface("mce0") is None
    assert hn0.interface("lagg0")["lagg"]["ports"] == ["hn0"]
    assert run(root, "sysctl", "-n", "dev.hn.0.vf", "hw.hn.vflist") == (
        0,
        "\n\n",
        "",
    )
    # live migration: hn's link is back, devd hears LINK_UP for a lagg port
    assert hn0.events() == [
        {"system": "ETHERNET", "subsystem": "mce0", "type": "IFDETACH"},
        {"system": "HYPERV_NIC_VF", "subsystem": "hn0", "type": "VF_DOWN"},
        {"system": "IFNET", "subsystem": "hn0", "type": "LINK_UP"},
    ]


def test_old_kernel(hn0, root):
    hn0.old_kernel()
    for oid in ("hw.hn.vf_transparent", "hw.hn.vflist", "hw.hn.vfmap", "dev.hn.0.vf"):
        assert run(root, "sysctl", "-n", oid) == (
            1,
            "",
            f"sysctl: unknown oid '{oid}'\n",
        )
    hn0.add_vf("hn0", "mce0")
    assert run(root, "sysctl", "-n", "hw.hn.vflist")[0] == 1


# ---------------------------------------------------------------------------
# sysctl


def test_sysctl_reads(hn0, root):
    assert run(root, "sysctl", "kern.vm_guest") == (0, "kern.vm_guest: hv\n", "")
    assert run(root, "sysctl", "-n", "kern.vm_guest", "hw.hn.vf_transparent") == (
        0,
        "hv\n0\n",
        "",
    )
    status, out, err = run(
        root, "sysctl", "-n", "kern.vm_guest", "no.such", "dev.hn.0.vf"
    )
    assert (status, out, err) == (1, "hv\n\n", "sysctl: unknown oid 'no.such'\n")
    assert run(root, "sysctl", "-i", "-n", "no.such") == (0, "", "")
    assert run(root, "sysctl", "dev.hn.0") == (0, "dev.hn.0.vf: \n", "")
    assert hn0.mutating_calls() == []


def test_sysctl_writes(sim, root):
    err = (
        "sysctl: oid 'hw.hn.vf_transparent' is a read only tunable\n"
        "sysctl: Tunable values are set in /boot/loader.conf\n"
    )
    assert run(root, "sysctl", "hw.hn.vf_transparent=1") == (1, "", err)
    err = "sysctl: oid 'kern.vm_guest' is read only\n"
    assert run(root, "sysctl", "kern.vm_guest=none") == (1, "", err)
    sim.set_sysctl("net.inet.ip.forwarding", 0)
    assert run(root, "sysctl", "net.inet.ip.forwarding=1") == (
        0,
        "net.inet.ip.forwarding: 0 -> 1\n",
        "",
    )
    assert sim.sysctl("net.inet.ip.forwarding") == 1
    assert sim.sysctl("hw.hn.vf_transparent") == 0
    assert len(sim.mutating_calls()) == 3
    sim.remove_sysctl("net.inet.ip.forwarding")
    assert run(root, "sysctl", "net.inet.ip.forwarding")[0] == 1


# ---------------------------------------------------------------------------
# route


def test_route_get_default(hn0, root):
    status, out, err = run(root, "route", "-n", "get", "default")
    assert (status, err) == (0, "")
    assert "    gateway: 10.0.0.1\n" in out
    assert "  interface: hn0\n" in out
    assert hn0.mutating_calls() == []


def test_route_add_delete(hn0, root):
    assert run(root, "route", "delete", "default") == (0, "delete net default\n", "")
    assert hn0.routes() == []
    # route.c: rtmsg() warns (ESRCH), newroute() exits with its -1
    assert run(root, "route", "-n", "get", "default") == (
        255,
        "",
        "route: route has not been found\n",
    )
    # the verdict on stdout, rtmsg()'s warning on stderr
    assert run(root, "route", "delete", "default") == (
        1,
        "delete net default fib 0: not in table\n",
        "route: route has not been found\n",
    )
    assert run(root, "route", "add", "default", "10.0.0.1") == (
        0,
        "add net default: gateway 10.0.0.1\n",
        "",
    )
    assert hn0.routes() == [
        {
            "destination": "default",
            "gateway": "10.0.0.1",
            "interface": "hn0",
            "ifa": "10.0.0.4",
            "inet6": False,
            "flags": ["UP", "GATEWAY", "DONE", "STATIC"],
        }
    ]
    # EEXIST: newroute() says it, rtmsg() does not warn
    assert run(root, "route", "add", "default", "10.0.0.254") == (
        1,
        "add net default: gateway 10.0.0.254 fib 0: route already in table\n",
        "",
    )
    status, out, _ = run(root, "route", "-q", "add", "-inet6", "default", "2001:db8::1")
    assert (status, out) == (1, "")
    assert len(hn0.routes()) == 1


def test_route_flush_is_logged(hn0, root):
    assert run(root, "route", "-n", "flush")[0] == 0
    assert hn0.routes() == []
    assert hn0.mutating_calls() == [{"argv": ["route", "-n", "flush"], "status": 0}]


# ---------------------------------------------------------------------------
# netstat -rn (usr.bin/netstat/route.c with -n)

NETSTAT_HEADER4 = "Destination        Gateway            Flags     Netif Expire"
NETSTAT_HEADER6 = (
    "Destination                       Gateway                       "
    "Flags     Netif Expire"
)


def test_netstat_rn(hn0, root):
    hn0.add_interface(
        "hn1",
        ether="00:15:5d:0a:0b:0d",
        inet=["10.1.0.4/24", "10.1.0.5/24"],
        inet6=["2001:db8::4/64"],
    )
    hn0.add_interface("hn2", inet=["10.2.0.4/24"], up=False)
    assert run(root, "route", "add", "-inet6", "default", "fe80::1%hn1")[0] == 0
    assert run(root, "route", "add", "-net", "192.168.0.0/16", "10.0.0.254")[0] == 0
    mark = len(hn0.calls())
    status, out, err = run(root, "netstat", "-rn")
    assert (status, err) == (0, "")
    assert out == "\n".join(
        [
            "Routing tables",
            "",
            "Internet:",
            NETSTAT_HEADER4,
            "default            10.0.0.1           UGS         hn0",
            "10.0.0.0/24        link#2             U           hn0",
            "10.0.0.4           link#2             UHS         lo0",
            "10.1.0.0/24        link#3             U           hn1",
            "10.1.0.4           link#3             UHS         lo0",
            "10.1.0.5           link#3             UHS         lo0",
            "127.0.0.1          link#1             UH          lo0",
            "192.168.0.0/16     10.0.0.254         UGS         hn0",
            "",
            "Internet6:",
            NETSTAT_HEADER6,
            "default                           "
            "fe80::1%hn1                   UGS         hn1",
            "::1                               "
            "link#1                        UHS         lo0",
            "2001:db8::/64                     "
            "link#3                        U           hn1",
            "2001:db8::4                       "
            "link#3                        UHS         lo0",
            "fe80::%lo0/64                     "
            "link#1                        U           lo0",
            "fe80::1%lo0                       "
            "link#1                        UHS         lo0",
            "fe80::%hn1/64                     "
            "link#3                        U           hn1",
            "fe80::215:5dff:fe0a:b0d%hn1       "
            "link#3                        UHS         lo0",
            "",
        ]
    )  # fmt: skip
    assert [c["argv"] for c in hn0.calls()[mark:]] == [["netstat", "-rn"]]
    assert hn0.mutating_calls()[-1]["argv"][0] == "route"


def test_netstat_families_and_errors(hn0, root):
    only4 = run(root, "netstat", "-rn", "-f", "inet")
    assert only4 == run(root, "netstat", "-4rn") == run(root, "netstat", "-rnfinet")
    assert only4[1].splitlines()[2:4] == ["Internet:", NETSTAT_HEADER4]
    assert "Internet6:" not in only4[1]
    # a family without routes has no section at all
    assert run(root, "netstat", "-rn", "-6") == run(root, "netstat", "-rnf", "inet6")
    hn0.add_interface("hn1", inet6=["2001:db8::4/64"])
    hn0.add_route("default", "2001:db8::1", "hn1", inet6=True)
    out = run(root, "netstat", "-nr", "-f", "inet6")[1].splitlines()
    assert out[:5] == [
        "Routing tables",
        "",
        "Internet6:",
        NETSTAT_HEADER6,
        "default                           "
        "2001:db8::1                   UGS         hn1",
    ]  # fmt: skip
    assert run(root, "netstat", "-rn", "-f", "ipx") == (
        1,
        "",
        "netstat: ipx: unknown address family\n",
    )
    status, _, err = run(root, "netstat", "-rnz")
    assert status == 64
    assert err.startswith("netstat: illegal option -- z\n")
    # hv_kvp_daemon's IPv6 query: "inet6" is taken as a kernel image (main.c
    # BACKWARD_COMPATIBILITY), and routepr() prints nothing but live.
    assert run(root, "netstat", "-rn", "inet6") == (0, "", "")
    assert run(root, "netstat", "-rn", "/boot/kernel/kernel", "/dev/mem") == (0, "", "")
    assert hn0.mutating_calls() == []


def test_netstat_a_wide_field_pushes_the_next_column(sim, root):
    sim.add_interface("lagg0123", ether="00:15:5d:0a:0b:0d", inet6=["2001:db8::4/64"])
    rows = run(root, "netstat", "-rn", "-6")[1].splitlines()
    assert (
        "fe80::215:5dff:fe0a:b0d%lagg0123  "
        "link#2                        UHS         lo0"
        in rows
    )  # fmt: skip
    assert (
        "fe80::%lagg0123/64                "
        "link#2                        U      lagg0123"
        in rows
    )  # fmt: skip
    sim.add_route("default", "fe80::215:5dff:fe0a:b0e%lagg0123", "lagg0123", inet6=True)
    assert (
        "default                           "
        "fe80::215:5dff:fe0a:b0e%lagg0123 UGS lagg0123"
        in run(root, "netstat", "-rn", "-6")[1].splitlines()
    )  # fmt: skip


# ---------------------------------------------------------------------------
# dhclient, pkill


def test_dhclient_obtains_lease(sim, root):
    sim.add_interface("hn0", up=False)
    sim.set_lease("hn0", "10.0.0.7/24", "10.0.0.1")
    assert run(root, "dhclient", "-b", "hn0") == (0, "", "")
    pid = sim.dhclients()["hn0"]
    assert pid >= fakebsd.FIRST_PID
    assert (root / "var/run/dhclient/dhclient.hn0.pid").read_text() == f"{pid}\n"
    assert inet_lines(sim, "hn0") == [
        "inet 10.0.0.7 netmask 0xffffff00 broadcast 10.0.0.255"
    ]
    assert sim.routes()[0]["gateway"] == "10.0.0.1"
    assert sim.interface("hn0")["up"] is True
    status, _, err = run(root, "dhclient", "hn0")
    assert status == 1
    assert err == f"dhclient already running, pid: {pid}.\nexiting.\n"
    assert sim.dhclients() == {"hn0": pid}


def test_dhclient_missing_interface(sim, root):
    # dhclient-script PREINIT runs ifconfig before dhclient looks it up
    assert run(root, "dhclient", "hn3") == (
        1,
        "",
        "ifconfig: interface hn3 does not exist\nhn3: not found\nexiting.\n",
    )
    assert sim.dhclients() == {}
    assert not (root / "var/run/dhclient/dhclient.hn3.pid").exists()


# A dhclient-script that records the environment it is executed with (a
# shell script would see its shell's additions: PWD, SHLVL ...).  Python
# itself adds LC_CTYPE=C.UTF-8 to an environment without a locale (PEP 538),
# so that one is left out.
RECORDING_SCRIPT = f"""#!{sys.executable} -I
import os
env = {{k: v for k, v in os.environ.items() if (k, v) != ("LC_CTYPE", "C.UTF-8")}}
with open(f"/var/run/script.{{env['reason']}}.{{env['interface']}}", "w") as f:
    f.write("".join(f"{{k}}={{v}}\\n" for k, v in env.items()))
"""


def recorded_env(root, reason, interface):
    text = (root / f"var/run/script.{reason}.{interface}").read_text()
    return dict(line.split("=", 1) for line in text.splitlines())


def install_recording_script(root):
    script = root / "sbin" / "dhclient-script"
    script.write_text(RECORDING_SCRIPT)
    script.chmod(0o755)


def test_dhclient_runs_the_roots_dhclient_script_on_bound(sim, root):
    sim.add_interface("hn0", up=False)
    sim.set_lease("hn0", "10.0.0.7/24", "10.0.0.1", dns=["10.0.0.53", "10.0.0.54"],
                  domain="example.internal")  # fmt: skip
    install_recording_script(root)
    assert run(root, "dhclient", "-b", "hn0")[0] == 0
    # dhclient.c priv_script_init()/priv_script_write_params(): nothing
    # else, not even dhclient's own environment (PWD, HOME ...).
    assert recorded_env(root, "BOUND", "hn0") == {
        "PATH": "/usr/bin:/usr/sbin:/bin:/sbin",
        "interface": "hn0",
        "reason": "BOUND",
        "new_ip_address": "10.0.0.7",
        "new_network_number": "10.0.0.0",
        "new_broadcast_address": "10.0.0.255",
        "new_subnet_mask": "255.255.255.0",
        "new_routers": "10.0.0.1",
        "new_domain_name_servers": "10.0.0.53 10.0.0.54",
        "new_domain_name": "example.internal",
        "new_expiry": str(2**31 - 1),
    }
    # The script, not the model, configures the interface.
    assert inet_lines(sim, "hn0") == []
    assert sim.dhclients().keys() == {"hn0"}
    # dhclient.c bind_lease() writes the lease database itself, script or not.
    lease = (root / "var/db/dhclient.leases.hn0").read_text().splitlines()
    assert lease[2] == "  fixed-address 10.0.0.7;"


def test_renew_runs_the_script_with_the_old_and_new_lease(sim, root):
    sim.add_interface("hn0", up=False)
    sim.set_lease("hn0", "10.0.0.7/24", "10.0.0.1")
    install_recording_script(root)
    run(root, "dhclient", "-b", "hn0")
    sim.set_lease("hn0", "10.0.0.8/25", "10.0.0.1", dns=["10.0.0.53"])
    assert sim.renew("hn0") == (0, "", "")
    env = recorded_env(root, "RENEW", "hn0")
    assert env["reason"] == "RENEW"
    assert (env["old_ip_address"], env["old_subnet_mask"]) == (
        "10.0.0.7",
        "255.255.255.0",
    )
    assert (env["new_ip_address"], env["new_subnet_mask"]) == (
        "10.0.0.8",
        "255.255.255.128",
    )
    assert "old_domain_name_servers" not in env
    assert env["new_domain_name_servers"] == "10.0.0.53"


def test_renew_without_a_script_rebinds_by_the_model(sim, root):
    sim.add_interface("hn0", up=False)
    sim.set_lease("hn0", "10.0.0.7/24", "10.0.0.1", dns=["10.0.0.53"])
    run(root, "dhclient", "-b", "hn0")
    sim.set_lease("hn0", "10.0.0.7/24", "10.0.0.1", dns=["10.0.0.54"])
    assert sim.renew("hn0") is None
    assert (root / "etc/resolv.conf").read_text() == "nameserver 10.0.0.54\n"


def test_renew_needs_a_running_dhclient(sim, root):
    sim.add_interface("hn0")
    sim.set_lease("hn0", "10.0.0.7/24")
    with pytest.raises(ValueError, match="no dhclient runs on hn0"):
        sim.renew("hn0")


def test_freebsds_dhclient_script_binds_through_the_simulator(sim, root):
    # FreeBSD's own script and resolvconf(8), run by the fake dhclient:
    # the address, the route and resolv.conf are theirs.
    import freebsdsh

    freebsdsh.install(root, "sbin/dhclient-script")
    freebsdsh.install_resolvconf(root)
    sim.add_interface("hn0", up=False)
    sim.set_lease("hn0", "10.0.0.7/24", "10.0.0.1", dns=["10.0.0.53"])
    assert run(root, "dhclient", "-b", "hn0")[0] == 0
    assert inet_lines(sim, "hn0") == [
        "inet 10.0.0.7 netmask 0xffffff00 broadcast 10.0.0.255"
    ]
    assert [(r["gateway"], r["interface"]) for r in sim.routes()] == [
        ("10.0.0.1", "hn0")
    ]
    assert ["ifconfig", "-n", "hn0", "inet", "10.0.0.7", "netmask",
            "255.255.255.0", "broadcast", "10.0.0.255"] in [
        c["argv"] for c in sim.calls()
    ]  # fmt: skip
    assert (root / "etc/resolv.conf").read_text() == (
        "# Generated by resolvconf\nnameserver 10.0.0.53\n\n"
    )
    assert (root / "var/run/resolvconf/interfaces/hn0").read_text() == (
        "nameserver 10.0.0.53\n"
    )


def timed(function, *args):
    """(elapsed seconds, what function returned)."""
    start = time.monotonic()
    result = function(*args)
    return time.monotonic() - start, result


def test_dhclient_without_b_waits_for_the_timeout_when_no_server_answers(sim, root):
    # dhclient.c main() daemonises at once only with -b; else send_discover()
    # calls state_panic() after the dhclient.conf(5) timeout, which notes,
    # runs the script with FAIL and go_daemon()s: the foreground returns.
    sim.add_interface("hn0", up=False)
    install_recording_script(root)
    sim.set_dhcp_timeout(1.5)
    elapsed, done = timed(run, root, "dhclient", "hn0")
    assert elapsed >= 1.5
    assert done == (0, "", fakebsd.DHCLIENT_PANIC)
    assert done[2] == (
        "No DHCPOFFERS received.\n"
        "No working leases in persistent database - sleeping.\n\n"
    )
    assert recorded_env(root, "FAIL", "hn0") == {
        "PATH": "/usr/bin:/usr/sbin:/bin:/sbin",
        "interface": "hn0",
        "reason": "FAIL",
    }
    # the daemon keeps trying (state_init() after retry_interval)
    assert sim.dhclients().keys() == {"hn0"}
    assert sim.interface("hn0")["up"] is True


def test_dhclient_b_and_a_lease_return_at_once(sim, root):
    sim.add_interface("hn0")
    sim.add_interface("hn1")
    install_recording_script(root)
    sim.set_dhcp_timeout(10)
    # -b: go_daemon() before the first DHCPDISCOVER (dhclient.c main())
    elapsed, done = timed(run, root, "dhclient", "-b", "hn0")
    assert (done, elapsed < 5) == ((0, "", ""), True)
    assert not (root / "var/run/script.FAIL.hn0").exists()
    # a server that answers: bind_lease() go_daemon()s as soon as it binds
    sim.set_lease("hn1", "10.1.0.7/24")
    elapsed, done = timed(run, root, "dhclient", "hn1")
    assert (done, elapsed < 5) == ((0, "", ""), True)
    assert sim.dhclients().keys() == {"hn0", "hn1"}


def test_a_waiting_dhclient_does_not_hold_the_simulator(sim, root):
    sim.add_interface("hn0", up=False)
    sim.add_interface("hn1")
    sim.set_dhcp_timeout(10)
    waiting = subprocess.Popen(
        [str(root / "sbin/dhclient"), "hn0"],
        env={},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        # The process appears when dhclient's locked part is over; the wait
        # comes after it.
        deadline = time.monotonic() + 5
        while "hn0" not in sim.dhclients():
            assert time.monotonic() < deadline
        elapsed, done = timed(run, root, "ifconfig", "hn1", "inet", "10.1.0.4/24")
        assert (done, elapsed < 5) == ((0, "", ""), True)
        assert waiting.poll() is None
    finally:
        waiting.kill()
        waiting.communicate()


def ipv4_net_rows(root):
    rows = [line.split() for line in run(root, "netstat", "-rn", "-4")[1].splitlines()]
    return [row[:4] for row in rows if row[:1] and row[0].startswith("10.")]


def test_same_prefix_addresses(hn0, root):
    # sys/netinet/in.c in_addprefix(): with net.inet.ip.no_same_prefix=0
    # (the default) a second address of a routed prefix and mask is taken
    # with its mask, without a prefix route of its own.
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.5/24", "alias") == (0, "", "")
    assert inet_lines(hn0, "hn0") == [
        "inet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255",
        "inet 10.0.0.5 netmask 0xffffff00 broadcast 10.0.0.255",
    ]
    assert ipv4_net_rows(root) == [
        ["10.0.0.0/24", "link#2", "U", "hn0"],
        ["10.0.0.4", "link#2", "UHS", "lo0"],
        ["10.0.0.5", "link#2", "UHS", "lo0"],
    ]
    # in_scrubprefix(): the prefix route moves to the address left.
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.4", "-alias") == (0, "", "")
    assert inet_lines(hn0, "hn0") == [
        "inet 10.0.0.5 netmask 0xffffff00 broadcast 10.0.0.255"
    ]
    assert ipv4_net_rows(root) == [
        ["10.0.0.0/24", "link#2", "U", "hn0"],
        ["10.0.0.5", "link#2", "UHS", "lo0"],
    ]


def test_pkill_pidfile(sim, root):
    sim.add_interface("hn0")
    sim.add_interface("hn1")
    pid0 = sim.start_dhclient("hn0")
    pid1 = sim.start_dhclient("hn1", pidfile="old")
    sim.add_process(4242, "/usr/sbin/syslogd -s")
    assert (root / "var/run/dhclient.hn1.pid").read_text() == f"{pid1}\n"
    pidfile = "/var/run/dhclient/dhclient.hn0.pid"
    assert run(root, "pkill", "-F", pidfile, "dhclient") == (0, "", "")
    assert sim.dhclients() == {"hn1": pid1}
    assert sim.processes() == {pid1: "dhclient: hn1", 4242: "/usr/sbin/syslogd -s"}
    assert (root / pidfile.lstrip("/")).exists()  # left behind
    assert pid0 not in sim.processes()
    # nothing left to match: exit 1, not a mutating call
    assert run(root, "pkill", "-F", pidfile, "dhclient") == (1, "", "")
    assert sim.mutating_calls()[-1]["argv"] == ["pkill", "-F", pidfile, "dhclient"]
    assert len(sim.mutating_calls()) == 1


def test_pkill_patterns_and_usage(sim, root):
    sim.add_interface("hn0")
    pid = sim.start_dhclient("hn0")
    sim.add_process(4242, "/usr/sbin/syslogd -s")
    assert run(root, "pgrep", "-x", "dhclient") == (0, f"{pid}\n", "")
    assert run(root, "pkill", "-0", "-x", "dhcl") == (1, "", "")
    assert run(root, "pkill", "-HUP", "-f", "dhclient: hn0") == (0, "", "")
    assert sim.dhclients() == {}
    assert 4242 in sim.processes()
    status, _, err = run(root, "pkill")
    assert status == 2
    assert err.startswith("usage: pkill")
    status, _, err = run(root, "pkill", "-F", "/var/run/none.pid")
    assert status == 3
    assert "Cannot open pidfile `/var/run/none.pid'" in err


# ---------------------------------------------------------------------------
# The log, injected failures, atomicity


def test_injected_failure_changes_nothing(sim, root):
    sim.fail(["ifconfig", "lagg0", "create"], "ifconfig: SIOCIFCREATE2: No space")
    before = sim.state()
    assert run(root, "ifconfig", "lagg0", "create") == (
        1,
        "",
        "ifconfig: SIOCIFCREATE2: No space\n",
    )
    after = sim.state()
    assert after["interfaces"] == before["interfaces"]
    assert after["events"] == []
    assert sim.calls() == [{"argv": ["ifconfig", "lagg0", "create"], "status": 1}]
    assert sim.mutating_calls() == sim.calls()
    # other commands are unaffected; a count limits the failure
    assert run(root, "ifconfig", "lagg1", "create")[0] == 0
    sim.clear_failures()
    sim.fail(["sysctl"], "boom", status=3, times=1)
    assert run(root, "sysctl", "-n", "kern.vm_guest") == (3, "", "boom\n")
    assert run(root, "sysctl", "-n", "kern.vm_guest") == (0, "hv\n", "")


def test_every_call_is_logged(hn0, root):
    run(root, "ifconfig", "hn0")
    run(root, "sysctl", "-n", "x.y")
    run(root, "ifconfig", "hn0", "up")
    assert hn0.calls() == [
        {"argv": ["ifconfig", "hn0"], "status": 0},
        {"argv": ["sysctl", "-n", "x.y"], "status": 1},
        {"argv": ["ifconfig", "hn0", "up"], "status": 0},
    ]
    assert hn0.mutating_calls() == [{"argv": ["ifconfig", "hn0", "up"], "status": 0}]


def test_concurrent_calls_do_not_lose_updates(sim, root):
    procs = [
        subprocess.Popen(
            [str(root / "sbin/ifconfig"), f"lagg{n}", "create"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(20)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0] * 20
    names = run(root, "ifconfig", "-l")[1].split()
    assert sorted(names) == sorted(["lo0"] + [f"lagg{n}" for n in range(20)])
    assert len(sim.calls()) == 21


# ---------------------------------------------------------------------------
# Finer points


def test_lagg_member_loses_inet6_and_primary_leaving_moves_mac(sim, root):
    sim.add_interface("hn0", ether="00:15:5d:00:00:01", inet6=["2001:db8::4/64"])
    sim.add_vf("hn0", "mce0")
    run(root, "ifconfig", "lagg0", "create")
    assert run(root, "ifconfig", "lagg0", "laggport", "hn0", "laggport", "mce0")[0] == 0
    assert sim.interface("hn0")["inet6"] == []
    assert sim.interface("lagg0")["lagg"]["primary"] == "hn0"
    run(root, "ifconfig", "lagg0", "-laggport", "hn0")
    # mce0 is primary now and lends its own MAC (hn0's, a VF has its hn's MAC)
    assert sim.interface("lagg0")["lagg"]["primary"] == "mce0"
    assert sim.interface("lagg0")["ether"] == "00:15:5d:00:00:01"
    run(root, "ifconfig", "lagg0", "-laggport", "mce0")
    assert sim.interface("lagg0")["ether"] == "00:00:00:00:00:00"


def test_laggport_lo0_and_stacked_lagg_refused(sim, root):
    run(root, "ifconfig", "lagg0", "create")
    run(root, "ifconfig", "lagg1", "create")
    status, _, err = run(root, "ifconfig", "lagg0", "laggport", "lo0")
    assert (status, err) == (
        1,
        "ifconfig: lagg0 lo0: SIOCSLAGGPORT: Protocol not supported\n",
    )
    status, _, err = run(root, "ifconfig", "lagg0", "laggport", "lagg1")
    assert (status, err) == (
        1,
        "ifconfig: lagg0 lagg1: SIOCSLAGGPORT: Invalid argument\n",
    )
    sim.add_interface("hn0")
    status, _, err = run(root, "ifconfig", "hn0", "laggport", "lagg1")
    assert (status, err) == (
        1,
        "ifconfig: hn0 lagg1: SIOCSLAGGPORT: Invalid argument\n",
    )
    assert run(root, "ifconfig", "hn0", "laggproto", "failover") == (
        1,
        "",
        "ifconfig: SIOCSLAGG: Invalid argument\n",
    )


def test_address_family_must_come_first(hn0, root):
    # ifconfig(8): the address family follows the interface name; later
    # it is taken for an address
    status, _, err = run(root, "ifconfig", "hn0", "up", "inet", "10.0.0.9/24")
    assert (status, err) == (1, "ifconfig: inet: bad value\n")


def test_route_flush_output_and_families(hn0, root):
    hn0.add_interface("hn1", inet6=["2001:db8::4/64"])
    hn0.add_route("default", "2001:db8::1", "hn1", inet6=True)
    status, out, _ = run(root, "route", "-n", "flush", "-inet6")
    assert (status, out) == (0, f"{'::':<20} {'2001:db8::1':<20} -fib 0   done\n")
    assert [r["inet6"] for r in hn0.routes()] == [False]
    assert run(root, "route", "-q", "flush") == (0, "", "")
    assert hn0.routes() == []


def test_route_inet6_and_get_output(hn0, root):
    hn0.add_interface("hn1", inet6=["2001:db8::4/64"])
    args = ("add", "-inet6", "default", "2001:db8::1")
    assert run(root, "route", *args) == (
        0,
        "add net default: gateway 2001:db8::1\n",
        "",
    )
    out = run(root, "route", "-n", "get", "-inet6", "default")[1]
    assert out.splitlines()[:6] == [
        "   route to: ::",
        "destination: ::",
        "       mask: ::",
        "    gateway: 2001:db8::1",
        "        fib: 0",
        "  interface: hn1",
    ]
    out = run(root, "route", "-n", "get", "default")[1]
    assert out.splitlines()[6:] == [
        "      flags: <UP,GATEWAY,DONE,STATIC>",
        " recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire",
        "       0         0         0         0      1500         1         0 ",
    ]
    # a connected destination has no gateway line
    out = run(root, "route", "-n", "get", "10.0.0.77")[1]
    assert "gateway:" not in out
    assert "  interface: hn0\n" in out


def test_route_errors(hn0, root):
    assert run(root, "route", "add", "-net", "192.168.0.0/16", "172.16.0.1") == (
        1,
        "add net 192.168.0.0/16: gateway 172.16.0.1 fib 0: Network is unreachable\n",
        "route: writing to routing socket: Network is unreachable\n",
    )
    assert run(root, "route", "add", "default", "nohost")[:2] == (68, "")
    status, _, err = run(root, "route", "frobnicate")
    assert status == 64
    assert err.startswith("route: bad keyword: frobnicate\nusage: route")
    # delete with a gateway that does not match
    status, out, _ = run(root, "route", "delete", "default", "10.0.0.2")
    assert (status, out) == (
        1,
        "delete net default: gateway 10.0.0.2 fib 0: not in table\n",
    )
    assert len(hn0.routes()) == 1


def test_routes_go_with_their_interface(sim, root):
    run(root, "ifconfig", "lagg0", "create")
    run(root, "ifconfig", "lagg0", "inet", "10.0.0.4/24")
    assert run(root, "route", "add", "default", "10.0.0.1")[0] == 0
    assert sim.routes()[0]["interface"] == "lagg0"
    run(root, "ifconfig", "lagg0", "destroy")
    assert sim.routes() == []


def test_sysctl_exit_status_counts_failures(sim, root):
    status, out, err = run(root, "sysctl", "-n", "a.b", "kern.vm_guest", "c.d")
    assert (status, out) == (2, "hv\n")
    assert err == "sysctl: unknown oid 'a.b'\nsysctl: unknown oid 'c.d'\n"
    assert run(root, "sysctl", "-q", "a.b") == (1, "", "")
    assert run(root, "sysctl")[0] == 1
    sim.set_sysctl("net.inet.ip.forwarding", 0)
    err = "sysctl: invalid integer 'yes'\n"
    assert run(root, "sysctl", "net.inet.ip.forwarding=yes") == (1, "", err)


def test_dhclient_no_link(sim, root):
    run(root, "ifconfig", "lagg0", "create")
    sim.set_link_wait(0.5)
    start = time.monotonic()
    status, _, err = run(root, "dhclient", "-b", "lagg0")
    # -b or not, it waits for the link before it gives up (dhclient.c main())
    assert time.monotonic() - start >= 0.5
    assert (status, err) == (1, f"lagg0: no link ...{'.' * 11} giving up\n")
    sim.set_link_wait(0)
    assert sim.dhclients() == {}
    # like the real one, it wrote its pid file before it gave up
    assert (root / "var/run/dhclient/dhclient.lagg0.pid").exists()
    # an hn whose VF carries the traffic has no link either
    sim.add_interface("hn0")
    sim.add_vf("hn0", "mce0")
    run(root, "ifconfig", "mce0", "up")
    assert run(root, "dhclient", "hn0")[0] == 1
    run(root, "ifconfig", "lagg0", "laggport", "hn0", "laggport", "mce0", "up")
    assert run(root, "dhclient", "-b", "lagg0") == (0, "", "")
    assert list(sim.dhclients()) == ["lagg0"]


def test_dhclient_lease_details(sim, root):
    sim.add_interface("hn0", inet=["192.168.1.5/24"])
    sim.add_interface("hn1", inet=["10.9.0.5/16"])
    sim.add_route("default", "192.168.1.1", "hn0")
    sim.set_lease("hn1", "10.9.0.7/16", "10.9.0.1", dns=["10.9.0.2", "10.9.0.3"],
                  domain="example.net")  # fmt: skip
    assert run(root, "dhclient", "hn1")[0] == 0
    # the first address was replaced; the default route via hn0 stays
    assert inet_lines(sim, "hn1") == [
        "inet 10.9.0.7 netmask 0xffff0000 broadcast 10.9.255.255"
    ]
    assert [r["gateway"] for r in sim.routes()] == ["192.168.1.1"]
    assert (root / "etc/resolv.conf").read_text() == (
        "search example.net\nnameserver 10.9.0.2\nnameserver 10.9.0.3\n"
    )
    # the lease database, as write_client_lease() writes it
    assert (root / "var/db/dhclient.leases.hn1").read_text().splitlines()[:5] == [
        "lease {",
        '  interface "hn1";',
        "  fixed-address 10.9.0.7;",
        "  option subnet-mask 255.255.0.0;",
        "  option routers 10.9.0.1;",
    ]
    # no lease: dhclient keeps running without an address
    sim.add_interface("hn2")
    assert run(root, "dhclient", "-b", "hn2")[0] == 0
    assert sim.interface("hn2")["inet"] == []
    assert set(sim.dhclients()) == {"hn1", "hn2"}


def test_dhclient_pidfiles_old_and_new(sim, root):
    sim.add_interface("hn0")
    old = sim.start_dhclient("hn0", pidfile="old")
    assert (root / "var/run/dhclient.hn0.pid").read_text() == f"{old}\n"
    # a current dhclient locks the new path only, as the real one does
    assert run(root, "dhclient", "hn0")[0] == 0
    assert len([p for p in sim.processes().values() if p == "dhclient: hn0"]) == 2
    status, _, err = run(root, "dhclient", "-p", "/var/run/dhclient.hn0.pid", "hn0")
    assert (status, err) == (1, f"dhclient already running, pid: {old}.\nexiting.\n")
    status, _, err = run(root, "dhclient")
    assert status == 1
    assert err == "usage: dhclient [-bdqu] [-c conffile] [-l leasefile] interface\n"


def test_kill(sim, root):
    sim.add_process(4242, "/usr/sbin/syslogd -s")
    assert run(root, "kill", "-0", "4242") == (0, "", "")
    assert 4242 in sim.processes()
    assert run(root, "kill", "4242") == (0, "", "")
    assert sim.processes() == {}
    assert run(root, "kill", "4242") == (2, "", "kill: 4242: No such process\n")
    assert sim.mutating_calls() == [{"argv": ["kill", "4242"], "status": 0}]


def test_api_shapes(sim, root):
    got = sim.add_interface("hn0", ether="00:15:5D:0A:0B:0C", inet=["10.0.0.4/24"])
    assert got["ether"] == HN0_MAC
    assert got["inet"] == [{"address": "10.0.0.4", "prefixlen": 24}]
    assert got["index"] == 2
    assert sim.interface("nope") is None
    assert sim.ifconfig_text("nope") is None
    assert sim.sysctl("dev.hn.0.vf") == ""
    assert run(root, "ifconfig")[1] == sim.ifconfig_text()
    with pytest.raises(ValueError):
        sim.add_interface("hn0")
    with pytest.raises(ValueError):
        sim.add_vf("hn9", "mce0")
    state = sim.state()
    assert set(state) >= {"interfaces", "sysctls", "routes", "processes", "log"}
    # destroyed indexes are reused, the lowest first (if_alloc)
    run(root, "ifconfig", "lagg0", "create")
    run(root, "ifconfig", "lagg1", "create")
    run(root, "ifconfig", "lagg0", "destroy")
    run(root, "ifconfig", "lagg2", "create")
    assert sim.interface("lagg2")["index"] == 3


def test_failure_injection_is_per_prefix(hn0, root):
    hn0.fail(["route", "add"], "route: writing to routing socket: boom", status=1)
    assert run(root, "route", "add", "default", "10.0.0.9") == (
        1,
        "",
        "route: writing to routing socket: boom\n",
    )
    assert run(root, "route", "-n", "get", "default")[0] == 0
    assert len(hn0.routes()) == 1
    assert hn0.mutating_calls() == [
        {"argv": ["route", "add", "default", "10.0.0.9"], "status": 1}
    ]


def test_injected_failures_are_classified(hn0, root):
    hn0.fail(["ifconfig"], "ifconfig: boom")
    hn0.fail(["sysctl"], "sysctl: boom")
    for args in (["hn0"], ["hn0", "inet6"], ["-l"], []):
        assert run(root, "ifconfig", *args)[0] == 1
    assert run(root, "sysctl", "-n", "kern.vm_guest")[0] == 1
    assert hn0.mutating_calls() == []
    assert run(root, "ifconfig", "hn0", "down")[0] == 1
    assert run(root, "sysctl", "kern.hostname=x")[0] == 1
    assert [c["argv"][1] for c in hn0.mutating_calls()] == ["hn0", "kern.hostname=x"]
    assert hn0.interface("hn0")["up"] is True


def test_lladdr_and_vlan(hn0, root):
    assert run(root, "ifconfig", "hn0", "ether", "02:00:00:00:00:01") == (0, "", "")
    text = hn0.ifconfig_text("hn0")
    assert f"\tether 02:00:00:00:00:01\n\thwaddr {HN0_MAC}\n" in text
    status, out, err = run(
        root, "ifconfig", "vlan5", "create", "vlan", "5", "vlandev", "hn0"
    )
    assert (status, out, err) == (0, "", "")
    text = hn0.ifconfig_text("vlan5")
    assert "\tvlan: 5 vlanproto: 802.1q vlanpcp: 0 parent interface: hn0\n" in text
    assert "\tgroups: vlan\n" in text
    assert hn0.events()[-1] == {
        "system": "ETHERNET",
        "subsystem": "vlan5",
        "type": "IFATTACH",
    }


# ---------------------------------------------------------------------------
# IPv6 as current FreeBSD's hyperv_vfup and network.subr drive it


@pytest.fixture
def hn0v6(sim):
    """hn0 with IPv6 enabled: its link-local address and a global one."""
    sim.add_interface("hn0", ether=HN0_MAC, inet6=["2001:db8::4/64"])
    sim.pop_events()
    return sim


def test_ifdisabled_marks_addresses_tentative_and_deletes_none(hn0v6, root):
    # nd6_ioctl(SIOCSIFINFO_FLAGS), sys/netinet6/nd6.c: 0->1 marks tentative.
    assert run(root, "ifconfig", "hn0", "inet6", "ifdisabled") == (0, "", "")
    assert inet_lines(hn0v6, "hn0") == [
        "inet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 tentative scopeid 0x2",
        "inet6 2001:db8::4 prefixlen 64 tentative",
    ]
    assert "nd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>" in (
        hn0v6.ifconfig_text("hn0")
    )
    # 1->0 on an up interface: in6_if_up(), DAD, the addresses are usable.
    assert run(root, "ifconfig", "hn0", "inet6", "-ifdisabled") == (0, "", "")
    assert inet_lines(hn0v6, "hn0") == [
        "inet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2",
        "inet6 2001:db8::4 prefixlen 64",
    ]


def test_ifdisabled_with_no_dad_marks_nothing(hn0v6, root):
    run(root, "ifconfig", "hn0", "inet6", "no_dad", "ifdisabled")
    assert "tentative" not in hn0v6.ifconfig_text("hn0")


def test_accept_rtadv_is_a_flag_only(hn0v6, root):
    assert run(root, "ifconfig", "hn0", "inet6", "accept_rtadv")[0] == 0
    assert "ACCEPT_RTADV" in hn0v6.ifconfig_text("hn0")
    hn0v6.set_router_advertisement("hn0", "2001:db8:1::/64", "fe80::1")
    run(root, "rtsol", "hn0")
    assert run(root, "ifconfig", "hn0", "inet6", "-accept_rtadv")[0] == 0
    text = hn0v6.ifconfig_text("hn0")
    assert "ACCEPT_RTADV" not in text
    assert "inet6 2001:db8:1:0:215:5dff:fe0a:b0c prefixlen 64 autoconf" in text


def test_eui64_address_from_a_prefix(hn0v6, root):
    # setip6eui64(), sbin/ifconfig/af_inet6.c, as network.subr's
    # ipv6_prefix_hostid_addr_common() runs it.
    argv = ["hn0", "inet6", "2001:db8:5::", "prefixlen", "64", "eui64", "alias"]
    assert run(root, "ifconfig", *argv) == (0, "", "")
    assert "inet6 2001:db8:5:0:215:5dff:fe0a:b0c prefixlen 64" in inet_lines(
        hn0v6, "hn0"
    )
    err = "ifconfig: interface index is already filled\n"
    assert run(root, "ifconfig", "hn0", "inet6", "2001:db8:6::1", "eui64") == (
        1,
        "",
        err,
    )
    err = "ifconfig: eui64 not allowed for the AF\n"
    assert run(root, "ifconfig", "hn0", "inet", "10.0.0.4", "eui64") == (1, "", err)


def test_eui64_needs_a_link_local_address(sim, root):
    sim.add_interface("hn0", ether=HN0_MAC)  # IPv6 disabled: no link-local
    err = "ifconfig: could not determine link local address\n"
    argv = ["hn0", "inet6", "2001:db8:5::/64", "eui64"]
    assert run(root, "ifconfig", *argv) == (1, "", err)
    assert sim.interface("hn0")["inet6"] == []


def test_rtsol_learns_the_advertised_prefix_and_router(hn0v6, root):
    run(root, "ifconfig", "hn0", "inet6", "accept_rtadv")
    assert run(root, "rtsol", "hn0") == (0, "", "")  # no router: nothing
    assert [a["address"] for a in hn0v6.interface("hn0")["inet6"]] == [
        "fe80::215:5dff:fe0a:b0c",
        "2001:db8::4",
    ]
    assert hn0v6.routes() == []
    hn0v6.set_router_advertisement("hn0", "2001:db8:1::/64", "fe80::1")
    assert run(root, "rtsol", "-i", "hn0") == (0, "", "")
    assert "inet6 2001:db8:1:0:215:5dff:fe0a:b0c prefixlen 64 autoconf" in (
        inet_lines(hn0v6, "hn0")
    )
    routes = [(r["destination"], r["gateway"], r["interface"]) for r in hn0v6.routes()]
    assert routes == [("default", "fe80::1%hn0", "hn0")]


def test_rtsol_gives_up_on_disabled_or_non_accepting_interfaces(sim, root):
    sim.add_interface("hn0", ether=HN0_MAC)
    sim.set_router_advertisement("hn0", "2001:db8:1::/64", "fe80::1")
    assert run(root, "rtsol", "hn0") == (0, "", "rtsol: hn0 is disabled.\n")
    run(root, "ifconfig", "hn0", "inet6", "-ifdisabled")
    err = "rtsol: hn0 does not accept Router Advertisement.\n"
    assert run(root, "rtsol", "hn0") == (0, "", err)
    assert sim.routes() == []
    # -F sets both flags (rtsold.c ifconfig(), if.c interface_up()).
    assert run(root, "rtsol", "-F", "hn0") == (0, "", "")
    assert "ACCEPT_RTADV" in sim.ifconfig_text("hn0")
    assert len(sim.routes()) == 1


def test_rtsol_usage_and_unknown_interface(sim, root):
    status, out, err = run(root, "rtsol")
    assert (status, out) == (1, "")
    assert err.startswith("usage: rtsol [-dDF]")
    assert run(root, "rtsol", "-x", "lo0")[0] == 1
    err = (
        "rtsol: failed to get link layer information for hn9\n"
        "rtsol: failed to initialize hn9\n"
    )
    assert run(root, "rtsol", "hn9") == (1, "", err)


def test_lagg_purges_a_joining_ports_ipv6_unless_disabled(sim, root):
    # lagg_ioctl(SIOCSLAGGPORT), sys/net/if_lagg.c: in6ifa_llaonifp(), which
    # finds nothing on an IFDISABLED interface, then in6_ifdetach(), whose
    # nd6_purge() takes the routers learned on the port; static routes stay.
    sim.add_interface("hn0", ether=HN0_MAC, inet6=["2001:db8::4/64"])
    sim.add_interface("hn1", ether="00:15:5d:00:00:02", inet6=["2001:db8:2::4/64"])
    sim.add_route("2001:db8:9::/48", "2001:db8:2::1", "hn1", inet6=True)
    run(root, "ifconfig", "hn0", "inet6", "accept_rtadv")
    sim.set_router_advertisement("hn0", None, "fe80::1")
    run(root, "rtsol", "hn0")
    assert sorted(r["gateway"] for r in sim.routes()) == [
        "2001:db8:2::1",
        "fe80::1%hn0",
    ]
    run(root, "ifconfig", "hn1", "inet6", "ifdisabled")
    run(root, "ifconfig", "lagg0", "create")
    assert run(root, "ifconfig", "lagg0", "laggport", "hn1")[0] == 0
    assert [a["address"] for a in sim.interface("hn1")["inet6"]] == [
        "fe80::215:5dff:fe00:2",
        "2001:db8:2::4",
    ]
    run(root, "ifconfig", "lagg1", "create")
    assert run(root, "ifconfig", "lagg1", "laggport", "hn0")[0] == 0
    assert sim.interface("hn0")["inet6"] == []
    assert [r["gateway"] for r in sim.routes()] == ["2001:db8:2::1"]


def test_user_localbase(sim, root):
    # sys/kern/kern_mib.c (FreeBSD 13+): what current defaults/rc.conf asks.
    assert run(root, "sysctl", "-n", "user.localbase") == (0, "/usr/local\n", "")
    sim.remove_sysctl("user.localbase")
    err = "sysctl: unknown oid 'user.localbase'\n"
    assert run(root, "sysctl", "-n", "user.localbase") == (1, "", err)
