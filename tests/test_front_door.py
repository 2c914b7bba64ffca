"""The command line's front door: `--help` and flag errors answer at once (no torch, no matplotlib), every command says
what it is doing at once, Ctrl-C names what it interrupted and leaves nothing behind, a finished run resumed changes
nothing, and `python -m scratch_vae` / `import scratch_vae` offer the commands and the main names."""
import os, signal, subprocess, sys, time
from pathlib import Path
import pytest
from conftest import ROOT, DATA, run

BIN = Path(sys.executable).parent
COMMANDS = ['train', 'evaluate', 'reconstruct', 'sample']
ENV = os.environ | {'OMP_NUM_THREADS': '1'}


@pytest.mark.parametrize('name', COMMANDS)
@pytest.mark.parametrize('argv', [['--help'], ['--no-such-flag'], ['--seed', 'x']])
def test_help_and_flag_errors_load_no_torch(name, argv):
    r = run([sys.executable, '-c', f"""
import sys, contextlib, io
from scratch_vae import cli
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
    try: cli.{name}_cli({argv!r})
    except SystemExit as e: code = e.code
print(code, [m for m in ('torch', 'matplotlib', 'numpy') if m in sys.modules], (err.getvalue().splitlines() or [''])[-1])"""], cwd=ROOT)
    code, loaded, last = r.stdout.split(' ', 1)[0], r.stdout.split(' [', 1)[1].split(']')[0], r.stdout.split('] ', 1)[1].strip()
    assert code == ('0' if argv == ['--help'] else '2'), r.stdout
    assert loaded == '', f"{name} {argv} imported {loaded}"
    if argv != ['--help']: assert last.startswith(f'scratch_vae_{name}: error: '), r.stdout     # usage, then one error line


def best_of(n, cmd):
    times = []
    for _ in range(n):
        t = time.perf_counter(); subprocess.run(cmd, capture_output=True, cwd=ROOT); times.append(time.perf_counter() - t)
    return min(times)


def test_a_typo_is_refused_in_well_under_a_second():
    for cmd in (['scratch_vae_train', '--epohcs', '3'], ['scratch_vae_train', '--epoch', '3'], ['scratch_vae_evaluate', '--help']):
        secs = best_of(3, [str(BIN/cmd[0]), *cmd[1:]])
        assert secs < 1.0, f"{cmd}: {secs:.2f} s"          # 1.5 s before (torch and matplotlib at import); 0.06 s now


def first_line(cmd, cwd):
    "The first line `cmd` prints, how long it took, and the finished process."
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd, env=ENV)
    line = p.stdout.readline(); secs = time.perf_counter() - t
    return line.strip(), secs, p


def test_each_command_says_what_it_does_at_once(tmp_path):
    line, secs, p = first_line([str(BIN/'scratch_vae_train'), '--data', str(DATA), '--limit', '1000', '--epochs', '1',
                                '--out', str(tmp_path/'run'), '--quiet'], tmp_path)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and line == 'Loading PyTorch and checking the settings ...' and secs < 2, (line, secs)
    assert out.splitlines()[:2] == ['Loading mnist ...', f"Training mnist → {tmp_path/'run'}: 8 steps of 128 images per "
                                    "epoch, epochs 1–1 (losses in nats per image)"], out
    line, secs, p = first_line([str(BIN/'scratch_vae_evaluate'), '--weights', 'pretrained:mnist-seed', '--data', str(DATA),
                                '--k', '10', '--limit', '100', '--out', str(tmp_path/'ev')], ROOT)
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and line.startswith('Loading PyTorch, the model (pretrained:mnist-seed)') and secs < 2, (line, secs)
    assert 'Evaluating 100 test images: the ELBO, then the NLL with k=10 importance samples per image, in 1 batches' in out
    assert 'NLL (k=10): 1/1 batches (100%), 0 s elapsed, ETA 0 s' in out, out


