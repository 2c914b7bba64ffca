"""The console commands, as a user runs them: real (Fashion-MNIST) data, every output file, resume, clear errors."""
import json, os, re, socket, stat, sys
from pathlib import Path
import pytest
from conftest import ROOT, DATA, FASHION, run

BIN = Path(sys.executable).parent
FILES = ['model.safetensors', 'checkpoint.safetensors', 'config.json', 'history.jsonl', 'loss_curve.png',
         'reconstructions.png', 'samples.png', 'interpolation.png', 'latent_scatter.png']
QUICK = ['--dataset', 'fashion-mnist', '--data', str(FASHION), '--limit', '3000', '--quiet']


def cli(name, *args, check=True, **kw):
    return run([str(BIN/name), *map(str, args)], check=check, cwd=kw.pop('cwd', ROOT), **kw)


def history(out): return [json.loads(l) for l in (out/'history.jsonl').read_text().splitlines()]


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp('run')
    r = cli('scratch_vae_train', *QUICK, '--epochs', 1, '--out', out, preexec_fn=lambda: os.umask(0o027))
    return out, r


def test_files_respect_the_umask(trained):
    out, _ = trained
    modes = {f.name: stat.S_IMODE(f.stat().st_mode) for f in out.iterdir()}
    assert set(modes.values()) == {0o640}, modes        # 0666 minus the umask 027, like any other write (not mkstemp's 0600)


def test_train_writes_everything(trained):
    out, r = trained
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith('.')) == sorted(FILES)
    assert 'Epoch 1, Recon Loss: ' in r.stdout and 'nats/image' in r.stdout
    for f in FILES:
        if f.endswith('.png'): assert (out/f).read_bytes()[:8] == b'\x89PNG\r\n\x1a\n', f
    cfg = json.loads((out/'config.json').read_text())
    assert (cfg['dataset'], cfg['latent_dim'], cfg['hidden_dims'], cfg['epochs'], cfg['limit']) == ('fashion-mnist', 8, [256], 1, 3000)
    h = history(out)
    assert len(h) == 1 and h[0]['epoch'] == 1 and 0 < h[0]['test']['loss'] < 543   # learned something in 1 epoch


def test_files_load_back(trained):
    from scratch_vae.checkpoint import load_model, load_safetensors
    out, _ = trained
    m = load_model(out)
    assert m.config == dict(input_dim=784, hidden_dims=[256], latent_dim=8, activation='sigmoid')
    _, meta = load_safetensors(out/'checkpoint.safetensors')
    assert (meta['kind'], meta['epoch'], meta['step']) == ('checkpoint', 1, 0)


def test_resume_continues_exactly(tmp_path):
    a, b = tmp_path/'a', tmp_path/'b'
    cli('scratch_vae_train', *QUICK, '--epochs', 3, '--out', a, '--seed', 5)
    cli('scratch_vae_train', *QUICK, '--epochs', 1, '--out', b, '--seed', 5)
    r = cli('scratch_vae_train', '--epochs', 3, '--resume', '--out', b, '--data', FASHION, '--quiet')  # settings from the checkpoint
    assert 'Epoch 1,' not in r.stdout and 'Epoch 2,' in r.stdout and 'Epoch 3,' in r.stdout
    assert [l for l in r.stdout.splitlines() if l.startswith('Resuming')] == [f"Resuming {b} from its checkpoint: epoch 2, step 0 (1 epochs done)"]
    strip = lambda h: [(e['epoch'], e['train'], e['test']) for e in h]
    assert strip(history(b)) == strip(history(a))
    r = cli('scratch_vae_train', '--epochs', 3, '--resume', '--out', b, '--data', FASHION, '--quiet')
    assert 'nothing to do' in r.stdout and len(history(b)) == 3
    r = cli('scratch_vae_train', '--epochs', 4, '--resume', '--out', b, '--latent-dim', 4, check=False)
    assert r.returncode == 2 and 'latent_dim: 8 → 4' in r.stderr


def test_evaluate(trained):
    out, _ = trained
    r = cli('scratch_vae_evaluate', '--out', out, '--dataset', 'fashion-mnist', '--data', FASHION, '--k', 20, '--limit', 300)
    ev = json.loads((out/'evaluation.json').read_text())
    assert ev['n_images'] == 300 and ev['k'] == 20 and ev['units'] == 'nats per image'
    assert ev['nll'] < -ev['elbo'] + 1.0 and ev['recon'] > 0 and ev['kl'] > 0
    assert 'NLL (k=20)' in r.stdout
    ticks = re.findall(r'^NLL \(k=20\): (\d+)/(\d+) batches \((\d+)%\), .* elapsed, ETA ', r.stdout, re.M)   # not a terminal: lines
    assert len(ticks) == 3 and ticks[-1] == ('3', '3', '100'), r.stdout


