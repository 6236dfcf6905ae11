"""examples/classify_blobs.py (issue 12): trains, predicts with argmax, and evaluates with masks
and row indexing, on every backend."""
from conftest import load_example


def test_the_classifier_learns_and_its_evaluation_agrees_with_numpy(backend_name):
    ex = load_example("classify_blobs")
    model, X, y = ex.train(epochs=15)
    accuracy, per_class = ex.evaluate(model, X, y)
    logits = model(X).numpy()
    labels = y.numpy().ravel()
    expected = (logits.argmax(1) == labels)
    assert accuracy.item() == expected.mean() > 0.7
    for c, got in enumerate(per_class):
        assert got.item() == expected[labels == c].mean()
