"""Faults a user will cause: signals, kill -9, NaNs, full disks, hostile or broken weight files."""
import json, os, pickle, random, signal, subprocess, sys, time
from pathlib import Path
import pytest, torch
from safetensors.torch import save_file
from conftest import ROOT, DATA, FASHION
import scratch_vae.train as T
import scratch_vae.engine as E
import scratch_vae.checkpoint as C
import scratch_vae.files as F
from scratch_vae.config import TrainConfig
from scratch_vae.train import fit, NonFiniteLoss
from scratch_vae.checkpoint import load_model, load_safetensors, CheckpointError
from scratch_vae.model import VAE

BIN = Path(sys.executable).parent
QUICK = dict(dataset='fashion-mnist', data=str(FASHION), limit=2000)


def start_training(out, *extra):
    return subprocess.Popen([str(BIN/'scratch_vae_train'), '--dataset', 'fashion-mnist', '--data', str(FASHION), '--out', str(out),
                             '--quiet', '--threads', str(torch.get_num_threads()), *map(str, extra)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            env=os.environ | {'PYTHONUNBUFFERED': '1'})


def history(out): return [(e['epoch'], e['train'], e['test']) for e in map(json.loads, (out/'history.jsonl').read_text().splitlines())]


@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_epoch_checkpoints_and_resume_matches(sig, tmp_path):
    ref, run = tmp_path/'ref', tmp_path/'run'
    fit(TrainConfig(**QUICK | dict(limit=20000), out=str(ref), epochs=3), quiet=True, log=lambda s: None)
    p = start_training(run, '--limit', 20000, '--epochs', 3)
    for line in p.stdout:                          # wait for epoch 1 to finish, then interrupt epoch 2
        if line.startswith('Epoch 1,'): break
    time.sleep(0.05)                               # early in epoch 2 even where an epoch takes 0.3 s (AVX-512)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 128 + sig, (p.returncode, err)
    assert 'resumable checkpoint written' in err and 'Traceback' not in err
    _, meta = load_safetensors(run/'checkpoint.safetensors')
    assert meta['epoch'] == 1 and 0 < meta['step'] < 157, meta
    fit(TrainConfig(**QUICK | dict(limit=20000), out=str(run), epochs=3), resume=True, quiet=True, log=lambda s: None)
    assert history(run) == history(ref)


def test_kill9_never_leaves_a_broken_checkpoint(tmp_path):
    out, ckpt = tmp_path/'run', tmp_path/'run'/'checkpoint.safetensors'
    rng = random.Random(0)
    for i in range(4):
        p = start_training(out, '--limit', 3000, '--epochs', 500, *(['--resume'] if ckpt.exists() else []))
        seen = ckpt.stat().st_mtime_ns if ckpt.exists() else 0
        deadline = time.time() + 180
        while (not ckpt.exists() or ckpt.stat().st_mtime_ns == seen) and time.time() < deadline and p.poll() is None:
            time.sleep(0.02)                         # wait until this run has written a checkpoint of its own
        time.sleep(rng.uniform(0, 0.6))              # then kill -9 at an arbitrary moment (often mid-write)
        p.kill(); p.wait()
        assert ckpt.exists(), p.stderr.read()
        _, meta = load_safetensors(ckpt)              # loadable, whole
        load_model(ckpt)
        real = [f.name for f in out.iterdir() if not f.name.startswith('.')]
        assert set(real) <= {'config.json', 'checkpoint.safetensors', 'history.jsonl', 'loss_curve.png'}, real
        assert len(history(out)) == meta['epoch'] or len(history(out)) == meta['epoch'] + 1
    # training goes on from there; temp files of killed writers are cleaned up
    fit(TrainConfig(**QUICK | dict(limit=3000), out=str(out), epochs=meta['epoch'] + 1), resume=True, quiet=True, log=lambda s: None)
    assert not [f for f in out.iterdir() if f.name.endswith('.tmp')]
    assert len(history(out)) == meta['epoch'] + 1


def _nan_after(n):
    real, calls = E.hand_grads, [0]      # the step's gradient (the default model's: by hand)
    def fake(*a, **k):
        calls[0] += 1
        loss, sums = real(*a, **k)
        return (loss * float('nan'), sums) if calls[0] == n else (loss, sums)
    return fake


def test_nan_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    out = tmp_path/'run'
    fit(TrainConfig(**QUICK, out=str(out), epochs=1), quiet=True, log=lambda s: None)
    before = (out/'checkpoint.safetensors').read_bytes()
    monkeypatch.setattr(E, 'hand_grads', _nan_after(5))
    with pytest.raises(NonFiniteLoss, match=r'epoch 2, step 5/16: loss nan'):
        fit(TrainConfig(**QUICK, out=str(out), epochs=2), resume=True, quiet=True, log=lambda s: None)
    assert (out/'checkpoint.safetensors').read_bytes() == before


def test_nan_skip_counts(tmp_path, monkeypatch):
    monkeypatch.setattr(E, 'hand_grads', _nan_after(3))
    logs = []
    r = fit(TrainConfig(**QUICK, out=str(tmp_path/'run'), epochs=1, on_nan='skip'), quiet=True, log=logs.append)
    assert r['history'][0]['skipped'] == 1 and '[1 non-finite steps skipped]' in logs[-1]
    assert all(torch.isfinite(p).all() for p in r['model'].parameters())


def test_disk_full_mid_run_keeps_previous_checkpoint(tmp_path, monkeypatch):
    out = tmp_path/'run'
    fit(TrainConfig(**QUICK, out=str(out), epochs=1), quiet=True, log=lambda s: None)
    before = (out/'checkpoint.safetensors').read_bytes()
    import scratch_vae.files as I
    real_fdopen = os.fdopen
    class Full:
        def __init__(self, f): self.f = f
        def __enter__(self): return self
        def __exit__(self, *a): self.f.close()
        def write(self, b): raise OSError(28, 'No space left on device')
        def __getattr__(self, n): return getattr(self.f, n)
    monkeypatch.setattr(I.os, 'fdopen', lambda fd, mode='r', *a, **k: Full(real_fdopen(fd, mode, *a, **k)))
    with pytest.raises(OSError, match='No space left'):
        fit(TrainConfig(**QUICK, out=str(out), epochs=2), resume=True, quiet=True, log=lambda s: None)
    monkeypatch.undo()
    assert (out/'checkpoint.safetensors').read_bytes() == before
    assert not [f.name for f in out.iterdir() if f.name.endswith('.tmp')]
    load_model(out/'checkpoint.safetensors')


def test_too_little_space_fails_before_training(tmp_path, monkeypatch):
    import shutil
    monkeypatch.setattr(F.shutil, 'disk_usage', lambda p: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(OSError, match='MiB free'):
        fit(TrainConfig(**QUICK, out=str(tmp_path/'run'), epochs=1), quiet=True, log=lambda s: None)
    assert not (tmp_path/'run'/'history.jsonl').exists() and not (tmp_path/'run'/'checkpoint.safetensors').exists()


class Evil:
    def __init__(self, marker): self.marker = marker
    def __reduce__(self): return (os.system, (f'touch {self.marker}',))


def test_malicious_pickle_is_not_run(tmp_path):
    marker = tmp_path/'pwned'
    with open(tmp_path/'evil.pth', 'wb') as f: pickle.dump({'encoder.0.weight': Evil(marker)}, f)
    with pytest.raises(CheckpointError, match='refused or unreadable'):
        load_model(tmp_path/'evil.pth', model_cfg=VAE().config)
    assert not marker.exists()
    # a genuine state dict in a .pth loads (weights_only=True)
    m = VAE(); torch.save(m.state_dict(), tmp_path/'ok.pth')
    assert load_model(tmp_path/'ok.pth', model_cfg=m.config).config == m.config


def test_broken_weight_files(tmp_path):
    m = VAE(); C.save_model(m, tmp_path/'good.safetensors')
    good = (tmp_path/'good.safetensors').read_bytes()
    cases = {'truncated': good[:len(good) // 2], 'empty': b'', 'garbage': os.urandom(5000),
             'flipped-header': good[:8] + b'{' * 20 + good[28:]}
    for name, data in cases.items():
        (tmp_path/name).write_bytes(data)
        with pytest.raises(CheckpointError, match='not a readable safetensors file'): load_model(tmp_path/name)
    save_file({'w': torch.zeros(3)}, tmp_path/'foreign.safetensors')                  # someone else's safetensors
    with pytest.raises(CheckpointError, match='not a scratch_vae file'): load_model(tmp_path/'foreign.safetensors')
    C.save_model(VAE(latent_dim=16), tmp_path/'other.safetensors')
    with pytest.raises(CheckpointError, match='was trained with'): load_model(tmp_path/'other.safetensors', model_cfg=m.config)
    bad = {k: v.clone() for k, v in m.state_dict().items()}; bad['mu.bias'][0] = float('nan')
    C.save_safetensors(tmp_path/'nan.safetensors', bad, dict(kind='model', model=m.config))
    with pytest.raises(CheckpointError, match='non-finite values in mu.bias'): load_model(tmp_path/'nan.safetensors')
    st = {k: v for k, v in m.state_dict().items() if k != 'mu.bias'}
    C.save_safetensors(tmp_path/'missing.safetensors', st, dict(kind='model', model=m.config))
    with pytest.raises(CheckpointError, match='missing mu.bias'): load_model(tmp_path/'missing.safetensors')
