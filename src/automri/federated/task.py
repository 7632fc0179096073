"""What a client computes, independent of Flower (like ``task.py`` in Flower's examples).

Per-client data from the federation spec, the network of each algorithm, the local work of a round
(the shared epoch loop :func:`automri.train.loop.local_epochs` with a supervised stepper or the MiLeNAS
strategy), evaluation with the shared evaluator, and (de)serialisation of weights to Flower
``ArrayRecord``s. The per-algorithm rules (which weights are loaded, sent and kept) are in
:mod:`automri.federated.local`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from flwr.app import ArrayRecord
from torch import nn
from torch.utils.data import Dataset

from automri.data.datasets import build_splits
from automri.errors import AutoMRIError
from automri.federated.options import FedConfig
from automri.federated.spec import SITE_DATASET, ClientSpec
from automri.models.common import zero_filled
from automri.nas.cell.genotype import FEDNAS_V1
from automri.nas.factory import build_network, build_search_network
from automri.nas.strategies import MiLeNAS
from automri.train.evaluate import in_source_units, predict
from automri.train.loop import local_epochs
from automri.train.losses import build_loss
from automri.train.seed import derive_seed, seed_everything
from automri.train.stepper import SupervisedStepper

StateDict = dict[str, torch.Tensor]
LOCAL_OPTIMIZERS = {"fedautomri": "adamw"}
"""The local optimiser of an algorithm's training phase (default Adam): FedAutoMRI trains with AdamW."""
ExtraLoss = Callable[[nn.Module], torch.Tensor]


# --- data -------------------------------------------------------------------------------------
@dataclass
class ClientData:
    """The three splits of one client (``automri.data.datasets.SliceDataset``)."""

    train: Dataset
    val: Dataset
    test: Dataset


@functools.lru_cache(maxsize=16)
def client_splits(client: ClientSpec, size: int) -> dict[str, Dataset]:
    """``{"train", "val", "test"}`` datasets of ``client`` at ``size`` px (cached: datasets are deterministic)."""
    splits = build_splits(
        client.dataset, augment=client.augment, size=size, mask=client.mask, seed=client.seed,
        coils=client.coils, noise=client.noise, max_slices=dict.fromkeys(("train", "val", "test"), client.max_slices),
    )
    for split, dataset in splits.items():
        if len(dataset) == 0:
            raise AutoMRIError(f"client {client.name!r}: dataset {client.dataset!r} has no {split} slices")
    return splits


def client_data(config: FedConfig, partition_id: int, node_config: Mapping[str, Any] | None = None) -> ClientData:
    """The data of client ``partition_id`` (cached per process: datasets are deterministic)."""
    return ClientData(**client_splits(client_spec(config, partition_id, node_config), config.spec.size))


def client_spec(config: FedConfig, partition_id: int, node_config: Mapping[str, Any] | None = None) -> ClientSpec:
    """The spec entry of partition ``partition_id`` (error when the node's id is out of range); a
    client whose spec ``dataset`` is ``site`` takes the ``dataset`` of its node's own config."""
    if not 0 <= partition_id < config.num_clients:
        raise AutoMRIError(
            f"node config partition-id={partition_id}: expected 0..{config.num_clients - 1} "
            f"(the federation spec {config.spec.source} has {config.num_clients} clients)"
        )
    client = config.spec.clients[partition_id]
    named = (node_config or {}).get("dataset")
    if client.dataset == SITE_DATASET:
        if not named:
            raise AutoMRIError(f"client {client.name!r}: the spec leaves its dataset to the site; start its SuperNode "
                               "with --node-config \"dataset='PATH'\" (a built-in name or a path)")
        return replace(client, dataset=str(named))
    if named:
        raise AutoMRIError(f"node config dataset={named!r}: the spec fixes client {client.name!r}'s dataset "
                           f"({client.dataset!r}); set it to '{SITE_DATASET}' in the spec to let the site name it")
    return client