def test_ctrl_c_during_evaluation_names_it_and_creates_nothing(tmp_path):
    "SIGINT mid-NLL: exit 130, one line that names the evaluation, and no run directory."
    p = subprocess.Popen([str(BIN/'scratch_vae_evaluate'), '--weights', 'pretrained:mnist-seed', '--data', str(DATA),
                          '--k', '5000', '--limit', '1000'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         cwd=tmp_path, env=ENV, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # SIGINT as in a terminal's foreground job: a shell starts background jobs (`pytest &`, nohup) with it ignored,
    # and Python then installs no KeyboardInterrupt handler in the child
    seen = []
    for line in p.stdout:                                  # the first progress line: the NLL is under way
        seen.append(line)
        if line.startswith('NLL (k=5000): 1/10 batches'): break
    else: pytest.fail(f"no NLL progress line: {seen} {p.stderr.read()}")
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, (p.returncode, err)
    assert err.splitlines() == ['scratch_vae_evaluate: evaluation interrupted before it finished; nothing was written'], err
    assert list(tmp_path.iterdir()) == []                  # not even runs/weights/pretrained-mnist-seed/


def snapshot(d): return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def test_resuming_a_finished_run_changes_nothing(tmp_path):
    out = tmp_path/'run'
    run([str(BIN/'scratch_vae_train'), '--data', str(DATA), '--limit', '1000', '--epochs', '1', '--out', str(out), '--quiet'], env=ENV)
    before = snapshot(out)
    assert {'model.safetensors', 'checkpoint.safetensors', 'samples.png', 'loss_curve.png'} <= set(before)
    time.sleep(0.01)
    r = run([str(BIN/'scratch_vae_train'), '--data', str(DATA), '--epochs', '1', '--out', str(out), '--resume', '--quiet'], env=ENV)
    assert 'nothing to do' in r.stdout and 'wrote' not in r.stdout, r.stdout
    assert snapshot(out) == before                        # byte for byte: no weights, checkpoint or picture rewritten


def test_python_m_scratch_vae_lists_and_runs_the_commands(tmp_path):
    r = run([sys.executable, '-m', 'scratch_vae', '--help'], cwd=tmp_path)
    assert r.stdout.startswith('usage: python -m scratch_vae COMMAND') and [l.split()[0] for l in r.stdout.splitlines()
                                                                            if l.startswith('  ')] == COMMANDS
    r = run([sys.executable, '-m', 'scratch_vae', 'evaluate', '--k', '0'], cwd=tmp_path, check=False)
    assert r.returncode == 2 and r.stderr.strip() == 'scratch_vae_evaluate: error: --k must be at least 1, got 0', r.stderr
    r = run([sys.executable, '-m', 'scratch_vae', 'sample', '--weights', 'pretrained:mnist-latent2', '--n', '4', '--nrow', '2',
             '--file', str(tmp_path/'s.png')], cwd=tmp_path, env=ENV)
    assert (tmp_path/'s.png').read_bytes()[:4] == b'\x89PNG' and sorted(p.name for p in tmp_path.iterdir()) == ['s.png']


def test_the_training_loop_does_not_know_its_command_line():
    r = run([sys.executable, '-c', "import sys, scratch_vae.train; print('scratch_vae.cli' in sys.modules)"], cwd=ROOT)
    assert r.stdout.strip() == 'False'


def test_import_scratch_vae_offers_the_main_names_lazily():
    r = run([sys.executable, '-c', """
import sys, scratch_vae
print('torch' in sys.modules)
names = ['VAE', 'load_model', 'load_mnist', 'elbo', 'elbo_loss', 'fit', 'TrainConfig']
print(all(n in dir(scratch_vae) for n in names), sorted(scratch_vae.__all__) == sorted(names))
from scratch_vae import *
import scratch_vae.checkpoint as C, scratch_vae.train as T
print(load_model is C.load_model, fit is T.fit, scratch_vae.VAE.__name__)"""], cwd=ROOT)
    assert r.stdout.split() == ['False', 'True', 'True', 'True', 'True', 'VAE'], r.stdout
