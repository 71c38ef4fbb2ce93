"""hvtools: the Hyper-V guest helpers of FreeBSD, as one multi-call program.

Applets (a symlink named after an applet runs it; so does ``hvtools APPLET``):

    hv_get_dns_info          print the DNS servers of /etc/resolv.conf, one a line
    hv_get_dhcp_info IF      print Enabled or Disabled: is IF a DHCP interface?

The program itself:

    hvtools --list               the applet names, one a line
    hvtools --install DIR        copy this program to DIR/hvtools, link the applets
    hvtools --uninstall DIR      undo --install, putting back what it set aside
    hvtools --help | --version

Every system path, files and programs alike, is resolved under the directory
named by the environment variable HVTOOLS_ROOT (default /).  A failure is one
line on stderr, also sent to syslog (facility daemon, ident hvtools), and an
exit status from sysexits(3).  See hvtools(8).
"""

import os
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


class Failure(Exception):
    """A reason to stop: one line for stderr and syslog, and an exit status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


# ---------------------------------------------------------------------------
# The system seam: the only code that touches files, programs and syslog.


def root_path(path):
    """Map an absolute system path into $HVTOOLS_ROOT."""
    root = os.environ.get("HVTOOLS_ROOT") or "/"
    return os.path.join(root, path.lstrip("/"))


def read_text(path):
    """The text of a system file, or None when it does not exist.

    Undecodable bytes survive as surrogates, so a file written back from this
    text keeps every byte it had.
    """
    try:
        with open(root_path(path), encoding="utf-8", errors="surrogateescape") as f:
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
    # like every system path, is found under $HVTOOLS_ROOT.
    import _socket

    for path in (root_path("/var/run/log"), "/dev/log"):
        if not os.path.exists(path):
            continue
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        try:
            s.connect(path)
            line = f"<{24 + priority}>hvtools[{os.getpid()}]: {message}"
            s.send(line.encode("utf-8", "backslashreplace"))
            return
        except OSError:
            continue
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


class Completed:
    """What a program did: its exit status and its output, as text."""

    __slots__ = ("status", "stderr", "stdout")

    def __init__(self, status, stdout, stderr):
        self.status = status
        self.stdout = stdout
        self.stderr = stderr


def run(argv, check=True, timeout=120):
    """Run a system program, argv[0] an absolute system path, never via a shell.

    os.posix_spawn rather than subprocess: the subprocess module costs more
    start-up time and memory than an applet may spend (see bench/).  With
    check, a non-zero exit becomes Failure(EX_OSERR) quoting its stderr.
    """
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
            program, [program, *argv[1:]], os.environ, file_actions=actions
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
        status,
        b"".join(output[out_r]).decode("utf-8", "replace"),
        b"".join(output[err_r]).decode("utf-8", "replace"),
    )
    if check and status != 0:
        cause = done.stderr.strip().splitlines()[-1:] or [f"exit status {status}"]
        raise Failure(EX_OSERR, f"{' '.join(argv)}: {cause[0]}")
    return done


def lock(name, timeout=60):
    """Hold an exclusive lock, /var/run/hvtools.NAME.lock, until exit.

    Serialises runs that must not interleave (two VF_UP events for one
    interface, two IP injections); waiting is bounded.
    """
    import fcntl
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


# ---------------------------------------------------------------------------
# resolv.conf(5)


def parse_nameservers(text):
    """The nameserver addresses of resolv.conf text, in file order.

    Comment lines, trailing comments, other keywords and anything that is not
    an IPv4 or IPv6 address (an IPv6 %scope suffix allowed) are skipped.
    """
    servers = []
    for line in text.splitlines():
        words = line.split(None, 2)
        if len(words) < 2 or words[0] != "nameserver":
            continue
        address = words[1]
        for mark in "#;":
            address = address.partition(mark)[0]
        if is_ip_address(address):
            servers.append(address)
    return servers


def is_ip_address(text):
    """True for a textual IPv4 or IPv6 address, as inet_pton(3) reads them."""
    if ":" in text:
        address, _, scope = text.partition("%")
        if "%" in text and not ((scope and valid_ifname(scope)) or scope.isdigit()):
            return False
        return _is_ipv6(address)
    return _is_ipv4(text)


def _is_ipv4(text):
    parts = text.split(".")
    return len(parts) == 4 and all(
        p.isascii()
        and p.isdigit()
        and len(p) <= 3
        and int(p) <= 255
        and (p == "0" or p[0] != "0")
        for p in parts
    )


def _is_ipv6(text):
    # Hand-written so that a read path does not pay for importing ipaddress.
    head, compressed, tail = text.partition("::")
    if "::" in tail or not text:
        return False
    words = (head.split(":") if head else []) + (tail.split(":") if tail else [])
    width = 0
    for i, word in enumerate(words):
        if i == len(words) - 1 and "." in word:
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

DEFAULT_RC_CONF_FILES = "/etc/rc.conf /etc/rc.conf.local"

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
    pos = 0
    size = len(text)
    lineno = 0
    while pos < size:
        eol = text.find("\n", pos)
        if eol < 0:
            eol = size
        lineno += 1
        line = text[pos:eol]
        body = line.lstrip(" \t")
        if not body or body[0] == "#":
            pos = eol + 1
            continue
        start = eol - len(body)
        simple = _simple_assignment(body)
        if simple is not None:
            name, value, length = simple
            assignments.append((name, value, start, start + length))
            pos = eol + 1
            continue
        scanner = _Scanner(text, start)
        try:
            scanner.commands(assignments)
        except _Unreadable as e:
            problems.append((lineno, str(e)))
            pos = eol + 1
            continue
        lineno += text.count("\n", eol, scanner.pos) - (scanner.pos > eol)
        pos = scanner.pos
    return assignments, problems


def _simple_assignment(body):
    # The fast path for the lines nearly every rc.conf is made of:
    # name=word, name="text" or name='text', then at most a comment.
    name, eq, rest = body.partition("=")
    if not (eq and name.isidentifier() and name.isascii()):
        return None
    first = rest[:1]
    if first in ('"', "'"):
        close = rest.find(first, 1)
        if close < 0:
            return None
        value = rest[1:close]
        if first == '"' and ("\\" in value or "$" in value or "`" in value):
            return None
        length = close + 1
    else:
        value = rest.split(" ", 1)[0].split("\t", 1)[0]
        if value.strip(_PLAIN):
            return None
        length = len(value)
    tail = rest[length:]
    if tail and not (tail[0] in " \t" and tail.lstrip(" \t")[:1] in ("", "#")):
        return None
    return name, value, len(name) + 1 + length


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
            name = self.name()
            if not name or self.peek() != "=":
                raise _Unreadable("a command, not an assignment")
            self.pos += 1
            value = self.word(_WORD_END)
            found.append((name, value, start, self.pos))

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
        start = self.pos
        if self.peek() not in _NAME_START:
            return ""
        while self.peek() and self.peek() in _NAME_CHARS:
            self.pos += 1
        return self.text[start : self.pos]

    def word(self, stop):
        parts = []
        while True:
            c = self.peek()
            if not c or c in stop:
                return _join_parts(parts)
            self.pos += 1
            if c == "\\":
                escaped = self.peek()
                self.pos += len(escaped)
                if escaped != "\n":
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
                parts.append(self.dollar())
            elif c == "`":
                raise _Unreadable("command substitution")
            else:
                parts.append(c)

    def double_quoted(self, parts):
        while True:
            c = self.peek()
            if not c:
                raise _Unreadable("unterminated double quote")
            self.pos += 1
            if c == '"':
                return
            if c == "\\":
                escaped = self.peek()
                if escaped in ("$", "`", '"', "\\", "\n"):
                    self.pos += 1
                    if escaped != "\n":
                        parts.append(escaped)
                else:
                    parts.append("\\")
            elif c == "$":
                parts.append(self.dollar())
            elif c == "`":
                raise _Unreadable("command substitution")
            else:
                parts.append(c)

    def dollar(self):
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
                    value = self.word(frozenset("}"))
                    if self.peek() != "}":
                        raise _Unreadable("unterminated ${...}")
                    self.pos += 1
                    return (name, op, value)
            raise _Unreadable("unsupported ${...} expansion")
        if c == "(":
            raise _Unreadable("command substitution")
        if c and c in _NAME_START:
            return (self.name(), "", "")
        if c and c in "0123456789@*#?$!-":
            raise _Unreadable(f"special parameter ${c}")
        return "$"


def _join_parts(parts):
    # Adjacent literal characters become one string; a value without
    # expansions becomes a plain str, the common case rc_evaluate skips.
    joined = []
    for part in parts:
        if part.__class__ is str and joined and joined[-1].__class__ is str:
            joined[-1] += part
        else:
            joined.append(part)
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
        env[name] = rc_expand(value, env)
    return env


def rc_conf_files(env):
    """The files of rc_conf_files, each once, in order.

    rc.subr expands rc_conf_files once, after /etc/defaults/rc.conf, so a
    value set in /etc/rc.conf itself does not change which files are read.
    """
    seen = []
    for path in env.get("rc_conf_files", DEFAULT_RC_CONF_FILES).split():
        if path not in seen:
            seen.append(path)
    return seen


def load_rc_conf(service="netif"):
    """The variables rc(8) sets for a service: defaults, rc_conf_files,
    then /etc/rc.conf.d/SERVICE (a file, or a directory of files)."""
    env = {}
    _source_rc("/etc/defaults/rc.conf", env)
    for path in rc_conf_files(env):
        _source_rc(path, env)
    confd = f"/etc/rc.conf.d/{service}"
    if os.path.isdir(root_path(confd)):
        for entry in sorted(os.listdir(root_path(confd))):
            if os.path.isfile(root_path(f"{confd}/{entry}")):
                _source_rc(f"{confd}/{entry}", env)
    else:
        _source_rc(confd, env)
    return env


def _source_rc(path, env):
    text = read_text(path)
    if text is None:
        return
    assignments, problems = parse_rc(text)
    for lineno, reason in problems:
        warn(f"{path}:{lineno}: skipped: {reason}")
    rc_evaluate(assignments, env)


# What network.subr makes of the variables.

_NOT_DHCP = ("lo", "stf", "lp", "sl")
_NO_ADDRESS_FAMILY = (
    "pflog", "pfsync", "usbus", "an", "ath", "ipw", "ipfw",
    "iwi", "iwn", "ral", "wi", "wl", "wpi",
)  # fmt: skip
_PSEUDO_WORDS = frozenset(("dhcp", "noauto", "syncdhcp", "nosyncdhcp", "wpa", "hostap"))


def rc_ifvar(ifname, suffix=""):
    """The rc.conf variable for an interface: ifconfig_vlan0_100 for vlan0.100."""
    for c in ".-/+":
        ifname = ifname.replace(c, "_")
    return f"ifconfig_{ifname}{suffix}"


def rc_ifconfig(env, ifname, suffix=""):
    """ifconfig_IF[suffix], or ifconfig_DEFAULT only when that is unset."""
    value = env.get(rc_ifvar(ifname, suffix))
    return env.get("ifconfig_DEFAULT", "") if value is None else value


def _words(value):
    # sh field splitting with the default IFS.
    return value.replace("\t", " ").replace("\n", " ").split(" ")


def _is_family(ifname, prefixes):
    # network.subr's case patterns such as lo[0-9]*: a prefix, then a digit.
    return any(
        ifname.startswith(p) and ifname[len(p) : len(p) + 1].isdigit() for p in prefixes
    )


def is_dhcp_interface(env, ifname):
    """network.subr's dhcpif: one word of the value is DHCP, SYNCDHCP or
    NOSYNCDHCP, and the interface is not of a family that cannot do DHCP."""
    if _is_family(ifname, _NOT_DHCP) or _is_family(ifname, _NO_ADDRESS_FAMILY):
        return False
    words = _words(rc_ifconfig(env, ifname))
    return any(w.lower() in ("dhcp", "syncdhcp", "nosyncdhcp") for w in words)


def is_sync_dhcp(env, ifname):
    """network.subr's syncdhcpif: SYNCDHCP or NOSYNCDHCP, the first found,
    else synchronous_dhclient."""
    if _is_family(ifname, _NO_ADDRESS_FAMILY):
        return False
    for word in _words(rc_ifconfig(env, ifname)):
        if word.lower() == "syncdhcp":
            return True
        if word.lower() == "nosyncdhcp":
            return False
    return checkyesno(env.get("synchronous_dhclient", ""))


def checkyesno(value):
    """rc.subr's checkyesno: YES, TRUE, ON or 1 in any letter case."""
    return value.lower() in ("yes", "true", "on", "1")


