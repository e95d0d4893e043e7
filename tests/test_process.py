"""entry.py: what every stage script and command does around its work: exit codes that mean
something, one line for what the user can fix, a traceback only for bugs, the stage arguments."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from helpers import REPO, STAGES, popen_with_default_signals
from mnist_ann.core.process import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_OK, STOPPED_BY, run_main


def exit_of(main, capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        run_main(main, [])
    return exited.value.code, capsys.readouterr().err


def test_exit_codes(capsys, tmp_path):
    assert exit_of(lambda argv: None, capsys) == (EXIT_OK, "")
    assert exit_of(lambda argv: 2, capsys)[0] == 2

    def missing(argv):
        (tmp_path / "absent.npz").read_bytes()

    assert exit_of(missing, capsys) == (EXIT_ERROR, f"error: {tmp_path / 'absent.npz'}: No such file or directory\n")

    def interrupted(argv):
        raise KeyboardInterrupt

    assert exit_of(interrupted, capsys) == (EXIT_INTERRUPTED, "interrupted\n")


def test_bugs_keep_their_traceback():
    def buggy(argv):
        raise ZeroDivisionError("a bug, not the user's to fix")

    with pytest.raises(ZeroDivisionError):
        run_main(buggy, [])


@pytest.mark.heavy
@pytest.mark.parametrize("stage", STAGES)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_while_a_stage_imports_exits_by_name_without_traceback(stage, sig):
    """Ctrl-C, SIGTERM or SIGHUP while a stage script is still importing (before run_main): the signal
    arrives once numpy's core has loaded (`-X importtime` reports each import as it ends), while
    the rest of numpy and the project's modules still load."""
    process = popen_with_default_signals(
        [sys.executable, "-X", "importtime", str(REPO / "pipeline" / f"{stage}.py"), "--help"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "numpy._core._multiarray_umath" in line:
            process.send_signal(sig)
            break
    remaining = process.stderr.read()
    code = process.wait(30)
    word, expected = STOPPED_BY[sig]
    assert code == expected, remaining[-2000:]
    assert "Traceback" not in remaining
    assert remaining.splitlines()[-1] == word


# A command that gets `sig` (argv[1]) while it runs, with SIGHUP first set as `nohup` sets it when
# argv[2] says so; it prints "finished" if it runs to its end.
SIGNALLED = """
import os, signal, sys
from mnist_ann.core.process import exit_on_signals_while_starting, run_main
if sys.argv[2] == "nohup":
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
exit_on_signals_while_starting()

def main(argv):
    os.kill(os.getpid(), int(sys.argv[1]))
    print("finished", file=sys.stderr)

run_main(main)
"""


@pytest.mark.heavy
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["SIGINT", "SIGTERM", "SIGHUP"])
def test_a_signal_mid_run_ends_the_command_with_its_word_and_status(sig):
    """SIGHUP (a closed terminal, a dropped SSH connection) ends a command as SIGTERM does, so that the
    same clean-up runs (temporary files, the MLflow run marked KILLED): status 128 + the signal."""
    # Default dispositions: a suite started by `make test &` would hand its children SIGINT ignored,
    # which the command rightly keeps (process.IGNORABLE), and the signal would then test nothing.
    command = [sys.executable, "-c", SIGNALLED, str(int(sig)), "-"]
    process = popen_with_default_signals(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (STOPPED_BY[sig][1], STOPPED_BY[sig][0] + "\n")


# A command whose signal (argv[1]) arrives while a finalizer runs, where Python cannot raise: it
# prints "finished" if it runs to its end.
SIGNALLED_IN_A_FINALIZER = """
import signal, sys, time
from mnist_ann.core.process import exit_on_signals_while_starting, run_main
exit_on_signals_while_starting()

class Freed:
    def __del__(self):
        signal.raise_signal(int(sys.argv[1]))
        sum(range(1000))  # the signal's exception is raised here, inside the finalizer

def main(argv):
    Freed()
    if sys.argv[2] == "working":  # still at work when the signal is sent again
        time.sleep(2)
    if sys.argv[2] == "handling":  # the command deals with the stop itself
        try:
            time.sleep(2)
        except KeyboardInterrupt:
            print("handled", file=sys.stderr)
            return 5
    print("finished", file=sys.stderr)

run_main(main)
"""


@pytest.mark.heavy
@pytest.mark.parametrize("when", ["working", "ending", "handling"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_that_lands_in_a_finalizer_still_stops_the_command(sig, when):
    """A KeyboardInterrupt raised inside __del__ or a weakref callback is printed and dropped by
    Python: an export stage interrupted while tf2onnx's objects were freed ran to its end (CI,
    test_faults). The command is stopped all the same, with its word and status: mid-work, or as it
    ends, before the signal is sent again."""
    command = [sys.executable, "-c", SIGNALLED_IN_A_FINALIZER, str(int(sig)), when]
    process = popen_with_default_signals(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, stderr = process.communicate(timeout=60)
    assert "Exception ignored" not in stderr
    if when == "handling":  # raised once, where the command caught it: not raised again as it ends
        assert (process.returncode, stderr.splitlines()[-1]) == (5, "handled"), stderr
        return
    assert (process.returncode, stderr.splitlines()[-1]) == (STOPPED_BY[sig][1], STOPPED_BY[sig][0]), stderr
    assert ("finished" in stderr) == (when == "ending")  # at work, the work was cut short


@pytest.mark.heavy
def test_a_sighup_that_nohup_ignores_stays_ignored():
    result = subprocess.run(
        [sys.executable, "-c", SIGNALLED, str(int(signal.SIGHUP)), "nohup"], capture_output=True, text=True
    )
    assert (result.returncode, result.stderr) == (EXIT_OK, "finished\n")


@pytest.mark.heavy
@pytest.mark.parametrize("stage", STAGES)
def test_a_stage_run_by_a_python_without_the_project_says_what_to_do(stage):
    """Issue 13: `.venv/bin/dvc repro` from a shell without the venv runs the stages with the first
    `python` on PATH, which has no mnist_ann: one line saying what to do, not a traceback."""
    isolated = [sys.executable, "-E", "-S", str(REPO / "pipeline" / f"{stage}.py")]  # no site-packages, no dvc above
    result = subprocess.run(isolated, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {sys.executable} has no mnist_ann: run dvc from the project's environment "
        "(`source .venv/bin/activate`, or `make repro`)"
    ]


ENDING = """
import atexit, logging, os, sys
from mnist_ann.core.process import run_main

class Teardown:
    def __del__(self, write=os.write):  # os itself may be gone by then
        write(1, b"|torn down")  # runs only when the interpreter tears its modules down

kept = Teardown()
atexit.register(lambda: print("|atexit ran", end=""))
if sys.argv[1:] == ["profiled"]:
    sys.setprofile(lambda *args: None)

def main(argv):
    print("buffered", end="")  # still in stdout's buffer when main returns
    logging.getLogger("stage").warning("logged")
    return 3

run_main(main)
"""


@pytest.mark.heavy
@pytest.mark.parametrize("profiled", [False, True], ids=["plain", "under a profiler"])
def test_a_script_ends_without_tearing_the_interpreter_down(profiled):
    """Issue 15: a TensorFlow stage spent ~2 s after its work freeing modules. run_main on the
    process's own command line skips that teardown, yet runs the atexit callbacks and loses no
    output; under a profiler (which reports after the script returns) the exit is the ordinary one."""
    result = subprocess.run(
        [sys.executable, "-c", ENDING, *(["profiled"] if profiled else [])], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3
    assert result.stdout == "buffered|atexit ran" + ("|torn down" if profiled else "")
    assert result.stderr.endswith("WARNING stage: logged\n")


def test_a_missing_optional_package_is_one_line_naming_what_to_install(capsys):
    def needs_tensorflow(argv):
        raise ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow")

    assert exit_of(needs_tensorflow, capsys) == (
        EXIT_ERROR,
        "error: this command needs tensorflow, which is not installed: pip install 'mnist-ann[pipeline]'\n",
    )

    def a_bug(argv):  # a module of ours missing is a bug, and keeps its traceback
        raise ModuleNotFoundError("No module named 'mnist_ann.gone'", name="mnist_ann.gone")

    with pytest.raises(ModuleNotFoundError):
        run_main(a_bug, [])


def test_an_unknown_log_level_is_one_line_and_exit_1(capsys, monkeypatch):
    """Issue 37 (18): MNIST_ANN_LOG_LEVEL=bogus was logging's ValueError, a traceback."""
    monkeypatch.setenv("MNIST_ANN_LOG_LEVEL", "bogus")
    expected = "error: MNIST_ANN_LOG_LEVEL='bogus': expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL\n"
    assert exit_of(lambda argv: None, capsys) == (EXIT_ERROR, expected)
    monkeypatch.setenv("MNIST_ANN_LOG_LEVEL", " warning ")  # case and spaces as people type them
    assert exit_of(lambda argv: None, capsys) == (EXIT_OK, "")


def test_a_stage_usage_error_exits_1_not_argparses_2(tmp_path):
    """Issue 37 (18): a stage's usage error exited 2, which docs/errors.md keeps for "some inputs
    were not scored"; every stage and command parses with core.process.ArgumentParser."""
    from helpers import run_stage

    done = run_stage("preprocess", "--no-such-option", cwd=tmp_path)
    assert done.returncode == EXIT_ERROR, done.stderr
    assert done.stderr.splitlines()[-1].startswith("error: the following arguments are required: --input")


@pytest.mark.heavy  # processes
def test_the_command_and_the_stages_set_numpys_environment_unless_told_otherwise(monkeypatch):
    """What numpy reads when it loads, set before it loads and only where the user set nothing:
    OpenBLAS on one thread for the command (beside predict's decoding workers the monitoring's
    projection took 13x as long on a thread per core), and no huge-page madvise for the command and
    every stage (core/process.py: it cost the train stage about 1.5 s)."""
    from helpers import run_script

    probe = (
        "import contextlib, os, sys\nfrom mnist_ann import cli\nwith contextlib.suppress(SystemExit):\n"
        "    cli.main(['--version'])\nprint(os.environ['OPENBLAS_NUM_THREADS'], os.environ['NUMPY_MADVISE_HUGEPAGE'], "
        "'numpy' in sys.modules)"
    )
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    assert run_script("-c", probe).stdout.split()[-3:] == ["1", "0", "False"]
    mine = {"OPENBLAS_NUM_THREADS": "2", "NUMPY_MADVISE_HUGEPAGE": "1"}
    assert run_script("-c", probe, env=mine).stdout.split()[-3:] == ["2", "1", "False"]
    # every stage too, before its imports load numpy (core/process.py: huge pages cost the train stage ~1.5 s)
    stage = (
        "import os, sys\nsys.path.insert(0, 'pipeline')\nimport stage_start\nstage_start.start_stage()\n"
        "print(os.environ['NUMPY_MADVISE_HUGEPAGE'], 'numpy' in sys.modules)"
    )
    assert run_script("-c", stage).stdout.split()[-2:] == ["0", "False"]
