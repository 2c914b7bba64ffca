"""`scratch_vae_evaluate --method ais` as a user runs it: the AIS estimate lands in
evaluation.json beside the IW result, computed on the IW evaluation's binarized images, with a
progress line; bad AIS flags get one clear line. (The AIS maths is tested in nbs/03f_bounds.ipynb,
on a model with an exact log p(x).)"""
import json, os, re, sys
from pathlib import Path
import pytest
from conftest import ROOT, DATA, run

BIN = Path(sys.executable).parent
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}
MODEL = 'pretrained:mnist-binarized'


def evaluate(*args, check=True):
    cmd = [str(BIN/'scratch_vae_evaluate'), '--weights', MODEL, '--data', str(DATA),
           '--threads', '1']
    return run(cmd + [str(a) for a in args], check=check, cwd=ROOT, env=ENV)


def test_evaluate_ais(tmp_path):
    r = evaluate('--out', tmp_path, '--method', 'ais', '--steps', 20, '--chains', 2, '--k', 10,
                 '--limit', 6, '--batch-size', 4, '--seed', 3)
    ev = json.loads((tmp_path/'evaluation.json').read_text())
    ais = ev['ais']
    assert ev['n_images'] == 6 and ev['k'] == 10 and 'nll' in ev      # the IW result is still there
    assert (ais['steps'], ais['chains'], ais['n']) == (20, 2, 6) and ais['se'] > 0
    # the library's number on the same images (the IW evaluation's binarization with --seed 3)
    import torch
    from scratch_vae.checkpoint import load_model
    from scratch_vae.data import load_mnist
    from scratch_vae.bounds import evaluate_ais
    torch.set_num_threads(1)
    x, _ = load_mnist('test', root=DATA)
    want = evaluate_ais(load_model(MODEL), x[:6], 20, 2, 'dynamic', 'bernoulli', 3, 4)
    assert ais['log_px'] == pytest.approx(want['log_px'], abs=1e-4), (ais, want)
    assert ais['log_px'] > ev['elbo'] - 5                             # a log-likelihood, not a loss
    line = r'^AIS \(T=20, C=2\): (\d+)/40 steps \((\d+)%\), .* elapsed, ETA '
    ticks = re.findall(line, r.stdout, re.M)
    assert ticks and ticks[-1] == ('40', '100'), r.stdout
    assert 'log p(x) by AIS (T=20, C=2)' in r.stdout


@pytest.mark.parametrize('args,msg', [
    (['--method', 'hmc'], '--method must be iw or ais'),
    (['--method', 'ais', '--steps', '0'], '--steps and --chains must be positive')])
def test_bad_ais_flags(args, msg, tmp_path):
    r = evaluate('--out', tmp_path, *args, check=False)
    assert r.returncode == 2 and msg in r.stderr and 'Traceback' not in r.stderr, r.stderr