def round_seed(config: FedConfig, partition_id: int, server_round: int, *extra: int) -> int:
    """Seed of everything random a client does in one round (same inputs -> same numbers)."""
    return derive_seed(config.seed, partition_id, server_round, *extra)


# --- models -----------------------------------------------------------------------------------
def build_client_model(config: FedConfig) -> nn.Module:
    """The network ``config.algorithm`` trains, freshly initialised from ``config.seed``.

    ``fednas``: ``CellSearchNet(**space_options)``; ``fedautomri``: the genotype's network;
    the others: ``build_model(config.model, **config.model_options)``. Seeding first makes every
    client and the server build the same initial weights.
    """
    seed_everything(config.seed)
    if config.algorithm == "fednas":
        return build_search_network("cell", **config.space_options)
    if config.algorithm == "fedautomri":
        return build_network(FEDNAS_V1 if config.genotype is None else config.genotype, **config.space_options)
    return build_network(config.model, **config.model_options)


def check_dp_model(config: FedConfig) -> None:
    """Under ``--dp`` the network must keep no buffers (BatchNorm running statistics, counters):
    DP clips and noises a whole update, and noised variances or integer counters break the model
    (Flower's ``LocalDpMod`` cannot even scale an integer array)."""
    if config.dp == "none":
        return
    model = build_client_model(config)
    buffers = [name for name, _ in model.named_buffers()]
    if buffers:
        raise AutoMRIError(f"--dp {config.dp}: the network ({type(model).__name__}) keeps buffers "
                           f"({', '.join(buffers[:3])}, ...): "
                           "expected a network without running statistics (e.g. --model-option batch_norm=false)")


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
    """``config.local_epochs`` epochs of Adam (AdamW for ``fedautomri``, the paper's training phase;
    lr ``config.lr``, re-created every round) on the client's training split, minimising
    ``data_weight * loss(model(k, mask), target) + extra_loss(model)``.

    ``parameters``: what the optimiser updates (default: all of ``model``).
    Returns ``{"train-loss": mean data loss over the steps, "local-steps": steps}``.
    """
    stepper = SupervisedStepper(
        model, build_loss(config.loss), optimizer=LOCAL_OPTIMIZERS.get(config.algorithm, "adam"), lr=config.lr,
        parameters=parameters,
        data_weight=data_weight, extra_loss=extra_loss,
    )
    return local_epochs(stepper, data.train, None, config.local_epochs, config.batch_size, config.steps, seed)


def search_local(model: nn.Module, data: ClientData, config: FedConfig, seed: int) -> dict[str, float]:
    """``config.local_epochs`` epochs of MiLeNAS on the client: each step pairs a training batch
    with a validation batch (the validation split cycles when shorter), updating alpha then w with
    optimisers re-created every round (FedNAS / GAutoMRI). Both steps use the one ``L_tr`` of Eq. 6,
    ``config.search_loss`` (GAutoMRI's code used the 2-channel ``mse`` for the alpha step);
    the w learning rate is ``config.lr`` unless ``nas_options`` sets ``w_lr``. Returns train loss
    and step count."""
    options = {"w_lr": config.lr, **config.nas_options}
    strategy = MiLeNAS(model, build_loss(config.search_loss), beta=config.milenas_beta, **options)
    return local_epochs(strategy, data.train, data.val, config.local_epochs, config.batch_size, config.steps, seed)


def first_slice_images(model: nn.Module, dataset: Dataset) -> dict[str, Any]:
    """Magnitudes of the first test slice (source units): target, zero-filled input and ``model``'s
    reconstruction."""
    batch, prediction = next(predict(model, dataset, 1))
    return {
        "target": in_source_units(batch, batch.target)[0].numpy(),
        "zero_filled": in_source_units(batch, zero_filled(batch.kspace, batch.mask, batch.sens))[0].numpy(),
        "prediction": in_source_units(batch, prediction)[0].numpy(),
    }
