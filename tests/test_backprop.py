"""The hand-derived backward pass (scratch_vae.backprop) against autograd, end to end: the same training run either way."""
import pytest, torch
from conftest import DATA
import scratch_vae.train as T, scratch_vae.engine as E
from scratch_vae.config import TrainConfig
from scratch_vae.model import VAE
from scratch_vae.elbo import elbo_loss
from scratch_vae.backprop import elbo_backward, supports


def run(tmp_path, name, monkeypatch=None, **kw):
    if monkeypatch: monkeypatch.setattr(E, 'supports', lambda *a, **k: False)     # force the autograd path
    r = T.fit(TrainConfig(data=str(DATA), out=str(tmp_path/name), epochs=2, limit=4000, **kw), quiet=True, log=lambda s: None)
    if monkeypatch: monkeypatch.undo()
    return r


@pytest.mark.parametrize('kw', [dict(), dict(activation='tanh', hidden_dims=[200, 200], latent_dim=50, batch_size=20),
                                dict(activation='relu', beta=0.5, binarize='dynamic')])
def test_training_by_hand_matches_autograd(tmp_path, monkeypatch, kw):
    fast, ref = run(tmp_path, 'fast', **kw), run(tmp_path, 'ref', monkeypatch, **kw)
    for a, b in zip(fast['history'], ref['history']):
        for part in ('train', 'test'):
            for k in ('recon', 'kl', 'loss'): assert a[part][k] == pytest.approx(b[part][k], rel=2e-4, abs=1e-3), (part, k, a, b)
    for p, q in zip(fast['model'].parameters(), ref['model'].parameters()): torch.testing.assert_close(p, q, rtol=1e-3, atol=2e-4)


def test_every_supported_case_and_only_those():
    for act in ('sigmoid', 'tanh', 'relu'): assert supports(VAE(activation=act))
    assert not supports(VAE(activation='gelu')) and not supports(VAE(), 'continuous-bernoulli') and not supports(VAE(), k=2)


@pytest.mark.parametrize('act', ['sigmoid', 'tanh', 'relu'])
def test_gradients_equal_autograd_in_float64(act):
    torch.manual_seed(1)
    m = VAE(hidden_dims=[64, 32], latent_dim=4, activation=act).double()
    x = torch.rand(16, 784, dtype=torch.float64)
    loss, _ = elbo_loss(m, x, 0.7, generator=torch.Generator().manual_seed(2)); m.zero_grad(); loss.backward()
    want = {n: p.grad.clone() for n, p in m.named_parameters()}
    loss2, _ = elbo_backward(m, x, 0.7, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(loss2, loss.detach())
    for n, p in m.named_parameters(): torch.testing.assert_close(p.grad, want[n], rtol=1e-9, atol=1e-12, msg=n)


@pytest.mark.parametrize('act', ['sigmoid', 'tanh', 'relu'])
def test_stacked_replicas_equal_autograd_in_float64(act):
    "The one backward with a replica dimension (as 04a_replicas runs it, in a FlatAdam): each replica's autograd gradient."
    from scratch_vae.replicas import stacked
    from scratch_vae.train import make_optimizer
    from scratch_vae.backprop import hand_backward
    ms = []
    for r in range(3): torch.manual_seed(r); ms.append(VAE(hidden_dims=[64, 32], latent_dim=4, activation=act).double())
    params = stacked(ms)
    opt = make_optimizer(ms[0], 1e-3, 1e-4, params)
    x, eps = torch.rand(3, 16, 784, dtype=torch.float64), torch.randn(3, 16, 4, dtype=torch.float64)
    losses, *_ = hand_backward(act, opt.maps, x, eps, 0.7)
    for r, m in enumerate(ms):
        loss, _ = elbo_loss(m, x[r], 0.7, eps=eps[r]); m.zero_grad(); loss.backward()
        torch.testing.assert_close(losses[r], loss.detach())
        for (n, p), q in zip(m.named_parameters(), params):
            torch.testing.assert_close(q.grad[r], p.grad, rtol=1e-9, atol=1e-12, msg=n)
