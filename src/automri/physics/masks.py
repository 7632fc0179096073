"""Undersampling masks in the centred k-space layout.

Every generator is called as ``generator((H, W), seed=None)`` and returns a 0/1 ``float32 [H, W]``
tensor with DC at index ``(H // 2, W // 2)``. 1D Cartesian masks sample **columns** (the last dim,
W) and repeat the same column pattern on every row, like fastMRI. The same seed gives the same mask;
``seed=None`` draws fresh entropy. ``name`` is a spec string that :func:`build_mask` parses back.
"""

from __future__ import annotations

import inspect
import math
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import scipy.io
import torch

from automri.errors import AutoMRIError
from automri.physics.fft import uncentered_to_centered_mask


def sampling_rate(mask: torch.Tensor) -> float:
    """True fraction of sampled k-space points (non-zero entries) of a mask of any shape."""
    return torch.count_nonzero(mask).item() / mask.numel()


def _fmt(value: float) -> str:
    return f"{value:g}"


def center_block(width: int, num_center: int) -> slice:
    """fastMRI's fully sampled centre: ``num_center`` columns from ``(width - num_center + 1) // 2``.

    For ``num_center >= 1`` the block always contains the DC column ``width // 2``.
    """
    pad = (width - num_center + 1) // 2
    return slice(pad, pad + num_center)


def center_disc(height: int, width: int, radius: float) -> np.ndarray:
    """Boolean ``[H, W]`` disc of pixels within ``radius`` of the DC pixel ``(H // 2, W // 2)``."""
    return _distance_from_center(height, width) <= radius


def _distance_from_center(height: int, width: int) -> np.ndarray:
    rows = np.arange(height)[:, None] - height // 2
    cols = np.arange(width)[None, :] - width // 2
    return np.sqrt(rows**2 + cols**2)


