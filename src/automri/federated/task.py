"""What a client computes, independent of Flower (like ``task.py`` in Flower's examples).

Per-client data from the federation spec, the network of each algorithm, the local training loop,
evaluation on the client's own split, and (de)serialisation of weights to Flower ``ArrayRecord``s.
The per-algorithm rules (which weights are loaded, sent and kept) are in
:mod:`automri.federated.local`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord
from torch import nn
from torch.utils.data import DataLoader, Dataset

from automri.data.datasets import set_epoch
from automri.data.sample import Batch, collate
from automri.errors import AutoMRIError
from automri.federated.options import FedConfig
from automri.federated.spec import ClientSpec
from automri.train.seed import derive_seed, seed_everything, seeded_generator

StateDict = dict[str, torch.Tensor]
ExtraLoss = Callable[[nn.Module], torch.Tensor]
METRIC_NAMES = ("psnr", "ssim", "nmse")


# --- data -------------------------------------------------------------------------------------
@dataclass
class ClientData:
    """The three splits of one client (``automri.data.datasets.SliceDataset``)."""

    train: Dataset
    val: Dataset
    test: Dataset


@functools.lru_cache(maxsize=16)
def _split(client: ClientSpec, split: str, size: int) -> Dataset:
    from automri.data.datasets import build_dataset

    dataset = build_dataset(
        client.dataset, split=split, size=size, mask=client.mask, seed=client.seed,
        coils=client.coils, noise=client.noise, max_slices=client.max_slices,
        augment=client.augment if split == "train" else None,
    )
    if len(dataset) == 0:
        raise AutoMRIError(f"client {client.name!r}: dataset {client.dataset!r} has no {split} slices")
    return dataset


def client_data(config: FedConfig, partition_id: int) -> ClientData:
    """The data of client ``partition_id`` (cached per process: datasets are deterministic)."""
    client = client_spec(config, partition_id)
    size = config.spec.size
    return ClientData(_split(client, "train", size), _split(client, "val", size), _split(client, "test", size))


def client_spec(config: FedConfig, partition_id: int) -> ClientSpec:
    """The spec entry of partition ``partition_id`` (error when the node's id is out of range)."""
    if not 0 <= partition_id < config.num_clients:
        raise AutoMRIError(
            f"node config partition-id={partition_id}: expected 0..{config.num_clients - 1} "
            f"(the federation spec {config.spec.source} has {config.num_clients} clients)"
        )
    return config.spec.clients[partition_id]


def loader(dataset: Dataset, batch_size: int, seed: int | None) -> DataLoader:
    """A single-process loader; shuffled with a generator seeded by ``seed`` (``None``: in order)."""
    return DataLoader(
        dataset, batch_size=batch_size, shuffle=seed is not None, collate_fn=collate,
        generator=None if seed is None else seeded_generator(seed),
    )


def round_seed(config: FedConfig, partition_id: int, server_round: int, *extra: int) -> int:
    """Seed of everything random a client does in one round (same inputs -> same numbers)."""
    return derive_seed(config.seed, partition_id, server_round, *extra)


def epoch_batches(dataset: Dataset, config: FedConfig, seed: int) -> Iterator[Batch]:
    """The batches of one local epoch, at most ``config.steps`` of them."""
    for step, batch in enumerate(loader(dataset, config.batch_size, seed)):
        if config.steps is not None and step >= config.steps:
            return
        yield batch


# --- models -----------------------------------------------------------------------------------
def build_client_model(config: FedConfig) -> nn.Module:
    """The network ``config.algorithm`` trains, freshly initialised from ``config.seed``.

    ``fednas``: ``CellSearchNet(**space_options)``; ``fedautomri``: the genotype's network;
    the others: ``build_model(config.model, **config.model_options)``. Seeding first makes every
    client and the server build the same initial weights.
    """
    seed_everything(config.seed)
    if config.algorithm == "fednas":
        from automri.nas.cell_space import CellSearchNet

        return CellSearchNet(**config.space_options)
    if config.algorithm == "fedautomri":
        from automri.nas.genotype import FEDNAS_V1, build_network, load_genotype

        genotype = FEDNAS_V1 if config.genotype is None else load_genotype(config.genotype)
        return build_network(genotype, **config.space_options)
    from automri.models.registry import build_model

    return build_model(config.model, **config.model_options)


def alpha_names(model: nn.Module) -> list[str]:
    """``state_dict`` keys of a search network's architecture weights (empty for other nets)."""
    if not hasattr(model, "arch_parameters"):
        return []
    arch = {id(p) for p in model.arch_parameters()}
    return [name for name, p in model.named_parameters() if id(p) in arch]


def weights_of(model: nn.Module, keys: list[str] | None = None) -> StateDict:
    """Detached copies of the model's ``state_dict`` entries (all, or only ``keys``)."""
    state = model.state_dict()
    return {k: state[k].detach().clone() for k in (state if keys is None else keys)}


def load_weights(model: nn.Module, weights: StateDict) -> None:
    """Copy ``weights`` (a full or partial ``state_dict``) into ``model``; unknown keys are errors."""
    state = model.state_dict()
    unknown = sorted(set(weights) - set(state))
    if unknown:
        raise AutoMRIError(f"received weights for unknown parameter {unknown[0]!r} (model/spec mismatch)")
    with torch.no_grad():
        for key, value in weights.items():
            if state[key].shape != value.shape:
                raise AutoMRIError(
                    f"parameter {key!r}: received shape {tuple(value.shape)}, model has {tuple(state[key].shape)}"
                )
            state[key].copy_(value)


def to_record(weights: StateDict) -> ArrayRecord:
    """A Flower ``ArrayRecord`` holding ``weights`` (CPU numpy arrays)."""
    return ArrayRecord({k: v.detach().cpu() for k, v in weights.items()})


def from_record(record: ArrayRecord) -> StateDict:
    """The tensors of an ``ArrayRecord`` (a possibly partial ``state_dict``)."""
    return {k: torch.from_numpy(np.array(array.numpy(), copy=True)) for k, array in record.items()}


# --- local training and evaluation -------------------------------------------------------------
def train_local(
    model: nn.Module,
    data: ClientData,
    config: FedConfig,
    seed: int,
    extra_loss: ExtraLoss | None = None,
    parameters: list[nn.Parameter] | None = None,
    data_weight: float = 1.0,
) -> dict[str, float]:
    """``config.local_epochs`` epochs of Adam (lr ``config.lr``, re-created every round) on the
    client's training split, minimising ``data_weight * loss(model(k, mask), target) + extra_loss(model)``.

    ``parameters``: what the optimiser updates (default: all of ``model``).
    Returns ``{"train-loss": mean data loss over the steps, "local-steps": steps}``.
    """
    from automri.train.losses import build_loss
    from automri.train.stepper import build_optimizer

    loss_fn = build_loss(config.loss)
    optimiser = build_optimizer("adam", list(parameters if parameters is not None else model.parameters()),
                                config.lr, 0.0)
    seed_everything(seed)
    model.train()
    losses = []
    for epoch in range(config.local_epochs):
        draw_augmentation(data.train, seed, epoch)
        for batch in epoch_batches(data.train, config, derive_seed(seed, epoch)):
            optimiser.zero_grad(set_to_none=True)
            data_loss = loss_fn(model(batch.kspace, batch.mask, batch.sens), batch.target)
            total = data_weight * data_loss if extra_loss is None else data_weight * data_loss + extra_loss(model)
            total.backward()
            optimiser.step()
            losses.append(float(data_loss.detach()))
    return {"train-loss": float(np.mean(losses)), "local-steps": float(len(losses))}


def draw_augmentation(train: Dataset, seed: int, epoch: int) -> None:
    """Give the client's augmented training split (``augment`` in its spec) the draws of local
    ``epoch`` of the round seeded ``seed``; datasets without augmentation ignore it."""
    set_epoch(train, derive_seed(seed, epoch))


def search_local(model: nn.Module, data: ClientData, config: FedConfig, seed: int) -> dict[str, float]:
    """``config.local_epochs`` epochs of MiLeNAS on the client: each step pairs a training batch
    with a validation batch (the validation split cycles when shorter), updating alpha then w with
    optimisers re-created every round (FedNAS / GAutoMRI). As coded in GAutoMRI the alpha step uses
    the 2-channel ``mse`` and the w step ``config.loss`` (``mse_mag``); the w learning rate is
    ``config.lr`` unless ``nas_options`` sets ``w_lr``. Returns train loss and step count."""
    from automri.nas.strategies import MiLeNAS
    from automri.train.losses import build_loss

    options = {"w_lr": config.lr, "arch_loss": build_loss("mse"), **config.nas_options}
    strategy = MiLeNAS(model, build_loss(config.loss), beta=config.milenas_beta, **options)
    seed_everything(seed)
    model.train()
    losses = []
    for epoch in range(config.local_epochs):
        val_batches = _cycle(data.val, config, derive_seed(seed, epoch, 1))
        draw_augmentation(data.train, seed, epoch)
        for batch in epoch_batches(data.train, config, derive_seed(seed, epoch)):
            step = strategy.step(batch, next(val_batches))
            losses.append(step["loss"])
    return {"train-loss": float(np.mean(losses)), "local-steps": float(len(losses))}


def _cycle(dataset: Dataset, config: FedConfig, seed: int) -> Iterator[Batch]:
    epoch = 0
    while True:
        yield from loader(dataset, config.batch_size, derive_seed(seed, epoch))
        epoch += 1


@torch.no_grad()
def predict(model: nn.Module, dataset: Dataset, batch_size: int) -> Iterator[tuple[Batch, torch.Tensor]]:
    """``(batch, prediction complex [B, H, W])`` over ``dataset`` in order (eval mode)."""
    model.eval()
    for batch in loader(dataset, batch_size, seed=None):
        yield batch, model(batch.kspace, batch.mask, batch.sens)


def evaluate_model(model: nn.Module, dataset: Dataset, batch_size: int) -> dict[str, float]:
    """fastMRI-convention ``{"psnr", "ssim", "nmse"}`` (means over the split's volumes)."""
    from automri.eval.metrics import evaluate_volumes

    records = []
    for batch, prediction in predict(model, dataset, batch_size):
        for i, meta in enumerate(batch.meta):
            records.append((meta["volume"], int(meta["slice"]), batch.target[i].abs(), prediction[i].abs()))
    summary = evaluate_volumes(records).volume_summary
    return {name: summary[name].mean for name in METRIC_NAMES}


def first_slice_images(model: nn.Module, dataset: Dataset) -> dict[str, Any]:
    """Magnitudes of the first test slice: target, zero-filled input and ``model``'s reconstruction."""
    from automri.models.common import zero_filled

    batch, prediction = next(predict(model, dataset, 1))
    return {
        "target": batch.target[0].abs().numpy(),
        "zero_filled": zero_filled(batch.kspace, batch.mask, batch.sens)[0].abs().numpy(),
        "prediction": prediction[0].abs().numpy(),
    }
