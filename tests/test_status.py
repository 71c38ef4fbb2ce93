"""hvtools status: the table and the warnings (pure), the applet on the
example VM, and on the simulator after a VF bring-up."""

import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import pytest
import test_boot
from vfvm import VM

import build
import freebsdsh
import hvtools
from conftest import hv_env

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(TOP, "examples", "azure-vm")

IFCONFIG = """\
hn0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	ether 00:15:5d:0a:0b:0c
	inet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2
mce0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	ether 00:15:5d:0a:0b:0c
hn1: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	ether 00:15:5d:0a:0b:0d
	inet 10.1.0.4 netmask 0xffffff00 broadcast 10.1.0.255
lagg0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	ether 00:15:5d:0a:0b:0c
	inet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255
	inet6 fe80::215:5dff:fe0a:b0c%lagg0 prefixlen 64 scopeid 0x5
	inet6 2001:db8::4 prefixlen 64
	laggproto failover lagghash l2,l3,l4
	laggport: mce0 flags=5<MASTER,ACTIVE>
	laggport: hn0 flags=0<>
lo0: flags=8049<UP,LOOPBACK,RUNNING,MULTICAST> metric 0 mtu 16384
	inet 127.0.0.1 netmask 0xff000000
"""

ENV = {
    "ifconfig_hn0": "SYNCDHCP",
    "ifconfig_hn1": "inet 10.1.0.4/24",
    "hyperv_vf_delay": "120",
}


def rows(vfs=None, env=None, text=IFCONFIG):
    vfs = {"hn0": "mce0", "hn1": ""} if vfs is None else vfs
    return hvtools.status_rows(
        hvtools.parse_ifconfig(text), vfs, ENV if env is None else env
    )


def test_rows_show_each_hn_with_its_vf_lagg_and_addresses():
    hn0, hn1 = rows()
    assert (hn0.name, hn0.ether, hn0.vf, hn0.lagg) == (
        "hn0",
        "00:15:5d:0a:0b:0c",
        "mce0",
        "lagg0",
    )
    assert hn0.ports == ["mce0", "hn0"]
    # The lagg carries hn0's addresses; link-local ones are left out.
    assert hn0.addresses == ["10.0.0.4/24", "2001:db8::4/64"]
    assert hn0.mode == "DHCP"
    assert (hn1.vf, hn1.lagg, hn1.ports) == (None, None, [])
    assert hn1.addresses == ["10.1.0.4/24"]
    assert hn1.mode == "static"


@pytest.mark.parametrize(
    ("env", "mode"),
    [
        ({"ifconfig_hn1": "DHCP"}, "DHCP"),
        ({"ifconfig_DEFAULT": "SYNCDHCP"}, "DHCP"),
        ({"ifconfig_hn1_ipv6": "inet6 2001:db8::5/64"}, "static"),
        ({}, "none"),
    ],
)
def test_mode_follows_rc_conf(env, mode):
    assert rows(env=env)[1].mode == mode


def test_table_is_aligned():
    text = hvtools.format_status(rows())
    lines = text.splitlines()
    assert lines[0].split() == ["IF", "MAC", "VF", "LAGG", "PORTS", "MODE", "ADDRESSES"]
    assert lines[1].split() == [
        "hn0",
        "00:15:5d:0a:0b:0c",
        "mce0",
        "lagg0",
        "mce0,hn0",
        "DHCP",
        "10.0.0.4/24",
        "2001:db8::4/64",
    ]
    assert lines[2].split() == [
        "hn1",
        "00:15:5d:0a:0b:0d",
        "-",
        "-",
        "-",
        "static",
        "10.1.0.4/24",
    ]
    column = lines[0].index("MODE")
    assert all(line[column - 2 : column] == "  " for line in lines)
    assert lines[1][column:].startswith("DHCP")


def warnings(transparent=False, vflist="mce0", env=ENV, text=IFCONFIG):
    found = rows(env=env, text=text)
    return hvtools.status_warnings(found, env, transparent, vflist)


def test_no_warnings_when_all_is_well():
    assert warnings() == []


def test_warns_of_transparent_mode():
    (warning,) = warnings(transparent=True)
    assert "hw.hn.vf_transparent" in warning


def test_warns_of_an_old_kernel():
    (warning,) = warnings(vflist=None)
    assert "hw.hn.vflist" in warning


