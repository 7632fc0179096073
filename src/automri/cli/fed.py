"""CLI commands ``automri fed search|train|deploy`` (thin wrappers over :mod:`automri.federated`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from automri.errors import AutoMRIError

fed_app = typer.Typer(
    name="fed",
    help="Federated search and training with Flower (simulation on one machine, or deployment).",
    no_args_is_help=True,
)

TRAIN_ALGORITHMS = ("nonfed", "fedavg", "fedprox", "fedmri", "fedautomri")

SpecOpt = Annotated[str, typer.Option("--spec", help="Federation YAML, or 'default' (3 built-in sites).")]
RoundsOpt = Annotated[int, typer.Option("--rounds", help="Communication rounds.")]
LocalEpochsOpt = Annotated[int, typer.Option("--local-epochs", help="Local epochs per round.")]
StepsOpt = Annotated[int | None, typer.Option("--steps", help="Cap on local steps per epoch.")]
SizeOpt = Annotated[int | None, typer.Option("--size", help="Image side in pixels (overrides the spec's).")]
BatchOpt = Annotated[int, typer.Option("--batch-size", help="Slices per step.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Learning rate of the weights (Adam).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of every random choice.")]
OutOpt = Annotated[Path, typer.Option("--out", help="Run directory.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out after its last round.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --out.")]
TimeoutOpt = Annotated[float, typer.Option("--round-timeout", help="Seconds to wait for a round's replies.")]
WeightingOpt = Annotated[str, typer.Option("--weighting", help="Aggregation weights: samples (n_k/N) or equal.")]
MaxMbOpt = Annotated[float, typer.Option("--max-message-mb", help="Largest message either side may send (MiB).")]
OptionOpt = Annotated[list[str] | None, typer.Option("--model-option", help="Network option KEY=VALUE (repeatable), e.g. chans=8.")]
SpaceOpt = Annotated[list[str] | None, typer.Option("--space-option", help="Search space / genotype network option KEY=VALUE (repeatable), e.g. hidden=8.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
AggregationOpt = Annotated[str, typer.Option("--aggregation", help="How the server combines replies: fedavg (weighted mean), median or trimmed-mean (coordinate-wise, unweighted).")]
TrimOpt = Annotated[float, typer.Option("--trim-fraction", help="trimmed-mean: fraction cut at each end (at least 1/K for K clients).")]
ClipOpt = Annotated[float | None, typer.Option("--clip-norm", help="Clip each client's update w_k - w_global to this L2 norm before aggregation.")]
DpOpt = Annotated[str, typer.Option("--dp", help="Differential privacy of the updates: none, central (the server clips each update, averages over the federation's sites, adds Gaussian noise) or local (Flower's LocalDpMod at every site); fedavg, fedprox, fedautomri.")]
DpClipOpt = Annotated[float | None, typer.Option("--dp-clip", help="--dp: L2 clipping norm of each update.")]
DpNoiseOpt = Annotated[float, typer.Option("--dp-noise", help="--dp central: noise multiplier z (std z * clip / K).")]
DpEpsilonOpt = Annotated[float, typer.Option("--dp-epsilon", help="--dp local: the epsilon of LocalDpMod's noise formula per round (an (epsilon, delta) guarantee only for epsilon < 1; the reported budget is the RDP account of the noise added).")]
DpSeededOpt = Annotated[bool, typer.Option("--dp-seeded-noise", help="--dp: draw the noise from --seed (reproducible measurements) instead of OS entropy; anyone who knows the run config can then remove it.")]
DpDeltaOpt = Annotated[float, typer.Option("--dp-delta", help="--dp: delta of local releases and of the reported cumulative epsilon.")]
MinClientsOpt = Annotated[str, typer.Option("--min-clients", help="Quorum: accepted replies a round needs, a count (2) or a fraction of the clients (0.5).")]
DiscoveryOpt = Annotated[float, typer.Option("--discovery-timeout", help="Seconds to wait for the nodes to tell their partition id.")]
DrillOpt = Annotated[list[str] | None, typer.Option("--drill", help="Fault drill CLIENT=KIND (repeatable): nan, huge, shape, dtype, count, missing-metric, partition, stall or poison.")]
TensorboardOpt = Annotated[Path | None, typer.Option("--tensorboard", help="Write the server's TensorBoard logs to DIR (scalars per round, alpha histograms of fed search; needs pip install 'automri[tensorboard]').")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Show Flower's and Ray's logs on the console (they always go to OUT/flower.log).")]


def robustness_options(aggregation: str, trim_fraction: float, clip_norm: float | None, min_clients: str,
                       discovery_timeout: float, drill: list[str] | None) -> dict[str, Any]:
    """The :class:`~automri.federated.options.FedConfig` fields of the robustness flags."""
    from automri.federated.options import parse_quorum

    drills = {}
    for pair in drill or []:
        client, sep, kind = pair.partition("=")
        if not sep or not client or not kind:
            raise AutoMRIError(f"--drill {pair!r}: expected CLIENT=KIND, e.g. site-b=nan")
        drills[client.strip()] = kind.strip()
    return {"aggregation": aggregation, "trim_fraction": trim_fraction, "clip_norm": clip_norm,
            "min_clients": parse_quorum(min_clients), "discovery_timeout": discovery_timeout,
            "faults": {"tamper": drills} if drills else {}}


def privacy_options(dp: str, dp_clip: float | None, dp_noise: float, dp_epsilon: float, dp_delta: float,
                    dp_seeded_noise: bool) -> dict[str, Any]:
    """The :class:`~automri.federated.options.FedConfig` fields of the ``--dp`` flags."""
    return {"dp": dp, "dp_clip": dp_clip, "dp_noise": dp_noise, "dp_epsilon": dp_epsilon, "dp_delta": dp_delta,
            "dp_seeded_noise": dp_seeded_noise}


def parse_bindings(pairs: list[str] | None) -> dict[str, int]:
    """``["1234=0", "5678=1"]`` (``--bind``) -> ``{"1234": 0, "5678": 1}``."""
    bound = {}
    for pair in pairs or []:
        node, sep, partition = pair.partition("=")
        if not sep or not node.strip().isdigit() or not partition.strip().isdigit():
            raise AutoMRIError(f"--bind {pair!r}: expected NODE_ID=PARTITION, e.g. 18380538910460867951=0")
        bound[node.strip()] = int(partition)
    return bound


def parse_options(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``["chans=8", "drop_prob=0.1"]`` -> ``{"chans": 8, "drop_prob": 0.1}`` (values read as YAML)."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise AutoMRIError(f"{flag} {pair!r}: expected KEY=VALUE")
        options[key.strip()] = yaml.safe_load(value)
    return options


def _show(summary: dict[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    scores = [k for k in ("global-psnr", "global-ssim", "personal-psnr", "personal-ssim") if k in summary["mean"]]
    table = Table(title=f"{title} ({summary['rounds_done']}/{summary['rounds']} rounds, {summary['parameters']} parameters)")
    for column in ["client", *scores, "MB up", "MB down", "missing rounds"]:
        table.add_column(column)
    rows = [*summary["clients"].items(), ("mean", summary["mean"])]
    for name, row in rows:
        table.add_row(
            name, *(f"{row[k]:.4g}" if k in row else "-" for k in scores),
            f"{row['bytes_up'] / 2**20:.3f}" if "bytes_up" in row else "", f"{row['bytes_down'] / 2**20:.3f}" if "bytes_down" in row else "",
            ", ".join(map(str, row.get("missing_rounds", []))),
        )
    Console().print(table)
    if "genotype" in summary:
        Console().print(f"best genotype (round {summary['best']['round']}): {summary['genotype']}")


def _simulate(algorithm: str, as_json: bool, max_message_mb: float, **kwargs: Any) -> None:
    """Run :func:`automri.federated.simulation.run_federated` (``--max-message-mb`` in MiB) and show
    its summary; progress is one line per round on stderr."""
    from automri.federated.simulation import run_federated

    kwargs["max_message_bytes"] = int(max_message_mb * 2**20)
    if kwargs.get("tensorboard"):
        from automri.train.tensorboard import require_tensorboard

        require_tensorboard()
    typer.echo(f"federated {algorithm}: {kwargs['rounds']} rounds (Flower simulation, logs in {kwargs['out']}/flower.log)",
               err=True)
    summary = run_federated(algorithm, **kwargs)
    _show(summary, as_json, f"automri fed {algorithm}")


def search_command(
    out: OutOpt,
    spec: SpecOpt = "default",
    rounds: RoundsOpt = 50,
    local_epochs: LocalEpochsOpt = 5,
    steps: StepsOpt = None,
    size: SizeOpt = None,
    batch_size: BatchOpt = 4,
    lr: LrOpt = 1e-3,
    beta: Annotated[float, typer.Option("--beta", help="MiLeNAS weight of the validation gradient of alpha.")] = 0.01,
    space_option: SpaceOpt = None,
    weighting: WeightingOpt = "samples",
    round_timeout: TimeoutOpt = 600.0,
    max_message_mb: MaxMbOpt = 512.0,
    aggregation: AggregationOpt = "fedavg",
    trim_fraction: TrimOpt = 0.34,
    clip_norm: ClipOpt = None,
    min_clients: MinClientsOpt = "0.5",
    discovery_timeout: DiscoveryOpt = 60.0,
    drill: DrillOpt = None,
    seed: SeedOpt = 0,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verbose: VerboseOpt = False,
    tensorboard: TensorboardOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Federated architecture search (FedNAS with MiLeNAS; w and alpha averaged); writes genotype.json.

    Example: automri fed search --spec default --rounds 20 --local-epochs 1 --steps 10 --size 64 --out runs/fedsearch
    """
    _simulate(
        "fednas", as_json, spec=spec, rounds=rounds, local_epochs=local_epochs, steps=steps, out=out, seed=seed,
        resume=resume, overwrite=overwrite, size=size, batch_size=batch_size, lr=lr, milenas_beta=beta,
        space_options=parse_options(space_option, "--space-option"), weighting=weighting,
        round_timeout=round_timeout, max_message_mb=max_message_mb, verbose=verbose,
        tensorboard=None if tensorboard is None else str(tensorboard.resolve()),
        **robustness_options(aggregation, trim_fraction, clip_norm, min_clients, discovery_timeout, drill),
    )


