"""Build the documentation site into `_docs/` offline, without Quarto.

1. `nbdev_proc_nbs` (its processing step, `proc_nbs`): nbdev's own processing of `nbs/` into `_proc/` (directives applied, `show_doc` rendered,
   exported symbols documented) — exactly what `nbdev_docs` feeds to Quarto.
2. Turn nbdev's Quarto front matter (title, description) back into a heading, and give the home page a table of
   contents in notebook order.
3. Sphinx + MyST-NB (theme Furo, MathJax served locally) render `_proc/` into `_docs/`: navigation, search, math and
   the notebooks' stored images. Nothing is fetched from the web.

Usage: python tools/build_docs.py [--out _docs]
"""
import argparse, json, re, shutil, subprocess, sys, time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DIRECTIVE = re.compile(r'^\s*#\s*\|\s*([\w-]+)\s*:?\s*(.*)$')


def _front_matter(cell) -> dict:
    "The YAML front matter nbdev writes as the first raw cell (flat `key: value` lines, possibly folded)."
    text = ''.join(cell['source']).strip().strip('-').strip()
    import yaml
    return yaml.safe_load(text) or {}


def fix_notebook(path: Path, toc: list[str] | None = None):
    nb = json.loads(path.read_text())
    cells = nb['cells']
    if cells and cells[0]['cell_type'] == 'raw' and ''.join(cells[0]['source']).lstrip().startswith('---'):
        fm = _front_matter(cells.pop(0))
        head = f"# {fm.get('title', path.stem)}\n"
        if fm.get('description'): head += f"\n```{{rst-class}} lead\n{fm['description']}\n```\n"
        cells.insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head})
    for c in cells:
        for k in [k for k in c if k not in ('cell_type', 'metadata', 'source', 'outputs', 'execution_count', 'id', 'attachments')]:
            del c[k]                         # nbdev's bookkeeping (e.g. 'has_sd'), not valid nbformat
    for c in cells:                      # Quarto cell options (`#| echo: false`, ...) become MyST-NB tags, and go
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        lines = src.splitlines()
        opts = {}
        while lines and (m := DIRECTIVE.match(lines[0])):
            opts[m.group(1)] = (m.group(2) or '').strip().lower(); lines.pop(0)
        c['source'] = '\n'.join(lines)
        tags = c.setdefault('metadata', {}).setdefault('tags', [])
        if opts.get('echo') == 'false': tags.append('remove-input')
        if opts.get('output') == 'false': tags.append('remove-output')
        if opts.get('include') == 'false' or 'hide' in opts: tags.append('remove-cell')
    for c in cells:                      # one block per stream, not one per print()
        merged = []
        for o in c.get('outputs', []):
            if merged and o.get('output_type') == 'stream' and merged[-1].get('output_type') == 'stream' and merged[-1]['name'] == o['name']:
                merged[-1]['text'] = ''.join(merged[-1]['text']) + ''.join(o['text'])
            else: merged.append(o)
        if 'outputs' in c: c['outputs'] = merged
    for c in cells:                      # show_doc's markdown opens with a rule ('---'): drop it, docutils can't nest it
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md is not None:
                text = ''.join(md) if isinstance(md, list) else md
                o['data']['text/markdown'] = text.removeprefix('---').lstrip('\n')
    nb['metadata']['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb['metadata']['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}
    if toc:
        cells.append({'cell_type': 'markdown', 'metadata': {},
                      'source': "```{toctree}\n:hidden:\n:maxdepth: 2\n\n" + '\n'.join(toc) + "\n```\n"})
    path.write_text(json.dumps(nb, indent=1))


def build(out: Path) -> float:
    t0 = time.time()
    # nbdev_proc_nbs minus its first step, which tries to install Quarto (sudo + web) and pip-installs the package.
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import proc_nbs
    from fastcore.xtras import working_directory
    proc = ROOT/'_proc'
    shutil.rmtree(proc, ignore_errors=True)
    with working_directory(ROOT):
        refresh_quarto_yml()                       # keeps nbs/nbdev.yml in step with settings.ini for Quarto users
        proc_nbs(ROOT/'nbs', skip_folder_re='^([_.]|runs$)')
    shutil.rmtree(proc/'runs', ignore_errors=True)           # training outputs the notebooks left behind
    if (ROOT/'nbs'/'images').is_dir(): shutil.copytree(ROOT/'nbs'/'images', proc/'images', dirs_exist_ok=True)
    pages = sorted(p.stem for p in proc.glob('[0-9]*.ipynb'))
    for p in proc.glob('*.ipynb'): fix_notebook(p, toc=pages if p.stem == 'index' else None)
    # MyST-NB writes a `jupyter_execute/` folder beside the output folder: build inside _proc, then move the site.
    html = proc/'_build'/'html'
    subprocess.run([str(BIN/'sphinx-build'), '-q', '-b', 'html', '-d', str(proc/'_build'/'doctrees'),
                    '-c', str(ROOT/'tools'/'docs'), str(proc), str(html)], cwd=ROOT, check=True)
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html, out)
    (out/'.nojekyll').touch()
    return time.time() - t0


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_docs'), help='output folder (default: _docs)')
    a = ap.parse_args()
    secs = build(Path(a.out))
    print(f"built {a.out} in {secs:.1f} s; open {Path(a.out)/'index.html'}")
