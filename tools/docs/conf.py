# Sphinx configuration of the offline docs build (tools/build_docs.py): MyST-NB renders nbdev's processed notebooks.
# Quarto users can instead run `nbdev_docs`, which uses nbs/_quarto.yml.
from configparser import ConfigParser
from pathlib import Path

_cfg = ConfigParser(delimiters=['=']); _cfg.read(Path(__file__).parents[2]/'settings.ini')
_s = _cfg['DEFAULT']

project = _s['lib_name']
author = _s['author']
copyright = _s['copyright']
release = version = _s['version']

extensions = ['myst_nb', 'sphinx-mathjax-offline']   # MathJax 3 served from _static: nothing fetched from the web
root_doc = 'index'
exclude_patterns = ['runs/**', '_build', '_build/**', '**/.ipynb_checkpoints', '*.yml', 'styles.css']
myst_enable_extensions = ['dollarmath', 'amsmath', 'attrs_inline', 'colon_fence']
myst_heading_anchors = 3
nb_execution_mode = 'off'                  # the notebooks' stored outputs are what the site shows
nb_render_markdown_format = 'myst'         # show_doc's markdown outputs, with their attributes
suppress_warnings = ['myst.header', 'misc.highlighting_failure', 'mystnb.unknown_mime_type']

html_theme = 'furo'
html_title = f"{project} {version}"
html_static_path = ['_static']           # the site's book.css; explorer.js and .css of the latent explorer page (05b_explorer)
html_favicon = 'favicon.svg'            # relative to this folder; without one the browser asks for /favicon.ico
html_show_sourcelink = False
html_css_files = ['book.css']           # _static/book.css: display maths and code never wider than the column