def _train_options(algorithm: str, model: str, model_option: list[str] | None, space_option: list[str] | None,
                   genotype: Path | None, mu: float, ema: bool, ema_gamma: float, ema_train_from: str,
                   ema_reading: str, fedmri_beta: float) -> dict[str, Any]:
    if algorithm not in TRAIN_ALGORITHMS:
        raise AutoMRIError(f"--algorithm {algorithm!r}: expected one of {', '.join(TRAIN_ALGORITHMS)} (search: automri fed search)")
    if genotype is not None and algorithm != "fedautomri":
        raise AutoMRIError("--genotype: only used with --algorithm fedautomri")
    return {
        "model": model, "model_options": parse_options(model_option, "--model-option"),
        "space_options": parse_options(space_option, "--space-option"),
        "genotype": None if genotype is None else str(genotype.resolve()), "mu": mu, "ema": ema,
        "ema_gamma": ema_gamma, "ema_train_from": ema_train_from, "ema_reading": ema_reading,
        "fedmri_beta": fedmri_beta,
    }


AlgorithmOpt = Annotated[str, typer.Option("--algorithm", help="nonfed, fedavg, fedprox, fedmri or fedautomri.")]
ModelOpt = Annotated[str, typer.Option("--model", help="Network of nonfed/fedavg/fedprox/fedmri (fedmri: unet).")]
GenotypeOpt = Annotated[Path | None, typer.Option("--genotype", help="fedautomri: genotype JSON (default: GAutoMRI's FedNAS_V1).")]
MuOpt = Annotated[float, typer.Option("--mu", help="FedProx proximal coefficient.")]
EmaOpt = Annotated[bool, typer.Option("--ema/--no-ema", help="fedautomri: client-side EMA personalisation (--no-ema: ablation).")]
GammaOpt = Annotated[float, typer.Option("--ema-gamma", help="fedautomri: EMA decay.")]
TrainFromOpt = Annotated[str, typer.Option("--ema-train-from", help="fedautomri: local training starts from the 'global' or the 'personal' model.")]
FedMRIBetaOpt = Annotated[float, typer.Option("--fedmri-beta", help="FedMRI: weight of the contrastive term "
                                             "(loss = L + beta * posi / nega); 100 in the official code.")]
