"""Downloads against a loopback HTTP server: checksums, mirror fallback, atomicity, size bounds, redirects."""
import hashlib, http.server, threading, time
from pathlib import Path
import pytest
from conftest import DATA
from scratch_vae import datasets as idx
from scratch_vae.data import load_mnist
from scratch_vae.datasets import download_dataset, fetch, DownloadError, DATASETS

REAL = {n: (DATA/'mnist'/n).read_bytes() for n in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')}


class Handler(http.server.BaseHTTPRequestHandler):
    hits = []
    def log_message(self, *a): pass

    def do_GET(self):
        Handler.hits.append(self.path)
        mode, name = self.path.strip('/').split('/', 1)
        body = REAL.get(name)
        if mode == 'missing' or body is None: return self.send_error(404)
        if mode == 'redirect-file':
            self.send_response(302); self.send_header('Location', 'file:///etc/passwd'); self.end_headers(); return
        if mode == 'redirect-ftp':
            self.send_response(302); self.send_header('Location', f'ftp://127.0.0.1:1/{name}'); self.end_headers(); return
        if mode == 'redirect-good':
            self.send_response(302); self.send_header('Location', f'/good/{name}'); self.end_headers(); return
        self.send_response(200)
        if mode == 'endless':
            self.end_headers()
            try:
                for _ in range(2000):               # bounded: at most ~128 MB, the client cuts off far earlier
                    self.wfile.write(b'\0' * 65536)
            except (BrokenPipeError, ConnectionResetError): pass
            return
        if mode == 'slow':                          # a mirror that trickles: 1 byte every 50 ms
            self.send_header('Content-Length', str(len(body))); self.end_headers()
            try:
                for b in body[:200]: self.wfile.write(bytes([b])); self.wfile.flush(); time.sleep(0.05)
            except (BrokenPipeError, ConnectionResetError): pass
            return
        if mode == 'corrupt': body = bytes(b ^ 0xFF for b in body[:64]) + body[64:]
        self.send_header('Content-Length', str(len(body))); self.end_headers()
        if mode == 'drop': body = body[:len(body) // 2]     # promise the whole file, close halfway
        self.wfile.write(body)


@pytest.fixture(scope='module')
def server():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True); t.start()
    yield f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown(); srv.server_close()


@pytest.fixture(autouse=True)
def nowhere_else(tmp_path, monkeypatch):
    "The search path is root, $SCRATCH_VAE_DATA, ./data, the clone's data/: make only the test's own root count."
    monkeypatch.delenv('SCRATCH_VAE_DATA', raising=False)
    monkeypatch.setattr(idx, 'CLONE', tmp_path/'no-clone')
    monkeypatch.chdir(tmp_path)


def no_leftovers(d: Path): return [p.name for p in d.iterdir() if p.name.startswith('.')]


def test_good_mirror(server, tmp_path):
    download_dataset('mnist', tmp_path, splits=('test',), mirrors=[f'{server}/good/'], log=None)
    for n, b in REAL.items(): assert (tmp_path/n).read_bytes() == b
    assert no_leftovers(tmp_path) == []


def test_corrupt_then_good(server, tmp_path):
    msgs = []
    download_dataset('mnist', tmp_path, splits=('test',), mirrors=[f'{server}/corrupt/', f'{server}/good/'], log=msgs.append)
    assert all((tmp_path/n).read_bytes() == b for n, b in REAL.items())
    assert [m.split('/')[3] for m in msgs] == ['corrupt', 'good', 'corrupt', 'good']
    assert no_leftovers(tmp_path) == []


def test_corrupt_only_leaves_nothing(server, tmp_path):
    with pytest.raises(DownloadError, match='MD5') as e:
        download_dataset('mnist', tmp_path, splits=('test',), mirrors=[f'{server}/corrupt/'], log=None)
    assert 'by hand' in str(e.value) and str(tmp_path) in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_dropped_connection_then_good(server, tmp_path):
    download_dataset('mnist', tmp_path, splits=('test',), mirrors=[f'{server}/drop/', f'{server}/good/'], log=None)
    assert all((tmp_path/n).read_bytes() == b for n, b in REAL.items())
    assert no_leftovers(tmp_path) == []


def test_dropped_connection_only(server, tmp_path):
    with pytest.raises(DownloadError, match='connection closed after 824,438 of 1,648,877 bytes'):
        download_dataset('mnist', tmp_path, splits=('test',), mirrors=[f'{server}/drop/'], log=None)
    assert list(tmp_path.iterdir()) == []


def test_endless_stream_is_cut_off(server, tmp_path):
    md5, size = DATASETS['mnist']['files']['t10k-labels-idx1-ubyte.gz']
    t = time.time()
    with pytest.raises(DownloadError, match='cut off'):
        fetch(f'{server}/endless/t10k-labels-idx1-ubyte.gz', tmp_path/'x.gz', md5, size)
    assert time.time() - t < 10 and list(tmp_path.iterdir()) == []


def test_redirects(server, tmp_path):
    md5, size = DATASETS['mnist']['files']['t10k-labels-idx1-ubyte.gz']
    with pytest.raises(OSError, match='not allowed|refused'):
        fetch(f'{server}/redirect-file/t10k-labels-idx1-ubyte.gz', tmp_path/'x.gz', md5, size)
    with pytest.raises(OSError, match='refused redirect .* to non-HTTP'):     # urllib alone would follow ftp://
        fetch(f'{server}/redirect-ftp/t10k-labels-idx1-ubyte.gz', tmp_path/'x.gz', md5, size)
    fetch(f'{server}/redirect-good/t10k-labels-idx1-ubyte.gz', tmp_path/'y.gz', md5, size)   # HTTP → HTTP is fine
    assert (tmp_path/'y.gz').read_bytes() == REAL['t10k-labels-idx1-ubyte.gz']
    with pytest.raises(ValueError, match='non-HTTP'): fetch('file:///etc/passwd', tmp_path/'z', md5, size)


def test_no_network_fails_fast_with_instructions(tmp_path):
    import socket
    s = socket.socket(); s.bind(('127.0.0.1', 0)); port = s.getsockname()[1]; s.close()    # nothing listens here
    t = time.time()
    with pytest.raises(DownloadError) as e:
        load_mnist('test', root=tmp_path, mirrors=[f'http://127.0.0.1:{port}/'], log=None)
    assert time.time() - t < 5
    msg = str(e.value)
    assert 't10k-images-idx3-ubyte.gz' in msg and str(tmp_path/'mnist') in msg and 'SCRATCH_VAE_DATA' in msg


def test_load_mnist_downloads_then_loads(server, tmp_path):
    Handler.hits.clear()
    x, y = load_mnist('test', root=tmp_path, mirrors=[f'{server}/missing/', f'{server}/good/'], log=None)
    assert x.shape == (10000, 28, 28) and y.shape == (10000,)
    assert [h.split('/')[1] for h in Handler.hits] == ['missing', 'good', 'missing', 'good']
    assert (tmp_path/'mnist'/'t10k-images-idx3-ubyte.gz').exists()
    Handler.hits.clear()
    load_mnist('test', root=tmp_path, mirrors=[f'{server}/good/'], log=None)    # present now: no download
    assert Handler.hits == []


def test_search_order(tmp_path, monkeypatch):
    assert idx.find_split('mnist', 'test') is None
    a, b = tmp_path/'a', tmp_path/'b'
    for d in (a, b):
        (d/'mnist').mkdir(parents=True)
        for n, data in REAL.items(): (d/'mnist'/n).write_bytes(data)
    monkeypatch.setenv('SCRATCH_VAE_DATA', str(b))
    assert idx.find_split('mnist', 'test', a)[0].parent == a/'mnist'
    assert idx.find_split('mnist', 'test')[0].parent == b/'mnist'
    (b/'mnist'/'t10k-labels-idx1-ubyte.gz').unlink()
    import gzip
    (b/'mnist'/'t10k-labels-idx1-ubyte').write_bytes(gzip.decompress(REAL['t10k-labels-idx1-ubyte.gz']))  # plain counts
    assert idx.find_split('mnist', 'test')[1].name == 't10k-labels-idx1-ubyte'


def test_a_trickling_mirror_is_left_at_its_deadline(server, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match='too slow: giving up on this mirror'):
        fetch(f'{server}/slow/t10k-labels-idx1-ubyte.gz', tmp_path/'x.gz', *DATASETS['mnist']['files']['t10k-labels-idx1-ubyte.gz'], deadline=1)
    assert time.monotonic() - t0 < 5 and list(tmp_path.iterdir()) == []


def test_slow_then_good_mirror(server, tmp_path, monkeypatch):
    real = idx.fetch
    monkeypatch.setattr(idx, 'fetch', lambda *a, **k: real(*a, **k | dict(deadline=1)))
    download_dataset('mnist', tmp_path, splits=('test',), mirrors=[f'{server}/slow/', f'{server}/good/'], log=None)
    assert all((tmp_path/n).read_bytes() == b for n, b in REAL.items())


def test_a_failed_download_creates_no_folders(server, tmp_path):
    with pytest.raises(DownloadError):
        download_dataset('mnist', tmp_path/'a'/'b', splits=('test',), mirrors=[f'{server}/missing/'], log=None)
    assert list(tmp_path.iterdir()) == []


def test_explicit_root_is_used_alone(tmp_path):
    from scratch_vae.data import candidate_dirs
    (tmp_path/'data'/'mnist').mkdir(parents=True)                 # ./data exists, but --data says elsewhere
    assert candidate_dirs('fashion-mnist', tmp_path/'mine') == [(tmp_path/'mine'/'fashion-mnist').absolute()]
    with pytest.raises(FileNotFoundError, match=str(tmp_path/'mine'/'mnist')):
        load_mnist('test', root=tmp_path/'mine', download=False)
    assert not (tmp_path/'mine').exists()
