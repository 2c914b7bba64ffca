"""README.md is the rendered index notebook, and its test command is the one CI runs."""
import re, subprocess, sys
from conftest import ROOT, run

TEST_COMMAND = 'pip install -e ".[dev]" && pytest'
MAIN_COMMAND = 'pip install -e . && scratch_vae_train'


def test_readme_is_rendered_index():
    run([sys.executable, str(ROOT/'tools'/'build_readme.py'), '--check'], cwd=ROOT)


def test_readme_quick_start_is_what_ci_runs():
    readme, ci = (ROOT/'README.md').read_text(), (ROOT/'.ci'/'run').read_text()
    blocks = re.findall(r'```bash\n(.*?)```', readme, re.S)
    assert blocks[:2] == [MAIN_COMMAND + '\n', TEST_COMMAND + '\n'], blocks[:2]
    assert any(l.strip() == TEST_COMMAND for l in ci.splitlines()), ".ci/run must run the README's test command verbatim"
    assert 'torch==2.13.0' in ci and ci.index('torch==2.13.0') < ci.index(TEST_COMMAND), "CI installs the CPU torch first"
