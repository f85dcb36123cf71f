"""The library versions a patch is written for, checked against the installed distributions."""

from __future__ import annotations

import warnings
from importlib import metadata


class CompatWarning(UserWarning):
    """A patch of a third-party internal is skipped: the installed library is not the version it is written for."""


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def version_matches(installed: str | None, written_for: str) -> bool:
    """`written_for` "2.59.0" matches exactly that release; "2.16" matches every 2.16.x."""
    if installed is None:
        return False
    want = written_for.split(".")
    return installed.split("+")[0].split(".")[: len(want)] == want


def mismatches(written_for: dict[str, str]) -> list[str]:
    """One line per distribution whose installed version is not the one written for; empty when all match."""
    found = {name: installed_version(name) for name in written_for}
    return [
        f"{name} {found[name] or 'not installed'} (written for {want})"
        for name, want in written_for.items()
        if not version_matches(found[name], want)
    ]


def check_versions(patch: str, written_for: dict[str, str]) -> bool:
    """True when every distribution is the version `patch` is written for; otherwise warns and returns False."""
    wrong = mismatches(written_for)
    if wrong:
        warnings.warn(f"{patch} is not installed: {'; '.join(wrong)}", CompatWarning, stacklevel=3)
    return not wrong


def set_if_written_for(patch: str, written_for: dict[str, str], owner: object, attribute: str, value: object) -> bool:
    """Sets `owner.attribute = value` when the versions match (see check_versions); returns whether it did."""
    if not check_versions(patch, written_for):
        return False
    setattr(owner, attribute, value)
    return True
