"""Shared pytest set-up: the repo layout, the real data the tests need, the `--slow` switch, and a session that
leaves nothing behind: every temporary file, ours and our subprocesses' (torchrun, Jupyter, Chromium), goes under one
folder of the clone, removed when the session ends."""
import os, shutil, sys, subprocess, tempfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRATCHES = ROOT/'.pytest-scratch'      # gitignored: pytest's tmp_path, $TMPDIR, Jupyter's and Chromium's homes,
                                        # one folder per session (two sessions never collide); workers inherit it
SCRATCH = Path(os.environ.setdefault('SCRATCH_VAE_TEST_SCRATCH', str(SCRATCHES/str(os.getpid()))))
SITE_BUILD = SCRATCH/'site-build'              # the docs site of this session, shared by pytest -n's workers
HOME_TRACES = [Path.home()/p for p in ('.jupyter', '.local/share/jupyter/runtime', '.cache/chromium-headless')]
for var, sub in [('TMPDIR', 'tmp'), ('JUPYTER_CONFIG_DIR', 'jupyter'), ('JUPYTER_RUNTIME_DIR', 'jupyter-runtime'),
                 ('JUPYTER_DATA_DIR', 'jupyter-data'), ('XDG_CACHE_HOME', 'cache'), ('XDG_CONFIG_HOME', 'config'),
                 ('IPYTHONDIR', 'ipython'), ('MPLCONFIGDIR', 'matplotlib')]:
    os.environ[var] = str(SCRATCH/sub); (SCRATCH/sub).mkdir(parents=True, exist_ok=True)
tempfile.tempdir = None                           # re-read $TMPDIR
os.environ.setdefault('OMP_NUM_THREADS', '1')    # one thread per process, as the commands' default: on a busy 2-core
                                                  # machine two threads can be 10× slower (and `pytest -n` runs two)
sys.path.insert(0, str(ROOT/'tools'))      # tools/nbtools.py: the notebook list and directives
DATA = ROOT/'data'
FASHION = Path('/usr/share/datasets')     # Debian's dataset-fashion-mnist: <root>/fashion-mnist/ (an explicit --data is used alone)
MNIST_TEST = [DATA/'mnist'/n for n in ('t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz')]


def pytest_addoption(parser):
    parser.addoption('--slow', action='store_true', default=False,
                     help="also run notebook cells flagged `#| slow` and tests marked slow (full training runs)")


def worker(config) -> bool:
    "Whether this process is one of pytest-xdist's workers (`pytest -n N`), not the session that started them."
    return hasattr(config, 'workerinput')


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long-running; only with --slow')
    if not config.option.basetemp and not worker(config): config.option.basetemp = str(SCRATCH/'pytest')
    if not worker(config): remove_dead_sessions()
    config._home_traces_before = {p for p in HOME_TRACES if p.exists()}


def remove_dead_sessions():
    "The scratch folders of killed sessions (their process is gone): never reused, removed."
    for d in SCRATCHES.glob('*'):
        if d != SCRATCH and d.name.isdigit() and not Path(f'/proc/{d.name}').exists():
            shutil.rmtree(d, ignore_errors=True)


def pytest_unconfigure(config):
    "Remove the session's scratch folder (pytest's temporary folders, every subprocess's temporary files) at its end."
    if worker(config): return                       # workers share it until the last one ends
    shutil.rmtree(SCRATCH, ignore_errors=True)
    try: SCRATCHES.rmdir()                          # the last session out leaves no empty folder
    except OSError: pass


def pytest_sessionfinish(session, exitstatus):
    "A session that passed but left a trace in $HOME (Jupyter's runtime, Chromium's cache) fails."
    new = [p for p in HOME_TRACES if p.exists() and p not in getattr(session.config, '_home_traces_before', set())]
    if new and exitstatus == 0:
        print(f"\nERROR: the test session left {', '.join(map(str, new))} behind", file=sys.stderr)
        session.exitstatus = 1


def pytest_collection_modifyitems(config, items):
    if config.getoption('--slow'): return
    skip = pytest.mark.skip(reason='slow: run with --slow')
    for it in items:
        if 'slow' in it.keywords: it.add_marker(skip)


def pytest_sessionstart(session):
    missing = [str(p) for p in MNIST_TEST if not p.exists()]
    if missing:
        pytest.exit("The real MNIST test files are missing: " + ', '.join(missing) +
                    ". Copy them into data/mnist/ (CI copies ../shared/data/mnist/*.gz; or let "
                    "`python -c \"from scratch_vae.data import load_mnist; load_mnist('test', root='data')\"` download them).",
                    returncode=3)


@pytest.fixture(scope='session')
def root(): return ROOT


@pytest.fixture(scope='session')
def data_root(): return DATA


def have_fashion_train():
    from scratch_vae.data import find_split
    return find_split('fashion-mnist', 'train', FASHION) is not None


def run(cmd, timeout=600, check=True, **kw):
    "Run `cmd`, return the CompletedProcess; on failure show its output in the assertion."
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check: assert r.returncode == 0, f"{cmd} exited {r.returncode}\n--- stdout\n{r.stdout[-4000:]}\n--- stderr\n{r.stderr[-4000:]}"
    return r


@pytest.fixture(scope='session')
def site():
    """The docs site, built once per test session by tools/build_docs.py (nbdev's processed notebooks too). Under
    `pytest -n N` the worker that asks first builds it and the others wait for it: two builds at once would share
    nbdev's `_proc/`."""
    import fcntl
    shared = SITE_BUILD; shared.mkdir(parents=True, exist_ok=True)
    out, proc, done = shared/'site', shared/'proc', shared/'built'
    with open(shared/'.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            r = run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--out', str(out), '--proc', str(proc)],
                    cwd=ROOT, timeout=900)
            assert 'built' in r.stdout
            assert 'MissingIDFieldWarning' not in r.stderr and 'Traceback' not in r.stderr, r.stderr[-3000:]
            done.write_text(r.stdout)
    return out


@pytest.fixture(scope='session')
def artifacts(tmp_path_factory):
    "Where the browser tests put their screenshots: pytest's temporary folder, or $SCRATCH_VAE_ARTIFACTS to keep them (CI)."
    keep = os.environ.get('SCRATCH_VAE_ARTIFACTS')
    if not keep: return tmp_path_factory.mktemp('artifacts')
    Path(keep).mkdir(parents=True, exist_ok=True)
    return Path(keep)
