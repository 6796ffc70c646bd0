"""Set-up of the serving tests: stand-ins for TensorFlow Serving's REST and gRPC APIs, to run
the README's requests (the ``tf_serving`` fixture).

No ``tensorflow_model_server`` binary can be installed here, so these play its part where a
user would notice a difference. They follow TensorFlow Serving's documented REST API
(tensorflow.org/tfx/serving/api_rest) and its source (``model_servers/http_rest_api_handler.cc``,
``http_rest_api_util.cc``, ``http_server.cc``, ``get_model_status_impl.cc``):

* the models come from the server's own flags: ``--model_config_file`` (the text-format
  ``ModelServerConfig`` an export writes, parsed with TensorFlow Serving's proto) or
  ``--model_name``/``--model_base_path``; each base path's numbered version directories are
  found and served by the config's version policy (default ``latest``: the highest number);
* REST: ``POST /v1/models/<name>[/versions/<N>]:predict`` (``instances``/``predictions`` rows
  and ``inputs``/``outputs`` columns, ``{"b64": ...}`` for strings), ``GET
  /v1/models/<name>[/versions/<N>]`` (model status: ``GetModelStatusResponse`` as JSON) and
  ``GET /v1/models/<name>[/versions/<N>]/metadata`` (``GetModelMetadataResponse``: the
  SavedModel's ``signature_def`` map);
* every failure answers ``{"error": "<message>"}`` with TensorFlow Serving's HTTP status for
  its error code (``ToHTTPStatusCode``: NOT_FOUND 404, INVALID_ARGUMENT and
  FAILED_PRECONDITION 400, INTERNAL 500, UNIMPLEMENTED 501), and its messages for a missing
  model or version and a malformed path;
* gRPC: ``PredictionService.Predict`` (tensor protos, ``model_spec.version`` honoured) with
  NOT_FOUND / INVALID_ARGUMENT as TensorFlow Serving answers.

Not imitated: ``/labels/``, classify/regress, config polling, batching. They listen on
127.0.0.1 only and are stopped by the tests that start them.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import threading
import types
from dataclasses import dataclass, field

import numpy as np
import pytest
import tensorflow as tf

# TensorFlow Serving's path patterns (http_rest_api_util.cc), less the /labels/ alternative.
_PREDICT_PATH = re.compile(r"(?i)/v1/models/([^/:]+)(?:/versions/(\d+))?:(classify|regress|predict)")
_STATUS_PATH = re.compile(r"(?i)/v1/models(?:/([^/:]+))?(?:/versions/(\d+))?(?:/(metadata))?")

# TensorFlow Serving's error code -> HTTP status (http_server.cc, ToHTTPStatusCode).
HTTP_STATUS = {"INVALID_ARGUMENT": 400, "FAILED_PRECONDITION": 400, "OUT_OF_RANGE": 400,
               "NOT_FOUND": 404, "UNIMPLEMENTED": 501, "INTERNAL": 500, "UNKNOWN": 500}


class ServingError(Exception):
    """A failure with TensorFlow Serving's error code (``"NOT_FOUND"``, ...) and message."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


@dataclass
class ServedModel:
    """One ``config`` entry: its name, base path and the loaded versions it serves."""

    name: str
    base_path: str
    versions: dict = field(default_factory=dict)  # version number -> loaded SavedModel

    def resolve(self, version: int | None):
        """``(version, loaded)`` for a request: the given version, else the highest served."""
        if version is None:
            version = max(self.versions)
        elif version not in self.versions:
            raise ServingError("NOT_FOUND",
                               f"Servable not found for request: Specific({self.name}, {version})")
        return version, self.versions[version]


def version_dirs(base_path: str) -> list[int]:
    """The numbered SavedModel versions under ``base_path`` (other names are ignored, as
    TensorFlow Serving ignores the ``.tmp-export-*`` directories an export renames from)."""
    return sorted(int(name) for name in os.listdir(base_path)
                  if name.isdigit() and os.path.isfile(os.path.join(base_path, name, "saved_model.pb")))


def _chosen_versions(config, available: list[int]) -> list[int]:
    """The versions a ``ModelConfig``'s ``model_version_policy`` serves (default: latest 1)."""
    policy = config.model_version_policy
    kind = policy.WhichOneof("policy_choice")
    if kind == "all":
        return available
    if kind == "specific":
        return [v for v in available if v in set(policy.specific.versions)]
    count = policy.latest.num_versions if kind == "latest" and policy.latest.num_versions else 1
    return available[-count:]


