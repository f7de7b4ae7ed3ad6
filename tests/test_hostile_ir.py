"""The hostile IR corpus (tests/hostile_ir/*.json): every file is refused with an IRError, fast,
and no payload ever runs. See tests/hostile_ir/make_corpus.py for what each file attacks."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

from flowc import ir
from flowc.ir.errors import IRError

CORPUS = Path(__file__).resolve().parent / "hostile_ir"
sys.path.insert(0, str(CORPUS))

import make_corpus  # noqa: E402

FILES = sorted(p.name for p in CORPUS.glob("*.json"))


def test_corpus_files_match_their_generator() -> None:
    assert set(FILES) == set(make_corpus.ATTACKS)
    for fname, text in make_corpus.build().items():
        assert (CORPUS / fname).read_text() == text, f"{fname} is stale: run tests/hostile_ir/make_corpus.py"


@pytest.mark.parametrize("fname", FILES)
def test_hostile_ir_is_refused_and_runs_nothing(fname: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = (CORPUS / fname).read_text().replace("@MARKER@", str(marker))
    start = time.perf_counter()
    with pytest.raises(IRError) as info:
        ir.from_json(text).validate()
    assert time.perf_counter() - start < 10.0
    assert re.search(make_corpus.EXPECTED[fname], str(info.value), re.S), str(info.value)
    assert not marker.exists()
