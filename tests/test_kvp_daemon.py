"""FreeBSD 12.1's own hv_kvp_daemon drives the built hvtools end to end.

The daemon is compiled unmodified once per session (tests/kvpd.py) and runs
chroot(8)ed into a test root holding the simulator and hvtools installed
as `hvtools --install` does: /usr/libexec/hyperv/NAME linked to the
program.  Each test talks to it as the host does, through the kernel's
device (kvpd.Daemon): GET_IP_INFO by MAC, SET_IP_INFO by hn name.
"""

import kvpd
import pytest
import vfvm

import build

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
        iface = self.sim.interface(name)
        inet = [f"{a['address']}/{a['prefixlen']}" for a in iface["inet"]]
        inet6 = [
            f"{a['address']}/{a['prefixlen']}"
            for a in iface["inet6"]
            if not a["address"].startswith("fe80:")
        ]
        return inet + inet6


@pytest.fixture
def vm(root, sim, dist, kvp_program):
    return KvpVM(root, sim, dist, kvp_program)


@pytest.fixture
def dhcp_vm(vm):
    """hn0 configured by DHCP at boot: its lease, its route, its DNS."""
    vm.rc_conf('hostname="guest"\nifconfig_hn0="DHCP"\n')
    vm.sim.add_interface("hn0", inet=["10.0.0.4/24"])
    vm.sim.add_route("default", "10.0.0.1", "hn0")
    (vm.root / "etc/resolv.conf").write_text("nameserver 10.0.0.1\n")
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
