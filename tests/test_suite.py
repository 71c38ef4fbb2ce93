"""The suite's own rules (conftest.py): no process a test starts outlives
it, and detached processes are waited for, not polled."""

import os
import subprocess

import pytest

from conftest import check_no_process_left, children, end_children, wait_for_children


def detach(script):
    """Run script in the background of a shell that exits at once, as
    hyperv_vfattach's detached process outlives the applet; its pid."""
    shell = subprocess.run(
        ["/bin/sh", "-c", f"({script}) </dev/null >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(shell.stdout)


def test_a_detached_process_is_reparented_to_the_suite():
    pid = detach("exec sleep 60")
    assert children()[pid][0] != "Z"
    assert list(end_children()) == [pid]
    assert pid not in children()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_wait_for_children_waits_for_a_detached_process(tmp_path):
    done = tmp_path / "done"
    detach(f"sleep 0.5; echo finished > {done}")
    wait_for_children(timeout=30)
    assert done.read_text() == "finished\n"
    assert all(state == "Z" for state, _ in children().values())


def test_wait_for_children_has_a_deadline():
    pid = detach("exec sleep 60")
    with pytest.raises(AssertionError, match=r"still running after 0\.2 s"):
        wait_for_children(timeout=0.2)
    assert list(end_children()) == [pid]


def test_a_test_leaving_a_process_fails_and_the_process_ends():
    pid = detach("exec sleep 60")
    with pytest.raises(AssertionError, match=rf"left processes running .*{{{pid}: "):
        check_no_process_left()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_exited_children_are_reaped_without_complaint():
    finished = subprocess.Popen(["/bin/true"])
    os.waitid(os.P_PID, finished.pid, os.WEXITED | os.WNOWAIT)  # a zombie now
    assert children()[finished.pid][0] == "Z"
    check_no_process_left()
    assert finished.pid not in children()
