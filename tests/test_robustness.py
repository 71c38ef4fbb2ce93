"""The robustness campaign (issue 6): hostile input, crashes mid-write, racing
events, read-only images.  Every test counts the cases it tried and the
failures it found, checks every case to the end, then fails listing the
first failures, each with what reproduces it.

    python3 build.py test -k robustness                         (CI subset)
    HVTOOLS_CAMPAIGN=full python3 build.py test -k robustness   (the campaign)

HVTOOLS_SEED (default 6) seeds every generator; HVTOOLS_CASE=N runs request
case N only.  With HVTOOLS_FIGURES=FILE each test appends its figures
(name, cases, failures) to FILE, one line each, for the README.
"""

import contextlib
import errno
import io
import os
import random
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import hostile
import pytest
import vfvm

import fakebsd
import hvtools
from conftest import hv_env

FULL = os.environ.get("HVTOOLS_CAMPAIGN") == "full"
SEED = int(os.environ.get("HVTOOLS_SEED", "6"))
ONLY_CASE = os.environ.get("HVTOOLS_CASE")
SIZE = {
    "requests": 10_000 if FULL else 1_500,
    "requests_sh": 400 if FULL else 25,
    "kills": 200 if FULL else 8,
    "races": 3 if FULL else 1,
}
REQUEST = "/var/db/hypervhv_set_ip_data"
HN0_MAC = hostile.HN0_MAC
HN1_MAC = hostile.HN1_MAC
DEFAULTS = 'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\n'
RC_CONF = '# the VM\nhostname="vm"\ndefaultrouter="10.0.0.1"\nsshd_enable="YES"\n'
RC_CONF_LOCAL = '# local\nifconfig_hn0="inet 10.0.0.4/24" # primary\n'
RESOLV_CONF = "# resolvers\nsearch example.net\nnameserver 10.0.0.2\noptions edns0\n"
SHOWN = 3  # failures quoted in an assertion message


def figure(name, cases, failures):
    """Record a figure of the campaign (see the module docstring)."""
    line = f"{name} cases={cases} failures={len(failures)} seed={SEED}"
    print(line)
    path = os.environ.get("HVTOOLS_FIGURES")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")
    assert not failures, f"{line}: " + "; ".join(map(str, failures[:SHOWN]))


# -- the VM under test ---------------------------------------------------------


def make_vm(top):
    """A root with hn0 static at 10.0.0.4/24 (in rc.conf.local) behind
    10.0.0.1 (in rc.conf), hn1 unused, and the simulator."""
    for d in ("etc/defaults", "etc/rc.conf.d", "var/run", "var/db"):
        os.makedirs(os.path.join(top, d), exist_ok=True)
    for name, text in (
        ("etc/defaults/rc.conf", DEFAULTS),
        ("etc/rc.conf", RC_CONF),
        ("etc/rc.conf.local", RC_CONF_LOCAL),
        ("etc/resolv.conf", RESOLV_CONF),
    ):
        with open(os.path.join(top, name), "w") as f:
            f.write(text)
    sim = fakebsd.FakeBSD(str(top)).install()
    sim.add_interface("hn0", ether=HN0_MAC, inet=["10.0.0.4/24"])
    sim.add_interface("hn1", ether=HN1_MAC)
    sim.add_route("default", "10.0.0.1", "hn0")
    return sim


@pytest.fixture
def vm(root):
    return make_vm(str(root))


def snapshot(top, skip=(REQUEST[1:],)):
    """{relative path: bytes, or "dir"} of everything under top but the
    simulator's own state, hvtools' lock files and the given paths."""
    found = {}
    for directory, dirs, names in os.walk(top):
        rel = os.path.relpath(directory, top)
        if "fakebsd" in rel.split(os.sep):
            dirs[:] = []
            continue
        dirs[:] = [
            d for d in dirs if os.path.normpath(os.path.join(rel, d)) not in skip
        ]
        for name in dirs:
            found[os.path.normpath(os.path.join(rel, name))] = "dir"
        for name in names:
            path = os.path.normpath(os.path.join(rel, name))
            if path in skip or (name.startswith("hvtools.") and name.endswith(".lock")):
                continue
            full = os.path.join(directory, name)
            if os.path.islink(full):
                found[path] = ("link", os.readlink(full))
            elif os.path.isfile(full):
                with open(full, "rb") as f:
                    found[path] = f.read()
            else:
                found[path] = "special"
    return found


def changed(before, after):
    return sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))


def temporaries(top):
    """Files hvtools left mid-write (write_file's and _link_over's)."""
    return sorted(
        os.path.join(d, n)
        for d, _, names in os.walk(top)
        for n in names
        if ".hvtools-" in n and "fakebsd" not in d
    )


