"""The stages, one module per Snakemake rule family, named like the rule and the config section.

Each module has the stage's options (`<Stage>Options.from_config`, built from its own config section and
the shared `engine`/`sandbox` sections it uses), a `run` function (the pure library: files in, files
out, options) and a `job` function (what the rule runs: settings from the config, resources such as the
engine or the sandbox). Stage order and kind are in semi_instruct/pipeline.py; the bookkeeping every stage
shares is in `base.py`. A stage never imports another stage.
"""
