"""Build the documentation site into `_docs/` offline, without Quarto.

1. `nbdev_proc_nbs` (its processing step, `proc_nbs`): nbdev's own processing of `nbs/` into `_proc/` (directives applied, `show_doc` rendered,
   exported symbols documented) — exactly what `nbdev_docs` feeds to Quarto.
2. Turn nbdev's Quarto front matter (title, description) back into a heading, and give the home page a table of
   contents grouped as the Quarto sidebar (`nbs/sidebar.yml`) groups it: one toctree per section, captioned. Quarto's
   cell options become MyST-NB's: `#| echo: false` a tag, `#| fig-cap` a captioned figure (`figures`).
3. Sphinx + MyST-NB (theme Furo, MathJax served locally) render `_proc/` into `_docs/`: navigation, search, math and
   the notebooks' stored images. Nothing is fetched from the web. Each module of the package gets a page under `src/`
   (the targets of nbdev's [source] links), in the same theme.
4. The latent explorer page (05b_explorer) gets its data, `_static/explorer_data.js`, from the shipped 2-D model
   (tools/explorer_data.py; its SHA-256 is checked against weights/SHA256SUMS first) and the MNIST test set.

Usage: python tools/build_docs.py [--out _docs] [--proc _proc]
"""
import argparse, json, re, secrets, shutil, subprocess, sys, time
from pathlib import Path
from nbtools import ROOT, notebooks, directives, strip_directives, quarto_options

BIN = Path(sys.executable).parent


def _front_matter(cell) -> dict:
    "The YAML front matter nbdev writes as the first raw cell (flat `key: value` lines, possibly folded)."
    text = ''.join(cell['source']).strip().strip('-').strip()
    import yaml
    return yaml.safe_load(text) or {}


def sidebar() -> list[tuple[str | None, list[str]]]:
    "`nbs/sidebar.yml`'s navigation as (section, notebook stems) pairs; notebooks outside a section have section `None`."
    import yaml
    groups = []
    for item in yaml.safe_load((ROOT/'nbs'/'sidebar.yml').read_text())['website']['sidebar']['contents']:
        if isinstance(item, str): groups.append((None, [Path(item).stem]))
        else: groups.append((item['section'], [Path(x).stem for x in item['contents']]))
    return groups


def settings() -> dict:
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=['=']); cfg.read(ROOT/'settings.ini')
    return cfg['DEFAULT']


def local_links(text: str, pages: dict) -> str:
    """nbdev's Markdown links to the published site (`doc_host` + `doc_baseurl` + `train.html#fit`) and to GitHub
    sources (`git_url/blob/main/scratch_vae/train.py#L26`), rewritten to this site's page (`04_train.html#fit`, the
    anchor as MyST makes it) and to its own source listings (`src/train.html#L-26`), as HTML links (MyST would read a
    relative Markdown link as a cross-reference): every link works offline."""
    import html
    s = settings()
    site, src = s['doc_host'] + s['doc_baseurl'] + '/', s['git_url'] + '/blob/'
    def localize(url):
        if url.startswith(site) and (m := re.fullmatch(r'([\w-]+)\.html(?:#(.*))?', url[len(site):])):
            anchor = re.sub(r'[^a-z0-9_ -]', '', (m.group(2) or '').lower()).replace(' ', '-')
            return f"{pages.get(m.group(1), m.group(1))}.html" + (f"#{anchor}" if anchor else '')
        if url.startswith(src) and (m := re.fullmatch(r'[^/]+/' + s['lib_path'] + r'/(\w+)\.py(?:#L(\d+))?', url[len(src):])):
            return f"src/{m.group(1)}.html" + (f"#L-{m.group(2)}" if m.group(2) else '')
    def link(m):
        url = localize(m.group(2))
        if url is None: return m.group(0)
        label = re.sub(r'`([^`]*)`', lambda c: f"<code>{html.escape(c.group(1))}</code>", m.group(1))
        return f'<a class="reference internal" href="{url}">{label}</a>'
    return re.sub(r'\[([^\]]*)\]\(([^)\s]+)\)(\{[^}]*\})?', link, text)


