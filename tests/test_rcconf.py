"""The rc.conf reader, in process: sh(1) semantics and network.subr's answers.

Every PARSE row was also checked against a real POSIX sh when written (what
sh leaves in the variables after sourcing the text); rows that sh would run
as commands are the ones the reader must skip with a problem instead.
"""

import random

import pytest

import hvtools


def evaluate(text):
    assignments, problems = hvtools.parse_rc(text)
    return hvtools.rc_evaluate(assignments, {}), [line for line, _ in problems]


# (text, variables afterwards, lines with a problem)
PARSE = [
    # quoting
    ("a=1", {"a": "1"}, []),
    ('a="x y"', {"a": "x y"}, []),
    ("a='x y'", {"a": "x y"}, []),
    ("a=", {"a": ""}, []),
    ('a=""', {"a": ""}, []),
    ("a=''", {"a": ""}, []),
    ("a=\"a\"'b'c", {"a": "abc"}, []),
    ("a=x\"y z\"'w'", {"a": "xy zw"}, []),
    ("a='$x'", {"a": "$x"}, []),
    ('a="it\'s"', {"a": "it's"}, []),
    ("a='say \"hi\"'", {"a": 'say "hi"'}, []),
    ("a=x\\ y", {"a": "x y"}, []),
    ('a=\\"x\\"', {"a": '"x"'}, []),
    ("a='a\\b'", {"a": "a\\b"}, []),
    ("a=a\\b", {"a": "ab"}, []),
    ("a=/usr/local/sbin:/bin", {"a": "/usr/local/sbin:/bin"}, []),
    ("a=-a,b+c=d@e%f^g!h?i*j[k]{l}", {"a": "-a,b+c=d@e%f^g!h?i*j[k]{l}"}, []),
    # escapes inside double quotes
    ('a="a\\b"', {"a": "a\\b"}, []),
    ('a="\\$x"', {"a": "$x"}, []),
    ('a="\\""', {"a": '"'}, []),
    ('a="\\\\"', {"a": "\\"}, []),
    ('a="\\`"', {"a": "`"}, []),
    ('a="a\\\\b"', {"a": "a\\b"}, []),
    ('a="\\n\\t"', {"a": "\\n\\t"}, []),
    ('a="\\\'"', {"a": "\\'"}, []),
    # multi-line values and backslash-newline
    ('a="x\ny"', {"a": "x\ny"}, []),
    ("a='x\ny'", {"a": "x\ny"}, []),
    ('a="x\\\ny"', {"a": "xy"}, []),
    ("a='x\\\ny'", {"a": "x\\\ny"}, []),
    ("a=x\\\ny", {"a": "xy"}, []),
    ("a=1 \\\nb=2", {"a": "1", "b": "2"}, []),
    ("a\\\n=1", {"a": "1"}, []),
    ("ifconfig_\\\nhn0=DHCP", {"ifconfig_hn0": "DHCP"}, []),
    ('a="x\ny"\nb=3', {"a": "x\ny", "b": "3"}, []),
    ('a="x\ny"\necho hi\nb=3', {"a": "x\ny", "b": "3"}, [3]),
    ("a=1 # comment \\\nb=2", {"a": "1", "b": "2"}, []),
    # CRLF: sh keeps the carriage return in the value
    ("a=1\r\nb=2\r\n", {"a": "1\r", "b": "2\r"}, []),
    ('a="DHCP"\r\n', {"a": "DHCP\r"}, []),
    ("# comment\r\na=x", {"a": "x"}, []),
    # comments, and # inside a word
    ("a=1 # c", {"a": "1"}, []),
    ("a=1\t# c", {"a": "1"}, []),
    ("a=1#c", {"a": "1#c"}, []),
    ("a=#x", {"a": "#x"}, []),
    ('a="x"#c', {"a": "x#c"}, []),
    ("a='x'#c", {"a": "x#c"}, []),
    ('a="x" #c', {"a": "x"}, []),
    ("a='#'", {"a": "#"}, []),
    ('a="x # y"', {"a": "x # y"}, []),
    ("a=x\\#y", {"a": "x#y"}, []),
    ("a=1# c", {}, [1]),
    ("  # indented", {}, []),
    ("\t\n\n  \na=1", {"a": "1"}, []),
    ("\ta=1", {"a": "1"}, []),
    ("a=1 ; # c", {"a": "1"}, []),
    # parameter expansion
    ("b=2\na=$b", {"a": "2", "b": "2"}, []),
    ("a=${b}", {"a": ""}, []),
    ("a=$b", {"a": ""}, []),
    ('b=x\na="${b}y"', {"a": "xy", "b": "x"}, []),
    ("b=x\na=$by", {"a": "", "b": "x"}, []),
    ("b=x\na=$b.y", {"a": "x.y", "b": "x"}, []),
    ("b=1\na=$b$b", {"a": "11", "b": "1"}, []),
    ('a=x\na="$a y"', {"a": "x y"}, []),
    ("a=1 b=$a", {"a": "1", "b": "1"}, []),
    ("a=${b:-d}", {"a": "d"}, []),
    ("b=\na=${b:-d}", {"a": "d", "b": ""}, []),
    ("b=x\na=${b:-d}", {"a": "x", "b": "x"}, []),
    ("a=${b-d}", {"a": "d"}, []),
    ("b=\na=${b-d}", {"a": "", "b": ""}, []),
    ("a=${b:=d}", {"a": "d", "b": "d"}, []),
    ("b=\na=${b:=d}", {"a": "d", "b": "d"}, []),
    ("a=${b=d}", {"a": "d", "b": "d"}, []),
    ("b=\na=${b=d}", {"a": "", "b": ""}, []),
    ("a=${b+y}", {"a": ""}, []),
    ("b=\na=${b+y}", {"a": "y", "b": ""}, []),
    ("b=x\na=${b+y}", {"a": "y", "b": "x"}, []),
    ("b=\na=${b:+y}", {"a": "", "b": ""}, []),
    ("b=x\na=${b:+y}", {"a": "y", "b": "x"}, []),
    ("a=${b:-}", {"a": ""}, []),
    ("a=${b:-${c:-z}}", {"a": "z"}, []),
    ("c=w\na=${b:-${c}}", {"a": "w", "c": "w"}, []),
    ("a=${b:-x y}", {"a": "x y"}, []),
    ("a=${b:-'q r'}", {"a": "q r"}, []),
    ('a=${b:-"q r"}', {"a": "q r"}, []),
    ("a=\"${b:-'q'}\"", {"a": "'q'"}, []),
    ('a="${b:-"q r"}"', {"a": "q r"}, []),
    ('a="${b:-\\}}"', {"a": "}"}, []),
    ('a="${b:-a\\b}"', {"a": "a\\b"}, []),
    ("a=${b:-a\\}b}", {"a": "a}b"}, []),
    ('a="x${b:-y}z"', {"a": "xyz"}, []),
    ('a="${b}}"', {"a": "}"}, []),
    ("a=$", {"a": "$"}, []),
    ('a="$"', {"a": "$"}, []),
    ('a="x$ y"', {"a": "x$ y"}, []),
    ("a=x$/y", {"a": "x$/y"}, []),
    (
        'ifconfig_DEFAULT=DHCP\nifconfig_hn0="$ifconfig_DEFAULT"',
        {"ifconfig_DEFAULT": "DHCP", "ifconfig_hn0": "DHCP"},
        [],
    ),
    ("a=1\na=2", {"a": "2"}, []),
    # special parameters and unsupported expansions are skipped
    ("a=$$", {}, [1]),
    ("a=$1", {}, [1]),
    ("a=${1}", {}, [1]),
    ("a=$@", {}, [1]),
    ('a="$*"', {}, [1]),
    ("a=$#", {}, [1]),
    ("a=$?", {}, [1]),
    ("a=$!", {}, [1]),
    ("a=$-", {}, [1]),
    ("a=$0", {}, [1]),
    ("a=${#b}", {}, [1]),
    ("a=${b#x}", {}, [1]),
    ("a=${b%x}", {}, [1]),
    ("a=${b?x}", {}, [1]),
    ("a=${b\nc=1", {"c": "1"}, [1]),
    ("a=~", {}, [1]),
    ("a=~/x", {}, [1]),
    ("a=x:~", {}, [1]),
    ("a='~'", {"a": "~"}, []),
    ('a="~"', {"a": "~"}, []),
    ("a=x~", {"a": "x~"}, []),
    ("a=\\~", {"a": "~"}, []),
    ("a=$'x\\ty'", {}, [1]),
    ("a=\"$'x'\"", {"a": "$'x'"}, []),
    # command substitution is never run
    ("a=$(hostname)", {}, [1]),
    ("a=`hostname`", {}, [1]),
    ('a="$(hostname)"', {}, [1]),
    ('a="x`hostname`"', {}, [1]),
    ("a=$((1+2))", {}, [1]),
    ("a='$(hostname)'", {"a": "$(hostname)"}, []),
    ("a='`hostname`'", {"a": "`hostname`"}, []),
    ('a="${b:-$(x)}"', {}, [1]),
    # several assignments, and commands
    ("a=1 b=2", {"a": "1", "b": "2"}, []),
    ("a=1; b=2", {"a": "1", "b": "2"}, []),
    ("a=1;b=2", {"a": "1", "b": "2"}, []),
    ("a=1\tb='x y'  c=\"z\"", {"a": "1", "b": "x y", "c": "z"}, []),
    ("a=1 cmd", {}, [1]),
    ("a=1 b=2 cmd", {}, [1]),
    ("a=1; cmd", {"a": "1"}, [1]),
    ("a= b", {}, [1]),
    ("name = value", {}, [1]),
    ("a =1", {}, [1]),
    ("a= 1", {}, [1]),
    ("echo hi", {}, [1]),
    (". /etc/foo", {}, [1]),
    ("source /etc/foo", {}, [1]),
    ("if [ -f /x ]; then\n  b=2\nfi", {"b": "2"}, [1, 3]),
    ("a=1 &", {}, [1]),
    ("a=1 && b=2", {}, [1]),
    ("a=1 | cat", {}, [1]),
    ("a=1 >/dev/null", {}, [1]),
    ("(a=1)", {}, [1]),
    ("{ a=1; }", {}, [1]),
    ("a=(x)", {}, [1]),
    ("1a=1", {}, [1]),
    ("a-b=1", {}, [1]),
    ("\u00e9=1", {}, [1]),
    ("_a=1", {"_a": "1"}, []),
    ("A_1=x", {"A_1": "x"}, []),
    ("export a=1", {"a": "1"}, []),
    ("export a", {}, []),
    ("export a=1 b='x y'", {"a": "1", "b": "x y"}, []),
    ("readonly a=1", {"a": "1"}, []),
    ("export -n a", {}, [1]),
    ("a=1 export b=2", {}, [1]),
    # unterminated quotes: skipped, later lines still read
    ('a="x\nb=2', {"b": "2"}, [1]),
    ("a='x\nb=2", {"b": "2"}, [1]),
    ('b=2\na="x', {"b": "2"}, [2]),
    ('a="x\\"\nb=2', {"b": "2"}, [1]),
    ("a=1\n\ncmd\nb=2", {"a": "1", "b": "2"}, [3]),
    # the ":" command: its words are expanded, for what they assign
    (': ${a:="/usr/local"}', {"a": "/usr/local"}, []),
    ("a=x\n: ${a:=y}", {"a": "x"}, []),
    ("a=\n: ${a:=y}", {"a": "y"}, []),
    ("a=\n: ${a=y}", {"a": ""}, []),
    (": ${a=y}", {"a": "y"}, []),
    (": ${a:=x} ${b:=$a}; c=$b # c", {"a": "x", "b": "x", "c": "x"}, []),
    ("  : plain words ${a:-y}", {}, []),
    (": ${a:=$(x)}", {}, [1]),
    (": ${a:=x} > f", {}, [1]),
    (":a=1", {}, [1]),
    ("a=1 : ${b:=2}", {}, [1]),
]