class Syslog:
    """The syslogd socket of a root, ROOT/var/run/log: collects what hvtools
    logs, read as it comes by a thread (the kernel queues only a few
    datagrams, then a sender blocks) or, threaded=False, by drain()."""

    def __init__(self, top, threaded=True):
        self.path = os.path.join(top, "var/run/log")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.lines = []
        self.mutex = threading.Lock()
        self.stop = threading.Event()
        self.thread = None
        if threaded:
            self.thread = threading.Thread(target=self._loop, daemon=True)
            self.thread.start()

    def _loop(self):
        while not self.stop.is_set():
            if select.select([self.sock], [], [], 0.1)[0]:
                self._read()

    def _read(self):
        with self.mutex:
            while True:
                try:
                    data = self.sock.recv(65536)
                except BlockingIOError:
                    return
                self.lines.append(data.decode("utf-8", "replace"))

    def drain(self):
        """The messages received since the last drain() (all that finished
        senders sent: what the reader thread has not read yet is read here)."""
        self._read()
        with self.mutex:
            lines, self.lines = self.lines, []
        return lines

    def close(self):
        if self.thread is not None:
            self.stop.set()
            self.thread.join()
        self._read()
        self.sock.close()
        os.unlink(self.path)
        return self.lines


@pytest.fixture
def syslog(root):
    log = Syslog(str(root))
    yield log
    log.close()


def in_process(argv):
    """Run hvtools.main(argv) here: (status, stdout, stderr).  A traceback is
    a status of its own.  The applet's lock is released at its end, as the
    end of its process would release it."""
    out, err = io.StringIO(), io.StringIO()
    locks = []
    real_lock = hvtools.lock

    def lock(name, timeout=60):
        locks.append(real_lock(name, timeout))
        return locks[-1]

    hvtools.lock = lock
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = hvtools.main(argv)
    except BaseException:
        status = "traceback"
        err.write(traceback.format_exc())
    finally:
        hvtools.lock = real_lock
        for fd in locks:
            os.close(fd)
    return status, out.getvalue(), err.getvalue()


# -- hostile requests -------------------------------------------------------


def place_request(top, data):
    path = os.path.join(top, REQUEST.lstrip("/"))
    if os.path.isdir(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)
    if data == "dir":
        os.mkdir(path)
    elif data is not None:
        with open(path, "wb") as f:
            f.write(data)


def check_refusal(case, status, stdout, stderr, logged):
    """What is wrong with how a hostile case was refused, or None."""
    lines = stderr.splitlines()
    if status != case.status:
        return f"status {status}, wanted {case.status}: {stderr[-300:]!r}"
    if stdout:
        return f"stdout {stdout[:100]!r}"
    if len(lines) != 1 or "Traceback" in stderr:
        return f"{len(lines)} stderr lines: {stderr[:300]!r}"
    if not lines[0].startswith("hv_set_ifconfig: "):
        return f"stderr {lines[0]!r}"
    if not any(lines[0] in message for message in logged):
        return f"not in syslog: {lines[0]!r} ({logged})"
    return None


class StateWatch:
    """The simulator's calls since the last look, read only when its state
    file changed (reading it for each of 10,000 cases would dominate)."""

    def __init__(self, sim):
        self.sim = sim
        self.path = os.path.join(sim.root, fakebsd.STATE_DIR, "state.json")
        self.seen = len(sim.calls())
        self.stamp = self._stamp()

    def _stamp(self):
        st = os.stat(self.path)
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    def new_mutations(self):
        stamp = self._stamp()
        if stamp == self.stamp:
            return []
        self.stamp = stamp
        log = self.sim.state()["log"]
        new, self.seen = log[self.seen :], len(log)
        return [c["argv"] for c in new if c["mutating"]]


def request_cases(count, start):
    if ONLY_CASE is not None:
        index = int(ONLY_CASE)
        return [hostile.case(SEED, index)] if start <= index < start + count else []
    return hostile.cases(SEED, count, start)


def test_robustness_requests_in_process(root, vm, monkeypatch):
    """The bulk of the generated requests, through hvtools.main() here."""
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    syslog = Syslog(str(root), threaded=False)  # at most 1 message a case
    top = str(root)
    baseline = snapshot(top)
    watch = StateWatch(vm)
    failures = []
    cases = request_cases(SIZE["requests"], 0)
    for case in cases:
        place_request(top, case.data)
        status, stdout, stderr = in_process(["hv_set_ifconfig", REQUEST])
        problem = check_refusal(case, status, stdout, stderr, syslog.drain())
        problem = problem or changed(baseline, snapshot(top))
        problem = problem or watch.new_mutations()
        if problem:
            failures.append((f"HVTOOLS_CASE={case.index}", case.defect, problem))
            baseline = snapshot(top)
    assert not os.path.exists("/pwned")
    syslog.close()
    figure("requests-in-process", len(cases), failures)


