"""hyperv_vfup: the planners (pure) and the applet on the simulator."""

import time

import pytest
from vfvm import VM

import fakebsd
import freebsdsh
import hvtools
from conftest import run_sim

IF = "/sbin/ifconfig"


# Names


@pytest.mark.parametrize("name", ["hn0", "hn1", "hn12", "hn65535"])
def test_hn_unit_accepts_hn_names(name):
    assert hvtools.hn_unit(name) == name[2:]


@pytest.mark.parametrize(
    "name",
    ["", "hn", "hn01", "hn-1", "hn0/../x", "hn0.x", "lagg0", "mce0", "hn٣", "hn999999"],
)
def test_hn_unit_rejects_anything_else(name):
    with pytest.raises(hvtools.Failure) as caught:
        hvtools.hn_unit(name)
    assert caught.value.status == hvtools.EX_USAGE


# Planners


def test_new_lagg_is_a_failover_of_hn_and_the_vf():
    # As current FreeBSD's hyperv_vfup: hn stops accepting advertisements,
    # joins with IPv6 enabled (lagg purges it), then has IPv6 disabled.
    join = [IF, "lagg1", "laggproto", "failover", "laggport", "hn1", "laggport", "mce1"]
    assert hvtools.new_lagg_commands("hn1", "mce1", "lagg1") == [
        [IF, "hn1", "inet6", "-accept_rtadv"],
        join,
        [IF, "hn1", "inet6", "ifdisabled"],
        [IF, "lagg1", "inet6", "no_dad"],
    ]
    # A kernel without INET6 (no kern.features.inet6): no inet6 words.
    assert hvtools.new_lagg_commands("hn1", "mce1", "lagg1", inet6=False) == [join]


def test_dhclient_stop_signals_only_a_dhclient():
    assert hvtools.dhclient_stop_commands(["/var/run/dhclient/dhclient.hn0.pid"]) == [
        ["/bin/pkill", "-F", "/var/run/dhclient/dhclient.hn0.pid", "-x", "dhclient"]
    ]
    assert hvtools.dhclient_stop_commands([]) == []


HN0 = """\
hn0: flags=8843<UP,BROADCAST,RUNNING,SIMPLEX,MULTICAST> metric 0 mtu 1500
	ether 00:15:5d:0a:0b:0c
	inet 10.0.0.4 netmask 0xffffff00 broadcast 10.0.0.255
	inet 10.0.0.5 netmask 0xffffffff broadcast 10.0.0.5
	inet6 fe80::215:5dff:fe0a:b0c%hn0 prefixlen 64 scopeid 0x2
	inet6 2001:db8::4 prefixlen 64
	inet6 FEBF::1%hn0 prefixlen 64 scopeid 0x2
	inet6 fec0::1 prefixlen 64
"""