@pytest.mark.parametrize(("text", "env", "problems"), PARSE)
def test_parse(text, env, problems):
    assert evaluate(text) == (env, problems)


def test_problem_reasons_are_one_line_each():
    _, problems = hvtools.parse_rc("a=$(x)\nb='y\nc=`z`\nd=1 e")
    assert [line for line, _ in problems] == [1, 2, 3, 4]
    reasons = [reason for _, reason in problems]
    assert reasons[0] == reasons[2] == "command substitution"
    assert reasons[1] == "unterminated single quote"
    assert all("\n" not in r for r in reasons)


def test_spans_cover_the_assignment_word():
    text = "x=1 # c\n  y=\"a b\"; export z='q'\nw=${x:-1}\n"
    assignments, _ = hvtools.parse_rc(text)
    words = {name: text[start:end] for name, _, start, end in assignments}
    assert words == {"x": "x=1", "y": 'y="a b"', "z": "z='q'", "w": "w=${x:-1}"}


def fast_path(line):
    return hvtools._simple_value(line.partition("=")[2])


# The fast path must give exactly what the scanner gives for every line it
# takes.
SIMPLE_VALUES = [
    "1",
    "",
    '""',
    "''",
    "YES",
    '"YES"',
    "'YES'",
    '"DHCP"',
    '"inet 10.0.0.4/24"',
    "'inet 10.0.0.4 netmask 255.255.255.0'",
    "/usr/local/etc/rc.d",
    '"/etc/rc.conf /etc/rc.conf.local"',
    "-a,b+c=d@e%f^g!h?i*j[k]{l}",
    '"${a}"',
    '"x${a}y"',
    '"${a}${b}"',
    '"${a} ${b}"',
    '"${a}}"',
    '"a\'b"',
    "'a\"b'",
    "'a\\b'",
    "'$x'",
    "'`x`'",
    '"x # y"',
    "'#'",
    '"\t"',
]
SIMPLE_TAILS = ["", " ", "\t", " # comment", "\t# comment", "  #", " #x=1 y"]


