"""OKS and pose normalisation: against pycocotools, and on analytic cases."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from actionbench.metrics.oks import (AREA, COCO_SIGMAS, MIN_UNIT, MIRROR, SHOULDER_TO_TORSO, compare_poses,
                                     mirrored, nearest_exemplar, nearest_exemplar_similarity, normalise,
                                     object_keypoint_similarity, pose_similarity)
from actionbench.perception.pose_backends import COCO17, Pose

# A standing person facing the camera, in pixels (COCO-17 order): torso 100 px long.
STANDING = np.array([
    [200, 100], [195, 95], [205, 95], [190, 98], [210, 98],  # nose, eyes, ears
    [180, 130], [220, 130], [170, 170], [230, 170], [165, 210], [235, 210],  # shoulders, elbows, wrists
    [185, 230], [215, 230], [185, 290], [215, 290], [185, 350], [215, 350],  # hips, knees, ankles
], dtype=np.float64)


def pose(keypoints, visibility=None) -> Pose:
    keypoints = np.asarray(keypoints, dtype=np.float64)
    visibility = np.ones(len(keypoints)) if visibility is None else np.asarray(visibility, dtype=np.float64)
    return Pose(keypoints=keypoints, visibility=visibility, image_size=(400, 400))


def pycocotools_oks(gt_keypoints, gt_visible, gt_area, dt_keypoints) -> np.ndarray:
    """computeOks(image, category) for one image: (n_dt, n_gt), detections kept in the given order."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def flat(keypoints, visible):
        return np.column_stack([keypoints, np.where(visible, 2, 0)]).reshape(-1).tolist()

    annotations = []
    for i, (keypoints, visible, area) in enumerate(zip(gt_keypoints, gt_visible, gt_area)):
        x0, y0 = keypoints.min(axis=0)
        x1, y1 = keypoints.max(axis=0)
        annotations.append({"id": i + 1, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": float(area),
                            "bbox": [float(x0), float(y0), float(x1 - x0), float(y1 - y0)],
                            "keypoints": flat(keypoints, visible), "num_keypoints": int(np.sum(visible))})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": 1, "width": 1000, "height": 1000}], "annotations": annotations,
                      "categories": [{"id": 1, "name": "person", "keypoints": list(COCO17)}]}
        gt.createIndex()
        dt = gt.loadRes([{"image_id": 1, "category_id": 1, "score": 1.0 - 0.01 * i,
                          "keypoints": flat(k, np.ones(17, bool))} for i, k in enumerate(dt_keypoints)])
        evaluator = COCOeval(gt, dt, iouType="keypoints")
        evaluator.params.imgIds = [1]
        evaluator._prepare()
        return np.asarray(evaluator.computeOks(1, 1))


def test_oks_equals_pycocotools_on_random_keypoint_sets():
    rng = np.random.default_rng(0)
    compared = 0
    for _ in range(20):
        n_gt, n_dt = rng.integers(1, 4), rng.integers(1, 4)
        gt_keypoints = [rng.uniform(0, 400, size=(17, 2)) for _ in range(n_gt)]
        gt_visible = [rng.random(17) < rng.uniform(0.2, 1.0) for _ in range(n_gt)]
        for visible in gt_visible:
            visible[rng.integers(17)] = True  # at least one visible joint (else COCO uses a box distance)
        gt_area = rng.uniform(500, 60000, size=n_gt)
        # detections near one of the ground truths, at noise from tiny to large
        dt_keypoints = [gt_keypoints[rng.integers(n_gt)] + rng.normal(0, rng.choice([1, 5, 20, 80]), size=(17, 2))
                        for _ in range(n_dt)]
        reference = pycocotools_oks(gt_keypoints, gt_visible, gt_area, dt_keypoints)
        for d in range(n_dt):
            for g in range(n_gt):
                ours = object_keypoint_similarity(dt_keypoints[d], gt_keypoints[g], gt_visible[g], gt_area[g])
                assert ours == pytest.approx(reference[d, g], abs=1e-6)
                compared += 1
    assert compared > 40


