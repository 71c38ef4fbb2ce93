"""A small devd.conf(5) reader and event dispatcher, as devd(8) does it.

Enough of devd for the tests: the lexical rules of devd's token.l (blanks,
";", braces, numbers, "strings" without escapes but with backslash-newline
continuation, # and // comments to the end of the line, /* */ comments,
identifiers), the statements options/attach/detach/notify/nomatch with their
match, action, device-name and media-type sub-statements, and event dispatch:
of the rules whose every match holds (a value is an extended regular
expression anchored at both ends and matched ignoring case, match::match()'s
REG_ICASE; a leading ! negates it; an unset variable is the empty string,
config::get_variable()'s var_list::nothing, devd.cc of 12.1), only the one
with the highest priority runs (the first in file order among equals:
config::sort_vector()'s stable_sort), its action passed to sh -c after
$variable substitution.
"""

import os
import re
import subprocess

TOKEN = re.compile(
    r"""
    (?P<blank>[ \t\n]+)
  | (?P<comment>\#[^\n]*|//[^\n]*|/\*(?:[^*]|\*+[^*/])*\*+/)
  | (?P<semicolon>;)
  | (?P<begin>\{)
  | (?P<end>\})
  | (?P<number>[0-9]+)
  | (?P<string>"[^"]+")
  | (?P<id>[A-Za-z][A-Za-z0-9_-]*)
    """,
    re.VERBOSE,
)

RULE_KINDS = ("attach", "detach", "notify", "nomatch")


class ParseError(Exception):
    pass


class Rule:
    def __init__(self, kind, priority):
        self.kind = kind
        self.priority = priority
        self.matches = []  # [(variable, regex text)]
        self.actions = []

    def __repr__(self):
        return f"Rule({self.kind} {self.priority} {self.matches} {self.actions})"

    def matches_event(self, variables):
        for name, pattern in self.matches:
            negate = pattern.startswith("!")
            regex = pattern[1:] if negate else pattern
            value = variables.get(name, "")
            found = re.fullmatch(regex, value, re.IGNORECASE) is not None
            if found == negate:
                return False
        return True


def tokenize(text):
    tokens = []
    pos = 0
    line = 1
    while pos < len(text):
        m = TOKEN.match(text, pos)
        if not m:
            raise ParseError(f"line {line}: unexpected {text[pos : pos + 10]!r}")
        kind = m.lastgroup
        value = m.group()
        if kind == "string":
            value = re.sub(r"\\\n\s*", "", value[1:-1])
        if kind not in ("blank", "comment"):
            tokens.append((kind, value, line))
        line += m.group().count("\n")
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens):
        self.tokens = tokens
        self.pos = 0

    def next(self, *kinds):
        if self.pos >= len(self.tokens):
            raise ParseError(f"unexpected end, expected {kinds}")
        kind, value, line = self.tokens[self.pos]
        if kinds and kind not in kinds:
            raise ParseError(f"line {line}: expected {kinds}, found {value!r}")
        self.pos += 1
        return value

    def peek(self):
        return self.tokens[self.pos][0] if self.pos < len(self.tokens) else None

    def statements(self):
        rules = []
        while self.peek() is not None:
            keyword = self.next("id")
            if keyword == "options":
                self.block(self.option)
            elif keyword in RULE_KINDS:
                rule = Rule(keyword, int(self.next("number")))
                self.block(self.rule_statement, rule)
                rules.append(rule)
            else:
                raise ParseError(f"unknown statement {keyword!r}")
            self.next("semicolon")
        return rules

    def block(self, statement, *args):
        self.next("begin")
        while self.peek() != "end":
            statement(*args)
        self.next("end")

    def option(self):
        keyword = self.next("id")
        if keyword == "set":
            self.next("id")
        self.next("string")
        self.next("semicolon")

    def rule_statement(self, rule):
        keyword = self.next("id")
        if keyword == "match":
            rule.matches.append((self.next("string"), self.next("string")))
        elif keyword == "action":
            rule.actions.append(self.next("string"))
        elif keyword in ("device-name", "media-type", "class", "subdevice"):
            name = "device-name" if keyword == "device-name" else keyword
            rule.matches.append((name, self.next("string")))
        else:
            raise ParseError(f"unknown rule statement {keyword!r}")
        self.next("semicolon")


def parse(text):
    """The rules of a devd.conf file, in file order."""
    return _Parser(tokenize(text)).statements()


def expand(action, variables):
    """devd's $variable substitution (a name of letters, digits, _ and -)."""
    return re.sub(
        r"\$([A-Za-z_][A-Za-z0-9_-]*)",
        lambda m: variables.get(m.group(1), ""),
        action,
    )


def winner(rules, kind, variables):
    """The rule devd runs for an event: the highest priority that matches."""
    candidates = [r for r in rules if r.kind == kind and r.matches_event(variables)]
    return max(candidates, key=lambda r: r.priority, default=None)


DEVD_DIRECTORIES = ("etc/devd", "usr/local/etc/devd")


class Devd:
    """devd(8) as if chrooted in a test root, fed by the simulator's events.

    The rules are every *.conf of the root's /etc/devd and
    /usr/local/etc/devd (devd.conf's directories); an action's absolute
    program path is taken inside the root, as chroot(2) would.  With
    vm_guest=True (devd after 12, which gained the variable), $vm_guest
    comes from kern.vm_guest; FreeBSD 12.1's devd.cc (process_event())
    sets no such variable, so there it is empty.  Events are handled one at
    a time, each action waited for, as devd does.
    """

    def __init__(self, root, sim, env, vm_guest=True):
        self.root = str(root)
        self.sim = sim
        self.env = env
        self.vm_guest = vm_guest
        self.rules = []
        for directory in DEVD_DIRECTORIES:
            path = f"{self.root}/{directory}"
            try:
                names = sorted(n for n in os.listdir(path) if n.endswith(".conf"))
            except FileNotFoundError:
                continue
            for name in names:
                with open(f"{path}/{name}") as f:
                    self.rules += parse(f.read())
        self.handled = []  # [(event, [(command, CompletedProcess)])]

    def deliver(self, event):
        variables = dict(event)
        if self.vm_guest:
            variables.setdefault("vm_guest", self.sim.sysctl("kern.vm_guest") or "")
        rule = winner(self.rules, "notify", variables)
        done = []
        for action in rule.actions if rule else ():
            command = expand(action, variables)
            if command.startswith("/"):
                command = self.root + command
            result = subprocess.run(
                ["/bin/sh", "-c", command],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=60,
            )
            done.append((command, result))
        self.handled.append((event, done))
        return done

    def pump(self):
        """Handle every queued event, and those the actions raise, in order."""
        done = []
        for _ in range(100):
            events = self.sim.pop_events()
            if not events:
                return done
            for event in events:
                done += self.deliver(event)
        raise AssertionError("devd: events keep coming")
