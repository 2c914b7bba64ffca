"""`FlatAdam` (04f_flat_adam) and the checkpoints shipped before it: they load, they save back the same, they resume."""
import json, shutil
import pytest, torch
from conftest import ROOT, DATA
from scratch_vae.model import VAE
from scratch_vae.config import TrainConfig
from scratch_vae.checkpoint import read_checkpoint, restore_checkpoint
from scratch_vae.backprop import elbo_backward
from scratch_vae.flatadam import FlatAdam
from scratch_vae.train import make_optimizer, fit

SHIPPED = ['burda-s0', 'burda-s1', 'burda-s2', 'mnist-binarized']


def restored(name, flat=True):
    path = ROOT/'weights'/name/'checkpoint.safetensors'
    tensors, meta = read_checkpoint(path)
    model, cfg = VAE(**meta['model']), meta['config']
    opt = (make_optimizer(model, cfg['lr'], cfg['adam_eps']) if flat else
           torch.optim.Adam(model.parameters(), lr=cfg['lr'], eps=cfg['adam_eps'], fused=True))
    restore_checkpoint(path, tensors, meta, model, opt, torch.Generator())
    return model, opt, tensors


@pytest.mark.parametrize('name', SHIPPED)
def test_shipped_checkpoint_loads_and_saves_back_the_same(name):
    model, opt, tensors = restored(name)
    assert isinstance(opt, FlatAdam)
    sd = opt.state_dict()
    for i, s in sd['state'].items():
        for k, v in s.items(): assert torch.equal(v, tensors[f'optim.{i}.{k}']), (i, k)
    for k, v in model.state_dict().items(): assert torch.equal(v, tensors[f'model.{k}']), k
    assert float(opt.count) == float(tensors['optim.0.step']) > 0


@pytest.mark.parametrize('name', ['burda-s1', 'mnist-binarized'])
def test_shipped_checkpoint_steps_on_as_torch_adam_would(name):
    "20 steps from the shipped state: FlatAdam and torch's fused Adam agree to rounding (bias correction at the shipped step)."
    (a, oa, _), (b, ob, _) = restored(name), restored(name, flat=False)
    ga, gb = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    for _ in range(20):
        x = torch.rand(20, 784).round()
        elbo_backward(a, x, generator=ga, maps=oa.maps); oa.step()
        elbo_backward(b, x, generator=gb); ob.step()
    for p, q in zip(a.parameters(), b.parameters()): torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_shipped_run_resumes_for_an_epoch(tmp_path):
    "`fit`'s path: mnist-binarized (121 epochs) resumed for epoch 122 (the next stage's lower lr) on all 60k images."
    out = tmp_path/'run'
    shutil.copytree(ROOT/'weights'/'mnist-binarized', out)
    cfg = json.loads((out/'config.json').read_text())
    r = fit(TrainConfig(**dict(cfg, out=str(out), data=str(DATA), epochs=122)), resume=True, quiet=True, log=lambda s: None)
    last, before = r['history'][-1], r['history'][-2]
    assert last['epoch'] == 122 and abs(last['test']['loss'] - before['test']['loss']) < 2   # a fresh model scores ~200
    assert last['train']['loss'] < before['train']['loss'] + 1


def test_old_import_path_still_works():
    "`FlatAdam` and `flat_groups` moved from scratch_vae.backprop to scratch_vae.flatadam; both still import from the old."
    from scratch_vae.backprop import FlatAdam as moved, flat_groups
    from scratch_vae import flatadam
    assert moved is FlatAdam and flat_groups is flatadam.flat_groups


def test_backprop_does_not_import_flatadam():
    "The gradient does not depend on the optimizer: importing scratch_vae.backprop leaves scratch_vae.flatadam unloaded."
    import subprocess, sys
    code = "import sys, scratch_vae.backprop; assert 'scratch_vae.flatadam' not in sys.modules, 'imported'"
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True)
