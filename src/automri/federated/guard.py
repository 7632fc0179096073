"""What may leave a client: an allow-list checked on every outgoing message, and a size bound.

A client reply may hold only

- ``arrays`` (``ArrayRecord``): model parameters whose names the algorithm shares
  (e.g. the U-Net encoder for FedMRI, nothing for Non-Fed);
- ``alpha`` (``ArrayRecord``): architecture weights (FedNAS only);
- ``metrics`` (``MetricRecord``): the numbers in :data:`ALLOWED_METRICS`.

Anything else (a ``ConfigRecord``, an image, an unknown metric or parameter name) is refused with
:class:`OutgoingMessageError` before the message is sent: the ClientApp turns it into an error
reply, which carries no content. The server applies the same check to every reply it receives.

The server then validates the *values* of every reply before using it (:func:`check_metrics`,
:func:`check_count`, :func:`check_arrays`): the metrics it needs present, scalar and finite, a
sample count that is a positive integer within a bound (and equal to the one the site reported
first), and arrays with exactly the keys, shapes and dtypes of the global model, finite and bounded
in magnitude. A violation raises :class:`RejectedReply` with a reason code from
:data:`REJECT_CODES`; the server records only that code (never the client's own text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Set

import numpy as np
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


REJECT_CODES = {
    "client-error": "the client's app raised (its error text is not kept)",
    "timeout": "no reply within the round timeout",
    "not-allowed": "a record, parameter or metric outside the allow-list",
    "size": "the reply exceeds max_message_bytes",
    "missing-metric": "a metric the server needs is absent",
    "metric": "a metric is not a finite scalar",
    "count": "num-examples not a positive integer <= max_examples, or not the count the site registered",
    "partition": "a partition id that is not this node's, or already claimed by another node",
    "keys": "array keys differ from the global model's",
    "shape": "an array's shape differs from the global model's",
    "dtype": "an array's dtype differs from the global model's",
    "non-finite": "NaN or infinite values",
    "magnitude": "a value above max_weight_abs in magnitude",
    "quorum": "(round) fewer accepted replies than min_clients: the global model was kept",
}
"""Reason codes of a rejected (or missing) reply, as written to ``metrics.jsonl``."""


class OutgoingMessageError(AutoMRIError):
    """A message broke the allow-list (``code="not-allowed"``) or the size bound (``"size"``)."""

    def __init__(self, message: str, code: str = "not-allowed") -> None:
        super().__init__(message)
        self.code = code


class RejectedReply(AutoMRIError):
    """The server refuses a reply; ``code`` is one of :data:`REJECT_CODES`, the message is the
    server's own description (built from the global model, never from the client's text)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code


def check_size(content: RecordDict, max_bytes: int, what: str) -> int:
    """Payload bytes of ``content``; :class:`OutgoingMessageError` when above ``max_bytes``."""
    size = message_bytes(content)
    if size > max_bytes:
        raise OutgoingMessageError(
            f"{what}: message of {size} bytes exceeds max_message_bytes={max_bytes} "
            "(use a smaller model or raise --max-message-mb)",
            code="size",
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


def check_metrics(content: RecordDict, required: Set[str]) -> dict[str, float]:
    """The reply's metrics as floats; :class:`RejectedReply` (``missing-metric``) when a name of
    ``required`` is absent, (``metric``) when a value is not a finite int/float scalar."""
    record = content["metrics"] if "metrics" in content else None
    if not isinstance(record, MetricRecord):
        raise RejectedReply("missing-metric", "the reply has no metrics record")
    missing = sorted(set(required) - set(record))
    if missing:
        raise RejectedReply("missing-metric", f"metric {missing[0]!r} is required")
    metrics = {}
    for name, value in record.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RejectedReply("metric", f"metric {name!r} is not a finite scalar")
        metrics[name] = float(value)
    return metrics


def check_count(count: float, registered: float | None, max_examples: int) -> float:
    """A sample count the server may weight by: an integer in ``[1, max_examples]`` and, once a
    site has registered one (its first accepted reply), equal to it. :class:`RejectedReply`
    (``count``) otherwise."""
    if count != int(count) or not 1 <= count <= max_examples:
        raise RejectedReply("count", f"num-examples={count:g} is not an integer in [1, {max_examples}]")
    if registered is not None and count != registered:
        raise RejectedReply("count", f"num-examples={count:g} differs from the registered {registered:g}")
    return count


def check_arrays(content: RecordDict, expected: Mapping[str, ArrayRecord], max_abs: float) -> None:
    """Every record of ``expected`` is in ``content`` with the same keys, and every array has the
    reference's dtype and shape, finite values and ``|value| <= max_abs``; otherwise
    :class:`RejectedReply` with code ``keys``, ``dtype``, ``shape``, ``non-finite`` or ``magnitude``."""
    for name, reference in expected.items():
        record = content[name] if name in content else None
        if not isinstance(record, ArrayRecord) or set(record) != set(reference):
            raise RejectedReply("keys", f"record {name!r} must hold exactly the {len(reference)} keys of the global model")
        for key, ref in reference.items():
            array = record[key]
            if array.dtype != ref.dtype:
                raise RejectedReply("dtype", f"{name}[{key!r}] must be {ref.dtype}")
            if tuple(array.shape) != tuple(ref.shape):
                raise RejectedReply("shape", f"{name}[{key!r}] must have shape {tuple(ref.shape)}")
            try:
                values = array.numpy()
            except Exception:  # noqa: BLE001 - any undecodable payload is the client's fault
                raise RejectedReply("shape", f"{name}[{key!r}] cannot be decoded as {tuple(ref.shape)}") from None
            _check_values(values, f"{name}[{key!r}]", max_abs)


def _check_values(values: np.ndarray, where: str, max_abs: float) -> None:
    """Finite and bounded floating values (integer arrays, e.g. step counters, are not checked)."""
    if not np.issubdtype(values.dtype, np.floating) or values.size == 0:
        return
    if not np.isfinite(values).all():
        raise RejectedReply("non-finite", f"{where} holds NaN or infinite values")
    if float(np.abs(values).max()) > max_abs:
        raise RejectedReply("magnitude", f"{where} has values above max_weight_abs={max_abs:g}")