def test_address_removal_takes_link_local_ipv6_too():
    interface = hvtools.parse_ifconfig(HN0)["hn0"]
    assert hvtools.address_removal_commands(interface) == [
        [IF, "hn0", "inet", "10.0.0.4", "-alias"],
        [IF, "hn0", "inet", "10.0.0.5", "-alias"],
        [IF, "hn0", "inet6", "fe80::215:5dff:fe0a:b0c%hn0", "-alias"],
        [IF, "hn0", "inet6", "2001:db8::4", "-alias"],
        [IF, "hn0", "inet6", "FEBF::1%hn0", "-alias"],
        [IF, "hn0", "inet6", "fec0::1", "-alias"],
    ]
    assert hvtools.address_removal_commands(None) == []


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("fe80::1", True),
        ("FE80::1", True),
        ("febf:1::1", True),
        ("fec0::1", False),
        ("fe8::1", False),
        ("2001:db8::1", False),
        ("::1", False),
    ],
)
def test_link_local(address, expected):
    assert hvtools.is_link_local6(address) is expected


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ifconfig_hn0": "SYNCDHCP"},
            [[IF, "lagg0", "up"], ["/sbin/dhclient", "lagg0"]],
        ),
        (
            # the original's split: only SYNCDHCP (network.subr syncdhcpif)
            # waits for the lease
            {"ifconfig_hn0": "DHCP"},
            [[IF, "lagg0", "up"], ["/sbin/dhclient", "-b", "lagg0"]],
        ),
        (
            {"ifconfig_hn0": "DHCP", "synchronous_dhclient": "YES"},
            [[IF, "lagg0", "up"], ["/sbin/dhclient", "lagg0"]],
        ),
        (
            {"ifconfig_hn0": "DHCP", "background_dhclient": "YES"},
            [[IF, "lagg0", "up"], ["/sbin/dhclient", "-b", "lagg0"]],
        ),
        (
            # dhclient as rc.d/dhclient starts it, with hn0's variables.
            {
                "ifconfig_hn0": "DHCP",
                "background_dhclient_hn0": "YES",
                "dhclient_flags_hn0": "-q",
                "dhclient_program": "/usr/local/sbin/dhclient",
                "background_dhclient_lagg0": "NO",
            },
            [
                [IF, "lagg0", "up"],
                ["/usr/local/sbin/dhclient", "-q", "-b", "lagg0"],
            ],
        ),
        (
            {"ifconfig_hn0": "NOSYNCDHCP mtu 9000", "background_dhclient": "YES"},
            [
                [IF, "lagg0", "mtu", "9000"],
                [IF, "lagg0", "up"],
                ["/sbin/dhclient", "-b", "lagg0"],
            ],
        ),
        (
            {"ifconfig_hn0": "inet 10.0.0.4/24"},
            [[IF, "lagg0", "inet", "10.0.0.4/24"], [IF, "lagg0", "up"]],
        ),
        (
            {
                "ifconfig_hn0": "inet 10.0.0.4/24",
                "ifconfig_hn0_ipv6": "inet6 2001:db8::4/64",
                "ifconfig_hn0_alias0": "inet 10.0.0.5/32",
                "ifconfig_hn0_alias1": "inet6 2001:db8::5/64",
                "ifconfig_hn0_alias2": "10.0.0.6/32",
                "ifconfig_hn0_alias3": "ether 00:11:22:33:44:55",
                "ifconfig_hn0_alias4": "inet 10.0.0.10-12/32",
                # network.subr (12.1 ifalias_af_common) takes every aliasN
                # set, in N's order: a gap stops nothing, an empty one does.
                "ifconfig_hn0_alias6": "inet 10.0.0.99/32",
                "ifconfig_hn0_alias12": "",
                "ifconfig_hn0_alias13": "inet 10.0.0.98/32",
            },
            [
                [IF, "lagg0", "inet", "10.0.0.4/24"],
                [IF, "lagg0", "inet6", "-ifdisabled"],
                [IF, "lagg0", "inet6", "2001:db8::4/64"],
                [IF, "lagg0", "up"],
                [IF, "lagg0", "inet", "10.0.0.5/32", "alias"],
                [IF, "lagg0", "inet6", "2001:db8::5/64", "alias"],
                [IF, "lagg0", "inet", "10.0.0.6/32", "alias"],
                [IF, "lagg0", "inet", "10.0.0.99/32", "alias"],
            ],
        ),
        (
            # network.subr's compatibility: an IPv6 address without inet6.
            {"ifconfig_hn0": "DHCP", "ifconfig_hn0_ipv6": "2001:db8::4/64"},
            [
                [IF, "lagg0", "inet6", "-ifdisabled"],
                [IF, "lagg0", "inet6", "2001:db8::4/64"],
                [IF, "lagg0", "up"],
                ["/sbin/dhclient", "-b", "lagg0"],
            ],
        ),
        (
            {"ifconfig_hn0": "SYNCDHCP", "ifconfig_hn0_alias0": "inet 10.0.0.5/32"},
            [
                [IF, "lagg0", "up"],
                ["/sbin/dhclient", "lagg0"],
                [IF, "lagg0", "inet", "10.0.0.5/32", "alias"],
            ],
        ),
        (
            {"ifconfig_hn0_alias0": "inet 10.0.0.5/32"},
            [
                [IF, "lagg0", "up"],
                [IF, "lagg0", "inet", "10.0.0.5/32", "alias"],
            ],
        ),
        ({}, []),
        ({"ifconfig_hn1": "DHCP"}, []),
        (
            # SLAAC: the lagg solicits a router advertisement at once.
            {
                "ifconfig_hn0": "DHCP",
                "ifconfig_hn0_ipv6": "inet6 accept_rtadv",
                "rtsol_flags": "-i",
            },
            [
                [IF, "lagg0", "inet6", "-ifdisabled"],
                [IF, "lagg0", "inet6", "accept_rtadv"],
                [IF, "lagg0", "up"],
                ["/sbin/dhclient", "-b", "lagg0"],
                [IF, "lagg0", "inet6", "accept_rtadv"],
                ["/sbin/rtsol", "-i", "lagg0"],
            ],
        ),
        (
            # ipv6_prefix_hn0: EUI-64 addresses, no autoconfiguration; the
            # legacy ipv6_ifconfig_hn0[_aliasN] as inet6 words.
            {
                "ipv6_prefix_hn0": "2001:db8:1::1 2001:db8:2:0:/56",
                "ipv6_ifconfig_hn0": "2001:db8::4/64 accept_rtadv",
                "ipv6_ifconfig_hn0_alias0": "2001:db8::5/64",
                # taken as ifconfig_hn0_aliasN are: a gap stops nothing
                "ipv6_ifconfig_hn0_alias2": "2001:db8::7/64",
                "ipv6_ifconfig_hn0_alias3": "",
                "ipv6_ifconfig_hn0_alias4": "2001:db8::8/64",
                "ifconfig_hn0_alias0": "inet6 2001:db8::6/64",
            },
            [
                [IF, "lagg0", "inet6", "-ifdisabled"],
                [IF, "lagg0", "inet6", "2001:db8::4/64", "accept_rtadv"],
                [IF, "lagg0", "up"],
                [IF, "lagg0", "inet6", "2001:db8::6/64", "alias"],
                [IF, "lagg0", "inet6", "2001:db8::5/64", "alias"],
                [IF, "lagg0", "inet6", "2001:db8::7/64", "alias"],
                [
                    IF,
                    "lagg0",
                    "inet6",
                    "2001:db8:1::",
                    "prefixlen",
                    "64",
                    "eui64",
                    "alias",
                ],
                [
                    IF,
                    "lagg0",
                    "inet6",
                    "2001:db8:2:0::",
                    "prefixlen",
                    "56",
                    "eui64",
                    "alias",
                ],
            ],
        ),
        (
            # Not an ipv6if interface (ipv6if): its inet6 aliases stay off,
            # as at boot; ipv6_activate_all_interfaces enables IPv6 only.
            {
                "ifconfig_hn0": "inet 10.0.0.4/24",
                "ifconfig_hn0_alias0": "inet6 2001:db8::6/64",
                "ifconfig_hn0_alias1": "inet 10.0.0.5/32",
                "ipv6_activate_all_interfaces": "YES",
            },
            [
                [IF, "lagg0", "inet", "10.0.0.4/24"],
                [IF, "lagg0", "inet6", "-ifdisabled"],
                [IF, "lagg0", "up"],
                [IF, "lagg0", "inet", "10.0.0.5/32", "alias"],
            ],
        ),
        (
            # ipv6_network_interfaces without hn0: no IPv6 for it.
            {
                "ifconfig_hn0_ipv6": "inet6 2001:db8::4/64",
                "ipv6_network_interfaces": "hn1",
            },
            [],
        ),
    ],
)
def test_lagg_gets_hns_rc_conf_configuration(env, expected):
    assert hvtools.lagg_config_commands(env, "hn0", "lagg0") == expected


