"""The HLO collective reader on hand-written snippets: shapes, dtypes, replica-group spellings, loops."""

import pytest

from jaxlm.lab.hlo import group_size, read_collectives


def module(body: str, extra: str = "") -> str:
    return f"""HloModule test, entry_computation_layout={{(f32[8]{{0}})->f32[8]{{0}}}}

{extra}
ENTRY %main (param.1: f32[8]) -> f32[8] {{
  %param.1 = f32[8]{{0}} parameter(0)
{body}
  ROOT %copy = f32[8]{{0}} copy(%param.1)
}}
"""


def only(text: str, devices: int = 8):
    found = read_collectives(text, devices).collectives
    assert len(found) == 1, found
    return found[0]


def test_all_gather_bytes_follow_result_shape_dtype_and_group():
    c = only(module("  %ag = bf16[4,64]{1,0} all-gather(%x), channel_id=1, replica_groups={{0,1},{2,3}}, "
                    "dimensions={0}, use_global_device_ids=true"))
    assert (c.kind, c.result_bytes, c.group_size) == ("all-gather", 4 * 64 * 2, 2)
    assert c.bytes_per_execution == 4 * 64 * 2 / 2  # receives the half it lacks


def test_all_reduce_of_a_tuple_sums_elements_and_moves_twice_the_ring_share():
    c = only(module("  %ar = (f32[16]{0}, f32[]) all-reduce(%a, %b), channel_id=2, "
                    "replica_groups=[2,4]<=[8], to_apply=%add"))
    assert c.result_bytes == 16 * 4 + 4
    assert c.group_size == 4
    assert c.bytes_per_execution == pytest.approx(2 * 68 * 3 / 4)


def test_reduce_scatter_sends_all_but_its_own_shard():
    c = only(module("  %rs = f32[32]{0} reduce-scatter(%g), channel_id=3, replica_groups=[1,8]<=[8], "
                    "dimensions={0}, to_apply=%add"))
    assert c.bytes_per_execution == 32 * 4 * 7


def test_all_to_all_and_empty_groups_mean_every_device():
    c = only(module("  %a2a = s32[8,4]{1,0} all-to-all(%x), channel_id=4, replica_groups={}, dimensions={0}"))
    assert c.group_size == 8
    assert c.bytes_per_execution == 8 * 4 * 4 * 7 / 8


def test_collective_permute_to_itself_moves_nothing():
    moves = only(module("  %cp = f32[10]{0} collective-permute(%x), channel_id=5, "
                        "source_target_pairs={{0,1},{1,0}}"))
    stays = only(module("  %cp = f32[10]{0} collective-permute(%x), channel_id=5, "
                        "source_target_pairs={{0,0},{1,1}}"))
    assert moves.bytes_per_execution == 40
    assert stays.bytes_per_execution == 0


def test_mesh_axes_replica_groups_multiply_the_named_axes():
    text = "replica_groups=mesh['axis_0'=2,'axis_1'=2,'axis_2'=2], device_ids=([2,4]T(1,0)) {'axis_0','axis_2'}, x"
    assert group_size(text, 8) == 4
    assert group_size("replica_groups=mesh['axis_0'=8,'axis_1'=1] {'axis_0'}, use_global_device_ids=true", 8) == 8
    assert group_size("replica_groups=mesh['a'=8] {'a':(2)4}, x", 8) == 4  # a sub-axis of size 4


def test_async_start_counts_once_with_its_output_shape():
    text = module(
        "  %ags = (f32[8]{0}, f32[32]{0}) all-gather-start(%x), channel_id=6, replica_groups={{0,1,2,3}}, "
        "dimensions={0}\n  %agd = f32[32]{0} all-gather-done(%ags)\n"
        "  %cps = (f32[6]{0}, f32[6]{0}, u32[], u32[]) collective-permute-start(%y), channel_id=7, "
        "source_target_pairs={{0,1}}\n  %cpd = f32[6]{0} collective-permute-done(%cps)"
    )
    found = {c.kind: c for c in read_collectives(text, 8).collectives}
    assert set(found) == {"all-gather", "collective-permute"}
    assert found["all-gather"].result_bytes == 32 * 4
    assert found["collective-permute"].result_bytes == 6 * 4


LOOP = """%body (p: (s32[], f32[8])) -> (s32[], f32[8]) {
  %p = (s32[], f32[8]{0}) parameter(0)
  %v = f32[8]{0} get-tuple-element(%p), index=1
  %ar.1 = f32[8]{0} all-reduce(%v), channel_id=9, replica_groups={{0,1}}, to_apply=%add
  ROOT %t = (s32[], f32[8]{0}) tuple(%i, %ar.1)
}

%cond (p: (s32[], f32[8])) -> pred[] {
  %p = (s32[], f32[8]{0}) parameter(0)
  ROOT %lt = pred[] compare(%i, %n), direction=LT
}
"""


def test_collectives_in_a_while_body_count_once_per_trip():
    text = module('  %w = (s32[], f32[8]{0}) while(%init), condition=%cond, body=%body, '
                  'backend_config={"known_trip_count":{"n":"12"}}', LOOP)
    result = read_collectives(text, 8)
    assert [c.executions for c in result.collectives] == [12]
    assert result.by_kind()["all-reduce"] == {"count": 12, "bytes": 12 * 2 * 32 * 1 / 2}
    assert result.unknown_trip_loops == ()


def test_a_loop_without_trip_count_counts_once_and_is_reported():
    text = module("  %w = (s32[], f32[8]{0}) while(%init), condition=%cond, body=%body", LOOP)
    result = read_collectives(text, 8)
    assert [c.executions for c in result.collectives] == [1]
    assert result.unknown_trip_loops == ("w",)


def test_collectives_in_called_computations_count_per_call():
    wrapped = """%wrapped (x: f32[64]) -> f32[8] {
  %x = f32[64]{0} parameter(0)
  ROOT %rs = f32[8]{0} reduce-scatter(%x), channel_id=11, replica_groups=[1,8]<=[8], dimensions={0}, to_apply=%add
}
"""
    text = module("  %s = ((f32[64]{0}), f32[8]{0}) async-start(%param.1), calls=%wrapped\n"
                  "  %d = f32[8]{0} async-done(%s)", wrapped)
    c = only(text)
    assert (c.kind, c.executions, c.bytes_per_execution) == ("reduce-scatter", 1, 8 * 4 * 7)
