"""fakebsd: a simulated FreeBSD network stack for the hvtools test-suite.

This is test code.  It models what hvtools touches on a FreeBSD 14 Hyper-V
guest closely enough that an applet which works here should work there:
ifconfig(8), sysctl(8), route(8), netstat(1) -rn, dhclient(8),
pkill(1)/pgrep(1)/kill(1), rtsol(8), lagg(4), hn(4) with its network VFs,
and the devd(8) events the kernel raises.  Messages, output formats and exit
statuses follow FreeBSD's sources (the comments at each say which); it must
never be bent to make hvtools pass.

Files
-----
``$ROOT/var/db/fakebsd/state.json`` holds the whole simulated kernel;
``$ROOT/var/db/fakebsd/lock`` is flock(2)ed exclusively by every program call
and every API call for its whole read-modify-write (the state file is
replaced by rename), so concurrent calls are serialised.  ``install()``
writes the programs /sbin/ifconfig, /sbin/sysctl, /sbin/route,
/sbin/dhclient, /sbin/rtsol, /bin/pkill, /bin/pgrep, /bin/kill and
/usr/bin/netstat into $ROOT as sh wrappers: ``exec PYTHON -I -S
.../fakebsd.py "$0" "$@"``, and /dev/null, which a running system's devfs
has and an image's /dev lacks.
main() takes the program path first; root is the path without the
program's place (HVTOOLS_ROOT is not used; "/" when run chroot(8)ed into
the root, as tests/freebsdsh.py does).  dhclient writes its pid file; on a
lease event it runs the root's /sbin/dhclient-script when there is one
(FreeBSD's own, installed by a test), else its model writes the lease's DNS
servers to $ROOT/etc/resolv.conf.

The model
---------
* Interfaces, in creation order, each with the lowest free kernel index (as
  if_alloc() picks).  The default kernel has lo0 (127.0.0.1/8, ::1,
  fe80::1%lo0, index 1).  NICs are attached by the test (add_interface).
* IPv6 follows the kernel defaults: nd6 options PERFORMNUD, IFDISABLED,
  AUTO_LINKLOCAL; the EUI-64 link-local address appears when the interface
  is up and IFDISABLED is clear.  Adding an inet6 address clears IFDISABLED
  (in6_control does).  So add_interface(..., inet6=[...]) gets a link-local
  address and one without inet6 does not (unless ifdisabled=False), as on
  an rc(8)-configured FreeBSD.  `inet6 ifdisabled` deletes no address
  but marks them tentative (shown so) until IPv6 is enabled again on an up
  interface; `inet6 PREFIX:: eui64` takes the low 64 bits of the
  interface's link-local address.  rtsol(8) is one-shot: on an interface
  with IPv6 enabled and accept_rtadv, the router advertisement the test set
  (set_router_advertisement) gives an autoconf address and, when there is
  no IPv6 default route, the router as one; none set: nothing.
* Setting an address marks the interface UP (ether_ioctl SIOCSIFADDR)
  without if_up(), so without VF_UP.  `inet A` without alias deletes the
  first IPv4 address and appends A; inet without a mask warns and takes the
  classful mask (FreeBSD 14).
* Link: hn(4) reports the host's link whether it is up or down, and
  pretends it is down while its VF carries the traffic; other NICs have a
  link only while up (and set_carrier(name, True)); a lagg has a link when
  a port has one.  LOWER_UP and "status:" follow the link.
* lagg(4) (lagg_port_create/lagg_port_destroy): default protocol failover,
  lagghash l2,l3,l4; ports listed in if_index order; the first port added
  is the primary (MASTER) and lends its MAC to the lagg, and the lagg's MAC
  is pushed to every port; when the primary leaves, the first remaining
  port becomes primary and its own MAC goes to the lagg and all ports.
  Failover marks ACTIVE the primary if it is up with link, else the first
  port that is.  A port belongs to one lagg; a port with a link-local
  address and IPv6 enabled loses all its inet6 addresses, and the routers
  learned on it, when added.  ifconfig treats a refused laggport as a
  warning ("ifconfig: lagg0 hn1: SIOCSLAGGPORT: Device busy"), goes on
  with the other options and exits 1.
* hn(4) VFs: add_vf(hn, vf) attaches a VF with hn's MAC, sets dev.hn.N.vf,
  hw.hn.vflist ("mce0 ...") and hw.hn.vfmap ("mce0:hn0 ...", both in VF
  index order) and raises ETHERNET/IFATTACH.  Non-transparent mode
  (hw.hn.vf_transparent 0 or absent): the VF's down->up transition raises
  HYPERV_NIC_VF/VF_UP for hnN, up->down (or its detach while up) VF_DOWN.
  Transparent mode: the kernel brings the VF up at attach, no VF_UP/DOWN.
* devd events are queued, never delivered (events(), pop_events()):
  ETHERNET IFATTACH/IFDETACH (ether_ifattach/ether_ifdetach: NICs, VFs and
  lagg/vlan clones), HYPERV_NIC_VF VF_UP/VF_DOWN, and IFNET LINK_UP/
  LINK_DOWN of an hn(4) whose link state changes (the host's link,
  set_carrier(); its VF taking the traffic or giving it back), after the
  VF event (if_link_state_change() defers it to a task).  Nothing else:
  not an hn's first LINK_UP at attach (tests run rc.d/dhclient quietstart
  for it, as tests/test_boot.py does), nor other drivers' link events.
* Routes: gateway routes (connected routes are implied by addresses).  A
  gateway must lie in a prefix of an interface (ifa_ifwithnet(): the most
  specific, the first of equals); that address becomes the route's source
  address (rt_ifa), and deleting an IPv4 address deletes every route with
  it as source, static ones too (in_ifadown()); deleting an IPv6 address
  deletes no gateway route.  Routes through an interface go with it.
  route(8) is route.c's routing-socket back end: verdicts on stdout ("add
  net default: gateway G", failing: "add net default: gateway G fib 0:
  route already in table" / "not in table" / "Network is unreachable",
  exit 1), rtmsg()'s warnings on stderr ("route: route has not been
  found", "route: writing to routing socket: Network is unreachable");
  `route get` of a missing route: only that warning, exit 255.
  `netstat -rn` (also -4/-6/-f inet|inet6) prints the routing tables as
  route.c does with -n: per family with routes, "Internet:"/"Internet6:",
  the header "Destination Gateway Flags Netif Expire" (widths 18/18 for
  inet, 33/29 for inet6; a wider field pushes the next one) and the rows,
  in address order: gateway routes ("default"), and for each address of
  an up interface a prefix route (link#INDEX, U) and a local route (UHS,
  netif lo0; lo0's own IPv4 address: UH, no prefix route).  The routes
  rc(8) would add (::/96 reject and the like) are not there.  An operand
  is a kernel image (main.c, BACKWARD_COMPATIBILITY): nothing printed.
* Processes: a fake table; pids start at 50000 and are never real.
  dhclient adds one ("dhclient: IF", name dhclient); pkill/pgrep/kill see
  only this table.  A signal whose default action terminates removes the
  process; its pid file stays.  dhclient follows its main(): pid file lock
  (another fake dhclient holding that pid file: "dhclient already running,
  pid: N." "exiting.", exit 1), pid file written, link check (no link:
  with or without -b, it waits 11 s, scaled down: set_link_wait(), default
  LINK_WAIT, without holding the state lock; "IF: no link ...........
  giving up", exit 1, pid file left; a link that comes up meanwhile is not
  modelled), PREINIT `ifconfig IF up`,
  interface lookup ("IF: not found"), then the lease set by set_lease() is
  bound at once (a DHCP server that answers at once).  With no lease (no
  server answers) a dhclient without -b stays in the foreground for the
  dhclient.conf(5) timeout (scaled down: set_dhcp_timeout(), default
  DHCP_TIMEOUT), without holding the state lock, then state_panic()'s notes,
  the script's FAIL and go_daemon(): it returns 0, its process left
  running; with -b it returns at once (the later FAIL of the daemon is not
  modelled).  Binding (BOUND) and
  renew() (RENEW) are lease events: with an executable $ROOT/sbin/
  dhclient-script, dhclient runs it with the environment dhclient.c gives it
  (dhclient_script_env()), through tests/freebsdsh.py, after releasing the
  state lock; without one, a model of its BOUND case: ifconfig IF inet A
  netmask M; route add default R unless a default route exists;
  resolv.conf written.  Either way the lease is recorded in
  /var/db/dhclient.leases.IF.
* Default kernel: kern.vm_guest="hv" (read-only), hw.hn.vf_transparent=0
  (a read-only loader tunable; the driver's own default is 1, so this is a
  VM whose loader.conf sets 0), hw.hn.vflist="" and hw.hn.vfmap=""
  (read-only), dev.hn.N.vf="" for each hn.  old_kernel() removes all of
  these VF OIDs; set_transparent(1) makes the kernel transparent.
  kern.features.inet=1 and kern.features.inet6=1 (read-only): a kernel
  with INET and INET6, as GENERIC; user.localbase="/usr/local".
* Every call is logged: argv (basename first), status, stdout, stderr and
  "mutating" (it changed, or would have changed, the state: all but
  showing/listing ifconfig, sysctl reads, route get, pgrep, pkill/kill that
  matched nothing).  ifconfig applies its options in order and stops at the
  first fatal error, keeping what it did before, as FreeBSD's does; parse
  errors come before any effect.  A failure injected with fail() changes
  nothing.

Python API (same state, same lock; dicts returned are copies)
-----------------------------------------------------------
  FakeBSD(root); .install() -> self
  Setup:
    add_interface(name, ether=None, inet=(), inet6=(), up=True, mtu=1500,
                  ifdisabled=None, carrier=True) -> dict
        inet "10.0.0.4/24", inet6 "2001:db8::4/64"; ether default: a
        stable 00:15:5d:xx:xx:xx; raises ETHERNET/IFATTACH.
    add_vf(hn, vf); detach_vf(vf); set_transparent(flag); old_kernel()
    set_sysctl(name, value, access=None)   access "rw"|"ro"|"tunable"
        (default: keep, or "rw" for a new OID); int value = numeric OID
    remove_sysctl(name); set_carrier(name, flag)
    add_route(destination, gateway, interface, inet6=False)
    add_carp(interface, address_with_len, vhid)   "vhid N" in ifconfig
    add_slaac(interface, address_with_len)        "autoconf" in ifconfig
    set_router_advertisement(interface, prefix=None, router=None)
    set_lease(interface, address_with_len, router=None, dns=(), domain=None)
    start_dhclient(interface, pidfile="new"|"old") -> pid
    set_dhcp_timeout(seconds)   how long a foreground dhclient waits
    set_link_wait(seconds)      how long dhclient waits for a link
    renew(interface) -> dhclient-script's (status, stdout, stderr) or None
    add_process(pid, command)
    fail(command_prefix, stderr, status=1, times=None); clear_failures()
  Inspection:
    state() -> dict; interface(name) -> dict or None; sysctl(name) -> value
    ifconfig_text(name=None) -> exactly what `ifconfig [name]` prints
    calls() / mutating_calls() -> [{"argv": [...], "status": n}]
    call_times(argv) -> [time.monotonic() of each call of argv]
    events() / pop_events() -> [{"system", "subsystem", "type"}]
    routes() -> [{"destination", "gateway", "interface", "inet6", "flags"}]
    dhclients() -> {interface: pid}; processes() -> {pid: command}
  An interface dict has at least: name, index, driver, ether, hwaddr (own
  MAC), up (bool), carrier, mtu, inet [{"address", "prefixlen"}], inet6
  [{"address", "prefixlen"}], nd6 (int), groups, laggdev (its lagg or
  None), lagg ({"proto", "ports", "primary"} for a lagg), rxvf.
"""

import fcntl
import os
import sys
import time

STATE_DIR = "var/db/fakebsd"
PROGRAMS = (
    "sbin/ifconfig",
    "sbin/sysctl",
    "sbin/route",
    "sbin/dhclient",
    "bin/pkill",
    "bin/pgrep",
    "bin/kill",
    "usr/bin/netstat",
    "sbin/rtsol",
)
FIRST_PID = 50000

# errno texts, as FreeBSD's strerror(3) spells them
EEXIST = "File exists"
EINVAL = "Invalid argument"
ENOENT = "No such file or directory"
EBUSY = "Device busy"
ESRCH = "No such process"
EADDRNOTAVAIL = "Can't assign requested address"
ENETUNREACH = "Network is unreachable"
EPROTONOSUPPORT = "Protocol not supported"
ENXIO = "Device not configured"

