"""Execute notebooks in place so their outputs (pictures included) are stored for the docs, skipping `slow` cells.

Like `jupyter nbconvert --execute --inplace`, but cells flagged with one of settings.ini's `tst_flags` (e.g. `#| slow`)
are not run unless `--flags` names them, the same rule `nbdev_test` follows. Run `nbdev_clean` afterwards.
Usage: python tools/run_notebooks.py [NOTEBOOK ...] [--flags slow]
"""
import argparse, re, sys, time
from configparser import ConfigParser
from pathlib import Path
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def cell_flags(source: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r'^\s*#\s*\|\s*(\w+)\s*$', source, re.M)}


class SkipFlagged(NotebookClient):
    skip: set = set()

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if cell.cell_type == 'code' and cell_flags(cell.source) & self.skip:
            cell.outputs = []; cell.execution_count = None
            return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)


def run(path: Path, skip: set[str], timeout: int = 1800):
    nb = nbformat.read(path, as_version=4)
    client = SkipFlagged(nb, timeout=timeout, kernel_name='python3', resources={'metadata': {'path': str(path.parent)}})
    client.skip = skip
    client.execute()
    nbformat.write(nb, path)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('notebooks', nargs='*', help='notebooks to run (default: all in nbs/)')
    ap.add_argument('--flags', default='', help='space-separated flags whose cells should run too (e.g. slow)')
    a = ap.parse_args()
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    skip = set(cfg['DEFAULT'].get('tst_flags', '').split()) - set(a.flags.split())
    nbs = [Path(p) for p in a.notebooks] or sorted((ROOT/'nbs').glob('*.ipynb'))
    for p in nbs:
        t = time.time(); run(p, skip); print(f"ran {p} in {time.time() - t:.0f} s", flush=True)
