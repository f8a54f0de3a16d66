"""Lambda SnapStart (the template's `SnapStart` parameter): INIT runs once per published
version and many environments resume from the same snapshot.

Nothing unique is made during INIT: ids, idempotency records and cursor nonces come from
`secrets` (the kernel's entropy) inside each request. Two things are worth doing around
the snapshot, with the runtime's own hooks (`snapshot_restore_py`, present only there):
before it, create the DynamoDB client (the slowest part of a first request) so every
restored environment starts with it; after each restore, reseed `random` (the retry
jitter of the service and of botocore), or every environment would draw the same jitter.
"""

from __future__ import annotations

import os
import random


def prepare_snapshot() -> bool:
    """Register the hooks when this INIT is a SnapStart one; True when registered."""
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return False
    try:
        from snapshot_restore_py import register_after_restore, register_before_snapshot  # type: ignore[import-not-found]
    except ImportError:
        return False
    register_before_snapshot(create_clients)
    register_after_restore(reseed)
    return True


def create_clients() -> None:
    from agent_sessions.store.client import dynamodb

    dynamodb()


def reseed() -> None:
    random.seed()  # jitter, not secrets; fresh entropy per restored environment
