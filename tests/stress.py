"""Run the README's test command many times, some runs at once, and report
the failures of each test: a test that fails one run in five shows up here
before it sinks someone's CI.

    python3 tests/stress.py [--runs 10] [--parallel 2] [PYTEST-ARGS]

Each run is `python3 build.py test` (ruff, then pytest) with a JUnit report
of its own; --parallel runs start together, so they also compete for the
CPUs and share /tmp as two developers' runs would.  Exits 1 when any run
failed.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start(number, report, pytest_args):
    log = open(f"{report}.log", "w")  # noqa: SIM115 (closed in finish)
    argv = [sys.executable, os.path.join(TOP, "build.py"), "test"]
    argv += ["-p", "no:cacheprovider", f"--junitxml={report}", *pytest_args]
    process = subprocess.Popen(argv, cwd=TOP, stdout=log, stderr=subprocess.STDOUT)
    return number, process, log, report, time.monotonic()


def finish(running):
    """Wait for a run; (number, exit status, seconds, {test: outcome})."""
    number, process, log, report, started = running
    status = process.wait()
    log.close()
    return number, status, time.monotonic() - started, outcomes(report)


def outcomes(report):
    """{test id: "passed" | "failed" | "error" | "skipped"} of a JUnit file."""
    try:
        tree = ET.parse(report)  # noqa: S314 (pytest's own report)
    except (OSError, ET.ParseError):
        return {}
    found = {}
    for case in tree.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        kinds = [child.tag for child in case]
        for kind in ("error", "failure", "skipped"):
            if kind in kinds:
                found[name] = "failed" if kind == "failure" else kind
                break
        else:
            found[name] = "passed"
    return found


def stress(runs, parallel, pytest_args):
    results = []
    with tempfile.TemporaryDirectory(prefix="hvtools-stress-") as work:
        waves = [range(i, min(i + parallel, runs)) for i in range(0, runs, parallel)]
        for wave in waves:
            started = [
                start(n + 1, f"{work}/run{n + 1}.xml", pytest_args) for n in wave
            ]
            for running in started:
                result = finish(running)
                results.append(result)
                show(result, f"{work}/run{result[0]}.xml.log")
    return summary(results)


def show(result, log):
    number, status, seconds, found = result
    counts = {k: sum(1 for v in found.values() if v == k) for k in set(found.values())}
    shown = ", ".join(f"{counts[k]} {k}" for k in sorted(counts)) or "no report"
    print(f"run {number:2}: exit {status}, {shown}, {seconds:.0f} s", flush=True)
    if status and not any(v in ("failed", "error") for v in found.values()):
        with open(log) as f:  # ruff, or a crash before pytest reported
            print("".join(f.readlines()[-15:]), end="")


def summary(results):
    bad = {}
    for number, _, _, found in results:
        for name, outcome in found.items():
            if outcome in ("failed", "error"):
                bad.setdefault(name, []).append(f"run {number}: {outcome}")
    print("failures per test:" if bad else "failures per test: none")
    for name, where in sorted(bad.items(), key=lambda item: -len(item[1])):
        print(f"  {len(where)}/{len(results)} {name} ({', '.join(where)})")
    passed = sum(1 for *_, f in results for v in f.values() if v == "passed")
    failed = sum(1 for *_, f in results for v in f.values() if v in ("failed", "error"))
    failed_runs = sum(1 for _, status, _, _ in results if status)
    print(f"{len(results)} runs, {failed_runs} failed")
    print(f"stress: {passed} passed, {failed} failed")
    return 1 if failed_runs else 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--parallel", type=int, default=2)
    args, pytest_args = parser.parse_known_args(argv)
    if args.runs < 1 or args.parallel < 1:
        parser.error("--runs and --parallel take a number >= 1")
    return stress(args.runs, args.parallel, pytest_args)


if __name__ == "__main__":
    sys.exit(main())