def source_pages(proc: Path) -> list[str]:
    """One page per module of the package, `src/<module>.md` in the Sphinx source folder, so that it gets the site's
    theme, navigation and search box: the module highlighted with an anchor per line (`src/train.html#L-26`, where
    the chapters' [source] links point; see `local_links`) and a link back to the chapter that writes it, plus an
    index page, `src/index.md`. The listing is Pygments' HTML (Sphinx's own code blocks have no line anchors) with
    Sphinx's classes, so the theme colours it as it colours every other code block. Returns the documents' names."""
    import html
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import PythonLexer
    (proc/'src').mkdir(parents=True, exist_ok=True)
    fmt = HtmlFormatter(linenos='inline', lineanchors='L', anchorlinenos=True, cssclass='highlight')
    rows, names = [], []
    for py in sorted((ROOT/settings()['lib_path']).glob('*.py')):
        text = py.read_text()
        nb = re.search(r'File to edit: \.\./nbs/(\w+)\.ipynb', text)
        back = f"written by `nbdev_export` from the chapter <a class=\"reference internal\" href=\"../{nb.group(1)}.html\">{nb.group(1)}</a>" if nb else "written by nbdev"
        listing = highlight(text, PythonLexer(), fmt)
        (proc/'src'/f'{py.stem}.md').write_text(
            f"# {py.name}\n\n`scratch_vae/{py.name}`, {back}; every line has an anchor (`#L-1`, `#L-2`, ...).\n\n"
            f"```{{raw}} html\n<div class=\"source-listing highlight-python notranslate\">{listing}</div>\n```\n")
        names.append(f'src/{py.stem}')
        rows.append(f"| [{py.name}]({py.stem}.md) | {html.escape(nb.group(1)) if nb else ''} |")
    (proc/'src'/'index.md').write_text(
        "# Source code\n\nThe package's modules as `nbdev_export` writes them from the notebooks; the chapters' "
        "[source] links point here.\n\n| module | chapter |\n|---|---|\n" + '\n'.join(rows) +
        "\n\n```{toctree}\n:hidden:\n\n" + '\n'.join(n.removeprefix('src/') for n in names) + "\n```\n")
    return names


def fix_notebook(path: Path, toc: list[tuple[str, list[str]]] | None = None, pages: dict | None = None):
    nb = json.loads(path.read_text())
    cells = nb['cells']
    if cells and cells[0]['cell_type'] == 'raw' and ''.join(cells[0]['source']).lstrip().startswith('---'):
        fm = _front_matter(cells.pop(0))
        head = f"# {fm.get('title', path.stem)}\n"
        if fm.get('description'): head += f"\n```{{rst-class}} lead\n{fm['description']}\n```\n"
        cells.insert(0, {'cell_type': 'markdown', 'metadata': {}, 'source': head})
    for i, c in enumerate(cells):
        for k in [k for k in c if k not in ('cell_type', 'metadata', 'source', 'outputs', 'execution_count', 'id', 'attachments')]:
            del c[k]                         # nbdev's bookkeeping (e.g. 'has_sd'), not valid nbformat
        c.setdefault('id', f'cell-{i}')      # nbformat 4.5 wants one (nbdev's processing drops them)
    figures(cells)                       # `#| fig-cap:` a captioned figure; every image an alt text
    for c in cells:                      # Quarto cell options (`#| echo: false`, ...) become MyST-NB tags, and go
        if c['cell_type'] != 'code': continue
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        opts = {k.rstrip(':'): ' '.join(v).lower() for k, v in directives(src).items()}
        c['source'] = strip_directives(src)
        tags = c.setdefault('metadata', {}).setdefault('tags', [])
        if opts.get('echo') == 'false': tags.append('remove-input')
        if opts.get('output') == 'false': tags.append('remove-output')
        if opts.get('include') == 'false' or 'hide' in opts: tags.append('remove-cell')
        if opts.get('code-fold') == 'true': tags.append('hide-input')     # folded: a reference solution, shown on request
    for c in cells:                      # one block per stream, not one per print()
        merged = []
        for o in c.get('outputs', []):
            if merged and o.get('output_type') == 'stream' and merged[-1].get('output_type') == 'stream' and merged[-1]['name'] == o['name']:
                merged[-1]['text'] = ''.join(merged[-1]['text']) + ''.join(o['text'])
            else: merged.append(o)
        if 'outputs' in c: c['outputs'] = merged
    fix = lambda s: local_links(''.join(s) if isinstance(s, list) else s, pages or {})
    for c in cells:                      # links to the published site and to GitHub, made local
        if c['cell_type'] == 'markdown': c['source'] = fix(c['source'])
        for o in c.get('outputs', []):
            for k in [k for k in o.get('data', {}) if k.startswith('text/')]: o['data'][k] = fix(o['data'][k])
    for c in cells:                      # show_doc's markdown opens with a rule ('---'): drop it, docutils can't nest it
        for o in c.get('outputs', []):
            md = o.get('data', {}).get('text/markdown')
            if md is not None:
                text = ''.join(md) if isinstance(md, list) else md
                o['data']['text/markdown'] = class_signature(text.removeprefix('---').lstrip('\n'))
    nb['nbformat'], nb['nbformat_minor'] = 4, 5
    nb['metadata']['kernelspec'] = {'name': 'python3', 'display_name': 'Python 3', 'language': 'python'}
    nb['metadata']['language_info'] = {'name': 'python', 'pygments_lexer': 'ipython3'}
    for i, (caption, pages_) in enumerate(toc or []):     # one hidden toctree per sidebar section, captioned
        cells.append({'cell_type': 'markdown', 'metadata': {}, 'id': f'toc-{i}',
                      'source': f"```{{toctree}}\n:hidden:\n:caption: {caption}\n:maxdepth: 2\n\n" + '\n'.join(pages_) + "\n```\n"})
    path.write_text(json.dumps(nb, indent=1))


