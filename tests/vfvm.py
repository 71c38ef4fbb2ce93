"""A simulated Hyper-V VM with hvtools installed, driven the way devd drives
it: shared by the VF bring-up and status tests."""

import subprocess
import sys

import build
import devd
from conftest import hv_env, wait_for_children

LIBEXEC = "/usr/libexec/hyperv"


def running_system(root):
    """What a booted FreeBSD with python3 has beyond the simulator: devfs on
    /dev (hvtools status tells it from an image by that), and the package's
    /usr/local/bin/python3, here this interpreter."""
    (root / "dev").mkdir(exist_ok=True)
    (root / "dev/null").touch()
    python = root / "usr/local/bin/python3"
    python.parent.mkdir(parents=True, exist_ok=True)
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)


def addresses(sim, name):
    """An interface's addresses as ADDRESS/LEN, IPv4 first, link-local
    IPv6 left out."""
    iface = sim.interface(name)
    inet = [f"{a['address']}/{a['prefixlen']}" for a in iface["inet"]]
    inet6 = [
        f"{a['address']}/{a['prefixlen']}"
        for a in iface["inet6"]
        if not a["address"].startswith("fe80:")
    ]
    return inet + inet6


class VM:
    def __init__(self, root, dist, sim):
        self.root = root
        self.sim = sim
        build.install(str(root), "/usr", False, str(dist))
        running_system(root)
        self.env = hv_env(root)
        self.devd = devd.Devd(root, sim, self.env)

    def rc_conf(self, text):
        (self.root / "etc/rc.conf").write_text(text)

    def applet(self, name, *args):
        """Run an installed applet as devd would: sh -c "PATH ARGS"."""
        command = " ".join([f"{self.root}{LIBEXEC}/{name}", *args])
        return subprocess.run(
            ["/bin/sh", "-c", command],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start_applet(self, name, *args):
        return subprocess.Popen(
            [f"{self.root}{LIBEXEC}/{name}", *args],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def program(self, path, *args):
        """Run a simulated system program (the administrator at a shell)."""
        return subprocess.run(
            [f"{self.root}{path}", *args], capture_output=True, text=True, timeout=60
        )

    def calls_since(self, mark):
        return [c["argv"] for c in self.sim.calls()[mark:]]

    def mutations_since(self, mark):
        return [c["argv"] for c in self.sim.state()["log"][mark:] if c["mutating"]]

    def wait_for_call(self, argv, timeout=30):
        """Wait for the processes the applets detached to finish, then the
        time.monotonic() at which the first of them ran argv."""
        wait_for_children(timeout)
        times = self.sim.call_times(argv)
        assert times, f"{argv} never called"
        return times[0]

    def interface(self, name):
        return self.sim.interface(name)

    def addresses(self, name):
        return addresses(self.sim, name)

    def laggports(self, name):
        text = self.sim.ifconfig_text(name)
        return [
            line.split()[1]
            for line in text.splitlines()
            if line.strip().startswith("laggport:")
        ]
