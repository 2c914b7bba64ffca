"""README.md is the rendered index notebook; its two commands are what CI runs, verbatim, and open the page; its Python
block runs; it says what a VAE is before anything else."""
import os, re, subprocess, sys
from pathlib import Path
from conftest import ROOT, DATA, run

TEST_COMMAND = 'pip install -e ".[dev]" && pytest'
MAIN_COMMAND = 'pip install -e . && scratch_vae_train'
QUICK_COMMAND = 'pip install -e . && scratch_vae_train --epochs 1 --out runs/quick'


def readme(): return (ROOT/'README.md').read_text()


def test_readme_is_rendered_index():
    run([sys.executable, str(ROOT/'tools'/'build_readme.py'), '--check'], cwd=ROOT)


def test_readme_quick_start_is_what_ci_runs():
    ci = (ROOT/'.ci'/'run').read_text()
    blocks = re.findall(r'```bash\n(.*?)```', readme(), re.S)
    assert blocks[:3] == [QUICK_COMMAND + '\n', MAIN_COMMAND + '\n', TEST_COMMAND + '\n'], blocks[:3]
    lines = ci.splitlines()
    at = {cmd: next(i for i, l in enumerate(lines) if l.startswith(cmd + ' ') or l == cmd) for cmd in (MAIN_COMMAND, TEST_COMMAND)}
    venvs = [i for i, l in enumerate(lines) if l.startswith('fresh_venv ')]
    assert len(venvs) == 2 and venvs[0] < at[MAIN_COMMAND] < venvs[1] < at[TEST_COMMAND], "each command in its own fresh venv, main job first"
    fresh = ci[ci.index('fresh_venv() {'):ci.index('\n}\n')]
    assert 'python3 -m venv' in fresh and fresh.index('torch==2.13.0') > fresh.index('venv'), "CI installs the CPU torch first, in the new venv"
    assert 'SCRATCH_VAE_EPOCHS=1' in ci and 'SCRATCH_VAE_REQUIRE_BROWSER=1' in ci


def notebook_code() -> set:
    "The code of the index notebook's code cells, as the README shows it (nbdev_test runs these, in the notebook)."
    import nbformat
    from nbtools import strip_directives
    return {strip_directives(c.source).strip() for c in nbformat.read(ROOT/'nbs'/'index.ipynb', as_version=4).cells if c.cell_type == 'code'}


def test_readme_quick_start_opens_the_page():
    "What a VAE is, then the Quick start: the two commands in the first screen, the CPU-only step before the first."
    text = readme()
    heads = re.findall(r'^## (.*)$', text, re.M)
    assert heads[0] == 'Quick start', heads
    intro = text[:text.index('## Quick start')]
    assert 'variational autoencoder' in intro and r'p_\theta(x) = \int p_\theta(x \mid z)\, p(z)\, dz' in intro
    lines = text.splitlines()
    at = [next(i for i, l in enumerate(lines) if l == cmd) for cmd in (QUICK_COMMAND, MAIN_COMMAND, TEST_COMMAND)]
    assert at[1] < 40, f"the README's training commands must be in its first screen, not at lines {at}"
    cpu = 'pip install torch --index-url https://download.pytorch.org/whl/cpu'
    quick = '\n'.join(lines[lines.index('## Quick start'):at[0]])
    assert cpu in quick and 'No GPU' in quick, "a CPU-only user reads how to avoid the CUDA build before the first command"


