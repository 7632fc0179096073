"""FedAvg vs coordinate-wise median vs trimmed mean (and FedAvg with update clipping) on the
built-in federation, with and without one poisoned site; prints a Markdown table, writes JSON.

Every configuration is one ``automri fed train`` run (a subprocess, exactly the CLI), e.g.::

    automri fed train --algorithm fedavg --spec default --size 32 --rounds 5 --local-epochs 1 \\
        --steps 4 --batch-size 4 --aggregation median --drill phantom-random2d=poison --out RUN/median-poison --json

Usage::

    python benchmarks/federated_robustness.py --out runs/fed-robustness --size 32 --rounds 5 --steps 4

A run in which an honest reply went missing (e.g. Ray killed a client actor because the machine
ran low on memory) is not a measurement of the rule: it is run again (``--retries``), and still
reported with its errors if it keeps failing. ``--only RULE`` reruns one rule and merges it into
``OUT/results.json``.

``--drills`` instead runs every fault drill once (``--drill phantom-random2d=KIND``, FedAvg, 2
rounds) and prints what it did to the run: the rejection codes per round, whether the global
model was aggregated, and the final mean global PSNR::

    python benchmarks/federated_robustness.py --drills --out runs/fed-drills --size 32 --rounds 2 --steps 2

``--update-norms`` prints each site's honest round-1 update norm (how ``--clip`` was chosen).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

POISONED = "phantom-random2d"
CONFIGS = [
    ("fedavg", []),
    ("median", ["--aggregation", "median"]),
    ("trimmed-mean", ["--aggregation", "trimmed-mean", "--trim-fraction", "0.34"]),
    ("fedavg + clip", ["--clip-norm", "CLIP"]),
]


def run_one(args: argparse.Namespace, name: str, flags: list[str], poisoned: bool) -> dict:
    """One ``automri fed train`` run; returns its summary plus the wall time."""
    out = Path(args.out) / f"{name.replace(' + ', '-')}{'-poison' if poisoned else ''}"
    command = [sys.executable, "-c", "from automri.cli import main; main()", "fed", "train", "--algorithm", "fedavg",
               "--spec", "default", "--size", str(args.size), "--rounds", str(args.rounds), "--local-epochs", "1",
               "--steps", str(args.steps), "--batch-size", "4", "--seed", str(args.seed), "--out", str(out),
               "--overwrite", "--json", *[str(args.clip) if f == "CLIP" else f for f in flags]]
    if poisoned:
        command += ["--drill", f"{POISONED}=poison"]
    for _ in range(args.retries + 1):
        started = time.time()
        result = subprocess.run(command, capture_output=True, text=True, check=True)
        summary = json.loads(result.stdout)
        summary["wall_s"] = time.time() - started
        if not summary["errors"]:
            break
        print(f"{name} (poisoned={poisoned}): replies missing {summary['errors']}, running again", flush=True)
    return summary


DRILLS = ("none", "nan", "huge", "shape", "dtype", "count", "missing-metric", "partition", "stall", "poison")


def update_norms(args: argparse.Namespace) -> None:
    """Print each site's honest round-1 update norm ``||w_1 - w_0||_2`` and the weight norm
    ``||w_0||_2`` at the benchmark's settings (how ``--clip`` was chosen)."""
    from automri.federated.options import build_config
    from automri.federated.task import build_client_model, client_data, round_seed, train_local, weights_of

    config = build_config("fedavg", "default", args.out, size=args.size, rounds=args.rounds, local_epochs=1,
                          steps=args.steps, batch_size=4, seed=args.seed, client_root=None)
    for pid, name in enumerate(config.spec.client_names()):
        model = build_client_model(config)
        start = {k: v.clone() for k, v in weights_of(model).items() if v.is_floating_point()}
        train_local(model, client_data(config, pid), config, round_seed(config, pid, 1))
        after = weights_of(model)
        update = sum(((after[k].double() - v.double()) ** 2).sum() for k, v in start.items()) ** 0.5
        weights = sum((v.double() ** 2).sum() for v in start.values()) ** 0.5
        print(f"{name}: round-1 update norm {float(update):.2f}, weight norm {float(weights):.2f}")


