"""Federation specs: which client (site) gets which data, mask and acceleration.

A spec is a YAML file (``automri fed ... --spec FILE``) or the built-in ``default``
(``automri/federated/default.yaml``)::

    size: 64                      # image side in pixels for every client (--size overrides it)
    clients:
      - name: site-a              # unique, used in reports and as the client's folder name
        dataset: colin27          # built-in name or a path (see automri.data.datasets.build_dataset),
                                  # or "site": the site names it in its SuperNode's own
                                  # --node-config "dataset='PATH'" (the server never sees it)
        mask: "fastmri-random:cf=0.08,acc=4"   # automri.physics.masks.build_mask spec string
        noise: 0.0                # std of complex Gaussian k-space noise added at load time
        coils: 0                  # 0 = single-coil simulation, C > 0 = C simulated coils
        max_slices: 24            # cap on slices per split (null = all)
        seed: 1                   # seed of this client's data pipeline (masks, phase, noise)

Unknown keys are errors that name the key and the file. The spec only describes data; how many
rounds, which algorithm and which model are run options (:class:`automri.federated.task.FedConfig`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from automri.data.augment import parse_augment
from automri.data.builtin import builtin_names
from automri.errors import AutoMRIError
from automri.train.config import parse_yaml

DEFAULT_SPEC = "default"
SITE_DATASET = "site"
"""The ``dataset`` of a client whose SuperNode names its data in its own node config."""
_TOP_KEYS = {"size", "clients"}
_CLIENT_REQUIRED = {"name", "dataset", "mask"}
_CLIENT_OPTIONAL = {"noise", "coils", "max_slices", "seed", "augment"}


@dataclass(frozen=True)
class ClientSpec:
    """The data of one client: ``dataset`` (built-in name or path) seen through ``mask``;
    ``augment``: training augmentation of its train split (``automri.data.augment`` spec)."""

    name: str
    dataset: str
    mask: str
    noise: float = 0.0
    coils: int = 0
    max_slices: int | None = None
    seed: int = 0
    augment: str = "none"


@dataclass(frozen=True)
class FederationSpec:
    """All clients of a federation plus the shared image ``size``; ``source`` names the file."""

    clients: tuple[ClientSpec, ...]
    size: int = 64
    source: str = field(default="<dict>", compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-serialisable), the inverse of :func:`spec_from_dict`."""
        return {"size": self.size, "clients": [asdict(client) for client in self.clients]}

    def site_owned(self) -> FederationSpec:
        """This spec with every client's ``dataset`` left to its site (:data:`SITE_DATASET`)."""
        return replace(self, clients=tuple(replace(c, dataset=SITE_DATASET) for c in self.clients))

    def sites_naming_data(self) -> list[str]:
        """Names of the clients whose dataset their site names (``dataset: site``)."""
        return [c.name for c in self.clients if c.dataset == SITE_DATASET]

    def client_names(self) -> list[str]:
        """Client names in partition order (partition id ``i`` is ``clients[i]``)."""
        return [client.name for client in self.clients]


def _expect(value: Any, kind: type | tuple[type, ...], where: str, what: str) -> Any:
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise AutoMRIError(f"{where}: expected {what}, got {value!r}")
    return value


def _augment(value: Any, where: str) -> str:
    try:
        parse_augment(value)
    except AutoMRIError as error:
        raise AutoMRIError(f"{where}: {error}") from None
    return value


