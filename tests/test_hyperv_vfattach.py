"""hyperv_vfattach: run as devd runs it, on the simulated kernel."""

import time

import pytest
from vfvm import VM

import hvtools

SYSCTL_TRANSPARENT = ["sysctl", "-n", "hw.hn.vf_transparent"]
SYSCTL_VFLIST = ["sysctl", "-n", "hw.hn.vflist"]


@pytest.fixture
def vm(root, dist, sim):
    vm = VM(root, dist, sim)
    sim.add_interface("hn0", inet=["10.0.0.4/24"])
    vm.devd.pump()  # hn0's own IFATTACH: not a VF
    return vm


def attach_vf(vm):
    vm.sim.add_vf("hn0", "mce0")
    mark = len(vm.sim.calls())
    started = time.monotonic()
    (handled,) = vm.devd.pump()
    returned = time.monotonic()
    command, result = handled
    assert command.endswith("/hyperv_vfattach mce0 0")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    return mark, started, returned


@pytest.mark.parametrize(("delay", "expected"), [("3", 3), (None, 2), ("1", 2)])
def test_vf_attach_returns_at_once_and_brings_the_vf_up_later(vm, delay, expected):
    vm.rc_conf("" if delay is None else f'hyperv_vf_delay="{delay}"\n')
    mark, started, returned = attach_vf(vm)
    # devd got its action back before the delay was over ...
    assert returned - started < expected
    assert vm.interface("mce0")["up"] is False
    # ... and a detached process brought the VF up after it.
    up_at = vm.wait_for_call(["ifconfig", "mce0", "up"])
    assert up_at - started >= expected
    assert vm.interface("mce0")["up"] is True
    assert vm.mutations_since(mark) == [["ifconfig", "mce0", "up"]]
    # Bringing the VF up is what makes the kernel raise VF_UP for hn0.
    assert {"system": "HYPERV_NIC_VF", "subsystem": "hn0", "type": "VF_UP"} in (
        vm.sim.events()
    )


def test_a_non_vf_interface_attaching_is_left_alone(vm):
    vm.sim.add_interface("hn1")
    mark = len(vm.sim.calls())
    (handled,) = vm.devd.pump()
    assert handled[0].endswith("/hyperv_vfattach hn1 0")
    assert handled[1].returncode == 0
    # Only the two questions; no detached process was started (it would
    # have read nothing else first).
    assert vm.calls_since(mark) == [SYSCTL_TRANSPARENT, SYSCTL_VFLIST]


def test_transparent_mode_does_nothing(vm):
    vm.sim.set_transparent(1)
    vm.sim.add_vf("hn0", "mce0")
    mark = len(vm.sim.calls())
    (handled,) = vm.devd.pump()
    assert handled[1].returncode == 0
    assert vm.calls_since(mark) == [SYSCTL_TRANSPARENT]
    # The kernel brought the VF up itself and raised no VF_UP.
    assert vm.interface("mce0")["up"] is True
    assert vm.sim.events() == []


def test_transparent_mode_with_a_delay_does_nothing(vm):
    vm.sim.set_transparent(1)
    vm.sim.add_vf("hn0", "mce0")
    vm.sim.pop_events()
    mark = len(vm.sim.calls())
    result = vm.applet("hyperv_vfattach", "mce0", "5")
    assert result.returncode == 0
    assert vm.calls_since(mark) == [SYSCTL_TRANSPARENT]


def test_old_kernel_does_nothing(vm):
    vm.sim.old_kernel()
    vm.sim.add_vf("hn0", "mce0")
    mark = len(vm.sim.calls())
    (handled,) = vm.devd.pump()
    assert handled[1].returncode == 0
    # hw.hn.vf_transparent unknown counts as 0; hw.hn.vflist unknown: stop.
    assert vm.calls_since(mark) == [SYSCTL_TRANSPARENT, SYSCTL_VFLIST]
    assert vm.interface("mce0")["up"] is False


def test_a_delay_argument_waits_then_brings_the_interface_up(vm):
    vm.sim.add_vf("hn0", "mce0")
    vm.sim.pop_events()
    started = time.monotonic()
    result = vm.applet("hyperv_vfattach", "mce0", "1")
    assert time.monotonic() - started >= 1
    assert (result.returncode, result.stderr) == (0, "")
    assert vm.interface("mce0")["up"] is True


def test_a_delay_argument_returns_ifconfigs_status(vm):
    result = vm.applet("hyperv_vfattach", "nosuch0", "1")
    assert result.returncode == 1
    assert result.stderr == (
        "hyperv_vfattach: ifconfig nosuch0 up: "
        "ifconfig: interface nosuch0 does not exist\n"
    )


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["mce0"],
        ["mce0", "0", "0"],
        ["../mce0", "0"],
        ["'mce0;reboot'", "0"],
        ["mce0", "-1"],
        ["mce0", "3601"],
        ["mce0", "1.5"],
        ["mce0", "abc"],
        ["mce0", "''"],
        ["mce0", "00000"],
    ],
)
def test_bad_arguments_are_a_usage_error_and_nothing_is_done(vm, args):
    vm.sim.add_vf("hn0", "mce0")
    vm.sim.pop_events()
    mark = len(vm.sim.calls())
    result = vm.applet("hyperv_vfattach", *args)
    assert result.returncode == hvtools.EX_USAGE
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("hyperv_vfattach: ")
    assert vm.calls_since(mark) == []


def test_delay_bounds_are_accepted(vm):
    vm.sim.set_transparent(1)
    for delay in ("0", "3600"):
        assert vm.applet("hyperv_vfattach", "mce0", delay).returncode == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 2),
        ("", 2),
        ("0", 2),
        ("1", 2),
        ("2", 2),
        ("120", 120),
        (" 30 ", 30),
        ("abc", 2),
        ("-5", 2),
        ("1e3", 2),
        ("99999", 3600),
    ],
)
def test_hyperv_vf_delay(value, expected):
    env = {} if value is None else {"hyperv_vf_delay": value}
    assert hvtools.vf_delay(env) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("0", False), ("1", True), ("2", True), ("", False), ("x", False)],
)
def test_vf_transparent(value, expected):
    assert hvtools.is_vf_transparent(value) is expected


@pytest.mark.parametrize("args", [("mce0", "0"), ("mce0", "3")])
def test_an_image_is_refused_and_nothing_runs(run, root, sim, args):
    # A disk mounted at HVTOOLS_ROOT (no devfs on its /dev) has no VF.
    sim.add_interface("hn0")
    sim.add_vf("hn0", "mce0")
    (root / "dev/null").unlink()
    result = run("hyperv_vfattach", *args)
    assert result.returncode == 69
    assert result.stderr == (
        f"hyperv_vfattach: {root}: an image (no devfs on its /dev), not a running"
        " system: nothing to do\n"
    )
    assert sim.calls() == []
