"""Every notebook's cells, run by nbdev's own test machinery: one pytest item per notebook.

Cells flagged `#| slow` (settings.ini `tst_flags`) are skipped unless pytest runs with `--slow`."""
import sys
from pathlib import Path
import pytest
from conftest import ROOT, run
from nbtools import notebooks, directives, strip_directives

NOTEBOOKS = [p.name for p in notebooks()]


def test_all_notebooks_found():
    assert {'index.ipynb', '00_idx.ipynb', '00a_files.ipynb', '00b_data.ipynb', '01_layers.ipynb', '02_model.ipynb',
            '03_elbo.ipynb', '03a_checkpoint.ipynb', '03b_config.ipynb', '04_train.ipynb', '05_pictures.ipynb',
            '05a_cli.ipynb'} <= set(NOTEBOOKS)


@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook(nb, request):
    cmd = [str(Path(sys.executable).parent/'nbdev_test'), '--path', f'nbs/{nb}', '--do_print']
    if request.config.getoption('--slow'): cmd += ['--flags', 'slow']
    run(cmd, cwd=ROOT, timeout=3600)


def test_every_exported_function_and_class_has_show_doc():
    """Each module's functions and classes (not its UPPER_CASE constants) are documented in its notebook: by `show_doc`,
    or by being defined in an `#| exports` cell, whose code is on the page (and nbdev adds its `show_doc`)."""
    import ast, importlib, json, re
    missing = {}
    for nb in notebooks():
        cells = [''.join(c['source']) for c in json.loads(nb.read_text())['cells'] if c['cell_type'] == 'code']
        src = '\n'.join(cells)
        m = re.search(r'#\| default_exp (\w+)', src)
        if not m: continue
        shown = {d.name for c in cells if 'exports' in directives(c)
                 for d in ast.parse(strip_directives(c)).body if isinstance(d, (ast.FunctionDef, ast.ClassDef))}
        mod = importlib.import_module('scratch_vae.' + m.group(1))
        gaps = [n for n in mod.__all__ if callable(getattr(mod, n)) and n not in shown
                and not re.search(rf'show_doc\({n}\b', src)]
        if gaps: missing[nb.name] = gaps
    assert not missing, missing
