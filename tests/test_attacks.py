"""Issue 36's attacks: checks that can't be switched off, decisions under the lock, validation before deletion,
memory bounded before it is spent, and one line (exit 2) instead of a hang or a traceback."""
import json, os, resource, shutil, subprocess, sys, time
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file, save_file
from safetensors import safe_open
from conftest import ROOT, DATA
from test_vault import cli, one_line_error, TINY, snapshot
import scratch_vae.files as F
from scratch_vae.checkpoint import load_model, CheckpointError, seal
from scratch_vae.files import weights_folder
from scratch_vae.config import TrainConfig
from scratch_vae.train import prepare_run

GIB = 2**30


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    "A finished one-epoch run and a finished two-epoch run of the same settings."
    base = tmp_path_factory.mktemp('attacks')
    cli('scratch_vae_train', *TINY, '--out', base/'one')
    cli('scratch_vae_train', *TINY[:-3], '--epochs', '2', '--quiet', '--out', base/'two')
    return base


def copy_run(src, dst): shutil.copytree(src, dst, ignore=shutil.ignore_patterns('*.png', '.lock')); return dst


def record(d): return {n: b for n, b in snapshot(d).items() if n != '.lock'}      # the run's files, its lock aside


def strip_and_zero(path):
    "Remove the file's sha256 and zero every weight: the attack that used to switch the check off."
    with safe_open(path, 'pt') as f: md = f.metadata()
    tensors = {k: torch.zeros_like(v) if k.startswith(('model.', 'encoder', 'decoder', 'mu', 'logvar')) else v
               for k, v in load_file(path).items()}
    save_file(tensors, path, metadata={k: v for k, v in md.items() if k != 'sha256'})


def test_a_file_without_its_checksum_is_refused(runs, tmp_path):
    run = copy_run(runs/'one', tmp_path/'run')
    strip_and_zero(run/'model.safetensors')
    with pytest.raises(CheckpointError, match='has no SHA-256 checksum'): load_model(run/'model.safetensors')
    r = cli('scratch_vae_sample', '--out', run, '--n', 4, check=False)
    one_line_error(r, str(run/'model.safetensors'), 'no SHA-256 checksum', 'seal(')
    strip_and_zero(run/'checkpoint.safetensors')
    r = cli('scratch_vae_train', *TINY, '--out', run, '--resume', '--epochs', 2, check=False)
    one_line_error(r, str(run/'checkpoint.safetensors'), 'no SHA-256 checksum')
    seal(run/'model.safetensors')                                   # accepted on purpose: the zeroed model loads
    assert all((p == 0).all() for p in load_model(run/'model.safetensors').parameters())


def test_every_shipped_file_carries_its_checksum():
    files = sorted((ROOT/'weights').rglob('*.safetensors'))
    assert len(files) >= 10
    for p in files:
        with safe_open(p, 'pt') as f: assert 'sha256' in f.metadata(), p


def test_a_fresh_run_decides_under_the_lock(runs, tmp_path, monkeypatch):
    "Another job finishes a run in the directory between this job's first check and its lock: nothing is wiped."
    out = tmp_path/'run'
    acquire = F.RunLock.acquire
    def finished_meanwhile(self):
        copy_run(runs/'two', out); return acquire(self)
    monkeypatch.setattr(F.RunLock, 'acquire', finished_meanwhile)
    before = None
    with pytest.raises(FileExistsError, match='already holds a run'):
        prepare_run(TrainConfig(data=str(DATA), limit=600, epochs=1, out=str(out)), torch.device('cpu'), log=lambda s: None)
    assert len((out/'history.jsonl').read_text().splitlines()) == 2


def test_resume_reads_the_checkpoint_under_the_lock(runs, tmp_path, monkeypatch):
    "A --resume that read its checkpoint (epoch 1) while another job took the run to epoch 2 continues from epoch 2."
    out = copy_run(runs/'one', tmp_path/'run')
    acquire = F.RunLock.acquire
    def advanced_meanwhile(self):
        for n in ('checkpoint.safetensors', 'history.jsonl'): shutil.copy(runs/'two'/n, out/n)
        return acquire(self)
    monkeypatch.setattr(F.RunLock, 'acquire', advanced_meanwhile)
    run = prepare_run(TrainConfig(data=str(DATA), limit=600, epochs=3, out=str(out)), torch.device('cpu'), resume=True,
                      log=lambda s: None)
    run.lock.release()
    assert (run.epoch, len(run.history)) == (2, 2)


def test_overwrite_checks_before_it_deletes(runs, tmp_path):
    run = copy_run(runs/'one', tmp_path/'run'); (run/'stage-0004.safetensors').mkdir()
    before = record(run)
    r = cli('scratch_vae_train', *TINY, '--out', run, '--overwrite', check=False)
    one_line_error(r, 'stage-0004.safetensors is not a file', 'nothing was deleted')
    assert record(run) == before


