"""The site as a book (issue 23), in a real browser: headless Chromium driven by Playwright over a loopback server,
as in tests/test_browser.py. The card's chapters sit in the sidebar in order; the code a chapter derives is on its
page; no API entry appears twice; no display equation is wider than the column; `04_train` opens with a loop short
enough to hold in one's head, before `fit`. And the module listings under `src/` are pages of the site."""
import collections, re
import pytest
from test_browser import browser, server, PAGES      # noqa: F401  (fixtures: Chromium, and the built site over loopback)

CARD = ['00_idx', '01_layers', '02_model', '03_elbo', '04_train', '05_sample']       # the design card's chapters, in order
KL_BODY = '0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(-1)'                 # 03_elbo's kl_divergence returns it
# Blocks whose line breaks are meaningful (shell commands, a fence with no language) keep their lines and scroll
# sideways (book.css): such a block wider than its box is not cut off. Any other block (Python, outputs) must wrap.
KEEP_LINES = ', '.join(f'.highlight-{x}' for x in ('bash', 'sh', 'shell', 'console', 'zsh', 'text', 'none', 'default'))
CUT_OFF = (f"p => p.scrollWidth > p.clientWidth + 1 && !(p.closest('{KEEP_LINES}') && "
           "['auto', 'scroll'].includes(getComputedStyle(p).overflowX))")


def visit(browser, server, page, width=1280, height=900):
    "A page of the site loaded at `width`, its maths typeset (MathJax) where it has any."
    pg = browser.new_page(viewport={'width': width, 'height': height})
    resp = pg.goto(f'{server}/{page}.html', wait_until='load')
    assert resp.status == 200, (page, resp.status)
    pg.wait_for_load_state('networkidle')
    if pg.locator('div.math, span.math').count():
        pg.wait_for_selector('mjx-container', timeout=20000)
        pg.wait_for_function("() => !document.querySelector('div.math:not(:has(mjx-container))')", timeout=20000)
    return pg


def test_card_chapters_sit_in_the_sidebar_in_order(browser, server):
    pg = visit(browser, server, 'index')
    hrefs = pg.eval_on_selector_all('.sidebar-tree a.reference', 'els => els.map(e => e.getAttribute("href"))')
    stems = [h.split('#')[0].removesuffix('.html') for h in hrefs]
    assert [s for s in stems if s in CARD] == CARD, stems
    pg.close()
    for page in CARD: visit(browser, server, page).close()          # and each one is there


def test_the_kl_function_is_on_the_elbo_page(browser, server):
    "The one-liner `03_elbo` derives is shown on the chapter's page, not only in the listing under src/."
    pg = visit(browser, server, '03_elbo')
    code = pg.eval_on_selector_all('article[role=main] pre', 'els => els.map(e => e.textContent)')
    assert any(KL_BODY in c for c in code), "03_elbo.html does not show kl_divergence's body"
    pg.close()


@pytest.mark.parametrize('page', PAGES)
def test_no_api_entry_twice_and_nothing_wider_than_the_column(browser, server, page):
    """show_doc's entries (rendered as rubrics in the cells' outputs) are unique on each page; at 1280 px every display
    equation fits the main column (its own width, not what a scrolling box would show of it), and no code block is
    cut off at the column's edge."""
    pg = visit(browser, server, page)
    found = pg.evaluate("""() => {
        const main = document.querySelector('article[role=main]'), cs = getComputedStyle(main);
        const width = main.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
        const entries = [...main.querySelectorAll('.cell_output p.rubric')].map(e => e.textContent.trim());
        const wide = [...main.querySelectorAll('mjx-container[display="true"] > mjx-math')]
            .map(m => [Math.round(m.getBoundingClientRect().width), m.parentElement.textContent.slice(0, 60)])
            .filter(([w]) => w > width);
        const clipped = [...main.querySelectorAll('pre')].filter(p => !p.closest('.source-listing'))
            .filter(%s).map(p => p.textContent.slice(0, 60));
        return {width, entries, wide, clipped};
    }""" % CUT_OFF)
    twice = sorted(e for e, n in collections.Counter(found['entries']).items() if n > 1)
    assert not twice, f"{page}: API entries shown more than once: {twice}"
    assert not found['wide'], f"{page}: display equations wider than the {found['width']:.0f} px column: {found['wide']}"
    assert not found['clipped'], f"{page}: code blocks cut off at the column's edge: {found['clipped']}"
    pg.close()