@pytest.mark.parametrize("tail", SIMPLE_TAILS)
@pytest.mark.parametrize("value", SIMPLE_VALUES)
def test_fast_path_agrees_with_scanner(value, tail):
    line = f"x={value}{tail}"
    assert fast_path(line) is not None, "not on the fast path"
    scanned = []
    hvtools._Scanner(line, 0).commands(scanned)
    assert hvtools.parse_rc(line) == (scanned, [])
    indented = f"  {line}\n"
    scanned = []
    hvtools._Scanner(indented, 2).commands(scanned)
    assert hvtools.parse_rc(indented) == (scanned, [])


@pytest.mark.parametrize(
    "line",
    [
        "x=1 y=2",
        "x=1;",
        'x="a"b',
        "x='a'#b",
        "x=a#b",
        'x="$a"',
        'x="${a:-b}"',
        'x="\\$"',
        "x=a\\",
        'x="a',
        "x=~",
        "x=1 cmd",
        "x=$(a)",
    ],
)
def test_fast_path_declines_what_it_cannot_read(line):
    assert fast_path(line) is None


# ---------------------------------------------------------------------------
# rc_source: the one pass that loading uses must agree with parse_rc and
# rc_evaluate, line for line, on every text: well-formed, hostile or junk.

# Statements over a few names, so that assignments, expansions and their
# side effects meet; some span lines, some are commands or are unreadable.
FRAGMENTS = [
    "{n}=1", "{n}=", '{n}="x y"', "{n}='a $b'", '{n}="${m}"', '{n}="<${m}>"',
    "{n}=$m", '{n}="${m:-d}"', '{n}="${m:=set}"', "{n}=${m+alt}",
    '{n}="${m}"  # c', "{n}=x # c", "  {n}=indented", "export {n}=e",
    "{n}=1; {m}=2", "{n}=1 {m}=2", '{n}="two\nlines"', "{n}='two\nlines'",
    "{n}=a\\\nb", '{n}="a\\"', "{n}=`id`", "{n}=$(id)", "{n}=1 cmd",
    '{n}="never closed', "# {n}=comment", "", "   ", "cmd {n}", "{n}=~",
    "{n}=a;", "\t{n}=tab", '{n}="$"', "{n}=x\r", "${m:=side}",
]  # fmt: skip
NAMES = ("a", "b", "ifconfig_hn0", "ifconfig_DEFAULT")


