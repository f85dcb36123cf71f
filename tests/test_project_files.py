"""The project's front door holds: README.md is short, every relative link in README.md, the top-level guides and
docs/ resolves, the version lives in pyproject.toml alone (CHANGELOG.md's newest release names it), LICENSE is
Apache-2.0, and the commit-message hook refuses what CONTRIBUTING.md rules out."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
MAX_README_LINES = 150
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
MARKDOWN = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", *(REPO / "docs").rglob("*.md")])


def relative_links(path: pathlib.Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)  # code blocks hold no links
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t) and not t.startswith("#")]


def test_readme_is_a_front_door():
    assert len((REPO / "README.md").read_text().splitlines()) <= MAX_README_LINES


@pytest.mark.parametrize("path", MARKDOWN, ids=[str(p.relative_to(REPO)) for p in MARKDOWN])
def test_every_relative_link_resolves(path):
    broken = [t for t in relative_links(path) if not (path.parent / t.split("#")[0]).exists()]
    assert not broken, f"{path.relative_to(REPO)}: links to missing files: {broken}"


def test_the_link_check_sees_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [gone](missing.md#x) ![img](pic.png) [web](https://example.com) [top](#a)\n")
    links = relative_links(page)
    assert links == ["page.md", "missing.md#x", "pic.png"]
    assert [t for t in links if not (tmp_path / t.split("#")[0]).exists()] == ["missing.md#x", "pic.png"]


def test_the_version_lives_in_pyproject_and_the_changelog_names_it():
    project = (REPO / "pyproject.toml").read_text().split("[project]")[1].split("\n[")[0]
    [version] = re.findall(r'^version = "([^"]+)"$', project, flags=re.MULTILINE)
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", (REPO / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert releases and releases[0] == version


def test_the_license_is_apache_2():
    text = (REPO / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


@pytest.mark.parametrize(
    "message, problems",
    [
        ("Split serving/client.py into one module per idea\n\nThe detail.\n", 0),
        ("x" * 73 + "\n", 1),
        ("A fine subject\nno blank line before the body\n", 1),
        ("\n# only a comment\n", 1),
    ],
)
def test_the_commit_message_hook(tmp_path, message, problems):
    path = tmp_path / "COMMIT_EDITMSG"
    path.write_text(message)
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "check_commit_message.py"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == (1 if problems else 0), done.stderr
    assert done.stderr.count("commit message:") == problems
