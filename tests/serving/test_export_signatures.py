"""The exported SavedModels as their users see them: a TensorFlow-only process, saved_model_cli,
the READMEs' server commands, REST and gRPC requests against TensorFlow Serving stand-ins that
read the export's ``models.config`` (versions, status, metadata, error bodies), and bad input."""

import base64
import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from tfbvae.model.beta_vae import BetaVAE
from tfbvae.model.networks import build_networks
from tfbvae.serving.export import export_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(REPO, "exported_models", "README.md")
MAIN_README = os.path.join(REPO, "README.md")
MODEL_NAME = "dsprites_pretrained"  # the README's examples address this model: 64x64x1, z = 10
IMAGE_SHAPE, LATENT_DIM = (64, 64, 1), 10
TOLERANCE = dict(atol=1e-5, rtol=1e-5)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Two exports of untrained models in ``<tmp>/exported_models`` (the READMEs' directory
    name), shared by the tests of this file: version 1 of another model (seed 1), then version 2
    of ``model`` (seed 0), which a server with the default ``latest`` policy serves."""
    base = tmp_path_factory.mktemp("serving") / "exported_models"
    older = BetaVAE(*build_networks("burgess", IMAGE_SHAPE, LATENT_DIM), seed=1)
    assert export_model(older, str(base), MODEL_NAME, {"step": 0})["version"] == 1
    model = BetaVAE(*build_networks("burgess", IMAGE_SHAPE, LATENT_DIM), seed=0)
    written = export_model(model, str(base), MODEL_NAME, {"step": 1})
    assert written["version"] == 2
    loaded = {part: tf.saved_model.load(written[part]) for part in ("encoder", "decoder")}
    return model, written, loaded


def square_images(n: int) -> np.ndarray:
    """uint8 dSprites-like images: white squares of different sizes and places."""
    images = np.zeros((n,) + IMAGE_SHAPE, np.uint8)
    for i in range(n):
        top, left, side = 8 + 9 * i, 40 - 7 * i, 10 + 4 * i
        images[i, top : top + side, left : left + side] = 255
    return images


def png(array: np.ndarray, mode: str = "L", fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array.squeeze(-1)).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


def code_blocks(language: str, readme: str = README) -> list[str]:
    with open(readme) as f:
        return re.findall(rf"```{language}\n(.*?)```", f.read(), re.DOTALL)


# -- a fresh process with TensorFlow alone ---------------------------------------------------

TF_ONLY_SCRIPT = r"""
import sys
sys.modules["keras"] = None  # Keras cannot be imported: the SavedModels must not need it
import numpy as np
import tensorflow as tf

encoder_dir, decoder_dir, inputs_path, outputs_path, *png_paths = sys.argv[1:]
encoder, decoder = tf.saved_model.load(encoder_dir), tf.saved_model.load(decoder_dir)
data = np.load(inputs_path)
calls = {
    "encoder.serving_default": (encoder, {"images": data["images"]}),
    "encoder.encode_image_bytes": (
        encoder, {"image_bytes": tf.stack([tf.io.read_file(p) for p in png_paths])}),
    "decoder.serving_default": (decoder, {"z": data["z"]}),
    "decoder.reconstruct": (decoder, {"images": data["images"]}),
}
out = {}
for key, (model, kwargs) in calls.items():
    model_name, signature = key.split(".")
    for name, value in model.signatures[signature](**kwargs).items():
        out[f"{key}.{name}"] = value.numpy()
# Again through the session-based loader, as TensorFlow Serving (C++) loads a SavedModel:
# restore by the saver in the MetaGraph, feed and fetch the SignatureDef's tensor names.
for key, (_, kwargs) in calls.items():
    model_name, signature = key.split(".")
    with tf.Graph().as_default(), tf.compat.v1.Session() as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, ["serve"], encoder_dir if model_name == "encoder" else decoder_dir)
        signature_def = meta_graph.signature_def[signature]
        feed = {signature_def.inputs[k].name: np.asarray(v) for k, v in kwargs.items()}
        fetch = {k: v.name for k, v in signature_def.outputs.items()}
        for name, value in session.run(fetch, feed).items():
            out[f"session.{key}.{name}"] = value