def rc_text(rng, lines):
    statements = [
        rng.choice(FRAGMENTS)
        .replace("{n}", rng.choice(NAMES))
        .replace("{m}", rng.choice(NAMES))
        for _ in range(lines)
    ]
    return "\n".join(statements) + rng.choice(("", "\n"))


def rc_texts():
    rng = random.Random(5)
    texts = [text for text, _, _ in PARSE]
    texts += [f"x={v}{t}" for v in SIMPLE_VALUES for t in SIMPLE_TAILS]
    texts += [rc_text(rng, rng.randrange(1, 12)) for _ in range(1500)]
    return texts


@pytest.mark.parametrize("text", rc_texts())
def test_source_agrees_with_parse(text):
    env = {}
    problems = hvtools.rc_source(text, env)
    assignments, expected = hvtools.parse_rc(text)
    assert (env, problems) == (hvtools.rc_evaluate(assignments, {}), expected)


def test_source_keeps_only_what_it_is_asked_for():
    env = {}
    keep = {"b"}
    hvtools.rc_source("a=1\nb=2\nc='3'\n# b=4\n", env, keep)
    assert (env, keep) == ({"b": "2"}, {"b"})


@pytest.mark.parametrize(
    "text", ['a=1\nb="${a}"', "a=1\nb=$a", 'a=1\nc="${b:-$a}"\nb="$c"']
)
def test_source_asks_for_what_a_kept_value_expands(text):
    # a was not kept when it was set: b would be wrong, so keep grows to
    # say that a second reading is needed.
    keep = {"b"}
    hvtools.rc_source(text, {}, keep)
    assert "a" in keep


# ---------------------------------------------------------------------------
# Loading: defaults, rc_conf_files, rc.conf.d (rc.subr's load_rc_config)


@pytest.fixture
def etc(root, monkeypatch):
    monkeypatch.setenv("HVTOOLS_ROOT", str(root))

    def write(path, text):
        target = root / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)

    return write


DEFAULTS = 'rc_conf_files="/etc/rc.conf /etc/rc.conf.local"\nlocal_startup=""\n'


def test_later_files_win(etc):
    etc("/etc/defaults/rc.conf", DEFAULTS + "a=defaults\nb=defaults\nc=defaults\n")
    etc("/etc/rc.conf", "b=rc.conf\nc=rc.conf\nd=rc.conf\n")
    etc("/etc/rc.conf.local", "c=local\nd=local\n")
    etc("/etc/rc.conf.d/netif", "d=netif\n")
    env = hvtools.load_rc_conf()
    assert [env[k] for k in "abcd"] == ["defaults", "rc.conf", "local", "netif"]


def test_expansions_see_earlier_files(etc):
    etc("/etc/defaults/rc.conf", DEFAULTS + "flags=-q\n")
    etc("/etc/rc.conf", 'flags="${flags} -v"\n')
    etc("/etc/rc.conf.local", 'flags="$flags -x"\n')
    assert hvtools.load_rc_conf()["flags"] == "-q -v -x"


def test_rc_conf_files_from_defaults(etc):
    etc("/etc/defaults/rc.conf", 'rc_conf_files="/etc/one /etc/two /etc/one"\n')
    etc("/etc/one", "a=one\nn=${n}1\n")
    etc("/etc/two", "a=two\n")
    etc("/etc/rc.conf", "a=rc.conf\n")
    env = hvtools.load_rc_conf()
    assert (env["a"], env["n"]) == ("two", "1")


def test_rc_conf_files_set_in_rc_conf_adds_files(etc):
    # defaults/rc.conf's source_rc_confs walks the list a second time.
    etc("/etc/defaults/rc.conf", DEFAULTS)
    etc("/etc/rc.conf", 'rc_conf_files="/etc/extra /etc/rc.conf"\na=rc.conf\n')
    etc("/etc/rc.conf.local", "a=local\n")
    etc("/etc/extra", "a=extra\n")
    assert hvtools.load_rc_conf()["a"] == "extra"