ReadingOpt = Annotated[str, typer.Option("--ema-reading", help="fedautomri: 'personal' (Eq. 7 mixes the client's own model with the aggregate) or 'global' (a Polyak average of the server model).")]


def train_command(
    out: OutOpt,
    algorithm: AlgorithmOpt = "fedautomri",
    spec: SpecOpt = "default",
    rounds: RoundsOpt = 100,
    local_epochs: LocalEpochsOpt = 5,
    steps: StepsOpt = None,
    size: SizeOpt = None,
    batch_size: BatchOpt = 4,
    lr: LrOpt = 1e-3,
    model: ModelOpt = "unet",
    model_option: OptionOpt = None,
    space_option: SpaceOpt = None,
    genotype: GenotypeOpt = None,
    mu: MuOpt = 0.01,
    ema: EmaOpt = True,
    ema_gamma: GammaOpt = 0.9,
    ema_train_from: TrainFromOpt = "global",
    ema_reading: ReadingOpt = "personal",
    fedmri_beta: FedMRIBetaOpt = 100.0,
    weighting: WeightingOpt = "samples",
    round_timeout: TimeoutOpt = 600.0,
    max_message_mb: MaxMbOpt = 512.0,
    aggregation: AggregationOpt = "fedavg",
    trim_fraction: TrimOpt = 0.34,
    clip_norm: ClipOpt = None,
    min_clients: MinClientsOpt = "0.5",
    discovery_timeout: DiscoveryOpt = 60.0,
    drill: DrillOpt = None,
    dp: DpOpt = "none",
    dp_clip: DpClipOpt = None,
    dp_noise: DpNoiseOpt = 1.0,
    dp_epsilon: DpEpsilonOpt = 10.0,
    dp_delta: DpDeltaOpt = 1e-3,
    dp_seeded_noise: DpSeededOpt = False,
    seed: SeedOpt = 0,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verbose: VerboseOpt = False,
    tensorboard: TensorboardOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Federated training: Non-Fed, FedAvg, FedProx, FedMRI or FedAutoMRI (genotype + client EMA).

    Example: automri fed train --algorithm fedautomri --genotype runs/fedsearch/genotype.json --rounds 10 --size 64 --out runs/fedtrain

    Robustness drill: automri fed train --algorithm fedavg --rounds 3 --size 32 --aggregation median --drill phantom-random2d=poison --out runs/drill

    Central DP: automri fed train --algorithm fedavg --rounds 5 --size 32 --dp central --dp-clip 0.5 --dp-noise 1.0 --out runs/fed-dp
    """
    options = _train_options(algorithm, model, model_option, space_option, genotype, mu, ema, ema_gamma, ema_train_from,
                             ema_reading, fedmri_beta)
    _simulate(
        algorithm, as_json, spec=spec, rounds=rounds, local_epochs=local_epochs, steps=steps, out=out, seed=seed,
        resume=resume, overwrite=overwrite, size=size, batch_size=batch_size, lr=lr, weighting=weighting,
        round_timeout=round_timeout, max_message_mb=max_message_mb, verbose=verbose, **options,
        tensorboard=None if tensorboard is None else str(tensorboard.resolve()),
        **robustness_options(aggregation, trim_fraction, clip_norm, min_clients, discovery_timeout, drill),
        **privacy_options(dp, dp_clip, dp_noise, dp_epsilon, dp_delta, dp_seeded_noise),
    )


def deploy_command(
    out: OutOpt,
    algorithm: Annotated[str, typer.Option("--algorithm", help="fednas, nonfed, fedavg, fedprox, fedmri or fedautomri.")] = "fedautomri",
    spec: SpecOpt = "default",
    rounds: RoundsOpt = 10,
    local_epochs: LocalEpochsOpt = 1,
    steps: StepsOpt = None,
    size: SizeOpt = None,
    batch_size: BatchOpt = 4,
    lr: LrOpt = 1e-3,
    model: ModelOpt = "unet",
    model_option: OptionOpt = None,
    space_option: SpaceOpt = None,
    genotype: GenotypeOpt = None,
    mu: MuOpt = 0.01,
    ema: EmaOpt = True,
    ema_gamma: GammaOpt = 0.9,
    ema_train_from: TrainFromOpt = "global",
    ema_reading: ReadingOpt = "personal",
    fedmri_beta: FedMRIBetaOpt = 100.0,
    aggregation: AggregationOpt = "fedavg",
    trim_fraction: TrimOpt = 0.34,
    clip_norm: ClipOpt = None,
    min_clients: MinClientsOpt = "0.5",
    discovery_timeout: DiscoveryOpt = 60.0,
    drill: DrillOpt = None,
    dp: DpOpt = "none",
    dp_clip: DpClipOpt = None,
    dp_noise: DpNoiseOpt = 1.0,
    dp_epsilon: DpEpsilonOpt = 10.0,
    dp_delta: DpDeltaOpt = 1e-3,
    dp_seeded_noise: DpSeededOpt = False,
    workdir: Annotated[Path | None, typer.Option("--workdir", help="Folder for the app, certificates, keys, node homes and logs (default OUT/deploy).")] = None,
    tls: Annotated[bool, typer.Option("--tls", help="TLS with a self-signed CA made for this trial (the default; kept for old scripts).")] = True,
    auth: Annotated[bool, typer.Option("--auth/--no-auth", help="SuperNode authentication with registered EC keys (default on; needs TLS).")] = True,
    insecure: Annotated[bool, typer.Option("--insecure", help="No TLS and no SuperNode authentication: plaintext traffic any process can join (loopback trials only; prints a warning).")] = False,
    host: Annotated[str, typer.Option("--host", help="Address the SuperLink listens on / SuperNodes connect to.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option("--port", help="SuperLink port (default: a free one).")] = None,
    print_only: Annotated[bool, typer.Option("--print-only", help="Only print the commands each site runs.")] = False,
    bind: Annotated[list[str] | None, typer.Option("--bind", help="NODE_ID=PARTITION (repeatable): the partition of the SuperNode whose registered key got NODE_ID (flwr supernode register); a node claiming another partition is rejected. The loopback trial binds its nodes itself.")] = None,
    site_data: Annotated[bool, typer.Option("--site-data/--server-data", help="Each SuperNode names its dataset in its own --node-config and the server holds no site paths (default); --server-data ships the spec's datasets in the run config.")] = True,
    round_timeout: TimeoutOpt = 600.0,
    seed: SeedOpt = 0,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Run with Flower's deployment engine: a SuperLink and one SuperNode per client as real processes
    on this machine (or, with --print-only, the commands to run at real sites).

    Secure by default: TLS with a CA made for this trial and SuperNode authentication; --no-auth
    keeps TLS only, --insecure turns both off (with a warning).

    Example: automri fed deploy --algorithm fedavg --spec default --rounds 1 --size 32 --out runs/fed-deploy
    """
    from automri.federated.deploy import deploy_local, format_plan, plan_deployment
    from automri.federated.options import build_config

    tls, auth = security_mode(tls, auth, insecure)

    options = {} if algorithm == "fednas" else _train_options(algorithm, model, model_option, space_option, genotype,
                                                              mu, ema, ema_gamma, ema_train_from, ema_reading,
                                                              fedmri_beta)
    if algorithm == "fednas":
        options["space_options"] = parse_options(space_option, "--space-option")
    config = build_config(algorithm, spec, out, size=size, rounds=rounds, local_epochs=local_epochs, steps=steps,
                          batch_size=batch_size, lr=lr, seed=seed, round_timeout=round_timeout, **options,
                          **robustness_options(aggregation, trim_fraction, clip_norm, min_clients, discovery_timeout,
                                               drill),
                          **privacy_options(dp, dp_clip, dp_noise, dp_epsilon, dp_delta, dp_seeded_noise),
                          node_partitions=parse_bindings(bind))
    folder = workdir if workdir is not None else Path(config.out) / "deploy"
    if print_only:
        if auth and not bind:
            typer.echo("WARNING: no --bind: any authenticated SuperNode may claim any partition. Register the sites' "
                       "public keys, then print the plan again with --bind NODE_ID=PARTITION per site.", err=True)
        typer.echo(format_plan(plan_deployment(config, folder, tls=tls, auth=auth, host=host, port=port,
                                               site_data=site_data)), nl=False)
        return
    from rich.console import Console

    with Console(stderr=True).status(f"deploying {config.num_clients} SuperNodes + SuperLink on {host}"):
        summary = deploy_local(config, folder, tls=tls, auth=auth, resume=resume, overwrite=overwrite,
                               site_data=site_data)
    _show(summary, as_json, f"automri fed deploy {algorithm}")


INSECURE_WARNING = ("WARNING: --insecure: no TLS and no SuperNode authentication; model updates travel in "
                    "plaintext and any process that reaches the SuperLink can join as a site. Use only for loopback trials.")


def security_mode(tls: bool, auth: bool, insecure: bool) -> tuple[bool, bool]:
    """``(tls, auth)`` of ``automri fed deploy``: TLS + SuperNode authentication unless ``--insecure``
    (which prints :data:`INSECURE_WARNING` on stderr)."""
    if insecure:
        typer.echo(INSECURE_WARNING, err=True)
        return False, False
    return tls, auth


def register(app: typer.Typer) -> None:
    """Add the ``fed`` command group (``search``, ``train``, ``deploy``) to ``app``."""
    fed_app.command("search")(search_command)
    fed_app.command("train")(train_command)
    fed_app.command("deploy")(deploy_command)
    app.add_typer(fed_app, name="fed")
