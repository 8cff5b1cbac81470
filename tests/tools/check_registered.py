"""Every Catch2 test case of spt_tests is registered with CTest under its own name.

CMake's Catch discovery splits the list of names on ';' and trips over an
unbalanced '[', after which later test cases silently fold into one entry (this
happened: 115 of 263 registered). Run by CTest from the build folder:

    python3 check_registered.py SPT_TESTS_BINARY BUILD_DIR
"""
import json
import subprocess
import sys


def main() -> int:
    binary, build_dir = sys.argv[1], sys.argv[2]
    # (Catch2 v2 exits with the number of test cases listed: not an error.)
    names = subprocess.run([binary, "--list-test-names-only"], capture_output=True, text=True).stdout.splitlines()
    names = [n for n in names if n.strip()]
    shown = subprocess.run(["ctest", "--test-dir", build_dir, "--show-only=json-v1"], capture_output=True,
                           text=True, check=True).stdout
    registered = {t["name"] for t in json.loads(shown)["tests"]}
    missing = [n for n in names if n not in registered]
    for n in missing:
        print(f"not registered with CTest under its own name: {n!r}")
    bad = [n for n in names if ";" in n or n.count("[") != n.count("]")]
    for n in bad:
        print(f"test name with ';' or unbalanced brackets (CTest discovery breaks on them): {n!r}")
    print(f"{len(names)} Catch2 test cases, {len(names) - len(missing)} registered")
    return 1 if missing or bad else 0


if __name__ == "__main__":
    sys.exit(main())