class MaskGenerator(ABC):
    """Base class: validates the shape, samples a boolean ``[H, W]`` array, checks it is not empty."""

    name: str

    def __call__(self, shape: tuple[int, int], seed: int | None = None) -> torch.Tensor:
        """0/1 ``float32 [H, W]`` mask for an image of ``shape = (H, W)``."""
        if len(shape) != 2 or min(shape) < 1:
            raise AutoMRIError(f"mask {self.name}: expected a shape (H, W) of positive ints, got {tuple(shape)}")
        height, width = int(shape[0]), int(shape[1])
        mask = self._sample(height, width, seed)
        if not mask.any():
            raise AutoMRIError(f"mask {self.name}: the mask for shape {(height, width)} is empty")
        return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))

    @abstractmethod
    def _sample(self, height: int, width: int, seed: int | None) -> np.ndarray:
        """Boolean ``[H, W]`` mask."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class LineMaskGenerator(MaskGenerator):
    """A 1D Cartesian mask: one boolean pattern over the W columns, repeated on every row."""

    def _sample(self, height: int, width: int, seed: int | None) -> np.ndarray:
        return np.broadcast_to(self._columns(width, seed), (height, width))

    @abstractmethod
    def _columns(self, width: int, seed: int | None) -> np.ndarray:
        """Boolean ``[W]`` column pattern."""


def _check_rate(rate: float, kind: str) -> float:
    if not 0 < rate <= 1:
        raise AutoMRIError(f"mask {kind}: rate={rate} (expected a sampled fraction in (0, 1])")
    return float(rate)


def _check_acceleration(acceleration: float, kind: str) -> float:
    if not acceleration >= 1:
        raise AutoMRIError(f"mask {kind}: acceleration={acceleration} (expected >= 1)")
    return float(acceleration)


def _check_radius(radius: float, kind: str) -> float:
    if not radius >= 0:
        raise AutoMRIError(f"mask {kind}: center radius={radius} (expected >= 0 pixels)")
    return float(radius)


def _too_few(name: str, shape: tuple[int, ...], target: int, center: int) -> AutoMRIError:
    return AutoMRIError(
        f"mask {name}: for shape {shape} the fully sampled centre has {center} points but the target "
        f"total is {target} (expected a lower acceleration / higher rate or a smaller centre)"
    )


class RandomLineMask(LineMaskGenerator):
    """Uniform random columns with exactly ``round(rate * W)`` sampled columns in total.

    The total includes a fully sampled centre block of ``max(1, round(center_fraction * W))``
    columns (fastMRI placement, :func:`center_block`); the rest are drawn without replacement from
    the other columns (EMR-NAS: 15% random lines).
    """

    def __init__(self, rate: float, center_fraction: float = 0.04) -> None:
        self.rate = _check_rate(rate, "random")
        if not 0 <= center_fraction < 1:
            raise AutoMRIError(f"mask random: center={center_fraction} (expected a fraction in [0, 1))")
        self.center_fraction = float(center_fraction)
        self.name = f"random:rate={_fmt(self.rate)},center={_fmt(self.center_fraction)}"

    def _columns(self, width: int, seed: int | None) -> np.ndarray:
        total = round(self.rate * width)
        num_center = max(1, round(self.center_fraction * width))
        if total < num_center:
            raise _too_few(self.name, (width,), total, num_center)
        columns = np.zeros(width, dtype=bool)
        columns[center_block(width, num_center)] = True
        rng = np.random.default_rng(seed)
        columns[rng.choice(np.flatnonzero(~columns), total - num_center, replace=False)] = True
        return columns


def _as_tuple(values: float | list[float] | tuple[float, ...]) -> tuple[float, ...]:
    return tuple(values) if isinstance(values, (list, tuple)) else (values,)


class FastMRIMask(LineMaskGenerator):
    """fastMRI ``MaskFunc`` semantics, bit-exact with ``fastmri.data.subsample`` for a given seed.

    Per call a ``numpy.random.RandomState(seed)`` picks one (center_fraction, acceleration) pair
    uniformly, ``num_low = round(W * cf)`` centre columns start at ``(W - num_low + 1) // 2``.
    Deviation: ``num_low`` is at least 1 so the DC column is always sampled (fastMRI gives 0 when
    ``W * cf < 0.5``).
    """

    kind: str

    def __init__(
        self,
        center_fractions: float | list[float] | tuple[float, ...],
        accelerations: float | list[float] | tuple[float, ...],
    ) -> None:
        self.center_fractions = _as_tuple(center_fractions)
        self.accelerations = tuple(_check_acceleration(a, self.kind) for a in _as_tuple(accelerations))
        if len(self.center_fractions) != len(self.accelerations) or not self.center_fractions:
            raise AutoMRIError(
                f"mask {self.kind}: {len(self.center_fractions)} center fractions and "
                f"{len(self.accelerations)} accelerations (expected the same non-zero number)"
            )
        if not all(0 < cf < 1 for cf in self.center_fractions):
            raise AutoMRIError(f"mask {self.kind}: cf={self.center_fractions} (expected fractions in (0, 1))")
        cfs = "/".join(_fmt(cf) for cf in self.center_fractions)
        accs = "/".join(_fmt(a) for a in self.accelerations)
        self.name = f"{self.kind}:cf={cfs},acc={accs}"

    def _columns(self, width: int, seed: int | None) -> np.ndarray:
        rng = np.random.RandomState(seed)
        choice = rng.randint(0, len(self.accelerations))
        acceleration = self.accelerations[choice]
        num_low = max(1, int(round(width * self.center_fractions[choice])))
        columns = self._outer_columns(width, num_low, acceleration, rng)
        columns[center_block(width, num_low)] = True
        return columns

    @abstractmethod
    def _outer_columns(
        self, width: int, num_low: int, acceleration: float, rng: np.random.RandomState
    ) -> np.ndarray:
        """Boolean ``[W]`` columns sampled besides the centre block."""


class FastMRIRandomMask(FastMRIMask):
    """fastMRI ``RandomMaskFunc``: outer columns i.i.d. with
    ``prob = (W / acc - num_low) / (W - num_low)`` (expected total ``W / acc``)."""

    kind = "fastmri-random"

    def _outer_columns(self, width, num_low, acceleration, rng):
        prob = (width / acceleration - num_low) / (width - num_low) if width > num_low else 0.0
        return rng.uniform(size=width) < prob


class FastMRIEquispacedMask(FastMRIMask):
    """fastMRI ``EquispacedMaskFractionFunc`` (``--mask_type equispaced_fraction``; fastMRI 0.1's
    ``EquispacedMaskFunc``): columns at
    ``round(arange(offset, W - 1, adj))`` with ``adj = acc (num_low - W) / (num_low acc - W)`` and a
    random ``offset`` in ``[0, round(adj))``, so the total is about ``W / acc`` including the centre.
    When the centre alone reaches ``W / acc`` only the centre is sampled."""

    kind = "equispaced"

    def _outer_columns(self, width, num_low, acceleration, rng):
        columns = np.zeros(width, dtype=bool)
        if width / acceleration <= num_low:
            return columns
        adjusted = acceleration * (num_low - width) / (num_low * acceleration - width)
        offset = rng.randint(0, round(adjusted))
        columns[np.around(np.arange(offset, width - 1, adjusted)).astype(int)] = True
        return columns


class FastMRIEquispacedExactMask(FastMRIMask):
    """fastMRI ``EquiSpacedMaskFunc`` (``--mask_type equispaced`` since fastMRI 0.2): every
    ``acc``-th column from a random ``offset`` in ``[0, acc)``, plus the centre block, so the true
    acceleration is below ``acc``. Accelerations must be integers (fastMRI slices ``offset::acc``)."""

    kind = "equispaced-exact"

    def __init__(
        self,
        center_fractions: float | list[float] | tuple[float, ...],
        accelerations: float | list[float] | tuple[float, ...],
    ) -> None:
        super().__init__(center_fractions, accelerations)
        if not all(float(a).is_integer() for a in self.accelerations):
            raise AutoMRIError(f"mask {self.kind}: acc={self.accelerations} (expected whole numbers)")

    def _outer_columns(self, width, num_low, acceleration, rng):
        columns = np.zeros(width, dtype=bool)
        columns[rng.randint(0, round(acceleration)) :: int(acceleration)] = True
        return columns


class GaussianLineMask(LineMaskGenerator):
    """DC-CNN's 1D Gaussian-density Cartesian mask (js3611 ``cartesian_mask``), over columns.

    ``int(W / acc)`` columns in total: ``center_lines`` fully sampled centre columns and the rest
    drawn without replacement with probability ``exp(-s (j - W/2)^2) + W/(2 acc)/W``,
    ``s = 0.5 / (W/10)^2``, renormalised over the non-centre columns. The centre block uses
    :func:`center_block` (js3611's ``W//2 - n//2`` start; they differ by one only for odd W with
    even ``center_lines``) and counts exactly ``center_lines`` columns.
    """

    def __init__(self, acceleration: float, center_lines: int = 8) -> None:
        self.acceleration = _check_acceleration(acceleration, "gaussian")
        if int(center_lines) != center_lines or center_lines < 1:
            raise AutoMRIError(f"mask gaussian: center={center_lines} (expected an int >= 1 of centre lines)")
        self.center_lines = int(center_lines)
        self.name = f"gaussian:acc={_fmt(self.acceleration)},center={self.center_lines}"

    def _columns(self, width: int, seed: int | None) -> np.ndarray:
        total = int(width / self.acceleration)
        if total < self.center_lines:
            raise _too_few(self.name, (width,), total, self.center_lines)
        positions = np.arange(width) - width / 2
        pdf = np.exp(-0.5 / (width / 10.0) ** 2 * positions**2) + width / (2.0 * self.acceleration) / width
        columns = np.zeros(width, dtype=bool)
        columns[center_block(width, self.center_lines)] = True
        pdf[columns] = 0
        rng = np.random.default_rng(seed)
        columns[rng.choice(width, total - self.center_lines, replace=False, p=pdf / pdf.sum())] = True
        return columns


class Random2DMask(MaskGenerator):
    """Uniform random 2D pixels with exactly ``round(rate * H * W)`` samples, including a fully sampled
    centre disc of ``center_radius`` pixels (:func:`center_disc`)."""

    def __init__(self, rate: float, center_radius: float = 4) -> None:
        self.rate = _check_rate(rate, "random2d")
        self.center_radius = _check_radius(center_radius, "random2d")
        self.name = f"random2d:rate={_fmt(self.rate)},radius={_fmt(self.center_radius)}"

    def _sample(self, height: int, width: int, seed: int | None) -> np.ndarray:
        total = round(self.rate * height * width)
        mask = center_disc(height, width, self.center_radius)
        if total < mask.sum():
            raise _too_few(self.name, (height, width), total, int(mask.sum()))
        rng = np.random.default_rng(seed)
        flat = mask.reshape(-1)
        flat[rng.choice(np.flatnonzero(~flat), total - int(flat.sum()), replace=False)] = True
        return mask


def poisson_disc_points(radius_map: np.ndarray, fixed: np.ndarray, order: np.ndarray) -> list[int]:
    """Dart throwing on a pixel grid with a per-pixel minimum distance.

    ``radius_map``: float ``[H, W]`` minimum distances in pixels; ``fixed``: bool ``[H, W]`` points
    sampled beforehand (e.g. the centre disc); ``order``: flat indices of the candidates in visiting
    order. Each fixed or accepted point ``p`` blocks every pixel closer than ``radius_map[p]``; a
    candidate is accepted unless blocked. Returns the accepted flat indices in acceptance order.
    """
    height, width = fixed.shape
    # Pixels (dr, dc) with dr^2 + dc^2 < r^2 depend only on the largest integer below r^2.
    reach = (np.ceil(radius_map**2).astype(np.int64) - 1).reshape(-1).tolist()
    blocked = bytearray(height * width)
    offsets: dict[int, list[tuple[int, int]]] = {}

    def block(index: int) -> None:
        row, col = divmod(index, width)
        limit = reach[index]
        if limit not in offsets:
            span = math.isqrt(max(limit, 0))
            offsets[limit] = [
                (dr, dc) for dr in range(-span, span + 1) for dc in range(-span, span + 1) if dr * dr + dc * dc <= limit
            ]
        for dr, dc in offsets[limit]:
            r, c = row + dr, col + dc
            if 0 <= r < height and 0 <= c < width:
                blocked[r * width + c] = 1

    for index in np.flatnonzero(fixed).tolist():
        block(index)
    accepted = []
    for index in order.tolist():
        if not blocked[index]:
            accepted.append(index)
            block(index)
    return accepted


class PoissonDiscMask(MaskGenerator):
    """2D variable-density Poisson-disc mask with a fully sampled centre disc.

    Dart throwing (:func:`poisson_disc_points`) in a seeded random order, with a minimum distance
    ``r(d) = r0 (1 + density_slope * d / d_max)`` growing with the distance ``d`` from the DC pixel
    (``d_max`` the largest such distance), so samples are dense near the centre and sparse outside.
    ``r0`` is found by a bracketed search (power-law steps, count ~ 1 / r0^2; same random order) so
    that ``round(H W / acc)`` points, up to 2% more, are accepted; the last accepted points beyond
    the target are dropped, so the rate is exactly ``round(H W / acc) / (H W)`` and the
    min-distance property still holds. Default ``density_slope=1``: the spacing at the edge of
    k-space is twice the spacing at the centre.
    """

    _SEARCH_STEPS = 30
    _EXCESS_TOLERANCE = 0.02  # stop the search once at most 2% more points than needed are accepted

    def __init__(self, acceleration: float, center_radius: float = 4, density_slope: float = 1.0) -> None:
        self.acceleration = _check_acceleration(acceleration, "poisson")
        self.center_radius = _check_radius(center_radius, "poisson")
        if not density_slope >= 0:
            raise AutoMRIError(f"mask poisson: slope={density_slope} (expected >= 0)")
        self.density_slope = float(density_slope)
        self.name = (
            f"poisson:acc={_fmt(self.acceleration)},radius={_fmt(self.center_radius)},"
            f"slope={_fmt(self.density_slope)}"
        )

    def _sample(self, height: int, width: int, seed: int | None) -> np.ndarray:
        center = center_disc(height, width, self.center_radius)
        target, num_center = round(height * width / self.acceleration), int(center.sum())
        if target < num_center:
            raise _too_few(self.name, (height, width), target, num_center)
        needed = target - num_center
        if needed == 0:
            return center
        distance = _distance_from_center(height, width)
        profile = 1 + self.density_slope * distance / max(distance.max(), 1.0)
        order = np.random.default_rng(seed).permutation(np.flatnonzero(~center))

        def throw(r0: float) -> list[int]:
            return poisson_disc_points(r0 * profile, center, order)

        # At r0 = 1 / max(profile) no radius exceeds 1 pixel, so every candidate is accepted.
        low, high = 1.0 / profile.max(), float(max(height, width))
        points = order.tolist()
        aim = needed * (1 + self._EXCESS_TOLERANCE / 2)
        guess = low * math.sqrt(len(points) / aim)  # the count falls roughly like 1 / r0^2
        for _ in range(self._SEARCH_STEPS):
            if len(points) <= needed * (1 + self._EXCESS_TOLERANCE):
                break
            r0 = guess if low < guess < high else 0.5 * (low + high)
            trial = throw(r0)
            if len(trial) >= needed:
                low, points = r0, trial
            else:
                high = r0
            guess = r0 * math.sqrt(max(len(trial), 1) / aim)
        mask = center.copy()
        mask.reshape(-1)[points[:needed]] = True
        return mask


class FixedMask(MaskGenerator):
    """A mask read from a ``.npy`` or ``.mat`` file (MATLAB v7.3 ``.mat`` through h5py).

    The array is squeezed; a 1D array is a column mask over W (repeated on every row), a 2D array
    must be exactly ``[H, W]``. Non-zero entries are sampled. ``centered=False`` converts a mask stored
    in the un-centred layout (DC at index 0) with ``fftshift``. ``key`` names the ``.mat`` variable
    (needed only when the file holds several). The seed is ignored: the mask is fixed.
    """

    def __init__(self, path: str | Path, key: str | None = None, centered: bool = True) -> None:
        self.path = Path(path)
        self.key = key
        self.centered = bool(centered)
        self.array = _read_mask_array(self.path, key)
        if self.array.ndim not in (1, 2):
            raise AutoMRIError(
                f"{self.path}: mask array has shape {self.array.shape} (expected 1D columns [W] or 2D [H, W])"
            )
        if not np.any(self.array):
            raise AutoMRIError(f"{self.path}: the mask is empty (all zeros)")
        options = (f",key={key}" if key else "") + ("" if centered else ",centered=false")
        self.name = f"file:{self.path}{options}"

    def _sample(self, height: int, width: int, seed: int | None) -> np.ndarray:
        expected = (width,) if self.array.ndim == 1 else (height, width)
        if self.array.shape != expected:
            raise AutoMRIError(
                f"{self.path}: mask shape {self.array.shape} does not match the image shape "
                f"{(height, width)} (expected {expected})"
            )
        mask = np.broadcast_to(self.array != 0, (height, width))
        if not self.centered:
            mask = uncentered_to_centered_mask(torch.from_numpy(mask.copy())).numpy()
        return mask


def _read_mask_array(path: Path, key: str | None) -> np.ndarray:
    if not path.is_file():
        raise AutoMRIError(f"{path}: mask file not found (expected a .npy or .mat file)")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError, MemoryError) as error:  # damaged, truncated, absurd header
            raise AutoMRIError(f"{path}: not a readable .npy array ({type(error).__name__}: {error})") from error
    elif suffix == ".mat":
        array = _read_mat(path, key)
    else:
        raise AutoMRIError(f"{path}: unsupported mask file type {suffix!r} (expected .npy or .mat)")
    array = np.squeeze(np.asarray(array))
    if array.dtype.kind not in "biuf":
        raise AutoMRIError(f"{path}: mask has dtype {array.dtype} (expected a bool, int or float array)")
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise AutoMRIError(f"{path}: mask has NaN or infinite entries (expected 0/1 values)")
    return array


def _pick_key(path: Path, keys: list[str], key: str | None) -> str:
    if key is not None:
        if key not in keys:
            raise AutoMRIError(f"{path}: key {key!r} not found (available: {', '.join(keys) or 'none'})")
        return key
    if len(keys) != 1:
        raise AutoMRIError(f"{path}: holds variables {keys}; pass key=... to choose the mask (expected one)")
    return keys[0]


def _read_mat(path: Path, key: str | None) -> np.ndarray:
    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5, stored transposed (column-major)
        with h5py.File(path, "r") as handle:
            keys = [name for name, item in handle.items() if isinstance(item, h5py.Dataset)]
            return handle[_pick_key(path, keys, key)][()].T
    except (ValueError, TypeError, OSError) as error:
        raise AutoMRIError(f"{path}: not a readable .mat file ({error})") from error
    keys = [name for name in contents if not name.startswith("__")]
    return contents[_pick_key(path, keys, key)]


# Spec kind -> (class, {spec key: constructor parameter}).
_KINDS: dict[str, tuple[type[MaskGenerator], dict[str, str]]] = {
    "random": (RandomLineMask, {"rate": "rate", "center": "center_fraction"}),
    "fastmri-random": (FastMRIRandomMask, {"cf": "center_fractions", "acc": "accelerations"}),
    "equispaced": (FastMRIEquispacedMask, {"cf": "center_fractions", "acc": "accelerations"}),
    "equispaced-exact": (FastMRIEquispacedExactMask, {"cf": "center_fractions", "acc": "accelerations"}),
    "gaussian": (GaussianLineMask, {"acc": "acceleration", "center": "center_lines"}),
    "random2d": (Random2DMask, {"rate": "rate", "radius": "center_radius"}),
    "poisson": (PoissonDiscMask, {"acc": "acceleration", "radius": "center_radius", "slope": "density_slope"}),
    "file": (FixedMask, {"path": "path", "key": "key", "centered": "centered"}),
}
_LIST_PARAMETERS = {"center_fractions", "accelerations"}
FASTMRI_MASK_TYPES = {"random": "fastmri-random", "equispaced": "equispaced-exact", "equispaced_fraction": "equispaced"}
"""fastMRI's ``create_mask_for_mask_type`` names (``--mask_type``) -> our mask kinds."""


