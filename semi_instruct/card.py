"""The dataset card (`results/final/README.md`): a Hugging Face card describing exactly this run."""

from __future__ import annotations

from typing import Any

import yaml

from semi_instruct.reasons import describe


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return name
    return "1M<n<10M"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_card(summary: dict[str, Any], rows: list[dict[str, Any]], config: dict[str, Any]) -> str:
    made = summary["made_with"]
    name = config["export"]["dataset_name"]
    header = {
        "license": config["export"]["license"],
        "pretty_name": name,
        "task_categories": ["text-generation"],
        "language": ["en"],
        "tags": ["code", "python", "instruction-tuning", "semi-instruct"],
        "size_categories": [_size_category(len(rows))],
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data.parquet"}]}],
    }
    funnel_rows = [[f["stage"], f["records_in"], f["kept"], sum(f["dropped"].values())] for f in summary["funnel"]]
    reason_rows = [
        [f["stage"], f"`{reason}`", count, describe(reason)] for f in summary["funnel"] for reason, count in f["dropped"].items()
    ]
    detail_rows = [
        [f["stage"], group, f"`{reason}`", count, describe(reason)]
        for f in summary["funnel"]
        for group, counts in f["details"].items()
        for reason, count in counts.items()
        if group not in ("candidate_verdicts", "difficulty")
    ]
    verdicts = next((f["details"].get("candidate_verdicts", {}) for f in summary["funnel"] if f["stage"] == "validate"), {})
    provenance = summary["provenance"]
    sources = [[p["source"], p["license"], p["rows"]] for p in provenance["kept_by_source_and_license"]]
    shards = [[s["shard"], s.get("format", "?"), f"`{s.get('path', '?')}`", s["records"]] for s in provenance["shards"]]
    sampling = made["sampling"]
    parts = [
        "---\n" + yaml.safe_dump(header, sort_keys=False).strip() + "\n---",
        f"# {name}",
        "Instruction-tuning pairs for code, made with the [Semi-Instruct](https://arxiv.org/abs/2403.00338) "
        "method: natural programs written by people were rewritten by an LLM into an instruction and a clean, "
        "function-form solution, and a pair was kept only when the rewrite produced the same output as the "
        "original program on every generated test input (the original, known to be correct, is the oracle).",
        f"**{summary['kept']} pair{'' if summary['kept'] == 1 else 's'}** kept from {summary['ingested']} input records "
        f"({summary['dropped']} dropped, every one with a reason below).",
        "## Fields\n"
        + _table(
            ["field", "meaning"],
            [
                ["`messages`", "chat format: user = instruction, assistant = solution"],
                ["`instruction`, `response`", "the same pair as flat text; `response` is the function-form solution"],
                ["`entry_point`", "the solution's function name"],
                ["`adapter`", "stdin programs: script that reads the original's input format and calls the function"],
                ["`mode`", "`stdio` (original reads stdin) or `call` (original is a function)"],
                ["`tests`", "`[{input, output}]`: inputs and the original's outputs (call mode: JSON arguments / return)"],
                ["`tests_passed`", "tests the kept solution passed (all of them)"],
                ["`pass_rate`", "fraction of the model's candidates that passed every test (difficulty proxy)"],
                ["`difficulty`", f"easy / medium / hard from `pass_rate` ({made['difficulty_bins']['easy']} easy, {made['difficulty_bins']['hard']} hard)"],
                ["`rank`", "global curriculum rank, 1 = easiest (highest pass rate, then most tests)"],
                ["`source_id`, `original_code`, `statement`", "the natural record this pair was made from"],
                ["`source`, `license`", "provenance of the original"],
                ["`model`, `prompt_version`", "what wrote the rewrite"],
            ],
        ),
        "## How it was made\n"
        + _table(
            ["setting", "value"],
            [
                ["engine", made["engine"]],
                ["model", f"`{made['model']}`" + (f" @ `{made['revision']}`" if made["revision"] else "")],
                ["prompt version", f"`{made['prompt_version']}` (rewrite + test inputs)"],
                ["sampling", f"{sampling['candidates']} candidates, temperature {sampling['temperature']}, top_p {sampling['top_p']}, max_tokens {sampling['max_tokens']}, seed {sampling['seed']}"],
                ["test inputs asked per sample", made["num_inputs"]],
                ["oracle", f"original run {made['oracle_runs']}× per input; failing or disagreeing inputs dropped"],
                ["minimum surviving tests", made["min_tests"]],
                ["comparator", f"`{made['comparator']}`" + (f" (rel {made['float_tolerance']['rel']}, abs {made['float_tolerance']['abs']})" if made["comparator"] == "float" else "")],
                ["keep rule", f"best candidate passes ≥ {made['min_pass_fraction']:.0%} of the tests"],
                ["sandbox", f"bubblewrap, {made['sandbox']['timeout_s']} s, {made['sandbox']['memory_mb']} MB, unprivileged, no network"],
                ["order", "easy → hard (curriculum)" if made["order"] == "curriculum" else "input order"],
            ],
        ),
        "## Funnel\n" + _table(["stage", "in", "kept", "dropped"], funnel_rows),
        "### Drop reasons\n" + (_table(["stage", "reason", "records", "meaning"], reason_rows) if reason_rows else "Nothing was dropped."),
        "### Rejected candidates and test inputs\nThese reject one candidate or one input, not a whole sample.\n\n"
        + (_table(["stage", "what", "reason", "count", "meaning"], detail_rows) if detail_rows else "None."),
        "### Candidate verdicts on oracle tests\n"
        + (_table(["verdict", "count"], [[f"`{k}`", v] for k, v in verdicts.items()]) if verdicts else "None."),
        "### Difficulty\n" + (_table(["difficulty", "pairs"], [[k, v] for k, v in summary["difficulty"].items()]) if summary["difficulty"] else "None."),
        "## Provenance and licences\nInput shards:\n\n"
        + _table(["shard", "format", "path", "records"], shards)
        + "\n\nKept pairs by source and licence (the licence of each original applies to its pair; check it "
        "before redistribution):\n\n"
        + (_table(["source", "license", "pairs"], sources) if sources else "None."),
        "## Load it\n```python\nfrom datasets import load_dataset\n\n"
        'ds = load_dataset("parquet", data_files="data.parquet", split="train")\n'
        'print(ds[0]["messages"])\n```\n'
        "`data.jsonl` holds the same rows; `stats.json` the full funnel; `dropped.jsonl` every dropped record "
        "with its stage and reason.",
    ]
    return "\n\n".join(parts) + "\n"
