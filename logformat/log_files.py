"""Finding the log files of a span: TFX's `{SPAN}` convention for input patterns, on any filesystem TF reads.

A logs pattern is a glob (`*`, `?`, `[...]`) on a local path or a URI (`gs://bucket/logs/...`) holding exactly one
span spec, as FileBasedExampleGen's input patterns do (tfx/components/example_gen/utils.py):

* `{SPAN:N}`: the span number zero-padded to N digits, as TFX fills it for a static range
  (`day={SPAN:5}` -> `day=00003`);
* `{SPAN}`: any run of digits whose integer value is the span (TFX captures the span with a greedy group and parses it
  with int(), so `day={SPAN}` finds `day=3` and `day=00003` alike).

`span_files(pattern, span)` lists the files of one span, sorted; `span_glob` is the glob it lists them with;
`pattern_base` is the fixed directory part of a pattern, what quarantine records name files relative to.
"""

from __future__ import annotations

import re

import tensorflow as tf

from config.validation import SPAN_SPEC_REGEX, logs_pattern_problem

_GLOB_CHARS = re.compile(r"[*?\[]")


class LogsPatternError(ValueError):
    """A logs pattern that cannot name the files of a span."""


def check_pattern(pattern: str) -> None:
    """Raises LogsPatternError unless `pattern` holds exactly one `{SPAN}` or `{SPAN:N}` (N a positive integer)."""
    problem = logs_pattern_problem(pattern)
    if problem is not None:
        raise LogsPatternError(problem)


def span_glob(pattern: str, span: int) -> str:
    """The glob listing span `span`'s candidates: `{SPAN:N}` filled in, `{SPAN}` as `*` (checked by span_files)."""
    check_pattern(pattern)
    match = SPAN_SPEC_REGEX.search(pattern)
    assert match is not None
    width = match.group("width")
    if width is None:
        return SPAN_SPEC_REGEX.sub("*", pattern)
    digits = str(int(span))
    if int(width) < len(digits):
        raise LogsPatternError(f"span {span} has more than {width} digits ({pattern!r})")
    return SPAN_SPEC_REGEX.sub(digits.zfill(int(width)), pattern)


def _span_regex(pattern: str) -> re.Pattern[str]:
    """A regex over full paths: the glob's wildcards as in fnmatch (within one path segment), {SPAN} captured."""
    out, i = [], 0
    for token in re.finditer(r"\{SPAN(?::[^}]*)?\}|\*|\?|\[[^\]]*\]", pattern):
        out.append(re.escape(pattern[i : token.start()]))
        text = token.group()
        if text.startswith("{"):
            out.append(r"(?P<span>\d+)")
        elif text == "*":
            out.append(r"[^/]*")
        elif text == "?":
            out.append(r"[^/]")
        else:
            body = text[1:-1]
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
        i = token.end()
    out.append(re.escape(pattern[i:]))
    return re.compile("".join(out) + r"\Z")


def span_files(pattern: str, span: int) -> list[str]:
    """The files of span `span` (sorted; empty when none)."""
    candidates = tf.io.gfile.glob(span_glob(pattern, span))
    if SPAN_SPEC_REGEX.search(pattern).group("width") is not None:  # type: ignore[union-attr]
        return sorted(candidates)
    regex = _span_regex(pattern)
    return sorted(p for p in candidates if (m := regex.match(p)) is not None and int(m.group("span")) == int(span))


def pattern_base(pattern: str) -> str:
    """The directory part of `pattern` before its first wildcard or span spec (files are named relative to it)."""
    first = min(
        (m.start() for m in (_GLOB_CHARS.search(pattern), SPAN_SPEC_REGEX.search(pattern)) if m), default=len(pattern)
    )
    head = pattern[:first]
    return head[: head.rfind("/")] if "/" in head else ""


def files_fingerprint(paths: list[str]) -> str:
    """A fingerprint of a list of files (path, size, modification time): changes when any of them does."""
    parts = []
    for path in paths:
        stat = tf.io.gfile.stat(path)
        parts.append(f"{path}\t{stat.length}\t{stat.mtime_nsec}")
    return "\n".join(parts)
