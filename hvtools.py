"""hvtools: the Hyper-V guest helpers of FreeBSD, as one multi-call program.

Applets (a symlink named after an applet runs it; so does ``hvtools APPLET``):

    hv_get_dns_info          print the DNS servers of /etc/resolv.conf, one a line
    hv_get_dhcp_info IF      print Enabled or Disabled: is IF a DHCP interface?
    hv_set_ifconfig FILE     apply the host's IP request, live and in rc.conf
    hyperv_vfattach IF DELAY devd IFATTACH: bring a VF up, delayed
    hyperv_vfup hnN          devd VF_UP: join hnN and its VF in laggN
    linkup hnN               devd LINK_UP of an hn(4): dhclient as devd.conf's
                             rule would start it, unless hnN is a lagg port
                             (run as ``hvtools linkup``; no link)
    status                   each hn(4): VF, lagg, addresses, rc.conf mode;
                             what the next boot configures, drift from it, and
                             warnings (run as ``hvtools status``; no link)

The program itself:

    hvtools --list               the applet names, one a line
    hvtools --install [--prefix P] [--package]
                                 PREFIX/libexec/hyperv/hvtools (prefix /usr/local)
                                 and its applet links, /usr/libexec/hyperv/NAME
                                 linked to it (not with --package), devd rules
    hvtools --install DIR        copy this program to DIR/hvtools, link the applets
    hvtools --uninstall ...      undo --install, putting back what it set aside
    hvtools --help | --version

Every system path, files and programs alike, is resolved under the directory
named by the environment variable HVTOOLS_ROOT (default /).  A failure is one
line on stderr, also sent to syslog (facility daemon, ident hvtools), and an
exit status from sysexits(3).  See hvtools(8).
"""

import posix
import sys

__version__ = "0.1.0"

# sysexits(3)
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_OSERR = 71
EX_CANTCREAT = 73
EX_IOERR = 74
EX_TEMPFAIL = 75
EX_CONFIG = 78


class Failure(Exception):
    """A reason to stop: one line for stderr and syslog, and an exit status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------
# The system seam: the only code that touches files, programs and syslog.
#
# The seam and the read applets (hv_get_dns_info, hv_get_dhcp_info) use
# posix, built into the interpreter, rather than os: importing os costs a
# third of the start of Python 3.9 or 3.10 (its _collections_abc), more
# than their whole work (bench/startup.py).  Code that writes files or runs
# programs imports os where it needs it.


def root_path(path):
    """Map an absolute system path into $HVTOOLS_ROOT."""
    # os.environ stores into this very dict: the two always agree.
    root = posix.environ.get(b"HVTOOLS_ROOT", b"")
    root = root.decode(sys.getfilesystemencoding(), "surrogateescape") or "/"
    return f"{root}{'' if root.endswith('/') else '/'}{path.lstrip('/')}"


def is_file(path):
    """Is the system path a regular file, its links followed (real_path())?"""
    return _file_type(path) == 0o100000  # S_IFREG


def is_dir(path):
    """Is the system path a directory, its links followed (real_path())?"""
    return _file_type(path) == 0o040000  # S_IFDIR


def _file_type(path):
    # The S_IFMT bits of what path names, or None.  A link loop raises: it
    # is an error to report, not a file that is not there.
    real = real_path(path)
    try:
        return posix.stat(real).st_mode & 0o170000
    except (OSError, ValueError):
        return None


MAXSYMLINKS = 32  # FreeBSD's sys/sys/param.h: namei(9) fails with ELOOP past it


def resolved(path):
    """The system path that path leads to, its symbolic links followed inside
    $HVTOOLS_ROOT as FreeBSD's namei(9) follows them from /: an absolute
    target starts again at the root, a relative one in the link's
    directory.  A component that is not there ends the following (opening
    it will say why); more than MAXSYMLINKS links raise ELOOP's OSError."""
    done = []  # components, each a directory or a file that is no link
    todo = path.split("/")[::-1]
    links = 0
    while todo:
        part = todo.pop()
        if part in ("", "."):
            continue
        if part == "..":
            del done[-1:]
            continue
        done.append(part)
        try:
            target = posix.readlink(root_path("/".join(done)))
        except OSError:  # not a link, or not there
            continue
        links += 1
        if links > MAXSYMLINKS:
            import errno

            raise OSError(errno.ELOOP, posix.strerror(errno.ELOOP))
        del done[-1]
        if target.startswith("/"):
            done = []
        todo.extend(target.split("/")[::-1])
    return "/" + "/".join(done)


def real_path(path):
    """Where a system path's file is in $HVTOOLS_ROOT, links followed
    (resolved()): the file a writer replaces, since rename(2) replaces a
    link, not its target."""
    return root_path(resolved(path))


def read_text(path):
    """The text of a system file, or None when it does not exist.

    Undecodable bytes survive as surrogates, so a file written back from this
    text keeps every byte it had.
    """
    try:
        # newline="": a CR is text (sh keeps it in a value), not a line end.
        with open(
            real_path(path), encoding="utf-8", errors="surrogateescape", newline=""
        ) as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError):
        return None
    except IsADirectoryError:
        raise Failure(EX_NOINPUT, f"{path}: is a directory") from None
    except OSError as e:
        raise Failure(EX_IOERR, f"{path}: {e.strerror}") from None


_applet = "hvtools"  # the name messages carry; set by main()


def _syslog(priority, message):
    # Written by hand rather than with the syslog module so that the socket,
    # syslogd(8)'s /var/run/log, is found under $HVTOOLS_ROOT like every
    # system path: an image being built or a test root has no syslogd.
    import os

    path = root_path("/var/run/log")
    if not os.path.exists(path):
        return
    import _socket

    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
    try:
        s.connect(path)
        line = f"<{24 + priority}>hvtools[{os.getpid()}]: {message}"
        s.send(line.encode("utf-8", "backslashreplace"))
    except OSError:
        pass  # syslog is a courtesy; stderr already has the message
    finally:
        s.close()


def log(message, priority=6):
    """Record a step in syslog (LOG_DAEMON; default priority LOG_INFO)."""
    _syslog(priority, f"{_applet}: {message}")


def warn(message):
    """A problem that does not stop the applet: stderr and syslog."""
    sys.stderr.write(f"{_applet}: warning: {message}\n")
    _syslog(4, f"{_applet}: warning: {message}")


def report(failure):
    """Tell stderr and syslog why the applet stops; return its exit status."""
    sys.stderr.write(f"{_applet}: {failure}\n")
    _syslog(3, f"{_applet}: {failure}")
    return failure.status


# The programs hvtools runs, where FreeBSD installs them.
IFCONFIG = "/sbin/ifconfig"
ROUTE = "/sbin/route"
SYSCTL = "/sbin/sysctl"
DHCLIENT = "/sbin/dhclient"
NETSTAT = "/usr/bin/netstat"
PKILL = "/bin/pkill"
PGREP = "/bin/pgrep"
RTSOL = "/sbin/rtsol"
RC_D_DHCLIENT = "/etc/rc.d/dhclient"
RESOLVCONF = "/sbin/resolvconf"
RESOLVCONF_CONF = "/etc/resolvconf.conf"
# dhclient's pid file: current releases, then older ones.
DHCLIENT_PIDFILES = ("/var/run/dhclient/dhclient.{}.pid", "/var/run/dhclient.{}.pid")
# dhclient's lease database (dhclient(8) FILES).
DHCLIENT_LEASES = "/var/db/dhclient.leases.{}"


def dhclient_stop_commands(pidfiles):
    """pkill for each dhclient pid file: -x dhclient signals the PID only
    when that process is a dhclient (a stale file may name anything)."""
    return [[PKILL, "-F", path, "-x", "dhclient"] for path in pidfiles]


def dhclient_pidfiles(ifname):
    """The dhclient pid files of an interface that exist, newest layout first."""
    pidfiles = [pattern.format(ifname) for pattern in DHCLIENT_PIDFILES]
    return [path for path in pidfiles if is_file(path)]


class Completed:
    """What a program did: its exit status and its output, as text."""

    __slots__ = ("argv", "status", "stderr", "stdout")

    def __init__(self, argv, status, stdout, stderr):
        self.argv = argv
        self.status = status
        self.stdout = stdout
        self.stderr = stderr

    def cause(self):
        """What a failure message quotes: the last line of stderr, else of
        stdout (route(8) gives its verdict there, and may warn nothing)."""
        lines = self.stderr.strip().splitlines() or self.stdout.strip().splitlines()
        return lines[-1] if lines else f"exit status {self.status}"

    def failure(self):
        """A failure message: the command, then cause()."""
        return f"{' '.join(self.argv)}: {self.cause()}"


def run(argv, check=True, timeout=120, env=None):
    """Run a system program, argv[0] an absolute system path, never via a shell,
    with env (default: this process's environment).

    os.posix_spawn rather than subprocess: the subprocess module costs more
    start-up time and memory than an applet may spend (see bench/).  With
    check, a non-zero exit becomes Failure(EX_OSERR) quoting its stderr.
    """
    import os
    import select
    import time

    program = root_path(argv[0])
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    try:
        pid = os.posix_spawn(
            program,
            [program, *argv[1:]],
            os.environ if env is None else env,
            file_actions=actions,
        )
    except OSError as e:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        raise Failure(EX_UNAVAILABLE, f"cannot run {argv[0]}: {e.strerror}") from None
    os.close(out_w)
    os.close(err_w)
    output = {out_r: [], err_r: []}
    poller = select.poll()
    for fd in output:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    pending = 2
    while pending:
        ready = poller.poll(max(0, deadline - time.monotonic()) * 1000)
        if not ready:
            os.kill(pid, 9)
            break
        for fd, _ in ready:
            data = os.read(fd, 65536)
            if data:
                output[fd].append(data)
            else:
                poller.unregister(fd)
                pending -= 1
    for fd in output:
        os.close(fd)
    status = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    if pending:
        raise Failure(EX_TEMPFAIL, f"{' '.join(argv)}: no answer in {timeout} s")
    done = Completed(
        argv,
        status,
        b"".join(output[out_r]).decode("utf-8", "replace"),
        b"".join(output[err_r]).decode("utf-8", "replace"),
    )
    if check and status != 0:
        raise Failure(EX_OSERR, done.failure())
    return done


def lock(name, timeout=60):
    """Hold an exclusive lock, /var/run/hvtools.NAME.lock, until exit.

    Serialises runs that must not interleave (two VF_UP events for one
    interface, two IP injections); waiting is bounded.
    """
    import fcntl
    import os
    import time

    path = root_path(f"/var/run/hvtools.{name}.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise Failure(
                    EX_TEMPFAIL, f"{path}: still locked after {timeout} s"
                ) from None
            time.sleep(0.05)


def write_file(path, data, mode=None, backup=False):
    """Replace a system file atomically, keeping its mode and owner.

    The data goes to a temporary file in the same directory, is synced, then
    renamed over the old file: a reader sees the old or the new file, whole.
    A new file gets mode (default 0644).  With backup, the old file is kept
    as PATH.bak (a hard link: the same bytes, mode and owner).

    A symbolic link stays: the file it leads to (real_path()) is replaced,
    the temporary file in that file's directory, the backup at PATH.bak.
    """
    import os

    directory, name = os.path.split(path)
    try:
        link = os.path.join(real_path(directory), name)
        real = real_path(path)
        old = os.stat(real)
    except FileNotFoundError:
        old = None
    except OSError as e:
        raise Failure(EX_CANTCREAT, f"{path}: cannot write: {e.strerror}") from None
    temporary = os.path.join(
        os.path.dirname(real), f".{os.path.basename(real)}.hvtools-{os.getpid()}"
    )
    _remove_stale_temporaries(real)
    if backup and link != real:
        _remove_stale_temporaries(link)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as e:
        raise Failure(EX_CANTCREAT, f"{path}: cannot write: {e.strerror}") from None
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if old is not None:
                os.fchmod(fd, old.st_mode & 0o7777)
                if (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                    os.fchown(fd, old.st_uid, old.st_gid)
            else:
                os.fchmod(fd, 0o644 if mode is None else mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        if backup and old is not None:
            _link_over(real, f"{link}.bak")
        os.replace(temporary, real)
    except OSError as e:
        _unlink_quietly(temporary)
        raise Failure(EX_IOERR, f"{path}: not written: {e.strerror}") from None
    except BaseException:
        _unlink_quietly(temporary)
        raise
    _sync_directory(os.path.dirname(real))


def _remove_stale_temporaries(real):
    # A run killed before its rename leaves .NAME.hvtools-PID (and
    # NAME.bak.hvtools-PID) behind; a later run removes those of processes
    # that are gone.  Our own PID's can only be a dead predecessor's.
    import os

    directory, name = os.path.split(real)
    try:
        entries = os.listdir(directory)
    except OSError:
        return  # creating the temporary file will say why
    for entry in entries:
        for prefix in (f".{name}.hvtools-", f"{name}.bak.hvtools-"):
            pid = entry[len(prefix) :] if entry.startswith(prefix) else ""
            if _is_number(pid) and not _is_running(int(pid)):
                _unlink_quietly(os.path.join(directory, entry))


def _is_running(pid):
    import os

    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:
        pass  # EPERM: someone else's, alive
    return True


def _link_over(source, target):
    import os

    temporary = f"{target}.hvtools-{os.getpid()}"
    _unlink_quietly(temporary)
    os.link(source, temporary)
    os.replace(temporary, target)
    # rename(2) does nothing when both names are links of one file, as after
    # a run killed between this link and its own rename.
    _unlink_quietly(temporary)


def _unlink_quietly(path):
    import os

    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(path):
    import os

    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------------------
# Names and words.

_IFNAME_CHARS = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+-"
)


def valid_ifname(name):
    """A FreeBSD interface name: a letter, then letters, digits, _ . + -.

    At most IFNAMSIZ - 1 (15) characters; no "/" and no ".." so that a name
    can never walk a path.
    """
    return (
        0 < len(name) <= 15
        and name[0].isascii()
        and name[0].isalpha()
        and _IFNAME_CHARS.issuperset(name)
        and ".." not in name
    )


def check_ifname(name):
    if not valid_ifname(name):
        raise Failure(EX_USAGE, f"invalid interface name {name!r}")
    return name


def is_hn(name):
    """hnN, an hn(4) interface."""
    return name[:2] == "hn" and _is_number(name[2:])


def _is_number(text):
    # ASCII digits only: str.isdigit() takes any script's digits.
    return text.isascii() and text.isdigit()


# ---------------------------------------------------------------------------
# resolv.conf(5)


def parse_nameservers(text):
    """The nameserver addresses of resolv.conf text, in file order.

    Read as res_init() in libc reads them: a line that starts with
    "nameserver" and a blank; the address ends at a blank, "#" or ";".
    Anything that is not an IPv4 or IPv6 address (an IPv6 %scope suffix
    allowed) is skipped, as the resolver skips it.
    """
    servers = []
    for line in text.split("\n"):
        if not line.startswith(("nameserver ", "nameserver\t")):
            continue
        address = line[10:].lstrip(" \t")
        for mark in " \t#;":
            address = address.partition(mark)[0]
        if is_ip_address(address):
            servers.append(address)
    return servers


def is_ip_address(text):
    """True for a textual IPv4 or IPv6 address, as the ipaddress module reads
    them (no leading zeros in IPv4), an IPv6 address with an interface name
    or number as %scope."""
    if ":" in text:
        address, percent, scope = text.partition("%")
        if percent and not (valid_ifname(scope) or _is_number(scope)):
            return False
        return _is_ipv6(address)
    return _is_ipv4(text)


def _is_ipv4(text):
    parts = text.split(".")
    return len(parts) == 4 and all(
        _is_number(p) and len(p) <= 3 and int(p) <= 255 and (p == "0" or p[0] != "0")
        for p in parts
    )


def _is_ipv6(text):
    # Hand-written so that a read path does not pay for importing ipaddress.
    head, compressed, tail = text.partition("::")
    if "::" in tail or not text:
        return False
    words = (head.split(":") if head else []) + (tail.split(":") if tail else [])
    # A dotted IPv4 part may only end the address.
    last = len(words) - 1 if tail or not compressed else -1
    width = 0
    for i, word in enumerate(words):
        if i == last and "." in word:
            if not _is_ipv4(word):
                return False
            width += 2
        elif 1 <= len(word) <= 4 and _HEX.issuperset(word):
            width += 1
        else:
            return False
    return width <= 7 if compressed else width == 8


_HEX = frozenset("0123456789abcdefABCDEF")


# ---------------------------------------------------------------------------
# rc.conf(5), read the way sh(1) would read it, without running anything.
#
# parse_rc() splits a file into assignments; each is a tuple (name, value,
# start, end) where start:end is the NAME=VALUE word in the text (what a
# writer replaces) and value is a str, or a list of str and expansions
# (name, operator, value) to be expanded in file order by rc_evaluate().
# A word of the ":" command, such as FreeBSD 13's `: ${_localbase:="/usr/local"}`
# in defaults/rc.conf, is an assignment without a name: only expanded, for
# what its ${name:=word} and ${name=word} assign (sh(1) "Parameter
# Expansion"); a writer never touches it.
# rc_source() does both in one pass, for the readers: they need no spans.

DEFAULT_RC_CONF_FILES = "/etc/rc.conf /etc/rc.conf.local"
_RC_DEFAULTS = ("/etc/defaults/rc.conf", "/etc/defaults/vendor.conf")
RC_WARNINGS = 5  # warnings about skipped statements, per file

# Unquoted characters that need no sh processing in an assignment's value.
_PLAIN = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./:,+=@%^!?*[]{}"
)
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_WORD_END = frozenset(" \t\n;&|<>()")
_OPERATORS = frozenset("&|<>()")
_EXPANSION_OPS = (":-", ":=", ":+", "-", "=", "+")


class _Unreadable(Exception):
    """A statement the reader will not interpret (it never runs anything)."""


def parse_rc(text):
    """Return (assignments, problems) of rc.conf text.

    problems lists (line number, reason) for each statement skipped: commands,
    command substitution, unterminated quotes and the like.
    """
    assignments = []
    problems = []
    end = 0
    resume = 0  # the slow path may read on past the end of its line
    for lineno, line in enumerate(text.split("\n"), 1):
        start = end
        end += len(line) + 1
        if start >= resume:
            try:
                resume = _parse_line(text, line, start, assignments)
            except _Unreadable as e:
                problems.append((lineno, str(e)))
    return assignments, problems


def _parse_line(text, line, start, assignments):
    # The statements that begin on the line at text[start:]; returns where
    # the next one may begin, past the line when a quoted word or a
    # backslash-newline carried on.
    body = line.lstrip(" \t")
    if not body or body[0] == "#":
        return start
    start += len(line) - len(body)
    name, eq, rest = body.partition("=")
    if eq and name.isidentifier() and name.isascii():
        simple = _simple_value(rest)
        if simple is not None:
            value, length = simple
            assignments.append((name, value, start, start + len(name) + 1 + length))
            return start
    scanner = _Scanner(text, start)
    scanner.commands(assignments)
    return scanner.pos


