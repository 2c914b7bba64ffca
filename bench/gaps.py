"""How tight is the bound? The inference gaps (Cremer et al. 2018) of the shipped binarized models,
and a BDMC sandwich.

For each model (--models: pretrained names), on the first --images test images binarized once with
seed 0 (`fixed_batches`, as scratch_vae_evaluate does), per image, then the mean over the images and
its standard error:
  elbo_amortized  L[q]: the ELBO of the encoder's q(z|x), 1000 samples per image (L[q*]'s noise)
  elbo_optimized  L[q*]: the ELBO after Adam on each image's own (mu, log sigma^2) to convergence
  iw_5000         the importance-weighted bound with k = 5000 (`log_likelihood`); iw_by_k: smaller k
  ais             AIS from q(z|x): --steps annealing steps, --chains chains, 5 leapfrog steps
and the gaps as per-image differences (so their standard errors are paired): approximation =
AIS - L[q*], amortization = L[q*] - L[q]. BDMC (`bdmc`) on --bdmc-images images simulated from
--bdmc-model, at each of --bdmc-steps, one chain each way. Writes --json.
Usage: nice -n 5 python bench/gaps.py --threads 1
"""
import argparse, json, math, platform, time
from pathlib import Path
import torch
from scratch_vae.checkpoint import load_model
from scratch_vae.data import load_mnist, fixed_batches
from scratch_vae.elbo import log_likelihood
from scratch_vae.bounds import (ais, bdmc, vae_log_joint, optimized_elbo, sigmoid_schedule,
                                log_mean_exp)


def stat(v, **extra) -> dict:
    "Mean of per-image values `v`, its standard error and n, in nats."
    v = v.double()
    se = (v.std() / math.sqrt(len(v))).item()
    return dict(log_px=round(v.mean().item(), 4), se=round(se, 4), n=len(v), **extra)


def cpu() -> str:
    text = Path('/proc/cpuinfo').read_text().splitlines()
    lines = [l for l in text if l.startswith('model name')]
    return lines[0].split(':', 1)[1].strip() if lines else platform.processor()


def gaps(model, x, a, g) -> dict:
    sec = {}
    t = time.perf_counter()
    qs, q, steps = optimized_elbo(model, x, generator=g)
    sec['elbo'] = time.perf_counter() - t; t = time.perf_counter()
    iw = {k: log_likelihood(model, x, k, generator=g).double() for k in (1, 10, 100, 1000, 5000)}
    sec['iw'] = time.perf_counter() - t; t = time.perf_counter()
    with torch.no_grad(): mu, lv = model.encode(x)
    r = ais(vae_log_joint(model, x), mu, lv, sigmoid_schedule(a.steps), a.chains, generator=g)
    sec['ais'] = time.perf_counter() - t
    p = log_mean_exp(r.log_w).double()
    accept = round(r.accept[-100:].mean().item(), 3)
    n = len(x)
    return dict(elbo_amortized=stat(q, samples=1000), elbo_optimized=stat(qs, adam_steps=steps),
                iw_5000=stat(iw[5000]),
                ais=stat(p, steps=a.steps, chains=a.chains, leapfrog=5, final_accept=accept),
                iw_by_k={str(k): stat(v) for k, v in iw.items()},
                gaps=dict(approximation=stat(p - qs.double()),
                          amortization=stat(qs.double() - q.double()),
                          ais_minus_iw_5000=stat(p - iw[5000])),
                seconds={k: round(v, 1) for k, v in sec.items()},
                cost=dict(elbo=f"{n} images x {steps} Adam steps x 10 samples",
                          iw=f"{n} images x 6111 samples",
                          ais=f"{n} images x {a.chains} chains x {a.steps} steps x 5 leapfrog"))


def sandwich(model, a, g) -> list:
    "BDMC on images simulated from `model`: z ~ N(0, I), x ~ Bernoulli(decoder(z)), z exact for x."
    with torch.no_grad():
        z = torch.randn(a.bdmc_images, model.latent_dim, generator=g)
        x = torch.bernoulli(torch.sigmoid(model.decode(z)), generator=g)
        mu, lv = model.encode(x)
    rows = []
    for T in a.bdmc_steps:
        t = time.perf_counter()
        lo, up = bdmc(vae_log_joint(model, x), mu, lv, z, sigmoid_schedule(T), 1, generator=g)
        rows.append(dict(lower=stat(lo), upper=stat(up), width=stat(up - lo), steps=T, n=len(x),
                         chains=1, seconds=round(time.perf_counter() - t, 1)))
        print(f"BDMC T={T}: lower {lo.mean():.3f}, upper {up.mean():.3f}, "
              f"width {(up - lo).mean():.3f} ({rows[-1]['seconds']} s)", flush=True)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--models', nargs='+',
                    default=['mnist-binarized', 'burda-s0', 'burda-s1', 'burda-s2'])
    ap.add_argument('--images', type=int, default=100)
    ap.add_argument('--steps', type=int, default=1000)
    ap.add_argument('--chains', type=int, default=4)
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--bdmc-model', default='burda-s0')
    ap.add_argument('--bdmc-images', type=int, default=100)
    ap.add_argument('--bdmc-steps', type=int, nargs='+', default=[10, 30, 100, 300, 1000])
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--data', default=None)
    ap.add_argument('--json', default='bench/gaps.json')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    x, _ = load_mnist('test', 'mnist', a.data)
    x = torch.cat(list(fixed_batches(x[:a.images], 'dynamic', a.seed).iter_epoch(0)))
    res = dict(images=a.images,
               binarized=f"the first {a.images} test images, binarized once with seed {a.seed}",
               machine=cpu(), torch=torch.__version__, threads=a.threads, models={})
    for name in a.models:
        g = torch.Generator().manual_seed(a.seed)
        res['models'][name] = m = gaps(load_model(f'pretrained:{name}'), x, a, g)
        v = lambda k: m[k]['log_px']
        gap = lambda k: f"{m['gaps'][k]['log_px']:.2f} ± {m['gaps'][k]['se']:.2f}"
        print(f"{name}: L[q] {v('elbo_amortized'):.2f}, L[q*] {v('elbo_optimized'):.2f}, "
              f"IW-5000 {v('iw_5000'):.2f}, AIS {v('ais'):.2f}; approximation gap "
              f"{gap('approximation')}, amortization gap {gap('amortization')} "
              f"({m['seconds']} s)", flush=True)
    g = torch.Generator().manual_seed(a.seed)
    rows = sandwich(load_model(f'pretrained:{a.bdmc_model}'), a, g)
    res['bdmc'] = dict(rows[-1], model=a.bdmc_model,
                       data=f"{a.bdmc_images} images simulated from the model")
    res['bdmc_by_steps'] = rows
    res['seconds'] = round(time.perf_counter() - t0, 1)
    Path(a.json).write_text(json.dumps(res, indent=1) + '\n')
    print(f"wrote {a.json} ({res['seconds']} s in all)")


if __name__ == '__main__':
    main()