assert sys.modules.get("keras") is None and not any(m.startswith("keras.") for m in sys.modules)
assert not any(m == "tfbvae" or m.startswith("tfbvae.") for m in sys.modules), "tfbvae imported"
np.savez(outputs_path, **out)
"""


def test_every_signature_in_a_tensorflow_only_process_equals_the_model(exported, tmp_path):
    model, written, _ = exported
    images_u8 = square_images(3)
    images = images_u8.astype(np.float32) / 255.0
    z = np.random.default_rng(1).normal(size=(4, LATENT_DIM)).astype(np.float32)
    np.savez(tmp_path / "inputs.npz", images=images, z=z)
    # Three 64x64 PNGs, then image 0 at 2x (pixels repeated) in a 128x192 frame: the centred
    # 128x128 square, area-resized, is image 0 again.
    big = np.zeros((128, 192, 1), np.uint8)
    big[:, 32:160] = images_u8[0].repeat(2, axis=0).repeat(2, axis=1)
    png_paths = []
    for i, array in enumerate(list(images_u8) + [big]):
        png_paths.append(str(tmp_path / f"{i}.png"))
        with open(png_paths[-1], "wb") as f:
            f.write(png(array))

    subprocess.run(
        [sys.executable, "-c", TF_ONLY_SCRIPT, written["encoder"], written["decoder"],
         str(tmp_path / "inputs.npz"), str(tmp_path / "outputs.npz"), *png_paths],
        check=True, cwd=tmp_path, capture_output=True,
    )
    got = dict(np.load(tmp_path / "outputs.npz"))

    mean, log_var = (np.asarray(t) for t in model.encode(images))
    bytes_mean, bytes_log_var = (np.asarray(t) for t in model.encode(np.concatenate([images_u8, images_u8[:1]])))
    rec_logits = np.asarray(model.decode(mean))
    expected = {
        "encoder.serving_default.mean": mean,
        "encoder.serving_default.log_var": log_var,
        "encoder.serving_default.stddev": np.exp(0.5 * log_var),
        "encoder.encode_image_bytes.mean": bytes_mean,
        "encoder.encode_image_bytes.log_var": bytes_log_var,
        "encoder.encode_image_bytes.stddev": np.exp(0.5 * bytes_log_var),
        "decoder.serving_default.images": np.asarray(model.decode_images(z)),
        "decoder.serving_default.logits": np.asarray(model.decode(z)),
        "decoder.reconstruct.reconstructions": 1.0 / (1.0 + np.exp(-rec_logits)),
        "decoder.reconstruct.logits": rec_logits,
        "decoder.reconstruct.mean": mean,
        "decoder.reconstruct.log_var": log_var,
    }
    expected.update({f"session.{key}": value for key, value in expected.items()})
    assert sorted(got) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, **TOLERANCE, err_msg=key)
    # The inputs differ, and so do their codes: the comparison above is not of constants.
    assert np.ptp(mean, axis=0).max() > 1e-3


# -- saved_model_cli ---------------------------------------------------------------------------


def documented_signatures() -> dict:
    """``{(part, signature): {"inputs": {name: (dtype, shape)}, "outputs": {...}}}`` read from
    the README's signature table."""
    with open(README) as f:
        rows = re.findall(r"^\| (encoder|decoder) \| `(\w+)` \| (.*?) \| (.*?) \|$", f.read(), re.M)
    tensors = re.compile(r"((?:`\w+`(?:, )?)+):? (float32|string) `\[([-\d, ]+)\]`")

    def parse(cell: str) -> dict:
        found = {}
        for names, dtype, shape in tensors.findall(cell):
            for name in re.findall(r"`(\w+)`", names):
                found[name] = ("DT_FLOAT" if dtype == "float32" else "DT_STRING",
                               tuple(int(d) for d in shape.split(",")))
        return found

    return {(part, sig): {"inputs": parse(i), "outputs": parse(o)} for part, sig, i, o in rows}


