#!/usr/bin/python3
# Writes the reference weights of tests/unit/optimizer_state_test.cpp: six steps of PyTorch's
# torch.optim on a fixed problem (float64). /usr/bin/python3 tests/unit/optimizer_reference.py
import torch
torch.set_default_dtype(torch.float64)
# fixed problem: f(w) = sum(a * (w - t)^2) + 0.5*sum(w^3)/10 ; 4 params, 6 steps
def run(name, make):
    w = torch.tensor([0.5, -1.0, 2.0, 0.0], requires_grad=True)
    a = torch.tensor([1.0, 3.0, 0.5, 2.0]); t = torch.tensor([1.0, 0.5, -1.0, 0.25])
    opt = make([w])
    for _ in range(6):
        opt.zero_grad()
        loss = (a * (w - t) ** 2).sum() + 0.05 * (w ** 3).sum()
        loss.backward()
        opt.step()
    print(name, ", ".join("%.12g" % x for x in w.detach().tolist()))
run("adagrad", lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.02, eps=1e-10))
run("adamax", lambda p: torch.optim.Adamax(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.02))
run("nadam", lambda p: torch.optim.NAdam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.02, momentum_decay=0.004, foreach=True))
run("radam", lambda p: torch.optim.RAdam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.02))
run("radam_rect", lambda p: torch.optim.RAdam(p, lr=0.1, betas=(0.5, 0.6), eps=1e-8, weight_decay=0.0))
run("adadelta", lambda p: torch.optim.Adadelta(p, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.02))

# The optimizers with a rule per weight matrix or an averaged iterate (Kiln's adafactor, muon,
# schedule_free_adamw), written here from their papers' update rules, independently of Kiln's C++:
# six steps on a matrix W [3, 4] and a vector b [4] (Kiln runs them on one flat buffer).
def problem():
    W = (torch.arange(12.0).reshape(3, 4) * 0.1 - 0.5).requires_grad_()
    b = torch.tensor([0.5, -1.0, 2.0, 0.0], requires_grad=True)
    A = torch.tensor([[1.0, 2.0, 0.5, 1.5], [0.3, 1.0, 2.5, 0.7], [1.2, 0.4, 1.0, 2.0]])
    T = torch.tensor([[0.2, -0.4, 0.9, 0.1], [-1.0, 0.5, 0.3, 0.8], [0.6, -0.2, -0.7, 0.4]])
    a = torch.tensor([1.0, 3.0, 0.5, 2.0]); t = torch.tensor([1.0, 0.5, -1.0, 0.25])
    def loss():
        return (A * (W - T) ** 2).sum() + 0.05 * (W ** 3).sum() + (a * (b - t) ** 2).sum() + 0.05 * (b ** 3).sum()
    return [W, b], loss

def rms(x):
    return x.norm() / x.numel() ** 0.5

def adafactor(relative_step, scale_parameter, warmup_init, lr):
    params, loss = problem()
    state = [{} for _ in params]
    for step in range(1, 7):
        for p in params: p.grad = None
        loss().backward()
        with torch.no_grad():
            for p, s in zip(params, state):
                g = p.grad
                size = min(1e-6 * step if warmup_init else 1e-2, step ** -0.5) if relative_step else lr
                if scale_parameter: size *= max(1e-3, rms(p).item())
                beta2 = 1 - step ** -0.8
                sq = g * g + 1e-30
                if p.dim() >= 2:
                    s.setdefault("row", torch.zeros(p.shape[:-1])); s.setdefault("col", torch.zeros(p.shape[:-2] + p.shape[-1:]))
                    s["row"] = beta2 * s["row"] + (1 - beta2) * sq.mean(-1)
                    s["col"] = beta2 * s["col"] + (1 - beta2) * sq.mean(-2)
                    v = torch.outer(s["row"] / s["row"].mean(), s["col"])  # the factored estimate of E[g^2]
                else:
                    s.setdefault("v", torch.zeros_like(p))
                    s["v"] = beta2 * s["v"] + (1 - beta2) * sq
                    v = s["v"]
                u = g / v.sqrt()
                u = u / max(1.0, rms(u).item())
                p -= size * u
    return params

def orthogonalize(G):
    X = G / (G.norm() + 1e-7)
    for _ in range(5):
        X = 3.4445 * X - 4.7750 * (X @ X.T) @ X + 2.0315 * (X @ X.T) @ (X @ X.T) @ X
    return X

def muon(lr, momentum, nesterov):
    params, loss = problem()
    bufs = [torch.zeros_like(p) for p in params]
    for _ in range(6):
        for p in params: p.grad = None
        loss().backward()
        with torch.no_grad():
            for p, buf in zip(params, bufs):
                buf.mul_(momentum).add_(p.grad)
                u = p.grad + momentum * buf if nesterov else buf.clone()
                if p.dim() >= 2:
                    u = orthogonalize(u) * max(u.shape) ** 0.5
                p -= lr * u
    return params

def schedule_free_adamw(lr, beta1, beta2, eps, decay, warmup):
    params, loss = problem()
    z = [p.detach().clone() for p in params]
    v = [torch.zeros_like(p) for p in params]
    lr_max = weight_sum = 0.0
    for k in range(6):
        for p in params: p.grad = None
        loss().backward()  # at y
        lr_t = lr * ((k + 1) / warmup if k < warmup else 1.0)
        lr_max = max(lr_max, lr_t)
        weight_sum += lr_max ** 2
        c = lr_max ** 2 / weight_sum
        with torch.no_grad():
            for p, zi, vi in zip(params, z, v):
                vi.mul_(beta2).add_((1 - beta2) * p.grad ** 2)
                d = p.grad / ((vi / (1 - beta2 ** (k + 1))).sqrt() + eps) + decay * p
                x = (p - (1 - beta1) * zi) / beta1  # y = (1 - beta1) z + beta1 x
                zi -= lr_t * d
                x = (1 - c) * x + c * zi
                p.copy_((1 - beta1) * zi + beta1 * x)
    # the weights Kiln evaluates and saves: x
    return [(p - (1 - beta1) * zi) / beta1 for p, zi in zip(params, z)]

def show(name, params):
    print(name, ", ".join("%.12g" % x for p in params for x in p.detach().flatten().tolist()))
show("adafactor", adafactor(True, True, False, None))
show("adafactor_lr", adafactor(False, False, False, 0.1))
show("adafactor_warmup", adafactor(True, True, True, None))
show("muon", muon(0.02, 0.95, True))
show("muon_plain", muon(0.05, 0.9, False))
show("schedule_free_adamw", schedule_free_adamw(0.1, 0.9, 0.999, 1e-8, 0.01, 2))