def ifconfig_args(env, ifname, suffix=""):
    """network.subr's ifconfig_getargs: the words of ifconfig_IF[suffix] minus
    the pseudo words (DHCP, NOAUTO, SYNCDHCP, NOSYNCDHCP, WPA, HOSTAP) and
    minus "vnet NAME" pairs."""
    args = []
    skip_next = False
    for word in _words(rc_ifconfig(env, ifname, suffix)):
        if not word or word.lower() in _PSEUDO_WORDS:
            continue
        if skip_next:
            skip_next = False
        elif word == "vnet":
            skip_next = True
        else:
            args.append(word)
    return args


# ---------------------------------------------------------------------------
# ifconfig(8) output


class Interface:
    """One interface as ifconfig(8) shows it."""

    __slots__ = (
        "ether", "flags", "groups", "inet", "inet6", "laggports",
        "laggproto", "mtu", "name",
    )  # fmt: skip

    def __init__(self, name, flags, mtu):
        self.name = name
        self.flags = flags  # {"UP", "BROADCAST", ...}
        self.mtu = mtu
        self.ether = None
        self.inet = []  # [(address, prefixlen)]
        self.inet6 = []  # [(address without %scope, prefixlen)]
        self.laggproto = None
        self.laggports = []
        self.groups = []