def test_train_opens_with_a_short_loop_before_fit(browser, server, artifacts):
    "A loop of about 15 lines, with `backward` and an optimizer `.step(`, comes on the page before `fit` is named."
    pg = visit(browser, server, '04_train')
    res = pg.evaluate("""() => {
        const main = document.querySelector('article[role=main]');
        const loop = [...main.querySelectorAll('.cell_input pre')]
            .find(p => p.textContent.includes('backward(') && p.textContent.includes('.step('));
        const fit = [...main.querySelectorAll('code, p.rubric, [id="fit"]')]
            .find(e => e.id === 'fit' || e.textContent.trim() === 'fit');
        if (!loop || !fit) return {loop: !!loop, fit: !!fit};
        return {loop: true, fit: true, lines: loop.textContent.trim().split('\\n').length,
                before: !!(loop.compareDocumentPosition(fit) & Node.DOCUMENT_POSITION_FOLLOWING)};
    }""")
    assert res['loop'] and res['fit'], res
    assert res['before'], "04_train names fit before it shows the short loop"
    assert res['lines'] <= 20, f"the first loop on 04_train is {res['lines']} lines long"
    pg.screenshot(path=str(artifacts/'book-04_train.png'), full_page=True)
    pg.close()


def test_code_is_not_cut_off_on_a_phone(browser, server):
    """At 420 px too, no code block of the VAE chapters is wider than its box: long lines wrap, under their own
    start; a shell command keeps its line and scrolls inside its box (test_shell_commands_keep_their_lines)."""
    clipped = {}
    for page in ['index'] + CARD + ['03c_backprop', '08_results']:
        pg = visit(browser, server, page, 420)
        n = pg.eval_on_selector_all('article[role=main] pre', f'els => els.filter({CUT_OFF}).length')
        if n: clipped[page] = n
        pg.close()
    assert not clipped, f"code blocks cut off at 420 px: {clipped}"


def test_shell_commands_keep_their_lines(browser, server):
    """At 420 px the home page's quick-start command stays one line (`--epochs` is not split from its `--`), in a
    box that scrolls sideways; the Python code below it still wraps inside the column."""
    pg = visit(browser, server, 'index', 420)
    res = pg.evaluate("""() => {
        const pre = [...document.querySelectorAll('article[role=main] .highlight-bash pre')]
            .find(p => p.textContent.includes('--epochs 1 --out runs/quick'));
        if (!pre) return null;
        const top = word => {          // where a word of the block starts on the screen
            const walk = document.createTreeWalker(pre, NodeFilter.SHOW_TEXT);
            for (let t; (t = walk.nextNode());) {
                const i = t.data.indexOf(word);
                if (i >= 0) { const r = document.createRange(); r.setStart(t, i); r.setEnd(t, i + word.length);
                              return r.getBoundingClientRect().top; }
            }
        };
        const cs = getComputedStyle(pre);
        const py = [...document.querySelectorAll('article[role=main] .highlight-ipython3 pre')];
        return {white: cs.whiteSpace, overflow: cs.overflowX, wider: pre.scrollWidth > pre.clientWidth,
                tops: ['pip', 'scratch_vae_train', 'epochs', 'quick'].map(top),
                python: py.map(p => getComputedStyle(p).whiteSpace)};
    }""")
    pg.close()
    assert res, "index.html has no bash block with the quick-start command"
    assert res['white'] == 'pre' and res['overflow'] in ('auto', 'scroll'), res
    assert res['wider'], f"the command fits 420 px: the test no longer tests the wrapping ({res})"
    assert len(set(res['tops'])) == 1, f"the command wraps at 420 px: its words start at heights {res['tops']}"
    assert res['python'] and set(res['python']) == {'pre-wrap'}, res['python']


def test_no_internal_tensor_reprs(site):
    "Outputs show numbers, not autograd's internals (`grad_fn=<...>`)."
    bad = [f.name for f in sorted(site.glob('*.html')) if 'grad_fn=' in f.read_text()]
    assert not bad, f"pages showing grad_fn=: {bad}"


def test_source_pages_are_pages_of_the_site(site):
    "src/<module>.html: the site's theme and navigation, an anchor per line, and a link back to its chapter."
    loop = (site/'src'/'loop.html').read_text()
    assert 'sidebar-tree' in loop and 'furo' in loop and '04c_loop.html' in loop
    n = loop.count('id="L-')
    assert n > 100 and 'id="L-1"' in loop, n
    index = (site/'src'/'index.html').read_text()
    assert all(f'{m}.html' in index for m in ('train', 'loop', 'elbo', 'model', 'backprop', 'sample')), "src/index.html lists the modules"
    assert 'src/index.html' in (site/'index.html').read_text(), "the navigation reaches the source listings"


def test_no_template_placeholder_is_left_in_the_text():
    "A draft's `{PLACEHOLDER}` never reaches a reader: markdown of every notebook and the README, maths and code aside."
    import json
    from pathlib import Path
    root = Path(__file__).parents[1]
    texts = {'README.md': (root/'README.md').read_text()}
    for nb in sorted((root/'nbs').glob('*.ipynb')):
        cells = json.loads(nb.read_text())['cells']
        texts[nb.name] = '\n'.join(''.join(c['source']) for c in cells if c['cell_type'] == 'markdown')
    left = {}
    for name, text in texts.items():
        text = re.sub(r'\$\$.*?\$\$|\$[^$]+\$|```.*?```|`[^`\n]*`', ' ', text, flags=re.S)
        if found := re.findall(r'\{[A-Z][A-Z_]+\}', text): left[name] = found
    assert not left, f"placeholders left in the text: {left}"
