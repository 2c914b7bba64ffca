"""Data-parallel training under torchrun (gloo, 2 CPU processes) on real MNIST: equal to one process, rank 0 alone
writes, resume after a rank is killed, one job per run directory, impossible layouts refused, sharded evaluation."""
import json, os, signal, subprocess, sys, time
from pathlib import Path
import pytest
import torch
from safetensors.torch import load_file
from conftest import ROOT, DATA, run
import scratch_vae.train as T, scratch_vae.run as R
from scratch_vae.config import TrainConfig

BIN = Path(sys.executable).parent
MNIST = ['--dataset', 'mnist', '--data', str(DATA), '--quiet']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1'}          # 2 processes × 1 thread on the 2-core machine
# Tolerance. The two runs differ only in the order of float32 additions: one process sums a weight gradient over all
# 128 rows, two processes each sum 64 and the all-reduce adds the halves (and the weighted sums of the logged parts).
# Each such reordering changes a sum by a few units in the last place (2^-24 ≈ 6e-8 relative); Adam passes that on
# and 320 steps accumulate it. Measured on the 2-core AMD EPYC: max |Δθ| = 1.05e-6 and a relative difference of the
# logged numbers of 7e-8 (the one-process run with 1 or 2 threads is bit-identical, so that is the whole effect).
# We allow 10× that. A real fault (noise rows not matched, a missing 1/N, a skipped all-reduce) moves parameters
# by 1e-3 or more within a few steps.
PARAM_TOL, LOG_RTOL = 1e-5, 1e-6


def torchrun(*args, n=2, check=True, **kw):
    return run([str(BIN/'torchrun'), '--standalone', f'--nproc_per_node={n}', '-m', 'scratch_vae', 'train', *map(str, args)],
               check=check, cwd=ROOT, env=kw.pop('env', ENV), **kw)


def train(*args, check=True, **kw):
    return run([str(BIN/'scratch_vae_train'), *map(str, args)], check=check, cwd=ROOT, env=kw.pop('env', ENV), **kw)


def history(out): return [json.loads(l) for l in (out/'history.jsonl').read_text().splitlines()]


def max_param_diff(a, b):
    x, y = load_file(a/'model.safetensors'), load_file(b/'model.safetensors')
    assert x.keys() == y.keys()
    return max((x[k] - y[k]).abs().max().item() for k in x)


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    "The same 10-epoch run (4000 real MNIST images, batch 128: 320 steps) as 1 process and as 2 gloo processes."
    one, two = tmp_path_factory.mktemp('one'), tmp_path_factory.mktemp('two')
    args = [*MNIST, '--limit', 4000, '--epochs', 10]
    r1 = train(*args, '--out', one)
    r2 = torchrun(*args, '--out', two)
    return one, two, r1, r2


def test_two_processes_train_the_same_model_as_one(pair):
    one, two, _, _ = pair
    d = max_param_diff(one, two)
    assert d < PARAM_TOL, f"max |Δθ| = {d:.3g} after 320 steps"
    h1, h2 = history(one), history(two)
    assert len(h1) == len(h2) == 10
    for a, b in zip(h1, h2):
        for split in ('train', 'test'):
            for k in ('recon', 'kl', 'loss'):
                assert abs(a[split][k] - b[split][k]) <= LOG_RTOL * abs(a[split][k]), (a['epoch'], split, k, a[split][k], b[split][k])


def test_only_rank_0_logs_and_writes(pair):
    one, two, r1, r2 = pair
    assert sorted(p.name for p in two.iterdir()) == sorted(p.name for p in one.iterdir())
    assert (two/'.lock').read_text() == ''                              # released at the end
    for e in range(1, 11): assert r2.stdout.count(f"Epoch {e}, Recon Loss:") == 1, r2.stdout
    assert r2.stdout.count('Training mnist') == 1 and r2.stdout.count('wrote ') == r1.stdout.count('wrote ')


def test_a_rank_other_than_0_writes_nothing(tmp_path, monkeypatch):
    "Rank 1's view of a run, in one process: the training loop as rank 1 runs it, and not one file written."
    monkeypatch.setattr(R, 'is_main', lambda: False)
    out = tmp_path/'run'
    res = T.fit(TrainConfig(dataset='mnist', data=str(DATA), limit=1000, epochs=2, out=str(out)), quiet=True)
    assert not out.exists() and res['history'] == []


