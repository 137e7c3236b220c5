"""benchmarks/lab4_metric.py runs the solution notebook's own code, end to end on a few images."""

import importlib.util
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab4, pytest.mark.slow]

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "lab4_metric.py"
spec = importlib.util.spec_from_file_location("lab4_metric", PATH)
lab4_metric = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lab4_metric)


def test_solution_namespace_has_the_solutions_and_not_the_experiments():
    lab = lab4_metric.solution_namespace()
    for name in (
        "MNISTMetricDataset",
        "triplet_loss",
        "contrastive_loss",
        "SimpleMetricEmbedding",
        "IdentityModel",
        "batch_hard_triplet_loss",
    ):
        assert callable(lab[name]), name
    assert "fit" not in lab and "model" not in lab  # experiment cells are not run


def test_benchmark_runs_end_to_end_on_a_few_images(capsys):
    results = lab4_metric.main(["--epochs", "1", "--limit", "256"])
    assert list(results) == ["image space (IdentityModel)", "learned", "learned without class 0"]
    for r in results.values():
        assert 0 <= r["accuracy"] <= 1 and 0 < r["mean AP"] <= 1
        assert 0 <= r["accuracy normalised"] <= 1  # the course's rule, beside the raw one
    assert len(results["learned"]["seconds"]) == 1
    table = capsys.readouterr().out
    assert "test acc" in table and ">= 98.0%" in table and ">= 96.5%" in table
