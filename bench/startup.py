"""Start-up benchmark of hvtools (issue 5): wall time and peak RSS per command.

    python3 bench/startup.py [--runs N] [--rss-runs N] [--warmup N]

Builds dist/hvtools first when it is missing or older than hvtools.py or
build.py (with the bytecode of this interpreter), then runs every command of
the table in interleaved rounds (A B C ... A B C ...), a few warm-up rounds
first, and prints medians as a Markdown table for the README.

Every command runs on the real interpreter (sys.executable resolved, never a
pyenv-style shim), which the launcher finds through HVTOOLS_PYTHON, the first
step of its search order.  The applets run against a copy of
examples/azure-vm (or generated roots for the scaling rows), with rc(8)'s
PATH, output to /dev/null.

Wall time: this program's own clock (time.perf_counter) around
os.posix_spawn and os.waitpid of the command; nothing else in between.

Peak RSS: ru_maxrss of the command, as wait4(2) reports it.  It must not come
from this process: at exec, Linux records the old address space's RSS
high-water mark in the process's maxrss, and a child of posix_spawn (vfork)
or fork() starts with its parent's pages, so every child of a 30 MB parent
would show at least 30 MB.  Instead a helper, a bare `python -I -S -B` that
does nothing but fork, exec and wait4, runs the commands: its children
inherit only its few MB of private pages.  The benchmark measures /bin/true
the same way; what it shows is that inherited ceiling, and the figures are
valid because the ceiling lies below the floor.  Where GNU time is installed,
the floor is cross-checked with `/usr/bin/time -f %M`.
"""

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(BENCH)
sys.path.insert(0, TOP)
import build  # noqa: E402 (the project's own, found through TOP)

DIST = os.path.join(TOP, "dist")
EXAMPLE = os.path.join(TOP, "examples", "azure-vm")
PYTHON = os.path.realpath(sys.executable)
RC_PATH = "/sbin:/bin:/usr/sbin:/usr/bin"
RC = "dist/hv_get_dhcp_info hn0, rc.conf of"
FLOOR = "python3 -I -S -B -c pass"
DNS = "dist/hv_get_dns_info,"

# The helper that runs commands for the peak-RSS figures: it reads one
# repr((argv, env)) a line and answers "maxrss_kb exit_status".
RSS_HELPER = r"""import os, sys
for line in sys.stdin:
    argv, env = eval(line)
    pid = os.fork()
    if pid == 0:
        try:
            fd = os.open("/dev/null", os.O_RDWR)
            for n in (0, 1, 2):
                os.dup2(fd, n)
            os.execve(argv[0], argv, env)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    sys.stdout.write(f"{usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}\n")
    sys.stdout.flush()
"""


class Row:
    """One command of the table."""

    def __init__(self, label, argv, env, time_target=None, rss_target=None):
        self.label = label
        self.argv = argv
        self.env = env
        self.time_target = time_target  # max ratio to the floor
        self.rss_target = rss_target
        self.times = []
        self.rss = []


# ---------------------------------------------------------------------------
# Setting up: the program, the roots, the reference builds.


def ensure_built(pythons):
    """dist/hvtools, rebuilt when older than its sources or without the
    bytecode of one of pythons (every start would compile hvtools)."""
    program = os.path.join(DIST, "hvtools")
    sources = [os.path.join(TOP, name) for name in ("hvtools.py", "build.py")]
    if (
        not os.path.exists(program)
        or any(os.path.getmtime(s) > os.path.getmtime(program) for s in sources)
        or missing_bytecode(program, pythons)
    ):
        print("building dist/hvtools ...", file=sys.stderr)
        run_build(DIST, pythons)
    missing = missing_bytecode(program, pythons)
    if missing:
        sys.exit(f"{program}: no bytecode for {', '.join(missing)}")
    return program


def run_build(outdir, pythons):
    # build.py brings its own tools (shiv) in .venv; this Python may lack them.
    argv = [PYTHON, os.path.join(TOP, "build.py"), "build", "--outdir", outdir]
    for python in pythons:
        argv += ["--python", python.executable]
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    subprocess.run(argv, check=True, **quiet)


