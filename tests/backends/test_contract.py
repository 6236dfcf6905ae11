"""The storage contract as code: every primitive is declared (and documented) on Storage, a
backend missing one fails when its class is created, and the op names are one list that the C
header's enums, every C switch and the Python backend's tables are checked against."""
import re
from pathlib import Path

import numpy as np
import pytest

from pyautograd.backends import base, list2d
from pyautograd.backends.base import BINARY_OPS, PRIMITIVES, REDUCE_OPS, SELECT_OPS, UNARY_OPS, Storage

from conftest import needs_c

CSRC = Path(__file__).resolve().parents[2] / "csrc"
UNKNOWN_OP = -1  # PAG_UNKNOWN_OP of csrc/pyautograd.h
ENUMS = {"pag_binary_op": BINARY_OPS, "pag_unary_op": UNARY_OPS, "pag_reduce_op": REDUCE_OPS,
         "pag_select_op": SELECT_OPS}


def _enum(name):
    body = re.search(r"enum %s \{(.*?)\};" % name, (CSRC / "pyautograd.h").read_text(), re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return [(n, int(v)) for n, v in re.findall(r"(PAG_\w+)\s*=\s*(\d+)", body)]


@pytest.mark.parametrize("enum,names", ENUMS.items())
def test_the_header_enums_are_the_python_lists_in_order(enum, names):
    assert re.search(r"#define PAG_UNKNOWN_OP \(%d\)" % UNKNOWN_OP, (CSRC / "pyautograd.h").read_text())
    assert _enum(enum) == [("PAG_" + n.upper(), i) for i, n in enumerate(names)]


def _function(source, name):
    """The body of C function `name` in a template (from its signature to the next one)."""
    start = re.search(r"\n\w[\w ]*\bFN\(%s\)\(" % name, source).start()
    end = re.search(r"\n(PAG_HOT\n)?\w[\w ]*\bFN\(\w+\)\(", source[start + 1:])
    return source[start:start + 1 + end.start()] if end else source[start:]


@pytest.mark.parametrize("template,function,names,switches", [
    ("elementwise.inc", "pag_binary", BINARY_OPS, 1),
    ("elementwise.inc", "pag_binary_scalar", BINARY_OPS, 2),
    ("unary.inc", "pag_unary", UNARY_OPS, 1)])
def test_every_c_switch_has_a_case_per_op_and_refuses_the_rest(template, function, names, switches):
    body = _function((CSRC / template).read_text(), function)
    for switch in body.split("switch (op)")[1:]:
        cases = re.findall(r"case (PAG_\w+):", switch.split("default:")[0])
        assert sorted(cases) == sorted("PAG_" + n.upper() for n in names)
        assert switch.split("default:")[1].lstrip().startswith("return PAG_UNKNOWN_OP;")
    assert body.count("switch (op)") == switches


@pytest.mark.parametrize("template,function,names", [("reduce.inc", "pag_reduce", REDUCE_OPS),
                                                     ("select.inc", "pag_select", SELECT_OPS)])
def test_the_if_chains_refuse_an_op_outside_their_list_first(template, function, names):
    body = _function((CSRC / template).read_text(), function)
    check = re.search(r"if \((.*?)\)\s*return PAG_UNKNOWN_OP;", body, re.S).group(1)
    assert sorted(re.findall(r"op != (PAG_\w+)", check)) == sorted("PAG_" + n.upper() for n in names)


@needs_c
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_an_unknown_op_code_is_an_error_from_every_kernel_never_a_silent_no_op(dtype):
    from pyautograd.backends.carray import ffi, lib
    suffix, ctype = ("", "double") if dtype == "float64" else ("_f32", "float")
    a, out = ffi.new(f"{ctype}[4]", [1.0, 2.0, 3.0, 4.0]), ffi.new(f"{ctype}[4]", [7.0] * 4)
    kernel = lambda name: getattr(lib, name + suffix)  # noqa: E731
    unknown = len(BINARY_OPS) + 5
    assert kernel("pag_binary")(unknown, 2, 2, a, 2, 1, a, 2, 1, out) == UNKNOWN_OP
    assert kernel("pag_binary_same")(unknown, 4, a, a, out) == UNKNOWN_OP
    for left in (0, 1):
        assert kernel("pag_binary_scalar")(unknown, 4, a, 2.0, left, out) == UNKNOWN_OP
    assert kernel("pag_unary")(len(UNARY_OPS), 4, a, out) == UNKNOWN_OP
    assert kernel("pag_reduce")(len(REDUCE_OPS), -1, 2, 2, a, out) == UNKNOWN_OP
    assert kernel("pag_select")(-1, -1, 2, 2, a, out) == UNKNOWN_OP
    assert list(out) == [7.0] * 4  # nothing written
    assert kernel("pag_unary")(0, 4, a, out) == 0 and list(out) == [-1.0, -2.0, -3.0, -4.0]


def test_a_backend_missing_a_primitive_fails_when_its_class_is_created():
    with pytest.raises(TypeError, match=r"storage class Half does not define the primitive\(s\) "
                                        r"share, _dsigmoid of the storage contract"):
        class Half(list2d.List2D.__base__):  # Storage itself
            locals().update({name: lambda *a: None for name in PRIMITIVES
                             if name not in ("share", "_dsigmoid")})

    class Whole(list2d.List2D):  # inherits them all
        pass


def test_every_primitive_is_declared_and_documented_on_storage():
    for name in PRIMITIVES:
        declared = Storage.__dict__[name]
        doc = (declared.__func__ if isinstance(declared, classmethod) else declared).__doc__
        assert doc and doc.strip(), name
    assert Storage.__dict__["sqrt"].__doc__  # the unary methods are made from UNARY_OPS


def test_the_python_tables_cover_exactly_the_lists():
    assert set(list2d._BINARY) == set(BINARY_OPS) and set(list2d._UNARY) == set(UNARY_OPS)
    with pytest.raises(ImportError, match=r"the unary ops \['cube'\] are in one of"):
        list2d._check_covers("unary", {**list2d._UNARY, "cube": np.cbrt}, UNARY_OPS)
    for name in UNARY_OPS:
        assert hasattr(base.Storage, name) or name == "neg"
