"""Print one closing line for the runs of `make unit` (the parallel run and the serial one):
``tests: N passed, N failed, N skipped`` summed over their JUnit XML reports.

Usage: python tests/junit_summary.py REPORT.xml [REPORT.xml ...] (missing files are skipped).
"""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET
from pathlib import Path


def main(paths: list[str]) -> int:
    passed = failed = skipped = 0
    for path in paths:
        if not Path(path).is_file():
            continue
        for suite in ET.parse(path).getroot().iter("testsuite"):
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
