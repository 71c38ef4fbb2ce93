"""The program as a whole: dispatch, the zipapp and its launcher, installing."""

import os
import pathlib
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest

import build
import devd
import hvtools
from conftest import hv_env


def run_program(argv, env, **kwargs):
    return subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=60, **kwargs
    )


def one_line(text):
    lines = text.splitlines()
    assert len(lines) == 1, text
    return lines[0]


# Dispatch


def test_list_prints_every_applet_of_the_table(run):
    result = run("--list", via="hvtools")
    assert result.returncode == 0
    assert result.stdout.split("\n")[:-1] == list(hvtools.APPLETS)


@pytest.mark.parametrize("option", ["--help", "-h"])
def test_help_names_every_applet(run, option):
    result = run(option, via="hvtools")
    assert result.returncode == 0
    for name in hvtools.APPLETS:
        assert name in result.stdout


# The interpreters of this machine, as the build finds them: each gets its
# bytecode in the session's dist/hvtools.
PYTHONS = build.find_pythons()


def version_name(python):
    return ".".join(map(str, python.version))


def test_version_names_the_pythons_it_has_bytecode_for(run):
    result = run("--version", via="hvtools")
    versions = ", ".join(version_name(p) for p in PYTHONS)
    assert (result.returncode, result.stdout) == (
        0,
        f"hvtools {hvtools.__version__}\nbytecode for Python {versions}\n",
    )


def test_version_from_source_has_no_bytecode_line():
    assert hvtools.version_text(None) == f"hvtools {hvtools.__version__}\n"


def test_no_arguments_is_a_usage_error(dist, root):
    result = run_program([str(dist / "hvtools")], hv_env(root))
    assert result.returncode == 64
    assert result.stderr.startswith("usage: hvtools")


@pytest.mark.parametrize("name", ["nosuch", "--nosuch", "hv_get_dns_info.sh", ""])
def test_unknown_applet_exits_64_with_a_hint(run, name):
    result = run(name, via="hvtools")
    assert result.returncode == 64
    assert "hvtools --list" in one_line(result.stderr)


def test_unknown_name_through_a_symlink_exits_64(dist, root, tmp_path):
    link = tmp_path / "hv_set_everything"
    link.symlink_to(dist / "hvtools")
    result = run_program([str(link)], hv_env(root))
    assert result.returncode == 64
    assert "'hv_set_everything'" in one_line(result.stderr)


@pytest.mark.parametrize("name", list(hvtools.APPLETS))
def test_every_applet_has_help(run, name):
    result = run(name, "--help", via="hvtools")
    assert result.returncode == 0
    command = name if hvtools.APPLETS[name].linked else f"hvtools {name}"
    assert result.stdout.startswith(f"usage: {command}")


def test_the_name_beats_the_first_argument(run, root):
    (root / "etc/resolv.conf").write_text("nameserver 10.0.0.53\n")
    result = run("hv_get_dns_info", "hv_get_dhcp_info", via="link")
    assert (result.returncode, result.stdout) == (0, "10.0.0.53\n")


