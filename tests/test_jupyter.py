"""The notebooks in a real Jupyter server: start it on loopback with a token, run a notebook through the kernel
REST + websocket API, check the outputs, and shut the server down by its PID."""
import json, os, re, secrets, signal, socket, subprocess, sys, time, urllib.request, uuid
from pathlib import Path
import pytest
from conftest import ROOT
from nbtools import skipped, skip_flags
from fastcore.basics import AttrDict

BIN = Path(sys.executable).parent
NOTEBOOK = '00b_data.ipynb'        # quick (seconds), reads real data, plots


def free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    port, token = free_port(), secrets.token_hex(16)
    log = tmp_path_factory.mktemp('jupyter')/'server.log'
    proc = subprocess.Popen([str(BIN/'jupyter'), 'server', '--no-browser', '--ServerApp.ip=127.0.0.1', f'--ServerApp.port={port}',
                             f'--IdentityProvider.token={token}', f'--ServerApp.root_dir={ROOT/"nbs"}',
                             '--ServerApp.port_retries=0'] + (['--allow-root'] if os.geteuid() == 0 else []),
                            stdout=open(log, 'w'), stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)
    base = f'http://127.0.0.1:{port}'
    for _ in range(120):
        try:
            if urllib.request.urlopen(f'{base}/api/status?token={token}', timeout=2).status == 200: break
        except OSError: time.sleep(0.5)
    else:
        proc.kill(); pytest.fail(f"jupyter server did not start:\n{log.read_text()[-3000:]}")
    yield base, token, proc
    os.killpg(proc.pid, signal.SIGTERM)                  # shut down by our own PID (and its kernels)
    try: proc.wait(timeout=30)
    except subprocess.TimeoutExpired: os.killpg(proc.pid, signal.SIGKILL); proc.wait()
    assert proc.poll() is not None


def api(base, token, method, path, body=None):
    req = urllib.request.Request(f'{base}{path}', method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={'Authorization': f'token {token}', 'Content-Type': 'application/json'})
    with urllib.request.urlopen(req, timeout=30) as r: return json.loads(r.read() or b'null')


def test_token_required(server):
    base, _, _ = server
    with pytest.raises(urllib.error.HTTPError) as e: urllib.request.urlopen(f'{base}/api/kernels', timeout=5)
    assert e.value.code == 403


def test_run_notebook_through_server(server):
    import websocket
    base, token, _ = server
    kernel = api(base, token, 'POST', '/api/kernels', {'name': 'python3', 'path': NOTEBOOK})
    ws = websocket.create_connection(f"ws://{base[7:]}/api/kernels/{kernel['id']}/channels?token={token}", timeout=300)
    session = uuid.uuid4().hex
    cells = [c for c in json.loads((ROOT/'nbs'/NOTEBOOK).read_text())['cells'] if c['cell_type'] == 'code']
    outputs, errors = [], []
    try:
        ws.send(json.dumps(dict(header=dict(msg_id='setup', msg_type='execute_request', session=session, username='test',
                                            version='5.3', date=''), parent_header={}, metadata={}, channel='shell',
                                content=dict(code='import os; os.getcwd()', silent=False, store_history=False,
                                             user_expressions={}, allow_stdin=False, stop_on_error=True))))
        for i, c in enumerate(cells):
            src = ''.join(c['source'])
            if skipped(AttrDict(cell_type='code', source=src), skip_flags()): continue
            mid = f'cell-{i}'
            ws.send(json.dumps(dict(header=dict(msg_id=mid, msg_type='execute_request', session=session, username='test',
                                                version='5.3', date=''), parent_header={}, metadata={}, channel='shell',
                                    content=dict(code=src, silent=False, store_history=True, user_expressions={},
                                                 allow_stdin=False, stop_on_error=True))))
            while True:
                msg = json.loads(ws.recv())
                if msg.get('parent_header', {}).get('msg_id') != mid: continue
                t = msg['msg_type']
                if t == 'error': errors.append((i, msg['content']['ename'], msg['content']['evalue']))
                if t in ('display_data', 'execute_result'): outputs.append(msg['content']['data'])
                if t == 'status' and msg['content']['execution_state'] == 'idle': break
            assert not errors, errors
    finally:
        ws.close()
        api(base, token, 'DELETE', f"/api/kernels/{kernel['id']}")
    pngs = [o for o in outputs if 'image/png' in o]
    assert len(pngs) >= 2, f"expected the digit grids as PNG outputs, got {[list(o) for o in outputs]}"
    assert any('text/markdown' in o for o in outputs)           # show_doc output
    assert api(base, token, 'GET', '/api/kernels') == []
