"""Models other people wrote: transformers and torchvision architectures vs onnxruntime.

Each model of examples/make_library_models.py (BERT, DistilBERT, GPT-2, LLaMA, T5 encoder
and encoder-decoder; ResNet-50, MobileNetV3, EfficientNet, DenseNet, ConvNeXt, ViT) is
exported once into .cache/library_models/, compiled once, and run at the two shapes of its
spec (different batch and sequence length or image size) from that one compile. Outputs
must match onnxruntime to 1e-4 of the output's scale (max |got - want| / max |want|: deep
random networks make elementwise relative errors of near-zero outputs meaningless) and be
identical on a repeated call (out-of-bounds reads show up as values that change).

Needs the `library-models` extra (`make library-setup`); skipped without it. `make
library-models` runs all of them, `make test` a subset.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import ort_run

import compiler

library = pytest.importorskip("examples.make_library_models")
MISSING = library.available()
pytestmark = [pytest.mark.library,
              pytest.mark.skipif(MISSING is not None,
                                 reason=f"needs the library-models extra: {MISSING}")]

TOLERANCE = 1e-4


@pytest.fixture(scope="module", params=list(library.MODELS))
def compiled(request):
    name = request.param
    path = library.model_path(name)
    return name, path, compiler.compile(path)


def test_matches_onnxruntime_at_two_shapes(compiled):
    import onnx

    name, path, model = compiled
    spec = library.MODELS[name]
    proto = onnx.load(path)
    for shapes in spec.shapes:
        feeds = spec.feeds(shapes, seed=3)
        got = model.run(feeds)
        again = model.run(feeds)
        want = ort_run(proto, feeds)
        assert list(got) == [o.name for o in proto.graph.output]
        for (output, value), ref in zip(got.items(), want, strict=True):
            assert value.shape == ref.shape, (name, output, shapes)
            assert np.isfinite(value).all(), (name, output, shapes)
            error = library.relative_error(value, ref)
            assert error <= TOLERANCE, f"{name} {output} at {shapes}: error {error:.2e}"
            np.testing.assert_array_equal(value, again[output], err_msg=f"{name} {output}")


def test_sequence_longer_than_the_position_table_is_an_input_error():
    """BERT's position table has 128 rows: seq 129 is an error (as in onnxruntime), never
    NaNs that change between calls."""
    path = library.model_path("bert")
    model = compiler.compile(path)
    spec = library.MODELS["bert"]
    feeds = spec.feeds({"input_ids": (1, 129), "attention_mask": (1, 129)})
    with pytest.raises(compiler.InputError, match="run-time check failed.*129.*128|128.*129"):
        model.run(feeds)