def test_rc_conf_files_set_in_rc_conf_drops_nothing(etc):
    etc("/etc/defaults/rc.conf", DEFAULTS)
    etc("/etc/rc.conf", 'rc_conf_files="/etc/rc.conf"\na=rc.conf\n')
    etc("/etc/rc.conf.local", "a=local\n")
    assert hvtools.load_rc_conf()["a"] == "local"


def test_rc_conf_files_only_two_passes(etc):
    etc("/etc/defaults/rc.conf", DEFAULTS)
    etc("/etc/rc.conf", 'rc_conf_files="/etc/second"\n')
    etc("/etc/second", 'rc_conf_files="/etc/third"\na=second\n')
    etc("/etc/third", "a=third\n")
    assert hvtools.load_rc_conf()["a"] == "second"


def test_without_defaults_only_rc_conf(etc):
    etc("/etc/rc.conf", 'rc_conf_files="/etc/rc.conf.local"\na=rc.conf\n')
    etc("/etc/rc.conf.local", "a=local\n")
    etc("/etc/rc.conf.d/netif", "b=netif\n")
    env = hvtools.load_rc_conf()
    assert (env["a"], env["b"]) == ("rc.conf", "netif")


def test_vendor_conf_follows_defaults(etc):
    etc("/etc/defaults/rc.conf", DEFAULTS + "a=defaults\nb=defaults\n")
    etc("/etc/defaults/vendor.conf", "a=vendor\nb=vendor\n")
    etc("/etc/rc.conf", "b=rc.conf\n")
    env = hvtools.load_rc_conf()
    assert (env["a"], env["b"]) == ("vendor", "rc.conf")


def test_rc_conf_d_directory(etc, root):
    etc("/etc/defaults/rc.conf", DEFAULTS)
    etc("/etc/rc.conf", "a=rc.conf\n")
    etc("/etc/rc.conf.d/netif/20-b", "a=20\nb=20\n")
    etc("/etc/rc.conf.d/netif/10-a", "a=10\nb=10\n")
    etc("/etc/rc.conf.d/netif/.hidden", "a=hidden\n")
    (root / "etc/rc.conf.d/netif/99-dir").mkdir()
    etc("/etc/rc.conf.d/other", "a=other\n")
    env = hvtools.load_rc_conf()
    assert (env["a"], env["b"]) == ("20", "20")


def test_local_startup_rc_conf_d(etc):
    etc(
        "/etc/defaults/rc.conf",
        'rc_conf_files="/etc/rc.conf"\nlocal_startup="/usr/local/etc/rc.d /opt/x"\n',
    )
    etc("/etc/rc.conf.d/netif", "a=etc\nb=etc\nc=etc\n")
    etc("/usr/local/etc/rc.conf.d/netif", "b=local\nc=local\n")
    etc("/opt/x/rc.conf.d/netif", "c=opt\n")
    env = hvtools.load_rc_conf()
    assert [env[k] for k in "abc"] == ["etc", "local", "opt"]


def test_local_startup_from_localbase(etc):
    # FreeBSD 13 and later: libexec/rc/rc.conf begins with
    # `: ${_localbase:="/usr/local"}` and local_startup expands it.
    etc(
        "/etc/defaults/rc.conf",
        ': ${_localbase:="/usr/local"}\nlocal_startup="${_localbase}/etc/rc.d"\n',
    )
    etc("/usr/local/etc/rc.conf.d/netif", "a=local\n")
    assert hvtools.load_rc_conf(names=("a",)) == {"a": "local"}
    assert hvtools.load_rc_conf()["a"] == "local"


def test_writers_leave_the_colon_command_alone():
    text = ": ${a:=1}\n"
    texts = {"/etc/rc.conf": text}
    assert hvtools.rc_names(texts, ["/etc/rc.conf"]) == set()
    hvtools.rc_set(texts, ["/etc/rc.conf"], "a", "2")
    hvtools.rc_unset(texts, ["/etc/rc.conf"], "b")
    assert texts["/etc/rc.conf"] == text + 'a="2"\n'


def test_names_are_all_a_reader_gets(etc):
    etc("/etc/defaults/rc.conf", DEFAULTS + "a=1\n")
    etc("/etc/rc.conf", "b=2\nifconfig_hn0=DHCP\n")
    env = hvtools.load_rc_conf(names=("ifconfig_hn0", "a", "unset"))
    assert env == {"ifconfig_hn0": "DHCP", "a": "1"}


