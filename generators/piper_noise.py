"""Piper's random noise made from its input: the same text gives the same samples, whichever
thread, job or order it is spoken in.

A Piper (VITS) voice draws Gaussian noise twice per synthesis (the stochastic duration
predictor's and the prior's: two RandomNormalLike nodes). onnxruntime draws it from one
generator per session, so a sentence's speech depended on what the session spoke before it:
two runs of the same job differed, and scenes spoken side by side (NARRATION_WORKERS) could not
come out as they would one after the other. Here each RandomNormalLike becomes a slice of a
noise buffer given as an input (the buffer tiled where a long sentence needs more), and
`feed` fills the buffers from a generator seeded by the run's own inputs (phoneme ids, scales,
speaker): speech is a function of what is said and how.

    model = with_noise_inputs(onnx_model)      # False when the model draws no noise
    feed = noise_feed(session_input_names, input_feed)
"""
from __future__ import annotations

import hashlib

import numpy as np

NOISE_INPUT = "protovideo_noise_"   # + the node's number: one buffer per RandomNormalLike
NOISE_LENGTH = 1 << 18              # floats per buffer (1 MB): tiled beyond that


def with_noise_inputs(model) -> bool:
    """Replace `model`'s RandomNormalLike nodes (in place) by slices of noise inputs; whether any was."""
    from onnx import TensorProto, helper
    graph = model.graph
    nodes = list(graph.node)
    randoms = [n for n in nodes if n.op_type == "RandomNormalLike" and n.domain in ("", "ai.onnx")]
    if not randoms:
        return False

    def const(name: str, values: list[int]):
        return helper.make_node("Constant", [], [name], value=helper.make_tensor(
            name + "_value", TensorProto.INT64, [len(values)], values))

    replaced = []
    for k, node in enumerate(randoms):
        base, p = f"{NOISE_INPUT}{k}", f"protovideo_noise{k}_"
        graph.input.append(helper.make_tensor_value_info(base, TensorProto.FLOAT, [NOISE_LENGTH]))
        shape, count, like = p + "shape", p + "count", node.input[0]
        replaced.append((node, [
            helper.make_node("Shape", [like], [shape]),
            helper.make_node("ReduceProd", [shape], [count], keepdims=1),
            const(p + "length", [NOISE_LENGTH]), const(p + "one", [1]), const(p + "zero", [0]),
            helper.make_node("Sub", [p + "length", p + "one"], [p + "length_1"]),
            helper.make_node("Add", [count, p + "length_1"], [p + "rounded"]),
            helper.make_node("Div", [p + "rounded", p + "length"], [p + "repeats"]),
            helper.make_node("Tile", [base, p + "repeats"], [p + "tiled"]),
            helper.make_node("Slice", [p + "tiled", p + "zero", count], [p + "flat"]),
            helper.make_node("Reshape", [p + "flat", shape], [node.output[0]]),
        ]))
    del graph.node[:]
    swap = {id(node): made for node, made in replaced}
    for node in nodes:
        graph.node.extend(swap.get(id(node), [node]))
    return True


def noise_feed(input_names, feed: dict) -> dict:
    """`feed` with the noise buffers the model asks for, drawn from a generator seeded by the
    rest of the feed (the same inputs give the same noise)."""
    wanted = sorted(name for name in input_names if name.startswith(NOISE_INPUT))
    if not wanted:
        return feed
    digest = hashlib.sha256()
    for name in sorted(feed):
        value = np.ascontiguousarray(feed[name])
        digest.update(name.encode() + str(value.dtype).encode() + str(value.shape).encode() + value.tobytes())
    rng = np.random.default_rng(int.from_bytes(digest.digest()[:8], "little"))
    return {**feed, **{name: rng.standard_normal(NOISE_LENGTH, dtype=np.float32) for name in wanted}}
