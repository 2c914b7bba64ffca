"""What the tools and tests need to know about the notebooks, in one place, from nbdev itself: the notebook list
(`nbdev.doclinks.nbglob`), a cell's `#|` directives (`nbdev.process.extract_directives`) and Quarto options, the flags that skip a cell
(settings.ini's `tst_flags`), and running a notebook with its outputs stored (execnb's `CaptureShell`, what
`nbdev_test` runs notebooks with).

Usage: python tools/nbtools.py run [NOTEBOOK ...] [--flags slow]   (store outputs; then run nbdev_clean)
"""
import argparse, os, sys, time
from pathlib import Path
from fastcore.basics import AttrDict
from fastcore.xtras import working_directory
from nbdev.config import get_config
from nbdev.doclinks import nbglob
from nbdev.process import extract_directives, first_code_ln

ROOT = Path(__file__).resolve().parents[1]


def notebooks() -> list:
    "The project's notebooks in reading order (index last), as nbdev finds them."
    with working_directory(ROOT): return [ROOT/p for p in nbglob(get_config().nbs_path, as_path=True).sorted('name')]


def directives(source: str) -> dict:
    "The `#|` directives heading a cell's `source`, as nbdev reads them, e.g. `{'hide': [], 'echo:': ['false']}`."
    return extract_directives(AttrDict(source=source), remove=False)


def quarto_options(src: str) -> dict:
    """The Quarto options heading a cell (`#| fig-cap: "..."`), each line read as the YAML it is (quotes gone,
    case kept); nbdev's bare flags (`#| hide`, `#| export`) are not options and are skipped."""
    import yaml
    opts = {}
    for line in src.splitlines():
        if not line.startswith('#|'): break
        try: kv = yaml.safe_load(line[2:])
        except yaml.YAMLError: continue
        if isinstance(kv, dict): opts.update({k: v for k, v in kv.items() if isinstance(v, (str, int, float))})
    return opts


def strip_directives(source: str) -> str:
    "`source` without its heading `#|` directive lines."
    lines = source.splitlines(True)
    return ''.join(lines[first_code_ln(lines):]) if lines else source


def skip_flags(force=()) -> set:
    "settings.ini's `tst_flags` (e.g. `slow`) less those in `force`: cells carrying one are not run."
    with working_directory(ROOT): return set(get_config().tst_flags.split()) - set(force)


def skipped(cell, flags: set) -> bool:
    "Whether `nbdev_test` would skip `cell`: markdown, the `nbdev_export()` cell, or a cell with one of `flags`."
    return cell.cell_type != 'code' or 'nbdev_export(' in cell.source or bool(flags & directives(cell.source).keys())


def run(path: Path, flags: set):
    "Execute the notebook at `path` in its folder as nbdev_test does, and store its outputs in place."
    from execnb.shell import CaptureShell
    os.environ.pop('IN_TEST', None)
    with working_directory(path.parent):
        CaptureShell(path).execute(path, path, exc_stop=True, preproc=lambda c: skipped(c, flags))


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('command', choices=['run'])
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: all)')
    ap.add_argument('--flags', default='', help='space-separated flags whose cells run too (e.g. slow)')
    a = ap.parse_args()
    for p in [Path(p).resolve() for p in a.notebooks] or notebooks():
        t = time.time(); run(p, skip_flags(a.flags.split())); print(f"ran {p.name} in {time.time() - t:.0f} s", flush=True)
