"""run-tool --precision P --compare: a reduced-precision compile against float32.

    run-tool model.onnx --precision int8 --calibration DIR --compare
    run-tool model.onnx --precision int8 --compare          # random calibration inputs

Calibration inputs are the .npz files of DIR (one sample each, keys = input names; the
last quarter of them is held back for the comparison), or random normal inputs from
--seed when no DIR is given. The report gives, per output, the max abs error, the cosine
similarity and the top-1 agreement (argmax over the last axis) against float32, plus the
weight bytes and which ops run in which precision.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Feeds = dict[str, np.ndarray]


def load_npz_dir(directory: str) -> list[Feeds]:
    """One sample per .npz file of `directory`, in name order."""
    files = sorted(glob.glob(os.path.join(directory, "*.npz")))
    if not files:
        raise OSError(f"--calibration {directory}: no .npz files there")
    samples = []
    for path in files:
        with np.load(path) as data:
            samples.append({k: data[k] for k in data.files})
    return samples


def split_samples(directory: str | None, random_feeds: Callable[[int], Feeds], count: int,
                  held: int, seed: int, calibrate: bool = True
                  ) -> tuple[list[Feeds], list[Feeds], str]:
    """(calibration samples, held-back samples, a line saying where they come from);
    without `calibrate` every sample is for the comparison."""
    if directory is None:
        held_back = [random_feeds(seed + 10_000 + i) for i in range(held)]
        if not calibrate:
            return [], held_back, f"{held} random inputs (normal, seed {seed})"
        calibration = [random_feeds(seed + i) for i in range(count)]
        return calibration, held_back, (
            f"{count} random calibration inputs (normal, seed {seed}; no --calibration DIR "
            f"given), {held} other random inputs held back")
    if not calibrate:
        samples = load_npz_dir(directory)
        return [], samples, f"{len(samples)} inputs from {directory}"
    samples = load_npz_dir(directory)
    if len(samples) < 2:
        return samples, samples, (f"{len(samples)} input from {directory}, used for "
                                  "calibration and comparison (too few to hold one back)")
    keep = max(1, len(samples) // 4)
    return samples[:-keep], samples[-keep:], (
        f"{len(samples) - keep} calibration inputs from {directory}, the last {keep} held "
        "back")


@dataclass
class OutputAgreement:
    name: str
    max_abs_error: float
    cosine: float
    top1: float | None


def agreement(name: str, got: list[np.ndarray], want: list[np.ndarray]) -> OutputAgreement:
    """Agreement of one output over several runs (arrays of the same output)."""
    g = np.concatenate([a.astype(np.float64).reshape(-1) for a in got])
    w = np.concatenate([a.astype(np.float64).reshape(-1) for a in want])
    norm = np.linalg.norm(g) * np.linalg.norm(w)
    cosine = float(g @ w / norm) if norm else float(np.array_equal(g, w))
    top1 = None
    if all(a.ndim >= 1 and a.shape[-1] > 1 for a in want):
        hits = [np.mean(x.argmax(-1) == y.argmax(-1)) for x, y in zip(got, want, strict=True)]
        top1 = float(np.mean(hits))
    return OutputAgreement(name, float(np.max(np.abs(g - w))) if g.size else 0.0, cosine,
                           top1)


def compare(reduced, reference, held_back: list[Feeds]) -> list[OutputAgreement]:
    """Run both models on every held-back input; the agreement per output."""
    got: list[list[np.ndarray]] = [[] for _ in reduced.outputs]
    want: list[list[np.ndarray]] = [[] for _ in reduced.outputs]
    for feeds in held_back:
        for i, (a, b) in enumerate(zip(reduced(**feeds), reference(**feeds), strict=True)):
            got[i].append(a)
            want[i].append(b)
    return [agreement(spec.name, g, w) for spec, g, w in
            zip(reduced.outputs, got, want, strict=True)]


def format_report(precision: str, source: str, reduced, rows: list[OutputAgreement]) -> str:
    stats = reduced.stats
    lines = [f"precision: {precision} vs fp32", f"inputs:    {source}",
             f"weights:   {stats.weight_bytes} bytes ({stats.weight_bytes_fp32} in fp32, "
             f"{stats.weight_bytes / max(stats.weight_bytes_fp32, 1):.2f}x)"]
    for kind, ops in sorted(stats.op_precisions.items()):
        listed = ", ".join(f"{name.removeprefix('graph.')} {n}" for name, n in
                           sorted(ops.items()))
        lines.append(f"ops:       {kind}: {listed}")
    for r in rows:
        top1 = "n/a" if r.top1 is None else f"{100 * r.top1:.1f}%"
        lines.append(f"compare:   {r.name}: max abs err {r.max_abs_error:.4g}, cosine "
                     f"{r.cosine:.6f}, top-1 agreement {top1}")
    return "\n".join(lines)
