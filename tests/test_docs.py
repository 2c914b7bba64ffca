"""The offline docs build (tools/build_docs.py): a home page and one page per notebook, with titles, math and images."""
import re, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
import pytest
from conftest import ROOT, run

PAGES = {'index': 'scratch_vae', '00_idx': 'IDX: how MNIST is stored', '00a_files': 'Writing and reading files safely', '03c_backprop': 'Backpropagation by hand',
         '03d_distributed': 'Data-parallel training', '03e_evaluate': 'Evaluation', '03f_bounds': 'How tight is the bound?',
         '00b_data': 'Data: images and batches', '00b_datasets': 'Datasets: where the files are', '00d_idx_hostile': 'IDX files that attack', '01_layers': 'The linear layer', '02_model': 'The VAE', '03_elbo': 'The ELBO',
         '03a_checkpoint': 'Old import path: checkpoint', '03a_tensorfile': 'The weights file format',
         '03g_weights': 'Weights', '03h_rundir': 'The checkpoint and the history', '04b_run': 'The run', '04c_loop': 'The loop in pieces', '04e_engine': 'The engine under the loop', '04f_flat_adam': 'One flat buffer for Adam', '03b_memory': 'Memory', '05e_commands': 'The commands', '05e_flags': 'The flags of the commands', '05f_sample_path': 'Old import path: sample', '05g_pictures': 'The pictures of a run', '02a_spec': 'The choices, by name', '03b_config': 'The config', '04_train': 'Training',
         '05_sample': 'Sampling and pictures', '05a_cli': 'The command line', '00c_progress': 'Progress', '05c_main': 'Running the package: python -m',
         '05d_package': 'The top level: import scratch_vae', '05b_explorer': 'Latent explorer', '04a_replicas': 'Several seeds at once',
         '06_diagnostics': 'What goes wrong', '07_engineering': 'Engineering: speed, hostile files', '08_results': 'Results'}
MIN_IMAGES = {'index': 2, '08_results': 5, '00b_data': 2, '05_sample': 7}
SECTIONS = ['The VAE', 'Deeper', 'Engineering']


class Page(HTMLParser):
    def __init__(self):
        super().__init__(); self.imgs, self.scripts, self.links, self.title, self._t = [], [], [], '', False
    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == 'img': self.imgs.append(a.get('src', ''))
        if tag == 'script' and a.get('src'): self.scripts.append(a['src'])
        if tag == 'link' and a.get('href'): self.links.append(a['href'])
        if tag == 'a' and a.get('href'): self.links.append(a['href'])
        self._t = tag == 'title'
    def handle_data(self, d):
        if self._t: self.title += d
    def handle_endtag(self, tag): self._t = False


def parse(path):
    p = Page(); p.feed(path.read_text()); return p


@pytest.mark.parametrize('page', PAGES)
def test_page(site, page):
    f = site/f'{page}.html'
    assert f.exists(), sorted(x.name for x in site.iterdir())
    p = parse(f)
    assert p.title.startswith(PAGES[page]), p.title
    local = [s for s in p.imgs if not s.startswith('data:')]
    assert len(p.imgs) >= MIN_IMAGES.get(page, 0), p.imgs
    for s in local: assert (f.parent/s.split('#')[0]).is_file(), f"{page}: missing image {s}"
    external = [u for u in p.scripts + [l for l in p.links if l.endswith(('.css', '.js'))] if re.match(r'https?://', u)]
    assert not external, f"{page} loads assets from the web: {external}"


def test_math_is_local(site):
    html = (site/'03_elbo.html').read_text()
    assert r'\mathrm{KL}' in html and '_static/mathjax/tex-chtml.js' in html
    assert (site/'_static'/'mathjax'/'tex-chtml.js').is_file()


def test_every_notebook_has_a_page():
    from nbtools import notebooks
    assert [p.stem for p in notebooks()] == sorted(PAGES, key=lambda s: (s == 'index', s))


def test_api_reference_and_search(site):
    html = (site/'00_idx.html').read_text() + (site/'00b_data.html').read_text()
    for sym in ('read_idx', 'write_idx', 'load_mnist', 'Batches', 'IDXError'): assert f'>{sym}<' in html or f'{sym}</' in html, sym
    assert (site/'search.html').is_file() and (site/'searchindex.js').is_file()
    assert 'load_mnist' in (site/'searchindex.js').read_text()


def test_sidebar_lists_every_notebook_once():
    """nbs/sidebar.yml (Quarto's navigation, and the Sphinx toctrees') holds every notebook once: the home page, then the
    sections 'The VAE', 'Deeper' and 'Engineering', each in notebook order."""
    from build_docs import sidebar
    from nbtools import notebooks
    groups = sidebar()
    assert groups[0] == (None, ['index']) and [s for s, _ in groups[1:]] == SECTIONS, groups
    listed = [p for _, pages in groups for p in pages]
    on_disk = [p.stem for p in notebooks()]
    assert len(listed) == len(set(listed)), f"listed twice: {sorted({p for p in listed if listed.count(p) > 1})}"
    assert set(listed) == set(on_disk), (f"nbs/sidebar.yml lists {sorted(set(listed) - set(on_disk))}, which nbs/ lacks, "
                                         f"and misses {sorted(set(on_disk) - set(listed))}")
    for section, pages in groups: assert pages == sorted(pages), f"{section}: not in notebook order: {pages}"
    vae = dict(groups)['The VAE']          # the card's six chapters in order, then the explorer, the diagnostics, results
    assert vae == ['00_idx', '01_layers', '02_model', '03_elbo', '04_train', '05_sample', '05b_explorer',
                   '06_diagnostics', '08_results'], vae
    assert dict(groups)['Deeper'][:2] == ['03c_backprop', '03e_evaluate']


