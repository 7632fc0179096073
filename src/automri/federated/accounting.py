"""Communication accounting: the payload bytes of a Flower message.

``message_bytes(content)`` = the ``nbytes`` of every array in every ``ArrayRecord`` (element count x
item size, i.e. the raw tensor data) + the metadata of the ``MetricRecord``s / ``ConfigRecord``s
(8 bytes per number, the UTF-8 length of strings, the length of bytes values, summed over lists).
Serialisation headers and gRPC framing are not counted: the figure is the model-plus-metrics
payload, comparable across algorithms and transports.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

NUMBER_BYTES = 8


def array_record_bytes(record: ArrayRecord) -> int:
    """Sum of ``nbytes`` of the arrays of ``record`` (no (de)serialisation)."""
    return sum(np.dtype(array.dtype).itemsize * math.prod(array.shape) for array in record.values())


def _value_bytes(value: Any) -> int:
    if isinstance(value, list):
        return sum(_value_bytes(v) for v in value)
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, bytes):
        return len(value)
    return NUMBER_BYTES


def metadata_bytes(record: MetricRecord | ConfigRecord) -> int:
    """Bytes of a metric/config record's values (8 per number, string/bytes lengths)."""
    return sum(_value_bytes(v) for v in record.values())


def message_bytes(content: RecordDict) -> int:
    """Payload bytes of a message's content: arrays' ``nbytes`` + metrics/config metadata."""
    total = 0
    for record in content.values():
        if isinstance(record, ArrayRecord):
            total += array_record_bytes(record)
        else:
            total += metadata_bytes(record)
    return total
