"""A trained policy for use outside this project: an ONNX graph and the runtime spec beside it.

- :mod:`~locomimic.export.onnx_policy`: brax's policy network (normaliser, MLP, deterministic tanh
  head) as an ONNX graph built from the saved parameters, and an onnxruntime wrapper that acts with it;
- :mod:`~locomimic.export.runtime_spec`: ``policy.json``, everything a robot-side runtime needs besides
  the graph (observation layout, action scale, default pose, joint order, PD gains, torque limits,
  control period) and the PD law it describes.

The sim-to-sim evaluation (:mod:`locomimic.evaluate.mujoco_sim`) runs exactly these two files in plain
MuJoCo, as a robot would run them.
"""
