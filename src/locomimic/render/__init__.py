"""Videos (mp4, headless): :mod:`~locomimic.render.policy_video` (a policy with a ghost of its
reference), :mod:`~locomimic.render.retarget_video` (a retargeted clip under its source keypoints),
on top of :mod:`~locomimic.render.video` (renderer, camera, encoder) and
:mod:`~locomimic.render.scene` (the extra geoms).
"""