IFF_BITS = (
    (0x1, "UP"),
    (0x2, "BROADCAST"),
    (0x4, "DEBUG"),
    (0x8, "LOOPBACK"),
    (0x10, "POINTOPOINT"),
    (0x40, "RUNNING"),
    (0x80, "NOARP"),
    (0x100, "PROMISC"),
    (0x200, "ALLMULTI"),
    (0x800, "SIMPLEX"),
    (0x8000, "MULTICAST"),
    (0x1000000, "LOWER_UP"),
)
IFCAP_BITS = (
    (0x1, "RXCSUM"),
    (0x2, "TXCSUM"),
    (0x8, "VLAN_MTU"),
    (0x10, "VLAN_HWTAGGING"),
    (0x20, "JUMBO_MTU"),
    (0x80, "VLAN_HWCSUM"),
    (0x100, "TSO4"),
    (0x200, "TSO6"),
    (0x400, "LRO"),
    (0x80000, "LINKSTATE"),
    (0x200000, "RXCSUM_IPV6"),
    (0x400000, "TXCSUM_IPV6"),
)
ND6_BITS = (
    (0x1, "PERFORMNUD"),
    (0x2, "ACCEPT_RTADV"),
    (0x4, "PREFER_SOURCE"),
    (0x8, "IFDISABLED"),
    (0x10, "DONT_SET_IFROUTE"),
    (0x20, "AUTO_LINKLOCAL"),
    (0x40, "NO_RADR"),
    (0x80, "NO_PREFER_IFACE"),
    (0x100, "NO_DAD"),
)
ND6_FLAG_WORDS = {
    "nud": 0x1,
    "perform_nud": 0x1,
    "accept_rtadv": 0x2,
    "prefer_source": 0x4,
    "ifdisabled": 0x8,
    "auto_linklocal": 0x20,
    "no_radr": 0x40,
    "no_prefer_iface": 0x80,
    "no_dad": 0x100,
}
ND6_DEFAULT = 0x1 | 0x8 | 0x20  # nd6_ifattach(): PERFORMNUD, IFDISABLED, AUTO_LL
LAGG_PORT_BITS = ((0x1, "MASTER"), (0x2, "STACK"), (0x4, "ACTIVE"))
LAGG_PROTOS = ("none", "roundrobin", "failover", "loadbalance", "lacp", "broadcast")
CLONERS = ("lagg", "vlan", "lo")
# Capabilities and media per driver (what the real drivers report).
DRIVER_OPTIONS = {
    "hn": 0x80018,  # VLAN_MTU,VLAN_HWTAGGING,LINKSTATE
    "mce": 0x80018 | 0x1 | 0x2 | 0x100 | 0x400,
    "lo": 0x680003,
}
DRIVER_MEDIA = {
    "hn": "10Gbase-T <full-duplex>",
    "mce": "50GBase-KR4 <full-duplex,rxpause,txpause>",
}
# Signals: name -> number; those whose default action terminates.
SIGNALS = {
    "HUP": 1, "INT": 2, "QUIT": 3, "ILL": 4, "TRAP": 5, "ABRT": 6, "EMT": 7,
    "FPE": 8, "KILL": 9, "BUS": 10, "SEGV": 11, "SYS": 12, "PIPE": 13,
    "ALRM": 14, "TERM": 15, "URG": 16, "STOP": 17, "TSTP": 18, "CONT": 19,
    "CHLD": 20, "TTIN": 21, "TTOU": 22, "IO": 23, "XCPU": 24, "XFSZ": 25,
    "VTALRM": 26, "PROF": 27, "WINCH": 28, "INFO": 29, "USR1": 30, "USR2": 31,
}  # fmt: skip
NON_TERMINATING = {0, 16, 17, 18, 19, 20, 21, 22, 23, 28, 29}


class Exit(Exception):
    """err(3)/errx(3): stop the program with this status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


# ---------------------------------------------------------------------------
# Addresses


def inet_aton(text):
    """inet_aton(3): a.b.c.d, a.b.c, a.b or a, parts decimal, octal or hex."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                value = int(part[2:], 16) if part[2:] else 0
            elif len(part) > 1 and part[0] == "0":
                value = int(part[1:], 8)
            else:
                value = int(part, 10)
        except ValueError:
            return None
        if not part or value < 0 or part[0] in "+-":
            return None
        values.append(value)
    last_bits = 8 * (5 - len(values))
    if any(v > 255 for v in values[:-1]) or values[-1] >= 1 << last_bits:
        return None
    result = 0
    for v in values[:-1]:
        result = (result << 8) | v
    return (result << last_bits) | values[-1]


def ntoa(value):
    return ".".join(str((value >> s) & 255) for s in (24, 16, 8, 0))


def plen_mask(plen):
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def mask_plen(mask):
    return bin(mask).count("1")


def inet6_pton(text):
    import _socket

    try:
        return _socket.inet_pton(_socket.AF_INET6, text)
    except (OSError, ValueError):
        return None


def inet6_ntop(packed):
    import _socket

    return _socket.inet_ntop(_socket.AF_INET6, packed)


def inet6_norm(text):
    packed = inet6_pton(text)
    return None if packed is None else inet6_ntop(packed)


def inet6_in_prefix(addr, prefix, plen):
    a = int.from_bytes(inet6_pton(addr), "big")
    p = int.from_bytes(inet6_pton(prefix), "big")
    shift = 128 - plen
    return (a >> shift) == (p >> shift)


def eui64_linklocal(mac):
    octets = [int(o, 16) for o in mac.split(":")]
    octets[0] ^= 0x02
    iid = [*octets[:3], 0xFF, 0xFE, *octets[3:]]
    return inet6_ntop(bytes([0xFE, 0x80, 0, 0, 0, 0, 0, 0, *iid]))


def printb(value, bits):
    names = [name for bit, name in bits if value & bit]
    return f"{value:x}<{','.join(names)}>"


def split_name(name):
    """('lagg', 0) for lagg0; unit None when the name has no number."""
    i = len(name)
    while i > 0 and name[i - 1].isdigit():
        i -= 1
    return name[:i], (int(name[i:]) if i < len(name) else None)


# ---------------------------------------------------------------------------
# The kernel: operations on the state dict


def default_state():
    state = {
        "version": 1,
        "next_pid": FIRST_PID,
        "interfaces": {},
        "sysctls": {},
        "routes": [],
        "processes": {},
        "leases": {},
        "bound": {},
        "dhcp_timeout": DHCP_TIMEOUT,
        "link_wait": LINK_WAIT,
        "failures": [],
        "events": [],
        "log": [],
        "vfs": {},
        "ras": {},
    }
    k = Kernel(state)
    for name, value, access in (
        ("kern.vm_guest", "hv", "ro"),
        ("hw.hn.vf_transparent", 0, "tunable"),
        ("hw.hn.vflist", "", "ro"),
        ("hw.hn.vfmap", "", "ro"),
        # FEATURE(inet) in netinet/in_proto.c, FEATURE(inet6) in
        # netinet6/in6_proto.c (sys/sysctl.h FEATURE: a read-only int 1);
        # network.subr's afexists() reads them.
        ("kern.features.inet", 1, "ro"),
        ("kern.features.inet6", 1, "ro"),
        # user.localbase (sys/kern/kern_mib.c, FreeBSD 13 and later: a
        # CTLFLAG_RWTUN string, _PATH_LOCALBASE); current
        # defaults/rc.conf reads it.
        ("user.localbase", "/usr/local", "rw"),
    ):
        k.sysctl_set(name, value, access)
    lo = k.attach("lo0", None, events=False)
    lo["inet"].append({"address": "127.0.0.1", "prefixlen": 8})
    lo["inet6"].append({"address": "::1", "prefixlen": 128})
    k.set_up(lo, True)
    lo["groups"] = ["lo"]
    return state


