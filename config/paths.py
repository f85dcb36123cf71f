"""Paths and URIs: whether a path names a remote filesystem (gs://, s3://, hdfs://, ...) or a local one."""

from __future__ import annotations


def is_remote(path: str) -> bool:
    """True for a URI with a scheme (gs://bucket/x, s3://..., file:///x); False for a plain local path."""
    return "://" in path
