"""The package is exactly what `nbdev_export` writes from the notebooks, and the notebooks are clean (`nbdev_clean`)."""
import filecmp, shutil, sys
from pathlib import Path
from conftest import ROOT, run

BIN = Path(sys.executable).parent


def _copy_project(dst):
    for name in ('settings.ini', 'setup.py', 'README.md'): shutil.copy(ROOT/name, dst/name)
    shutil.copytree(ROOT/'nbs', dst/'nbs', ignore=shutil.ignore_patterns('runs', '.ipynb_checkpoints', '_proc'))
    shutil.copytree(ROOT/'scratch_vae', dst/'scratch_vae', ignore=shutil.ignore_patterns('__pycache__'))


def _diff(a, b):
    "Files that differ, or exist on one side only, between trees `a` and `b` (ignoring caches)."
    c = filecmp.dircmp(a, b, ignore=['__pycache__', 'runs', '.ipynb_checkpoints', '_proc', '.quarto'])
    out = [f"only in {c.left}: {n}" for n in c.left_only] + [f"only in {c.right}: {n}" for n in c.right_only]
    out += [f"differs: {Path(c.left)/n}" for n in filecmp.cmpfiles(a, b, c.common_files, shallow=False)[1]]
    for d in c.common_dirs: out += _diff(Path(a)/d, Path(b)/d)
    return out


def test_exported_package_matches_notebooks(tmp_path):
    _copy_project(tmp_path)
    shutil.rmtree(tmp_path/'scratch_vae')
    run([str(BIN/'nbdev_export')], cwd=tmp_path)
    diff = _diff(ROOT/'scratch_vae', tmp_path/'scratch_vae')
    assert not diff, "scratch_vae/ is not what nbdev_export writes (edit the notebooks, then run nbdev_export):\n" + '\n'.join(diff)


def test_notebooks_are_clean(tmp_path):
    _copy_project(tmp_path)
    run([str(BIN/'nbdev_clean')], cwd=tmp_path)
    diff = _diff(ROOT/'nbs', tmp_path/'nbs')
    assert not diff, "notebooks are not clean (run nbdev_clean):\n" + '\n'.join(diff)
