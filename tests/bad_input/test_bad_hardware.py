"""Bad chip configs, workloads and traces: each error is an InputFileError (a ValueError) whose
message names the file and what is wrong (issue 13)."""
import json

import pytest

from hardware import TPUV3, bert, load_config, load_workload
from hardware.__main__ import main
from hardware.compression import policy_from_config
from hardware.config import config_to_dict
from hardware.distributed import DataParallel
from hardware.files import InputFileError


def _chip(tmp_path, **change):
    d = config_to_dict(TPUV3)
    d.update(change)
    p = tmp_path / "chip.json"
    p.write_text(json.dumps(d))
    return p


def _workload(tmp_path, mutate):
    data = json.loads(bert("base", 16).to_json())
    data["layers"] = data["layers"][:6]
    mutate(data)
    p = tmp_path / "trace.json"
    p.write_text(json.dumps(data))
    return p


def test_chip_number_written_as_a_string_names_file_and_field(tmp_path):
    p = _chip(tmp_path, hbm_bytes_per_s="450e9")
    with pytest.raises(InputFileError, match=rf"{p}: field 'hbm_bytes_per_s' must be a number, got the string '450e9'"):
        load_config(p)


def test_chip_bool_field_and_range(tmp_path):
    p = _chip(tmp_path, dw_skips_zero_vectors="yes")
    with pytest.raises(InputFileError, match=rf"{p}: field 'dw_skips_zero_vectors' must be true or false"):
        load_config(p)
    p = _chip(tmp_path, mxu_efficiency=1.5)
    with pytest.raises(InputFileError, match=rf"{p}: ChipConfig.mxu_efficiency must be in \(0, 1\]"):
        load_config(p)


def test_chip_json_syntax_error_names_file_line_and_column(tmp_path):
    p = tmp_path / "chip.json"
    p.write_text('{"mxus": 2,\n "clock_hz": }')
    with pytest.raises(InputFileError, match=rf"{p}: not valid JSON \(.* at line 2, column 14\)"):
        load_config(p)
    p.write_text("[1, 2]")
    with pytest.raises(InputFileError, match=rf"{p}: expected a JSON object of chip fields, got list"):
        load_config(p)


def test_missing_unreadable_and_binary_files_name_the_file(tmp_path):
    with pytest.raises(InputFileError, match=r"nope\.json: no such file \(expected a JSON object of chip fields\)"):
        load_config(tmp_path / "nope.json")
    with pytest.raises(InputFileError, match=r"is a directory"):
        load_workload(tmp_path)
    p = tmp_path / "trace.json"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(InputFileError, match=rf"{p}: not UTF-8 text"):
        load_workload(p)


def test_ini_errors_name_the_file(tmp_path):
    p = tmp_path / "chip.ini"
    p.write_text("mxus = 2\n")
    with pytest.raises(InputFileError, match=rf"{p}: not a valid INI file"):
        load_config(p)
    p.write_text("[core]\nmxus = 2\n")
    with pytest.raises(InputFileError, match=rf"{p}: expected a \[chip\] section"):
        load_config(p)
    d = config_to_dict(TPUV3)
    d["clock_hz"] = "fast"
    p.write_text("[chip]\n" + "\n".join(f"{k} = {v}" for k, v in d.items()))
    with pytest.raises(InputFileError, match=rf"{p}: field 'clock_hz' must be a number, got 'fast'"):
        load_config(p)


def test_workload_size_written_as_a_string_names_file_layer_and_field(tmp_path):
    p = _workload(tmp_path, lambda d: d["layers"][2].update(m="16"))
    with pytest.raises(InputFileError, match=rf"{p}: layer 2 \('block0.q'\): layer 'block0.q': m must be a positive int, got '16'"):
        load_workload(p)


