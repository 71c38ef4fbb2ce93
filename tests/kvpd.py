"""kvpd: FreeBSD 12.1's hv_kvp_daemon, built unmodified, as a test oracle,
and a fake Hyper-V host to talk to it.

build() compiles the shared tree's hyperv/hv_kvp_daemon.c as it is, with
gcc and a compatibility layer of ours (tests/kvpcompat.h, forced in with
-include; tests/kvpcompat.c; tests/kvpcompat/net/): FreeBSD's headers and
library functions that Linux lacks, getifaddrs(3) answering from the
simulator's ifconfig, /dev/hv_kvp_dev played by a socket.  No compiler is
a failure, never a skip.

Daemon(root, program) starts it chroot(8)ed into a test root by
tests/freebsdsh.py (started()), as devd starts it (sbin/devd/hyperv.conf:
action "/usr/sbin/hv_kvp_daemon" when /dev/hv_kvp_dev appears): no flags,
so it calls daemon(3) (the shim keeps it this process's child) and logs to
syslog, the root's /var/run/log.  Whatever it runs ("sh
/usr/libexec/hyperv/hv_get_dns_info", `netstat -rn | grep IF | awk ...`)
is the root's.  The Daemon object is the other end of the device: it
plays the kernel's hv_kvp(4) (sys/dev/hyperv/utilities/hv_kvp.c) and the
host behind it, and hands requests to the daemon in the form the kernel
gives them (hv_kvp_convert_hostmsg_to_usermsg()): UTF-8 strings, the
adapter of a SET_IP_INFO already turned from the host's GUID into its hn
name (hv_kvp_convert_utf16_ipinfo_to_utf8()), the MAC of a GET_IP_INFO as
the host sends it ("00:15:5D:0A:0B:0C").  Like the kernel, it waits 5 s for
an answer (hv_kvp_process_request(): tsleep(... 5 * hz)), then fails the
host's request with HV_E_FAIL.
"""

import os
import select
import shutil
import socket
import struct
import subprocess
import tempfile
import time

import freebsdsh

TESTS = os.path.dirname(os.path.abspath(__file__))
HYPERV = os.path.join(freebsdsh.FREEBSD, "hyperv")
DAEMON = "hv_kvp_daemon"
PROBE = "kvpprobe"

# hv_kvp.h
OP_GET_IP_INFO = 4
OP_SET_IP_INFO = 5
OP_REGISTER = 4  # HV_KVP_OP_REGISTER, the daemon's first write
ADDR_FAMILY_IPV4 = 0x01
ADDR_FAMILY_IPV6 = 0x02
# hv_utilreg.h
HV_S_OK = 0x00000000
HV_E_FAIL = 0x80004005

# struct hv_kvp_msg, packed: a 4-byte header (operation, pool, pad; its
# error field on the way back), then the body; struct hv_kvp_ipaddr_value's
# uint16_t arrays carry UTF-8 strings between the kernel and the daemon.
# Offsets within the body; test_kvp_daemon checks them against gcc.
LAYOUT = {
    "msg": 7430,
    "body": 4,
    "operation": 0,
    "pool": 1,
    "ipaddr_value": 7426,
    "adapter_id": 0,
    "addr_family": 256,
    "dhcp_enabled": 257,
    "ip_addr": 258,
    "sub_net": 2306,
    "gate_way": 4354,
    "dns_addr": 5378,
}
STRINGS = {  # field: size in bytes (MAX_*_SIZE uint16_t)
    "adapter_id": 256,
    "ip_addr": 2048,
    "sub_net": 2048,
    "gate_way": 1024,
    "dns_addr": 2048,
}
KERNEL_WAIT = 5.0


def build(outdir):
    """Compile the daemon and the layout probe into outdir; return outdir."""
    compat = os.path.join(TESTS, "kvpcompat")
    common = ["gcc", "-std=gnu99", "-O1", "-U_FORTIFY_SOURCE", "-Wall"]
    daemon_o = os.path.join(outdir, "hv_kvp_daemon.o")
    compat_o = os.path.join(outdir, "kvpcompat.o")
    steps = [
        # The daemon's own warnings (set but unused variables) are its own.
        [*common, "-Wno-unused-but-set-variable", "-I", compat, "-include",
         os.path.join(TESTS, "kvpcompat.h"), "-I", HYPERV, "-c",
         os.path.join(HYPERV, "hv_kvp_daemon.c"), "-o", daemon_o],
        [*common, "-Werror", "-I", compat, "-c",
         os.path.join(TESTS, "kvpcompat.c"), "-o", compat_o],
        ["gcc", "-o", os.path.join(outdir, DAEMON), daemon_o, compat_o],
        [*common, "-Werror", "-I", HYPERV, os.path.join(TESTS, "kvpprobe.c"),
         "-o", os.path.join(outdir, PROBE)],
    ]  # fmt: skip
    for argv in steps:
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}:\n{result.stderr}")
    return outdir


def probe_layout(outdir):
    """The probe's NAME VALUE lines: struct hv_kvp_msg as gcc lays it out."""
    output = subprocess.run(
        [os.path.join(outdir, PROBE)], capture_output=True, text=True, check=True
    ).stdout
    return {
        name: int(value)
        for name, value in (line.split() for line in output.splitlines())
    }


def pack_ip_info(operation, adapter="", family=0, dhcp=False, **strings):
    """A request as the kernel hands it to the daemon: struct hv_kvp_msg
    with an hv_kvp_ipaddr_value body; strings: ip_addr, sub_net, gate_way,
    dns_addr (UTF-8, NUL-terminated)."""
    msg = bytearray(LAYOUT["msg"])
    msg[LAYOUT["operation"]] = operation
    body = LAYOUT["body"]
    for name, text in {"adapter_id": adapter, **strings}.items():
        data = text.encode()
        if len(data) >= STRINGS[name]:
            raise ValueError(f"{name}: {len(data)} bytes, too long")
        at = body + LAYOUT[name]
        msg[at : at + len(data)] = data
    msg[body + LAYOUT["addr_family"]] = family
    msg[body + LAYOUT["dhcp_enabled"]] = int(dhcp)
    return bytes(msg)


