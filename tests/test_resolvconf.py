"""The resolv.conf reader, in process: parse_nameservers and is_ip_address.

parse_nameservers reads the file as res_init() in libc does: a line that
starts with "nameserver" and a blank; the address ends at a blank, "#" or
";".  is_ip_address agrees with Python's ipaddress module, plus an IPv6
%scope that names an interface or is a number.
"""

import ipaddress
import random

import pytest

import hvtools

VALID = [
    "0.0.0.0",  # noqa: S104
    "1.2.3.4",
    "10.0.0.1",
    "168.63.129.16",
    "255.255.255.255",
    "::",
    "::1",
    "1::",
    "fe80::1",
    "2001:db8::53",
    "2001:DB8::53",
    "2001:db8:0:0:0:0:0:53",
    "2001:0db8:0000:0000:0000:0000:0000:0053",
    "1:2:3:4:5:6:7::",
    "::2:3:4:5:6:7:8",
    "1:2:3:4:5:6:7:8",
    "::ffff:192.0.2.1",
    "::192.0.2.1",
    "64:ff9b::192.0.2.1",
    "1:2:3:4:5:6:192.0.2.1",
    "1::5:6:192.0.2.1",
    "fe80::1%hn0",
    "fe80::1%1",
    "fe80::215:5dff:fe0a:b0c%lagg0",
    "fe80::1%vlan0.100",
]

INVALID = [
    "",
    " ",
    "1.2.3",
    "1.2.3.4.5",
    "1.2.3.256",
    "01.2.3.4",
    "1.2.3.04",
    "1.2.3.-4",
    "1.2.3.+4",
    "1.2.3.4 ",
    " 1.2.3.4",
    "1.2.3.4.",
    "1..2.3",
    "0x7f.0.0.1",
    "127.1",
    "1.2.3.\u0664",
    "\uff11.2.3.4",
    "1.2.3.4%hn0",
    "1.2.3.4%1",
    ":",
    ":::",
    "1:::2",
    "1::2::3",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4::5:6:7:8",
    "12345::",
    "g::1",
    "::1:",
    ":1::",
    "1.2.3.4::",
    "::1.2.3.4:1",
    "::1.2.3",
    "::1.2.3.04",
    "1:2:3:4:5:6:7:1.2.3.4",
    "fe80::1%",
    "fe80::1%%hn0",
    "fe80::1%hn0%1",
    "fe80::1%../x",
    "fe80::1%\u0661",
    "fe80::1%hn 0",
    "nameserver",
    "localhost",
    "[::1]",
    "::1/128",
]


@pytest.mark.parametrize("text", VALID)
def test_valid(text):
    assert hvtools.is_ip_address(text)


@pytest.mark.parametrize("text", INVALID)
def test_invalid(text):
    assert not hvtools.is_ip_address(text)


def python_says(text):
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def candidates(seed, count):
    rng = random.Random(seed)
    pieces = [
        "0", "1", "00", "01", "9", "10", "99", "255", "256", "300", "ff", "FFFF",
        "fffff", "db8", "0db8", "g", "", ":", "::", ".", "1.2.3.4", "0.0.0.0",  # noqa: S104
        "255.255.255.255", "1.2.3", "192.0.2.01", " ", "-", "x",
    ]  # fmt: skip
    for _ in range(count):
        if rng.random() < 0.5:
            yield ".".join(rng.choice(pieces[:12]) for _ in range(rng.randint(1, 5)))
        else:
            yield "".join(rng.choice(pieces) for _ in range(rng.randint(1, 12)))
            words = [rng.choice(pieces[:16]) for _ in range(rng.randint(1, 9))]
            yield ":".join(words)


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_ipaddress(seed):
    disagree = [
        text
        for text in candidates(seed, 4000)
        if "%" not in text and hvtools.is_ip_address(text) != python_says(text)
    ]
    assert disagree == []


def test_generated_cases_include_both_answers():
    answers = {python_says(text) for text in candidates(0, 4000)}
    assert answers == {True, False}


@pytest.mark.parametrize("text", VALID + INVALID)
def test_table_agrees_with_ipaddress_without_scope(text):
    if "%" in text:
        _, _, scope = text.partition("%")
        expected = python_says(text) and (
            hvtools.valid_ifname(scope) or (scope.isascii() and scope.isdigit())
        )
    else:
        expected = python_says(text)
    assert hvtools.is_ip_address(text) is expected


RESOLV = [
    ("nameserver 10.0.0.1\n", ["10.0.0.1"]),
    ("nameserver 10.0.0.1", ["10.0.0.1"]),
    ("nameserver\t10.0.0.1\n", ["10.0.0.1"]),
    ("nameserver \t 10.0.0.1 \t\n", ["10.0.0.1"]),
    ("nameserver 10.0.0.1 10.0.0.2\n", ["10.0.0.1"]),
    ("nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver ::1\n",
     ["10.0.0.1", "10.0.0.2", "::1"]),
    ("nameserver 2001:db8::53\n", ["2001:db8::53"]),
    ("nameserver ::ffff:192.0.2.1\n", ["::ffff:192.0.2.1"]),
    ("nameserver fe80::1%hn0\n", ["fe80::1%hn0"]),
    ("nameserver fe80::1%2\n", ["fe80::1%2"]),
    ("# nameserver 10.0.0.1\n", []),
    ("; nameserver 10.0.0.1\n", []),
    ("#nameserver 10.0.0.1\n", []),
    ("nameserver 10.0.0.1 # primary\n", ["10.0.0.1"]),
    ("nameserver 10.0.0.1# primary\n", ["10.0.0.1"]),
    ("nameserver 10.0.0.1;primary\n", ["10.0.0.1"]),
    ("nameserver #10.0.0.1\n", []),
    ("nameserver\n", []),
    ("nameserver \n", []),
    ("nameserver", []),
    ("nameservers 10.0.0.1\n", []),
    ("Nameserver 10.0.0.1\n", []),
    ("NAMESERVER 10.0.0.1\n", []),
    (" nameserver 10.0.0.1\n", []),
    ("\tnameserver 10.0.0.1\n", []),
    ("nameserver:10.0.0.1\n", []),
    ("nameserver 10.0.0.1\r\n", []),  # res_init keeps the \r: not an address
    ("nameserver dns.example.com\n", []),
    ("nameserver 10.0.0.256\n", []),
    ("nameserver 010.0.0.1\n", []),
    ("nameserver 10.0.0.1%hn0\n", []),
    ("nameserver fe80::1%\n", []),
    (
        "search example.com\ndomain example.com\noptions edns0\nsortlist 10.0.0.0\n"
        "nameserver 168.63.129.16\n",
        ["168.63.129.16"],
    ),
    (
        "# Generated by resolvconf\nsearch reddog.microsoft.com\n"
        "nameserver 168.63.129.16\nnameserver 2001:db8::1\n"
        "nameserver bogus\nnameserver 10.0.0.1\n",
        ["168.63.129.16", "2001:db8::1", "10.0.0.1"],
    ),
    ("nameserver 10.0.0.1\nnameserver 10.0.0.1\n", ["10.0.0.1", "10.0.0.1"]),
    ("nameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\nnameserver 4.4.4.4\n",
     ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]),
    ("", []),
    ("\n\n", []),
]  # fmt: skip


@pytest.mark.parametrize(("text", "servers"), RESOLV)
def test_parse_nameservers(text, servers):
    assert hvtools.parse_nameservers(text) == servers