def _parse_value(text: str, parameter: str, spec: Any) -> Any:
    if parameter in ("path", "key"):
        return text
    if parameter == "centered":
        if text.lower() not in ("true", "false"):
            raise AutoMRIError(f"mask spec {spec!r}: centered={text!r} (expected true or false)")
        return text.lower() == "true"
    try:
        values = [float(part) for part in text.split("/")]
    except ValueError:
        raise AutoMRIError(f"mask spec {spec!r}: {parameter} {text!r} is not a number") from None
    if parameter in _LIST_PARAMETERS:
        return values
    if len(values) != 1:
        raise AutoMRIError(f"mask spec {spec!r}: {parameter} takes one number, got {text!r}")
    return values[0]


def _split_spec(spec: str) -> tuple[str, dict[str, str]]:
    kind, _, rest = spec.partition(":")
    kind = kind.strip().lower()
    parts = [part.strip() for part in rest.split(",")] if rest.strip() else []
    options: dict[str, str] = {}
    if kind == "file" and parts:
        options["path"] = parts.pop(0)
    for part in parts:
        name, sep, value = part.partition("=")
        if not sep:
            raise AutoMRIError(f"mask spec {spec!r}: {part!r} is not key=value")
        options[name.strip().lower()] = value.strip()
    return kind, options


