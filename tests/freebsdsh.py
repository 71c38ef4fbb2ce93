"""freebsdsh: run FreeBSD's own shell scripts against a test root.

FreeBSD is the judge: where its scripts can run on Linux, the tests ask them
what FreeBSD does (rc.d/netif, rc.d/routing, rc.d/dhclient, dhclient-script,
resolvconf), instead of trusting a reading of them.  The scripts live in
/work/shared/freebsd-12.1 (FREEBSD) and /work/shared/freebsd-current
(FREEBSD_CURRENT: the current tree's rc.subr, network.subr, defaults/rc.conf,
rc.d scripts, dhclient-script and hyperv_vfup), laid out as FreeBSD
installs them; install() copies the ones a test needs into its root,
unmodified, from the release asked for (RELEASES).

The scripts read and run absolute paths (/etc/rc.conf, /sbin/ifconfig,
/var/run/resolvconf ...), so run() gives them a tree of their own:

* a private mount namespace (unshare -m --propagation private), also with
  its own network and host name (-n -u), so nothing they do reaches this
  machine, and nothing mounted there is seen outside;
* a scratch directory made into a FreeBSD-looking root by bind mounts:
  /etc, /sbin, /libexec, /var, /usr/sbin and /usr/local (where rc.subr
  finds local_startup's rc.conf.d) are the test root's own (the
  simulator's programs in /sbin, what hvtools wrote in /etc); /usr/lib
  and /usr/lib64 are this machine's, read-only; /bin, /usr/bin and
  /usr/libexec hold this machine's entries (symbolic links into them,
  mounted read-only at /.host): the shell and the tools (cat, sed, cmp
  ...) the scripts use, except where the test root has its own (the
  simulator's pkill, pgrep, kill, netstat; /usr/libexec/hyperv, where
  hv_kvp_daemon finds its helpers and a test
  installs current hyperv_vfup); /dev has null, zero and
  urandom only; the Python running the simulator and the tests directory
  are there read-only at their own paths, so that the simulator's programs
  run inside;
* chroot(8) into it, with exactly the environment given (env -i).

FreeBSD's sh is played by bash, not dash: dash makes `shift N` past $#
fatal where FreeBSD's sh returns 1 (rc.d/netif relies on that), and so
does bash (outside POSIX mode; in POSIX mode that error of a special
builtin ends the shell).  Current rc.subr needs `$'...'` (list_vars'
`local IFS=$'\n'`, write_rcvar's `$'\01'`) and `local -`, which dash lacks
and bash has, in either mode.  /bin/sh inside is a wrapper that runs
bash with SHIMS loaded (BASH_ENV), for the builtins FreeBSD's sh has and
bash lacks.  The shims are the test's; the FreeBSD files are never edited.

Only root can do this (unshare, mount, chroot); run() raises otherwise.
"""

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

TESTS = os.path.dirname(os.path.abspath(__file__))


def _freebsd_tree(name="freebsd-12.1"):
    # The workplace's shared tree: beside the checkout (../shared), where
    # the developers' guide puts it, else at /work/shared; the environment
    # may name another copy (of 12.1's; current's beside it).
    named = os.environ.get("HVTOOLS_FREEBSD_SCRIPTS")
    if named and name != "freebsd-12.1":
        named = os.path.join(os.path.dirname(named), name)
    beside = os.path.join(os.path.dirname(os.path.dirname(TESTS)), "shared")
    for top in (named, f"{beside}/{name}", f"/work/shared/{name}"):
        if top and os.path.isfile(os.path.join(top, "etc", "rc.subr")):
            return top
    return f"/work/shared/{name}"  # missing: the tests using it fail


FREEBSD = _freebsd_tree()
FREEBSD_CURRENT = _freebsd_tree("freebsd-current")
# The releases whose scripts tests run, and where each tree is.
RELEASES = {"12.1": FREEBSD, "current": FREEBSD_CURRENT}

# What a test root lends the scratch tree, and what this machine lends it.
FROM_ROOT = ("etc", "sbin", "libexec", "var", "usr/sbin", "usr/local")
FROM_HOST = ("usr/lib", "usr/lib64")
# This machine's entries, or the root's own (files; usr/libexec: directories).
MERGED = ("bin", "usr/bin", "usr/libexec")
DEVICES = ("null", "zero", "urandom")

