"""Every drop reason the pipeline can give, with the sentence the dataset card shows for it."""

from __future__ import annotations

DROP_REASONS: dict[str, str] = {
    # ingest (quarantine)
    "bad_json": "the raw line is not a JSON object",
    "bad_encoding": "the raw line is not valid UTF-8",
    "bad_type": "a field has the wrong type (e.g. code that is not a string, malformed tests)",
    "missing_code": "no code in the row",
    "not_python": "the row's language is not Python",
    "too_large": "over the size limits (bytes, lines or line length)",
    "syntax_error": "the code does not parse as Python 3",
    "no_input_interface": "reads no input and defines no function: nothing to test",
    "duplicate_id": "an id already used earlier in the shard",
    "duplicate": "the same normalized code (formatting and comments ignored) as an earlier row",
    # generate
    "no_valid_candidate": "no rewrite candidate could be parsed or met the contract",
    "no_test_inputs": "no usable test input was generated",
    "prompt_too_long": "the prompt does not fit the model's context (engine.vllm.max_model_len or the server's limit)",
    # validate
    "too_few_tests": "fewer inputs than `min_tests` survived the oracle (original failed or was nondeterministic)",
    # select
    "wrong_answer": "the best candidate's output differs from the original's on some input",
    "candidate_error": "the best candidate crashed on some input",
    "candidate_timeout": "the best candidate exceeded the time limit on some input",
    "candidate_memory": "the best candidate exceeded the memory limit on some input",
    "candidate_output_limit": "the best candidate printed more than the output limit on some input",
    "function_tests_failed": "the kept candidate's emitted `assert` tests fail when run against its function alone",
    "candidate_killed": "the sandbox could not report the best candidate's run on some input",
    # decontaminate (every hit is listed in contamination.jsonl)
    "contaminated_code_exact": "a function of the solution or original code equals a benchmark solution (names and formatting ignored)",
    "contaminated_code_ngram": "the solution or original code shares a run of `ngram` words with a benchmark's code",
    "contaminated_instruction_ngram": "the instruction or statement shares a run of `ngram` content words with a benchmark problem",
    # dedup (the best-ranked member of each cluster is kept)
    "duplicate_across_shards": "the same normalized code as a better-ranked sample of another shard",
    "near_duplicate_code": "original code or solution similar (MinHash Jaccard ≥ threshold) to a better-ranked sample's",
    "near_duplicate_instruction": "instruction similar (MinHash Jaccard ≥ threshold) to a better-ranked sample's",
}

# Reasons that reject one candidate or one test input rather than a whole sample.
PART_REASONS: dict[str, str] = {
    "empty_response": "the model returned nothing",
    "bad_format": "no Solution section and no JSON object",
    "no_solution_code": "the Solution section holds no Python code block",
    "no_instruction": "instruction missing or too short",
    "instruction_not_self_contained": "the instruction refers to the original code",
    "solution_syntax_error": "the solution does not parse",
    "no_entry_point": "no entry point named and none could be inferred",
    "entry_point_not_defined": "the named entry point is not a top-level function of the solution",
    "untyped_signature": "the entry point lacks type hints on a parameter or the return value",
    "no_docstring": "the entry point has no docstring",
    "io_in_solution": "the solution function does I/O (input/print/open/sys.stdin)",
    "no_adapter": "a stdin program's rewrite has no adapter",
    "adapter_syntax_error": "the adapter does not parse",
    "adapter_skips_solution": "the adapter never calls the solution function",
    "inputs_not_json": "the test-input answer holds no JSON list",
    "input_wrong_type": "a test input of the wrong type (stdin text must be a string, call arguments a list)",
    "input_too_long": "a test input longer than `max_input_chars`",
    "input_duplicate": "a repeated test input",
    "oracle_error": "the original crashed on this input",
    "oracle_timeout": "the original exceeded the time limit on this input",
    "oracle_memory": "the original exceeded the memory limit on this input",
    "oracle_output_limit": "the original printed more than the output limit on this input",
    "oracle_killed": "the sandbox could not report the original's run on this input",
    "oracle_nondeterministic": "the original's runs disagreed on this input",
}


def describe(reason: str) -> str:
    return DROP_REASONS.get(reason) or PART_REASONS.get(reason) or "(undocumented reason)"