# rc.conf variants for network.subr's ipv6if and ipv6_autoconfif, asked of
# FreeBSD's own network.subr below.
IPV6IF_CASES = [
    "",
    'ifconfig_hn0="DHCP"',
    'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_gateway_enable="YES"',
    'ipv6_prefix_hn0="2001:db8::"',
    'ipv6_prefix_hn0="2001:db8::"\nifconfig_hn0_ipv6="inet6 accept_rtadv"',
    'ipv6_ifconfig_hn0="2001:db8::4/64 accept_rtadv"',
    'ipv6_enable="YES"\nipv6_ifconfig_hn0="2001:db8::4/64"',
    'ipv6_enable="YES"',
    'ifconfig_DEFAULT_ipv6="inet6 accept_rtadv"',
    # ipv6_network_interfaces: a case pattern, "auto" alone, words by spaces
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="AUTO"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="hn1 auto"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="hn1  hn0"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="hn0 hn1"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="hn10"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="hn0\thn1"',
    'ifconfig_hn0_ipv6="inet6 accept_rtadv"\nipv6_network_interfaces="none"',
]


@pytest.mark.parametrize("release", freebsdsh.RELEASES)
def test_ipv6if_and_autoconf_as_network_subr_says(root, release):
    def ours(env):
        ipv6if = hvtools.is_ipv6_interface(env, "hn0")
        autoconf = ipv6if and hvtools.is_ipv6_autoconf(env, "hn0")
        return f"{int(not ipv6if)} {int(not autoconf)}"

    ask = 'ipv6if hn0; a=$?; ipv6_autoconfif hn0; echo "$a $?"'
    assert_network_subr_agrees(root, release, IPV6IF_CASES, ask, ours)


SYNCDHCP_CASES = [
    "",
    'ifconfig_hn0="DHCP"',
    'ifconfig_hn0="SYNCDHCP"',
    'ifconfig_hn0="syncdhcp"',
    'ifconfig_hn0="DHCP"\nsynchronous_dhclient="YES"',
    'ifconfig_hn0="NOSYNCDHCP DHCP"\nsynchronous_dhclient="YES"',
    'ifconfig_hn0="DHCP NOSYNCDHCP SYNCDHCP"',
    'ifconfig_hn0="SYNCDHCP NOSYNCDHCP"',
    'ifconfig_DEFAULT="SYNCDHCP"',
]


@pytest.mark.parametrize("release", freebsdsh.RELEASES)
def test_syncdhcp_as_network_subr_says(root, release):
    # Whether hyperv_vfup waits for the lagg's lease.
    def ours(env):
        return str(int(not hvtools.is_syncdhcp_interface(env, "hn0")))

    ask = "syncdhcpif hn0; echo $?"
    assert_network_subr_agrees(root, release, SYNCDHCP_CASES, ask, ours)


def assert_network_subr_agrees(root, release, cases, ask, ours):
    """For each rc.conf text of cases, the release's network.subr answers
    ask (a line of sh after load_rc_config netif), and ours(env) answers
    from hvtools' reading of the same rc.conf: the same line."""
    fakebsd.FakeBSD(root).install()
    freebsdsh.install_rc(root, release=release)
    (root / "etc/cases").mkdir()
    for n, text in enumerate(cases):
        (root / "etc/cases" / str(n)).write_text(text + "\n")
    ask = f". /etc/rc.subr; . /etc/network.subr; load_rc_config netif; {ask}"
    script = "".join(
        f"cp /etc/cases/{n} /etc/rc.conf; /bin/sh -c '{ask}'\n"
        for n in range(len(cases))
    )
    done = freebsdsh.run(root, ["/bin/sh", "-c", script])
    assert done.returncode == 0, done.stderr
    defaults = (root / "etc/defaults/rc.conf").read_text()
    answers = []
    for text in cases:
        texts = {"/etc/defaults/rc.conf": defaults, "/etc/rc.conf": text + "\n"}
        answers.append(ours(hvtools._rc_env(texts, ["/etc/rc.conf"])))
    theirs = done.stdout.splitlines()
    assert list(zip(cases, answers)) == list(zip(cases, theirs))


def test_lagg_ipv6_without_inet6_or_rtsol():
    env = {
        "ifconfig_hn0": "inet 10.0.0.4/24",
        "ifconfig_hn0_ipv6": "inet6 accept_rtadv",
        "ifconfig_hn0_alias0": "inet6 2001:db8::6/64",
    }
    assert hvtools.lagg_config_commands(env, "hn0", "lagg0", inet6=False) == [
        [IF, "lagg0", "inet", "10.0.0.4/24"],
        [IF, "lagg0", "up"],
    ]
    assert hvtools.lagg_config_commands(env, "hn0", "lagg0", rtsol=False)[-1] == [
        IF,
        "lagg0",
        "inet6",
        "accept_rtadv",
    ]


def test_aliases_are_bounded():
    env = {
        f"ifconfig_hn0_alias{n}": f"inet 10.0.{n // 256}.{n % 256}/32"
        for n in range(600)
    }
    assert len(hvtools.rc_aliases(env, "hn0")) == hvtools.MAX_ALIASES


# End to end: the built program, installed in a simulated VM, run by devd.

VF_UP = {"system": "HYPERV_NIC_VF", "subsystem": "hn0", "type": "VF_UP"}


