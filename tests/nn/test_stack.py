"""`stack_layers` / `unstack_layers`: the weight layouts of scanned and unrolled layer stacks."""

import numpy as np

from jaxlm.nn.stack import stack_layers, unstack_layers


def unrolled_tree():
    rng = np.random.default_rng(0)

    def normal(*shape):
        return rng.normal(size=shape).astype(np.float32)

    def block():
        return {"attention": {"kernel": normal(3, 4)}, "norm": {"scale": normal(4)}}

    return {
        "encoder": {"layers": {0: block(), 1: block(), 2: block()}, "final_norm": {"scale": normal(4)}},
        "embedder": {"embedding": normal(5, 4)},
    }


def test_stack_layers_adds_a_leading_layers_axis_under_each_layers_key():
    tree = unrolled_tree()
    stacked = stack_layers(tree)
    kernel = stacked["encoder"]["layers"]["attention"]["kernel"]
    assert kernel.shape == (3, 3, 4)
    for i in range(3):
        np.testing.assert_array_equal(kernel[i], tree["encoder"]["layers"][i]["attention"]["kernel"])
    assert stacked["embedder"]["embedding"] is tree["embedder"]["embedding"]
    assert stacked["encoder"]["final_norm"]["scale"] is tree["encoder"]["final_norm"]["scale"]


def test_unstack_layers_inverts_stack_layers():
    tree = unrolled_tree()
    round_trip = unstack_layers(stack_layers(tree))
    assert sorted(round_trip["encoder"]["layers"]) == [0, 1, 2]
    for i in range(3):
        np.testing.assert_array_equal(round_trip["encoder"]["layers"][i]["norm"]["scale"],
                                      tree["encoder"]["layers"][i]["norm"]["scale"])


def test_conversions_leave_a_tree_already_in_the_target_layout_unchanged():
    tree = unrolled_tree()
    assert unstack_layers(tree)["encoder"]["layers"].keys() == tree["encoder"]["layers"].keys()
    stacked = stack_layers(tree)
    assert stack_layers(stacked)["encoder"]["layers"]["attention"]["kernel"].shape == (3, 3, 4)
