#!/usr/bin/python3
"""Reference training throughput of PyTorch (CPU) for edgedl's built-in
MNIST architectures: one SGD step (forward, cross-entropy, backward,
momentum update) on a random batch, repeated.

Run with Debian's python3 (torch 1.13):

    /usr/bin/python3 tools/torch_train_bench.py [--model mnist-cnn] [--batch 64] [--threads 2] [--steps 50]

It prints samples/s of wall time and samples per 2 CPU-seconds (process CPU
time, less disturbed by other load on a shared machine), the two numbers
edgedl's `go test ./train -bench Step` reports.
"""
import argparse
import resource
import time

import torch
import torch.nn as nn


def mnist_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, 10))


def mnist_2nn():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 200), nn.ReLU(),
                         nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))


def lenet5():
    return nn.Sequential(
        nn.Conv2d(1, 20, 5), nn.MaxPool2d(2), nn.Conv2d(20, 50, 5), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(800, 500), nn.ReLU(), nn.Linear(500, 10))


MODELS = {"mnist-cnn": mnist_cnn, "mnist-2nn": mnist_2nn, "lenet-5": lenet5}


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mnist-cnn", choices=sorted(MODELS))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=50)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    model = MODELS[a.model]()
    print("parameters:", sum(p.numel() for p in model.parameters()))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    x = torch.rand(a.batch, 1, 28, 28)
    y = torch.randint(0, 10, (a.batch,))

    def step():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t0, c0 = time.perf_counter(), cpu_seconds()
    for _ in range(a.steps):
        step()
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    n = a.steps * a.batch
    print(f"{a.model} batch {a.batch} threads {a.threads} (torch {torch.__version__}): "
          f"{n / wall:.0f} samples/s wall, {n / cpu * 2:.0f} samples/2cpu-s")


if __name__ == "__main__":
    main()
