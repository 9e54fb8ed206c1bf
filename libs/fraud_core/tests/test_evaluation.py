"""Tests for fraud_core.evaluation: the handbook's split, metrics and prequential protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fraud_core.evaluation import (
    average_precision,
    card_precision_at_k,
    card_precision_at_k_daily,
    catboost_model_factory,
    evaluate_scores,
    handbook_fold_starts,
    prequential_evaluation,
    prequential_fold_starts,
    roc_auc,
    sklearn_model_factory,
    train_delay_test_split,
)
from fraud_core.model import TrainConfig

UTC = "UTC"


def ts(day: str, hour: int = 12) -> pd.Timestamp:
    return pd.Timestamp(day, tz=UTC) + pd.Timedelta(hours=hour)


def make_stream(
    start: str = "2018-06-01", days: int = 92, customers: int = 60, seed: int = 0
) -> pd.DataFrame:
    """Synthetic transaction stream: 2 tx per customer per day, fraud linked to feature x."""
    rng = np.random.default_rng(seed)
    n = days * customers * 2
    day = np.repeat(np.arange(days), customers * 2)
    customer = np.tile(np.arange(customers), days * 2)
    x = rng.normal(size=n)
    fraud = rng.uniform(size=n) < 1 / (1 + np.exp(-(x * 2.5 - 5.0)))
    times = (
        pd.Timestamp(start, tz=UTC)
        + pd.to_timedelta(day, "D")
        + pd.to_timedelta(rng.uniform(0, 86399, n), "s")
    )
    frame = pd.DataFrame(
        {
            "transaction_id": np.arange(n),
            "tx_datetime": times,
            "customer_id": customer,
            "terminal_id": rng.integers(0, 50, n),
            "tx_amount": rng.gamma(2, 20, n),
            "tx_fraud": pd.array(fraud.astype("int8"), dtype="Int8"),
            "x": x,
            "noise": rng.normal(size=n),
        }
    )
    return frame.sort_values("tx_datetime", kind="mergesort").reset_index(drop=True)


def handbook_reference_split(
    df: pd.DataFrame, start: pd.Timestamp, delta_train: int, delta_delay: int, delta_test: int
) -> tuple[set[int], set[int]]:
    """Transcription of the book's get_train_test_set loop, on day numbers (TX_TIME_DAYS)."""
    origin = pd.Timestamp("2018-01-01", tz=UTC)
    day_no = (df["tx_datetime"] - origin).dt.days
    fraud = df["tx_fraud"].fillna(0) == 1
    train = df[
        (df.tx_datetime >= start) & (df.tx_datetime < start + pd.Timedelta(days=delta_train))
    ]
    known = set(train[fraud.loc[train.index]].customer_id)
    start_day = day_no.loc[train.index].min()
    test_ids: set[int] = set()
    for day in range(delta_test):
        test_day = df[day_no == start_day + delta_train + delta_delay + day]
        delayed = df[(day_no == start_day + delta_train + day - 1) & fraud]
        known |= set(delayed.customer_id)
        test_ids |= set(test_day[~test_day.customer_id.isin(known)].transaction_id)
    return set(train.transaction_id), test_ids


# --- metrics ---------------------------------------------------------------------------------


def test_roc_auc_hand_computed() -> None:
    # Pairs (fraud, genuine): (0.35 > 0.1), (0.35 < 0.4), (0.8 > 0.1), (0.8 > 0.4) -> 3/4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # A tie between a fraud and a genuine counts one half.
    assert roc_auc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)


def test_average_precision_hand_computed() -> None:
    # Ranking 0.8(F) 0.4(G) 0.35(F) 0.1(G): precision 1 at recall 1/2, 2/3 at recall 1.
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(
        0.5 * 1 + 0.5 * 2 / 3
    )
    assert average_precision(pd.Series([1, 0, 0]), [0.9, 0.2, 0.1]) == pytest.approx(1.0)