def test_navigation_follows_the_sidebar(site):
    "The site's navigation shows the sidebar's sections, captioned, each with its pages in order."
    from build_docs import sidebar
    html = (site/'index.html').read_text()
    nav = html[html.index('sidebar-tree'):]
    pos = []
    for section, pages in sidebar()[1:]:
        pos.append(nav.find(f'<span class="caption-text">{section}</span>'))
        pos += [nav.find(f'href="{p}.html"') for p in pages if p in PAGES]
    assert all(x > 0 for x in pos) and pos == sorted(pos), pos


def test_links_are_local(site):
    "Cross-references and source links point at this site's own pages and listings, never the published site or GitHub."
    bad, checked = [], 0
    for f in sorted(site.glob('*.html')):
        for link in parse(f).links:
            if 'scratch-vae.github.io' in link or 'github.com/scratch-vae' in link: bad.append((f.name, link))
            if re.match(r'^(\d+[a-z]?_\w+|index|src/\w+)\.html#', link):
                target, anchor = link.split('#', 1)
                text = (site/target).read_text()
                checked += 1
                if f'id="{anchor}"' not in text: bad.append((f.name, link))
    assert not bad, bad[:10]
    assert checked > 100, checked         # show_doc's cross-references and [source] links were found and checked


def test_figures_have_their_captions(site):
    """A notebook's `#| fig-cap:` (Quarto's cell option) is the figure's caption on the page, under the image, and the
    image's alt text; its `#| label: fig-...` is the figure's anchor. The home page has two such figures."""
    import html, json, yaml
    cells = json.loads((ROOT/'nbs'/'index.ipynb').read_text())['cells']
    heads = [re.findall(r'^#\|\s*((?:label|fig-cap):.*)$', ''.join(c['source']), re.M)
             for c in cells if c['cell_type'] == 'code']
    opts = [yaml.safe_load('\n'.join(h)) for h in heads if any(x.startswith('fig-cap') for x in h)]
    assert len(opts) >= 2, opts
    page = (site/'index.html').read_text()
    text = lambda h: ' '.join(html.unescape(re.sub(r'<[^>]+>', '', h)).split())
    for o in opts:
        m = re.search(rf'<figure[^>]*id="{o["label"]}"[^>]*>(.*?)</figure>', page, re.S)
        assert m, f"index.html: no <figure id={o['label']!r}>"
        img = re.search(r'<img [^>]*>', m.group(1))
        caption = re.search(r'<figcaption>(.*?)</figcaption>', m.group(1), re.S)
        assert caption and o['fig-cap'] in text(caption.group(1)), (o, caption and text(caption.group(1)))
        assert caption.start() > img.start(), "the caption comes under the image"
        assert html.unescape(re.search(r'alt="([^"]*)"', img.group(0)).group(1)) == o['fig-cap']


def test_no_image_is_named_by_its_file(site):
    "Every image has an alt text that says something: not empty, and not its (hashed) file name, Sphinx's default."
    bad, n = [], 0
    for f in sorted([*site.glob('*.html'), *site.glob('src/*.html')]):
        for img in re.findall(r'<img [^>]*>', f.read_text()):
            alt, n = re.search(r'alt="([^"]*)"', img), n + 1
            alt = alt.group(1) if alt else ''
            if not alt.strip() or re.search(r'[0-9a-f]{16}|_images/|\.(png|jpe?g|svg|gif)$', alt):
                bad.append((f.name, alt))
    assert n >= sum(MIN_IMAGES.values()), n
    assert not bad, f"{len(bad)} images named by their file: {bad[:5]}"


def test_no_internal_parameters_in_signatures(site):
    for f in site.glob('*.html'): assert '_given' not in f.read_text(), f.name


from test_browser import browser, server      # noqa: E402,F401  (headless Chromium over loopback; skipped without it)


@pytest.mark.parametrize('width,height,commands', [(1280, 800, 2), (420, 860, 1)])
def test_first_screen_says_what_a_vae_is_and_how_to_set_up(browser, server, width, height, commands):
    "The home page's first screen holds the definition of a VAE and the set-up: the one-minute run and the full run on a laptop, the first on a phone."
    pg = browser.new_page(viewport={'width': width, 'height': height})
    pg.goto(f'{server}/index.html', wait_until='load')
    pg.wait_for_load_state('networkidle')
    pg.wait_for_selector('mjx-container', timeout=20000)           # the formula takes its final height
    box = lambda loc: loc.bounding_box()
    defined = box(pg.locator('p', has_text='variational autoencoder').first)
    blocks = pg.locator('div.highlight-bash pre')
    shown = [blocks.nth(i).inner_text().strip() for i in range(commands)]
    assert shown == ['pip install -e . && scratch_vae_train --epochs 1 --out runs/quick',
                     'pip install -e . && scratch_vae_train'][:commands], shown
    bottoms = [box(blocks.nth(i))['y'] + box(blocks.nth(i))['height'] for i in range(commands)]
    assert defined['y'] < height and max(bottoms) <= height, (width, defined, bottoms)
    cpu = box(pg.locator('p', has_text='download.pytorch.org/whl/cpu').first)
    assert cpu['y'] < box(blocks.nth(0))['y'], "the CPU-only step comes before the first command"
    pg.close()