class Kernel:
    def __init__(self, state):
        self.s = state

    # -- interfaces ---------------------------------------------------------

    def iface(self, name):
        return self.s["interfaces"].get(name)

    def ifaces(self):
        return list(self.s["interfaces"].values())

    def event(self, system, subsystem, type_):
        self.s["events"].append(
            {"system": system, "subsystem": subsystem, "type": type_}
        )

    def free_index(self):
        used = {i["index"] for i in self.ifaces()}
        n = 1
        while n in used:
            n += 1
        return n

    def attach(self, name, ether, up=False, mtu=1500, events=True, cloned=False):
        driver, _ = split_name(name)
        iface = {
            "name": name,
            "index": self.free_index(),
            "driver": driver,
            "cloned": cloned,
            "ether": ether,
            "hwaddr": ether,
            "up": False,
            "carrier": True,
            "mtu": 16384 if driver == "lo" else mtu,
            "options": DRIVER_OPTIONS.get(driver, 0),
            "inet": [],
            "inet6": [],
            "nd6": ND6_DEFAULT,
            "groups": [],
            "laggdev": None,
            "rxvf": None,
        }
        if driver == "lo":
            iface["nd6"] = 0x21
        self.s["interfaces"][name] = iface
        if driver == "hn" and self.vf_oids_present():
            _, unit = split_name(name)
            self.sysctl_set(f"dev.hn.{unit}.vf", "", "ro")
        if events and ether is not None:
            self.event("ETHERNET", name, "IFATTACH")
        if up:
            self.set_up(iface, True)
        return iface

    def detach(self, iface):
        name = iface["name"]
        if iface.get("lagg"):
            for port in list(iface["lagg"]["ports"]):
                self.lagg_remove(iface, self.iface(port), destroying=True)
        if iface["laggdev"]:
            self.lagg_remove(self.iface(iface["laggdev"]), iface)
        if iface["ether"] is not None:
            self.event("ETHERNET", name, "IFDETACH")
        if iface["up"]:
            self.set_up(iface, False)
        for other in self.ifaces():
            if other.get("vlan") and other["vlan"]["dev"] == name:
                other["vlan"]["dev"] = None
        self.s["routes"] = [r for r in self.s["routes"] if r["interface"] != name]
        del self.s["interfaces"][name]
        if iface["driver"] == "hn":
            _, unit = split_name(name)
            self.s["sysctls"].pop(f"dev.hn.{unit}.vf", None)

    def link_up(self, iface):
        if iface["driver"] == "lo":
            return iface["up"]
        if iface.get("lagg") is not None:
            return any(self.link_up(self.iface(p)) for p in iface["lagg"]["ports"])
        if iface.get("vlan") is not None:
            dev = self.iface(iface["vlan"]["dev"] or "")
            return bool(dev and self.link_up(dev))
        if iface["driver"] == "hn":
            # hn(4): the host reports the link whether or not the interface
            # is up; it pretends the link is down while its VF carries the
            # traffic (hn_rxvf_change).
            return bool(iface["carrier"] and not iface["rxvf"])
        return bool(iface["up"] and iface["carrier"])

    def media_active(self, iface):
        """SIOCGIFMEDIA IFM_ACTIVE: for a lagg, some port is up with link
        (lagg_media_status); otherwise the link state."""
        if iface.get("lagg") is not None:
            return any(
                self.iface(p)["up"] and self.link_up(self.iface(p))
                for p in iface["lagg"]["ports"]
            )
        return self.link_up(iface)

    def flags(self, iface):
        value = 0
        if iface["up"]:
            value |= 0x1 | 0x40
        if iface["driver"] == "lo":
            value |= 0x8 | 0x8000
        else:
            value |= 0x2 | 0x800 | 0x8000
        if self.link_up(iface):
            value |= 0x1000000
        return value

    def set_up(self, iface, up):
        """SIOCSIFFLAGS: if_up()/if_down() on a transition only."""
        if iface["up"] == up:
            return
        iface["up"] = up
        if up:
            self.in6_if_up(iface)
        hn = self.s["vfs"].get(iface["name"])
        if hn is not None and not self.transparent():
            self.rxvf_change(self.iface(hn), iface, up)

    def rxvf_change(self, hn, vf, rxvf):
        """hn_rxvf_change(): the VF carries the traffic, hn's link drops;
        the VF no longer does, hn_resume_mgmt() has hn_link_status() report
        the host's link again (sys/dev/hyperv/netvsc/if_hn.c)."""
        if hn is None:
            return
        if rxvf == bool(hn["rxvf"]):
            return
        was_up = self.link_up(hn)
        hn["rxvf"] = vf["name"] if rxvf else None
        self.event("HYPERV_NIC_VF", hn["name"], "VF_UP" if rxvf else "VF_DOWN")
        self.link_event(hn, was_up)

    def link_event(self, hn, was_up):
        """if_link_state_change() of an hn(4) whose link was was_up:
        do_link_state_change() (sys/net/if.c) raises devd's IFNET LINK_UP
        or LINK_DOWN when the state changed, from a task, so after the
        events raised meanwhile.  Other drivers' link events are not
        modelled."""
        up = self.link_up(hn)
        if up != was_up:
            self.event("IFNET", hn["name"], "LINK_UP" if up else "LINK_DOWN")

    def in6_if_up(self, iface):
        """in6_if_up() (sys/netinet6/in6_ifattach.c): the link-local address
        (AUTO_LINKLOCAL), and DAD of the tentative addresses, which in the
        simulator finds no duplicate at once."""
        if iface["up"] and not iface["nd6"] & 0x8:
            if iface["nd6"] & 0x20:
                self.linklocal(iface)
            for a in iface["inet6"]:
                a.pop("tentative", None)

    def linklocal(self, iface):
        if any(a["address"].startswith("fe80:") for a in iface["inet6"]):
            return
        if iface["driver"] == "lo":
            address = "fe80::1"
        elif iface["ether"]:
            address = eui64_linklocal(iface["ether"])
        else:
            return
        iface["inet6"].append({"address": address, "prefixlen": 64})

    def set_nd6(self, iface, flag, on):
        """SIOCSIFINFO_FLAGS (nd6_ioctl(), sys/netinet6/nd6.c).  IFDISABLED
        1->0 runs in6_if_up() when the interface is up; 0->1 deletes no
        address but marks every IPv6 address tentative (unless NO_DAD;
        net.inet6.ip6.dad_count is 1), so none is used until the interface
        is enabled again and DAD has run.  ACCEPT_RTADV is a flag only:
        turning it off forgets no prefix and no router."""
        before = iface["nd6"]
        iface["nd6"] = (before | flag) if on else (before & ~flag)
        if before & 0x8 and not iface["nd6"] & 0x8 and iface["up"]:
            self.in6_if_up(iface)
        elif not before & 0x8 and iface["nd6"] & 0x8 and not iface["nd6"] & 0x100:
            for a in iface["inet6"]:
                a["tentative"] = True

    # -- addresses ----------------------------------------------------------

    def add_inet(self, iface, address, plen, broadcast=None):
        for a in iface["inet"]:
            if a["address"] == address:
                a["prefixlen"] = plen
                if broadcast:
                    a["broadcast"] = broadcast
                break
        else:
            entry = {"address": address, "prefixlen": plen}
            if broadcast:
                entry["broadcast"] = broadcast
            iface["inet"].append(entry)
        if iface["driver"] != "lo" and not iface["up"]:
            iface["up"] = True  # ether_ioctl(SIOCSIFADDR) sets IFF_UP
            self.in6_if_up(iface)

    def del_inet(self, iface, address=None):
        """SIOCDIFADDR (in_difaddr_ioctl(), sys/netinet/in.c): address, or
        the first IPv4 address when none is given.  in_ifadown(ifa, 1)
        then deletes every route whose source address (rt_ifa) it was,
        static ones too (in_ifadownkill(), sys/netinet/in_rmx.c)."""
        for a in iface["inet"]:
            if address is None or a["address"] == address:
                iface["inet"].remove(a)
                self.s["routes"] = [
                    r
                    for r in self.s["routes"]
                    if r["inet6"]
                    or (r.get("interface"), r.get("ifa"))
                    != (iface["name"], a["address"])
                ]
                return True
        return False

    def add_inet6(self, iface, address, plen):
        for a in iface["inet6"]:
            if a["address"] == address:
                a["prefixlen"] = plen
                break
        else:
            iface["inet6"].append({"address": address, "prefixlen": plen})
        if iface["driver"] != "lo" and not iface["up"]:
            iface["up"] = True
        # in6_control(SIOCAIFADDR_IN6) clears ND6_IFF_IFDISABLED
        self.set_nd6(iface, 0x8, False)
        self.in6_if_up(iface)

    def del_inet6(self, iface, address):
        """SIOCDIFADDR_IN6 (in6_purgeaddr(), sys/netinet6/in6.c): the
        address's own routes go, but, unlike IPv4, no static route that
        uses it: there is no in6_ifadown(), and rt6_flush()
        (sys/netinet6/nd6_rtr.c) spares static and non-host routes."""
        for a in iface["inet6"]:
            if a["address"] == address:
                iface["inet6"].remove(a)
                return True
        return False

    def ifa_ifwithnet(self, gateway, inet6=False):
        """(interface, address) that a route through gateway gets as its
        rt_ifa, or (None, None): ifa_ifwithroute() (sys/net/route.c) asks
        ifa_ifwithnet() (sys/net/if.c), which scans every interface in
        attach order and every address in order, and keeps the address
        with the most specific prefix holding gateway, the first of equals
        (rn_refines).  It does not look at IFF_UP.  The rtalloc1_fib()
        fallback (a gateway reached through another, non-default route)
        is not modelled: such a gateway is refused.  An IPv6 gateway with
        a %scope: that interface (KAME's embedded scope makes only its
        link-local prefix match), with its link-local address if any."""
        best = (None, None)
        best_plen = -1
        for iface in self.ifaces():
            if inet6:
                addr, _, scope = gateway.partition("%")
                if scope:
                    if scope == iface["name"]:
                        local = [
                            a["address"]
                            for a in iface["inet6"]
                            if a["address"].startswith("fe80:")
                        ]
                        return iface, (local[0] if local else None)
                    continue
                for a in iface["inet6"]:
                    if a["prefixlen"] > best_plen and inet6_in_prefix(
                        addr, a["address"], a["prefixlen"]
                    ):
                        best, best_plen = (iface, a["address"]), a["prefixlen"]
            else:
                gw = inet_aton(gateway)
                for a in iface["inet"]:
                    mask = plen_mask(a["prefixlen"])
                    if a["prefixlen"] > best_plen and (
                        gw & mask == inet_aton(a["address"]) & mask
                    ):
                        best, best_plen = (iface, a["address"]), a["prefixlen"]
        return best

    # -- lagg ---------------------------------------------------------------

    def lagg_add(self, lagg, port):
        """SIOCSLAGGPORT (lagg_ioctl, lagg_port_create); an errno text or None."""
        info = lagg["lagg"]
        # lagg_ioctl, before anything else: a would-be member with a
        # link-local address loses every inet6 address (in6_ifdetach) "to
        # prevent IPv6 address scope violation".  in6ifa_llaonifp()
        # (sys/netinet6/in6.c) finds none on an IFDISABLED interface.
        # in6_ifdetach() also runs nd6_purge(): the routers and prefixes
        # learned from router advertisements on it go, static routes stay.
        if not port["nd6"] & 0x8 and any(
            a["address"].startswith("fe80:") for a in port["inet6"]
        ):
            port["inet6"] = []
            self.s["routes"] = [
                r
                for r in self.s["routes"]
                if not (r.get("ra") and r["interface"] == port["name"])
            ]
        if port is lagg:
            return EINVAL
        if len(info["ports"]) >= 32:
            return "No space left on device"
        if port["laggdev"] is not None:
            return EEXIST if port["laggdev"] == lagg["name"] else EBUSY
        if port["ether"] is None:
            return EPROTONOSUPPORT
        if port.get("lagg") is not None:
            return EINVAL  # a stacked lagg
        port["lp_lladdr"] = port["ether"]  # given back when it leaves
        if not info["ports"]:
            info["primary"] = port["name"]
            lagg["mtu"] = port["mtu"]
            lagg["ether"] = port["ether"]
        else:
            port["mtu"] = lagg["mtu"]
        port["laggdev"] = lagg["name"]
        port["ether"] = lagg["ether"]
        info["ports"].append(port["name"])
        info["ports"].sort(key=lambda p: self.iface(p)["index"])
        return None

    def lagg_remove(self, lagg, port, destroying=False):
        """lagg_port_destroy(): the first remaining port becomes primary and
        lends its own MAC to the lagg and every port (unless the lagg itself
        is being destroyed); the removed port gets its MAC back."""
        info = lagg["lagg"]
        info["ports"].remove(port["name"])
        port["laggdev"] = None
        port["ether"] = port.pop("lp_lladdr", port["ether"])
        if info["primary"] == port["name"]:
            info["primary"] = info["ports"][0] if info["ports"] else None
            first = self.iface(info["primary"]) if info["primary"] else None
            lladdr = first["lp_lladdr"] if first else "00:00:00:00:00:00"
            if not destroying:
                lagg["ether"] = lladdr
            for p in info["ports"]:
                self.iface(p)["ether"] = lladdr

    def lagg_port_flags(self, lagg, port):
        info = lagg["lagg"]
        proto = info["proto"]
        flags = 0

        def active(p):
            return bool(p and p["up"] and self.link_up(p))

        if proto == "failover":
            primary = self.iface(info["primary"] or "")
            if port["name"] == info["primary"]:
                flags |= 0x1
            if active(primary):
                chosen = primary
            else:
                chosen = next(
                    (self.iface(p) for p in info["ports"] if active(self.iface(p))),
                    None,
                )
            if chosen is not None and chosen["name"] == port["name"]:
                flags |= 0x4
        elif proto in ("roundrobin", "loadbalance", "broadcast") and active(port):
            flags |= 0x4
        return flags

    # -- sysctl -------------------------------------------------------------

    def sysctl_set(self, name, value, access=None):
        old = self.s["sysctls"].get(name)
        kind = "int" if isinstance(value, int) else "string"
        if access is None:
            access = old["access"] if old else "rw"
        self.s["sysctls"][name] = {"value": value, "type": kind, "access": access}

    def sysctl_value(self, name, default=None):
        entry = self.s["sysctls"].get(name)
        return default if entry is None else entry["value"]

    def vf_oids_present(self):
        return "hw.hn.vflist" in self.s["sysctls"]

    def transparent(self):
        try:
            return int(self.sysctl_value("hw.hn.vf_transparent", 0)) != 0
        except ValueError:
            return False

    def update_vf_oids(self):
        if not self.vf_oids_present():
            return
        pairs = sorted(
            ((self.iface(vf)["index"], vf, hn) for vf, hn in self.s["vfs"].items()),
        )
        self.sysctl_set("hw.hn.vflist", " ".join(vf for _, vf, _ in pairs))
        self.sysctl_set("hw.hn.vfmap", " ".join(f"{vf}:{hn}" for _, vf, hn in pairs))

    # -- processes ----------------------------------------------------------

    def new_pid(self):
        pid = self.s["next_pid"]
        used = {int(p) for p in self.s["processes"]}
        while pid in used:
            pid += 1
        self.s["next_pid"] = pid + 1
        return pid

    def dhclient_pidfile(self, ifname, old=False):
        if old:
            return f"/var/run/dhclient.{ifname}.pid"
        return f"/var/run/dhclient/dhclient.{ifname}.pid"


# ---------------------------------------------------------------------------
# Programs.  Each takes (ctx, args) and returns an exit status.


class Ctx:
    def __init__(self, root, state, program):
        self.root = root
        self.state = state
        self.k = Kernel(state)
        self.program = program
        self.out = []
        self.err = []
        self.mutating = True
        self.scripts = []  # dhclient-script runs, after the lock (env each)
        self.panic = None  # seconds a foreground dhclient waits, after the lock
        self.no_link = None  # seconds dhclient waits for a link, after the lock

    def print(self, text=""):
        self.out.append(text + "\n")

    def warnx(self, text):
        self.err.append(f"{self.program}: {text}\n")

    def errx(self, text, status=1):
        self.warnx(text)
        raise Exit(status)

    def path(self, path):
        return os.path.join(self.root, path.lstrip("/"))


# -- ifconfig ----------------------------------------------------------------

IFCONFIG_AFS = ("inet", "inet6", "link", "ether", "lladdr")
IFCONFIG_NOOP = {
    "arp", "-arp", "promisc", "-promisc", "debug", "-debug", "monitor",
    "-monitor", "staticarp", "-staticarp", "rxcsum", "-rxcsum", "txcsum",
    "-txcsum", "rxcsum6", "-rxcsum6", "txcsum6", "-txcsum6", "tso", "-tso",
    "tso4", "-tso4", "tso6", "-tso6", "lro", "-lro", "vlanmtu", "-vlanmtu",
    "vlanhwtag", "-vlanhwtag", "vlanhwcsum", "-vlanhwcsum", "vlanhwtso",
    "-vlanhwtso", "vlanhwfilter", "-vlanhwfilter", "link0", "-link0",
    "link1", "-link1", "link2", "-link2", "use_flowid", "-use_flowid",
    "anycast", "-anycast", "tentative", "-tentative", "deprecated",
    "-deprecated", "autoconf", "-autoconf", "-description", "-descr",
}  # fmt: skip
IFCONFIG_ARG_NOOP = {"metric", "description", "descr", "pltime", "vltime", "fib"}


def ifconfig_status(k, iface, af=None):
    lines = [
        f"{iface['name']}: flags={printb(k.flags(iface), IFF_BITS)} "
        f"metric 0 mtu {iface['mtu']}"
    ]
    options = iface["options"]
    if iface.get("lagg") is not None:
        ports = [k.iface(p) for p in iface["lagg"]["ports"]]
        options = 0
        if ports:  # lagg_capabilities(): what every port has
            options = ~0
            for p in ports:
                options &= p["options"]
    if options:
        lines.append(f"\toptions={printb(options, IFCAP_BITS)}")
    if iface["ether"] is not None and af in (None, "ether", "link", "lladdr"):
        lines.append(f"\tether {iface['ether']}")
        if iface["hwaddr"] not in (None, iface["ether"]):  # SIOCGHWADDR
            lines.append(f"\thwaddr {iface['hwaddr']}")
    if af in (None, "inet"):
        for a in iface["inet"]:
            addr = inet_aton(a["address"])
            mask = plen_mask(a["prefixlen"])
            line = f"\tinet {a['address']} netmask 0x{mask:x}"
            if iface["driver"] != "lo":
                bcast = a.get("broadcast") or ntoa(addr | (~mask & 0xFFFFFFFF))
                line += f" broadcast {bcast}"
            if a.get("vhid"):  # in_status(), af_inet.c: print_vhid()
                line += f" vhid {a['vhid']}"
            lines.append(line)
    if af in (None, "inet6"):
        # in6_status(), af_inet6.c: address, prefixlen, the flags
        # (autoconf among them), scopeid.
        for a in iface["inet6"]:
            flags = " tentative" if a.get("tentative") else ""
            flags += " autoconf" if a.get("autoconf") else ""
            if a["address"].startswith("fe80:"):
                lines.append(
                    f"\tinet6 {a['address']}%{iface['name']} prefixlen "
                    f"{a['prefixlen']}{flags} scopeid 0x{iface['index']:x}"
                )
            else:
                lines.append(
                    f"\tinet6 {a['address']} prefixlen {a['prefixlen']}{flags}"
                )
    if af is None:
        if iface.get("lagg") is not None:
            info = iface["lagg"]
            lines.append(f"\tlaggproto {info['proto']} lagghash l2,l3,l4")
            for p in info["ports"]:
                flags = k.lagg_port_flags(iface, k.iface(p))
                lines.append(f"\tlaggport: {p} flags={printb(flags, LAGG_PORT_BITS)}")
        if iface.get("vlan") is not None:
            v = iface["vlan"]
            lines.append(
                f"\tvlan: {v['tag']} vlanproto: 802.1q vlanpcp: 0 "
                f"parent interface: {v['dev'] or '<none>'}"
            )
        if iface["groups"]:
            lines.append(f"\tgroups: {' '.join(iface['groups'])}")
        if iface["driver"] != "lo":
            media = DRIVER_MEDIA.get(iface["driver"])
            link = k.media_active(iface)
            if media:  # current media autoselect, active media in brackets
                lines.append(
                    f"\tmedia: Ethernet autoselect ({media if link else 'none'})"
                )
            else:
                lines.append("\tmedia: Ethernet autoselect")
            lines.append(f"\tstatus: {'active' if link else 'no carrier'}")
    if af in (None, "inet6"):
        lines.append(f"\tnd6 options={printb(iface['nd6'], ND6_BITS)}")
    return "".join(line + "\n" for line in lines)


