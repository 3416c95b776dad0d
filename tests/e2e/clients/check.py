"""The checks the client scripts beside this file share (each is run as `python script.py`, so
this folder is on `sys.path`): one `ok NAME: VALUE` line per check, exit 1 on the first mismatch."""

import json
import sys
import urllib.request


def check(name, actual, expected):
    if actual != expected:
        print(f"FAIL {name}: {actual!r} != {expected!r}", flush=True)
        sys.exit(1)
    print(f"ok {name}: {actual!r}", flush=True)


def set_budget(base, key, budget):
    """Sets a budget through Converra's REST API (`PUT /api/v1/budgets`), as an admin would."""
    request = urllib.request.Request(
        f"{base}/api/v1/budgets",
        data=json.dumps(budget).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=20) as answer:
        check("budget set", answer.status, 200)


def raised(name, call, error_type):
    """The `error_type` that `call()` raises; any other outcome fails the check `NAME raises`."""
    try:
        call()
    except error_type as e:
        return e
    except Exception as e:  # noqa: BLE001 - any other outcome is a mismatch worth printing
        check(f"{name} raises", type(e).__name__, error_type.__name__)
    check(f"{name} raises", "nothing", error_type.__name__)