def test_names_expanding_what_was_not_kept_are_read_again(etc, capsys, monkeypatch):
    monkeypatch.setattr(hvtools, "_applet", "hvtools")
    etc("/etc/defaults/rc.conf", DEFAULTS + "net=10.0.0\n")
    etc("/etc/rc.conf", 'prefix="${net}"\nifconfig_hn0="inet ${prefix}.4/24"\n')
    etc("/etc/rc.conf.local", 'x=$(hostname)\nifconfig_hn0="$ifconfig_hn0 up"\n')
    env = hvtools.load_rc_conf(names=("ifconfig_hn0",))
    assert env == {"ifconfig_hn0": "inet 10.0.0.4/24 up"}
    # Read twice, warned once.
    assert capsys.readouterr().err.splitlines() == [
        "hvtools: warning: /etc/rc.conf.local:1: skipped: command substitution"
    ]


def test_names_give_what_the_whole_reading_gives(etc, capsys):
    rng = random.Random(6)
    for _ in range(150):
        for path in ("/etc/defaults/rc.conf", "/etc/rc.conf", "/etc/rc.conf.local"):
            etc(path, rc_text(rng, rng.randrange(1, 8)))
        whole = hvtools.load_rc_conf()
        for name in NAMES:
            expected = {name: whole[name]} if name in whole else {}
            assert hvtools.load_rc_conf(names=(name,)) == expected
    capsys.readouterr()


def test_problems_warn_on_stderr_except_in_defaults(etc, capsys, monkeypatch):
    monkeypatch.setattr(hvtools, "_applet", "hvtools")
    etc(
        "/etc/defaults/rc.conf",
        DEFAULTS
        + 'if [ -z "${source_rc_confs_defined}" ]; then\n'
        + "\tsource_rc_confs_defined=yes\n"
        + "\tsource_rc_confs() {\n\t\tlocal i\n\t}\nfi\n",
    )
    etc("/etc/rc.conf", "a=1\nb=$(hostname)\n")
    env = hvtools.load_rc_conf()
    assert env["a"] == "1" and "b" not in env
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "hvtools: warning: /etc/rc.conf:2: skipped: command substitution"
    ]


# ---------------------------------------------------------------------------
# network.subr


@pytest.mark.parametrize(
    ("ifname", "var"),
    [
        ("hn0", "ifconfig_hn0"),
        ("vlan0.100", "ifconfig_vlan0_100"),
        ("lagg0-a", "ifconfig_lagg0_a"),
        ("gif0+x", "ifconfig_gif0_x"),
        ("a/b", "ifconfig_a_b"),
        ("em0.1.2", "ifconfig_em0_1_2"),
        ("em0..2", "ifconfig_em0__2"),
        ("hn0_x", "ifconfig_hn0_x"),
        ("HN0", "ifconfig_HN0"),
        ("hn0.", "ifconfig_hn0"),  # ltr drops a separator at the end
        ("hn0..", "ifconfig_hn0_"),
    ],
)
def test_rc_ifvar(ifname, var):
    assert hvtools.rc_ifvar(ifname) == var
    assert hvtools.rc_ifvar(ifname, "_ipv6") == var + "_ipv6"


@pytest.mark.parametrize(
    ("env", "suffix", "value"),
    [
        ({"ifconfig_hn0": "DHCP"}, "", "DHCP"),
        ({"ifconfig_DEFAULT": "DHCP"}, "", "DHCP"),
        ({"ifconfig_hn0": "", "ifconfig_DEFAULT": "DHCP"}, "", ""),
        ({"ifconfig_hn0": "up", "ifconfig_DEFAULT": "DHCP"}, "", "up"),
        ({}, "", ""),
        ({"ifconfig_hn0_ipv6": "inet6 ::1"}, "_ipv6", "inet6 ::1"),
        ({"ifconfig_DEFAULT": "DHCP"}, "_ipv6", "DHCP"),
        ({"ifconfig_hn0_ipv6": "", "ifconfig_DEFAULT": "DHCP"}, "_ipv6", ""),
        ({"ifconfig_hn0_alias0": "inet 10.0.0.9/32"}, "_alias0", "inet 10.0.0.9/32"),
        ({"ifconfig_DEFAULT": "DHCP"}, "_alias0", ""),
        ({"ifconfig_DEFAULT": "DHCP"}, "_descr", ""),
        # get_if_var's eval reads the default as sh text once more
        ({"ifconfig_DEFAULT": "'DHCP'"}, "", "DHCP"),
        ({"ifconfig_DEFAULT": '"DHCP" up'}, "_ipv6", "DHCP up"),
        ({"ifconfig_DEFAULT": "$x", "x": "DHCP"}, "", "DHCP"),
        ({"ifconfig_DEFAULT": "${x:=DHCP}"}, "", "DHCP"),
        ({"ifconfig_hn0": "'DHCP'", "ifconfig_DEFAULT": "up"}, "", "'DHCP'"),
        ({"ifconfig_DEFAULT": "$(echo DHCP)"}, "", "$(echo DHCP)"),
    ],
)
def test_rc_ifconfig(env, suffix, value):
    assert hvtools.rc_ifconfig(env, "hn0", suffix) == value


