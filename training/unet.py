"""A small 2D U-Net in JAX, and its export to ONNX with `onnx.helper`.

The network is plain on purpose (3x3 convolutions with ReLU, 2x2 max pooling, nearest 2x
upsampling, skip concatenation, a 1x1 head), so the ONNX graph is built op by op from the
same parameter list the JAX forward pass uses, and checked against it with onnxruntime.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def init_params(key, channels, in_ch, n_classes):
    """channels = (c0, c1, c2, c3): encoder widths per level, c3 the bottleneck."""
    shapes = []
    c_prev = in_ch
    for c in channels:  # encoder + bottleneck: two convs per level
        shapes += [(c, c_prev), (c, c)]
        c_prev = c
    for level in range(len(channels) - 2, -1, -1):  # decoder
        c = channels[level]
        shapes += [(c, c_prev + c), (c, c)]
        c_prev = c
    params = []
    for out_c, in_c in shapes:
        key, sub = jax.random.split(key)
        w = jax.random.normal(sub, (out_c, in_c, 3, 3)) * np.sqrt(2.0 / (in_c * 9))
        params.append((w, jnp.zeros(out_c)))
    key, sub = jax.random.split(key)
    params.append((jax.random.normal(sub, (n_classes, c_prev, 1, 1)) * np.sqrt(1.0 / c_prev), jnp.zeros(n_classes)))
    return params


def _conv(x, w, b):
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NCHW", "OIHW", "NCHW"))
    return y + b[None, :, None, None]


def forward(params, x, levels):
    """x: (N, C, H, W), H and W multiples of 2**(levels-1). Returns logits (N, K, H, W)."""
    i = 0
    skips = []
    for level in range(levels):
        if level > 0:
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
        for _ in range(2):
            x = jax.nn.relu(_conv(x, *params[i]))
            i += 1
        skips.append(x)
    for level in range(levels - 2, -1, -1):
        x = jnp.repeat(jnp.repeat(x, 2, axis=2), 2, axis=3)
        x = jnp.concatenate([x, skips[level]], axis=1)
        for _ in range(2):
            x = jax.nn.relu(_conv(x, *params[i]))
            i += 1
    return _conv(x, *params[i])


def to_onnx(params, levels, in_ch, n_classes, input_name="ct", output_name="logits", doc=""):
    nodes, inits = [], []
    counter = [0]

    def name(prefix):
        counter[0] += 1
        return f"{prefix}_{counter[0]}"

    def conv(x, w, b, relu=True):
        wn, bn, y = name("w"), name("b"), name("conv")
        inits.append(numpy_helper.from_array(np.asarray(w, np.float32), wn))
        inits.append(numpy_helper.from_array(np.asarray(b, np.float32), bn))
        k = int(w.shape[-1])
        nodes.append(helper.make_node("Conv", [x, wn, bn], [y], kernel_shape=[k, k], pads=[k // 2] * 4))
        if not relu:
            return y
        r = name("relu")
        nodes.append(helper.make_node("Relu", [y], [r]))
        return r

    x = input_name
    i = 0
    skips = []
    for level in range(levels):
        if level > 0:
            p = name("pool")
            nodes.append(helper.make_node("MaxPool", [x], [p], kernel_shape=[2, 2], strides=[2, 2]))
            x = p
        for _ in range(2):
            x = conv(x, *params[i])
            i += 1
        skips.append(x)
    scales = name("scales")
    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), scales))
    for level in range(levels - 2, -1, -1):
        u = name("up")
        nodes.append(
            helper.make_node(
                "Resize", [x, "", scales], [u], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"
            )
        )
        c = name("cat")
        nodes.append(helper.make_node("Concat", [u, skips[level]], [c], axis=1))
        x = c
        for _ in range(2):
            x = conv(x, *params[i])
            i += 1
    w, b = params[i]
    y = conv(x, w, b, relu=False)
    nodes.append(helper.make_node("Identity", [y], [output_name]))
    graph = helper.make_graph(
        nodes,
        "lungdesk_unet2d",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, ["batch", in_ch, "height", "width"])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, ["batch", n_classes, "height", "width"])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="lungdesk-training")
    model.ir_version = 8
    model.doc_string = doc
    onnx.checker.check_model(model)
    return model
