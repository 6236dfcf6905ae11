"""examples/classify_blobs.py (issue 12): trains, predicts with argmax, and evaluates with masks
and row indexing, on every backend."""
import importlib.util
import pathlib

EXAMPLE = pathlib.Path(__file__).resolve().parent.parent / "examples" / "classify_blobs.py"


def _load():
    spec = importlib.util.spec_from_file_location("classify_blobs", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_classifier_learns_and_its_evaluation_agrees_with_numpy(backend_name):
    ex = _load()
    model, X, y = ex.train(epochs=15)
    accuracy, per_class = ex.evaluate(model, X, y)
    logits = model(X).numpy()
    labels = y.numpy().ravel()
    expected = (logits.argmax(1) == labels)
    assert accuracy.item() == expected.mean() > 0.7
    for c, got in enumerate(per_class):
        assert got.item() == expected[labels == c].mean()