def parse_ifconfig(text):
    """{name: Interface} from the output of ifconfig(8), in its order."""
    interfaces = {}
    current = None
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if line[0] not in " \t":
            name, _, rest = line.partition(": ")
            flags = rest.partition("<")[2].partition(">")[0]
            mtu = _word_after(words, "mtu")
            current = interfaces[name.rstrip(":")] = Interface(
                name.rstrip(":"),
                set(flags.split(",")) - {""},
                int(mtu) if mtu and mtu.isdigit() else None,
            )
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
    elif key == "inet6" and len(words) > 1:
        prefixlen = _word_after(words, "prefixlen") or "128"
        interface.inet6.append((words[1].partition("%")[0], int(prefixlen)))
    elif key == "laggproto" and len(words) > 1:
        interface.laggproto = words[1]
    elif key == "laggport:" and len(words) > 1:
        interface.laggports.append(words[1])
    elif key == "groups:":
        interface.groups = words[1:]


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
    env = load_rc_conf()
    sys.stdout.write("Enabled\n" if is_dhcp_interface(env, ifname) else "Disabled\n")
    return EX_OK


# ---------------------------------------------------------------------------
# Installing: copy the program into a directory and link the applets to it,
# keeping whatever stood at a link's place (the base system's script).

PROGRAM = "hvtools"


