"""README.md is the rendered index notebook; its two commands are what CI runs, verbatim; its Python block runs."""
import os, re, subprocess, sys
from pathlib import Path
from conftest import ROOT, DATA, run

TEST_COMMAND = 'pip install -e ".[dev]" && pytest'
MAIN_COMMAND = 'pip install -e . && scratch_vae_train'


def readme(): return (ROOT/'README.md').read_text()


def test_readme_is_rendered_index():
    run([sys.executable, str(ROOT/'tools'/'build_readme.py'), '--check'], cwd=ROOT)


def test_readme_quick_start_is_what_ci_runs():
    ci = (ROOT/'.ci'/'run').read_text()
    blocks = re.findall(r'```bash\n(.*?)```', readme(), re.S)
    assert blocks[:2] == [MAIN_COMMAND + '\n', TEST_COMMAND + '\n'], blocks[:2]
    lines = ci.splitlines()
    at = {cmd: next(i for i, l in enumerate(lines) if l.startswith(cmd + ' ') or l == cmd) for cmd in (MAIN_COMMAND, TEST_COMMAND)}
    venvs = [i for i, l in enumerate(lines) if l.startswith('fresh_venv ')]
    assert len(venvs) == 2 and venvs[0] < at[MAIN_COMMAND] < venvs[1] < at[TEST_COMMAND], "each command in its own fresh venv, main job first"
    fresh = ci[ci.index('fresh_venv() {'):ci.index('\n}\n')]
    assert 'python3 -m venv' in fresh and fresh.index('torch==2.13.0') > fresh.index('venv'), "CI installs the CPU torch first, in the new venv"
    assert 'SCRATCH_VAE_EPOCHS=1' in ci and 'SCRATCH_VAE_REQUIRE_BROWSER=1' in ci


def test_readme_python_blocks_run(tmp_path):
    "Every ```python block of the README runs as it stands, in a folder where `scratch_vae_train` has run."
    from scratch_vae.config import TrainConfig
    from scratch_vae.train import fit
    blocks = re.findall(r'```python\n(.*?)```', readme(), re.S)
    assert blocks, "the README shows Python usage"
    fit(TrainConfig(data=str(DATA), out=str(tmp_path/'runs'/'mnist'), epochs=1, limit=2000), quiet=True, log=lambda s: None)
    for b in blocks:
        r = run([sys.executable, '-c', b], cwd=tmp_path, env=os.environ | {'SCRATCH_VAE_DATA': str(DATA)})
        assert '-ELBO' in r.stdout and 'nats' in r.stdout, r.stdout


def test_readme_explains_the_seed_once_and_captions_fashion_pictures():
    text = readme()
    assert text.count('**the seed**') == 1 and 'original design document' in text
    pictures = re.findall(r'!\[([^\]]*)\]\(([^)]*)\)', text)
    assert len(pictures) >= 8
    for alt, src in pictures:                                     # each caption says which dataset it shows
        assert ('Fashion-MNIST' in alt) == Path(src).name.startswith('fashion-') and 'MNIST' in alt, (alt, src)
        assert (ROOT/src).is_file(), src
    assert "cannot be downloaded" not in text