def build_mask(spec: str | dict | MaskGenerator) -> MaskGenerator:
    """Mask generator from a spec string, a dict or an existing generator.

    Strings: ``"random:rate=0.15,center=0.04"``, ``"fastmri-random:cf=0.08,acc=4"`` (several pairs:
    ``cf=0.08/0.04,acc=4/8``), ``"equispaced:cf=0.08,acc=4"``, ``"equispaced-exact:cf=0.08,acc=4"``,
    ``"gaussian:acc=4,center=8"``, ``"random2d:rate=0.25,radius=4"``, ``"poisson:acc=4,radius=8"`` (optional ``slope``),
    ``"file:/path/m.npy"`` (optional ``,key=NAME,centered=false``). Dicts hold the same keys plus
    ``"kind"``, e.g. ``{"kind": "gaussian", "acc": 4, "center": 8}``.
    """
    if isinstance(spec, MaskGenerator):
        return spec
    if isinstance(spec, str):
        kind, raw = _split_spec(spec)
    elif isinstance(spec, dict):
        raw = {str(name).lower(): value for name, value in spec.items()}
        kind = str(raw.pop("kind", "")).lower()
    else:
        raise AutoMRIError(f"mask spec {spec!r}: expected a string like 'random:rate=0.15' or a dict")
    if kind not in _KINDS:
        raise AutoMRIError(f"mask spec {spec!r}: unknown kind {kind!r} (expected one of {', '.join(_KINDS)})")
    cls, keys = _KINDS[kind]
    unknown = sorted(set(raw) - set(keys))
    if unknown:
        raise AutoMRIError(f"mask spec {spec!r}: unknown key(s) {unknown} for {kind} (expected {', '.join(keys)})")
    kwargs = {
        keys[name]: _parse_value(value, keys[name], spec) if isinstance(value, str) else value
        for name, value in raw.items()
    }
    required = [
        name for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.default is inspect.Parameter.empty and name not in kwargs
    ]
    if required:
        expected = {parameter: name for name, parameter in keys.items()}
        missing = ", ".join(expected[name] for name in required)
        raise AutoMRIError(f"mask spec {spec!r}: missing {missing} for {kind} (expected keys {', '.join(keys)})")
    if "center_lines" in kwargs and float(kwargs["center_lines"]).is_integer():
        kwargs["center_lines"] = int(kwargs["center_lines"])
    return cls(**kwargs)


def fastmri_mask_spec(mask_type: str, center_fractions: list[float], accelerations: list[float]) -> str:
    """The mask spec of fastMRI's ``create_mask_for_mask_type(mask_type, center_fractions,
    accelerations)``: ``("random", [0.08, 0.04], [4, 8])`` -> ``"fastmri-random:cf=0.08/0.04,acc=4/8"``.

    Types (:data:`FASTMRI_MASK_TYPES`): ``random`` (``RandomMaskFunc``), ``equispaced``
    (``EquiSpacedMaskFunc``), ``equispaced_fraction`` (``EquispacedMaskFractionFunc``). With several
    pairs one ``(cf, acc)`` is drawn per call from the call's seed, as fastMRI's ``MaskFunc`` does.
    """
    if mask_type not in FASTMRI_MASK_TYPES:
        raise AutoMRIError(f"fastMRI mask type {mask_type!r}: expected one of {', '.join(FASTMRI_MASK_TYPES)}")
    cfs = "/".join(_fmt(cf) for cf in center_fractions)
    accs = "/".join(_fmt(a) for a in accelerations)
    return build_mask(f"{FASTMRI_MASK_TYPES[mask_type]}:cf={cfs},acc={accs}").name
