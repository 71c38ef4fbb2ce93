"""hv_get_dhcp_info as hv_kvp_daemon runs it: the built program, a subprocess."""

import os
import pathlib
import shutil
import socket
import tempfile

import pytest

import freebsdsh
from conftest import TOP, Runner

VIAS = ["link", "sh", "hvtools"]
DEFAULTS = (
    'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\n'
    'synchronous_dhclient="NO"\n'
    'local_startup="/usr/local/etc/rc.d"\n'
)


def write(root, path, text):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(text.encode("utf-8", "surrogateescape"))


def answer(run, ifname, via="sh"):
    result = run("hv_get_dhcp_info", ifname, via=via)
    assert result.returncode == 0, result.stderr
    assert result.stdout in ("Enabled\n", "Disabled\n")
    return result.stdout == "Enabled\n"


@pytest.mark.parametrize("via", VIAS)
def test_the_example_vm(run, root, via):
    shutil.copytree(os.path.join(TOP, "examples/azure-vm"), root, dirs_exist_ok=True)
    answers = {
        name: run("hv_get_dhcp_info", name, via=via).stdout
        for name in ("hn0", "hn1", "hn2")
    }
    assert answers == {"hn0": "Enabled\n", "hn1": "Disabled\n", "hn2": "Disabled\n"}


@pytest.mark.parametrize(
    ("rc_conf", "ifname", "enabled"),
    [
        ('ifconfig_hn0="DHCP"\n', "hn0", True),
        ('ifconfig_hn0="SYNCDHCP"\n', "hn0", True),
        ("ifconfig_hn0=nosyncdhcp\n", "hn0", True),
        ('ifconfig_hn0="WPA DHCP"\n', "hn0", True),
        ('ifconfig_hn0="inet 10.0.0.5/24"\n', "hn0", False),
        ('ifconfig_hn0="DHCP"\n', "hn1", False),
        ("", "hn0", False),
        ('ifconfig_DEFAULT="DHCP"\n', "hn7", True),
        ('ifconfig_DEFAULT="DHCP"\nifconfig_hn7=""\n', "hn7", False),
        ('ifconfig_vlan0_100="DHCP"\n', "vlan0.100", True),
        ('ifconfig_lagg0_1="DHCP"\n', "lagg0-1", True),
        ('ifconfig_lo0="DHCP"\n', "lo0", False),
        ('ifconfig_wlan0="WPA SYNCDHCP"\n', "wlan0", True),
        ('ifconfig_wl0="DHCP"\n', "wl0", False),
        ('ifconfig_hn0="DHCP"\r\n', "hn0", False),  # sh keeps the \r
        ('ifconfig_hn0="DHCP"\nifconfig_hn0="up"\n', "hn0", False),
        ("dhcp=DHCP\nifconfig_hn0=${dhcp}\n", "hn0", True),
        ('ifconfig_hn0="${ifconfig_DEFAULT:-DHCP}"\n', "hn0", True),
        ("ifconfig_hn0=`echo DHCP`\n", "hn0", False),
        ('ifconfig_hn0="DHCP\nifconfig_hn1="DHCP"\n', "hn1", True),
    ],
)
def test_rc_conf_cases(run, root, rc_conf, ifname, enabled):
    write(root, "/etc/defaults/rc.conf", DEFAULTS)
    write(root, "/etc/rc.conf", rc_conf)
    assert answer(run, ifname) is enabled


def test_later_files_win(run, root):
    write(root, "/etc/defaults/rc.conf", DEFAULTS + 'ifconfig_DEFAULT="DHCP"\n')
    write(root, "/etc/rc.conf", 'ifconfig_hn0="inet 10.0.0.4/24"\nifconfig_hn1=DHCP\n')
    write(root, "/etc/rc.conf.local", "ifconfig_hn0=DHCP\n")
    write(root, "/etc/rc.conf.d/netif", "ifconfig_hn1=up\n")
    write(root, "/usr/local/etc/rc.conf.d/netif", "ifconfig_hn2=up\n")
    answers = [answer(run, name) for name in ("hn0", "hn1", "hn2", "hn3")]
    assert answers == [True, False, False, True]


def test_rc_conf_d_directory(run, root):
    write(root, "/etc/defaults/rc.conf", DEFAULTS)
    write(root, "/etc/rc.conf", "ifconfig_hn0=DHCP\n")
    write(root, "/etc/rc.conf.d/netif/a", "ifconfig_hn0=up\n")
    write(root, "/etc/rc.conf.d/netif/b", "ifconfig_hn0=SYNCDHCP\n")
    write(root, "/etc/rc.conf.d/netif/.b.swp", "ifconfig_hn0=up\n")
    assert answer(run, "hn0") is True


