"""A run directory is a vault (issue 20): links, slips and damage can't destroy a user's work or write outside --out."""
import hashlib, json, os, signal, subprocess, sys, threading, time
from pathlib import Path
import pytest
from conftest import ROOT, DATA

BIN = Path(sys.executable).parent
TINY = ['--data', str(DATA), '--limit', '600', '--epochs', '1', '--quiet']


def cli(name, *args, check=True, **kw):
    r = subprocess.run([str(BIN/name), *map(str, args)], capture_output=True, text=True, timeout=300, **kw)
    if check: assert r.returncode == 0, r.stderr[-3000:]
    return r


def one_line_error(r, *words):
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    assert 'Traceback' not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    for w in words: assert w in r.stderr, (w, r.stderr)


@pytest.fixture(scope='module')
def done(tmp_path_factory):
    "A finished one-epoch run."
    out = tmp_path_factory.mktemp('vault')/'run'
    cli('scratch_vae_train', *TINY, '--out', out)
    return out


def snapshot(d): return {p.name: p.read_bytes() for p in Path(d).iterdir() if p.is_file() and not p.is_symlink()}


@pytest.mark.parametrize('kind', ['symlink', 'hardlink', 'dangling'])
def test_lock_links_are_refused_and_their_targets_untouched(kind, tmp_path):
    victim, out = tmp_path/'victim.txt', tmp_path/'run'
    victim.write_text('precious'); out.mkdir()
    if kind == 'symlink': (out/'.lock').symlink_to(victim)
    elif kind == 'hardlink': os.link(victim, out/'.lock')
    else: (out/'.lock').symlink_to(tmp_path/'created-by-us')
    r = cli('scratch_vae_train', *TINY, '--out', out, check=False)
    one_line_error(r, 'is not a plain file of its own')
    assert victim.read_text() == 'precious' and not (tmp_path/'created-by-us').exists()
    assert sorted(p.name for p in out.iterdir()) == ['.lock']


def test_a_new_run_does_not_replace_a_finished_one(done):
    before = snapshot(done)
    r = cli('scratch_vae_train', *TINY, '--out', done, check=False)
    one_line_error(r, 'already holds a run', '--resume', '--overwrite')
    assert snapshot(done) == before


def test_overwrite_starts_over(tmp_path, done):
    out = tmp_path/'copy'; out.mkdir()
    for n, b in snapshot(done).items(): (out/n).write_bytes(b)
    (out/'history.jsonl').write_text(''.join(json.dumps(dict(epoch=i)) + '\n' for i in range(1, 10)))
    cli('scratch_vae_train', *TINY, '--out', out, '--overwrite')
    assert [json.loads(l)['epoch'] for l in (out/'history.jsonl').read_text().splitlines()] == [1]


def test_start_removes_only_its_own_dead_writers_files(tmp_path, done):
    out = tmp_path/'run'; out.mkdir()
    for n, b in snapshot(done).items(): (out/n).write_bytes(b)
    dead = subprocess.run([sys.executable, '-c', 'import os; print(os.getpid())'], capture_output=True, text=True).stdout.strip()
    ours_dead, others = f'.history.jsonl.scratch_vae-{dead}-x1abcd_9.tmp', ['.evaluation.json.abc.tmp', '.notes.tmp',
                                                                     f'.model.safetensors.scratch_vae-{os.getpid()}-live.tmp']
    for n in [ours_dead, *others]: (out/n).write_text('x')
    cli('scratch_vae_train', *TINY, '--out', out, '--resume', '--epochs', 2)
    assert not (out/ours_dead).exists() and all((out/n).read_text() == 'x' for n in others)


