"""``actionbench data add-action``: a user's own action, every bad input refused before anything is written."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from actionbench.cli import main
from actionbench.data import custom_actions, get_benchmark
from actionbench.data.custom import add_action
from actionbench.data.folder import load_action
from actionbench.data.preprocess import exemplar_image
from actionbench.errors import ActionBenchError
from actionbench.fileio import file_sha256
from fixtures import COLOURS, POSES, draw_figure


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("ACTIONBENCH_HOME", str(home))
    return home


def photos(folder: Path, n: int = 3, pose: str = "arms_up") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        draw_figure(POSES[pose], COLOURS[i % len(COLOURS)], 230 - 20 * i).save(folder / f"{i:02d}.png")
    return folder


def actions_dir(home: Path) -> Path:
    return home / "actions"


def assert_nothing_written(home: Path) -> None:
    folder = actions_dir(home)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_add_action_copies_originals_and_writes_action_toml(tmp_path, home):
    images = photos(tmp_path / "wave", n=3)
    assert main(["data", "add-action", "wave", "--images", str(images), "--description", "waving  a hand "]) == 0
    target = actions_dir(home) / "wave"
    spec = tomllib.loads((target / "action.toml").read_text())
    assert spec["name"] == "wave"
    assert spec["description"] == "waving a hand"
    assert spec["mirror_invariant"] is False
    assert [e["file"] for e in spec["exemplars"]] == ["00.png", "01.png", "02.png"]
    for entry in spec["exemplars"]:
        assert (target / entry["file"]).read_bytes() == (images / entry["file"]).read_bytes()
        assert entry["sha256"] == file_sha256(images / entry["file"])
        assert entry["template"] == "a photo of a person {}"
        assert entry["context"] == "a photo of a person"
    assert [p.name for p in actions_dir(home).iterdir()] == ["wave"]  # no staging folder left


def test_mirror_invariant_flag_and_sidecar_templates(tmp_path, home):
    images = photos(tmp_path / "pose", n=2)
    (images / "text.json").write_text(json.dumps({"00.png": ["a man in red {} on a grey floor"]}))
    action = add_action("pose", images, "holding a yoga pose", mirror_invariant=True)
    assert action.mirror_invariant is True
    assert [e.template for e in action.exemplars] == ["a man in red {} on a grey floor", "a photo of a person {}"]
    assert action.exemplars[0].context == "a man in red on a grey floor"
    assert not (actions_dir(home) / "pose" / "text.json").exists()


def test_custom_action_is_listed_with_the_benchmark(tmp_path, fixture_benchmark, capsys):
    add_action("wave", photos(tmp_path / "wave", n=4), "waving a hand")
    assert main(["list", "actions", "--benchmark", str(fixture_benchmark)]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == {"arms_up", "arms_out", "wave"}
    assert "4 exemplars" in rows["wave"] and "custom" in rows["wave"] and "waving a hand" in rows["wave"]
    benchmark = get_benchmark(str(fixture_benchmark))
    assert benchmark.actions["wave"].source == "custom"


def test_force_replaces_an_existing_action(tmp_path, home):
    add_action("wave", photos(tmp_path / "a", n=2), "waving a hand")
    with pytest.raises(ActionBenchError) as error:
        add_action("wave", photos(tmp_path / "b", n=3, pose="arms_out"), "waving a hand")
    assert str(error.value) == (f"action 'wave' already exists in {actions_dir(home) / 'wave'}: "
                                "pass --force to replace it, or choose another name.")
    assert len(load_action(actions_dir(home) / "wave").exemplars) == 2
    add_action("wave", photos(tmp_path / "b", n=3, pose="arms_out"), "waving both hands", force=True)
    replaced = load_action(actions_dir(home) / "wave")
    assert len(replaced.exemplars) == 3 and replaced.description == "waving both hands"
    assert [p.name for p in actions_dir(home).iterdir()] == ["wave"]


def test_existing_action_error_through_the_cli(tmp_path, home, capsys):
    images = photos(tmp_path / "wave", n=2)
    assert main(["data", "add-action", "wave", "--images", str(images), "--description", "waving"]) == 0
    assert main(["data", "add-action", "wave", "--images", str(images), "--description", "waving"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: action 'wave' already exists in {actions_dir(home) / 'wave'}: "
        "pass --force to replace it, or choose another name.")


@pytest.mark.parametrize("force", [False, True])
def test_a_name_that_differs_only_by_case_is_refused(tmp_path, home, capsys, force):
    images = photos(tmp_path / "wave", n=2)
    assert main(["data", "add-action", "wave", "--images", str(images), "--description", "waving"]) == 0
    again = ["data", "add-action", "Wave", "--images", str(images), "--description", "waving"]
    assert main(again + (["--force"] if force else [])) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: action 'Wave' differs only by case from the action 'wave' in "
        f"{actions_dir(home) / 'wave'} (action names compare case-insensitively): choose another name, or replace "
        f"it with --force under its own name 'wave'.")
    assert [p.name for p in actions_dir(home).iterdir()] == ["wave"]


def test_actions_are_looked_up_case_insensitively(tmp_path, fixture_benchmark):
    from actionbench.data import resolve_actions

    add_action("wave", photos(tmp_path / "wave", n=2), "waving a hand")
    benchmark = get_benchmark(str(fixture_benchmark))
    assert [a.name for a in resolve_actions(benchmark, "WAVE,Arms_Up,wave")] == ["wave", "arms_up"]
    assert len(resolve_actions(benchmark, "ALL")) == 3
    with pytest.raises(ActionBenchError) as error:
        resolve_actions(benchmark, "waves")
    assert str(error.value) == "unknown action 'waves' in benchmark fixture: choose one of arms_out, arms_up, wave, or 'all'."


def test_a_hand_made_custom_action_that_differs_by_case_from_the_benchmarks_clashes(tmp_path, home, fixture_benchmark):
    add_action("my_arms", photos(tmp_path / "arms", n=2), "raising both arms")
    spec = tomllib.loads((actions_dir(home) / "my_arms" / "action.toml").read_text())
    spec["name"] = "ARMS_UP"  # renamed by hand, past add-action's checks
    (actions_dir(home) / "my_arms").rename(actions_dir(home) / "ARMS_UP")
    import tomli_w

    (actions_dir(home) / "ARMS_UP" / "action.toml").write_text(tomli_w.dumps(spec))
    with pytest.raises(ActionBenchError) as error:
        get_benchmark(str(fixture_benchmark))
    assert str(error.value) == (f"custom action(s) ARMS_UP clash with fixture's actions: rename them under "
                                f"{actions_dir(home)}.")

RULE = "use letters, digits, '-' and '_' only (up to 64), starting with a letter or digit, e.g. my_wave."


@pytest.mark.parametrize("name, message", [
    ("", "the action name is empty: give a name: " + RULE),
    ("   ", "the action name is empty: give a name: " + RULE),
    ("a/b", "the action name 'a/b' contains a path separator or '..': " + RULE),
    ("..", "the action name '..' contains a path separator or '..': " + RULE),
    ("../escape", "the action name '../escape' contains a path separator or '..': " + RULE),
    ("a\\b", "the action name 'a\\\\b' contains a path separator or '..': " + RULE),  # shown escaped, as repr
    ("my wave", "the action name 'my wave' is not a plain name: " + RULE),
    ("_hidden", "the action name '_hidden' is not a plain name: " + RULE),
    ("all", "the action name 'all' is reserved ('all' selects every action): choose another name."),
    ("a" * 300, f"the action name '{'a' * 60}...' is not a plain name: " + RULE),  # was echoed whole
    ("new\nline", "the action name 'new\\nline' is not a plain name: " + RULE),  # escaped: one line
    ("salute", "the action name 'salute' is taken by the official ActionBench: choose another name, e.g. my_salute."),
    ("CHEER", "the action name 'CHEER' is taken by the official ActionBench as 'cheer' (action names compare "
              "case-insensitively): choose another name, e.g. my_CHEER."),
])
def test_bad_names(tmp_path, home, name, message):
    images = photos(tmp_path / "images", n=1)
    with pytest.raises(ActionBenchError) as error:
        add_action(name, images, "waving a hand")
    assert str(error.value) == message
    assert_nothing_written(home)
    assert not (tmp_path / "escape").exists()


@pytest.mark.parametrize("description", [None, "", "  \n "])
def test_missing_description(tmp_path, home, description):
    with pytest.raises(ActionBenchError) as error:
        add_action("wave", photos(tmp_path / "images", n=1), description)
    assert str(error.value) == ("action 'wave' has no description: pass --description \"...\": the action in "
                                "plain words, e.g. \"raising both arms overhead\".")
    assert_nothing_written(home)


def test_missing_description_through_the_cli(tmp_path, home, capsys):
    images = photos(tmp_path / "images", n=1)
    assert main(["data", "add-action", "wave", "--images", str(images)]) == 2
    assert capsys.readouterr().err.strip().startswith("actionbench: error: action 'wave' has no description")
    assert_nothing_written(home)


def _bad_file(folder: Path, kind: str) -> tuple[Path, str]:
    """Write one bad file into ``folder``; return it and the exact message it must produce."""
    if kind == "text file":
        path = folder / "notes.txt"
        path.write_text("not a photo")
        return path, f"{path} is not an image file: remove it from {folder}, or convert it to JPEG or PNG."
    if kind == "text in a .jpg":
        path = folder / "fake.jpg"
        path.write_text("not a photo")
        return path, f"{path} is not an image file: remove it or convert it to JPEG or PNG."
    if kind == "zero bytes":
        path = folder / "empty.png"
        path.write_bytes(b"")
        return path, f"image {path} is empty (0 bytes): replace it with a valid image."
    if kind == "truncated png":
        path = folder / "cut.png"
        Image.new("RGB", (64, 64), (200, 10, 10)).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path, f"image {path} cannot be read (image file is truncated): the file is truncated or corrupt; replace it."
    if kind == "truncated jpeg":
        path = folder / "cut.jpg"
        Image.new("RGB", (64, 64), (200, 10, 10)).save(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return path, f"image {path} cannot be read (Truncated File Read): the file is truncated or corrupt; replace it."
    if kind == "decompression bomb":
        path = folder / "huge.png"
        Image.new("1", (12_000, 11_000)).save(path)  # 132 Mpx, 17 kB on disk: over PIL's own error limit (2x ours)
        return path, (f"image {path} has more than 64,000,000 pixels (refused as a possible decompression bomb): "
                      "downscale it below 64,000,000 pixels.")
    if kind == "duplicate":
        path = folder / "zz_copy.png"
        path.write_bytes((folder / "01.png").read_bytes())
        return path, f"zz_copy.png is a duplicate of 01.png (same content): remove one of them from {folder}."
    if kind == "sub-folder":
        path = folder / "more"
        path.mkdir()
        return path, f"{path} is a folder: put the exemplar photos directly in {folder}, without sub-folders."
    if kind == "sidecar naming a missing image":
        path = folder / "text.json"
        path.write_text(json.dumps({"99.png": ["a man {}"]}))
        return path, f"{path} names 99.png, which is not an image in {folder}: fix the file name or remove the entry."
    if kind == "sidecar template without {}":
        path = folder / "text.json"
        path.write_text(json.dumps({"00.png": ["a man waving"]}))
        return path, (f"the template 'a man waving' of 00.png in {path} does not hold exactly one {{}}: write the "
                      "caption with one {} where the action goes, e.g. \"a man {} on a beach\".")
    raise AssertionError(kind)


BAD_FILES = ["text file", "text in a .jpg", "zero bytes", "truncated png", "truncated jpeg", "decompression bomb",
             "duplicate", "sub-folder", "sidecar naming a missing image", "sidecar template without {}"]


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_images_are_refused_before_anything_is_written(tmp_path, home, kind):
    images = photos(tmp_path / "images", n=3)
    _, message = _bad_file(images, kind)
    with pytest.raises(ActionBenchError) as error:
        add_action("wave", images, "waving a hand")
    assert str(error.value) == message
    assert_nothing_written(home)


def test_bad_image_through_the_cli_is_one_line(tmp_path, home, capsys):
    images = photos(tmp_path / "images", n=2)
    _, message = _bad_file(images, "truncated jpeg")
    assert main(["data", "add-action", "wave", "--images", str(images), "--description", "waving"]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {message}\n"
    assert_nothing_written(home)


def test_empty_and_missing_folders(tmp_path, home):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"\0")  # hidden files do not count
    with pytest.raises(ActionBenchError) as error:
        add_action("wave", empty, "waving a hand")
    assert str(error.value) == f"image folder {empty} holds no images: put the exemplar photos (JPEG or PNG) in it."
    with pytest.raises(ActionBenchError) as error:
        add_action("wave", tmp_path / "nowhere", "waving a hand")
    assert str(error.value) == (f"image folder {tmp_path / 'nowhere'} does not exist: pass --images FOLDER holding "
                                "the exemplar photos.")
    assert_nothing_written(home)


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, home, monkeypatch):
    import actionbench.data.custom as custom

    def broken_write(target, text):
        raise OSError("disk full")

    monkeypatch.setattr(custom, "atomic_write_text", broken_write)
    with pytest.raises(OSError):
        add_action("wave", photos(tmp_path / "images", n=2), "waving a hand")
    assert_nothing_written(home)


def _awkward_images(folder: Path) -> dict[str, np.ndarray]:
    """CMYK, 16-bit grey and RGBA versions of one drawing; returns what each must load as."""
    folder.mkdir(parents=True)
    rgb = draw_figure(POSES["arms_up"], (200, 40, 40), 200)
    rgb.convert("CMYK").save(folder / "cmyk.jpg", quality=95)
    grey = np.asarray(rgb.convert("L"), dtype=np.uint16) * 257
    Image.fromarray(grey).save(folder / "grey16.png")  # uint16 -> mode I;16
    rgba = rgb.convert("RGBA")
    rgba.putalpha(Image.new("L", rgb.size, 255))
    alpha = np.asarray(rgba).copy()
    alpha[:8, :8, 3] = 0  # a transparent corner becomes white
    Image.fromarray(alpha).save(folder / "rgba.png")
    return {"grey16.png": np.asarray(rgb.convert("L")), "rgba.png": np.asarray(rgb)}


def test_cmyk_16_bit_and_rgba_images_are_kept_as_they_are_and_load_as_rgb(tmp_path, home):
    images = tmp_path / "awkward"
    expected = _awkward_images(images)
    action = add_action("awkward", images, "raising both arms overhead")
    target = actions_dir(home) / "awkward"
    for name in ("cmyk.jpg", "grey16.png", "rgba.png"):
        assert (target / name).read_bytes() == (images / name).read_bytes()  # originals, unchanged
    for name, mode in (("cmyk.jpg", "CMYK"), ("grey16.png", "I;16"), ("rgba.png", "RGBA")):
        with Image.open(target / name) as raw:
            assert raw.mode == mode
    by_name = {e.image_path.name: e for e in action.exemplars}
    for name, exemplar in by_name.items():
        square = exemplar_image(exemplar, 64)
        assert square.mode == "RGB" and square.size == (64, 64)
    grey = np.asarray(exemplar_image(by_name["grey16.png"], 64))
    assert np.abs(grey[..., 0].astype(int) - expected["grey16.png"].astype(int)).max() <= 1
    rgba = np.asarray(exemplar_image(by_name["rgba.png"], 64))
    assert (rgba[:8, :8] == 255).all()
    assert np.array_equal(rgba[20:, :], expected["rgba.png"][20:, :])
    cmyk = np.asarray(exemplar_image(by_name["cmyk.jpg"], 64)).astype(int)
    assert np.abs(cmyk[40:, :8] - 200).max() < 30  # the light background survives the CMYK round trip


def test_custom_actions_skip_hidden_staging_folders(tmp_path, home):
    add_action("wave", photos(tmp_path / "images", n=2), "waving a hand")
    leftover = actions_dir(home) / ".wave.staging-x"
    leftover.mkdir()
    (leftover / "action.toml").write_text((actions_dir(home) / "wave" / "action.toml").read_text())
    assert list(custom_actions()) == ["wave"]


def test_a_failed_replacement_keeps_the_previous_action(tmp_path, home, monkeypatch):
    add_action("wave", photos(tmp_path / "a", n=2), "waving a hand")
    before = (actions_dir(home) / "wave" / "action.toml").read_text()

    real_rename = Path.rename

    def rename(self, target):  # fails only when the new copy is moved into place
        if self.name.startswith(".wave.staging-"):
            raise OSError("disk full")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError):
        add_action("wave", photos(tmp_path / "b", n=3, pose="arms_out"), "waving both hands", force=True)
    assert [p.name for p in actions_dir(home).iterdir()] == ["wave"]
    assert (actions_dir(home) / "wave" / "action.toml").read_text() == before