def saved_model_cli_signatures(text: str) -> dict:
    """``{signature: {"inputs": {name: (dtype, shape)}, "outputs": {...}}}`` from
    ``saved_model_cli show --all``."""
    found, signature, section, tensor = {}, None, None, None
    for line in text.splitlines():
        if m := re.match(r"signature_def\['(\w+)'\]:", line):
            signature = None if m.group(1).startswith("__") else m.group(1)
            if signature:
                found[signature] = {"inputs": {}, "outputs": {}}
        elif signature and (m := re.match(r"\s+(inputs|outputs)\['(\w+)'\] tensor_info:", line)):
            section, tensor = m.groups()
        elif signature and (m := re.match(r"\s+dtype: (\w+)", line)):
            found[signature][section][tensor] = (m.group(1), None)
        elif signature and (m := re.match(r"\s+shape: \(([-\d, ]*)\)", line)):
            dims = tuple(int(d) for d in m.group(1).split(",") if d.strip())
            found[signature][section][tensor] = (found[signature][section][tensor][0], dims)
    return found


def cli_env() -> dict:
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    return env


def test_saved_model_cli_lists_the_documented_signatures(exported):
    _, written, _ = exported
    documented = documented_signatures()
    assert len(documented) == 4, "the README's signature table lost a row"
    shows = {  # both at once: each loads TensorFlow for seconds
        part: subprocess.Popen(["saved_model_cli", "show", "--all", "--dir", written[part]],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env=cli_env())
        for part in ("encoder", "decoder")
    }
    for part, process in shows.items():
        shown, _ = process.communicate()
        assert process.returncode == 0, shown
        listed = saved_model_cli_signatures(shown)
        expected = {sig: io_ for (p, sig), io_ in documented.items() if p == part}
        assert listed == expected


def test_saved_model_cli_run_as_the_readme_shows(exported, tmp_path):
    model, written, _ = exported
    (command,) = [c for c in code_blocks("bash") if "saved_model_cli run" in c]
    command = command[command.index("saved_model_cli run") :].replace(
        f"exported_models/{MODEL_NAME}/decoder/1", written["decoder"]
    ).replace("/tmp/decoded", str(tmp_path / "decoded"))
    subprocess.run(["bash", "-c", command], check=True, capture_output=True, env=cli_env())
    z = np.zeros((1, LATENT_DIM), np.float32)
    np.testing.assert_allclose(np.load(tmp_path / "decoded" / "images.npy"), model.decode_images(z), **TOLERANCE)
    np.testing.assert_allclose(np.load(tmp_path / "decoded" / "logits.npy"), model.decode(z), **TOLERANCE)


# -- the README's requests ---------------------------------------------------------------------

CURL = re.compile(r"curl -s -X POST http://localhost:8501/v1/models/(\w+):predict \\\n\s+-d '(.*?)'", re.S)


def expected_outputs(model, served_name: str, signature: str, inputs: dict) -> dict:
    """What the in-memory model gives for a request's inputs (numpy)."""
    if signature == "encode_image_bytes":
        images = np.stack([np.asarray(Image.open(io.BytesIO(b)).convert("L"))[..., None]
                           for b in inputs["image_bytes"]])
        inputs = {"images": images}
    if served_name.endswith("_encoder"):
        mean, log_var = (np.asarray(t) for t in model.encode(inputs["images"]))
        return {"mean": mean, "log_var": log_var, "stddev": np.exp(0.5 * log_var)}
    if signature == "serving_default":
        z = np.asarray(inputs["z"], np.float32)
        return {"images": np.asarray(model.decode_images(z)), "logits": np.asarray(model.decode(z))}
    mean, log_var = (np.asarray(t) for t in model.encode(inputs["images"]))
    return {"reconstructions": np.asarray(model.decode_images(mean)),
            "logits": np.asarray(model.decode(mean)), "mean": mean, "log_var": log_var}


def columns(reply: dict) -> dict:
    """A REST reply's outputs as ``{name: array}``, whichever form it has."""
    if "predictions" in reply:
        return {k: np.array([p[k] for p in reply["predictions"]]) for k in reply["predictions"][0]}
    return {k: np.array(v) for k, v in reply["outputs"].items()}


