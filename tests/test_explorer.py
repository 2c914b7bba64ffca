"""The latent explorer page (nbs/05b_explorer.ipynb) in headless Chromium, served over loopback and opened from
`file://`: the in-browser decoder against Python's `load_model('pretrained:mnist-latent2')`, the picture the page draws
after a drag and a slider move, and not one request leaving the site."""
import numpy as np
import pytest
import torch
from test_browser import browser, server    # noqa: F401  (the same headless Chromium and loopback server fixtures)

PAGE = '05b_explorer.html'
ZS = [[0, 0], [-1.2, 2.6], [2.5, -0.4], [-3.7, -3.1], [0.123456, -0.987654], [4.9, 4.9], [-7, 9]]   # the last is off the plane


@pytest.fixture(scope='module')
def model():
    from scratch_vae.checkpoint import load_model
    return load_model('pretrained:mnist-latent2')


def python_decode(model, zs) -> np.ndarray:
    with torch.no_grad(): return torch.sigmoid(model.decode(torch.tensor(zs, dtype=torch.float32))).numpy()


class Explorer:
    "One tab on the explorer page, with every request it made and every error it logged."
    def __init__(self, browser, url, site_prefix, width=1280):
        self.page = browser.new_page(viewport={'width': width, 'height': 900})
        self.site_prefix, self.requests, self.errors = site_prefix, [], []
        self.page.on('request', lambda r: self.requests.append(r.url))
        self.page.on('console', lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == 'error' else None)
        self.page.on('pageerror', lambda e: self.errors.append(f"page error: {e}"))
        self.page.goto(url, wait_until='load')
        self.page.wait_for_function('window.scratchVAE && document.querySelector(".sv-digit")', timeout=20000)

    def outside(self) -> list[str]:
        "The requests that left the site (`data:` URLs are not requests to anyone)."
        return [u for u in self.requests if not (u.startswith(self.site_prefix) or u.startswith('data:'))]

    def latent(self) -> list[float]: return self.page.evaluate('scratchVAE.getLatent()')

    def sliders(self) -> list[float]:
        return [float(v) for v in self.page.eval_on_selector_all('.sv-slider input', 'els => els.map(e => e.value)')]

    def picture(self) -> np.ndarray:
        "The 28×28 canvas read back as pixel probabilities (it draws 1 - p as grey, dark strokes on white)."
        rgba = np.array(self.page.evaluate('''() => { const c = document.querySelector(".sv-digit");
            return Array.from(c.getContext("2d").getImageData(0, 0, 28, 28).data); }'''), dtype=float).reshape(784, 4)
        assert (rgba[:, 0] == rgba[:, 1]).all() and (rgba[:, 1] == rgba[:, 2]).all() and (rgba[:, 3] == 255).all()
        return 1 - rgba[:, 0] / 255

    def drag(self, frm, to, steps=12):
        "Drag the marker with the mouse between fractions (x, y) of the plane canvas (0, 0 = top left)."
        self.page.locator('.sv-plane').scroll_into_view_if_needed()      # a reader scrolls to it first
        box = self.page.locator('.sv-plane').bounding_box()
        at = lambda f: (box['x'] + f[0] * box['width'], box['y'] + f[1] * box['height'])
        self.page.mouse.move(*at(frm)); self.page.mouse.down()
        self.page.mouse.move(*at(to), steps=steps); self.page.mouse.up()


@pytest.fixture(params=['loopback', 'file'])
def explorer(request, browser, server, site):
    url, prefix = (f'{server}/{PAGE}', f'{server}/') if request.param == 'loopback' else ((site/PAGE).as_uri(), 'file://')
    ex = Explorer(browser, url, prefix)
    ex.mode = request.param
    yield ex
    ex.page.close()


def test_decode_matches_python(explorer, model):
    got = explorer.page.evaluate('zs => Promise.all(zs.map(z => Promise.resolve(scratchVAE.decode(z)).then(p => Array.from(p))))', ZS)
    got = np.array(got, dtype=np.float64)
    assert got.shape == (len(ZS), 784)
    diff = np.abs(got - python_decode(model, ZS)).max()
    print(f"{explorer.mode}: max |decode_js - decode_python| over {len(ZS)} z = {diff:.2e}")
    assert diff <= 1e-4, diff
    assert explorer.page.evaluate('[scratchVAE.model, scratchVAE.nPoints]') == ['pretrained:mnist-latent2', 10000]
    bad = explorer.page.evaluate('() => { try { scratchVAE.decode([1]); return null } catch (e) { return e.message } }')
    assert bad and 'two finite numbers' in bad, bad


