"""Device and dtype choice, on machines described by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modules.engine.devices import (
    DeviceConfig,
    Hardware,
    choose_device,
    generator_for,
    parse_cpu_flags,
    read_cpu_flags,
)

XEON_AMX = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
bogomips\t: 5399.99

processor\t: 1
flags\t\t: fpu vme sse2 avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ZEN2 = "processor\t: 0\nflags\t\t: fpu sse2 avx avx2 fma\n"
ARM = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes sha1 bf16 i8mm\nCPU implementer\t: 0x41\n"

CPU_AMX = Hardware(cpu_flags=parse_cpu_flags(XEON_AMX))
CPU_AVX512_BF16 = Hardware(cpu_flags=frozenset({"avx512f", "avx512_bf16"}))
CPU_AVX2 = Hardware(cpu_flags=parse_cpu_flags(ZEN2))
GPU_BF16 = Hardware(cuda=True, cuda_bf16=True, cuda_name="NVIDIA RTX 4090", cpu_flags=CPU_AVX2.cpu_flags)
GPU_FP16 = Hardware(cuda=True, cuda_bf16=False, cuda_name="Tesla T4")
MAC = Hardware(mps=True)


def test_parse_cpu_flags_x86() -> None:
    flags = parse_cpu_flags(XEON_AMX)
    assert {"amx_bf16", "avx512_bf16", "avx2"} <= flags
    assert "genuineintel" not in flags  # only the flags line counts


def test_parse_cpu_flags_arm_and_empty() -> None:
    assert "bf16" in parse_cpu_flags(ARM)
    assert parse_cpu_flags("") == frozenset()


def test_read_cpu_flags_without_proc_cpuinfo_is_empty(tmp_path: Path) -> None:
    assert read_cpu_flags(tmp_path / "missing") == frozenset()
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(ZEN2)
    assert "avx2" in read_cpu_flags(cpuinfo)


def test_auto_on_cpu_with_amx_is_bf16() -> None:
    config = choose_device(hardware=CPU_AMX)
    assert config == DeviceConfig(torch.device("cpu"), torch.bfloat16, config.reason)
    assert "AMX-BF16" in config.reason and "bfloat16" in config.reason
    assert config.warnings == ()


def test_auto_on_cpu_with_avx512_bf16_is_bf16() -> None:
    config = choose_device(hardware=CPU_AVX512_BF16)
    assert config.dtype == torch.bfloat16
    assert "AVX512-BF16" in config.reason


def test_auto_on_cpu_without_native_bf16_is_fp32() -> None:
    config = choose_device("auto", "auto", hardware=CPU_AVX2)
    assert (config.device.type, config.dtype) == ("cpu", torch.float32)
    assert "float32" in config.reason


def test_auto_on_non_linux_cpu_is_fp32() -> None:
    assert choose_device(hardware=Hardware(cpu_flags=frozenset())).dtype == torch.float32


def test_auto_prefers_cuda_and_its_best_dtype() -> None:
    bf16 = choose_device(hardware=GPU_BF16)
    assert (bf16.device, bf16.dtype) == (torch.device("cuda"), torch.bfloat16)
    assert "RTX 4090" in bf16.reason
    fp16 = choose_device(hardware=GPU_FP16)
    assert (fp16.device, fp16.dtype) == (torch.device("cuda"), torch.float16)
    both = choose_device(hardware=Hardware(cuda=True, cuda_bf16=True, mps=True))
    assert both.device.type == "cuda"


def test_auto_on_mac_is_mps_fp16() -> None:
    config = choose_device(hardware=MAC)
    assert (config.device.type, config.dtype) == ("mps", torch.float16)


def test_explicit_device_and_precision_override_auto() -> None:
    assert choose_device("cpu", hardware=GPU_BF16).device.type == "cpu"
    assert choose_device("cpu", hardware=GPU_BF16).dtype == torch.float32  # this CPU has no native bf16
    config = choose_device("cuda", "fp32", hardware=GPU_BF16)
    assert (config.device.type, config.dtype, config.warnings) == ("cuda", torch.float32, ())
    assert "as requested" in config.reason
    assert choose_device("CPU", "BF16", hardware=CPU_AMX).dtype == torch.bfloat16


def test_fp16_on_cpu_is_allowed_with_a_warning() -> None:
    config = choose_device("cpu", "fp16", hardware=CPU_AMX)
    assert config.dtype == torch.float16
    assert len(config.warnings) == 1 and "slow" in config.warnings[0]
    assert "Warning:" in config.reason


def test_emulated_bf16_is_allowed_with_a_warning() -> None:
    assert "emulated" in choose_device("cpu", "bf16", hardware=CPU_AVX2).reason
    assert "emulated" in choose_device("cuda", "bf16", hardware=GPU_FP16).reason


def test_missing_cuda_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Device 'cuda' was requested but .* sees no CUDA GPU.*'auto' or 'cpu'"):
        choose_device("cuda", hardware=CPU_AMX)


def test_missing_mps_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="Device 'mps' was requested but"):
        choose_device("mps", hardware=GPU_BF16)


def test_unknown_device_and_precision_list_the_choices() -> None:
    with pytest.raises(ValueError, match=r"Unknown device 'tpu'\. Choose one of: auto, cuda, mps, cpu\."):
        choose_device("tpu", hardware=CPU_AMX)
    with pytest.raises(ValueError, match=r"Unknown precision 'fp8'\. Choose one of: auto, fp32, fp16, bf16\."):
        choose_device("cpu", "fp8", hardware=CPU_AMX)


def test_detect_on_this_machine_gives_a_usable_config() -> None:
    hardware = Hardware.detect()
    config = choose_device(hardware=hardware)
    assert config.device.type in ("cuda", "mps", "cpu")
    assert config.reason.endswith(".")


def test_generator_is_on_cpu_and_reproduces_a_seed() -> None:
    generator = generator_for(1234, torch.device("cuda"))  # a CUDA device still gets A1111's CPU RNG
    assert generator.device.type == "cpu"
    first = torch.randn(4, generator=generator)
    again = torch.randn(4, generator=generator_for(1234, torch.device("cpu")))
    assert torch.equal(first, again)
    assert not torch.equal(first, torch.randn(4, generator=generator_for(1235, torch.device("cpu"))))


def test_generator_on_the_device_when_asked() -> None:
    assert generator_for(1, torch.device("cpu"), rng_source="device").device.type == "cpu"
    with pytest.raises(ValueError, match="Unknown RNG source"):
        generator_for(1, torch.device("cpu"), rng_source="gpu")


def test_generator_refuses_unresolved_or_bad_seeds() -> None:
    with pytest.raises(ValueError, match="resolve -1"):
        generator_for(-1, torch.device("cpu"))
    with pytest.raises(ValueError, match="seed must be between"):
        generator_for(2**64, torch.device("cpu"))
    with pytest.raises(ValueError, match="seed must be an int"):
        generator_for(1.5, torch.device("cpu"))  # type: ignore[arg-type]
    assert generator_for(2**32 - 1, torch.device("cpu")).initial_seed() == 2**32 - 1