def _simple_value(rest):
    # The fast path for the lines nearly every rc.conf is made of: after
    # "name=", a word, "text" or 'text', then at most a comment.  Returns
    # (value, length of the word), or None for the sh lexer to read.
    quote = rest[:1]
    if quote in ('"', "'"):
        value, closed, tail = rest[1:].partition(quote)
        if not closed:
            return None
        length = len(rest) - len(tail)
        if quote == '"' and ("\\" in value or "`" in value):
            return None
        if quote == '"' and "$" in value:
            value = _braced_expansions(value)
            if value is None:
                return None
    elif not rest.strip(_PLAIN):
        return rest, len(rest)
    else:
        value = rest.split(" ", 1)[0].split("\t", 1)[0]
        if value.strip(_PLAIN):
            return None
        length = len(value)
        tail = rest[length:]
    if tail and not _is_comment(tail):
        return None
    return value, length


def _is_comment(tail):
    # What may follow a word on its line: blanks, then perhaps a comment.
    return tail[0] in " \t" and tail.lstrip(" \t")[:1] in ("", "#")


def rc_source(text, env, keep=None):
    """Evaluate rc.conf text into env, as sh's "." would; return the problems.

    The same as rc_evaluate(parse_rc(text)[0], env) with parse_rc's problems,
    in one pass and without the spans: what makes a large rc.conf cheap.

    keep, a set of names, limits the simple assignments stored to those
    names, sparing a large table when the caller wants a few values; the
    other lines are still read, for their problems.  A name expanded while
    keep lacked it is added to keep: the values that depend on it may be
    wrong, and a reading with the grown keep is right.
    """
    problems = []
    found = []
    lines = text.split("\n")
    # Looked for once in the whole text rather than on each line: non-ASCII
    # names (which sh refuses) and backslashes and backquotes (which the
    # fast paths leave to parse_rc's reading) are rare in rc.conf.
    ascii = text.isascii()
    escapes = "\\" in text or "`" in text
    at = offset = 0  # lines[at] begins at text[offset]
    remaining = iter(lines)
    for line in remaining:
        # name="text", most lines of a large rc.conf, costs two partitions:
        # _simple_value's "..." case without the call, which per line is
        # most of its cost.  Other words are _simple_value's; the rest,
        # parse_rc's reading.
        name, eq, rest = line.partition('="')
        value = None
        if eq and name.isidentifier() and (ascii or name.isascii()):
            word, quote, tail = rest.partition('"')
            if (
                quote
                and (not tail or _is_comment(tail))
                and not (escapes and ("\\" in word or "`" in word))
            ):
                if "$" not in word:
                    if keep is None or name in keep:
                        env[name] = word
                    continue
                value = _braced_expansions(word)
        if value is None:
            if not line or line[0] == "#":
                continue
            name, eq, rest = line.partition("=")
            if eq and name.isidentifier() and (ascii or name.isascii()):
                simple = _simple_value(rest)
                if simple is not None:
                    value = simple[0]
        if value is not None:
            if value.__class__ is str:
                if keep is None or name in keep:
                    env[name] = value
            elif keep is None:
                env[name] = rc_expand(value, env)
            elif name in keep:
                keep.update(_expanded_names(value))
                env[name] = rc_expand(value, env)
            continue
        # Which line this is: no earlier one since lines[at] reads the same,
        # or it would have come here too (a line's way depends on it alone).
        i = lines.index(line, at)
        offset += sum(map(len, lines[at:i])) + i - at
        at = i
        try:
            resume = _parse_line(text, line, offset, found)
        except _Unreadable as e:
            problems.append((i + 1, str(e)))
            resume = offset  # what came before the problem on the line stands
        at, offset = i + 1, offset + len(line) + 1
        while offset < resume:  # lines a quoted word ran on into
            at, offset = at + 1, offset + len(next(remaining)) + 1
        if found:
            if keep is not None:
                # Rare lines, whose expansions may assign too: all count.
                for assignment in found:
                    keep.update(_expanded_names(assignment[1]))
            rc_evaluate(found, env)
            found.clear()
    return problems


def _expanded_names(value):
    # The names a parsed value expands, in its ${name-word} words too.
    if value.__class__ is str:
        return
    for part in value:
        if part.__class__ is not str:
            yield part[0]
            yield from _expanded_names(part[2])


def _braced_expansions(value):
    # "text ${name} text": the one expansion most rc.conf files use.
    head, *pieces = value.split("${")
    if "$" in head:
        return None
    parts = [head] if head else []
    for piece in pieces:
        name, close, after = piece.partition("}")
        if not (close and name.isidentifier() and name.isascii()) or "$" in after:
            return None
        parts.append((name, "", ""))
        if after:
            parts.append(after)
    return parts


class _Scanner:
    """The slow path: a small sh lexer for the statements of one line."""

    def __init__(self, text, pos):
        self.text = text
        self.pos = pos

    def peek(self):
        return self.text[self.pos : self.pos + 1]

    def commands(self, out):
        # Commands separated by ";" up to the end of the line; an assignment
        # counts only once its whole command is known to be assignments.
        while True:
            found, end = self.command()
            out.extend(found)
            if end != ";":
                return

    def command(self):
        found = []
        declaring = False  # after export or readonly, which assign too
        while True:
            self.skip_blanks()
            c = self.peek()
            if c in ("", "\n", ";"):
                self.pos += len(c)
                return found, c
            if c == "#":
                newline = self.text.find("\n", self.pos)
                self.pos = len(self.text) if newline < 0 else newline
                continue
            if c in _OPERATORS:
                raise _Unreadable(f"{c!r} is not part of an assignment")
            start = self.pos
            if not found and not declaring and self.is_colon():
                return self.colon(start)
            name = self.name()
            if name and self.peek() == "=":
                self.pos += 1
                value = self.word(_WORD_END)
                found.append((name, value, start, self.pos))
            elif (
                name
                and (self.peek() in _WORD_END or not self.peek())
                and (declaring or (not found and name in ("export", "readonly")))
            ):
                declaring = True
            else:
                raise _Unreadable("a command, not an assignment")

    def is_colon(self):
        # The ":" builtin as a command's first word.
        after = self.text[self.pos + 1 : self.pos + 2]
        return self.peek() == ":" and (not after or after in _WORD_END)

    def colon(self, start):
        # ": WORD ...": each word expanded, nothing else done.
        self.pos += 1
        found = []
        while True:
            self.skip_blanks()
            c = self.peek()
            if c in ("", "\n", ";", "#"):
                _, end = self.command()
                return found, end
            if c in _OPERATORS:
                raise _Unreadable(f"{c!r} is not part of an assignment")
            start = self.pos
            value = self.word(_WORD_END)
            if value.__class__ is not str:
                found.append((None, value, start, self.pos))

    def skip_blanks(self):
        text = self.text
        while True:
            c = self.peek()
            if c in (" ", "\t"):
                self.pos += 1
            elif c == "\\" and text[self.pos + 1 : self.pos + 2] == "\n":
                self.pos += 2
            else:
                return

    def name(self):
        # A backslash-newline vanishes before sh splits words, even in a name.
        text = self.text
        chars = []
        while True:
            c = self.peek()
            if c == "\\" and text[self.pos + 1 : self.pos + 2] == "\n":
                self.pos += 2
            elif c and c in (_NAME_CHARS if chars else _NAME_START):
                chars.append(c)
                self.pos += 1
            else:
                return "".join(chars)

    def word(self, stop):
        parts = []
        tilde_ok = True  # sh expands ~ at the start and after each ":"
        while True:
            c = self.peek()
            if not c or c in stop:
                return _join_parts(parts)
            self.pos += 1
            if c == "\\" and self.peek() == "\n":
                self.pos += 1
                continue
            if c == "~" and tilde_ok:
                raise _Unreadable("tilde expansion")
            tilde_ok = c == ":"
            if c == "\\":
                escaped = self.peek()
                self.pos += len(escaped)
                parts.append(escaped)
            elif c == "'":
                close = self.text.find("'", self.pos)
                if close < 0:
                    raise _Unreadable("unterminated single quote")
                parts.append(self.text[self.pos : close])
                self.pos = close + 1
            elif c == '"':
                self.double_quoted(parts)
            elif c == "$":
                parts.append(self.dollar(quoted=False))
            elif c == "`":
                raise _Unreadable("command substitution")
            else:
                parts.append(c)

    def double_quoted(self, parts, end='"'):
        # Inside "...", or (end "}") in the word of a ${...} inside "...",
        # where ' is an ordinary character and a "..." pair nests.
        while True:
            c = self.peek()
            if not c:
                what = "double quote" if end == '"' else "${...}"
                raise _Unreadable(f"unterminated {what}")
            self.pos += 1
            if c == end:
                return
            if c == "\\":
                escaped = self.peek()
                if escaped in ("$", "`", '"', "\\", "\n", end):
                    self.pos += 1
                    if escaped != "\n":
                        parts.append(escaped)
                else:
                    parts.append("\\")
            elif c == '"':
                self.double_quoted(parts)
            elif c == "$":
                parts.append(self.dollar(quoted=True))
            elif c == "`":
                raise _Unreadable("command substitution")
            else:
                parts.append(c)

    def dollar(self, quoted):
        c = self.peek()
        if c == "{":
            self.pos += 1
            name = self.name()
            if not name:
                raise _Unreadable("unsupported ${...} expansion")
            if self.peek() == "}":
                self.pos += 1
                return (name, "", "")
            for op in _EXPANSION_OPS:
                if self.text.startswith(op, self.pos):
                    self.pos += len(op)
                    return (name, op, self.expansion_word(quoted))
            raise _Unreadable("unsupported ${...} expansion")
        if c == "(":
            raise _Unreadable("command substitution")
        if c == "'" and not quoted:
            raise _Unreadable("$'...' quoting")
        if c and c in _NAME_START:
            return (self.name(), "", "")
        if c and c in "0123456789@*#?$!-":
            raise _Unreadable(f"special parameter ${c}")
        return "$"

    def expansion_word(self, quoted):
        # The word of ${name-word}, up to the closing brace.
        if quoted:
            parts = []
            self.double_quoted(parts, "}")
            return _join_parts(parts)
        value = self.word(frozenset("}"))
        if self.peek() != "}":
            raise _Unreadable("unterminated ${...}")
        self.pos += 1
        return value


def _join_parts(parts):
    # Adjacent literal characters become one string; a value without
    # expansions becomes a plain str, the common case rc_evaluate skips.
    # Each run is joined once: adding to a str a character at a time is
    # quadratic (a 10 MB word took minutes).
    joined = []
    literal = []
    for part in parts:
        if part.__class__ is str:
            literal.append(part)
            continue
        if literal:
            joined.append("".join(literal))
            literal = []
        joined.append(part)
    if literal:
        joined.append("".join(literal))
    if not joined:
        return ""
    if len(joined) == 1 and joined[0].__class__ is str:
        return joined[0]
    return joined


def rc_expand(value, env):
    """Expand a parsed value against the variables set so far (sh rules)."""
    if value.__class__ is str:
        return value
    out = []
    for part in value:
        if part.__class__ is str:
            out.append(part)
            continue
        name, op, word = part
        current = env.get(name)
        present = bool(current) if op[:1] == ":" else current is not None
        if op == "":
            out.append(current or "")
        elif op[-1] == "-":
            out.append(current if present else rc_expand(word, env))
        elif op[-1] == "=":
            if not present:
                current = env[name] = rc_expand(word, env)
            out.append(current)
        else:
            out.append(rc_expand(word, env) if present else "")
    return "".join(out)


def rc_evaluate(assignments, env):
    """Apply parsed assignments to env in order, as sourcing the file would."""
    for name, value, _, _ in assignments:
        if name is None:
            rc_expand(value, env)
        else:
            env[name] = value if value.__class__ is str else rc_expand(value, env)
    return env


def rc_sources(env, services=("netif",)):
    """The files rc.subr's load_rc_config sources, in its order:
    /etc/defaults/rc.conf and vendor.conf, the files of rc_conf_files, then
    rc.conf.d/SERVICE (a file, or the files of a directory) in /etc and in
    each local_startup directory.  Without the defaults, only /etc/rc.conf.

    A generator, because which files come next depends on what the earlier
    ones set: the caller evaluates each file into env before the next.
    """
    if is_file(_RC_DEFAULTS[0]):
        yield from _RC_DEFAULTS
        done = set()
        # source_rc_confs reads the list twice, the second time as the files
        # read the first time left it: they can add files, not drop any.
        for _ in range(2):
            for path in env.get("rc_conf_files", DEFAULT_RC_CONF_FILES).split():
                if path not in done:
                    done.add(path)
                    yield path
    else:
        yield "/etc/rc.conf"
    for startup in ["/etc", *env.get("local_startup", "").split()]:
        # rc.subr: ${_d%/rc.d}/rc.conf.d/NAME
        top = startup[: -len("/rc.d")] if startup.endswith("/rc.d") else startup
        for service in services:
            confd = f"{top}/rc.conf.d/{service}"
            if is_dir(confd):
                for entry in sorted(posix.listdir(real_path(confd))):
                    path = f"{confd}/{entry}"
                    if entry[0] != "." and is_file(path):
                        yield path
            elif is_file(confd):
                yield confd


def load_rc_conf(services=("netif",), texts=None, names=None):
    """The variables rc(8) sets for the services, from rc_sources().

    texts, when given, collects {path: text, or None when absent} of every
    file consulted, in order.  names, when given, are the only variables
    the caller reads: only those are returned, and only they (with what
    rc_sources() and their expansions need) are kept while reading.
    """
    keep = None if names is None else {*names, "rc_conf_files", "local_startup"}
    read = {}
    while True:
        env = {}
        consulted = {}
        skipped = []
        wanted = None if keep is None else len(keep)
        for path in rc_sources(env, services):
            if path not in read:
                read[path] = read_text(path)
            text = consulted[path] = read[path]
            if text is not None:
                problems = rc_source(text, env, keep)
                # /etc/defaults/rc.conf defines source_rc_confs with commands
                # that rc_sources() does itself; they are not the admin's.
                if path != _RC_DEFAULTS[0]:
                    skipped.append((path, problems))
        # A kept value expanded a name that was not kept: once more, keeping
        # it, so that the files that set it are read for it too.
        if keep is None or len(keep) == wanted:
            break
    for path, problems in skipped:
        _warn_skipped(path, problems)
    if texts is not None:
        texts.update(consulted)
    if names is None:
        return env
    return {name: env[name] for name in names if name in env}


_PARSED = {}  # text: parse_rc(text), while few


def rc_parsed(text):
    """parse_rc(text), parsed once: hv_set_ifconfig's planner reads the same
    few texts again and again (the variables, the names, each name's spans)."""
    found = _PARSED.get(text)
    if found is None:
        if len(_PARSED) >= 32:
            _PARSED.clear()
        found = _PARSED[text] = parse_rc(text)
    return found


def _warn_skipped(path, problems):
    # A few lines say what is wrong; a flood would bury it (and syslog).
    for lineno, reason in problems[:RC_WARNINGS]:
        warn(f"{path}:{lineno}: skipped: {reason}")
    if len(problems) > RC_WARNINGS:
        warn(f"{path}: {len(problems) - RC_WARNINGS} more statements skipped")


# What network.subr makes of the variables.

_NOT_DHCP = ("lo", "stf", "lp", "sl")
_NO_ADDRESS_FAMILY = (
    "pflog", "pfsync", "usbus", "an", "ath", "ipw", "ipfw",
    "iwi", "iwn", "ral", "wi", "wl", "wpi",
)  # fmt: skip
_PSEUDO_WORDS = frozenset(("dhcp", "noauto", "syncdhcp", "nosyncdhcp", "wpa", "hostap"))


def rc_ifvar(ifname, suffix="", prefix="ifconfig_"):
    """The rc.conf variable for an interface: ifconfig_vlan0_100 for vlan0.100
    (get_if_var's ${prefix}IF${suffix})."""
    # As rc.subr's ltr splits the name into fields at . - / +: a separator
    # at either end makes no field, so it is dropped, not translated.
    for c in "-/+":
        ifname = ifname.replace(c, ".")
    fields = ifname.split(".")
    if fields[-1] == "":
        fields.pop()
    while fields and fields[0] == "":
        fields.pop(0)
    return f"{prefix}{'_'.join(fields)}{suffix}"


def rc_ifconfig(env, ifname, suffix=""):
    """ifconfig_IF[suffix] as network.subr reads it.

    ifconfig_IF and ifconfig_IF_ipv6 (_ifconfig_getargs) fall back to
    ifconfig_DEFAULT, only when unset; others, such as ifconfig_IF_alias0,
    have no fallback (get_if_var without a default).
    """
    value = env.get(rc_ifvar(ifname, suffix))
    if value is None:
        fallback = suffix in ("", "_ipv6")
        return _if_var_default(env.get("ifconfig_DEFAULT", ""), env) if fallback else ""
    return value


def _if_var_default(text, env):
    # get_if_var runs `eval echo \${ifconfig_IF-$default}`: the default is
    # read as sh text once more, so ifconfig_DEFAULT="'DHCP'" is DHCP.  What
    # the reader will not evaluate (a command substitution) stays as written.
    scanner = _Scanner(text + "}", 0)
    try:
        word = scanner.expansion_word(quoted=False)
    except _Unreadable:
        return text
    if scanner.pos != len(text) + 1:
        return text
    return rc_expand(word, dict(env))


def _words(value):
    # sh field splitting with the default IFS.
    return value.replace("\t", " ").replace("\n", " ").split(" ")


def _is_family(ifname, prefixes):
    # network.subr's case patterns such as lo[0-9]*: a prefix, then a digit.
    return any(
        ifname.startswith(p) and ifname[len(p) : len(p) + 1] in _DIGITS
        for p in prefixes
    )


_DIGITS = frozenset("0123456789")


def is_dhcp_interface(env, ifname):
    """network.subr's dhcpif: one word of the value is DHCP, SYNCDHCP or
    NOSYNCDHCP, and the interface is not of a family that cannot do DHCP."""
    if _is_family(ifname, _NOT_DHCP) or _is_family(ifname, _NO_ADDRESS_FAMILY):
        return False
    words = _words(rc_ifconfig(env, ifname))
    return any(w.lower() in ("dhcp", "syncdhcp", "nosyncdhcp") for w in words)


