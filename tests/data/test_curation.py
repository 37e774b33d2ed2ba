"""Data curation: each malformed record is rejected by the right expectation; dedupe, leakage, s3 sources."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from gotr1.data.curation import (
    DataValidationError,
    curate,
    dataset_statistics,
    deduplicate,
    load_got_records,
    load_prompt_lines,
    normalise_prompt,
    records_from_samples,
    remove_leakage,
    render_validation_html,
    require_valid,
    validate_records,
)
from gotr1.synthetic.world import WorldConfig, sample_dataset
from tests.helpers.s3 import loopback_s3

WORLD = WorldConfig(grid_size=4, classes=("dog", "cat", "cup"), colors=("red", "blue"))
GOOD = records_from_samples(sample_dataset(WORLD, 20, seed=0), "world")
BOX = "<|obj_start|>dog<|obj_end|> <|box_start|>{}<|box_end|><begin_of_image>"

# (id, field overrides, the expectation column that must reject it)
MALFORMED = [
    ("unparseable", {"chain": "a dog <|obj_start|>dog<begin_of_image>"}, "chain_parses"),
    ("out-of-range", {"chain": BOX.format("(1,2),(3,1000)")}, "coords_ok"),
    ("inverted", {"chain": BOX.format("(9,2),(3,4)")}, "coords_ok"),
    ("empty-prompt", {"prompt": ""}, "prompt_length"),
    ("long-prompt", {"prompt": "a photo of a dog " * 40}, "prompt_length"),
    ("no-image", {"image_tokens": "", "image_uri": ""}, "has_image"),
    ("bad-tokens", {"image_tokens": "1 2 x 4"}, "has_image"),
    ("empty-chain", {"chain": ""}, "chain_length"),
]


def _corpus() -> pd.DataFrame:
    rows = [GOOD.iloc[0].to_dict() | {"id": rid, **fields} for rid, fields, _ in MALFORMED]
    return pd.concat([GOOD, pd.DataFrame(rows)], ignore_index=True)


def test_a_clean_corpus_passes() -> None:
    report = validate_records(GOOD, image_tokens_length=16)
    assert report.success and not report.failed
    require_valid(report)


def test_each_malformed_record_fails_the_right_expectation() -> None:
    report = validate_records(_corpus(), image_tokens_length=16)
    assert not report.success
    failed_ids = {f.column: {e["id"] for e in f.examples} for f in report.failed}
    for rid, _, column in MALFORMED:
        assert rid in failed_ids.get(column, set()), (rid, column, failed_ids)
    page = render_validation_html(report)
    assert "FAILED" in page and all(rid in page for rid, _, _ in MALFORMED)
    with pytest.raises(DataValidationError, match="expectations failed"):
        require_valid(report)


def test_wrong_image_length_is_rejected() -> None:
    report = validate_records(GOOD, image_tokens_length=64)
    assert [f.column for f in report.failed] == ["has_image"]


def test_dedupe_and_leakage_counts() -> None:
    twin = GOOD.iloc[[0]].assign(
        id="twin", prompt="  A PHOTO of\r\n" + GOOD.iloc[0]["prompt"][len("a photo of ") :]
    )
    deduped, removed = deduplicate(pd.concat([GOOD, twin], ignore_index=True))
    assert removed == 1 and len(deduped) == len(GOOD)
    kept, leaked = remove_leakage(GOOD, [GOOD.iloc[1]["prompt"].upper() + ".", "a photo of a unicorn"])
    assert leaked == int((GOOD["prompt"] == GOOD.iloc[1]["prompt"]).sum()) and len(kept) == len(GOOD) - leaked
    assert normalise_prompt(" a\u00a0photo\r\nof  a dog ") == "a photo of a dog"
    stats = dataset_statistics(GOOD)
    assert stats["rows"] == 20 and stats["parse_failures"] == 0 and stats["sources"] == {"world": 20}


def test_curate_dedupes_then_removes_leakage_and_stops_when_nothing_is_left() -> None:
    records = pd.concat([GOOD, GOOD.iloc[[0]].assign(id="twin")], ignore_index=True)
    leak = GOOD.iloc[1]["prompt"]
    n_leak = int((GOOD["prompt"] == leak).sum())
    prompts = pd.DataFrame({"prompt": [leak.upper(), "a photo of a unicorn", "a photo of a unicorn"]})
    curated = curate(records, prompts, [leak])
    removed = (curated.duplicates_removed, curated.leakage_removed, curated.rl_prompts_leakage_removed)
    assert removed == (1, n_leak, 1)
    assert len(curated.records) == len(GOOD) - n_leak
    assert list(curated.rl_prompts["prompt"]) == ["a photo of a unicorn"] * 2  # RL prompts keep their repeats
    assert curate(GOOD.iloc[:0], prompts, [leak]).records.empty  # no records at all: GRPO only
    with pytest.raises(ValueError, match=r"nothing left to train on after curation: 0 records, 2 RL prompts"):
        curate(records, prompts, GOOD["prompt"])
    with pytest.raises(ValueError, match=r"0 RL prompts"):
        curate(records, prompts, [leak, "a photo of a unicorn"])


def test_bad_json_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "got.jsonl"
    path.write_text('{"prompt": "a", "chain": "b"}\n{broken\n')
    with pytest.raises(ValueError, match=r"got.jsonl, line 2"):
        load_got_records(str(path))


def test_sources_from_s3_on_a_loopback_server(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    with loopback_s3(monkeypatch) as endpoint:
        s3 = boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="gotr1-data")
        record = {
            "prompt": "a photo of a dog",
            "chain": BOX.format("(0,0),(499,499)"),
            "image_tokens": [1] * 16,
        }
        s3.put_object(Bucket="gotr1-data", Key="got/records.jsonl", Body=(json.dumps(record) + "\n").encode())
        s3.put_object(Bucket="gotr1-data", Key="t2i/color_val.txt", Body=b"a red apple\n\na blue cup\n")
        frame = load_got_records("s3://gotr1-data/got/records.jsonl")
        assert (
            frame.iloc[0]["prompt"] == "a photo of a dog" and frame.iloc[0]["image_tokens"] == "1 " * 15 + "1"
        )
        assert load_prompt_lines("s3://gotr1-data/t2i/color_val.txt") == ["a red apple", "a blue cup"]
        with pytest.raises(FileNotFoundError, match="not found"):
            load_prompt_lines("s3://gotr1-data/missing.txt")


def test_public_prompt_sets_load(shared_data: Path) -> None:
    from gotr1.data.curation import load_geneval_prompts, load_t2i_r1_prompts
    from gotr1.scenes.prompt_parser import parse_prompt

    t2i_r1 = load_t2i_r1_prompts(str(shared_data / "t2i-r1" / "geneval_and_t2i_data_final.jsonl"))
    assert len(t2i_r1) == 7223
    spatial = [r for r in t2i_r1 if r["task_type"] == "spatial" and r["prompt"].startswith("a photo of")]
    parsed = [parse_prompt(r["prompt"]) for r in spatial]
    assert (
        sum(p is not None for p in parsed) / len(parsed) > 0.95
    )  # T2I-R1's GenEval-style prompts get scene specs
    geneval = load_geneval_prompts(str(shared_data / "geneval" / "evaluation_metadata.jsonl"))
    compbench_val = load_prompt_lines(str(shared_data / "t2i-compbench" / "spatial_val.txt"))
    train, leaked = remove_leakage(
        pd.DataFrame({"prompt": [r["prompt"] for r in t2i_r1]}), [r["prompt"] for r in geneval]
    )
    assert leaked == 0  # the public file holds no GenEval evaluation prompt
    assert len(compbench_val) > 100 and len(train) == 7223


def test_rl_prompts_get_specs_from_t2i_r1_tags_or_from_the_parser(tmp_path: Path) -> None:
    from gotr1.data.curation import load_rl_prompts
    from gotr1.scenes.spec import ObjectSpec

    tagged = tmp_path / "t2i_r1.jsonl"
    rows = [
        {
            "prompt": "a horse on the right of a man",
            "task_type": "spatial",
            "spatial_info": {"obj1": "horse", "obj2": "man", "locality": "on the right of"},
        },
        {"prompt": "a spherical ball", "task_type": "shape", "nouns": ["ball"]},
    ]
    tagged.write_text("\n".join(json.dumps(r) for r in rows))  # no final newline, as the public file
    (horse, horse_spec), (_, ball_spec) = load_rl_prompts(str(tagged))
    assert horse == rows[0]["prompt"] and ball_spec is None
    assert horse_spec is not None and horse_spec.include[1] == ObjectSpec("horse", position=("right of", 0))
    lines = tmp_path / "color_train.txt"
    lines.write_text("a photo of a red dog\n\na blue cup on a wooden table\n")
    (dog, dog_spec), (cup, cup_spec) = load_rl_prompts(str(lines))
    assert (dog, cup) == ("a photo of a red dog", "a blue cup on a wooden table")
    assert dog_spec is not None and dog_spec.include == (ObjectSpec("dog", 1, "red"),) and cup_spec is None


def test_image_tokens_are_a_string_cell_that_round_trips() -> None:
    from gotr1.data.curation import tokens_from_text, tokens_to_text

    assert tokens_to_text([0, 12, 3]) == "0 12 3" and tokens_from_text("0 12 3") == [0, 12, 3]
    assert tokens_from_text("") == []
    with pytest.raises(ValueError, match="space-separated integers"):
        tokens_from_text("1 2 x")
    cells = GOOD["image_tokens"]
    assert all(isinstance(c, str) for c in cells) and len(tokens_from_text(cells[0])) == 16
