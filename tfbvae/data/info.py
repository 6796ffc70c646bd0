"""What a data pipeline serves, as a record (no TensorFlow: run records and results read it)."""

from __future__ import annotations

import dataclasses
import json


@dataclasses.dataclass(frozen=True)
class DataInfo:
    """What the pipelines serve; ``as_dict()`` goes into logs, exports and results."""

    dataset: str
    source: str
    location: str
    image_shape: tuple[int, int, int]
    num_examples: int
    num_train: int
    num_validation: int
    batch_size: int
    seed: int
    split_seed: int
    factor_names: tuple[str, ...] = ()
    factors_num_values: tuple[int, ...] = ()

    def as_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))
