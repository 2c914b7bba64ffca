"""Reference VAE recipes in plain PyTorch: the external baselines the README's comparison table cites.

Two recipes, both trained on grey MNIST (pixels in [0, 1], not binarized), batch 128, Adam lr 1e-3, loss = BCE summed
over the 784 pixels + KL(q(z|x) || N(0, I)), shuffled training set, last partial batch kept:

  pytorch-example   PyTorch's examples/vae: encoder 784-400 ReLU -> fc21/fc22 (mu, logvar) 400-20, decoder 20-400 ReLU
                    -> 784 sigmoid; default `nn.Linear` initialisation.
  original-design   the seed project's design: encoder 784-256 sigmoid -> (mu, logvar) 256-8, decoder 8-256 sigmoid
                    -> 784 sigmoid; Xavier-uniform weights (gain 1), zero biases.

Independent of scratch_vae on purpose: it reads the IDX files itself (gzip + struct + numpy) and uses only torch.nn.
The number reported is the test -ELBO in nats per image: the mean over all test images of BCE_sum + KL, with ONE
z sample per image drawn from a torch.Generator seeded with --seed (so the evaluation is deterministic); the
"train loss" is the mean over the epoch's images of the same per-image loss, with the training-time samples.
Epoch 0 in the output is the untrained model.

Usage: python bench/reference_recipes.py --recipe all --epochs 10 --seed 0 --threads 1 --out bench/reference_recipes.json
"""
import argparse, gzip, json, math, platform, struct, sys, time
from pathlib import Path
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

RECIPES = {
    'pytorch-example': dict(hidden=400, latent=20, act='relu',    init='default',
                            source='PyTorch examples/vae/main.py (784-400-20 ReLU, default nn.Linear init)'),
    'original-design': dict(hidden=256, latent=8,  act='sigmoid', init='xavier',
                            source='the seed design (784-256-8 sigmoid, Xavier-uniform weights, zero biases)'),
}


def read_idx(path: Path) -> np.ndarray:
    "A gzipped IDX file as a uint8 array: magic (0, 0, dtype 0x08, ndim), then ndim big-endian uint32 sizes."
    with gzip.open(path, 'rb') as f: buf = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', buf[:4])
    if zero != 0 or dtype != 0x08: sys.exit(f"{path}: not a uint8 IDX file (magic {buf[:4].hex()})")
    shape = struct.unpack(f'>{ndim}I', buf[4:4 + 4*ndim])
    data = np.frombuffer(buf, np.uint8, offset=4 + 4*ndim)
    if data.size != math.prod(shape): sys.exit(f"{path}: {data.size} bytes of data for shape {shape}")
    return data.reshape(shape)


def load_images(root: Path, split: str, limit=None) -> torch.Tensor:
    name = {'train': 'train-images-idx3-ubyte.gz', 'test': 't10k-images-idx3-ubyte.gz'}[split]
    path = root/name
    if not path.exists(): sys.exit(f"{path} is missing: put the MNIST IDX .gz files in {root}/")
    x = read_idx(path)[:limit]
    return torch.from_numpy(x.reshape(len(x), -1).astype(np.float32) / 255.)


class RefVAE(nn.Module):
    "The PyTorch example's VAE layout (fc1, fc21/fc22, fc3, fc4), with the hidden activation and init as parameters."
    def __init__(self, hidden: int, latent: int, act: str, init: str):
        super().__init__()
        self.fc1, self.fc21, self.fc22 = nn.Linear(784, hidden), nn.Linear(hidden, latent), nn.Linear(hidden, latent)
        self.fc3, self.fc4 = nn.Linear(latent, hidden), nn.Linear(hidden, 784)
        self.act = {'relu': torch.relu, 'sigmoid': torch.sigmoid}[act]
        if init == 'xavier':
            for m in self.modules():
                if isinstance(m, nn.Linear): nn.init.xavier_uniform_(m.weight); nn.init.zeros_(m.bias)

    def encode(self, x):
        h = self.act(self.fc1(x))
        return self.fc21(h), self.fc22(h)

    def decode(self, z): return torch.sigmoid(self.fc4(self.act(self.fc3(z))))

    def forward(self, x, generator=None):
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype)
        return self.decode(mu + eps * torch.exp(0.5 * logvar)), mu, logvar


def loss_sum(x, recon, mu, logvar):
    "BCE summed over pixels + KL, summed over the batch (the PyTorch example's loss_function)."
    bce = F.binary_cross_entropy(recon, x, reduction='sum')
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


