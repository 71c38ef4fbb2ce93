"""Build, install and check hvtools.

    python3 build.py [build] [--python X ...] [--outdir DIR]
        dist/hvtools, a shiv zipapp behind a POSIX sh preamble, with the
        bytecode of each interpreter X inside (default: every CPython >= 3.9
        found: this one, PATH, /usr/local/bin, ~/.pyenv/versions/*), plus a
        symlink per applet beside it.  The same tree and the same
        interpreters always give the same bytes.
    python3 build.py install --destdir D [--prefix /usr/local] [--package]
                             [--uninstall]
        D/PREFIX/libexec/hyperv/hvtools with its applet symlinks, the devd
        rules (D/PREFIX/etc/devd/hvtools.conf; /etc/devd for /usr) and
        D/usr/libexec/hyperv/NAME linked to the program, where hv_kvp_daemon
        runs them (a file in the way is kept as NAME.orig).  --package
        leaves out the latter, for a FreeBSD port; --uninstall undoes it.
    python3 build.py demo
        build, then run the applets on the example VM in examples/, install
        hvtools into a copy of it, and configure a second copy as an image.
    python3 build.py test [--jobs N] [PYTEST-ARGS]
        ruff (lint and format) and the whole test suite, split among N
        pytest processes at once (default: one per CPU this process may
        use), their outputs shown one after another, then the totals.

The developer tools (pyproject.toml, extra "dev") are installed into .venv
on first use, so a machine with only python3 and pip suffices.
"""

import argparse
import glob
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
PROGRAM = "hvtools"
# PEP 3147 names: one bytecode file per interpreter, side by side.
PYC = "site-packages/__pycache__/hvtools.{}.pyc"
# The devd rules, which hvtools --install writes with its applet directory.
DEVD_MEMBER = "devd/hyperv.conf"

# The preamble finds a Python 3 without relying on PATH (hv_kvp_daemon's
# lacks /usr/local/bin), then runs hvtools straight from this archive: no
# shiv bootstrap, no extraction, nothing written, isolated from the caller's
# environment (-I), without site (-S) and without writing bytecode (-B).
# It reads the bytecode whose magic number is the running interpreter's,
# where the build found it in the archive (@BYTECODE@: magic -> offset,
# size): zipimport, written in Python, would cost a tenth of the start-up.
# A Python version nothing was built for leaves the work to zipimport, which
# then compiles the source.
PREAMBLE = r"""#!/bin/sh
# hvtools: the Hyper-V guest helpers of FreeBSD, one multi-call program.
# This is a zip archive behind a POSIX sh preamble; see hvtools(8).
# bytecode for Python @VERSIONS@
hvtools_found() { [ -f "$1" ] && [ -x "$1" ] && hvtools_py=$1; }
hvtools_py=
[ -n "${HVTOOLS_PYTHON:-}" ] && hvtools_found "$HVTOOLS_PYTHON"
if [ -z "$hvtools_py" ]; then
	hvtools_ifs=$IFS
	IFS=:
	for hvtools_dir in $PATH; do
		hvtools_found "${hvtools_dir:-.}/python3" && break
	done
	IFS=$hvtools_ifs
fi
[ -z "$hvtools_py" ] && hvtools_found @PYDIR@/python3
if [ -z "$hvtools_py" ]; then
	hvtools_newest=-1
	for hvtools_cand in @PYDIR@/python3.*; do
		hvtools_minor=${hvtools_cand#@PYDIR@/python3.}
		case $hvtools_minor in ''|*[!0-9]*) continue ;; esac
		[ "$hvtools_minor" -gt "$hvtools_newest" ] || continue
		hvtools_found "$hvtools_cand" && hvtools_newest=$hvtools_minor
	done
fi
[ -n "$hvtools_py" ] && exec "$hvtools_py" -I -S -B -c 'import sys
archive = sys.argv[1]
importer = sys.modules.get("_frozen_importlib_external")
magic = getattr(importer, "MAGIC_NUMBER", b"")
at, size = {@BYTECODE@}.get(int.from_bytes(magic, "little"), (0, 0))
if size:
    with open(archive, "rb") as f:
        f.seek(at)
        pyc = f.read(size)
    import marshal
    hvtools = sys.modules["hvtools"] = type(sys)("hvtools")
    hvtools.__file__ = archive + "/site-packages/hvtools.py"
    exec(marshal.loads(pyc[16:]), vars(hvtools))
else:
    sys.path[:0] = [archive + "/site-packages"]
    import hvtools
hvtools.launch(sys.argv[1:])' "$0" "$@"
echo "${0##*/}: no Python 3 found (set HVTOOLS_PYTHON or install python3)" >&2
exit 127
"""

