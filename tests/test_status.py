"""hvtools status: the table and the warnings (pure), the applet on the
example VM, and on the simulator after a VF bring-up."""

import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import pytest
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
