"""hvtools' devd rules as staged by build.py install, read with a
devd.conf(5) parser, and the parser itself."""

import os
from types import SimpleNamespace

import pytest

import build
import devd
import freebsdsh
import hvtools

# The base system's two VF rules (/etc/devd/hyperv.conf), as devd sees them.
BASE_RULES = """
notify 10 {
	match "system"		"HYPERV_NIC_VF";
	match "type"		"VF_UP";
	action "/usr/libexec/hyperv/hyperv_vfup $subsystem";
};
notify 10 {
	match "system"		"ETHERNET";
	match "type"		"IFATTACH";
	match "vm_guest"	"hv";
	action "/usr/libexec/hyperv/hyperv_vfattach $subsystem 0";
};
"""

# FreeBSD 12.1's IFATTACH rule (hyperv/devd-hyperv.conf): no vm_guest.
BASE_RULES_12 = """
notify 10 {
	match "system"		"ETHERNET";
	match "type"		"IFATTACH";
	action "/usr/libexec/hyperv/hyperv_vfattach $subsystem 0";
};
"""

VF_UP = {"system": "HYPERV_NIC_VF", "subsystem": "hn0", "type": "VF_UP"}
IFATTACH = {"system": "ETHERNET", "subsystem": "mce0", "type": "IFATTACH"}
# LINK_UP of an Ethernet interface; devd's media-type statement asks the
# interface's media (devd.cc media::do_match), here a variable.
LINK_UP = {"system": "IFNET", "subsystem": "hn0", "type": "LINK_UP"}
ETHERNET = {"media-type": "ethernet"}
# devd.conf's own LINK_UP rules (12.1's /etc/devd.conf has the same), as
# the current tree installs them: /etc/devd/dhclient.conf.
with open(os.path.join(freebsdsh.FREEBSD_CURRENT, "etc/devd/dhclient.conf")) as f:
    DHCLIENT_RULES = f.read()


# The parser


def test_parser_reads_statements_comments_and_continuations():
    text = """
# a comment ; { }
options {
	directory "/etc/devd";
	set wifi-driver-regex
		"(ath|iwn)[0-9]+";
};
// another comment
/* a block comment
   notify 99 { action "never"; };
*/
notify 0 {
	match "system"	"IFNET";
	match "subsystem" "!(usbus|wlan)[0-9]+";
	media-type "ethernet";
	action "logger one \\
		two";
};
attach 100 { device-name "ed50"; action "ifconfig $device-name up"; };
"""
    rules = devd.parse(text)
    assert [(r.kind, r.priority) for r in rules] == [("notify", 0), ("attach", 100)]
    assert rules[0].matches == [
        ("system", "IFNET"),
        ("subsystem", "!(usbus|wlan)[0-9]+"),
        ("media-type", "ethernet"),
    ]
    assert rules[0].actions == ["logger one two"]
    assert rules[1].actions == ["ifconfig $device-name up"]


@pytest.mark.parametrize(
    "text",
    [
        'notify 10 { match "system" "X" };',  # missing ;
        'notify 10 { match "system" "X"; }',  # missing ; after the block
        'notify { action "x"; };',  # no priority
        'notify 10 { action ""; };',  # devd strings are never empty
        'notify 10 { frobnicate "x"; };',
        'notify 10 { action "x"; }; /* unterminated',
    ],
)
def test_parser_rejects_what_devd_rejects(text):
    with pytest.raises(devd.ParseError):
        devd.parse(text)


def test_matches_are_anchored_regexes_and_bang_negates():
    (rule,) = devd.parse(
        'notify 0 { match "system" "IFNET"; match "subsystem" "!lo[0-9]+"; };'
    )
    assert rule.matches_event({"system": "IFNET", "subsystem": "hn0"})
    assert not rule.matches_event({"system": "IFNET", "subsystem": "lo0"})
    assert not rule.matches_event({"system": "IFNETX", "subsystem": "hn0"})
    assert not rule.matches_event({"subsystem": "hn0"})


def test_expand_substitutes_variables():
    assert devd.expand("/x/hyperv_vfup $subsystem", VF_UP) == "/x/hyperv_vfup hn0"
    assert devd.expand("$nosuch $type", VF_UP) == " VF_UP"
    assert devd.expand("$device-name", {"device-name": "ed0"}) == "ed0"


# The installed rules


@pytest.fixture(params=["/usr/local", "/usr"])
def staged(request, dist, tmp_path):
    prefix = request.param
    destdir = tmp_path / "stage"
    build.install(str(destdir), prefix, False, str(dist))
    rules_dir = "/usr/local/etc/devd" if prefix == "/usr/local" else "/etc/devd"
    rules = destdir / rules_dir.lstrip("/") / "hvtools.conf"
    return SimpleNamespace(prefix=prefix, destdir=destdir, rules=rules)


