"""Every notebook's cells, run by nbdev's own test machinery: one pytest item per notebook.

Cells flagged `#| slow` (settings.ini `tst_flags`) are skipped unless pytest runs with `--slow`."""
import sys
from pathlib import Path
import pytest
from conftest import ROOT, run
from nbtools import notebooks

NOTEBOOKS = [p.name for p in notebooks()]


CARD = ['00_idx', '01_layers', '02_model', '03_elbo', '04_train', '05_sample']    # the user's design card, in its order


def test_the_cards_six_chapters_exist_in_order():
    found = [n.removesuffix('.ipynb') for n in NOTEBOOKS if n.removesuffix('.ipynb') in CARD]
    assert found == CARD, found


@pytest.mark.parametrize('nb', NOTEBOOKS)
def test_notebook(nb, request):
    cmd = [str(Path(sys.executable).parent/'nbdev_test'), '--path', f'nbs/{nb}', '--do_print']
    if request.config.getoption('--slow'): cmd += ['--flags', 'slow']
    run(cmd, cwd=ROOT, timeout=3600)


def test_every_exported_function_and_class_has_show_doc():
    "Each module's functions and classes (not its UPPER_CASE constants) are documented by `show_doc` in its notebook, or shown whole in an `#| exports` cell."
    import importlib, json, re
    missing = {}
    for nb in notebooks():
        cells = [''.join(c['source']) for c in json.loads(nb.read_text())['cells']]
        src = '\n'.join(cells)
        shown = '\n'.join(c for c in cells if re.match(r'#\|\s*exports\b', c))
        m = re.search(r'#\| default_exp (\w+)', src)
        if not m: continue
        mod = importlib.import_module('scratch_vae.' + m.group(1))
        own = [n for n in mod.__all__ if callable(getattr(mod, n)) and getattr(getattr(mod, n), '__module__', '') == mod.__name__]
        gaps = [n for n in own if not re.search(rf'show_doc\({n}\b', src)
                and not re.search(rf'^(def|class) {n}\b', shown, re.M)]
        if gaps: missing[nb.name] = gaps
    assert not missing, missing