def dhclient_command(env, ifname, on=None, background=False):
    """The dhclient command line rc.d/dhclient start IF runs (FreeBSD 12.1
    libexec/rc/rc.d/dhclient dhclient_prestart, rc.subr run_rc_command):
    ${dhclient_program}, then dhclient_flags_IF, or when that is empty
    dhclient_flags, then -b when background_dhclient_IF (unset: the value
    of background_dhclient) is yes, then IF.  A variable named flags, when
    not empty, replaces both flags (run_rc_command's override).

    IF's variables choose; dhclient runs on the interface on, when given:
    the lagg that carries IF's configuration (hyperv_vfup, hv_set_ifconfig).
    background: -b whatever background_dhclient says (once).

    run_rc_command evals that line: it is read as sh text, its quotes
    removed.  A line the reader will not evaluate (an expansion, a
    command substitution, an operator) is split at blanks as written.
    """
    program = env.get("dhclient_program") or DHCLIENT
    flags = env.get("flags", "")
    specific = _echoed(env.get(rc_ifvar(ifname, prefix="dhclient_flags_"), ""))
    if not flags:
        flags = specific or env.get("dhclient_flags", "")
    background_dhclient = env.get(rc_ifvar(ifname, prefix="background_dhclient_"))
    if background_dhclient is None:
        background_dhclient = _if_var_default(env.get("background_dhclient", ""), env)
    if background or checkyesno(_echoed(background_dhclient)):
        flags += " -b"
    line = f"{program} {flags} {on or ifname}"
    words = _sh_words(line)
    return words if words else [w for w in _words(line) if w]


def is_syncdhcp_interface(env, ifname):
    """network.subr's syncdhcpif: the first of SYNCDHCP or NOSYNCDHCP among
    the words of the value decides, else synchronous_dhclient; never for an
    interface of a family without addresses."""
    if _is_family(ifname, _NO_ADDRESS_FAMILY):
        return False
    for word in _words(rc_ifconfig(env, ifname)):
        if word.lower() in ("syncdhcp", "nosyncdhcp"):
            return word.lower() == "syncdhcp"
    return checkyesno(env.get("synchronous_dhclient", ""))


def _echoed(value):
    # What $(get_if_var ...) gives: get_if_var echoes the value, its words
    # joined by one blank.
    return " ".join(w for w in _words(value) if w)


def _sh_words(line):
    # The words of a line of plain words, quotes removed; None for anything
    # else.
    scanner = _Scanner(line, 0)
    words = []
    try:
        while True:
            scanner.skip_blanks()
            if not scanner.peek():
                return words
            if scanner.peek() in _WORD_END or scanner.peek() == "#":
                return None
            word = scanner.word(_WORD_END)
            if word.__class__ is not str:
                return None
            words.append(word)
    except _Unreadable:
        return None


def checkyesno(value):
    """rc.subr's checkyesno: YES, TRUE, ON or 1 in any letter case."""
    return value.lower() in ("yes", "true", "on", "1")


def ifconfig_args(env, ifname, suffix=""):
    """network.subr's ifconfig_getargs: the words of ifconfig_IF[suffix] minus
    the pseudo words (DHCP, NOAUTO, SYNCDHCP, NOSYNCDHCP, WPA, HOSTAP) and
    minus "vnet NAME" pairs."""
    args = []
    skip_next = False  # the jail name after vnet, whatever it is
    for word in _words(rc_ifconfig(env, ifname, suffix)):
        if not word:
            continue
        if skip_next:
            skip_next = False
        elif word == "vnet":
            skip_next = True
        elif word.lower() not in _PSEUDO_WORDS:
            args.append(word)
    return args


# Editing rc.conf the way sysrc(8) does.  Only the NAME=VALUE words that
# parse_rc() found are replaced or removed, or a line is appended: every
# other byte of every file stays as it was.  texts maps each path to its text
# (None: no such file); files lists the paths rc(8) reads, in its order.


def rc_set(texts, files, name, value, new_in="/etc/rc.conf"):
    """Set NAME in the last of files that assigns it (its last assignment
    there), else append it to new_in; texts is updated."""
    word = f"{name}={_rc_quote(value)}"
    for path in reversed(files):
        spans = _rc_spans(texts.get(path), name)
        if spans:
            start, end = spans[-1]
            text = texts[path]
            texts[path] = text[:start] + word + text[end:]
            return
    text = texts.get(new_in) or ""
    if text and not text.endswith("\n"):
        text += "\n"
    texts[new_in] = f"{text}{word}\n"


def rc_unset(texts, files, name):
    """Remove every assignment of NAME from files (sysrc -x); texts is updated."""
    for path in files:
        text = texts.get(path)
        for start, end in reversed(_rc_spans(text, name)):
            text = _rc_cut(text, start, end)
        if text is not None:
            texts[path] = text


def rc_names(texts, files):
    """The names assigned in files."""
    assignments = (a for path in files for a in rc_parsed(texts.get(path) or "")[0])
    return {a[0] for a in assignments if a[0] is not None}


def _rc_spans(text, name):
    if not text:
        return []
    return [(start, end) for n, _, start, end in rc_parsed(text)[0] if n == name]


def _rc_quote(value):
    if not value.strip(_PLAIN + " "):
        return f'"{value}"'
    return "'" + value.replace("'", "'\\''") + "'"


def _rc_cut(text, start, end):
    # An assignment alone on its line takes the line (and its comment) with
    # it; one that shares the line with another statement leaves that intact.
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = len(text) if line_end < 0 else line_end + 1
    rest = text[end:line_end].strip(" \t\n")
    if not text[line_start:start].strip(" \t") and rest[:1] in ("", "#"):
        return text[:line_start] + text[line_end:]
    after = text[end:].lstrip(" \t")
    if after[:1] == ";":
        after = after[1:].lstrip(" \t")
    return text[:start] + after


# ---------------------------------------------------------------------------
# The KVP request: the KEY=VALUE file hv_kvp_daemon writes for hv_set_ifconfig.
# It comes from the Hyper-V host: read as data, never run, strictly checked.

REQUEST_LIMIT = 64 * 1024
_REQUEST_KEYS = ("HWADDR", "IF_NAME", "IP_ADDR", "SUBNET", "GATEWAY", "DNS", "DHCP")


class Request:
    """A checked request.  inet and inet6 are [(address, prefixlen)] in the
    host's order; every address is in its canonical spelling, and an IPv4
    address in the subnet of an earlier one has prefixlen 32, as FreeBSD
    wants its aliases."""

    __slots__ = (
        "dhcp", "dns", "gateway", "gateway6", "hwaddr", "ifname", "inet",
        "inet6", "unknown",
    )  # fmt: skip

    def __init__(self):
        self.hwaddr = None
        self.ifname = None  # None: the interface with HWADDR
        self.dhcp = False
        self.inet = []
        self.inet6 = []
        self.gateway = None  # the first IPv4 gateway
        self.gateway6 = None  # the first IPv6 gateway
        self.dns = None  # None: leave resolv.conf alone
        self.unknown = []  # keys warned about and ignored


def parse_request(text):
    """A Request from the text of the file; bad data raises Failure(EX_DATAERR).

    An empty value counts as absent: an empty DNS leaves resolv.conf alone.
    """
    import ipaddress

    fields = _request_fields(text)
    request = Request()
    request.unknown = [key for key in fields if key not in _REQUEST_KEYS]
    request.hwaddr = normalize_mac(fields.get("HWADDR", ""))
    if request.hwaddr is None:
        raise _bad_request(f"HWADDR {_shown(fields.get('HWADDR', ''))} is not a MAC")
    request.ifname = fields.get("IF_NAME") or None
    if request.ifname is not None and not valid_ifname(request.ifname):
        raise _bad_request(f"IF_NAME {_shown(request.ifname)} is not an interface")
    if fields.get("DHCP") not in ("0", "1"):
        raise _bad_request(f"DHCP {_shown(fields.get('DHCP', ''))} is not 1 or 0")
    request.dhcp = fields["DHCP"] == "1"
    addresses = _request_list(fields, "IP_ADDR")
    subnets = _request_list(fields, "SUBNET")
    if len(addresses) != len(subnets):
        raise _bad_request(
            f"{len(addresses)} IP_ADDR entries but {len(subnets)} SUBNET entries"
        )
    seen = set()
    for text_address, subnet in zip(addresses, subnets):
        address = _request_address(ipaddress, "IP_ADDR", text_address)
        prefixlen = _request_prefixlen(ipaddress, address, subnet)
        _check_host(ipaddress, address, prefixlen)
        if address in seen:
            raise _bad_request(f"IP_ADDR {address} given twice")
        seen.add(address)
        family = request.inet if address.version == 4 else request.inet6
        family.append((str(address), prefixlen))
    if not request.dhcp and not seen:
        raise _bad_request("DHCP=0 without an IP_ADDR")
    for entry in _request_list(fields, "GATEWAY"):
        gateway = _request_address(ipaddress, "GATEWAY", entry)
        if gateway.version == 4 and request.gateway is None:
            request.gateway = str(gateway)
        elif gateway.version == 6 and request.gateway6 is None:
            request.gateway6 = str(gateway)
    servers = _request_list(fields, "DNS")
    if servers:
        request.dns = [str(_request_address(ipaddress, "DNS", s)) for s in servers]
    return request


def _bad_request(message):
    return Failure(EX_DATAERR, f"bad request: {message}")


def _shown(text):
    # Host data in a message: quoted, and short enough for one syslog line.
    return repr(text if len(text) <= 48 else text[:45] + "...")


def _request_fields(text):
    fields = {}
    for lineno, line in enumerate(text.split("\n"), 1):
        for c in line:
            if not " " <= c <= "~":
                raise _bad_request(f"line {lineno}: character {c!a}")
        if not line.strip(" "):
            continue
        key, eq, value = line.partition("=")
        if not eq:
            raise _bad_request(f"line {lineno}: no '=' in {_shown(line)}")
        if not (key.isascii() and key.isidentifier()):
            raise _bad_request(f"line {lineno}: bad key {_shown(key)}")
        if key in fields:
            raise _bad_request(f"line {lineno}: {key} repeated")
        fields[key] = value
    return fields


def _request_list(fields, key):
    # "a;b;" is [a, b]: one trailing ";" is how the daemon may end a list.
    value = fields.get(key, "")
    entries = value.split(";") if value else []
    if entries and entries[-1] == "":
        entries.pop()
    if "" in entries:
        raise _bad_request(f"{key}: empty entry in {_shown(value)}")
    return entries


def _request_address(ipaddress, key, text):
    # No "%scope" and no "/len": an entry is one bare address.
    try:
        if "%" in text or "/" in text:
            raise ValueError
        address = ipaddress.ip_address(text)
    except ValueError:
        raise _bad_request(f"{key}: {_shown(text)} is not an IP address") from None
    for flag, kind in (
        ("is_loopback", "loopback"),
        ("is_multicast", "multicast"),
        ("is_unspecified", "unspecified"),
    ):
        if getattr(address, flag):
            raise _bad_request(f"{key}: {address} is a {kind} address")
    # ipaddress calls it neither multicast nor a network's broadcast address.
    if address.version == 4 and address.packed == b"\xff\xff\xff\xff":
        raise _bad_request(f"{key}: {address} is the limited broadcast address")
    return address


def _request_prefixlen(ipaddress, address, text):
    # IPv4: a prefix length (24 or /24) or a contiguous dotted netmask;
    # IPv6: a prefix length.
    digits = text[1:] if text.startswith("/") else text
    if _is_number(digits) and len(digits) <= 3:
        if (digits == "0" or digits[0] != "0") and int(digits) <= (
            address.max_prefixlen
        ):
            return int(digits)
    elif address.version == 4 and _is_ipv4(text):
        host_bits = ~int(ipaddress.IPv4Address(text)) & 0xFFFFFFFF
        if host_bits & (host_bits + 1) == 0:
            return 32 - host_bits.bit_length()
    raise _bad_request(f"SUBNET {_shown(text)} does not fit {address}")


def _check_host(ipaddress, address, prefixlen):
    network = ipaddress.ip_network(f"{address}/{prefixlen}", strict=False)
    if address.version == 6 and address.is_link_local:
        raise _bad_request(f"IP_ADDR {address} is link-local")
    if prefixlen >= address.max_prefixlen - 1:
        return
    if address == network.network_address:
        raise _bad_request(f"IP_ADDR {address} is the network address of {network}")
    if address.version == 4 and address == network.broadcast_address:
        raise _bad_request(f"IP_ADDR {address} is the broadcast address of {network}")


# ---------------------------------------------------------------------------
# ifconfig(8) output


class Interface:
    """One interface as ifconfig(8) shows it."""

    __slots__ = (
        "autoconf", "carp", "ether", "inet", "inet6", "laggports", "laggproto",
        "name", "no_carrier",
    )  # fmt: skip

    def __init__(self, name):
        self.name = name
        self.ether = None
        self.inet = []  # [(address, prefixlen)]
        self.inet6 = []  # [(address without %scope, prefixlen)]
        self.carp = set()  # addresses of a CARP virtual host ("vhid N")
        self.autoconf = set()  # IPv6 addresses SLAAC formed ("autoconf")
        self.laggproto = None
        self.laggports = []
        # "status: no carrier" (media_status(), sbin/ifconfig/ifmedia.c): what
        # dhclient's interface_link_status() takes for no link.
        self.no_carrier = False


def parse_ifconfig(text):
    """{name: Interface} from the output of ifconfig(8), in its order."""
    interfaces = {}
    current = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if line[0] not in " \t":
            name = line.partition(": ")[0].rstrip(":")
            current = interfaces[name] = Interface(name)
        elif current is not None:
            _parse_ifconfig_detail(current, words)
    return interfaces


def _parse_ifconfig_detail(interface, words):
    key = words[0]
    if key == "ether" and len(words) > 1:
        interface.ether = words[1]
    elif key == "inet" and len(words) > 1:
        netmask = _word_after(words, "netmask") or "0xffffffff"
        interface.inet.append((words[1], bin(int(netmask, 16)).count("1")))
        if "vhid" in words:
            interface.carp.add(words[1])
    elif key == "inet6" and len(words) > 1:
        prefixlen = _word_after(words, "prefixlen") or "128"
        address = words[1].partition("%")[0]
        interface.inet6.append((address, int(prefixlen)))
        if "vhid" in words:
            interface.carp.add(address)
        if "autoconf" in words:
            interface.autoconf.add(address)
    elif key == "laggproto" and len(words) > 1:
        interface.laggproto = words[1]
    elif key == "laggport:" and len(words) > 1:
        interface.laggports.append(words[1])
    elif words == ["status:", "no", "carrier"]:
        interface.no_carrier = True


def _word_after(words, key):
    try:
        return words[words.index(key) + 1]
    except (ValueError, IndexError):
        return None


def normalize_mac(text):
    """A MAC address in one spelling (lower case, two digits a byte), or None."""
    octets = text.lower().split(":")
    if len(octets) != 6 or not all(
        1 <= len(o) <= 2 and _HEX.issuperset(o) for o in octets
    ):
        return None
    return ":".join(o.zfill(2) for o in octets)


# ---------------------------------------------------------------------------
# netstat(1) -rn output: the default routes, both families from one run.

_NETSTAT_FAMILIES = {"Internet:": "inet", "Internet6:": "inet6"}


def parse_netstat_routes(text):
    """{"inet": (gateway, netif) or None, "inet6": ...}: the first default
    route of each family in `netstat -rn` output.

    Each family's section ("Internet:", "Internet6:") starts with a header
    naming the columns; a family without routes has no section.  A field
    wider than its column pushes the next one along, so a row is split at
    blanks and read in the header's order.  A gateway keeps its %scope.
    """
    routes = {"inet": None, "inet6": None}
    family = columns = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if line[0] not in " \t" and len(words) == 1 and words[0].endswith(":"):
            family = _NETSTAT_FAMILIES.get(words[0])
            columns = None
        elif family is None or routes[family] is not None:
            continue
        elif columns is None:
            columns = _netstat_columns(words)
            if columns is None:
                family = None  # not a table this parser knows
        elif words[columns[0]] == "default" and len(words) > columns[1]:
            netif = words[columns[2]] if len(words) > columns[2] else None
            routes[family] = (words[columns[1]], netif)
    return routes


def _netstat_columns(header):
    # (Destination, Gateway, Netif) indexes; Destination must come first,
    # the one column a row always fills.
    try:
        columns = tuple(header.index(n) for n in ("Destination", "Gateway", "Netif"))
    except ValueError:
        return None
    return columns if columns[0] == 0 else None


def default_routes():
    """parse_netstat_routes() of this system: one program run for both
    families.  A failing netstat is warned about and shows no route."""
    done = run([NETSTAT, "-rn"], check=False)
    if done.status:
        warn(f"netstat -rn: {done.cause()}")
        return {"inet": None, "inet6": None}
    return parse_netstat_routes(done.stdout)


# ---------------------------------------------------------------------------
# The applets.  Each takes its arguments and returns an exit status, or
# raises Failure.


def hv_get_dns_info(args):
    """Print the nameserver addresses of /etc/resolv.conf, one a line.

    hv_kvp_daemon joins the lines with ";" for the host.  A missing file
    means no servers.  Arguments are ignored, as the original ignored them.
    """
    text = read_text("/etc/resolv.conf")
    if text:
        sys.stdout.write("".join(f"{s}\n" for s in parse_nameservers(text)))
    return EX_OK


def hv_get_dhcp_info(args):
    """Print Enabled when rc.conf makes IF a DHCP interface, else Disabled."""
    if len(args) != 1:
        raise Failure(EX_USAGE, "usage: hv_get_dhcp_info IF")
    ifname = check_ifname(args[0])
    var = rc_ifvar(ifname)
    env = load_rc_conf(names=(var, "ifconfig_DEFAULT"))
    if var not in env and "$" in env.get("ifconfig_DEFAULT", ""):
        # The fallback expands variables when read again: all of them count.
        env = load_rc_conf()
    sys.stdout.write("Enabled\n" if is_dhcp_interface(env, ifname) else "Disabled\n")
    return EX_OK


# ---------------------------------------------------------------------------
# hv_set_ifconfig: the IP configuration the Hyper-V host sends (IP injection,
# e.g. after a failover), made live and persistent.  plan_set_ifconfig() is
# pure: request and the Machine (the system as read) in, commands and new
# file texts out.  The applet reads the Machine, of an image (files only)
# or of the running system, then applies the plan: files first, then the live
# commands, so that a failed command leaves the requested configuration
# persisted for a retry or a reboot to complete (hvtools(8)).  The default
# routes come last: FreeBSD deletes the routes of an IPv4 address with it,
# so they are read again once the addresses have changed.


class Plan:
    """What hv_set_ifconfig does: commands (argv lists), then the route
    commands, then files {path: (old text or None, new text)}.

    routes is predicted from the routes before the commands (routes_after);
    gateways {family: gateway} are the default routes to make sure of once
    the commands have run."""

    __slots__ = (
        "commands", "files", "gateways", "ifname", "routes", "summary", "target",
        "warnings",
    )  # fmt: skip

    def __init__(self, ifname, target):
        self.ifname = ifname  # whose rc.conf variables change
        self.target = target  # where live changes go: IF, or its failover lagg
        self.commands = []
        self.routes = []
        self.gateways = {}
        self.files = {}
        self.summary = ""
        self.warnings = []