def test_drag_and_slider_draw_the_python_picture(explorer, model, artifacts):
    ex = explorer
    assert np.abs(ex.picture() - python_decode(model, [ex.latent()])[0]).max() <= 1 / 255     # the start, z = (0, 0)
    ex.drag((0.5, 0.5), (0.3, 0.25))                   # left and up
    z = ex.latent()
    assert z[0] < -0.5 and z[1] > 0.5, z                # the plane's z1 grows to the right, z2 upwards
    assert np.allclose(ex.sliders(), z, atol=0.005 + 1e-9), (ex.sliders(), z)      # the sliders followed (step 0.01)
    want = python_decode(model, [z])[0]
    diff = np.abs(ex.picture() - want).max()
    print(f"{ex.mode}: after the drag to z = ({z[0]:.4f}, {z[1]:.4f}): max |canvas - python| = {diff * 255:.2f}/255")
    assert diff <= 1 / 255, diff * 255                  # the canvas stores round(255 (1 - p))
    assert np.abs(ex.picture() - python_decode(model, [[0, 0]])[0]).max() > 0.1    # the picture did change
    ex.page.keyboard.press('ArrowUp')                    # the click focused the plane: arrow keys move the marker
    assert ex.latent() == pytest.approx([z[0], z[1] + 0.1], abs=1e-9), (z, ex.latent())
    before, z = ex.sliders(), ex.latent()
    ex.page.locator('.sv-slider input').nth(0).focus()
    for _ in range(25): ex.page.keyboard.press('ArrowRight')      # z1 by 25 slider steps
    z2 = ex.latent()
    assert z2 == pytest.approx([before[0] + 0.25, z[1]], abs=1e-6), (before, z, z2)
    assert np.abs(ex.picture() - python_decode(model, [z2])[0]).max() <= 1 / 255
    ex.page.get_by_role('button', name='7', exact=True).click()   # the legend jumps to the middle of the 7s
    assert ex.page.locator('.sv-readout b').inner_text() == '7'
    plane = np.array(ex.page.evaluate('''() => { const c = document.querySelector(".sv-plane");
        return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data); }''')).reshape(-1, 4)[:, :3]
    coloured = (plane.max(1) - plane.min(1) > 60).sum()
    assert coloured > 2000, coloured                    # the 10,000 dots were drawn
    ex.page.locator('.scratch-vae-explorer').screenshot(path=str(artifacts/f'explorer-{ex.mode}.png'))
    assert not ex.errors, ex.errors


def test_posterior_and_its_ellipse(explorer, model):
    "`posterior(i)` is Python's (μ, σ) of the i-th test image in file order; the page draws the selected image's ellipse."
    from scratch_vae.data import load_mnist
    ex = explorer
    x, _ = load_mnist('test', download=False)
    with torch.no_grad(): mu, logvar = model.encode(x)
    want = torch.cat([mu, (0.5 * logvar).exp()], 1).numpy()
    idx = [0, 1, 17, 4321, 9999]
    got = np.array(ex.page.evaluate('ix => ix.map(i => scratchVAE.posterior(i))', idx), dtype=np.float64)
    assert np.abs(got - want[idx]).max() <= 1e-5, np.abs(got - want[idx]).max()
    bad = ex.page.evaluate('() => { try { scratchVAE.posterior(10000); return null } catch (e) { return e.message } }')
    assert bad and 'integer from 0 to 9999' in bad, bad
    i = int(np.argmax(want[:, 2] * (np.abs(want[:, :2]) < 4).all(1)))    # the widest posterior on the plane
    assert ex.page.evaluate(f'scratchVAE.select({i})') == pytest.approx(want[i].tolist(), abs=1e-5)
    assert ex.page.evaluate('scratchVAE.selected()') == i
    assert f'test image {i}' in ex.page.locator('.sv-readout').inner_text()
    box, dpr = ex.page.locator('.sv-plane').bounding_box(), ex.page.evaluate('window.devicePixelRatio')
    side = box['width'] - 38                                             # the plot inside the tick-label margins
    to_px = lambda z1, z2: [round((30 + (z1 + 5) / 10 * side) * dpr), round((8 + (5 - z2) / 10 * side) * dpr)]
    js = '([x, y]) => Array.from(document.querySelector(".sv-plane").getContext("2d").getImageData(x, y, 1, 1).data)'
    colour = ex.page.evaluate(js, to_px(want[i, 0] + want[i, 2], want[i, 1]))
    assert max(colour[:3]) - min(colour[:3]) > 60, colour             # the ellipse's edge, in its digit's colour
    assert not ex.errors, ex.errors