def run_drills(args: argparse.Namespace) -> None:
    """Every drill once; prints a Markdown table (and writes ``OUT/drills.json``)."""
    rows = []
    for kind in DRILLS:
        out = Path(args.out) / kind
        command = [sys.executable, "-c", "from automri.cli import main; main()", "fed", "train", "--algorithm",
                   "fedavg", "--spec", "default", "--size", str(args.size), "--rounds", str(args.rounds),
                   "--local-epochs", "1", "--steps", str(args.steps), "--batch-size", "4", "--seed", str(args.seed),
                   "--round-timeout", str(args.round_timeout), "--out", str(out), "--overwrite", "--json"]
        if kind != "none":
            command += ["--drill", f"{POISONED}={kind}"]
        started = time.time()
        summary = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        history = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
        rows.append({"drill": kind, "wall_s": time.time() - started, "errors": summary["errors"],
                     "aggregated": [rec["aggregated"] for rec in history],
                     "mean_global_psnr": summary["mean"].get("global-psnr")})
        print(json.dumps(rows[-1]), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "drills.json").write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    print("| drill | rejected (round: phase/site code) | aggregated per round | final mean global PSNR | run s |")
    print("|---|---|---|---|---|")
    for row in rows:
        errors = "; ".join(f"{r}: " + ", ".join(f"{w} `{c}`" for w, c in sorted(e.items()))
                           for r, e in row["errors"].items()) or "none"
        psnr = "-" if row["mean_global_psnr"] is None else f"{row['mean_global_psnr']:.2f}"
        print(f"| {row['drill']} | {errors} | {row['aggregated']} | {psnr} | {row['wall_s']:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/fed-robustness")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retries", type=int, default=2)
    parser.add_argument("--only", choices=[name for name, _ in CONFIGS], default=None)
    parser.add_argument("--drills", action="store_true", help="run every fault drill once instead")
    parser.add_argument("--update-norms", action="store_true", help="print the honest round-1 update norms instead")
    parser.add_argument("--round-timeout", type=float, default=30.0, help="--drills: the round timeout (stall)")
    args = parser.parse_args()
    if args.drills:
        run_drills(args)
        return
    if args.update_norms:
        update_norms(args)
        return
    results = Path(args.out) / "results.json"
    previous = json.loads(results.read_text())["rows"] if args.only and results.is_file() else []
    rows = [row for row in previous if row["rule"] != args.only]
    for name, flags in CONFIGS:
        if args.only and name != args.only:
            continue
        for poisoned in (False, True):
            summary = run_one(args, name, flags, poisoned)
            clients = summary["clients"]
            honest = [row["global-psnr"] for client, row in clients.items() if client != POISONED]
            rows.append({"rule": name, "poisoned": poisoned, "wall_s": summary["wall_s"],
                         "mean_global_psnr": summary["mean"]["global-psnr"],
                         "honest_global_psnr": sum(honest) / len(honest),
                         "clients": {c: row["global-psnr"] for c, row in clients.items()},
                         "errors": summary["errors"]})
            print(json.dumps(rows[-1]), flush=True)
    order = [name for name, _ in CONFIGS]
    rows.sort(key=lambda row: (order.index(row["rule"]), row["poisoned"]))
    Path(args.out).mkdir(parents=True, exist_ok=True)
    results.write_text(json.dumps({"args": vars(args), "machine": platform.platform(),
                                                             "rows": rows}, indent=2))
    names = sorted(rows[0]["clients"])
    print("| rule | poisoned site | " + " | ".join(names) + " | mean of the 2 honest sites | run s |")
    print("|---|---|" + "---|" * len(names) + "---|---|")
    for row in rows:
        cells = " | ".join(f"{row['clients'][n]:.2f}" for n in names)
        print(f"| {row['rule']} | {'yes' if row['poisoned'] else 'no'} | {cells} | "
              f"{row['honest_global_psnr']:.2f} | {row['wall_s']:.0f} |" + (" replies missing" if row["errors"] else ""))


if __name__ == "__main__":
    main()