def choose_interface(request, interfaces):
    """(IF, target) of a request; target is the failover lagg IF is a port of,
    else IF.  Without IF_NAME, hnN, its VF and their lagg may share HWADDR:
    the one hn(4) among them is IF."""
    mac = request.hwaddr
    if request.ifname is not None:
        ifname = request.ifname
        found = interfaces.get(ifname)
        if found is None:
            raise Failure(EX_UNAVAILABLE, f"{ifname}: no such interface")
        if normalize_mac(found.ether or "") != mac:
            raise Failure(
                EX_UNAVAILABLE, f"{ifname}: its MAC {found.ether} is not HWADDR {mac}"
            )
    else:
        matches = [
            name
            for name, interface in interfaces.items()
            if normalize_mac(interface.ether or "") == mac
        ]
        if len(matches) > 1:
            matches = [n for n in matches if is_hn(n)]
        if len(matches) != 1:
            raise Failure(
                EX_UNAVAILABLE, f"no single hn(4) interface has MAC {mac}: set IF_NAME"
            )
        ifname = matches[0]
    lagg = lagg_of(interfaces, ifname)
    failover = lagg is not None and lagg.laggproto == "failover"
    return ifname, lagg.name if failover else ifname


def lagg_of(interfaces, ifname):
    """The lagg whose port ifname is (its laggport: lines), or None."""
    for interface in interfaces.values():
        if ifname in interface.laggports:
            return interface
    return None


class Machine:
    """The system as hv_set_ifconfig reads it (read_image(), read_live()):
    the files, and on a running system its live state.  An image has no
    live part (interfaces None): its plan writes files and runs nothing.

    rc: {path: text or None} of /etc/defaults/rc.conf, the rc_conf_files
    and the /etc/rc.conf.d files of netif, routing, dhclient and network;
    earlier: {path: text} of the rc files' backups (PATH.bak), the
    configuration before hv_set_ifconfig last changed it; resolv:
    /etc/resolv.conf or None; resolvconf: whether /sbin/resolvconf is an
    executable file; resolvconf_conf: /etc/resolvconf.conf or None.
    Live: interfaces: parse_ifconfig(); routes: parse_netstat_routes(), the
    default routes; dhclients: {interface: pidfile} of the dhclient
    processes running; leases: {interface: address} of the lease each
    interface's lease database names, whether or not its dhclient runs."""

    __slots__ = (
        "dhclients", "earlier", "interfaces", "leases", "rc", "resolv",
        "resolvconf", "resolvconf_conf", "routes",
    )  # fmt: skip

    def __init__(self, rc, earlier=None, resolv=None, resolvconf=False,
                 resolvconf_conf=None):  # fmt: skip
        self.rc = rc
        self.earlier = earlier or {}
        self.resolv = resolv
        self.resolvconf = resolvconf
        self.resolvconf_conf = resolvconf_conf
        self.interfaces = None
        self.routes = {}
        self.dhclients = {}
        self.leases = {}

    @property
    def live(self):
        return self.interfaces is not None


def plan_set_ifconfig(request, machine):
    """The Plan for a request on a Machine.

    Only addresses that are ours are removed (owned_addresses()); new
    addresses are added before old ones are removed.  On an image the
    request's IF_NAME names the interface, and the plan has no commands.
    """
    import ipaddress

    live = machine.live
    if live:
        ifname, target = choose_interface(request, machine.interfaces)
    else:
        ifname = target = image_interface(request)
    plan = Plan(ifname, target)
    if not live:
        plan.warnings.append(
            f"{ifname}: HWADDR {request.hwaddr} not checked: an image has no"
            " interfaces, IF_NAME names it"
        )
    interfaces, dhclients, rc = machine.interfaces, machine.dhclients, machine.rc
    texts = dict(rc)
    netif, routing = _rc_chains(rc)
    old_static = _rc_static_addresses(ipaddress, _rc_env(texts, netif), ifname)
    static, leased = owned_addresses(
        texts, netif, ifname, machine.earlier, machine.leases
    )
    _plan_rc_interface(request, ifname, texts, netif)
    for name in dict.fromkeys((ifname, target)):
        if name in dhclients and (name != target or not request.dhcp):
            pidfile = dhclients[name]
            plan.commands.extend(dhclient_stop_commands([pidfile]))
    removed = set()
    if target != ifname:
        # A lagg port carries no address of its own.
        port = _live_addresses(ipaddress, interfaces[ifname])
        removed |= _plan_removals(plan, ifname, port)
    current = _live_addresses(ipaddress, interfaces[target]) if live else []
    theirs = _not_ours(interfaces[target]) if live else set()
    if request.dhcp:
        ours = static - leased - theirs
        given_up = _plan_live_dhcp(ipaddress, plan, current, old_static, ours)
        _plan_rc_routers_dhcp(ipaddress, texts, routing, given_up)
        if live and target not in dhclients:
            _plan_dhclient(plan, texts, interfaces[target])
    else:
        routes = machine.routes
        if live:
            ours = (static | leased) - theirs
            removed |= _plan_live_static(plan, request, current, ours)
        foreign = _plan_routes(ipaddress, plan, request, routes)
        if live:
            after = routes_after(routes, interfaces, removed)
            plan.routes = route_commands(plan, after)
        gateways = {"inet": request.gateway, "inet6": request.gateway6}
        for family in foreign:
            del gateways[family]
        _plan_rc_routers_static(ipaddress, ifname, texts, routing, gateways)
    resolv, conf = machine.resolv, machine.resolvconf_conf
    if request.dns is not None:
        servers = [_canonical(ipaddress, s) for s in parse_nameservers(resolv or "")]
        resolvconf = machine.resolvconf and resolvconf_enabled(conf)
        if resolvconf:
            _plan_resolvconf(request.dns, texts, conf)
        if resolvconf and live:
            # Also when only resolv.conf lags (an earlier run stopped before -u).
            if RESOLVCONF_CONF in texts or servers[: len(request.dns)] != request.dns:
                plan.commands.append([RESOLVCONF, "-u"])
        elif servers != request.dns:
            # Without resolvconf(8), or on an image: nothing there runs -u,
            # and boot has resolvconf regenerate resolv.conf at a lease
            # event only, never for a static interface.
            texts["/etc/resolv.conf"] = replace_nameservers(resolv, request.dns)
    before = dict(rc, **{"/etc/resolv.conf": resolv, RESOLVCONF_CONF: conf})
    plan.files = {
        path: (before.get(path), text)
        for path, text in texts.items()
        if text is not None and text != before.get(path)
    }
    for path in plan.files:
        if path != "/etc/resolv.conf":
            _check_rewritable(path, before.get(path))
    plan.summary = _plan_summary(request, plan, live)
    return plan


def image_interface(request):
    """The interface of a request on an image: its IF_NAME, as there is no
    kernel to match HWADDR against."""
    if request.ifname is None:
        raise _bad_request("no IF_NAME: an image has no interfaces to match HWADDR")
    return request.ifname


def _check_rewritable(path, text):
    # An edit is only as faithful as the reading: a file with statements
    # parse_rc() skipped is left for the administrator to fix.
    problems = rc_parsed(text)[1] if text else []
    if problems:
        lineno, reason = problems[0]
        raise Failure(
            EX_DATAERR, f"{path}:{lineno}: {reason}: not rewritten, fix it by hand"
        )


def resolvconf_enabled(text):
    """resolvconf(8) regenerates resolv.conf: resolvconf.conf(5) does not set
    resolvconf to something other than YES, TRUE, ON or 1 (empty counts as
    YES: openresolv tests ${resolvconf:-YES})."""
    env = rc_evaluate(rc_parsed(text or "")[0], {})
    return checkyesno(env.get("resolvconf") or "YES")


def _plan_resolvconf(servers, texts, text):
    # dhclient-script hands every lease's servers to resolvconf(8), which
    # rewrites resolv.conf from its records and resolvconf.conf at each lease
    # event on any interface: servers written into resolv.conf would vanish.
    # name_servers in resolvconf.conf comes first in every regeneration.
    value = " ".join(servers)
    env = rc_evaluate(rc_parsed(text or "")[0], {})
    if env.get("name_servers") != value:
        edited = {RESOLVCONF_CONF: text}
        rc_set(edited, [RESOLVCONF_CONF], "name_servers", value, new_in=RESOLVCONF_CONF)
        texts[RESOLVCONF_CONF] = edited[RESOLVCONF_CONF]


def replace_nameservers(text, servers):
    """resolv.conf text with its nameserver lines replaced by servers, where
    the first one stood (else at the end); every other line kept."""
    lines = []
    placed = False
    for line in (text or "").splitlines(keepends=True):
        if line.split(None, 1)[:1] == ["nameserver"]:
            if not placed:
                lines.extend(f"nameserver {s}\n" for s in servers)
                placed = True
            continue
        lines.append(line)
    if not placed:
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines.extend(f"nameserver {s}\n" for s in servers)
    return "".join(lines)


def _rc_chains(rc):
    # The files of rc, in rc(8)'s order, that may be edited: the
    # rc_conf_files, and the rc.conf.d files of netif for the interfaces and
    # of routing for the routers.  The defaults are read, never edited.
    return _rc_chain(rc, "netif"), _rc_chain(rc, "routing")


def _rc_chain(rc, *services):
    # The rc_conf_files, then the rc.conf.d files of each service in turn:
    # load_rc_config's order, called once for each service.
    def service(path):
        return path.partition("/rc.conf.d/")[2].split("/")[0]

    files = [path for path in rc if path not in _RC_DEFAULTS and not service(path)]
    for name in services:
        files += [path for path in rc if service(path) == name]
    return files


def _rc_env(texts, files):
    env = {}
    for path in (*_RC_DEFAULTS, *files):
        rc_evaluate(rc_parsed(texts.get(path) or "")[0], env)
    return env


def _rc_apply(texts, files, want):
    # want: {name: value, or None to remove the variable}.
    env = _rc_env(texts, files)
    assigned = rc_names(texts, files)
    for name, value in want.items():
        if value is None:
            if name in assigned:
                rc_unset(texts, files, name)
        elif env.get(name) != value:
            rc_set(texts, files, name, value)


def _plan_rc_interface(request, ifname, texts, netif):
    var = rc_ifvar(ifname)
    env = _rc_env(texts, netif)
    want = {}
    first6 = []
    if not request.dhcp:
        inet = [f"inet {a}/{n}" for a, n in request.inet]
        inet6 = [f"inet6 {a}/{n}" for a, n in request.inet6]
        want[var] = inet[0] if inet else "up"
        for n, value in enumerate(inet[1:] + inet6[1:]):
            want[f"{var}_alias{n}"] = value
        first6 = inet6[:1]
    elif not is_dhcp_interface(env, ifname):
        want[var] = "DHCP"
    # Keep the IPv6 flags (accept_rtadv, -ifdisabled ...), drop the address.
    flags6 = _ipv6_flags(env.get(f"{var}_ipv6", ""))
    words6 = (first6 or ["inet6"]) + flags6
    want[f"{var}_ipv6"] = " ".join(words6) if first6 or flags6 else None
    for name in sorted(rc_names(texts, netif)):
        if _is_alias_var(var, name) or name == f"{var}_aliases":
            want.setdefault(name, None)
    want[_ipv4_addrs_var(var)] = None
    _rc_apply(texts, netif, want)


def _ipv6_flags(value):
    flags = []
    words = iter(_words(value))
    for word in words:
        if word == "prefixlen":
            next(words, None)
        elif word and word not in ("inet6", "alias") and ":" not in word:
            flags.append(word)
    return flags


def _ipv4_addrs_var(var):
    # ipv4_addrs_IF, of var ifconfig_IF.
    return f"ipv4_addrs_{var[len('ifconfig_') :]}"


def _is_alias_var(var, name):
    # ifconfig_IF_aliasN, of var ifconfig_IF.
    return name.startswith(f"{var}_alias") and name[len(var) + 6 :].isdigit()


def _rc_static_addresses(ipaddress, env, ifname):
    # [(address, prefixlen)] that rc.conf gives the interface statically.
    var = rc_ifvar(ifname)
    names = [var, f"{var}_ipv6", f"{var}_aliases", _ipv4_addrs_var(var)]
    names += [n for n in env if _is_alias_var(var, n)]
    found = []
    for name in names:
        words = _words(env.get(name, ""))
        for i, word in enumerate(words):
            address, _, length = word.partition("/")
            try:
                ip = ipaddress.ip_address(address)
            except ValueError:
                continue
            if not length:
                length = _rc_prefixlen(words[i + 1 : i + 3], ip.max_prefixlen)
            length = str(length)
            usable = length.isdigit() and int(length) <= ip.max_prefixlen
            if usable and not ip.is_link_local:
                found.append((str(ip), int(length)))
    return found


def _rc_prefixlen(words, default):
    if len(words) == 2 and words[0] == "prefixlen" and words[1].isdigit():
        return int(words[1])
    if len(words) == 2 and words[0] == "netmask":
        mask = words[1]
        if mask.startswith("0x"):
            mask = mask[2:]
        elif _is_ipv4(mask):
            mask = "".join(f"{int(p):02x}" for p in mask.split("."))
        if mask and _HEX.issuperset(mask):
            return bin(int(mask, 16)).count("1")
    return default


def _plan_rc_routers_static(ipaddress, ifname, texts, routing, gateways):
    want = {}
    if gateways.get("inet"):
        want["defaultrouter"] = gateways["inet"]
    if gateways.get("inet6"):
        gateway6 = gateways["inet6"]
        if ipaddress.ip_address(gateway6).is_link_local:
            gateway6 += f"%{ifname}"
        want["ipv6_defaultrouter"] = gateway6
    _rc_apply(texts, routing, want)


def _plan_rc_routers_dhcp(ipaddress, texts, routing, given_up):
    env = _rc_env(texts, routing)
    want = {}
    for name in ("defaultrouter", "ipv6_defaultrouter"):
        router = env.get(name, "").partition("%")[0]
        try:
            address = ipaddress.ip_address(router)
        except ValueError:
            continue
        if any(address in network for network in given_up):
            want[name] = None
    _rc_apply(texts, routing, want)


def owned_addresses(texts, netif, ifname, earlier, leases):
    """({static}, {leased}): the addresses of IF that are ours to replace.

    Static: what the rc files (texts, the netif chain) give IF now, or gave
    it in the configuration before hv_set_ifconfig last rewrote them (each
    file that has a PATH.bak read as that backup).  Leased: the address
    each lease database names, whether its dhclient still runs or not (one
    that died leaves its address behind).  Everything else on the interface
    (CARP, SLAAC, link-local addresses, a jail's alias) is someone else's.
    """
    import ipaddress

    static = set()
    for version in (texts, dict(texts, **earlier)):
        env = _rc_env(version, netif)
        static.update(a for a, _ in _rc_static_addresses(ipaddress, env, ifname))
    leased = {_canonical(ipaddress, address) for address in leases.values()}
    return static, leased


def _not_ours(interface):
    # CARP addresses belong to carp(4), SLAAC ones to the router
    # advertisements, whatever rc.conf says.
    import ipaddress

    return {_canonical(ipaddress, a) for a in interface.carp | interface.autoconf}


def _live_addresses(ipaddress, interface):
    # [(family, address, prefixlen)], IPv6 link-local left out.
    found = [("inet", a, n) for a, n in interface.inet]
    for address, prefixlen in interface.inet6:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            continue
        if not ip.is_link_local:
            found.append(("inet6", str(ip), prefixlen))
    return found


def _plan_live_static(plan, request, current, ours):
    # The new addresses first, then the old ones that are ours: the
    # interface never lacks an address it keeps.  (An address asked for
    # with another prefix length is changed in place by its alias command.)
    # Returns the {(interface, address)} removed.
    wanted = [("inet", a, n) for a, n in request.inet]
    wanted += [("inet6", a, n) for a, n in request.inet6]
    for family, address, n in wanted:
        if (family, address, n) not in current:
            plan.commands.append(
                [IFCONFIG, plan.target, family, f"{address}/{n}", "alias"]
            )
    kept = {address for _, address, _ in wanted}
    stale = [i for i in current if i[1] in ours and i[1] not in kept]
    return _plan_removals(plan, plan.target, stale)


def _plan_dhclient(plan, texts, target):
    """dhclient on target, as rc.d/dhclient starts it with the variables of
    plan.ifname (load_rc_config dhclient, then network), in the background:
    hv_kvp_daemon answers the host only once this returns, and the host
    gives up after 5 s (hv_kvp.c).  Not on an interface without carrier:
    dhclient, -b or not, would wait 11 s for the link and give up
    (dhclient.c main()); devd starts it when the link comes up (the
    LINK_UP rule, /etc/devd/dhclient.conf or devd.conf), from the rc.conf
    written here.  A failover lagg has no such rule: its dhclient starts."""
    if target.no_carrier and target.name == plan.ifname:
        plan.warnings.append(
            f"{target.name}: no carrier: dhclient not started now; devd starts"
            " it when the link comes up"
        )
        return
    env = _rc_env(texts, _rc_chain(texts, "dhclient", "network"))
    plan.commands.append(dhclient_command(env, plan.ifname, target.name, True))


def _plan_live_dhcp(ipaddress, plan, current, old_static, ours):
    # The static addresses that are ours go; the lease of a running
    # dhclient stays.  Returns the subnets given up.
    stale = [item for item in current if item[1] in ours]
    _plan_removals(plan, plan.target, stale)
    return [
        ipaddress.ip_network(f"{a}/{n}", strict=False)
        for a, n in old_static + [(item[1], item[2]) for item in stale]
    ]


def _plan_removals(plan, target, items):
    for family, address, _ in items:
        plan.commands.append([IFCONFIG, target, family, address, "-alias"])
    return {(target, address) for _, address, _ in items}


def _plan_routes(ipaddress, plan, request, routes):
    # The default route of a family goes through the gateway the request
    # gives, unless it belongs to another interface: routes of other
    # interfaces are never touched.  Sets plan.gateways; returns the
    # families left alone so.
    foreign = set()
    for family, gateway in (("inet", request.gateway), ("inet6", request.gateway6)):
        if gateway is None:
            continue
        current = routes.get(family)
        if current is not None:
            old_gateway, old_interface = current
            same = _canonical(ipaddress, old_gateway.partition("%")[0]) == gateway
            if not same and old_interface not in (None, plan.ifname, plan.target):
                plan.warnings.append(
                    f"gateway {gateway} not used: the default route via"
                    f" {old_gateway} belongs to {old_interface}"
                )
                foreign.add(family)
                continue
        plan.gateways[family] = gateway
    return foreign


def routes_after(routes, interfaces, removed):
    """The default routes (parse_netstat_routes()) once the addresses
    removed {(interface, address)} are gone.

    FreeBSD deletes every route whose source address is deleted, static
    ones too (in_ifadown(), sys/netinet/in_rmx.c); a route's source is the
    address of its interface whose prefix holds the gateway, the most
    specific, the first of equals (ifa_ifwithnet(), sys/net/if.c), as
    when the route was added.  IPv6 routes outlive their source address
    (in6_purgeaddr(), sys/netinet6/in6.c).
    """
    import ipaddress

    route = routes.get("inet")
    interface = interfaces.get(route[1]) if route and route[1] else None
    if interface is None:
        return routes
    try:
        gateway = ipaddress.IPv4Address(route[0])
    except ValueError:
        return routes  # an interface route: "link#N"
    source, best = None, -1
    for address, prefixlen in interface.inet:
        network = ipaddress.ip_network(f"{address}/{prefixlen}", strict=False)
        if prefixlen > best and gateway in network:
            source, best = address, prefixlen
    if (interface.name, source) in removed:
        return dict(routes, inet=None)
    return routes


