"""A seeded generator of hostile hv_set_ifconfig requests (test code).

Each case starts from a request that would succeed on the robustness VM
(hn0, 00:15:5d:0a:0b:0c, 10.0.0.4/24 behind 10.0.0.1), gets harmless noise
(key order, blank lines, unknown keys, extra valid addresses, MAC spelling,
list endings), and then exactly one defect, applied last so that no noise can
undo it.  The defect decides the exit status the case must get: 65 (bad
data), 66 (no such file) or 69 (interface missing or mismatched).

    cases(seed, count) -> [Case]

The same seed always gives the same cases, so a failure is reproduced by its
seed and index (see tests/test_robustness.py).
"""

import random

HN0_MAC = "00:15:5d:0a:0b:0c"
HN1_MAC = "00:15:5d:0a:0b:0d"
KEYS = ("HWADDR", "IF_NAME", "IP_ADDR", "SUBNET", "GATEWAY", "DNS", "DHCP")
LISTS = ("IP_ADDR", "SUBNET", "GATEWAY", "DNS")

# Words that a shell would act on; none can be part of an address, a MAC,
# an interface name or a 0/1.
SHELL = (
    "$(touch /pwned)", "`touch /pwned`", ";touch /pwned", "|touch /pwned",
    "&& reboot", "> /etc/rc.conf", "$IFS", "${PATH}", "'", '"', "\\", "$((1))",
    "<(id)", "!!", "~root", "*", "?", "#", " ", "%s%n", "{a,b}",
)  # fmt: skip
CONTROL = ("\x00", "\r", "\t", "\x1b", "\x7f", "\x0b", "\x0c", "\x08")
NON_ASCII = ("\xe9", "\u202e", "\uff11", "\u0660", "\U0001f600", "\xa0", "\u00b2")
BAD_IPV4 = (
    "256.1.1.1", "10.0.0", "10.0.0.4.5", "010.0.0.4", "10.0.0.04", "0x0a.0.0.4",
    "10.0.0.4/24", "10.0.0.-4", "+10.0.0.4", "10.0.0.4 ", " 10.0.0.4", "1e1.0.0.4",
    "10..0.4", "10.0.0.4.", "4294967295", "10.0.0.4:80", "localhost", "hn0",
)  # fmt: skip
BAD_IPV6 = (
    "2001:db8::g", "2001:db8:::1", "1:2:3:4:5:6:7:8:9", "2001:db8::1%hn0",
    "fe80::1%1", "[2001:db8::1]", "2001:db8::1/64", ":::", "2001:db8:1:2:3:4:5:6:7",
    "::ffff:10.0.0.256", "2001:0db8:00000::1",
)  # fmt: skip
# (address, subnet) pairs that ipaddress reads but no host may use.
BAD_HOSTS = (
    ("10.0.0.0", "24"), ("10.0.0.255", "255.255.255.0"), ("10.0.0.0", "/24"),
    ("192.168.1.255", "255.255.254.0"), ("127.0.0.1", "8"), ("127.1.2.3", "24"),
    ("224.0.0.1", "24"), ("239.255.255.250", "24"), ("0.0.0.0", "24"),  # noqa: S104
    ("255.255.255.255", "32"), ("::1", "128"), ("::", "64"), ("ff02::1", "64"),
    ("ff05::2", "64"), ("2001:db8::", "64"), ("fe80::5", "64"), ("febf::5", "64"),
    ("2001:db8:0:1::", "64"),
)  # fmt: skip
BAD_SUBNETS = (
    "255.0.255.0", "0.255.255.255", "255.255.255.1", "33", "-1", "024", "/", "",
    "255.255.255.256", "24.0", "0x18", "/ 24", "2 4", "255.255.255", "1e1", "\u0661",
    "128", "129",
)  # fmt: skip
BAD_MACS = (
    "00:15:5d:0a:0b", "00:15:5d:0a:0b:0c:0d", "00-15-5d-0a-0b-0c", "0015.5d0a.0b0c",
    "00:15:5d:0a:0b:0g", "000:15:5d:0a:0b:0c", "00:15:5d:0a:0b:", "", "::::::",
    "00:15:5d:0a:0b:0c ", "001:5:5d:0a:0b:0c",
)  # fmt: skip
BAD_DHCP = ("2", "yes", "true", " 1", "1 ", "01", "", "-0", "on", "1;", "0x1")
BAD_KEYS = ("1X", "A-B", "A B", " HWADDR", "HWADDR ", "X.Y", "$(id)", "Ä", "")
# Names that pass the interface-name check but name no usable interface.
MISSING_IFS = ("hn7", "lagg0", "em0", "hn0.100", "vtnet0", "hn00", "Hn0", "mce0")