@torch.no_grad()
def test_elbo(model, x, seed: int, bs: int = 1000) -> float:
    "Mean −ELBO (nats/image) over `x`, one z per image from a Generator seeded with `seed`."
    model.eval()
    g = torch.Generator().manual_seed(seed)
    total = 0.
    for i in range(0, len(x), bs):
        xb = x[i:i + bs]
        total += loss_sum(xb, *model(xb, g)).item()
    model.train()
    return total / len(x)


def run_recipe(name, train, test, epochs, seed, log=print) -> dict:
    r = RECIPES[name]
    torch.manual_seed(seed)
    model = RefVAE(r['hidden'], r['latent'], r['act'], r['init'])
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g_shuffle = torch.Generator().manual_seed(seed)
    rows = [dict(epoch=0, train_loss=None, test_neg_elbo=test_elbo(model, test, seed), seconds=0.)]
    log(f"[{name}] epoch  0  untrained                test -ELBO {rows[0]['test_neg_elbo']:8.2f}")
    t_all = time.perf_counter()
    for ep in range(1, epochs + 1):
        t = time.perf_counter()
        perm, total = torch.randperm(len(train), generator=g_shuffle), 0.
        for i in range(0, len(train), 128):
            xb = train[perm[i:i + 128]]
            opt.zero_grad()
            loss = loss_sum(xb, *model(xb))
            loss.backward()
            opt.step()
            total += loss.item()
        secs = time.perf_counter() - t
        rows.append(dict(epoch=ep, train_loss=total / len(train), test_neg_elbo=test_elbo(model, test, seed),
                         seconds=round(secs, 2)))
        log(f"[{name}] epoch {ep:2d}  train loss {rows[-1]['train_loss']:8.2f}  test -ELBO {rows[-1]['test_neg_elbo']:8.2f}"
            f"  ({secs:.1f} s)")
    return dict(recipe=name, description=r['source'], hidden=r['hidden'], latent=r['latent'], activation=r['act'],
                init=r['init'], params=sum(p.numel() for p in model.parameters()), epochs=epochs,
                final_test_neg_elbo=rows[-1]['test_neg_elbo'], wall_seconds=round(time.perf_counter() - t_all, 1),
                per_epoch=rows)


def cpu_model() -> str:
    try: return next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
    except (OSError, StopIteration): return platform.processor() or platform.machine()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--recipe', choices=[*RECIPES, 'all'], default='all')
    p.add_argument('--epochs', type=int, default=10)
    p.add_argument('--seed', type=int, default=0, help='model init, shuffling, and the test-time z samples')
    p.add_argument('--data', type=Path, default=Path('data/mnist'), help='folder with the MNIST IDX .gz files')
    p.add_argument('--threads', type=int, default=1, help='torch.set_num_threads')
    p.add_argument('--limit', type=int, default=None, help='use only the first N train and N test images (for tests)')
    p.add_argument('--out', type=Path, default=Path('bench/reference_recipes.json'))
    a = p.parse_args(argv)
    if a.epochs < 1: p.error('--epochs must be at least 1')
    if a.threads < 1: p.error('--threads must be at least 1')
    if a.limit is not None and a.limit < 1: p.error('--limit must be at least 1')
    torch.set_num_threads(a.threads)
    train, test = load_images(a.data, 'train', a.limit), load_images(a.data, 'test', a.limit)
    machine = dict(cpu=cpu_model(), torch=torch.__version__, python=platform.python_version(), threads=a.threads)
    print(f"{machine['cpu']} | torch {machine['torch']} | {a.threads} thread(s) | "
          f"{len(train)} train / {len(test)} test images")
    names = list(RECIPES) if a.recipe == 'all' else [a.recipe]
    results = [run_recipe(n, train, test, a.epochs, a.seed) for n in names]
    out = dict(command='python bench/reference_recipes.py ' + ' '.join(sys.argv[1:] if argv is None else argv),
               machine=machine, seed=a.seed, epochs=a.epochs, batch_size=128, lr=1e-3, train_images=len(train),
               test_images=len(test),
               metric='test -ELBO, nats/image: mean over the test images of BCE summed over 784 pixels + KL, '
                      'one z sample per image from torch.Generator().manual_seed(seed); grey pixels in [0, 1]',
               recipes=results)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(out, indent=1) + '\n')
    print('\n| recipe | params | test -ELBO after %d epochs, nats | wall s |' % a.epochs)
    print('|---|---|---|---|')
    for r in results: print(f"| {r['recipe']} | {r['params']:,} | {r['final_test_neg_elbo']:.2f} | {r['wall_seconds']} |")
    print(f"wrote {a.out}")
    return out


if __name__ == '__main__': main()
