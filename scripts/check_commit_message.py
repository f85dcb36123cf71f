"""commit-msg hook: the subject line is at most 72 characters and, when there is a body, a blank line follows it.

Usage: `python scripts/check_commit_message.py .git/COMMIT_EDITMSG` (pre-commit passes the file).
"""

from __future__ import annotations

import sys

MAX_SUBJECT = 72


def problems(message: str) -> list[str]:
    lines = [line for line in message.splitlines() if not line.startswith("#")]
    if not lines or not lines[0].strip():
        return ["the subject line is empty"]
    found = []
    if len(lines[0]) > MAX_SUBJECT:
        found.append(f"the subject has {len(lines[0])} characters (at most {MAX_SUBJECT}); put the detail in the body")
    if len(lines) > 1 and lines[1].strip():
        found.append("a blank line separates the subject from the body")
    return found


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        found = problems(handle.read())
    for problem in found:
        print(f"commit message: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