class ModelServer:
    """What ``tensorflow_model_server`` loads: the models of its flags, each at its versions."""

    def __init__(self, models: dict[str, ServedModel]):
        self.models = models

    @classmethod
    def from_flags(cls, argv: list[str]) -> "ModelServer":
        """The models a ``tensorflow_model_server`` command line serves: ``--model_config_file``
        (a ``ModelServerConfig`` text proto) or ``--model_name`` with ``--model_base_path``.
        Port and polling flags are accepted and ignored (the stand-ins pick free ports)."""
        from google.protobuf import text_format
        from tensorflow_serving.config import model_server_config_pb2

        flags = dict(arg[2:].split("=", 1) for arg in argv if arg.startswith("--") and "=" in arg)
        config = model_server_config_pb2.ModelServerConfig()
        if "model_config_file" in flags:
            with open(flags["model_config_file"]) as f:
                text_format.Parse(f.read(), config)
        else:
            entry = config.model_config_list.config.add()
            entry.name = flags.get("model_name", "default")
            entry.base_path = flags["model_base_path"]
        models = {}
        for entry in config.model_config_list.config:
            if not os.path.isabs(entry.base_path):
                raise ValueError(f"base_path {entry.base_path!r} of {entry.name} is not absolute")
            chosen = _chosen_versions(entry, version_dirs(entry.base_path))
            if not chosen:
                raise ValueError(f"no version of {entry.name} under {entry.base_path}")
            models[entry.name] = ServedModel(entry.name, entry.base_path, {
                v: tf.saved_model.load(os.path.join(entry.base_path, str(v))) for v in chosen})
        return cls(models)

    def model(self, name: str, version: int | None) -> tuple[int, object]:
        """``(version, loaded)`` for a request, or TensorFlow Serving's NOT_FOUND."""
        if name not in self.models:
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            raise ServingError("NOT_FOUND", f"Servable not found for request: {spec}")
        return self.models[name].resolve(version)

    # -- REST ------------------------------------------------------------------------------

    def status(self, name: str, version: int | None) -> dict:
        """``GetModelStatusResponse`` as TensorFlow Serving prints it (int64 as strings)."""
        if name not in self.models:
            message = (f"Could not find version {version} of model {name}" if version is not None
                       else f"Could not find any versions of model {name}")
            raise ServingError("NOT_FOUND", message)
        served = self.models[name].versions
        if version is not None and version not in served:
            raise ServingError("NOT_FOUND", f"Could not find version {version} of model {name}")
        return {"model_version_status": [
            {"version": str(v), "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}
            for v in sorted(served, reverse=True) if version is None or v == version]}

    def metadata(self, name: str, version: int | None) -> dict:
        """``GetModelMetadataResponse`` as JSON: the model spec and the SavedModel's
        ``signature_def`` map (read from its ``saved_model.pb``, as the server loads it)."""
        from google.protobuf import json_format
        from tensorflow.core.protobuf import saved_model_pb2
        from tensorflow_serving.apis import get_model_metadata_pb2

        version, _ = self.model(name, version)
        saved_model = saved_model_pb2.SavedModel()
        with open(os.path.join(self.models[name].base_path, str(version), "saved_model.pb"), "rb") as f:
            saved_model.ParseFromString(f.read())
        signatures = get_model_metadata_pb2.SignatureDefMap()
        for key, signature in saved_model.meta_graphs[0].signature_def.items():
            signatures.signature_def[key].CopyFrom(signature)
        to_json = dict(preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
        return {"model_spec": {"name": name, "signature_name": "", "version": str(version)},
                "metadata": {"signature_def": json_format.MessageToDict(signatures, **to_json)}}

    def predict(self, name: str, version: int | None, body: dict) -> dict:
        """TensorFlow Serving's REST answer to a predict ``body``."""
        _, loaded = self.model(name, version)
        if not isinstance(body, dict):  # TensorFlow Serving's messages (util/json_tensor.cc)
            raise ServingError("INVALID_ARGUMENT", "JSON Value not an object")
        if "instances" in body and "inputs" in body:
            raise ServingError("INVALID_ARGUMENT", "Not formatted correctly expecting only one "
                                                   "of 'inputs' or 'instances' keys exclusively")
        if "instances" not in body and "inputs" not in body:
            raise ServingError("INVALID_ARGUMENT", "Missing 'inputs' or 'instances' key")
        signature_name = body.get("signature_name", "serving_default")
        if signature_name not in loaded.signatures:
            raise ServingError("INVALID_ARGUMENT", f'Serving signature name: "{signature_name}" '
                                                   "not found in signature def")
        return rest_predict(body, loaded)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict]:
        """``(HTTP status, JSON reply)`` for one REST request, errors as ``{"error": ...}``."""
        try:
            if method == "POST" and (match := _PREDICT_PATH.fullmatch(path)):
                name, version, verb = match.groups()
                if verb != "predict":
                    raise ServingError("UNIMPLEMENTED", f"{verb} is not served by the stand-in")
                try:
                    request = json.loads(body)
                except ValueError as err:
                    raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: {err}") from None
                return 200, self.predict(name, _number(version), request)
            if method == "GET" and (match := _STATUS_PATH.fullmatch(path)):
                name, version, metadata = match.groups()
                if not name:
                    raise ServingError("INVALID_ARGUMENT", "Missing model name in request.")
                answer = self.metadata if metadata else self.status
                return 200, answer(name, _number(version))
            raise ServingError("INVALID_ARGUMENT", f"Malformed request: {method} {path}")
        except ServingError as err:
            return HTTP_STATUS[err.code], {"error": err.message}
        except (tf.errors.InvalidArgumentError, ValueError, KeyError, TypeError) as err:
            message = err.message if isinstance(err, tf.errors.OpError) else str(err)
            return 400, {"error": message}
        except Exception as err:  # noqa: BLE001  (the server answers; the test reads the body)
            return 500, {"error": f"{type(err).__name__}: {err}"}


def _number(version: str | None) -> int | None:
    return None if version is None else int(version)


def _decode_b64(value):
    """Replaces every ``{"b64": s}`` in a JSON value by the bytes it encodes."""
    if isinstance(value, dict) and set(value) == {"b64"}:
        return base64.b64decode(value["b64"])
    if isinstance(value, list):
        return [_decode_b64(v) for v in value]
    return value


def _tensor(value, spec: tf.TensorSpec) -> tf.Tensor:
    value = _decode_b64(value)
    if spec.dtype == tf.string:
        return tf.constant(np.array(value, dtype=object), tf.string)
    return tf.constant(np.array(value, dtype=spec.dtype.as_numpy_dtype))


def _is_named(value, names) -> bool:
    return isinstance(value, dict) and set(value) != {"b64"} and set(value) <= set(names)


def rest_inputs(body: dict, signature) -> dict:
    """The signature's keyword tensors from a TensorFlow Serving REST predict body."""
    specs = signature.structured_input_signature[1]
    if "instances" in body:
        rows = body["instances"]
        if rows and all(_is_named(r, specs) for r in rows):
            return {name: _tensor([r[name] for r in rows], specs[name]) for name in specs}
        (name,) = specs  # bare values: only for a single-input signature
        return {name: _tensor(rows, specs[name])}
    columns = body["inputs"]
    if _is_named(columns, specs):
        return {name: _tensor(columns[name], specs[name]) for name in specs}
    (name,) = specs
    return {name: _tensor(columns, specs[name])}


def rest_predict(body: dict, loaded) -> dict:
    """TensorFlow Serving's REST answer to ``body`` from a loaded SavedModel."""
    signature = loaded.signatures[body.get("signature_name", "serving_default")]
    outputs = {k: v.numpy().tolist() for k, v in signature(**rest_inputs(body, signature)).items()}
    if "instances" in body:
        rows = len(next(iter(outputs.values())))
        if len(outputs) == 1:
            return {"predictions": next(iter(outputs.values()))}
        return {"predictions": [{k: v[i] for k, v in outputs.items()} for i in range(rows)]}
    return {"outputs": next(iter(outputs.values())) if len(outputs) == 1 else outputs}


class RestServer:
    """TensorFlow Serving's REST API on 127.0.0.1 (a free port), answering for ``server``."""

    def __init__(self, server: ModelServer):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._reply(*server.handle("POST", self.path, body))

            def do_GET(self):
                self._reply(*server.handle("GET", self.path, b""))

            def _reply(self, status: int, payload: dict):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def start_grpc_server(server: ModelServer):
    """A ``PredictionService`` on 127.0.0.1 answering for ``server``; returns
    ``(grpc_server, "127.0.0.1:<port>")``. Needs ``tensorflow-serving-api``."""
    from concurrent import futures

    import grpc
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    class PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
        def Predict(self, request, context):
            spec = request.model_spec
            try:
                version, loaded = server.model(
                    spec.name, spec.version.value if spec.HasField("version") else None)
            except ServingError as err:
                context.abort(grpc.StatusCode.NOT_FOUND, err.message)
            signature_name = spec.signature_name or "serving_default"
            if signature_name not in loaded.signatures:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f'Serving signature name: '
                              f'"{signature_name}" not found in signature def')
            inputs = {k: tf.constant(tf.make_ndarray(v)) for k, v in request.inputs.items()}
            try:
                outputs = loaded.signatures[signature_name](**inputs)
            except (tf.errors.InvalidArgumentError, TypeError) as err:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, getattr(err, "message", str(err)))
            response = predict_pb2.PredictResponse()
            response.model_spec.CopyFrom(spec)
            response.model_spec.version.value = version
            response.model_spec.signature_name = signature_name
            for name, value in outputs.items():
                response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
            return response

    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(PredictionService(), grpc_server)
    port = grpc_server.add_insecure_port("127.0.0.1:0")
    grpc_server.start()
    return grpc_server, f"127.0.0.1:{port}"


@pytest.fixture(scope="session")
def tf_serving():
    """The TensorFlow Serving stand-ins: ``ModelServer.from_flags(args)`` (the models a
    ``tensorflow_model_server`` started with ``args`` serves), ``RestServer(server)`` and
    ``start_grpc_server(server)`` (its REST and gRPC APIs on 127.0.0.1, stopped by the test
    that starts them) and ``rest_predict(body, loaded)`` (a REST predict body run through a
    loaded SavedModel)."""
    return types.SimpleNamespace(ModelServer=ModelServer, RestServer=RestServer,
                                 start_grpc_server=start_grpc_server, rest_predict=rest_predict)
