"""The shared catalog machinery: owners, schemas, code versions, code references, row counts."""

import sys
import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from fraud_core.columns import CUSTOMER_ID, PARTITION_DATE, TX_AMOUNT
from fraud_core.shape import PipelineShape
from fraud_dagster.catalog import (
    CODE_REFERENCES,
    COLUMN_SCHEMA,
    DEFAULT_OWNER,
    OWNERS_VARIABLE,
    PARTITION_ROW_COUNT,
    ROW_COUNT,
    STORAGE_KIND,
    TABLE_NAME,
    Catalog,
    CatalogEntry,
    Column,
    RepositoryAnchor,
    apply_catalog,
    code_version,
    forget_sources,
    git_location,
    owners,
    source_closure,
    table_metadata,
    table_schema,
)
from fraud_storage import TableName
from fraud_storage.duckdb_warehouse import DuckDBWarehouse

SHAPE = PipelineShape(windows_days=(1, 7), label_delay_days=2)
ANCHOR = RepositoryAnchor(Path(__file__), "libs/fraud_dagster/tests/test_catalog.py")
DESCRIBED = {
    CUSTOMER_ID: Column("int64", "The card.", pii="card_id"),
    TX_AMOUNT: Column("float", "Amount."),
}


# --------------------------------------------------------------------------------------------
# owners, schemas, git
# --------------------------------------------------------------------------------------------


def test_owners_come_from_the_environment_and_bad_ones_fail_clearly() -> None:
    assert owners({}) == [DEFAULT_OWNER]
    assert owners({OWNERS_VARIABLE: " "}) == [DEFAULT_OWNER]
    assert owners({OWNERS_VARIABLE: "a@acme.com, team:risk"}) == ["a@acme.com", "team:risk"]
    for bad in ("bob", "team:", "a@acme.com,bob"):
        with pytest.raises(ValueError, match=OWNERS_VARIABLE):
            owners({OWNERS_VARIABLE: bad})


def test_a_schema_describes_its_columns_and_personal_ids_tag_the_asset() -> None:
    schema = table_schema([CUSTOMER_ID, TX_AMOUNT, PARTITION_DATE], DESCRIBED)
    assert [c.name for c in schema.columns] == [CUSTOMER_ID, TX_AMOUNT, PARTITION_DATE]
    card, amount, bare = schema.columns
    assert (card.type, card.description, card.tags) == ("int64", "The card.", {"pii": "card_id"})
    assert (amount.description, amount.tags) == ("Amount.", {})
    assert not bare.description
    assert "pii" in CatalogEntry("ingestion", schema=schema).tags()
    clean = CatalogEntry("scoring", schema=table_schema([TX_AMOUNT], DESCRIBED))
    assert clean.tags() == {"domain": "fraud", "stage": "scoring"}


def test_git_location_from_the_deployment() -> None:
    assert git_location({}) is None
    assert git_location({"FRAUD_GIT_URL": "https://github.com/acme/fraud"}) is None  # no ref
    assert git_location(
        {"FRAUD_GIT_URL": "https://github.com/acme/fraud/", "FRAUD_GIT_REF": "v1"}
    ) == (
        "https://github.com/acme/fraud",
        "v1",
    )
    branch = {"DAGSTER_CLOUD_GIT_REPO": "acme/fraud", "DAGSTER_CLOUD_GIT_BRANCH": "feature"}
    assert git_location(branch) == ("https://github.com/acme/fraud", "feature")
    assert git_location({**branch, "DAGSTER_CLOUD_GIT_SHA": "feedbeef"}) == (
        "https://github.com/acme/fraud",
        "feedbeef",
    )
    assert git_location({**branch, "DAGSTER_CLOUD_GIT_REPO": "not-a-repo"}) is None