@pytest.fixture
def vm(root, dist, sim):
    vm = VM(root, dist, sim)
    sim.add_interface("hn0", inet=["10.0.0.4/24"], inet6=["2001:db8::4/64"])
    vm.devd.pump()  # hn0's own IFATTACH: not a VF, nothing happens
    return vm


def bring_vf_up(vm):
    """The VF attaches and comes up (as hyperv_vfattach's detached process
    does after hyperv_vf_delay; the delay itself is tested there)."""
    vm.sim.add_vf("hn0", "mce0")
    vm.sim.pop_events()
    assert vm.program("/sbin/ifconfig", "mce0", "up").returncode == 0


def test_e2e_dhcp_vf_attach_to_lagg(vm):
    vm.rc_conf(
        'ifconfig_hn0="SYNCDHCP"\n'
        'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
        'hyperv_vf_delay="2"\n'
    )
    vm.sim.start_dhclient("hn0")
    vm.sim.set_lease("lagg0", "10.0.0.4/24", router="10.0.0.1")
    vm.sim.add_vf("hn0", "mce0")
    mark = len(vm.sim.calls())
    (attach,) = vm.devd.pump()  # IFATTACH mce0: returns at once
    assert attach[1].returncode == 0
    vm.wait_for_call(["ifconfig", "mce0", "up"])
    handled = vm.devd.pump()  # VF_UP hn0, then IFATTACH lagg0
    assert [command.split("/")[-1] for command, _ in handled] == [
        "hyperv_vfup hn0",
        "hyperv_vfattach lagg0 0",
    ]
    assert all(result.returncode == 0 for _, result in handled)
    mutations = vm.mutations_since(mark)
    assert [argv for argv in mutations if argv[-1] != "-alias"] == [
        ["ifconfig", "mce0", "up"],
        ["ifconfig", "lagg0", "create"],
        ["ifconfig", "hn0", "inet6", "-accept_rtadv"],
        [
            "ifconfig",
            "lagg0",
            "laggproto",
            "failover",
            "laggport",
            "hn0",
            "laggport",
            "mce0",
        ],
        ["ifconfig", "hn0", "inet6", "ifdisabled"],
        ["ifconfig", "lagg0", "inet6", "no_dad"],
        ["pkill", "-F", "/var/run/dhclient/dhclient.hn0.pid", "-x", "dhclient"],
        ["ifconfig", "lagg0", "inet6", "-ifdisabled"],
        ["ifconfig", "lagg0", "inet6", "2001:db8::4/64"],
        ["ifconfig", "lagg0", "up"],
        ["dhclient", "lagg0"],
    ]
    # What is left of hn0's addresses once it is a port and its dhclient
    # is gone (the kernel drops a port's IPv6) is removed before lagg0 is
    # configured.
    hn0 = [i for i, argv in enumerate(mutations) if argv[-1] == "-alias"]
    assert all(mutations[i][1] == "hn0" for i in hn0)
    assert all(6 < i < 7 + len(hn0) for i in hn0)
    assert vm.laggports("lagg0") == ["hn0", "mce0"]
    assert vm.addresses("hn0") == []
    assert vm.addresses("lagg0") == ["10.0.0.4/24", "2001:db8::4/64"]
    assert list(vm.sim.dhclients()) == ["lagg0"]
    assert [r["gateway"] for r in vm.sim.routes() if r["interface"] == "lagg0"] == [
        "10.0.0.1"
    ]


def test_e2e_static_ipv4_ipv6_and_aliases_move_to_the_lagg(vm):
    vm.rc_conf(
        'ifconfig_hn0="inet 10.0.0.4/24"\n'
        'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
        'ifconfig_hn0_alias0="inet 10.0.0.5/32"\n'
        'ifconfig_hn0_alias1="inet6 2001:db8::5/64"\n'
    )
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    handled = vm.devd.pump()
    assert handled[0][1].returncode == 0, handled[0][1].stderr
    assert ["ifconfig", "lagg0", "inet", "10.0.0.4/24"] in vm.mutations_since(mark)
    assert not any(argv[0] in ("dhclient", "pkill") for argv in vm.calls_since(mark))
    assert vm.laggports("lagg0") == ["hn0", "mce0"]
    assert vm.addresses("hn0") == []
    assert sorted(vm.addresses("lagg0")) == [
        "10.0.0.4/24",
        "10.0.0.5/32",
        "2001:db8::4/64",
        "2001:db8::5/64",
    ]


