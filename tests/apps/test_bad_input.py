"""Bad input on every command: one ``vidlab: error: ...`` line on stderr, never a traceback or a box.

The table below is the CLI hardening campaign: each row is a command line with something wrong in it
(a missing, empty, binary or corrupt file, a directory for a file, a number out of range, an unknown
choice or name) and the exit status the contract gives it: 2 for bad input and usage errors, 1 where
the command goes on with the other inputs and reports the bad ones (``classify``, ``flow``). Every
row must fail fast, before any real work (no training, no server: ``uvicorn.run`` is replaced by a
function that fails the test).
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest
import torch

from helpers import run_cli
from vidlab import models

BOX_CHARS = set("╭╮╰╯│─┌┐└┘├┤┬┴┼━┃")


def make_env(root: Path, clip: Path | None = None) -> dict[str, str]:
    """The files the table's ``{placeholders}`` name, under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {"tmp": str(root)}
    torch.manual_seed(0)
    ck = models.save(models.build("i3d_r10_tiny", num_classes=3), root / "ck" / "tiny",
                     labels=["a", "b", "c"], preprocessing=models.get_spec("i3d_r10_tiny").preprocessing())
    env["ck"] = str(ck)
    sidecar = ck.with_suffix(".json")

    def copy_ck(name: str, weights: bytes | None = None, side: str | None = None) -> str:
        d = root / name
        d.mkdir()
        w = d / ck.name
        w.write_bytes(ck.read_bytes() if weights is None else weights)
        (d / sidecar.name).write_text(sidecar.read_text() if side is None else side)
        return str(w)

    blob = ck.read_bytes()
    env["trunc"] = copy_ck("trunc", weights=blob[: len(blob) // 3])  # truncated safetensors
    env["badjson"] = copy_ck("badjson", side="{this is not json")  # a sidecar that is not JSON
    env["garbled"] = copy_ck("garbled", weights=os.urandom(len(blob)))  # random bytes, real sidecar
    alone = root / "alone"
    alone.mkdir()
    shutil.copy(ck, alone / ck.name)  # weights without a sidecar
    env["nosidecar"] = str(alone / ck.name)
    rnd = os.urandom(4096)
    for name in ("bin.bin", "bin.mp4", "bin.png", "bin.csv", "bin.yaml", "bin.pth", "bin.pyth", "bin.safetensors",
                 "bin.txt", "bin.pbtxt"):
        (root / name).write_bytes(b"\x89\xff\xfe\x00" + rnd)
    for name in ("empty.csv", "empty.yaml", "empty.safetensors", "empty.pth", "empty.pbtxt", "empty.mp4"):
        (root / name).write_bytes(b"")
    env.update({k.replace(".", "_"): str(root / k) for k in os.listdir(root) if k.startswith(("bin.", "empty."))})
    (root / "adir").mkdir()
    (root / "adir" / "notes.txt").write_text("nothing to see\n")
    env["dir"] = str(root / "adir")
    (root / "emptydir").mkdir()
    env["emptydir"] = str(root / "emptydir")
    (root / "file.txt").write_text("just a text file\n")
    env["file"] = str(root / "file.txt")
    env["missing"] = str(root / "does-not-exist")
    env["missing_mp4"] = str(root / "does-not-exist.mp4")
    env["missing_png"] = str(root / "does-not-exist.png")
    # configs
    run = root / "run"
    (root / "ok.yaml").write_text(f"model: {{arch: i3d_r10_tiny, num_classes: 3}}\ntrain: {{out_dir: {run}}}\n")
    env["cfg"] = str(root / "ok.yaml")
    (root / "model5.yaml").write_text("model: 5\n")
    env["cfg_model5"] = str(root / "model5.yaml")
    (root / "list.yaml").write_text("- model\n- data\n")
    env["cfg_list"] = str(root / "list.yaml")
    (root / "broken.yaml").write_text("model: {arch: [i3d\n")
    env["cfg_broken"] = str(root / "broken.yaml")
    # lists
    (root / "badlabel.csv").write_text(f"{clip or 'x.mp4'} 7\n")
    env["badlabel"] = str(root / "badlabel.csv")
    (root / "words.csv").write_text("hello there general kenobi\nsecond line\n")
    env["words"] = str(root / "words.csv")
    env["clip"] = str(clip) if clip else str(root / "bin.mp4")
    return env


# (id, command line with {placeholders}, exit status, text the error line contains)
CASES: list[tuple[str, str, int, str]] = [
    # --- usage errors (the CLI framework's own) -----------------------------------------------------
    ("unknown-command", "bogus", 2, "no such command 'bogus'"),
    ("unknown-global-option", "--bogus models", 2, "--bogus"),
    ("unknown-option", "classify {clip} -c {ck} --bogus", 2, "--bogus"),
    ("missing-option", "classify {clip}", 2, "--checkpoint"),
    ("missing-argument", "classify --checkpoint {ck}", 2, "VIDEOS"),
    ("extra-argument", "models extra", 2, "unexpected extra argument"),
    ("unknown-subcommand", "data bogus", 2, "no such command 'bogus'"),
    ("option-needs-value", "classify {clip} -c", 2, "-c"),
    # --- classify ----------------------------------------------------------------------------------------
    ("classify-stride-negative", "classify {clip} -c {ck} --stride -1", 2, "--stride"),
    ("classify-stride-zero", "classify {clip} -c {ck} --stride 0", 2, "--stride"),
    ("classify-stride-nan", "classify {clip} -c {ck} --stride nan", 2, "--stride"),
    ("classify-topk-zero", "classify {clip} -c {ck} --topk 0", 2, "--topk"),
    ("classify-topk-word", "classify {clip} -c {ck} --topk many", 2, "--topk"),
    ("classify-backend-unknown", "classify {clip} -c {ck} --backend ffmpeg7", 2, "--backend"),
    ("classify-ckpt-missing", "classify {clip} -c {missing}", 2, "not found"),
    ("classify-ckpt-dir", "classify {clip} -c {dir}", 2, ""),
    ("classify-ckpt-empty", "classify {clip} -c {empty_safetensors}", 2, ""),
    ("classify-ckpt-truncated", "classify {clip} -c {trunc}", 2, ""),
    ("classify-sidecar-not-json", "classify {clip} -c {badjson}", 2, "sidecar"),
    ("classify-ckpt-garbled", "classify {clip} -c {garbled}", 2, ""),
    ("classify-ckpt-no-sidecar", "classify {clip} -c {nosidecar}", 2, "sidecar"),
    ("classify-ckpt-binary-pickle", "classify {clip} -c {bin_pth}", 2, ""),
    ("classify-ckpt-text-file", "classify {clip} -c {file}", 2, ""),
    ("classify-video-missing", "classify {missing_mp4} -c {ck}", 1, "does-not-exist.mp4"),
    ("classify-video-dir", "classify {dir} -c {ck}", 1, "adir"),
    ("classify-video-binary", "classify {bin_mp4} -c {ck}", 1, "bin.mp4"),
    ("classify-video-empty", "classify {empty_mp4} -c {ck}", 1, "empty.mp4"),
    # --- train: types and ranges (through the CLI, end to end) ---------------------------------------
    ("train-batch-size-word", "train --config {cfg} data.batch_size=eight", 2, "data.batch_size: expected an integer"),
    ("train-epochs-fraction", "train --config {cfg} solver.epochs=1.5", 2, "solver.epochs"),
    ("train-num-frames-bool", "train --config {cfg} data.num_frames=true", 2, "data.num_frames"),
    ("train-model-number", "train --config {cfg} model=5", 2, "model: expected a mapping"),
    ("train-yaml-model-number", "train --config {cfg_model5}", 2, "model: expected a mapping"),
    ("train-yaml-top-list", "train --config {cfg_list}", 2, "expected a mapping"),
    ("train-lr-negative", "train --config {cfg} solver.lr=-0.1", 2, "solver.lr"),
    ("train-crop-negative", "train --config {cfg} data.crop_size=-56", 2, "data.crop_size"),
    ("train-workers-negative", "train --config {cfg} data.num_workers=-2", 2, "data.num_workers"),
    ("train-bad-fraction-negative", "train --config {cfg} data.max_bad_fraction=-1", 2, "data.max_bad_fraction"),
    ("train-num-frames-zero", "train --config {cfg} data.num_frames=0", 2, "data.num_frames"),
    ("train-sampling-rate-zero", "train --config {cfg} data.sampling_rate=0", 2, "data.sampling_rate"),
    ("train-checkpoint-every-negative", "train --config {cfg} train.checkpoint_every=-5", 2, "train.checkpoint_every"),
    ("train-kwargs-unknown", "train --config {cfg} 'model.kwargs={{bogus: 1}}'", 2,
     "model.kwargs: i3d_r10_tiny has no argument 'bogus'; it takes "),
    ("train-kwargs-not-mapping", "train --config {cfg} model.kwargs=5", 2, "model.kwargs"),
    ("train-kwargs-bad-value", "train --config {cfg} 'model.kwargs={{width: wide}}'", 2, "model.kwargs"),
    ("train-arch-unknown", "train --config {cfg} model.arch=resnet9000", 2, "resnet9000"),
    ("train-optimizer-unknown", "train --config {cfg} solver.optimizer=adam", 2, "solver.optimizer"),
    ("train-test-crops-two", "train --config {cfg} data.test_crops=2", 2, "data.test_crops"),
    ("train-scale-three", "train --config {cfg} 'data.train_scale=[1, 2, 3]'", 2, "data.train_scale"),
    ("train-unknown-key", "train --config {cfg} solver.lrr=1", 2, "solver.lrr"),
    ("train-override-not-kv", "train --config {cfg} solver.lr", 2, "key=value"),
    ("train-config-missing", "train --config {missing}", 2, "not found"),
    ("train-config-dir", "train --config {dir}", 2, ""),
    ("train-config-binary", "train --config {bin_yaml}", 2, ""),
    ("train-config-broken-yaml", "train --config {cfg_broken}", 2, "YAML"),
    ("train-nproc-zero", "train --config {cfg} --nproc 0", 2, "--nproc"),
    ("train-list-missing", "train --config {cfg} data.train={missing}", 2, "does-not-exist"),
    ("train-init-missing", "train --config {cfg} model.init={missing}", 2, "does-not-exist"),
    ("train-device-unknown", "train --config {cfg} train.device=tpu", 2, "tpu"),
    # --- eval ------------------------------------------------------------------------------------------------
    ("eval-list-binary", "eval -c {ck} --list {bin_csv}", 2, "bin.csv"),
    ("eval-views-zero", "eval -c {ck} --list {words} --views 0", 2, "--views"),
    ("eval-crops-two", "eval -c {ck} --list {words} --crops 2", 2, "--crops"),
    ("eval-batch-zero", "eval -c {ck} --list {words} --batch-size 0", 2, "--batch-size"),
    ("eval-list-missing", "eval -c {ck} --list {missing}", 2, "does-not-exist"),
    ("eval-list-dir", "eval -c {ck} --list {dir}", 2, "adir"),
    ("eval-list-empty", "eval -c {ck} --list {empty_csv}", 2, "empty.csv"),
    ("eval-list-words", "eval -c {ck} --list {words}", 2, "words.csv"),
    ("eval-label-out-of-range", "eval -c {ck} --list {badlabel}", 2, "label 7"),
    ("eval-ckpt-truncated", "eval -c {trunc} --list {badlabel}", 2, ""),
    # --- models / convert / inflate -----------------------------------------------------------------
    ("models-unknown-option", "models --bogus", 2, "--bogus"),
    ("convert-from-unknown", "convert {bin_pyth} {tmp}/out --from caffe3 --arch i3d_r50", 2, "caffe3"),
    ("convert-arch-unknown", "convert {bin_pyth} {tmp}/out --from pyslowfast --arch resnet9000", 2, "resnet9000"),
    ("convert-src-missing", "convert {missing} {tmp}/out --from pyslowfast --arch i3d_r50", 2, "does-not-exist"),
    ("convert-src-binary", "convert {bin_pyth} {tmp}/out --from pyslowfast --arch i3d_r50", 2, "bin.pyth"),
    ("convert-src-empty", "convert {empty_pth} {tmp}/out --from torchvision --arch r3d_18", 2, "empty.pth"),
    ("convert-src-dir", "convert {dir} {tmp}/out --from pyslowfast --arch i3d_r50", 2, "adir"),
    ("convert-labels-missing", "convert {ck} {tmp}/out --from pyslowfast --arch i3d_r10_tiny --labels {missing}", 2,
     "does-not-exist"),
    ("inflate-mode-unknown", "inflate {bin_pth} {tmp}/out --mode sideways", 2, "sideways"),
    ("inflate-arch-unknown", "inflate {bin_pth} {tmp}/out --arch resnet9000", 2, "resnet9000"),
    ("inflate-src-missing", "inflate {missing} {tmp}/out", 2, "does-not-exist"),
    ("inflate-src-binary", "inflate {bin_pth} {tmp}/out", 2, "bin.pth"),
    ("inflate-num-classes-zero", "inflate {bin_pth} {tmp}/out --num-classes 0", 2, "--num-classes"),
    # --- data -------------------------------------------------------------------------------------------------
    ("data-synth-size-small", "data synth --out {tmp}/s --size 10", 2, "--size"),
    ("data-synth-frames-small", "data synth --out {tmp}/s --frames 2", 2, "--frames"),
    ("data-synth-fps-zero", "data synth --out {tmp}/s --fps 0", 2, "--fps"),
    ("data-synth-per-class-zero", "data synth --out {tmp}/s --train-per-class 0", 2, "--train-per-class"),
    ("data-synth-out-is-file", "data synth --out {file} --train-per-class 1 --val-per-class 1 --test-per-class 1", 2,
     "file.txt"),
    ("data-formats-extra", "data formats extra", 2, "unexpected extra argument"),
    ("data-stats-format-unknown", "data stats --format imagenet21k --annotations {file}", 2, "imagenet21k"),
    ("data-stats-annotations-missing", "data stats --format ucf101 --annotations {missing}", 2, "does-not-exist"),
    ("data-stats-annotations-binary", "data stats --format kinetics400 --annotations {bin_csv}", 2, "bin.csv"),
    ("data-stats-no-annotations", "data stats --format ucf101", 2, "--annotations"),
    ("data-stats-split-zero", "data stats --format ucf101 --annotations {file} --split 0", 2, "--split"),
    ("data-check-root-missing", "data check --format video_list --annotations {words} --root {missing}", 2,
     "does-not-exist"),
    ("data-check-decode-unknown", "data check --format video_list --annotations {words} --root {dir} --decode all",
     2, "--decode"),
    ("data-check-fraction-two", "data check --format video_list --root {dir} --max-bad-fraction 2", 2,
     "--max-bad-fraction"),
    ("data-check-splits-unknown", "data check --format video_list --annotations {words} --root {dir} --splits dev",
     2, "--splits"),
    ("data-prepare-crf-high", "data prepare --format video_list --root {dir} --out {tmp}/p --crf 99", 2, "--crf"),
    ("data-prepare-short-side-negative", "data prepare --format video_list --root {dir} --out {tmp}/p "
     "--short-side -1", 2, "--short-side"),
    # --- flow ---------------------------------------------------------------------------------------------------
    ("flow-method-unknown", "flow {clip} --out {tmp}/f --method magic", 2, "--method"),
    ("flow-format-unknown", "flow {clip} --out {tmp}/f --method farneback --format png", 2, "--format"),
    ("flow-stride-zero", "flow {clip} --out {tmp}/f --stride 0", 2, "--stride"),
    ("flow-bound-zero", "flow {clip} --out {tmp}/f --bound 0", 2, "--bound"),
    ("flow-video-missing", "flow {missing_mp4} --out {tmp}/f --method farneback --quiet", 1, "does-not-exist.mp4"),
    ("flow-raft-model-unknown", "flow {clip} --out {tmp}/f --method raft --raft-model huge", 2, "--raft-model"),
    ("flow-out-is-file", "flow {clip} --out {file} --method farneback --quiet", 2, "file.txt"),
    # --- eval-ava -----------------------------------------------------------------------------------------------
    ("ava-groundtruth-missing", "eval-ava --groundtruth {missing} --detections {words} --labelmap {file}", 2,
     "does-not-exist"),
    ("ava-groundtruth-binary", "eval-ava --groundtruth {bin_csv} --detections {bin_csv} --labelmap {bin_pbtxt}", 2,
     ""),
    ("ava-protocol-unknown", "eval-ava --groundtruth {words} --detections {words} --labelmap {file} "
     "--protocol kaggle", 2, "--protocol"),
    ("ava-labelmap-empty", "eval-ava --groundtruth {words} --detections {words} --labelmap {empty_pbtxt}", 2, ""),
    ("ava-groundtruth-dir", "eval-ava --groundtruth {dir} --detections {words} --labelmap {file}", 2, "adir"),
    # --- detect (the group) and lfb -------------------------------------------------------------------
    ("detect-run-video-missing", "detect run {missing_mp4} -c {ck} --boxes {words}", 2, "does-not-exist.mp4"),
    ("detect-run-ckpt-missing", "detect run {clip} -c {missing}", 2, "does-not-exist"),
    ("detect-run-not-a-detector", "detect run {clip} -c {ck} --boxes {words} --out {tmp}/d", 2, ""),
    ("detect-run-keyframe-zero", "detect run {clip} -c {ck} --keyframe-interval 0", 2, "--keyframe-interval"),
    ("detect-run-score-threshold-high", "detect run {clip} -c {ck} --score-threshold 1.5", 2, "--score-threshold"),
    ("detect-old-form-video-missing", "detect {missing_mp4} -c {ck} --boxes {words}", 2, "does-not-exist.mp4"),
    ("detect-data-size-small", "detect data --out {tmp}/dd --size 8", 2, "--size"),
    ("detect-data-train-zero", "detect data --out {tmp}/dd --train 0", 2, "--train"),
    ("detect-data-out-is-file", "detect data --out {file} --train 1 --val 0 --test 1 --quiet", 2, "file.txt"),
    ("detect-train-data-missing", "detect train --data {missing} --out {tmp}/dt --quiet", 2, "does-not-exist"),
    ("detect-train-arch-unknown", "detect train --data {dir} --out {tmp}/dt --arch resnet9000 --quiet", 2,
     "resnet9000"),
    ("detect-train-epochs-zero", "detect train --data {dir} --out {tmp}/dt --epochs 0", 2, "--epochs"),
    ("detect-train-minutes-negative", "detect train --data {dir} --out {tmp}/dt --minutes -1", 2, "--minutes"),
    ("detect-eval-ckpt-missing", "detect eval -c {missing} --data {dir} --out {tmp}/de --quiet", 2,
     "does-not-exist"),
    ("detect-eval-split-unknown", "detect eval -c {ck} --data {dir} --out {tmp}/de --split dev --quiet", 2,
     "--split"),
    ("lfb-build-ckpt-missing", "lfb build -c {missing} --data {dir} --out {tmp}/bank --quiet", 2, "does-not-exist"),
    ("lfb-build-split-unknown", "lfb build -c {ck} --data {dir} --out {tmp}/bank --split dev --quiet", 2,
     "--split"),
    ("lfb-train-fbo-unknown", "lfb train --bank {dir} --data {dir} --out {tmp}/l --fbo attention", 2, "--fbo"),
    ("lfb-train-window-negative", "lfb train --bank {dir} --data {dir} --out {tmp}/l --window -1", 2, "--window"),
    ("lfb-train-bank-missing", "lfb train --bank {missing} --data {dir} --out {tmp}/l --quiet", 2, "does-not-exist"),
    # --- compress / export / bench --------------------------------------------------------------------
    ("compress-method-unknown", "compress {ck} --method int4 --out {tmp}/c", 2, "--method"),
    ("compress-ckpt-missing", "compress {missing} --method fp16 --out {tmp}/c", 2, "does-not-exist"),
    ("compress-ckpt-truncated", "compress {trunc} --method fp16 --out {tmp}/c", 2, ""),
    ("compress-sidecar-not-json", "compress {badjson} --method fp16 --out {tmp}/c", 2, "sidecar"),
    ("compress-static-no-calib", "compress {ck} --method int8-static --out {tmp}/c", 2, "--calib"),
    ("compress-calib-missing", "compress {ck} --method int8-static --calib {missing} --out {tmp}/c", 2,
     "does-not-exist"),
    ("compress-sparsity-high", "compress {ck} --method prune --sparsity 2 --out {tmp}/c", 2, "--sparsity"),
    ("compress-observer-unknown", "compress {ck} --method int8-static --calib {dir} --observer mean --out {tmp}/c",
     2, "--observer"),
    ("export-format-unknown", "export {ck} --format tflite --out {tmp}/e.tflite", 2, "--format"),
    ("export-input-malformed", "export {ck} --format onnx --input 1,2 --out {tmp}/e.onnx", 2, "--input"),
    ("export-input-zero", "export {ck} --format onnx --input 0,0,0 --out {tmp}/e.onnx", 2, "--input"),
    ("export-ckpt-missing", "export {missing} --format onnx --out {tmp}/e.onnx", 2, "does-not-exist"),
    ("export-sidecar-not-json", "export {badjson} --format onnx --out {tmp}/e.onnx", 2, "sidecar"),
    ("export-int8-torchscript", "export {ck} --format torchscript --int8 --out {tmp}/e.pt", 2, "--int8"),
    ("bench-threads-zero", "bench {ck} --threads 0", 2, "--threads"),
    ("bench-iters-zero", "bench {ck} --iters 0", 2, "--iters"),
    ("bench-ckpt-missing", "bench {missing}", 2, "does-not-exist"),
    ("bench-ckpt-binary", "bench {bin_safetensors}", 2, ""),
    ("bench-input-malformed", "bench {ck} --input abc", 2, "--input"),
    ("bench-compare-missing", "bench {ck} --compare {missing}", 2, "does-not-exist"),
    ("bench-eval-binary", "bench {ck} --eval {bin_csv}", 2, "bin.csv"),
    # --- cartoon (the group) ----------------------------------------------------------------------------
    ("cartoon-run-binary-image", "cartoon run {bin_png} --out {tmp}/o", 2, "bin.png"),
    ("cartoon-run-missing", "cartoon run {missing_png} --out {tmp}/o", 2, "does-not-exist.png"),
    ("cartoon-run-style-unknown", "cartoon run {file} --style Ghibli --out {tmp}/o", 2, "Ghibli"),
    ("cartoon-run-ext-unknown", "cartoon run {file} --ext gif --out {tmp}/o", 2, "--ext"),
    ("cartoon-run-batch-zero", "cartoon run {file} --batch 0 --out {tmp}/o", 2, "--batch"),
    ("cartoon-run-momentum-high", "cartoon run {file} --momentum 2 --out {tmp}/o", 2, "--momentum"),
    ("cartoon-run-load-size-negative", "cartoon run {file} --load-size -1 --out {tmp}/o", 2, "--load-size"),
    ("cartoon-run-empty-folder", "cartoon run {emptydir} --out {tmp}/o", 2, "no images or videos"),
    ("cartoon-run-weights-missing", "cartoon run {file} --style Hayao --weights {missing} --out {tmp}/o", 2,
     "does-not-exist"),
    ("cartoon-run-weights-binary", "cartoon run {file} --style Hayao --weights {bin_pth} --out {tmp}/o", 2,
     "bin.pth"),
    ("cartoon-export-ext", "cartoon export {tmp}/g.tflite --fixture-weights", 2, ".onnx or .pte"),
    ("cartoon-export-size-malformed", "cartoon export {tmp}/g.onnx --fixture-weights --size big", 2, "--size"),
    ("cartoon-export-int8-onnx", "cartoon export {tmp}/g.onnx --fixture-weights --int8", 2, "--int8"),
    ("cartoon-export-weights-missing", "cartoon export {tmp}/g.onnx --weights {missing}", 2, "does-not-exist"),
    # --- serve (argument checks only) and stream ---------------------------------------------------------
    ("serve-port-high", "serve --port 70000", 2, "--port"),
    ("serve-port-negative", "serve --port -1", 2, "--port"),
    ("serve-ckpt-missing", "serve --checkpoint {missing}", 2, "does-not-exist"),
    ("serve-ckpt-truncated", "serve --checkpoint {trunc}", 2, ""),
    ("serve-ckpt-dir", "serve --checkpoint {dir}", 2, "adir"),
    ("serve-cartoon-weights-missing", "serve --cartoon-weights {missing}", 2, "does-not-exist"),
    ("serve-upload-zero", "serve --max-upload-mb 0", 2, "--max-upload-mb"),
    ("serve-workers-zero", "serve --workers 0", 2, "--workers"),
    ("serve-log-level-unknown", "serve --log-level loud", 2, "--log-level"),
    ("serve-work-dir-is-file", "serve --work-dir {file}", 2, "file.txt"),
    ("stream-source-missing", "stream {missing_mp4} -c {ck} --quiet", 2, "does-not-exist.mp4"),
    ("stream-source-binary", "stream {bin_mp4} -c {ck} --quiet", 2, "bin.mp4"),
    ("stream-source-dir", "stream {dir} -c {ck} --quiet", 2, "adir"),
    ("stream-smooth-zero", "stream {clip} -c {ck} --smooth 0", 2, "--smooth"),
    ("stream-stride-zero", "stream {clip} -c {ck} --stride 0", 2, "--stride"),
    ("stream-no-model", "stream {clip}", 2, "--checkpoint"),
    ("stream-ckpt-truncated", "stream {clip} -c {trunc} --quiet", 2, ""),
    # --- demo ---------------------------------------------------------------------------------------------------
    ("demo-minutes-zero", "demo --out {tmp}/demo --minutes 0", 2, "--minutes"),
    ("demo-minutes-negative", "demo --out {tmp}/demo --minutes -1", 2, "--minutes"),
    ("demo-minutes-word", "demo --out {tmp}/demo --minutes soon", 2, "--minutes"),
    ("demo-epochs-zero", "demo --out {tmp}/demo --epochs 0", 2, "--epochs"),
    ("demo-out-is-file", "demo --out {file} --quiet", 2, "file.txt"),
]


@pytest.fixture(scope="module")
def env(tmp_path_factory, tiny_synth):
    clip = sorted((tiny_synth).rglob("*.mp4"))[0]
    return make_env(tmp_path_factory.mktemp("bad_input"), clip)


@pytest.fixture
def no_server(monkeypatch):
    """A case that got past the checks would start a server: fail instead of serving."""
    try:
        import uvicorn
    except ImportError:
        return

    def refuse(*a, **k):
        raise AssertionError("uvicorn.run was reached: the bad input was not refused")

    monkeypatch.setattr(uvicorn, "run", refuse)


def assert_one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    assert not BOX_CHARS & set(err), err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("vidlab: error: "), err
    return lines[0]


def test_the_table_is_large_and_unique():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 66


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case, env, capsys, monkeypatch, no_server, tmp_path):
    name, cmd, status, text = case
    monkeypatch.chdir(tmp_path)  # no vidlab_demo/ checkpoint here for `stream`/`serve` to fall back on
    monkeypatch.delenv("VIDLAB_DEBUG", raising=False)
    argv = [tok.format(**env) for tok in shlex.split(cmd)]
    code, out, err = run_cli(argv, capsys)
    line = assert_one_error_line(err)
    assert code == status, (code, err)
    assert text in line, line
