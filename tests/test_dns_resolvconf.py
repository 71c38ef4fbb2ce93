"""Injected DNS servers survive FreeBSD's own DHCP machinery.

FreeBSD's dhclient-script hands every lease's servers to resolvconf(8)
(openresolv), which rewrites /etc/resolv.conf from its records and
/etc/resolvconf.conf at each lease event, on any interface.  Here both are
FreeBSD's own files (tests/freebsdsh.py), run by the simulator's dhclient,
and hv_set_ifconfig runs inside the same FreeBSD tree (chroot(8)ed, so that
/sbin/resolvconf is that tree's and never this machine's).

The VM is Azure's two-NIC one: hn0 and hn1 both DHCP, hn0 holding the
default route, so that dhclient-script's is_default_interface() gives
resolv.conf to hn0's leases only.
"""

import subprocess
import sys

import pytest

import freebsdsh

HN0_MAC = "00:0d:3a:00:00:10"
HN1_MAC = "00:0d:3a:00:00:11"
AZURE_DNS = "168.63.129.16"
REQUEST = "/var/db/hypervhv_set_ip_data"


@pytest.fixture
def vm(root, sim):
    freebsdsh.install(root, "sbin/dhclient-script")
    freebsdsh.install_resolvconf(root)
    (root / "etc/rc.conf").write_text('ifconfig_hn0="DHCP"\nifconfig_hn1="DHCP"\n')
    sim.add_interface("hn0", ether=HN0_MAC, up=False)
    sim.add_interface("hn1", ether=HN1_MAC, up=False)
    sim.set_lease("hn0", "10.0.0.4/24", "10.0.0.1", dns=[AZURE_DNS],
                  domain="reddog.microsoft.com")  # fmt: skip
    sim.set_lease("hn1", "10.1.0.4/24", "10.1.0.1", dns=[AZURE_DNS])
    for ifname in ("hn0", "hn1"):
        dhclient(root, ifname)
    assert nameservers(root) == [AZURE_DNS]
    return sim


def dhclient(root, ifname):
    done = subprocess.run(
        [str(root / "sbin/dhclient"), "-b", ifname], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def nameservers(root):
    text = (root / "etc/resolv.conf").read_text()
    return [
        line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")
    ]


def set_ip(dist, root, **fields):
    """hv_set_ifconfig as hv_kvp_daemon runs it, inside the FreeBSD tree."""
    text = "".join(f"{k}={v}\n" for k, v in fields.items())
    (root / REQUEST.lstrip("/")).write_text(text)
    env = {
        "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
        "HVTOOLS_ROOT": "/",
        "HVTOOLS_PYTHON": sys.executable,
    }
    done = freebsdsh.run(
        root, ["/bin/sh", f"{dist}/hv_set_ifconfig", REQUEST], env=env, binds=[dist]
    )
    assert done.returncode == 0, done.stderr
    return done


def inject_hn1_dns(dist, root):
    set_ip(dist, root, HWADDR=HN1_MAC, IF_NAME="hn1", DHCP="1",
           DNS="10.1.0.53;10.1.0.54")  # fmt: skip
    assert nameservers(root)[:2] == ["10.1.0.53", "10.1.0.54"]


def test_injected_servers_survive_a_renewal_on_another_interface(dist, root, vm):
    inject_hn1_dns(dist, root)
    # hn0's renewal: dhclient-script RENEW -> resolvconf -a hn0 -> libc
    # subscriber rewrites resolv.conf.
    vm.set_lease("hn0", "10.0.0.4/24", "10.0.0.1", dns=["168.63.129.17"],
                 domain="reddog.microsoft.com")  # fmt: skip
    status, _, err = vm.renew("hn0")
    assert status == 0, err
    assert nameservers(root) == ["10.1.0.53", "10.1.0.54", "168.63.129.17"]
    assert "search reddog.microsoft.com" in (root / "etc/resolv.conf").read_text()


def test_injected_servers_survive_a_reboot(dist, root, vm):
    inject_hn1_dns(dist, root)
    # Boot: rc.d/cleanvar empties /var/run (resolvconf's records go), then
    # dhclient binds hn0's lease afresh (BOUND) and resolvconf regenerates.
    subprocess.run([str(root / "bin/pkill"), "-x", "dhclient"], check=True)
    for path in sorted((root / "var/run/resolvconf").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    done = freebsdsh.run(root, ["/sbin/resolvconf", "-u"])
    assert done.returncode == 0, done.stderr
    assert nameservers(root) == ["10.1.0.53", "10.1.0.54"]
    dhclient(root, "hn0")
    assert nameservers(root) == ["10.1.0.53", "10.1.0.54", AZURE_DNS]


def test_a_static_request_survives_a_renewal_too(dist, root, vm):
    set_ip(dist, root, HWADDR=HN1_MAC, IF_NAME="hn1", DHCP="0",
           IP_ADDR="10.1.0.4", SUBNET="24", DNS="2001:db8::53")  # fmt: skip
    vm.set_lease("hn0", "10.0.0.4/24", "10.0.0.1", dns=["168.63.129.17"])
    vm.renew("hn0")
    assert nameservers(root) == ["2001:db8::53", "168.63.129.17"]


def test_resolvconf_disabled_leaves_resolv_conf_to_hvtools(dist, root, vm):
    # resolvconf=NO: openresolv keeps records but regenerates nothing, so
    # hvtools edits resolv.conf itself and a renewal leaves it alone.
    conf = root / "etc/resolvconf.conf"
    conf.write_text(conf.read_text() + "resolvconf=NO\n")
    inject_hn1_dns(dist, root)
    assert "name_servers=" not in conf.read_text().replace("#name_servers=", "")
    vm.set_lease("hn0", "10.0.0.4/24", "10.0.0.1", dns=["168.63.129.17"])
    vm.renew("hn0")
    assert nameservers(root) == ["10.1.0.53", "10.1.0.54"]