@pytest.mark.parametrize("via", VIAS)
def test_missing_interface_is_a_usage_error(run, via):
    result = run("hv_get_dhcp_info", via=via)
    assert (result.returncode, result.stdout) == (64, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hv_get_dhcp_info: ")


@pytest.mark.parametrize(
    "ifname",
    ["", "0hn", "hn0/../x", "../hn0", "hn0 x", "hn0;ls", "a" * 16, "hn\u00e90", "-hn0"],
)
def test_invalid_interface_names_exit_64(run, ifname):
    result = run("hv_get_dhcp_info", ifname, via="sh")
    assert (result.returncode, result.stdout) == (64, "")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hv_get_dhcp_info: ")


def test_two_arguments_are_a_usage_error(run):
    result = run("hv_get_dhcp_info", "hn0", "hn1", via="sh")
    assert (result.returncode, result.stdout) == (64, "")


@pytest.mark.parametrize("via", VIAS)
def test_warnings_go_to_stderr_and_stdout_stays_one_word(run, root, via):
    write(root, "/etc/defaults/rc.conf", DEFAULTS)
    write(
        root,
        "/etc/rc.conf",
        'hostname=`hostname -s`\nifconfig_hn0="DHCP"\n. /etc/rc.conf.extra\n',
    )
    result = run("hv_get_dhcp_info", "hn0", via=via)
    assert (result.returncode, result.stdout) == (0, "Enabled\n")
    assert result.stderr.splitlines() == [
        "hv_get_dhcp_info: warning: /etc/rc.conf:1: skipped: command substitution",
        "hv_get_dhcp_info: warning: /etc/rc.conf:3: skipped: "
        "a command, not an assignment",
    ]


def test_nothing_is_run_from_rc_conf(run, root, tmp_path):
    marker = tmp_path / "ran"
    write(root, "/etc/defaults/rc.conf", DEFAULTS)
    write(
        root,
        "/etc/rc.conf",
        f"touch {marker}\na=$(touch {marker})\nb=`touch {marker}`\n"
        f'c="$(touch {marker})"\nifconfig_hn0=DHCP; touch {marker}\n',
    )
    assert answer(run, "hn0") is True
    assert not marker.exists()


@pytest.fixture
def short_root(dist):
    # AF_UNIX socket paths are short (104 bytes on FreeBSD): a root under
    # pytest's long tmp_path may not fit.
    top = tempfile.mkdtemp(prefix="hv", dir="/tmp")
    try:
        os.makedirs(os.path.join(top, "var/run"))
        os.makedirs(os.path.join(top, "etc"))
        yield Runner(dist, pathlib.Path(top))
    finally:
        shutil.rmtree(top)


@pytest.fixture
def syslog(short_root):
    path = os.path.join(short_root.root, "var/run/log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(10)
    yield sock
    sock.close()


def received(sock):
    data = sock.recv(65536).decode()
    pri, _, rest = data.partition(">")
    return int(pri.lstrip("<")), rest


@pytest.mark.parametrize("via", VIAS)
def test_errors_reach_syslog_as_daemon_hvtools(short_root, syslog, via):
    result = short_root("hv_get_dhcp_info", via=via)
    assert result.returncode == 64
    priority, rest = received(syslog)
    assert (priority >> 3, priority & 7) == (3, 3)  # LOG_DAEMON, LOG_ERR
    ident, _, message = rest.partition(": ")
    assert ident.split("[")[0] == "hvtools"
    assert message == result.stderr.strip()


def test_warnings_reach_syslog(short_root, syslog):
    (short_root.root / "etc/rc.conf").write_text("ifconfig_hn0=DHCP x\n")
    result = short_root("hv_get_dhcp_info", "hn0", via="sh")
    assert (result.returncode, result.stdout) == (0, "Disabled\n")
    priority, rest = received(syslog)
    assert (priority >> 3, priority & 7) == (3, 4)  # LOG_DAEMON, LOG_WARNING
    assert rest.startswith("hvtools[")
    assert rest.endswith(
        "hv_get_dhcp_info: warning: /etc/rc.conf:1: skipped: "
        "a command, not an assignment"
    )


# FreeBSD 13 and later begin defaults/rc.conf with `: ${_localbase:=...}`
# and expand it in local_startup (libexec/rc/rc.conf); 12.1's file, changed
# so, is such a defaults/rc.conf.
def defaults_13():
    with open(os.path.join(freebsdsh.FREEBSD, "etc/defaults/rc.conf")) as f:
        text = f.read()
    old = 'local_startup="/usr/local/etc/rc.d"'
    assert old in text
    text = text.replace(old, 'local_startup="${_localbase}/etc/rc.d"')
    return ': ${_localbase:="/usr/local"}\n' + text


def freebsd_dhcpif(root, ifname):
    """What FreeBSD's rc.subr and network.subr answer: dhcpif IF."""
    script = (
        ". /etc/rc.subr; . /etc/network.subr; load_rc_config netif; "
        f"if dhcpif {ifname}; then echo Enabled; else echo Disabled; fi"
    )
    done = freebsdsh.run(root, ["/bin/sh", "-c", script])
    assert done.returncode == 0, done.stderr
    return done.stdout == "Enabled\n"


@pytest.mark.parametrize(
    ("files", "ifname"),
    [
        ({"/usr/local/etc/rc.conf.d/netif": 'ifconfig_hn0="DHCP"\n'}, "hn0"),
        (
            {
                "/etc/rc.conf": 'ifconfig_hn0="DHCP"\n',
                "/usr/local/etc/rc.conf.d/netif": 'ifconfig_hn0="up"\n',
            },
            "hn0",
        ),
        ({"/etc/rc.conf": "_localbase=/opt\nifconfig_hn0=DHCP\n"}, "hn0"),
        ({"/etc/rc.conf": "ifconfig_DEFAULT=\"'DHCP'\"\n"}, "hn0"),
        ({"/etc/rc.conf": "ifconfig_DEFAULT='\"SYNCDHCP\" up'\n"}, "hn0"),
        ({"/etc/rc.conf": "x=DHCP\nifconfig_DEFAULT='$x'\n"}, "hn0"),
        ({"/etc/rc.conf": "ifconfig_DEFAULT='${x:-DHCP}'\n"}, "hn0"),
        ({"/etc/rc.conf": "ifconfig_hn0=\"'DHCP'\"\n"}, "hn0"),
        (
            {"/etc/rc.conf": "ifconfig_DEFAULT=\"'DHCP'\"\nifconfig_hn0=up\n"},
            "hn0",
        ),
        ({"/etc/rc.conf": ": ${ifconfig_hn0:=DHCP}\n"}, "hn0"),
        ({"/etc/rc.conf": "ifconfig_hn0=\n: ${ifconfig_hn0=DHCP}\n"}, "hn0"),
        ({"/etc/rc.conf": "ifconfig_hn0=\n: ${ifconfig_hn0:=DHCP}\n"}, "hn0"),
    ],
)
def test_agrees_with_freebsds_dhcpif(run, root, files, ifname):
    freebsdsh.install(root, "etc/rc.subr", "etc/network.subr")
    write(root, "/etc/defaults/rc.conf", defaults_13())
    for path, text in files.items():
        write(root, path, text)
    assert answer(run, ifname) is freebsd_dhcpif(root, ifname)


# Current FreeBSD's own defaults/rc.conf: its first line runs
# `/sbin/sysctl -n user.localbase` when rc.subr sources it.  The reader
# neither runs it (no sysctl call) nor trips on it, and agrees with
# current rc.subr and network.subr, which do run it (the simulator's
# sysctl answers /usr/local, or unknown oid when user.localbase is absent).
@pytest.mark.parametrize(
    ("files", "localbase"),
    [
        ({"/usr/local/etc/rc.conf.d/netif": 'ifconfig_hn0="DHCP"\n'}, True),
        ({"/usr/local/etc/rc.conf.d/netif": 'ifconfig_hn0="DHCP"\n'}, False),
        ({"/etc/rc.conf": 'ifconfig_hn0="up"\n'}, True),
    ],
)
def test_current_defaults_rc_conf(run, root, sim, files, localbase):
    rc = ("etc/rc.subr", "etc/network.subr", "etc/defaults/rc.conf")
    freebsdsh.install(root, *rc, release="current")
    if not localbase:
        sim.remove_sysctl("user.localbase")
    for path, text in files.items():
        write(root, path, text)
    mark = len(sim.calls())
    ours = answer(run, "hn0")
    assert sim.calls()[mark:] == []
    assert ours is freebsd_dhcpif(root, "hn0")
    assert ["sysctl", "-n", "user.localbase"] in [c["argv"] for c in sim.calls()]
