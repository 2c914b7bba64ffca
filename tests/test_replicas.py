"""`scratch_vae_train --seeds`: several seeds in one process, each equal to its own single-seed run (issue 22)."""
import json, subprocess, sys
from pathlib import Path
import pytest
from conftest import DATA

BIN = Path(sys.executable).parent
BURDA = ['--data', str(DATA), '--limit', '1000', '--epochs', '2', '--quiet', '--binarize', 'dynamic', '--hidden-dims', '200,200',
         '--latent-dim', '50', '--activation', 'tanh', '--batch-size', '20', '--adam-eps', '1e-4', '--lr-schedule', 'iwae']


def train(*args):
    r = subprocess.run([str(BIN/'scratch_vae_train'), *BURDA, *map(str, args)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def history(d): return [json.loads(l) for l in (Path(d)/'history.jsonl').read_text().splitlines()]


def test_each_replica_equals_its_own_run(tmp_path):
    "Tolerance: a batched matmul adds in another order than a single one (float32 rounding, ~1e-7 relative per op); "
    "over 100 Adam steps the per-epoch losses stay within a relative 1e-5 of the single run's."
    r = train('--seeds', '3,5', '--out', tmp_path/'both')
    assert '[seed 3] Epoch 2,' in r.stdout and '[seed 5] Epoch 2,' in r.stdout
    for s in (3, 5):
        train('--seed', s, '--out', tmp_path/f'alone-{s}')
        together, alone = history(tmp_path/'both'/f'seed-{s}'), history(tmp_path/f'alone-{s}')
        assert [h['epoch'] for h in together] == [1, 2]
        for a, b in zip(together, alone):
            for part in ('train', 'test'):
                assert a[part]['loss'] == pytest.approx(b[part]['loss'], rel=1e-5), (s, part, a[part], b[part])
        cfg = json.loads((tmp_path/'both'/f'seed-{s}'/'config.json').read_text())
        assert cfg['seed'] == s and cfg['out'] == str(tmp_path/'both'/f'seed-{s}')
    assert history(tmp_path/'alone-3') != history(tmp_path/'alone-5')        # the seeds really differ


def test_replicas_resume_like_one_run(tmp_path):
    train('--seeds', '0,1', '--out', tmp_path/'a', '--epochs', 2)
    train('--seeds', '0,1', '--out', tmp_path/'b', '--epochs', 1)
    r = train('--seeds', '0,1', '--out', tmp_path/'b', '--epochs', 2, '--resume')
    assert '[seed 1] Resuming' in r.stdout
    for s in (0, 1): assert history(tmp_path/'a'/f'seed-{s}') == [dict(h, seconds=a['seconds'], images_per_s=a['images_per_s'])
                                                                 for h, a in zip(history(tmp_path/'b'/f'seed-{s}'), history(tmp_path/'a'/f'seed-{s}'))]