def test_robustness_requests_via_sh(root, vm, run, syslog):
    """A sample of other generated requests through `sh dist/hv_set_ifconfig`,
    as hv_kvp_daemon runs it."""
    top = str(root)
    baseline = snapshot(top)
    watch = StateWatch(vm)
    failures = []
    cases = request_cases(SIZE["requests_sh"], 1_000_000)
    for case in cases:
        place_request(top, case.data)
        done = run("hv_set_ifconfig", REQUEST, via="sh")
        logged = syslog.drain()
        problem = check_refusal(case, done.returncode, done.stdout, done.stderr, logged)
        problem = problem or changed(baseline, snapshot(top))
        problem = problem or watch.new_mutations()
        if problem:
            failures.append((f"HVTOOLS_CASE={case.index}", case.defect, problem))
            baseline = snapshot(top)
    figure("requests-via-sh", len(cases), failures)


def test_robustness_generator_is_seeded_and_mixed():
    a = hostile.cases(SEED, 300)
    assert [c.data for c in a] == [c.data for c in hostile.cases(SEED, 300)]
    names = {f(hostile.Draft(random.Random(0)))[0] for f, _ in hostile.DEFECTS}
    assert {c.defect for c in hostile.cases(SEED, 3000)} == names | {
        "no-file",
        "directory",
    }


# -- arguments ----------------------------------------------------------------

BAD_NAMES = [
    "hn0/../../etc", "../hn0", "/", "..", "hn0 hn1", " hn0", "hn0;reboot",
    "$(reboot)", "`reboot`", "hn0|id", "hn0&", ">x", "*", "~", "a" * 1000, "",
    "hn0\nhn1", "-hn0", "hn0'", 'hn0"', "\xe9n0", "hn0\t",
]  # fmt: skip
BAD_DELAYS = [
    "-1", "3601", "99999999999999999999", "1e3", "abc", "", " 1", "0x10", "1.5",
    "$(id)", "\u0663", "+5", "1 2",
]  # fmt: skip


def argument_cases(applets):
    """(applet, args, allowed statuses) for every applet of --list."""
    cases = []
    for applet in applets:
        if applet == "hv_get_dhcp_info":
            cases += [(applet, [n], {64}) for n in BAD_NAMES]
            cases += [(applet, [], {64}), (applet, ["hn0", "hn1"], {64})]
        elif applet == "hyperv_vfup":
            cases += [(applet, [n], {64}) for n in [*BAD_NAMES, "hn0.x", "hn00"]]
            cases += [(applet, [], {64}), (applet, ["hn0", "x"], {64})]
        elif applet == "hyperv_vfattach":
            cases += [(applet, [n, "0"], {64}) for n in BAD_NAMES]
            cases += [(applet, ["hn0", d], {64}) for d in BAD_DELAYS]
            cases += [(applet, ["hn0"], {64}), (applet, [], {64})]
        elif applet == "status":
            cases += [(applet, [a], {64}) for a in ("hn0", "--x", "$(id)", "")]
        elif applet == "hv_set_ifconfig":
            cases += [(applet, [n], {64}) for n in BAD_NAMES if n[:1] != "/"]
            cases += [(applet, [], {64}), (applet, ["/a", "/b"], {64})]
            cases += [
                (applet, [p], {65, 66})
                for p in ("/", "/etc/../etc/rc.conf", "/nonexistent", "/dev/null/x")
            ]
        elif applet == "hv_get_dns_info":
            # hv_kvp_daemon gives no argument; the original ignored any.
            cases += [(applet, [n], {0, 64}) for n in BAD_NAMES[:8]]
        else:
            cases.append((applet, ["$(reboot)"] * 3, {64}))
    cases += [("hvtools", [n], {64}) for n in BAD_NAMES[1:12]]
    return cases


def test_robustness_arguments(root, vm, run, dist, syslog):
    """Every applet of `hvtools --list` with hostile arguments: exit 64 (or
    the status its own argument check gives), one line, nothing done."""
    listed = run("--list", via="hvtools")
    applets = listed.stdout.split()
    assert listed.returncode == 0 and {"hv_set_ifconfig", "status"} <= set(applets)
    quiet = run("hv_get_dns_info", via="sh").stdout
    top = str(root)
    baseline = snapshot(top)
    calls = len(vm.calls())
    failures = []
    cases = argument_cases(applets)
    for applet, args, allowed in cases:
        if applet == "hvtools":
            done = run(*args, via="hvtools")
        elif not hvtools.APPLETS[applet].linked:
            done = run(applet, *args, via="hvtools")
        else:
            done = run(applet, *args, via="sh")
        lines = done.stderr.splitlines()
        problem = None
        if done.returncode not in allowed:
            problem = f"status {done.returncode}: {done.stderr[-200:]!r}"
        elif done.returncode == 0:
            if (done.stdout, done.stderr) != (quiet, ""):
                problem = f"output {done.stdout!r} {done.stderr!r}"
        elif len(lines) != 1 or done.stdout or "Traceback" in done.stderr:
            problem = f"output {done.stdout!r} {done.stderr!r}"
        problem = problem or changed(baseline, snapshot(top))
        if not problem and len(vm.calls()) != calls:
            problem = f"ran {[c['argv'] for c in vm.calls()[calls:]]}"
        if problem:
            failures.append((applet, args, problem))
            calls = len(vm.calls())
            baseline = snapshot(top)
    figure("arguments", len(cases), failures)