def test_install_stages_the_rules_where_devd_reads_them(staged):
    assert staged.rules.is_file()
    assert oct(staged.rules.stat().st_mode & 0o777) == "0o644"
    # Beside, never over, the base system's own hyperv.conf.
    assert staged.rules.name != "hyperv.conf"
    assert "%%" not in staged.rules.read_text()


def test_every_action_names_an_installed_applet(staged):
    parsed = devd.parse(staged.rules.read_text())
    assert len(parsed) == 3
    for rule in parsed:
        for action in rule.actions:
            program, applet = action.split()[:2]
            assert program.startswith(f"{staged.prefix}/libexec/hyperv/")
            installed = staged.destdir / program.lstrip("/")
            if installed.name == "hvtools":  # hvtools APPLET
                assert installed.is_file() and not installed.is_symlink()
                assert applet in hvtools.APPLETS
            else:
                assert os.readlink(installed) == "hvtools"
                assert installed.name in hvtools.linked_applets()


def test_priorities_beat_the_base_rules(staged):
    ours = devd.parse(staged.rules.read_text())
    assert all(rule.priority > 10 for rule in ours)
    everything = devd.parse(BASE_RULES) + ours
    for event, applet in ((VF_UP, "hyperv_vfup"), (IFATTACH, "hyperv_vfattach")):
        variables = dict(event, vm_guest="hv")
        rule = devd.winner(everything, "notify", variables)
        assert rule in ours
        assert rule.actions[0].startswith(f"{staged.prefix}/libexec/hyperv/{applet} ")


def test_link_up_of_an_hn_runs_hvtools_linkup_and_no_other(staged):
    # hvtools' rule outranks devd.conf's dhclient rule for hn(4) only.
    ours = devd.parse(staged.rules.read_text())
    everything = devd.parse(BASE_RULES + DHCLIENT_RULES) + ours
    rule = devd.winner(everything, "notify", dict(LINK_UP, **ETHERNET))
    assert rule in ours
    assert rule.actions == [
        f"{staged.prefix}/libexec/hyperv/hvtools linkup $subsystem"
        " || service dhclient quietstart $subsystem"
    ]
    em0 = dict(LINK_UP, subsystem="em0", **ETHERNET)
    rule = devd.winner(everything, "notify", em0)
    assert rule.actions == ["service dhclient quietstart $subsystem"]
    for other in ("hn", "hn0x", "lagg0", "mce0"):
        variables = dict(LINK_UP, subsystem=other)
        assert devd.winner(ours, "notify", variables) is None


def test_ifattach_rule_only_on_hyper_v(staged):
    parsed = devd.parse(staged.rules.read_text())
    assert devd.winner(parsed, "notify", dict(IFATTACH, vm_guest="kvm")) is None
    assert devd.winner(parsed, "notify", dict(IFATTACH, vm_guest="hv")) is not None


def test_ifattach_rule_fires_on_freebsd_12s_devd_without_vm_guest(staged):
    # 12.1's devd.cc sets no vm_guest: the variable reads as "".
    parsed = devd.parse(staged.rules.read_text())
    rule = devd.winner(devd.parse(BASE_RULES_12) + parsed, "notify", IFATTACH)
    assert rule in parsed


def test_unset_variables_match_as_empty_and_case_is_ignored():
    (rule,) = devd.parse('notify 0 { match "system" "ifnet"; match "x" "(a)?"; };')
    assert rule.matches_event({"system": "IFNET"})
    assert not rule.matches_event({"system": "IFNET", "x": "b"})
    (negated,) = devd.parse('notify 0 { match "x" "!a"; };')
    assert negated.matches_event({})


def test_equal_priorities_run_the_first_in_file_order():
    rules = devd.parse('notify 5 { action "one"; }; notify 5 { action "two"; };')
    assert devd.winner(rules, "notify", {}).actions == ["one"]


def test_uninstall_removes_the_rules(staged, dist):
    build.install(str(staged.destdir), staged.prefix, True, str(dist))
    assert not staged.rules.exists()
    assert not (
        staged.destdir / staged.prefix.lstrip("/") / "libexec/hyperv/hvtools"
    ).exists()


def test_status_looks_where_the_rules_are_staged(staged):
    assert str(staged.rules.relative_to(staged.destdir)) in [
        p.lstrip("/") for p in hvtools.DEVD_RULES
    ]
