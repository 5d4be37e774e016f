"""What opt-tool prints parses back and prints identically, at every IR level."""

from __future__ import annotations

import pytest
from xdsl.dialects.builtin import ModuleOp
from xdsl.parser import Parser

from compiler.context import make_context
from compiler.driver import run_pipeline
from compiler.importers.onnx import import_onnx
from compiler.pipeline import PRESETS


def _reprint(module: ModuleOp) -> str:
    text = str(module)
    reparsed = Parser(make_context(), text).parse_module()
    reparsed.verify()
    return str(reparsed)


STAGES = ["", *(str(p.pipeline_pass_spec()) for p in [*PRESETS["O2"](), *PRESETS["lower"]()])]


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_every_level_round_trips(model_name, mlp_proto, cnn_proto):
    module = import_onnx({"mlp": mlp_proto, "cnn": cnn_proto}[model_name])
    for stage in STAGES:
        run_pipeline(module, stage)
        assert _reprint(module) == str(module), f"round trip differs after '{stage}'"
