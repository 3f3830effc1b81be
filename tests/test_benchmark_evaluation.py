"""The evaluation-engines benchmark's command line (its measurements need a GPU host with vLLM)."""

import argparse
import subprocess
import sys

import pytest

from benchmarks.evaluation_engines import DEFAULT, parse_variant


def test_default_variant_is_the_infer_stage():
    assert parse_variant("default") == DEFAULT == {"engines": 1, "detokenize": True, "decoding": None}


def test_variant_pairs_override_the_default():
    assert parse_variant("engines=4,detokenize=off") == {"engines": 4, "detokenize": False, "decoding": None}
    assert parse_variant("decoding=free") == {**DEFAULT, "decoding": "free"}


@pytest.mark.parametrize("text", ["engines=0", "engines=two", "detokenize=no", "decoding=greedy", "fast", ""])
def test_bad_variant_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError, match="is not default, engines=N"):
        parse_variant(text)


def test_bad_variant_stops_the_command_in_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.evaluation_engines", "--variants", "default", "engines=4,x=1"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].endswith("variant 'x=1' of 'engines=4,x=1' is not default, "
                                                         "engines=N (N >= 1), detokenize=on|off or decoding="
                                                         "free|grounded|feasible")  # fmt: skip
