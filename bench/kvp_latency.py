"""GET_IP_INFO latency through FreeBSD 12.1's own hv_kvp_daemon (issue 17).

    python3 bench/kvp_latency.py [--runs N]     (as root: freebsdsh needs it)

Builds hvtools (a temporary dist/) and the daemon (tests/kvpd.py), then for
each helper set and each address count starts the daemon chroot(8)ed into a
simulated VM (tests/freebsdsh.py) and asks GET_IP_INFO for hn0 N times, as
the host does through the kernel's device; prints the median and the
spread (min-max) of the wall time from the request to the daemon's answer,
as a Markdown table.

Helper sets: FreeBSD 12.1's original hv_get_dns_info and hv_get_dhcp_info
(sh scripts: rc.subr and network.subr for the DHCP state; run by bash as
sh, as tests/freebsdsh.py does), hvtools installed over them, and as a
baseline two sh scripts that print nothing and "Enabled".  hn0 has
one, then three IPv4 addresses: the daemon runs both helpers and two
`netstat -rn | grep hn0 | awk` pipelines once per address.  The simulator's
ifconfig and netstat are Python programs: each getifaddrs() (the daemon
makes two per GET) and each netstat costs a Python start, in both columns
alike, where FreeBSD asks the kernel.
"""

import argparse
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path[:0] = [TOP, os.path.join(TOP, "tests")]

import kvpd  # noqa: E402

import build  # noqa: E402
import fakebsd  # noqa: E402
import freebsdsh  # noqa: E402

# Helpers that do (almost) nothing: what the daemon, its sh and pipelines
# and the simulator cost without them.
EMPTY = "empty sh scripts (baseline)"
ADDRESSES = {1: ["10.0.0.4/24"], 3: ["10.0.0.4/24", "10.0.1.5/24", "10.0.2.6/24"]}


def make_vm(top, addresses, helpers, dist):
    root = os.path.join(top, "root")
    for d in ("etc/defaults", "var/run", "var/db", "usr/libexec/hyperv"):
        os.makedirs(os.path.join(root, d))
    sim = fakebsd.FakeBSD(root).install()
    sim.add_interface("hn0", inet=addresses)
    sim.add_route("default", "10.0.0.1", "hn0")
    with open(os.path.join(root, "etc/rc.conf"), "w") as f:
        f.write('ifconfig_hn0="inet 10.0.0.4/24"\n')
    with open(os.path.join(root, "etc/resolv.conf"), "w") as f:
        f.write("nameserver 10.0.0.53\n")
    freebsdsh.install_rc(root)  # the original hv_get_dhcp_info's rc.subr
    kvpd.install_original_scripts(root)
    kvpd.make_var_db_hyperv(root)
    if helpers == "hvtools":
        build.install(root, "/usr/local", False, dist)
    elif helpers == EMPTY:
        for name in ("hv_get_dns_info", "hv_get_dhcp_info"):
            with open(os.path.join(root, "usr/libexec/hyperv", name), "w") as f:
                f.write("echo Enabled\n" if name == "hv_get_dhcp_info" else "")
    return root, sim.interface("hn0")["ether"]


def measure(program, dist, helpers, count, runs):
    with tempfile.TemporaryDirectory(prefix="kvpbench-") as top:
        root, mac = make_vm(top, ADDRESSES[count], helpers, dist)
        times = []
        with kvpd.Daemon(root, program) as daemon:
            first = daemon.get_ip_info(mac)  # warm-up, and the answer checked
            assert first.error == kvpd.HV_S_OK, hex(first.error)
            assert first.ip_addr.count(";") == count, first.ip_addr
            for _ in range(runs):
                daemon.get_ip_info(mac)
                times.append(daemon.elapsed * 1000)
        return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)
    freebsdsh.check_root()
    with tempfile.TemporaryDirectory(prefix="kvpbench-build-") as work:
        dist = os.path.join(work, "dist")
        build.build(dist)
        program = kvpd.build(work)
        print(f"GET_IP_INFO for hn0, {args.runs} runs, median (min-max) ms\n")
        print("| helpers | 1 address | 3 addresses |")
        print("|---|---|---|")
        for helpers in (EMPTY, "FreeBSD 12.1 scripts", "hvtools"):
            cells = []
            for count in (1, 3):
                times = measure(program, dist, helpers, count, args.runs)
                low, high = min(times), max(times)
                cells.append(f"{statistics.median(times):.0f} ({low:.0f}-{high:.0f})")
            print(f"| {helpers} | {cells[0]} | {cells[1]} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