def test_weights_outputs_go_to_a_place_of_their_own(tmp_path):
    (tmp_path/'runs'/'mnist').mkdir(parents=True)
    (tmp_path/'runs'/'mnist'/'evaluation.json').write_text('{"elbo": -150.02}')
    cli('scratch_vae_evaluate', '--weights', 'pretrained:mnist-seed', '--data', DATA, '--limit', 20, '--k', 2, cwd=tmp_path)
    cli('scratch_vae_sample', '--weights', 'pretrained:mnist-seed', '--n', 4, cwd=tmp_path)
    assert (tmp_path/'runs'/'mnist'/'evaluation.json').read_text() == '{"elbo": -150.02}'
    assert sorted(p.name for p in (tmp_path/'runs'/'mnist').iterdir()) == ['evaluation.json']
    own = tmp_path/'runs'/'weights'/'pretrained-mnist-seed'
    res = json.loads((own/'evaluation.json').read_text())
    shipped = ROOT/'weights'/'mnist-seed'/'model.safetensors'
    assert res['weights'] == dict(path='weights/mnist-seed/model.safetensors', sha256=hashlib.sha256(shipped.read_bytes()).hexdigest())
    assert (own/'samples.png').exists()


def flip(path, offset):
    b = bytearray(path.read_bytes()); b[offset] ^= 0x01; path.write_bytes(bytes(b))


@pytest.mark.parametrize('where', ['epoch', 'step', 'weight', 'lr'])
def test_a_damaged_checkpoint_is_refused(where, tmp_path, done):
    out = tmp_path/'run'; out.mkdir()
    for n, b in snapshot(done).items(): (out/n).write_bytes(b)
    ck = out/'checkpoint.safetensors'; raw = ck.read_bytes()
    if where == 'weight': flip(ck, len(raw) - 2)
    else:
        key = {'epoch': b'"epoch": 1', 'step': b'"step": 0', 'lr': b'"lr": 0.001'}[where]
        i = raw.index(key.replace(b'"', b'\\"')) + len(key) + 1      # the metadata JSON is a string inside the header
        flip(ck, i if where != 'lr' else i - 2)                          # 1 → 0, 0 → 1, 0.001 → 0.101: still valid JSON
    before = snapshot(out)
    r = cli('scratch_vae_train', *TINY, '--out', out, '--resume', '--epochs', 3, check=False)
    one_line_error(r, 'checkpoint.safetensors', 'checksum mismatch')
    assert snapshot(out) == before


@pytest.mark.parametrize('text,why', [('5\n', 'line 1: not an epoch record'), ('{"foo": 1}\n', 'not an epoch record'),
                                      ('{"epoch": "4"}\n', 'not an epoch record'), ('garbage\n', 'line 1: not strict JSON'),
                                      ('{"epoch": 1}\n{"epoch": 1}\n', 'line 2: epoch 1 where epoch 2 should be')])
def test_a_broken_history_is_one_line_and_frees_the_lock(text, why, tmp_path, done):
    out = tmp_path/'run'; out.mkdir()
    for n, b in snapshot(done).items(): (out/n).write_bytes(b)
    (out/'history.jsonl').write_text(text)
    r = cli('scratch_vae_train', *TINY, '--out', out, '--resume', '--epochs', 2, check=False)
    one_line_error(r, str(out/'history.jsonl'), why)
    assert (out/'.lock').read_text() == ''                               # no live pid claimed by a job that has gone


@pytest.mark.parametrize('args,why', [(['--device', 'meta'], 'use cpu, cuda, mps or auto'), (['--device', 'gpu'], 'use cpu, cuda, mps or auto'),
                                      (['--hidden-dims', '10000000'], 'parameters, more than'), (['--latent-dim', '1000000000'], 'at most'),
                                      (['--k', '100000'], 'decoded images per step'), (['--hidden-dims', ','.join(['8'] * 65)], 'at most 64'),
                                      (['--seed', '100000000000000'], '--seed'), (['--batch-size', '-1'], '--batch-size')])
def test_bad_settings_fail_up_front(args, why, tmp_path):
    r = cli('scratch_vae_train', *TINY, '--out', tmp_path/'o', *args, check=False)
    one_line_error(r, why)
    assert not (tmp_path/'o').exists()


def test_epochs_from_the_environment_are_bounded(tmp_path):
    r = cli('scratch_vae_train', *TINY[:-3], '--quiet', '--out', tmp_path/'o', check=False, env=os.environ | {'SCRATCH_VAE_EPOCHS': str(10**9)})
    one_line_error(r, '--epochs', 'at most 1,000,000')


