"""Port of the evaluation loop every PyTorch classifier tutorial ends with:

    _, predicted = outputs.max(1)
    correct += (predicted == labels).sum().item()

with 1-D integer labels. Before issue 22 this line silently gave the maxima instead of their
positions, and comparing the (N, 1) predictions with N labels broadcast to N x N; here both are
what PyTorch computes.

    python examples/from_pytorch/classifier_accuracy.py
"""
from __future__ import annotations

from typing import List, Tuple

import numpy as np

import pyautograd as ag
from pyautograd import nn, optim


def blobs(n: int, seed: int = 0) -> Tuple[np.ndarray, List[int]]:
    """n points around three centres, and their classes as a 1-D list of ints."""
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    labels = rng.integers(0, 3, n)
    return centres[labels] + 0.6 * rng.standard_normal((n, 2)), [int(k) for k in labels]


def train_and_evaluate(epochs: int = 30, batch: int = 20) -> float:
    ag.manual_seed(0)
    x, labels = blobs(200)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    criterion = nn.CrossEntropyLoss()
    for _ in range(epochs):
        for start in range(0, len(labels), batch):
            inputs = ag.tensor(x[start:start + batch])
            targets = labels[start:start + batch]
            optimizer.zero_grad()
            loss = criterion(model(inputs), targets)
            loss.backward()
            optimizer.step()
    correct = 0
    with ag.no_grad():
        for start in range(0, len(labels), batch):
            outputs = model(ag.tensor(x[start:start + batch]))
            _, predicted = outputs.max(1)
            correct += int((predicted == labels[start:start + batch]).sum().item())
    return correct / len(labels)


if __name__ == "__main__":
    print(f"accuracy {train_and_evaluate():.2f}")