def test_oks_analytic_values():
    target = np.zeros((17, 2))
    visible = np.zeros(17, bool)
    visible[[0, 5]] = True
    moved = target.copy()
    moved[5] = [3.0, 4.0]  # 5 units from the target, on the left shoulder
    k = 2 * COCO_SIGMAS[5]
    expected = (1.0 + np.exp(-25.0 / (2 * 10.0 * k**2))) / 2
    assert object_keypoint_similarity(moved, target, visible, area=10.0) == pytest.approx(expected, abs=1e-12)
    assert object_keypoint_similarity(target, target, visible, area=10.0) == 1.0
    assert np.isnan(object_keypoint_similarity(target, target, np.zeros(17, bool), area=10.0))


def test_pose_similarity_ignores_position_and_size():
    moved_and_scaled = STANDING * 2.5 + np.array([-300.0, 45.0])
    assert pose_similarity(pose(STANDING), pose(STANDING)) == pytest.approx(1.0)
    assert pose_similarity(pose(STANDING), pose(moved_and_scaled)) == pytest.approx(1.0)


def test_pose_similarity_falls_and_mirror_option():
    arms_up = STANDING.copy()
    arms_up[[7, 8, 9, 10]] = [[175, 80], [225, 80], [170, 30], [230, 30]]
    one_arm_up = STANDING.copy()
    one_arm_up[[8, 10]] = [[225, 80], [230, 30]]  # the right arm raised
    same = pose_similarity(pose(STANDING), pose(STANDING))
    different = pose_similarity(pose(STANDING), pose(arms_up))
    assert different < 0.8 < same
    # The mirror image of "right arm up" is "left arm up": only equal when mirroring is allowed.
    flipped = one_arm_up.copy()
    flipped[:, 0] = 400 - flipped[:, 0]
    flipped = flipped[list(MIRROR)]  # a flipped photo: the joint labels follow the body
    assert pose_similarity(pose(flipped), pose(one_arm_up), mirror=True) == pytest.approx(1.0)
    assert pose_similarity(pose(flipped), pose(one_arm_up), mirror=False) < 0.9


def test_mirror_swaps_left_and_right():
    assert [COCO17[i] for i in MIRROR][:7] == ["nose", "right_eye", "left_eye", "right_ear", "left_ear",
                                               "right_shoulder", "left_shoulder"]
    keypoints, visible = mirrored(np.arange(34, dtype=float).reshape(17, 2), np.arange(17, dtype=float))
    assert keypoints[5].tolist() == [-12.0, 13.0] and visible[5] == 6.0


def test_pose_similarity_uses_shoulders_without_hips_and_needs_shoulders():
    no_hips = np.ones(17)
    no_hips[11:] = 0.0  # an upper-body crop
    value = pose_similarity(pose(STANDING, no_hips), pose(STANDING * 3, no_hips))
    assert value == pytest.approx(1.0)
    # the unit is shoulder width / SHOULDER_TO_TORSO: a joint one unit off is exp(-1 / (2 AREA k^2))
    shifted = STANDING.copy()
    shifted[0, 0] += 40.0 / SHOULDER_TO_TORSO  # shoulders are 40 px apart
    visible = np.zeros(17)
    visible[[0, 1, 2, 5, 6]] = 1.0
    k = 2 * COCO_SIGMAS[0]
    expected = (4 + np.exp(-1.0 / (2 * AREA * k**2))) / 5
    assert pose_similarity(pose(shifted, visible), pose(STANDING, visible)) == pytest.approx(expected)
    no_shoulders = np.ones(17)
    no_shoulders[[5, 6]] = 0.0
    assert np.isnan(pose_similarity(pose(STANDING, no_shoulders), pose(STANDING)))


