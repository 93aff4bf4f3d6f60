"""A trained policy as an ONNX graph: brax's observation normaliser, MLP and deterministic tanh head.

Why the graph is built from the parameters rather than traced from JAX: the network is small and fixed
(``brax.training.agents.ppo.networks.make_ppo_networks`` as :func:`locomimic.policy.make_networks`
builds it, for BC, PPO and AMP alike), so it is a dozen ONNX operators that mirror brax's own, one for
one, with no converter to install or trust:

- ``running_statistics.normalize``: ``(observation - mean) / std`` (Sub, Div). The policy networks are
  built with ``max_abs_value=None`` (no clipping) and the stored ``std`` already holds brax's
  ``std_eps``/minimum, so the division by the stored value is exactly what brax computes;
- each hidden ``Dense`` layer ``x @ kernel + bias`` (Gemm) then brax's default activation, swish
  ``x * sigmoid(x)`` (Sigmoid, Mul);
- the last layer gives the tanh-normal distribution's (loc, scale); the deterministic action is
  ``tanh(loc)``, the first half (Slice, Tanh).

The observation normaliser is baked in, so a runtime feeds raw observations. The batch dimension is
dynamic: the sim-to-sim evaluation runs every episode's observation through one call.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np

from locomimic.errors import LocomimicError
from locomimic.io import atomic_path

INPUT, OUTPUT = "observation", "action"
OPSET = 17  # ONNX 1.12 (2022): every maintained runtime loads it
IR_VERSION = 8  # the oldest IR that carries opset 17, for older runtimes on robot computers


def _brax_activation_is_swish() -> bool:
    """Whether ``make_ppo_networks`` still defaults to swish, the activation the graph computes."""
    from brax.training.agents.ppo import networks as ppo_networks
    from flax import linen

    return inspect.signature(ppo_networks.make_ppo_networks).parameters["activation"].default is linen.swish


def policy_layers(params, source: str | Path | None = None) -> tuple[np.ndarray, np.ndarray, list]:
    """(mean, std, [(kernel, bias), ...]) of saved ``(normalizer, policy, value)`` parameters, as float32."""
    try:
        normalizer, policy, _ = params
        layers = policy["params"]
        names = sorted(layers, key=lambda n: int(n.rsplit("_", 1)[1]))
        dense = [(np.asarray(layers[n]["kernel"], np.float32), np.asarray(layers[n]["bias"], np.float32))
                 for n in names]
        mean, std = np.asarray(normalizer.mean, np.float32), np.asarray(normalizer.std, np.float32)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise LocomimicError(source, f"unexpected parameter layout ({exc}): not a brax PPO policy") from None
    return mean, std, dense


def build_onnx(params, source: str | Path | None = None, name: str = "locomimic_policy"):
    """The ONNX model (``onnx.ModelProto``) of a policy's deterministic action, normaliser included.

    Input ``observation [batch, obs]`` (float32, raw), output ``action [batch, act]`` in [-1, 1].
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    if not _brax_activation_is_swish():
        raise LocomimicError(source, "brax's make_ppo_networks no longer defaults to swish: the ONNX export "
                             "computes swish and would not match the policy")
    mean, std, dense = policy_layers(params, source)
    observation_size, action_size = mean.shape[0], dense[-1][0].shape[1] // 2
    initializers = [numpy_helper.from_array(mean, "obs_mean"), numpy_helper.from_array(std, "obs_std"),
                    numpy_helper.from_array(np.array([0], np.int64), "slice_start"),
                    numpy_helper.from_array(np.array([action_size], np.int64), "slice_end"),
                    numpy_helper.from_array(np.array([1], np.int64), "slice_axis")]
    nodes = [helper.make_node("Sub", [INPUT, "obs_mean"], ["centred"]),
             helper.make_node("Div", ["centred", "obs_std"], ["x0"])]
    x = "x0"
    for i, (kernel, bias) in enumerate(dense):
        initializers += [numpy_helper.from_array(kernel, f"kernel_{i}"), numpy_helper.from_array(bias, f"bias_{i}")]
        nodes.append(helper.make_node("Gemm", [x, f"kernel_{i}", f"bias_{i}"], [f"dense_{i}"]))
        x = f"dense_{i}"
        if i < len(dense) - 1:  # swish between layers, none after the last (brax's MLP)
            nodes += [helper.make_node("Sigmoid", [x], [f"gate_{i}"]),
                      helper.make_node("Mul", [x, f"gate_{i}"], [f"hidden_{i}"])]
            x = f"hidden_{i}"
    nodes += [helper.make_node("Slice", [x, "slice_start", "slice_end", "slice_axis"], ["loc"]),
              helper.make_node("Tanh", ["loc"], [OUTPUT])]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(INPUT, TensorProto.FLOAT, ["batch", observation_size])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.FLOAT, ["batch", action_size])], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="locomimic",
                              doc_string="deterministic action of a brax tanh-normal policy, observation "
                                         "normaliser included")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def save_onnx(path: str | Path, model) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(model.SerializeToString())


class OnnxPolicy:
    """An ONNX policy in onnxruntime: ``policy(observations [batch, obs]) -> actions [batch, act]`` (float32).

    One thread: the network is tiny, and the evaluation jobs share the CPU with others.
    """

    def __init__(self, model: bytes | str | Path, source: str | Path | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.source = str(source) if source is not None else ("ONNX policy" if isinstance(model, bytes) else str(model))
        try:
            self.session = onnxruntime.InferenceSession(model if isinstance(model, bytes) else str(model), options,
                                                        providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own types for a corrupt or foreign file
            raise LocomimicError(self.source, f"not a loadable ONNX model: {str(exc).splitlines()[0]}") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT] or [o.name for o in outputs] != [OUTPUT]:
            raise LocomimicError(self.source, f"expected one input {INPUT!r} and one output {OUTPUT!r}, found "
                                 f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}: not exported by locomimic")
        self.observation_size = int(inputs[0].shape[1])
        self.action_size = int(outputs[0].shape[1])

    def __call__(self, observations: np.ndarray) -> np.ndarray:
        observations = np.asarray(observations, np.float32)
        return self.session.run([OUTPUT], {INPUT: observations.reshape(-1, self.observation_size)})[0]


def load_onnx_policy(path: str | Path) -> OnnxPolicy:
    path = Path(path)
    if not path.is_file():
        raise LocomimicError(path, "ONNX policy not found")
    return OnnxPolicy(path, path)


def max_action_difference(policy: OnnxPolicy, params, settings: dict, observations: np.ndarray) -> float:
    """Largest |ONNX - JAX| over the deterministic actions of ``observations`` (the export's self-check)."""
    from types import SimpleNamespace

    import jax.numpy as jp

    from locomimic.policy import deterministic_act

    act = deterministic_act(policy.observation_size, policy.action_size, settings)
    expected = np.asarray(act(SimpleNamespace(obs=jp.asarray(observations, jp.float32)), params))
    return float(np.max(np.abs(policy(observations) - expected)))