def test_no_request_leaves_the_site(explorer):
    ex = explorer
    ex.drag((0.2, 0.8), (0.7, 0.3))
    ex.page.evaluate('scratchVAE.setLatent(1, -1)')
    ex.page.wait_for_load_state('networkidle')
    assert any(u.endswith('_static/explorer_data.js') for u in ex.requests), ex.requests   # requests are being recorded
    assert not ex.outside(), ex.outside()
    assert not ex.errors, ex.errors


def test_narrow_screen(browser, server, artifacts):
    "At phone width the plane, the picture and the sliders stack in one column, and dragging still works."
    ex = Explorer(browser, f'{server}/{PAGE}', f'{server}/', width=420)
    boxes = {s: ex.page.locator(s).last.bounding_box() for s in ('.sv-plane', '.sv-digit', '.sv-slider')}
    assert boxes['.sv-digit']['y'] > boxes['.sv-plane']['y'] + boxes['.sv-plane']['height'] - 1, boxes
    assert all(b['x'] >= 0 and b['x'] + b['width'] <= 420 for b in boxes.values()), boxes
    ex.drag((0.5, 0.5), (0.75, 0.5))
    assert ex.latent()[0] > 1, ex.latent()
    ex.page.locator('.scratch-vae-explorer').screenshot(path=str(artifacts/'explorer-420.png'))
    assert not ex.errors and not ex.outside(), (ex.errors, ex.outside())
    ex.page.close()


def test_export_refuses_modified_weights_and_missing_data(tmp_path, monkeypatch):
    "The docs build's export: one line when the shipped file's SHA-256 is off or the MNIST test set is missing."
    import shutil, scratch_vae.weights as ck
    from explorer_data import ExplorerError, explorer_data
    monkeypatch.chdir(tmp_path); monkeypatch.delenv('SCRATCH_VAE_DATA', raising=False)     # no ./data, no $SCRATCH_VAE_DATA
    with pytest.raises(ExplorerError, match=r'MNIST test set is missing \(t10k-images.*load_mnist') as e: explorer_data(data_root=tmp_path)
    assert '\n' not in str(e.value)
    w = tmp_path/'weights'; shutil.copytree(ck.weights_dir(), w, ignore=shutil.ignore_patterns('*.png', '*.jsonl', 'checkpoint.*'))
    f = w/'mnist-latent2'/'model.safetensors'; b = bytearray(f.read_bytes()); b[-1] ^= 1; f.write_bytes(bytes(b))
    monkeypatch.setattr(ck, 'weights_dir', lambda: w)
    with pytest.raises(ExplorerError, match='differs from the published') as e: explorer_data()
    assert '\n' not in str(e.value)


def test_export_matches_the_shipped_file():
    "What the page gets is the file's own float32 tensors, in forward order, and all 10,000 test means."
    import base64
    from safetensors.numpy import load_file
    from scratch_vae.checkpoint import pretrained
    from explorer_data import explorer_data
    d, t = explorer_data(), load_file(str(pretrained('mnist-latent2')))
    f32 = lambda s: np.frombuffer(base64.b64decode(s), '<f4')
    assert [(l['in'], l['out'], l['activation']) for l in d['layers']] == [(2, 256, 'sigmoid'), (256, 784, 'sigmoid')]
    for l, k in zip(d['layers'], ('decoder.0', 'decoder.2')):
        assert (f32(l['weight']) == t[f'{k}.weight'].ravel()).all() and (f32(l['bias']) == t[f'{k}.bias']).all()
    assert d['n'] == 10000 and f32(d['means']).shape == (20000,) and len(base64.b64decode(d['labels'])) == 10000
