"""hvtools linkup: devd's LINK_UP action for hn(4), in place of devd.conf's.

At every live migration the VF leaves and hn(4) reports its link up again
(if_hn.c hn_rxvf_change(), hn_resume_mgmt(); the simulator raises IFNET
LINK_UP then).  devd runs the winning rule's action: here it is looked up
among hvtools' installed rules and FreeBSD's own dhclient.conf, and run in
the root with FreeBSD's rc.d/dhclient of each release (tests/freebsdsh.py),
as devd would run it.
"""

import os

import pytest
from vfvm import VM

import devd
import freebsdsh
import hvtools

LINK_UP = {"system": "IFNET", "subsystem": "hn0", "type": "LINK_UP"}
LINKUP = ["/usr/libexec/hyperv/hvtools", "linkup"]  # installed with prefix /usr
with open(os.path.join(freebsdsh.FREEBSD_CURRENT, "etc/devd/dhclient.conf")) as f:
    DHCLIENT_RULES = devd.parse(f.read())
LEASE = ("10.0.0.4/24", "10.0.0.1")
# service(8) as usr.sbin/service/service.sh runs an rc.d script: `cd /;
# exec env -i HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin $dir/$script "$@"`.
SERVICE = (
    "#!/bin/sh\nscript=$1\nshift\ncd /\n"
    'exec env -i HOME=/ PATH=/sbin:/bin:/usr/sbin:/usr/bin /etc/rc.d/"$script" "$@"\n'
)


@pytest.fixture(params=freebsdsh.RELEASES)
def vm(request, root, dist, sim):
    """A VM with hvtools installed, FreeBSD's rc(8) of the release and a
    service(8), hn0 a DHCP interface with its dhclient running."""
    vm = VM(root, dist, sim)
    freebsdsh.install_rc(root, release=request.param)
    (root / "usr/sbin").mkdir(parents=True, exist_ok=True)
    (root / "usr/sbin/service").write_text(SERVICE)
    (root / "usr/sbin/service").chmod(0o755)
    # rc.d/dhclient's `install -o root -g wheel` looks them up.
    (root / "etc/passwd").write_text("root:*:0:0:Charlie &:/root:/bin/sh\n")
    (root / "etc/group").write_text("wheel:*:0:root\n")
    sim.add_interface("hn0")
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    sim.set_lease("hn0", *LEASE)
    sim.start_dhclient("hn0")
    sim.pop_events()
    return vm


def migrate(vm, rules):
    """hyperv_vfup joins hn0 and a VF in lagg0; the VF leaves: devd runs,
    in the root, what rules say for the LINK_UP of hn0.  The run."""
    vm.sim.set_lease("lagg0", *LEASE)
    vm.sim.add_vf("hn0", "mce0")
    vm.sim.pop_events()
    assert vm.program("/sbin/ifconfig", "mce0", "up").returncode == 0
    handled = vm.devd.pump()  # VF_UP hn0, then IFATTACH lagg0
    assert [r.returncode for _, r in handled] == [0, 0]
    assert list(vm.sim.dhclients()) == ["lagg0"]
    vm.sim.detach_vf("mce0")
    assert LINK_UP in vm.sim.pop_events()
    rule = devd.winner(rules, "notify", dict(LINK_UP, **{"media-type": "ethernet"}))
    command = devd.expand(rule.actions[0], LINK_UP)
    return freebsdsh.run(vm.root, ["/bin/sh", "-c", command])


def installed_rules(root):
    return devd.parse((root / "etc/devd/hvtools.conf").read_text())


def test_a_migration_starts_no_dhclient_on_the_lagg_port(vm):
    done = migrate(vm, installed_rules(vm.root) + DHCLIENT_RULES)
    assert (done.returncode, done.stdout, done.stderr) == (
        0,
        "hn0: a port of lagg0: no dhclient on it\n",
        "",
    )
    assert list(vm.sim.dhclients()) == ["lagg0"]
    assert vm.addresses("hn0") == []
    assert vm.addresses("lagg0") == ["10.0.0.4/24"]