def spec_from_dict(data: Any, source: str = "<dict>") -> FederationSpec:
    """Validate plain data (as read from YAML) into a :class:`FederationSpec`.

    Raises :class:`AutoMRIError` naming ``source`` and the offending key for unknown keys, missing
    keys, wrong types, duplicate client names, fewer than 2 clients or a non-positive size.
    """
    if not isinstance(data, dict):
        raise AutoMRIError(f"{source}: expected a mapping with 'clients' (and optional 'size'), got {type(data).__name__}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise AutoMRIError(f"{source}: unknown key {sorted(unknown)[0]!r} (expected {sorted(_TOP_KEYS)})")
    size = _expect(data.get("size", 64), int, f"{source}: size", "a positive integer (pixels)")
    if size < 8:
        raise AutoMRIError(f"{source}: size: expected an image side of at least 8 pixels, got {size}")
    raw_clients = data.get("clients")
    if not isinstance(raw_clients, list) or len(raw_clients) < 2:
        raise AutoMRIError(f"{source}: clients: expected a list of at least 2 clients, got {raw_clients!r}")
    clients = []
    for index, raw in enumerate(raw_clients):
        where = f"{source}: clients[{index}]"
        if not isinstance(raw, dict):
            raise AutoMRIError(f"{where}: expected a mapping, got {raw!r}")
        unknown = set(raw) - _CLIENT_REQUIRED - _CLIENT_OPTIONAL
        if unknown:
            allowed = sorted(_CLIENT_REQUIRED | _CLIENT_OPTIONAL)
            raise AutoMRIError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected one of {allowed})")
        missing = _CLIENT_REQUIRED - set(raw)
        if missing:
            raise AutoMRIError(f"{where}: missing key {sorted(missing)[0]!r}")
        max_slices = raw.get("max_slices")
        if max_slices is not None and (_expect(max_slices, int, f"{where}.max_slices", "a positive integer or null") < 1):
            raise AutoMRIError(f"{where}.max_slices: expected a positive integer or null, got {max_slices}")
        noise = float(_expect(raw.get("noise", 0.0), (int, float), f"{where}.noise", "a number >= 0"))
        if noise < 0:
            raise AutoMRIError(f"{where}.noise: expected a number >= 0, got {noise}")
        coils = _expect(raw.get("coils", 0), int, f"{where}.coils", "an integer >= 0")
        if coils < 0:
            raise AutoMRIError(f"{where}.coils: expected an integer >= 0, got {coils}")
        clients.append(
            ClientSpec(
                name=_expect(raw["name"], str, f"{where}.name", "a string"),
                dataset=str(_expect(raw["dataset"], (str, os.PathLike), f"{where}.dataset", "a built-in name or a path")),
                mask=_expect(raw["mask"], str, f"{where}.mask", "a mask spec string such as 'equispaced:cf=0.08,acc=4'"),
                noise=noise,
                coils=coils,
                max_slices=max_slices,
                seed=_expect(raw.get("seed", index), int, f"{where}.seed", "an integer"),
                augment=_augment(raw.get("augment", "none"), f"{where}.augment"),
            )
        )
    names = [client.name for client in clients]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise AutoMRIError(f"{source}: clients: duplicate client name {duplicates[0]!r}")
    return FederationSpec(clients=tuple(clients), size=size, source=source)


def load_spec(spec: str | os.PathLike, size: int | None = None) -> FederationSpec:
    """Read a federation spec: ``"default"`` (the packaged 3-site federation) or a YAML path.

    ``size`` (the ``--size`` flag), when given, replaces the spec's image size.
    """
    if str(spec) == DEFAULT_SPEC:
        text = resources.files("automri.federated").joinpath("default.yaml").read_text(encoding="utf-8")
        source = "default.yaml (built-in)"
    else:
        path = Path(spec)
        if not path.is_file():
            raise AutoMRIError(f"--spec {path}: file not found (pass a federation YAML or 'default')")
        text, source = path.read_text(encoding="utf-8"), str(path)
    data = parse_yaml(text, source)
    if size is not None:
        data = {**data, "size": size} if isinstance(data, dict) else data
    federation = spec_from_dict(data, source)
    if str(spec) != DEFAULT_SPEC:
        federation = _absolute_paths(federation, Path(source).resolve().parent)
    return federation


def _absolute_paths(spec: FederationSpec, base: Path) -> FederationSpec:
    """Dataset paths relative to the spec file made absolute (SuperNodes run elsewhere)."""

    builtins = set(builtin_names())
    clients = tuple(
        replace(c, dataset=str(base / c.dataset))
        if c.dataset not in builtins and not Path(c.dataset).is_absolute() and (base / c.dataset).exists()
        else c
        for c in spec.clients
    )
    return replace(spec, clients=clients)
