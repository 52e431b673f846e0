"""The typed mirrors of the dynamic resources (dynamic/resource.py) against their tables: each ``*Args``
dataclass has one field per user input of the table, each resource class declares (for type checkers,
under ``if TYPE_CHECKING:``) one output attribute per property it registers (the user inputs and the
outputs), and every annotation holds the type of its row's kind. A new row without its mirror fails
here, naming it. (The lookups' signatures and ImageInfo: tests/plugin/test_plugin_schema.py.)"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from ims_pulumi.core.framework import Field, Table
from ims_pulumi.core.image_metadata import IMAGE_METADATA
from ims_pulumi.core.sharing import IMAGE_MEMBER, IMAGE_MEMBER_ACCEPTANCE
from ims_pulumi.dynamic import resource

pytestmark = pytest.mark.unit

SOURCE = Path(resource.__file__).read_text()

# (resource class, its Args dataclass, its table)
MIRRORS = [
    ("ImageMetadata", resource.ImageMetadataArgs, IMAGE_METADATA),
    ("ImageMember", resource.ImageMemberArgs, IMAGE_MEMBER),
    ("ImageMemberAcceptance", resource.ImageMemberAcceptanceArgs, IMAGE_MEMBER_ACCEPTANCE),
]

#: Output types that are not their kind's input type: (kind type, output type, reason).
OUTPUT_TYPES = {
    "FileAsset | RemoteAsset | str": ("dict[str, Any]", "an asset cannot be a dynamic provider's input "
                                      "(pulumi/pulumi#6802): it registers as the map that identifies its bytes"),
}


def types_of(annotation: ast.expr) -> frozenset[str]:
    """The types an annotation allows, without ``None`` and without the ``pulumi.Input``/``pulumi.Output``
    wrapper or the ``pulumi.`` prefix: ``pulumi.Input[str] | pulumi.FileAsset | None`` -> {str, FileAsset}."""
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return types_of(annotation.left) | types_of(annotation.right)
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return frozenset()
    if (isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Attribute)
            and annotation.value.attr in ("Input", "Output")):
        return types_of(annotation.slice)
    if isinstance(annotation, ast.Attribute) and ast.unparse(annotation.value) == "pulumi":
        return frozenset({annotation.attr})
    return frozenset({ast.unparse(annotation)})


def kind_types(f: Field, *, output: bool) -> frozenset[str]:
    """The types of a row's kind (``Kind.type_name``), as an input or as an output."""
    type_name = f.kind.type_name
    if output and type_name in OUTPUT_TYPES:
        type_name = OUTPUT_TYPES[type_name][0]
    return frozenset(part.strip() for part in type_name.split(" | "))


def output_annotations(class_name: str) -> dict[str, ast.expr]:
    """The attributes a resource class declares under ``if TYPE_CHECKING:``, with their annotations."""
    (cls,) = [node for node in ast.parse(SOURCE).body if isinstance(node, ast.ClassDef) and node.name == class_name]
    blocks = [node for node in cls.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"]
    assert len(blocks) == 1, f"{class_name}: one `if TYPE_CHECKING:` block of output annotations"
    return {node.target.id: node.annotation for node in blocks[0].body
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)}


@pytest.mark.parametrize(("class_name", "args", "table"), MIRRORS, ids=[m[0] for m in MIRRORS])
def test_args_fields_are_the_tables_user_inputs(class_name: str, args: type, table: Table) -> None:
    fields = {f.name: f for f in dataclasses.fields(args)}
    assert set(fields) == {f.name for f in table.user_inputs}, f"{args.__name__} against the table's user inputs"
    for f in table.user_inputs:
        annotation = ast.parse(str(fields[f.name].type), mode="eval").body
        assert types_of(annotation) == kind_types(f, output=False), f"{args.__name__}.{f.name}: {f.kind.type_name}"
        assert fields[f.name].default is None, f"{args.__name__}.{f.name}: every argument may be left out"


@pytest.mark.parametrize(("class_name", "args", "table"), MIRRORS, ids=[m[0] for m in MIRRORS])
def test_output_annotations_are_the_registered_properties(class_name: str, args: type, table: Table) -> None:
    """A resource registers every user input and every output (``registration_props``): each is an
    attribute, annotated with its kind's type."""
    annotations = output_annotations(class_name)
    rows = (*table.user_inputs, *table.outputs)
    assert set(annotations) == {f.name for f in rows}, f"{class_name} against the table's inputs and outputs"
    for f in rows:
        assert types_of(annotations[f.name]) == kind_types(f, output=True), \
            f"{class_name}.{f.name}: {ast.unparse(annotations[f.name])} against {f.kind.type_name}"


def test_the_mirrors_cover_every_resource_class() -> None:
    """Each resource class of the module is checked here."""
    classes = {node.name for node in ast.parse(SOURCE).body if isinstance(node, ast.ClassDef)
               and any(ast.unparse(base) == "Resource" for base in node.bases)}
    assert classes == {m[0] for m in MIRRORS}


def test_types_of_reads_the_annotation_forms_the_module_uses() -> None:
    cases = {
        "pulumi.Input[str] | None": {"str"},
        "pulumi.Input[str] | pulumi.FileAsset | pulumi.RemoteAsset | None": {"str", "FileAsset", "RemoteAsset"},
        "pulumi.Output[int | None]": {"int"},
        "pulumi.Output[dict[str, Any] | None]": {"dict[str, Any]"},
        "pulumi.Input[list[str]] | None": {"list[str]"},
    }
    for text, expected in cases.items():
        assert types_of(ast.parse(text, mode="eval").body) == expected, text