# Builtins of FreeBSD's sh (bin/sh/var.c setvarcmd) that bash lacks;
# FreeBSD programs Linux lacks: limits(1) (rc.subr's run_rc_command starts
# a daemon as `limits -C CLASS COMMAND`, which here runs COMMAND without
# the login class's resource limits) and kenv(1) (rc.subr asks it for
# rc.debug: no kernel environment here); and sleep(1): rc.d/netif waits
# net.inet6.ip6.dad_count + 1 seconds for DAD and dhclient-script a second
# here and there; in the simulator no time needs to pass, so sleeping only
# slows the tests down.
SHIMS = """\
setvar() { eval "$1=\\$2"; }
limits() { if [ "$1" = -C ]; then shift 2; fi; "$@"; }
kenv() { return 1; }
sleep() { :; }
"""

WRAPPER = """\
#!/bin/bash
# FreeBSD's /bin/sh for freebsdsh: bash, not in POSIX mode, with the shims.
export BASH_ENV=/.freebsdsh/shims.sh
exec /bin/bash "$@"
"""

# Run as root in the new namespace: $1 the scratch tree, $2 the test root,
# then NAME=VALUE pairs of binds (see _binds()), "--", the command.
SETUP = r"""
set -e
new=$1 root=$2
shift 2
while [ "$1" != -- ]; do
    kind=${1%%=*} spec=${1#*=}
    source=${spec%%:*} target=$new${spec#*:}
    mount --bind "$source" "$target"
    if [ "$kind" = ro ]; then
        mount -o remount,bind,ro "$target"
    fi
    shift
done
shift
exec chroot "$new" "$@"
"""


class NotRoot(RuntimeError):
    """freebsdsh needs root: unshare(1), mount(8) and chroot(8)."""


# Where FreeBSD installs programs (mode 555: bsd.prog.mk's SCRIPTS,
# libexec/rc/rc.d/Makefile, usr.sbin/resolvconf/Makefile): the shared
# copies' own modes do not say it (current's dhclient-script is 444 there).
PROGRAM_DIRS = ("etc/rc.d/", "sbin/", "libexec/resolvconf/", "usr/libexec/hyperv/")