def test_readme_rest_bodies_run_through_the_signatures(exported, tf_serving):
    model, _, loaded = exported
    bodies = CURL.findall(open(README).read())
    forms = {("instances" in json.loads(b), json.loads(b).get("signature_name", "serving_default"))
             for _, b in bodies}
    assert forms == {(True, "serving_default"), (False, "serving_default"),
                     (True, "encode_image_bytes"), (False, "encode_image_bytes")}
    for served_name, text in bodies:
        body = json.loads(text)
        part = served_name.rsplit("_", 1)[1]
        assert served_name == f"{MODEL_NAME}_{part}"
        signature = body.get("signature_name", "serving_default")
        reply = tf_serving.rest_predict(body, loaded[part])
        assert ("predictions" in reply) == ("instances" in body)
        raw = body["instances"] if "instances" in body else list(body["inputs"].values())[0]
        name = next(iter(loaded[part].signatures[signature].structured_input_signature[1]))
        if signature == "encode_image_bytes":
            raw = [base64.b64decode(v["b64"]) for v in raw]
        expected = expected_outputs(model, served_name, signature, {name: raw})
        got = columns(reply)
        assert sorted(got) == sorted(expected)
        for key in expected:
            np.testing.assert_allclose(got[key], expected[key], **TOLERANCE, err_msg=f"{text[:60]} {key}")


@pytest.fixture(scope="module")
def served(exported, tf_serving):
    """The stand-ins started as the export's ``models.config`` says (the server's default
    ``latest`` policy: version 2 of each part): ``(ModelServer, RestServer, grpc address)``."""
    _, written, _ = exported
    server = tf_serving.ModelServer.from_flags([f"--model_config_file={written['models_config']}"])
    assert {name: sorted(m.versions) for name, m in server.models.items()} == {
        f"{MODEL_NAME}_encoder": [2], f"{MODEL_NAME}_decoder": [2]}
    rest = tf_serving.RestServer(server)
    grpc_server, grpc_address = tf_serving.start_grpc_server(server)
    yield server, rest, grpc_address
    rest.stop()
    grpc_server.stop(0)


@pytest.fixture(scope="module")
def rest_server(served):
    return served[1]