# --------------------------------------------------------------------------------------------
# code versions
# --------------------------------------------------------------------------------------------


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway location package ``probe_location`` on ``sys.path``: ``assets`` imports
    ``helpers`` and ``fraud_core.shape``; ``unrelated`` is imported by nobody."""
    package = tmp_path / "probe_location"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "assets.py").write_text(
        "import pandas\n\nfrom fraud_core.shape import PipelineShape\n"
        "from probe_location.helpers import double\n"
    )
    (package / "helpers.py").write_text("def double(x):\n    return 2 * x\n")
    (package / "unrelated.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    forget_sources()
    yield package
    forget_sources()
    for name in [m for m in sys.modules if m.startswith("probe_location")]:
        del sys.modules[name]


def test_the_closure_is_the_module_its_first_party_imports_and_theirs(probe: Path) -> None:
    closure = source_closure("probe_location.assets")
    assert {"probe_location.assets", "probe_location.helpers", "fraud_core.shape"} <= set(closure)
    assert "probe_location.unrelated" not in closure
    assert not any(m.split(".")[0] in {"pandas", "dagster"} for m in closure)  # pinned by uv.lock
    # a library's own imports count, transitively
    assert set(source_closure("fraud_core.shape")) <= set(closure)


def test_the_code_version_follows_the_code_the_asset_runs_and_the_shape(probe: Path) -> None:
    before = code_version("probe_location.assets", SHAPE)
    assert len(before) == 12
    (probe / "unrelated.py").write_text("VALUE = 2\n")
    forget_sources()
    assert code_version("probe_location.assets", SHAPE) == before
    (probe / "helpers.py").write_text("def double(x):\n    return x + x\n")
    forget_sources()
    after = code_version("probe_location.assets", SHAPE)
    assert after != before
    other_delay = PipelineShape(windows_days=(1, 7), label_delay_days=3)
    assert code_version("probe_location.assets", other_delay) != after
    assert code_version("probe_location.assets", SHAPE) == after  # stable


# --------------------------------------------------------------------------------------------
# applying a catalog
# --------------------------------------------------------------------------------------------


@dg.asset
def probe_table() -> None:
    """An asset with a catalog entry."""


OTHER = dg.AssetSpec("other_location_table")


def _catalog(**kwargs) -> Catalog:
    entry = CatalogEntry(
        "scoring",
        schema=table_schema([CUSTOMER_ID, TX_AMOUNT], DESCRIBED),
        table=TableName.parse("FRAUD.PROBE"),
        storage_kind="duckdb",
    )
    return Catalog(entries={"probe_table": entry}, shape=SHAPE, repository_anchor=ANCHOR, **kwargs)


def _specs(defs: dg.Definitions) -> dict[str, dg.AssetSpec]:
    return {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}


def test_a_catalog_describes_its_assets_once_and_leaves_the_others_alone() -> None:
    defs = dg.Definitions(assets=[probe_table, probe_table, OTHER])  # a defs folder repeats
    with warnings.catch_warnings():
        warnings.simplefilter("error", dg.BetaWarning)  # filtered in one place: the catalog
        described = apply_catalog(defs, _catalog(owners=("team:risk",)))
    assert len(described.assets or []) == 2
    specs = _specs(described)
    spec = specs["probe_table"]
    assert spec.owners == ["team:risk"]
    assert spec.tags == {"domain": "fraud", "stage": "scoring", "pii": ""}
    assert [c.name for c in spec.metadata[COLUMN_SCHEMA].schema.columns] == [CUSTOMER_ID, TX_AMOUNT]
    assert spec.metadata[TABLE_NAME] == "FRAUD.PROBE"
    assert spec.metadata[STORAGE_KIND] == "duckdb"
    assert len(spec.code_version or "") == 12
    (reference,) = spec.metadata[CODE_REFERENCES].code_references
    assert isinstance(reference, dg.LocalFileCodeReference)
    assert Path(reference.file_path) == Path(__file__).resolve()
    line = Path(__file__).read_text().splitlines()[reference.line_number - 1]
    assert line == "@dg.asset"
    other = specs["other_location_table"]
    assert (other.owners, other.tags, other.metadata, other.code_version) == ([], {}, {}, None)


def test_code_references_link_to_github_and_stay_local_elsewhere() -> None:
    linked = _specs(
        apply_catalog(
            dg.Definitions(assets=[probe_table]),
            _catalog(git=("https://github.com/acme/fraud", "0123abc")),
        )
    )["probe_table"]
    (reference,) = linked.metadata[CODE_REFERENCES].code_references
    assert isinstance(reference, dg.UrlCodeReference)
    assert reference.url.startswith(
        "https://github.com/acme/fraud/tree/0123abc/libs/fraud_dagster/tests/test_catalog.py#L"
    )
    local = _specs(
        apply_catalog(
            dg.Definitions(assets=[probe_table]),
            _catalog(git=("https://git.example.com/fraud", "0123abc")),
        )
    )["probe_table"]
    (reference,) = local.metadata[CODE_REFERENCES].code_references
    assert isinstance(reference, dg.LocalFileCodeReference)


# --------------------------------------------------------------------------------------------
# run time
# --------------------------------------------------------------------------------------------


def test_table_metadata_counts_the_stored_rows(tmp_path: Path) -> None:
    wh = DuckDBWarehouse.at_path(tmp_path / "warehouse.duckdb")
    table = TableName.parse("FRAUD.PROBE")
    first, second = date(2025, 3, 30), date(2025, 3, 31)
    wh.replace_partition(table, pd.DataFrame({TX_AMOUNT: [1.0, 2.0, 3.0]}), first)
    wh.replace_partition(table, pd.DataFrame({TX_AMOUNT: [4.0]}), second)
    assert table_metadata(wh, table, second) == {
        PARTITION_ROW_COUNT: 1,
        ROW_COUNT: 4,
        TABLE_NAME: "FRAUD.PROBE",
    }
    assert table_metadata(wh, table, date(2025, 4, 1))[PARTITION_ROW_COUNT] == 0
