"""ActionBench-Mini: a rendered world where the whole benchmark runs on a laptop CPU, meaningfully.

Figures of several species on the COCO-17 skeleton, in named colours and scenes, doing named
held-in actions, random poses, or one of ActionBench's 8 actions (held out of every caption). The
package ships a small text-to-image model, a CLIP model and a keypoint network trained on this world
by its own scripts (``actionbench mini train``), so the suite's methods and metrics run unchanged.
"""

from actionbench.perception import CLIP_MODELS, POSE_BACKENDS

# The world's own perception models, registered into the perception layer by module name: declaring
# them imports nothing heavy, and the perception layer never names this world.
CLIP_MODELS.lazy("mini", "actionbench.mini.clip",
                 "ActionBench-Mini's CLIP, trained contrastively on the rendered world's images and captions")
POSE_BACKENDS.lazy("mini", "actionbench.mini.keypoints",
                   "ActionBench-Mini's keypoint network (trained on the rendered world)")