def test_readme_python_blocks_run(tmp_path):
    """Every ```python block of the README, as printed, in order, in one fresh interpreter, in a folder where a short
    `scratch_vae_train` run has written runs/mnist (issue 35: no name may be used before the page defines it)."""
    from scratch_vae.config import TrainConfig
    from scratch_vae.train import fit
    blocks = re.findall(r'```python\n(.*?)```', readme(), re.S)
    assert len(blocks) >= 4, "the README shows Python usage"
    assert 'import torch' in blocks[0], "the first block defines what the others use"
    fit(TrainConfig(data=str(DATA), out=str(tmp_path/'runs'/'mnist'), epochs=1, limit=2000), quiet=True, log=lambda s: None)
    script = tmp_path/'readme_blocks.py'
    script.write_text('\n'.join(blocks))
    r = run([sys.executable, str(script)], cwd=tmp_path, timeout=600,
            env=os.environ | {'SCRATCH_VAE_DATA': str(DATA), 'OMP_NUM_THREADS': '1'})
    assert '-ELBO' in r.stdout and 'nats' in r.stdout and 'autoencoder: μ of 2,000 digits' in r.stdout, r.stdout


def test_readme_quick_start_says_where_things_go():
    "Where data is looked for and where outputs go, from outside the clone, and what the tests need: a section of its own, which the Quick start names."
    quick = readme().split('## Quick start')[1].split('\n## ')[0]
    assert 'about a minute' in quick and 'Where files go' in quick and '2 threads' not in quick
    where = readme().split('## Where files go, and what the tests need')[1].split('\n## ')[0]
    for words in ('$SCRATCH_VAE_DATA/mnist/', './data/mnist/', "clone's `data/mnist/`", '`--out`', 'runs/mnist/',
                  'Chromium', 'Fashion-MNIST', 'apt-get install -y chromium dataset-fashion-mnist'):
        assert words in where, words


def test_readme_words_and_pictures():
    "'The original design' once, 'the seed' never; the default configuration defined once; every picture captioned and there."
    text = readme()
    assert len(re.findall(r'the original design', text, re.I)) == 1
    assert not re.search(r"\bthe seed\b|\bseed's|seed (model|configuration|recipe)", text, re.I), re.findall(r'.{40}seed.{20}', text)
    assert text.count('**default configuration**') == 1
    pictures = re.findall(r'!\[([^\]]*)\]\(([^)]*)\)', text)
    assert len(pictures) >= 2
    for alt, src in pictures:                                     # each caption says which dataset it shows
        assert ('Fashion-MNIST' in alt) == Path(src).name.startswith('fashion-') and 'MNIST' in alt, (alt, src)
        assert (ROOT/src).is_file(), src
    drawn = [src for _, src in pictures if Path(src).name.startswith('index-')]
    assert {Path(s).name for s in drawn} == {'index-fig-vae-architecture.png', 'index-fig-ae-vs-vae.png'}, drawn
    assert "cannot be downloaded" not in text


def test_readme_links_to_notebooks():
    "Links to other chapters point at the notebooks in nbs/ (GitHub renders them), and every chapter of the VAE is linked."
    text = readme()
    links = re.findall(r'\]\((nbs/[\w-]+\.ipynb)\)', text)
    for chapter in ('00_idx', '01_layers', '02_model', '03_elbo', '04_train', '05_sample', '05b_explorer', '06_diagnostics',
                    '03c_backprop', '03e_evaluate', '07_engineering', '08_results'):
        assert f'nbs/{chapter}.ipynb' in links, chapter
    assert not re.search(r'\]\((?!nbs/|https?:)[\w-]+\.ipynb', text), "a link to a notebook that is not under nbs/"


def test_engineering_page_took_the_engineering():
    "Speed, hostile files, scaling out and the CLI reference are on their own page, not the home page; and in plain words."
    import nbformat
    eng = '\n'.join(c.source for c in nbformat.read(ROOT/'nbs'/'07_engineering.ipynb', as_version=4).cells)
    text = readme()
    for head in ('## Speed', '## Hostile files', '## Scaling out', '## The command line', '## Working on it'):
        assert head in eng and head not in text, head
    for moved in ('GEMM floor', 'gzip "bomb"', 'torchrun --standalone', '--on-nan {stop,skip}'):
        assert moved in eng and moved not in text, moved
    assert not re.search(r"\bthe seed\b|\bseed's|seed (model|configuration|recipe)|original design", eng, re.I)