def test_e2e_background_dhcp_and_an_old_style_pid_file(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\nbackground_dhclient="YES"\n')
    vm.sim.start_dhclient("hn0", pidfile="old")
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    vm.devd.pump()
    assert ["pkill", "-F", "/var/run/dhclient.hn0.pid", "-x", "dhclient"] in (
        vm.mutations_since(mark)
    )
    assert ["dhclient", "-b", "lagg0"] in vm.mutations_since(mark)
    assert list(vm.sim.dhclients()) == ["lagg0"]


@pytest.mark.parametrize("word", ["DHCP", "SYNCDHCP"])
def test_e2e_only_syncdhcp_waits_for_the_lease(vm, word):
    # devd runs one action at a time: an async DHCP must not hold it for
    # dhclient's timeout when no DHCP server answers.
    timeout = 10 if word == "DHCP" else 2
    vm.rc_conf(f'ifconfig_hn0="{word}"\n')
    vm.sim.set_dhcp_timeout(timeout)
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    start = time.monotonic()
    result = vm.applet("hyperv_vfup", "hn0")
    elapsed = time.monotonic() - start
    assert (result.returncode, result.stderr) == (0, "")
    dhclient = ["dhclient", "-b", "lagg0"] if word == "DHCP" else ["dhclient", "lagg0"]
    assert dhclient in vm.mutations_since(mark)
    assert list(vm.sim.dhclients()) == ["lagg0"]
    if word == "DHCP":
        assert elapsed < 2
    else:
        assert elapsed >= timeout


def test_e2e_a_stale_pid_file_never_gets_another_process_killed(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    vm.sim.add_process(50500, "/usr/sbin/sshd")
    pidfile = vm.root / "var/run/dhclient/dhclient.hn0.pid"
    pidfile.write_text("50500\n")
    bring_vf_up(vm)
    ((_, result), *_) = vm.devd.pump()
    assert result.returncode == 0, result.stderr
    assert 50500 in vm.sim.processes()


def test_e2e_second_vf_up_after_migration_readds_the_vf(vm):
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\n')
    bring_vf_up(vm)
    vm.devd.pump()
    assert vm.laggports("lagg0") == ["hn0", "mce0"]
    # Live migration: the VF goes, the lagg fails over to hn0 ...
    vm.sim.detach_vf("mce0")
    vm.devd.pump()
    assert vm.laggports("lagg0") == ["hn0"]
    # ... and a VF comes back on the new host.
    mark = len(vm.sim.calls())
    bring_vf_up(vm)
    handled = vm.devd.pump()
    assert [result.returncode for _, result in handled] == [0]
    assert vm.mutations_since(mark) == [
        ["ifconfig", "mce0", "up"],
        ["ifconfig", "lagg0", "laggport", "mce0"],
    ]
    assert vm.laggports("lagg0") == ["hn0", "mce0"]
    assert vm.addresses("lagg0") == ["10.0.0.4/24"]


def test_e2e_vf_up_again_with_the_vf_already_a_port_changes_nothing(vm):
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\n')
    bring_vf_up(vm)
    vm.devd.pump()
    mark = len(vm.sim.calls())
    result = vm.applet("hyperv_vfup", "hn0")
    assert (result.returncode, result.stderr) == (0, "")
    assert vm.mutations_since(mark) == []


def test_e2e_vf_detached_before_vf_up(vm):
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\n')
    bring_vf_up(vm)
    vm.sim.detach_vf("mce0")
    mark = len(vm.sim.calls())
    result = vm.devd.deliver(VF_UP)[0][1]
    assert (result.returncode, result.stdout) == (0, "hn0: VF was detached\n")
    assert vm.mutations_since(mark) == []
    assert vm.sim.interface("lagg0") is None
    assert vm.addresses("hn0") == ["10.0.0.4/24", "2001:db8::4/64"]


def test_e2e_lagg_creation_failing(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    vm.sim.start_dhclient("hn0")
    bring_vf_up(vm)
    vm.sim.fail(
        ["ifconfig", "lagg0", "create"],
        "ifconfig: SIOCIFCREATE2 (lagg0): Invalid argument",
    )
    mark = len(vm.sim.calls())
    (_, result), *_ = vm.devd.pump()
    assert result.returncode == hvtools.EX_OSERR
    assert result.stderr == (
        "hyperv_vfup: lagg0 creation failed "
        "(ifconfig: SIOCIFCREATE2 (lagg0): Invalid argument)\n"
    )
    # hn0 keeps its configuration and its dhclient.
    assert vm.mutations_since(mark) == [["ifconfig", "lagg0", "create"]]
    assert vm.addresses("hn0") == ["10.0.0.4/24", "2001:db8::4/64"]
    assert list(vm.sim.dhclients()) == ["hn0"]


def test_e2e_lagg_set_up_failing_destroys_the_half_made_lagg(vm):
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\n')
    bring_vf_up(vm)
    vm.sim.fail(["ifconfig", "lagg0", "laggproto"], "ifconfig: bad value", times=1)
    (_, result), *_ = vm.devd.pump()
    assert result.returncode == hvtools.EX_OSERR
    assert vm.sim.interface("lagg0") is None
    assert vm.addresses("hn0") == ["10.0.0.4/24", "2001:db8::4/64"]
    # The next VF_UP starts afresh and succeeds.
    vm.sim.pop_events()
    assert vm.devd.deliver(VF_UP)[0][1].returncode == 0
    assert vm.laggports("lagg0") == ["hn0", "mce0"]


def test_e2e_transparent_mode_never_makes_a_lagg(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    vm.sim.set_transparent(1)
    vm.sim.add_vf("hn0", "mce0")
    mark = len(vm.sim.calls())
    vm.devd.pump()
    assert vm.mutations_since(mark) == []
    assert vm.sim.events() == []
    assert vm.sim.interface("lagg0") is None


def test_e2e_old_kernel(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    vm.sim.old_kernel()
    vm.sim.add_vf("hn0", "mce0")
    mark = len(vm.sim.calls())
    vm.devd.pump()
    assert vm.mutations_since(mark) == []
    # A VF_UP (by hand) on a kernel without dev.hn.N.vf: one line, 69.
    result = vm.applet("hyperv_vfup", "hn0")
    assert result.returncode == hvtools.EX_UNAVAILABLE
    assert result.stderr == (
        "hyperv_vfup: no dev.hn.0.vf: no hn0, or a kernel without VF support\n"
    )
    assert vm.mutations_since(mark) == []


OVERRIDE = """#!/bin/sh
echo "override for $1"
echo "to stderr" >&2
exit 3
"""


def test_e2e_override_runs_instead(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    override = vm.root / "usr/libexec/hyperv/hyperv_vfup.hn0"
    override.write_text(OVERRIDE)
    override.chmod(0o755)
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    (_, result), *_ = vm.devd.pump()
    assert (result.returncode, result.stdout, result.stderr) == (
        3,
        "override for hn0\n",
        "to stderr\n",
    )
    assert vm.calls_since(mark) == []
    assert vm.sim.interface("lagg0") is None


def test_e2e_a_non_executable_override_is_ignored(vm):
    vm.rc_conf('ifconfig_hn0="inet 10.0.0.4/24"\n')
    override = vm.root / "usr/libexec/hyperv/hyperv_vfup.hn0"
    override.write_text(OVERRIDE)
    override.chmod(0o644)
    bring_vf_up(vm)
    (_, result), *_ = vm.devd.pump()
    assert result.returncode == 0
    assert vm.laggports("lagg0") == ["hn0", "mce0"]


@pytest.mark.parametrize(
    "name", ["hn0/../../../bin/sh", "../hn0", "hn0.x", "mce0", "hn", "'hn0 hn1'"]
)
def test_e2e_names_are_validated_before_anything(vm, name):
    # An override at the place a path trick would reach is never run.
    (vm.root / "usr/libexec/hyperv/hyperv_vfup.x").write_text(OVERRIDE)
    (vm.root / "usr/libexec/hyperv/hyperv_vfup.x").chmod(0o755)
    mark = len(vm.sim.calls())
    result = vm.applet("hyperv_vfup", name)
    assert result.returncode == hvtools.EX_USAGE
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert vm.calls_since(mark) == []


def test_e2e_two_vf_up_events_at_once(vm):
    vm.rc_conf('ifconfig_hn0="DHCP"\n')
    vm.sim.start_dhclient("hn0")
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    racing = [vm.start_applet("hyperv_vfup", "hn0") for _ in range(3)]
    results = [(*p.communicate(timeout=120), p.returncode) for p in racing]
    assert results == [("", "", 0)] * 3
    mutations = vm.mutations_since(mark)
    assert mutations.count(["ifconfig", "lagg0", "create"]) == 1
    # No errors: the only failing call is the probe that finds no lagg0.
    failed = [c["argv"] for c in vm.sim.calls()[mark:] if c["status"] != 0]
    assert failed == [["ifconfig", "lagg0"]]
    assert vm.laggports("lagg0") == ["hn0", "mce0"]
    assert list(vm.sim.dhclients()) == ["lagg0"]


def test_e2e_vf_up_on_another_hn_uses_its_own_lagg(vm):
    vm.sim.add_interface("hn1", inet=["10.1.0.4/24"])
    vm.rc_conf('ifconfig_hn0="DHCP"\nifconfig_hn1="inet 10.1.0.4/24"\n')
    vm.sim.add_vf("hn1", "mce1")
    vm.sim.pop_events()
    assert vm.program("/sbin/ifconfig", "mce1", "up").returncode == 0
    handled = vm.devd.pump()
    assert handled[0][0].endswith("/hyperv_vfup hn1")
    assert vm.laggports("lagg1") == ["hn1", "mce1"]
    assert vm.addresses("lagg1") == ["10.1.0.4/24"]
    assert vm.sim.interface("lagg0") is None


def test_route_restore_moves_a_link_local_gateways_scope():
    routes = [("-inet", "10.0.0.1"), ("-inet6", "fe80::1%hn0")]
    assert hvtools.route_restore_commands(routes, "hn0", "lagg0") == [
        ["/sbin/route", "-n", "add", "-inet", "default", "10.0.0.1"],
        ["/sbin/route", "-n", "add", "-inet6", "default", "fe80::1%lagg0"],
    ]
    assert hvtools.route_restore_commands([], "hn0", "lagg0") == []


def default_routes(vm):
    return sorted(
        (r["inet6"], r["gateway"], r["interface"])
        for r in vm.sim.routes()
        if r["destination"] == "default"
    )


def test_e2e_static_default_routes_follow_the_configuration(vm):
    vm.rc_conf(
        'ifconfig_hn0="inet 10.0.0.4/24"\n'
        'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
        'defaultrouter="10.0.0.1"\n'
        'ipv6_defaultrouter="2001:db8::1"\n'
    )
    vm.sim.add_route("default", "10.0.0.1", "hn0")
    vm.sim.add_route("default", "2001:db8::1", "hn0", inet6=True)
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    (_, result), *_ = vm.devd.pump()
    assert (result.returncode, result.stderr) == (0, "")
    assert default_routes(vm) == [
        (False, "10.0.0.1", "lagg0"),
        (True, "2001:db8::1", "lagg0"),
    ]
    # One netstat reads both families, before and after the lagg's set-up.
    assert routing_calls(vm, mark) == [
        ["netstat", "-rn"],
        ["route", "-n", "delete", "-inet", "default"],
        ["route", "-n", "delete", "-inet6", "default"],
        ["netstat", "-rn"],
        ["route", "-n", "add", "-inet", "default", "10.0.0.1"],
        ["route", "-n", "add", "-inet6", "default", "2001:db8::1"],
    ]


def routing_calls(vm, mark):
    return [argv for argv in vm.calls_since(mark) if argv[0] in ("netstat", "route")]


def test_e2e_dhcp_gets_its_default_route_on_the_lagg(vm):
    vm.rc_conf('ifconfig_hn0="SYNCDHCP"\n')
    vm.sim.start_dhclient("hn0")
    vm.sim.add_route("default", "10.0.0.1", "hn0")
    vm.sim.set_lease("lagg0", "10.0.0.4/24", router="10.0.0.1")
    bring_vf_up(vm)
    mark = len(vm.sim.calls())
    (_, result), *_ = vm.devd.pump()
    assert (result.returncode, result.stderr) == (0, "")
    assert default_routes(vm) == [(False, "10.0.0.1", "lagg0")]
    # dhclient brought the route back itself: nothing to restore.
    assert routing_calls(vm, mark) == [
        ["netstat", "-rn"],
        ["route", "-n", "delete", "-inet", "default"],
        ["netstat", "-rn"],
    ]


def test_e2e_a_bad_rc_conf_word_does_not_keep_dhclient_from_starting(vm):
    vm.rc_conf(
        'ifconfig_hn0="DHCP"\n'
        'ifconfig_hn0_alias0="inet 10.0.0.300/32"\n'
        'ifconfig_hn0_alias1="inet 10.0.0.6/32"\n'
    )
    vm.sim.set_lease("lagg0", "10.0.0.4/24")
    bring_vf_up(vm)
    (_, result), *_ = vm.devd.pump()
    assert result.returncode == hvtools.EX_OSERR
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith(
        "hyperv_vfup: /sbin/ifconfig lagg0 inet 10.0.0.300/32 alias: "
    )
    assert sorted(vm.addresses("lagg0")) == ["10.0.0.4/24", "10.0.0.6/32"]
    assert list(vm.sim.dhclients()) == ["lagg0"]


def test_an_image_is_refused_and_nothing_runs(run, root, sim):
    # A disk mounted at HVTOOLS_ROOT (no devfs on its /dev) has no VF.
    sim.add_interface("hn0")
    sim.add_vf("hn0", "mce0")
    (root / "dev/null").unlink()
    result = run("hyperv_vfup", "hn0")
    assert result.returncode == 69
    assert result.stderr == (
        f"hyperv_vfup: {root}: an image (no devfs on its /dev), not a running"
        " system: nothing to do\n"
    )
    assert sim.calls() == []
    assert "lagg0" not in sim.state()["interfaces"]


# The differential: current FreeBSD's own hyperv_vfup (freebsd-current,
# run by tests/freebsdsh.py with current rc.subr and network.subr) and
# hvtools', each on a twin simulated VM in the same state: hn0 as boot left
# it, a VF up.  The end states agree, but where hvtools does more (README,
# "FreeBSD 14 and 15"): that part is asserted for hvtools alone.

CURRENT_VFUP = "usr/libexec/hyperv/hyperv_vfup"
STATIC = 'ifconfig_hn0="inet 10.0.0.4/24"\n'
IPV6 = 'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
LEASE = ("10.0.0.4/24", "10.0.0.1")
STATIC_HN0 = {"inet": ["10.0.0.4/24"]}
# What current FreeBSD loses and hvtools keeps: hn0's default routes
# (in_ifadown() takes the IPv4 one with hn0's address; an IPv6 one stays
# on hn0, a lagg port).
KEPT_ROUTE = {"default": [("inet", "10.0.0.1", "lagg0")]}

# name: (rc.conf, hn0 as boot left it, what hvtools does more)
SCENARIOS = {
    "dhcp": ('ifconfig_hn0="DHCP"\n', {"dhcp": True}, {}),
    "syncdhcp": ('ifconfig_hn0="SYNCDHCP"\n', {"dhcp": True}, {}),
    "static-netmask": (
        'ifconfig_hn0="inet 10.0.0.4 netmask 255.255.255.0"\n'
        'defaultrouter="10.0.0.1"\n',
        {**STATIC_HN0, "route": "10.0.0.1"},
        KEPT_ROUTE,
    ),
    "static-cidr": (STATIC, STATIC_HN0, {}),
    "alias": (
        STATIC + 'ifconfig_hn0_alias0="inet 10.0.0.5/32"\n',
        {"inet": ["10.0.0.4/24", "10.0.0.5/32"]},
        # current's ipv6_lagg_up copies the aliases but configures the
        # inet6 ones only (ipv6_up); IPv4 aliases are lost.
        {"lagg0": ["10.0.0.4/24", "10.0.0.5/32"]},
    ),
    "ipv6": (
        STATIC + IPV6,
        {**STATIC_HN0, "inet6": ["2001:db8::4/64"]},
        {},
    ),
    "ipv6-no-keyword": (
        STATIC + 'ifconfig_hn0_ipv6="2001:db8::4/64"\n',
        {**STATIC_HN0, "inet6": ["2001:db8::4/64"]},
        {},
    ),
    "ipv6-default-route": (
        'ifconfig_hn0="DHCP"\n' + IPV6 + 'ipv6_defaultrouter="2001:db8::1"\n',
        {"dhcp": True, "inet6": ["2001:db8::4/64"], "route6": "2001:db8::1"},
        {
            "default": [
                ("inet", "10.0.0.1", "lagg0"),
                ("inet6", "2001:db8::1", "lagg0"),
            ]
        },
    ),
    "slaac": (
        'ifconfig_hn0="DHCP"\nifconfig_hn0_ipv6="inet6 accept_rtadv"\n',
        {"dhcp": True, "slaac": True},
        {},
    ),
    "inet6-alias": (
        STATIC + IPV6 + 'ifconfig_hn0_alias0="inet6 2001:db8::5/64"\n',
        {**STATIC_HN0, "inet6": ["2001:db8::4/64", "2001:db8::5/64"]},
        {},
    ),
    "ipv6-prefix": (
        STATIC + 'ipv6_prefix_hn0="2001:db8:7::"\n',
        {**STATIC_HN0, "prefix": "2001:db8:7::"},
        {},
    ),
    "ipv6-ifconfig-legacy": (
        STATIC + 'ipv6_ifconfig_hn0="2001:db8::4/64"\n',
        {**STATIC_HN0, "inet6": ["2001:db8::4/64"]},
        {},
    ),
    "ipv6-legacy-aliases": (
        # a gap in the numbers stops nothing, an empty one does
        STATIC
        + 'ipv6_ifconfig_hn0="2001:db8::4/64"\n'
        + 'ipv6_ifconfig_hn0_alias0="2001:db8::5/64"\n'
        + 'ipv6_ifconfig_hn0_alias2="2001:db8::7/64"\n'
        + 'ipv6_ifconfig_hn0_alias3=""\n'
        + 'ipv6_ifconfig_hn0_alias4="2001:db8::8/64"\n',
        {**STATIC_HN0, "inet6": ["2001:db8::4/64", "2001:db8::5/64", "2001:db8::7/64"]},
        {},
    ),
    "not-configured": ("", {}, {}),
}


def twin(top, hn0, rc_conf):
    """A simulated VM at top in the state boot left: hn0 per the scenario,
    the router's advertisement and lagg0's lease ready, mce0 up."""
    sim = fakebsd.FakeBSD(top).install()
    sim.add_interface(
        "hn0",
        ether="00:15:5d:0a:0b:0c",
        inet=hn0.get("inet", ["10.0.0.4/24"] if hn0.get("dhcp") else []),
        inet6=hn0.get("inet6", []),
        ifdisabled=False if hn0.get("slaac") or hn0.get("prefix") else None,
    )
    (top / "etc/rc.conf").write_text(rc_conf)
    for interface in ("hn0", "lagg0"):
        sim.set_router_advertisement(interface, "2001:db8:1::/64", "fe80::1")
    if hn0.get("slaac"):
        assert run_sim(top, IF, "hn0", "inet6", "accept_rtadv") == 0
        assert run_sim(top, "/sbin/rtsol", "hn0") == 0
    if hn0.get("prefix"):
        assert run_sim(top, IF, "hn0", "inet6", hn0["prefix"], "eui64", "alias") == 0
    if hn0.get("dhcp"):
        sim.start_dhclient("hn0")
        sim.add_route("default", "10.0.0.1", "hn0")
    for key, inet6 in (("route", False), ("route6", True)):
        if key in hn0:
            sim.add_route("default", hn0[key], "hn0", inet6=inet6)
    sim.set_lease("lagg0", *LEASE)
    sim.add_vf("hn0", "mce0")
    assert run_sim(top, IF, "mce0", "up") == 0
    sim.pop_events()
    return sim


def vfup_end_state(sim):
    state = {}
    for name in ("hn0", "lagg0"):
        iface = sim.interface(name)
        state[name] = sorted(
            f"{a['address']}/{a['prefixlen']}"
            for a in iface["inet"] + iface["inet6"]
            if not a["address"].startswith("fe80:")
        )
        state[f"{name} link-local"] = any(
            a["address"].startswith("fe80:") for a in iface["inet6"]
        )
        state[f"{name} nd6"] = [
            flag
            for bit, flag in ((0x8, "IFDISABLED"), (0x2, "ACCEPT_RTADV"))
            if iface["nd6"] & bit
        ]
    state["ports"] = sim.interface("lagg0")["lagg"]["ports"]
    state["default"] = sorted(
        ("inet6" if r["inet6"] else "inet", r["gateway"], r["interface"])
        for r in sim.routes()
        if r["destination"] == "default"
    )
    return state


@pytest.mark.parametrize("name", SCENARIOS)
def test_differential_against_current_freebsd(root, dist, tmp_path, name):
    rc_conf, hn0, more = SCENARIOS[name]
    current = tmp_path / "current"
    (current / "etc").mkdir(parents=True)
    current_sim = twin(current, hn0, rc_conf)
    freebsdsh.install_rc(current, release="current")
    freebsdsh.install(current, CURRENT_VFUP, release="current")
    done = freebsdsh.run(current, ["/bin/sh", f"/{CURRENT_VFUP}", "hn0"])
    assert done.returncode == 0, done.stderr
    vm = VM(root, dist, twin(root, hn0, rc_conf))
    result = vm.applet("hyperv_vfup", "hn0")
    assert (result.returncode, result.stderr) == (0, "")
    ours, theirs = vfup_end_state(vm.sim), vfup_end_state(current_sim)
    for key, value in more.items():
        assert ours[key] == value
        assert theirs[key] != value
        del ours[key], theirs[key]
    assert ours == theirs
    # hn0 keeps no IPv6 as a port, in every scenario.
    assert (ours["hn0 link-local"], ours["hn0 nd6"]) == (False, ["IFDISABLED"])
    # hvtools stops hn0's dhclient (current FreeBSD signals a pid file
    # that rc.d/dhclient no longer writes).
    assert list(vm.sim.dhclients()) == (["lagg0"] if hn0.get("dhcp") else [])


def test_a_slaac_vms_lagg_solicits_a_router_at_once(vm_slaac):
    sim, mutations = vm_slaac
    assert ["ifconfig", "hn0", "inet6", "-accept_rtadv"] in mutations
    assert ["rtsol", "lagg0"] in mutations
    assert "inet6 2001:db8:1:0:215:5dff:fe0a:b0c prefixlen 64 autoconf" in (
        sim.ifconfig_text("lagg0")
    )
    assert "nd6 options=29<PERFORMNUD,IFDISABLED,AUTO_LINKLOCAL>" in (
        sim.ifconfig_text("hn0")
    )
    assert ("inet6", "fe80::1%lagg0", "lagg0") in vfup_end_state(sim)["default"]


@pytest.fixture
def vm_slaac(root, dist):
    rc_conf, hn0, _ = SCENARIOS["slaac"]
    vm = VM(root, dist, twin(root, hn0, rc_conf))
    mark = len(vm.sim.calls())
    result = vm.applet("hyperv_vfup", "hn0")
    assert (result.returncode, result.stderr) == (0, "")
    return vm.sim, vm.mutations_since(mark)