def plain(md: str) -> str:
    "Markdown as the plain text an alt attribute holds: no code ticks, emphasis, link targets or heading attributes."
    md = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', md)
    md = re.sub(r'\{[^}]*\}\s*$|<[^>]+>', '', md)
    return ' '.join(re.sub(r'`|\*', '', md).split())


def figures(cells: list):
    """What Quarto makes of an image cell, for MyST-NB: `#| fig-cap` becomes the caption under the image (MyST-NB's
    `mystnb: figure:` metadata; numbered `Figure N:` as Quarto numbers a `#| label: fig-...`, whose label becomes the
    figure's anchor) and the image's alt text (`#| fig-alt` if given). An image without a caption gets an alt
    text saying where it is, `Figure N of “page”, section “heading”`, instead of Sphinx's default, its hashed file
    name. N counts the page's shown image outputs."""
    title = heading = None
    n = 0
    for c in cells:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] == 'markdown':
            for h in re.findall(r'^#{1,6}\s+(.+?)\s*$', re.sub(r'```.*?```', '', src, flags=re.S), flags=re.M):
                heading = plain(h); title = title or heading
            continue
        opts = quarto_options(src)
        shown = str(opts.get('output', '')).lower() != 'false' and str(opts.get('include', '')).lower() != 'false'
        if c['cell_type'] != 'code' or not shown or 'hide' in directives(src): continue
        if not any(k.startswith('image/') for o in c.get('outputs', []) for k in o.get('data', {})): continue
        n += 1
        meta = c.setdefault('metadata', {}).setdefault('mystnb', {})
        if cap := opts.get('fig-cap'):
            label = str(opts.get('label', ''))
            number = f"Figure {n}: " if label.startswith('fig-') else ''
            meta['figure'] = {'caption': number + str(cap), **({'name': label} if label else {})}
            meta['image'] = {'alt': plain(str(opts.get('fig-alt') or cap))}
        else:
            where = f", section “{heading}”" if heading and heading != title else ''
            meta['image'] = {'alt': f"Figure {n} of “{title}”{where}" if title else f"Figure {n}"}


def class_signature(md: str) -> str:
    """nbdev 2.4's show_doc writes every signature as `def Name(...)`, a class's too: a CamelCase name (PEP 8's
    spelling of a class, and this package's) is shown as `class Name(...):`, without its `__init__`'s `->None`, and a
    dataclass field's `<factory>` default as the `field(...)` it is."""
    return re.sub(r'```python\ndef ([A-Z]\w*)\((.*?)\)(?:\s*->\s*None)?:\n```',
                  lambda m: f"```python\nclass {m[1]}({m[2].replace('=<factory>', '=field(...)')}):\n```",
                  md, flags=re.S)


