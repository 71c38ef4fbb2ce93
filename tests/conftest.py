"""Shared fixtures: the built zipapp, temporary FreeBSD roots, the simulator.

Applets are run the way FreeBSD runs them: as subprocesses of the built
dist/ program, through its applet symlinks, directly or handed to sh.
"""

import os
import subprocess
import sys

import pytest

TESTS = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(TESTS)
sys.path.insert(0, TOP)
sys.path.insert(0, TESTS)

import build  # noqa: E402


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
