"""The harness that runs FreeBSD's own scripts (tests/freebsdsh.py)."""

import os

import pytest

import fakebsd
import freebsdsh


def sh(root, script, env=None):
    return freebsdsh.run(root, ["/bin/sh", "-c", script], env=env)


def test_shift_past_the_arguments_returns_1_as_freebsd_sh_does(root):
    # bin/sh/eval.c shiftcmd: "can't shift that many" is not fatal in
    # FreeBSD 12's sh; rc.d/netif's netif_common shifts past $#.
    done = sh(root, "set -- a; shift 3; echo status=$? still here")
    assert done.stdout == "status=1 still here\n"


def test_setvar_assigns_as_freebsd_sh_does(root):
    # sh(1) "setvar variable value": rc.subr's get_if_var family uses it.
    done = sh(root, 'setvar "x_y" "a b"; echo "$x_y"')
    assert done.stdout == "a b\n"


def test_the_scripts_see_the_test_root_as_etc_sbin_var(root):
    (root / "etc" / "rc.conf").write_text('hostname="x"\n')
    done = sh(root, "cat /etc/rc.conf; echo made > /var/run/made")
    assert done.stdout == 'hostname="x"\n'
    assert (root / "var" / "run" / "made").read_text() == "made\n"


def test_usr_local_is_the_roots_own(root):
    # rc.subr's load_rc_config reads ${local_startup%/rc.d}/rc.conf.d/NAME.
    (root / "usr/local/etc").mkdir(parents=True)
    (root / "usr/local/etc/x").write_text("local\n")
    done = sh(root, "cat /usr/local/etc/x")
    assert done.stdout == "local\n"


def test_the_machine_is_read_only_and_unchanged(root):
    done = sh(
        root,
        "for d in /usr/lib /.host/usr/bin; do"
        " echo x > $d/freebsdsh-test 2>/dev/null; echo $?; done;"
        " echo x > /usr/bin/freebsdsh-test; echo $?",
    )
    # /usr/bin is the scratch tree's (links to this machine's programs).
    assert done.stdout.split() == ["1", "1", "0"]
    for d in ("/usr/lib", "/usr/bin"):
        assert not os.path.exists(f"{d}/freebsdsh-test")


def test_the_roots_own_programs_replace_the_machines(sim, root):
    # The simulator's /bin/pgrep, not procps's.
    sim.start_dhclient("hn0")
    done = sh(root, "/bin/pgrep -x dhclient; /usr/bin/netstat -rn | head -1")
    assert done.stdout.splitlines() == [str(fakebsd.FIRST_PID), "Routing tables"]


def test_the_environment_is_exactly_the_one_given(root):
    done = freebsdsh.run(root, ["/usr/bin/env"], env={"PATH": "/bin", "reason": "X"})
    # As dhclient's execve() of dhclient-script: nothing of pytest's.
    assert done.stdout.splitlines() == ["PATH=/bin", "reason=X"]


def test_the_simulators_programs_run_inside(sim, root):
    sim.add_interface("hn0", inet=["10.0.0.4/24"])
    done = sh(root, "/sbin/ifconfig -l; /sbin/route add default 10.0.0.1")
    assert done.stdout.splitlines()[0] == "lo0 hn0"
    assert [r["gateway"] for r in sim.routes()] == ["10.0.0.1"]


def test_bin_sh_is_bash_with_the_shims(root):
    done = sh(root, "echo $BASH_VERSION; type setvar | head -1")
    version, kind = done.stdout.splitlines()
    assert version
    assert kind == "setvar is a function"


def test_nothing_stays_mounted_or_behind(root, tmp_path):
    sh(root, "true")
    with open("/proc/self/mountinfo") as f:
        assert str(tmp_path) not in f.read()
    assert [p.name for p in tmp_path.iterdir()] == ["root"]


def test_install_copies_freebsds_files_unmodified(root):
    freebsdsh.install(root, "sbin/dhclient-script", "etc/rc.subr")
    for rel in ("sbin/dhclient-script", "etc/rc.subr"):
        with open(os.path.join(freebsdsh.FREEBSD, rel), "rb") as f:
            assert (root / rel).read_bytes() == f.read()
    assert os.access(root / "sbin" / "dhclient-script", os.X_OK)


@pytest.mark.parametrize("release", freebsdsh.RELEASES)
def test_install_gives_freebsds_modes(root, release):
    # The shared copies' modes differ (current's dhclient-script is 444
    # there); FreeBSD installs its programs 555, the rest 444.
    programs = ["sbin/dhclient-script", "etc/rc.d/netif"]
    if release == "current":
        programs.append("usr/libexec/hyperv/hyperv_vfup")
    freebsdsh.install(root, *programs, "etc/rc.subr", release=release)
    assert [os.access(root / rel, os.X_OK) for rel in programs] == [True] * len(
        programs
    )
    assert (root / "etc/rc.subr").stat().st_mode & 0o777 == 0o644


def test_only_root_may_run_it(root, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(freebsdsh.NotRoot):
        sh(root, "true")


def test_usr_libexec_hyperv_and_the_root_programs_are_the_roots_own(root):
    # hv_kvp_daemon runs `sh /usr/libexec/hyperv/NAME` and, with rc(8)'s
    # PATH (/bin first), `netstat -rn | grep IF | awk ...`: the root's
    # helpers, the simulator's netstat (not this machine's /bin/netstat),
    # and an awk that works though this machine reaches it through its
    # /etc/alternatives.
    fakebsd.FakeBSD(str(root)).install()
    (root / "usr/libexec/hyperv/helper").write_text("echo helper\n")
    done = sh(
        root,
        "sh /usr/libexec/hyperv/helper; ls /usr/libexec | grep -c .;"
        " netstat -rn | awk '/^127/ {print $1}'",
    )
    lines = done.stdout.splitlines()
    assert lines[0] == "helper"
    assert int(lines[1]) > 1  # this machine's entries are there too
    assert lines[2:] == ["127.0.0.1"]


def test_current_rc_subr_runs_with_its_dollar_quotes(root):
    # Current rc.subr's list_vars has `local IFS=$'\n'`, `local -` and
    # set -o noglob: ifconfig_IF_aliasN handling depends on it.
    fakebsd.FakeBSD(root).install()
    freebsdsh.install_rc(root, release="current")
    (root / "etc/rc.conf").write_text(
        'ifconfig_hn0_alias0="inet 10.0.0.5/32"\nifconfig_hn0_alias1="x y"\n'
    )
    done = sh(
        root,
        ". /etc/rc.subr; load_rc_config netif;"
        ' list_vars "ifconfig_hn0_alias*"; echo "localbase=$_localbase"',
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "ifconfig_hn0_alias0\nifconfig_hn0_alias1\nlocalbase=/usr/local\n"
    )
