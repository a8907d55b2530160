"""Realistic mistakes in the reparameterization assignment, each breaking one part."""
from . import KnownWrong

WRONG = [
    # part 1: the Gaussian sample
    KnownWrong("σ where log σ was meant", "sample",
               "sigma = log_sigma.exp()", "sigma = log_sigma", ("test_sample",)),
    KnownWrong("the sample detaches σ", "sample",
               "sigma = log_sigma.exp()", "sigma = log_sigma.detach().exp()", ("test_sample",)),
    KnownWrong("σ built from .data", "sample",
               "sigma = log_sigma.exp()", "sigma = ad.tensor(np.exp(log_sigma.data))",
               ("test_sample",)),
    # part 2: the score-function surrogate
    KnownWrong("score function with the wrong sign", "score",
               "return (fz * log_q).sum() / n", "return -(fz * log_q).sum() / n",
               ("test_score",)),
    KnownWrong("score function without the f(z) factor", "score",
               "return (fz * log_q).sum() / n", "return log_q.sum() / n", ("test_score",)),
    KnownWrong("score function weighted by ∇q instead of ∇log q", "score",
               "return (fz * log_q).sum() / n", "return (fz * log_q.exp()).sum() / n",
               ("test_score",)),
    KnownWrong("log q without the ½: a gradient off by a factor of 2", "score",
               "-0.5 * ((z - mu) / sigma) ** 2", "-((z - mu) / sigma) ** 2", ("test_score",)),
    # part 3: the variance experiment
    KnownWrong("the two estimators swapped", "variance",
               "return reparam, score", "return score, reparam", ("test_variance",)),
    KnownWrong("score estimate of ∂/∂σ where ∂/∂log σ was meant", "variance",
               "fz * (eps ** 2 - 1)", "fz * (eps ** 2 - 1) / sigma", ("test_variance",)),
    KnownWrong("the experiment delegates to another autodiff library", "variance",
               "    fz = f(z.detach()).numpy()",
               "    import jax  # noqa: F401\n    fz = f(z.detach()).numpy()",
               ("test_variance",)),
    # part 4: Gumbel-softmax
    KnownWrong("Gumbel noise with the wrong sign", "gumbel",
               "g = -np.log(-np.log(u))", "g = np.log(-np.log(u))", ("test_gumbel",)),
    KnownWrong("temperature multiplied instead of divided", "gumbel",
               "(logits + g) / tau", "(logits + g) * tau", ("test_gumbel",)),
    KnownWrong("softmax without the max-shift", "gumbel",
               "return F.softmax((logits + g) / tau, dim=-1)",
               "x = (logits + g) / tau\n    return x.exp() / x.exp().sum(-1, keepdim=True)",
               ("test_gumbel",)),
    # part 5: straight-through Gumbel
    KnownWrong("straight-through that returns the soft sample forward", "straight_through",
               "return y_hard - y_soft.detach() + y_soft", "return y_soft",
               ("test_straight_through",)),
    KnownWrong("straight-through without a gradient", "straight_through",
               "return y_hard - y_soft.detach() + y_soft", "return ad.tensor(y_hard)",
               ("test_straight_through",)),
]