def route_commands(plan, routes):
    """The route(8) commands that make plan.gateways the default routes,
    given routes (parse_netstat_routes()): add a missing one, change one
    through another gateway, leave one that is right."""
    import ipaddress

    commands = []
    for family, gateway in plan.gateways.items():
        flag = ["-inet6"] if family == "inet6" else []
        # Only an IPv6 link-local gateway needs its scope; 169.254/16 has none.
        via = f"{gateway}%{plan.target}" if is_link_local6(gateway) else gateway
        current = routes.get(family)
        if current is None:
            commands.append([ROUTE, "add", *flag, "default", via])
        elif _canonical(ipaddress, current[0].partition("%")[0]) != gateway:
            commands.append([ROUTE, "change", *flag, "default", via])
    return commands


def _canonical(ipaddress, text):
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def _plan_summary(request, plan, live):
    if request.dhcp:
        words = ["DHCP"]
    else:
        words = ["static"]
        words += [f"{a}/{n}" for a, n in request.inet + request.inet6]
        gateways = [g for g in (request.gateway, request.gateway6) if g]
        if gateways:
            words += ["gw", *gateways]
    if request.dns is not None:
        words += ["dns", str(len(request.dns))]
    if plan.target != plan.ifname:
        words += ["via", plan.target]
    if not (plan.commands or plan.routes or plan.files):
        words.append("(unchanged)")
    elif not live:
        words.append("(image: written for the next boot)")
    return f"{plan.ifname}: {' '.join(words)}"


def hv_set_ifconfig(args):
    """Apply the IP configuration of FILE, the request hv_kvp_daemon wrote:
    live, in rc.conf and in resolvconf.conf (resolv.conf without
    resolvconf(8)).  On an image (is_image()), only the files: nothing is
    run.  --dry-run prints the plan."""
    dry_run = args[:1] == ["--dry-run"]
    if dry_run:
        args = args[1:]
    if len(args) != 1 or not args[0].startswith("/"):
        raise Failure(EX_USAGE, "usage: hv_set_ifconfig [--dry-run] /PATH/TO/FILE")
    request = parse_request(read_request(args[0]))
    if request.unknown:
        keys = " ".join(request.unknown)
        warn(f"{args[0]}: unknown keys ignored: {_shown(keys)}")
    if not dry_run:
        lock("hv_set_ifconfig")
    machine = read_image() if is_image() else read_live(request)
    plan = plan_set_ifconfig(request, machine)
    for message in plan.warnings:
        warn(message)
    if dry_run:
        sys.stdout.write(format_plan(plan))
        return EX_OK
    apply_plan(plan)
    sys.stdout.write(f"{plan.summary}\n")
    log(plan.summary)
    return EX_OK