def _rank_pid(parent: int, rank: int, timeout=60) -> int:
    "The pid of torchrun's worker with RANK=`rank` (read from the workers' environments)."
    t = time.time()
    while time.time() - t < timeout:
        for p in Path('/proc').iterdir():
            if not p.name.isdigit(): continue
            try:
                env = (p/'environ').read_bytes().split(b'\0')
                if f'RANK={rank}'.encode() in env and f'TORCHELASTIC_RUN_ID'.encode() in b'\0'.join(env) \
                        and f'PPid:\t{parent}'.encode() in (p/'status').read_bytes(): return int(p.name)
            except OSError: continue
        time.sleep(0.2)
    raise TimeoutError(f"no worker of rank {rank} under pid {parent}")


LONG = [*MNIST, '--limit', 12000, '--epochs', 6]


@pytest.fixture(scope='module')
def ref6(tmp_path_factory):
    "An uninterrupted 2-process run of 6 epochs (12000 images): what interrupted runs must end up equal to."
    ref = tmp_path_factory.mktemp('ref6')
    torchrun(*LONG, '--out', ref)
    return ref


def _start(out):
    return subprocess.Popen([str(BIN/'torchrun'), '--standalone', '--nproc_per_node=2', '-m', 'scratch_vae', 'train', *map(str, LONG),
                             '--out', str(out)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_first_epoch(job, out):
    t = time.time()
    while not ((out/'history.jsonl').exists() and history(out)):
        assert job.poll() is None and time.time() - t < 120, "the job ended before its first epoch was written"
        time.sleep(0.1)


def test_a_killed_rank_fails_the_job_and_resume_continues_exactly(tmp_path, ref6):
    args, ref, out = LONG, ref6, tmp_path/'run'
    job = _start(out)
    try:
        _wait_for_first_epoch(job, out)
        os.kill(_rank_pid(job.pid, 1), signal.SIGKILL)
        output, _ = job.communicate(timeout=120)
    finally:
        if job.poll() is None: job.kill()
    assert job.returncode != 0, output
    assert 'rank 0: error: epoch ' in output and 'the all-reduce failed, so another process of the job has died' in output
    assert 'start the job again with --resume' in output and '[rank0]: Traceback' not in output, output   # one clear line
    done = len(history(out))
    assert 1 <= done < 6, output
    r = torchrun(*args, '--out', out, '--resume')                             # every rank reads the last checkpoint
    assert f"Resuming {out}" in r.stdout and r.stdout.count('Resuming') == 1
    assert len(history(out)) == 6
    assert max_param_diff(ref, out) == 0.0                                   # exactly the uninterrupted run
    assert [h['train'] for h in history(ref)] == [h['train'] for h in history(out)]


def test_a_second_job_on_the_same_run_directory_is_refused(tmp_path):
    out = tmp_path/'run'
    first = subprocess.Popen([str(BIN/'scratch_vae_train'), *MNIST, '--epochs', '4', '--out', str(out)],   # long enough to overlap
                             cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t = time.time()
        while not ((out/'.lock').exists() and (out/'.lock').read_text()):
            assert first.poll() is None and time.time() - t < 60, first.communicate()
            time.sleep(0.05)
        second = train(*MNIST, '--limit', 1000, '--epochs', 1, '--out', out, check=False)
        assert second.returncode == 2, second.stderr
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and 'is in use by another training job (pid' in lines[0], second.stderr
        assert f"pid {first.pid}" in lines[0]
        _, err = first.communicate(timeout=300)
        assert first.returncode == 0, err
    finally:
        if first.poll() is None: first.kill()
    assert len(history(out)) == 4                        # the first job's files, not interleaved with the second's


def test_a_lock_left_by_a_killed_job_is_taken_over(tmp_path):
    out = tmp_path/'run'
    job = subprocess.Popen([str(BIN/'scratch_vae_train'), *MNIST, '--limit', '20000', '--epochs', '3', '--out', str(out)],
                           cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t = time.time()
    while not ((out/'checkpoint.safetensors').exists()):
        assert job.poll() is None and time.time() - t < 120
        time.sleep(0.05)
    job.kill(); job.wait()                                                     # SIGKILL: no clean-up ran
    assert (out/'.lock').read_text().startswith(f"pid {job.pid}")
    r = train(*MNIST, '--limit', 20000, '--epochs', 3, '--out', out, '--resume')
    assert f"was locked by a job that died (pid {job.pid}" in r.stdout and 'taking it over' in r.stdout
    assert len(history(out)) == 3 and (out/'.lock').read_text() == ''


def test_impossible_layout_is_refused_with_the_fix(tmp_path):
    r = torchrun(*MNIST, '--limit', 1000, '--epochs', 1, '--batch-size', 101, '--out', tmp_path/'run', check=False)
    assert r.returncode != 0
    assert '--batch-size 101 is the global batch and must be divisible by the 2 processes' in r.stderr + r.stdout
    assert 'use 100 or 102' in r.stderr + r.stdout
    assert not (tmp_path/'run').exists()


def test_evaluation_is_shared_over_ranks(tmp_path):
    "Two ranks take half the images each (rank r's noise seeded seed + r); the gathered result is their average."
    from scratch_vae.checkpoint import load_model
    from scratch_vae.data import load_mnist
    out = tmp_path/'ev'
    r = run([str(BIN/'torchrun'), '--standalone', '--nproc_per_node=2', str(BIN/'scratch_vae_evaluate'), '--weights',
             'pretrained:mnist-seed', '--data', str(DATA), '--limit', '200', '--k', '50', '--out', str(out)], cwd=ROOT, env=ENV)
    assert r.stdout.count('NLL (k=50)') >= 1 and r.stdout.count('wrote ') == 1
    ev = json.loads((out/'evaluation.json').read_text())
    assert ev['n_images'] == 200 and ev['processes'] == 2
    m, x = load_model('pretrained:mnist-seed'), load_mnist('test', root=DATA)[0][:200]
    from scratch_vae.evaluate import evaluate
    halves = [evaluate(m, x[:100], k=50, seed=0), evaluate(m, x[100:], k=50, seed=1)]
    for key in ('elbo', 'recon', 'kl', 'nll'):
        assert abs(ev[key] - (halves[0][key] + halves[1][key]) / 2) < 1e-3, key


def test_the_pictures_are_drawn_while_the_lock_is_held(tmp_path):
    "The CLI draws its pictures in `fit`'s `finish`, before the lock is released: no window for a second job."
    out, seen = tmp_path/'run', []
    T.fit(TrainConfig(dataset='mnist', data=str(DATA), limit=1000, epochs=1, out=str(out)), quiet=True, log=lambda s: None,
          finish=lambda model, interrupted: seen.append(((out/'.lock').read_text(), interrupted)))
    assert len(seen) == 1 and seen[0][0].startswith(f"pid {os.getpid()}") and seen[0][1] is False
    assert (out/'.lock').read_text() == ''


def test_a_signal_to_one_rank_stops_all_at_the_same_step_and_resume_is_exact(tmp_path, ref6):
    "SIGTERM to rank 1 alone: the stop request rides on the next all-reduce, rank 0 writes a mid-epoch checkpoint."
    out = tmp_path/'run'
    job = _start(out)
    try:
        _wait_for_first_epoch(job, out)
        os.kill(_rank_pid(job.pid, 1), signal.SIGTERM)
        output, _ = job.communicate(timeout=120)
    finally:
        if job.poll() is None: job.kill()
    assert job.returncode != 0
    assert output.count('interrupted: SIGTERM during epoch') == 2, output          # both ranks, the same step
    assert len({l.split('(step ')[1].split(')')[0] for l in output.splitlines() if 'interrupted: SIGTERM' in l}) == 1, output
    from scratch_vae.checkpoint import read_header
    meta = read_header(out/'checkpoint.safetensors')[1]
    assert meta['step'] > 0, meta                                                    # a mid-epoch checkpoint
    r = torchrun(*LONG, '--out', out, '--resume')
    assert f"epoch {meta['epoch'] + 1}, step {meta['step']}" in r.stdout
    assert max_param_diff(ref6, out) == 0.0
    assert [h['train'] for h in history(ref6)] == [h['train'] for h in history(out)]