def test_without_it_freebsds_rule_starts_dhclient_on_the_port(vm):
    # What hvtools linkup prevents: rc.d/dhclient takes hn0 for a DHCP
    # interface like any other, and its dhclient (which sees the port's
    # input through bpf) binds the lagg's address on the port.
    done = migrate(vm, DHCLIENT_RULES)
    assert done.returncode == 0, done.stderr
    assert sorted(vm.sim.dhclients()) == ["hn0", "lagg0"]
    assert vm.addresses("hn0") == ["10.0.0.4/24"]
    # hvtools status tells (a VM migrated before hvtools linkup was there)
    status = vm.applet("hvtools", "status").stdout.splitlines()
    assert "warning: hn0, a port of lagg0, has addresses of its own: 10.0.0.4/24" in (
        status
    )


def test_anywhere_else_it_does_what_freebsds_rule_does(vm):
    # hn1, not a port: rc.d/dhclient quietstart, as service(8) runs it.
    vm.sim.add_interface("hn1", carrier=False)
    vm.sim.set_lease("hn1", "10.1.0.4/24")
    with open(vm.root / "etc/rc.conf", "a") as f:
        f.write('ifconfig_hn1="DHCP"\n')
    vm.sim.pop_events()
    vm.sim.set_carrier("hn1", True)
    assert vm.sim.pop_events() == [dict(LINK_UP, subsystem="hn1")]
    done = freebsdsh.run(vm.root, [*LINKUP, "hn1"])
    # rc.d/dhclient's own words, relayed (current's also warns about
    # dhclient_svcj, which its rc.d/dhclient leaves unset)
    assert (done.returncode, done.stdout) == (0, "Starting dhclient.\n")
    assert "linkup" not in done.stderr
    assert "hn1" in vm.sim.dhclients()
    assert vm.addresses("hn1") == ["10.1.0.4/24"]
    # a static one: rc.d/dhclient declines, quietly, as for devd.conf's rule
    vm.rc_conf('ifconfig_hn2="inet 10.2.0.4/24"\n')
    vm.sim.add_interface("hn2")
    done = freebsdsh.run(vm.root, [*LINKUP, "hn2"])
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert "hn2" not in vm.sim.dhclients()


def test_should_hvtools_fail_devd_runs_freebsds_action(vm):
    # hvtools cannot run (here: not executable): the rule's fallback still
    # gives a DHCP hn its dhclient, as devd.conf's rule would.
    (vm.root / LINKUP[0].lstrip("/")).chmod(0o644)
    vm.sim.add_interface("hn1")
    vm.sim.set_lease("hn1", "10.1.0.4/24")
    with open(vm.root / "etc/rc.conf", "a") as f:
        f.write('ifconfig_hn1="DHCP"\n')
    (rule,) = installed_rules(vm.root)[-1:]
    command = devd.expand(rule.actions[0], dict(LINK_UP, subsystem="hn1"))
    done = freebsdsh.run(vm.root, ["/bin/sh", "-c", command])
    assert done.returncode == 0, done.stderr
    assert "Permission denied" in done.stderr
    assert done.stdout == "Starting dhclient.\n"
    assert "hn1" in vm.sim.dhclients()
    assert vm.addresses("hn1") == ["10.1.0.4/24"]


def test_lagg_of():
    interfaces = hvtools.parse_ifconfig(
        "hn0: flags=8843<UP> metric 0 mtu 1500\n"
        "hn1: flags=8843<UP> metric 0 mtu 1500\n"
        "lagg0: flags=8843<UP> metric 0 mtu 1500\n"
        "\tlaggproto failover lagghash l2,l3,l4\n"
        "\tlaggport: mce0 flags=5<MASTER,ACTIVE>\n"
        "\tlaggport: hn0 flags=0<>\n"
    )
    assert hvtools.lagg_of(interfaces, "hn0").name == "lagg0"
    assert hvtools.lagg_of(interfaces, "hn1") is None


@pytest.mark.parametrize("args", [[], ["hn0", "x"], ["em0"], ["hn01"]])
def test_usage(run, args):
    result = run("hvtools", "linkup", *args)
    assert result.returncode == hvtools.EX_USAGE
    assert result.stderr.startswith("linkup: ")


def test_an_image_is_refused_and_nothing_runs(run, root, sim):
    (root / "dev/null").unlink()
    result = run("hvtools", "linkup", "hn0")
    assert result.returncode == hvtools.EX_UNAVAILABLE
    assert result.stderr == (
        f"linkup: {root}: an image (no devfs on its /dev), not a running"
        " system: nothing to do\n"
    )
    assert sim.calls() == []
