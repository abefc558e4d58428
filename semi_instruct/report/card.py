"""The dataset card (`results/final/README.md`): a Hugging Face card describing exactly this run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from semi_instruct.pipeline import describe, is_reject


def keep_rule(fraction: float, test: str = "test") -> str:
    """How many of a sample's tests its kept solution had to pass under `select.min_pass_fraction` =
    `fraction`, as words after "passed": "every test", "at least half of the tests", "at least 80% of the
    tests"; select rounds the count up and asks for at least one. `test` names what is counted."""
    if fraction >= 1:
        return f"every {test}"
    if fraction <= 0:
        return f"at least one {test}"
    share = "half" if fraction == 0.5 else f"{fraction * 100:.4g}%"
    return f"at least {share} of the {test}s"


def caption_params(summary_path: str | Path) -> dict[str, Any]:
    """What the report's captions say about a run, from its stats.json: the settings its stages recorded,
    not today's config (the plots rule passes this as a param; see rules/report.smk)."""
    made = json.loads(Path(summary_path).read_text(encoding="utf-8"))["made_with"]
    return {
        "model": made["model"],
        "prompt_version": made["prompt_version"],
        "candidates": made["sampling"]["candidates"],
        "oracle_runs": made["oracle_runs"],
        "min_pass_fraction": made["min_pass_fraction"],
        "keep_rule": keep_rule(made["min_pass_fraction"]),
        "kept_on": keep_rule(made["min_pass_fraction"], "test input"),
        "easy": made["difficulty_bins"]["easy"],
        "hard": made["difficulty_bins"]["hard"],
    }


