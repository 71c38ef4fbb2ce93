"""packaging/freebsd: the port's pkg-plist is exactly what it stages."""

import os

import build
import hvtools

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PORT = os.path.join(TOP, "packaging", "freebsd")


def staged_files(destdir):
    found = []
    for directory, _, names in os.walk(destdir):
        found += [os.path.relpath(os.path.join(directory, n), destdir) for n in names]
    return sorted(found)


def test_pkg_plist_is_what_build_py_install_stages(dist, tmp_path):
    build.install(str(tmp_path), "/usr/local", False, str(dist), package=True)
    with open(os.path.join(PORT, "pkg-plist")) as f:
        plist = [line.strip() for line in f if line.strip()]
    assert staged_files(tmp_path) == sorted(f"usr/local/{p}" for p in plist)


def test_pkg_message_gives_the_activating_command():
    with open(os.path.join(PORT, "pkg-message")) as f:
        text = f.read()
    activate = hvtools.ACTIVATE.replace("/usr/local", "%%PREFIX%%")
    assert activate in text
    assert "--uninstall" in text
