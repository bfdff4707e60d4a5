"""collect_environment on this machine; doctor() on synthetic environment dicts."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import pytest
import torch

import perfwatch
from perfwatch.collectors.environment import (
    Finding,
    collect_environment,
    doctor,
    format_environment,
    machine_fingerprint,
)

GIT = ["git", "-c", "user.name=perfwatch", "-c", "user.email=perfwatch@example.invalid"]


@pytest.fixture
def outside_repo(tmp_path, monkeypatch):
    """A working directory where git cannot find a repository above it."""
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cuda_env(**overrides):
    """A Linux machine with an H100 and a CUDA 12.8 torch, all healthy unless overridden."""
    env = {
        "os": "Linux",
        "hostname": "gpu-box",
        "cpu_model": "Intel Xeon",
        "cpu_count": 32,
        "torch_version": "2.11.0+cu128",
        "torch_cuda_version": "12.8",
        "torch_hip_version": None,
        "torch_built_with_cuda": True,
        "torch_built_with_mps": False,
        "cuda_available": True,
        "mps_available": False,
        "gpu_count": 1,
        "gpus": [{"name": "NVIDIA H100", "total_memory_bytes": 80 * 2**30,
                  "compute_capability": "9.0"}],
        "nvidia_gpu_present": True,
        "nvidia_driver_version": "570.124.06",
        "triton_version": "3.5.0",
    }
    env.update(overrides)
    return env


def _levels(findings, level):
    return [f.message for f in findings if f.level == level]


# -- collect_environment ---------------------------------------------------------------------


def test_collect_environment_basics(outside_repo):
    env = collect_environment()
    assert env["torch_version"] == torch.__version__
    assert env["perfwatch_version"] == perfwatch.__version__
    assert env["hostname"] == socket.gethostname()
    assert env["cpu_count"] > 0
    assert env["python_version"].count(".") == 2
    assert env["torch_cuda_version"] == torch.version.cuda
    assert env["cuda_available"] == torch.cuda.is_available()
    assert env["gpu_count"] == len(env["gpus"])
    json.dumps(env)  # plain JSON


def test_git_outside_repo_is_none(outside_repo):
    env = collect_environment()
    assert env["git_sha"] is None
    assert env["git_branch"] is None
    assert env["git_dirty"] is None


def test_git_detected_in_repo(outside_repo):
    repo = outside_repo
    subprocess.run(["git", "init", "-q", "-b", "trunk", str(repo)], check=True)
    (repo / "a.txt").write_text("one\n")
    subprocess.run(GIT + ["add", "a.txt"], cwd=repo, check=True)
    subprocess.run(GIT + ["commit", "-q", "-m", "first"], cwd=repo, check=True)
    sha = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()

    env = collect_environment()
    assert env["git_sha"] == sha
    assert env["git_branch"] == "trunk"
    assert env["git_dirty"] is False

    (repo / "untracked.txt").write_text("x\n")
    assert collect_environment()["git_dirty"] is False  # untracked files do not count
    (repo / "a.txt").write_text("two\n")
    assert collect_environment()["git_dirty"] is True

    os.mkdir(repo / "sub")
    assert collect_environment(cwd=str(repo / "sub"))["git_sha"] == sha


# -- machine_fingerprint ---------------------------------------------------------------------


def test_fingerprint_stable_and_sensitive(outside_repo):
    env = collect_environment()
    first = machine_fingerprint(env)
    assert first == machine_fingerprint(collect_environment())
    assert len(first) == 16 and int(first, 16) >= 0
    assert machine_fingerprint({**env, "hostname": env["hostname"] + "-other"}) != first
    assert machine_fingerprint({**env, "cpu_count": env["cpu_count"] + 1}) != first


def test_fingerprint_ignores_software():
    env = _cuda_env()
    same = _cuda_env(torch_version="2.12.0", git_sha="abc", nvidia_driver_version="580.1")
    assert machine_fingerprint(env) == machine_fingerprint(same)
    two = _cuda_env(gpu_count=2, gpus=env["gpus"] * 2)
    assert machine_fingerprint(two) != machine_fingerprint(env)


# -- doctor ----------------------------------------------------------------------------------


def test_doctor_healthy_gpu_machine_is_all_ok():
    findings = doctor(_cuda_env(), which=lambda name: f"/usr/bin/{name}", environ={})
    assert all(isinstance(f, Finding) for f in findings)
    assert _levels(findings, "error") == [] and _levels(findings, "warning") == []
    assert len(findings) >= 4  # reads as a checklist


def test_doctor_flags_cpu_torch_on_gpu_machine():
    env = _cuda_env(torch_version="2.11.0+cpu", torch_cuda_version=None,
                    torch_built_with_cuda=False, cuda_available=False, gpu_count=0, gpus=[],
                    nvidia_driver_version="570.124.06")
    findings = doctor(env, backend="cuda")
    errors = _levels(findings, "error")
    assert any("without CUDA" in m and "NVIDIA GPU" in m for m in errors)
    bad = [f for f in findings if f.level == "error"]
    assert all(f.hint for f in bad)
    # without a backend it is a warning: CPU benchmarks still work
    assert any("without CUDA" in m for m in _levels(doctor(env, which=lambda n: "/x"), "warning"))


def test_doctor_cpu_only_machine_is_fine():
    env = _cuda_env(torch_cuda_version=None, torch_built_with_cuda=False, cuda_available=False,
                    gpu_count=0, gpus=[], nvidia_gpu_present=False, nvidia_driver_version=None,
                    triton_version=None)
    findings = doctor(env, which=lambda name: "/usr/bin/g++", environ={})
    assert _levels(findings, "error") == [] and _levels(findings, "warning") == []
    assert _levels(doctor(env, backend="cuda"), "error")


def test_doctor_flags_old_driver():
    errors = _levels(doctor(_cuda_env(nvidia_driver_version="470.82.01"), "cuda"), "error")
    assert any("too old" in m and "525.60.13" in m for m in errors)
    # above the CUDA 12 floor but below 12.8's own driver: minor version compatibility
    warnings = _levels(doctor(_cuda_env(nvidia_driver_version="535.104.05"), "cuda"), "warning")
    assert any("535.104.05" in m for m in warnings)
    errors = _levels(
        doctor(_cuda_env(torch_cuda_version="13.0", nvidia_driver_version="575.57.08"), "cuda"),
        "error",
    )
    assert any("580.65.06" in m for m in errors)
    assert not _levels(doctor(_cuda_env(nvidia_driver_version="580.95.05"), "cuda"), "warning")


def test_doctor_flags_cuda_unavailable():
    env = _cuda_env(cuda_available=False, gpu_count=0, gpus=[])
    assert any("is_available() is False" in m for m in _levels(doctor(env, "cuda"), "error"))


def test_doctor_flags_missing_triton():
    env = _cuda_env(triton_version=None)
    assert any("Triton" in m for m in _levels(doctor(env, "cuda"), "warning"))


def test_doctor_flags_missing_compiler(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: nothing to find
    monkeypatch.delenv("CXX", raising=False)
    findings = doctor(_cuda_env(), backend="cpu")
    errors = [f for f in findings if f.level == "error"]
    assert any("C++ compiler" in f.message for f in errors)
    assert all(f.hint for f in errors)

    # $CXX naming a compiler that is not there is just as broken
    fake = tmp_path / "g++"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", "clang++-99")
    findings = doctor(_cuda_env(), backend="cpu")
    error = next(f for f in findings if f.level == "error")
    assert "clang++-99" in error.message and "CXX=g++" in error.hint

    monkeypatch.delenv("CXX")
    assert not _levels(doctor(_cuda_env(), backend="cpu"), "error")


def test_doctor_flags_mps_built_but_unavailable():
    env = _cuda_env(os="Darwin", torch_cuda_version=None, cuda_available=False, gpus=[],
                    gpu_count=0, nvidia_gpu_present=False, nvidia_driver_version=None,
                    torch_built_with_mps=True, mps_available=False)
    errors = _levels(doctor(env, backend="mps"), "error")
    assert any("MPS" in m for m in errors)


def test_doctor_on_this_machine_and_format(outside_repo):
    env = collect_environment()
    findings = doctor(env)
    text = format_environment(env, findings)
    assert env["hostname"] in text and torch.__version__ in text
    assert machine_fingerprint(env) in text
    ascii_text = format_environment(env, findings, unicode=False)
    ascii_text.encode("ascii")
    rows = ascii_text.split("\n\n")[0].splitlines()
    value_columns = {len(row) - len(row.split(":", 1)[1].lstrip()) for row in rows}
    assert len(value_columns) == 1  # values line up in one column