def prog_ifconfig(ctx, args):
    k = ctx.k
    opts = {}
    group = None
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        for ch in word[1:]:
            if ch in "adlmuvLkCn":
                opts[ch] = True
            elif ch == "g":
                if not args:
                    ifconfig_usage(ctx)
                group = args.pop(0)
            else:
                ifconfig_usage(ctx)
    if opts.get("l") or opts.get("a") or group is not None or not args:
        ctx.mutating = False
        af = args.pop(0) if args and args[0] in IFCONFIG_AFS else None
        if args:
            ifconfig_usage(ctx)
        chosen = []
        for iface in k.ifaces():
            if opts.get("u") and not iface["up"]:
                continue
            if opts.get("d") and iface["up"]:
                continue
            if group is not None and group not in [*iface["groups"], "all"]:
                continue
            if af == "inet" and not iface["inet"]:
                continue
            if af == "inet6" and not iface["inet6"]:
                continue
            if af in ("ether", "link", "lladdr") and iface["ether"] is None:
                continue
            chosen.append(iface)
        if opts.get("l"):
            ctx.print(" ".join(i["name"] for i in chosen))
        elif group is not None:
            for i in chosen:
                ctx.print(i["name"])
        else:
            ctx.out.extend(ifconfig_status(k, i, af) for i in chosen)
        return 0

    name = args.pop(0)
    created = None
    if not args or (len(args) == 1 and args[0] in IFCONFIG_AFS):
        ctx.mutating = False  # showing
    if args and args[0] in ("create", "plumb"):
        args.pop(0)
        created = ifconfig_create(ctx, name, args)
        name = created
    iface = k.iface(name)
    if iface is None:
        ctx.errx(f"interface {name} does not exist")
    af = "inet"
    if args and args[0] in IFCONFIG_AFS:
        af = args.pop(0)
        if not args and created is None:
            ctx.mutating = False
            ctx.out.append(ifconfig_status(k, iface, af))
            return 0
    elif not args and created is None:
        ctx.mutating = False
        ctx.out.append(ifconfig_status(k, iface))
        return 0
    status = ifconfig_commands(ctx, iface, af, args) if args else 0
    if created is not None and created != ctx.created_as:
        ctx.print(created)
    return status


def ifconfig_usage(ctx):
    ctx.err.append(
        "usage: ifconfig [-j jail] [-f type:format] %s [-L] [-C] [-g groupname] "
        "interface address_family\n"
        "                [address [dest_address]] [parameters]\n"
        "       ifconfig [-j jail] interface create\n"
        "       ifconfig [-j jail] -a [-L] [-C] [-g groupname] [-d] [-m] [-u] [-v]\n"
        "                [address_family]\n"
        "       ifconfig [-j jail] -C\n"
        "       ifconfig [-j jail] -g groupname\n"
        "       ifconfig [-j jail] -l [-d] [-u] [address_family]\n"
        "       ifconfig [-j jail] [-k] [-L] [-C] [-g groupname] [-d] [-m] [-u] "
        "[-v]\n"
    )
    raise Exit(1)


def ifconfig_create(ctx, name, args):
    """SIOCIFCREATE2; returns the name of the new interface."""
    k = ctx.k
    ctx.created_as = name
    driver, unit = split_name(name)
    if driver not in CLONERS:
        ctx.errx(f"SIOCIFCREATE2 ({name}): {EINVAL}")
    if unit is None:
        unit = 0
        while k.iface(f"{driver}{unit}") is not None:
            unit += 1
        name = f"{driver}{unit}"
    elif k.iface(name) is not None:
        ctx.errx(f"SIOCIFCREATE2 ({name}): {EEXIST}")
    if driver == "lo":
        iface = k.attach(name, None, cloned=True)
        iface["groups"] = ["lo"]
        return name
    if driver == "lagg":
        mac = "58:9c:fc:" + ":".join(f"{b:02x}" for b in _hash3(f"{ctx.root}/{name}"))
        iface = k.attach(name, mac, cloned=True)
        iface["options"] = 0
        iface["lagg"] = {"proto": "failover", "ports": [], "primary": None}
        iface["groups"] = ["lagg"]
    else:
        iface = k.attach(name, "00:00:00:00:00:00", cloned=True)
        iface["options"] = 0
        iface["vlan"] = {"tag": 0, "dev": None}
        iface["groups"] = ["vlan"]
    return name


def _hash3(text):
    import zlib

    value = zlib.crc32(text.encode())
    return [(value >> 16) & 255, (value >> 8) & 255, value & 255]


def ifconfig_commands(ctx, iface, af, args):
    """Apply options in order, as ifconfig(8) does; addresses last."""
    k = ctx.k
    name = iface["name"]
    exit_code = 0
    addr = dest = None
    mask_plen_ = None
    doalias = 0
    clearaddr = False
    newaddr = True
    ridaddr = None
    broadcast = None
    eui64 = False
    i = 0

    def need_arg(word):
        if i + 1 >= len(args):
            ctx.errx(f"'{word}' requires argument")
        return args[i + 1]

    while i < len(args):
        word = args[i]
        if word == "up":
            k.set_up(iface, True)
        elif word == "down":
            k.set_up(iface, False)
        elif word in ("alias", "add"):
            doalias = 1
            clearaddr = False
        elif word in ("-alias", "delete", "remove"):
            if addr is not None and doalias == 0:
                ridaddr = addr
            doalias = -1
            clearaddr = True
            newaddr = False
        elif word == "netmask":
            value = need_arg(word)
            i += 1
            if af == "inet":
                mask = inet_aton(value)
                if mask is None:
                    ctx.errx(f"{value}: bad value")
                mask_plen_ = mask_plen(mask)
        elif word == "prefixlen":
            value = need_arg(word)
            i += 1
            if af == "inet6":
                if not value.isdigit() or int(value) > 128:
                    ctx.errx(f"{value}: bad value")
                mask_plen_ = int(value)
        elif word == "broadcast":
            broadcast = need_arg(word)
            i += 1
        elif word == "mtu":
            value = need_arg(word)
            i += 1
            if not value.isdigit() or not 72 <= int(value) <= 65535:
                ctx.errx(f"ioctl SIOCSIFMTU (set mtu): {EINVAL}")
            iface["mtu"] = int(value)
            for p in (iface.get("lagg") or {}).get("ports", []):
                k.iface(p)["mtu"] = int(value)
        elif word == "eui64":
            if af != "inet6":  # setip6eui64(), sbin/ifconfig/af_inet6.c
                ctx.errx(f"{word} not allowed for the AF")
            eui64 = True
        elif word in IFCONFIG_NOOP:
            pass
        elif word in IFCONFIG_ARG_NOOP:
            need_arg(word)
            i += 1
        elif word.lstrip("-") in ND6_FLAG_WORDS:
            k.set_nd6(iface, ND6_FLAG_WORDS[word.lstrip("-")], not word.startswith("-"))
        elif word == "laggproto":
            value = need_arg(word)
            i += 1
            if value not in LAGG_PROTOS:
                ctx.errx(f"Invalid aggregation protocol: {value}")
            if iface.get("lagg") is None:
                ctx.errx(f"SIOCSLAGG: {EINVAL}")
            iface["lagg"]["proto"] = value
        elif word == "laggport":
            value = need_arg(word)
            i += 1
            port = k.iface(value)
            if iface.get("lagg") is None or port is None:
                error = EINVAL
            else:
                error = k.lagg_add(iface, port)
            if error is not None and error != EEXIST:
                ctx.warnx(f"{name} {value}: SIOCSLAGGPORT: {error}")
                exit_code = 1
        elif word == "-laggport":
            value = need_arg(word)
            i += 1
            port = k.iface(value)
            if iface.get("lagg") is None or port is None:
                ctx.errx(f"SIOCSLAGGDELPORT: {EINVAL}")
            if port["laggdev"] != name:
                ctx.errx(f"SIOCSLAGGDELPORT: {ENOENT}")
            k.lagg_remove(iface, port)
        elif word == "lagghash":
            value = need_arg(word)
            i += 1
            for tok in value.split(","):
                if tok not in ("l2", "l3", "l4"):
                    ctx.errx(f"Invalid lagghash option: {tok}")
            if iface.get("lagg") is None:
                ctx.errx(f"SIOCSLAGGHASH: {EINVAL}")
        elif word == "vlan":
            value = need_arg(word)
            i += 1
            if not value.isdigit() or int(value) > 4094:
                ctx.errx(f"invalid value for vlan: {value}")
            if iface.get("vlan") is None:
                ctx.errx(f"SIOCGETVLAN: {EINVAL}")
            iface["vlan"]["tag"] = int(value)
        elif word == "vlandev":
            value = need_arg(word)
            i += 1
            parent = k.iface(value)
            if iface.get("vlan") is None or parent is None:
                ctx.errx(f"SIOCSETVLAN: {EINVAL}")
            iface["vlan"]["dev"] = value
            iface["ether"] = iface["hwaddr"] = parent["ether"]
        elif word == "-vlandev":
            if iface.get("vlan") is not None:
                iface["vlan"]["dev"] = None
        elif word in ("destroy", "unplumb"):
            if not iface["cloned"]:
                ctx.errx(f"SIOCIFDESTROY: {EINVAL}")
            k.detach(iface)
            return exit_code
        elif word in ("create", "plumb"):
            ctx.errx(f"SIOCIFCREATE2 ({name}): {EEXIST}")
        elif addr is None:
            addr = word
            if doalias == 0 and af not in ("link", "ether", "lladdr"):
                clearaddr = True
            if doalias < 0:
                ridaddr = word
        elif dest is None:
            dest = word
        else:
            dest = word
        i += 1

    if addr is None and mask_plen_ is None:
        return exit_code
    if af in ("link", "ether", "lladdr"):
        mac = addr.lower()
        octets = mac.split(":")
        if len(octets) != 6 or not all(
            1 <= len(o) <= 2 and all(c in "0123456789abcdef" for c in o) for o in octets
        ):
            ctx.errx("malformed link-level address")
        iface["ether"] = ":".join(o.zfill(2) for o in octets)  # SIOCSIFLLADDR
        return exit_code
    if af == "inet":
        return ifconfig_inet(ctx, iface, addr, ridaddr, mask_plen_, broadcast or dest,
                             doalias, clearaddr, newaddr, exit_code)  # fmt: skip
    if eui64:
        addr = eui64_address(ctx, iface, addr)
    return ifconfig_inet6(ctx, iface, addr, ridaddr, mask_plen_, doalias,
                          clearaddr, newaddr, exit_code)  # fmt: skip


def eui64_address(ctx, iface, addr):
    """setip6eui64() (sbin/ifconfig/af_inet6.c): the address's low 64 bits,
    which must be zero, become those of the interface's first link-local
    address (its EUI-64 interface ID, in6_get_hw_ifid())."""
    text, slash, width = (addr or "::").partition("/")
    norm = inet6_norm(text.partition("%")[0])
    if norm is None:
        ctx.errx(f"{text}: bad value")
    packed = inet6_pton(norm)
    if packed[8:] != bytes(8):
        ctx.errx("interface index is already filled")
    local = [a["address"] for a in iface["inet6"] if a["address"].startswith("fe80:")]
    if not local:
        ctx.errx("could not determine link local address")
    address = inet6_ntop(packed[:8] + inet6_pton(local[0])[8:])
    return address + slash + width


def parse_inet(ctx, text, which="ADDR"):
    """in_getaddr(): returns (address, prefixlen or None)."""
    plen = None
    if which == "ADDR" and "/" in text:
        text, _, width = text.rpartition("/")
        if not width[:1].isdigit():
            ctx.errx(f"{text}/{width}: bad value (width invalid)")
        if not width.isdigit() or int(width) > 32:
            ctx.errx(f"{text}/{width}: bad value (width too large)")
        plen = int(width)
    value = inet_aton(text)
    if value is None:
        ctx.errx(f"{text}: bad value")
    return ntoa(value), plen


def ifconfig_inet(ctx, iface, addr, ridaddr, plen, broadcast, doalias, clearaddr,
                  newaddr, exit_code):  # fmt: skip
    k = ctx.k
    address = rid = None
    if addr is not None:
        address, addr_plen = parse_inet(ctx, addr)
        if addr_plen is not None and plen is None:
            plen = addr_plen
    if ridaddr is not None:
        rid, _ = parse_inet(ctx, ridaddr)
    if broadcast is not None:
        value = inet_aton(broadcast)
        if value is None:
            ctx.errx(f"{broadcast}: bad value")
        broadcast = ntoa(value)
    if clearaddr and not k.del_inet(iface, rid) and doalias < 0:
        ctx.errx(f"ioctl (SIOCDIFADDR): {EADDRNOTAVAIL}")
    if newaddr and address is not None:
        if plen is None:  # FreeBSD 14 af_inet.c: warn, then the classful mask
            if iface["driver"] != "lo":
                ctx.warnx(
                    "WARNING: setting interface address without mask is "
                    "deprecated,\ndefault mask may not be correct."
                )
            first = inet_aton(address) >> 24
            plen = 8 if first < 128 else 16 if first < 192 else 24
        k.add_inet(iface, address, plen, broadcast)
    return exit_code