def test_an_exemplar_with_too_few_joints_is_no_reference_and_nearest_exemplar_skips_it():
    few = np.zeros(17)
    few[[5, 6, 11, 12]] = 1.0  # the four anchor joints only: nothing to compare beyond the frame
    match = compare_poses(pose(STANDING), pose(STANDING, few))
    assert np.isnan(match.value) and match.reason == "the exemplar shows 4 joints (at least 5 needed)"
    arms_up = STANDING.copy()
    arms_up[[9, 10]] = [[170, 30], [230, 30]]
    value, index = nearest_exemplar_similarity(pose(STANDING), [None, pose(arms_up), pose(STANDING, few),
                                                                  pose(STANDING * 2)])
    assert (value, index) == (pytest.approx(1.0), 3)
    assert nearest_exemplar_similarity(pose(STANDING), [None]) == (pytest.approx(np.nan, nan_ok=True), -1)
    assert nearest_exemplar(pose(STANDING), [None]).reason == "no exemplar shows a detectable person"


# -- joints the exemplar shows and the figure lacks (issue 17, hole 1) ------------------------------

LIMBS = [7, 8, 9, 10, 13, 14, 15, 16]  # elbows, wrists, knees, ankles
HEAD_AND_TORSO = [0, 5, 6, 11, 12]  # nose, shoulders, hips


def limbs_wrong() -> np.ndarray:
    """STANDING with both arms raised and both knees pulled up: the head and torso agree, no limb does."""
    wrong = STANDING.copy()
    wrong[[7, 8, 9, 10]] = [[175, 80], [225, 80], [170, 30], [230, 30]]
    wrong[[13, 14, 15, 16]] = [[150, 230], [250, 230], [150, 290], [250, 290]]
    return wrong


def test_a_figure_showing_only_head_and_torso_no_longer_agrees_fully():
    only_head_and_torso = np.zeros(17)
    only_head_and_torso[HEAD_AND_TORSO] = 1.0
    full = pose_similarity(pose(limbs_wrong()), pose(STANDING))
    hidden = pose_similarity(pose(limbs_wrong(), only_head_and_torso), pose(STANDING))
    print(f"limbs wrong, all 17 joints shown: {full:.3f}; only head and torso shown: {hidden:.3f}")
    assert hidden < 1.0 and hidden <= full  # hiding the limbs is no way to agree with the exemplar
    # exactly: the 5 joints agree perfectly, the 12 the exemplar shows and the figure lacks count 0
    assert hidden == pytest.approx(5 / 17)
    # the exemplar's visibility masks, not the figure's: joints only the figure shows do not count
    exemplar_head_and_torso = pose(STANDING, only_head_and_torso)
    assert pose_similarity(pose(limbs_wrong()), exemplar_head_and_torso) == pytest.approx(1.0)


def test_missing_joints_score_as_pycocotools_scores_joints_placed_far_away():
    """COCO: the ground truth's (exemplar's) visibility masks; a detection places all 17 joints, so a
    joint it lacks is one placed far from the truth: exp(-large) = 0, counted in the mean. Our
    similarity on the normalised poses equals pycocotools' computeOks with the figure's missing
    joints moved 1e4 torso lengths away, the exemplar's hidden joints at visibility 0."""
    rng = np.random.default_rng(3)
    compared = 0
    for trial in range(12):
        exemplar = STANDING + rng.normal(0, 6, size=(17, 2))
        figure = STANDING * rng.uniform(0.5, 2.0) + rng.uniform(-50, 50, size=2) + rng.normal(0, 15, size=(17, 2))
        exemplar_visible = rng.random(17) < 0.8
        figure_visible = rng.random(17) < 0.6
        exemplar_visible[[5, 6, 11, 12]] = figure_visible[[5, 6, 11, 12]] = True  # both share the torso frame
        ours = pose_similarity(pose(figure, figure_visible), pose(exemplar, exemplar_visible))
        norm_figure = normalise(figure, "torso")
        norm_exemplar = normalise(exemplar, "torso")
        far = np.where(figure_visible[:, None], norm_figure, norm_figure + 1e4)
        # shifted into positive coordinates, as pixels are (pycocotools makes boxes from them)
        reference = pycocotools_oks([norm_exemplar + 10.0], [exemplar_visible], [AREA], [far + 10.0])[0, 0]
        assert ours == pytest.approx(reference, abs=1e-6), trial
        assert ours < 1.0
        compared += 1
    assert compared == 12


