"""A three-class softmax classifier on Gaussian blobs, evaluated the PyTorch way: predictions
by argmax, accuracy as a mean of masks, per-class accuracy by indexing rows, all on matrices
(no detour through NumPy)."""
import numpy as np

import pyautograd as ag
from pyautograd import data, nn, optim


def train(epochs: int = 60, seed: int = 0):
    """Train Linear(2, 16) -> ReLU -> Linear(16, 3) with cross-entropy; returns the model and
    the test split (inputs, labels as an N x 1 matrix of class numbers)."""
    ag.manual_seed(seed)
    X, labels = data.make_blobs(600, noise=1.2, seed=seed, centers=3)
    X_train, X_test, y_train, y_test = data.train_test_split(X, labels, test_size=0.25, seed=seed)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.02)
    classes = np.asarray(y_train).ravel().astype(int)  # class numbers, as the loss takes them
    for epoch in range(epochs):
        for xb, yb in data.batches(X_train, classes, 64, seed=epoch):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return model, ag.mat(X_test, requires_grad=False), ag.mat(y_test, requires_grad=False)


def evaluate(model, X: ag.Matrix, y: ag.Matrix):
    """(accuracy, per-class accuracies): predictions are the argmax of each row's logits."""
    with ag.no_grad():
        predicted = model(X).argmax(dim=1)           # N x 1, the class numbers as floats
    correct = predicted == y.reshape(-1, 1)          # 1 where right, 0 where wrong
    labels = y.flatten().tolist()[0]
    per_class = []
    for c in range(3):
        rows = [i for i, label in enumerate(labels) if label == c]
        per_class.append(correct[rows].mean())       # the rows of class c, gathered
    return correct.mean(), per_class


def main() -> None:
    model, X_test, y_test = train()
    accuracy, per_class = evaluate(model, X_test, y_test)
    print(f"test accuracy {accuracy:.3f}; per class " + ", ".join(f"{a:.2f}" for a in per_class))
    first = X_test[:3]                                # three test points, as a 3 x 2 matrix
    with ag.no_grad():
        probabilities = model(first).softmax(dim=-1)
    for row, label in zip(probabilities, y_test.flatten().tolist()[0][:3]):
        print(f"  class {int(label)}: p = {np.round(np.asarray(row), 3).tolist()[0]}, "
              f"predicted {int(row.argmax())}")


if __name__ == "__main__":
    main()
