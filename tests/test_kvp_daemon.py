"""FreeBSD 12.1's own hv_kvp_daemon drives the built hvtools end to end.

The daemon is compiled unmodified once per session (tests/kvpd.py) and runs
chroot(8)ed into a test root holding the simulator and hvtools installed
as `hvtools --install` does: /usr/libexec/hyperv/NAME linked to the
program.  Each test talks to it as the host does, through the kernel's
device (kvpd.Daemon): GET_IP_INFO by MAC, SET_IP_INFO by hn name.
"""

import socket
import subprocess

import kvpd
import pytest
import vfvm

import build
import freebsdsh
from conftest import hv_env, wait_for_children

OK = kvpd.HV_S_OK


@pytest.fixture(scope="session")
def kvp_program(tmp_path_factory):
    """The daemon, built once; no compiler fails here, loudly."""
    return kvpd.build(str(tmp_path_factory.mktemp("kvpd")))


class KvpVM:
    """A FreeBSD 12.1 Hyper-V guest on the simulator: the base system's
    helpers replaced by hvtools (`hvtools --install`, prefix /usr/local),
    python3 where the package puts it, /var/db/hyperv."""

    def __init__(self, root, sim, dist, program):
        self.root = root
        self.sim = sim
        self.program = program
        kvpd.install_original_scripts(root)
        build.install(str(root), "/usr/local", False, str(dist))
        vfvm.running_system(root)
        kvpd.make_var_db_hyperv(root)

    def daemon(self):
        return kvpd.Daemon(self.root, self.program)

    def rc_conf(self, text):
        (self.root / "etc/rc.conf").write_text(text)

    def mac(self, name):
        return self.sim.interface(name)["ether"]

    def addresses(self, name):
        return vfvm.addresses(self.sim, name)


@pytest.fixture
def vm(root, sim, dist, kvp_program):
    return KvpVM(root, sim, dist, kvp_program)


@pytest.fixture
def dhcp_vm(vm):
    """hn0 configured by DHCP at boot: dhclient bound its lease (address,
    default route, resolv.conf, lease database) and runs on."""
    vm.rc_conf('hostname="guest"\nifconfig_hn0="DHCP"\n')
    vm.sim.add_interface("hn0")
    vm.sim.set_lease("hn0", "10.0.0.4/24", router="10.0.0.1", dns=["10.0.0.1"])
    bound = subprocess.run([str(vm.root / "sbin/dhclient"), "hn0"], capture_output=True)
    assert bound.returncode == 0
    return vm


def test_layout_matches_the_compiler(kvp_program):
    assert kvpd.probe_layout(kvp_program) == kvpd.LAYOUT


def test_get_on_a_dhcp_vm(dhcp_vm):
    with dhcp_vm.daemon() as daemon:
        info = daemon.get_ip_info(dhcp_vm.mac("hn0"))
    assert info.fields() == {
        "error": OK,
        "addr_family": kvpd.ADDR_FAMILY_IPV4,
        "dhcp_enabled": 1,
        "ip_addr": "10.0.0.4;",
        "sub_net": "255.255.255.0;",
        "gate_way": "10.0.0.1;",
        "dns_addr": "10.0.0.1;",
    }


STATIC = {
    "ip_addr": "10.0.0.5",
    "sub_net": "255.255.255.0",
    "gate_way": "10.0.0.1",
    "dns_addr": "10.0.0.53",
}


def test_set_static_ipv4_then_get_returns_exactly_that(dhcp_vm):
    # hv_set_ifconfig's own promise: "A subsequent GET call on the interface
    # is expected to return the configuration that is set via the SET call".
    with dhcp_vm.daemon() as daemon:
        assert daemon.set_ip_info("hn0", **STATIC) == OK
        info = daemon.get_ip_info(dhcp_vm.mac("hn0"))
    assert info.fields() == {
        "error": OK,
        "addr_family": kvpd.ADDR_FAMILY_IPV4,
        "dhcp_enabled": 0,
        "ip_addr": "10.0.0.5;",
        "sub_net": "255.255.255.0;",
        "gate_way": "10.0.0.1;",
        "dns_addr": "10.0.0.53;",
    }
    assert dhcp_vm.addresses("hn0") == ["10.0.0.5/24"]