def hanging_lines(page: str) -> str:
    """Each line of the page's code blocks as its own block (`<span class="cl">`), so that a line too long for the
    column wraps with a hanging indent (book.css), under its own start, instead of at the column's left edge where
    it would read as a new line of code. Pygments closes its spans at every line end, so each line is whole HTML;
    the newline stays in the text, so copying a block gives the code back as it was."""
    import html
    def lines(m):
        body = m.group(2)
        out = []
        for line in body.split('\n')[:-1] if body.endswith('\n') else body.split('\n'):
            number = re.search(r'<span class="linenos">([^<]*)</span>', line)      # src/ listings: ` 26` in front
            text = html.unescape(re.sub(r'<[^>]*>', '', line[number.end():] if number else line))
            indent = f"{len(text) - len(text.lstrip(' '))}ch"
            if number: indent = f"calc({len(number.group(1)) + 2 + len(text) - len(text.lstrip(' '))}ch + 10px)"   # + its box
            out.append(f'<span class="cl" style="--indent:{indent}">{line}\n</span>')
        return m.group(1) + ''.join(out) + '</pre>'
    return re.sub(r'(<div class="highlight"><pre>)(.*?)</pre>', lines, page, flags=re.S)


def build(out: Path, proc: Path = ROOT/'_proc') -> float:
    t0 = time.time()
    from explorer_data import ExplorerError, explorer_script
    try: explorer = explorer_script()          # checks the shipped weights' SHA-256 first; fails before the slow part
    except ExplorerError as e: sys.exit(f"build_docs: latent explorer: {e}")
    # nbdev_proc_nbs minus its first step, which tries to install Quarto (sudo + web) and pip-installs the package.
    from nbdev.quarto import refresh_quarto_yml
    from nbdev.serve import proc_nbs
    from fastcore.xtras import working_directory
    cache = ROOT/'_proc'                            # where nbdev's proc_nbs always writes
    shutil.rmtree(cache, ignore_errors=True)
    with working_directory(ROOT):
        refresh_quarto_yml()                       # keeps nbs/nbdev.yml in step with settings.ini for Quarto users
        proc_nbs(ROOT/'nbs', skip_folder_re='^([_.]|runs$)')
    if proc.resolve() != cache.resolve():          # --proc elsewhere (the tests: a temporary folder): nothing left in the repo
        shutil.rmtree(proc, ignore_errors=True)
        shutil.move(str(cache), str(proc))
    shutil.rmtree(proc/'runs', ignore_errors=True)           # training outputs the notebooks left behind
    if (ROOT/'nbs'/'images').is_dir(): shutil.copytree(ROOT/'nbs'/'images', proc/'images', dirs_exist_ok=True)
    order = [p.stem for p in notebooks() if p.stem != 'index']
    nbdev_names = {re.sub(r'^\d+[a-z]?_', '', s): s for s in order}     # nbdev calls 04_train's page train.html
    toc = [(section, [s for s in stems if s in order]) for section, stems in sidebar() if section]
    listed = {s for _, stems in sidebar() for s in stems}
    if listed != set(order) | {'index'}:     # tests/test_docs.py fails on this; the build goes on, so the site can be looked at
        print(f"warning: nbs/sidebar.yml lists {sorted(listed - set(order) - {'index'})} (no such notebook) and misses "
              f"{sorted(set(order) - listed)}", file=sys.stderr)
    source_pages(proc)                                        # src/<module>.md: the [source] links' targets
    toc.append(('Source', ['src/index']))
    for p in proc.glob('*.ipynb'): fix_notebook(p, toc=toc if p.stem == 'index' else None, pages=nbdev_names)
    # MyST-NB writes a `jupyter_execute/` folder beside the output folder: build inside _proc, then move the site.
    html = proc/'_build'/'html'
    subprocess.run([str(BIN/'sphinx-build'), '-q', '-b', 'html', '-d', str(proc/'_build'/'doctrees'),
                    '-c', str(ROOT/'tools'/'docs'), str(proc), str(html)], cwd=ROOT, check=True)
    (html/'_static'/'explorer_data.js').write_text(explorer)     # the data the explorer page's script reads
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(html, out)
    for page in [*out.glob('*.html'), *out.glob('src/*.html')]:       # long code lines wrap under their own start
        page.write_text(hanging_lines(page.read_text()))
    (out/'.nojekyll').touch()
    return time.time() - t0


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--out', default=str(ROOT/'_docs'), help='output folder (default: _docs)')
    ap.add_argument('--proc', default=str(ROOT/'_proc'), help="nbdev's processed notebooks and Sphinx's scratch (default: _proc)")
    a = ap.parse_args()
    secs = build(Path(a.out), Path(a.proc).absolute())
    print(f"built {a.out} in {secs:.1f} s; open {Path(a.out)/'index.html'}")
