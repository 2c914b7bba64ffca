"""Files built to hurt cost nothing but a clear error: gzip bombs and absurd IDX headers, weights files whose metadata
lies about the model, and fuzzed headers of both formats. Each case ends in `IDXError` or `CheckpointError`, fast,
with the process's peak memory (`ru_maxrss`) held to a bound."""
import gzip, json, random, resource, struct, subprocess, sys, time
from pathlib import Path
import numpy as np
import pytest, torch
from hypothesis import given, settings, strategies as st, HealthCheck
from safetensors.torch import save as st_save
from conftest import ROOT
from scratch_vae.idx import read_idx, idx_bytes, IDXError, MAX_IDX_DIMS
from scratch_vae.checkpoint import load_model, save_model, CheckpointError, FORMAT
from scratch_vae.model import VAE

MiB = 2**20


def peak_rss() -> int: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def in_fresh_process(code: str) -> dict:
    "Run `code` (which sets `out`) in a new interpreter; returns its `out` plus its peak-RSS growth and seconds."
    prog = ("import resource, time, json\nfrom pathlib import Path\nimport scratch_vae.idx, scratch_vae.checkpoint\n"
            "r0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; t0 = time.perf_counter()\n" + code +
            "\nprint(json.dumps(dict(out=out, seconds=time.perf_counter() - t0, "
            "rss_growth=(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - r0) * 1024)))")
    r = subprocess.run([sys.executable, '-c', prog], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout.splitlines()[-1])


@pytest.fixture(scope='module')
def bomb(tmp_path_factory):
    "A 1 MB gzip file: an IDX header declaring one 28×28 image, then 1 GiB of zeros."
    p = tmp_path_factory.mktemp('bomb')/'t10k-images-idx3-ubyte.gz'
    with gzip.open(p, 'wb', compresslevel=9) as f:
        f.write(idx_bytes(np.zeros((1, 28, 28), np.uint8)))
        zeros = bytes(64 * MiB)
        for _ in range(16): f.write(zeros)
    return p


def test_gzip_bomb_is_refused_fast_in_bounded_memory(bomb):
    assert bomb.stat().st_size < 2 * MiB
    r = in_fresh_process(f"""
try: scratch_vae.idx.read_idx({str(bomb)!r}); out = 'parsed'
except scratch_vae.idx.IDXError as e: out = str(e)""")
    assert 'trailing bytes after the payload of shape (1, 28, 28)' in r['out'] and str(bomb) in r['out'], r
    assert r['seconds'] < 1.0 and r['rss_growth'] < 16 * MiB, r


@pytest.mark.parametrize('header,msg', [
    (b'\x00\x00\x08\xff' + bytes(4 * 255), f'at most {MAX_IDX_DIMS}'),                      # ndim = 255
    (b'\x00\x00\x08\x41' + bytes(4 * 65), f'at most {MAX_IDX_DIMS}'),                        # more than numpy's 64
    (b'\x00\x00\x08\x02' + struct.pack('>II', 2**32 - 1, 2**32 - 1), 'more than the 2,147,483,648'),   # 2^64: overflows 32 and 64 bits
    (b'\x00\x00\x0e\x03' + struct.pack('>III', 65536, 65536, 2), 'more than the'),          # 2^33 items of 8 bytes
    (b'\x00\x00\x0d\x01' + struct.pack('>I', 2**30), 'more than the'),                      # 4 GiB of float32
    (b'\x00\x00\x08\x03' + struct.pack('>III', 10**6, 28, 28), 'truncated payload'),         # 784 MB declared, nothing sent
])
def test_absurd_headers(tmp_path, header, msg):
    p = tmp_path/'x.idx'; p.write_bytes(header)
    r0, t0 = peak_rss(), time.perf_counter()
    with pytest.raises(IDXError, match=msg) as e: read_idx(p, max_bytes=2**31 if 'truncated' not in msg else 10**9)
    assert str(p) in str(e.value) and time.perf_counter() - t0 < 1.0


def test_truncated_huge_declaration_allocates_only_what_was_declared_and_bounded(tmp_path):
    "A header declaring 800 MB with 1 KB behind it: refused; the allocation is bounded by max_bytes, here 1 MB."
    p = tmp_path/'x.idx'; p.write_bytes(b'\x00\x00\x08\x03' + struct.pack('>III', 10**6, 28, 28) + bytes(1000))
    with pytest.raises(IDXError, match='more than the 1,048,576'): read_idx(p, max_bytes=MiB)


