"""Optimizers. A step changes parameters in place, under no_grad; the version counter then
makes any tape that still needs the old values refuse to backward (instead of silently
using the new ones)."""
import numpy as np

from .grad_mode import no_grad


class Optimizer:
    def __init__(self, params, lr):
        self.params = list(params)
        if not self.params:
            raise ValueError("optimizer got an empty parameter list")
        if lr <= 0:
            raise ValueError(f"learning rate must be positive; got {lr}")
        self.lr = lr

    def _gradients(self):
        """(index, parameter, gradient with weight decay added) for parameters that have one."""
        for i, p in enumerate(self.params):
            if p.grad is not None:
                g = p.grad.data
                yield i, p, (g + self.weight_decay * p.data if self.weight_decay else g)

    def zero_grad(self, set_to_none=True):
        for p in self.params:
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data = np.zeros_like(p.data)


class SGD(Optimizer):
    """p -= lr * v, with v = momentum * v + (grad + weight_decay * p) (PyTorch's form)."""

    def __init__(self, params, lr=1e-2, momentum=0.0, weight_decay=0.0, nesterov=False):
        super().__init__(params, lr)
        self.momentum, self.weight_decay, self.nesterov = momentum, weight_decay, nesterov
        self.velocity = [None] * len(self.params)

    @no_grad()
    def step(self):
        for i, p, g in self._gradients():
            if self.momentum:
                v = self.velocity[i]
                v = g.copy() if v is None else self.momentum * v + g
                self.velocity[i] = v
                g = g + self.momentum * v if self.nesterov else v
            p.sub_(g, alpha=self.lr)


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015) with bias correction; weight_decay adds to the gradient."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr)
        self.betas, self.eps, self.weight_decay = betas, eps, weight_decay
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]
        self.t = 0

    @no_grad()
    def step(self):
        self.t += 1
        b1, b2 = self.betas
        for i, p, g in self._gradients():
            self.m[i] = b1 * self.m[i] + (1 - b1) * g
            self.v[i] = b2 * self.v[i] + (1 - b2) * g * g
            m_hat = self.m[i] / (1 - b1 ** self.t)
            v_hat = self.v[i] / (1 - b2 ** self.t)
            p.sub_(m_hat / (np.sqrt(v_hat) + self.eps), alpha=self.lr)