class Case:
    """One generated request: bytes (None: no file; "dir": a directory)."""

    __slots__ = ("data", "defect", "index", "status")

    def __init__(self, index, data, defect, status):
        self.index = index
        self.data = data
        self.defect = defect
        self.status = status

    def __repr__(self):
        shown = self.data if not isinstance(self.data, bytes) else self.data[:80]
        return f"Case({self.index}, {self.defect}, {self.status}, {shown!r})"


class Draft:
    """A request being built: ordered (key, value) lines and raw tweaks."""

    def __init__(self, rng):
        self.rng = rng
        self.dhcp = rng.random() < 0.2
        self.fields = {
            "HWADDR": HN0_MAC,
            "IF_NAME": "hn0",
            "IP_ADDR": "" if self.dhcp else "10.0.0.5",
            "SUBNET": "" if self.dhcp else rng.choice(["255.255.255.0", "24", "/24"]),
            "GATEWAY": "" if self.dhcp else "10.0.0.1",
            "DNS": "10.0.0.2",
            "DHCP": "1" if self.dhcp else "0",
        }
        self.extra = []  # further (key, value) lines
        self.blank = 0.0  # chance of a blank line before each line
        self.final_newline = True
        self.crlf = False
        self.raw = b""  # bytes put before (odd length) or after the text

    def lines(self):
        items = list(self.fields.items()) + self.extra
        return [f"{k}={v}" if v is not None else k for k, v in items]

    def encode(self):
        rng = self.rng
        out = []
        for line in self.lines():
            while rng.random() < self.blank:
                out.append(rng.choice(["", " ", "   "]))
            out.append(line)
        text = ("\r\n" if self.crlf else "\n").join(out)
        if self.final_newline:
            text += "\r\n" if self.crlf else "\n"
        data = text.encode("utf-8")
        if len(self.raw) % 2:
            return self.raw + b"\n" + data
        return data + self.raw


# -- noise: changes that keep a request valid ---------------------------------


def noise_order(d):
    items = list(d.fields.items())
    d.rng.shuffle(items)
    d.fields = dict(items)


def noise_blank_lines(d):
    d.blank = d.rng.choice([0.1, 0.3, 0.6])


def noise_unknown_keys(d):
    for n in range(d.rng.randrange(1, 6)):
        d.extra.append(
            (f"X_{n}_{d.rng.randrange(10**6)}", d.rng.choice(["", "1", "a b"]))
        )


def noise_mac_spelling(d):
    octets = d.fields["HWADDR"].split(":")
    if d.rng.random() < 0.5:
        octets = [o.upper() for o in octets]
    if d.rng.random() < 0.5:
        octets = [o.lstrip("0") or "0" for o in octets]
    d.fields["HWADDR"] = ":".join(octets)