def read_request(path):
    """The text of a request file: at most REQUEST_LIMIT bytes, one
    character a byte (parse_request rejects what is not ASCII)."""
    import os
    import stat

    try:
        fd = os.open(root_path(path), os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise Failure(EX_NOINPUT, f"{path}: {e.strerror}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise Failure(EX_NOINPUT, f"{path}: not a regular file")
        chunks = []
        size = 0
        while size <= REQUEST_LIMIT:
            chunk = os.read(fd, REQUEST_LIMIT + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > REQUEST_LIMIT:
        raise _bad_request(f"{path} is larger than {REQUEST_LIMIT // 1024} KiB")
    return b"".join(chunks).decode("latin-1")


def read_image():
    """The Machine of an image: its files, read as on a running system (the
    presence of resolvconf(8) too, its links followed inside the root), and
    no live part; nothing is run."""
    rc = _read_rc_files()
    return Machine(
        rc,
        earlier=_read_backups(rc),
        resolv=read_text("/etc/resolv.conf"),
        resolvconf=_is_executable(RESOLVCONF),
        resolvconf_conf=read_text(RESOLVCONF_CONF),
    )


def read_live(request):
    """The Machine of the running system: read_image()'s files, then its
    interfaces, the request's dhclients and leases, and the default
    routes a static request may replace."""
    interfaces = parse_ifconfig(run([IFCONFIG]).stdout)
    ifname, target = choose_interface(request, interfaces)
    machine = read_image()
    machine.interfaces = interfaces
    machine.dhclients = _running_dhclients((ifname, target))
    machine.leases = _lease_addresses((ifname, target))
    machine.routes = _default_routes(request)
    return machine


def _read_rc_files():
    # What rc(8) reads for netif and for routing, and rc.d/dhclient reads,
    # in its order.
    texts = {}
    load_rc_conf(("netif", "routing", "dhclient", "network"), texts)
    return texts


def _read_backups(rc):
    # The PATH.bak that write_file() kept of each rc file hv_set_ifconfig
    # may edit: the configuration before its last change.
    backups = {}
    for path in rc:
        if path not in _RC_DEFAULTS:
            text = read_text(f"{path}.bak")
            if text is not None:
                backups[path] = text
    return backups


def _lease_addresses(names):
    # {interface: address} of the leases the interfaces' databases name.
    leases = {}
    for name in dict.fromkeys(names):
        address = parse_lease_address(read_text(DHCLIENT_LEASES.format(name)) or "")
        if address is not None:
            leases[name] = address
    return leases


def parse_lease_address(text):
    """The fixed-address of the last lease in a dhclient.leases(5) text, the
    lease dhclient bound last (write_client_lease() appends it, and
    rewrite_client_leases() writes the active lease last), or None."""
    address = None
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] == "fixed-address":
            candidate = words[1].rstrip(";")
            if _is_ipv4(candidate):
                address = candidate
    return address


def _default_routes(request):
    # Only a static request with a gateway replaces a default route.
    if request.dhcp or not (request.gateway or request.gateway6):
        return {}
    return default_routes()


def _running_dhclients(names):
    # pgrep, not the pidfile alone: a pidfile can outlive its dhclient.
    running = {}
    for name in dict.fromkeys(names):
        for pidfile in dhclient_pidfiles(name):
            argv = [PGREP, "-F", pidfile, "-x", "dhclient"]
            if run(argv, check=False).status == 0:
                running[name] = pidfile
                break
    return running


def format_plan(plan):
    """--dry-run's output: the commands, the route commands, then a unified
    diff per file."""
    out = [" ".join(argv) + "\n" for argv in plan.commands + plan.routes]
    for path, (old, new) in plan.files.items():
        diff = unified_diff(
            (old or "").splitlines(keepends=True),
            new.splitlines(keepends=True),
            path if old is not None else "/dev/null",
            path,
        )
        out.extend(line if line.endswith("\n") else line + "\n" for line in diff)
    return "".join(out)


def unified_diff(old, new, fromfile, tofile):
    """The lines difflib.unified_diff(old, new, fromfile, tofile) gives (three
    lines of context), without the cost of importing difflib and re."""
    out = []
    hunk = []
    for change in _diff_changes(old, new):
        # difflib starts a new hunk after more than twice the context.
        if hunk and change[0] - hunk[-1][1] > 6:
            out.extend(_diff_hunk(old, new, hunk))
            hunk = []
        hunk.append(change)
    if hunk:
        out.extend(_diff_hunk(old, new, hunk))
    return [f"--- {fromfile}\n", f"+++ {tofile}\n", *out] if out else []


def _diff_hunk(old, new, changes):
    i1, _, j1, _ = changes[0]
    _, i2, _, j2 = changes[-1]
    before, after = min(3, i1), min(3, len(old) - i2)
    old_range = _diff_range(i1 - before, i2 + after)
    new_range = _diff_range(j1 - before, j2 + after)
    lines = [f"@@ -{old_range} +{new_range} @@\n"]
    at = i1 - before
    for c_i1, c_i2, c_j1, c_j2 in changes:
        lines.extend(" " + line for line in old[at:c_i1])
        lines.extend("-" + line for line in old[c_i1:c_i2])
        lines.extend("+" + line for line in new[c_j1:c_j2])
        at = c_i2
    lines.extend(" " + line for line in old[at : i2 + after])
    return lines


def _diff_range(start, stop):
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def _diff_changes(a, b):
    # The (i1, i2, j1, j2) where a[i1:i2] becomes b[j1:j2], as
    # difflib.SequenceMatcher aligns them: the longest match (earliest in a,
    # then in b) first, then the same on either side of it; in a b of 200
    # lines or more, lines found in more than 1% of it start no match, but
    # extend one.  Only the part between the common head and tail is
    # searched (a tail of such lines only, difflib would not take as one
    # block), and within a budget linear in its size: past it, what is left
    # unmatched is a correct, if longer, change.
    lo = 0
    while lo < min(len(a), len(b)) and a[lo] == b[lo]:
        lo += 1
    ahi, bhi = len(a), len(b)
    while ahi > lo and bhi > lo and a[ahi - 1] == b[bhi - 1]:
        ahi, bhi = ahi - 1, bhi - 1
    popular = set()
    if len(b) >= 200:
        counts = {}
        for line in b:
            counts[line] = counts.get(line, 0) + 1
        popular = {line for line, n in counts.items() if n > len(b) // 100 + 1}
    if popular.issuperset(a[ahi:]):
        ahi, bhi = len(a), len(b)
    b2j = {}
    for j in range(lo, bhi):
        if b[j] not in popular:
            b2j.setdefault(b[j], []).append(j)
    budget = 10 * (ahi + bhi - 2 * lo) + 10000
    matches = [(0, 0, lo), (ahi, bhi, len(a) - ahi)]
    queue = [(lo, ahi, lo, bhi)]
    while queue and budget > 0:
        alo, ahi, blo, bhi = queue.pop()
        besti, bestj, size = alo, blo, 0
        runs = {}  # j: length of the match ending at a[i - 1], b[j]
        for i in range(alo, ahi):
            found = b2j.get(a[i], ())
            budget -= 1 + len(found)
            if budget <= 0:
                break
            ends = {}
            for j in found:
                if j >= bhi:
                    break
                if j >= blo:
                    k = ends[j] = runs.get(j - 1, 0) + 1
                    if k > size:
                        besti, bestj, size = i - k + 1, j - k + 1, k
            runs = ends
        while besti > alo and bestj > blo and a[besti - 1] == b[bestj - 1]:
            besti, bestj, size = besti - 1, bestj - 1, size + 1
        while (
            besti + size < ahi
            and bestj + size < bhi
            and a[besti + size] == b[bestj + size]
        ):
            size += 1
        if size and budget > 0:
            matches.append((besti, bestj, size))
            if alo < besti and blo < bestj:
                queue.append((alo, besti, blo, bestj))
            if besti + size < ahi and bestj + size < bhi:
                queue.append((besti + size, ahi, bestj + size, bhi))
    changes = []
    i = j = 0
    for mi, mj, size in sorted(matches):
        if i < mi or j < mj:
            changes.append((i, mi, j, mj))
        i, j = mi + size, mj + size
    return changes


def apply_plan(plan):
    """Write the files (each kept as NAME.bak), run the commands, then the
    route commands: those of the plan, or, when commands ran, those the
    default routes call for now (the kernel deletes the routes of an IPv4
    address with it).

    A failed command stops the run with EX_OSERR, the files already new.
    """
    for path, (_, text) in plan.files.items():
        write_file(path, text.encode("utf-8", "surrogateescape"), backup=True)
        log(f"{path} rewritten, the previous version kept as {path}.bak")
    routes = plan.routes
    for argv in plan.commands:
        _apply_command(argv)
    if plan.commands and plan.gateways:
        routes = route_commands(plan, default_routes())
    for argv in routes:
        _apply_command(argv)


def _apply_command(argv):
    log(" ".join(argv))
    done = run(argv, check=False)
    # pkill finding no dhclient (it exited meanwhile) leaves the state the
    # plan wanted.
    if done.status != 0 and not (argv[0] == PKILL and done.status == 1):
        message = f"{done.failure()} (the files hold the new configuration)"
        raise Failure(EX_OSERR, message)


# ---------------------------------------------------------------------------
# VF bring-up (hyperv_vfattach, hyperv_vfup): the devd(8) actions that join a
# network VF and its hn(4) in a failover lagg(4), so that the VM stays
# reachable while live migration takes the VF away.  See hvtools(8).

# Where the base system documents the per-interface override, whatever the
# prefix hvtools itself is installed under.
VFUP_OVERRIDE_DIR = "/usr/libexec/hyperv"
MAX_DELAY = 3600  # seconds; also the cap of hyperv_vf_delay
MIN_VF_DELAY = 2
MAX_ALIASES = 256
OVERRIDE_TIMEOUT = 600


def sysctl(oid):
    """The value of a sysctl OID, or None when the kernel does not know it."""
    done = run([SYSCTL, "-n", oid], check=False)
    if done.status == 0:
        return done.stdout.strip()
    if "unknown oid" in done.stderr:
        return None
    raise Failure(EX_OSERR, f"sysctl {oid}: {done.cause()}")


def is_vf_transparent(value):
    """hw.hn.vf_transparent non-zero; absent (None) or not a number is 0,
    as the original's shell test read it."""
    value = (value or "").strip()
    return _is_number(value) and int(value) != 0


def vf_delay(env):
    """hyperv_vf_delay: an integer >= 2, else 2; at most MAX_DELAY."""
    value = env.get("hyperv_vf_delay", "").strip()
    return min(int(value), MAX_DELAY) if _is_vf_delay(value) else MIN_VF_DELAY


def _is_vf_delay(value):
    return _is_number(value) and int(value) >= MIN_VF_DELAY


def hn_unit(name):
    """N of hnN, the only names hyperv_vfup accepts (they become paths)."""
    digits = name[2:]
    if not (
        name.startswith("hn")
        and 0 < len(digits) <= 5
        and _is_number(digits)
        and str(int(digits)) == digits
    ):
        raise Failure(EX_USAGE, f"invalid hn(4) interface name {name!r}")
    return digits


def _delay_argument(text):
    if not (_is_number(text) and len(text) <= 4) or int(text) > MAX_DELAY:
        raise Failure(EX_USAGE, f"invalid DELAY {text!r} (seconds, 0 to {MAX_DELAY})")
    return int(text)


def hyperv_vfattach(args):
    """devd's IFATTACH action: bring a VF up after a delay.

    DELAY > 0: wait, then ifconfig IF up, with its exit status.  DELAY 0 (how
    devd calls it): when IF is in hw.hn.vflist, a detached process brings it
    up hyperv_vf_delay seconds later, and the applet returns at once.
    """
    if len(args) != 2:
        raise Failure(EX_USAGE, "usage: hyperv_vfattach IF DELAY")
    ifname = check_ifname(args[0])
    delay = _delay_argument(args[1])
    refuse_image()
    if is_vf_transparent(sysctl("hw.hn.vf_transparent")):
        log(f"{ifname}: transparent VF mode, nothing to do", 7)
        return EX_OK
    if delay:
        return _delayed_up(ifname, delay)
    vflist = sysctl("hw.hn.vflist")
    if vflist is None:
        log(f"{ifname}: no hw.hn.vflist (kernel without VF support), nothing to do")
        return EX_OK
    if ifname not in vflist.split():
        log(f"{ifname}: not a VF", 7)
        return EX_OK
    delay = vf_delay(load_rc_conf(names=("hyperv_vf_delay",)))
    log(f"{ifname}: VF attached, bringing it up in {delay} s")
    _detach(_delayed_up, ifname, delay)
    return EX_OK


def refuse_image():
    """An image has no interfaces to bring up: stop with EX_UNAVAILABLE."""
    if is_image():
        raise Failure(
            EX_UNAVAILABLE,
            f"{root_path('/').rstrip('/')}: an image (no devfs on its /dev), not a"
            " running system: nothing to do",
        )


def _delayed_up(ifname, delay):
    import time

    time.sleep(delay)
    done = run([IFCONFIG, ifname, "up"], check=False)
    if done.status:
        return report(Failure(done.status, f"ifconfig {ifname} up: {done.cause()}"))
    log(f"{ifname}: up")
    return EX_OK


def _detach(function, *args):
    # devd waits for an action to finish; the original used daemon(8) to
    # return at once.  The child leaves devd's session and its pipes.
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork():
        return
    status = EX_SOFTWARE
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if null > 2:
            os.close(null)
        status = function(*args)
    except Failure as failure:
        status = report(failure)
    except Exception as e:
        status = report(Failure(EX_SOFTWARE, f"detached: {e!r}"))
    finally:
        os._exit(status)


def hyperv_vfup(args):
    """devd's VF_UP action: join hnN and its VF in laggN, move hnN's
    configuration there, or run the override hyperv_vfup.hnN instead."""
    import os

    if len(args) != 1:
        raise Failure(EX_USAGE, "usage: hyperv_vfup hnN")
    hn = args[0]
    unit = hn_unit(hn)
    refuse_image()
    lock(f"vfup.{hn}")
    override = f"{VFUP_OVERRIDE_DIR}/hyperv_vfup.{hn}"
    if is_file(override):
        if os.access(root_path(override), os.X_OK):
            return _run_override(override, hn)
        log(f"{hn}: {override} is not executable, ignored")
    vf = sysctl(f"dev.hn.{unit}.vf")
    if vf is None:
        raise Failure(
            EX_UNAVAILABLE,
            f"no dev.hn.{unit}.vf: no {hn}, or a kernel without VF support",
        )
    if not vf:
        sys.stdout.write(f"{hn}: VF was detached\n")
        log(f"{hn}: VF was detached")
        return EX_OK
    if not valid_ifname(vf):
        raise Failure(EX_DATAERR, f"dev.hn.{unit}.vf: invalid VF name {vf!r}")
    lagg = f"lagg{unit}"
    shown = run([IFCONFIG, lagg], check=False)
    if shown.status == 0:
        return _add_vf_port(lagg, vf, parse_ifconfig(shown.stdout).get(lagg))
    # network.subr's afexists inet6: the OID is there, whatever its value.
    inet6 = sysctl("kern.features.inet6") is not None
    _create_lagg(hn, vf, lagg, inet6)
    _stop_dhclient(hn)
    routes = _default_routes_through(hn, default_routes())
    for family, _ in routes:
        _step([ROUTE, "-n", "delete", family, "default"], required=False)
    for argv in address_removal_commands(_interface(hn)):
        _step(argv, required=False)
    env = load_rc_conf(("netif", "dhclient", "network"))
    # network.subr runs rtsol only where it is installed (WITHOUT_INET6
    # worlds lack it).
    rtsol = os.access(root_path(RTSOL), os.X_OK)
    failed = _apply_all(lagg_config_commands(env, hn, lagg, inet6, rtsol))
    restore = route_restore_commands(routes, hn, lagg)
    # The lagg's dhclient may have added a default route of its own.
    now = default_routes() if restore else {}
    for (family, _), argv in zip(routes, restore):
        if now[family.lstrip("-")] is None:
            _step(argv, required=False)
    if failed:
        more = f" (and {len(failed) - 1} more, see syslog)" if failed[1:] else ""
        raise Failure(EX_OSERR, f"{failed[0]}{more}")
    log(f"{hn}: {lagg} carries its configuration, with {vf}")
    return EX_OK


def hvtools_linkup(args):
    """devd's IFNET LINK_UP action for hnN, in place of devd.conf's own
    (`service dhclient quietstart hnN`, priority 0): that one, unless hnN
    is a lagg port; exit 0 once done, whatever rc.d/dhclient answered.

    hn(4) reports its link up again when its VF stops carrying the traffic
    (if_hn.c hn_rxvf_change(), hn_resume_mgmt()), at every live migration;
    rc.d/dhclient would then start dhclient on hnN, a DHCP interface in
    rc.conf, though the lagg carries its configuration, and that dhclient
    sees the port's input (bpf taps it before lagg takes it: if_ethersubr.c
    ether_input_internal()) and puts the lagg's address on the port."""
    if len(args) != 1:
        raise Failure(EX_USAGE, "usage: hvtools linkup hnN")
    hn = args[0]
    hn_unit(hn)
    refuse_image()
    lagg = lagg_of(parse_ifconfig(run([IFCONFIG]).stdout), hn)
    if lagg is not None:
        message = f"{hn}: a port of {lagg.name}: no dhclient on it"
        sys.stdout.write(f"{message}\n")
        log(message)
        return EX_OK
    # As service(8) runs it: the rc.d script itself, in a clean environment.
    # Waited for, as devd.conf's rule is: a VF_UP devd has queued behind
    # this event must find hnN's dhclient started, so that hyperv_vfup
    # stops it, and not have it start after the lagg is made.
    done = run(
        [RC_D_DHCLIENT, "quietstart", hn],
        check=False,
        env={"HOME": "/", "PATH": "/sbin:/bin:/usr/sbin:/usr/bin"},
    )
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    # Its status is its own (1: not a DHCP interface); a failure of this
    # applet makes devd's rule run devd.conf's action instead.
    return EX_OK


def _run_override(override, hn):
    log(f"{hn}: running {override}")
    done = run([override, hn], check=False, timeout=OVERRIDE_TIMEOUT)
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    log(f"{hn}: {override} exited with status {done.status}")
    return done.status


def _add_vf_port(lagg, vf, interface):
    # The lagg stays across live migration; the VF that comes back is
    # added to it again.
    if interface is not None and vf in interface.laggports:
        log(f"{lagg}: {vf} is a port already")
        return EX_OK
    _step([IFCONFIG, lagg, "laggport", vf])
    return EX_OK


def _create_lagg(hn, vf, lagg, inet6):
    done = run([IFCONFIG, lagg, "create"], check=False)
    if done.status:
        raise Failure(EX_OSERR, f"{lagg} creation failed ({done.cause()})")
    log(f"{lagg}: created")
    try:
        for argv in new_lagg_commands(hn, vf, lagg, inet6):
            _step(argv)
    except Failure:
        # A half-made lagg would make the next VF_UP skip the set-up.
        run([IFCONFIG, lagg, "destroy"], check=False)
        raise


def _stop_dhclient(hn):
    for argv in dhclient_stop_commands(dhclient_pidfiles(hn)):
        done = run(argv, check=False)
        # pkill: 0 signalled, 1 no dhclient had that PID.
        if done.status > 1:
            warn(done.failure())
        elif done.status == 0:
            log(f"{hn}: dhclient stopped ({argv[2]})")


def _default_routes_through(hn, routes):
    # hn's default routes would keep leading out of a lagg port, and a
    # dhclient-script on the lagg leaves an existing default route alone.
    found = []
    for family in ("inet", "inet6"):
        route = routes[family]
        if route is not None and route[1] == hn:
            found.append((f"-{family}", route[0]))
    return found


def _interface(name):
    done = run([IFCONFIG, name], check=False)
    return parse_ifconfig(done.stdout).get(name) if done.status == 0 else None


def _apply_all(commands):
    # Every step is tried, so that one bad word in rc.conf does not keep
    # dhclient from starting; the failures are returned, and logged.
    failed = []
    for argv in commands:
        _log_step(argv)
        done = run(argv, check=False)
        if done.status:
            failed.append(done.failure())
            log(failed[-1], 3)
    return failed


def _step(argv, required=True):
    _log_step(argv)
    if required:
        run(argv)
        return
    done = run(argv, check=False)
    if done.status:
        warn(done.failure())


def _log_step(argv):
    # The words of an ifconfig step read as in rc.conf: "lagg0 up".
    log(" ".join(argv[1:]) if argv[0] == IFCONFIG else " ".join(argv))


# The planners: pure functions from what the system shows to the commands.


def new_lagg_commands(hn, vf, lagg, inet6=True):
    """Make a just-created lagg a failover of hn and its VF (the VF wins).

    With INET6, hn keeps no IPv6 as a port: it stops learning from router
    advertisements first, joins while IPv6 is still enabled, so that lagg
    purges its addresses and the prefixes and routers it learned, and then
    IPv6 is disabled on it, so that it gets no link-local address again
    (what lagg(4) forbids on a port), as current FreeBSD's hyperv_vfup does.
    """
    join = [IFCONFIG, lagg, "laggproto", "failover", "laggport", hn, "laggport", vf]
    if not inet6:
        return [join]
    return [
        [IFCONFIG, hn, "inet6", "-accept_rtadv"],
        join,
        [IFCONFIG, hn, "inet6", "ifdisabled"],
        [IFCONFIG, lagg, "inet6", "no_dad"],
    ]


def route_restore_commands(routes, hn, lagg):
    """Add hn's default routes back, now through lagg: [(-inet or -inet6,
    gateway)]; a link-local gateway's %hn scope becomes %lagg."""
    commands = []
    for family, gateway in routes:
        address, percent, scope = gateway.partition("%")
        via = f"{address}%{lagg}" if percent and scope == hn else gateway
        commands.append([ROUTE, "-n", "add", family, "default", via])
    return commands


def is_link_local6(address):
    """fe80::/10."""
    head = address.partition(":")[0]
    return (
        0 < len(head) <= 4
        and _HEX.issuperset(head)
        and int(head, 16) & 0xFFC0 == 0xFE80
    )


def address_removal_commands(interface):
    """Remove every address an interface has kept: the lagg takes them
    over, and the same address on two interfaces breaks routing; a port's
    link-local address too, as lagg(4) wants none on a port (a link-local
    one with its %scope)."""
    if interface is None:
        return []
    name = interface.name
    commands = [[IFCONFIG, name, "inet", a, "-alias"] for a, _ in interface.inet]
    commands += [
        [IFCONFIG, name, "inet6", f"{a}%{name}" if is_link_local6(a) else a, "-alias"]
        for a, _ in interface.inet6
    ]
    return commands


def lagg_config_commands(env, hn, lagg, inet6=True, rtsol=True):
    """hn's rc.conf configuration applied to lagg, in network.subr's order:
    ifconfig_hnN, its IPv6 (below), up, dhclient, then ifconfig_hnN_aliasN
    (after dhclient, whose "ifconfig inet ADDR" replaces the first address),
    the addresses from ipv6_prefix_hnN, and router solicitation.

    IPv6, with INET6 and when network.subr's ipv6if holds for hn (or
    ipv6_activate_all_interfaces): the lagg gets IPv6 enabled, then
    ifconfig_hnN_ipv6 and the legacy ipv6_ifconfig_hnN, the inet6 aliases
    (ifconfig_hnN_aliasN, legacy ipv6_ifconfig_hnN_aliasN), an EUI-64
    address per ipv6_prefix_hnN prefix (ipv6_prefix_hostid_addr_common),
    and when hn autoconfigures (ipv6_autoconfif) accept_rtadv and, rtsol
    being installed, `rtsol ${rtsol_flags} lagg` (ipv6_accept_rtadv_up),
    so that the lagg learns its router now, not at the next unsolicited
    advertisement.  Without INET6 or ipv6if, inet6 aliases are skipped, as
    ipv6_up skips them at boot.
    """
    commands = []
    args = ifconfig_args(env, hn)
    if args:
        commands.append([IFCONFIG, lagg, *args])
    ipv6 = inet6 and is_ipv6_interface(env, hn)
    if ipv6:
        commands += lagg_ipv6_commands(env, hn, lagg)
    elif inet6 and checkyesno(env.get("ipv6_activate_all_interfaces", "")):
        commands.append([IFCONFIG, lagg, "inet6", "-ifdisabled"])
    aliases = [[IFCONFIG, lagg, *a, "alias"] for a in rc_aliases(env, hn, ipv6)]
    dhcp = is_dhcp_interface(env, hn)
    if commands or aliases or dhcp:
        commands.append([IFCONFIG, lagg, "up"])
    if dhcp:
        # As the original: only SYNCDHCP waits for the lease; devd runs
        # one action at a time.
        sync = is_syncdhcp_interface(env, hn)
        commands.append(dhclient_command(env, hn, lagg, background=not sync))
    commands += aliases
    if ipv6:
        commands += prefix_address_commands(env, hn, lagg)
        if is_ipv6_autoconf(env, hn):
            commands.append([IFCONFIG, lagg, "inet6", "accept_rtadv"])
            if rtsol:
                flags = [w for w in _words(env.get("rtsol_flags", "")) if w]
                commands.append([RTSOL, *flags, lagg])
    return commands


def lagg_ipv6_commands(env, hn, lagg):
    """IPv6 enabled on lagg, then ifconfig_hnN_ipv6 and ipv6_ifconfig_hnN
    on it (ifconfig_up's inet6 part)."""
    commands = [[IFCONFIG, lagg, "inet6", "-ifdisabled"]]
    ipv6 = ifconfig_args(env, hn, "_ipv6")
    if ipv6:
        if _is_ipv6(ipv6[0].partition("/")[0]):
            ipv6.insert(0, "inet6")  # network.subr's backward compatibility
        commands.append([IFCONFIG, lagg, *ipv6])
    legacy = _ipv6_legacy_words(env.get(rc_ifvar(hn, prefix="ipv6_ifconfig_"), ""))
    if legacy:
        commands.append([IFCONFIG, lagg, *legacy])
    return commands


def _ipv6_legacy_words(value):
    # ipv6_ifconfig_IF[_aliasN]: ifconfig words after an implied inet6.
    words = [w for w in _words(value) if w]
    return ["inet6", *words] if words else []


def is_ipv6_interface(env, ifname):
    """network.subr's ipv6if for an interface other than lo0, the kernel
    having INET6: ipv6_network_interfaces names it or is AUTO (its default
    in defaults/rc.conf), and it has ifconfig_IF_ipv6, ipv6_prefix_IF or
    ipv6_ifconfig_IF."""
    listed = env.get("ipv6_network_interfaces", "auto")
    # Its case patterns: IF among words parted by spaces, or AUTO alone.
    if f" {ifname} " not in f" {listed} " and listed.lower() != "auto":
        return False
    return bool(
        ifconfig_args(env, ifname, "_ipv6")
        or _echoed(env.get(rc_ifvar(ifname, prefix="ipv6_prefix_"), ""))
        or _echoed(env.get(rc_ifvar(ifname, prefix="ipv6_ifconfig_"), ""))
    )


def is_ipv6_autoconf(env, ifname):
    """network.subr's ipv6_autoconfif for an ipv6if interface of no special
    family: not a router (ipv6_gateway_enable), no ipv6_prefix_IF, and
    ipv6_enable (the old knob) or accept_rtadv among the words of
    ifconfig_IF_ipv6 or ipv6_ifconfig_IF."""
    if checkyesno(env.get("ipv6_gateway_enable", "")):
        return False
    if _echoed(env.get(rc_ifvar(ifname, prefix="ipv6_prefix_"), "")):
        return False
    if checkyesno(env.get("ipv6_enable", "")):
        return True
    words = ifconfig_args(env, ifname, "_ipv6")
    words += _words(env.get(rc_ifvar(ifname, prefix="ipv6_ifconfig_"), ""))
    return "accept_rtadv" in words


def prefix_address_commands(env, hn, lagg):
    """ipv6_prefix_hostid_addr_common IF alias: for each prefix of
    ipv6_prefix_IF (default length 64; from its last "::" on, then a
    trailing ":", dropped), `inet6 PREFIX:: prefixlen LEN eui64 alias`, and
    on a router the subnet router anycast address too."""
    commands = []
    router = checkyesno(env.get("ipv6_gateway_enable", ""))
    for word in _words(env.get(rc_ifvar(hn, prefix="ipv6_prefix_"), "")):
        if not word:
            continue
        prefix, slash, plen = word.partition("/")
        plen = plen if slash else "64"
        if "::" in prefix:  # ${j%::*}
            prefix = prefix[: prefix.rindex("::")]
        prefix = prefix[:-1] if prefix.endswith(":") else prefix
        address = [IFCONFIG, lagg, "inet6", f"{prefix}::", "prefixlen", plen]
        commands.append([*address, "eui64", "alias"])
        if router:
            commands.append([*address, "alias", "anycast"])
    return commands


def rc_aliases(env, ifname, inet6=True):
    """The words of the ifconfig_IF_aliasN, as network.subr's
    ifalias_af_common takes them (FreeBSD 12.1): every one set (list_vars),
    in the order of N (sort_lite -n), up to the first empty one: a gap in
    the numbers stops nothing.  An address without its family gets inet.
    Link-level aliases and address ranges are skipped; at most MAX_ALIASES.
    inet6: IPv6 ones too, then the legacy ipv6_ifconfig_IF_aliasN, taken
    the same way, as inet6 words."""
    aliases = []
    for value in _numbered_values(env, rc_ifvar(ifname, "_alias")):
        words = [w for w in _words(value) if w]
        if not words:
            continue
        if _is_ipv4(words[0].partition("/")[0]):
            words.insert(0, "inet")
        if words[0] == "inet6" and not inet6:
            continue
        if words[0] in ("inet", "inet6") and len(words) > 1 and "-" not in words[1]:
            aliases.append(words)
    if inet6:
        legacy = rc_ifvar(ifname, "_alias", prefix="ipv6_ifconfig_")
        for value in _numbered_values(env, legacy):
            words = _ipv6_legacy_words(value)
            if words:
                aliases.append(words)
    return aliases


def _numbered_values(env, var):
    # list_vars VAR[0-9]* | sort_lite -n, up to the first empty value.
    numbered = sorted(
        (int(name[len(var) :]), name)
        for name in env
        if name.startswith(var) and name[len(var) :].isdigit()
    )
    for _, name in numbered[:MAX_ALIASES]:
        if not env[name]:
            return
        yield env[name]


# ---------------------------------------------------------------------------
# hvtools status: what the administrator needs to see of the VF bring-up.

DEVD_RULES = ("/usr/local/etc/devd/hvtools.conf", "/etc/devd/hvtools.conf")


class HnStatus:
    """One row of hvtools status."""

    __slots__ = (
        "addresses", "ether", "lagg", "mode", "name", "port_addresses", "ports",
        "vf",
    )  # fmt: skip

    def __init__(self, name, *, ether, vf, lagg, ports, addresses, mode,
                 port_addresses=()):  # fmt: skip
        self.name = name
        self.ether = ether
        self.vf = vf
        self.lagg = lagg
        self.ports = ports
        self.addresses = addresses  # the lagg's when there is one
        self.mode = mode
        self.port_addresses = list(port_addresses)  # its own, as a lagg port


def status_rows(interfaces, vfs, env):
    """An HnStatus per hn(4) of parse_ifconfig()'s answer; vfs maps each
    hnN to dev.hn.N.vf (None when the kernel does not know it)."""
    rows = []
    for name, interface in interfaces.items():
        if not is_hn(name):
            continue
        lagg = interfaces.get(f"lagg{name[2:]}")
        port = lagg is not None and name in lagg.laggports
        if is_dhcp_interface(env, name):
            mode = "DHCP"
        elif ifconfig_args(env, name) or ifconfig_args(env, name, "_ipv6"):
            mode = "static"
        else:
            mode = "none"
        rows.append(
            HnStatus(
                name,
                ether=interface.ether,
                vf=vfs.get(name) or None,
                lagg=lagg.name if lagg else None,
                ports=lagg.laggports if lagg else [],
                addresses=_shown_addresses(lagg or interface),
                mode=mode,
                port_addresses=_shown_addresses(interface) if port else (),
            )
        )
    return rows


def _shown_addresses(interface):
    # As A/N, IPv4 first; link-local ones are the kernel's.
    shown = [f"{a}/{p}" for a, p in interface.inet]
    return shown + [f"{a}/{p}" for a, p in interface.inet6 if not is_link_local6(a)]


def status_warnings(rows, env, transparent, vflist):
    """What may keep the VF bring-up from working, one sentence each."""
    warnings = []
    if transparent:
        warnings.append(
            "hw.hn.vf_transparent is on: the kernel pairs VFs itself and "
            'hyperv_vfattach/hyperv_vfup do nothing (hw.hn.vf_transparent="0" '
            "in /boot/loader.conf selects the lagg workflow)"
        )
    if vflist is None:
        warnings.append("no hw.hn.vflist: this kernel has no network VF support")
    value = env.get("hyperv_vf_delay", "").strip()
    if not _is_vf_delay(value):
        shown = f"is {value!r}" if value else "is unset"
        warnings.append(
            f"hyperv_vf_delay {shown}: VFs come up after {MIN_VF_DELAY} s "
            "(Azure advises a large value such as 120)"
        )
    for row in rows:
        if row.lagg is None:
            if row.vf and not transparent:
                warnings.append(
                    f"{row.name} has VF {row.vf} but no lagg{row.name[2:]}: "
                    "VF_UP was not handled"
                )
            continue
        for port in (row.name, row.vf):
            if port and port not in row.ports:
                warnings.append(f"{row.lagg} lacks port {port}")
        if row.port_addresses:
            # What a dhclient started on the port leaves (hvtools linkup).
            warnings.append(
                f"{row.name}, a port of {row.lagg}, has addresses of its own:"
                f" {' '.join(row.port_addresses)}"
            )
    return warnings


def format_status(rows):
    """The table, columns aligned, "-" for nothing."""
    table = [["IF", "MAC", "VF", "LAGG", "PORTS", "MODE", "ADDRESSES"]]
    for row in rows:
        table.append(
            [
                row.name,
                row.ether or "-",
                row.vf or "-",
                row.lagg or "-",
                ",".join(row.ports) or "-",
                row.mode,
                " ".join(row.addresses) or "-",
            ]
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(table[0]) - 1)]
    return "".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths)) + f"  {line[-1]}\n"
        for line in table
    )


# The boot preview: what rc(8) configures at the next boot, read from rc.conf
# alone (network.subr's ifconfig_up and ifalias, rc.d/routing, resolvconf).