def test_set_two_ipv4_one_ipv6_and_both_gateways_then_get(dhcp_vm):
    with dhcp_vm.daemon() as daemon:
        status = daemon.set_ip_info(
            "hn0",
            ip_addr="10.0.0.5;10.0.1.6;2001:db8::5",
            sub_net="255.255.255.0;255.255.255.0;64",
            gate_way="10.0.0.1;2001:db8::1",
            dns_addr="10.0.0.53",
        )
        assert status == OK
        info = daemon.get_ip_info(dhcp_vm.mac("hn0"))
    assert dhcp_vm.addresses("hn0") == ["10.0.0.5/24", "10.0.1.6/24", "2001:db8::5/64"]
    fields = info.fields()
    # The daemon reports every address of the interface, link-local too;
    # the IPv6 gateway comes from `netstat -rn`, which lists both families
    # (its own `netstat -rn inet6` prints nothing: see the README).
    linklocal = [a for a in fields["ip_addr"].split(";") if a.startswith("fe80:")]
    assert len(linklocal) == 1
    assert fields == {
        "error": OK,
        "addr_family": kvpd.ADDR_FAMILY_IPV4 | kvpd.ADDR_FAMILY_IPV6,
        "dhcp_enabled": 0,
        "ip_addr": fields["ip_addr"],
        "sub_net": fields["sub_net"],
        "gate_way": "10.0.0.1;2001:db8::1;",
        "dns_addr": "10.0.0.53;",
    }
    pairs = dict(zip(fields["ip_addr"].split(";"), fields["sub_net"].split(";")))
    assert pairs == {
        "10.0.0.5": "255.255.255.0",
        "10.0.1.6": "255.255.255.0",
        "2001:db8::5": "/64",
        linklocal[0]: "/64",
        "": "",
    }


def test_set_back_to_dhcp(dhcp_vm):
    dhcp_vm.sim.set_lease("hn0", "10.0.0.4/24", router="10.0.0.1")
    with dhcp_vm.daemon() as daemon:
        assert daemon.set_ip_info("hn0", **STATIC) == OK
        assert daemon.set_ip_info("hn0", dhcp=True) == OK
        info = daemon.get_ip_info(dhcp_vm.mac("hn0"))
    assert (info.dhcp_enabled, info.ip_addr, info.gate_way) == (
        1,
        "10.0.0.4;",
        "10.0.0.1;",
    )
    assert list(dhcp_vm.sim.dhclients()) == ["hn0"]


def test_set_for_hn1_leaves_hn0_alone(dhcp_vm):
    dhcp_vm.sim.add_interface("hn1")
    hn0 = dhcp_vm.sim.ifconfig_text("hn0")
    with dhcp_vm.daemon() as daemon:
        assert daemon.set_ip_info("hn1", **dict(STATIC, ip_addr="10.0.0.9")) == OK
        info = daemon.get_ip_info(dhcp_vm.mac("hn1"))
        before = daemon.get_ip_info(dhcp_vm.mac("hn0"))
    assert (info.ip_addr, info.dhcp_enabled) == ("10.0.0.9;", 0)
    assert (before.ip_addr, before.dhcp_enabled) == ("10.0.0.4;", 1)
    assert dhcp_vm.sim.ifconfig_text("hn0") == hn0
    assert 'ifconfig_hn0="DHCP"' in (dhcp_vm.root / "etc/rc.conf").read_text()