def parse_inet6(ctx, text):
    plen = None
    if "/" in text:
        text, _, width = text.rpartition("/")
        if not width.isdigit() or int(width) > 128:
            ctx.errx(f"{width}: bad value")
        plen = int(width)
    norm = inet6_norm(text.partition("%")[0])
    if norm is None:
        ctx.errx(f"{text}: bad value")
    return norm, plen


def ifconfig_inet6(ctx, iface, addr, ridaddr, plen, doalias, clearaddr, newaddr,
                   exit_code):  # fmt: skip
    k = ctx.k
    address = None
    if addr is not None:
        address, addr_plen = parse_inet6(ctx, addr)
        if addr_plen is not None and plen is None:
            plen = addr_plen
    if clearaddr and ridaddr is not None:
        rid, _ = parse_inet6(ctx, ridaddr)
        if not k.del_inet6(iface, rid):
            ctx.errx(f"ioctl (SIOCDIFADDR): {EADDRNOTAVAIL}")
    if newaddr and address is not None:
        k.add_inet6(iface, address, 64 if plen is None else plen)
    return exit_code


# -- sysctl ------------------------------------------------------------------


def sysctl_format(entry):
    return str(entry["value"])


def sysctl_usage(ctx):
    ctx.err.append(
        "usage: sysctl [-bdeFhiJNnoqTtWx] [ -B <bufsize> ] [-f filename] "
        "name[=value] ...\n"
        "       sysctl [-bdeFhJNnoqTtWx] [ -B <bufsize> ] -a\n"
    )
    raise Exit(1)


def prog_sysctl(ctx, args):
    nflag = qflag = iflag = aflag = Nflag = eflag = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        if word == "--":
            break
        for ch in word[1:]:
            if ch == "n":
                nflag = True
            elif ch == "q":
                qflag = True
            elif ch == "i":
                iflag = True
            elif ch in "aA":
                aflag = True
            elif ch == "N":
                Nflag = True
            elif ch == "e":
                eflag = True
            elif ch in "bdhoTtWx":
                pass
            else:
                sysctl_usage(ctx)
    sep = "=" if eflag else ": "
    sysctls = ctx.state["sysctls"]
    ctx.mutating = any("=" in a for a in args)

    def show(oid, entry):
        if Nflag:
            ctx.print(oid)
        elif nflag:
            ctx.print(sysctl_format(entry))
        else:
            ctx.print(f"{oid}{sep}{sysctl_format(entry)}")

    if aflag and not args:
        for oid, entry in sysctls.items():
            show(oid, entry)
        return 0
    if not args or (Nflag and nflag):
        sysctl_usage(ctx)
    warncount = 0
    for arg in args:
        oid, eq, value = arg.partition("=")
        entry = sysctls.get(oid)
        if entry is None:
            children = [n for n in sysctls if n.startswith(oid + ".")]
            if children and not eq:
                for child in children:
                    show(child, sysctls[child])
                continue
            if iflag:
                continue
            if not qflag:
                ctx.warnx(f"unknown oid '{oid}'")
            warncount += 1
            continue
        if not eq:
            show(oid, entry)
            continue
        if entry["access"] == "tunable":
            ctx.warnx(f"oid '{oid}' is a read only tunable")
            ctx.warnx("Tunable values are set in /boot/loader.conf")
            warncount += 1
            continue
        if entry["access"] != "rw":
            ctx.warnx(f"oid '{oid}' is read only")
            warncount += 1
            continue
        if entry["type"] == "int":
            try:
                new = int(value, 0)
            except ValueError:
                ctx.warnx(f"invalid integer '{value}'")
                warncount += 1
                continue
        else:
            new = value
        old = sysctl_format(entry)
        entry["value"] = new
        if nflag:
            ctx.print(f"{old} -> {sysctl_format(entry)}")
        else:
            ctx.print(f"{oid}{sep}{old} -> {sysctl_format(entry)}")
    return min(warncount, 255)  # main(): return (warncount)


# -- route -------------------------------------------------------------------


def route_usage(ctx, word=None):
    """usage(): exit EX_USAGE (64)."""
    if word:
        ctx.warnx(f"bad keyword: {word}")
    ctx.err.append("usage: route [-j jail] [-46dnqtv] command [[modifiers] args]\n")
    raise Exit(64)


ROUTE_FLAGS = ["UP", "GATEWAY", "DONE", "STATIC"]


def prog_route(ctx, args):
    """route(8), sbin/route/route.c: newroute() prints the verdict of
    add/delete/change on stdout, "add net default: gateway G" or, failing,
    "add net default: gateway G fib 0: route already in table" (EEXIST),
    "... fib 0: not in table" (ESRCH), "... fib 0: Network is unreachable"
    (strerror), and exits 1.  rtmsg() warns on stderr besides, for ESRCH
    "route: route has not been found", for errors other than EEXIST
    "route: writing to routing socket: STRERROR".  `route get` prints the
    route on stdout; a missing one is only that warning, and newroute()
    exits with rtmsg()'s -1: status 255.  (FreeBSD 14's netlink back end,
    route_netlink.c, prints the same verdicts on stdout but no warning for
    add/delete/change, and exits 0 from a failed get: callers must read
    stdout and the exit status, never stderr.)"""
    k = ctx.k
    qflag = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        for ch in word[1:]:
            if ch == "q":
                qflag = True
            elif ch not in "ndtv46":
                ctx.warnx(f"illegal option -- {ch}")
                route_usage(ctx)
    if not args:
        route_usage(ctx)
    command = args.pop(0)
    if command == "flush":
        return route_flush(ctx, args, qflag)
    if command not in ("add", "delete", "get", "change"):
        route_usage(ctx, command)
    if command == "get":
        ctx.mutating = False
    inet6 = False
    iface_gw = False
    words = []
    for word in args:
        if word in ("-inet6", "-6"):
            inet6 = True
        elif word in ("-inet", "-4"):
            inet6 = False
        elif word in ("-iface", "-interface"):
            iface_gw = True
        elif word in ("-net", "-host", "-static", "-nostatic"):
            pass
        elif word.startswith("-"):
            route_usage(ctx, word[1:])
        else:
            words.append(word)
    if not words:
        ctx.warnx("destination parameter required")
        route_usage(ctx)
    dest = words[0]
    gateway = words[1] if len(words) > 1 else None
    key = "default" if dest in ("default", "0.0.0.0/0", "::/0") else dest
    if dest in ("::/0",):
        inet6 = True
    routes = k.s["routes"]
    match = [r for r in routes if r["destination"] == key and r["inet6"] == inet6]
    if command == "get":
        return route_get(ctx, dest, key, inet6, match)
    if gateway is not None and not iface_gw:
        if inet6:
            if inet6_norm(gateway.partition("%")[0]) is None:
                ctx.errx(f"{gateway}: hostname nor servname provided, or not known", 71)
        elif inet_aton(gateway) is None:
            ctx.errx(f"bad address: {gateway}", 68)
    label = f"{command} net {dest}"
    if gateway is not None:
        label += f": gateway {gateway}"
    result = None
    if command in ("add", "change"):
        result = route_set(ctx, command, key, gateway, inet6, iface_gw, match)
    else:  # delete
        if gateway is not None:
            match = [r for r in match if r["gateway"] == gateway]
        if match:
            routes.remove(match[0])
        else:
            result = ESRCH_ROUTE
    if result is None:
        if not qflag:
            ctx.print(label)
        return 0
    # rtmsg()'s warning, then newroute()'s verdict
    if result == ESRCH_ROUTE:
        ctx.warnx("route has not been found")
    elif result != EEXIST_ROUTE:
        ctx.warnx(f"writing to routing socket: {result}")
    if not qflag:
        ctx.print(f"{label} fib 0: {result}")
    return 1


# newroute()'s words for ESRCH and EEXIST; other errors print strerror().
ESRCH_ROUTE = "not in table"
EEXIST_ROUTE = "route already in table"


def route_set(ctx, command, key, gateway, inet6, iface_gw, match):
    """RTM_ADD / RTM_CHANGE (sys/net/route.c): the route's interface and
    source address come from rt_getifa_fib() -> ifa_ifwithroute(); none:
    ENETUNREACH.  RTM_CHANGE of a missing route: ESRCH
    (rtrequest1_fib_change()).  Returns None or the error's text."""
    k = ctx.k
    if gateway is None:
        return EINVAL
    if command == "add" and match:
        return EEXIST_ROUTE
    if command == "change" and not match:
        return ESRCH_ROUTE
    if iface_gw:
        ifp = k.iface(gateway)
        if ifp is None:
            ctx.errx(f"interface '{gateway}' does not exist", 65)
        ifa = None
    else:
        ifp, ifa = k.ifa_ifwithnet(gateway, inet6)
    if ifp is None:
        return ENETUNREACH
    if command == "change":
        k.s["routes"].remove(match[0])
    k.s["routes"].append(
        {
            "destination": key,
            "gateway": gateway,
            "interface": ifp["name"],
            "ifa": ifa,
            "inet6": inet6,
            "flags": list(ROUTE_FLAGS),
        }
    )
    return None


def route_get(ctx, dest, key, inet6, match):
    k = ctx.k
    route = match[0] if match else None
    if route is None and key != "default" and not inet6:
        addr = inet_aton(dest)
        if addr is None:
            ctx.errx(f"bad address: {dest}", 68)
        for iface in k.ifaces():  # a connected prefix
            for a in iface["inet"] if iface["up"] else ():
                mask = plen_mask(a["prefixlen"])
                if addr & mask == inet_aton(a["address"]) & mask:
                    route = {
                        "destination": ntoa(addr & mask),
                        "mask": ntoa(mask),
                        "gateway": None,
                        "interface": iface["name"],
                        "flags": ["UP", "DONE", "PINNED"],
                    }
                    break
            if route:
                break
        if route is None:
            route = next(
                (r for r in k.s["routes"] if r["destination"] == "default"
                 and not r["inet6"]),
                None,
            )  # fmt: skip
    if route is None:
        ctx.warnx("route has not been found")
        return 255  # newroute(): exit(-1), rtmsg()'s error
    zero = "::" if inet6 else "default"
    ifp = k.iface(route["interface"])
    lines = [f"   route to: {zero if key == 'default' else dest}"]
    if route["destination"] == "default":
        lines.append(f"destination: {zero}")
        lines.append(f"       mask: {zero}")
    else:
        lines.append(f"destination: {route['destination']}")
        if route.get("mask"):
            lines.append(f"       mask: {route['mask']}")
    if route["gateway"]:
        lines.append(f"    gateway: {route['gateway']}")
    lines.append("        fib: 0")
    lines.append(f"  interface: {route['interface']}")
    lines.append(f"      flags: <{','.join(route['flags'])}>")
    lines.append(
        " recvpipe  sendpipe  ssthresh  rtt,msec    mtu        weight    expire"
    )
    mtu = ifp["mtu"] if ifp else 1500
    lines.append("".join(f"{v:8d}  " for v in (0, 0, 0, 0, mtu, 1)) + f"{0:8d} ")
    ctx.out.extend(line + "\n" for line in lines)
    return 0


def route_flush(ctx, args, qflag):
    """flushroutes_fib_nl(): every gateway route of the family (both when
    none is given), one line each: DEST GATEWAY -fib 0 done."""
    families = (False, True)
    for word in args:
        if word in ("-inet6", "-6"):
            families = (True,)
        elif word in ("-inet", "-4"):
            families = (False,)
        else:
            route_usage(ctx, word.lstrip("-"))
    routes = ctx.k.s["routes"]
    for inet6 in families:
        for r in [r for r in routes if r["inet6"] == inet6]:
            routes.remove(r)
            if not qflag:
                dest = r["destination"]
                if dest == "default" and inet6:
                    dest = "::"
                ctx.print(f"{dest:<20.20} {r['gateway']:<20.20} -fib 0   done")
    return 0


# -- netstat -----------------------------------------------------------------

# route.c's column widths with -n (WID_DST_DEFAULT, WID_GW_DEFAULT): each is
# followed by one space; Flags 6, Netif 8 (right-aligned), Expire 6.
NETSTAT_WIDTHS = {False: (18, 18), True: (33, 29)}
# route.c's rt_bits, in its order: the letters of the Flags column.
ROUTE_FLAG_LETTERS = (
    ("UP", "U"), ("GATEWAY", "G"), ("HOST", "H"), ("REJECT", "R"),
    ("DYNAMIC", "D"), ("MODIFIED", "M"), ("STATIC", "S"), ("BLACKHOLE", "B"),
)  # fmt: skip
NETSTAT_FAMILIES = {"inet": False, "inet6": True}


def netstat_usage(ctx):
    ctx.err.append("usage: netstat -r [-46AnW] [-F fibnum] [-f address_family]\n")
    raise Exit(64)