def test_in_process_main_reports_failures_as_one_line(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("HVTOOLS_ROOT", str(tmp_path))
    assert hvtools.main(["hv_get_dhcp_info", "bad/name"]) == 64
    err = capsys.readouterr().err
    assert one_line(err) == "hv_get_dhcp_info: invalid interface name 'bad/name'"


# The zipapp


@pytest.mark.parametrize("via", ["link", "sh", "hvtools"])
def test_runs_directly_through_sh_and_as_hvtools(run, root, via):
    (root / "etc/rc.conf").write_text('ifconfig_hn0="DHCP"\n')
    result = run("hv_get_dhcp_info", "hn0", via=via)
    assert (result.returncode, result.stdout, result.stderr) == (0, "Enabled\n", "")


def test_runs_through_shivs_own_bootstrap(dist, root, tmp_path):
    (root / "etc/rc.conf").write_text('ifconfig_hn0="inet 10.0.0.4/24"\n')
    env = hv_env(root, SHIV_ROOT=str(tmp_path / "shiv"))
    result = run_program([sys.executable, str(dist / "hv_get_dhcp_info"), "hn0"], env)
    assert (result.returncode, result.stdout) == (0, "Disabled\n")


def test_archive_carries_bytecode_for_each_python_found(dist):
    with zipfile.ZipFile(dist / "hvtools") as archive:
        names = archive.namelist()
    tags = [f"cpython-{p.version[0]}{p.version[1]}" for p in PYTHONS]
    expected = [f"site-packages/__pycache__/hvtools.{tag}.pyc" for tag in tags]
    assert [n for n in names if n.endswith(".pyc")] == expected
    with open(dist / "hvtools", "rb") as f:
        table = build.bytecode_table(f)
    assert f.name and build.preamble(bytecode=table) in (dist / "hvtools").read_bytes()
    assert len({magic for _, magic, _, _ in table}) == len(PYTHONS)


def test_finds_each_cpython_version_once_first_found_first(tmp_path, monkeypatch):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    answers = {
        "python3": "cpython 3 12 /first/python3.12",
        "python3.12": "cpython 3 12 /second/python3.12",
        "python3.8": "cpython 3 8 /old/python3.8",
        "python3.10": "pypy 3 10 /pypy/python3.10",
        "python3.11-config": "cpython 3 11 /not/a/python",
    }
    for name, answer in answers.items():
        (bindir / name).write_text(f"#!/bin/sh\necho {answer}\n")
        (bindir / name).chmod(0o755)
    (bindir / "python3.13").write_text("#!/bin/sh\nexit 1\n")  # a broken shim
    (bindir / "python3.13").chmod(0o755)
    monkeypatch.setenv("PATH", str(bindir))
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pyenv
    monkeypatch.setattr(sys, "executable", str(bindir / "python3"))
    found = [(p.version, p.executable) for p in build.find_pythons()]
    mine = [(v, e) for v, e in found if not e.startswith("/usr/local/bin/")]
    assert mine == [((3, 12), "/first/python3.12")]


def imports_of(program, root, python, command=("hv_get_dhcp_info", "hn0")):
    """What running program's command imports through the import system
    (-X importtime), and its output, with python as the launcher's."""
    wrapper = root / "importtime-python3"
    wrapper.write_text(f'#!/bin/sh\nexec {python} -X importtime "$@"\n')
    wrapper.chmod(0o755)
    (root / "etc/rc.conf").write_text('ifconfig_hn0="DHCP"\n')
    env = hv_env(root, HVTOOLS_PYTHON=str(wrapper))
    (root / "etc/resolv.conf").write_text("nameserver 192.0.2.1\n")
    result = run_program([str(program), *command], env)
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines()]
    return imported, result.stdout


@pytest.mark.parametrize("python", PYTHONS, ids=version_name)
def test_each_python_runs_its_own_bytecode_without_zipimport(dist, root, python):
    imported, stdout = imports_of(dist / "hvtools", root, python.executable)
    assert stdout == "Enabled\n"
    # Imported through the import system (zipimport), hvtools would show.
    assert "hvtools" not in imported


@pytest.mark.parametrize(
    "command, answer",
    [(("hv_get_dhcp_info", "hn0"), "Enabled\n"), (("hv_get_dns_info",), "192.0.2.1\n")],
)
def test_read_applets_do_without_os(dist, root, command, answer):
    # os costs a third of a Python 3.9 or 3.10 start (its _collections_abc).
    imported, stdout = imports_of(dist / "hvtools", root, sys.executable, command)
    assert stdout == answer
    assert not {"os", "posixpath", "_collections_abc"} & set(imported)


def test_a_python_without_bytecode_compiles_the_source(root, tmp_path):
    # The preamble's table lists no bytecode for this Python: zipimport
    # takes over, and compiles the source.
    program = build.build(str(tmp_path / "dist"), [sys.executable])
    with open(program, "rb") as f:
        table = build.bytecode_table(f)
    data = pathlib.Path(program).read_bytes()
    shipped = build.preamble(bytecode=table)
    unknown = build.preamble(bytecode=[(tag, 0, at, n) for tag, _, at, n in table])
    with open(program, "wb") as f:
        f.write(unknown + data[len(shipped) :])
    imported, stdout = imports_of(program, root, sys.executable)
    assert stdout == "Enabled\n"
    assert "hvtools" in imported