def missing_bytecode(program, pythons):
    with open(program, "rb") as f:
        carried = {magic for _, magic, _, _ in build.bytecode_table(f)}
    return [p.executable for p in pythons if magic_of(p) not in carried]


def magic_of(python):
    code = "import importlib.util as u; print(int.from_bytes(u.MAGIC_NUMBER, 'little'))"
    done = subprocess.run(
        [python.executable, "-I", "-S", "-c", code],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def applets(program, env):
    out = subprocess.run(
        [program, "--list"], env=env, capture_output=True, text=True, check=True
    )
    return set(out.stdout.split())


def make_root(work, name, files=None):
    """A copy of the example VM, with generated files put in."""
    root = os.path.join(work, name)
    shutil.copytree(EXAMPLE, root, symlinks=True)
    for path, text in (files or {}).items():
        with open(os.path.join(root, path.lstrip("/")), "w") as f:
            f.write(text)
    return root


def rc_conf(lines):
    """Realistic rc.conf text of the given number of lines: comments,
    services, interfaces, a ${var} here and there; hn0 is DHCP."""
    block = [
        "# {n}: services of this section",
        'svc{n}_enable="YES"',
        'svc{n}_flags="-u svc{n} -p 80{n}"',
        'ifconfig_hn{n}="inet 10.{a}.{b}.4/24"  # static',
        'ifconfig_hn{n}_ipv6="inet6 2001:db8:{n:x}::4/64"',
        "ifconfig_hn{n}_alias0='inet 10.{a}.{b}.5/32'",
        "",
        "svc{n}_pidfile=/var/run/svc{n}.pid",
        'svc{n}_args="${{svc{n}_flags}} -c /usr/local/etc/svc{n}.conf"',
        'cron{n}_enable="NO"',
    ]
    out = ['hostname="bench-vm"', 'ifconfig_hn0="SYNCDHCP"']
    n = 1
    while len(out) < lines:
        out.extend(line.format(n=n, a=n // 256 % 256, b=n % 256) for line in block)
        n += 1
    return "\n".join(out[:lines]) + "\n"


def resolv_conf(lines):
    out = ["# Generated by resolvconf", "search example.net"]
    n = 0
    while len(out) < lines:
        n += 1
        out.append(f"nameserver 10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}")
        out.append(f"nameserver 2001:db8::{n:x} # v6")
        out.append("options edns0 timeout:1")
    return "\n".join(out[:lines]) + "\n"


def find_request(root):
    """The example's hv_set_ifconfig request: a KEY=VALUE file with IF_NAME."""
    for top, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(top, name)
            try:
                with open(path, errors="replace") as f:
                    text = f.read(4096)
            except OSError:
                continue
            if text.startswith("HWADDR=") or "\nIF_NAME=" in text:
                return path
    return None


def build_default_shiv(work):
    """shiv -e hvtools:main of the same module, no preamble: the reference."""
    shiv = os.path.join(TOP, ".venv", "bin", "shiv")
    if not os.path.exists(shiv):
        return None
    site = os.path.join(work, "shiv-site")
    os.mkdir(site)
    shutil.copy(os.path.join(TOP, "hvtools.py"), site)
    output = os.path.join(work, "hvtools.pyz")
    subprocess.run(
        [shiv, "--site-packages", site, "-e", "hvtools:main", "-p", PYTHON,
         "-o", output],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    link = os.path.join(work, "shiv-bin", "hv_get_dns_info")
    os.mkdir(os.path.dirname(link))
    os.symlink(output, link)
    return link


def installed(root):
    """hvtools installed in root as by default, with a python3 where the
    launcher looks: `hvtools status` then reports no problem (exit 0)."""
    build.install(root, "/usr/local", False, DIST)
    python = os.path.join(root, "usr", "local", "bin", "python3")
    os.makedirs(os.path.dirname(python), exist_ok=True)
    with open(python, "w") as f:
        f.write("#!/bin/sh\n")
    os.chmod(python, 0o755)
    return root


def table_rows(program, work):
    """The commands to measure, those that exist in this tree."""
    root = installed(make_root(work, "azure-vm"))
    env = {"PATH": RC_PATH, "HVTOOLS_PYTHON": PYTHON, "HVTOOLS_ROOT": root}
    have = applets(program, env)
    dist = os.path.dirname(program)
    rows = [Row(FLOOR, [PYTHON, "-I", "-S", "-B", "-c", "pass"],
                {"PATH": RC_PATH})]  # fmt: skip

    def applet(label, name, args, target, direct_target):
        path = os.path.join(dist, name)
        rows.append(Row(f"dist/{label}", [path, *args], env, direct_target, 1.25))
        rows.append(
            Row(f"sh dist/{label}", ["/bin/sh", path, *args], env, target, 1.25)
        )

    applet("hv_get_dns_info", "hv_get_dns_info", [], 1.5, 1.4)
    applet("hv_get_dhcp_info hn0", "hv_get_dhcp_info", ["hn0"], 1.5, 1.4)
    applet("hvtools --list", "hvtools", ["--list"], 1.5, 1.4)
    request = find_request(root)
    if "hv_set_ifconfig" in have and request:
        # The FILE argument is a system path, found under HVTOOLS_ROOT.
        system = "/" + os.path.relpath(request, root)
        applet(f"hv_set_ifconfig --dry-run {system}", "hv_set_ifconfig",
               ["--dry-run", system], 2.0, 2.0)  # fmt: skip
    if "status" in have:
        applet("hvtools status", "hvtools", ["status"], 2.0, 2.0)
    if "hyperv_vfattach" in have:
        applet("hyperv_vfattach mce0 0 (transparent VF)", "hyperv_vfattach",
               ["mce0", "0"], 2.0, 2.0)  # fmt: skip

    shiv = build_default_shiv(work)
    if shiv:
        rows.append(Row("default shiv build: hv_get_dns_info", [shiv], env))
    resolv = os.path.join(root, "etc", "resolv.conf")
    awk = f"awk '/^nameserver/ {{print $2}}' {resolv}"
    rows.append(Row("sh -c \"awk '/^nameserver/ {print $2}' resolv.conf\"",
                    ["/bin/sh", "-c", awk], env))  # fmt: skip

    dhcp = os.path.join(dist, "hv_get_dhcp_info")
    for lines in (10, 50_000, 100_000):
        big = make_root(work, f"rc{lines}", {"/etc/rc.conf": rc_conf(lines)})
        rows.append(Row(f"{RC} {lines:,} lines",
                        [dhcp, "hn0"], dict(env, HVTOOLS_ROOT=big)))  # fmt: skip
    big = make_root(work, "resolv", {"/etc/resolv.conf": resolv_conf(10_000)})
    rows.append(Row(f"{DNS} resolv.conf of 10,000 lines",
                    [os.path.join(dist, "hv_get_dns_info")],
                    dict(env, HVTOOLS_ROOT=big)))  # fmt: skip
    return rows


def check_rows(rows):
    """Run each command once, in full view: it must work before it is timed
    (and the generated rc.conf files must read without a warning)."""
    for row in rows:
        done = subprocess.run(row.argv, env=row.env, capture_output=True, text=True)
        if done.returncode != 0 or (done.stderr and "rc.conf of" in row.label):
            sys.exit(f"{row.label}: exit {done.returncode}\n{done.stdout}{done.stderr}")


# ---------------------------------------------------------------------------
# Measuring


_DEVNULL = [
    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
    (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
]


def wall_time(row):
    start = time.perf_counter()
    pid = os.posix_spawn(row.argv[0], row.argv, row.env, file_actions=_DEVNULL)
    _, status = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{row.label}: wait status {status}")
    return elapsed


class RssHelper:
    def __init__(self):
        self.process = subprocess.Popen(
            [PYTHON, "-I", "-S", "-B", "-c", RSS_HELPER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def peak_kb(self, argv, env):
        self.process.stdin.write(repr((argv, env)) + "\n")
        self.process.stdin.flush()
        kb, status = self.process.stdout.readline().split()
        if status != "0":
            sys.exit(f"{argv}: exit status {status}")
        return int(kb)

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def gnu_time_floor(floor):
    """The floor's peak RSS as GNU time sees it, or None without GNU time."""
    gnu_time = "/usr/bin/time"
    try:
        version = subprocess.run(
            [gnu_time, "--version"], capture_output=True, text=True, check=False
        )
    except OSError:
        return None
    if "GNU" not in version.stdout + version.stderr:
        return None
    peaks = []
    for _ in range(5):
        done = subprocess.run(
            [gnu_time, "-f", "%M", *floor.argv],
            env=floor.env,
            capture_output=True,
            text=True,
            check=True,
        )
        peaks.append(int(done.stderr.split()[-1]))
    return statistics.median(peaks)


def measure(rows, runs, rss_runs, warmup):
    for round_ in range(warmup + runs):
        for row in rows:
            elapsed = wall_time(row)
            if round_ >= warmup:
                row.times.append(elapsed)
    helper = RssHelper()
    try:
        ceiling = statistics.median(helper.peak_kb(["/bin/true"], {}) for _ in range(3))
        for _ in range(rss_runs):
            for row in rows:
                row.rss.append(helper.peak_kb(row.argv, row.env))
    finally:
        helper.close()
    return ceiling


# ---------------------------------------------------------------------------
# Reporting


def verdict(ratio, target):
    if target is None:
        return ""
    return f"<= {target}x {'ok' if ratio <= target else 'MISS'}"


def report(rows, ceiling, gnu_floor, runs, rss_runs):
    floor = rows[0]
    floor_ms = statistics.median(floor.times) * 1000
    floor_kb = statistics.median(floor.rss)
    print(f"Python {platform.python_version()} ({PYTHON}), {platform.system()} "
          f"{platform.machine()}, {os.cpu_count()} CPUs; medians of {runs} "
          f"interleaved runs (peak RSS: {rss_runs}).")  # fmt: skip
    print()
    print("| command | wall ms | x floor | target | peak RSS MB | x floor | target |")
    print("|---|---:|---:|---|---:|---:|---|")
    for row in rows:
        ms = statistics.median(row.times) * 1000
        kb = statistics.median(row.rss)
        # At the ceiling the figure is the helper's, not the command's.
        below = "<= " if kb <= ceiling * 1.02 else ""
        print(
            f"| `{row.label}` | {ms:.1f} | {ms / floor_ms:.2f} "
            f"| {verdict(ms / floor_ms, row.time_target)} "
            f"| {below}{kb / 1024:.1f} | {below}{kb / floor_kb:.2f} "
            f"| {verdict(kb / floor_kb, row.rss_target)} |"
        )
    print()
    scaling(rows)
    print(
        f"Peak RSS method: wait4() of a fork from a bare helper; /bin/true shows "
        f"{ceiling / 1024:.1f} MB through it (the inherited ceiling; "
        + (
            f"below the floor's {floor_kb / 1024:.1f} MB, so the figures hold)"
            if ceiling < floor_kb
            else "NOT below the floor: these peak RSS figures are not valid)"
        )
        + (
            f"; GNU time gives the floor {gnu_floor / 1024:.1f} MB."
            if gnu_floor
            else "."
        )
    )


def scaling(rows):
    def ms(label):
        row = next(r for r in rows if r.label == label)
        return statistics.median(row.times) * 1000

    small = ms(f"{RC} 10 lines")
    half = ms(f"{RC} 50,000 lines") - small
    full = ms(f"{RC} 100,000 lines") - small
    linear = full / half if half > 0 else float("inf")
    # In floors too: this VM runs at times half as fast, for seconds on end,
    # and an absolute figure then moves with it.
    floors = full / ms(FLOOR)
    print(
        f"rc.conf of 100,000 lines: +{full:.0f} ms over 10 lines, {floors:.1f} floors "
        f"(target <= +150 ms: {'ok' if full <= 150 else 'MISS'}); "
        f"50,000 lines: +{half:.0f} ms; "
        f"100k/50k extra cost {linear:.2f} (linear: 2; "
        f"{'ok' if 1.7 <= linear <= 2.3 else 'MISS'})."
    )
    dns = ms(f"{DNS} resolv.conf of 10,000 lines") - ms("dist/hv_get_dns_info")
    print(f"resolv.conf of 10,000 lines: +{dns:.0f} ms over the example's 5 lines.")


# ---------------------------------------------------------------------------
# Per interpreter: the same file under each Python it carries bytecode for.


def interpreter_rows(program, work, pythons):
    """{python: [floor, each read applet direct and through sh]}."""
    root = make_root(work, "per-python")
    dist = os.path.dirname(program)
    table = {}
    for python in pythons:
        env = {"PATH": RC_PATH, "HVTOOLS_PYTHON": python.executable,
               "HVTOOLS_ROOT": root}  # fmt: skip
        rows = [Row(FLOOR, [python.executable, "-I", "-S", "-B", "-c", "pass"],
                    {"PATH": RC_PATH})]  # fmt: skip
        for name, args in (("hv_get_dns_info", []), ("hv_get_dhcp_info", ["hn0"])):
            path = os.path.join(dist, name)
            label = " ".join([name, *args])
            rows.append(Row(label, [path, *args], env, 1.4, 1.25))
            rows.append(Row(f"sh {label}", ["/bin/sh", path, *args], env, 1.3, 1.25))
        table[python] = rows
    return table


def report_interpreters(table, runs, rss_runs):
    print(f"Per interpreter: medians of {runs} interleaved runs (peak RSS: "
          f"{rss_runs}); each ratio is to that interpreter's own floor "
          "(`python3.N -I -S -B -c pass`).")  # fmt: skip
    print()
    labels = [row.label for row in next(iter(table.values()))[1:]]
    print(f"| Python | floor ms | {' | '.join(f'`{x}` x' for x in labels)} "
          "| sh target | floor RSS MB | max RSS x | RSS target |")  # fmt: skip
    print("|---|---:|" + "---:|" * len(labels) + "---|---:|---:|---|")
    for python, rows in table.items():
        floor_ms = statistics.median(rows[0].times) * 1000
        floor_kb = statistics.median(rows[0].rss)
        ratios = [statistics.median(r.times) * 1000 / floor_ms for r in rows[1:]]
        worst_sh = max(x for x, r in zip(ratios, rows[1:]) if r.label.startswith("sh"))
        rss = max(statistics.median(r.rss) / floor_kb for r in rows[1:])
        version = ".".join(map(str, python.version))
        print(f"| {version} | {floor_ms:.1f} | "
              + " | ".join(f"{x:.2f}" for x in ratios)
              + f" | {verdict(worst_sh, 1.3)} | {floor_kb / 1024:.1f} | {rss:.2f} "
              f"| {verdict(rss, 1.25)} |")  # fmt: skip
    print()


def report_growth(pythons):
    """What each interpreter after the first adds to the archive."""
    with tempfile.TemporaryDirectory(prefix="hvtools-growth-") as work:
        first = pythons[0]

        def size(selection):
            out = os.path.join(work, str(len(os.listdir(work))))
            run_build(out, selection)
            return os.path.getsize(os.path.join(out, "hvtools"))

        base = size([first])
        parts = [f"{'.'.join(map(str, first.version))} alone: {base:,} B"]
        for python in pythons[1:]:
            grown = size([first, python]) - base
            parts.append(f"+{'.'.join(map(str, python.version))}: +{grown:,} B")
    print(f"Archive size: {'; '.join(parts)} (each: its .pyc and its zip headers).")
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=40, help="timed rounds")
    parser.add_argument("--rss-runs", type=int, default=5, help="peak-RSS rounds")
    parser.add_argument("--warmup", type=int, default=3, help="discarded rounds")
    parser.add_argument(
        "--interpreters-only", action="store_true", help="only the per-Python table"
    )
    parser.add_argument(
        "--no-growth", action="store_true", help="skip the archive-size builds"
    )
    args = parser.parse_args()
    pythons = build.find_pythons()
    program = ensure_built(pythons)
    with tempfile.TemporaryDirectory(prefix="hvtools-bench-") as work:
        per_python = interpreter_rows(program, work, pythons)
        rows = [] if args.interpreters_only else table_rows(program, work)
        every = [row for table in per_python.values() for row in table] + rows
        check_rows(every)
        ceiling = measure(every, args.runs, args.rss_runs, args.warmup)
        gnu_floor = gnu_time_floor(rows[0]) if rows else None
    if rows:
        report(rows, ceiling, gnu_floor, args.runs, args.rss_runs)
        print()
    report_interpreters(per_python, args.runs, args.rss_runs)
    if not args.no_growth:
        report_growth(pythons)
    print("Command: `python3 bench/startup.py`")


if __name__ == "__main__":
    main()
