"""Shared test set-up: tfbvae is imported first so TensorFlow starts with its defaults; the
repository root, the image files the tests write themselves and the settings of tiny dSprites
runs through apps/train.py's flags, as fixtures."""

import os
import pathlib
import struct
import types
import zlib

import numpy as np
import pytest

import tfbvae  # noqa: F401  (sets TensorFlow's environment before TF is imported)

REPO = pathlib.Path(__file__).resolve().parents[1]
SHARED_DSPRITES = REPO.parent / "shared" / "data" / "dsprites"


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Each test starts with Keras' default global state (names, policies). Without the
    garbage collection ``clear_session`` runs by default: a full collection of TensorFlow's heap
    after every test made up a third of the suite's time; Python collects as usual anyway."""
    import keras

    yield
    keras.backend.clear_session(free_memory=False)
    keras.mixed_precision.set_global_policy("float32")


def pytest_report_header(config):
    return f"tfbvae {tfbvae.__version__}; shared dSprites: {SHARED_DSPRITES if SHARED_DSPRITES.exists() else 'absent'}; CI={os.environ.get('CI', '')}"


@pytest.fixture(scope="session")
def repo() -> pathlib.Path:
    """The repository root (apps/, the flagfiles, the READMEs)."""
    return REPO


# A tiny dSprites run through the real code path: 1024 rendered images (the first sprite's
# positions), batch 8, intervals of a few steps.
TINY = (
    "--dsprites_num_images=1024",
    "--batch_size=8",
    "--log_every=5",
    "--validate_every=10",
    "--image_every=10",
    "--checkpoint_every=10",
    "--validation_fraction=0.02",
    "--validation_steps=1",
    "--noexport",
    "--noprogress",
)


@pytest.fixture(scope="session")
def tiny_args() -> tuple[str, ...]:
    """apps/train.py flags of a tiny run: 1024 rendered dSprites, batch 8, intervals of a few
    steps, no export, no progress bar."""
    return TINY


@pytest.fixture(scope="session")
def tiny_train_args():
    """``tiny_train_args(run_dir, data_dir, *args, flagfile="dsprites.flags")``: apps/train.py's
    arguments for a tiny run of ``flagfile``'s setting in ``run_dir``, data cached in
    ``data_dir`` (``args`` last: they win)."""

    def tiny_train_args(run_dir, data_dir, *args: str, flagfile: str = "dsprites.flags") -> list[str]:
        return [f"--flagfile={REPO / flagfile}", *TINY, f"--run_dir={run_dir}", f"--data_dir={data_dir}",
                *args]

    return tiny_train_args


@pytest.fixture(scope="session")
def app_config():
    """``app_config(*args)``: the settings apps/train.py would train with for ``args`` (parsed
    on a fresh FlagValues and validated)."""
    from absl import flags

    from apps import train as train_app

    def app_config(*args: str):
        fv = flags.FlagValues()
        train_app.define_flags(fv)
        fv(["train.py", *args])
        return train_app.settings_from_flags(fv)

    return app_config


@pytest.fixture(scope="session")
def tiny_config(app_config, tiny_train_args):
    """``tiny_config(run_dir, data_dir, *args, flagfile="dsprites.flags")``: the settings of
    a tiny run (:func:`tiny_train_args`) as apps/train.py parses them."""

    def tiny_config(run_dir, data_dir, *args: str, flagfile: str = "dsprites.flags"):
        return app_config(*tiny_train_args(run_dir, data_dir, *args, flagfile=flagfile))

    return tiny_config


@pytest.fixture(scope="session")
def data_record():
    """``data_record(source)``: a run record's data part naming ``source`` (a tiny dSprites
    block), to write a run record with."""
    from tfbvae.training.run_record import DataRecord

    def data_record(source: str) -> DataRecord:
        return DataRecord(dataset="dsprites", source=source, location="test", image_shape=(64, 64, 1),
                          num_examples=1024, num_train=1004, num_validation=20, batch_size=8, seed=0,
                          split_seed=0)

    return data_record


@pytest.fixture(scope="session")
def write_events():
    """``write_events(path, wall_times)``: an event file as a summary writer leaves it (its
    version record, then one scalar event per wall time), for readers of training time."""
    import tensorflow as tf

    def write_events(path, wall_times) -> None:
        with tf.io.TFRecordWriter(str(path)) as writer:
            writer.write(tf.compat.v1.Event(wall_time=wall_times[0] - 1.0,
                                            file_version="brain.Event:2").SerializeToString())
            for step, wall_time in enumerate(wall_times):
                value = tf.compat.v1.Summary.Value(tag="loss", simple_value=1.0)
                writer.write(tf.compat.v1.Event(wall_time=wall_time, step=step,
                                                summary=tf.compat.v1.Summary(value=[value])).SerializeToString())

    return write_events


# -- image files written by the tests themselves, of the kinds Pillow cannot write or writes
# only one way: 16-bit PNGs of any colour type, CMYK JPEGs with or without Adobe's marker.

def _png(samples: np.ndarray, bit_depth: int, color_type: int) -> bytes:
    """A PNG file of ``samples`` (``[h, w]`` or ``[h, w, channels]``; colour type 0 grey, 2 RGB,
    4 grey+alpha, 6 RGBA), written here because Pillow cannot write 16-bit colour PNGs."""
    height, width = samples.shape[:2]
    rows = samples.astype(">u2" if bit_depth == 16 else "u1").reshape(height, -1)
    scanlines = b"".join(b"\0" + row.tobytes() for row in rows)  # filter type 0 per row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(scanlines))
            + chunk(b"IEND", b""))


def _cmyk_image(ink: np.ndarray):
    """A CMYK Pillow image of ink amounts ``[h, w, 4]`` (Pillow saves it as an Adobe JPEG)."""
    from PIL import Image

    return Image.frombytes("CMYK", (ink.shape[1], ink.shape[0]), ink.astype(np.uint8).tobytes())


def _without_adobe_marker(jpeg: bytes) -> bytes:
    """``jpeg`` with its APP14 "Adobe" segments removed: the CMYK samples are then read as
    stored, not inverted (how other tools write CMYK JPEGs)."""
    out, at = jpeg[:2], 2  # SOI
    while jpeg[at + 1] != 0xDA:  # up to the start of scan, segment by segment
        length = int.from_bytes(jpeg[at + 2 : at + 4], "big")
        segment = jpeg[at : at + 2 + length]
        if not (jpeg[at + 1] == 0xEE and segment[4:9] == b"Adobe"):
            out += segment
        at += 2 + length
    assert len(out) < at, "no Adobe marker to remove"
    return out + jpeg[at:]


@pytest.fixture(scope="session")
def image_files() -> types.SimpleNamespace:
    """Writers of image files Pillow cannot write (or writes only one way):
    ``png(samples, bit_depth, color_type)`` (16-bit PNGs of any colour type),
    ``cmyk_image(ink)`` (a CMYK Pillow image, saved as an Adobe JPEG) and
    ``without_adobe_marker(jpeg)`` (a CMYK JPEG as other tools write it)."""
    return types.SimpleNamespace(png=_png, cmyk_image=_cmyk_image, without_adobe_marker=_without_adobe_marker)
