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
