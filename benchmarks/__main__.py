"""Run every benchmark scenario, each in its own process so peak memory is measured per scenario.

python -m benchmarks            # quick sizes
python -m benchmarks --full     # the sizes the targets are stated for
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys

SCENARIOS: list[tuple[str, list[str], list[str]]] = [
    # (module, quick arguments, full arguments)
    ("benchmarks.sync_pull", ["--scale", "0.1"], []),
    ("benchmarks.cashapp", [], ["--full"]),
    ("benchmarks.dunning", [], ["--full"]),
    ("benchmarks.rules_cycle", ["--scale", "0.02"], []),
    ("benchmarks.quickbooks_calls", [], ["--full"]),
    ("benchmarks.netsuite_calls", [], ["--full"]),
    ("benchmarks.sap_s4hana_calls", [], ["--full"]),
    ("benchmarks.sap_business_one_calls", [], ["--full"]),
    ("benchmarks.sap_business_one_read", [], ["--invoices", "200000", "--no-service-layer"]),
    ("benchmarks.business_central_calls", [], ["--full"]),
    ("benchmarks.camt_statement", [], ["--mb", "50"]),
    ("benchmarks.dynamics_gp_read", ["--rows", "100000"], []),
    ("benchmarks.workspace_overview", ["--scale", "0.1"], []),
    ("benchmarks.many_workers", ["--companies", "50", "--duration", "20"], []),
    ("benchmarks.payment_prediction", [], ["--full"]),
    ("benchmarks.courtesy_chances", ["--scale", "0.1"], []),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--full", action="store_true", help="run at the sizes the targets are stated for")
    parser.add_argument("only", nargs="*", help="run only these scenarios (module suffixes)")
    args = parser.parse_args()
    failed = 0
    for module, quick, full in SCENARIOS:
        if args.only and not any(module.endswith(o) for o in args.only):
            continue
        if importlib.util.find_spec(module) is None:
            continue
        code = subprocess.call([sys.executable, "-m", module, *(full if args.full else quick)])
        if code:
            print(f'{{"name": "{module}", "error": "exit code {code}"}}', flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
