import pandas as pd

from fraud_core.scoring import refresh_labels


def test_refresh_labels_takes_latest_and_leaves_unknown_null() -> None:
    features = pd.DataFrame(
        {"transaction_id": [1, 2, 3], "tx_fraud": pd.array([pd.NA, pd.NA, 0], dtype="Int8")}
    )
    labels = pd.DataFrame(
        {"transaction_id": [1, 3, 3], "tx_fraud": pd.array([1, 0, 1], dtype="Int8")}
    )
    out = refresh_labels(features, labels)
    assert out["tx_fraud"].tolist()[0] == 1
    assert out["tx_fraud"].isna().tolist() == [False, True, False]
    assert out["tx_fraud"].tolist()[2] == 1  # the later label wins
    assert str(out["tx_fraud"].dtype) == "Int8"
    assert features["tx_fraud"].isna().sum() == 2  # input untouched


def test_refresh_labels_empty() -> None:
    features = pd.DataFrame({"transaction_id": [], "tx_fraud": pd.array([], dtype="Int8")})
    labels = pd.DataFrame({"transaction_id": [1], "tx_fraud": pd.array([1], dtype="Int8")})
    assert len(refresh_labels(features, labels)) == 0


def test_refresh_labels_drops_invalid_label_values() -> None:
    features = pd.DataFrame({"transaction_id": [1, 2], "tx_fraud": pd.array([0, 0], dtype="Int8")})
    labels = pd.DataFrame({"transaction_id": [1, 2], "tx_fraud": [2, "yes"]})
    assert refresh_labels(features, labels)["tx_fraud"].isna().all()


def test_refresh_labels_matches_ids_in_the_form_validation_stores() -> None:
    # the source's ids as sent (padded, text), the validated ids as stored (stripped, or int64)
    labels = pd.DataFrame({"transaction_id": [" 7 ", "8   ", " TX-6"], "tx_fraud": [1, 0, 1]})
    text = pd.DataFrame({"transaction_id": ["7", "8", "TX-6"], "tx_fraud": [None] * 3})
    assert refresh_labels(text, labels)["tx_fraud"].tolist() == [1, 0, 1]
    ints = pd.DataFrame({"transaction_id": [7, 8, 9], "tx_fraud": [None] * 3})
    refreshed = refresh_labels(ints, labels)["tx_fraud"]
    assert refreshed.tolist()[:2] == [1, 0]
    assert refreshed.isna().tolist() == [False, False, True]