def prog_netstat(ctx, args):
    """netstat(1) -rn of FreeBSD 14 (route.c, route_netlink.c): "Routing
    tables", then for each family that has routes (inet, then inet6) a blank
    line, "Internet:" or "Internet6:", the column header and one row per
    route; a family without routes prints nothing at all.  -4, -6 and
    -f inet|inet6 select a family.  An operand (hv_kvp_daemon's `netstat
    -rn inet6`) names a kernel image: nothing is printed.  Only the routing
    tables with -n are simulated (names would need a resolver)."""
    ctx.mutating = False
    opts = set()
    families = (False, True)
    args = list(args)
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        for i, ch in enumerate(word[1:], 1):
            if ch == "f":
                value = word[i + 1 :] or (args.pop(0) if args else None)
                if value is None:
                    ctx.warnx("option requires an argument -- f")
                    netstat_usage(ctx)
                if value not in NETSTAT_FAMILIES:
                    ctx.errx(f"{value}: unknown address family")
                families = (NETSTAT_FAMILIES[value],)
                break
            if ch in "46":
                families = (ch == "6",)
            elif ch in "rn":
                opts.add(ch)
            else:
                ctx.warnx(f"illegal option -- {ch}")
                netstat_usage(ctx)
    if opts != {"r", "n"} or (args and args[0][:1].isdigit()):
        ctx.errx("fakebsd: only netstat -rn [-4|-6|-f inet|inet6] is simulated", 64)
    if args:
        # main.c's BACKWARD_COMPATIBILITY: an operand is a kernel image
        # (nlistf), then a memory file (memf); the system is then not
        # "live" and routepr() returns without printing (route.c:133).  As
        # root, with memf /dev/mem, kvm_openfiles() succeeds without reading
        # nlistf (lib/libkvm/kvm.c _kvm_open()): nothing on stderr, exit 0.
        return 0
    ctx.print("Routing tables")
    for inet6 in families:
        rows = netstat_rows(ctx.k, inet6)
        if not rows:
            continue
        wid_dst, wid_gw = NETSTAT_WIDTHS[inet6]
        ctx.print()
        ctx.print("Internet6:" if inet6 else "Internet:")
        ctx.print(
            f"{'Destination':<{wid_dst}} {'Gateway':<{wid_gw}} {'Flags':<6} "
            f"{'Netif':>8} {'Expire':>6}"
        )
        for destination, gateway, flags, netif in rows:
            # p_sockaddr(): with -n nothing is cut; what sticks out of a
            # column is taken from the next one.
            gw_width = wid_gw - max(0, len(destination) - wid_dst)
            flags_width = 6 - max(0, len(gateway) - max(gw_width, 0))
            ctx.print(
                f"{destination:<{wid_dst}} {gateway:<{max(gw_width, 0)}} "
                f"{flags:<{max(flags_width, 0)}} {netif:>8.8}"
            )
    return 0


def netstat_rows(k, inet6):
    """(destination, gateway, flags, netif) of a family, in the radix tree's
    order: the gateway routes, and what the kernel adds for each address of
    an up interface: a local host route through lo0 and a prefix route (a
    loopback interface's IPv4 address gets a host route only).

    A second IPv4 address of a prefix and mask already routed is taken
    without a route of its own (sys/netinet/in.c in_addprefix(), with the
    default net.inet.ip.no_same_prefix=0); when the address holding the
    route goes, the next one of that prefix takes the route over
    (in_scrubprefix()).  One row per prefix, the first address's, is that:
    exact on one interface (the kernel's "first" is the first added, here
    the first in interface order)."""
    full = 128 if inet6 else 32
    rows = {}

    def add(address, plen, scope, row):
        # The radix key: a link-local address carries its scope (KAME's
        # embedded interface index in bytes 2 and 3).
        if inet6:
            key = bytearray(inet6_pton(address))
            if scope is not None:
                key[2:4] = scope.to_bytes(2, "big")
        else:
            key = inet_aton(address).to_bytes(4, "big")
        rows.setdefault((bytes(key), plen), row)

    for r in k.s["routes"]:
        if r["inet6"] != inet6:
            continue
        flags = "".join(c for name, c in ROUTE_FLAG_LETTERS if name in r["flags"])
        ifp = k.iface(r["interface"])
        gateway = r["gateway"] or f"link#{ifp['index']}"
        if r["destination"] == "default":
            address, plen = ("::" if inet6 else "0.0.0.0"), 0  # noqa: S104
        else:
            address, _, length = r["destination"].partition("/")
            plen = int(length or full)
        row = (r["destination"], gateway, flags, r["interface"])
        add(address, plen, None, row)
    for iface in k.ifaces():
        if not iface["up"]:
            continue
        link = f"link#{iface['index']}"
        loopback = iface["driver"] == "lo"
        for a in iface["inet6" if inet6 else "inet"]:
            address, plen = a["address"], a["prefixlen"]
            scoped = address.startswith("fe80:")
            scope = iface["index"] if scoped else None
            suffix = f"%{iface['name']}" if scoped else ""
            local = "UH" if loopback and not inet6 else "UHS"
            add(address, full, scope, (address + suffix, link, local, "lo0"))
            if plen < full and not (loopback and not inet6):
                net = netstat_network(address, plen, inet6)
                row = (f"{net}{suffix}/{plen}", link, "U", iface["name"])
                add(net, plen, scope, row)
    return [rows[key] for key in sorted(rows)]


def netstat_network(address, plen, inet6):
    if inet6:
        value = int.from_bytes(inet6_pton(address), "big")
        value &= ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
        return inet6_ntop(value.to_bytes(16, "big"))
    return ntoa(inet_aton(address) & plen_mask(plen))


# -- dhclient ----------------------------------------------------------------


def prog_dhclient(ctx, args):
    """dhclient(8), in the order its main() works: the pid file lock (another
    dhclient holding it: "dhclient already running, pid: N." + "exiting."),
    the pid file written, the link check (no link: "IF: no link ...........
    giving up", exit 1, pid file left behind), dhclient-script PREINIT
    (ifconfig IF up), the interface lookup ("IF: not found", pid file
    removed).  The configured lease, if any, is bound at once (BOUND:
    ifconfig IF inet A netmask M broadcast B; route add default R when no
    default route leaves through another interface) and dhclient stays as
    a fake process, with or without -b.  Without a lease, one without -b
    waits for the timeout first (state_panic())."""
    k = ctx.k
    pidfile = None
    background = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        j = 1
        while j < len(word):
            ch = word[j]
            if ch in "clp":
                value = word[j + 1 :] or (args.pop(0) if args else None)
                if value is None:
                    dhclient_usage(ctx)
                if ch == "p":
                    pidfile = value
                break
            if ch not in "bdqu":
                ctx.warnx(f"illegal option -- {ch}")
                dhclient_usage(ctx)
            background = background or ch == "b"
            j += 1
    if len(args) != 1:
        dhclient_usage(ctx)
    ifname = args[0]
    if pidfile is None:
        pidfile = k.dhclient_pidfile(ifname)
    for pid, proc in ctx.state["processes"].items():
        if proc.get("pidfile") == pidfile:
            ctx.err.append(f"dhclient already running, pid: {pid}.\nexiting.\n")
            return 1
    pid = k.new_pid()
    path = ctx.path(pidfile)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(f"{pid}\n")
    iface = k.iface(ifname)
    if iface is not None and not k.media_active(iface):
        # Before any daemonising, -b or not: a second, then ten more
        # checks a second apart (dhclient.c main()); a link that comes up
        # meanwhile ("got link") is not modelled.
        ctx.no_link = ctx.state["link_wait"]
        ctx.err.append(f"{ifname}: no link ...{'.' * 11} giving up\n")
        return 1
    if iface is None:
        ctx.err.append(
            f"ifconfig: interface {ifname} does not exist\n"
            f"{ifname}: not found\nexiting.\n"
        )
        os.unlink(path)
        return 1
    k.set_up(iface, True)  # dhclient-script PREINIT
    ctx.state["processes"][str(pid)] = {
        "command": f"dhclient: {ifname}",
        "name": "dhclient",
        "interface": ifname,
        "pidfile": pidfile,
    }
    lease = ctx.state["leases"].get(ifname)
    if lease:
        bind_lease(ctx, iface, "BOUND", lease)
    elif not background:
        # No DHCP server answers.  main() daemonises at once only with -b
        # (dhclient.c:559-560, `if (immediate_daemon) go_daemon();`); else
        # send_discover() calls state_panic() once the dhclient.conf(5)
        # timeout has passed (dhclient.c:1259-1261), which notes its failure,
        # runs the script with FAIL and only then go_daemon()s
        # (dhclient.c:1430-1438): the foreground process returns 0 then.
        ctx.panic = ctx.state["dhcp_timeout"]
        if os.access(ctx.path(DHCLIENT_SCRIPT), os.X_OK):
            ctx.scripts.append(dhclient_script_env(ifname, "FAIL", None))
    return 0


def bind_lease(ctx, iface, reason, lease):
    """A lease event (dhclient.c bind_lease(): BOUND for a new lease, RENEW
    for a renewal).  With /sbin/dhclient-script in the root (a test installs
    FreeBSD's own, tests/freebsdsh.py), dhclient runs it as script_go() does,
    once the state lock is released: its ifconfig and route calls are this
    simulator's.  Without one, apply_lease() plays its BOUND part."""
    old = ctx.state["bound"].get(iface["name"])
    ctx.state["bound"][iface["name"]] = lease
    if os.access(ctx.path(DHCLIENT_SCRIPT), os.X_OK):
        # dhclient.c bind_lease(): old_ only on a renewal (not REBOOT).
        env = dhclient_script_env(iface["name"], reason, lease,
                                  old if reason != "BOUND" else None)  # fmt: skip
        ctx.scripts.append(env)
    else:
        apply_lease(ctx, iface, lease)
    # bind_lease() writes the lease database whether or not a script runs.
    address, _, plen = lease["address"].partition("/")
    write_lease(ctx, iface["name"], address, int(plen or 24), lease.get("router"))


DHCLIENT_SCRIPT = "/sbin/dhclient-script"
# dhclient.conf(5) timeout: 60 s (clparse.c read_client_conf()
# top_level_config.timeout = 60), scaled down so that the suite stays fast;
# FakeBSD.set_dhcp_timeout() sets it.
DHCP_TIMEOUT = 0.2
# How long dhclient waits for a link before it gives up: 11 s (dhclient.c
# main(): sleep(1), then up to 10 more), scaled down like the timeout;
# FakeBSD.set_link_wait() sets it.
LINK_WAIT = 0.05
# state_panic()'s note()s; before go_daemon() note() writes each to stderr
# too, followed by a newline (errwarn.c note()).
DHCLIENT_PANIC = (
    "No DHCPOFFERS received.\nNo working leases in persistent database - sleeping.\n\n"
)
# dhclient.c CLIENT_PATH: the whole environment starts with it.
DHCLIENT_SCRIPT_PATH = "/usr/bin:/usr/sbin:/bin:/sbin"


def dhclient_script_env(ifname, reason, new, old=None):
    """The environment dhclient gives dhclient-script (sbin/dhclient/
    dhclient.c priv_script_init(): PATH, interface, reason; then
    priv_script_write_params() for old_ and new_: ip_address, network_number
    and broadcast_address (the lease has no broadcast option) from the
    subnet mask, each option present under its dhcp-options(5) name with "-"
    turned into "_" (subnet_mask, routers, domain_name_servers,
    domain_name), in option code order, addresses space-separated
    (pretty_print_option()), and expiry)."""
    env = {"PATH": DHCLIENT_SCRIPT_PATH, "interface": ifname, "reason": reason}
    for prefix, lease in (("old_", old), ("new_", new)):
        if lease is None:
            continue
        address, _, plen = lease["address"].partition("/")
        mask = plen_mask(int(plen or 24))
        network = inet_aton(address) & mask
        env[f"{prefix}ip_address"] = address
        env[f"{prefix}network_number"] = ntoa(network)
        env[f"{prefix}broadcast_address"] = ntoa(network | (~mask & 0xFFFFFFFF))
        env[f"{prefix}subnet_mask"] = ntoa(mask)
        if lease.get("router"):
            env[f"{prefix}routers"] = lease["router"]
        if lease.get("dns"):
            env[f"{prefix}domain_name_servers"] = " ".join(lease["dns"])
        if lease.get("domain"):
            env[f"{prefix}domain_name"] = lease["domain"]
        env[f"{prefix}expiry"] = str(2**31 - 1)
    return env


def run_dhclient_script(root, env):
    """script_go(): run the root's dhclient-script with exactly env; returns
    (status, stdout, stderr).  Inside the root (chroot(8)ed by freebsdsh,
    root "/") it runs directly, else through freebsdsh, so that its
    absolute paths are the root's."""
    import subprocess

    if root == "/":
        done = subprocess.run([DHCLIENT_SCRIPT], env=env, capture_output=True,
                              text=True, timeout=120)  # fmt: skip
    else:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import freebsdsh

        done = freebsdsh.run(root, [DHCLIENT_SCRIPT], env=env)
    return done.returncode, done.stdout, done.stderr


def apply_lease(ctx, iface, lease):
    """dhclient-script BOUND: address (replacing the primary one), default
    route, resolv.conf."""
    k = ctx.k
    address, _, plen = lease["address"].partition("/")
    plen = int(plen or 24)
    k.del_inet(iface)
    k.add_inet(iface, address, plen)
    router = lease.get("router")
    routes = k.s["routes"]
    default = [r for r in routes if r["destination"] == "default" and not r["inet6"]]
    # is_default_interface(): no default route, or it leaves through IF; in
    # the latter case `route add default` fails (already in table).
    if router and not default:
        routes.append(
            {
                "destination": "default",
                "gateway": router,
                "interface": iface["name"],
                "ifa": k.ifa_ifwithnet(router)[1],
                "inet6": False,
                "flags": list(ROUTE_FLAGS),
            }
        )
    if lease.get("dns"):
        lines = []
        if lease.get("domain"):
            lines.append(f"search {lease['domain']}\n")
        lines.extend(f"nameserver {d}\n" for d in lease["dns"])
        with open(ctx.path("/etc/resolv.conf"), "w") as f:
            f.write("".join(lines))