def test_pictures(trained, tmp_path):
    out, _ = trained
    cli('scratch_vae_reconstruct', '--out', out, '--dataset', 'fashion-mnist', '--data', FASHION, '--file', tmp_path/'r.png')
    cli('scratch_vae_sample', '--out', out, '--n', 16, '--nrow', 4, '--file', tmp_path/'s.png')
    from PIL import Image
    assert Image.open(tmp_path/'r.png').size[0] > 300 and Image.open(tmp_path/'s.png').size[0] > 100


@pytest.mark.parametrize('args,msg', [
    (['--lr', '-1'], '--lr (lr=-1.0)'),
    (['--dataset', 'cifar'], "dataset='cifar'"),
    (['--latent-dim', '0'], 'latent_dim=0'),
    (['--hidden-dim', '256,x'], '--hidden-dim must be integers'),
    (['--binarize', 'maybe'], "binarize='maybe'"),
    (['--device', 'banana'], 'unknown device'),
    (['--epochs', 'many'], "invalid int value: 'many'"),
    (['--no-such-flag'], 'unrecognized arguments'),
])
def test_bad_flags(args, msg, tmp_path):
    r = cli('scratch_vae_train', *QUICK, '--out', tmp_path/'o', *args, check=False)
    assert r.returncode == 2 and msg in r.stderr, r.stderr
    assert 'Traceback' not in r.stderr


def test_missing_run_and_unwritable_out(tmp_path):
    r = cli('scratch_vae_evaluate', '--out', tmp_path/'nope', check=False)
    assert r.returncode == 2 and 'no such run directory' in r.stderr and 'Traceback' not in r.stderr
    (tmp_path/'file').write_text('x')
    r = cli('scratch_vae_train', *QUICK, '--out', tmp_path/'file'/'sub', check=False)
    assert r.returncode == 2 and 'not writable' in r.stderr


def test_module_entry_point_and_help():
    r = run([sys.executable, '-m', 'scratch_vae', 'train', '--help'], cwd=ROOT)
    for flag in ('--epochs', '--batch-size', '--lr', '--latent-dim', '--hidden-dim', '--beta', '--dataset', '--binarize',
                 '--data', '--out', '--seed', '--device', '--resume', '--quiet'):
        assert flag in r.stdout, flag
    assert '_given' not in r.stdout and '`' not in r.stdout
    r = run([sys.executable, '-m', 'scratch_vae', '--help'], cwd=ROOT)
    assert [l.split()[0] for l in r.stdout.splitlines() if l.startswith('  ')] == ['train', 'evaluate', 'reconstruct', 'sample']


@pytest.mark.parametrize('name', ['scratch_vae_train', 'scratch_vae_evaluate', 'scratch_vae_reconstruct', 'scratch_vae_sample'])
def test_help_lists_each_flag_once(name):
    r = cli(name, '--help')
    options = r.stdout[r.stdout.index('options:'):]
    flags = re.findall(r'^  (--[\w-]+)', options, re.M)
    assert len(flags) > 3 and len(flags) == len(set(flags)), flags
    assert not [f for f in flags if '_' in f], flags                 # dashes only: no --batch_size twin
    assert not re.search(r'^  --\S+ \S+, --', options, re.M)          # one spelling per line
    assert '`' not in r.stdout                                        # plain text, not Markdown
    if name == 'scratch_vae_train':
        assert '--hidden-dims' in flags and '--batch-size' in flags and '--resume' in flags
        assert 'SCRATCH_VAE_EPOCHS' in r.stdout


def test_resume_without_checkpoint_is_an_error(tmp_path):
    r = cli('scratch_vae_train', *QUICK, '--out', tmp_path/'typo', '--resume', check=False)
    assert r.returncode == 2 and f"no checkpoint in {tmp_path/'typo'}/" in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'typo').exists()                            # nothing written, nothing started


def test_missing_data_names_every_file_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from scratch_vae import cli as C, data as D
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()     # nothing listens here
    monkeypatch.setitem(D.DATASETS['mnist'], 'mirrors', [f'http://127.0.0.1:{port}/'])
    monkeypatch.delenv('SCRATCH_VAE_DATA', raising=False); monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e: C.train_cli(['--data', str(tmp_path/'empty'), '--out', str(tmp_path/'run'), '--quiet'])
    err = capsys.readouterr().err
    assert e.value.code == 2 and 'Traceback' not in err
    for name in D.DATASETS['mnist']['files']: assert name in err, name          # train and test, all at once
    assert f"mkdir -p {tmp_path/'empty'/'mnist'} && cp " in err
    assert not (tmp_path/'run').exists()


def test_epochs_from_the_environment(tmp_path):
    r = cli('scratch_vae_train', *QUICK, '--out', tmp_path/'o', env=os.environ | {'SCRATCH_VAE_EPOCHS': '1'})
    assert 'Epoch 1,' in r.stdout and 'Epoch 2,' not in r.stdout
