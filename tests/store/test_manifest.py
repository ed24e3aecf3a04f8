"""The app manifest: valid manifests load, invalid ones are refused with every problem."""

from __future__ import annotations

import json
from typing import Any

import pydicom
import pytest
from pydantic import ValidationError

from medcoop.store.manifest import (
    AppManifest,
    ManifestError,
    ParameterError,
    PricingModel,
    Selector,
    manifest_json_schema,
    validate_manifest,
    version_key,
)
from tests.store.manifests import CLOUD_APP, EDGE_APP, manifest


def _locations(data: Any) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        validate_manifest(data)
    return [p.location for p in caught.value.problems]


def test_valid_edge_and_cloud_manifests() -> None:
    edge = validate_manifest(json.dumps(EDGE_APP))
    assert edge.allows_clinical_routing
    assert edge.regulatory.statuses == ("EU MDR IIa", "US 510(k)")
    assert edge.offers.pricing_models == (PricingModel.PER_STUDY, PricingModel.QUOTE)
    cloud = validate_manifest(CLOUD_APP)
    assert not cloud.allows_clinical_routing
    assert cloud.regulatory.statuses == ("RUO",)
    assert [i.name for i in cloud.pooled_inputs] == ["ct_studies"]


def test_every_problem_is_listed_with_its_location() -> None:
    bad = manifest(
        version="1.x",
        resources={"gpu": "required"},
        regulatory={"us_fda": {"k510": "K12"}},
        inputs=[
            {
                "kind": "dicom",
                "name": "a",
                "selectors": [
                    {"attribute": "Modalty", "in": ["CT"]},
                    {"attribute": "Modality"},
                    {"attribute": "Rows", "min": 10, "max": 1},
                ],
            }
        ],
        parameters=[{"name": "level", "type": "integer", "default": "high"}],
        offers={"trial": {"days": 0, "study_cap": 10}},
        unknown_field=1,
    )
    assert sorted(_locations(bad)) == sorted(
        [
            "version",
            "resources.gpu",
            "regulatory.us_fda.k510",
            "inputs.0.selectors.0.attribute",
            "inputs.0.selectors.1",
            "inputs.0.selectors.2",
            "parameters.0",
            "offers.trial.days",
            "unknown_field",
        ]
    )


def test_cross_field_rules_are_listed_together() -> None:
    bad = manifest(id="other.app", deployment=["cloud"], data_scopes=[])
    assert sorted(_locations(bad)) == sorted(["id", "inputs.0", "inputs", "data_scopes"])
    # the model itself refuses too (one error naming them all), for code that skips
    # validate_manifest
    with pytest.raises(ValidationError, match="starts with its vendor"):
        AppManifest.model_validate(bad)


@pytest.mark.parametrize(
    ("regulatory", "message"),
    [
        ({}, "name a clearance"),
        ({"research_use_only": True, "us_fda": {"k510": "K231234"}}, "excludes"),
        ({"eu_mdr": {"mdr_class": "IIb"}}, "needs a notified_body"),
    ],
)
def test_regulatory_status_is_one_of_cleared_or_research(
    regulatory: dict[str, Any], message: str
) -> None:
    with pytest.raises(ManifestError, match=message):
        validate_manifest(manifest(regulatory=regulatory))


def test_class_i_needs_no_notified_body() -> None:
    found = validate_manifest(manifest(regulatory={"eu_mdr": {"mdr_class": "I"}}))
    assert found.regulatory.statuses == ("EU MDR I",)


def test_an_offer_is_required() -> None:
    assert _locations(manifest(offers={"trial": {"days": 3, "study_cap": 3}})) == ["offers"]


def test_not_json_and_not_an_object() -> None:
    assert _locations(b"{nope") == [""]
    assert _locations("[1, 2]") == [""]


def test_selectors_match_a_pydicom_dataset() -> None:
    app = validate_manifest(EDGE_APP)
    ds = pydicom.Dataset()
    ds.Modality = "DX"
    ds.BodyPartExamined = "CHEST"
    assert [i.name for i in app.matching_inputs(ds)] == ["chest"]
    ds.Modality = "CT"
    assert app.matching_inputs(ds) == ()
    del ds.BodyPartExamined
    ds.Modality = "DX"
    assert app.matching_inputs(ds) == ()


@pytest.mark.parametrize(
    ("selector", "value", "expected"),
    [
        ({"in": ["CT"]}, "ct", True),
        ({"in": ["CT"]}, None, False),
        ({"not_in": ["CT"]}, None, True),
        ({"not_in": ["CT"]}, "MR", True),
        ({"not_in": ["CT"]}, ["ORIGINAL", "CT"], False),
        ({"equals": "CHEST"}, "CHEST ", True),
        ({"contains": "thorax"}, "CT Thorax w/o", True),
        ({"contains": "thorax"}, "Head", False),
        ({"present": True}, "", False),
        ({"present": False}, None, True),
        ({"min": 18}, "42", True),
        ({"min": 18, "max": 30}, 42, False),
        ({"max": 30}, "n/a", False),
        ({"in": ["LOCALIZER"]}, ["ORIGINAL", "PRIMARY", "LOCALIZER"], True),
    ],
)
def test_selector_semantics(selector: dict[str, Any], value: Any, expected: bool) -> None:
    assert Selector.model_validate({"attribute": "X", **selector}).matches(value) is expected


def test_pooled_selectors_name_record_fields() -> None:
    bad = manifest(CLOUD_APP)
    bad["inputs"][0]["selectors"] = [{"attribute": "patient.name", "present": True}]
    assert _locations(bad) == ["inputs.0.selectors.0.attribute"]
    cloud = validate_manifest(CLOUD_APP)
    assert cloud.pooled_inputs[0].matches({"modality": "CT", "patient.age_years": 40})


def test_parameters_resolve_with_defaults_and_list_every_problem() -> None:
    app = validate_manifest(
        manifest(
            parameters=[
                {"name": "threshold", "type": "number", "default": 0.5, "maximum": 1},
                {"name": "view", "type": "enum", "choices": ["PA", "AP"]},
                {"name": "sr", "type": "boolean", "default": True},
            ]
        )
    )
    assert app.resolve_parameters({"view": "PA"}) == {"threshold": 0.5, "view": "PA", "sr": True}
    with pytest.raises(ParameterError) as caught:
        app.resolve_parameters({"threshold": 2, "sr": "yes", "extra": 1})
    assert sorted(p.location for p in caught.value.problems) == [
        "parameters.extra",
        "parameters.sr",
        "parameters.threshold",
        "parameters.view",
    ]


def test_json_schema_round_trip() -> None:
    schema = manifest_json_schema()
    assert schema["$id"] == "/api/v1/store/manifest.schema.json"
    assert set(schema["required"]) >= {"id", "version", "vendor", "entry_point", "offers"}
    selector = schema["$defs"]["DicomSelector"]["properties"]
    assert "in" in selector and "in_" not in selector
    app = validate_manifest(EDGE_APP)
    assert validate_manifest(app.to_json()) == app


def test_version_order() -> None:
    versions = ["1.10.0", "1.2.0", "1.2.0rc1", "1.2.0.post1", "1.2.0.dev3", "0.9.9"]
    assert sorted(versions, key=version_key) == [
        "0.9.9",
        "1.2.0.dev3",
        "1.2.0rc1",
        "1.2.0",
        "1.2.0.post1",
        "1.10.0",
    ]