_BOOT_SUFFIXES = ("_ipv6", "_aliases", "_name", "_descr")
# Names whose assignments configure the network at boot: a statement the
# reader skips on a line that names one may change what boots.
_NETWORK_NAMES = (
    "ifconfig_", "ipv4_addrs_", "ipv6_", "defaultrouter", "network_interfaces",
    "cloned_interfaces", "static_routes", "route_", "synchronous_dhclient",
    "rc_conf_files", "vlans_", "create_args_",
)  # fmt: skip


def boot_interfaces(env, live=()):
    """The interfaces rc.conf configures (ifconfig_IF, ifconfig_IF_ipv6,
    ifconfig_IF_aliasN, ipv4_addrs_IF), then those of live (the hn(4) of a
    running system) it does not name; loopbacks left out."""
    names = []
    for var in env:
        if var.startswith("ipv4_addrs_"):
            name = var[len("ipv4_addrs_") :]
        elif var.startswith("ifconfig_") and var != "ifconfig_DEFAULT":
            name = var[len("ifconfig_") :]
            for suffix in _BOOT_SUFFIXES:
                if name.endswith(suffix):
                    name = name[: -len(suffix)]
            head, _, number = name.rpartition("_alias")
            if head and number.isdigit():
                name = head
        else:
            continue
        if valid_ifname(name) and not _is_family(name, ("lo",)):
            names.append(name)
    return list(dict.fromkeys([*names, *live]))


def boot_preview(netif, routing, *, resolvconf_conf, resolv, resolvconf, live=()):
    """The "boot" of hvtools status: {"interfaces": [{"name", "mode",
    "inet", "inet6", "accept_rtadv"}], "defaultrouter",
    "ipv6_defaultrouter", "nameservers"}.

    netif and routing: the variables of load_rc_conf() for those services;
    resolvconf_conf, resolv: the texts of /etc/resolvconf.conf and
    /etc/resolv.conf (or None); resolvconf: whether /sbin/resolvconf can
    run; live: interfaces the running system has, shown unconfigured too.
    """
    import ipaddress

    interfaces = []
    for name in boot_interfaces(netif, live):
        found = {"inet": [], "inet6": []}
        groups = [ifconfig_args(netif, name)]
        ipv6 = ifconfig_args(netif, name, "_ipv6")
        if ipv6 and _is_ipv6(ipv6[0].partition("/")[0]):
            ipv6.insert(0, "inet6")  # network.subr's backward compatibility
        groups += [ipv6, *_boot_aliases(netif, name)]
        for args in groups:
            family, address = _boot_address(ipaddress, args)
            if address and address not in found[family]:
                found[family].append(address)
        interfaces.append(
            {
                "name": name,
                "mode": _boot_mode(netif, name, any(groups)),
                "inet": found["inet"],
                "inet6": found["inet6"],
                "accept_rtadv": _accepts_rtadv(netif, name),
            }
        )
    # resolvconf(8) rewrites resolv.conf at boot only when dhclient-script
    # hands it a lease: a static-only boot keeps resolv.conf as it is.
    dhcp = any(e["mode"] in ("DHCP", "SYNCDHCP") for e in interfaces)
    if dhcp and resolvconf and resolvconf_enabled(resolvconf_conf):
        conf = rc_evaluate(rc_parsed(resolvconf_conf or "")[0], {})
        servers = [w for w in _words(conf.get("name_servers", "")) if w]
    else:
        servers = []
    return {
        "interfaces": interfaces,
        "defaultrouter": _boot_router(routing.get("defaultrouter")),
        "ipv6_defaultrouter": _boot_router(routing.get("ipv6_defaultrouter")),
        "nameservers": servers or parse_nameservers(resolv or ""),
    }


def _boot_mode(env, ifname, configured):
    # network.subr: dhcpif, then syncdhcpif (SYNCDHCP, NOSYNCDHCP, else
    # synchronous_dhclient).
    if is_dhcp_interface(env, ifname):
        for word in _words(rc_ifconfig(env, ifname)):
            if word.lower() in ("syncdhcp", "nosyncdhcp"):
                return "SYNCDHCP" if word.lower() == "syncdhcp" else "DHCP"
        return "SYNCDHCP" if checkyesno(env.get("synchronous_dhclient", "")) else "DHCP"
    return "static" if configured else "none"


def _boot_aliases(env, ifname):
    # network.subr's ifalias_af_common: ipv4_addrs_IF (each "inet A"), then
    # ifconfig_IF_aliases and the ifconfig_IF_aliasN, split at each family
    # word.
    words = [w for w in _words(env.get(rc_ifvar(ifname, "_aliases"), "")) if w]
    ipv4_addrs = env.get(_ipv4_addrs_var(rc_ifvar(ifname)), "")
    for word in (w for w in _words(ipv4_addrs) if w):
        words += ["inet", word]
    groups = []
    for word in words:
        if word in ("inet", "inet6", "link", "ether") or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    return groups + rc_aliases(env, ifname)


def _boot_address(ipaddress, args):
    # (family, "A/N") that ifconfig IF ARGS sets, or (family, None).  No
    # mask: the classful one for IPv4 (in_aifaddr_ioctl), /64 for IPv6
    # (ifconfig's af_inet6.c).
    family = "inet6" if args[:1] == ["inet6"] else "inet"
    words = args[1:] if args[:1] in (["inet"], ["inet6"]) else args
    if not words or "-" in words[0]:  # an address range, none here
        return family, None
    text, _, length = words[0].partition("/")
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return family, None
    if ip.version != (6 if family == "inet6" else 4):
        return family, None
    if ip.version == 4:
        first = int(ip) >> 24
        default = 8 if first < 128 else 16 if first < 192 else 24
    else:
        default = 64
    if not length:
        length = _rc_prefixlen(words[1:3], default)
    if not str(length).isdigit() or int(length) > ip.max_prefixlen:
        return family, None
    return family, f"{ip}/{int(length)}"


def _accepts_rtadv(env, ifname):
    # network.subr's ipv6_autoconfif.
    if _is_family(ifname, _NOT_DHCP) or _is_family(ifname, _NO_ADDRESS_FAMILY):
        return False
    if checkyesno(env.get("ipv6_gateway_enable", "")):
        return False
    if env.get(rc_ifvar(ifname, prefix="ipv6_prefix_")):
        return False
    if checkyesno(env.get("ipv6_enable", "")):
        return not _is_family(ifname, ("bridge",))
    words = _words(rc_ifconfig(env, ifname, "_ipv6"))
    words += _words(env.get(rc_ifvar(ifname, prefix="ipv6_ifconfig_"), ""))
    return "accept_rtadv" in words


def _boot_router(value):
    # rc.d/routing: NO or empty is none.
    value = (value or "").strip()
    return None if value.lower() in ("", "no") else value


def boot_drift(preview, interfaces, routes, leases):
    """Where the running system and its boot disagree, one sentence each.

    interfaces: parse_ifconfig(); routes: parse_netstat_routes(); leases:
    {interface: address} of the lease databases.  An hn(4) whose VF joined
    it in laggN (hyperv_vfup) is carried by laggN.  Addresses that are not
    rc.conf's to give (CARP, SLAAC, link-local, a lease's) are not drift.
    """
    import ipaddress

    drift = []
    for entry in preview["interfaces"]:
        name = entry["name"]
        carrier = interfaces.get(f"lagg{name[2:]}") if is_hn(name) else None
        carrier = carrier or interfaces.get(name)
        if carrier is None:
            continue
        where = name if carrier.name == name else f"{name} (on {carrier.name})"
        theirs = _not_ours(carrier)
        theirs |= {leases[n] for n in (name, carrier.name) if n in leases}
        live = [
            f"{a}/{n}"
            for _, a, n in _live_addresses(ipaddress, carrier)
            if _canonical(ipaddress, a) not in theirs
        ]
        boot = entry["inet"] + entry["inet6"]
        drift += [f"{where}: {a} is live, not configured for boot" for a in live
                  if a not in boot]  # fmt: skip
        drift += [f"{where}: {a} is configured for boot, not live" for a in boot
                  if a not in live]  # fmt: skip
    entries = preview["interfaces"]
    dynamic = {
        "inet": any(e["mode"] in ("DHCP", "SYNCDHCP") for e in entries),
        "inet6": any(e["accept_rtadv"] for e in entries),
    }
    for family, var in (("inet", "defaultrouter"), ("inet6", "ipv6_defaultrouter")):
        want = preview[var]
        route = routes.get(family)
        gateway = route[0].partition("%")[0] if route else None
        if want and gateway is None:
            drift.append(f"no {family} default route is live; {var} is {want}")
        elif want and _canonical(ipaddress, gateway) != _canonical(
            ipaddress, want.partition("%")[0]
        ):
            drift.append(f"the {family} default route is {gateway}; {var} is {want}")
        elif gateway and not want and not dynamic[family]:
            drift.append(f"the {family} default route via {gateway} has no {var}")
    return drift


def boot_problems(preview, texts, root):
    """The image checks: [(check, problem, fix)]; texts: {path: text} of the
    rc files read (load_rc_conf's); root: $HVTOOLS_ROOT, for the fixes."""
    found = []
    entries = preview["interfaces"]
    sysrc = f"sysrc -R {root}"
    if not any(is_hn(e["name"]) and e["mode"] != "none" for e in entries):
        found.append(
            (
                "check_boot_interfaces",
                "no hn(4) is configured in rc.conf: the VM boots without network",
                f'{sysrc} ifconfig_hn0="DHCP"',
            )
        )
    routed = preview["defaultrouter"] or preview["ipv6_defaultrouter"]
    dynamic = any(e["mode"] in ("DHCP", "SYNCDHCP") or e["accept_rtadv"]
                  for e in entries)  # fmt: skip
    if not routed and not dynamic:
        for e in entries:
            if e["mode"] == "static" and (e["inet"] or e["inet6"]):
                found.append(
                    (
                        "check_boot_router",
                        f"{e['name']} is static and no default router is "
                        "configured: the VM boots reachable from its subnet only",
                        f'{sysrc} defaultrouter="GATEWAY"',
                    )
                )
                break
    for path, text in texts.items():
        if text is None or path in _RC_DEFAULTS:
            continue
        lines = text.split("\n")
        for lineno, reason in rc_parsed(text)[1]:
            if any(n in lines[lineno - 1] for n in _NETWORK_NAMES):
                found.append(
                    (
                        "check_boot_statements",
                        f"{path}:{lineno}: {reason}: hvtools cannot read what "
                        "this line configures",
                        "write it as NAME=VALUE",
                    )
                )
    return found


def format_boot(preview, drift):
    """The boot preview and the drift, one "boot:" or "drift:" line each."""
    rows = []
    for e in preview["interfaces"]:
        rtadv = "accept_rtadv" if e["accept_rtadv"] else ""
        addresses = " ".join(e["inet"] + e["inet6"]) or "-"
        rows.append([e["name"], e["mode"], addresses, rtadv])
    widths = [max((len(r[i]) for r in rows), default=0) for i in range(3)]
    lines = [
        "boot: " + "  ".join(c.ljust(w) for c, w in zip(r, widths)) + f"  {r[3]}"
        for r in rows
    ]
    for var in ("defaultrouter", "ipv6_defaultrouter"):
        lines.append(f"boot: {var} {preview[var] or '-'}")
    lines.append(f"boot: nameservers {' '.join(preview['nameservers']) or '-'}")
    lines += [f"drift: {d}" for d in drift]
    return "".join(line.rstrip() + "\n" for line in lines)


# The installation checks: is hvtools what runs?  Each returns a list of
# problems, (one line, the command that fixes it).

ACTIVATE = "/usr/local/libexec/hyperv/hvtools --install && service devd restart"
# rc(8)'s PATH, which devd and so hv_kvp_daemon (started by a devd rule) run
# with; the launcher then tries /usr/local/bin/python3 and python3.N.
DAEMON_PATH = ("/sbin", "/bin", "/usr/sbin", "/usr/bin")
LOCAL_BIN = "/usr/local/bin"
# devd(8) reads devd.conf, then each *.conf of its directories (devd.cc,
# config::parse(); the directories are devd.conf's "directory" options).
DEVD_CONF = "/etc/devd.conf"
DEVD_DIRS = ("/etc/devd", "/usr/local/etc/devd")
# The events hvtools must handle, and the devd flavours they must fire on:
# 12.1's devd sets no $vm_guest (devd.cc, process_event()); later ones do.
DEVD_EVENTS = (
    ({"system": "HYPERV_NIC_VF", "type": "VF_UP", "subsystem": "hn0"}, "hyperv_vfup"),
    (
        {"system": "ETHERNET", "type": "IFATTACH", "subsystem": "mce0"},
        "hyperv_vfattach",
    ),
    ({"system": "IFNET", "type": "LINK_UP", "subsystem": "hn0"}, "hvtools linkup"),
)
DEVD_FLAVOURS = (
    ("FreeBSD 12's devd (no $vm_guest)", {}),
    ("devd with $vm_guest", {"vm_guest": "hv"}),
)


def check_daemon_links():
    """Each applet at /usr/libexec/hyperv, where hv_kvp_daemon and the base
    devd rules run it, resolves to hvtools."""
    return [
        (
            f"{BASE_LIBEXEC}/{name} is not hvtools (the base system's script, "
            "put back by freebsd-update?)",
            ACTIVATE,
        )
        for name in linked_applets()
        if not runs_hvtools(f"{BASE_LIBEXEC}/{name}")
    ]


def check_devd_rules():
    """hvtools' devd rules are installed, win over every other rule for the
    VF events on 12's devd and later ones, and run hvtools."""
    if not any(is_file(p) for p in DEVD_RULES):
        rules = " or ".join(DEVD_RULES)
        return [(f"hvtools' devd rules are not installed ({rules})", ACTIVATE)]
    rules = read_devd_rules()
    problems = []
    for event, applet in DEVD_EVENTS:
        verdicts = {}
        for flavour, extra in DEVD_FLAVOURS:
            text = _devd_verdict(rules, dict(event, **extra), applet)
            if text:
                verdicts.setdefault(text, []).append(flavour)
        for text, flavours in verdicts.items():
            where = "" if len(flavours) == len(DEVD_FLAVOURS) else f" on {flavours[0]}"
            problems.append((f"{text}{where}", ACTIVATE))
    return problems


def _devd_verdict(rules, variables, applet):
    what = f"{variables['system']}/{variables['type']}"
    rule = devd_winner(rules, variables)
    if rule is None:
        return f"no devd rule runs {applet} on {what}"
    if rule.path not in DEVD_RULES:
        return (
            f"{rule.path}'s rule (priority {rule.priority}) outranks hvtools' on {what}"
        )
    program = rule.actions[0].split()[0] if rule.actions else ""
    if not runs_hvtools(program, executable=True):
        return f"devd runs {program or 'nothing'} on {what}: not hvtools"
    return None


def check_python():
    """The launcher finds a Python from hv_kvp_daemon's PATH."""
    if launcher_python() is not None:
        return []
    where = ":".join(DAEMON_PATH)
    return [
        (
            f"no Python 3 for the launcher (PATH {where}, then "
            f"{LOCAL_BIN}/python3 and python3.N)",
            "pkg install python3",
        )
    ]


def _is_python3_minor(name):
    return name.startswith("python3.") and name[8:].isdigit()


def check_rc_conf():
    """rc.conf can be read, as hv_get_dhcp_info and hyperv_vfup read it."""
    try:
        load_rc_conf()
    except Failure as failure:
        return [(f"rc.conf: {failure}", "chmod 644 /etc/rc.conf")]
    return []


INSTALL_CHECKS = (check_daemon_links, check_devd_rules, check_python, check_rc_conf)


def resolve_in_root(path):
    """resolved(path) when it leads to something; None for a loop or a
    dangling chain."""
    try:
        real = resolved(path)
    except OSError:
        return None
    return real if _file_type(real) is not None else None


def runs_hvtools(path, executable=False):
    """Does running this system path run hvtools?"""
    import os

    real = resolve_in_root(path) if path.startswith("/") else None
    if real is None or not is_hvtools_archive(root_path(real)):
        return False
    return not executable or os.access(root_path(real), os.X_OK)


def _is_executable(path):
    import os

    real = resolve_in_root(path)
    return real is not None and is_file(real) and os.access(root_path(real), os.X_OK)


class DevdRule:
    __slots__ = ("actions", "matches", "path", "priority")

    def __init__(self, path, priority):
        self.path = path
        self.priority = priority
        self.matches = []  # [(variable, pattern)]
        self.actions = []


_DEVD_LEXEME = r'\s+|#[^\n]*|//[^\n]*|/\*.*?\*/|"(?:[^"\\]|\\.|\\\n)*"|[{};]|[^\s{};"]+'


def parse_devd(text, path):
    """The notify rules of a devd.conf(5) file, in order (other statements
    are skipped; devd's own parser, parse.y, is stricter)."""
    import re

    tokens = [
        t[1:-1].replace("\\\n", "") if t.startswith('"') else t
        for t in re.findall(_DEVD_LEXEME, text, re.S)
        if not (t.isspace() or t.startswith(("#", "//", "/*")))
    ]
    rules = []
    i = 0
    while i < len(tokens):
        if (
            tokens[i] == "notify"
            and tokens[i + 1 : i + 2] != []
            and tokens[i + 1].isdigit()
        ):
            rule = DevdRule(path, int(tokens[i + 1]))
            i = _devd_block(tokens, i + 2, rule)
            rules.append(rule)
        else:
            i += 1
    return rules


def _devd_block(tokens, i, rule):
    # { statement; ... }: match "var" "re"; action "command"; others skipped.
    end = len(tokens)
    i += 1
    while i < end and tokens[i] != "}":
        statement = []
        while i < end and tokens[i] not in (";", "}"):
            statement.append(tokens[i])
            i += 1
        i += tokens[i : i + 1] == [";"]
        if statement[:1] == ["match"] and len(statement) == 3:
            rule.matches.append((statement[1], statement[2]))
        elif statement[:1] == ["action"] and len(statement) == 2:
            rule.actions.append(statement[1])
    return i + 1


def devd_winner(rules, variables):
    """devd's choice for a notify event: the first rule of the highest
    priority whose matches all hold (config::find_and_execute(), after
    stable_sort by priority).  A match is an anchored extended regular
    expression ignoring case, "!" negating it; an unset variable is ""
    (devd.cc: match::do_match(), config::get_variable())."""
    import re

    def holds(variable, pattern):
        negate = pattern.startswith("!")
        regex = pattern[1:] if negate else pattern
        try:
            found = re.fullmatch(regex, variables.get(variable, ""), re.I) is not None
        except re.error:
            return False
        return found != negate

    best = None
    for rule in rules:
        better = best is None or rule.priority > best.priority
        if better and all(holds(v, p) for v, p in rule.matches):
            best = rule
    return best


def read_devd_rules():
    """Every notify rule devd would load from the root, in its order."""
    import os

    paths = [DEVD_CONF]
    for directory in DEVD_DIRS:
        try:
            names = sorted(os.listdir(root_path(directory)))
        except OSError:
            continue
        paths += [f"{directory}/{n}" for n in names if n.endswith(".conf")]
    rules = []
    for path in paths:
        text = read_text(path)
        if text is not None:
            rules += parse_devd(text, path)
    return rules