def test_seeds_check_every_seed_before_writing_any(runs, tmp_path):
    out = tmp_path/'seeds'
    for s in (0, 1): copy_run(runs/'one', out/f'seed-{s}')
    before = {s: record(out/f'seed-{s}') for s in (0, 1)}
    r = cli('scratch_vae_train', *TINY, '--out', out, '--seeds', '0,1', '--overwrite', '--activation', 'gelu', check=False)
    one_line_error(r, '--seeds needs the hand-derived step')
    assert {s: record(out/f'seed-{s}') for s in (0, 1)} == before
    shutil.rmtree(out); copy_run(runs/'one', out/'seed-2')
    r = cli('scratch_vae_train', *TINY, '--out', out, '--seeds', '0,1,2', check=False)
    one_line_error(r, 'seed-2 already holds a run')
    assert not (out/'seed-0'/'config.json').exists() and not (out/'seed-1'/'config.json').exists()


def test_trailing_bytes_are_refused_before_they_are_read(runs, tmp_path):
    p = tmp_path/'padded.safetensors'; shutil.copy(runs/'one'/'model.safetensors', p)
    with open(p, 'r+b') as f: f.truncate(p.stat().st_size + 4 * GIB)      # sparse: 4 GiB that cost no disk
    t = time.perf_counter()
    with pytest.raises(CheckpointError, match='4,294,967,296 trailing bytes'): load_model(p)
    assert time.perf_counter() - t < 5


def limited(gib):
    return lambda: resource.setrlimit(resource.RLIMIT_AS, (gib * GIB, gib * GIB))


@pytest.mark.parametrize('flags, words', [
    (['--seeds', ','.join(map(str, range(100))), '--hidden-dims', '4000'], ['fewer --seeds']),
    (['--latent-dim', '65536'], ['GiB at its peak', '--latent-dim']),
    (['--k', '262144', '--batch-size', '1', '--latent-dim', '65536'], ['GiB at its peak', '--k']),
    (['--hidden-dims', '80000'], ['GiB at its peak', '--hidden-dims']),
])
def test_memory_is_bounded_up_front(flags, words, tmp_path):
    out = tmp_path/'run'
    r = subprocess.run([str(Path(sys.executable).parent/'scratch_vae_train'), *TINY, '--out', str(out), *flags],
                       capture_output=True, text=True, timeout=300, preexec_fn=limited(4))
    one_line_error(r, *words)
    assert not out.exists() or not any(out.rglob('*.json'))


def test_a_fifo_lock_is_refused_at_once(tmp_path):
    out = tmp_path/'run'; out.mkdir(); os.mkfifo(out/'.lock')
    r = cli('scratch_vae_train', *TINY, '--out', out, check=False)
    one_line_error(r, '.lock', 'not a regular file')


@pytest.mark.parametrize('line, why', [
    ('{"epoch": 1, "train": "hello", "test": {}}', 'not an epoch record'),
    ('{"epoch": 1, "train": {"loss": NaN}}', 'NaN is not a number'),
    ('[' * 50_000, 'not strict JSON'),
    ('{"epoch": 1, "seconds": ' + '9' * 5000 + '}', 'not strict JSON'),
])
def test_a_damaged_history_is_one_line(line, why, runs, tmp_path):
    run = copy_run(runs/'one', tmp_path/'run'); (run/'history.jsonl').write_text(line + '\n')
    r = cli('scratch_vae_train', *TINY, '--out', run, '--resume', '--epochs', 2, check=False)
    one_line_error(r, str(run/'history.jsonl'), why)


def test_a_checkpoint_at_an_impossible_epoch_is_one_line(runs, tmp_path):
    from scratch_vae.checkpoint import load_safetensors, save_safetensors
    run = copy_run(runs/'one', tmp_path/'run'); ck = run/'checkpoint.safetensors'
    tensors, meta = load_safetensors(ck); save_safetensors(ck, tensors, meta | dict(epoch=-5))
    r = cli('scratch_vae_train', *TINY, '--out', run, '--resume', '--epochs', 2, check=False)
    one_line_error(r, str(ck), 'impossible place in training', '--overwrite')


def test_weights_folders_are_one_to_one_and_never_the_parent():
    names = ['a/b', 'a-b', '.', '..', '/', 'pretrained:mnist-seed', 'pretrained-mnist-seed', 'x' * 300, 'x' * 301]
    folders = [weights_folder(n) for n in names]
    assert len(set(folders)) == len(names), folders
    assert all(f not in ('', '.', '..') and '/' not in f and len(f) < 255 for f in folders)
    assert weights_folder('pretrained:mnist-seed') == 'pretrained-mnist-seed'


def test_the_collective_timeout_is_configurable(monkeypatch):
    from scratch_vae.distributed import collective_timeout
    assert collective_timeout().total_seconds() == 300
    monkeypatch.setenv('SCRATCH_VAE_DIST_TIMEOUT', '7.5'); assert collective_timeout().total_seconds() == 7.5
    monkeypatch.setenv('SCRATCH_VAE_DIST_TIMEOUT', 'soon')
    with pytest.raises(ValueError, match='SCRATCH_VAE_DIST_TIMEOUT must be a number'): collective_timeout()