# -- malformed rc.conf and resolv.conf ---------------------------------------


def junk(seed, size, avoid=b"nameserver"):
    """size bytes of seeded line-structured junk: sh-looking statements,
    quotes that never close, binary, NUL and invalid UTF-8."""
    rng = random.Random(seed)
    pieces = [
        b'x="unterminated', b"y='unterminated", b"echo $(reboot)", b"`id`",
        b"a=${b", b"\x00\x01\x02", b"\xff\xfe\xc3(", b"if true; then", b"fi",
        b"z=\"a\\", b"\r", b"ok_var=YES", b"export", b"#", b"${x:?}",
    ]  # fmt: skip
    out = []
    total = 0
    while total < size:
        if rng.random() < 0.3:
            line = bytes(rng.randrange(256) for _ in range(rng.randrange(80)))
        else:
            line = b" ".join(rng.choices(pieces, k=rng.randrange(1, 4)))
        line = line.replace(b"\n", b" ")
        if avoid in line:
            continue
        out.append(line)
        total += len(line) + 1
    return b"\n".join(out) + b"\n"


MALFORMED_RC = [
    ("unterminated-double", b'x="never closed\nz=1\n'),
    ("unterminated-single", b"y='never closed\nz=1\n"),
    ("command-substitution", b"x=$(reboot)\n`reboot`\n"),
    ("nul-and-binary", b"\x00\x01\xff\xfe\n\x00x=1\n"),
    ("invalid-utf8", b"x=\xc3(\xff\n"),
    ("junk-64k", junk(1, 64 * 1024)),
    ("junk-10M", junk(2, 10 * 1024 * 1024)),
    ("one-10M-line", b'x="' + b"\x01" * (10 * 1024 * 1024) + b"\n"),
]


def malformed_cases():
    # The 10 MB cases cost seconds each: the CI subset takes the small ones.
    return MALFORMED_RC if FULL else MALFORMED_RC[:6]


def test_robustness_malformed_rc_conf(root, vm, run, syslog):
    """Readers answer from what they can read and warn a bounded number of
    times; the writer refuses (65) to rewrite a file it cannot read whole."""
    vfvm.running_system(root)  # status shows the live table, not an image's
    top = str(root)
    good = b'ifconfig_hn1="DHCP"\n'
    failures = []
    tried = 0
    for name, bad in malformed_cases():
        for where in ("etc/rc.conf", "etc/rc.conf.local"):
            path = os.path.join(top, where)
            with open(path, "rb") as f:
                original = f.read()
            text = original + good + bad
            with open(path, "wb") as f:
                f.write(text)
            tried += 3
            done = run("hv_get_dhcp_info", "hn1", via="sh")
            warnings = done.stderr.splitlines()
            if (done.returncode, done.stdout) != (0, "Enabled\n") or len(warnings) > 6:
                failures.append(
                    (name, where, "dhcp", done.returncode, done.stderr[:300])
                )
            if not all(w.startswith("hv_get_dhcp_info: warning: ") for w in warnings):
                failures.append((name, where, "dhcp warnings", done.stderr[:300]))
            status = run("status", via="hvtools")
            # 78: hvtools is not installed in this root, which status says.
            if status.returncode != 78 or not status.stdout.startswith("IF "):
                failures.append((name, where, "status", status.stderr[:300]))
            before = snapshot(top)
            watch = StateWatch(vm)
            place_request(top, KILL_REQUEST)  # rewrites rc.conf and rc.conf.local
            done = run("hv_set_ifconfig", REQUEST, via="sh")
            last = (done.stderr.splitlines() or [""])[-1]
            if done.returncode != 65 or "not rewritten" not in last:
                failures.append(
                    (name, where, "set", done.returncode, done.stderr[-300:])
                )
            if changed(before, snapshot(top)) or watch.new_mutations():
                failures.append((name, where, "set changed something"))
            syslog.drain()
            with open(path, "wb") as f:
                f.write(original)
    figure("malformed-rc.conf", tried, failures)


def hostile_free_request(ip="10.0.0.5", dns="10.0.0.2", gateway="10.0.0.1"):
    """A good request for hn0 (bytes)."""
    return (
        f"HWADDR={HN0_MAC}\nIF_NAME=hn0\nIP_ADDR={ip}\nSUBNET=24\n"
        f"GATEWAY={gateway}\nDNS={dns}\nDHCP=0\n"
    ).encode()