def install(root, *paths, release="12.1"):
    """Copy FreeBSD files (paths relative to the release's tree, e.g.
    "sbin/dhclient-script") into root at the same place, unmodified, in the
    mode FreeBSD gives them (programs executable), writable by the owner."""
    for rel in paths:
        source = os.path.join(RELEASES[release], rel)
        target = os.path.join(str(root), rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copyfile(source, target)
        os.chmod(target, 0o755 if rel.startswith(PROGRAM_DIRS) else 0o644)


def install_resolvconf(root):
    """openresolv as FreeBSD 12.1 installs it."""
    install(
        root,
        "sbin/resolvconf",
        "libexec/resolvconf/libc",
        "etc/resolvconf.conf",
    )


RC_SCRIPTS = ("netif", "routing", "dhclient", "resolv", "devd")


def install_rc(root, release="12.1"):
    """rc(8)'s network part: rc.subr, network.subr, the defaults and the
    rc.d scripts of the release's tree."""
    rc = ("etc/rc.subr", "etc/network.subr", "etc/defaults/rc.conf")
    install(root, *rc, release=release)
    install(root, *(f"etc/rc.d/{name}" for name in RC_SCRIPTS), release=release)


def check_root():
    if os.geteuid() != 0:
        raise NotRoot("freebsdsh runs FreeBSD's scripts as root only (id -u is not 0)")


def run(root, argv, env=None, input=None, timeout=120, binds=()):
    """Run argv (its paths as FreeBSD sees them) in root's FreeBSD tree with
    exactly env (default: PATH only, FreeBSD's _PATH_STDPATH); binds: more
    directories of this machine to show read-only at their own paths (a
    built hvtools).  Returns a subprocess.CompletedProcess, text output."""
    with _tree(root, argv, env, binds) as command:
        return subprocess.run(
            command,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=HOST_ENV,
        )


@contextlib.contextmanager
def started(root, argv, env=None, binds=(), **popen):
    """run()'s tree and command, left running for the with block (a daemon):
    yields its subprocess.Popen (popen: its keyword arguments, pass_fds,
    stderr ...).  The command is exec()ed all the way, so the Popen's pid is
    argv's own process.  At the end of the block it is killed if it still
    runs, and reaped."""
    with _tree(root, argv, env, binds) as command:
        process = subprocess.Popen(command, env=HOST_ENV, **popen)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()


HOST_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


@contextlib.contextmanager
def _tree(root, argv, env, binds):
    # The scratch tree, and the command that enters it and runs argv.
    check_root()
    root = os.path.abspath(str(root))
    if env is None:
        env = {"PATH": "/sbin:/bin:/usr/sbin:/usr/bin"}
    scratch = tempfile.mkdtemp(prefix=".freebsdsh-", dir=os.path.dirname(root))
    try:
        binds = _prepare(scratch, root, [str(b) for b in binds])
        assignments = [f"{k}={v}" for k, v in env.items()]
        yield [
            "unshare", "-m", "-n", "-u", "--propagation", "private",
            "/bin/bash", "-c", SETUP, "setup", scratch, root, *binds, "--",
            "/usr/bin/env", "-i", *assignments, *argv,
        ]  # fmt: skip
    finally:
        # The binds lived in the namespace only: here the tree is plain
        # empty directories and files of ours.
        shutil.rmtree(scratch)


def _prepare(scratch, root, extra):
    """Make the mount points in scratch; return the binds, "rw=SRC:/DST" or
    "ro=SRC:/DST"."""
    binds = []

    def mount_point(rel, source, kind, is_dir=True):
        target = os.path.join(scratch, rel.lstrip("/"))
        if is_dir:
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        binds.append(f"{kind}={source}:/{rel.lstrip('/')}")

    for rel in FROM_ROOT:
        source = os.path.join(root, rel)
        os.makedirs(source, exist_ok=True)
        mount_point(rel, source, "rw")
    for rel in FROM_HOST:
        source = "/" + rel
        if os.path.isdir(source) and not os.path.islink(source):
            mount_point(rel, source, "ro")
    for top in ("lib", "lib64"):
        # The libraries: where this machine has them.
        host = "/" + top
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(scratch, top))
        elif os.path.isdir(host):
            mount_point(top, host, "ro")
    # The root's own programs (the simulator's netstat in /usr/bin) hide
    # this machine's of the same name in /bin too (Linux's /bin/netstat):
    # FreeBSD has one of each, whichever PATH looks in first.
    programs = set()
    for rel in ("bin", "usr/bin"):
        own = os.path.join(root, rel)
        programs.update(os.listdir(own) if os.path.isdir(own) else ())
    for rel in MERGED:
        host = os.path.realpath("/" + rel)
        if not os.path.isdir(os.path.join(scratch, f".host{host}")):
            mount_point(f".host{host}", host, "ro")
        merged = os.path.join(scratch, rel)
        os.makedirs(merged)
        for entry in os.listdir(host):
            # A link through this machine's /etc (/usr/bin/awk ->
            # /etc/alternatives/awk) would lead into the root's: resolved.
            real = os.path.realpath(os.path.join(host, entry))
            if os.path.dirname(real) != host:
                real = os.path.join(host, entry)
            if rel == "usr/libexec" or entry not in programs:
                os.symlink(f"/.host{real}", os.path.join(merged, entry))
        own = os.path.join(root, rel)
        for entry in os.listdir(own) if os.path.isdir(own) else ():
            path = os.path.join(own, entry)
            is_dir = rel == "usr/libexec"
            if os.path.isdir(path) if is_dir else os.path.isfile(path):
                if os.path.lexists(os.path.join(merged, entry)):
                    os.unlink(os.path.join(merged, entry))
                mount_point(f"{rel}/{entry}", path, "rw", is_dir)
        if rel == "usr/libexec":
            continue
        # /bin/sh: the wrapper below.
        if os.path.lexists(os.path.join(merged, "sh")):
            os.unlink(os.path.join(merged, "sh"))
        os.symlink("/.freebsdsh/sh", os.path.join(merged, "sh"))
    for device in DEVICES:
        mount_point(f"dev/{device}", f"/dev/{device}", "rw", is_dir=False)
    for path in _nested_out([*_python_dirs(), *extra]):
        mount_point(path, path, "ro")
    os.makedirs(os.path.join(scratch, "tmp"), mode=0o1777, exist_ok=True)
    # /bin/sh: our wrapper over whatever /bin/sh is here.
    shim_dir = os.path.join(scratch, ".freebsdsh")
    os.makedirs(shim_dir)
    with open(os.path.join(shim_dir, "shims.sh"), "w") as f:
        f.write(SHIMS)
    wrapper = os.path.join(shim_dir, "sh")
    with open(wrapper, "w") as f:
        f.write(WRAPPER)
    os.chmod(wrapper, 0o755)
    return binds


def _python_dirs():
    # The simulator's programs exec this Python on fakebsd.py.
    return [
        os.path.dirname(os.path.abspath(sys.executable)),
        os.path.realpath(sys.base_prefix),
        TESTS,
    ]


def _nested_out(dirs):
    # Parents first; a directory inside another bound one needs no bind.
    chosen = []
    for d in sorted(set(dirs)):
        if not any(d.startswith(c + "/") for c in chosen):
            chosen.append(d)
    return chosen
