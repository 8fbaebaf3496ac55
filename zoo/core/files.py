"""The names of the files in a weights folder (the Hub layout), shared by the base module, the hub and the cards.

Plain constants with no imports, so that any layer of zoo can use them without pulling in another.
"""

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
CARD_NAME = "README.md"
BEFORE_AFTER_NAME = "before_after.png"
MANIFEST_NAME = "sha256.json"
"""A user weights folder's manifest: file name -> hex sha256 of every other file, written by ``save_pretrained``."""
LOAD_FILES = (WEIGHTS_NAME, CONFIG_NAME)
"""What loading reads: the only files ``zoo.load`` fetches from the Hub and checks against a record or manifest."""
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".y4m")
"""Video files that the video models read and write (``zoo predict`` accepts them as input and output)."""