def install(program, directory):
    """hvtools --install DIR: DIR/hvtools plus a symlink per applet."""
    source = _own_archive(program)
    target = f"{directory.rstrip('/')}/{PROGRAM}"
    real = root_path(target)
    links = [os.path.join(os.path.dirname(real), name) for name in linked_applets()]
    for link in links:
        if _in_the_way(link) and os.path.lexists(link + ".orig"):
            raise Failure(
                EX_CANTCREAT, f"{link}: in the way, and {link}.orig exists already"
            )
    os.makedirs(os.path.dirname(real), 0o755, exist_ok=True)
    if not (os.path.exists(real) and os.path.samefile(source, real)):
        with open(source, "rb") as f:
            write_file(target, f.read(), mode=0o555)
    for link in links:
        _place_link(link)
    return EX_OK


def uninstall(directory):
    """hvtools --uninstall DIR: remove what --install made, restore NAME.orig."""
    real_dir = root_path(directory)
    for name in linked_applets():
        link = os.path.join(real_dir, name)
        if os.path.islink(link) and os.readlink(link) == PROGRAM:
            os.unlink(link)
        if os.path.lexists(link + ".orig") and not os.path.lexists(link):
            os.rename(link + ".orig", link)
    program = os.path.join(real_dir, PROGRAM)
    if os.path.lexists(program):
        os.unlink(program)
    return EX_OK


