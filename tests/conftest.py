"""Shared fixtures: the built zipapp, temporary FreeBSD roots, the simulator.

Applets are run the way FreeBSD runs them: as subprocesses of the built
dist/ program, through its applet symlinks, directly or handed to sh.

No process a test starts outlives it.  The pytest process is a child
subreaper (prctl(2) PR_SET_CHILD_SUBREAPER), so a process that detaches
through the program under test (hyperv_vfattach's delayed `ifconfig VF up`)
is re-parented to pytest instead of init: wait_for_children() waits for
such processes without polling, and the autouse fixture fails a test that
leaves any process running, after ending it.
"""

import ctypes
import os
import select
import signal
import subprocess
import sys
import time

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(TESTS)
sys.path.insert(0, TOP)
sys.path.insert(0, TESTS)

import build  # noqa: E402

PR_SET_CHILD_SUBREAPER = 36  # <linux/prctl.h>


def become_subreaper():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


become_subreaper()


def children():
    """{pid: (state, command)} of this process's children, detached
    descendants re-parented to it included; zombies have state "Z"."""
    found = {}
    tasks = f"/proc/{os.getpid()}/task"
    for task in os.listdir(tasks):
        try:
            with open(f"{tasks}/{task}/children") as f:
                pids = [int(p) for p in f.read().split()]
        except FileNotFoundError:  # a thread that ended meanwhile
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except FileNotFoundError:  # reaped meanwhile
                continue
            command = " ".join(a.decode(errors="replace") for a in argv if a)
            found[pid] = (stat[stat.rindex(")") + 2], command)
    return found


def wait_for_children(timeout=60):
    """Wait until every child has exited, detached ones included (their
    exit makes their pidfd readable: no polling).  Zombies are left for the
    Popen objects that own them; the fixture reaps the rest."""
    deadline = time.monotonic() + timeout
    while True:
        running = [pid for pid, (state, _) in children().items() if state != "Z"]
        if not running:
            return
        for pid in running:
            try:
                fd = os.pidfd_open(pid)
            except ProcessLookupError:
                continue
            try:
                left = deadline - time.monotonic()
                if not select.select([fd], [], [], max(0, left))[0]:
                    raise AssertionError(f"still running after {timeout} s: {pid}")
            finally:
                os.close(fd)


def end_children():
    """Kill and reap every child still running, reap the exited ones;
    returns {pid: command} of those that were still running."""
    ended = {}
    while True:
        found = children()
        if not found:
            return ended
        for pid, (state, command) in found.items():
            if state != "Z":
                ended[pid] = command
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:  # a Popen object reaped it meanwhile
                pass


def check_no_process_left():
    left = end_children()
    assert not left, f"the test left processes running (now killed): {left}"


def pytest_collection_modifyitems(config, items):
    """Under `build.py test`, each of JOBS pytest processes keeps every
    JOBS-th test, from INDEX on (HVTOOLS_TEST_SHARD=INDEX/JOBS): a file's
    slow tests are dealt out among them like the rest."""
    shard = os.environ.get("HVTOOLS_TEST_SHARD")
    if not shard:
        return
    index, jobs = (int(n) for n in shard.split("/"))
    others = [item for n, item in enumerate(items) if n % jobs != index]
    items[:] = items[index::jobs]
    config.hook.pytest_deselected(items=others)


@pytest.fixture(autouse=True)
def no_process_outlives_its_test():
    yield
    check_no_process_left()


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    """A fresh build of the current tree: the directory holding hvtools and links."""
    outdir = tmp_path_factory.mktemp("dist")
    build.build(str(outdir))
    return outdir


@pytest.fixture
def root(tmp_path):
    """An empty FreeBSD root with the usual directories."""
    top = tmp_path / "root"
    for d in (
        "etc/defaults",
        "etc/rc.conf.d",
        "var/run",
        "var/db",
        "usr/libexec/hyperv",
    ):
        (top / d).mkdir(parents=True)
    return top


@pytest.fixture
def sim(root):
    """The simulated FreeBSD network stack installed into root."""
    import fakebsd

    return fakebsd.FakeBSD(str(root)).install()


def run_sim(root, program, *args):
    """Run a simulated system program installed in root (its path there,
    "/sbin/ifconfig"), as the administrator at a shell: its exit status."""
    return subprocess.run([str(root / program.lstrip("/")), *args]).returncode


def hv_env(root, **extra):
    """The environment an applet runs with: the test root and this Python."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HVTOOLS_ROOT": str(root),
        "HVTOOLS_PYTHON": sys.executable,
        "HOME": str(root),
    }
    env.update(extra)
    return env


class Runner:
    """Run applets of the built program against one root."""

    def __init__(self, dist, root):
        self.dist = dist
        self.root = root

    def __call__(self, applet, *args, via="link", env=None, input=None):
        """via: "link" (execute dist/APPLET), "sh" (sh dist/APPLET, as
        hv_kvp_daemon does) or "hvtools" (dist/hvtools APPLET)."""
        if via == "hvtools":
            argv = [str(self.dist / "hvtools"), applet, *args]
        elif via == "sh":
            argv = ["/bin/sh", str(self.dist / applet), *args]
        else:
            argv = [str(self.dist / applet), *args]
        return subprocess.run(
            argv,
            env=env or hv_env(self.root),
            input=input,
            capture_output=True,
            text=True,
            timeout=60,
        )


@pytest.fixture
def run(dist, root):
    return Runner(dist, root)