@pytest.fixture
def syslog(root):
    """syslogd's socket in the root, /var/run/log: the daemon's and the
    helpers' messages (pytest's tmp_path keeps the path short enough)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(root / "var/run/log"))
    sock.setblocking(False)
    yield sock
    sock.close()


def received(sock):
    lines = []
    while True:
        try:
            lines.append(sock.recv(65536).decode())
        except BlockingIOError:
            return lines


def test_a_rejected_set_leaves_the_vm_unchanged_and_says_why(dhcp_vm, syslog):
    before = (dhcp_vm.sim.ifconfig_text(), dhcp_vm.sim.routes())
    rc_conf = (dhcp_vm.root / "etc/rc.conf").read_text()
    with dhcp_vm.daemon() as daemon:
        # The daemon answers the host HV_S_OK whatever hv_set_ifconfig does:
        # kvp_set_ip_info() ignores what system(3) returns.
        assert daemon.set_ip_info("hn0", **dict(STATIC, ip_addr="10.0.0.256")) == OK
    assert (dhcp_vm.sim.ifconfig_text(), dhcp_vm.sim.routes()) == before
    assert (dhcp_vm.root / "etc/rc.conf").read_text() == rc_conf
    errors = [line for line in received(syslog) if line.startswith("<27>hvtools[")]
    assert len(errors) == 1
    assert "hv_set_ifconfig: " in errors[0]
    assert "10.0.0.256" in errors[0]


def test_a_dhcp_set_without_a_server_is_answered_at_once(vm):
    # dhclient without -b would wait for the server up to its timeout and
    # hold the daemon, and the host's request, past the kernel's 5 s.
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\n')
    vm.sim.add_interface("hn0", inet=["10.0.0.4/24"])
    vm.sim.set_dhcp_timeout(10)  # and no set_lease(): no server answers
    with vm.daemon() as daemon:
        assert daemon.set_ip_info("hn0", dhcp=True) == OK
        assert daemon.elapsed < 2
    assert list(vm.sim.dhclients()) == ["hn0"]
    wait_for_children()


def test_two_ipv4_of_one_prefix_come_back_with_the_mask_set(dhcp_vm):
    with dhcp_vm.daemon() as daemon:
        status = daemon.set_ip_info(
            "hn0",
            **dict(
                STATIC,
                ip_addr="10.0.0.5;10.0.0.6",
                sub_net="255.255.255.0;255.255.255.0",
            ),
        )
        assert status == OK
        info = daemon.get_ip_info(dhcp_vm.mac("hn0"))
    assert (info.ip_addr, info.sub_net) == (
        "10.0.0.5;10.0.0.6;",
        "255.255.255.0;255.255.255.0;",
    )


@pytest.fixture
def vf_vm(vm):
    """hn0 with SYNCDHCP, its VF up and hyperv_vfup done: lagg0 carries the
    lease, hn0 (a port, its MAC the lagg's and the VF's) has no address."""
    vm.rc_conf('ifconfig_hn0="SYNCDHCP"\n')
    vm.sim.add_interface("hn0", inet=["10.0.0.4/24"])
    vm.sim.start_dhclient("hn0")
    vm.sim.set_lease("lagg0", "10.0.0.4/24", router="10.0.0.1")
    vm.sim.add_vf("hn0", "mce0")
    up = subprocess.run(
        [str(vm.root / "sbin/ifconfig"), "mce0", "up"], capture_output=True
    )
    assert up.returncode == 0
    vfup = subprocess.run(
        [str(vm.root / "usr/local/libexec/hyperv/hyperv_vfup"), "hn0"],
        env=hv_env(vm.root),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (vfup.returncode, vfup.stderr) == (0, "")
    assert vm.addresses("hn0") == []
    assert vm.addresses("lagg0") == ["10.0.0.4/24"]
    return vm


def test_on_a_vf_lagg_get_answers_for_hn0_and_a_set_reaches_the_lagg(vf_vm):
    mac = vf_vm.mac("hn0")
    assert vf_vm.mac("lagg0") == vf_vm.mac("mce0") == mac
    with vf_vm.daemon() as daemon:
        info = daemon.get_ip_info(mac)
        # The first Ethernet interface with the MAC, in index order: hn0,
        # a lagg port still IFT_ETHER; no address, so no helper is asked.
        assert info.fields() == {
            "error": OK,
            "addr_family": 0,
            "dhcp_enabled": 0,
            "ip_addr": "",
            "sub_net": "",
            "gate_way": "",
            "dns_addr": "",
        }
        # What the daemon would hear from the helper for hn0, had it an
        # address: hn0's own configuration.
        asked = freebsdsh.run(
            vf_vm.root, ["/bin/sh", "/usr/libexec/hyperv/hv_get_dhcp_info", "hn0"]
        )
        assert (asked.returncode, asked.stdout) == (0, "Enabled\n")
        assert daemon.set_ip_info("hn0", **STATIC) == OK
    assert vf_vm.addresses("hn0") == []
    assert vf_vm.addresses("lagg0") == ["10.0.0.5/24"]


@pytest.mark.parametrize(
    "output",
    ["printf 10.0.0.53", "printf '%0300d\\n' 0"],
    ids=["no-newline", "300-bytes"],
)
def test_the_daemon_crashes_on_a_helper_line_without_its_newline(dhcp_vm, output):
    # kvp_process_ipconfig_file(): fgets() into 256 bytes, then
    # `x = strchr(p, '\n'); *x = '\0';` -- NULL when the line has no newline
    # or fgets() cut it.  What the README says every helper must avoid.
    helper = dhcp_vm.root / "usr/libexec/hyperv/hv_get_dns_info"
    helper.unlink()
    helper.write_text(f"{output}\n")
    with dhcp_vm.daemon() as daemon:
        with pytest.raises(AssertionError, match="closed the device"):
            daemon.get_ip_info(dhcp_vm.mac("hn0"))
        assert daemon.process.wait() == -11  # SIGSEGV