def test_robustness_malformed_resolv_conf(root, vm, run, syslog):
    """hv_get_dns_info answers from the readable lines; hv_set_ifconfig
    replaces the nameserver lines and keeps every other byte."""
    top = str(root)
    path = os.path.join(top, "etc/resolv.conf")
    sizes = [100, 64 * 1024] + ([10 * 1024 * 1024] if FULL else [])
    failures = []
    tried = 0
    for n, size in enumerate(sizes):
        body = junk(100 + n, size)
        with open(path, "wb") as f:
            f.write(b"nameserver 10.0.0.2\n" + body + b"nameserver 10.0.0.3 # x\n")
        tried += 2
        done = run("hv_get_dns_info", via="sh")
        if (done.returncode, done.stdout, done.stderr) != (
            0,
            "10.0.0.2\n10.0.0.3\n",
            "",
        ):
            failures.append((size, "dns", done.returncode, done.stderr[:300]))
        place_request(top, hostile_free_request(ip="10.0.0.4", dns=f"10.0.0.{50 + n}"))
        done = run("hv_set_ifconfig", REQUEST, via="sh")
        with open(path, "rb") as f:
            new = f.read()
        if (
            done.returncode != 0
            or new != f"nameserver 10.0.0.{50 + n}\n".encode() + body
        ):
            failures.append((size, "set", done.returncode, done.stderr[-300:]))
        syslog.drain()
    figure("malformed-resolv.conf", tried, failures)


# -- crashes mid-write ---------------------------------------------------------

KILL_REQUEST = hostile_free_request(ip="10.0.0.5", dns="10.0.0.3", gateway="10.0.0.254")
CHANGED = ("etc/rc.conf", "etc/rc.conf.local", "etc/resolv.conf")


def read_files(top, names):
    found = {}
    for name in names:
        try:
            with open(os.path.join(top, name), "rb") as f:
                found[name] = f.read()
        except FileNotFoundError:
            found[name] = None
    return found


