"""`GET /activations` and `GET /activations/{name}`: the catalogue, straight from the registry."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from app.numerics import REGISTRY, ActivationSpec
from app.numerics.expressions import CUSTOM, CUSTOM_KERAS_REFERENCE, CUSTOM_SUMMARY, GRAMMAR, MAX_LENGTH
from app.numerics.params import ParamSpec

router = APIRouter(tags=["catalogue"])

_PARAM_TYPES = {
    "number": "number",
    "optional_number": "number | null",
    "boolean": "boolean",
    "axis": "integer",
    "axes": "integer | integer[]",
    "tensor": "number | array",
    "mask": "array of 0/1 or booleans",
}


class ParamInfo(BaseModel):
    name: str
    type: str
    default: object = Field(description="Default value (null: none).")
    required: bool
    constraints: list[str]
    description: str
    aliases: list[str] = Field(default_factory=list)


class ActivationInfo(BaseModel):
    name: str = Field(description="Canonical name, as `POST /activate/{name}` accepts it.")
    aliases: list[str]
    summary: str
    formula: str
    elementwise: bool
    params: list[ParamInfo]
    keras_reference: str
    tf_differences: list[str]


class Catalogue(BaseModel):
    activations: list[ActivationInfo]


def param_info(param: ParamSpec) -> ParamInfo:
    return ParamInfo(
        name=param.name,
        type=_PARAM_TYPES[param.kind],
        default=param.default,
        required=param.required,
        constraints=param.constraints,
        description=param.description,
        aliases=list(param.aliases),
    )


def activation_info(spec: ActivationSpec) -> ActivationInfo:
    return ActivationInfo(
        name=spec.name,
        aliases=list(spec.aliases),
        summary=spec.summary,
        formula=spec.formula,
        elementwise=spec.elementwise,
        params=[param_info(param) for param in spec.params],
        keras_reference=spec.keras_reference,
        tf_differences=list(spec.tf_differences),
    )


def custom_info() -> ActivationInfo:
    """The `custom` entry: an expression in x, with its grammar as the formula."""
    return ActivationInfo(
        name=CUSTOM,
        aliases=[],
        summary=CUSTOM_SUMMARY,
        formula=GRAMMAR,
        elementwise=True,
        params=[
            ParamInfo(
                name="expression",
                type="string",
                default=None,
                required=True,
                constraints=[f"at most {MAX_LENGTH} characters", "the grammar in `formula`"],
                description='The activation as an expression in x, e.g. "x * sigmoid(1.702 * x)".',
            )
        ],
        keras_reference=CUSTOM_KERAS_REFERENCE,
        tf_differences=[],
    )


@router.api_route("/activations", methods=["GET", "HEAD"], response_model=Catalogue)
def read_activations() -> Catalogue:
    """List every activation with its parameters, formula and differences from TensorFlow."""
    return Catalogue(activations=[*(activation_info(spec) for spec in REGISTRY), custom_info()])


@router.api_route("/activations/{name}", methods=["GET", "HEAD"], response_model=ActivationInfo)
def read_activation(name: str) -> ActivationInfo:
    """Describe one activation (an alias resolves to its canonical entry)."""
    return custom_info() if name == CUSTOM else activation_info(REGISTRY.get(name))