def test_workload_stash_item_errors(tmp_path):
    p = _workload(tmp_path, lambda d: d["layers"][2]["stash"][0].update(elements="2048"))
    with pytest.raises(InputFileError, match=rf"{p}: layer 2 \('block0.q'\): stash item 0: StashItem.elements must be a positive int"):
        load_workload(p)
    p = _workload(tmp_path, lambda d: d["layers"][2]["stash"][0].update(sparsity=0.5))
    with pytest.raises(InputFileError, match=rf"{p}: layer 2 \('block0.q'\): stash item 0: unknown field 'sparsity'"):
        load_workload(p)


def test_workload_unknown_and_missing_fields(tmp_path):
    p = _workload(tmp_path, lambda d: d["layers"][0].update(kindd="gemm"))
    with pytest.raises(InputFileError, match=rf"{p}: layer 0 \('embed'\): unknown field 'kindd'"):
        load_workload(p)
    p = _workload(tmp_path, lambda d: d.pop("layers"))
    with pytest.raises(InputFileError, match=rf"{p}: missing field 'layers'"):
        load_workload(p)
    p = _workload(tmp_path, lambda d: d["layers"][1].pop("name"))
    with pytest.raises(InputFileError, match=rf"{p}: layer 1: .*'name'"):
        load_workload(p)
    p = _workload(tmp_path, lambda d: d["layers"][2].update(inputs=["nowhere"]))
    with pytest.raises(InputFileError, match=rf"{p}: workload 'bert-base-seq16': layer 'block0.q' reads 'nowhere'"):
        load_workload(p)


def test_truncated_trace_is_reported_by_the_cli(tmp_path, capsys):
    p = tmp_path / "trace.json"
    p.write_text(bert("base", 16).to_json()[:500])
    assert main(["step", "--workload", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and "not valid JSON" in err


def test_policy_config_errors_name_the_key():
    with pytest.raises(ValueError, match="value_dtype must be one of"):
        policy_from_config({"policy": "deferred_dropout", "value_dtype": "int4"})
    with pytest.raises(ValueError, match="'policy' must be one of"):
        policy_from_config({"policy": "gist"})
    with pytest.raises(ValueError, match="Policy.drop must be a number in \\[0, 1\\), got '0.9'"):
        policy_from_config({"policy": "deferred_dropout", "drop": "0.9"})


@pytest.mark.parametrize("field,value", [("chips", 0), ("gradient_bytes", 1.5), ("gradient_bytes", True),
                                         ("allreduce_bytes_per_s", "332e9")])
def test_bad_data_parallel_names_the_field(field, value):
    with pytest.raises(ValueError, match=f"DataParallel.{field} must be a positive"):
        DataParallel(**{"chips": 2, field: value})


@pytest.mark.parametrize("conv", [(4, 4, 3, 1), (4, 4, 0, 1, 1), (4, 4, 3, 1, -1), (4, 4, 3.5, 1, 1), 7])
def test_bad_conv_geometry_names_the_layer_and_field(conv):
    from hardware import Layer
    with pytest.raises(ValueError, match="layer 'c1': conv must be"):
        Layer("c1", "gemm", conv=conv)



@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["hbm_bytes_per_s", "mxu_rows", "mxu_efficiency", "op_overhead_cycles"])
def test_chip_nan_or_infinity_is_refused_naming_file_and_field(tmp_path, field, value):
    # JSON as Python writes it (json.dumps(float("nan")) is NaN) and as an INI file
    d = config_to_dict(TPUV3)
    p = tmp_path / "chip.json"
    p.write_text(json.dumps(d).replace(f'"{field}": {json.dumps(d[field])}', f'"{field}": {value}'))
    with pytest.raises(InputFileError, match=rf"{p}: ChipConfig.{field} must be a finite number, got"):
        load_config(p)
    d[field] = value.lower().replace("infinity", "inf")
    ini = tmp_path / "chip.ini"
    ini.write_text("[chip]\n" + "\n".join(f"{k} = {v}" for k, v in d.items()))
    with pytest.raises(InputFileError, match=rf"{ini}: ChipConfig.{field} must be a finite number"):
        load_config(ini)
