import json

import pytest

from hardware.config import TPUV3, ChipConfig, config_to_dict, load_config


def test_tpuv3_default_matches_public_peak():
    # 123 TFLOP/s bf16 per chip, two cores per chip
    assert TPUV3.peak_flops * 2 == pytest.approx(123e12, rel=0.01)
    assert TPUV3.hbm_bytes * 2 == 32 * 2**30
    assert TPUV3.hbm_bytes_per_s * 2 == pytest.approx(900e9)


def test_json_and_ini_roundtrip(tmp_path):
    d = config_to_dict(TPUV3)
    d["mxus"] = 4
    p = tmp_path / "chip.json"
    p.write_text(json.dumps(d))
    assert load_config(p).mxus == 4
    ini = tmp_path / "chip.ini"
    ini.write_text("[chip]\n" + "\n".join(f"{k} = {v}" for k, v in d.items()))
    assert load_config(ini) == ChipConfig(**d)


def test_mistyped_missing_and_bad_fields(tmp_path):
    d = config_to_dict(TPUV3)
    d["hbm_byte"] = d.pop("hbm_bytes")
    p = tmp_path / "chip.json"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="unknown field 'hbm_byte' \\(did you mean 'hbm_bytes'\\?\\)"):
        load_config(p)
    d = config_to_dict(TPUV3)
    del d["clock_hz"]
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="missing field 'clock_hz'"):
        load_config(p)
    d = config_to_dict(TPUV3)
    d["mxu_rows"] = 0
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="mxu_rows must be positive"):
        load_config(p)
    d["mxu_rows"] = "many"
    p.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="'mxu_rows' must be a number"):
        load_config(p)
    with pytest.raises(ValueError, match="must end in"):
        load_config(tmp_path / "chip.yaml")
