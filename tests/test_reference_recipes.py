"""bench/reference_recipes.py, the plain-PyTorch baselines the README cites: one epoch on a 2,000-image slice."""
import json, math, os, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT/'bench'/'reference_recipes.py'


def run(*args, cwd=ROOT):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope='module')
def one_epoch(tmp_path_factory):
    out = tmp_path_factory.mktemp('ref')/'ref.json'
    r = run('--recipe', 'all', '--epochs', 1, '--limit', 2000, '--threads', 1, '--data', ROOT/'data'/'mnist',
            '--out', out)
    assert r.returncode == 0, r.stderr
    return r.stdout, json.loads(out.read_text())


def test_json_fields(one_epoch):
    _, res = one_epoch
    assert {'command', 'machine', 'seed', 'epochs', 'metric', 'recipes'} <= res.keys()
    assert {'cpu', 'torch', 'threads'} <= res['machine'].keys() and res['machine']['threads'] == 1
    assert res['train_images'] == res['test_images'] == 2000 and res['epochs'] == 1
    assert [r['recipe'] for r in res['recipes']] == ['pytorch-example', 'original-design']
    # the two architectures, by parameter count: 784-400-20 ReLU and 784-256-8
    assert [r['params'] for r in res['recipes']] == [784*400+400 + 2*(400*20+20) + 20*400+400 + 400*784+784,
                                                      784*256+256 + 2*(256*8+8) + 8*256+256 + 256*784+784]
    for r in res['recipes']:
        assert [e['epoch'] for e in r['per_epoch']] == [0, 1]
        assert math.isfinite(r['per_epoch'][1]['train_loss']) and r['wall_seconds'] >= 0
        assert all(math.isfinite(e['test_neg_elbo']) and e['test_neg_elbo'] > 0 for e in r['per_epoch'])
        assert r['final_test_neg_elbo'] == r['per_epoch'][-1]['test_neg_elbo']


def test_one_epoch_beats_untrained(one_epoch):
    "An untrained model scores ~550 nats; 16 Adam steps must bring the test −ELBO well below it."
    _, res = one_epoch
    for r in res['recipes']:
        untrained, trained = r['per_epoch'][0]['test_neg_elbo'], r['per_epoch'][1]['test_neg_elbo']
        assert untrained > 500, (r['recipe'], untrained)
        assert trained < untrained - 100, (r['recipe'], untrained, trained)
        assert r['per_epoch'][1]['train_loss'] < untrained, r['recipe']


def test_prints_table(one_epoch):
    out, _ = one_epoch
    assert '| pytorch-example |' in out and '| original-design |' in out and 'test -ELBO' in out


def test_missing_data_one_line(tmp_path):
    r = run('--epochs', 1, '--data', tmp_path, '--out', tmp_path/'x.json')
    assert r.returncode != 0 and 'Traceback' not in r.stderr
    assert r.stderr.strip().count('\n') == 0 and 'missing' in r.stderr, r.stderr
    assert not (tmp_path/'x.json').exists()