def noise_more_addresses(d):
    if d.dhcp:
        return
    addresses = [d.fields["IP_ADDR"]]
    subnets = [d.fields["SUBNET"]]
    for n in range(d.rng.randrange(1, 5)):
        if d.rng.random() < 0.5:
            addresses.append(f"10.0.{n + 1}.{d.rng.randrange(1, 255)}")
            subnets.append(d.rng.choice(["255.255.255.0", "24", "/24"]))
        else:
            addresses.append(f"2001:db8:{n}::{d.rng.randrange(1, 65535):x}")
            subnets.append(d.rng.choice(["64", "/64", "128", "48"]))
    d.fields["IP_ADDR"] = ";".join(addresses)
    d.fields["SUBNET"] = ";".join(subnets)
    d.fields["GATEWAY"] = d.rng.choice(["10.0.0.1", "10.0.0.1;2001:db8::1", "fe80::1"])


def noise_trailing_semicolons(d):
    for key in LISTS:
        if d.fields.get(key) and d.rng.random() < 0.5:
            d.fields[key] += ";"


def noise_no_if_name(d):
    # Without IF_NAME the one interface with HWADDR is meant.
    d.fields["IF_NAME"] = "" if d.rng.random() < 0.5 else None
    if d.fields["IF_NAME"] is None:
        del d.fields["IF_NAME"]


def noise_no_final_newline(d):
    d.final_newline = False


NOISE = (
    noise_order,
    noise_blank_lines,
    noise_unknown_keys,
    noise_mac_spelling,
    noise_more_addresses,
    noise_trailing_semicolons,
    noise_no_if_name,
    noise_no_final_newline,
)


# -- defects: each makes the request fail with a known status ----------------


def _list_entries(d, key):
    value = d.fields.get(key) or ""
    return [e for e in value.split(";") if e] or [""]


def _set_entry(d, key, index, value):
    entries = _list_entries(d, key)
    entries[index % len(entries)] = value
    d.fields[key] = ";".join(entries)


def _any_key(d, keys=KEYS):
    present = [k for k in keys if k in d.fields]
    return d.rng.choice(present)


def _insert(rng, value, payload):
    at = rng.randrange(len(value) + 1)
    return value[:at] + payload + value[at:]


def _poison(d, payload):
    # payload inside a value that is checked as a whole: an address, a MAC,
    # an interface name, 0/1.  A list value gets it inside one entry.
    rng = d.rng
    key = _any_key(d)
    value = d.fields.get(key) or ""
    if key in LISTS and value:
        entries = value.split(";")
        i = rng.randrange(len(entries))
        entries[i] = _insert(rng, entries[i], payload) if entries[i] else payload
        d.fields[key] = ";".join(entries)
    else:
        d.fields[key] = _insert(rng, value, payload)
    return key


def defect_shell(d):
    payload = d.rng.choice(SHELL)
    if d.rng.random() < 0.3:
        payload = d.rng.choice(SHELL) + payload
    _poison(d, payload + "x")
    return "shell", 65


def defect_newline_in_value(d):
    # The line breaks; what follows is no KEY=VALUE, a bad key, or a repeat.
    rng = d.rng
    tail = rng.choice(
        [
            "touch /pwned",
            "$(touch /pwned)=1",
            "`reboot`",
            f"{rng.choice(KEYS[:1] + KEYS[2:3] + KEYS[-1:])}=1",
            "reboot #",
            "IF_NAME hn0",
        ]
    )
    key = _any_key(d)
    d.fields[key] = (d.fields[key] or "") + "\n" + tail
    return "newline", 65


def defect_control(d):
    _poison(d, d.rng.choice(CONTROL))
    return "control", 65


def defect_crlf(d):
    d.crlf = True
    return "crlf", 65


def defect_non_ascii(d):
    _poison(d, d.rng.choice(NON_ASCII))
    return "non-ascii", 65


def defect_binary(d):
    rng = d.rng
    junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    junk += bytes([rng.choice([0, 1, 0x1B, 0x80, 0xFF, 0xC3])])
    if rng.random() < 0.5:
        _poison(d, junk.decode("latin-1"))
    else:
        d.raw = junk
    return "binary", 65