@pytest.mark.parametrize("delay", [None, "", "1", "0", "abc", "-5"])
def test_warns_of_hyperv_vf_delay_unset_or_below_2(delay):
    env = dict(ENV)
    if delay is None:
        del env["hyperv_vf_delay"]
    else:
        env["hyperv_vf_delay"] = delay
    (warning,) = warnings(env=env)
    assert warning.startswith("hyperv_vf_delay ")


@pytest.mark.parametrize("missing", ["mce0", "hn0"])
def test_warns_of_a_lagg_missing_a_port(missing):
    text = IFCONFIG.replace(f"\tlaggport: {missing} ", "\tnotaport: ")
    assert warnings(text=text) == [f"lagg0 lacks port {missing}"]


def test_warns_of_a_lagg_port_with_addresses_of_its_own():
    # What a dhclient on the port leaves (tests/test_linkup.py); its
    # link-local address is the kernel's, not a warning of its own.
    text = IFCONFIG.replace(
        "\tinet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2\n",
        "\tinet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2\n"
        "\tinet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255\n",
    )
    assert rows(text=text)[0].port_addresses == ["10.0.0.4/24"]
    assert warnings(text=text) == [
        "hn0, a port of lagg0, has addresses of its own: 10.0.0.4/24"
    ]
    assert rows()[0].port_addresses == []
    # not a port (a lagg that lacks it): warned about as such
    text = text.replace("\tlaggport: hn0 ", "\tnotaport: ")
    assert warnings(text=text) == ["lagg0 lacks port hn0"]


def test_warns_of_a_vf_without_its_lagg():
    text = IFCONFIG.replace("lagg0:", "other0:")
    assert warnings(text=text) == [
        "hn0 has VF mce0 but no lagg0: VF_UP was not handled"
    ]
    # In transparent mode there is never a lagg.
    assert len(warnings(text=text, transparent=True)) == 1


# The applet


