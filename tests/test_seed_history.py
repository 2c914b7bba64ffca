"""Determinism across changes to the step: a default run's first two epochs equal the shipped run's history bit for bit."""
import json
import torch
from pathlib import Path
from conftest import ROOT, DATA
from scratch_vae.config import TrainConfig
from scratch_vae.run import fit

TIMING = ('seconds', 'images_per_s')


def history(path: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(l).items() if k not in TIMING} for l in path.read_text().splitlines()]


def test_default_run_repeats_the_shipped_seed_history(tmp_path):
    "weights/mnist-seed was trained with the defaults (its config.json); the same code path must give the same numbers."
    shipped = json.loads((ROOT/'weights'/'mnist-seed'/'config.json').read_text())
    cfg = TrainConfig(data=str(DATA), out=str(tmp_path/'seed'), epochs=2)
    for k in ('epochs', 'out', 'data'): shipped.pop(k)
    assert {k: getattr(cfg, k) for k in shipped} == shipped     # the defaults are still the shipped run's settings
    threads = torch.get_num_threads(); torch.set_num_threads(1)       # as the command's default (--threads 1)
    try: fit(cfg, quiet=True, log=lambda s: None)
    finally: torch.set_num_threads(threads)
    assert history(tmp_path/'seed'/'history.jsonl') == history(ROOT/'weights'/'mnist-seed'/'history.jsonl')[:2]
