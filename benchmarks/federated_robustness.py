"""FedAvg vs coordinate-wise median vs trimmed mean (and FedAvg with update clipping) on the
built-in federation, with and without one poisoned site; prints a Markdown table, writes JSON.

Every configuration is one ``automri fed train`` run (a subprocess, exactly the CLI), e.g.::

    automri fed train --algorithm fedavg --spec default --size 32 --rounds 5 --local-epochs 1 \\
        --steps 4 --batch-size 4 --aggregation median --drill phantom-random2d=poison --out RUN/median-poison --json

Usage::

    python benchmarks/federated_robustness.py --out runs/fed-robustness --size 32 --rounds 5 --steps 4
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
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    summary = json.loads(result.stdout)
    summary["wall_s"] = time.time() - started
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/fed-robustness")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--clip", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = []
    for name, flags in CONFIGS:
        for poisoned in (False, True):
            summary = run_one(args, name, flags, poisoned)
            clients = summary["clients"]
            honest = [row["global-psnr"] for client, row in clients.items() if client != POISONED]
            rows.append({"rule": name, "poisoned": poisoned, "wall_s": summary["wall_s"],
                         "mean_global_psnr": summary["mean"]["global-psnr"],
                         "honest_global_psnr": sum(honest) / len(honest),
                         "clients": {c: row["global-psnr"] for c, row in clients.items()}})
            print(json.dumps(rows[-1]), flush=True)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps({"args": vars(args), "machine": platform.platform(),
                                                             "rows": rows}, indent=2))
    names = sorted(rows[0]["clients"])
    print("| rule | poisoned site | " + " | ".join(names) + " | mean of the 2 honest sites | run s |")
    print("|---|---|" + "---|" * len(names) + "---|---|")
    for row in rows:
        cells = " | ".join(f"{row['clients'][n]:.2f}" for n in names)
        print(f"| {row['rule']} | {'yes' if row['poisoned'] else 'no'} | {cells} | "
              f"{row['honest_global_psnr']:.2f} | {row['wall_s']:.0f} |")


if __name__ == "__main__":
    main()