def _own_archive(program):
    # Only the built zipapp can be installed: a copied hvtools.py would not
    # run when the KVP daemon hands it to sh.
    path = os.path.realpath(program)
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:
        raise Failure(EX_NOINPUT, f"{program}: {e.strerror}") from None
    import zipfile

    if head != b"#!/bin/sh" or not zipfile.is_zipfile(path):
        raise Failure(EX_USAGE, "--install needs the built program (python3 build.py)")
    return path


def _in_the_way(link):
    # Anything but our own link: the base system's script, or another link.
    return os.path.lexists(link) and not (
        os.path.islink(link) and os.readlink(link) == PROGRAM
    )


def _place_link(link):
    if os.path.islink(link) and os.readlink(link) == PROGRAM:
        return
    if os.path.lexists(link):
        os.rename(link, link + ".orig")
    temporary = f"{link}.hvtools-{os.getpid()}"
    os.symlink(PROGRAM, temporary)
    os.replace(temporary, link)


def write_file(path, data, mode=None):
    """Replace a system file atomically, keeping its mode and owner.

    The data goes to a temporary file in the same directory, is synced, then
    renamed over the old file: a reader sees the old or the new file, whole.
    A new file gets mode (default 0644).
    """
    real = root_path(path)
    try:
        old = os.stat(real)
    except FileNotFoundError:
        old = None
    temporary = os.path.join(
        os.path.dirname(real), f".{os.path.basename(real)}.hvtools-{os.getpid()}"
    )
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_EXCL, 0o600)
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
        os.replace(temporary, real)
    except BaseException:
        _unlink_quietly(temporary)
        raise
    _sync_directory(os.path.dirname(real))


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
}


def linked_applets():
    return [name for name, applet in APPLETS.items() if applet.linked]


def usage_text():
    lines = [
        f"usage: {PROGRAM} APPLET [ARG ...]",
        f"       {PROGRAM} --list | --help | --version",
        f"       {PROGRAM} --install DIR | --uninstall DIR",
        "",
        "Applets:",
    ]
    for name, applet in APPLETS.items():
        lines.append(f"  {(name + ' ' + applet.usage).strip():26} {applet.summary}")
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
        sys.stdout.write(f"usage: {name} {applet.usage}".rstrip() + "\n")
        sys.stdout.write(f"{applet.summary}\n")
        return EX_OK
    return applet.entry(args)


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
        sys.stdout.write(f"{PROGRAM} {__version__}\n")
    elif option == "--list":
        sys.stdout.write("".join(f"{name}\n" for name in APPLETS))
    elif option in ("--install", "--uninstall"):
        if len(rest) != 1:
            raise Failure(EX_USAGE, f"usage: {PROGRAM} {option} DIR")
        if option == "--install":
            return install(program, rest[0])
        return uninstall(rest[0])
    else:
        raise Failure(
            EX_USAGE,
            f"unknown applet or option {option!r} ({PROGRAM} --list shows them)",
        )
    return EX_OK


def main(argv=None):
    """Run the applet named by argv[0], or by argv[1] when argv[0] is hvtools."""
    argv = sys.argv if argv is None else argv
    program = argv[0] if argv else PROGRAM
    name = os.path.basename(program)
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


if __name__ == "__main__":
    sys.exit(main())