DHCP_VALUES = [
    ("DHCP", True),
    ("dhcp", True),
    ("Dhcp", True),
    ("SYNCDHCP", True),
    ("syncdhcp", True),
    ("NOSYNCDHCP", True),
    ("NoSyncDhcp", True),
    ("WPA DHCP", True),
    ("DHCP WPA", True),
    ("inet 10.0.0.5/24 DHCP", True),
    ("  DHCP  ", True),
    ("\tDHCP\n", True),
    ("up\nDHCP", True),
    ("mtu 9000 dhcp", True),
    ("", False),
    ("inet 10.0.0.5/24", False),
    ("DHCPX", False),
    ("XDHCP", False),
    ("DHCP6", False),
    ("DHCP,", False),
    ("'DHCP'", False),
    ("SYNC DHCP", True),
    ("SYNC_DHCP", False),
    ("NOAUTO", False),
    ("WPA", False),
    ("DHCP\r", False),
]


@pytest.mark.parametrize(("value", "dhcp"), DHCP_VALUES)
def test_dhcp_words(value, dhcp):
    assert hvtools.is_dhcp_interface({"ifconfig_hn0": value}, "hn0") is dhcp


FAMILIES = [
    # lo[0-9]* stf[0-9]* lp[0-9]* sl[0-9]* (dhcpif) and noafif's patterns
    ("lo0", False),
    ("lo1", False),
    ("lo10abc", False),
    ("stf0", False),
    ("lp0", False),
    ("sl0", False),
    ("pflog0", False),
    ("pfsync0", False),
    ("usbus0", False),
    ("an0", False),
    ("ath0", False),
    ("ipw0", False),
    ("ipfw0", False),
    ("iwi0", False),
    ("iwn0", False),
    ("ral0", False),
    ("wi0", False),
    ("wl0", False),
    ("wpi0", False),
    # a prefix without the digit is another family
    ("lo", True),
    ("lo_x", True),
    ("loop0", True),
    ("lagg0", True),
    ("wlan0", True),
    ("wifi0", True),
    ("ant0", True),
    ("slip0", True),
    ("stf", True),
    ("athx0", True),
    ("LO0", True),
    ("hn0", True),
    ("em0", True),
    ("vlan0.100", True),
    ("bridge0", True),
    ("mce0", True),
]


@pytest.mark.parametrize(("ifname", "dhcp"), FAMILIES)
def test_dhcp_interface_families(ifname, dhcp):
    env = {hvtools.rc_ifvar(ifname): "DHCP"}
    assert hvtools.is_dhcp_interface(env, ifname) is dhcp
    assert hvtools.is_dhcp_interface({"ifconfig_DEFAULT": "DHCP"}, ifname) is dhcp


@pytest.mark.parametrize(
    ("env", "ifname", "dhcp"),
    [
        ({"ifconfig_DEFAULT": "DHCP"}, "hn0", True),
        ({"ifconfig_DEFAULT": "DHCP", "ifconfig_hn0": ""}, "hn0", False),
        ({"ifconfig_DEFAULT": "DHCP", "ifconfig_hn0": "up"}, "hn0", False),
        ({"ifconfig_DEFAULT": "inet 10.0.0.1/8", "ifconfig_hn0": "DHCP"}, "hn0", True),
        ({"ifconfig_vlan0_100": "DHCP"}, "vlan0.100", True),
        ({"ifconfig_vlan0.100": "DHCP"}, "vlan0.100", False),
        ({"ifconfig_hn0": "DHCP"}, "hn1", False),
        ({"ifconfig_hn0_ipv6": "DHCP"}, "hn0", False),
        ({"ifconfig_hn0_alias0": "DHCP"}, "hn0", False),
        ({"ifconfig_HN0": "DHCP"}, "hn0", False),
    ],
)
def test_dhcp_interface_lookup(env, ifname, dhcp):
    assert hvtools.is_dhcp_interface(env, ifname) is dhcp


D = "/sbin/dhclient"
DHCLIENT = [
    ({}, ["/sbin/dhclient", "hn0"]),
    (
        {"dhclient_program": "/usr/local/sbin/dhclient"},
        ["/usr/local/sbin/dhclient", "hn0"],
    ),
    ({"dhclient_program": ""}, ["/sbin/dhclient", "hn0"]),
    (
        {"dhclient_flags": " -q\t-c  /etc/x.conf "},
        [D, "-q", "-c", "/etc/x.conf", "hn0"],
    ),
    ({"dhclient_flags_hn0": "-l /var/db/l"}, [D, "-l", "/var/db/l", "hn0"]),
    ({"dhclient_flags": "-q", "dhclient_flags_hn0": "-d"}, [D, "-d", "hn0"]),
    ({"dhclient_flags": "-q", "dhclient_flags_hn0": ""}, [D, "-q", "hn0"]),
    (
        {"flags": "-u", "dhclient_flags": "-q", "dhclient_flags_hn0": "-d"},
        [D, "-u", "hn0"],
    ),
    ({"dhclient_flags": "", "dhclient_flags_hn0": "-d"}, [D, "-d", "hn0"]),
    ({"dhclient_flags_hn1": "-d"}, [D, "hn0"]),
    ({"background_dhclient": "YES"}, [D, "-b", "hn0"]),
    ({"background_dhclient": "yes", "background_dhclient_hn0": "NO"}, [D, "hn0"]),
    ({"background_dhclient": "NO", "background_dhclient_hn0": "on"}, [D, "-b", "hn0"]),
    ({"background_dhclient": "'YES'"}, [D, "-b", "hn0"]),  # get_if_var's eval
    ({"background_dhclient_hn0": "'YES'"}, [D, "hn0"]),
    ({"background_dhclient_hn0": " YES "}, [D, "-b", "hn0"]),  # echoed
    (
        {"dhclient_flags": "-c '/etc/my  dhclient.conf'"},
        [D, "-c", "/etc/my  dhclient.conf", "hn0"],
    ),
    ({"dhclient_flags_hn0": "-c '/etc/a  b'"}, [D, "-c", "/etc/a b", "hn0"]),
    ({"dhclient_flags": '-c "$x"'}, [D, "-c", '"$x"', "hn0"]),
    ({"dhclient_flags": "-q; reboot"}, [D, "-q;", "reboot", "hn0"]),
]