# -- degenerate anchors (issue 17, hole 3) -----------------------------------------------------------

def test_a_collapsed_torso_is_measured_by_the_shoulders_or_not_at_all():
    collapsed = STANDING.copy()
    collapsed[[11, 12]] = collapsed[[5, 6]]  # the hips drawn on the shoulders: the torso has no length
    # the shoulders still give a sound frame: the pose agrees with itself, not 0.0 (the old fallback)
    match = compare_poses(pose(collapsed), pose(collapsed))
    assert match.value == pytest.approx(1.0) and match.reason is None
    # against the upright pose, in the shoulders' frame: everything agrees but the hips, a torso off (0)
    assert pose_similarity(pose(collapsed), pose(STANDING)) == pytest.approx(15 / 17, abs=1e-4)
    # shoulders collapsed too (every anchor joint on one point): no sound scale, NaN with the reason
    point = STANDING.copy()
    point[[5, 6, 11, 12]] = point[5]
    match = compare_poses(pose(point), pose(point))
    assert np.isnan(match.value)
    assert match.reason == ("degenerate scale: the figure's torso is 0.0 px in a figure 255 px across; the "
                            "exemplar's torso is 0.0 px in a figure 255 px across; the figure's shoulders are "
                            "0.0 px apart, a unit of 0.0 px in a figure 255 px across; the exemplar's shoulders "
                            "are 0.0 px apart, a unit of 0.0 px in a figure 255 px across")


def test_a_side_view_with_shoulders_2px_apart_is_undefined_not_a_confident_number():
    side = STANDING.copy()
    side[5] = [199.0, 130.0]
    side[6] = [201.0, 130.0]  # seen from the side: the shoulders 2 px apart
    no_hips = np.ones(17)
    no_hips[11:] = 0.0  # an upper-body crop: the shoulders are the only anchor
    noisy = side + np.random.default_rng(0).normal(0, 2.0, size=side.shape)  # 2 px of detector noise
    match = compare_poses(pose(noisy, no_hips), pose(side, no_hips))
    assert np.isnan(match.value)
    assert match.reason.startswith("degenerate scale: the figure's shoulders are ")
    assert "the exemplar's shoulders are 2.0 px apart, a unit of 3.1 px in a figure 115 px across" in match.reason
    # the same side view with its hips in sight is measured by the torso, and agrees with itself
    assert pose_similarity(pose(noisy), pose(side)) > 0.9
    # the threshold: a unit at MIN_UNIT of the figure's extent is still sound
    assert 3.1 / 115 < MIN_UNIT < 100 / 255


def test_coco_area_scale_is_pycocotools_with_the_exemplars_keypoint_box_as_its_area():
    """``scale="coco_area"``: COCO's own scale, the area pycocotools' loadRes gives a keypoint object (the
    box around its keypoints), here the exemplar's visible ones in the common frame."""
    exemplar = STANDING.copy()
    figure = limbs_wrong()
    torso_scaled = pose_similarity(pose(figure), pose(exemplar))
    coco_scaled = pose_similarity(pose(figure), pose(exemplar), scale="coco_area")
    norm_exemplar, norm_figure = normalise(exemplar, "torso"), normalise(figure, "torso")
    box = norm_exemplar.max(axis=0) - norm_exemplar.min(axis=0)
    reference = pycocotools_oks([norm_exemplar + 10.0], [np.ones(17, bool)], [box[0] * box[1]],
                                [norm_figure + 10.0])[0, 0]
    assert coco_scaled == pytest.approx(reference, abs=1e-6)
    # the standing body's box, 0.7 x 2.55 = 1.79 torso lengths squared, is a little more than the torso scale's 1.7
    assert box[0] * box[1] > AREA and coco_scaled > torso_scaled
    with pytest.raises(ValueError, match="unknown OKS scale 'box'"):
        pose_similarity(pose(figure), pose(exemplar), scale="box")