def http(address: str, path: str, body: str | None = None) -> tuple[int, dict]:
    """``(HTTP status, JSON body)`` of a GET (no ``body``) or POST to the REST stand-in."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://{address}{path}",
                                     data=None if body is None else body.encode())
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def run_bash(script: str, cwd, **kwargs) -> subprocess.CompletedProcess:
    """``script`` in bash; a failure shows its stderr."""
    result = subprocess.run(["bash", "-c", script], cwd=cwd, capture_output=True, text=True,
                            env=cli_env(), **kwargs)
    assert result.returncode == 0, f"{script}\n--- stderr:\n{result.stderr}"
    return result


needs_curl = pytest.mark.skipif(  # CI (.ci/run) installs curl: there a missing curl fails
    shutil.which("curl") is None and not os.environ.get("CI"), reason="curl is not installed")


@needs_curl
def test_readme_curl_commands_against_a_rest_stand_in(exported, rest_server, tmp_path):
    model, _, _ = exported
    (block,) = [c for c in code_blocks("bash") if "encode_image_bytes" in c]
    (decode_block,) = [c for c in code_blocks("bash") if "dsprites_pretrained_decoder:predict" in c]
    my_image = square_images(2)[1]
    (tmp_path / "my_image.png").write_bytes(png(my_image))
    commands = re.split(r"\n(?=curl )", (decode_block + block).strip())
    assert len(commands) == 5
    for command in commands:
        command = command.replace("localhost:8501", rest_server.address)
        reply = json.loads(run_bash(command, tmp_path).stdout)
        got = columns(reply)
        assert set(got) in ({"mean", "log_var", "stddev"}, {"images", "logits"}), reply
    # The last command sends my_image.png.
    np.testing.assert_allclose(got["mean"], model.encode(my_image[None])[0], **TOLERANCE)


def test_readme_python_rest_example_against_a_rest_stand_in(exported, rest_server):
    model, _, _ = exported
    (example,) = [c for c in code_blocks("python") if "urllib" in c]
    namespace = {}
    exec(example.replace("localhost:8501", rest_server.address), namespace)
    np.testing.assert_allclose(namespace["mean"], model.encode(namespace["images"])[0], **TOLERANCE)


def test_readme_grpc_example_against_a_grpc_stand_in(exported, served):
    model, _, _ = exported
    (example,) = [c for c in code_blocks("python") if "grpc" in c]
    namespace = {}
    exec(example.replace("localhost:8500", served[2]), namespace)
    mean = np.asarray(model.encode(namespace["images"])[0])
    np.testing.assert_allclose(namespace["mean"], mean, **TOLERANCE)
    np.testing.assert_allclose(namespace["decoded"], model.decode_images(mean), **TOLERANCE)


# -- the main README's Serving section: its commands, run as written -------------------------

# The server commands' programs, as shell functions that record their arguments.
RECORDERS = """
tensorflow_model_server() { printf '%s\\n' "$@" > server.args; }
docker() { printf '%s\\n' "$@" > docker.args; }
"""


@needs_curl
def test_main_readme_serving_section_runs_against_the_stand_ins(exported, tmp_path, tf_serving):
    """README.md's Serving section as a user runs it from the directory that holds
    ``exported_models/``: its ``write_models_config`` command, the ``tensorflow_model_server``
    and Docker command lines (their flags start the stand-ins), both curl requests, the
    one-part serving flags and the gRPC example. Catches a README command that names the
    wrong file, model, flag or signature, and a config that serves the wrong version."""
    model, written, _ = exported
    config_path = written["models_config"]  # <workdir>/exported_models/models.config
    workdir = os.path.dirname(os.path.dirname(config_path))
    section = open(MAIN_README).read().split("## Serving", 1)[1].split("\n## ", 1)[0]
    (write_config,) = re.findall(r'`(python -c "from tfbvae\.serving\.models_config import .*?")`', section)
    os.remove(config_path)  # a fresh clone has none: the README's command writes it
    assert run_bash(write_config, workdir).stdout.strip() == config_path

    (block,) = [b for b in code_blocks("bash", MAIN_README) if "tensorflow_model_server" in b]
    servers, requests = block.split("\ncurl ", 1)
    run_bash(RECORDERS + servers, workdir)
    server_args = open(os.path.join(workdir, "server.args")).read().split()
    docker_args = open(os.path.join(workdir, "docker.args")).read().split()
    assert f"--model_config_file={config_path}" in server_args
    image = docker_args.index("tensorflow/serving")
    assert docker_args[image + 1:] == [a for a in server_args if not a.startswith(("--port", "--rest_api"))]
    base = os.path.dirname(config_path)
    assert docker_args[docker_args.index("-v") + 1] == f"{base}:{base}:ro"  # paths as in the config

    server = tf_serving.ModelServer.from_flags(server_args)
    rest = tf_serving.RestServer(server)
    grpc_server, grpc_address = tf_serving.start_grpc_server(server)
    try:
        my_image = square_images(3)[2]
        with open(os.path.join(workdir, "my_image.png"), "wb") as f:
            f.write(png(my_image))
        decoded, encoded = (json.loads(run_bash(("curl " + c).replace("localhost:8501", rest.address),
                                                workdir).stdout)
                            for c in requests.strip().split("\ncurl "))
        z = np.zeros((1, LATENT_DIM), np.float32)
        np.testing.assert_allclose(columns(decoded)["images"], model.decode_images(z), **TOLERANCE)
        np.testing.assert_allclose(columns(encoded)["mean"], model.encode(my_image[None])[0], **TOLERANCE)

        (example,) = [c for c in code_blocks("python", MAIN_README) if "grpc" in c]
        namespace = {}
        exec(example.replace("localhost:8500", grpc_address), namespace)
        zeros = np.zeros((1,) + IMAGE_SHAPE, np.float32)
        np.testing.assert_allclose(namespace["mean"], model.encode(zeros)[0], **TOLERANCE)
    finally:
        rest.stop()
        grpc_server.stop(0)

    # "or serve one part with --model_name=... --model_base_path=..."
    one_part = re.search(r"`(--model_name=\S+)\s+(--model_base_path=\"\$\(realpath \S+\)\")`", section)
    run_bash(RECORDERS + "tensorflow_model_server " + " ".join(one_part.groups()), workdir)
    part = tf_serving.ModelServer.from_flags(open(os.path.join(workdir, "server.args")).read().split())
    ((name, served_model),) = part.models.items()
    assert name == f"{MODEL_NAME}_encoder" and sorted(served_model.versions) == [2]


# -- the stand-ins behave as TensorFlow Serving does -----------------------------------------


def test_model_status_and_metadata_as_tensorflow_serving_answers(exported, served):
    """``GET /v1/models/<name>[/versions/N][/metadata]`` (tensorflow.org/tfx/serving/api_rest):
    the version served, and signatures equal to the README's table."""
    rest = served[1]
    encoder = f"/v1/models/{MODEL_NAME}_encoder"
    expected_status = {"model_version_status": [
        {"version": "2", "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]}
    assert http(rest.address, encoder) == (200, expected_status)
    assert http(rest.address, f"{encoder}/versions/2") == (200, expected_status)
    assert http(rest.address, f"{encoder}/versions/1") == (
        404, {"error": f"Could not find version 1 of model {MODEL_NAME}_encoder"})

    documented = documented_signatures()
    for part in ("encoder", "decoder"):
        status, reply = http(rest.address, f"/v1/models/{MODEL_NAME}_{part}/metadata")
        assert status == 200 and reply["model_spec"] == {
            "name": f"{MODEL_NAME}_{part}", "signature_name": "", "version": "2"}
        signatures = reply["metadata"]["signature_def"]["signature_def"]

        def described(tensors: dict) -> dict:
            return {name: (t["dtype"], tuple(int(d["size"]) for d in t["tensor_shape"]["dim"]))
                    for name, t in tensors.items()}

        listed = {sig: {"inputs": described(s["inputs"]), "outputs": described(s["outputs"])}
                  for sig, s in signatures.items() if not sig.startswith("__")}
        assert listed == {sig: io_ for (p, sig), io_ in documented.items() if p == part}
        assert {signatures[sig]["method_name"] for sig in listed} == {"tensorflow/serving/predict"}


def test_versions_in_the_rest_path_and_the_grpc_spec_pick_the_model(exported, tmp_path, tf_serving):
    """With ``model_version_policy { all {} }`` both versions are served: ``/versions/1``
    answers from version 1's weights, ``/versions/2`` and no version from version 2's; gRPC's
    ``model_spec.version`` likewise. Catches a stand-in (or a README path) that ignores the
    version and always answers from one model."""
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    import grpc

    model, written, _ = exported
    base_path = os.path.dirname(written["encoder"])
    config = tmp_path / "all_versions.config"
    config.write_text(f'model_config_list {{ config {{ name: "enc" base_path: "{base_path}" '
                      'model_platform: "tensorflow" model_version_policy { all {} } } }\n')
    server = tf_serving.ModelServer.from_flags([f"--model_config_file={config}"])
    assert sorted(server.models["enc"].versions) == [1, 2]
    older = tf.saved_model.load(os.path.join(base_path, "1"))
    images = square_images(2).astype(np.float32) / 255.0
    means = {1: older.signatures["serving_default"](images=tf.constant(images))["mean"].numpy(),
             2: np.asarray(model.encode(images)[0])}
    assert np.abs(means[1] - means[2]).max() > 1e-3  # the two versions answer differently
    body = json.dumps({"inputs": {"images": images.tolist()}})
    rest = tf_serving.RestServer(server)
    grpc_server, grpc_address = tf_serving.start_grpc_server(server)
    try:
        for path, version in [("/v1/models/enc/versions/1:predict", 1),
                              ("/v1/models/enc/versions/2:predict", 2), ("/v1/models/enc:predict", 2)]:
            status, reply = http(rest.address, path, body)
            assert status == 200, reply
            np.testing.assert_allclose(reply["outputs"]["mean"], means[version], **TOLERANCE, err_msg=path)
        assert http(rest.address, "/v1/models/enc/versions/3:predict", body) == (
            404, {"error": "Servable not found for request: Specific(enc, 3)"})
        assert [s["version"] for s in http(rest.address, "/v1/models/enc")[1]["model_version_status"]] == ["2", "1"]

        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(grpc_address))
        for version in (1, 2):
            request = predict_pb2.PredictRequest()
            request.model_spec.name = "enc"
            request.model_spec.version.value = version
            request.inputs["images"].CopyFrom(tf.make_tensor_proto(images))
            response = stub.Predict(request, timeout=60.0)
            assert response.model_spec.version.value == version
            np.testing.assert_allclose(tf.make_ndarray(response.outputs["mean"]), means[version], **TOLERANCE)
        request.model_spec.name = "missing"
        with pytest.raises(grpc.RpcError) as error:
            stub.Predict(request, timeout=60.0)
        assert error.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        rest.stop()
        grpc_server.stop(0)


def test_every_rest_failure_is_tensorflow_servings_error_body(served):
    """Each failure answers ``{"error": message}`` with TensorFlow Serving's HTTP status for its
    error code (NOT_FOUND 404, INVALID_ARGUMENT 400): unknown model or version, malformed path,
    bad JSON, a body without inputs, an unknown signature, and input the signature refuses."""
    rest = served[1]
    decoder = f"/v1/models/{MODEL_NAME}_decoder"
    zeros = json.dumps({"instances": [[0.0] * LATENT_DIM]})
    cases = [
        ("/v1/models/nope:predict", zeros, 404, "Servable not found for request: Latest(nope)"),
        (f"{decoder}/versions/7:predict", zeros, 404,
         f"Servable not found for request: Specific({MODEL_NAME}_decoder, 7)"),
        ("/v1/models/nope", None, 404, "Could not find any versions of model nope"),
        ("/v1/models/nope/metadata", None, 404, "Servable not found for request: Latest(nope)"),
        (f"{decoder}:explain", zeros, 400, f"Malformed request: POST {decoder}:explain"),
        (f"{decoder}:predict", "{not json", 400, "JSON Parse error"),
        (f"{decoder}:predict", json.dumps({"signature_name": "serving_default"}), 400,
         "Missing 'inputs' or 'instances' key"),
        (f"{decoder}:predict", json.dumps({"signature_name": "nope", "instances": [[0.0] * 10]}),
         400, 'Serving signature name: "nope" not found in signature def'),
        (f"{decoder}:predict", json.dumps({"instances": [[0.0] * 3]}), 400,
         "z must be a float32 batch shaped [batch, 10]; got shape [1,3]"),
    ]
    for path, body, status, message in cases:
        got_status, reply = http(rest.address, path, body)
        assert got_status == status and list(reply) == ["error"], (path, got_status, reply)
        assert message in reply["error"], (path, reply)


def test_readme_load_without_a_server(exported):
    model, written, _ = exported
    (example,) = [c for c in code_blocks("python") if "tf.saved_model.load" in c]
    namespace = {}
    exec(example.replace(f"exported_models/{MODEL_NAME}/encoder/1", written["encoder"])
         .replace("print(", "(lambda *a: None)("), namespace)
    zeros = np.zeros((1,) + IMAGE_SHAPE, np.float32)
    np.testing.assert_allclose(namespace["posterior"]["mean"], model.encode(zeros)[0], **TOLERANCE)


# -- bad input ---------------------------------------------------------------------------------

BAD_INPUTS = [
    ("encoder", "serving_default", {"images": tf.zeros([2, 64, 64])},
     "images must be a float32 batch shaped [batch, 64, 64, 1]; got shape [2,64,64]"),
    ("encoder", "serving_default", {"images": tf.zeros([2, 64, 64, 3])},
     "images must be a float32 batch shaped [batch, 64, 64, 1]; got shape [2,64,64,3]"),
    ("encoder", "serving_default", {"images": tf.zeros([2, 64, 64, 1], tf.float64)},
     "expected to be a float tensor but is a double tensor"),
    ("encoder", "serving_default", {"images": tf.fill([1, 64, 64, 1], 255.0)},
     "images must be in [0, 1] (divide 8-bit pixel values by 255)"),
    ("encoder", "serving_default", {"images": tf.fill([1, 64, 64, 1], np.nan)},
     "images must be in [0, 1] (divide 8-bit pixel values by 255) and not NaN"),
    ("encoder", "encode_image_bytes", {"image_bytes": tf.constant([b"not an image"])},
     "Unknown image file format"),
    ("encoder", "encode_image_bytes", {"image_bytes": tf.constant(b"x")},
     "image_bytes must be a 1-D batch of encoded image files (string [batch]); got shape []"),
    ("encoder", "encode_image_bytes", {"image_bytes": tf.zeros([2])},
     "expected to be a string tensor but is a float tensor"),
    ("decoder", "serving_default", {"z": tf.zeros([2, 3])},
     "z must be a float32 batch shaped [batch, 10]; got shape [2,3]"),
    ("decoder", "serving_default", {"z": tf.zeros([10])},
     "z must be a float32 batch shaped [batch, 10]; got shape [10]"),
    ("decoder", "serving_default", {"z": tf.fill([1, 10], np.inf)}, "z must be finite"),
    ("decoder", "reconstruct", {"images": tf.zeros([1, 32, 32, 1])},
     "images must be a float32 batch shaped [batch, 64, 64, 1]; got shape [1,32,32,1]"),
]


@pytest.mark.parametrize("part, signature, inputs, message", BAD_INPUTS,
                         ids=[f"{p}.{s}:{m[:32]}" for p, s, _, m in BAD_INPUTS])
def test_bad_input_errors_name_the_problem(exported, part, signature, inputs, message):
    _, _, loaded = exported
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        loaded[part].signatures[signature](**inputs)
    assert message in error.value.message


def test_empty_batches_give_empty_results(exported):
    _, _, loaded = exported
    calls = [
        ("encoder", "serving_default", {"images": tf.zeros([0, 64, 64, 1])}),
        ("encoder", "encode_image_bytes", {"image_bytes": tf.constant([], tf.string)}),
        ("decoder", "serving_default", {"z": tf.zeros([0, LATENT_DIM])}),
        ("decoder", "reconstruct", {"images": tf.zeros([0, 64, 64, 1])}),
    ]
    for part, signature, inputs in calls:
        outputs = loaded[part].signatures[signature](**inputs)
        assert outputs and all(v.shape[0] == 0 for v in outputs.values()), (part, signature)


def test_image_bytes_are_prepared_as_the_training_pipeline_prepares_files(exported):
    """Colour, alpha, odd sizes: the signature's codes are those of the training pipeline's
    pre-processing (Pillow) of the same file; JPEG within its decoders' difference."""
    from tfbvae.data.images import decode, preprocess

    model, _, loaded = exported
    rng = np.random.default_rng(2)
    rgba = (rng.random((90, 70, 4)) * 255).astype(np.uint8)
    rgb = np.zeros((218, 178, 3), np.uint8)
    rgb[60:150, 40:120] = (250, 200, 40)
    files = []
    for array, fmt in [(rgba, "PNG"), (rgb, "JPEG")]:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, fmt)
        files.append(buffer.getvalue())
    outputs = loaded["encoder"].signatures["encode_image_bytes"](image_bytes=tf.constant(files))
    prepared = np.stack([preprocess(decode(f, "file"), None, 64, 1) for f in files])
    mean = np.asarray(model.encode(prepared)[0])
    # PNG and JPEG alike: the same pixels as training (tfbvae.pixels; JPEG by the accurate IDCT).
    np.testing.assert_allclose(outputs["mean"], mean, **TOLERANCE)