IDX_BASE = idx_bytes(np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(pos=st.integers(0, 15), value=st.integers(0, 255), dim=st.integers(0, 2**32 - 1), which=st.sampled_from(['byte', 'dim']),
       gz=st.booleans())
def test_fuzz_idx_header_bytes(tmp_path, pos, value, dim, which, gz):
    "Every header byte (magic, type code, ndim, each dimension) set to every kind of value, plain and gzip'd."
    b = bytearray(IDX_BASE)
    if which == 'byte': b[pos] = value
    else: b[4 + 4 * (pos % 3):8 + 4 * (pos % 3)] = dim.to_bytes(4, 'big')
    data = gzip.compress(bytes(b), compresslevel=1) if gz else bytes(b)
    p = tmp_path/'f.idx'; p.write_bytes(data)
    r0, t0 = peak_rss(), time.perf_counter()
    try: a = read_idx(p)
    except IDXError as e: assert str(p) in str(e)
    else: assert idx_bytes(a) == bytes(b)
    assert time.perf_counter() - t0 < 1.0
    assert peak_rss() - r0 < 64 * MiB


# --- weights files -----------------------------------------------------------------------------------------------------

@pytest.fixture(scope='module')
def weights(tmp_path_factory):
    "A real trained weights file (one quick epoch on MNIST), as bytes."
    from conftest import DATA
    from scratch_vae.config import TrainConfig
    from scratch_vae.train import fit
    out = tmp_path_factory.mktemp('w')
    fit(TrainConfig(data=str(DATA), out=str(out), epochs=1, limit=2000), quiet=True, log=lambda s: None)
    return (out/'model.safetensors').read_bytes()


def split(data: bytes):
    n = struct.unpack('<Q', data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def join(header: dict, body: bytes) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack('<Q', len(h)) + h + body


def test_metadata_that_lies_about_the_model(weights, tmp_path):
    header, body = split(weights)
    meta = json.loads(header['__metadata__']['meta'])
    meta['model']['hidden_dims'] = [50_000_000]
    header['__metadata__']['meta'] = json.dumps(meta)
    p = tmp_path/'liar.safetensors'; p.write_bytes(join(header, body))
    r = in_fresh_process(f"""
try: scratch_vae.checkpoint.load_model({str(p)!r}); out = 'loaded'
except scratch_vae.checkpoint.CheckpointError as e: out = str(e)""")
    assert str(p) in r['out'] and "metadata field 'model'" in r['out'] and 'hidden_dims' in r['out'], r
    assert r['seconds'] < 1.0 and r['rss_growth'] < 16 * MiB, r
    meta['model']['hidden_dims'] = [3_000_000]                    # "a less absurd size": still nothing allocated
    header['__metadata__']['meta'] = json.dumps(meta); p.write_bytes(join(header, body))
    r0 = peak_rss()
    with pytest.raises(CheckpointError, match='describes'): load_model(p)
    assert peak_rss() - r0 < 16 * MiB


def mutate_header(header: dict, rng: random.Random) -> dict:
    h = json.loads(json.dumps(header))
    names = [k for k in h if k != '__metadata__']
    kind = rng.choice(['dtype', 'shape', 'offsets', 'meta-field', 'meta-json', 'format', 'drop', 'rename'])
    k = rng.choice(names)
    if kind == 'dtype': h[k]['dtype'] = rng.choice(['F16', 'F64', 'I64', 'U8', 'BOOL', 'X9', 'BF16'])
    elif kind == 'shape': h[k]['shape'] = rng.choice([[], [0], [2**40], [-1, 3], [2**31, 2**31], h[k]['shape'][::-1], [1] * 70])
    elif kind == 'offsets': h[k]['data_offsets'] = rng.choice([[0, 2**62], [-5, 3], [10, 2], [0, 0], [2**63, 2**63 + 4]])
    elif kind == 'meta-field':
        field = rng.choice(['input_dim', 'hidden_dims', 'latent_dim', 'activation'])
        value = rng.choice([0, -3, 2**40, 'x', None, [2**31], [256, 0], [], 1.5, {'a': 1}, True])
        try:
            meta = json.loads(h['__metadata__']['meta']); meta['model'][field] = value
            h['__metadata__']['meta'] = json.dumps(meta)
        except (ValueError, TypeError, KeyError): pass              # an earlier mutation already broke the JSON
    elif kind == 'meta-json': h['__metadata__']['meta'] = rng.choice(['', '{', '[]', '"model"', '{"model": 3}', 'null', '1e999'])
    elif kind == 'format': h['__metadata__']['format'] = rng.choice(['', 'scratch_vae/2', 'pt'])
    elif kind == 'drop': del h[k]
    elif kind == 'rename': h['x' + k] = h.pop(k)
    return h


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), n=st.integers(1, 3), cut=st.one_of(st.none(), st.integers(0, 10**7)))
def test_fuzz_weights_files(weights, tmp_path, seed, n, cut):
    "Mutated header JSON (dtypes, shapes, offsets, metadata fields, format tag, names), and truncations, of a real file."
    rng = random.Random(seed)
    header, body = split(weights)
    for _ in range(n): header = mutate_header(header, rng)
    data = join(header, body)
    if cut is not None: data = data[:cut % (len(data) + 1)]
    p = tmp_path/'f.safetensors'; p.write_bytes(data)
    r0, t0 = peak_rss(), time.perf_counter()
    try: m = load_model(p)
    except CheckpointError as e: assert str(p) in str(e)
    else: assert isinstance(m, VAE)                               # a harmless mutation (e.g. of an unused field) may load
    assert time.perf_counter() - t0 < 1.0
    assert peak_rss() - r0 < 64 * MiB


def test_fuzz_weights_header_length(weights, tmp_path):
    "The 8-byte header length: zero, past the end, huge."
    for n in (0, 1, 7, len(weights), 2**31, 2**63 - 1, 2**64 - 1):
        p = tmp_path/'h.safetensors'; p.write_bytes(struct.pack('<Q', n) + weights[8:])
        with pytest.raises(CheckpointError, match='not a readable safetensors file'): load_model(p)