def test_builds_are_reproducible(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    build.build(str(first))
    build.build(str(second))
    assert (first / "hvtools").read_bytes() == (second / "hvtools").read_bytes()
    assert sorted(os.listdir(first)) == sorted(os.listdir(second))


def test_every_linked_applet_has_a_symlink(dist):
    for name in hvtools.linked_applets():
        assert os.readlink(dist / name) == "hvtools"


def test_ignores_the_callers_python_environment(run, root, tmp_path):
    trap = tmp_path / "trap"
    trap.mkdir()
    (trap / "hvtools.py").write_text("raise SystemExit('imported the wrong hvtools')\n")
    (trap / "sitecustomize.py").write_text("raise SystemExit('ran sitecustomize')\n")
    (root / "etc/resolv.conf").write_text("nameserver 192.0.2.1\n")
    env = hv_env(root, PYTHONPATH=str(trap), PYTHONSTARTUP=str(trap / "hvtools.py"))
    result = subprocess.run(
        [str(run.dist / "hv_get_dns_info")],
        env=env, cwd=trap, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (result.returncode, result.stdout) == (0, "192.0.2.1\n")


def snapshot(*trees):
    seen = {}
    for top in trees:
        for directory, dirs, files in os.walk(top):
            for name in dirs + files:
                path = os.path.join(directory, name)
                info = os.lstat(path)
                seen[path] = (info.st_mode, info.st_size, info.st_mtime_ns)
    return seen


def test_read_applets_write_nothing_with_a_read_only_root_and_no_home(
    run, root, tmp_path
):
    (root / "etc/resolv.conf").write_text("nameserver 192.0.2.1\n")
    (root / "etc/rc.conf").write_text('ifconfig_hn0="DHCP"\n')
    home = tmp_path / "home"
    home.mkdir()
    for directory, _, files in os.walk(root):
        for name in files:
            os.chmod(os.path.join(directory, name), 0o444)
        os.chmod(directory, 0o555)
    os.chmod(home, 0o555)
    before = snapshot(root, home, run.dist)
    for home_value in (str(home), "/nonexistent/home", None):
        env = hv_env(root, HOME=home_value)
        if home_value is None:
            del env["HOME"]
        for applet, args in (("hv_get_dns_info", ()), ("hv_get_dhcp_info", ("hn0",))):
            for via in ("link", "sh"):
                result = run(applet, *args, via=via, env=env)
                assert result.returncode == 0, result.stderr
                assert result.stdout in ("192.0.2.1\n", "Enabled\n")
    assert snapshot(root, home, run.dist) == before


# The launcher's search for Python


@pytest.fixture
def launcher(dist, tmp_path):
    """dist/hvtools with the launcher's /usr/local/bin swapped for a test dir."""
    with open(dist / "hvtools", "rb") as f:
        table = build.bytecode_table(f)
        f.seek(0)
        archive = f.read()
    shipped = build.preamble(bytecode=table)
    assert archive.startswith(shipped)
    bindir = tmp_path / "local-bin"
    bindir.mkdir()
    shift = len(build.preamble(str(bindir), table)) - len(shipped)
    moved = [(tag, magic, at + shift, n) for tag, magic, at, n in table]
    head = build.preamble(str(bindir), moved)
    program = tmp_path / "hvtools"
    program.write_bytes(head + archive[len(shipped) :])
    program.chmod(0o755)
    return program, bindir


def fake_python(path, log):
    """A python3 that notes its own name in log, then runs the real one."""
    path.write_text(f'#!/bin/sh\necho "$0" >> {log}\nexec {sys.executable} "$@"\n')
    path.chmod(0o755)
    return str(path)


def launch(program, root, path, python=None):
    env = {"PATH": path, "HVTOOLS_ROOT": str(root)}
    if python is not None:
        env["HVTOOLS_PYTHON"] = python
    return run_program(["/bin/sh", str(program), "--version"], env)


def test_launcher_prefers_hvtools_python(launcher, root, tmp_path):
    program, bindir = launcher
    log = tmp_path / "log"
    chosen = fake_python(tmp_path / "chosen", log)
    fake_python(bindir / "python3", log)
    result = launch(program, root, str(bindir), python=chosen)
    assert result.returncode == 0
    assert log.read_text().split() == [chosen]


def test_launcher_then_tries_python3_on_path(launcher, root, tmp_path):
    program, bindir = launcher
    log = tmp_path / "log"
    onpath = tmp_path / "path"
    onpath.mkdir()
    fake_python(onpath / "python3", log)
    fake_python(bindir / "python3", log)
    result = launch(
        program, root, f"/nonexistent:{onpath}", python="/nonexistent/python"
    )
    assert result.returncode == 0
    assert log.read_text().split() == [str(onpath / "python3")]


def test_launcher_then_tries_local_bin_python3(launcher, root, tmp_path):
    program, bindir = launcher
    log = tmp_path / "log"
    fake_python(bindir / "python3", log)
    fake_python(bindir / "python3.12", log)
    result = launch(program, root, "/nonexistent")
    assert result.returncode == 0
    assert log.read_text().split() == [str(bindir / "python3")]


def test_launcher_then_takes_the_newest_python3_minor(launcher, root, tmp_path):
    program, bindir = launcher
    log = tmp_path / "log"
    for name in ("python3.9", "python3.10", "python3.8"):
        fake_python(bindir / name, log)
    (bindir / "python3.11-config").write_text("#!/bin/sh\nexit 99\n")
    (bindir / "python3.11-config").chmod(0o755)
    (bindir / "python3.12").write_text("not executable\n")
    result = launch(program, root, "/nonexistent")
    assert result.returncode == 0, result.stderr
    assert log.read_text().split() == [str(bindir / "python3.10")]


def test_launcher_without_python_exits_127(launcher, root):
    program, _ = launcher
    result = launch(program, root, "/nonexistent")
    assert result.returncode == 127
    assert "no Python 3 found" in one_line(result.stderr)


# Installing


ORIGINAL_SCRIPT = b"#!/bin/sh\n. /var/db/hypervhv_set_ip_data\n"


def test_build_install_stages_program_and_links_keeping_originals(dist, tmp_path):
    destdir = tmp_path / "image"
    libexec = destdir / "usr/libexec/hyperv"
    libexec.mkdir(parents=True)
    (libexec / "hv_get_dns_info").write_bytes(ORIGINAL_SCRIPT)
    build.install(str(destdir), "/usr", False, str(dist))
    program = libexec / "hvtools"
    assert program.read_bytes() == (dist / "hvtools").read_bytes()
    assert stat.S_IMODE(program.stat().st_mode) == 0o555
    for name in hvtools.linked_applets():
        assert os.readlink(libexec / name) == "hvtools"
    assert (libexec / "hv_get_dns_info.orig").read_bytes() == ORIGINAL_SCRIPT

    build.install(str(destdir), "/usr", False, str(dist))  # again: nothing lost
    assert (libexec / "hv_get_dns_info.orig").read_bytes() == ORIGINAL_SCRIPT

    build.install(str(destdir), "/usr", True, str(dist))
    assert (libexec / "hv_get_dns_info").read_bytes() == ORIGINAL_SCRIPT
    assert sorted(os.listdir(libexec)) == ["hv_get_dns_info"]


def test_install_from_a_single_copied_file(dist, tmp_path):
    image = tmp_path / "image"
    image.mkdir()
    copy = tmp_path / "copied" / "hvtools"
    copy.parent.mkdir()
    shutil.copy(dist / "hvtools", copy)
    env = hv_env(image)
    result = run_program([str(copy), "--install", "/usr/libexec/hyperv"], env)
    assert (result.returncode, result.stderr) == (0, "")
    (image / "etc").mkdir()
    (image / "etc/rc.conf").write_text('ifconfig_hn0="SYNCDHCP"\n')
    applet = image / "usr/libexec/hyperv/hv_get_dhcp_info"
    result = run_program(["/bin/sh", str(applet), "hn0"], env)
    assert (result.returncode, result.stdout) == (0, "Enabled\n")


def test_install_refuses_to_lose_a_file_when_orig_exists(dist, tmp_path):
    libexec = tmp_path / "usr/libexec/hyperv"
    libexec.mkdir(parents=True)
    (libexec / "hv_get_dns_info").write_bytes(ORIGINAL_SCRIPT)
    (libexec / "hv_get_dns_info.orig").write_bytes(b"older\n")
    result = run_program([str(dist / "hvtools"), "--install", "/usr/libexec/hyperv"],
                         hv_env(tmp_path))  # fmt: skip
    assert result.returncode == 73
    assert "hv_get_dns_info.orig exists" in one_line(result.stderr)
    assert (libexec / "hv_get_dns_info").read_bytes() == ORIGINAL_SCRIPT
    assert (libexec / "hv_get_dns_info.orig").read_bytes() == b"older\n"


def test_install_needs_the_built_program(tmp_path):
    result = run_program(
        [sys.executable, hvtools.__file__, "--install", "/usr/libexec/hyperv"],
        hv_env(tmp_path),
    )
    assert result.returncode == 64
    assert "build.py" in one_line(result.stderr)
    assert not (tmp_path / "usr").exists()


# The default installation: what the KVP daemon and devd run is hvtools

DAEMON_CALLS = ("hv_get_dns_info", "hv_get_dhcp_info", "hv_set_ifconfig")


def resolve(root, path):
    """Follow symlinks inside root, as the system booted from it would."""
    return os.path.realpath(root / path.lstrip("/"))


def base_system(root):
    """The base scripts where FreeBSD 12.1 installs them."""
    libexec = root / "usr/libexec/hyperv"
    libexec.mkdir(parents=True)
    for name in hvtools.linked_applets():
        (libexec / name).write_bytes(ORIGINAL_SCRIPT)
    return libexec


def test_default_install_makes_the_daemon_and_devd_run_hvtools(dist, tmp_path):
    destdir = tmp_path / "image"
    base = base_system(destdir)
    assert (
        build.main(["install", "--destdir", str(destdir), "--outdir", str(dist)]) == 0
    )
    program = destdir / "usr/local/libexec/hyperv/hvtools"
    assert program.read_bytes() == (dist / "hvtools").read_bytes()
    # hv_kvp_daemon.c: "sh /usr/libexec/hyperv/NAME", whatever the prefix.
    for name in hvtools.linked_applets():
        assert resolve(destdir, f"/usr/libexec/hyperv/{name}") == str(program)
        assert os.readlink(base / name) == "../../local/libexec/hyperv/hvtools"
        assert (base / f"{name}.orig").read_bytes() == ORIGINAL_SCRIPT
    rules = (destdir / "usr/local/etc/devd/hvtools.conf").read_text()
    actions = [a for r in devd.parse(rules) for a in r.actions]
    assert len(actions) == 3
    for action in actions:
        assert resolve(destdir, action.split()[0]) == str(program)


def test_daemon_links_run_hvtools_through_sh(dist, tmp_path):
    destdir = tmp_path / "image"
    base_system(destdir)
    build.install(str(destdir), "/usr/local", False, str(dist))
    (destdir / "etc").mkdir()
    (destdir / "etc/rc.conf").write_text('ifconfig_hn0="SYNCDHCP"\n')
    applet = destdir / "usr/libexec/hyperv/hv_get_dhcp_info"
    result = run_program(["/bin/sh", str(applet), "hn0"], hv_env(destdir))
    assert (result.returncode, result.stdout) == (0, "Enabled\n")


def test_uninstall_puts_the_base_scripts_back(dist, tmp_path):
    destdir = tmp_path / "image"
    base = base_system(destdir)
    build.install(str(destdir), "/usr/local", False, str(dist))
    build.install(str(destdir), "/usr/local", True, str(dist))
    for name in hvtools.linked_applets():
        assert (base / name).read_bytes() == ORIGINAL_SCRIPT
    assert sorted(os.listdir(base)) == sorted(hvtools.linked_applets())
    assert not (destdir / "usr/local/etc/devd/hvtools.conf").exists()
    assert not (destdir / "usr/local/libexec/hyperv/hvtools").exists()


def test_install_from_a_single_copied_file_makes_the_default_layout(dist, tmp_path):
    destdir = tmp_path / "image"
    base_system(destdir)
    copy = tmp_path / "hvtools"
    shutil.copy(dist / "hvtools", copy)
    result = run_program([str(copy), "--install"], hv_env(destdir))
    assert (result.returncode, result.stderr) == (0, "")
    program = destdir / "usr/local/libexec/hyperv/hvtools"
    for name in DAEMON_CALLS:
        assert resolve(destdir, f"/usr/libexec/hyperv/{name}") == str(program)
    assert (destdir / "usr/local/etc/devd/hvtools.conf").is_file()


def test_a_package_stays_under_its_prefix(dist, tmp_path):
    destdir = tmp_path / "stage"
    build.install(str(destdir), "/usr/local", False, str(dist), package=True)
    assert os.listdir(destdir) == ["usr"]
    assert os.listdir(destdir / "usr") == ["local"]


@pytest.mark.parametrize("args", [["--prefix"], ["--frob"], ["relative/dir"]])
def test_install_usage_errors(dist, tmp_path, args):
    result = run_program([str(dist / "hvtools"), "--install", *args], hv_env(tmp_path))
    assert result.returncode == hvtools.EX_USAGE
    assert os.listdir(tmp_path) == []