def status(root, dist, *args):
    return subprocess.run(
        [str(dist / "hvtools"), "status", *args],
        env=hv_env(root),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_on_the_example_vm(dist):
    result = status(EXAMPLE, dist)
    # Nothing is installed in the example: status says so, and fails.
    assert result.returncode == hvtools.EX_CONFIG, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split()[:6] == [
        "hn0",
        "00:0d:3a:12:34:56",
        "mce0",
        "-",
        "-",
        "DHCP",
    ]
    assert lines[2].split()[5:] == ["static", "10.1.0.4/24", "2001:db8:1::4/64"]
    assert len([line for line in lines if line.startswith("hn")]) == 2
    warned = [line for line in lines if line.startswith("warning: ")]
    assert len(warned) == 1
    assert "hw.hn.vf_transparent" in warned[0]
    problems = [line for line in lines if line.startswith("problem: ")]
    assert any("devd rules are not installed" in line for line in problems)
    assert all(line.endswith(f"(fix: {hvtools.ACTIVATE})") for line in problems[:-1])


def test_status_takes_no_arguments(dist):
    result = status(EXAMPLE, dist, "hn0")
    assert result.returncode == hvtools.EX_USAGE
    assert result.stderr.startswith("status: usage")


def test_status_is_not_linked(dist):
    assert not (dist / "status").exists()
    assert "status" not in hvtools.linked_applets()


# On the simulator, after devd brought a VF up


def status_table(vm):
    result = subprocess.run(
        [f"{vm.root}/usr/libexec/hyperv/hvtools", "status"],
        env=vm.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (0, "")
    lines = result.stdout.splitlines()
    ours = ("warning: ", "boot: ", "drift: ")
    table = [line.split() for line in lines if not line.startswith(ours)]
    return table, [line for line in lines if line.startswith("warning: ")]


def test_status_after_a_vf_bring_up(root, dist, sim):
    vm = VM(root, dist, sim)
    vm.rc_conf(
        'ifconfig_hn0="DHCP"\nifconfig_hn1="inet 10.1.0.4/24"\nhyperv_vf_delay="120"\n'
    )
    sim.add_interface("hn0", ether="00:15:5d:00:00:01", inet=["10.0.0.4/24"])
    sim.add_interface("hn1", ether="00:15:5d:00:00:02", inet=["10.1.0.4/24"])
    sim.set_lease("lagg0", "10.0.0.4/24")
    sim.add_vf("hn0", "mce0")
    sim.pop_events()
    assert vm.program("/sbin/ifconfig", "mce0", "up").returncode == 0
    vm.devd.pump()
    mark = len(sim.calls())
    table, warned = status_table(vm)
    assert table[1:] == [
        [
            "hn0",
            "00:15:5d:00:00:01",
            "mce0",
            "lagg0",
            "hn0,mce0",
            "DHCP",
            "10.0.0.4/24",
        ],
        ["hn1", "00:15:5d:00:00:02", "-", "-", "-", "static", "10.1.0.4/24"],
    ]
    assert warned == []
    assert vm.mutations_since(mark) == []
    # Migration: the VF leaves, and comes back before its VF_UP is handled.
    sim.detach_vf("mce0")
    assert status_table(vm)[0][1][2:5] == ["-", "lagg0", "hn0"]
    sim.add_vf("hn0", "mce0")
    table, warned = status_table(vm)
    assert table[1][2:5] == ["mce0", "lagg0", "hn0"]
    assert warned == ["warning: lagg0 lacks port mce0"]


def test_status_warns_on_the_simulator(root, dist, sim):
    vm = VM(root, dist, sim)
    sim.set_transparent(1)
    sim.add_interface("hn0")
    _, warned = status_table(vm)
    assert len(warned) == 2
    assert "hw.hn.vf_transparent" in warned[0]
    assert warned[1].startswith("warning: hyperv_vf_delay is unset")


# The installation checks, on an image staged by the default install


@pytest.fixture
def image(dist, tmp_path):
    """A mounted image (empty /dev) with the base scripts, a python3
    package and hvtools installed by default."""
    root = tmp_path / "img"
    base = root / "usr/libexec/hyperv"
    base.mkdir(parents=True)
    for name in hvtools.linked_applets():
        (base / name).write_text("#!/bin/sh\n")
    (root / "dev").mkdir()
    (root / "etc/devd").mkdir(parents=True)
    # FreeBSD 12.1's own rules: the VF events at priority 10, no $vm_guest.
    shutil.copyfile(f"{freebsdsh.FREEBSD}/hyperv/devd-hyperv.conf",
                    root / "etc/devd/hyperv.conf")  # fmt: skip
    python = root / "usr/local/bin/python3.11"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\n")
    python.chmod(0o755)
    (root / "etc/rc.conf").write_text('ifconfig_hn0="DHCP"\n')
    build.install(str(root), "/usr/local", False, str(dist))
    return root


def problems(root, dist):
    result = status(root, dist, "--json")
    report = json.loads(result.stdout)
    assert result.returncode == (hvtools.EX_CONFIG if report["problems"] else 0)
    return report


def test_a_default_install_passes_on_an_image(image, dist):
    report = problems(image, dist)
    assert report["problems"] == []
    assert report["image"] is True
    assert report["interfaces"] == []
    assert "image" in report["skipped"][0]
    assert report["boot"]["interfaces"] == [
        {"name": "hn0", "mode": "DHCP", "inet": [], "inet6": [], "accept_rtadv": False}
    ]
    assert report["drift"] == []
    text = status(image, dist)
    assert text.returncode == 0
    lines = text.stdout.splitlines()
    assert lines[0] == "boot: hn0  DHCP  -"
    assert lines[-1].startswith("skipped: ")


def test_a_base_script_put_back_fails(image, dist):
    script = image / "usr/libexec/hyperv/hv_set_ifconfig"
    script.unlink()
    script.write_text("#!/bin/sh\n. $1\n")
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_daemon_links"
    assert problem["problem"].startswith("/usr/libexec/hyperv/hv_set_ifconfig ")
    assert problem["fix"] == hvtools.ACTIVATE
    lines = status(image, dist).stdout.splitlines()
    assert f"problem: {problem['problem']} (fix: {hvtools.ACTIVATE})" in lines


def test_missing_rules_fail(image, dist):
    (image / "usr/local/etc/devd/hvtools.conf").unlink()
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_devd_rules"
    assert "not installed" in problem["problem"]


def test_rules_that_cannot_fire_on_12_fail(image, dist):
    rules = image / "usr/local/etc/devd/hvtools.conf"
    rules.write_text(rules.read_text().replace('"(hv)?"', '"hv"'))
    (problem,) = problems(image, dist)["problems"]
    assert problem["problem"] == (
        "/etc/devd/hyperv.conf's rule (priority 10) outranks hvtools' on "
        "ETHERNET/IFATTACH on FreeBSD 12's devd (no $vm_guest)"
    )


def test_rules_outranked_fail(image, dist):
    rules = image / "usr/local/etc/devd/hvtools.conf"
    rules.write_text(rules.read_text().replace("notify 20", "notify 5"))
    found = problems(image, dist)["problems"]
    assert len(found) == 2
    assert all("outranks hvtools'" in p["problem"] for p in found)


def test_rules_running_something_else_fail(image, dist):
    (image / "usr/local/libexec/hyperv/hyperv_vfup").unlink()
    found = [p["problem"] for p in problems(image, dist)["problems"]]
    assert found == [
        "devd runs /usr/local/libexec/hyperv/hyperv_vfup on HYPERV_NIC_VF/VF_UP: "
        "not hvtools"
    ]


def test_no_python_fails(image, dist):
    (image / "usr/local/bin/python3.11").unlink()
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_python"
    assert problem["fix"] == "pkg install python3"
    # A python3 on the daemon's PATH will do.
    (image / "usr/bin").mkdir()
    (image / "usr/bin/python3").symlink_to("../local/bin/python3.9")
    (image / "usr/local/bin/python3.9").write_text("#!/bin/sh\n")
    (image / "usr/local/bin/python3.9").chmod(0o755)
    assert problems(image, dist)["problems"] == []


def test_unreadable_rc_conf_fails(image, dist):
    (image / "etc/rc.conf").unlink()
    (image / "etc/rc.conf").mkdir()
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_rc_conf"


def test_resolve_in_root_follows_links_inside_the_root(tmp_path, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(tmp_path))
    (tmp_path / "a/b").mkdir(parents=True)
    (tmp_path / "a/b/f").touch()
    (tmp_path / "abs").symlink_to("/a/b/f")
    (tmp_path / "a/rel").symlink_to("b/../b/f")
    (tmp_path / "loop").symlink_to("loop")
    assert hvtools.resolve_in_root("/abs") == "/a/b/f"
    assert hvtools.resolve_in_root("/a/rel") == "/a/b/f"
    assert hvtools.resolve_in_root("/loop") is None
    assert hvtools.resolve_in_root("/nothing") is None


# Bytecode for the Python the launcher picks (the KVP daemon's)


def executable(path, text="#!/bin/sh\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)


def archive_with(tmp_path, *tags):
    """A program as build.py makes it: the preamble naming the bytecode of
    each cache tag, then a zip archive."""
    path = tmp_path / f"hvtools-{'-'.join(tags)}"
    with open(path, "wb") as f:
        f.write(build.preamble(bytecode=[(tag, 0, 0, 0) for tag in tags]))
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("site-packages/hvtools.py", "")
    return str(path)


def test_carried_pythons_are_read_from_the_archive(tmp_path):
    archive = archive_with(tmp_path, "cpython-311", "cpython-39", "pypy39")
    assert hvtools.carried_pythons(archive) == [(3, 9), (3, 11)]
    assert hvtools.carried_pythons(str(tmp_path / "missing")) == []
    (tmp_path / "text").write_text("not a zip\n")
    assert hvtools.carried_pythons(str(tmp_path / "text")) == []
    cut = tmp_path / "truncated"  # the preamble, but no archive after it
    cut.write_bytes(pathlib.Path(archive).read_bytes()[:600])
    assert hvtools.carried_pythons(str(cut)) == []


@pytest.mark.parametrize(
    "present, chosen",
    [
        ([], None),
        (["usr/local/bin/python3.9", "usr/local/bin/python3.11"],
         "/usr/local/bin/python3.11"),
        (["usr/local/bin/python3.11", "usr/local/bin/python3"],
         "/usr/local/bin/python3"),
        (["usr/local/bin/python3", "usr/bin/python3"], "/usr/bin/python3"),
    ],
)  # fmt: skip
def test_launcher_python_follows_its_search(root, monkeypatch, present, chosen):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    for path in present:
        executable(root / path)
    assert hvtools.launcher_python() == chosen
    (root / "usr/local/bin").mkdir(parents=True, exist_ok=True)
    (root / "usr/local/bin/python3.12").write_text("not executable\n")
    assert hvtools.launcher_python() == chosen


def test_python_version_follows_links_inside_the_root(root, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    bindir = root / "usr/local/bin"
    executable(bindir / "python3.11")
    (bindir / "python3").symlink_to("python3.11")
    (bindir / "python").symlink_to("/usr/local/bin/python3")
    (bindir / "loop").symlink_to("loop")
    assert hvtools.python_version("/usr/local/bin/python") == (3, 11)
    assert hvtools.python_version("/usr/local/bin/loop") is None
    assert hvtools.python_version("/usr/bin/python3") is None


def test_warns_when_the_launchers_python_has_no_bytecode(root, monkeypatch, tmp_path):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    executable(root / "usr/local/bin/python3.11")
    archive = archive_with(tmp_path, "cpython-39", "cpython-312")
    (warning,) = hvtools.bytecode_warnings(archive, "/usr/local/bin/python3.11")
    assert "/usr/local/bin/python3.11 is Python 3.11" in warning
    assert "python3 build.py" in warning
    carried = archive_with(tmp_path, "cpython-311")
    assert hvtools.bytecode_warnings(carried, "/usr/local/bin/python3.11") == []
    assert hvtools.bytecode_warnings(None, "/usr/local/bin/python3.11") == []
    assert hvtools.bytecode_warnings(archive, None) == []


def test_status_warns_of_a_python_without_bytecode(image, dist):
    # The launcher takes /usr/local/bin/python3 first: here, Python 3.8.
    executable(image / "usr/local/bin/python3.8")
    (image / "usr/local/bin/python3").symlink_to("python3.8")
    result = status(image, dist)
    assert result.returncode == 0, result.stdout
    (warned,) = [w for w in result.stdout.splitlines() if "bytecode" in w]
    assert warned.startswith("warning: /usr/local/bin/python3 is Python 3.8,")
    assert f"{image}/usr/local/libexec/hyperv/hvtools" in warned


# The boot preview against FreeBSD's own boot (tests/test_boot.py's harness:
# 12.1's rc.d/netif, rc.d/routing and rc.d/dhclient on the simulator).  Each
# root puts several rc.conf forms on its six NICs: one boot checks them all.

SIX_NICS = {f"hn{n}": f"00:0d:3a:00:01:{n:02x}" for n in range(6)}

ORACLE_ROOTS = {
    "files": (
        {
            "rc.conf": 'ifconfig_hn0="DHCP"\n'
            'ifconfig_hn1="SYNCDHCP"\n'
            # inet A netmask M; aliases in both spellings, after a gap
            # (alias3 after the unset alias2), not after an empty one (alias4).
            'ifconfig_hn2="inet 10.0.2.4 netmask 255.255.255.0"\n'
            'ifconfig_hn2_alias0="inet 10.0.2.5 netmask 0xffffffff"\n'
            'ifconfig_hn2_alias1="10.0.2.6/32"\n'
            'ifconfig_hn2_alias12="inet 10.0.2.8/32"\n'
            'ifconfig_hn2_alias4=""\n'
            'ifconfig_hn2_alias3="inet 10.0.2.9/32"\n'
            'ifconfig_hn3="inet 10.0.3.4/24"\n'
            'ifconfig_DEFAULT="DHCP"\n',
            "rc.conf.local": 'ifconfig_hn3="inet 10.0.3.9/25"\n'
            'ipv6_defaultrouter="2001:db8:4::1"\n',
            "rc.conf.d/netif": 'ifconfig_hn4="inet 10.0.4.4/24"\n'
            'ifconfig_hn4_ipv6="inet6 2001:db8:4::4 prefixlen 64"\n'
            # rc.d/routing does not read netif's file.
            'defaultrouter="10.0.4.9"\n',
            "rc.conf.d/routing": 'defaultrouter="10.0.3.1"\n',
        },
        {"hn0": ("10.0.0.7/24",), "hn1": ("10.0.1.7/24",), "hn5": ("10.0.5.7/24",)},
    ),
    "forms": (
        {
            "rc.conf": 'ifconfig_hn0="inet 10.1.0.4 netmask 0xffffff00"\n'
            'ifconfig_hn0_aliases="inet 10.1.0.10/32 inet 10.1.0.11/32"\n'
            'ipv4_addrs_hn0="10.1.0.20/24"\n'
            'ifconfig_hn1="inet 192.168.1.4"\n'
            'ifconfig_hn2_ipv6="inet6 accept_rtadv"\n'
            'ifconfig_hn3="inet 10.1.3.4/24"\n'
            'ifconfig_hn3_ipv6="2001:db8:3::4/64"\n'
            'ifconfig_hn3_alias0="inet6 2001:db8:3::5 prefixlen 64"\n'
            'ifconfig_hn3_alias1="inet6 2001:db8:3::6/128"\n'
            'ifconfig_hn4="NOSYNCDHCP"\n'
            'ifconfig_hn5="DHCP"\n'
            'synchronous_dhclient="YES"\n'
            'defaultrouter="10.1.0.1"\n'
            'ipv6_defaultrouter="2001:db8:3::1"\n',
        },
        {"hn4": ("10.1.4.7/24",), "hn5": ("10.1.5.7/24",)},
    ),
}


@pytest.mark.parametrize("name", ORACLE_ROOTS)
def test_boot_preview_is_what_freebsd_boots(name, dist, tmp_path, monkeypatch):
    rc_conf, leases = ORACLE_ROOTS[name]
    monkeypatch.setattr(test_boot, "NICS", SIX_NICS)
    top = tmp_path / "boot"
    sim = test_boot.make_root(top, rc_conf, leases)
    before = json.loads(status(top, dist, "--json").stdout)["boot"]
    test_boot.boot(top)
    booted = test_boot.end_state(sim)
    report = json.loads(status(top, dist, "--json").stdout)
    assert report["boot"] == before
    got = {}
    for entry in before["interfaces"]:
        addresses = entry["inet"] + entry["inet6"]
        if entry["mode"] in ("DHCP", "SYNCDHCP"):
            addresses.append(leases[entry["name"]][0])
        got[entry["name"]] = sorted(addresses)
    assert got == {n: booted[n] for n in SIX_NICS}
    routers = [
        ("inet", before["defaultrouter"]),
        ("inet6", before["ipv6_defaultrouter"]),
    ]
    assert [(f, r) for f, r in routers if r] == [
        (f, g) for f, g, _ in booted["default"]
    ]
    rtadv = {e["name"]: e["accept_rtadv"] for e in before["interfaces"]}
    assert rtadv == {n: bool(sim.interface(n)["nd6"] & 0x2) for n in SIX_NICS}
    modes = {e["name"]: e["mode"] for e in before["interfaces"]}
    synchronous = {n for n in SIX_NICS if ["dhclient", n] in before_routing(sim)}
    assert synchronous == {n for n, m in modes.items() if m == "SYNCDHCP"}
    # The booted system is what its rc.conf boots: no drift.
    assert report["drift"] == []


def before_routing(sim):
    # The commands rc.d/netif ran: those before rc.d/routing's first route.
    argvs = [c["argv"] for c in sim.calls()]
    return argvs[: next(i for i, a in enumerate(argvs) if a[0] == "route")]


# Drift: the running system against its boot (pure)

NO_ROUTES = {"inet": None, "inet6": None}
HN0 = "hn0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500\n"
STATIC = {"ifconfig_hn0": "inet 10.0.0.4/24", "defaultrouter": "10.0.0.1"}
ROUTED = {"inet": ("10.0.0.1", "hn0"), "inet6": None}


def drift(env, lines, routes=ROUTED, leases=None, text=HN0):
    interfaces = hvtools.parse_ifconfig(text + "".join(f"\t{x}\n" for x in lines))
    preview = hvtools.boot_preview(
        env, env, resolvconf_conf=None, resolv=None, resolvconf=False,
        live=[n for n in interfaces if hvtools.is_hn(n)],
    )  # fmt: skip
    return hvtools.boot_drift(preview, interfaces, routes, leases or {})


def test_no_drift_when_live_is_boot():
    assert drift(STATIC, ["inet 10.0.0.4 netmask 0xffffff00"]) == []


def test_drift_an_address_live_but_not_configured():
    lines = ["inet 10.0.0.4 netmask 0xffffff00", "inet 10.0.0.99 netmask 0xffffffff"]
    assert drift(STATIC, lines) == [
        "hn0: 10.0.0.99/32 is live, not configured for boot"
    ]


def test_drift_an_address_configured_but_not_live():
    env = dict(STATIC, ifconfig_hn0_ipv6="inet6 2001:db8::4/64")
    assert drift(env, ["inet 10.0.0.4 netmask 0xffffff00"]) == [
        "hn0: 2001:db8::4/64 is configured for boot, not live"
    ]


@pytest.mark.parametrize(
    ("env", "routes", "expected"),
    [
        (STATIC, {"inet": ("10.0.0.9", "hn0")}, "the inet default route is 10.0.0.9; "
         "defaultrouter is 10.0.0.1"),
        (STATIC, NO_ROUTES, "no inet default route is live; defaultrouter is 10.0.0.1"),
        ({"ifconfig_hn0": "inet 10.0.0.4/24"}, ROUTED,
         "the inet default route via 10.0.0.1 has no defaultrouter"),
        (dict(STATIC, ipv6_defaultrouter="fe80::1%hn0"), ROUTED,
         "no inet6 default route is live; ipv6_defaultrouter is fe80::1%hn0"),
    ],
)  # fmt: skip
def test_drift_a_default_route_not_the_configured_one(env, routes, expected):
    assert drift(env, ["inet 10.0.0.4 netmask 0xffffff00"], routes) == [expected]


def test_no_drift_for_an_ipv6_router_with_its_scope():
    env = dict(STATIC, ipv6_defaultrouter="fe80::1%hn0")
    routes = dict(ROUTED, inet6=("fe80::1%hn0", "hn0"))
    assert drift(env, ["inet 10.0.0.4 netmask 0xffffff00"], routes) == []


def test_no_drift_for_carp_slaac_or_link_local():
    env = dict(STATIC, ifconfig_hn0_ipv6="inet6 accept_rtadv")
    lines = [
        "inet 10.0.0.4 netmask 0xffffff00",
        "inet 10.0.0.50 netmask 0xffffffff vhid 1",
        "inet6 fe80::1%hn0 prefixlen 64 scopeid 0x2",
        "inet6 2001:db8::215:5dff:fe0a:b0c prefixlen 64 autoconf",
        "inet6 2001:db8::50 prefixlen 64 vhid 2",
    ]
    assert drift(env, lines) == []


def test_no_drift_for_a_lease():
    # The lease's address and router belong to dhclient, not to rc.conf;
    # another address on the DHCP interface is drift.
    env = {"ifconfig_hn0": "DHCP"}
    live = ["inet 10.0.0.7 netmask 0xffffff00"]
    assert drift(env, live, leases={"hn0": "10.0.0.7"}) == []
    assert drift(env, live) == ["hn0: 10.0.0.7/24 is live, not configured for boot"]


def test_drift_of_an_hn_is_read_on_its_lagg():
    # After hyperv_vfup, hn0's configuration lives on lagg0, whose dhclient
    # keeps its own lease database.
    lagg = (
        "lagg0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0\n"
        "\tinet 10.0.0.7 netmask 0xffffff00\n\tinet 10.0.0.5 netmask 0xffffffff\n"
        "\tlaggport: hn0 flags=0<>\n"
    )
    env = {"ifconfig_hn0": "DHCP", "ifconfig_hn0_alias0": "inet 10.0.0.5/32"}
    assert drift(env, [], text=HN0 + lagg, leases={"lagg0": "10.0.0.7"}) == []
    env["ifconfig_hn0_alias0"] = "inet 10.0.0.6/32"
    assert drift(env, [], text=HN0 + lagg, leases={"lagg0": "10.0.0.7"}) == [
        "hn0 (on lagg0): 10.0.0.5/32 is live, not configured for boot",
        "hn0 (on lagg0): 10.0.0.6/32 is configured for boot, not live",
    ]


def test_status_shows_drift_on_the_simulator(root, dist, sim):
    vm = VM(root, dist, sim)
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\nhyperv_vf_delay="120"\n')
    sim.add_interface("hn0", inet=["10.0.0.4/24", "10.0.0.99/32"])
    report = json.loads(status(root, dist, "--json").stdout)
    assert report["drift"] == ["hn0: 10.0.0.99/32 is live, not configured for boot"]
    lines = status(root, dist).stdout.splitlines()
    assert "drift: hn0: 10.0.0.99/32 is live, not configured for boot" in lines
    assert "boot: hn0  static  10.0.0.4/24" in lines


# The boot preview (pure)


DHCP = {"ifconfig_hn0": "DHCP"}


@pytest.mark.parametrize(
    ("env", "resolvconf", "conf", "expected"),
    [
        (DHCP, True, 'name_servers="10.0.0.2 10.0.0.3"\n', ["10.0.0.2", "10.0.0.3"]),
        (DHCP, True, None, ["168.63.129.16"]),
        (DHCP, True, 'resolvconf="NO"\nname_servers="10.0.0.2"\n', ["168.63.129.16"]),
        (DHCP, False, 'name_servers="10.0.0.2"\n', ["168.63.129.16"]),
        # No lease at boot: resolvconf never runs, resolv.conf stays.
        (STATIC, True, 'name_servers="10.0.0.2"\n', ["168.63.129.16"]),
    ],
)  # fmt: skip
def test_boot_nameservers_are_resolvconfs_when_it_runs(env, resolvconf, conf, expected):
    preview = hvtools.boot_preview(
        env, {}, resolvconf_conf=conf, resolv="nameserver 168.63.129.16\n",
        resolvconf=resolvconf,
    )  # fmt: skip
    assert preview["nameservers"] == expected


def test_boot_preview_of_nothing():
    preview = hvtools.boot_preview(
        {"ifconfig_lo0": "inet 127.0.0.1", "defaultrouter": "NO"}, {},
        resolvconf_conf=None, resolv=None, resolvconf=False,
    )  # fmt: skip
    assert preview == {
        "interfaces": [],
        "defaultrouter": None,
        "ipv6_defaultrouter": None,
        "nameservers": [],
    }


# The image checks


def test_an_image_without_hn_fails(image, dist):
    (image / "etc/rc.conf").write_text('ifconfig_em0="DHCP"\n')
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_boot_interfaces"
    assert problem["fix"] == f'sysrc -R {image} ifconfig_hn0="DHCP"'


def test_an_image_configured_by_ifconfig_default_passes(image, dist):
    (image / "etc/rc.conf").write_text('ifconfig_DEFAULT="SYNCDHCP"\n')
    report = problems(image, dist)
    assert report["problems"] == []
    assert [(e["name"], e["mode"]) for e in report["boot"]["interfaces"]] == [
        ("hn0", "SYNCDHCP")
    ]


def test_an_image_static_without_a_router_fails(image, dist):
    (image / "etc/rc.conf").write_text('ifconfig_hn0="inet 10.0.0.4/24"\n')
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_boot_router"
    assert problem["problem"].startswith("hn0 is static and no default router")
    (image / "etc/rc.conf.d").mkdir()
    (image / "etc/rc.conf.d/routing").write_text('defaultrouter="10.0.0.1"\n')
    assert problems(image, dist)["problems"] == []


def test_an_image_with_an_unreadable_network_statement_fails(image, dist):
    (image / "etc/rc.conf").write_text(
        'ifconfig_hn0="DHCP"\nhostname=$(cat /etc/myname)\n'
        'ifconfig_hn1="inet $(cat /etc/hn1)"\n'
    )
    (problem,) = problems(image, dist)["problems"]
    assert problem["check"] == "check_boot_statements"
    assert problem["problem"].startswith("/etc/rc.conf:3: ")


# The demo, as a newcomer sees it


def test_demo_installs_a_copy_and_configures_an_image(dist, capfd):
    example = pathlib.Path(EXAMPLE)
    before = {p: p.read_bytes() for p in example.rglob("*") if p.is_file()}
    assert build.demo_story(str(dist)) == 0
    out = capfd.readouterr().out
    assert "problem:" not in out
    installed = out[out.index("HVTOOLS_ROOT=vm ") :]
    assert "boot: hn1  static    10.1.0.4/24 2001:db8:1::4/64" in installed
    rescued = out[out.index("HVTOOLS_ROOT=image ") :]
    assert "(image: written for the next boot)" in rescued
    boot = rescued[rescued.index("hvtools status") :].splitlines()[1:6]
    assert boot == [
        "boot: hn0  SYNCDHCP  -",
        "boot: hn1  static    10.1.0.4/24 10.1.0.5/24 2001:db8:1::4/64",
        "boot: defaultrouter 10.1.0.1",
        "boot: ipv6_defaultrouter 2001:db8:1::1",
        "boot: nameservers 10.1.0.2 168.63.129.16",
    ]
    assert {p: p.read_bytes() for p in example.rglob("*") if p.is_file()} == before
    # What the README quotes of it is what it prints (blanks at line ends,
    # which Markdown drops, aside).
    printed = [line.rstrip() for line in out.splitlines()]
    for command in ("hv_set_ifconfig --dry-run", "/mnt/img/usr/local"):
        quoted = readme_output(command)
        assert any(
            printed[i : i + len(quoted)] == quoted for i in range(len(printed))
        ), quoted


def readme_output(command):
    """The lines the README quotes under its `    $ ...COMMAND...` line: the
    code block's lines that follow, without their indent."""
    with open(os.path.join(TOP, "README.md")) as f:
        lines = f.read().splitlines()
    first = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("    $ ") and command in line
    )
    block = []
    for line in lines[first + 1 :]:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line[4:].rstrip())
    while block and not block[-1]:
        block.pop()
    return block
