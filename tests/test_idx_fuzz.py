"""IDX reader: round-trip properties, MNIST-level checks, and a fuzz in which `IDXError` is the only exception."""
import gzip
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st, HealthCheck
from hypothesis.extra import numpy as hnp
from conftest import DATA
from scratch_vae.idx import read_idx, write_idx, parse_idx, idx_bytes, IDX_DTYPES, IDXError
from scratch_vae.data import load_mnist

DTYPES = [dt.newbyteorder('=') for dt in IDX_DTYPES.values()]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(a=st.sampled_from(DTYPES).flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=1, max_dims=5, min_side=0, max_side=6))),
       gz=st.booleans())
def test_round_trip(tmp_path, a, gz):
    p = tmp_path/'a.idx'
    write_idx(p, a, compress=gz)
    b = read_idx(p)
    assert b.dtype == a.dtype and b.shape == a.shape
    np.testing.assert_array_equal(b, a)          # NaNs compare equal here, bit patterns survive


def test_unsupported_dtype_refused(tmp_path):
    with pytest.raises(ValueError, match='cannot store'): write_idx(tmp_path/'x', np.zeros(3, np.uint16))


REAL_IMG = idx_bytes(read_idx(DATA/'mnist'/'t10k-images-idx3-ubyte.gz')[:20])
REAL_LBL = idx_bytes(read_idx(DATA/'mnist'/'t10k-labels-idx1-ubyte.gz')[:20])

mutation = st.one_of(
    st.tuples(st.just('flip'), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just('truncate'), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just('insert'), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just('append'), st.integers(1, 64), st.integers(0, 255)),
    st.tuples(st.just('header'), st.integers(0, 15), st.integers(0, 255)),
)


def mutate(data: bytes, muts) -> bytes:
    b = bytearray(data)
    for kind, pos, val in muts:
        if not b and kind != 'append': continue
        i = pos % max(len(b), 1)
        if kind == 'flip': b[i] ^= val
        elif kind == 'truncate': del b[i:]
        elif kind == 'insert': b.insert(i, val)
        elif kind == 'append': b += bytes([val]) * pos
        elif kind == 'header' and pos < len(b): b[pos] = val
    return bytes(b)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(base=st.sampled_from([REAL_IMG, REAL_LBL]), muts=st.lists(mutation, min_size=1, max_size=4), gz=st.booleans(),
       gz_after=st.booleans())
def test_fuzz_only_idxerror(tmp_path, base, muts, gz, gz_after):
    """Mutate real headers and payloads, plain or gzip'd (mutating the gzip stream itself, or its content)."""
    data = mutate(gzip.compress(base, mtime=0), muts) if gz and gz_after else mutate(base, muts)
    if gz and not gz_after: data = gzip.compress(data, mtime=0)
    p = tmp_path/'f.idx'
    p.write_bytes(data)
    try: a = read_idx(p)
    except IDXError as e: assert str(p) in str(e)
    else:
        assert isinstance(a, np.ndarray)
        # a file that parses must round-trip exactly
        assert idx_bytes(a) == (gzip.decompress(p.read_bytes()) if p.read_bytes()[:2] == b'\x1f\x8b' else p.read_bytes())


def test_mnist_level_checks(tmp_path):
    (tmp_path/'mnist').mkdir()
    # images and labels swapped under each other's names
    (tmp_path/'mnist'/'t10k-images-idx3-ubyte.gz').write_bytes(gzip.compress(REAL_LBL))
    (tmp_path/'mnist'/'t10k-labels-idx1-ubyte.gz').write_bytes(gzip.compress(REAL_IMG))
    with pytest.raises(IDXError, match='t10k-images.*1-D labels file'): load_mnist('test', root=tmp_path, download=False)
    (tmp_path/'mnist'/'t10k-images-idx3-ubyte.gz').write_bytes(gzip.compress(REAL_IMG))
    with pytest.raises(IDXError, match='t10k-labels.*images file'): load_mnist('test', root=tmp_path, download=False)
    lbl = read_idx(DATA/'mnist'/'t10k-labels-idx1-ubyte.gz')[:20].copy(); lbl[7] = 12
    write_idx(tmp_path/'mnist'/'t10k-labels-idx1-ubyte.gz', lbl)
    with pytest.raises(IDXError, match='outside 0–9, first at index 7'): load_mnist('test', root=tmp_path, download=False)
    write_idx(tmp_path/'mnist'/'t10k-labels-idx1-ubyte.gz', lbl[:10] % 10)
    with pytest.raises(IDXError, match='10 labels for 20 images'): load_mnist('test', root=tmp_path, download=False)
    write_idx(tmp_path/'mnist'/'t10k-images-idx3-ubyte.gz', np.zeros((10, 32, 32), np.uint8))
    with pytest.raises(IDXError, match='28×28'): load_mnist('test', root=tmp_path, download=False)


def test_real_files():
    x, y = load_mnist('test', root=DATA, download=False)
    assert x.shape == (10000, 28, 28) and str(x.dtype) == 'torch.uint8' and str(y.dtype) == 'torch.int64'
    assert np.bincount(y.numpy()).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    yl = read_idx(DATA/'mnist'/'train-labels-idx1-ubyte.gz')
    assert yl.shape == (60000,) and np.bincount(yl).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
