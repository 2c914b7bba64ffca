"""bench/burda.py, the script behind the README's Burda rows: on a tiny run of the 'iwae' schedule it scores the kept
stage-end model for the curve and the latest model for the table, and reuses the run's own evaluation.json only
when that file scored the same model the same way."""
import json, math, os, subprocess, sys
import pytest
from conftest import ROOT
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}


def py(*args, cwd=ROOT):
    r = subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def bench(run, out, images=50):
    py(ROOT/'bench'/'burda.py', run, '--data', ROOT/'data', '--k', 5, '--images', images, '--curve-k', 5,
       '--curve-images', 50, '--json', out/'b.json', '--png', out/'b.png')
    return json.loads((out/'b.json').read_text())['runs'][str(run)]


@pytest.fixture(scope='module')
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp('burda')/'run'
    py('-m', 'scratch_vae', 'train', '--out', d, '--epochs', 2, '--limit', 400, '--binarize', 'dynamic', '--hidden-dims', 20,
       '--latent-dim', 4, '--activation', 'tanh', '--batch-size', 20, '--lr-schedule', 'iwae', '--data', ROOT/'data',
       '--threads', 1, '--quiet')
    return d


def test_curve_at_stage_ends_and_the_latest_model(run, tmp_path):
    r = bench(run, tmp_path)
    assert list(r['curve']) == ['1'], r['curve']              # epoch 1 ends stage 0; epoch 2 ends none
    assert r['epochs'] == 2 and r['nll_from'] == 'bench/burda.py' and r['seed'] == 0
    assert math.isfinite(r['nll']) and 0 < r['nll'] <= -r['elbo'] + 1e-3   # the IW bound is at least as tight as the ELBO


def test_reuses_evaluation_json_only_when_it_scored_the_same_model_the_same_way(run, tmp_path):
    py('-m', 'scratch_vae', 'evaluate', '--out', run, '--k', 5, '--limit', 50, '--data', ROOT/'data')
    ev = json.loads((run/'evaluation.json').read_text())
    r = bench(run, tmp_path)
    assert r['nll_from'] == 'evaluation.json' and r['nll'] == ev['nll']
    assert bench(run, tmp_path, images=60)['nll_from'] == 'bench/burda.py'   # other images: scored afresh


def test_at_scores_the_stage_model_and_reuses_only_an_evaluation_of_those_tensors(run, tmp_path):
    at = lambda images=50: py(ROOT/'bench'/'burda.py', run, '--data', ROOT/'data', '--k', 5, '--images', images,
                              '--curve-k', 5, '--curve-images', 50, '--json', tmp_path/'a.json', '--png', tmp_path/'a.png',
                              '--at', 1) and json.loads((tmp_path/'a.json').read_text())['runs'][str(run)]
    r = at()
    assert r['epochs'] == 1 and r['nll_from'] == 'bench/burda.py'          # the stage-0001 model, scored afresh
    py('-m', 'scratch_vae', 'evaluate', '--weights', run/'stage-0001.safetensors', '--out', tmp_path/'e', '--k', 5,
       '--limit', 50, '--data', ROOT/'data')
    (run/'evaluation-e0001.json').write_text((tmp_path/'e'/'evaluation.json').read_text())
    r2 = at()
    assert r2['nll_from'] == 'evaluation-e0001.json' and r2['nll'] == r['nll']   # same tensors, same protocol, same number
    assert at(images=60)['nll_from'] == 'bench/burda.py'
    (run/'evaluation-e0001.json').unlink()