def test_weights_read_while_rewritten_never_crash(tmp_path):
    "Loading must not map the file: `cp` over it mid-read would raise SIGBUS. Damage shows as a one-line error at worst."
    src = ROOT/'weights'/'mnist-seed'/'model.safetensors'; f = tmp_path/'m.safetensors'; f.write_bytes(src.read_bytes())
    data, stop = src.read_bytes(), threading.Event()
    def rewrite():
        while not stop.is_set():
            with open(f, 'r+b') as h: h.truncate(0); h.write(data)
    t = threading.Thread(target=rewrite); t.start()
    code = f"from scratch_vae.checkpoint import load_model, CheckpointError\nfor _ in range(40):\n  try: load_model({str(f)!r})\n  except CheckpointError: pass"
    try: r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    finally: stop.set(); t.join()
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])              # -7 would be SIGBUS


def test_non_utf8_out_is_refused_up_front(tmp_path):
    out = os.fsencode(tmp_path) + b'/run\xff'
    r = subprocess.run([str(BIN/'scratch_vae_train'), *TINY, '--out', out], capture_output=True, text=True, timeout=120)
    one_line_error(r, 'not valid UTF-8')
    assert list(tmp_path.iterdir()) == []


def test_an_ascii_terminal_gets_output_not_a_crash(tmp_path):
    env = os.environ | {'PYTHONIOENCODING': 'ascii'}
    r = cli('scratch_vae_train', *TINY, '--out', tmp_path/'run', env=env)
    assert 'Training mnist' in r.stdout
    r = cli('scratch_vae_evaluate', '--out', tmp_path/'run', '--data', DATA, '--limit', 10, '--k', 2, env=env)
    assert 'nats per image' in r.stdout


def test_evaluation_json_is_strict_json(tmp_path, done):
    cli('scratch_vae_evaluate', '--out', done, '--data', DATA, '--limit', 1, '--k', 2)
    def refuse(c): raise ValueError(c)
    res = json.loads((done/'evaluation.json').read_text(), parse_constant=refuse)
    assert res['nll_sem'] is None and 'nll_sem' in res.get('why_null', {})


@pytest.mark.parametrize('cmd', ['scratch_vae_evaluate', 'scratch_vae_sample', 'scratch_vae_reconstruct'])
def test_unwritable_out_fails_before_any_work(cmd, tmp_path):
    (tmp_path/'afile').write_text('x')
    r = cli(cmd, '--weights', 'pretrained:mnist-seed', '--data', DATA, '--out', tmp_path/'afile', check=False)
    one_line_error(r, f"{tmp_path/'afile'} is a file; --out takes a directory")
    ro = Path('/sys/scratch_vae_test')                                    # sysfs: read-only even for root
    if os.access('/sys', os.W_OK) and not Path('/sys').stat().st_dev == 0:
        r = cli(cmd, '--weights', 'pretrained:mnist-seed', '--data', DATA, '--out', ro, check=False)
        one_line_error(r, 'is not writable')


def test_a_checkpoint_config_with_an_unknown_key_is_one_line(tmp_path, done):
    "A checkpoint written before checksums (none in its metadata), whose config has a renamed key."
    import json as J
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open
    out = tmp_path/'run'; out.mkdir()
    for n, b in snapshot(done).items(): (out/n).write_bytes(b)
    ck = out/'checkpoint.safetensors'
    with safe_open(ck, 'pt') as f: md = f.metadata()
    meta = J.loads(md['meta']); meta['config']['epochr'] = meta['config'].pop('epochs')
    save_file(load_file(ck), ck, metadata={'format': md['format'], 'meta': J.dumps(meta)})   # no sha256: an older file
    r = cli('scratch_vae_train', *TINY, '--out', out, '--resume', '--epochs', 3, check=False)
    one_line_error(r, str(ck), "unknown: ['epochr']")


def test_history_with_infinities_is_strict_json(tmp_path):
    out = tmp_path/'run'
    r = cli('scratch_vae_train', *TINY, '--out', out, '--on-nan', 'skip', '--lr', '1e30', check=False)
    assert r.returncode == 0 and 'Traceback' not in r.stderr, r.stderr          # lr 1e30: the test set's KL overflows
    def refuse(c): raise ValueError(c)
    hist = [json.loads(line, parse_constant=refuse) for line in (out/'history.jsonl').read_text().splitlines()]
    assert None in hist[0]['test'].values() and 'not finite' in hist[0]['why_null']