@pytest.mark.parametrize(("env", "argv"), DHCLIENT)
def test_dhclient_command(env, argv):
    assert hvtools.dhclient_command(env, "hn0") == argv


@pytest.mark.parametrize(
    ("value", "yes"),
    [
        ("YES", True),
        ("yEs", True),
        ("TRUE", True),
        ("On", True),
        ("1", True),
        ("NO", False),
        ("", False),
        ("01", False),
        (" YES", False),
        ("yes!", False),
    ],
)
def test_checkyesno(value, yes):
    assert hvtools.checkyesno(value) is yes


@pytest.mark.parametrize(
    ("value", "args"),
    [
        ("inet 10.0.0.4/24", ["inet", "10.0.0.4/24"]),
        ("DHCP", []),
        ("SYNCDHCP mtu 9000", ["mtu", "9000"]),
        ("dhcp NoAuto syncDHCP NOSYNCDHCP wpa HostAP up", ["up"]),
        ("WPA DHCP ssid x", ["ssid", "x"]),
        (
            "  inet\t10.0.0.4\nnetmask 255.0.0.0  ",
            ["inet", "10.0.0.4", "netmask", "255.0.0.0"],
        ),
        ("inet 10.0.0.4/24 vnet jail1 up", ["inet", "10.0.0.4/24", "up"]),
        ("vnet jail1", []),
        ("vnet", []),
        ("vnet DHCP up", ["up"]),  # the word after vnet goes, pseudo or not
        ("vnet vnet up", ["up"]),
        ("VNET jail1", ["VNET", "jail1"]),  # network.subr matches vnet exactly
        ("Vnet jail1", ["Vnet", "jail1"]),
        ("DHCPX dhcp6", ["DHCPX", "dhcp6"]),
        ("", []),
    ],
)
def test_ifconfig_args(value, args):
    assert hvtools.ifconfig_args({"ifconfig_hn0": value}, "hn0") == args


@pytest.mark.parametrize(
    ("env", "suffix", "args"),
    [
        ({"ifconfig_DEFAULT": "DHCP up"}, "", ["up"]),
        ({"ifconfig_DEFAULT": "up", "ifconfig_hn0": ""}, "", []),
        (
            {"ifconfig_hn0_ipv6": "inet6 2001:db8::4/64"},
            "_ipv6",
            ["inet6", "2001:db8::4/64"],
        ),
        (
            {"ifconfig_DEFAULT": "inet6 accept_rtadv"},
            "_ipv6",
            ["inet6", "accept_rtadv"],
        ),
        ({"ifconfig_DEFAULT": "up", "ifconfig_hn0_ipv6": ""}, "_ipv6", []),
        (
            {"ifconfig_hn0_alias0": "inet 10.0.0.9/32"},
            "_alias0",
            ["inet", "10.0.0.9/32"],
        ),
        ({"ifconfig_DEFAULT": "up"}, "_alias0", []),
    ],
)
def test_ifconfig_args_suffix(env, suffix, args):
    assert hvtools.ifconfig_args(env, "hn0", suffix) == args


def test_whole_file_through_the_reader():
    text = (
        "# rc.conf\n"
        'hostname="vm"\n'
        "ifconfig_DEFAULT=DHCP\n"
        'ifconfig_hn0="inet 10.0.0.4/24" # static\n'
        "ifconfig_hn1=''\n"
        'ifconfig_vlan0_100="${ifconfig_DEFAULT} \\\n'
        '    mtu 1400"\n'
        "ifconfig_lo0=DHCP\n"
        "synchronous_dhclient=YES\n"
    )
    assignments, problems = hvtools.parse_rc(text)
    env = hvtools.rc_evaluate(assignments, {})
    assert problems == []
    answers = {
        name: hvtools.is_dhcp_interface(env, name)
        for name in ("hn0", "hn1", "hn2", "vlan0.100", "lo0")
    }
    assert answers == {
        "hn0": False,
        "hn1": False,
        "hn2": True,
        "vlan0.100": True,
        "lo0": False,
    }
    assert hvtools.ifconfig_args(env, "vlan0.100") == ["mtu", "1400"]