class IpInfo:
    """The daemon's answer: error (hdr.error) and the hv_kvp_ipaddr_value
    as it filled it in (strings up to their NUL, "A;B;" as it writes them)."""

    def __init__(self, msg):
        (self.error,) = struct.unpack_from("<I", msg, 0)
        body = LAYOUT["body"]
        self.addr_family = msg[body + LAYOUT["addr_family"]]
        self.dhcp_enabled = msg[body + LAYOUT["dhcp_enabled"]]
        for name, size in STRINGS.items():
            at = body + LAYOUT[name]
            raw = msg[at : at + size]
            setattr(self, name, raw[: raw.find(b"\0")].decode())

    def fields(self):
        return {
            "error": self.error,
            "addr_family": self.addr_family,
            "dhcp_enabled": self.dhcp_enabled,
            **{name: getattr(self, name) for name in STRINGS if name != "adapter_id"},
        }


class Stuck(AssertionError):
    """The daemon has not answered a request the kernel gave up on."""


class Daemon:
    """hv_kvp_daemon running in root (a context manager).  The daemon makes
    /var/db/hyperv/pool but not its parent: make_var_db_hyperv()."""

    def __init__(self, root, program_dir):
        self.root = root
        self.program_dir = str(program_dir)
        self.stuck = False
        self.elapsed = None

    def __enter__(self):
        self.sock, daemon_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.stderr = tempfile.TemporaryFile()
        env = {
            "PATH": "/sbin:/bin:/usr/sbin:/usr/bin",
            "KVPCOMPAT_DEV_FD": str(daemon_end.fileno()),
        }
        self._started = freebsdsh.started(
            self.root,
            [os.path.join(self.program_dir, DAEMON)],
            env=env,
            binds=[self.program_dir],
            pass_fds=[daemon_end.fileno()],
            stdin=subprocess.DEVNULL,
            stdout=self.stderr,
            stderr=self.stderr,
        )
        try:
            self.process = self._started.__enter__()
        finally:
            daemon_end.close()
        try:
            register = self._receive(KERNEL_WAIT)
            if register is None or register[LAYOUT["operation"]] != OP_REGISTER:
                raise AssertionError(f"no REGISTER from the daemon: {self._why()}")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            self._started.__exit__(*exc)
        finally:
            self.sock.close()
            self.stderr.close()

    def _why(self):
        self.stderr.seek(0)
        status = self.process.poll()
        return f"exit status {status}, output {self.stderr.read()!r}"

    def _receive(self, timeout):
        if not select.select([self.sock], [], [], timeout)[0]:
            return None
        data = self.sock.recv(LAYOUT["msg"] + 1)
        if not data:
            raise AssertionError(f"the daemon closed the device: {self._why()}")
        return data

    def exchange(self, msg):
        """Hand msg to the daemon, wait for its answer as the kernel does:
        the answer, or None when it has not come within 5 s (the host then
        gets HV_E_FAIL); self.elapsed: the seconds it took."""
        if self.stuck:
            raise Stuck("the daemon still works on a request the kernel gave up on")
        start = time.monotonic()
        self.sock.send(msg)
        answer = self._receive(KERNEL_WAIT)
        self.elapsed = time.monotonic() - start
        if answer is None:
            self.stuck = True
            return None
        if len(answer) != LAYOUT["msg"]:
            raise AssertionError(f"{len(answer)} bytes from the daemon")
        return answer

    def get_ip_info(self, mac, family=0):
        """GET_IP_INFO for the adapter with this MAC: an IpInfo; error
        HV_E_FAIL when the kernel stopped waiting."""
        answer = self.exchange(pack_ip_info(OP_GET_IP_INFO, mac.upper(), family))
        if answer is None:
            return IpInfo(struct.pack("<I", HV_E_FAIL) + bytes(LAYOUT["msg"] - 4))
        return IpInfo(answer)

    def set_ip_info(self, adapter, dhcp=False, family=None, **strings):
        """SET_IP_INFO for the adapter (an hn name, as the kernel hands it
        on); strings as pack_ip_info().  Returns the status the host gets."""
        if family is None:
            family = ADDR_FAMILY_IPV4
            if ":" in strings.get("ip_addr", ""):
                family |= ADDR_FAMILY_IPV6
        msg = pack_ip_info(OP_SET_IP_INFO, adapter, family, dhcp, **strings)
        answer = self.exchange(msg)
        if answer is None:
            return HV_E_FAIL
        return struct.unpack_from("<I", answer, 0)[0]


def make_var_db_hyperv(root):
    """/var/db/hyperv as etc/mtree/BSD.var.dist makes it (mode 0700)."""
    os.makedirs(os.path.join(str(root), "var/db/hyperv"), mode=0o700, exist_ok=True)


ORIGINALS = ("hv_get_dhcp_info", "hv_get_dns_info", "hv_set_ifconfig")


def install_original_scripts(root, names=ORIGINALS):
    """FreeBSD 12.1's own helpers where it installs them, /usr/libexec/hyperv
    (libexec/hyperv/Makefile: SCRIPTS, mode 555)."""
    libexec = os.path.join(str(root), "usr/libexec/hyperv")
    os.makedirs(libexec, exist_ok=True)
    for name in names:
        shutil.copyfile(os.path.join(HYPERV, name), os.path.join(libexec, name))
        os.chmod(os.path.join(libexec, name), 0o555)