def start_set(dist, top):
    place_request(top, KILL_REQUEST)
    return subprocess.Popen(
        ["/bin/sh", str(dist / "hv_set_ifconfig"), REQUEST],
        env=hv_env(top),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def kill_at(process, top, rng, duration):
    """SIGKILL the applet and the programs it runs at a seeded moment: a
    random time into the run, or a random moment after the first temporary
    or backup file shows up.  Returns how the moment was chosen."""
    etc = os.path.join(top, "etc")
    start = time.perf_counter()
    if rng.random() < 0.5:
        mode = "timed"
        deadline = start + rng.uniform(0, duration)
    else:
        mode = "on-write"
        deadline = start + 60
        while time.perf_counter() < deadline and process.poll() is None:
            if any(".hvtools-" in n or n.endswith(".bak") for n in os.listdir(etc)):
                break
        deadline = time.perf_counter() + rng.uniform(0, 0.004)
    while time.perf_counter() < deadline and process.poll() is None:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    return mode


def test_robustness_sigkill_mid_write(tmp_path, dist, run):
    """SIGKILL hv_set_ifconfig at seeded moments while it rewrites rc.conf,
    rc.conf.local and resolv.conf: each file is whole, old or new; a later
    run completes the request and leaves no temporary file."""
    # One undisturbed run gives the new files and the length of a run.
    top = str(tmp_path / "calibrate")
    make_vm(top)
    old = read_files(top, CHANGED)
    start = time.perf_counter()
    process = start_set(dist, top)
    assert process.wait() == 0, process.stderr.read()
    duration = time.perf_counter() - start
    new = read_files(top, CHANGED)
    assert all(old[n] != new[n] for n in CHANGED)
    rng = random.Random(f"{SEED}:kill")
    failures = []
    outcomes = {}
    stale = 0
    runs = SIZE["kills"]
    for i in range(runs):
        top = str(tmp_path / f"k{i}")
        make_vm(top)
        process = start_set(dist, top)
        mode = kill_at(process, top, rng, duration)
        process.stderr.close()
        now = read_files(top, CHANGED)
        state = "".join(
            "n" if now[n] == new[n] else "o" if now[n] == old[n] else "X"
            for n in CHANGED
        )
        outcomes[state] = outcomes.get(state, 0) + 1
        backups = read_files(top, [f"{n}.bak" for n in CHANGED])
        torn = [
            n for n, b in backups.items() if b not in (None, old[n[:-4]], new[n[:-4]])
        ]
        if "X" in state or torn:
            failures.append((f"run {i} ({mode})", state, torn))
        stale += len(temporaries(top)) > 0
        stat = [process.pid, temporaries(top)]
        with contextlib.suppress(OSError), open(f"/proc/{process.pid}/stat") as f:
            stat.append(f.read()[:80])  # the pid's process, if any, now
        again = run.__class__(dist, top)("hv_set_ifconfig", REQUEST, via="sh")
        if again.returncode != 0 or read_files(top, CHANGED) != new:
            failures.append((f"run {i} ({mode})", "rerun", again.stderr[-300:]))
        if temporaries(top):
            failures.append(
                (f"run {i} ({mode})", state, "left", temporaries(top), stat)
            )
        shutil.rmtree(top)
    print(f"sigkill outcomes (rc.conf, rc.conf.local, resolv.conf): {outcomes}")
    print(f"runs that left a temporary file for the next run: {stale}")
    if FULL:
        # The moments must reach into the writing, not only around it.
        partial = sum(v for k, v in outcomes.items() if "n" in k and "o" in k)
        assert partial + stale > 0, outcomes
    figure("sigkill-mid-write", runs, failures)


@pytest.mark.parametrize(
    ("fault", "target", "status"),
    [
        ("ENOSPC", "write", 74),
        ("EIO", "fsync", 74),
        ("EROFS", "open", 73),
        ("EACCES", "open", 73),
        ("EDQUOT", "write", 74),
    ],
)
@pytest.mark.parametrize("nth", [0, 1, 2])
def test_robustness_write_faults(
    root, vm, syslog, monkeypatch, fault, target, status, nth
):
    """A full disk, a read-only file, an I/O error while writing the nth file:
    exit 73 or 74 with one line; that file and the ones after it are old,
    those before it new, whole; no temporary file; no live command run."""
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    top = str(root)
    old = read_files(top, CHANGED)
    place_request(top, KILL_REQUEST)
    seen = []
    real = getattr(os, target)

    def faulty(*args, **kwargs):
        name = args[0] if target == "open" else os.readlink(f"/proc/self/fd/{args[0]}")
        if ".hvtools-" in str(name) and ".bak" not in str(name):
            if str(name) not in seen:
                seen.append(str(name))
            if len(seen) - 1 == nth:
                raise OSError(getattr(errno, fault), os.strerror(getattr(errno, fault)))
        return real(*args, **kwargs)

    monkeypatch.setattr(os, target, faulty)
    got, stdout, stderr = in_process(["hv_set_ifconfig", REQUEST])
    monkeypatch.setattr(os, target, real)
    assert (got, stdout) == (status, ""), stderr
    assert len(stderr.splitlines()) == 1 and "Traceback" not in stderr, stderr
    now = read_files(top, CHANGED)
    written = [n for n in CHANGED if now[n] != old[n]]
    assert len(written) == nth, (written, stderr)
    assert temporaries(top) == []
    assert vm.mutating_calls() == []
    figure(f"write-fault-{fault}-{target}-file{nth}", 1, [])


# -- racing events -------------------------------------------------------------


def unlogged(calls, logged):
    """Mutating calls that no syslog line of hvtools tells about."""
    missing = []
    for argv in calls:
        program, *args = argv
        words = " ".join(args)
        if program == "ifconfig" and args[1:] == ["create"]:
            words = f"{args[0]}: created"
        elif program == "ifconfig" and args[1:] == ["up"]:
            words = f"{args[0]}: up" if args[0].startswith("mce") else "lagg0 up"
        elif program == "pkill":
            words = "dhclient stopped"
        if not any(words in line for line in logged):
            missing.append(argv)
    return missing


def test_robustness_racing_vfup(root, dist, sim):
    """20 hyperv_vfup hn0 at once, plus hyperv_vfattach of its VF and the
    VF_UP that bringing it up raises: one lagg0, each port once, no error,
    every step logged."""
    failures = []
    rounds = SIZE["races"]
    for r in range(rounds):
        top = root if r == 0 else root.parent / f"race{r}"
        if r:
            for d in ("etc/defaults", "var/run", "var/db", "usr/libexec/hyperv"):
                (top / d).mkdir(parents=True)
        machine_sim = sim if r == 0 else fakebsd.FakeBSD(str(top)).install()
        log = Syslog(str(top), threaded=True)
        machine = vfvm.VM(top, dist, machine_sim)
        machine.rc_conf(
            'ifconfig_hn0="inet 10.0.0.4/24"\n'
            'ifconfig_hn0_ipv6="inet6 2001:db8::4/64"\n'
        )
        machine_sim.add_interface("hn0", ether=HN0_MAC, inet=["10.0.0.4/24"])
        machine_sim.add_vf("hn0", "mce0")
        machine_sim.pop_events()
        attach = machine.start_applet("hyperv_vfattach", "mce0", "0")
        racing = [machine.start_applet("hyperv_vfup", "hn0") for _ in range(20)]
        results = []
        for p in racing:
            out, err = p.communicate(timeout=300)
            results.append((p.returncode, out, err))
        attached = attach.communicate(timeout=60)
        machine.wait_for_call(["ifconfig", "mce0", "up"], timeout=60)
        handled = machine.devd.pump()  # the VF_UP of mce0 up
        logged = log.close()
        bad = [r for r in results if r != (0, "", "")]
        if bad or attach.returncode != 0 or attached != ("", ""):
            failures.append((r, "exit", bad[:2], attach.returncode, attached))
        commands = [(h[0].split("/")[-1], h[1].returncode) for h in handled]
        if ("hyperv_vfup hn0", 0) not in commands or any(s for _, s in commands):
            failures.append((r, "VF_UP", handled))
        laggs = [n for n in machine_sim.state()["interfaces"] if n.startswith("lagg")]
        if laggs != ["lagg0"] or machine.laggports("lagg0") != ["hn0", "mce0"]:
            failures.append((r, "lagg", laggs, machine.laggports("lagg0")))
        mutations = [c["argv"] for c in machine_sim.mutating_calls()]
        creates = [m for m in mutations if m[1:] == ["lagg0", "create"]]
        if len(creates) != 1:
            failures.append((r, "creates", creates))
        missing = unlogged(mutations, logged)
        if missing:
            failures.append((r, "not logged", missing[:3]))
    figure("racing-vfup", 21 * rounds, failures)


def test_robustness_racing_set_ifconfig(root, vm, dist):
    """20 hv_set_ifconfig at once, each with its own request: the files and
    the interface end as exactly one request left them, never a mix."""
    failures = []
    top = str(root)
    rounds = SIZE["races"]
    for r in range(rounds):
        expected = {}
        processes = []
        for i in range(20):
            path = f"/var/db/request{i}"
            ip, dns = f"10.0.0.{10 + i}", f"10.0.0.{100 + i}"
            with open(os.path.join(top, path.lstrip("/")), "wb") as f:
                f.write(hostile_free_request(ip=ip, dns=dns))
            expected[i] = (
                RC_CONF_LOCAL.replace("10.0.0.4/", f"{ip}/").encode(),
                RESOLV_CONF.replace("10.0.0.2", dns).encode(),
                [f"{ip}/24"],
            )
        for i in range(20):
            processes.append(
                subprocess.Popen(
                    ["/bin/sh", str(dist / "hv_set_ifconfig"), f"/var/db/request{i}"],
                    env=hv_env(top),
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
            )
        results = []
        for p in processes:
            out, err = p.communicate(timeout=300)
            results.append((p.returncode, out, err))
        bad = [(i, got) for i, got in enumerate(results) if got[0] != 0 or got[2]]
        if bad:
            failures.append((r, "exit", bad[:2]))
        files = read_files(top, ["etc/rc.conf.local", "etc/resolv.conf"])
        state = vm.interface("hn0")
        live = [f"{a['address']}/{a['prefixlen']}" for a in state["inet"]]
        final = (files["etc/rc.conf.local"], files["etc/resolv.conf"], live)
        matches = [i for i, e in expected.items() if e == final]
        if len(matches) != 1:
            failures.append((r, "mix", final))
        if read_files(top, ["etc/rc.conf"])["etc/rc.conf"] != RC_CONF.encode():
            failures.append((r, "rc.conf changed"))
    figure("racing-set-ifconfig", 20 * rounds, failures)


# -- read-only images ----------------------------------------------------------


# The unprivileged user the read-only image runs as.  Not nobody: the check
# for files written outside the root looks for files this user owns in
# /tmp, /var/tmp and /dev/shm, and another test suite running at the same
# time (its own copy of this test) creates files as nobody there.  A uid
# derived from this process's pid is one no concurrent run shares.
PRIVATE_UID = 2_000_000_000 + os.getpid()  # below 2**31, above any real user


def unprivileged_python(uid):
    """A Python the unprivileged user can run (when the tests run as root)."""
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        with contextlib.suppress(OSError):
            done = subprocess.run(
                [candidate, "-I", "-S", "-c", "pass"],
                user=uid,
                capture_output=True,
                check=False,
            )
            if done.returncode == 0:
                return candidate
    raise AssertionError(f"no Python the user {uid} can run")


def make_read_only(top, writable):
    for directory, _dirs, names in os.walk(top):
        if os.path.commonpath([directory, writable]) == writable:
            continue
        for name in names:
            full = os.path.join(directory, name)
            if not os.path.islink(full):
                os.chmod(full, 0o555 if os.access(full, os.X_OK) else 0o444)
        os.chmod(directory, 0o555)


def owned_by(uid, places=("/tmp", "/var/tmp", "/dev/shm")):
    """The files and directories uid owns in places (machine-wide)."""
    found = set()
    for place in places:
        for directory, dirs, names in os.walk(place):
            for name in dirs + names:
                full = os.path.join(directory, name)
                with contextlib.suppress(OSError):
                    if os.lstat(full).st_uid == uid:
                        found.add(full)
    return found


def test_robustness_read_only_image(dist):
    """A read-only root, HOME unset or unwritable: the read applets answer
    and write nothing anywhere; the writers fail with one line.  Run as the
    user PRIVATE_UID when the tests run as root (root ignores file modes)."""
    as_root = os.geteuid() == 0
    uid = PRIVATE_UID
    python = unprivileged_python(uid) if as_root else sys.executable
    work = tempfile.mkdtemp(prefix="hvtools-ro-")
    failures = []
    tried = 0
    try:
        os.chmod(work, 0o755)
        program = os.path.join(work, "dist")
        os.mkdir(program)
        shutil.copy2(dist / "hvtools", program)
        for name in os.listdir(dist):
            if os.path.islink(dist / name):
                os.symlink(os.readlink(dist / name), os.path.join(program, name))
        top = os.path.join(work, "root")
        sim = make_vm(top)
        sim.add_vf("hn0", "mce0")
        # The simulator, run by that user's Python from a copy of its own:
        # the checkout may be where that user cannot go (a 0700 home).
        simulator = shutil.copy2(fakebsd.__file__, os.path.join(work, "fakebsd.py"))
        for name in fakebsd.PROGRAMS:
            with open(os.path.join(top, name), "w") as f:
                f.write(f'#!/bin/sh\nexec {python} -I -S {simulator} "$0" "$@"\n')
        with open(os.path.join(top, "etc/rc.conf.local"), "a") as f:
            f.write('ifconfig_hn1="DHCP"\n')
        place_request(top, hostile_free_request(ip="10.0.0.7"))
        home = os.path.join(work, "home")
        os.mkdir(home)
        kernel = os.path.join(top, fakebsd.STATE_DIR)
        if as_root:
            for directory, _, names in os.walk(kernel):
                os.chown(directory, uid, uid)
                for name in names:
                    os.chown(os.path.join(directory, name), uid, uid)
        make_read_only(work, kernel)
        # The writers must fail for the read-only image, not for a simulator
        # that user cannot run.
        assert (
            subprocess.run(
                [os.path.join(top, "sbin/ifconfig"), "hn0"],
                capture_output=True,
                user=uid if as_root else None,
                check=False,
            ).returncode
            == 0
        )
        before = snapshot(work)
        strays = owned_by(uid) if as_root else set()
        readers = [
            (["hv_get_dns_info"], "10.0.0.2\n"),
            (["hv_get_dhcp_info", "hn1"], "Enabled\n"),
            (["hv_get_dhcp_info", "hn0"], "Disabled\n"),
            (["hvtools", "status"], None),
            (["hvtools", "--list"], None),
            (["hv_set_ifconfig", "--dry-run", REQUEST], None),
            (["hyperv_vfattach", "hn1", "0"], ""),
        ]
        writers = [["hv_set_ifconfig", REQUEST], ["hyperv_vfup", "hn0"]]
        for env_home in (None, home):
            env = {"PATH": "/sbin:/bin:/usr/sbin:/usr/bin", "HVTOOLS_ROOT": top}
            env["HVTOOLS_PYTHON"] = python
            if env_home:
                env["HOME"] = env_home
            for argv, wanted in readers + [(w, "fail") for w in writers]:
                tried += 1
                done = subprocess.run(
                    [os.path.join(program, argv[0]), *argv[1:]],
                    env=env,
                    cwd=home,
                    capture_output=True,
                    text=True,
                    user=uid if as_root else None,
                    timeout=120,
                    check=False,
                )
                if wanted == "fail":
                    lines = done.stderr.splitlines()
                    if done.returncode in (0, 1) or len(lines) != 1 or done.stdout:
                        failures.append((argv, env_home, done.returncode, done.stderr))
                    elif "Traceback" in done.stderr:
                        failures.append((argv, env_home, "traceback"))
                elif (
                    # status: 78, hvtools is not installed in this image
                    done.returncode != (78 if argv[1:] == ["status"] else 0)
                    or done.stderr
                    or (wanted is not None and done.stdout != wanted)
                ):
                    failures.append(
                        (argv, env_home, done.returncode, done.stderr[-300:])
                    )
        after = snapshot(work)
        if changed(before, after):
            failures.append(("written", changed(before, after)))
        if as_root and owned_by(uid) - strays:
            failures.append(("written elsewhere", sorted(owned_by(uid) - strays)))
    finally:
        for directory, _, _ in os.walk(work):
            os.chmod(directory, 0o755)
        shutil.rmtree(work)
    figure("read-only-image", tried, failures)


def test_robustness_backup_already_a_link(root, vm, monkeypatch):
    """A run killed after linking NAME.bak to NAME leaves them one file; the
    next run's backup must not leave its temporary link behind (the campaign
    found rename(2) of two links of one file to do nothing)."""
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))
    for name in CHANGED:
        os.link(root / name, root / f"{name}.bak")
    place_request(str(root), KILL_REQUEST)
    status, _, stderr = in_process(["hv_set_ifconfig", REQUEST])
    assert status == 0, stderr
    assert temporaries(str(root)) == []
    assert read_files(str(root), [f"{n}.bak" for n in CHANGED]) == {
        f"{n}.bak": (RC_CONF, RC_CONF_LOCAL, RESOLV_CONF)[i].encode()
        for i, n in enumerate(CHANGED)
    }