def write_lease(ctx, ifname, address, plen, router):
    """The lease database /var/db/dhclient.leases.IF (dhclient(8) FILES),
    as write_client_lease() (sbin/dhclient/dhclient.c) writes a lease;
    the times are fixed."""
    lines = [
        "lease {",
        f'  interface "{ifname}";',
        f"  fixed-address {address};",
        f"  option subnet-mask {ntoa(plen_mask(plen))};",
    ]
    if router:
        lines.append(f"  option routers {router};")
    lines += [
        "  renew 3 2030/1/2 03:04:05;",
        "  rebind 3 2030/1/2 05:04:05;",
        "  expire 3 2030/1/2 06:04:05;",
        "}",
    ]
    with open(ctx.path(f"/var/db/dhclient.leases.{ifname}"), "w") as f:
        f.write("".join(line + "\n" for line in lines))


def dhclient_usage(ctx):
    ctx.err.append("usage: dhclient [-bdqu] [-c conffile] [-l leasefile] interface\n")
    raise Exit(1)


# -- pkill / pgrep / kill ----------------------------------------------------


def parse_signal(text):
    if text.isdigit():
        return int(text)
    name = text.upper()
    if name.startswith("SIG"):
        name = name[3:]
    return SIGNALS.get(name)


def prog_pkill(ctx, args):
    import re

    pgrep = ctx.program == "pgrep"
    signal = 15
    if not pgrep and args and args[0].startswith("-") and len(args[0]) > 1:
        sig = parse_signal(args[0][1:])
        if sig is not None:
            signal = sig
            args = args[1:]
    flags = set()
    pidfile = None
    delim = "\n"
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        if word == "--":
            break
        j = 1
        while j < len(word):
            ch = word[j]
            if ch in "afilnovxLIq":
                flags.add(ch)
            elif ch in "FGMNPUcdgjstu":
                value = word[j + 1 :] or (args.pop(0) if args else None)
                if value is None:
                    pkill_usage(ctx)
                if ch == "F":
                    pidfile = value
                elif ch == "d" and pgrep:
                    delim = value
                else:
                    flags.add(ch)
                break
            else:
                ctx.warnx(f"illegal option -- {ch}")
                pkill_usage(ctx)
            j += 1
    if not args and pidfile is None:
        pkill_usage(ctx)
    only = None
    if pidfile is not None:
        try:
            with open(ctx.path(pidfile)) as f:
                line = f.readline()
        except OSError as e:  # takepid(): STATUS_ERROR
            ctx.errx(f"Cannot open pidfile `{pidfile}': {e.strerror}", 3)
        if not line:
            ctx.errx(f"Pidfile `{pidfile}' is empty", 3)
        text = line.strip()
        if not text.isdigit() or not 5 <= int(text) <= 99999:
            ctx.errx(f"Invalid pid in file `{pidfile}'", 3)
        only = int(text)
    patterns = []
    for pattern in args:
        try:
            patterns.append(re.compile(pattern))
        except re.error:
            ctx.errx(f"Cannot compile regular expression `{pattern}'", 3)
    matched = []
    for pid, proc in ctx.state["processes"].items():
        if only is not None and int(pid) != only:
            continue
        subject = proc["command"] if "f" in flags else proc["name"]
        if patterns:
            hit = any(
                (p.fullmatch(subject) if "x" in flags else p.search(subject))
                for p in patterns
            )
            if "v" in flags:
                hit = not hit
            if not hit:
                continue
        matched.append(pid)
    if "n" in flags and matched:
        matched = [max(matched, key=int)]
    if "o" in flags and matched:
        matched = [min(matched, key=int)]
    if not matched:
        ctx.mutating = False
        return 1
    if pgrep:
        ctx.mutating = False
        ctx.out.append(delim.join(matched) + "\n")
        return 0
    if signal == 0:
        ctx.mutating = False
        return 0
    for pid in matched:
        ctx.state["processes"][pid].setdefault("signals", []).append(signal)
        if signal not in NON_TERMINATING:
            del ctx.state["processes"][pid]
    return 0


def pkill_usage(ctx):
    ctx.err.append(
        "usage: pkill [-signal] [-ILfilnovx] [-F pidfile] [-G gid]\n"
        "             [-M core] [-N system]\n"
        "             [-P ppid] [-U uid] [-c class] [-g pgrp] [-j jail]\n"
        "             [-s sid] [-t tty] [-u euid] pattern ...\n"
    )
    raise Exit(2)


def prog_kill(ctx, args):
    signal = 15
    if args and args[0] == "-s" and len(args) > 1:
        signal = parse_signal(args[1])
        args = args[2:]
    elif args and args[0].startswith("-") and args[0] != "--":
        signal = parse_signal(args[0][1:])
        args = args[1:]
    if args and args[0] == "--":
        args = args[1:]
    if signal is None or not args:
        ctx.err.append(
            "usage: kill [-s signal_name] pid ...\n"
            "       kill -l [exit_status]\n"
            "       kill -signal_name pid ...\n"
            "       kill -signal_number pid ...\n"
        )
        return 2
    status = 0
    ctx.mutating = False
    for pid in args:
        proc = ctx.state["processes"].get(pid)
        if not pid.isdigit():
            ctx.warnx(f"illegal process id: {pid}")
            status = 2
        elif proc is None:
            ctx.warnx(f"{pid}: {ESRCH}")
            status = 2
        elif signal != 0:  # signal 0 only checks that the process exists
            ctx.mutating = True
            proc.setdefault("signals", []).append(signal)
            if signal not in NON_TERMINATING:
                del ctx.state["processes"][pid]
    return status


def prog_rtsol(ctx, args):
    """rtsol(8): rtsold built SMALL (usr.sbin/rtsold/rtsold.c main(), with
    FreeBSD 13's -i; current defaults/rc.conf sets rtsol_flags="-i"): one
    router solicitation per interface, in the foreground, errors on stderr
    (warnmsg() with fflag: "rtsol: ...").  Unknown interface: "failed to get
    link layer information for IF", "failed to initialize IF", exit 1.
    interface_up() (if.c) brings the interface up, then gives up on it,
    without -F, when IPv6 is disabled ("IF is disabled.") or it does not
    accept router advertisements ("IF does not accept Router
    Advertisement."); -F sets both flags.  On the other interfaces the
    router advertisement the test set (set_router_advertisement) is
    answered at once and the kernel acts on it (nd6_ra_input(),
    sys/netinet6/nd6_rtr.c): an autoconf address from the prefix and the
    interface's EUI-64 ID (in6_ifadd()), unless one is there, and the
    router as default route, "fe80::...%IF", unless an IPv6 default route
    exists (defrouter_select()).  No advertisement: nothing changes.
    Exit 0 either way, as rtsol does once every interface is done or
    given up.  -a (autoifprobe()) is not simulated."""
    k = ctx.k
    force = False
    while args and args[0].startswith("-") and len(args[0]) > 1:
        word = args.pop(0)
        if word == "--":
            break
        for n, ch in enumerate(word[1:], 1):
            if ch == "F":
                force = True
            elif ch in "dDiu":
                pass
            elif ch in "OR":
                if n == len(word) - 1 and not args:
                    rtsol_usage(ctx)
                if n == len(word) - 1:
                    args.pop(0)
                break
            else:
                rtsol_usage(ctx)
    if not args:
        rtsol_usage(ctx)
    for name in args:
        if k.iface(name) is None:
            ctx.warnx(f"failed to get link layer information for {name}")
            ctx.errx(f"failed to initialize {name}")
    for name in args:
        iface = k.iface(name)
        k.set_up(iface, True)
        if force:
            k.set_nd6(iface, 0x8, False)
            k.set_nd6(iface, 0x2, True)
        if iface["nd6"] & 0x8:
            ctx.warnx(f"{name} is disabled.")
            continue
        if not iface["nd6"] & 0x2:
            ctx.warnx(f"{name} does not accept Router Advertisement.")
            continue
        ra = ctx.state.get("ras", {}).get(name)
        if ra is not None:
            router_advertisement(k, iface, ra)
    return 0


def router_advertisement(k, iface, ra):
    local = [a["address"] for a in iface["inet6"] if a["address"].startswith("fe80:")]
    if ra["prefix"] and local:
        prefix = inet6_pton(ra["prefix"])
        address = inet6_ntop(prefix[:8] + inet6_pton(local[0])[8:])
        if not any(a["address"] == address for a in iface["inet6"]):
            iface["inet6"].append(
                {"address": address, "prefixlen": ra["prefixlen"], "autoconf": True}
            )
    if ra["router"] and not any(
        r["inet6"] and r["destination"] == "default" for r in k.s["routes"]
    ):
        k.s["routes"].append(
            {
                "destination": "default",
                "gateway": f"{ra['router']}%{iface['name']}",
                "interface": iface["name"],
                "ifa": local[0] if local else None,
                "inet6": True,
                "flags": ["UP", "GATEWAY", "DONE"],
                "ra": True,
            }
        )


def rtsol_usage(ctx):
    ctx.err.append(
        "usage: rtsol [-dDF] [-O script-name] [-p pidfile] [-R script-name] "
        "interface ...\n"
        "usage: rtsol [-dDF] [-O script-name] [-p pidfile] [-R script-name] -a\n"
    )
    raise Exit(1)


PROGRAM_FUNCS = {
    "ifconfig": prog_ifconfig,
    "sysctl": prog_sysctl,
    "route": prog_route,
    "dhclient": prog_dhclient,
    "pkill": prog_pkill,
    "pgrep": prog_pkill,
    "kill": prog_kill,
    "netstat": prog_netstat,
    "rtsol": prog_rtsol,
}


# ---------------------------------------------------------------------------
# State file and lock


# JSON through the C accelerator: the json package imports re (and enum),
# which would cost more start-up time than the rest of a program call.


class _ScanContext:
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    memo = None

    @staticmethod
    def parse_constant(name):
        raise ValueError(f"bad JSON constant {name}")


def json_loads(text):
    try:
        import _json
    except ImportError:  # pragma: no cover - CPython always has it
        import json

        return json.loads(text)
    ctx = _ScanContext()
    ctx.memo = {}
    value, end = _json.make_scanner(ctx)(text, 0)
    if text[end:].strip():
        raise ValueError("trailing data in the state file")
    return value


def json_dumps(value):
    try:
        import _json
    except ImportError:  # pragma: no cover
        import json

        return json.dumps(value)
    encode = _json.make_encoder(
        None, None, _json.encode_basestring_ascii, None, ": ", ", ",
        False, False, True,
    )  # fmt: skip
    return "".join(encode(value, 0))


