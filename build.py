"""Build, install and check hvtools.

    python3 build.py [build] [--python X] [--outdir DIR]
        dist/hvtools, a shiv zipapp behind a POSIX sh preamble, with the
        bytecode of interpreter X (default: this one) inside, plus a symlink
        per applet beside it.  The same tree always gives the same bytes.
    python3 build.py install --destdir D [--prefix /usr/local] [--package]
                             [--uninstall]
        D/PREFIX/libexec/hyperv/hvtools with its applet symlinks, the devd
        rules (D/PREFIX/etc/devd/hvtools.conf; /etc/devd for /usr) and
        D/usr/libexec/hyperv/NAME linked to the program, where hv_kvp_daemon
        runs them (a file in the way is kept as NAME.orig).  --package
        leaves out the latter, for a FreeBSD port; --uninstall undoes it.
    python3 build.py demo
        build, then run the applets on the example VM in examples/.
    python3 build.py test [PYTEST-ARGS]
        ruff (lint and format) and the whole test suite.

The developer tools (pyproject.toml, extra "dev") are installed into .venv
on first use, so a machine with only python3 and pip suffices.
"""

import argparse
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
PROGRAM = "hvtools"
PYC = "site-packages/hvtools.pyc"

# The preamble finds a Python 3 without relying on PATH (hv_kvp_daemon's
# lacks /usr/local/bin), then runs hvtools straight from this archive: no
# shiv bootstrap, no extraction, nothing written, isolated from the caller's
# environment (-I), without site (-S) and without writing bytecode (-B).
# It reads the bytecode where the build found it in the archive (@AT@,
# @SIZE@): zipimport, written in Python, would cost a tenth of the start-up.
# Bytecode of another Python version leaves the work to zipimport, which
# then compiles the source.
PREAMBLE = r"""#!/bin/sh
# hvtools: the Hyper-V guest helpers of FreeBSD, one multi-call program.
# This is a zip archive behind a POSIX sh preamble; see hvtools(8).
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
with open(archive, "rb") as f:
    f.seek(@AT@)
    pyc = f.read(@SIZE@)
importer = sys.modules.get("_frozen_importlib_external")
if pyc[:4] == getattr(importer, "MAGIC_NUMBER", None):
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


def preamble(python_dir=PYTHON_DIR, at=0, size=0):
    # Fixed-width numbers: the preamble is written before the archive, and
    # rewritten in place once the bytecode's place in it is known.
    text = PREAMBLE.replace("@PYDIR@", python_dir)
    return text.replace("@AT@", f"{at:10d}").replace("@SIZE@", f"{size:10d}").encode()


# ---------------------------------------------------------------------------
# Building


def build(outdir, python=None):
    """Build OUTDIR/hvtools and its applet links; return the program's path."""
    os.makedirs(outdir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hvtools-build-") as work:
        site = os.path.join(work, "site-packages")
        os.mkdir(site)
        source = os.path.join(site, "hvtools.py")
        shutil.copyfile(os.path.join(HERE, "hvtools.py"), source)
        os.chmod(source, 0o644)
        shiv_output = os.path.join(work, "shiv.pyz")
        run_shiv(site, shiv_output)
        bytecode = compile_bytecode(source, os.path.join(work, "hvtools.pyc"), python)
        target = os.path.join(outdir, PROGRAM)
        repack(shiv_output, bytecode, target + ".tmp")
        os.replace(target + ".tmp", target)
    for name in applet_names():
        link = os.path.join(outdir, name)
        if os.path.lexists(link):
            os.unlink(link)
        os.symlink(PROGRAM, link)
    return target


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


def compile_bytecode(source, output, python=None):
    """Unchecked-hash bytecode (no timestamp in it) for the given Python.

    zipimport uses hvtools.pyc beside hvtools.py when its magic number fits
    the running interpreter, and compiles the source otherwise.
    """
    code = (
        "import py_compile, sys\n"
        "py_compile.compile(sys.argv[1], cfile=sys.argv[2], dfile='hvtools.py',\n"
        "    doraise=True,\n"
        "    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)\n"
    )
    interpreter = python or sys.executable
    subprocess.run([interpreter, "-I", "-c", code, source, output], check=True)
    return output


def repack(shiv_output, bytecode, target):
    """shiv's archive, behind the sh preamble, with the bytecode added."""
    with zipfile.ZipFile(shiv_output) as shiv_zip, open(target, "w+b") as out:
        out.write(preamble())
        with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
            for info in shiv_zip.infolist():
                archive.writestr(info, shiv_zip.read(info))
                if info.filename == "site-packages/hvtools.py":
                    pyc = zipfile.ZipInfo(PYC, info.date_time)
                    pyc.external_attr = info.external_attr
                    with open(bytecode, "rb") as f:
                        archive.writestr(pyc, f.read())
        at, size = stored_data(out, PYC)
        out.seek(0)
        out.write(preamble(at=at, size=size))
    os.chmod(target, 0o755)


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
    if read_marker(marker) != "\n".join(pins):
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True)
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *pins], check=True)
        with open(marker, "w") as f:
            f.write("\n".join(pins))
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
    """Build, then show what each applet answers for the bundled example VM."""
    build(os.path.join(HERE, "dist"))
    example = os.path.join(HERE, "examples", "azure-vm")
    env = dict(os.environ, HVTOOLS_ROOT=example, HVTOOLS_PYTHON=sys.executable)
    status = 0
    for command in demo_commands():
        print(f"$ {' '.join(command)}", flush=True)
        argv = [os.path.join(HERE, command[0]), *command[1:]]
        code = subprocess.run(argv, env=env, cwd=HERE, check=False).returncode
        # The example VM has no installation: status reports it (exit 78).
        status |= 0 if command[1:] == ["status"] and code == 78 else code
    return status


def demo_commands():
    return [
        ["dist/hv_get_dns_info"],
        ["dist/hv_get_dhcp_info", "hn0"],
        ["dist/hv_get_dhcp_info", "hn1"],
        ["dist/hvtools", "status"],
        ["dist/hv_set_ifconfig", "--dry-run", "/var/db/hypervhv_set_ip_data"],
    ]


def test(pytest_args):
    """The checks CI runs: ruff lint, ruff format, then pytest."""
    os.chdir(HERE)
    for command in (
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["pytest", *pytest_args],
    ):
        code = subprocess.run([sys.executable, "-m", *command], check=False).returncode
        if code:
            return code
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = ["build", "install", "demo", "test"]
    parser.add_argument("command", nargs="?", default="build", choices=commands)
    parser.add_argument("--python", help="interpreter whose bytecode to ship")
    parser.add_argument("--outdir", default=os.path.join(HERE, "dist"))
    parser.add_argument("--destdir", help="install: staging root")
    parser.add_argument("--prefix", default="/usr/local", help="install: prefix")
    parser.add_argument("--uninstall", action="store_true")
    parser.add_argument("--package", action="store_true", help="install: no base links")
    args, rest = parser.parse_known_args(argv)
    if args.command == "test":
        ensure_dev_tools()
        return test(rest)
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
    print(build(args.outdir, args.python))
    return 0


if __name__ == "__main__":
    sys.exit(main())