@pytest.mark.parametrize("metric", [roc_auc, average_precision])
def test_metrics_reject_single_class_and_na(metric) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="one class"):
        metric([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NA"):
        metric(pd.Series([0, 1, pd.NA], dtype="Int8"), [0.1, 0.2, 0.3])


def scored(rows: list[tuple[str, str, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [{"customer_id": c, "tx_datetime": ts(d), "tx_fraud": y, "score": s} for d, c, y, s in rows]
    )


def test_card_precision_hand_computed_with_detected_cards_removed() -> None:
    frame = scored(
        [
            # Day 1: card scores A 0.9 (fraud, max of its two tx), B 0.8, C 0.3 (fraud), D 0.2.
            ("2018-08-08", "A", 1, 0.9),
            ("2018-08-08", "A", 0, 0.1),
            ("2018-08-08", "B", 0, 0.8),
            ("2018-08-08", "C", 1, 0.3),
            ("2018-08-08", "D", 0, 0.2),
            # Day 2: A was detected on day 1 and is dropped; top 2 = C (fraud), B.
            ("2018-08-09", "A", 1, 0.95),
            ("2018-08-09", "C", 1, 0.7),
            ("2018-08-09", "B", 0, 0.6),
            ("2018-08-09", "E", 0, 0.5),
        ]
    )
    daily = card_precision_at_k_daily(frame, k=2)
    assert daily["card_precision"].tolist() == [0.5, 0.5]
    assert daily["n_detected"].tolist() == [1, 1]
    assert daily["n_fraud_cards"].tolist() == [2, 1]  # A is no longer counted on day 2
    assert card_precision_at_k(frame, k=2) == pytest.approx(0.5)
    # k=1: day 1 top card A (fraud) -> 1; day 2 without A: top C (fraud) -> 1.
    assert card_precision_at_k(frame, k=1) == pytest.approx(1.0)


def test_card_precision_card_label_is_max_and_divides_by_k() -> None:
    # One card whose fraud tx has a low score: the card (max score 0.9, max label 1) is a hit.
    frame = scored(
        [
            ("2018-08-08", "A", 0, 0.9),
            ("2018-08-08", "A", 1, 0.05),
            ("2018-08-08", "B", 0, 0.5),
        ]
    )
    # Fewer cards (2) than k (3): precision still divides by k, as in the book.
    assert card_precision_at_k(frame, k=3) == pytest.approx(1 / 3)
    assert card_precision_at_k(frame, k=1) == pytest.approx(1.0)


def test_card_precision_uses_score_column_and_validates() -> None:
    frame = scored([("2018-08-08", "A", 1, 0.1), ("2018-08-08", "B", 0, 0.9)])
    assert card_precision_at_k(frame, k=1) == 0.0
    other = frame.assign(p=[0.9, 0.1])
    assert card_precision_at_k(other, k=1, score_column="p") == 1.0
    with pytest.raises(ValueError, match="k must be"):
        card_precision_at_k(frame, k=0)
    with pytest.raises(ValueError, match="missing columns"):
        card_precision_at_k(frame.drop(columns="customer_id"))


def test_evaluate_scores_drops_unlabelled_rows() -> None:
    frame = scored(
        [
            ("2018-08-08", "A", 1, 0.9),
            ("2018-08-08", "B", 0, 0.8),
            ("2018-08-08", "C", 0, 0.1),
        ]
    )
    unlabelled = pd.DataFrame(
        {
            "customer_id": ["D"],
            "tx_datetime": [ts("2018-08-08")],
            "tx_fraud": [pd.NA],
            "score": [0.99],
        }
    )
    frame = pd.concat([frame.astype({"tx_fraud": "Int8"}), unlabelled.astype({"tx_fraud": "Int8"})])
    metrics = evaluate_scores(frame, frame["score"], k=1)
    assert metrics["n_eval"] == 3
    assert metrics["roc_auc"] == pytest.approx(1.0)
    assert metrics["average_precision"] == pytest.approx(1.0)
    assert metrics["card_precision@1"] == pytest.approx(1.0)  # D (unlabelled) is not ranked
    with pytest.raises(ValueError, match="2 scores for 4 rows"):
        evaluate_scores(frame, [0.1, 0.2])


# --- train / delay / test split ----------------------------------------------------------------


def split_fixture() -> pd.DataFrame:
    """One tx per customer per day from 07-20 to 08-20 with planted frauds."""
    frauds = {
        "c1": "2018-07-27",  # in the training week -> never in test
        "c2": "2018-07-31",  # last training day -> never in test
        "c3": "2018-08-01",  # first delay day -> known from the 2nd test day (08-09) on
        "c4": "2018-08-05",  # known from 08-13 on (08-05 + 7 delay + 1)
        "c5": "2018-08-08",  # fraud on the first test day itself -> stays in test
        "c7": "2018-08-07",  # known only after the test window (08-15) -> stays
    }
    rows = []
    for day in pd.date_range("2018-07-20", "2018-08-20", freq="D"):
        for cust in ("c1", "c2", "c3", "c4", "c5", "c6", "c7"):
            label = int(frauds.get(cust) == f"{day.date()}")
            rows.append(
                {"tx_datetime": ts(str(day.date()), 10), "customer_id": cust, "tx_fraud": label}
            )
    frame = pd.DataFrame(rows)
    frame["tx_fraud"] = frame["tx_fraud"].astype("Int8")
    frame.insert(0, "transaction_id", np.arange(len(frame)))
    return frame


def test_split_windows_and_known_card_removal() -> None:
    frame = split_fixture()
    train, test = train_delay_test_split(frame, "2018-07-25")
    train_days = sorted({str(d.date()) for d in train["tx_datetime"]})
    assert train_days == [f"2018-07-{d}" for d in range(25, 32)]
    assert len(train) == 7 * 7
    test_days = test.groupby("customer_id")["tx_datetime"].apply(
        lambda s: sorted(str(d.date()) for d in s)
    )
    all_test = [f"2018-08-{d:02d}" for d in range(8, 15)]
    assert "c1" not in test_days.index
    assert "c2" not in test_days.index
    assert test_days["c3"] == ["2018-08-08"]
    assert test_days["c4"] == all_test[:5]  # 08-08 .. 08-12
    assert test_days["c5"] == all_test
    assert test_days["c6"] == all_test
    assert test_days["c7"] == all_test
    assert int(test["tx_fraud"].sum()) == 1  # c5's fraud on 08-08
    assert test.index.is_monotonic_increasing


def test_split_delay_and_test_length() -> None:
    frame = split_fixture()
    train, test = train_delay_test_split(
        frame, "2018-07-25", train_days=3, delay_days=2, test_days=2
    )
    assert sorted({str(d.date()) for d in train["tx_datetime"]}) == [
        "2018-07-25",
        "2018-07-26",
        "2018-07-27",
    ]
    assert sorted({str(d.date()) for d in test["tx_datetime"]}) == ["2018-07-30", "2018-07-31"]
    # c1's fraud (07-27) is in training; c2's fraud is on 07-31 (test day itself) -> kept.
    assert set(test["customer_id"]) == {"c2", "c3", "c4", "c5", "c6", "c7"}
    with pytest.raises(ValueError, match="train_days"):
        train_delay_test_split(frame, "2018-07-25", train_days=0)


def test_split_unknown_labels_are_not_known_frauds() -> None:
    frame = split_fixture()
    frame.loc[(frame.customer_id == "c1"), "tx_fraud"] = pd.NA
    _, test = train_delay_test_split(frame, "2018-07-25")
    assert "c1" in set(test["customer_id"])


def test_split_matches_handbook_loop_on_random_stream() -> None:
    frame = make_stream(seed=3)
    start = pd.Timestamp("2018-07-04", tz=UTC)
    for delta_train, delta_delay, delta_test in [(7, 7, 7), (5, 3, 4), (7, 0, 7)]:
        train, test = train_delay_test_split(frame, start, delta_train, delta_delay, delta_test)
        ref_train, ref_test = handbook_reference_split(
            frame, start, delta_train, delta_delay, delta_test
        )
        assert set(train["transaction_id"]) == ref_train
        assert set(test["transaction_id"]) == ref_test
        assert 0 < len(test) < delta_test * 120  # some cards were removed


def test_split_accepts_naive_and_aware_inputs() -> None:
    frame = split_fixture()
    aware = train_delay_test_split(frame, pd.Timestamp("2018-07-25", tz="UTC"))
    naive_start = train_delay_test_split(frame, "2018-07-25")
    naive_data = train_delay_test_split(
        frame.assign(tx_datetime=frame["tx_datetime"].dt.tz_localize(None)), "2018-07-25"
    )
    for a, b in zip(aware, naive_start, strict=True):
        assert a["transaction_id"].tolist() == b["transaction_id"].tolist()
    for a, b in zip(aware, naive_data, strict=True):
        assert a["transaction_id"].tolist() == b["transaction_id"].tolist()


# --- prequential ---------------------------------------------------------------------------------


def test_prequential_fold_dates_follow_the_handbook() -> None:
    starts = prequential_fold_starts("2018-07-25", n_folds=4, delta_assessment=7)
    assert [str(s.date()) for s in starts] == [
        "2018-07-25",
        "2018-07-18",
        "2018-07-11",
        "2018-07-04",
    ]
    valid, test = handbook_fold_starts()
    assert str(valid.date()) == "2018-07-11"
    assert str(test.date()) == "2018-08-15"
    test_folds = prequential_fold_starts(test, 4, 7)
    assert [str(s.date()) for s in test_folds][-1] == "2018-07-25"  # = the ch.3 split
    with pytest.raises(ValueError, match="n_folds"):
        prequential_fold_starts("2018-07-25", n_folds=0)


def test_prequential_evaluation_uses_the_factory_per_fold() -> None:
    frame = make_stream()
    calls: list[tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp, pd.Timestamp]] = []

    def factory(train: pd.DataFrame, test: pd.DataFrame) -> np.ndarray:
        calls.append(
            (
                train.tx_datetime.min(),
                train.tx_datetime.max(),
                test.tx_datetime.min(),
                test.tx_datetime.max(),
            )
        )
        return test["x"].to_numpy()  # the true signal: a perfect-ish ranking

    result = prequential_evaluation(frame, "2018-08-01", n_folds=3, model_factory=factory, k=10)
    folds = result.folds
    assert len(calls) == 3
    assert folds["fold"].tolist() == [0, 1, 2]
    assert [str(s.date()) for s in folds["train_start"]] == [
        "2018-08-01",
        "2018-07-25",
        "2018-07-18",
    ]
    assert [str(s.date()) for s in folds["test_start"]] == [
        "2018-08-15",
        "2018-08-08",
        "2018-08-01",
    ]
    for (tr_min, tr_max, te_min, te_max), start in zip(calls, folds["train_start"], strict=True):
        assert tr_min >= start
        assert tr_max < start + pd.Timedelta(days=7)
        assert te_min >= start + pd.Timedelta(days=14)
        assert te_max < start + pd.Timedelta(days=21)
    assert result.metrics == ("roc_auc", "average_precision", "card_precision@10")
    assert (folds["roc_auc"] > 0.8).all()
    summary = result.summary
    assert summary.loc["roc_auc", "mean"] == pytest.approx(folds["roc_auc"].mean())
    assert summary.loc["average_precision", "std"] == pytest.approx(
        folds["average_precision"].std(ddof=0)
    )
    assert result.mean()["card_precision@10"] == pytest.approx(folds["card_precision@10"].mean())
    # A useless score ranks worse than the signal on every fold.
    noise = prequential_evaluation(
        frame,
        "2018-08-01",
        n_folds=3,
        model_factory=lambda _tr, te: te["noise"].to_numpy(),
        k=10,
    )
    assert (noise.folds["average_precision"] < folds["average_precision"]).all()


def test_prequential_with_sklearn_and_catboost_factories() -> None:
    frame = make_stream(days=70)
    lr = prequential_evaluation(
        frame,
        "2018-07-18",
        n_folds=2,
        model_factory=sklearn_model_factory(LogisticRegression, ["x", "noise"]),
        k=10,
    )
    assert (lr.folds["roc_auc"] > 0.8).all()
    config = TrainConfig(
        iterations=15,
        depth=2,
        learning_rate=0.3,
        thread_count=1,
        features=("x", "noise"),
        device="cpu",
    )
    cb = prequential_evaluation(
        frame,
        "2018-07-18",
        n_folds=2,
        model_factory=catboost_model_factory(config, log=lambda _m: None),
        k=10,
    )
    assert (cb.folds["roc_auc"] > 0.8).all()
    assert (cb.folds["n_train_fraud"] > 0).all()
