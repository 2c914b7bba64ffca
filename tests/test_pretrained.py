"""The shipped weights (weights/): they load by name, reproduce their stated test ELBO, and a modified file is refused."""
import json, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
from conftest import ROOT, DATA, run
import scratch_vae.weights as C
from scratch_vae.checkpoint import load_model, CheckpointError, pretrained
from scratch_vae.data import load_mnist
from scratch_vae.evaluate import evaluate

WEIGHTS = ROOT/'weights'
SHIPPED = sorted(l.split()[1].split('/')[0] for l in (WEIGHTS/'SHA256SUMS').read_text().splitlines() if l.strip())


def test_shipped_set():
    assert {'mnist-seed', 'mnist-binarized', 'mnist-latent2'} <= set(SHIPPED), SHIPPED
    for name in SHIPPED:
        for f in ('model.safetensors', 'config.json', 'history.jsonl', 'evaluation.json'): assert (WEIGHTS/name/f).is_file(), (name, f)
        assert (WEIGHTS/name/'model.safetensors').stat().st_size < 4 * 2**20          # a few MB at most


@pytest.mark.parametrize('name', SHIPPED)
def test_shipped_weights_reproduce_their_test_elbo(name):
    ev = json.loads((WEIGHTS/name/'evaluation.json').read_text())
    m = load_model(f'pretrained:{name}')
    cfg = json.loads((WEIGHTS/name/'config.json').read_text())
    assert not m.training and m.config['hidden_dims'] == cfg['hidden_dims'] and m.config['latent_dim'] == cfg['latent_dim']
    x, _ = load_mnist('test', root=DATA)
    got = evaluate(m, x, k=1, binarize=ev['binarize'], likelihood=ev['likelihood'], seed=ev.get('seed', 0))
    assert abs(got['elbo'] - ev['elbo']) < 0.5, (got['elbo'], ev['elbo'])


def test_modified_weights_are_refused(tmp_path, monkeypatch):
    shutil.copytree(WEIGHTS, tmp_path/'weights')
    monkeypatch.setattr(C, 'weights_dir', lambda: tmp_path/'weights')
    assert load_model('pretrained:mnist-seed').config['latent_dim'] == 8
    f = tmp_path/'weights'/'mnist-seed'/'model.safetensors'
    data = bytearray(f.read_bytes()); data[-1] ^= 1; f.write_bytes(bytes(data))      # one bit of one weight
    with pytest.raises(CheckpointError, match='differs from the published'): load_model('pretrained:mnist-seed')
    with pytest.raises(CheckpointError, match="no shipped weights called 'nope'"): pretrained('nope')


def test_cli_takes_pretrained_weights(tmp_path):
    r = run([str(Path(sys.executable).parent/'scratch_vae_sample'), '--weights', 'pretrained:mnist-seed', '--out', str(tmp_path),
             '--n', '16', '--nrow', '4'], cwd=ROOT)
    assert (tmp_path/'samples.png').read_bytes()[:4] == b'\x89PNG'
