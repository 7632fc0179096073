"""What may leave a client: an allow-list checked on every outgoing message, and a size bound.

A client reply may hold only

- ``arrays`` (``ArrayRecord``): model parameters whose names the algorithm shares
  (e.g. the U-Net encoder for FedMRI, nothing for Non-Fed);
- ``alpha`` (``ArrayRecord``): architecture weights (FedNAS only);
- ``metrics`` (``MetricRecord``): the numbers in :data:`ALLOWED_METRICS`.

Anything else (a ``ConfigRecord``, an image, an unknown metric or parameter name) is refused with
:class:`OutgoingMessageError` before the message is sent: the ClientApp turns it into an error
reply, which carries no content. The server applies the same check to every reply it receives.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from flwr.app import ArrayRecord, MetricRecord, RecordDict

from automri.errors import AutoMRIError
from automri.federated.accounting import message_bytes

ROLES = ("global", "personal")
SCORES = ("psnr", "ssim", "nmse")
COMPUTE_METRIC = "compute-s"
"""Seconds a client spent on its local work for one message (training or scoring)."""
ALLOWED_METRICS = frozenset(
    {"num-examples", "partition-id", "train-loss", "local-steps", "val-psnr", COMPUTE_METRIC}
    | {f"{role}-{score}" for role in ROLES for score in SCORES}
)
"""Metric names a client may report: sample count, its partition id (so the server can name it),
training loss and step count, the scores of the global / personalised model, and its local
compute time (for the Flower overhead per round)."""


class OutgoingMessageError(AutoMRIError):
    """A message broke the allow-list or the size bound."""


def check_size(content: RecordDict, max_bytes: int, what: str) -> int:
    """Payload bytes of ``content``; :class:`OutgoingMessageError` when above ``max_bytes``."""
    size = message_bytes(content)
    if size > max_bytes:
        raise OutgoingMessageError(
            f"{what}: message of {size} bytes exceeds max_message_bytes={max_bytes} "
            "(use a smaller model or raise --max-message-mb)"
        )
    return size


def check_reply(content: RecordDict, shared_keys: Mapping[str, Set[str]], max_bytes: int, what: str) -> int:
    """Check a client reply against the allow-list; returns its payload bytes.

    ``shared_keys``: for each array record name the client may send (``arrays``, ``alpha``), the
    parameter names it may contain. Raises :class:`OutgoingMessageError` naming the first violation.
    """
    for name, record in content.items():
        if name == "metrics":
            if not isinstance(record, MetricRecord):
                raise OutgoingMessageError(f"{what}: record 'metrics' must be a MetricRecord, got {type(record).__name__}")
            extra = sorted(set(record) - ALLOWED_METRICS)
            if extra:
                raise OutgoingMessageError(f"{what}: metric {extra[0]!r} is not on the allow-list")
        elif name in shared_keys:
            if not isinstance(record, ArrayRecord):
                raise OutgoingMessageError(f"{what}: record {name!r} must be an ArrayRecord, got {type(record).__name__}")
            extra = sorted(set(record) - set(shared_keys[name]))
            if extra:
                raise OutgoingMessageError(f"{what}: array {extra[0]!r} in record {name!r} is not a shared parameter")
        else:
            raise OutgoingMessageError(
                f"{what}: record {name!r} ({type(record).__name__}) may not leave a client "
                f"(allowed: {sorted(shared_keys) + ['metrics']})"
            )
    return check_size(content, max_bytes, what)
