"""The mini world's training scripts, one module per component (``actionbench mini train --component``).

Every script is seeded (each batch is drawn from ``(seed, step)``, so a resumed run draws the same
batches), checkpoints atomically into its work folder, logs to ``log.txt`` there, and stops at its
step count or time limit; re-running the same command resumes from the last checkpoint.
"""

COMPONENTS = ("vae", "unet", "clip", "keypoints", "judge")
