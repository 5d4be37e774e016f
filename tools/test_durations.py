"""Per-file seconds of a pytest run, from its JUnit XML, for `make unit`'s shards.

    python -m tools.test_durations .cache/unit.xml test/durations.json

test/conftest.py's `--shard K/N` balances whole test files by these figures; a file
missing from them weighs its test count times the mean seconds per test.
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections.abc import Sequence


def file_seconds(junit_xml: str) -> dict[str, float]:
    """Seconds per test file (`test/ops/test_x.py`), summed over its test cases."""
    seconds: dict[str, float] = {}
    for case in ET.parse(junit_xml).getroot().iter("testcase"):
        classname = case.get("classname", "")
        # "test.ops.test_x" or "test.ops.test_x.TestClass": the file is the test_* part
        parts = classname.split(".")
        for end in range(len(parts), 0, -1):
            if parts[end - 1].startswith("test_"):
                parts = parts[:end]
                break
        name = "/".join(parts) + ".py"
        seconds[name] = seconds.get(name, 0.0) + float(case.get("time", 0) or 0)
    return {name: round(t, 1) for name, t in sorted(seconds.items())}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m tools.test_durations JUNIT_XML OUT_JSON", file=sys.stderr)
        return 2
    seconds = file_seconds(args[0])
    with open(args[1], "w", encoding="utf-8") as f:
        json.dump(seconds, f, indent=1)
        f.write("\n")
    print(f"{len(seconds)} files, {sum(seconds.values()):.0f} s in all -> {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
