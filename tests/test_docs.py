"""The offline docs build (tools/build_docs.py): a home page and one page per notebook, with titles, math and images."""
import re, subprocess, sys
from html.parser import HTMLParser
from pathlib import Path
import pytest
from conftest import ROOT, run

PAGES = {'index': 'scratch_vae', '00_idx': 'IDX: how MNIST is stored', '00a_files': 'Writing files safely', '03c_backprop': 'Backpropagation by hand',
         '03d_distributed': 'Data-parallel training', '03e_evaluate': 'Evaluation',
         '00b_data': 'Datasets', '01_layers': 'The linear layer', '02_model': 'The VAE', '03_elbo': 'The ELBO',
         '03a_checkpoint': 'Checkpoints and weight files', '03b_config': 'The config', '04_train': 'Training',
         '05_pictures': 'Pictures', '05a_cli': 'The command line',
         '05b_explorer': 'Latent explorer'}
MIN_IMAGES = {'index': 9, '00b_data': 2, '05_pictures': 7}


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


def test_navigation_in_notebook_order(site):
    html = (site/'index.html').read_text()
    pos = [html.find(f'href="{p}.html"') for p in sorted(p for p in PAGES if p != 'index')]
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


def test_no_internal_parameters_in_signatures(site):
    for f in site.glob('*.html'): assert '_given' not in f.read_text(), f.name
