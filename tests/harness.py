"""harness.py - what the Python tests share (tests/test_*.py, run by ctest).

    import harness
    a = harness.arguments(__doc__, required=("cli", "work"), optional={"shared": None})
    harness.check("name", ok, "what differed")  # PASS name, or FAIL name: what differed
    harness.case("name", fn)    # fn() -> (ok, message), or None after harness.require(...)
    harness.finish()            # "N passed, M failed"; exit status 1 on any failure

(Imported as `harness`, not `H`: H is the number of heads in the tests.)

Every check prints one PASS/FAIL line; the last line is "N passed, M failed",
which ctest's output shows. Reference data that is absent (../shared/data) is
skipped loudly ("*** SKIPPING ... ***") on a developer's machine and is a
failure under CI (CI=true), where it must be there.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SCRIPTS = os.path.join(ROOT, "scripts")

CLI = None        # the rwkv-cli binary under test (--cli), for run_cli
results = []      # one bool per check
_t0 = time.time()


def in_ci():
    return os.environ.get("CI") in ("true", "1")


# ---------------------------------------------------------------- results

def check(name, ok, detail="", show=False):
    """One check: PASS name, or FAIL name: detail (with show, the detail on a pass too)."""
    ok = bool(ok)
    results.append(ok)
    if ok:
        print(f"PASS {name}" + (f" ({detail})" if show and detail else ""), flush=True)
    else:
        print(f"FAIL {name}" + (f": {detail}" if detail else ""), flush=True)
    return ok


class CheckFailed(Exception):
    """Raised by require(): ends the case() it is in as a failure."""


def require(cond, msg):
    if not cond:
        raise CheckFailed(msg)


def case(name, fn):
    """Run fn() as one check. It returns (ok, message), or None when it passes
    (a failed require() raises CheckFailed). Any other exception is a failure
    of this check, not an abort of the test: its traceback goes to stderr."""
    try:
        r = fn()
        ok, msg = (True, "") if r is None else r
    except CheckFailed as e:
        ok, msg = False, str(e)
    except Exception as e:  # a crash in a check is a failure, not an abort
        traceback.print_exc()
        ok, msg = False, f"unexpected {type(e).__name__}: {e}"
    return check(name, ok, msg, show=True)


def missing(what):
    """Reference data `what` is absent: a failed check under CI, else a loud skip."""
    if in_ci():
        check(f"reference data present: {what}", False, "required under CI (CI=true)")
    else:
        print(f"\n*** SKIPPING: {what} is missing ***\n", flush=True)


def require_files(*paths):
    """Stop here (see missing()) unless every path exists: for tests that need them all."""
    absent = [p for p in paths if not os.path.exists(p)]
    if absent:
        missing(", ".join(absent))
        finish()


def finish():
    """The time taken, then "N passed, M failed"; exit status 1 on any failure."""
    n_fail = results.count(False)
    print(f"# {time.time() - _t0:.1f} s")
    print(f"{len(results) - n_fail} passed, {n_fail} failed", flush=True)
    sys.exit(1 if n_fail else 0)


# ---------------------------------------------------------------- arguments

HELP = {
    "cli": "the rwkv-cli binary",
    "shared": "the shared reference data directory (../shared/data)",
    "models": "the models the make_test_models fixture made (build/models)",
    "work": "scratch directory",
}


def arguments(doc, required=(), optional=None, fresh_work=False):
    """Parse --NAME for each name in `required` and `optional` ({name: default});
    paths made absolute. --work is created (emptied first with fresh_work);
    --cli is what run_cli() runs, with $RWKV_MODEL unset so that no test picks
    up the user's model."""
    global CLI
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    for name in required:
        p.add_argument("--" + name, required=True, help=HELP.get(name))
    for name, default in (optional or {}).items():
        p.add_argument("--" + name, default=default, help=HELP.get(name))
    a = p.parse_args()
    for name in ("cli", "shared", "models", "work"):
        if getattr(a, name, None):
            setattr(a, name, os.path.abspath(getattr(a, name)))
    if getattr(a, "work", None):
        if fresh_work:
            shutil.rmtree(a.work, ignore_errors=True)
        os.makedirs(a.work, exist_ok=True)
    if getattr(a, "cli", None):
        CLI = a.cli
        os.environ.pop("RWKV_MODEL", None)
    return a


# ---------------------------------------------------------------- processes

def run(argv, stdin=b"", timeout=300):
    """(exit status, stdout bytes, stderr text) of argv; status None if it outlived timeout."""
    try:
        p = subprocess.run(list(argv), input=stdin, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"", f"TIMEOUT after {timeout} s (hung)"
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def run_cli(args, stdin=b"", timeout=120):
    """run() of rwkv-cli (--cli) with these arguments."""
    return run([CLI] + list(args), stdin, timeout)


# ---------------------------------------------------------------- numbers

def rel_diff(got, ref):
    """The logits distance every test states: max |got - ref| / std(ref row),
    the worst row (got is reshaped to ref's shape)."""
    import numpy as np
    ref = np.asarray(ref, np.float64)
    got = np.asarray(got, np.float64).reshape(ref.shape)
    return float((np.abs(got - ref) / ref.std(axis=-1, keepdims=True)).max())