def _size_category(n: int) -> str:
    for limit, name in [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")]:
        if n < limit:
            return name
    return "1M<n<10M"


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _percent_table(counts: dict[str, int], what: str, top: int) -> str:
    total = sum(counts.values())
    rows = [[f"`{k}`", v, f"{v / total:.1%}"] for k, v in list(counts.items())[:top]]
    rest = len(counts) - top
    return _table([what, "count", "share"], rows) + (f"\n\n…and {rest} more (all in `stats.json`)." if rest > 0 else "")


def _diversity_section(d: dict[str, Any], kept: int) -> str:
    distinct = [
        [what, *(d[key][f"distinct_{n}"] for n in (1, 2, 3))]
        for what, key in (
            ("instructions (words)", "instruction_distinct"),
            ("solutions (canonical code tokens)", "code_distinct"),
        )
    ]
    c = d["minhash_clusters"]
    links = ", ".join(f"{k} {v}" for k, v in c["links"].items())
    # Distinct-n falls as a set grows: a large dataset is measured on a fixed-size sample (stages/export.py).
    sampled = d["pairs"] < kept
    over = f"over a uniform sample of {d['pairs']:,} of the {kept:,} pairs" if sampled else "over the whole dataset"
    sample = (
        f"\n\nThe sample: the {d['pairs']:,} pairs with the smallest hash of their `id`, the same whatever the order "
        "or the sharding (distinct-n falls as a set grows: a fixed-size sample keeps datasets comparable); the AST "
        "node kinds and imported modules below are counted on it too."
        if sampled
        else ""
    )
    return "\n\n".join(
        [
            "## Diversity",
            f"Distinct n-grams / all n-grams {over} (1.0 = nothing repeats; solutions with local "
            "names renamed, so renaming adds nothing):\n\n"
            + _table(["text", "distinct-1", "distinct-2", "distinct-3"], distinct)
            + sample,
            f"MinHash clusters (exact and near-duplicates): before de-duplication, {c['samples_before']} samples in "
            f"**{c['clusters_before']}** clusters ({c['duplicate_clusters']} with more than one member, the largest of "
            f"{c['largest_cluster']}; samples with a duplicate link: {links}); after, {c['samples_after']} samples in "
            f"**{c['clusters_after']}** clusters (one kept per cluster).",
            "### Solution code: AST node kinds\n"
            + (_percent_table(d["ast_node_kinds"], "node kind", 15) if d["ast_node_kinds"] else "None."),
            "### Solution code: imported modules\n"
            + (_percent_table(d["imported_modules"], "module", 15) if d["imported_modules"] else "None imported."),
        ]
    )


def _contamination_section(c: dict[str, Any], decontam: dict[str, Any]) -> str:
    rows = [[name, items, c["hits"].get(name, 0)] for name, items in c["benchmarks"].items()]
    return "\n\n".join(
        [
            "## Contamination",
            "Every selected sample (instruction, statement, solution and original code) was compared with every "
            f"item of the benchmarks below: shared runs of {decontam['ngram']} content words between the instruction "
            "or statement and the problem text (case, punctuation, function words and word endings ignored, so a "
            f"lightly reworded copy still matches), shared runs of {decontam['ngram']} words between the code and the "
            "reference code (idioms made of keywords and one-letter names ignored), and top-level functions equal to a "
            f"reference function once formatting, comments, docstrings, type hints and names are normalized (functions "
            f"of at least {decontam['exact_min_tokens']} tokens). A sample with any hit was dropped (reasons "
            "`contaminated_*` in the funnel).",
            (_table(["benchmark", "items", "hits"], rows) if rows else "No benchmark was checked.")
            + f"\n\n**{c['samples_dropped']}** sample{'' if c['samples_dropped'] == 1 else 's'} dropped. "
            "`contamination.jsonl` lists every hit: benchmark, item id, sample id, kind of match, field and the "
            "overlapping n-gram or function.",
            "A paraphrase that shares no run of that length with the problem text and whose code differs from the "
            "reference is not detected: this is lexical, not semantic, matching.",
        ]
    )


def _mean_median(mean: float, median: float | None) -> str:
    return f"mean {mean:g}" + (f", median {median:g}" if median is not None else "")


def _problems_section(p: dict[str, Any]) -> str:
    """Problem-level shards: what came in per problem, what came out per problem, and how strong the tests are."""
    languages = ", ".join(f"{language} {n}" for language, n in p["languages"].items())
    per_problem, ts = p["pairs_per_problem"], p["test_strength"]
    if ts["problems_with_value"]:
        strength = (
            f"mean {ts['mean']:.2f} over {ts['problems_with_value']} of the {p['problems_with_pairs']} problems with "
            f"pairs ({ts['share']:.1%}); unknown for the others (no runnable incorrect solution to measure it with)"
        )
    else:
        strength = "unknown: no problem with pairs has a runnable incorrect solution to measure it with"
    figures = [
        ["shards", ", ".join(f"`{s}`" for s in p["shards"])],
        ["problems in", p["problems_in"]],
        ["accepted solutions in (every language)", f"{p['solutions_in']}" + (f" ({languages})" if languages else "")],
        [
            "accepted solutions per problem",
            _mean_median(p["solutions_per_problem"]["mean"], p["solutions_per_problem"]["median"]),
        ],
        [
            "problems with at least one pair",
            f"{p['problems_with_pairs']} of {p['problems_in']} ({p['problems_with_pairs'] / p['problems_in']:.1%})",
        ],
        ["pairs per problem", _mean_median(per_problem["mean"], per_problem["median"])],
        [
            "test inputs dropped because the problem's solutions disagreed, or together contradicted the corpus's "
            "expected output (`oracle_disagreement`)",
            p["inputs_rejected_for_disagreement"],
        ],
        ["originals dropped as wrong (`wrong_original`)", p["wrong_originals"]],
        ["test strength", strength],
    ]
    parts = [
        "## Problems",
        "Problem-level shards hold one row per problem with several accepted solutions; each accepted solution in "
        "a language the workflow runs (Python 3, C++, Java) became a record of its own (`problem_id` names its "
        "problem). Where a problem has two or more, "
        "each test input was run on several of them: an input on which they disagreed was dropped, and an original "
        "whose output differed from theirs (or from the corpus's expected output) was dropped as wrong.",
        _table(["figure", "value"], figures),
        "### Pairs per problem\n"
        + _table(["pairs", "problems"], [[n, count] for n, count in per_problem["distribution"].items()]),
    ]
    if ts["problems_with_value"]:
        parts.append(
            "### Test strength\nThe fraction of a problem's known-incorrect solutions (e.g. code_contests "
            "`incorrect_solutions`) that fail at least one kept test, as AlphaCode judged its tests: 1 = the tests "
            "reject every known wrong program (`test_strength` in each pair).\n\n"
            + _table(["test strength", "problems"], [[f"`{k}`", v] for k, v in ts["distribution"].items()])
        )
    return "\n\n".join(parts)


def _name_row(named: dict[str, Any]) -> str:
    """How the dataset got its name, and the key that sets it."""
    if named["set_by"] == "export.dataset_name":
        return f"`{named['name']}`, set by `export.dataset_name`"
    if named["set_by"] == "source":
        shown, rest = named["sources"][:10], len(named["sources"]) - 10
        sources = ", ".join(f"`{s}`" for s in shown) + (f" and {rest} more" if rest > 0 else "")
        return f"`{named['name']}`, from the rows' `source` ({sources}); set `export.dataset_name` to choose one"
    return f"`{named['name']}` (no row has a `source`); set `export.dataset_name` to choose one"


def _template_arguments(kwargs: dict[str, Any]) -> str:
    """The `generate.chat_template_kwargs` the prompts were rendered with."""
    if not kwargs:
        return "none (the model's chat template with its defaults)"
    return f"`{json.dumps(kwargs, sort_keys=True)}` (`generate.chat_template_kwargs`, in every request)"


def _reasoning(funnel: list[dict[str, Any]]) -> str:
    """How much the model reasoned before answering: generate's `reasoning` counts, summed over shards."""
    counts = next((f["details"].get("reasoning", {}) for f in funnel if f["stage"] == "generate"), {})
    answers, chars, tokens = (
        counts.get(k, 0) for k in ("answers_with_reasoning", "reasoning_chars", "reasoning_tokens")
    )
    if not answers:
        return "no answer came with a reasoning block"
    spent = f"; {tokens:,} reasoning tokens, as the server reported them" if tokens else ""
    return (
        f"{answers:,} answer{'' if answers == 1 else 's'} came with a reasoning block ({chars:,} characters{spent}); "
        "only the answer after it was parsed"
    )


def _function_tests_field(empty: int, comparator: str, partial: bool) -> str:
    """What `function_tests` holds, and why some pairs have none (`empty`: pairs that passed every test and have
    none)."""
    text = (
        "`assert` tests of the entry point, captured while the solution ran on the tests (arguments as they were "
        "before the call) and re-run against the function alone"
    )
    if comparator == "float":
        text += (
            "; floats are compared within the comparator's tolerance: `math.isclose` after an `import math` line, "
            "or an `approx_equal` helper defined before the asserts for floats inside lists, tuples and dicts"
        )
    if empty:
        text += (
            f"; empty for {empty} pair{'' if empty == 1 else 's'} whose calls gave no test: no value with a Python "
            "literal, or a call that raised (validate's `function_test_calls` counts below say which)"
        )
    if partial:
        text += "; empty when the solution failed a test (captured only from ones that passed all)"
    return text


def _folder(glob: str) -> str:
    """`data/` of `data/train-*.parquet`."""
    return glob.rsplit("/", 1)[0] + "/"


def _files_section(files: dict[str, Any]) -> str:
    """Where the rows are: each config's folder of numbered files, and the JSON Lines twins."""
    default, ni, per_file = files["default"], files["ni"], files["rows_per_file"]

    def count(n: int) -> str:
        return f"{n:,} file{'' if n == 1 else 's'}"

    return (
        "## Files\n"
        f"As the Hugging Face Hub lays out large datasets: `{_folder(default['parquet'])}` holds the pairs "
        f"(`default` config) in {count(default['files'])} of at most {per_file:,} rows "
        f"(`{_file_name_pattern(default['parquet'])}`, in the dataset's order: file 0 first), "
        f"`{_folder(ni['parquet'])}` the NI baseline (`ni` config) in {count(ni['files'])}; "
        f"`{_folder(default['jsonl'])}` and `{_folder(ni['jsonl'])}` hold the same files as JSON Lines, row for row "
        "(each `.jsonl` file the rows of the `.parquet` file of the same name). `stats.json` has the full funnel and "
        "the figures above; `dropped.jsonl` every dropped record with its stage and reason; `contamination.jsonl` "
        "every benchmark hit."
    )


# How the card names a language of the originals (the record's `language`: python, cpp, java).
LANGUAGE_NAMES = {"python": "Python", "cpp": "C++", "java": "Java"}


def _language(language: str) -> str:
    return LANGUAGE_NAMES.get(language, language)


def _compiled(made: dict[str, Any]) -> str:
    """The compilers the originals (and a problem's other solutions) were built with, their flags and limits."""
    versions, options = made["toolchains"], made["compile"]
    if not versions:
        return "none: every program run was Python"
    flags = {"cpp": options["cpp_flags"], "java": options["java_flags"]}
    parts = []
    for language, found in versions.items():
        shown = " / ".join(f"`{v}`" for v in found) + (" (the shards' hosts differed)" if len(found) > 1 else "")
        given = flags.get(language)
        parts.append(f"{_language(language)}: {shown}, flags " + (f"`{' '.join(given)}`" if given else "none"))
    return (
        "; ".join(parts) + f"; each program compiled once, in the sandbox, within {options['timeout_s']:g} s and "
        f"{options['memory_mb']} MB (a failed compile drops the original as `compile_error`)"
    )


def _languages_section(counts: dict[str, int], kept: int) -> str:
    """Pairs per language of the original: every solution is Python, whatever the oracle was written in."""
    rows = [[_language(language), f"`{language}`", n, f"{n / kept:.1%}"] for language, n in counts.items()]
    if not rows:
        return "### Original languages\nNone."
    return (
        "### Original languages\nEvery `response` is Python; the original each pair was checked against (the "
        "oracle, `original_language`) was written in:\n\n" + _table(["language", "value", "pairs", "share"], rows)
    )


def _file_name_pattern(glob: str) -> str:
    """`train-00000-of-NNNNN.parquet` for `data/train-*.parquet`."""
    name = glob.rsplit("/", 1)[-1]
    return name.replace("*", "00000-of-NNNNN")


def render_card(summary: dict[str, Any], license: str) -> str:
    """The card of the dataset (licence `license`), from export's summary (stats.json): its counts, never the
    rows."""
    made = summary["made_with"]
    name = summary["name"]["name"]
    fraction = made["min_pass_fraction"]
    # Below 1.0 a kept solution may fail tests: every text about the tests says so, with the run's threshold.
    partial = fraction < 1
    failed_some, kept = summary["pairs"]["failed_a_test"], summary["kept"]
    files = summary["files"]
    header = {
        "license": license,
        "pretty_name": name,
        "task_categories": ["text-generation"],
        "language": ["en"],
        "tags": ["code", "python", "instruction-tuning", "semi-instruct"],
        "size_categories": [_size_category(kept)],
        # the Hub's layout for large datasets: each config a glob over its folder's files
        "configs": [
            {"config_name": config, "data_files": [{"split": "train", "path": files[config]["parquet"]}]}
            for config in ("default", "ni")
        ],
    }
    funnel_rows = [[f["stage"], f["records_in"], f["kept"], sum(f["dropped"].values())] for f in summary["funnel"]]
    reason_rows = [
        [f["stage"], f"`{reason}`", count, describe(reason)]
        for f in summary["funnel"]
        for reason, count in f["dropped"].items()
    ]
    counters = [
        (f["stage"], group, key, count)
        for f in summary["funnel"]
        for group, counts in f["details"].items()
        for key, count in counts.items()
        if group not in ("candidate_verdicts", "difficulty", "reasoning")  # reasoning: in "How it was made"
    ]
    # Counters keyed by a rejection reason reject one candidate or input; the others count outcomes.
    detail_rows = [
        [stage, group, f"`{key}`", count, describe(key)] for stage, group, key, count in counters if is_reject(key)
    ]
    outcome_rows = [[stage, group, f"`{key}`", count] for stage, group, key, count in counters if not is_reject(key)]
    verdicts = next(
        (f["details"].get("candidate_verdicts", {}) for f in summary["funnel"] if f["stage"] == "validate"), {}
    )
    provenance = summary["provenance"]
    sources = [[p["source"], p["license"], p["rows"]] for p in provenance["kept_by_source_and_license"]]
    shards = [[s["shard"], s.get("format", "?"), f"`{s.get('path', '?')}`", s["records"]] for s in provenance["shards"]]
    sampling = made["sampling"]
    decontam, dedup = made["decontaminate"], made["dedup"]
    checked = summary["contamination"]["benchmarks"]
    benchmarks = ", ".join(f"{name} ({n} items)" for name, n in checked.items()) or "no benchmark"
    parts = [
        "---\n" + yaml.safe_dump(header, sort_keys=False).strip() + "\n---",
        f"# {name}",
        "Instruction-tuning pairs for code, made with the [Semi-Instruct](https://arxiv.org/abs/2403.00338) "
        "method: natural programs written by people were rewritten by an LLM into an instruction and a clean, "
        "function-form solution, and a pair was kept only when the rewrite produced the same output as the "
        f"original program on {keep_rule(fraction, 'generated test input')} (the original, known to be correct, "
        "is the oracle)."
        + (
            f" {failed_some} of the {kept} kept solutions failed at least one test; each test in `tests` says "
            "whether the solution passed it (`passed`)."
            if partial
            else ""
        ),
        f"**{summary['kept']} pair{'' if summary['kept'] == 1 else 's'}** kept from {summary['ingested']} input "
        f"records ({summary['dropped']} dropped, every one with a reason below).",
        "## Fields\n"
        + _table(
            ["field", "meaning"],
            [
                ["`messages`", "chat format: user = instruction, assistant = solution"],
                ["`instruction`, `response`", "the same pair as flat text; `response` is the function-form solution"],
                ["`entry_point`", "the solution's function name"],
                ["`adapter`", "stdin programs: script that reads the original's input format and calls the function"],
                ["`mode`", "`stdio` (original reads stdin) or `call` (original is a function)"],
                [
                    "`tests`",
                    "`[{input, output, passed}]`: inputs, the original's outputs (call mode: JSON arguments / "
                    "return) and whether the kept solution reproduced that output"
                    + (" (`false` on the tests it failed)" if partial else " (always `true`: it passed every test)"),
                ],
                [
                    "`function_tests`",
                    _function_tests_field(
                        summary["pairs"]["passed_all_without_function_tests"], made["comparator"], partial
                    ),
                ],
                [
                    "`tests_passed`",
                    "tests the kept solution passed: all of `tests`"
                    if not partial
                    else f"tests the kept solution passed (the keep rule asked for {keep_rule(fraction)}; the others "
                    "have `passed: false` in `tests`)",
                ],
                [
                    "`test_strength`",
                    "problem-level corpora: the fraction of the problem's known-incorrect solutions that fail at "
                    "least one of `tests` (null when the problem has none, or the record has no problem)",
                ],
                [
                    "`pass_rate`",
                    "fraction of the model's candidates (unparseable ones included) that passed every test "
                    "(difficulty proxy)"
                    + ("; independent of the keep rule, so a kept pair can have 0" if partial else ""),
                ],
                [
                    "`difficulty`",
                    f"easy / medium / hard from `pass_rate` ({made['difficulty_bins']['easy']} easy, "
                    f"{made['difficulty_bins']['hard']} hard)",
                ],
                ["`rank`", "global curriculum rank, 1 = easiest (highest pass rate, then most tests passed)"],
                ["`source_id`, `original_code`, `statement`", "the natural record this pair was made from"],
                [
                    "`original_language`",
                    "the language of `original_code` (`python`, `cpp` or `java`), the oracle the Python solution "
                    "was checked against",
                ],
                [
                    "`problem_id`",
                    "problem-level corpora: the problem the original solves (its other accepted solutions may give "
                    "pairs too); null for one-program-per-row shards",
                ],
                ["`source`, `license`", "provenance of the original"],
                ["`model`, `prompt_version`", "what wrote the rewrite"],
            ],
        ),
        "## How it was made\n"
        + _table(
            ["setting", "value"],
            [
                ["name", _name_row(summary["name"])],
                ["engine", made["engine"]],
                ["model", f"`{made['model']}`" + (f" @ `{made['revision']}`" if made["revision"] else "")],
                ["prompt version", f"`{made['prompt_version']}` (rewrite + test inputs)"],
                [
                    "sampling",
                    f"{sampling['candidates']} candidates, temperature {sampling['temperature']}, top_p "
                    f"{sampling['top_p']}, max_tokens {sampling['max_tokens']}, seed {sampling['seed']}",
                ],
                ["chat template arguments", _template_arguments(made["chat_template_kwargs"])],
                ["reasoning", _reasoning(summary["funnel"])],
                ["test inputs asked per sample", made["num_inputs"]],
                ["oracle", f"original run {made['oracle_runs']}× per input; failing or disagreeing inputs dropped"],
                ["minimum surviving tests", made["min_tests"]],
                [
                    "comparator",
                    f"`{made['comparator']}`"
                    + (
                        f" (rel {made['float_tolerance']['rel']}, abs {made['float_tolerance']['abs']})"
                        if made["comparator"] == "float"
                        else ""
                    ),
                ],
                [
                    "keep rule",
                    f"best candidate passes {keep_rule(fraction)} (`select.min_pass_fraction` {fraction}"
                    + ("; rounded up, at least one)" if partial else ")"),
                ],
                [
                    "sandbox",
                    f"bubblewrap, {made['sandbox']['timeout_s']} s, {made['sandbox']['memory_mb']} MB, "
                    "unprivileged, no network",
                ],
                ["compilers", _compiled(made)],
                [
                    "decontamination",
                    f"{decontam['ngram']}-gram overlap (instruction/statement content words, code words), exact "
                    f"function match (≥ {decontam['exact_min_tokens']} tokens) against {benchmarks}",
                ],
                [
                    "near-duplicates",
                    f"MinHash LSH on {' and '.join(dedup['kinds'])}: Jaccard ≥ {dedup['threshold']}, "
                    f"{dedup['shingle_size']}-token shingles, {dedup['permutations']} permutations; "
                    "best-ranked member of each cluster kept",
                ],
                ["order", "easy → hard (curriculum)" if made["order"] == "curriculum" else "input order"],
            ],
        ),
        "## Funnel\n" + _table(["stage", "in", "kept", "dropped"], funnel_rows),
        "### Drop reasons\n"
        + (_table(["stage", "reason", "records", "meaning"], reason_rows) if reason_rows else "Nothing was dropped."),
        "### Rejected candidates and test inputs\nThese reject one candidate, one input or one traced call "
        "(`function_test_calls`: a call that gives no `assert`), not a whole sample.\n\n"
        + (_table(["stage", "what", "reason", "count", "meaning"], detail_rows) if detail_rows else "None.")
        + (
            "\n\nOther counts:\n\n" + _table(["stage", "what", "outcome", "count"], outcome_rows)
            if outcome_rows
            else ""
        ),
        "### Candidate verdicts on oracle tests\n"
        + (_table(["verdict", "count"], [[f"`{k}`", v] for k, v in verdicts.items()]) if verdicts else "None."),
        "### Difficulty\n"
        + (
            _table(["difficulty", "pairs"], [[k, v] for k, v in summary["difficulty"].items()])
            if summary["difficulty"]
            else "None."
        ),
        _languages_section(summary["original_languages"], kept),
        *([_problems_section(summary["problems"])] if summary["problems"] else []),
        _diversity_section(summary["diversity"], kept),
        _contamination_section(summary["contamination"], decontam),
        "## Natural-Instruct baseline (`ni` config)\n"
        f"For ablations like the paper's (NI vs SemI), `{_folder(files['ni']['parquet'])}` (and "
        f"`{_folder(files['ni']['jsonl'])}`) hold the same samples in their "
        f"natural form: the problem statement as the instruction and the original human code, in its own language "
        f"(`language`), as the response. "
        f"{summary['ni_baseline']['rows']} of the {summary['kept']} samples have a statement and are in it; "
        f"{summary['ni_baseline']['without_statement']} have none and are left out. Fields: `id` (the same as in "
        "the main config, so the two can be joined), `messages`, `instruction`, `response`, `language`, `mode`, "
        "`source_id`, `problem_id`, `source`, `license`.",
        "## Provenance and licences\nInput shards:\n\n"
        + _table(["shard", "format", "path", "records"], shards)
        + "\n\nKept pairs by source and licence (the licence of each original applies to its pair; check it "
        "before redistribution):\n\n" + (_table(["source", "license", "pairs"], sources) if sources else "None."),
        _files_section(files),
        "## Load it\n```python\nfrom datasets import load_dataset\n\n"
        f'ds = load_dataset("parquet", data_files="{files["default"]["parquet"]}", split="train")\n'
        f'ni = load_dataset("parquet", data_files="{files["ni"]["parquet"]}", split="train")  # the NI baseline\n'
        'print(ds[0]["messages"])\n'
        "# a hub copy of this folder, by config name:\n"
        'ds = load_dataset("<namespace>/<name>", "default", split="train")\n'
        'ni = load_dataset("<namespace>/<name>", "ni", split="train")\n```\n'
        "Loading a local copy of this folder by path and config name works too, but `datasets` caches such loads "
        "by the folder's name, not its content: after a rerun, pass a fresh `cache_dir` or use `data_files`.",
    ]
    return "\n\n".join(parts) + "\n"