class Locked:
    """Exclusive flock on the lock file; load on enter, save on exit."""

    def __init__(self, root, write=True):
        self.root = root
        self.write = write
        self.dir = os.path.join(root, STATE_DIR)
        self.path = os.path.join(self.dir, "state.json")

    def __enter__(self):
        os.makedirs(self.dir, exist_ok=True)
        self.fd = os.open(os.path.join(self.dir, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            with open(self.path) as f:
                self.state = json_loads(f.read())
        except FileNotFoundError:
            self.state = default_state()
            self.write = True
        return self.state

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None and self.write:
                tmp = f"{self.path}.{os.getpid()}.tmp"
                with open(tmp, "w") as f:
                    f.write(json_dumps(self.state))
                os.replace(tmp, self.path)
        finally:
            os.close(self.fd)
        return False


def run_program(root, program, args):
    """Run one simulated program; returns (status, stdout, stderr)."""
    with Locked(root) as state:
        argv = [program, *args]
        ctx = Ctx(root, state, program)
        ctx.created_as = None
        failure = _match_failure(state, argv)
        if failure is not None:
            status = failure["status"]
            stderr = failure["stderr"]
            if stderr and not stderr.endswith("\n"):
                stderr += "\n"
            stdout = ""
            _classify(ctx, argv)
        else:
            try:
                status = PROGRAM_FUNCS[program](ctx, list(args))
            except Exit as e:
                status = e.status
            stdout = "".join(ctx.out)
            stderr = "".join(ctx.err)
        scripts = ctx.scripts
        panic = ctx.panic
        no_link = ctx.no_link
        state["log"].append(
            {
                "argv": argv,
                "status": status,
                "mutating": ctx.mutating,
                "stdout": stdout,
                "stderr": stderr,
                # CLOCK_MONOTONIC is one clock for every process: tests
                # compare it with their own time.monotonic().
                "time": time.monotonic(),
            }
        )
    # A foreground dhclient waits for a DHCP server while nothing holds the
    # lock: the rest of the system goes on meanwhile.
    if panic is not None:
        time.sleep(panic)
        stderr += DHCLIENT_PANIC
    if no_link is not None:
        time.sleep(no_link)
    # dhclient runs its script while nothing holds the lock: the script's
    # ifconfig and route calls take it.  Its output goes where dhclient's
    # does before it daemonises; its exit status is not dhclient's.
    for env in scripts:
        _, out, err = run_dhclient_script(root, env)
        stdout += out
        stderr += err
    return status, stdout, stderr


def _match_failure(state, argv):
    for failure in state["failures"]:
        prefix = failure["prefix"]
        if argv[: len(prefix)] == prefix:
            if failure["times"] is not None:
                failure["times"] -= 1
                if failure["times"] <= 0:
                    state["failures"].remove(failure)
            return failure
    return None


def _classify(ctx, argv):
    """Would this call have changed the state?  For injected failures."""
    program, args = argv[0], argv[1:]
    if program == "ifconfig":
        listing = not args or args[0].startswith("-")
        rest = args[1:]
        showing = not rest or (len(rest) == 1 and rest[0] in IFCONFIG_AFS)
        ctx.mutating = not (listing or showing)
    elif program == "sysctl":
        ctx.mutating = any("=" in a for a in args)
    elif program == "route":
        ctx.mutating = "get" not in args
    elif program == "netstat":
        ctx.mutating = False
    elif program in ("pkill", "kill"):
        ctx.mutating = not (args and args[0] in ("-0", "-s0"))
    else:  # dhclient; pgrep
        ctx.mutating = program != "pgrep"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        sys.stderr.write("usage: fakebsd.py PROGRAM-PATH [ARGS...]\n")
        return 2
    path = os.path.abspath(argv[0])
    program = os.path.basename(path)
    # The root is what is left of the path without the program's place.
    rel = next((r for r in PROGRAMS if path.endswith(f"/{r}")), None)
    root = path[: -len(rel) - 1] if rel else os.path.dirname(os.path.dirname(path))
    root = root or "/"  # run inside the root, chroot(8)ed (tests/freebsdsh.py)
    if program not in PROGRAM_FUNCS:
        sys.stderr.write(f"fakebsd: {program}: not a simulated program\n")
        return 127
    status, stdout, stderr = run_program(root, program, argv[1:])
    sys.stdout.write(stdout)
    sys.stdout.flush()
    sys.stderr.write(stderr)
    sys.stderr.flush()
    return status


# ---------------------------------------------------------------------------
# The Python API


class FakeBSD:
    """The simulated FreeBSD installed in root (see the module docstring)."""

    def __init__(self, root):
        self.root = os.path.abspath(str(root))

    def _locked(self, write=True):
        return Locked(self.root, write)

    # -- installation -------------------------------------------------------

    def install(self):
        """Write the programs into root and create the default kernel."""
        me = os.path.abspath(__file__)
        for rel in PROGRAMS:
            path = os.path.join(self.root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(f'#!/bin/sh\nexec {sys.executable} -I -S {me} "$0" "$@"\n')
            os.chmod(path, 0o755)
        for rel in ("var/run/dhclient", "var/db", "etc", "dev"):
            os.makedirs(os.path.join(self.root, rel), exist_ok=True)
        # A running kernel has devfs(5) on /dev (vfs_mountroot.c,
        # vfs_mountroot_devfs()), null among its devices (null.c); an image's
        # /dev is an empty directory (etc/mtree/BSD.root.dist).
        open(os.path.join(self.root, "dev", "null"), "a").close()
        with self._locked():
            pass
        return self

    # -- setup --------------------------------------------------------------

    def add_interface(self, name, ether=None, inet=(), inet6=(), up=True,
                      mtu=1500, ifdisabled=None, carrier=True):  # fmt: skip
        """An Ethernet NIC attaches (raises ETHERNET/IFATTACH).

        ifdisabled None: the rc(8) outcome - IPv6 enabled iff inet6 is given.
        """
        with self._locked() as state:
            k = Kernel(state)
            if k.iface(name) is not None:
                raise ValueError(f"interface {name} exists")
            if ether is None:
                ether = _fake_mac(name)
            iface = k.attach(name, ether.lower(), mtu=mtu)
            iface["carrier"] = carrier
            if ifdisabled is False or (ifdisabled is None and inet6):
                iface["nd6"] &= ~0x8
            for item in inet:
                address, _, plen = item.partition("/")
                iface["inet"].append({"address": address, "prefixlen": int(plen or 24)})
            if up:
                k.set_up(iface, True)
            for item in inet6:
                address, _, plen = item.partition("/")
                iface["inet6"].append(
                    {"address": inet6_norm(address), "prefixlen": int(plen or 64)}
                )
            return dict(iface)

    def add_carp(self, interface, address_with_len, vhid):
        """An IPv4 address of CARP virtual host vhid, as `ifconfig IF vhid N
        alias A/LEN` leaves it (carp(4)): ifconfig shows it with "vhid N"."""
        address, _, plen = address_with_len.partition("/")
        with self._locked() as state:
            iface = Kernel(state).iface(interface)
            iface["inet"].append(
                {"address": address, "prefixlen": int(plen or 24), "vhid": vhid}
            )

    def add_slaac(self, interface, address_with_len):
        """An IPv6 address that stateless autoconfiguration formed from a
        router advertisement (IN6_IFF_AUTOCONF, nd6_rtr.c): ifconfig shows
        it with "autoconf"."""
        address, _, plen = address_with_len.partition("/")
        with self._locked() as state:
            iface = Kernel(state).iface(interface)
            iface["inet6"].append(
                {
                    "address": inet6_norm(address),
                    "prefixlen": int(plen or 64),
                    "autoconf": True,
                }
            )

    def set_router_advertisement(self, interface, prefix=None, router=None):
        """A router on interface's link that answers a router solicitation
        (see prog_rtsol): prefix "2001:db8:1::/64" (autonomous), router
        its link-local address "fe80::1"; None: no such part."""
        plen = 64
        if prefix is not None:
            prefix, _, width = prefix.partition("/")
            prefix, plen = inet6_norm(prefix), int(width or 64)
        with self._locked() as state:
            state.setdefault("ras", {})[interface] = {
                "prefix": prefix,
                "prefixlen": plen,
                "router": router,
            }

    def set_carrier(self, interface, flag):
        """The link the host (hn) or the wire reports; an hn(4) raises
        IFNET LINK_UP/LINK_DOWN when that changes its link state."""
        with self._locked() as state:
            k = Kernel(state)
            iface = k.iface(interface)
            was_up = k.link_up(iface)
            iface["carrier"] = bool(flag)
            if iface["driver"] == "hn":
                k.link_event(iface, was_up)

    def add_vf(self, hn, vf):
        """A VF attaches next to hn (same MAC); see the module docstring."""
        with self._locked() as state:
            k = Kernel(state)
            hn_if = k.iface(hn)
            if hn_if is None:
                raise ValueError(f"no interface {hn}")
            if k.iface(vf) is not None:
                raise ValueError(f"interface {vf} exists")
            state["vfs"][vf] = hn
            k.attach(vf, hn_if["hwaddr"], mtu=hn_if["mtu"])
            _, unit = split_name(hn)
            if k.vf_oids_present():
                k.sysctl_set(f"dev.hn.{unit}.vf", vf)
            k.update_vf_oids()
            if k.transparent():
                k.set_up(k.iface(vf), True)

    def detach_vf(self, vf):
        with self._locked() as state:
            k = Kernel(state)
            iface = k.iface(vf)
            if iface is None:
                raise ValueError(f"no interface {vf}")
            hn = state["vfs"].pop(vf, None)
            k.detach(iface)
            if hn is not None:
                hn_if = k.iface(hn)
                if hn_if is not None and hn_if["rxvf"] == vf:
                    k.rxvf_change(hn_if, iface, False)
                _, unit = split_name(hn)
                if f"dev.hn.{unit}.vf" in state["sysctls"]:
                    k.sysctl_set(f"dev.hn.{unit}.vf", "")
            k.update_vf_oids()

    def set_transparent(self, flag):
        with self._locked() as state:
            Kernel(state).sysctl_set("hw.hn.vf_transparent", int(flag), "tunable")

    def old_kernel(self):
        with self._locked() as state:
            for name in list(state["sysctls"]):
                if name in ("hw.hn.vf_transparent", "hw.hn.vflist", "hw.hn.vfmap") or (
                    name.startswith("dev.hn.") and name.endswith(".vf")
                ):
                    del state["sysctls"][name]

    def set_sysctl(self, name, value, access=None):
        """access: "rw", "ro" or "tunable"; default: keep, or "rw" if new."""
        with self._locked() as state:
            Kernel(state).sysctl_set(name, value, access)

    def remove_sysctl(self, name):
        with self._locked() as state:
            state["sysctls"].pop(name, None)

    def add_route(self, destination, gateway, interface, inet6=False):
        """A static route; its source address is what route(8) would get
        (Kernel.ifa_ifwithnet), if that is on interface."""
        with self._locked() as state:
            ifp, ifa = Kernel(state).ifa_ifwithnet(gateway, bool(inet6))
            state["routes"].append(
                {
                    "destination": destination,
                    "gateway": gateway,
                    "interface": interface,
                    "ifa": ifa if ifp and ifp["name"] == interface else None,
                    "inet6": bool(inet6),
                    "flags": ["UP", "GATEWAY", "DONE", "STATIC"],
                }
            )

    def set_lease(self, interface, address_with_len, router=None, dns=(),
                  domain=None):  # fmt: skip
        """What dhclient obtains on interface (dns: written to resolv.conf)."""
        with self._locked() as state:
            state["leases"][interface] = {
                "address": address_with_len,
                "router": router,
                "dns": list(dns),
                "domain": domain,
            }

    def renew(self, interface):
        """The running dhclient on interface renews its lease: the lease
        set_lease() gave it now (dhclient.c bind_lease() in S_RENEWING:
        reason RENEW, the previous lease as old_).  Returns dhclient-script's
        (status, stdout, stderr), or None without a script."""
        with self._locked() as state:
            ctx = Ctx(self.root, state, "dhclient")
            if not any(p.get("interface") == interface and p["name"] == "dhclient"
                       for p in state["processes"].values()):  # fmt: skip
                raise ValueError(f"no dhclient runs on {interface}")
            lease = state["leases"].get(interface)
            if lease is None:
                raise ValueError(f"no lease for {interface}")
            bind_lease(ctx, ctx.k.iface(interface), "RENEW", lease)
        for env in ctx.scripts:
            return run_dhclient_script(self.root, env)
        return None

    def start_dhclient(self, interface, pidfile="new"):
        """A dhclient already running on interface; returns its pid."""
        with self._locked() as state:
            k = Kernel(state)
            pid = k.new_pid()
            path = k.dhclient_pidfile(interface, old=(pidfile == "old"))
            state["processes"][str(pid)] = {
                "command": f"dhclient: {interface}",
                "name": "dhclient",
                "interface": interface,
                "pidfile": path,
            }
            full = os.path.join(self.root, path.lstrip("/"))
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(f"{pid}\n")
            return pid

    def set_dhcp_timeout(self, seconds):
        """The dhclient.conf(5) timeout: how long a dhclient without -b
        waits when no DHCP server answers (no set_lease())."""
        with self._locked() as state:
            state["dhcp_timeout"] = seconds

    def set_link_wait(self, seconds):
        """How long dhclient, -b or not, waits for a link that is down
        before it gives up."""
        with self._locked() as state:
            state["link_wait"] = seconds

    def add_process(self, pid, command):
        with self._locked() as state:
            state["processes"][str(pid)] = {
                "command": command,
                "name": os.path.basename(command.split()[0]) if command else "",
                "interface": None,
                "pidfile": None,
            }

    def fail(self, command_prefix, stderr, status=1, times=None):
        """Make calls whose argv starts with command_prefix fail, changing
        nothing (every such call, or the next `times` ones)."""
        with self._locked() as state:
            state["failures"].append(
                {
                    "prefix": list(command_prefix),
                    "stderr": stderr,
                    "status": status,
                    "times": times,
                }
            )

    def clear_failures(self):
        with self._locked() as state:
            state["failures"] = []

    # -- inspection ---------------------------------------------------------

    def state(self):
        with self._locked(write=False) as state:
            return state

    def interface(self, name):
        return self.state()["interfaces"].get(name)

    def ifconfig_text(self, name=None):
        with self._locked(write=False) as state:
            k = Kernel(state)
            if name is None:
                return "".join(ifconfig_status(k, i) for i in k.ifaces())
            iface = k.iface(name)
            return None if iface is None else ifconfig_status(k, iface)

    def sysctl(self, name):
        entry = self.state()["sysctls"].get(name)
        return None if entry is None else entry["value"]

    def calls(self):
        return [{"argv": c["argv"], "status": c["status"]} for c in self.state()["log"]]

    def call_times(self, argv):
        """When argv was run, each time: time.monotonic() in the program."""
        return [c["time"] for c in self.state()["log"] if c["argv"] == argv]

    def mutating_calls(self):
        return [
            {"argv": c["argv"], "status": c["status"]}
            for c in self.state()["log"]
            if c["mutating"]
        ]

    def events(self):
        return self.state()["events"]

    def pop_events(self):
        with self._locked() as state:
            events, state["events"] = state["events"], []
            return events

    def routes(self):
        return self.state()["routes"]

    def dhclients(self):
        return {
            p["interface"]: int(pid)
            for pid, p in self.state()["processes"].items()
            if p["name"] == "dhclient" and p.get("interface")
        }

    def processes(self):
        return {int(pid): p["command"] for pid, p in self.state()["processes"].items()}


def _fake_mac(name):
    """A stable Hyper-V style MAC (00:15:5d, Microsoft) for a NIC name."""
    b = _hash3(name)
    return "00:15:5d:" + ":".join(f"{x:02x}" for x in b)


if __name__ == "__main__":
    sys.exit(main())
