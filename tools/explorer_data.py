"""The data of the latent explorer page (nbs/05b_explorer.ipynb), exported from the shipped 2-D model.

`explorer_data()` checks `weights/mnist-latent2/model.safetensors` against `weights/SHA256SUMS`, reads the decoder's
tensors from that file in the order `load_model` builds the decoder, and encodes the MNIST test set to its posteriors
(means μ and standard deviations σ, in file order). `explorer_script()` is all of it as a script that sets `window.SCRATCH_VAE_EXPLORER` (a script, not
JSON: a page opened from `file://` may load scripts but not fetch() files). Tensors travel as base64 of little-endian
float32 bytes, so the browser multiplies by exactly the numbers Python does.

Usage: python tools/explorer_data.py OUT.js
"""
import base64, hashlib, json, sys
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
NAME = 'mnist-latent2'


class ExplorerError(Exception): "Why the explorer's data can't be made, in one line."


def _b64(a: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype=np.dtype(dtype).newbyteorder('<')).tobytes()).decode('ascii')


def decoder_layers(model, tensors: dict) -> list[dict]:
    "The decoder as `[{'weight', 'bias', 'activation'}]` in forward order, tensors taken from the file's `tensors`."
    from scratch_vae.layers import LinearLayer
    from scratch_vae.model import ACTIVATIONS
    names = {cls: name for name, cls in ACTIVATIONS.items()}
    layers = []
    for i, m in model.decoder.named_children():
        if isinstance(m, LinearLayer):
            layers.append({'weight': tensors[f'decoder.{i}.weight'], 'bias': tensors[f'decoder.{i}.bias'], 'activation': None})
        elif type(m) in names and layers and layers[-1]['activation'] is None: layers[-1]['activation'] = names[type(m)]
        else: raise ExplorerError(f"unexpected decoder module {i}: {m!r}")
    layers[-1]['activation'] = 'sigmoid'      # logits → Bernoulli means, as `torch.sigmoid(model.decode(z))`
    return layers


def explorer_data(name: str = NAME, data_root=None) -> dict:
    "Decoder layers, posterior means, standard deviations and labels of the test set, for the page's script."
    import torch
    from safetensors.numpy import load_file
    from scratch_vae.weights import CheckpointError, load_model_and_meta, pretrained
    from scratch_vae.data import candidate_dirs, find_split, load_mnist
    try: path = pretrained(name)          # refuses a file whose SHA-256 differs from weights/SHA256SUMS
    except CheckpointError as e: raise ExplorerError(str(e)) from None
    model, meta = load_model_and_meta(path)
    if model.latent_dim != 2: raise ExplorerError(f"{path}: the explorer needs a 2-D latent, this model has {model.latent_dim}")
    data_root = Path(data_root or ROOT/'data')
    if find_split('mnist', 'test', data_root) is None:
        where = ', '.join(str(d) for d in candidate_dirs('mnist', data_root))
        raise ExplorerError(f"the MNIST test set is missing (t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in none of "
                            f"{where}): python -c \"from scratch_vae.data import load_mnist; load_mnist('test', root='data')\"")
    x, y = load_mnist('test', 'mnist', data_root, download=False)
    with torch.no_grad():
        parts = [model.encode(xb) for xb in x.split(1000)]
        mu = torch.cat([m for m, _ in parts]).numpy()
        sd = torch.cat([(0.5 * lv).exp() for _, lv in parts]).numpy()
    layers = decoder_layers(model, load_file(str(path)))
    return {'model': f'pretrained:{name}', 'sha256': hashlib.sha256(path.read_bytes()).hexdigest(),
            'layers': [{'in': int(l['weight'].shape[1]), 'out': int(l['weight'].shape[0]), 'activation': l['activation'],
                        'weight': _b64(l['weight'], np.float32), 'bias': _b64(l['bias'], np.float32)} for l in layers],
            'n': int(len(mu)), 'means': _b64(mu, np.float32), 'sigmas': _b64(sd, np.float32), 'labels': _b64(y.numpy(), np.uint8)}


def explorer_script(name: str = NAME, data_root=None) -> str:
    "The page's data as a script that sets `window.SCRATCH_VAE_EXPLORER`."
    d = explorer_data(name, data_root)
    return (f"// Made by tools/explorer_data.py from weights/{name}/model.safetensors (SHA-256 {d['sha256']}) and the "
            f"MNIST test set: do not edit.\nwindow.SCRATCH_VAE_EXPLORER = {json.dumps(d)};\n")


if __name__ == '__main__':
    if len(sys.argv) != 2: sys.exit(__doc__.strip().splitlines()[-1])
    try: text = explorer_script()
    except ExplorerError as e: sys.exit(f"explorer_data: {e}")
    p = Path(sys.argv[1]); p.parent.mkdir(parents=True, exist_ok=True); p.write_text(text)
    print(f"wrote {p} ({p.stat().st_size/1e6:.1f} MB)")