def is_image():
    """Is $HVTOOLS_ROOT an image rather than the running system?  A running
    FreeBSD has devfs(5) on /dev (vfs_mountroot.c, vfs_mountroot_devfs());
    in an image /dev is an empty directory (etc/mtree/BSD.root.dist)."""
    import os

    if (os.environ.get("HVTOOLS_ROOT") or "/") == "/":
        return False
    try:
        return not os.listdir(root_path("/dev"))
    except OSError:
        return True


# The bytecode the program carries, one file per Python version
# (build.py); the launcher runs the one whose magic number is the running
# interpreter's and leaves any other Python to compile the source.
_SIGNATURE = "# hvtools: the Hyper-V guest helpers of FreeBSD, one multi-call program."
_BYTECODE_LINE = "# bytecode for Python "


def running_archive():
    """The built program this module runs from, or None (run from source):
    the launcher and zipimport both name the module ARCHIVE/site-packages/
    hvtools.py."""
    suffix = "/site-packages/hvtools.py"
    return __file__[: -len(suffix)] if __file__.endswith(suffix) else None


def carried_pythons(archive):
    """The Python versions (3, N) whose bytecode archive carries, sorted, as
    its preamble names them ("# bytecode for Python 3.9, 3.10")."""
    for line in _preamble(archive):
        if line.startswith(_BYTECODE_LINE):
            versions = line[len(_BYTECODE_LINE) :].split(", ")
            minors = [v[2:] for v in versions if v.startswith("3.")]
            return sorted((3, int(n)) for n in minors if n.isdigit())
    return []


def _preamble(path):
    # The comment lines at the head of the built program (build.py writes
    # them), or [] for any other file: enough to know it without zipfile,
    # whose import alone costs more than a read applet's whole start.
    try:
        with open(path, "rb") as f:
            head = f.read(512)
            f.seek(-22, 2)  # a zip file ends with its end of central directory
            end = f.read(4)
    except OSError:
        return []
    lines = head.decode("ascii", "replace").split("\n")
    if lines[1:2] != [_SIGNATURE] or end != b"PK\x05\x06":
        return []
    return [line for line in lines if line.startswith("#")]


def launcher_python():
    """The system path of the Python the launcher picks when the KVP daemon
    or devd runs it (python3 in their PATH, /usr/local/bin/python3, the
    newest /usr/local/bin/python3.N), or None."""
    import os

    for directory in (*DAEMON_PATH, LOCAL_BIN):
        if _is_executable(f"{directory}/python3"):
            return f"{directory}/python3"
    try:
        names = os.listdir(root_path(LOCAL_BIN))
    except OSError:
        return None
    minors = [int(n[8:]) for n in names if _is_python3_minor(n)]
    for minor in sorted(minors, reverse=True):
        if _is_executable(f"{LOCAL_BIN}/python3.{minor}"):
            return f"{LOCAL_BIN}/python3.{minor}"
    return None


def python_version(path):
    """(3, N) from the name python3.N that path is, or leads to; or None."""
    name = (resolve_in_root(path) or path).rpartition("/")[2]
    return (3, int(name[8:])) if _is_python3_minor(name) else None


def daemons_archive():
    """The program hv_kvp_daemon runs, as a path to open; else this one."""
    daemon = f"{BASE_LIBEXEC}/{linked_applets()[0]}"
    return real_path(daemon) if runs_hvtools(daemon) else running_archive()


def bytecode_warnings(archive, python):
    """A warning when python, the launcher's choice, finds no bytecode of its
    version in archive: each start then compiles hvtools (tens of ms)."""
    carried = carried_pythons(archive) if archive else []
    version = python_version(python) if python else None
    if not carried or version is None or version in carried:
        return []
    return [
        f"{python} is Python {version[0]}.{version[1]}, for which {archive} "
        "carries no bytecode: each run compiles hvtools (rebuild it where "
        f"Python {version[0]}.{version[1]} is installed: python3 build.py)"
    ]


def hvtools_status(args):
    """hvtools status [--json]: each hn(4) with its VF, lagg, addresses and
    rc.conf mode, warnings about the VF set-up, what the next boot
    configures and where the running system differs from it, and the
    problems of the installation and, on an image, of its boot (exit 78
    when there are any)."""
    import os

    if args not in ([], ["--json"]):
        raise Failure(EX_USAGE, "usage: hvtools status [--json]")
    problems = [
        (check.__name__, text, fix) for check in INSTALL_CHECKS for text, fix in check()
    ]
    texts = {}
    try:
        load_rc_conf(("netif", "routing"), texts)
    except Failure:
        texts = None  # check_rc_conf has said why
    netif, routing = (_rc_env(texts or {}, files) for files in _rc_chains(texts or {}))
    rows, warnings, skipped, drift = [], [], [], []
    interfaces = {}
    image = is_image()
    if image:
        skipped.append(
            "interfaces, VFs, kernel settings and drift: the root is an image "
            "(no devfs on its /dev), not a running system"
        )
    else:
        interfaces = parse_ifconfig(run([IFCONFIG]).stdout)
        rows, warnings = _live_status(interfaces, netif)
    preview = boot_preview(
        netif,
        routing,
        resolvconf_conf=read_text(RESOLVCONF_CONF),
        resolv=read_text("/etc/resolv.conf"),
        resolvconf=os.access(root_path(RESOLVCONF), os.X_OK),
        # An image has no interfaces to list; every Hyper-V VM has hn0,
        # which ifconfig_DEFAULT alone may configure.
        live=["hn0"] if image else [name for name in interfaces if is_hn(name)],
    )
    if image:
        if texts is not None:
            root = os.environ.get("HVTOOLS_ROOT") or "/"
            problems += boot_problems(preview, texts, root)
    else:
        leases = _lease_addresses(interfaces)
        drift = boot_drift(preview, interfaces, default_routes(), leases)
    warnings += bytecode_warnings(daemons_archive(), launcher_python())
    if args:
        import json

        report_ = {
            "image": image,
            "interfaces": [
                {k: getattr(r, k) for k in HnStatus.__slots__} for r in rows
            ],
            "boot": preview,
            "drift": drift,
            "warnings": warnings,
            "problems": [{"check": c, "problem": t, "fix": f} for c, t, f in problems],
            "skipped": skipped,
        }
        sys.stdout.write(json.dumps(report_, indent=2, sort_keys=True) + "\n")
    else:
        if not image:
            sys.stdout.write(format_status(rows))
        sys.stdout.write(format_boot(preview, drift))
        sys.stdout.write("".join(f"warning: {w}\n" for w in warnings))
        sys.stdout.write("".join(f"problem: {t} (fix: {f})\n" for _, t, f in problems))
        sys.stdout.write("".join(f"skipped: {s}\n" for s in skipped))
    return EX_CONFIG if problems else EX_OK


def _live_status(interfaces, env):
    vfs = {name: sysctl(f"dev.hn.{name[2:]}.vf") for name in interfaces if is_hn(name)}
    rows = status_rows(interfaces, vfs, env)
    warnings = status_warnings(
        rows,
        env,
        is_vf_transparent(sysctl("hw.hn.vf_transparent")),
        sysctl("hw.hn.vflist"),
    )
    return rows, warnings


# ---------------------------------------------------------------------------
# Installing.  hv_kvp_daemon runs its helpers by a fixed path, "sh
# /usr/libexec/hyperv/NAME" (hv_kvp_daemon.c, kvp_get_ip_info() and
# kvp_set_ip_info()), whatever hvtools' prefix; so does the base system's
# devd rules file.  The program lives under the prefix (PREFIX/libexec/
# hyperv/hvtools, with a link per applet beside it, which hvtools' devd
# rules run), and /usr/libexec/hyperv/NAME are relative links to it, the
# base scripts kept as NAME.orig.  A relative link reads the same in a
# mounted image as on the running system.

PROGRAM = "hvtools"
BASE_LIBEXEC = "/usr/libexec/hyperv"
DEFAULT_PREFIX = "/usr/local"
RULES_NAME = "hvtools.conf"
# devd(8) rules: devd/hyperv.conf of the source tree, which the build puts
# into the archive.  The IFATTACH rule matches $vm_guest "hv" where devd
# sets it (after FreeBSD 12) and its absence: 12.1's devd (devd.cc,
# process_event()) has no such variable, and an unset one reads as "".
DEVD_MEMBER = "devd/hyperv.conf"


def layout(prefix):
    """(applet directory, devd rules file) for an installation prefix: the
    base system's own /etc/devd for /usr, PREFIX/etc/devd otherwise."""
    prefix = prefix.rstrip("/")
    if not prefix.startswith("/"):
        raise Failure(EX_USAGE, f"--prefix {prefix!r}: not an absolute path")
    devd = "/etc/devd" if prefix == "/usr" else f"{prefix}/etc/devd"
    return f"{prefix}/libexec/hyperv", f"{devd}/{RULES_NAME}"


def devd_rules(archive, libexec):
    """The devd rules the archive carries, for applets in libexec."""
    import zipfile

    with zipfile.ZipFile(archive) as z:
        text = z.read(DEVD_MEMBER).decode()
    return text.replace("@LIBEXEC@", libexec)


def install_system(program, prefix, package=False):
    """hvtools --install [--prefix P] [--package]: the program and its links
    under P, the devd rules, and (unless staging a package, which may not
    touch the base system) /usr/libexec/hyperv/NAME linked to the program."""
    import os

    libexec, rules = layout(prefix)
    daemon = [] if package or libexec == BASE_LIBEXEC else _daemon_links(libexec)
    install(program, libexec, also=daemon)
    os.makedirs(os.path.dirname(root_path(rules)), 0o755, exist_ok=True)
    text = devd_rules(_own_archive(program), libexec)
    write_file(rules, text.encode(), mode=0o644)
    return EX_OK


def uninstall_system(prefix, package=False):
    """hvtools --uninstall [--prefix P]: undo install_system()."""
    libexec, rules = layout(prefix)
    if not package and libexec != BASE_LIBEXEC:
        for link, target in _daemon_links(libexec):
            _remove_link(root_path(link), target)
    _unlink_quietly(root_path(rules))
    return uninstall(libexec)


def _daemon_links(libexec):
    import os

    target = os.path.relpath(f"{libexec}/{PROGRAM}", BASE_LIBEXEC)
    return [(f"{BASE_LIBEXEC}/{name}", target) for name in linked_applets()]


def install(program, directory, also=()):
    """hvtools --install DIR: DIR/hvtools plus a symlink per applet; also
    [(link, target)] more links, all checked before anything changes."""
    import os

    source = _own_archive(program)
    target = f"{directory.rstrip('/')}/{PROGRAM}"
    real = root_path(target)
    links = [(f"{directory.rstrip('/')}/{name}", PROGRAM) for name in linked_applets()]
    links += also
    for link, to in links:
        if _in_the_way(root_path(link), to) and os.path.lexists(
            root_path(link) + ".orig"
        ):
            raise Failure(
                EX_CANTCREAT, f"{link}: in the way, and {link}.orig exists already"
            )
    os.makedirs(os.path.dirname(real), 0o755, exist_ok=True)
    if not (os.path.exists(real) and os.path.samefile(source, real)):
        with open(source, "rb") as f:
            write_file(target, f.read(), mode=0o555)
    for link, to in links:
        os.makedirs(os.path.dirname(root_path(link)), 0o755, exist_ok=True)
        _place_link(root_path(link), to)
    return EX_OK


def uninstall(directory):
    """hvtools --uninstall DIR: remove what --install made, restore NAME.orig."""
    import os

    real_dir = root_path(directory)
    for name in linked_applets():
        _remove_link(os.path.join(real_dir, name), PROGRAM)
    program = os.path.join(real_dir, PROGRAM)
    if os.path.lexists(program):
        os.unlink(program)
    return EX_OK


def _remove_link(link, target):
    import os

    if os.path.islink(link) and os.readlink(link) == target:
        os.unlink(link)
    if os.path.lexists(link + ".orig") and not os.path.lexists(link):
        os.rename(link + ".orig", link)


def _own_archive(program):
    # Only the built zipapp can be installed: a copied hvtools.py would not
    # run when the KVP daemon hands it to sh.
    import os

    path = os.path.realpath(program)
    if not is_hvtools_archive(path):
        raise Failure(EX_USAGE, "--install needs the built program (python3 build.py)")
    return path


def is_hvtools_archive(path):
    """Is the file at this (real) path the built program?"""
    return bool(_preamble(path))


def _in_the_way(link, target):
    # Anything but our own link: the base system's script, or another link.
    import os

    return os.path.lexists(link) and not (
        os.path.islink(link) and os.readlink(link) == target
    )


def _place_link(link, target):
    import os

    if os.path.islink(link) and os.readlink(link) == target:
        return
    if os.path.lexists(link):
        os.rename(link, link + ".orig")
    temporary = f"{link}.hvtools-{os.getpid()}"
    os.symlink(target, temporary)
    os.replace(temporary, link)


# ---------------------------------------------------------------------------
# The dispatcher and the applet table (busybox style: --list, --install and
# the symlinks all read this one table).


class Applet:
    __slots__ = ("entry", "linked", "summary", "usage")

    def __init__(self, entry, usage, summary, linked=True):
        self.entry = entry
        self.usage = usage
        self.summary = summary
        self.linked = linked  # gets a symlink in /usr/libexec/hyperv


APPLETS = {
    "hv_get_dns_info": Applet(
        hv_get_dns_info, "", "print the DNS servers of /etc/resolv.conf, one a line"
    ),
    "hv_get_dhcp_info": Applet(
        hv_get_dhcp_info, "IF", "print Enabled or Disabled: is IF a DHCP interface?"
    ),
    "hv_set_ifconfig": Applet(
        hv_set_ifconfig,
        "[--dry-run] FILE",
        "apply the host's IP request, live and in rc.conf",
    ),
    "hyperv_vfattach": Applet(
        hyperv_vfattach, "IF DELAY", "devd IFATTACH: bring a VF up, delayed"
    ),
    "hyperv_vfup": Applet(
        hyperv_vfup, "hnN", "devd VF_UP: join hnN and its VF in laggN"
    ),
    "linkup": Applet(
        hvtools_linkup,
        "hnN",
        "devd LINK_UP of hnN: dhclient as devd.conf starts it, not on a lagg port",
        linked=False,
    ),
    "status": Applet(
        hvtools_status,
        "",
        "each hn(4): VF, lagg, addresses, rc.conf mode; warnings",
        linked=False,
    ),
}


def linked_applets():
    return [name for name, applet in APPLETS.items() if applet.linked]


def usage_text():
    lines = [
        f"usage: {PROGRAM} APPLET [ARG ...]",
        f"       {PROGRAM} --list | --help | --version",
        f"       {PROGRAM} --install | --uninstall [--prefix PREFIX] [--package]",
        f"       {PROGRAM} --install DIR | --uninstall DIR",
        "",
        "Applets:",
    ]
    synopses = {
        name: f"{name} {applet.usage}".strip() for name, applet in APPLETS.items()
    }
    width = max(map(len, synopses.values()))
    for name, applet in APPLETS.items():
        lines.append(f"  {synopses[name]:{width}}  {applet.summary}")
    lines.append("")
    lines.append(
        "System paths resolve under $HVTOOLS_ROOT (default /). See hvtools(8)."
    )
    return "\n".join(lines) + "\n"


def run_applet(name, args):
    global _applet
    _applet = name
    applet = APPLETS[name]
    if args[:1] in (["--help"], ["-h"]):
        command = name if applet.linked else f"{PROGRAM} {name}"
        sys.stdout.write(f"usage: {command} {applet.usage}".rstrip() + "\n")
        sys.stdout.write(f"{applet.summary}\n")
        return EX_OK
    return applet.entry(args)


def version_text(archive):
    """The version, then the Python versions the program has bytecode for."""
    lines = [f"{PROGRAM} {__version__}"]
    carried = carried_pythons(archive) if archive else []
    if carried:
        versions = ", ".join(f"{major}.{minor}" for major, minor in carried)
        lines.append(f"bytecode for Python {versions}")
    return "".join(f"{line}\n" for line in lines)


def hvtools_command(program, args):
    """hvtools itself: an option, or an applet name and its arguments."""
    if not args:
        sys.stderr.write(usage_text())
        return EX_USAGE
    option, rest = args[0], args[1:]
    if option in APPLETS:
        return run_applet(option, rest)
    if option in ("--help", "-h"):
        sys.stdout.write(usage_text())
    elif option == "--version":
        sys.stdout.write(version_text(running_archive()))
    elif option == "--list":
        sys.stdout.write("".join(f"{name}\n" for name in APPLETS))
    elif option in ("--install", "--uninstall"):
        return install_command(program, option, rest)
    else:
        raise Failure(
            EX_USAGE,
            f"unknown applet or option {option!r} ({PROGRAM} --list shows them)",
        )
    return EX_OK


def install_command(program, option, args):
    """--install/--uninstall [--prefix P] [--package], or DIR alone."""
    usage = f"usage: {PROGRAM} {option} [--prefix PREFIX] [--package] | DIR"
    if len(args) == 1 and args[0].startswith("/"):
        if option == "--install":
            return install(program, args[0])
        return uninstall(args[0])
    prefix, package = DEFAULT_PREFIX, False
    args = list(args)
    while args:
        word = args.pop(0)
        if word == "--package":
            package = True
        elif word == "--prefix" and args:
            prefix = args.pop(0)
        else:
            raise Failure(EX_USAGE, usage)
    if option == "--install":
        return install_system(program, prefix, package)
    return uninstall_system(prefix, package)


def main(argv=None):
    """Run the applet named by argv[0], or by argv[1] when argv[0] is hvtools."""
    argv = sys.argv if argv is None else argv
    program = argv[0] if argv else PROGRAM
    name = program.rpartition("/")[2]
    try:
        if name in APPLETS:
            return run_applet(name, argv[1:])
        if name.startswith(PROGRAM):
            return hvtools_command(program, argv[1:])
        raise Failure(
            EX_USAGE, f"unknown applet {name!r} ({PROGRAM} --list shows the applets)"
        )
    except Failure as failure:
        return report(failure)
    except OSError as e:
        where = f"{e.filename}: " if e.filename else ""
        return report(Failure(EX_OSERR, f"{where}{e.strerror or e}"))
    except KeyboardInterrupt:
        return 128 + 2


def launch(argv):
    """The zipapp launcher's entry: main() as the short-lived process it is.

    The collector stays off: a run makes no reference cycles worth its
    passes, which cost a tenth of reading a large rc.conf.  The exit is
    immediate, stdout and stderr flushed: the interpreter's orderly shutdown
    costs more than a read applet's whole work (bench/startup.py), and
    nothing needs it, as files are closed where they are used, and locks
    and fds end with the process.
    """
    import gc

    gc.disable()
    status = main(argv)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = status or EX_IOERR
    posix._exit(status)


if __name__ == "__main__":
    sys.exit(main())
