"""The PSNR cost of differential privacy on the built-in federation: FedAvg without DP, with
central DP (server-side clipping + Gaussian noise) at several noise multipliers, and with local DP
(Flower's LocalDpMod at every site) at several per-round epsilons; with the epsilon Flower's RDP
accountant gives after the run. Prints a Markdown table (with a zero-filled row), writes JSON.

Every configuration is one ``automri fed train`` run (a subprocess, exactly the CLI), e.g.::

    automri fed train --algorithm fedavg --spec default --size 32 --rounds 5 --local-epochs 1 --steps 4 \\
        --batch-size 4 --dp central --dp-clip 7 --dp-noise 0.1 --dp-seeded-noise --out RUN/central-0.1 --json

(``--dp-seeded-noise`` makes the measurements repeat; a real run draws its noise from OS entropy.)

Usage (resumable: a configuration whose ``summary.json`` is complete is not run again)::

    python benchmarks/federated_privacy.py --out runs/fed-privacy --size 32 --rounds 5 --steps 4 --clip 7

The noise is per weight, so its norm grows with the square root of the parameter count:
``--model-option chans=8`` repeats the sweep with a smaller U-Net (clip: its own update norm).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

CENTRAL_NOISE = (0.01, 0.1, 1.0)
LOCAL_EPSILON = (1000.0, 100.0, 10.0)


def configs(clip: float) -> list[tuple[str, list[str]]]:
    """(name, extra CLI flags) of every configuration."""
    rows = [("no DP", [])]
    seeded = ["--dp-seeded-noise"]  # measurements repeat; a real run draws its noise from OS entropy
    rows += [(f"central z={z:g}", ["--dp", "central", "--dp-clip", str(clip), "--dp-noise", str(z), *seeded])
             for z in CENTRAL_NOISE]
    rows += [(f"local eps={e:g}", ["--dp", "local", "--dp-clip", str(clip), "--dp-epsilon", str(e), *seeded])
             for e in LOCAL_EPSILON]
    return rows


def run_one(args: argparse.Namespace, name: str, flags: list[str]) -> dict:
    """One ``automri fed train`` run (or its finished summary); returns the summary plus the wall time."""
    out = Path(args.out) / name.replace(" ", "-").replace("=", "-")
    summary_path = out / "summary.json"
    if summary_path.is_file():
        summary = json.loads(summary_path.read_text())
        if summary["rounds_done"] == args.rounds:
            return summary
    command = [sys.executable, "-c", "from automri.cli import main; main()", "fed", "train", "--algorithm", "fedavg",
               "--spec", "default", "--size", str(args.size), "--rounds", str(args.rounds), "--local-epochs", "1",
               "--steps", str(args.steps), "--batch-size", "4", "--seed", str(args.seed), "--dp-delta",
               str(args.delta), "--out", str(out), "--overwrite", "--json", *flags]
    for option in args.model_option:
        command += ["--model-option", option]
    started = time.time()
    summary = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    summary["wall_s"] = time.time() - started
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/fed-privacy")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--clip", type=float, default=7.0,
                        help="the clipping norm (default: the honest round-1 update norm at these settings, "
                             "python benchmarks/federated_robustness.py --update-norms)")
    parser.add_argument("--delta", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model-option", action="append", default=[],
                        help="a U-Net option KEY=VALUE for every run (repeatable), e.g. chans=8 for a smaller model")
    args = parser.parse_args()

    from automri.experiments.fedautomri import zero_filled_scores
    from automri.federated.spec import load_spec

    rows = []
    for name, flags in configs(args.clip):
        summary = run_one(args, name, flags)
        rows.append({"config": name, "wall_s": summary.get("wall_s"), "parameters": summary["parameters"],
                     "clients": {c: row["global-psnr"] for c, row in summary["clients"].items()},
                     "mean_global_psnr": summary["mean"]["global-psnr"], "privacy": summary.get("privacy"),
                     "errors": summary["errors"]})
        print(json.dumps(rows[-1]), flush=True)
    zero = {name: scores["psnr"] for name, scores in zero_filled_scores(load_spec("default", size=args.size)).items()}
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "results.json").write_text(json.dumps(
        {"args": vars(args), "machine": platform.platform(), "zero_filled": zero, "rows": rows}, indent=2))
    names = sorted(zero)
    print(f"FedAvg, {rows[0]['parameters']:,} parameters, clip {args.clip:g}, delta {args.delta:g}, "
          f"{args.rounds} rounds; global-model PSNR (dB) per site")
    print("| configuration | noise std per weight | epsilon after the run | " + " | ".join(names) + " | mean | run s |")
    print("|---|---|---|" + "---|" * len(names) + "---|---|")
    print("| zero-filled | - | - | " + " | ".join(f"{zero[n]:.2f}" for n in names)
          + f" | {sum(zero.values()) / len(zero):.2f} | - |")
    for row in rows:
        privacy = row["privacy"]
        if privacy is None:
            std, epsilon = "0", "none (no DP)"
        elif privacy["mode"] == "central":  # noise on the mean of K = 3 clipped updates
            std, epsilon = f"{privacy['noise_multiplier'] * args.clip / 3:.3g}", f"{privacy['epsilon']:.3g}"
        else:  # noise on each site's update; the mean of 3 has std / sqrt(3)
            std, epsilon = f"{privacy['noise_multiplier'] * args.clip / 3 ** 0.5:.3g}", f"{privacy['epsilon']:.3g}"
        cells = " | ".join(f"{row['clients'][n]:.2f}" for n in names)
        wall = "-" if row["wall_s"] is None else f"{row['wall_s']:.0f}"
        print(f"| {row['config']} | {std} | {epsilon} | {cells} | {row['mean_global_psnr']:.2f} | {wall} |"
              + (" replies missing" if row["errors"] else ""))


if __name__ == "__main__":
    main()
