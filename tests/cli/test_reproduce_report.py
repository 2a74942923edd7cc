"""benchmarks/reproduce.py: the report's sentences follow the numbers, and --quick never writes docs/."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reproduce():
    spec = importlib.util.spec_from_file_location("reproduce", ROOT / "benchmarks" / "reproduce.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def full_result():
    return json.loads((ROOT / "docs" / "reproductions" / "results.json").read_text())


def render(reproduce, res):
    return reproduce.report(res, res["headline"], Path("out"), "cmd", Path("out/r.md"))


def test_committed_report_is_generated_from_committed_results(reproduce, full_result, monkeypatch):
    # as the documented full run writes it: python benchmarks/reproduce.py --out docs/reproductions
    monkeypatch.chdir(ROOT)
    text = reproduce.report(full_result, full_result["headline"], Path("docs/reproductions"),
                            "python benchmarks/reproduce.py", Path("docs/reproductions.md"))
    assert text == (ROOT / "docs" / "reproductions.md").read_text()


def test_sentences_follow_the_numbers(reproduce, full_result):
    res = copy.deepcopy(full_result)
    base = render(reproduce, res)
    assert "agrees with the paper's claim" in base and "Transfer loses" in base
    runs = res["pgd"]["digits"]["runs"]
    runs["pgd"]["last3"] = runs["backprop"]["last3"] - 5.0
    runs["pgd"]["test_acc"][0] = runs["backprop"]["test_acc"][0] + 1.0
    res["inloop"]["transfer"] = res["inloop"]["ideal"] + 1.0
    b = res["braille"]["runs"]
    b["backprop"]["names_recovered"] = list(b["activity-difference"]["names_recovered"])
    text = render(reproduce, res)
    assert "differs from in-situ backprop by 5.0 points" in text
    assert "agrees with the paper's claim" not in text and "It starts slower" not in text
    assert "The transferred weights lose nothing in this run" in text
    assert "no advantage in this run" in text


def test_quick_mode_writes_its_report_into_out_only(reproduce, tmp_path):
    assert reproduce.report_path(True, None, tmp_path) == tmp_path / "reproductions.md"
    assert reproduce.report_path(False, None, tmp_path) == ROOT / "docs" / "reproductions.md"
    with pytest.raises(SystemExit) as e:
        reproduce.main(["--quick", "--docs", str(tmp_path / "r.md"), "--out", str(tmp_path)])
    assert e.value.code == 2