# Where the launcher looks after PATH; only tests substitute another.
PYTHON_DIR = "/usr/local/bin"


def preamble(python_dir=PYTHON_DIR, bytecode=()):
    """The sh preamble; bytecode: [(cache tag, magic, offset, size)] in the
    archive.  Its comment names the Python versions, which hvtools reads
    (--version, status) without opening the archive as a zip file."""
    # Fixed-width numbers: the preamble is written before the archive, and
    # rewritten in place once the bytecode's place in it is known.
    table = "".join(f"{m:10d}: ({at:10d}, {n:10d}), " for _, m, at, n in bytecode)
    versions = ", ".join(tag_version(tag) for tag, _, _, _ in bytecode)
    text = PREAMBLE.replace("@PYDIR@", python_dir)
    text = text.replace("@VERSIONS@", versions or "none")
    return text.replace("@BYTECODE@", table.rstrip(", ")).encode()


# ---------------------------------------------------------------------------
# Building


def build(outdir, pythons=None):
    """Build OUTDIR/hvtools and its applet links; return the program's path.

    pythons: the interpreters whose bytecode to ship (find_pythons() when
    none are given); one per Python version, the first of each.
    """
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hvtools-build-") as work:
        site = os.path.join(work, "site-packages")
        os.mkdir(site)
        source = os.path.join(site, "hvtools.py")
        shutil.copyfile(os.path.join(HERE, "hvtools.py"), source)
        os.chmod(source, 0o644)
        shiv_output = os.path.join(work, "shiv.pyz")
        run_shiv(site, shiv_output)
        bytecode = {}
        for python in pythons or [p.executable for p in find_pythons()]:
            tag, pyc = compile_bytecode(source, work, python)
            bytecode.setdefault(tag, pyc)
        target = os.path.join(outdir, PROGRAM)
        repack(shiv_output, bytecode, target + ".tmp")
        os.replace(target + ".tmp", target)
    for name in applet_names():
        link = os.path.join(outdir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(PROGRAM, link)
    return target


class Python:
    """An interpreter the build found: its version and real path."""

    __slots__ = ("executable", "version")

    def __init__(self, version, executable):
        self.version = version  # (3, N)
        self.executable = executable


# What a candidate interpreter says of itself: implementation, version, path.
PROBE = (
    "import sys; print(sys.implementation.name, *sys.version_info[:2], sys.executable)"
)


def find_pythons():
    """Every CPython >= 3.9 here, one per version (the first found: this
    one, then PATH, /usr/local/bin, ~/.pyenv/versions/*/bin), by version."""
    found = {}
    seen = set()
    for candidate in python_candidates():
        real = os.path.realpath(candidate)
        if real in seen:
            continue
        seen.add(real)
        python = probe(candidate)
        if python is not None and python.version >= (3, 9):
            found.setdefault(python.version, python)
    return [found[version] for version in sorted(found)]


def python_candidates():
    yield sys.executable
    pyenv = os.path.expanduser("~/.pyenv/versions/*/bin")
    path = os.environ.get("PATH", "").split(os.pathsep)
    for directory in [*path, "/usr/local/bin", *sorted(glob.glob(pyenv))]:
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError:
            continue
        for name in names:
            if re.fullmatch(r"python3(\.[0-9]+)?", name):
                yield os.path.join(directory, name)


def probe(candidate):
    # A pyenv shim or a broken link answers nothing usable: skipped.
    try:
        done = subprocess.run(
            [candidate, "-I", "-S", "-c", PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except OSError:
        return None
    words = done.stdout.split(maxsplit=3)
    if done.returncode != 0 or len(words) != 4 or words[0] != "cpython":
        return None
    return Python((int(words[1]), int(words[2])), words[3].strip())


def run_shiv(site, output):
    env = dict(os.environ, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", ""))
    if not env["SOURCE_DATE_EPOCH"]:
        del env["SOURCE_DATE_EPOCH"]  # shiv's --reproducible default date
    subprocess.run(
        [
            sys.executable, "-m", "shiv",
            "--site-packages", site,
            "--entry-point", "hvtools:main",
            "--output-file", output,
            "--python", "/bin/sh",
            "--reproducible",
            "--uncompressed",
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip


def compile_bytecode(source, work, python):
    """Unchecked-hash bytecode (no timestamp in it) of source for the given
    Python, in work; returns (its cache tag, the .pyc's path)."""
    code = (
        "import py_compile, sys\n"
        "tag = sys.implementation.cache_tag\n"
        "output = f'{sys.argv[2]}/hvtools.{tag}.pyc'\n"
        "py_compile.compile(sys.argv[1], cfile=output, dfile='hvtools.py',\n"
        "    doraise=True,\n"
        "    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
        "print(tag)\n"
    )
    done = subprocess.run(
        [python, "-I", "-c", code, source, work],
        check=True,
        capture_output=True,
        text=True,
    )
    tag = done.stdout.strip()
    return tag, os.path.join(work, f"hvtools.{tag}.pyc")


def repack(shiv_output, bytecode, target):
    """shiv's archive, behind the sh preamble, with the bytecode
    {cache tag: .pyc path} and the devd rules added after hvtools.py."""
    with zipfile.ZipFile(shiv_output) as shiv_zip, open(target, "w+b") as out:
        order = sorted(bytecode, key=tag_order)
        out.write(preamble(bytecode=[(tag, 0, 0, 0) for tag in order]))
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for info in shiv_zip.infolist():
                archive.writestr(info, shiv_zip.read(info))
                if info.filename != "site-packages/hvtools.py":
                    continue
                for tag in order:
                    pyc = zipfile.ZipInfo(PYC.format(tag), info.date_time)
                    pyc.external_attr = info.external_attr
                    with open(bytecode[tag], "rb") as f:
                        archive.writestr(pyc, f.read())
                rules = zipfile.ZipInfo(DEVD_MEMBER, info.date_time)
                rules.external_attr = info.external_attr
                with open(os.path.join(HERE, DEVD_MEMBER), "rb") as f:
                    archive.writestr(rules, f.read())
        head = preamble(bytecode=bytecode_table(out))
        out.seek(0)
        out.write(head)
    os.chmod(target, 0o755)


def tag_order(tag):
    # cpython-39 before cpython-310: by version, not by text.
    name, _, number = tag.rpartition("-")
    return name, int(number) if number.isdigit() else 0, tag


def tag_version(tag):
    """ "3.10" for the cache tag cpython-310."""
    number = tag.rpartition("-")[2]
    return f"{number[0]}.{number[1:]}"


def bytecode_table(archive):
    """[(cache tag, magic number, offset, size)] of the bytecode in an
    archive (an open file), as the preamble lists it: in the archive's
    order."""
    with zipfile.ZipFile(archive) as z:
        names = z.namelist()
    prefix, suffix = PYC.split("{}")
    table = []
    for name in names:
        if name.startswith(prefix) and name.endswith(suffix):
            at, size = stored_data(archive, name)
            archive.seek(at)
            tag = name[len(prefix) : -len(suffix)]
            table.append((tag, int.from_bytes(archive.read(4), "little"), at, size))
    return table


def stored_data(archive, name):
    """(offset, size) of a stored member's bytes in the archive file."""
    with zipfile.ZipFile(archive) as z:
        info = z.getinfo(name)
    archive.seek(info.header_offset)
    header = archive.read(30)
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_length + extra_length, info.file_size


def applet_names():
    sys.path.insert(0, HERE)
    import hvtools

    return hvtools.linked_applets()


# ---------------------------------------------------------------------------
# Installing


def install(destdir, prefix, uninstall, outdir, package=False):
    """Stage what `hvtools --install` makes under DESTDIR: the program, its
    links and the devd rules under PREFIX, and (without package) the links
    at /usr/libexec/hyperv where hv_kvp_daemon looks.  hvtools.py is the
    one place that knows the layout, so that the single copied program
    installs the same."""
    program = os.path.join(outdir, PROGRAM)
    if not os.path.exists(program):
        build(outdir)
    option = "--uninstall" if uninstall else "--install"
    env = dict(os.environ, HVTOOLS_ROOT=os.path.abspath(destdir))
    env.setdefault("HVTOOLS_PYTHON", sys.executable)
    argv = [program, option, "--prefix", prefix, *(["--package"] if package else [])]
    subprocess.run(argv, check=True, env=env)
    return os.path.join(destdir, prefix.strip("/"), "libexec/hyperv")


# ---------------------------------------------------------------------------
# Developer commands: they bring their own pinned tools.


def ensure_dev_tools():
    """Re-run this script inside .venv, creating it with the pins if needed."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    python = os.path.join(VENV, "bin", "python")
    marker = os.path.join(VENV, ".hvtools-pins")
    pins = dev_requirements()
    # Two runs at once in a fresh clone (tests/stress.py) would both create
    # .venv: the first holds a lock on the tree while it does, the other waits.
    import fcntl

    tree = os.open(HERE, os.O_RDONLY)
    try:
        fcntl.flock(tree, fcntl.LOCK_EX)
        if read_marker(marker) != "\n".join(pins):
            if not os.path.exists(python):
                subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
            pip = [python, "-m", "pip", "install", "--quiet"]
            pip.append("--disable-pip-version-check")
            subprocess.run([*pip, *pins], check=True)
            with open(marker, "w") as f:
                f.write("\n".join(pins))
    finally:
        os.close(tree)
    os.execv(python, [python, os.path.abspath(__file__), *sys.argv[1:]])


def read_marker(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def dev_requirements():
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        text = f.read().decode()
    try:
        import tomllib
    except ImportError:  # Python < 3.11: the list is one line, by convention
        line = next(s for s in text.splitlines() if s.startswith("dev = ["))
        return [w.strip(' "') for w in line[len("dev = [") : -1].split(",")]
    return tomllib.loads(text)["project"]["optional-dependencies"]["dev"]


def demo():
    """Build, then tell the example VM's story (demo_story())."""
    outdir = os.path.join(HERE, "dist")
    build(outdir)
    return demo_story(outdir)


def demo_story(outdir):
    """The example VM's story, as a newcomer would run it, with the program
    built in outdir: the read applets on the example as it is; hvtools
    installed into a copy of it, and its status, clean; then a rescue-style
    run: a second copy seen as a mounted image (an empty /dev: no devfs),
    the bundled static request written into it, and the boot it prepares.
    The example itself is never written.  Returns the first failure's exit
    status, else 0."""
    dist = os.path.relpath(outdir, HERE)
    example = os.path.join(HERE, "examples", "azure-vm")
    failed = 0
    with tempfile.TemporaryDirectory(prefix="hvtools-demo.") as work:
        vm, image = os.path.join(work, "vm"), os.path.join(work, "image")
        for stage, root, commands in demo_stages(dist, example, vm, image):
            print(f"\n# {stage}", flush=True)
            if root is None:
                demo_install(example, vm, image, outdir)
                continue
            env = dict(os.environ, HVTOOLS_ROOT=root, HVTOOLS_PYTHON=sys.executable)
            shown = os.path.relpath(root, HERE if root == example else work)
            for command in commands:
                print(f"$ HVTOOLS_ROOT={shown} {' '.join(command)}", flush=True)
                argv = [os.path.join(HERE, command[0]), *command[1:]]
                code = subprocess.run(argv, env=env, cwd=HERE, check=False).returncode
                failed = failed or code
    return failed


def demo_stages(dist, example, vm, image):
    """[(what, HVTOOLS_ROOT, [command])] of the demo."""
    request = "/var/db/hypervhv_set_ip_data"
    return [
        (
            "The example VM as it is: what hv_kvp_daemon asks the helpers",
            example,
            [
                [f"{dist}/hv_get_dns_info"],
                [f"{dist}/hv_get_dhcp_info", "hn0"],
                [f"{dist}/hv_get_dhcp_info", "hn1"],
            ],
        ),
        (
            "Install hvtools into vm, a copy of the example (with a python3, "
            "as `pkg install python3` would leave); image: a copy of vm with "
            "an empty /dev, as a disk mounted in a rescue system",
            None,
            [],
        ),
        (
            "The installed VM: its status, and what the bundled request would do",
            vm,
            [
                [f"{dist}/hvtools", "status"],
                [f"{dist}/hv_set_ifconfig", "--dry-run", request],
            ],
        ),
        (
            "The image: the request written for its next boot, nothing run; "
            "then what it will boot with",
            image,
            [[f"{dist}/hv_set_ifconfig", request], [f"{dist}/hvtools", "status"]],
        ),
    ]


def demo_install(example, vm, image, outdir):
    shutil.copytree(example, vm, symlinks=True)
    python = f"python3.{sys.version_info[1]}"
    stub = os.path.join(vm, "usr/local/bin", python)
    os.makedirs(os.path.dirname(stub))
    with open(stub, "w") as f:
        f.write(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    os.chmod(stub, 0o755)
    print(f"$ cp -R examples/azure-vm vm   # and vm/usr/local/bin/{python}")
    print("$ python3 build.py install --destdir vm", flush=True)
    install(vm, "/usr/local", False, outdir)
    shutil.copytree(vm, image, symlinks=True)
    shutil.rmtree(os.path.join(image, "dev"))
    os.mkdir(os.path.join(image, "dev"))
    print("$ cp -R vm image && rm image/dev/*", flush=True)


def test(pytest_args, jobs=None):
    """The checks CI runs: ruff lint, ruff format, then pytest."""
    os.chdir(HERE)
    for command in (
        # No cache: whether an import is first-party depends on the tree
        # (devd/ and tests/devd.py), which ruff's cache does not key on.
        ["ruff", "check", "--no-cache", "."],
        ["ruff", "format", "--no-cache", "--check", "."],
    ):
        code = subprocess.run([sys.executable, "-m", *command], check=False).returncode
        if code:
            return code
    jobs = jobs or len(os.sched_getaffinity(0))
    if jobs == 1:
        argv = [sys.executable, "-m", "pytest", *pytest_args]
        return subprocess.run(argv, check=False).returncode
    return pytest_shards(pytest_args, jobs)


# pytest's exit statuses (pytest.ExitCode): a shard that drew no test is no
# failure while another shard ran some.
PYTEST_OK, PYTEST_NO_TESTS = 0, 5
_COUNTS = re.compile(r"(\d+) (passed|failed|errors?)\b")


def pytest_shards(pytest_args, jobs):
    """Run the suite as `jobs` pytest processes at once: tests/conftest.py
    keeps every jobs-th test of the collection, starting at the shard's
    index (HVTOOLS_TEST_SHARD=INDEX/JOBS).  A --junitxml report is written
    per shard, then merged into the one asked for."""
    report = next(
        (a.split("=", 1)[1] for a in pytest_args if a.startswith("--junitxml=")),
        None,
    )
    args = [a for a in pytest_args if not a.startswith("--junitxml=")]
    shards = []
    with tempfile.TemporaryDirectory(prefix="hvtools-test-") as work:
        for index in range(jobs):
            log = open(f"{work}/{index}.log", "w+")  # noqa: SIM115 (closed below)
            argv = [sys.executable, "-m", "pytest", *args]
            if report:
                argv.append(f"--junitxml={work}/{index}.xml")
            env = dict(os.environ, HVTOOLS_TEST_SHARD=f"{index}/{jobs}")
            process = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
            shards.append((process, log))
        statuses = []
        totals = {"passed": 0, "failed": 0}
        for index, (process, log) in enumerate(shards):
            statuses.append(process.wait())
            log.seek(0)
            output = log.read()
            log.close()
            print(f"---- pytest shard {index + 1} of {jobs} ----\n{output}", end="")
            last = output.rstrip().rpartition("\n")[2]
            for number, outcome in _COUNTS.findall(last):
                key = "passed" if outcome == "passed" else "failed"
                totals[key] += int(number)
        if report:
            merge_junit([f"{work}/{i}.xml" for i in range(jobs)], report)
    print(f"tests: {totals['passed']} passed, {totals['failed']} failed", flush=True)
    failures = [s for s in statuses if s not in (PYTEST_OK, PYTEST_NO_TESTS)]
    if failures:
        return failures[0]
    return PYTEST_OK if PYTEST_OK in statuses else PYTEST_NO_TESTS


def merge_junit(paths, target):
    """One JUnit file of pytest's shape (testsuites > testsuite) holding the
    test suites of every file of paths that exists."""
    import xml.etree.ElementTree as ET

    merged = ET.Element("testsuites")
    for path in paths:
        if os.path.exists(path):
            merged.extend(ET.parse(path).getroot().iter("testsuite"))
    ET.ElementTree(merged).write(target, encoding="utf-8", xml_declaration=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = ["build", "install", "demo", "test"]
    parser.add_argument("command", nargs="?", default="build", choices=commands)
    parser.add_argument(
        "--python",
        action="append",
        help="interpreter whose bytecode to ship (repeatable; default: all found)",
    )
    parser.add_argument("--outdir", default=os.path.join(HERE, "dist"))
    parser.add_argument("--destdir", help="install: staging root")
    parser.add_argument("--prefix", default="/usr/local", help="install: prefix")
    parser.add_argument("--uninstall", action="store_true")
    parser.add_argument("--package", action="store_true", help="install: no base links")
    parser.add_argument("--jobs", type=int, help="test: pytest processes at once")
    args, rest = parser.parse_known_args(argv)
    if args.command == "test":
        ensure_dev_tools()
        if args.jobs is not None and args.jobs < 1:
            parser.error("--jobs takes a number >= 1")
        return test(rest, args.jobs)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "install" and not args.destdir:
        parser.error("install needs --destdir")
    if not (args.command == "install" and os.path.exists(f"{args.outdir}/{PROGRAM}")):
        ensure_dev_tools()
    if args.command == "install":
        where = install(
            args.destdir, args.prefix, args.uninstall, args.outdir, args.package
        )
        print(where)
        return 0
    if args.command == "demo":
        return demo()
    pythons = [probe(p) for p in args.python] if args.python else find_pythons()
    if None in pythons:
        parser.error("--python: not a CPython interpreter")
    print(build(args.outdir, [p.executable for p in pythons]))
    for python in pythons:
        version = ".".join(map(str, python.version))
        print(f"bytecode for Python {version}: {python.executable}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