def defect_overlong_value(d):
    rng = d.rng
    key = _any_key(d)
    size = rng.choice([100, 4096, 60000])
    filler = rng.choice(["9", "a", "1.", ":", "x", "f:"])
    d.fields[key] = (d.fields[key] or "") + filler * (size // len(filler))
    return "overlong-value", 65


def defect_overlong_file(d):
    rng = d.rng
    size = 64 * 1024 + rng.choice([1, 100, 70000, 1 << 20])
    if rng.random() < 0.5:
        d.extra.append(("X_PADDING", "y" * size))
    else:
        d.extra.append((" " * size, None))  # a blank line
    return "overlong-file", 65


def defect_bad_address(d):
    rng = d.rng
    key = rng.choice([k for k in LISTS if k != "SUBNET"])
    bad = rng.choice(BAD_IPV4 + BAD_IPV6)
    if key == "IP_ADDR" and d.dhcp:
        d.fields["SUBNET"] = "24"
        d.fields["IP_ADDR"] = bad
    else:
        _set_entry(d, key, rng.randrange(8), bad)
    return "bad-address", 65


def defect_bad_host(d):
    rng = d.rng
    address, subnet = rng.choice(BAD_HOSTS)
    key = "IP_ADDR"
    if rng.random() < 0.25 and not address.startswith(("10.", "192.", "2001:", "fe")):
        # Loopback, multicast or unspecified: no gateway either.
        _set_entry(d, "GATEWAY", rng.randrange(4), address)
        return "bad-host", 65
    if d.dhcp:
        d.fields["IP_ADDR"], d.fields["SUBNET"] = address, subnet
    else:
        i = rng.randrange(8)
        entries = _list_entries(d, key)
        _set_entry(d, "IP_ADDR", i % len(entries), address)
        _set_entry(d, "SUBNET", i % len(entries), subnet)
    return "bad-host", 65


def defect_bad_subnet(d):
    rng = d.rng
    subnet = rng.choice(BAD_SUBNETS)
    if subnet in ("33", "128", "129") or d.dhcp:
        # Too long for IPv4 (33, 128), for anything (129): one entry.
        d.fields["IP_ADDR"] = "2001:db8::5" if subnet == "129" else "10.0.0.5"
        d.fields["SUBNET"] = subnet
    elif subnet == "":
        d.fields["SUBNET"] = ";" + d.fields["SUBNET"]  # an empty first entry
    else:
        entries = _list_entries(d, "SUBNET")
        _set_entry(d, "SUBNET", rng.randrange(len(entries)), subnet)
    return "bad-subnet", 65


def defect_mismatched_lists(d):
    rng = d.rng
    addresses = [] if d.dhcp else [a for a in _list_entries(d, "IP_ADDR") if a]
    subnets = [] if d.dhcp else [s for s in _list_entries(d, "SUBNET") if s]
    if rng.random() < 0.2:
        extra = rng.randrange(1, 3000)
        addresses += [f"10.{n // 250 + 10}.{n % 250}.1" for n in range(extra)]
        subnets += ["24"] * extra
    if rng.random() < 0.5:
        addresses.append(f"10.0.9.{rng.randrange(1, 255)}")
    elif subnets and rng.random() < 0.5:
        subnets.pop(rng.randrange(len(subnets)))
    else:
        subnets.append("24")
    d.fields["IP_ADDR"] = ";".join(addresses)
    d.fields["SUBNET"] = ";".join(subnets)
    return "mismatched-lists", 65


def defect_missing_key(d):
    key = d.rng.choice(["HWADDR", "DHCP"] + ([] if d.dhcp else ["IP_ADDR"]))
    d.fields.pop(key, None)
    if key == "IP_ADDR" and d.rng.random() < 0.5:
        d.fields.pop("SUBNET", None)
    return "missing-key", 65


def defect_duplicate_key(d):
    rng = d.rng
    key = rng.choice(list(d.fields) + [k for k, v in d.extra if v is not None])
    value = d.fields.get(key, rng.choice(["1", "", "10.0.0.6", HN0_MAC]))
    d.extra.insert(rng.randrange(len(d.extra) + 1), (key, value))
    return "duplicate-key", 65


def defect_bad_line(d):
    rng = d.rng
    if rng.random() < 0.5:
        d.extra.append((rng.choice(["just words", "HWADDR", "reboot", "  x  "]), None))
    else:
        d.extra.append((rng.choice(BAD_KEYS), "1"))
    return "bad-line", 65


def defect_bad_mac(d):
    d.fields["HWADDR"] = d.rng.choice(BAD_MACS)
    return "bad-mac", 65


def defect_bad_dhcp(d):
    d.fields["DHCP"] = d.rng.choice(BAD_DHCP)
    return "bad-dhcp", 65


def defect_bad_if_name(d):
    d.fields["IF_NAME"] = d.rng.choice(
        ["hn0/..", "../hn0", "hn0 hn1", "0hn", "a" * 16, "hn0;", "h..n", "-hn0", "hn0$"]
    )
    return "bad-if-name", 65


def defect_missing_interface(d):
    d.fields["IF_NAME"] = d.rng.choice(MISSING_IFS)
    return "missing-interface", 69


def defect_mac_mismatch(d):
    rng = d.rng
    choice = rng.randrange(3)
    if choice == 0:
        d.fields["IF_NAME"] = "hn1"  # exists, another MAC
    elif choice == 1:
        d.fields["IF_NAME"] = "hn0"
        d.fields["HWADDR"] = rng.choice(
            [HN1_MAC, "00:15:5d:0a:0b:0e", "02:00:00:00:00:01"]
        )
    else:
        d.fields.pop("IF_NAME", None)
        d.fields["HWADDR"] = rng.choice(["00:15:5d:0a:0b:0e", "ff:ff:ff:ff:ff:ff"])
    return "mac-mismatch", 69


def defect_empty(d):
    d.fields = {}
    d.extra = d.rng.choice([[], [("", None)] * 5])
    d.final_newline = d.rng.random() < 0.5
    return "empty", 65


DEFECTS = (
    (defect_shell, 12),
    (defect_newline_in_value, 5),
    (defect_control, 6),
    (defect_crlf, 1),
    (defect_non_ascii, 5),
    (defect_binary, 6),
    (defect_overlong_value, 3),
    (defect_overlong_file, 1),
    (defect_bad_address, 10),
    (defect_bad_host, 10),
    (defect_bad_subnet, 6),
    (defect_mismatched_lists, 5),
    (defect_missing_key, 4),
    (defect_duplicate_key, 5),
    (defect_bad_line, 4),
    (defect_bad_mac, 4),
    (defect_bad_dhcp, 3),
    (defect_bad_if_name, 3),
    (defect_missing_interface, 3),
    (defect_mac_mismatch, 3),
    (defect_empty, 1),
)


def case(seed, index):
    """Case number index of the campaign with this seed."""
    rng = random.Random(f"{seed}:{index}")
    roll = rng.random()
    if roll < 0.005:
        return Case(index, None, "no-file", 66)
    if roll < 0.01:
        return Case(index, "dir", "directory", 66)
    d = Draft(rng)
    functions, weights = zip(*DEFECTS)
    defect = rng.choices(functions, weights)[0]
    chosen = rng.sample(range(len(NOISE)), rng.randrange(len(NOISE) + 1))
    for noise in [NOISE[i] for i in sorted(chosen)]:
        if noise is noise_unknown_keys and defect in (
            defect_missing_interface,
            defect_mac_mismatch,
        ):
            continue  # its warning would be a second stderr line
        noise(d)
    name, status = defect(d)
    return Case(index, d.encode(), name, status)


def cases(seed, count, start=0):
    return [case(seed, i) for i in range(start, start + count)]
