"""The output stage: from scene files to video files.

- ``catalog``: which scenes there are and what each declares (run, options, parts), read from
  the scene files without running them; the listing ``nnreel scenes`` prints.
- ``render``: Manim's configuration for one render, ``render_scene``, and ``render`` — the
  Python API (``from engine import render``) that the command line shares.
- ``notebook``: the rendered video shown inline in a Jupyter kernel.
- ``gif``: README-sized GIFs with a palette built for the clip.
- ``jobs``: several renders in parallel processes, each only when its inputs changed.
- ``lecture``: scenes of one run joined into one MP4 with title cards, chapters and captions.
- ``gallery``: every scene on its default run as a GIF under 2 MB.

Nothing here imports Manim, torch or torchvision until a render needs them.
"""
